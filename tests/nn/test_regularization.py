"""nn.l1_penalty and nn.l2_penalty (notes eq 8.1-8.3): values, weights only, gradients."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn


def model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()


def test_l2_is_half_sum_of_squared_weights():
    m = model()
    expected = 0.5 * sum((p.data**2).sum() for p in m.parameters() if p.ndim >= 2)  # eq 8.2
    assert nn.l2_penalty(m).item() == pytest.approx(expected)
    assert nn.l2_penalty(m.parameters()).item() == pytest.approx(expected)


def test_l1_is_sum_of_absolute_weights():
    m = model()
    expected = sum(np.abs(p.data).sum() for p in m.parameters() if p.ndim >= 2)  # eq 8.3
    assert nn.l1_penalty(m).item() == pytest.approx(expected)


def test_biases_are_excluded_unless_asked():
    m = model()
    for p in m.parameters():
        p.data[...] = 0
    m[0].bias.data[...] = 2.0
    assert nn.l2_penalty(m).item() == 0 and nn.l1_penalty(m).item() == 0
    assert nn.l2_penalty(m, include_bias=True).item() == pytest.approx(0.5 * 4 * 4)
    assert nn.l1_penalty(m, include_bias=True).item() == pytest.approx(2 * 4)


def test_gradients():
    m = model()
    (nn.l2_penalty(m) + 3 * nn.l1_penalty(m)).backward()
    for p in m.parameters():
        if p.ndim >= 2:
            np.testing.assert_allclose(p.grad.data, p.data + 3 * np.sign(p.data))
        else:
            assert p.grad is None


def test_penalty_added_to_a_loss_stays_float32():
    m = nn.Linear(3, 2)
    loss = nn.MSELoss()(m(lm.ones(4, 3)), np.zeros((4, 2))) + 1e-3 * nn.l2_penalty(m)
    assert loss.dtype == np.float32
    loss.backward()
    assert m.weight.grad.dtype == np.float32


def test_no_weights():
    with pytest.raises(ValueError, match=r"l2_penalty: no weights \(parameters with ndim >= 2\)"):
        nn.l2_penalty([nn.Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match="l1_penalty: no weights"):
        nn.l1_penalty([])
