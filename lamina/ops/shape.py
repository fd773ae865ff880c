"""Shape ops: reshape, transpose, indexing, concatenation, padding. No arithmetic."""

from __future__ import annotations

import numpy as np

from lamina.ops import register


@register(saves=None, view=True)
def reshape(a, shape):
    """View ``a`` with a new shape; the gradient is reshaped back."""

    def backward(grad, need):
        return (np.reshape(grad, a.shape),)

    return np.reshape(a, shape), backward


@register(saves=None, view=True)
def transpose(a, axes=None):
    """Permute axes (reverse them when ``axes`` is None); the gradient is permuted back."""
    inverse = None if axes is None else tuple(np.argsort([ax % a.ndim for ax in axes]))

    def backward(grad, need):
        return (np.transpose(grad, inverse),)

    return np.transpose(a, axes), backward


def _is_basic(index) -> bool:
    """True when ``index`` uses only ints, slices, None and Ellipsis (no repeated elements)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


@register(saves=None, view=True)
def getitem(a, index):
    """``a[index]`` with basic or fancy indexing; repeated indices accumulate their gradient."""

    def backward(grad, need):
        grad_a = np.zeros(a.shape, dtype=grad.dtype)
        if _is_basic(index):
            grad_a[index] = grad
        else:
            np.add.at(grad_a, index, grad)
        return (grad_a,)

    return a[index], backward


@register(saves=None)
def concatenate(*arrays, axis=0):
    """Join arrays along ``axis``; the gradient is split at the same offsets."""
    ends = np.cumsum([x.shape[axis] for x in arrays])

    def backward(grad, need):
        return tuple(np.split(grad, ends[:-1], axis=axis))

    return np.concatenate(arrays, axis=axis), backward


@register(saves=None)
def stack(*arrays, axis=0):
    """Stack arrays along a new ``axis``; the gradient is unstacked."""

    def backward(grad, need):
        return tuple(np.moveaxis(grad, axis, 0))

    return np.stack(arrays, axis=axis), backward


@register(saves=None)
def pad(a, pad_width, value=0.0):
    """Constant padding (``pad_width`` in np.pad's form); the gradient is cropped."""
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, a.shape, strict=True))

    def backward(grad, need):
        return (grad[crop],)

    return np.pad(a, pad_width, constant_values=value), backward
