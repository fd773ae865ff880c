"""Embedding lookup: rows of a weight matrix picked by integer indices."""

from __future__ import annotations

import numpy as np

from lamina.ops import register


@register
def embedding(weight, indices, padding_idx=None):
    """out[..., :] = weight[indices[...], :] (a table lookup, equivalent to one-hot times W).

    Backward: each row of dL/dweight is the sum of the output gradients of the positions that
    picked it (``np.add.at``, so repeated indices accumulate); the ``padding_idx`` row gets no
    gradient (PyTorch's rule, so it keeps its value, zero by default).

    Shape: weight (num_embeddings, embedding_dim); indices (*) int -> (*, embedding_dim).
    """
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    n = weight.shape[0]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        bad = indices[(indices < -n) | (indices >= n)].flat[0]
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings "
                         f"(expected 0 <= index < {n})")

    def backward(grad, need):
        if not need[0]:
            return None, None
        grad_w = np.zeros(weight.shape, dtype=grad.dtype)
        np.add.at(grad_w, indices.reshape(-1), grad.reshape(-1, weight.shape[1]))
        if padding_idx is not None:
            grad_w[padding_idx] = 0
        return grad_w, None

    return weight[indices], backward
