"""``lamina evaluate``: metrics identical to lamina.metrics on the same predictions."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

import lamina as lm
import lamina.cli.evaluate
from lamina.workflow.model_file import load_model

from .conftest import PENGUINS, assert_one_line_error


def test_doctests():
    assert doctest.testmod(lamina.cli.evaluate).failed == 0


def test_evaluate_on_mnist_small_matches_the_metrics(cli, mnist_run):
    model_file = mnist_run / "model.safetensors"
    run = cli("evaluate", model_file, "mnist-small", "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["samples"] == 1000
    # recompute from scratch: the shipped test images through the model
    _, (x, y) = lm.datasets.mnist(subset="small")
    inputs = ((x.astype(np.float32) / 255 - 0.1307) / 0.3081)[:, None]
    predicted = lm.train.predict(lm.load(model_file), inputs).argmax(axis=1)
    assert report["metrics"]["accuracy"] == pytest.approx(lm.metrics.accuracy_score(y, predicted))
    assert report["metrics"]["macro_f1"] == pytest.approx(
        lm.metrics.f1_score(y, predicted, average="macro", zero_division=0))
    assert report["confusion_matrix"] == lm.metrics.confusion_matrix(y, predicted).tolist()


def test_text_report_has_metrics_report_and_matrix(cli, mnist_run, digits):
    run = cli("evaluate", mnist_run / "model.safetensors", digits["npz"])
    assert run.code == 0, run.err
    for text in ("accuracy:", "macro precision:", "macro recall:", "macro F1:", "precision",
                 "recall", "f1-score", "support", "confusion matrix (rows: true label"):
        assert text in run.out
    matrix_rows = run.out.strip().splitlines()[-10:]
    assert sum(int(v) for row in matrix_rows for v in row.split()[1:]) == 40


def test_evaluate_csv_with_string_labels(cli, tabular_run):
    run = cli("evaluate", tabular_run / "model.safetensors", PENGUINS)
    assert run.code == 0, run.err
    assert "Chinstrap" in run.out and "(1 without a label skipped)" in run.out
    loaded = load_model(tabular_run / "model.safetensors")
    assert loaded.classes == ["Adelie", "Chinstrap", "Gentoo"]


def test_npz_label_array_option(cli, mnist_run, digits):
    run = cli("evaluate", mnist_run / "model.safetensors", digits["npz"], "--label", "y_test")
    assert run.code == 0
    run = cli("evaluate", mnist_run / "model.safetensors", digits["npz"], "--label", "labels")
    assert run.code == 2
    assert_one_line_error(run.err, "no array named 'labels'", "x_test")


def test_errors(cli, mnist_run, tabular_run, tmp_path):
    model_file = mnist_run / "model.safetensors"
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(model_file.read_bytes()[:2000])
    not_a_model = tmp_path / "pickle.safetensors"
    not_a_model.write_bytes(b"\x80\x04\x95 not a model")
    cases = [
        ((tmp_path / "nope.safetensors", "mnist-small"), ["nope.safetensors", "no such file"]),
        ((corrupt, "mnist-small"), ["corrupt.safetensors"]),
        ((not_a_model, "mnist-small"), ["pickle.safetensors"]),
        ((model_file, tmp_path / "nope.npz"), ["nope.npz", "no such file"]),
        ((model_file, PENGUINS), ["which column holds the labels", "--label"]),
        ((tabular_run / "model.safetensors", PENGUINS, "--label", "kind"),
         ["no column 'kind'", "species"]),
        ((tabular_run / "model.safetensors", "mnist-small"), ["string columns (island)"]),
    ]
    for argv, fragments in cases:
        run = cli("evaluate", *argv)
        assert run.code == 2, argv
        assert_one_line_error(run.err, *fragments)


def test_labels_the_model_does_not_know(cli, tabular_run, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(PENGUINS).dropna().head(5)
    frame.loc[frame.index[0], "species"] = "Emperor"
    path = tmp_path / "emperor.csv"
    frame.to_csv(path, index=False)
    run = cli("evaluate", tabular_run / "model.safetensors", path)
    assert run.code == 2
    assert_one_line_error(run.err, "['Emperor'] are not classes of the model")
