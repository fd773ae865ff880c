"""Unary math beyond exp/log/sqrt (those are in elementwise.py): trigonometric, hyperbolic and
log/exp variants, each with its derivative; and the step functions (floor, ceil, round, trunc,
sign), whose derivative is zero wherever it exists (as torch defines it everywhere).
Integer and bool inputs of the smooth functions are promoted to floating point, as torch's."""

from __future__ import annotations

import numpy as np

from lamina.ops import PROMOTE, register


@register(dtypes=(PROMOTE,))
def sin(a):
    """sin a; d/da = cos a."""

    def backward(grad, need):
        return (grad * np.cos(a),)

    return np.sin(a), backward


@register(dtypes=(PROMOTE,))
def cos(a):
    """cos a; d/da = -sin a."""

    def backward(grad, need):
        return (-grad * np.sin(a),)

    return np.cos(a), backward


@register(dtypes=(PROMOTE,))
def tan(a):
    """tan a; d/da = 1 + tan^2 a."""
    out = np.tan(a)

    def backward(grad, need):
        return (grad * (1 + out * out),)

    return out, backward


@register(dtypes=(PROMOTE,))
def arcsin(a):
    """asin a; d/da = 1 / sqrt(1 - a^2)."""

    def backward(grad, need):
        return (grad / np.sqrt(1 - a * a),)

    return np.arcsin(a), backward


@register(dtypes=(PROMOTE,))
def arccos(a):
    """acos a; d/da = -1 / sqrt(1 - a^2)."""

    def backward(grad, need):
        return (-grad / np.sqrt(1 - a * a),)

    return np.arccos(a), backward


@register(dtypes=(PROMOTE,))
def arctan(a):
    """atan a; d/da = 1 / (1 + a^2)."""

    def backward(grad, need):
        return (grad / (1 + a * a),)

    return np.arctan(a), backward


@register(dtypes=(PROMOTE,))
def sinh(a):
    """sinh a; d/da = cosh a."""

    def backward(grad, need):
        return (grad * np.cosh(a),)

    return np.sinh(a), backward


@register(dtypes=(PROMOTE,))
def cosh(a):
    """cosh a; d/da = sinh a."""

    def backward(grad, need):
        return (grad * np.sinh(a),)

    return np.cosh(a), backward


@register(dtypes=(PROMOTE,))
def log1p(a):
    """log(1 + a), accurate for small a; d/da = 1 / (1 + a)."""

    def backward(grad, need):
        return (grad / (1 + a),)

    return np.log1p(a), backward


@register(dtypes=(PROMOTE,))
def expm1(a):
    """e^a - 1, accurate for small a; d/da = e^a."""
    out = np.expm1(a)

    def backward(grad, need):
        return (grad * (out + 1),)

    return out, backward


@register(dtypes=(PROMOTE,))
def log2(a):
    """log2 a; d/da = 1 / (a ln 2)."""

    def backward(grad, need):
        return (grad / (a * np.log(2.0)).astype(a.dtype, copy=False),)

    return np.log2(a), backward


@register(dtypes=(PROMOTE,))
def log10(a):
    """log10 a; d/da = 1 / (a ln 10)."""

    def backward(grad, need):
        return (grad / (a * np.log(10.0)).astype(a.dtype, copy=False),)

    return np.log10(a), backward


def _step(np_fn):
    def op(a):
        def backward(grad, need):
            return (np.zeros_like(grad),)

        return np_fn(a), backward

    op.__name__ = np_fn.__name__
    op.__doc__ = f"{np_fn.__name__}(a): piecewise constant, so the gradient is zero."
    return register(op, fresh_grads=True)


floor = _step(np.floor)
ceil = _step(np.ceil)
rint = _step(np.rint)  # round half to even, as torch.round
trunc = _step(np.trunc)
sign = _step(np.sign)
