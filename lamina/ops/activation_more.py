"""More activation functions (PyTorch's GELU, ELU/SELU/CELU, Softplus, Mish, Hardswish,
Hardsigmoid, PReLU, LogSigmoid, Softsign, Threshold), each forward beside its derivative."""

from __future__ import annotations

import math

import numpy as np

from lamina.ops import register, unbroadcast, weak
from lamina.ops.activation import _sigmoid

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise (SciPy's when installed, else ``math.erf`` per element)."""
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - SciPy comes with scikit-learn in most setups
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    return erf(x).astype(x.dtype, copy=False)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) (never overflows)."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


@register
def gelu(x, approximate="none"):
    """GELU (Hendrycks and Gimpel 2016): x Phi(x), Phi the standard normal CDF.

    'none': Phi(x) = (1 + erf(x / sqrt 2)) / 2, derivative Phi(x) + x phi(x).
    'tanh': 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), derivative
    0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    """
    if approximate == "none":
        cdf = 0.5 * (1.0 + _erf(x / _SQRT_2))
        out = x * cdf

        def backward(grad, need):
            return (grad * (cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)),)

        return out, backward
    if approximate != "tanh":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))

    def backward_tanh(grad, need):
        du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return (grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du),)

    return 0.5 * x * (1 + t), backward_tanh


@register
def elu(x, alpha=1.0, scale=1.0, input_scale=1.0):
    """scale * (x if x > 0 else alpha (e^(input_scale x) - 1)) (ELU, Clevert et al. 2015;
    SELU uses its fixed alpha and scale, CELU input_scale = 1 / alpha); derivative scale for
    x > 0, else scale alpha input_scale e^(input_scale x)."""
    alpha, scale, input_scale = weak(alpha), weak(scale), weak(input_scale)
    positive = x > 0
    e = np.exp(np.minimum(x, 0) * input_scale)
    out = scale * np.where(positive, x, alpha * (e - 1))

    def backward(grad, need):
        return (grad * np.where(positive, scale, scale * alpha * input_scale * e),)

    return out, backward


@register
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold (PyTorch's linear
    region); derivative sigmoid(beta x), 1 in the linear region."""
    beta, threshold = weak(beta), weak(threshold)
    bx = beta * x
    linear = bx > threshold
    out = np.where(linear, x, _softplus(bx) / beta)

    def backward(grad, need):
        return (grad * np.where(linear, 1.0, _sigmoid(bx)),)

    return out, backward


@register
def mish(x):
    """x tanh(softplus(x)) (Misra 2019); derivative tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)."""
    t = np.tanh(_softplus(x))

    def backward(grad, need):
        return (grad * (t + x * (1 - t * t) * _sigmoid(x)),)

    return x * t, backward


@register
def hardswish(x):
    """x relu6(x + 3) / 6 (Howard et al. 2019); derivative 0 below -3, (2x + 3) / 6 on
    [-3, 3], 1 above 3 (PyTorch's choices at the kinks)."""
    out = x * np.clip(x + 3, 0, 6) / 6

    def backward(grad, need):
        slope = np.where(x < -3, 0.0, np.where(x <= 3, x / 3 + 0.5, 1.0))
        return (grad * slope,)

    return out, backward


@register
def hardsigmoid(x):
    """relu6(x + 3) / 6; derivative 1/6 strictly inside (-3, 3), else 0."""
    inside = (x > -3) & (x < 3)

    def backward(grad, need):
        return (grad * inside / 6,)

    return np.clip(x + 3, 0, 6) / 6, backward


@register
def prelu(x, weight):
    """x if x > 0 else a x, with one learnt slope a per channel (axis 1) or one shared.

    Shape: x (N, C, *) or (C,) ... ; weight (C,) or (1,). dL/da = sum of dL/dy * x where
    x <= 0, over every axis but the channel axis.
    """
    if weight.size == 1:
        a = weight.reshape(())
    else:
        if x.ndim < 2 or x.shape[1] != weight.size:
            raise ValueError(f"prelu: {weight.size} slopes need an input (N, {weight.size}, *), "
                             f"got shape {x.shape}")
        a = weight.reshape((1, weight.size) + (1,) * (x.ndim - 2))
    positive = x > 0
    out = np.where(positive, x, a * x)

    def backward(grad, need):
        grad_x = grad * np.where(positive, 1.0, a) if need[0] else None
        grad_w = None
        if need[1]:
            grad_w = unbroadcast(np.where(positive, 0.0, grad * x), np.shape(a)).reshape(
                weight.shape)
        return grad_x, grad_w

    return out, backward


@register
def log_sigmoid(x):
    """log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(e^-|x|); derivative sigmoid(-x)."""
    out = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(grad, need):
        return (grad * _sigmoid(-x),)

    return out, backward


@register
def softsign(x):
    """x / (1 + |x|); derivative 1 / (1 + |x|)^2."""
    d = 1 + np.abs(x)

    def backward(grad, need):
        return (grad / (d * d),)

    return x / d, backward


@register
def threshold(x, threshold=0.0, value=0.0):
    """x where x > threshold, else ``value``; derivative 1 where x > threshold, else 0."""
    threshold, value = weak(threshold), weak(value)
    keep = x > threshold

    def backward(grad, need):
        return (grad * keep,)

    return np.where(keep, x, np.asarray(value, dtype=x.dtype)), backward
