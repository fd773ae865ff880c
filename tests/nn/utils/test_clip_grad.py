"""nn.utils.clip_grad_norm_ / clip_grad_value_ / get_total_norm against torch (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina as lm


def _params(lib, grads):
    params = []
    for g in grads:
        p = lib.nn.Parameter(lib.zeros(*g.shape, dtype=lib.float64))
        p.grad = lib.tensor(g.copy())
        params.append(p)
    return params


GRADS = [np.random.default_rng(0).standard_normal((3, 4)) * 3,
         np.random.default_rng(1).standard_normal(5)]


@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0),
                                                 (0.3, math.inf), (2.0, 3.0)])
def test_clip_grad_norm_matches_torch(torch, max_norm, norm_type):
    ours, theirs = _params(lm, GRADS), _params(torch, GRADS)
    total = lm.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), total_t.item(), rtol=1e-12)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_and_total_norm_match_torch(torch):
    ours, theirs = _params(lm, GRADS), _params(torch, GRADS)
    lm.nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy())
    norm = lm.nn.utils.get_total_norm([lm.tensor(g) for g in GRADS], 2.0)
    norm_t = torch.nn.utils.get_total_norm([torch.tensor(g) for g in GRADS], 2.0)
    np.testing.assert_allclose(norm.item(), norm_t.item(), rtol=1e-12)


def test_single_tensor_missing_grads_and_nonfinite():
    p = lm.nn.Parameter(lm.zeros(2))
    assert lm.nn.utils.clip_grad_norm_(p, 1.0).item() == 0.0  # no gradient: nothing to clip
    p.grad = lm.tensor([3.0, 4.0])
    version = p.grad._version
    assert lm.nn.utils.clip_grad_norm_(p, 1.0).item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert p.grad._version == version + 1
    p.grad = lm.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        lm.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_model_loop_usage():
    model = lm.nn.Linear(3, 1)
    loss = (model(lm.randn(4, 3)) * 100).sum()
    loss.backward()
    lm.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    total = math.sqrt(sum((p.grad.numpy() ** 2).sum() for p in model.parameters()))
    assert total == pytest.approx(1.0, rel=1e-4)
