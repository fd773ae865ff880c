"""Activation layers: parity with torch (forward and input gradient) in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn

DTYPES = [np.float32, np.float64]
SEEDS = [0, 1, 2]

LAYERS = {
    "ReLU": (lambda: nn.ReLU(), lambda t: t.nn.ReLU()),
    "LeakyReLU": (lambda: nn.LeakyReLU(), lambda t: t.nn.LeakyReLU()),
    "LeakyReLU(0.2)": (lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2)),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
    "Swish": (lambda: nn.Swish(), lambda t: t.nn.SiLU()),
    "SiLU": (lambda: nn.SiLU(), lambda t: t.nn.SiLU()),
    "Softmax(dim=1)": (lambda: nn.Softmax(dim=1), lambda t: t.nn.Softmax(dim=1)),
    "Softmax(dim=-1)": (lambda: nn.Softmax(dim=-1), lambda t: t.nn.Softmax(dim=-1)),
    "Softmax(dim=0)": (lambda: nn.Softmax(dim=0), lambda t: t.nn.Softmax(dim=0)),
    "LogSoftmax(dim=1)": (lambda: nn.LogSoftmax(dim=1), lambda t: t.nn.LogSoftmax(dim=1)),
    "LogSoftmax(dim=-1)": (lambda: nn.LogSoftmax(dim=-1), lambda t: t.nn.LogSoftmax(dim=-1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_activation_matches_torch(parity, torch, name, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 6, int(rng.integers(2, 4))))
    x = (rng.standard_normal(shape) * rng.choice([1.0, 5.0, 30.0])).astype(dtype)
    ours, theirs = LAYERS[name][0](), LAYERS[name][1](torch)
    parity.module(ours, theirs, x, seed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_inputs(parity, torch, dtype):
    """Very large |x| must not overflow or produce NaN (sigmoid, swish, softmax)."""
    x = np.array([[-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0]], dtype=dtype)
    for ours, theirs in [(nn.Sigmoid(), torch.nn.Sigmoid()), (nn.SiLU(), torch.nn.SiLU()),
                         (nn.Tanh(), torch.nn.Tanh()), (nn.Softmax(1), torch.nn.Softmax(1)),
                         (nn.LogSoftmax(1), torch.nn.LogSoftmax(1))]:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = parity.module(ours, theirs, x)
        assert np.all(np.isfinite(out.data))


def test_sigmoid_keeps_relative_precision_for_negative_inputs():
    x = lm.tensor(np.array([-20.0, -50.0, -700.0]))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, np.exp(x.data) / (1 + np.exp(x.data)),
                               rtol=1e-12)


def test_scaled_tanh_is_lecun_squashing(rng):
    x = rng.standard_normal(5)
    np.testing.assert_allclose(nn.ScaledTanh()(lm.tensor(x)).data,
                               1.7159 * np.tanh(2.0 / 3.0 * x))


def test_swish_alias_and_reprs():
    assert nn.SiLU is nn.Swish
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.LogSoftmax(dim=1)) == "LogSoftmax(dim=1)"


def test_float32_stays_float32():
    x = lm.randn(3, 4, requires_grad=True)
    for layer in [nn.ReLU(), nn.LeakyReLU(), nn.Sigmoid(), nn.Tanh(), nn.SiLU(),
                  nn.Softmax(1), nn.LogSoftmax(1), nn.ScaledTanh()]:
        out = layer(x)
        assert out.dtype == np.float32, layer
        x.zero_grad()
        out.sum().backward()
        assert x.grad.dtype == np.float32, layer
