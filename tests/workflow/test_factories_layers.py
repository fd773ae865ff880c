"""The ``vgg`` and ``layers`` model factories: configs can build networks of the new layers
(BatchNorm, GELU, LSTM-free stacks of any lamina layer) and train them with ``lamina train``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.config import parse_config
from lamina.workflow.factories import layers, vgg


def test_vgg_builds_blocks_with_batchnorm_and_fits_the_data():
    model = vgg([4, 8], input_shape=(1, 12, 12), num_classes=3)
    kinds = [type(m).__name__ for m in model]
    assert kinds[:4] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert kinds.count("BatchNorm2d") == 4 and kinds.count("MaxPool2d") == 2
    assert model[0].bias is None  # BatchNorm's beta replaces the conv bias
    assert model(lm.zeros(2, 1, 12, 12)).shape == (2, 3)
    plain = vgg([4], batch_norm=False, dropout=0.5, input_shape=(3, 8, 8), num_classes=2)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain)
    assert any(isinstance(m, nn.Dropout) for m in plain)


def test_vgg_rejects_data_it_cannot_take():
    with pytest.raises(ValueError, match="images"):
        vgg(input_shape=(10,), num_classes=2)
    with pytest.raises(ValueError, match="too small"):
        vgg([4, 4, 4], input_shape=(1, 4, 4), num_classes=2)
    with pytest.raises(ValueError, match="positive integers"):
        vgg([4, 0], input_shape=(1, 8, 8), num_classes=2)


def test_layers_factory_builds_any_lamina_layers_and_checks_the_output():
    spec = [{"type": "Linear", "args": {"in_features": 4, "out_features": 8}},
            {"type": "LayerNorm", "args": {"normalized_shape": 8}},
            {"type": "GELU", "args": {"approximate": "tanh"}},
            {"type": "Linear", "args": {"in_features": 8, "out_features": 3}}]
    model = layers(spec, input_shape=(4,), num_classes=3)
    assert [type(m).__name__ for m in model] == ["Linear", "LayerNorm", "GELU", "Linear"]
    assert model.training
    with pytest.raises(ValueError, match="3 classes"):
        layers(spec[:2], input_shape=(4,), num_classes=3)
    with pytest.raises(ValueError, match="unknown layer type"):
        layers([{"type": "Transformer"}], input_shape=(4,), num_classes=3)
    with pytest.raises(ValueError, match="do not take samples"):
        layers(spec, input_shape=(5,), num_classes=3)


CONFIG = """
[data]
source = "inline"
x = {x}
y = {y}

[model]
name = "layers"
layers = [
  {{ type = "Linear", args = {{ in_features = 2, out_features = 16 }} }},
  {{ type = "BatchNorm1d", args = {{ num_features = 16 }} }},
  {{ type = "Mish" }},
  {{ type = "Linear", args = {{ in_features = 16, out_features = 2 }} }},
]

[optimizer]
name = "adam"
lr = 0.05

[train]
epochs = 30
batch_size = 16
seed = 0
metrics = ["accuracy"]
"""


def test_lamina_train_runs_a_config_of_new_layers(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    text = CONFIG.format(x=x.round(4).tolist(), y=y.tolist())
    parse_config(text)  # the config validates
    path = tmp_path / "c.toml"
    path.write_text(text)
    run = subprocess.run([sys.executable, "-m", "lamina", "train", str(path), "--out",
                          str(tmp_path / "run"), "--quiet"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    model = lm.load(tmp_path / "run" / "model.safetensors")
    assert isinstance(model[1], nn.BatchNorm1d)
    assert int(model[1].num_batches_tracked.item()) > 0
    accuracy = float(run.stdout.split("test accuracy:")[1].split("%")[0])
    assert accuracy > 70.0
