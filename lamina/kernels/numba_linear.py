"""Numba kernel of the linear layer for a row or two (:func:`lamina.ops.linalg.linear_forward`).

For one input row, ``x @ W.T + b`` is a matrix-vector product that BLAS finishes in about a
microsecond for LeNet-5's small layers, inside a call that costs several: dispatch, threads,
then separate NumPy passes for the bias and ReLU. One compiled call does the products, the
bias and the ReLU. Equal to the BLAS path up to rounding (``reassoc`` lets each dot product
vectorise; the order is the same on every run). Serial, as every lamina kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, parallel=False, fastmath={"reassoc", "contract"})
def linear_rows(x, weight, bias, relu, out):
    """out = x @ weight.T + bias, then max(., 0) when ``relu`` (NaN stays NaN).

    Args:
        x: (R, in) input rows, R small (one or two).
        weight: (out, in); bias: (out,), or empty for none.
        relu: apply ReLU.
        out: (R, out) result.
    """
    zero = np.zeros(1, out.dtype)[0]
    has_bias = bias.shape[0] > 0
    for r in range(x.shape[0]):
        row = x[r]
        for o in range(weight.shape[0]):
            w = weight[o]
            total = zero
            for i in range(w.shape[0]):
                total += w[i] * row[i]
            if has_bias:
                total += bias[o]
            out[r, o] = np.maximum(total, zero) if relu else total
