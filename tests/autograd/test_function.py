"""lm.autograd.Function (lamina/autograd/function.py): custom ops with ctx, against torch."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


def _legendre(lib):
    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    return LegendrePolynomial3


def _scaled_mul(lib):
    class ScaledMul(lib.autograd.Function):
        """Two tensor inputs and a number; backward uses needs_input_grad and ctx attributes."""

        @staticmethod
        def forward(ctx, a, b, scale):
            ctx.save_for_backward(a, b)
            ctx.scale = scale
            return a * b * scale

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            grad_a = grad * b * ctx.scale if ctx.needs_input_grad[0] else None
            grad_b = grad * a * ctx.scale if ctx.needs_input_grad[1] else None
            return grad_a, grad_b, None

    return ScaledMul


def test_legendre_function_matches_torch(parity):
    x = np.linspace(-1.0, 1.0, 7)
    parity.call(lambda t: _legendre(lm).apply(t * 0.7 + 0.1),
                lambda t: _legendre(parity.torch).apply(t * 0.7 + 0.1), x)


def test_several_inputs_and_non_tensor_arguments(parity):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    parity.call(lambda x, y: _scaled_mul(lm).apply(x, y, 2.5),
                lambda x, y: _scaled_mul(parity.torch).apply(x, y, 2.5), a, b)


def test_forward_runs_without_recording_and_needs_input_grad():
    seen = {}

    class Probe(lm.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            seen["grad_mode"] = lm.is_grad_enabled()
            seen["needs"] = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    x, y = lm.ones(2, requires_grad=True), lm.ones(2)
    out = Probe.apply(x, y)
    assert seen == {"grad_mode": False, "needs": (True, False)}
    assert out.requires_grad and out.grad_fn.name() == "ProbeBackward0"
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0] and y.grad is None
    with lm.no_grad():
        assert not Probe.apply(x, y).requires_grad


def test_errors_are_clear():
    class Wrong(lm.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    x = lm.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="returned 2 gradients, expected one per forward input"):
        Wrong.apply(x).sum().backward()

    class NotTensor(lm.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 3.0

    with pytest.raises(TypeError, match="must return a Tensor or a tuple"):
        NotTensor.apply(x)
    with pytest.raises(RuntimeError, match="Function subclasses are not instantiated"):
        Wrong()


def test_saved_tensor_modified_in_place_is_detected():
    x = lm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    out = _legendre(lm).apply(y)
    with lm.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-?place operation"):
        out.sum().backward()


def test_the_tutorial_loop_learns():
    """The corpus script 09's loop, shortened: the loss falls."""
    dtype = lm.float
    x = lm.linspace(-np.pi, np.pi, 200, dtype=dtype)
    y = lm.sin(x)
    a, b, c, d = (lm.full((), v, dtype=dtype, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3))
    p3 = _legendre(lm).apply
    losses = []
    for _ in range(300):
        loss = (a + b * p3(c + d * x) - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with lm.no_grad():
            for w in (a, b, c, d):
                w -= 5e-5 * w.grad
                w.grad = None
    assert losses[-1] < losses[0] / 4


def _sin_cos(lib):
    class SinCos(lib.autograd.Function):
        """Two outputs and an integer output marked non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            index = (x > 0).long()
            ctx.mark_non_differentiable(index)
            return x.sin(), x.cos() * 2, index

        @staticmethod
        def backward(ctx, grad_sin, grad_cos, grad_index):
            x, = ctx.saved_tensors
            return grad_sin * x.cos() - grad_cos * 2 * x.sin()

    return SinCos


def test_several_outputs_match_torch(parity):
    x = np.linspace(-1.0, 2.0, 5)
    parity.call(lambda t: _sin_cos(lm).apply(t), lambda t: _sin_cos(parity.torch).apply(t), x)
    # an unused output gets a zero gradient
    parity.call(lambda t: _sin_cos(lm).apply(t)[1], lambda t: _sin_cos(parity.torch).apply(t)[1],
                x)
