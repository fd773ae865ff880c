"""Scans (running reductions along an axis): cumsum."""

from __future__ import annotations

import numpy as np

from lamina.ops import register


@register
def cumsum(a, axis=0):
    """out_i = sum_{j <= i} a_j along ``axis``; each a_j reaches every out_i with i >= j, so
    d/da_j = sum_{i >= j} grad_i: the cumulative sum of grad taken from the end."""

    def backward(grad, need):
        return (np.flip(np.cumsum(np.flip(grad, axis), axis=axis), axis),)

    return np.cumsum(a, axis=axis), backward
