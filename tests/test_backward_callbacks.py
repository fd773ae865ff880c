"""The autograd engine's end-of-backward callbacks (``queue_backward_callback``), which
DistributedDataParallel uses to average gradients once a backward pass is complete."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.tensor import apply, queue_backward_callback


def test_backward_callback_runs_once_after_every_leaf_has_its_gradient():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def check():
        seen.append(w.grad.numpy().copy())

    def marked(a):
        def backward(grad, need):
            queue_backward_callback(check)
            return (grad,)
        return a, backward

    out = lm.tensor([3.0, 4.0]) * w
    total = apply(marked, out).sum() + apply(marked, out).sum() + (w * w).sum()
    total.backward()
    assert len(seen) == 1  # queued twice, run once, after the w * w branch too
    np.testing.assert_allclose(seen[0], 2 * np.array([3.0, 4.0]) + 2 * np.array([1.0, 2.0]))
    (w * 2).sum().backward()  # a later pass that queues nothing runs nothing
    assert len(seen) == 1


def test_backward_callback_of_a_failed_pass_is_dropped():
    w = lm.tensor([1.0], requires_grad=True)
    ran = []

    def failing(a):
        def backward(grad, need):
            queue_backward_callback(lambda: ran.append(1))
            raise ArithmeticError("backward fails")
        return a, backward

    with pytest.raises(ArithmeticError):
        apply(failing, w * 1.0).sum().backward()
    (w * 3).sum().backward()
    assert ran == []
