"""Numba kernels of the linear layer for a row or two (:func:`lamina.ops.linalg.linear_forward`,
and :class:`lamina.ops.linalg.LinearChain` for consecutive layers in one call).

For one input row, ``x @ W.T + b`` is a matrix-vector product: little work (LeNet-5's layers
take a microsecond or two) inside a BLAS call that costs several, waking its threads and
waiting for them, then separate NumPy passes for the bias and the ReLU. One serial compiled
call does the products, the bias and the ReLU; in a whole batch-1 forward pass it beats the
two-thread BLAS call even on the MLP's 784 x 256 layer. Equal to the BLAS path up to
rounding (``reassoc`` lets each dot product vectorise; the order is the same on every run).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, parallel=False, fastmath={"reassoc", "contract"})
def linear_rows(x, weight, bias, relu, out):
    """out = x @ weight.T + bias, then max(., 0) when ``relu`` (NaN stays NaN).

    One output unit at a time, a dot product over a contiguous row of ``weight``: a single
    stream of weights through the caches, the input row staying in L1. (Eight units per
    pass, each element of the input loaded once for eight products, was 20-30% slower: eight
    streams of weights, and a reduction tail per unit either way. Measured again 2026-12-07,
    one thread, alternated rounds, busy machine: two or four units per pass, 3.99 us (this
    kernel) vs 7.49 / 6.83 us on 256 x 256 and 14.5 vs 17.4 / 14.9 us on 256 x 784; weights
    stored (in, out), two or four input elements per pass into the output row, as fast or
    slower on the MLP chain (32.8 vs 41.6 / 33.6 us); that layout skipping the zero inputs
    after a ReLU (48% of the MLP's first hidden row) for the later layers, no faster (the
    chain 1.21x a plain read of the weights either way).)

    Args:
        x: (R, in) input rows, R small (one or two).
        weight: (out, in); bias: (out,), or empty for none.
        relu: apply ReLU.
        out: (R, out) result.
    """
    zero = np.zeros(1, out.dtype)[0]
    n_out, n_in = weight.shape
    for r in range(x.shape[0]):
        row = x[r]
        for o in range(n_out):
            w = weight[o]
            total = zero
            for i in range(n_in):
                total += w[i] * row[i]
            _store(out, r, o, total, bias, relu, zero)


@njit(cache=True, nogil=True)
def _store(out, r, o, total, bias, relu, zero):
    """out[r, o] = total + bias[o] (when there is a bias), through ReLU when ``relu``."""
    if bias.shape[0] > 0:
        total += bias[o]
    out[r, o] = np.maximum(total, zero) if relu else total


@njit(cache=True, nogil=True)
def linear_chain(x, weights, biases, relus, out):
    """Layers applied in turn, each by :func:`linear_rows`: h = x, then for every k
    ``h = h @ weights[k].T + biases[k]`` (through ReLU where ``relus[k]``); the last into
    ``out``. The same values as calling :func:`linear_rows` layer by layer, in one call (a
    batch-1 MLP spends as long between separate calls as in them).

    Args:
        x: (R, in) C-contiguous input rows, R small (one or two).
        weights: tuple of C-contiguous (out_k, in_k) arrays, in_k = out_{k-1}.
        biases: tuple of (out_k,) arrays, empty for none.
        relus: tuple of booleans.
        out: (R, out_last) result.
    """
    h = x
    last = len(weights) - 1
    for k in range(last):
        step = np.empty((x.shape[0], weights[k].shape[0]), x.dtype)
        linear_rows(h, weights[k], biases[k], relus[k], step)
        h = step
    linear_rows(h, weights[last], biases[last], relus[last], out)


@njit(cache=True, nogil=True)
def bias_relu(out, bias, relu):
    """In place on a C-contiguous (R, n) GEMM output: ``out += bias`` (an empty bias: none),
    then ``max(out, 0)`` when ``relu`` (NaN stays NaN), in one pass over ``out``.

    The NumPy steps (:func:`lamina.ops.linalg._affine`) are two passes, an add and a maximum:
    on the MLP's 128 x 256 hidden output 19 us against 3 us here, with the array in cache.
    Bitwise the NumPy values (one float add, then the same maximum).
    """
    zero = np.zeros(1, out.dtype)[0]
    rows, n = out.shape
    with_bias = bias.shape[0] > 0
    for r in range(rows):
        row = out[r]
        if with_bias and relu:
            for j in range(n):
                row[j] = np.maximum(row[j] + bias[j], zero)
        elif with_bias:
            for j in range(n):
                row[j] += bias[j]
        elif relu:
            for j in range(n):
                row[j] = np.maximum(row[j], zero)


@njit(cache=True, nogil=True)
def relu_grad(grad, out, result, bias_grad):
    """``result = grad * (out > 0)`` on C-contiguous 2-D arrays of one shape and dtype: the
    gradient through a ReLU whose output is ``out``, in one pass and without the boolean
    mask array NumPy builds (11 us against 3 us on 128 x 256); and, unless ``bias_grad`` is
    empty, ``bias_grad = result.sum(axis=0)`` in the same pass. Bitwise the NumPy values: the
    same product by 1 or 0 (NaN * 0 stays NaN, as in NumPy), and the column sums added row
    after row to zeros, as NumPy's ``sum(axis=0)`` adds on a C-contiguous array (so a column
    of -0.0 sums to +0.0 there too)."""
    one = np.ones(1, result.dtype)[0]
    zero = np.zeros(1, result.dtype)[0]
    rows, n = grad.shape
    with_bias = bias_grad.shape[0] > 0
    bias_grad[:] = zero
    for r in range(rows):
        g, o, res = grad[r], out[r], result[r]
        for j in range(n):
            res[j] = g[j] * (one if o[j] > zero else zero)
        if with_bias:
            for j in range(n):
                bias_grad[j] += res[j]
