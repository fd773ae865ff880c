"""nn.init: bounds and standard deviations of Xavier/Glorot and Kaiming/He initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.nn import init

SHAPES = [(400, 600), (64, 32, 3, 3)]  # a Linear weight and a Conv2d weight


def fans(shape) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def check_uniform(t: lm.Tensor, bound: float) -> None:
    data = t._data
    assert np.abs(data).max() <= bound * (1 + 1e-6)
    assert np.abs(data).max() > 0.98 * bound
    assert abs(data.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(data.mean()) < 0.02 * bound


def check_normal(t: lm.Tensor, std: float) -> None:
    assert abs(t._data.std() - std) < 0.02 * std
    assert abs(t._data.mean()) < 0.02 * std


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(shape, gain):
    fan_in, fan_out = fans(shape)
    t = lm.zeros(*shape)
    assert init.xavier_uniform_(t, gain=gain) is t
    check_uniform(t, gain * math.sqrt(6 / (fan_in + fan_out)))
    init.xavier_normal_(t, gain=gain)
    check_normal(t, gain * math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("nonlinearity", "a", "gain"),
                         [("relu", 0.0, math.sqrt(2)), ("leaky_relu", 0.0, math.sqrt(2)),
                          ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("linear", 0.0, 1.0),
                          ("tanh", 0.0, 5 / 3)])
def test_kaiming(shape, mode, nonlinearity, a, gain):
    fan_in, fan_out = fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    t = lm.zeros(*shape)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    check_uniform(t, gain * math.sqrt(3 / fan))
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    check_normal(t, gain / math.sqrt(fan))


def test_aliases_and_gain_match_torch(torch):
    assert init.glorot_uniform_ is init.xavier_uniform_
    assert init.he_normal_ is init.kaiming_normal_
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.3), ("selu", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_init_keeps_dtype_and_is_seeded():
    t = lm.zeros(30, 20, dtype="float64")
    lm.manual_seed(5)
    init.kaiming_normal_(t)
    assert t.dtype == np.float64
    first = t._data.copy()
    lm.manual_seed(5)
    init.kaiming_normal_(t)
    np.testing.assert_array_equal(t._data, first)


def test_simple_fills():
    t = lm.zeros(3, 2)
    np.testing.assert_array_equal(init.ones_(t)._data, 1)
    np.testing.assert_array_equal(init.constant_(t, 0.5)._data, 0.5)
    np.testing.assert_array_equal(init.zeros_(t)._data, 0)
    lm.manual_seed(0)
    init.uniform_(t, -2.0, -1.0)
    assert np.all((t._data >= -2) & (t._data < -1))
    init.normal_(t, mean=10.0, std=0.1)
    assert np.all(np.abs(t._data - 10) < 1)


def test_init_of_a_parameter_in_place():
    layer = nn.Linear(50, 40)
    weight = layer.weight
    init.xavier_uniform_(layer.weight)
    assert layer.weight is weight and weight.requires_grad


def test_errors():
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(lm.zeros(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan'"):
        init.kaiming_uniform_(lm.zeros(3, 3), mode="fan")
