"""Numba kernels of the Winograd F(4x4, 3x3) convolution (:mod:`lamina.ops.winograd`): the
four tile transforms around its 36 GEMMs.

Arrays are in the ops' internal layout, batch innermost and C-contiguous: images and
gradients (C, H, W, N), transformed tiles (36, C, R, TX, N) for R tile rows of TX tiles.
A transform X -> P X Q^T of the tiles of one tile row runs in two passes through a small
scratch array (``band``): P first, for all the tiles of the row at once (an image row is one
contiguous run of W*N numbers, as is a tile row of one transformed position), then Q, tile
by tile. The matrices are written out (:func:`_bt6`, :func:`_b6_add`, :func:`_at4`,
:func:`_a6`): each inner loop reads the six (or four) runs of one tile position once and
writes all six (four) results, their zero entries skipped and shared sums formed once
(B^T d takes 14 additions and 8 multiplications a column instead of 36 multiply-adds), the
multipliers 2, 4, 5, 8 passed in the data's dtype (``k``). 2026-12-07, the MNIST example's
conv2 (32 -> 64 channels, 26 x 26) forward + backward, 1 thread, CPU clock, 20 alternated
rounds against the generic matrix-row kernels: 39.6 -> 35.8 ms at batch 64 (1.13x, quartiles
1.07-1.25), 88.0 -> 78.0 ms at 128 (1.11x). Equal to the NumPy matrix products of
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
def _bt6(o0, o1, o2, o3, o4, o5, d0, d1, d2, d3, d4, d5, k):
    """o = B^T d over runs (o_p[s] = sum_j B^T[p, j] d_j[s]): the rows of B^T written out,
    their zeros skipped and shared sums formed once; ``k`` = (2, 4, 5, 8) in the data's
    dtype."""
    two, four, five = k[0], k[1], k[2]
    for i in range(len(o0)):
        a0, a1, a2, a3, a4, a5 = d0[i], d1[i], d2[i], d3[i], d4[i], d5[i]
        e = a4 - a2
        f = a3 - a1
        o0[i] = four * a0 - five * a2 + a4
        o1[i] = (a3 + a4) - four * (a1 + a2)
        o2[i] = (a4 - a3) + four * (a1 - a2)
        o3[i] = e + two * f
        o4[i] = e - two * f
        o5[i] = four * a1 - five * a3 + a5


@njit(inline="always")
def _b6_add(o0, o1, o2, o3, o4, o5, v0, v1, v2, v3, v4, v5, k, add):
    """o (+)= B v over runs (B = (B^T)^T: o_i[s] = sum_p B^T[p, i] v_p[s]), written out as
    :func:`_bt6`; += when ``add``."""
    two, four, five = k[0], k[1], k[2]
    for i in range(len(o0)):
        a0, a1, a2, a3, a4, a5 = v0[i], v1[i], v2[i], v3[i], v4[i], v5[i]
        e = a1 - a2
        f = a3 - a4
        h = a1 + a2
        q = a3 + a4
        r0 = four * a0
        r1 = four * (a5 - e) - two * f
        r2 = -(five * a0 + four * h + q)
        r3 = e + two * f - five * a5
        r4 = a0 + h + q
        if add:
            o0[i] += r0
            o1[i] += r1
            o2[i] += r2
            o3[i] += r3
            o4[i] += r4
            o5[i] += a5
        else:
            o0[i] = r0
            o1[i] = r1
            o2[i] = r2
            o3[i] = r3
            o4[i] = r4
            o5[i] = a5


@njit(inline="always")
def _at4(o0, o1, o2, o3, m0, m1, m2, m3, m4, m5, k, shift, biased):
    """o = A^T m (+ shift if ``biased``) over runs (o_i[s] = sum_p A^T[i, p] m_p[s]),
    written out."""
    two, four, eight = k[0], k[1], k[3]
    for i in range(len(o0)):
        a = m1[i] + m2[i]
        b = m1[i] - m2[i]
        c = m3[i] + m4[i]
        d = m3[i] - m4[i]
        r0 = m0[i] + a + c
        r1 = b + two * d
        r2 = a + four * c
        r3 = b + eight * d + m5[i]
        if biased:
            r0 += shift
            r1 += shift
            r2 += shift
            r3 += shift
        o0[i] = r0
        o1[i] = r1
        o2[i] = r2
        o3[i] = r3


@njit(inline="always")
def _a6(o0, o1, o2, o3, o4, o5, g0, g1, g2, g3, k):
    """o = A g over runs (A = (A^T)^T, 6 x 4: o_p[s] = sum_i A^T[i, p] g_i[s]), written out."""
    two, four, eight = k[0], k[1], k[3]
    for i in range(len(o0)):
        a0, a1, a2, a3 = g0[i], g1[i], g2[i], g3[i]
        a = a0 + a2
        b = a1 + a3
        c = a0 + four * a2
        d = two * a1 + eight * a3
        o0[i] = a0
        o1[i] = a + b
        o2[i] = a - b
        o3[i] = c + d
        o4[i] = c - d
        o5[i] = a3


@njit(**_JIT)
def winograd_input(xp, k, r0, t0, v, c0, c1):
    """V = B^T d B for the 6 x 6 tiles d of tile rows r0 .. r0 + R - 1, tile columns
    t0 .. t0 + TX - 1.

    Args:
        xp: (C, Hp, Wp, N) input, at least 4 (r0 + R) + 2 rows and 4 (t0 + TX) + 2 columns.
        k: (2, 4, 5, 8) in v's dtype.
        r0, t0: the first tile row and column.
        v: (36, C, R, TX, N) output; v[6 p + q, c, r, t] = (B^T d B)[p, q] of tile (r, t).
        c0, c1: the channels to transform: c0 .. c1 - 1.
    """
    c_in, hp, wp, n = xp.shape
    _, _, rows, tx, _ = v.shape
    row, width, run = wp * n, (4 * tx + 2) * n, tx * n
    plane = c_in * rows * run  # distance from V[p, q] to V[p, q + 1]
    src, dst = xp.reshape(-1), v.reshape(-1)
    band = np.empty(6 * width, v.dtype)  # band[p, x, s] = (B^T d)[p] at column x
    for c in range(c0, c1):
        for r in range(rows):
            top = (c * hp + 4 * (r0 + r)) * row + 4 * t0 * n
            _bt6(band[:width], band[width:2 * width], band[2 * width:3 * width],
                 band[3 * width:4 * width], band[4 * width:5 * width], band[5 * width:],
                 src[top:top + width], src[top + row:top + row + width],
                 src[top + 2 * row:top + 2 * row + width],
                 src[top + 3 * row:top + 3 * row + width],
                 src[top + 4 * row:top + 4 * row + width],
                 src[top + 5 * row:top + 5 * row + width], k)
            for p in range(6):
                for t in range(tx):
                    o = ((6 * p * c_in + c) * rows + r) * run + t * n
                    b = p * width + 4 * t * n
                    _bt6(dst[o:o + n], dst[o + plane:o + plane + n],
                         dst[o + 2 * plane:o + 2 * plane + n],
                         dst[o + 3 * plane:o + 3 * plane + n],
                         dst[o + 4 * plane:o + 4 * plane + n],
                         dst[o + 5 * plane:o + 5 * plane + n],
                         band[b:b + n], band[b + n:b + 2 * n], band[b + 2 * n:b + 3 * n],
                         band[b + 3 * n:b + 4 * n], band[b + 4 * n:b + 5 * n],
                         band[b + 5 * n:b + 6 * n], k)


@njit(**_JIT)
def winograd_output(m, k, bias, r0, t0, z, c0, c1):
    """Y = A^T M A + b: write the 4 x 4 output tiles of tile rows r0 .. r0 + R - 1, tile
    columns t0 .. t0 + TX - 1.

    Args:
        m: (36, K, R, TX, N) the products M.
        k: (2, 4, 5, 8) in z's dtype.
        bias: (K,) added to each output channel after the sums, or empty: none.
        r0, t0: the first tile row and column.
        z: (K, 4 TY, 4 TX, N) output (whole tiles).
        c0, c1: the channels to transform: c0 .. c1 - 1.
    """
    _, k_out, rows, tx, n = m.shape
    h, w = z.shape[1], z.shape[2]
    run = tx * n
    src, dst = m.reshape(-1), z.reshape(-1)
    band = np.empty(24 * run, z.dtype)  # band[i, q, t, s] = (A^T M)[i, q] of tile t
    position = 6 * k_out * rows * run  # distance from M[p, q] to M[p + 1, q]
    zero = z.dtype.type(0)
    biased = len(bias) > 0
    for kk in range(c0, c1):
        shift = bias[kk] if biased else zero
        for r in range(rows):
            for q in range(6):
                a = ((q * k_out + kk) * rows + r) * run
                _at4(band[q * run:(q + 1) * run], band[(6 + q) * run:(7 + q) * run],
                     band[(12 + q) * run:(13 + q) * run], band[(18 + q) * run:(19 + q) * run],
                     src[a:a + run], src[a + position:a + position + run],
                     src[a + 2 * position:a + 2 * position + run],
                     src[a + 3 * position:a + 3 * position + run],
                     src[a + 4 * position:a + 4 * position + run],
                     src[a + 5 * position:a + 5 * position + run], k, zero, False)
            y = 4 * (r0 + r)
            for i in range(4):
                for t in range(tx):
                    o = ((kk * h + y + i) * w + 4 * (t0 + t)) * n
                    b = 6 * i * run + t * n
                    _at4(dst[o:o + n], dst[o + n:o + 2 * n], dst[o + 2 * n:o + 3 * n],
                         dst[o + 3 * n:o + 4 * n],
                         band[b:b + n], band[b + run:b + run + n],
                         band[b + 2 * run:b + 2 * run + n], band[b + 3 * run:b + 3 * run + n],
                         band[b + 4 * run:b + 4 * run + n], band[b + 5 * run:b + 5 * run + n],
                         k, shift, biased)


@njit(inline="always")
def _output_grad_rows(band, g0, g1, g2, g3, dst, kk, r, k_out, rows, tx, n, k):
    """dM of one block row of channel ``kk`` from its four rows of dY (``g0`` ... ``g3``,
    4 TX N numbers each): A dY into ``band`` (6 x 4 TX N), then A^T tile by tile into
    ``dst`` (dM, flat)."""
    row, run = len(g0), tx * n
    plane = k_out * rows * run  # distance from dM[p, q] to dM[p, q + 1]
    _a6(band[:row], band[row:2 * row], band[2 * row:3 * row], band[3 * row:4 * row],
        band[4 * row:5 * row], band[5 * row:6 * row], g0, g1, g2, g3, k)
    for p in range(6):
        for t in range(tx):
            o = ((6 * p * k_out + kk) * rows + r) * run + t * n
            b = p * row + 4 * t * n
            _a6(dst[o:o + n], dst[o + plane:o + plane + n],
                dst[o + 2 * plane:o + 2 * plane + n], dst[o + 3 * plane:o + 3 * plane + n],
                dst[o + 4 * plane:o + 4 * plane + n], dst[o + 5 * plane:o + 5 * plane + n],
                band[b:b + n], band[b + n:b + 2 * n], band[b + 2 * n:b + 3 * n],
                band[b + 3 * n:b + 4 * n], k)


@njit(**_JIT)
def winograd_output_grad(g, k, r0, t0, dm, c0, c1):
    """dM = A dY A^T for the 4 x 4 tiles dY of the output gradient, tile rows r0 ...,
    tile columns t0 ...

    Args:
        g: (K, 4 TY, 4 TX', N) the output gradient (whole tiles, TX' >= t0 + TX).
        k: (2, 4, 5, 8) in dm's dtype.
        r0, t0: the first tile row and column.
        dm: (36, K, R, TX, N) output.
        c0, c1: the channels to transform: c0 .. c1 - 1.
    """
    _, k_out, rows, tx, n = dm.shape
    h, w = g.shape[1], g.shape[2]
    row, width = w * n, 4 * tx * n
    src, dst = g.reshape(-1), dm.reshape(-1)
    band = np.empty(6 * width, dm.dtype)  # band[p, x, s] = (A dY)[p] at column x
    for kk in range(c0, c1):
        for r in range(rows):
            top = (kk * h + 4 * (r0 + r)) * row + 4 * t0 * n
            _output_grad_rows(band, src[top:top + width], src[top + row:top + row + width],
                              src[top + 2 * row:top + 2 * row + width],
                              src[top + 3 * row:top + 3 * row + width],
                              dst, kk, r, k_out, rows, tx, n, k)


@njit(**_JIT)
def winograd_output_grad_pooled(g, index, k, r0, t0, dm, c0, c1):
    """:func:`winograd_output_grad` for the gradient of the input of a 2 x 2, stride-2
    max-pool, made here row by row from the pool's (ReLU-masked) gradient ``g`` and
    ``index``, the offsets of the windows' maxima: dY[2y + i, 2x + j] = g[y, x] *
    (index[y, x] == 2 i + j), as :func:`lamina.kernels.numba_conv.max_pool_backward` writes it
    (so bitwise the same dM), but never written out whole.

    Args:
        g: (K, 2 TY, 2 TX, N) the gradient of the pooled output.
        index: (K, 2 TY, 2 TX, N) uint8, the offsets i * 2 + j of the windows' maxima.
        k, r0, t0, dm, c0, c1: as :func:`winograd_output_grad`.
    """
    _, k_out, rows, tx, n = dm.shape
    row = 4 * tx * n
    dst = dm.reshape(-1)
    dy = np.empty(4 * row, dm.dtype)  # the four rows of dY of one block row
    band = np.empty(6 * row, dm.dtype)
    for kk in range(c0, c1):
        for r in range(rows):
            for pr in range(2):
                y = 2 * (r0 + r) + pr
                for x in range(2 * tx):
                    src, at = g[kk, y, 2 * t0 + x], index[kk, y, 2 * t0 + x]
                    for i in range(2):
                        for j in range(2):
                            o = (2 * pr + i) * row + (2 * x + j) * n
                            target = dy[o:o + n]
                            offset = 2 * i + j
                            for s in range(n):
                                target[s] = src[s] * (at[s] == offset)
            _output_grad_rows(band, dy[:row], dy[row:2 * row], dy[2 * row:3 * row],
                              dy[3 * row:], dst, kk, r, k_out, rows, tx, n, k)


@njit(**_JIT)
def winograd_output_grad_bn_pooled(g, index, z, coef, oh, ow, k, r0, t0, dm, c0, c1):
    """:func:`winograd_output_grad` for dY the gradient of the input z of batch norm ->
    ReLU -> 2 x 2, stride-2 max-pool (:func:`lamina.ops.norm.batch_norm_relu_max_pool2d`'s
    backward pass), made here row by row, never written out whole: dY[y, x] = z[y, x] b +
    k0 + (g[y // 2, x // 2] a where index[y // 2, x // 2] is the offset 2 (y % 2) + x % 2
    of (y, x) in its window), for y < oh, x < ow; 0 past them (the whole tiles' extra rows
    and columns).

    Args:
        g: (K, oh // 2, ow // 2, N) the gradient of the pooled output.
        index: (K, oh // 2, ow // 2, N) uint8, the offsets of the windows' maxima (255:
            none).
        z: (K, 4 TY, 4 TX', N) the convolution's output (whole tiles), C-contiguous.
        coef: (K, 3) (a, b, k0) per channel in dm's dtype: batch norm's input gradient
            a dy + b z + k0.
        oh, ow: the convolution's output size.
        k, r0, t0, dm, c0, c1: as :func:`winograd_output_grad`.
    """
    _, k_out, rows, tx, n = dm.shape
    ph, pw = g.shape[1], g.shape[2]
    row = 4 * tx * n
    dst = dm.reshape(-1)
    dy = np.empty(4 * row, dm.dtype)  # the four rows of dY of one block row
    band = np.empty(6 * row, dm.dtype)
    zero = dm.dtype.type(0)
    for kk in range(c0, c1):
        a, b, k0 = coef[kk, 0], coef[kk, 1], coef[kk, 2]
        for r in range(rows):
            for i in range(4):
                y = 4 * (r0 + r) + i
                for xc in range(4 * tx):
                    x = 4 * t0 + xc
                    d = dy[i * row + xc * n:i * row + (xc + 1) * n]
                    if y >= oh or x >= ow:
                        d[:] = zero
                        continue
                    src = z[kk, y, x]
                    if y // 2 < ph and x // 2 < pw:
                        gj, at = g[kk, y // 2, x // 2], index[kk, y // 2, x // 2]
                        offset = 2 * (y % 2) + x % 2
                        for s in range(n):  # (a select: 5x faster than a product with 0/1)
                            d[s] = src[s] * b + k0 + (gj[s] * a if at[s] == offset else zero)
                    else:
                        for s in range(n):
                            d[s] = src[s] * b + k0
            _output_grad_rows(band, dy[:row], dy[row:2 * row], dy[2 * row:3 * row],
                              dy[3 * row:], dst, kk, r, k_out, rows, tx, n, k)


@njit(**_JIT)
def winograd_input_grad(dv, k, r0, t0, grad_xp, c0, c1):
    """Add B dV B^T of tile rows r0 .. r0 + R - 1, tile columns t0 .. t0 + TX - 1, into the
    input gradient (neighbouring tiles overlap by two rows and columns: their shares add
    up there, in tile order).

    Args:
        dv: (36, C, R, TX, N) the gradient of V.
        k: (2, 4, 5, 8) in grad_xp's dtype.
        r0, t0: the first tile row and column.
        grad_xp: (C, Hp, Wp, N) the padded input gradient, added to.
        c0, c1: the channels to transform: c0 .. c1 - 1.
    """
    _, c_in, rows, tx, n = dv.shape
    h, w = grad_xp.shape[1], grad_xp.shape[2]
    run = tx * n
    src, dst = dv.reshape(-1), grad_xp.reshape(-1)
    band = np.empty(36 * run, grad_xp.dtype)  # band[i, q, t, s] = (B dV)[i, q] of tile t
    position = 6 * c_in * rows * run  # distance from dV[p, q] to dV[p + 1, q]
    six = 6 * run
    for c in range(c0, c1):
        for r in range(rows):
            for q in range(6):
                a = ((q * c_in + c) * rows + r) * run
                o = q * run
                _b6_add(band[o:o + run], band[o + six:o + six + run],
                        band[o + 2 * six:o + 2 * six + run], band[o + 3 * six:o + 3 * six + run],
                        band[o + 4 * six:o + 4 * six + run], band[o + 5 * six:o + 5 * six + run],
                        src[a:a + run], src[a + position:a + position + run],
                        src[a + 2 * position:a + 2 * position + run],
                        src[a + 3 * position:a + 3 * position + run],
                        src[a + 4 * position:a + 4 * position + run],
                        src[a + 5 * position:a + 5 * position + run], k, False)
            y = 4 * (r0 + r)
            for i in range(6):
                for t in range(tx):
                    o = ((c * h + y + i) * w + 4 * (t0 + t)) * n
                    b = 6 * i * run + t * n
                    _b6_add(dst[o:o + n], dst[o + n:o + 2 * n], dst[o + 2 * n:o + 3 * n],
                            dst[o + 3 * n:o + 4 * n], dst[o + 4 * n:o + 5 * n],
                            dst[o + 5 * n:o + 6 * n],
                            band[b:b + n], band[b + run:b + run + n],
                            band[b + 2 * run:b + 2 * run + n], band[b + 3 * run:b + 3 * run + n],
                            band[b + 4 * run:b + 4 * run + n], band[b + 5 * run:b + 5 * run + n],
                            k, True)


# ------------------------------------------------------------------ split over threads

_PARALLEL = {**_JIT, "parallel": True}


@njit(**_PARALLEL)
def winograd_input_threads(xp, k, r0, t0, v, bounds):
    """:func:`winograd_input` of channels bounds[i] .. bounds[i + 1] - 1 on Numba's threads,
    one piece a thread (the same numbers as one call over all channels, bitwise)."""
    for i in prange(len(bounds) - 1):
        winograd_input(xp, k, r0, t0, v, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_output_threads(m, k, bias, r0, t0, z, bounds):
    """:func:`winograd_output` split by output channel as :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_output(m, k, bias, r0, t0, z, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_output_grad_threads(g, k, r0, t0, dm, bounds):
    """:func:`winograd_output_grad` split by channel as :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_output_grad(g, k, r0, t0, dm, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_output_grad_pooled_threads(g, index, k, r0, t0, dm, bounds):
    """:func:`winograd_output_grad_pooled` split by channel as
    :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_output_grad_pooled(g, index, k, r0, t0, dm, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_input_grad_threads(dv, k, r0, t0, grad_xp, bounds):
    """:func:`winograd_input_grad` split by channel as :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_input_grad(dv, k, r0, t0, grad_xp, bounds[i], bounds[i + 1])


@njit(**_PARALLEL)
def winograd_output_grad_bn_pooled_threads(g, index, z, coef, oh, ow, k, r0, t0, dm, bounds):
    """:func:`winograd_output_grad_bn_pooled` split by channel as
    :func:`winograd_input_threads`."""
    for i in prange(len(bounds) - 1):
        winograd_output_grad_bn_pooled(g, index, z, coef, oh, ow, k, r0, t0, dm, bounds[i],
                                       bounds[i + 1])
