"""``lamina train``: the files of a run, overrides, determinism, config errors as one line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import lamina as lm
from lamina.config import load_config, parse_config
from lamina.workflow.training import run_training

from .conftest import EXAMPLES, TINY_MNIST, assert_one_line_error, assert_png


def test_run_writes_model_history_plots_summary(mnist_run):
    pytest.importorskip("matplotlib")
    names = {p.name for p in mnist_run.iterdir()}
    assert {"model.safetensors", "history.csv", "learning_curves.png", "confusion_matrix.png",
            "summary.json", "checkpoint.safetensors"} <= names
    assert_png(mnist_run / "learning_curves.png")
    assert_png(mnist_run / "confusion_matrix.png")

    rows = list(csv.DictReader(open(mnist_run / "history.csv")))
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(rows[0])

    summary = json.loads((mnist_run / "summary.json").read_text())
    assert summary["config"]["model"]["name"] == "lenet5"
    assert summary["data"]["train_samples"] == 300 and summary["data"]["test_samples"] == 100
    assert summary["model"]["parameters"] == 61706
    assert summary["evaluated_on"] == "test"
    assert set(summary["metrics"]) == {"loss", "accuracy", "macro_precision", "macro_recall",
                                       "macro_f1"}
    assert summary["wall_time_s"] > 0
    assert summary["versions"]["lamina"] == lm.__version__
    assert summary["files"]["model"] == "model.safetensors"


def test_saved_model_holds_preprocessing_and_metadata(mnist_run):
    bundle = lm.io.load_bundle(mnist_run / "model.safetensors")
    assert bundle.metadata["input_shape"] == [1, 28, 28]
    assert bundle.metadata["classes"] == list(range(10))
    assert bundle.metadata["pipeline"]["kind"] == "image"
    encoder = bundle.preprocessing["label_encoder"]
    assert list(encoder.classes_) == list(range(10))
    # the stored accuracy is what the model scores on the same test images
    summary = json.loads((mnist_run / "summary.json").read_text())
    assert bundle.metadata["metrics"]["accuracy"] == summary["metrics"]["accuracy"]


def test_same_seed_same_run(tmp_path):
    config = parse_config(TINY_MNIST.format(model="mlp"), "tiny.toml", tmp_path)
    config.override("data", "max_train", 64)
    first = run_training(config, tmp_path / "a", progress=False, log=lambda _: None,
                         write_files=False)
    second = run_training(config, tmp_path / "b", progress=False, log=lambda _: None,
                          write_files=False)
    assert first.history.history == second.history.history
    for (name, p), (_, q) in zip(first.model.named_parameters(),
                                 second.model.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_epochs_override_and_output_dir_from_config(cli, tmp_path):
    config = tmp_path / "cfg.toml"
    config.write_text(TINY_MNIST.format(model="mlp").replace("max_train = 300", "max_train = 64")
                      + '\n[output]\ndir = "out_here"\nplots = false\n')
    run = cli("train", config, "--epochs", "2", "--quiet")
    assert run.code == 0, run.err
    out = tmp_path / "out_here"  # relative to the config file, not the working directory
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert not (out / "learning_curves.png").exists()
    assert run.out.strip().splitlines()[-1].startswith("test accuracy: ")


def test_progress_bar_goes_to_stderr(cli, tmp_path):
    config = tmp_path / "cfg.toml"
    config.write_text(TINY_MNIST.format(model="mlp").replace("max_train = 300", "max_train = 64"))
    run = cli("train", config, "--out", tmp_path / "out")
    assert run.code == 0
    assert "Epoch 1/1" in run.err
    assert "data: MNIST subset shipped with lamina" in run.out


def test_tabular_example_trains_with_string_labels(tabular_run):
    bundle = lm.io.load_bundle(tabular_run / "model.safetensors")
    assert bundle.metadata["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert bundle.metadata["pipeline"]["kind"] == "tabular"
    summary = json.loads((tabular_run / "summary.json").read_text())
    assert summary["data"]["rows_dropped"]["no_label"] == 1
    assert summary["epochs_run"] <= 3


@pytest.mark.parametrize("name", ["mnist_lenet5", "mnist_mlp", "tabular_csv"])
def test_shipped_configs_are_valid(name):
    config = load_config(EXAMPLES / "configs" / f"{name}.toml")
    assert config["train"]["epochs"] >= 1


@pytest.mark.parametrize("text, fragments", [
    ('[data]\nsource = "mnist"\n[model]\nname = "mlp"\n[optimizer]\nname = "sgd"\nlrr = 0.1',
     ["config error in bad.toml", "unknown key 'lrr' in [optimizer]", "allowed: name, lr,"]),
    ("[data\nsource = 1", ["config error in bad.toml", "invalid TOML"]),
    ('[data]\nsource = "mnist"\n[model]\nname = "lenet5"\n[train]\nepochs = "ten"',
     ["[train] epochs must be an integer >= 1", "received string 'ten'"]),
    ('[data]\nsource = "csv"\npath = "nope.csv"\nlabel = "y"\n[model]\nname = "mlp"',
     ["nope.csv", "no such file"]),
    ('[data]\nsource = "csv"\npath = "PENGUINS"\nlabel = "kind"\n[model]\nname = "mlp"',
     ["no column 'kind'", "species"]),
    ('[data]\nsource = "csv"\npath = "PENGUINS"\nlabel = "species"\n[model]\nname = "lenet5"',
     ["lenet5 takes 1x28x28 images", "(7,)"]),
    ('[data]\nsource = "mnist"\n[model]\nname = "mlp"\nsizes = [10, 10]',
     ["mlp sizes=[10, 10] must start with the 784 input features"]),
])
def test_config_errors_are_one_line(cli, tmp_path, text, fragments):
    pytest.importorskip("pandas")
    config = tmp_path / "bad.toml"
    config.write_text(text.replace("PENGUINS", str(EXAMPLES / "data" /
                                                   "synthetic_penguins.csv")))
    run = cli("train", config, "--out", tmp_path / "out", "--quiet")
    assert run.code == 2
    assert_one_line_error(run.err, *fragments)


INLINE = """
[data]
source = "inline"
x = [{x}]
y = [{y}]
test_size = 0.25

