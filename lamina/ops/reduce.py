"""Reductions: sum, mean, max, min over an axis (or all axes)."""

from __future__ import annotations

import numpy as np

from lamina.ops import OUTPUT, PROMOTE, register


def _expand(grad: np.ndarray, shape: tuple[int, ...], axis, keepdims: bool) -> np.ndarray:
    """Re-insert reduced axes into ``grad`` so that it broadcasts against the input."""
    if axis is None:
        return np.reshape(grad, (1,) * len(shape))
    if not keepdims:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        grad = np.expand_dims(grad, tuple(a % len(shape) for a in axes))
    return grad


@register(saves=None)
def sum(a, axis=None, keepdims=False):  # noqa: A001 - the op's public name
    """Sum over ``axis``; the gradient is copied to every summed element."""

    def backward(grad, need):
        return (np.broadcast_to(_expand(grad, a.shape, axis, keepdims), a.shape),)

    return np.sum(a, axis=axis, keepdims=keepdims), backward


@register(dtypes=(PROMOTE,), saves=None)
def mean(a, axis=None, keepdims=False):
    """Mean over ``axis``; each element gets grad / count."""
    out = np.mean(a, axis=axis, keepdims=keepdims)
    count = a.size // out.size if out.size else 1  # (``max`` here is the op below, not builtin)

    def backward(grad, need):
        g = _expand(grad, a.shape, axis, keepdims) / count
        return (np.broadcast_to(g, a.shape).astype(a.dtype, copy=False),)

    return out, backward


def _extreme(a, axis, keepdims, np_fn):
    out = np_fn(a, axis=axis, keepdims=keepdims)

    def backward(grad, need):
        full = _expand(out, a.shape, axis, keepdims)
        mask = (a == full).astype(a.dtype)
        mask /= np.sum(mask, axis=axis, keepdims=True)  # ties share the gradient, as torch.amax
        return (_expand(grad, a.shape, axis, keepdims) * mask,)

    return out, backward


@register(saves=((0, OUTPUT),))
def max(a, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; the gradient goes to the maximal elements (split on ties)."""
    return _extreme(a, axis, keepdims, np.max)


@register(saves=((0, OUTPUT),))
def min(a, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; the gradient goes to the minimal elements (split on ties)."""
    return _extreme(a, axis, keepdims, np.min)
