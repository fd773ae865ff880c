"""The built-in factories configs name: models sized to the data, loss and callbacks."""

from __future__ import annotations

import pytest

from lamina import nn
from lamina.workflow.factories import checkpoint, cross_entropy, early_stopping, lenet5, mlp


def test_mlp_sizes_follow_the_data():
    model = mlp([16], input_shape=(1, 28, 28), num_classes=10)
    assert isinstance(model[0], nn.Flatten)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 16), (16, 10)]
    flat = mlp(sizes=[7, 5, 3], input_shape=(7,), num_classes=3)
    assert not isinstance(flat[0], nn.Flatten)


def test_mlp_rejects_sizes_that_do_not_fit():
    with pytest.raises(ValueError, match="must start with the 7 input features and end with"):
        mlp(sizes=[8, 3], input_shape=(7,), num_classes=3)
    with pytest.raises(ValueError, match="positive integers"):
        mlp([0], input_shape=(7,), num_classes=3)


def test_lenet5_needs_mnist_shapes():
    assert sum(p.numel() for p in lenet5(input_shape=(1, 28, 28), num_classes=10)
               .parameters()) == 61706
    with pytest.raises(ValueError, match="lenet5 takes 1x28x28 images"):
        lenet5(input_shape=(4,), num_classes=10)
    with pytest.raises(ValueError, match="10 outputs; the data has 3 classes"):
        lenet5(input_shape=(1, 28, 28), num_classes=3)


def test_loss_and_callbacks(tmp_path):
    assert isinstance(cross_entropy(), nn.CrossEntropyLoss)
    stop = early_stopping(patience=2)
    assert stop.patience == 2 and stop.monitor == "val_loss"
    saver = checkpoint(out_dir=tmp_path)
    assert str(saver.path).endswith("checkpoint.safetensors")
