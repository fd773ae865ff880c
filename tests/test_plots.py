"""PNG figures: learning curves and the confusion matrix (matplotlib is an optional extra)."""

from __future__ import annotations

import doctest
import sys

import numpy as np
import pytest

import lamina.plots
from lamina.plots import plot_confusion_matrix, plot_learning_curves
from lamina.train.history import History

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_doctests():
    assert doctest.testmod(lamina.plots).failed == 0


def test_learning_curves_from_a_history(tmp_path):
    history = History()
    for epoch, (loss, val) in enumerate([(1.0, 1.2), (0.6, 0.9), (0.4, 0.95)]):
        history.record(epoch, {"loss": loss, "val_loss": val, "accuracy": 1 - loss,
                               "val_accuracy": 1 - val, "lr": 0.1})
    path = plot_learning_curves(history, tmp_path / "sub" / "curves.png", title="run")
    width, height = _png_size(path)
    assert width > 2 * height  # two panels side by side: loss and accuracy (lr is constant)


def test_learning_curves_without_validation(tmp_path):
    path = plot_learning_curves({"loss": [0.5]}, tmp_path / "one.png")
    assert path.stat().st_size > 1000


def test_confusion_matrix_png(tmp_path):
    matrix = np.array([[50, 2, 0], [3, 40, 7], [0, 1, 47]])
    path = plot_confusion_matrix(matrix, ["cat", "dog", "horse"], tmp_path / "cm.png")
    assert _png_size(path)[0] > 100
    path = plot_confusion_matrix(matrix, None, tmp_path / "norm.png", normalize=True)
    assert path.exists()
    many = np.eye(40, dtype=int) * 5  # too many classes to write numbers in the cells
    assert plot_confusion_matrix(many, None, tmp_path / "many.png").exists()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"square \(C, C\) array, received shape \(2, 3\)"):
        plot_confusion_matrix(np.zeros((2, 3)), None, "x.png")
    with pytest.raises(ValueError, match="expected 2 names for a 2x2 matrix, received 3"):
        plot_confusion_matrix(np.zeros((2, 2)), ["a", "b", "c"], "x.png")
    with pytest.raises(ValueError, match="holds no epochs"):
        plot_learning_curves({"loss": []}, "x.png")
    with pytest.raises(TypeError, match="expected a History or a dict"):
        plot_learning_curves([1, 2], "x.png")


def test_missing_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"install lamina\[plot\]"):
        plot_learning_curves({"loss": [1.0]}, tmp_path / "x.png")
