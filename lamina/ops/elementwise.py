"""Elementwise arithmetic and math, with NumPy broadcasting (gradients reduced by unbroadcast)."""

from __future__ import annotations

import numpy as np

from lamina.ops import NUMBER, OUTPUT, PROMOTE, register, unbroadcast, weak


def _shape(x) -> tuple[int, ...]:
    return np.shape(x)


@register(saves=None)
def add(a, b):
    """a + b."""
    out = a + b

    def backward(grad, need):
        return (unbroadcast(grad, _shape(a)) if need[0] else None,
                unbroadcast(grad, _shape(b)) if need[1] else None)

    return out, backward


@register(dtypes=(NUMBER,), saves=None)
def sub(a, b):
    """a - b."""
    out = a - b

    def backward(grad, need):
        return (unbroadcast(grad, _shape(a)) if need[0] else None,
                unbroadcast(-grad, _shape(b)) if need[1] else None)

    return out, backward


@register(saves=((1,), (0,)))
def mul(a, b):
    """a * b; d/da = b, d/db = a."""
    out = a * b

    def backward(grad, need):
        return (unbroadcast(grad * b, _shape(a)) if need[0] else None,
                unbroadcast(grad * a, _shape(b)) if need[1] else None)

    return out, backward


@register(saves=((1,), (0, 1)))
def div(a, b):
    """a / b; d/da = 1/b, d/db = -a/b^2 (from a and b, not the output: as PyTorch, an in-place
    change of the output after the forward pass does not change the gradient)."""
    out = a / b

    def backward(grad, need):
        return (unbroadcast(grad / b, _shape(a)) if need[0] else None,
                unbroadcast(-grad * (a / b) / b, _shape(b)) if need[1] else None)

    return out, backward


@register(dtypes=(NUMBER,), saves=None)
def neg(a):
    """-a."""

    def backward(grad, need):
        return (-grad,)

    return -a, backward


@register(saves=((0, 1), (0, 1, OUTPUT)))
def power(a, b):
    """a ** b; d/da = b a^(b-1), d/db = a^b log a (defined for a > 0)."""
    out = a**b

    def backward(grad, need):
        grad_a = grad_b = None
        if need[0]:
            grad_a = unbroadcast(grad * b * a ** (b - 1), _shape(a))
        if need[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0).astype(out.dtype)
            grad_b = unbroadcast(grad * out * log_a, _shape(b))
        return grad_a, grad_b

    return out, backward


@register(dtypes=(PROMOTE,), saves=((OUTPUT,),))
def exp(a):
    """e^a; d/da = e^a."""
    out = np.exp(a)

    def backward(grad, need):
        return (grad * out,)

    return out, backward


@register(dtypes=(PROMOTE,), saves=((0,),))
def log(a):
    """Natural log; d/da = 1/a."""
    out = np.log(a)

    def backward(grad, need):
        return (grad / a,)

    return out, backward


@register(dtypes=(PROMOTE,), saves=((OUTPUT,),))
def sqrt(a):
    """Square root; d/da = 1 / (2 sqrt a)."""
    out = np.sqrt(a)

    def backward(grad, need):
        return (grad / (2 * out),)

    return out, backward


@register(dtypes=(NUMBER,), saves=((0,),))
def absolute(a):
    """|a|; d/da = sign(a) (0 at 0, as PyTorch)."""

    def backward(grad, need):
        return (grad * np.sign(a),)

    return np.abs(a), backward


@register(saves=((0,),))
def clip(a, min=None, max=None):  # noqa: A002 - PyTorch's argument names
    """Clamp to [min, max]; the gradient passes where the input was inside the range."""
    min, max = weak(min), weak(max)  # noqa: A001
    out = np.clip(a, min, max)

    def backward(grad, need):
        inside = np.ones(a.shape, dtype=bool)
        if min is not None:
            inside &= a >= min
        if max is not None:
            inside &= a <= max
        return (grad * inside,)

    return out, backward


@register(saves=((0, 1),))
def maximum(a, b):
    """Elementwise max; ties split the gradient evenly, as PyTorch."""
    out = np.maximum(a, b)

    def backward(grad, need):
        a_wins = ((a > b) + 0.5 * (a == b)).astype(out.dtype)
        return (unbroadcast(grad * a_wins, _shape(a)) if need[0] else None,
                unbroadcast(grad * (1 - a_wins), _shape(b)) if need[1] else None)

    return out, backward


@register(saves=((0,),))
def where(condition, a, b):
    """``a`` where ``condition`` else ``b``; no gradient to the condition."""
    out = np.where(condition, a, b)

    def backward(grad, need):
        return (None,
                unbroadcast(np.where(condition, grad, 0), _shape(a)) if need[1] else None,
                unbroadcast(np.where(condition, 0, grad), _shape(b)) if need[2] else None)

    return out, backward
