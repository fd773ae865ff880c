"""``lamina inspect``: observe a CSV or an npz (notes ch 10, step 2)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import lamina.workflow.inspection
from lamina.cli.inspect_data import class_balance

from .conftest import PENGUINS, assert_one_line_error


def test_doctests():
    assert doctest.testmod(lamina.workflow.inspection).failed == 0


def test_csv_report(cli):
    pd = pytest.importorskip("pandas")
    run = cli("inspect", PENGUINS, "--label", "species")
    assert run.code == 0, run.err
    frame = pd.read_csv(PENGUINS)
    assert "shape: 300 rows x 6 columns" in run.out
    for column in frame.columns:
        nulls = int(frame[column].isna().sum())
        assert any(line.startswith(column) and f"{nulls} (" in line
                   for line in run.out.splitlines()), column
    counts = frame["species"].value_counts()
    for name, count in counts.items():
        assert any(line.split()[:2] == [name, str(count)] for line in run.out.splitlines())
    assert "(null)" in run.out and "numeric summary:" in run.out and "body_mass_g" in run.out


def test_npz_report(cli, tmp_path):
    y = np.array([0, 0, 1, 2, 2, 2])
    np.savez(tmp_path / "d.npz", x=np.arange(12.0).reshape(6, 2), y=y)
    run = cli("inspect", tmp_path / "d.npz")
    assert run.code == 0, run.err
    assert "(6, 2)" in run.out and "float64" in run.out
    assert "class balance of 'y'" in run.out
    assert "imbalance: largest / smallest class = 3.00" in run.out


def test_class_balance_counts_and_nulls():
    lines = class_balance(np.array([2, 1, 1, None, 2, 2], dtype=object))
    assert lines[0].split()[:3] == ["1", "2", "33.3%"]
    assert lines[1].split()[:3] == ["2", "3", "50.0%"]
    assert lines[2].split() == ["(null)", "1"]


def test_errors(cli, tmp_path):
    pytest.importorskip("pandas")
    (tmp_path / "x.txt").write_text("hello")
    (tmp_path / "empty.csv").write_text("")
    cases = [
        ((tmp_path / "nope.csv",), ["nope.csv", "no such file"]),
        ((tmp_path / "x.txt",), ["expected a .csv or .npz"]),
        ((PENGUINS, "--label", "kind"), ["no column 'kind'", "species"]),
        ((tmp_path / "empty.csv",), ["empty.csv", "is empty"]),
    ]
    for argv, fragments in cases:
        run = cli("inspect", *argv)
        assert run.code == 2, argv
        assert_one_line_error(run.err, *fragments)
