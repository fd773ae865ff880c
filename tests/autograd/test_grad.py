"""lm.autograd.grad / backward (lamina/autograd/grad.py) against torch."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


def test_grad_matches_torch_and_leaves_dot_grad_alone(torch):
    a = np.array([1.0, -2.0, 0.5])
    x, w = lm.tensor(a, requires_grad=True), lm.tensor(a * 2, requires_grad=True)
    xt, wt = torch.tensor(a, requires_grad=True), torch.tensor(a * 2, requires_grad=True)
    gx, = lm.autograd.grad((x ** 2 * w).sum(), x)
    gxt, = torch.autograd.grad((xt ** 2 * wt).sum(), xt)
    np.testing.assert_allclose(gx.numpy(), gxt.numpy())
    assert x.grad is None and w.grad is None
    both = lm.autograd.grad((x * w).sum(), [x, w])
    np.testing.assert_allclose(both[1].numpy(), a)
    v = np.array([0.1, 1.0, 10.0])
    g, = lm.autograd.grad(x * 3, x, grad_outputs=lm.tensor(v))
    np.testing.assert_allclose(g.numpy(), 3 * v)


def test_grad_errors():
    x, y = lm.ones(2, requires_grad=True), lm.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        lm.autograd.grad((x * 2).sum(), [x, y])
    assert lm.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)[1] is None
    with pytest.raises(NotImplementedError, match="create_graph"):
        lm.autograd.grad((x * 2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="leaf tensors"):
        lm.autograd.grad((x * 2).sum(), x * 2)


def test_backward_function_accumulates():
    x = lm.ones(2, requires_grad=True)
    lm.autograd.backward([(x * 2).sum(), (x * 3).sum()])
    assert x.grad.tolist() == [5.0, 5.0]
