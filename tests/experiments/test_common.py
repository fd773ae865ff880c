"""Shared helpers of the experiments (lamina/experiments/common.py)."""

from pathlib import Path

import numpy as np
import pytest

from lamina.experiments import common


def test_pick_size_prefers_tiny_then_quick():
    settings = {"tiny": 1, "quick": 2, "full": 3}
    assert common.pick_size(settings, quick=False, tiny=False) == ("full", 3)
    assert common.pick_size(settings, quick=True, tiny=False) == ("quick", 2)
    assert common.pick_size(settings, quick=True, tiny=True) == ("tiny", 1)


def test_format_value():
    assert common.format_value(0.123456) == "0.1235"
    assert common.format_value(3_692_640) == "3,692,640"
    assert common.format_value([1, 0.5, True]) == "[1, 0.5, yes]"
    assert common.format_value({"a": np.float64(2.0)}) == "{a: 2}"
    assert common.format_value(np.array([0.0, 1e-20])) == "[0, 1e-20]"


def test_report_lists_claim_numbers_checks_and_verdict():
    result = common.Result(name="demo", claim="x falls", numbers={"x": [3.0, 1.0]},
                           checks={"x falls": True, "x halves": False}, claim_holds=False,
                           conclusion="x fell from 3 to 1", plots=[Path("demo.png")],
                           size="quick", seconds=1.25, notes=["a note"])
    text = result.report()
    assert text.splitlines()[0] == "demo: x falls"
    for part in ("  x: [3, 1]", "  [x] x falls", "  [ ] x halves", "conclusion: x fell from 3 to 1",
                 "claim holds: NO (1/2 checks)", "plots: demo.png", "note: a note",
                 "time: 1.2 s (quick)"):
        assert part in text


def test_resolve_out_creates_the_directory(tmp_path):
    assert common.resolve_out(None) is None
    target = tmp_path / "a" / "b"
    assert common.resolve_out(target) == target and target.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        common.resolve_out(tmp_path / "file")


def test_save_figure_without_out_or_matplotlib(tmp_path, monkeypatch):
    def draw(fig, axes):
        axes[0, 0].plot([0, 1], [0, 1])

    assert common.save_figure(None, "x.png", draw) is None
    monkeypatch.setattr(common, "plots_available", lambda: False)
    assert common.save_figure(tmp_path, "x.png", draw) is None
    assert not (tmp_path / "x.png").exists()


def test_save_figure_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")

    def draw(fig, axes):
        axes[0, 0].plot([0, 1], [0, 1])

    path = common.save_figure(tmp_path, "x.png", draw, title="t")
    assert path == tmp_path / "x.png" and path.read_bytes().startswith(b"\x89PNG")


def test_experiment_without_matplotlib_still_measures(tmp_path, monkeypatch):
    from lamina.experiments import activations

    monkeypatch.setattr(common, "plots_available", lambda: False)
    result = activations.run(tiny=True, out=tmp_path, progress=False)
    assert result.claim_holds and result.plots == []
    assert any("matplotlib is not installed" in note for note in result.notes)
    assert "plots skipped" in result.report()


def test_mnist_arrays_scaled_and_shaped():
    x, y, x_test, y_test = common.mnist_arrays(10, 5, flat=False)
    assert x.shape == (10, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and x_test.shape == (5, 1, 28, 28) and y_test.shape == (5,)
    assert common.mnist_arrays(3, 0, flat=True)[0].shape == (3, 784)
