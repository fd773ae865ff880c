"""Cross-entropy with class-index targets (lamina/ops/loss.py): the compiled kernel
``cross_entropy_rows`` against the NumPy path, ``ignore_index`` handled inside the op, and
both against PyTorch in float64."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import functional as F
from lamina.kernels import registry
from lamina.ops import OPS
from lamina.tensor import apply
from lamina.testing import gradcheck


def logits_and_target(n=9, c=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    z = (3 * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, n)
    t[1] = t[5] = -100  # two ignored rows
    return z, t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, -100, 2])
def test_loss_and_gradient_match_torch(backend, torch, reduction, ignore_index):
    z, t = logits_and_target()
    if ignore_index != -100:
        t[1], t[5] = 0, 3
    x = lm.tensor(z, requires_grad=True)
    kw = {} if ignore_index is None else {"ignore_index": ignore_index}
    out = F.cross_entropy(x, lm.tensor(t), reduction=reduction, **kw)
    tx = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tx, torch.tensor(t), reduction=reduction, **kw)
    seed = np.arange(1.0, out.numel() + 1).reshape(out.shape)
    out.backward(lm.tensor(seed))
    expected.backward(torch.tensor(seed))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_compiled_rows_equal_the_numpy_path_float32(monkeypatch):
    pytest.importorskip("numba")
    z, t = logits_and_target(n=64, c=10, dtype=np.float32, seed=3)
    results = []
    for on in (True, False):
        monkeypatch.setattr(lm.kernels, "numba_available", lambda on=on: on)
        x = lm.tensor(z, requires_grad=True)
        loss = F.cross_entropy(x, lm.tensor(t))
        loss.backward()
        results.append((loss.numpy(), x.grad.numpy()))
    assert registry.select("cross_entropy_rows", z, t) is None  # the switch is still off
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=2e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=2e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_with_ignored_rows(backend, reduction):
    z, t = logits_and_target(n=6, c=4)
    t[5] = 3
    gradcheck(lambda x: apply(OPS["cross_entropy"], x, lm.tensor(t), reduction=reduction,
                              ignore_index=-100), (lm.tensor(z, requires_grad=True),))


def test_every_row_ignored_gives_nan_mean_and_zero_gradient(backend, torch):
    x = lm.tensor(np.ones((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, lm.tensor(np.full(3, -100)))
    loss.backward()
    assert np.isnan(loss.item())
    tx = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(tx, torch.full((3,), -100)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("bad", [5, -1, -100])
def test_out_of_range_target_is_refused(backend, bad):
    x = lm.tensor(np.zeros((3, 5)), requires_grad=True)
    target = lm.tensor(np.array([0, bad, 1]))
    with pytest.raises(ValueError, match=f"target class index {bad} is out of range for 5"):
        F.cross_entropy(x, target, ignore_index=7)


def test_nan_logits_give_nan_on_both_paths(backend):
    z = np.array([[0.0, np.nan, 1.0], [1.0, 2.0, 3.0]])
    loss = F.cross_entropy(lm.tensor(z), lm.tensor(np.array([0, 2])), reduction="none")
    assert np.isnan(loss.numpy()[0]) and np.isfinite(loss.numpy()[1])


def test_ignore_index_with_weights_stays_with_the_composite_path(torch):
    z, t = logits_and_target()
    w = np.linspace(0.5, 2.0, 5)
    out = F.cross_entropy(lm.tensor(z), lm.tensor(t), weight=lm.tensor(w))
    expected = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(t),
                                                 weight=torch.tensor(w))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="ignore_index is handled by this op only"):
        apply(OPS["cross_entropy"], lm.tensor(z), lm.tensor(t), weight=w, ignore_index=-100)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_loss_module_matches_torch(backend, torch, reduction):
    z, t = logits_and_target(seed=4)
    x = lm.tensor(z, requires_grad=True)
    out = lm.nn.CrossEntropyLoss(reduction=reduction)(x, lm.tensor(t))
    tx = torch.tensor(z, requires_grad=True)
    expected = torch.nn.CrossEntropyLoss(reduction=reduction)(tx, torch.tensor(t))
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
