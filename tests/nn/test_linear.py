"""nn.Linear: forward/backward parity with torch, default init, layout, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina as lm
from lamina import nn

DTYPES = [np.float32, np.float64]
SEEDS = [0, 1, 2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(parity, torch, dtype, seed, bias):
    rng = np.random.default_rng(seed)
    in_features, out_features = (int(n) for n in rng.integers(1, 9, 2))
    batch = tuple(int(n) for n in rng.integers(1, 5, int(rng.integers(1, 3))))
    ours = nn.Linear(in_features, out_features, bias=bias).to(dtype)
    theirs = torch.nn.Linear(in_features, out_features, bias=bias)
    x = rng.standard_normal(batch + (in_features,)).astype(dtype)
    out = parity.module(ours, theirs, x, seed)
    assert out.shape == batch + (out_features,) and out.dtype == dtype


def test_weight_layout_is_out_by_in():
    layer = nn.Linear(3, 5)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (5,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert nn.Linear(3, 5, bias=False).bias is None
    assert nn.Linear(3, 5, dtype="float64").weight.dtype == np.float64


def test_forward_is_x_w_transpose_plus_b(rng):
    layer = nn.Linear(3, 2).double()
    x = rng.standard_normal((4, 3))
    expected = x @ layer.weight._data.T + layer.bias._data
    np.testing.assert_allclose(layer(lm.tensor(x))._data, expected)
    np.testing.assert_allclose(layer(x)._data, expected)  # arrays are accepted too


def test_array_input_takes_the_layer_dtype():
    layer = nn.Linear(3, 2)
    assert layer(np.ones((4, 3))).dtype == np.float32  # float64 NumPy batch, float32 layer
    assert layer(np.ones((4, 3), dtype=np.int64)).dtype == np.float32
    assert layer.double()(np.ones((4, 3), dtype=np.float32)).dtype == np.float64


def test_default_init_bound_is_one_over_sqrt_fan_in():
    lm.manual_seed(0)
    fan_in = 400
    layer = nn.Linear(fan_in, 300)
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight._data, layer.bias._data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.97 * bound
    # U(-b, b) has standard deviation b / sqrt(3)
    assert abs(layer.weight._data.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(layer.weight._data.mean()) < 0.01 * bound


def test_input_shape_mismatch_names_layer_expected_and_received():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"Linear\(in_features=3, out_features=2\): expected "
                                         r"input with last dimension 3, got input of shape "
                                         r"\(4, 5\)"):
        layer(lm.ones(4, 5))


def test_invalid_sizes():
    with pytest.raises(ValueError, match=r"^Linear: in_features must be positive, got 0$"):
        nn.Linear(0, 2)
    with pytest.raises(ValueError, match=r"^Linear: out_features must be positive, got -1$"):
        nn.Linear(2, -1)


def test_repr():
    assert repr(nn.Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
    assert repr(nn.Identity()) == "Identity()"
    x = lm.ones(2)
    assert nn.Identity()(x) is x


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_relu_equals_relu_of_linear(rng, dtype, bias):
    """The fused helper gives relu(linear(x)) exactly, with the same gradients."""
    from lamina.nn.linear import linear_relu

    layer = nn.Linear(5, 4, bias=bias).to(dtype)
    x_data = rng.standard_normal((6, 5)).astype(dtype)
    results = []
    for fused in (True, False):
        x = lm.tensor(x_data, requires_grad=True)
        layer.zero_grad()
        out = linear_relu(layer, x) if fused else nn.ReLU()(layer(x))
        (out * lm.tensor(np.arange(24, dtype=dtype).reshape(6, 4))).sum().backward()
        results.append([out._data, x.grad._data] + [p.grad._data for p in layer.parameters()])
    assert results[0][0].dtype == dtype and (results[0][0] >= 0).all()
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_linear_relu_takes_arrays_and_checks_the_input_size():
    from lamina.nn.linear import linear_relu

    layer = nn.Linear(3, 2)
    assert linear_relu(layer, np.ones((4, 3))).dtype == np.float32
    with pytest.raises(ValueError, match=r"Linear\(in_features=3, out_features=2\)"):
        linear_relu(layer, np.ones((4, 5)))
