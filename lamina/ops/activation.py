"""Activation functions (notes chapter 9) and softmax / log-softmax."""

from __future__ import annotations

import numpy as np

from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import FLOAT, NUMBER, OUTPUT, PROMOTE, register, scratch, weak


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # With e = e^-|x| (never overflows): 1/(1+e) for x >= 0 and e/(1+e) for x < 0, which keeps
    # full relative precision for very negative x (where 1 + tanh(x/2) would cancel to 0).
    e = np.exp(-np.abs(x))
    return np.asarray(np.where(x < 0, e, 1.0) / (1 + e))


def dense_view(a: np.ndarray) -> tuple[tuple[int, ...], np.ndarray] | None:
    """(axes, flat): ``a``'s axes from the largest stride down, and its memory as one 1-D
    view in that order, when ``a`` is dense (a contiguous array or a transposed view of one,
    as the NCHW outputs of the conv ops), else None."""
    if a.flags.c_contiguous:
        return tuple(range(a.ndim)), a.reshape(-1)
    strides = a.strides
    axes = _AXES.get(strides)
    if axes is None:
        axes = tuple(sorted(range(a.ndim), key=lambda i: -strides[i]))
        if len(_AXES) > 64:
            _AXES.clear()
        _AXES[strides] = axes
    t = a.transpose(axes)
    return (axes, t.reshape(-1)) if t.flags.c_contiguous else None


# strides -> the axes ordered by them, largest first (dense_view runs for every ReLU of a
# conv output, forward and backward: a dict lookup instead of a sort with a key function)
_AXES: dict[tuple, tuple[int, ...]] = {}


def relu_values(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0) into ``out`` (a new array in ``x``'s memory layout when None; ``x`` itself
    for in place). NaN stays NaN. In place on a C-contiguous array of at least
    RELU_IN_PLACE_FROM elements: the compiled ``relu_in_place``. A dense array of at least
    RELU_DENSE_FROM elements runs as
    one flat array: the compiled ``relu_forward``, else np.maximum against a fresh array of
    zeros (np.maximum against the scalar 0 is 2-3x slower; RELU_DENSE_FROM in
    :mod:`lamina.kernels.thresholds` has the measurement)."""
    if out is x:  # in place (a folded ReLU): one compiled loop, from fewer elements
        compiled = registry.select("relu_in_place", x)
        if compiled is not None:
            compiled(x.reshape(-1))
            return x
    if x.size >= T.RELU_DENSE_FROM and x.dtype.kind == "f":
        dense = dense_view(x)
        if dense is not None:
            compiled = registry.select("relu_forward", x)
            if out is None:
                # (a reused array, ops/scratch.py: no fresh pages to fault in each step)
                out = scratch.empty_like(x) if compiled is not None else np.zeros_like(x)
            elif compiled is None:
                return np.maximum(x, np.zeros_like(x), out=out)
            target = dense if out is x else dense_view(out)
            if target is not None and target[0] == dense[0]:
                if compiled is not None:
                    compiled(dense[1], dense[1] if out is x else target[1])
                    return out
                return np.maximum(x, out, out=out)  # (out: the fresh zeros)
    return np.maximum(x, 0, out=out)


def relu_grad(grad: np.ndarray, out: np.ndarray) -> np.ndarray:
    """grad where out > 0, else 0: ReLU's gradient from its output, a new array in ``out``'s
    memory layout. Where ``grad`` and ``out`` are dense in the same order (at least
    RELU_DENSE_FROM elements), the compiled ``relu_backward``; for 2-D C-contiguous arrays
    (a folded ReLU of a linear output) linear_relu's one-pass ``relu_grad`` (bitwise the
    same); otherwise grad * (out > 0)."""
    if out.ndim == 2:
        rows = registry.select("relu_grad", grad, out)
        if rows is not None:
            g = np.empty_like(out)
            rows(grad, out, g, np.empty(0, out.dtype))  # (no bias gradient)
            return g
    compiled = registry.select("relu_backward", grad, out)
    if compiled is not None:
        dense = dense_view(out)
        if dense is not None:
            axes, flat = dense
            g_t = grad.transpose(axes)
            if g_t.flags.c_contiguous:
                g = scratch.empty_like(out)
                compiled(g_t.reshape(-1), flat, g.transpose(axes).reshape(-1))
                return g
    return np.multiply(grad, out > 0, out=np.empty_like(out, grad.dtype))


@register(dtypes=(NUMBER,), saves=((OUTPUT,),))
def relu(x):
    """relu(x) = max(0, x) (eq 9.3); gradient 1 where x > 0, else 0."""
    out = relu_values(x)

    def backward(grad, need):
        return (relu_grad(grad, out),)

    return out, backward


def relu_folded(out: np.ndarray, backward):
    """relu applied in place to ``out``, the fresh output of an op (conv2d, linear) whose
    ``backward`` does not read its output, nothing else holding it: the relu of
    :func:`lamina.functional.relu` folded into the node of the op that made its input
    (:func:`lamina.functional.relu` checks that nothing else can see the array).

    Returns the backward of relu(op(...)), ``backward(grad * (out > 0), need)``, with the op's
    own as its attribute ``before_relu``; None when ``backward`` is None (no graph).
    """
    relu_values(out, out)
    if backward is None:
        return None

    def relu_backward(grad, need):
        # (in out's memory layout: a conv's backward then reads it without a copy)
        return backward(relu_grad(grad, out), need)

    relu_backward.before_relu = backward
    return relu_backward


@register(dtypes=(FLOAT,), saves=((0,),))
def leaky_relu(x, negative_slope=0.01):
    """lrelu(x) = x for x > 0, alpha x otherwise (alpha = negative_slope). The notes' eq 9.4
    writes max(alpha x, x), which is the same only for alpha <= 1 (for alpha > 1 the max would
    pick alpha x on the positive side); this is PyTorch's definition, for any alpha."""
    negative_slope = weak(negative_slope)
    positive = x > 0
    out = np.where(positive, x, negative_slope * x)

    def backward(grad, need):
        return (np.where(positive, grad, negative_slope * grad),)

    return out, backward


