"""``lamina predict``: PNG images, npz and CSV inputs; JSON and CSV output; bad images."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import lamina as lm

from .conftest import PENGUINS, assert_one_line_error


def test_png_digits_give_the_models_predictions(cli, mnist_run, digits):
    model_file = mnist_run / "model.safetensors"
    pngs = [digits["digit0"], digits["digit1"], digits["digit2"]]
    run = cli("predict", model_file, *pngs, "--proba")
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert out["inputs"] == [p.name for p in pngs]
    assert out["classes"] == list(range(10))
    probabilities = np.array(out["probabilities"])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert out["labels"] == probabilities.argmax(axis=1).tolist()
    # the same as running the model on the normalised test images
    _, (x, _) = lm.datasets.mnist(subset="small")
    logits = lm.train.predict(lm.load(model_file),
                              ((x[:3].astype(np.float32) / 255 - 0.1307) / 0.3081)[:, None])
    assert out["labels"] == logits.argmax(axis=1).tolist()


def test_rgb_png_is_converted_to_grayscale(cli, mnist_run, digits):
    gray = json.loads(cli("predict", mnist_run / "model.safetensors", digits["digit0"],
                          "--proba").out)
    rgb = json.loads(cli("predict", mnist_run / "model.safetensors", digits["rgb"],
                         "--proba").out)
    np.testing.assert_allclose(gray["probabilities"], rgb["probabilities"], atol=1e-6)


def test_csv_output_format(cli, mnist_run, digits):
    run = cli("predict", mnist_run / "model.safetensors", digits["npz"], "--format", "csv")
    assert run.code == 0
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 40 and set(rows[0]) == {"input", "label", "confidence"}
    run = cli("predict", mnist_run / "model.safetensors", digits["npz"], "--format", "csv",
              "--proba")
    header = run.out.splitlines()[0].split(",")
    assert header == ["input", "label", *(f"p_{d}" for d in range(10))]


def test_csv_rows_get_class_names(cli, tabular_run):
    run = cli("predict", tabular_run / "model.safetensors", PENGUINS, "--format", "csv")
    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 300  # nulls in features are imputed ("mean"), so every row gets a label
    assert {r["label"] for r in rows} <= {"Adelie", "Chinstrap", "Gentoo"}


def test_bad_inputs_are_one_line(cli, mnist_run, tabular_run, digits, tmp_path):
    model_file = mnist_run / "model.safetensors"
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png at all")
    cases = [
        ((model_file, digits["big"]), ["big.png", "32x32", "expects 28x28"]),
        ((model_file, fake), ["fake.png", "not a PNG"]),
        ((model_file, tmp_path / "missing.png"), ["missing.png", "no such file"]),
        ((model_file, digits["npz"], digits["npz"]), ["several PNG images, or one"]),
        ((tabular_run / "model.safetensors", digits["digit0"]), ["not grayscale images"]),
    ]
    for argv, fragments in cases:
        run = cli("predict", *argv)
        assert run.code == 2, argv
        assert_one_line_error(run.err, *fragments)


def test_model_saved_by_hand_predicts_class_indices(cli, tmp_path):
    pytest.importorskip("safetensors")
    model = lm.nn.Sequential(lm.nn.Linear(4, 3))
    lm.save(model, tmp_path / "plain.safetensors")
    np.savez(tmp_path / "x.npz", x=np.ones((2, 4), np.float32))
    run = cli("predict", tmp_path / "plain.safetensors", tmp_path / "x.npz")
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert all(label in (0, 1, 2) for label in out["labels"])


def test_non_finite_inputs_are_refused(cli, tmp_path):
    lm.manual_seed(0)
    model = lm.nn.Sequential(lm.nn.Linear(2, 3))
    path = tmp_path / "m.safetensors"
    lm.save(model, path)
    x = np.array([[1.0, 2.0], [np.nan, 0.0], [np.inf, 1.0]])
    np.savez(tmp_path / "x.npz", x=x, y=np.array([0, 1, 2]))
    for command in ("predict", "evaluate"):
        run = cli(command, path, tmp_path / "x.npz")
        assert run.code == 2, (command, run.out)
        assert_one_line_error(run.err, "input sample 1", "NaN or infinity")
        assert run.out == ""


def test_class_list_shorter_than_the_outputs_is_a_clear_error(cli, tmp_path):
    lm.manual_seed(0)
    path = tmp_path / "m.safetensors"
    lm.save(lm.nn.Sequential(lm.nn.Linear(2, 3)), path, metadata={"classes": ["a", "b"]})
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 2)))
    run = cli("predict", path, tmp_path / "x.npz")
    assert run.code == 2
    assert_one_line_error(run.err, "2 class names for a model with 3 outputs")


def test_absurd_input_shape_metadata_is_a_clear_error(cli, tmp_path):
    path = tmp_path / "m.safetensors"
    lm.save(lm.nn.Sequential(lm.nn.Linear(2, 3)), path,
            metadata={"input_shape": [1, 60000, 60000]})
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 2)))
    run = cli("predict", path, tmp_path / "x.npz")
    assert run.code == 2
    assert_one_line_error(run.err, "3,600,000,000 numbers per sample", "more than the limit")


def test_a_model_with_nan_weights_is_an_error_not_nan_output(cli, tmp_path):
    lm.manual_seed(0)
    model = lm.nn.Sequential(lm.nn.Linear(2, 3))
    model[0].weight.data[1, 0] = np.nan
    path = tmp_path / "m.safetensors"
    lm.save(model, path)
    np.savez(tmp_path / "x.npz", x=np.ones((2, 2)), y=np.array([0, 1]))
    for command in ("predict", "evaluate"):
        run = cli(command, path, tmp_path / "x.npz")
        assert run.code == 2 and run.out == ""
        assert_one_line_error(run.err, "0.weight holds 1 NaN or infinite value")
