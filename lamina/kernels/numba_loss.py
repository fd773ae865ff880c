"""Numba kernel of the cross-entropy loss with class-index targets
(:func:`lamina.ops.loss.cross_entropy`, the loss of nearly every classifier).

On a training batch (32 rows of 10 classes) the NumPy steps of the loss (row maxima, shift,
exponential, row sums, logarithm, gather at the targets, the range check of the targets, the
search for ignored targets) are a dozen calls of a microsecond or more on a few hundred
numbers; one compiled pass over the rows does all of it, and leaves behind the gradient
factor ``softmax(z) - onehot(t)`` that the backward pass only scales. Equal to the NumPy path
up to rounding (the row sums add in another order, in float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def cross_entropy_rows(logits, target, ignore, ignore_index, losses, grad):
    """Per-row cross-entropy of ``logits`` (N, C) at class indices ``target`` (N,):

        losses[i] = log sum_c exp(z_ic - m_i) - (z_i,t_i - m_i),   m_i = max_c z_ic
        grad[i]   = softmax(z_i) - onehot(t_i)       (d losses[i] / d z_i, eq 4.4-4.5)

    A row whose target equals ``ignore_index`` (when ``ignore``) gets loss 0 and gradient 0.

    Args:
        logits: (N, C) floating, C-contiguous; target: (N,) int64.
        ignore: whether ``ignore_index`` marks rows to skip.
        losses: (N,) output, logits' dtype; grad: (N, C) output, logits' dtype.

    Returns:
        The number of rows kept (not ignored), or ``-1 - i`` for the first row ``i`` whose
        target is outside [0, C) (then the outputs are incomplete).
    """
    n, c = logits.shape
    kept = 0
    for i in range(n):
        t = target[i]
        if ignore and t == ignore_index:
            losses[i] = 0
            for j in range(c):
                grad[i, j] = 0
            continue
        if t < 0 or t >= c:
            return -1 - i
        kept += 1
        row = logits[i]
        m = row[0]
        for j in range(1, c):
            if row[j] > m or np.isnan(row[j]):
                m = row[j]
        total = 0.0
        for j in range(c):
            e = np.exp(row[j] - m)
            grad[i, j] = e
            total += e
        for j in range(c):
            grad[i, j] = grad[i, j] / total
        grad[i, t] -= 1
        losses[i] = np.log(total) - (row[t] - m)
    return kept
