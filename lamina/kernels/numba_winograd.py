"""Numba kernels of the Winograd F(4x4, 3x3) convolution (:mod:`lamina.ops.winograd`): the
four tile transforms around its 36 GEMMs.

Arrays are in the ops' internal layout, batch innermost and C-contiguous: images and
gradients (C, H, W, N), transformed tiles (36, C, R, TX, N) for R tile rows of TX tiles.
A transform X -> P X Q^T of the tiles of one tile row runs in two passes through a small
scratch array (``band``): P first, for all the tiles of the row at once (an image row is one
contiguous run of W*N numbers, as is a tile row of one transformed position), then Q, tile
by tile. Every inner loop computes one run of numbers as a combination of four or six runs
of one other array at a fixed distance (:func:`_combine6`, :func:`_combine4`): few places
to check for overlap, so LLVM vectorises it over the batch. The matrices (B^T, A^T of
:mod:`lamina.ops.winograd` and their transposes, in the data's dtype) are arguments; their
zero entries are multiplied like the others. Equal to the NumPy matrix products of
:mod:`lamina.ops.winograd` up to rounding (the sums run in another order).

Each kernel transforms the channels ``c0 .. c1 - 1`` only (every channel is independent); its
``_threads`` variant (``parallel=True``) runs the pieces of :func:`lamina.kernels.parallel.bounds`
on Numba's threads, one ``prange`` step a piece, each channel computed in the same order
whatever the split (bitwise). lamina calls the serial kernel, in the calling thread, with one
thread (:func:`lamina.get_num_threads`). A thread pool of lamina's own (``nogil`` kernels from a
``concurrent.futures`` pool) was measured first and lost: 2026-12-07, MNIST conv2 at batch 64,
2 threads, per call of one tile row, median of 40: input transform 0.268 ms serial, 0.258 ms
pooled, 0.114 ms by prange; output 0.395 / 0.409 / 0.180 ms (the pool's hand-over alone
costs ~80 us a call, Numba's OpenMP layer ~2 us).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_JIT = {"cache": True, "nogil": True, "fastmath": False, "parallel": False}


@njit(inline="always")
def _combine6(out, src, base, step, w, add):
    """out[s] = sum_k w[k] * src[base + k * step + s] for s < len(out) (+= if ``add``).
    (The runs are views, indexed from 0: with offsets added to the index, Numba's handling
    of negative indices keeps the loop from vectorising, 8x slower.)"""
    n = len(out)
    s0, s1, s2 = src[base:base + n], src[base + step:base + step + n], \
        src[base + 2 * step:base + 2 * step + n]
    s3, s4, s5 = src[base + 3 * step:base + 3 * step + n], \
        src[base + 4 * step:base + 4 * step + n], src[base + 5 * step:base + 5 * step + n]
    w0, w1, w2, w3, w4, w5 = w[0], w[1], w[2], w[3], w[4], w[5]
    if add:
        for i in range(n):
            out[i] += (w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i] + w4 * s4[i]
                       + w5 * s5[i])
    else:
        for i in range(n):
            out[i] = (w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i] + w4 * s4[i]
                      + w5 * s5[i])


@njit(inline="always")
def _combine4(out, src, base, step, w):
    """out[s] = sum_k w[k] * src[base + k * step + s] for s < len(out), four terms."""
    n = len(out)
    s0, s1 = src[base:base + n], src[base + step:base + step + n]
    s2, s3 = src[base + 2 * step:base + 2 * step + n], src[base + 3 * step:base + 3 * step + n]
    w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
    for i in range(n):
        out[i] = w0 * s0[i] + w1 * s1[i] + w2 * s2[i] + w3 * s3[i]


@njit(**_JIT)
def winograd_input(xp, bt, r0, v, c0, c1):
    """V = B^T d B for the 6 x 6 tiles d of tile rows r0 .. r0 + R - 1.

    Args:
        xp: (C, Hp, Wp, N) input, at least 4 (r0 + R) + 2 rows and 4 TX + 2 columns.
        bt: (6, 6) the matrix B^T, in v's dtype.
        r0: the first tile row.
        c0, c1: the channels to transform (of C or K): c0 .. c1 - 1.
        v: (36, C, R, TX, N) output; v[6 p + q, c, r, t] = (B^T d B)[p, q] of tile (r, t).
    """
    c_in, hp, wp, n = xp.shape
    _, _, rows, tx, _ = v.shape
    row, width, run = wp * n, (4 * tx + 2) * n, tx * n
    src, dst = xp.reshape(-1), v.reshape(-1)
    band = np.empty(6 * width, v.dtype)  # band[p, x, s] = (B^T d)[p] at column x
    for c in range(c0, c1):
        for r in range(rows):
            top = (c * hp + 4 * (r0 + r)) * row
            for p in range(6):
                _combine6(band[p * width:(p + 1) * width], src, top, row, bt[p], False)
            for p in range(6):
                for q in range(6):
                    o = (((6 * p + q) * c_in + c) * rows + r) * run
                    for t in range(tx):
                        _combine6(dst[o + t * n:o + (t + 1) * n], band, p * width + 4 * t * n, n,
                                  bt[q], False)


@njit(**_JIT)
def winograd_output(m, at, bias, r0, z, c0, c1):
    """Y = A^T M A + b: write the 4 x 4 output tiles of tile rows r0 .. r0 + R - 1.

    Args:
        m: (36, K, R, TX, N) the products M.
        at: (4, 6) the matrix A^T, in z's dtype.
        bias: (K,) added to each output channel after the sums, or empty: none.
        r0: the first tile row.
        c0, c1: the channels to transform (of C or K): c0 .. c1 - 1.
        z: (K, 4 TY, 4 TX, N) output (whole tiles).
    """
    _, k_out, rows, tx, n = m.shape
    h, w = z.shape[1], z.shape[2]
    run = tx * n
    src, dst = m.reshape(-1), z.reshape(-1)
    band = np.empty(24 * run, z.dtype)  # band[i, q, t, s] = (A^T M)[i, q] of tile t
    position = 6 * k_out * rows * run  # distance from M[p, q] to M[p + 1, q]
    for k in range(c0, c1):
        for r in range(rows):
            for i in range(4):
                for q in range(6):
                    _combine6(band[(6 * i + q) * run:(6 * i + q + 1) * run], src,
                              ((q * k_out + k) * rows + r) * run, position, at[i], False)
            y = 4 * (r0 + r)
            for i in range(4):
                for t in range(tx):
                    for j in range(4):
                        o = ((k * h + y + i) * w + 4 * t + j) * n
                        out = dst[o:o + n]
                        _combine6(out, band, 6 * i * run + t * n, run, at[j], False)
                        if len(bias):
                            shift = bias[k]
                            for s in range(n):
                                out[s] += shift


@njit(**_JIT)
def winograd_output_grad(g, a, r0, dm, c0, c1):
    """dM = A dY A^T for the 4 x 4 tiles dY of the output gradient, tile rows r0 ...

    Args:
        g: (K, 4 TY, 4 TX, N) the output gradient (whole tiles).
        a: (6, 4) the matrix A = (A^T)^T, C-contiguous, in dm's dtype.
        r0: the first tile row.
        c0, c1: the channels to transform (of C or K): c0 .. c1 - 1.
        dm: (36, K, R, TX, N) output.
    """
    _, k_out, rows, tx, n = dm.shape
    h, w = g.shape[1], g.shape[2]
    row, run = w * n, tx * n
    src, dst = g.reshape(-1), dm.reshape(-1)
    band = np.empty(6 * row, dm.dtype)  # band[p, x, s] = (A dY)[p] at column x
    for k in range(c0, c1):
        for r in range(rows):
            top = (k * h + 4 * (r0 + r)) * row
            for p in range(6):
                _combine4(band[p * row:(p + 1) * row], src, top, row, a[p])
            for p in range(6):
                for q in range(6):
                    o = (((6 * p + q) * k_out + k) * rows + r) * run
                    for t in range(tx):
                        _combine4(dst[o + t * n:o + (t + 1) * n], band, p * row + 4 * t * n, n,
                                  a[q])


@njit(**_JIT)
def winograd_input_grad(dv, b, r0, grad_xp, c0, c1):
    """Add B dV B^T of tile rows r0 .. r0 + R - 1 into the input gradient (neighbouring
    tiles overlap by two rows and columns: their shares add up there, in tile order).

    Args:
        dv: (36, C, R, TX, N) the gradient of V.
        b: (6, 6) the matrix B = (B^T)^T, C-contiguous, in grad_xp's dtype.
        r0: the first tile row.
        c0, c1: the channels to transform (of C or K): c0 .. c1 - 1.
        grad_xp: (C, Hp, Wp, N) the padded input gradient, added to.
    """
    _, c_in, rows, tx, n = dv.shape
    h, w = grad_xp.shape[1], grad_xp.shape[2]
    run = tx * n
    src, dst = dv.reshape(-1), grad_xp.reshape(-1)
    band = np.empty(36 * run, grad_xp.dtype)  # band[i, q, t, s] = (B dV)[i, q] of tile t
    position = 6 * c_in * rows * run  # distance from dV[p, q] to dV[p + 1, q]
    for c in range(c0, c1):
        for r in range(rows):
            for i in range(6):
                for q in range(6):
                    _combine6(band[(6 * i + q) * run:(6 * i + q + 1) * run], src,
                              ((q * c_in + c) * rows + r) * run, position, b[i], False)
            y = 4 * (r0 + r)
            for i in range(6):
                for t in range(tx):
                    for j in range(6):
                        o = ((c * h + y + i) * w + 4 * t + j) * n
                        _combine6(dst[o:o + n], band, 6 * i * run + t * n, run, b[j], True)


# ------------------------------------------------------------------ split over threads

_PARALLEL = {**_JIT, "parallel": True}


@njit(**_PARALLEL)
def winograd_input_threads(xp, bt, r0, v, bounds):
    """:func:`winograd_input` of channels bounds[i] .. bounds[i + 1] - 1 on Numba's threads,
    one piece a thread (the same numbers as one call over all channels, bitwise)."""
    for i in prange(len(bounds) - 1):
        winograd_input(xp, bt, r0, v, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_output_threads(m, at, bias, r0, z, bounds):
    """:func:`winograd_output` split by output channel as :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_output(m, at, bias, r0, z, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_output_grad_threads(g, a, r0, dm, bounds):
    """:func:`winograd_output_grad` split by channel as :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_output_grad(g, a, r0, dm, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_input_grad_threads(dv, b, r0, grad_xp, bounds):
    """:func:`winograd_input_grad` split by channel as :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_input_grad(dv, b, r0, grad_xp, bounds[i], bounds[i + 1])
