"""nn.Dropout (inverted dropout) and nn.Flatten."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import functional as F
from lamina import nn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_eval_mode_matches_torch(parity, torch, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 5)).astype(dtype)
    ours, theirs = nn.Dropout(0.5).eval(), torch.nn.Dropout(0.5).eval()
    out = parity.module(ours, theirs, x, seed)
    np.testing.assert_array_equal(out.data, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_p_zero_in_training_matches_torch(parity, torch, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 2, 4)).astype(dtype)
    ours, theirs = nn.Dropout(0.0), torch.nn.Dropout(0.0)
    assert ours.training and theirs.training
    parity.module(ours, theirs, x, seed)


def test_inverted_dropout_statistics_and_gradient():
    lm.manual_seed(3)
    p = 0.3
    x = lm.ones(200, 500, requires_grad=True)
    out = nn.Dropout(p)(x)
    assert out.dtype == np.float32
    kept = out.data != 0
    assert abs(1 - kept.mean() - p) < 0.005
    np.testing.assert_allclose(out.data[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(out.data.mean() - 1.0) < 0.01  # the expectation is unchanged
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, out.data, rtol=1e-6)  # grad = mask / (1 - p)


def test_dropout_is_seeded():
    x = lm.ones(50, 50)
    lm.manual_seed(11)
    a = nn.Dropout(0.5)(x)
    lm.manual_seed(11)
    b = nn.Dropout(0.5)(x)
    c = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(b.data, c.data)


def test_p_one_zeroes_everything_in_training_only():
    x = lm.randn(3, 4)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).data, 0.0)
    np.testing.assert_array_equal(nn.Dropout(1.0).eval()(x).data, x.data)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got"):
        F.dropout(lm.ones(2), p)


def test_functional_dropout_training_flag():
    x = lm.randn(4, 4)
    assert F.dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize(("start_dim", "end_dim"), [(1, -1), (0, -1), (1, 2), (2, 3), (-2, -1)])
def test_flatten_matches_torch(parity, torch, start_dim, end_dim):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    ours, theirs = nn.Flatten(start_dim, end_dim), torch.nn.Flatten(start_dim, end_dim)
    out = parity.module(ours, theirs, x)
    assert out.shape == tuple(theirs(torch.from_numpy(x)).shape)


def test_flatten_default_and_repr():
    assert nn.Flatten()(lm.ones(8, 1, 28, 28)).shape == (8, 784)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
