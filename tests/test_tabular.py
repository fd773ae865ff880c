"""CSV tables into model inputs: nulls dropped or imputed, strings one-hot, labels encoded."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import lamina.tabular
from lamina.tabular import TabularPipeline, drop_missing, read_csv, select_columns

pd = pytest.importorskip("pandas")

REPO = Path(__file__).resolve().parents[1]
PENGUINS = REPO / "examples" / "data" / "synthetic_penguins.csv"


@pytest.fixture
def frame():
    return pd.DataFrame({
        "size": [1.0, np.nan, 3.0, 4.0],
        "weight": [10.0, 20.0, np.nan, 40.0],
        "color": ["red", "blue", None, "red"],
        "kind": ["a", "b", "a", "b"],
    })


def test_doctests():
    assert doctest.testmod(lamina.tabular).failed == 0


def test_impute_mean_then_standardise(frame):
    pipe = TabularPipeline(label="kind", nulls="mean").fit(frame)
    assert pipe.numeric_ == ["size", "weight"]
    assert pipe.categories_ == {"color": ["blue", "red"]}
    assert pipe.feature_names_ == ["size", "weight", "color=blue", "color=red"]
    x = pipe.transform(frame)
    size = np.array([1.0, 8 / 3, 3.0, 4.0])        # the null takes the mean of the others
    weight = np.array([10.0, 20.0, 70 / 3, 40.0])
    np.testing.assert_allclose(x[:, 0], (size - size.mean()) / size.std(), rtol=1e-5)
    np.testing.assert_allclose(x[:, 1], (weight - weight.mean()) / weight.std(), rtol=1e-5)
    # the null color takes the most frequent one, "red"
    np.testing.assert_array_equal(x[:, 2:], [[0, 1], [1, 0], [0, 1], [0, 1]])
    assert x.dtype == np.float32


def test_statistics_come_from_the_training_rows_only(frame):
    pipe = TabularPipeline(label="kind", nulls="median", standardize=False,
                           handle_unknown="ignore").fit(frame.iloc[:2])
    x = pipe.transform(pd.DataFrame({"size": [np.nan], "weight": [np.nan], "color": ["green"]}))
    np.testing.assert_allclose(x[0, :2], [1.0, 15.0])  # medians of rows 0-1
    np.testing.assert_array_equal(x[0, 2:], [0, 0])    # unseen category: all zeros


def test_drop_mode_rejects_nulls_at_transform(frame):
    complete, dropped = drop_missing(frame, ["size", "weight", "color"])
    assert dropped == 2 and len(complete) == 2
    pipe = TabularPipeline(label="kind", nulls="drop").fit(complete)
    with pytest.raises(ValueError, match=r"row 2 has no value in column 'size'"):
        pipe.transform(frame)


def test_config_round_trip(frame):
    pipe = TabularPipeline(label="kind", nulls="mean").fit(frame)
    again = TabularPipeline.from_config(pipe.to_config())
    np.testing.assert_array_equal(again.transform(frame), pipe.transform(frame))
    with pytest.raises(ValueError, match="malformed description"):
        TabularPipeline.from_config({"kind": "tabular"})


def test_errors(frame, tmp_path):
    with pytest.raises(ValueError, match="nulls='zero'"):
        TabularPipeline(label="kind", nulls="zero")
    with pytest.raises(ValueError, match="no column 'height'; the columns are: size, weight"):
        TabularPipeline(label="kind", features=["height"]).fit(frame)
    with pytest.raises(ValueError, match="no column 'species'"):
        select_columns(frame, ["species"], "x.csv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_csv(tmp_path / "empty.csv")
    (tmp_path / "ragged.csv").write_text('a,b\n1,2\n3,4,5,6\n"unclosed\n')
    with pytest.raises(ValueError, match="not a valid CSV file"):
        read_csv(tmp_path / "ragged.csv")


def test_shipped_csv_is_what_its_script_writes():
    spec = importlib.util.spec_from_file_location("make_tabular",
                                                  REPO / "examples" / "data" / "make_tabular.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rows = script.make_rows(np.random.default_rng(script.SEED))
    text = ",".join(script.COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    assert PENGUINS.read_text() == text
    frame = read_csv(PENGUINS)
    assert frame.shape == (300, 6)
    assert frame.isna().to_numpy().any()
    assert not pd.api.types.is_numeric_dtype(frame["species"])