[model]
name = "mlp"
hidden = [8]

[optimizer]
name = "sgd"
lr = 0.2

[scheduler]
name = "step"
step_size = 1
gamma = 0.5

[train]
epochs = 3
batch_size = 8
class_weight = "balanced"
"""


def test_self_contained_config_with_scheduler_and_class_weight(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)) + np.repeat([[0.0, 0.0], [3.0, 3.0]], [30, 10], axis=0)
    labels = ["small"] * 30 + ["large"] * 10
    text = INLINE.format(x=", ".join(f"[{a:.3f}, {b:.3f}]" for a, b in x),
                         y=", ".join(f'"{v}"' for v in labels))
    config = parse_config(text, "inline.toml", tmp_path)
    result = run_training(config, tmp_path / "out", progress=False, log=lambda _: None)
    assert result.history.history["lr"] == [0.2, 0.1, 0.05]  # StepLR(step_size=1, gamma=0.5)
    assert result.classes == ["large", "small"]
    assert result.metrics["accuracy"] >= 0.8
    assert (tmp_path / "out" / "model.safetensors").exists()


def test_diverging_training_exits_non_zero_and_writes_no_model(cli, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)) * 100
    labels = [0] * 20 + [1] * 20
    text = INLINE.format(x=", ".join(f"[{a:.3f}, {b:.3f}]" for a, b in x),
                         y=", ".join(str(v) for v in labels)).replace("lr = 0.2", "lr = 1e30")
    config = tmp_path / "diverge.toml"
    config.write_text(text)
    with np.errstate(all="ignore"):
        run = cli("train", config, "--out", tmp_path / "out", "--quiet")
    assert run.code == 2
    assert_one_line_error(run.err, "training diverged", "no model was written")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_floating_point_error_from_fit_is_a_diverged_training(tmp_path, monkeypatch):
    from lamina.workflow.training import TrainingDiverged

    def diverge(*args, **kwargs):
        raise FloatingPointError("fit: the loss is nan at epoch 1, batch 3")

    monkeypatch.setattr(lm.train, "fit", diverge)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2))
    text = INLINE.format(x=", ".join(f"[{a:.3f}, {b:.3f}]" for a, b in x),
                         y=", ".join(str(v % 2) for v in range(20)))
    config = parse_config(text, "inline.toml", tmp_path)
    with pytest.raises(TrainingDiverged, match="training diverged: fit: the loss is nan at "
                                               "epoch 1, batch 3; no model was written"):
        run_training(config, tmp_path / "out", progress=False, log=lambda _: None)
    assert not (tmp_path / "out" / "model.safetensors").exists()
