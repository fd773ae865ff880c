"""lstm_sequence's backward with its all-steps products in blocks (LSTM_OVERLAP_STEPS > 0):
the same bits whether the blocks run in a second thread or in this one, the same values as
one product (up to rounding), and the same gradients as PyTorch in float64; and
lamina.kernels.blas, which sets the BLAS's threads around it."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from lamina.kernels import blas, parallel
from lamina.kernels import thresholds as T
from lamina.ops import OPS, recurrent


def _inputs(dtype, t_len=11, batch=3, n_in=4, hidden=5, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t_len, batch, n_in)).astype(dtype)
    h0, c0 = (rng.standard_normal((batch, hidden)).astype(dtype) for _ in range(2))
    w_ih = (rng.standard_normal((4 * hidden, n_in)) * 0.4).astype(dtype)
    w_hh = (rng.standard_normal((4 * hidden, hidden)) * 0.4).astype(dtype)
    b_ih, b_hh = (rng.standard_normal(4 * hidden).astype(dtype) for _ in range(2))
    grad = rng.standard_normal((t_len + 1, batch, hidden)).astype(dtype)
    return (x, h0, c0, w_ih, w_hh, b_ih, b_hh), grad


def _grads(args, grad, reverse=False):
    out, backward = OPS["lstm_sequence"](*args, reverse=reverse)
    return [out.copy()] + [g.copy() for g in backward(grad, (True,) * 7)]


@contextmanager
def _switched():
    yield True


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_blocks_in_a_second_thread_give_the_same_bits(backend, monkeypatch, dtype, reverse):
    args, grad = _inputs(dtype)
    monkeypatch.setattr(T, "LSTM_OVERLAP_STEPS", 3)
    monkeypatch.setitem(parallel._state, "threads", 1)
    here = _grads(args, grad, reverse)
    monkeypatch.setitem(parallel._state, "threads", 2)
    monkeypatch.setattr(blas, "single_threaded", _switched)
    calls = []
    block = recurrent._StepProducts._block
    monkeypatch.setattr(recurrent._StepProducts, "_block",
                        lambda self, s0, s1: (calls.append((s0, s1)), block(self, s0, s1)))
    threaded = _grads(args, grad, reverse)
    assert calls == [(8, 11), (5, 8), (2, 5), (0, 2)]
    for a, b in zip(here, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(T, "LSTM_OVERLAP_STEPS", 0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b in zip(_grads(args, grad, reverse), threaded, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_short_sequences_take_one_block(monkeypatch):
    args, grad = _inputs(np.float64, t_len=5)
    monkeypatch.setattr(T, "LSTM_OVERLAP_STEPS", 3)
    calls = []
    block = recurrent._StepProducts._block
    monkeypatch.setattr(recurrent._StepProducts, "_block",
                        lambda self, s0, s1: (calls.append((s0, s1)), block(self, s0, s1)))
    _grads(args, grad)
    assert calls == [(0, 5)]


def test_lstm_layer_with_blocks_matches_torch(backend, torch, monkeypatch):
    import lamina as lm

    monkeypatch.setattr(T, "LSTM_OVERLAP_STEPS", 4)
    monkeypatch.setitem(parallel._state, "threads", 2)
    lm.manual_seed(0)
    layer = lm.nn.LSTM(3, 6, batch_first=True).to(lm.float64)
    reference = torch.nn.LSTM(3, 6, batch_first=True).double()
    with torch.no_grad():
        for p, q in zip(layer.parameters(), reference.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.numpy()))
    x = np.random.default_rng(1).standard_normal((2, 13, 3))
    xt = lm.tensor(x, requires_grad=True)
    out, _ = layer(xt)
    (out * out).sum().backward()
    tx = torch.from_numpy(x).requires_grad_()
    ref, _ = reference(tx)
    (ref * ref).sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for p, q in zip(layer.parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_single_threaded_sets_one_thread_and_restores():
    before = blas.threads()
    with blas.single_threaded() as switched:
        inside = blas.threads()
    assert blas.threads() == before
    if before is None:
        assert not switched and inside is None
    else:
        assert inside == 1 and switched == (before > 1)
