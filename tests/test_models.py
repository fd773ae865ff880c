"""lamina.models: lenet5 (modern and classic) and mlp."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import functional as F
from lamina import nn
from lamina.models import lenet5, mlp
from lamina.nn.conv import Conv2d, MaskedConv2d
from lamina.nn.pooling import MaxPool2d, Subsampling

LENET5_NAMES = ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight",
                "9.bias", "11.weight", "11.bias"]
LENET5_SHAPES = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
                 (10, 84), (10,)]


def test_lenet5_is_exactly_the_documented_stack():
    model = lenet5()
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert model.num_parameters() == 61_706
    assert list(model.state_dict()) == LENET5_NAMES
    assert [p.shape for _, p in model.named_parameters()] == LENET5_SHAPES
    assert (model[0].padding, model[3].padding) == ((2, 2), (0, 0))
    assert model[2].kernel_size == 2 and model[2].stride == 2


def test_lenet5_output_shape_and_dtype(rng):
    model = lenet5()
    x = lm.tensor(rng.random((5, 1, 28, 28), dtype=np.float32))
    out = model(x)
    assert out.shape == (5, 10) and out.dtype == np.float32
    F.cross_entropy(out, np.arange(5)).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert all(p.grad.shape == p.shape for p in model.parameters())


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("batch", [4, 130])  # 130: the first layer's im2col in row blocks
def test_lenet5_matches_the_same_network_in_torch(parity, torch, monkeypatch, backend, batch):
    import lamina.kernels

    if backend == "numba":
        pytest.importorskip("numba")
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: backend == "numba")
    tn = torch.nn
    theirs = tn.Sequential(
        tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(6, 16, 5),
        tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(), tn.Linear(400, 120), tn.ReLU(),
        tn.Linear(120, 84), tn.ReLU(), tn.Linear(84, 10))
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    parity.module(lenet5(), theirs, x)


def test_lenet5_classic_follows_the_paper(rng):
    model = lenet5(classic=True)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ScaledTanh", "Subsampling", "ScaledTanh", "MaskedConv2d",
                     "ScaledTanh", "Subsampling", "ScaledTanh", "Conv2d", "ScaledTanh",
                     "Flatten", "Linear", "ScaledTanh", "Linear"]
    c1, s2, c3, s4, c5 = model[0], model[2], model[4], model[6], model[8]
    assert c1.num_parameters() == 156 and s2.num_parameters() == 12
    assert c3.num_connections() == 1516 and s4.num_parameters() == 32
    assert c5.num_parameters() == 48_120 and model[11].num_parameters() == 10_164
    x = lm.tensor(rng.random((3, 1, 28, 28), dtype=np.float32))
    out = model(x)
    assert out.shape == (3, 10) and out.dtype == np.float32
    F.cross_entropy(out, np.array([1, 2, 3])).backward()
    masked = c3._mask[..., 0, 0] == 0
    assert masked.sum() == 96 - 60
    assert np.all(c3.weight.grad.numpy()[masked] == 0)
    assert np.all(np.abs(c3.weight.grad.numpy()[~masked]).sum(axis=(1, 2)) > 0)
    assert np.all(c3.weight.numpy()[masked] == 0)
    assert isinstance(c3, MaskedConv2d) and isinstance(s2, Subsampling)


def test_models_are_reproducible_from_the_seed():
    lm.manual_seed(7)
    a = lenet5().state_dict()
    lm.manual_seed(7)
    b = lenet5().state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_mlp_structure():
    model = mlp([784, 256, 128, 10])
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)] == [
        (784, 256), (256, 128), (128, 10)]
    assert model(lm.zeros(2, 784)).shape == (2, 10)
    assert [type(m).__name__ for m in mlp([4, 3])] == ["Linear"]


@pytest.mark.parametrize(("activation", "cls"), [("relu", nn.ReLU), ("tanh", nn.Tanh),
                                                 ("sigmoid", nn.Sigmoid),
                                                 ("leaky_relu", nn.LeakyReLU),
                                                 ("swish", nn.Swish)])
def test_mlp_activation_and_dropout_after_each_hidden_layer(activation, cls):
    model = mlp([8, 6, 5, 2], activation=activation, dropout=0.25)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, cls, nn.Dropout, nn.Linear, cls, nn.Dropout, nn.Linear]
    assert all(m.p == 0.25 for m in model if isinstance(m, nn.Dropout))


def test_mlp_errors():
    with pytest.raises(ValueError, match="unknown activation 'gelu'; choose one of relu, tanh, "
                                         "sigmoid, leaky_relu, swish"):
        mlp([4, 2], activation="gelu")
    with pytest.raises(ValueError, match="at least an input and an output size"):
        mlp([4])
    with pytest.raises(ValueError, match="positive integers"):
        mlp([4, 0, 2])
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        mlp([4, 2], dropout=1.0)


def test_conv_layers_are_the_documented_classes():
    model = lenet5()
    assert isinstance(model[0], Conv2d) and isinstance(model[2], MaxPool2d)


# --------------------------------------------------------------------------- model shapes
def test_infer_input_shape_from_metadata_or_first_layer():
    from lamina.models import infer_input_shape

    assert infer_input_shape(mlp([5, 3])) == ((5,), None)
    shape, note = infer_input_shape(lenet5())
    assert shape == (1, 28, 28) and "assuming (1, 28, 28)" in note
    assert infer_input_shape(mlp([5, 3]), {"input_shape": [1, 2, 3]}) == ((1, 2, 3), None)
    with pytest.raises(ValueError, match="cannot tell the input shape of Sequential"):
        infer_input_shape(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="more than the limit"):
        infer_input_shape(mlp([5, 3]), {"input_shape": [1, 60000, 60000]})
    with pytest.raises(ValueError, match="tuple of ints"):
        infer_input_shape(mlp([5, 3]), {"input_shape": ["a"]})
    assert lm.onnx.infer_input_shape is infer_input_shape


def test_check_input_shape_limits():
    from lamina.models import MAX_SAMPLE_SIZE, check_input_shape

    assert check_input_shape(784, "x") == (784,)
    assert check_input_shape([MAX_SAMPLE_SIZE], "x") == (MAX_SAMPLE_SIZE,)
    for bad, error in [((0, 3), ValueError), ((), ValueError), ((2.5,), TypeError),
                       ((True,), TypeError), ((MAX_SAMPLE_SIZE + 1,), ValueError)]:
        with pytest.raises(error, match="^here: input_shape"):
            check_input_shape(bad, "here")


def test_leaf_layers_and_dtype():
    from lamina.models import leaf_layers, model_dtype

    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert [(name, type(m).__name__) for name, m in leaf_layers(model)] == [
        ("0", "Linear"), ("1.0", "ReLU"), ("1.1", "Linear")]
    assert model_dtype(model) == np.float32 and model_dtype(model.double()) == np.float64
    assert model_dtype(nn.ReLU()) == np.float32
