"""Data sources and input pipelines of configs (``lamina.workflow.sources``, ``.pipelines``)."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

import lamina.workflow.pipelines
import lamina.workflow.sources
from lamina.workflow.pipelines import ArrayPipeline, ImagePipeline, pipeline_from_config
from lamina.workflow.sources import inline_source, mnist_source, npz_source

PENGUINS = Path(__file__).resolve().parents[2] / "examples" / "data" / "synthetic_penguins.csv"


def test_doctests():
    assert doctest.testmod(lamina.workflow.sources).failed == 0
    assert doctest.testmod(lamina.workflow.pipelines).failed == 0


def test_image_pipeline_normalises_and_checks_size():
    pipe = ImagePipeline((1, 28, 28), 255.0, 0.1307, 0.3081)
    pixels = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    expected = ((pixels / 255.0 - 0.1307) / 0.3081)[:, None]
    np.testing.assert_allclose(pipe.transform(pixels), expected, rtol=1e-6)
    np.testing.assert_allclose(pipe.transform(pixels.reshape(5, -1)), expected, rtol=1e-6)
    assert pipe.transform(pixels).dtype == np.float32
    with pytest.raises(ValueError, match=r"expected images of 28x28 pixels .* received 32x32"):
        pipe.transform(np.zeros((2, 32, 32)))
    again = pipeline_from_config(pipe.to_config())
    np.testing.assert_array_equal(again.transform(pixels), pipe.transform(pixels))


def test_array_pipeline_standardises_on_training_statistics():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, (50, 3))
    pipe = ArrayPipeline((3,)).fit(x)
    z = pipe.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-5)
    again = pipeline_from_config(pipe.to_config())
    np.testing.assert_array_equal(again.transform(x[:4]), pipe.transform(x[:4]))
    with pytest.raises(ValueError, match=r"expected samples of shape \(3,\)"):
        pipe.transform(np.zeros((2, 4)))


def test_unknown_pipeline_kind():
    with pytest.raises(ValueError, match="unknown input pipeline 'audio'"):
        pipeline_from_config({"kind": "audio"})


def test_mnist_source_limits_and_seed():
    a = mnist_source(max_train=50, max_test=20, seed=3)
    b = mnist_source(max_train=50, max_test=20, seed=3)
    assert a.x_train.shape == (50, 1, 28, 28) and a.x_test.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.classes == list(range(10)) and a.input_shape == (1, 28, 28)
    with pytest.raises(ValueError, match='subset must be "small" or "full"'):
        mnist_source(subset="tiny")


def test_inline_source_splits_stratified_and_encodes_strings():
    x = [[float(i), float(i % 3)] for i in range(40)]
    y = ["a", "b"] * 20
    data = inline_source(x, y, test_size=0.25, seed=0)
    assert data.classes == ["a", "b"]
    assert len(data.x_train) == 30 and len(data.x_test) == 10
    assert np.bincount(data.y_test).tolist() == [5, 5]
    with pytest.raises(ValueError, match="equally long lists of numbers"):
        inline_source([[1.0], [1.0, 2.0]], ["a", "b"])


def test_npz_source_with_x_y_and_images(tmp_path):
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "xy.npz", x=rng.normal(size=(30, 4)), y=np.repeat([3, 7, 9], 10))
    data = npz_source(str(tmp_path / "xy.npz"), test_size=0.2)
    assert data.classes == [3, 7, 9] and data.pipeline.kind == "array"
    assert len(data.x_train) + len(data.x_test) == 30
    np.savez(tmp_path / "img.npz", x_train=rng.integers(0, 256, (12, 8, 8)).astype(np.uint8),
             y_train=np.arange(12) % 2)
    data = npz_source(str(tmp_path / "img.npz"), test_size=0.25)
    assert data.pipeline.kind == "image" and data.input_shape == (1, 8, 8)
    np.savez(tmp_path / "bad.npz", inputs=np.zeros(3))
    with pytest.raises(ValueError, match="must hold x_train and y_train"):
        npz_source(str(tmp_path / "bad.npz"))


def test_csv_source_drop_and_impute():
    pytest.importorskip("pandas")
    dropped = lamina.workflow.sources.csv_source(str(PENGUINS), "species", nulls="drop", seed=0)
    imputed = lamina.workflow.sources.csv_source(str(PENGUINS), "species", nulls="median", seed=0)
    assert dropped.info["rows_dropped"] == {"no_label": 1, "null_features": 58}
    assert len(imputed.x_train) + len(imputed.x_test) == 299
    assert len(dropped.x_train) + len(dropped.x_test) == 241
    assert not np.isnan(imputed.x_train).any()
    assert imputed.classes == ["Adelie", "Chinstrap", "Gentoo"]