@register(dtypes=(PROMOTE,), saves=((OUTPUT,),))
def sigmoid(x):
    """sigmoid(x) = 1 / (1 + e^-x) (eq 9.1); derivative s (1 - s)."""
    out = _sigmoid(x)

    def backward(grad, need):
        return (grad * out * (1 - out),)

    return out, backward


@register(dtypes=(PROMOTE,), saves=((OUTPUT,),))
def tanh(x):
    """tanh(x) (eq 9.2); derivative 1 - tanh^2."""
    out = np.tanh(x)

    def backward(grad, need):
        return (grad * (1 - out * out),)

    return out, backward


@register(dtypes=(FLOAT,), saves=((0,),))
def swish(x):
    """swish(x) = x sigmoid(x) (eq 9.5, PyTorch's SiLU); derivative s + x s (1 - s)."""
    s = _sigmoid(x)

    def backward(grad, need):
        return (grad * (s + x * s * (1 - s)),)

    return x * s, backward


@register(dtypes=(FLOAT,), saves=((0,),))
def scaled_tanh(x, scale=1.7159, slope=2.0 / 3.0):
    """LeNet-5's squashing function f(x) = A tanh(S x) (LeCun et al. 1998, A = 1.7159, S = 2/3)."""
    scale, slope = weak(scale), weak(slope)
    t = np.tanh(slope * x)

    def backward(grad, need):
        return (grad * (scale * slope) * (1 - t * t),)

    return scale * t, backward


@register(dtypes=(FLOAT,), saves=((OUTPUT,),))
def softmax(x, axis=-1):
    """softmax(x)_i = e^(x_i - max x) / sum_j e^(x_j - max x).

    Backward: grad_x = s * (grad - sum(grad * s)) along ``axis``.
    """
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    out = e / np.sum(e, axis=axis, keepdims=True)

    def backward(grad, need):
        return (out * (grad - np.sum(grad * out, axis=axis, keepdims=True)),)

    return out, backward


@register(dtypes=(FLOAT,), saves=((OUTPUT,),))
def log_softmax(x, axis=-1):
    """log_softmax(x) = x - max x - log sum e^(x - max x) (log-sum-exp, never overflows).

    Backward: grad_x = grad - softmax(x) * sum(grad) along ``axis``.
    """
    shifted = x - np.max(x, axis=axis, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    def backward(grad, need):
        return (grad - np.exp(out) * np.sum(grad, axis=axis, keepdims=True),)

    return out, backward
