"""Numba kernels of the convolution and pooling ops (:mod:`lamina.ops.conv`).

All arrays are in the ops' internal channel-major layout (C, H, W, N), batch innermost, and
C-contiguous (the direct inference kernel alone takes NCHW images). Every kernel loops over
channels and pixels outside and over the batch inside, so the inner loop runs over contiguous
memory and LLVM vectorises it; no kernel reads back a value it selected into its own output
in the same loop (that turns into a conditional store that does not vectorise).

Two kinds:

- replacements of NumPy code (window max with its argmax, bias and ReLU; the max-pool
  scatter; col2im; ReLU and its gradient over a dense array, ``relu_forward`` and
  ``relu_backward``, flat 1-D loops): each adds in the same order as the NumPy code, so both
  paths give bitwise identical results (ReLU may differ in the sign of a zero);
- replacements of BLAS products where BLAS is slow, for convolutions with few weights
  (``weight_grad``, ``small_conv_forward`` and its fusion with a 2 x 2 max-pool
  ``small_conv_relu_pool_2x2``, ``small_conv_weight_grad``) and batch-1 inference
  (``conv_relu_max_pool_direct``): equal to the NumPy path up to rounding, since they sum
  in another order (the same order on every run).

Serial on purpose (``parallel=False``): the GEMMs around these kernels run on BLAS threads,
and results must not depend on scheduling.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lamina.kernels import thresholds as T

_JIT = {"cache": True, "nogil": True, "fastmath": False, "parallel": False}


def max_pool_forward(xp, kh, kw, sh, sw, best, index):
    """Max of each window and the offset of its first maximum.

    Args:
        xp: (C, Hp, Wp, N) input, already padded with -inf where the pool pads.
        kh, kw, sh, sw: window and stride.
        best: (C, OH, OW, N) output, the window maxima (NaN if the window holds one, as
            ``np.maximum``).
        index: (C, OH, OW, N) uint8 output, the row-major offset i*kw + j of the first
            maximum; kh*kw - 1 for a window whose maximum is NaN (as the NumPy path).
    """
    # chosen here, not in compiled code, so that only the kernel in use gets compiled
    if kh == 2 and kw == 2:
        _max_pool_2x2(xp, sh, sw, best, index)
    elif xp.shape[3] < T.POOL_ROWS_FROM_BATCH:
        _max_pool_scalar(xp, kh, kw, sh, sw, best, index)
    else:
        _max_pool_rows(xp, kh, kw, sh, sw, best, index)


@njit(**_JIT)
def _max_pool_2x2(xp, sh, sw, best, index):
    """2 x 2 windows: the four values compared in registers, one store per output."""
    c_in, oh, ow, n = best.shape
    if n == 1:  # batch 1: a loop over the row instead of a one-trip loop over the batch
        for c in range(c_in):
            for y in range(oh):
                top, bottom = xp[c, y * sh, :, 0], xp[c, y * sh + 1, :, 0]
                out_m, out_a = best[c, y, :, 0], index[c, y, :, 0]
                for x in range(ow):
                    x0 = x * sw
                    out_m[x], out_a[x] = _first_max_2x2(top[x0], top[x0 + 1], bottom[x0],
                                                        bottom[x0 + 1])
        return
    for c in range(c_in):
        for y in range(oh):
            y0 = y * sh
            for x in range(ow):
                x0 = x * sw
                for t in range(n):
                    best[c, y, x, t], index[c, y, x, t] = _first_max_2x2(
                        xp[c, y0, x0, t], xp[c, y0, x0 + 1, t], xp[c, y0 + 1, x0, t],
                        xp[c, y0 + 1, x0 + 1, t])


@njit(inline="always")
def _first_max_2x2(v0, v1, v2, v3):
    """The maximum of a 2 x 2 window's values (in row-major order) and the offset of its
    first maximum. NaN wins and stays, as in np.maximum, and a NaN maximum reports the last
    offset (as the NumPy path); the offset is kept by arithmetic, not a select, so that the
    loops around it vectorise."""
    take = (v1 > v0) | (v1 != v1)
    m = v1 if take else v0
    a = np.int32(take)
    take = (v2 > m) | (v2 != v2)
    m = v2 if take else m
    a += take * (2 - a)
    take = (v3 > m) | (v3 != v3)
    a += (take | (m != m)) * (3 - a)
    return (v3 if take else m), a


@njit(inline="always")
def _bias_relu_value(v, b, has_bias):
    """relu(v + b) (v alone without a bias); NaN stays NaN, as np.maximum(., 0)."""
    v = v + b if has_bias else v
    return v if (v > 0) | (v != v) else 0


@njit(**_JIT)
def _max_pool_scalar(xp, kh, kw, sh, sw, best, index):
    """Any window, small batches: one element at a time."""
    c_in, oh, ow, n = best.shape
    area = kh * kw
    for c in range(c_in):
        for y in range(oh):
            for x in range(ow):
                for t in range(n):
                    m = xp[c, y * sh, x * sw, t]
                    a = 0
                    for k in range(1, area):
                        v = xp[c, y * sh + k // kw, x * sw + k % kw, t]
                        if v > m or v != v:
                            m = v
                            a = k
                    best[c, y, x, t] = m
                    index[c, y, x, t] = area - 1 if m != m else a


@njit(**_JIT)
def _max_pool_rows(xp, kh, kw, sh, sw, best, index):
    """Any window, batches of 8 or more: one kernel offset at a time over a whole output
    row, between two scratch rows (a loop that reads back what it selected into its own
    output does not vectorise)."""
    c_in, oh, ow, n = best.shape
    area = kh * kw
    run_m = np.empty((2, ow, n), xp.dtype)
    run_a = np.empty((2, ow, n), np.uint8)
    for c in range(c_in):
        for y in range(oh):
            if area == 1:
                for x in range(ow):
                    for t in range(n):
                        best[c, y, x, t] = xp[c, y * sh, x * sw, t]
                        index[c, y, x, t] = 0
                continue
            for k in range(1, area):
                last = k == area - 1
                new_m = best[c, y] if last else run_m[k % 2]
                new_a = index[c, y] if last else run_a[k % 2]
                cur_m = run_m[(k - 1) % 2]
                cur_a = run_a[(k - 1) % 2]
                yy, j = y * sh + k // kw, k % kw
                for x in range(ow):
                    for t in range(n):
                        v = xp[c, yy, x * sw + j, t]
                        m = xp[c, y * sh, x * sw, t] if k == 1 else cur_m[x, t]
                        a = 0 if k == 1 else cur_a[x, t]
                        take = (v > m) | (v != v)
                        m = v if take else m
                        new_m[x, t] = m
                        take |= last & (m != m)
                        new_a[x, t] = a + take * (k - a)


def max_pool_bias_relu(xp, kh, kw, sh, sw, bias, out, index):
    """relu(max of each window + bias[c]) and the offset of each window's first maximum:
    :func:`max_pool_forward`, then the bias (skipped when ``bias`` is empty) and
    ``np.maximum(., 0)`` (NaN stays NaN) in place, as the NumPy path does them one after
    the other.

    Args:
        xp, kh, kw, sh, sw, index: as :func:`max_pool_forward`.
        bias: (C,) per-channel bias, or an empty array for none.
        out: (C, OH, OW, N) output.
    """
    max_pool_forward(xp, kh, kw, sh, sw, out, index)
    _bias_relu(out, bias)


@njit(**_JIT)
def _bias_relu(out, bias):
    c_in, oh, ow, n = out.shape
    has_bias = bias.shape[0] > 0
    for c in range(c_in):
        plane = out[c].reshape(oh * ow * n)  # contiguous: a view
        b = bias[c] if has_bias else 0
        for t in range(oh * ow * n):
            plane[t] = _bias_relu_value(plane[t], b, has_bias)


@njit(**_JIT)
def max_pool_backward(grad, index, kh, kw, sh, sw, out):
    """Route each output gradient to its window's first maximum (scatter by ``index``).

    Args:
        grad: (C, OH, OW, N) incoming gradient.
        index: (C, OH, OW, N) uint8 offsets from :func:`max_pool_forward`.
        kh, kw, sh, sw: window and stride.
        out: (C, Hp, Wp, N) result, overwritten. Windows that do not overlap write their
            elements once; overlapping ones add offset after offset (k = 0, 1, ...) as the
            NumPy path does, so both sum in the same order.
    """
    c_in, oh, ow, n = grad.shape
    disjoint = sh >= kh and sw >= kw
    if not (sh == kh and sw == kw and oh * sh == out.shape[1] and ow * sw == out.shape[2]):
        out.fill(0)
    if disjoint:
        for c in range(c_in):
            for y in range(oh):
                for x in range(ow):
                    g = grad[c, y, x]
                    a = index[c, y, x]
                    for k in range(kh * kw):
                        target = out[c, y * sh + k // kw, x * sw + k % kw]
                        for t in range(n):
                            target[t] = g[t] * (a[t] == k)
        return
    for k in range(kh * kw):
        i, j = k // kw, k % kw
        for c in range(c_in):
            for y in range(oh):
                for x in range(ow):
                    g = grad[c, y, x]
                    a = index[c, y, x]
                    target = out[c, y * sh + i, x * sw + j]
                    for t in range(n):
                        target[t] += g[t] * (a[t] == k)


@njit(**_JIT)
def relu_max_pool_backward(grad, out, index, kh, kw, sh, sw, g, dz):
    """The backward pass of ReLU after a max-pool, as the fused conv block needs it:
    ``g = grad * (out > 0)`` (NaN * 0 stays NaN, as NumPy's multiply by a boolean mask), then
    ``g`` routed to the window maxima as :func:`max_pool_backward` does (bitwise the NumPy
    path's values, in one call).

    Args:
        grad: (C, OH, OW, N) incoming gradient, any strides (the transposed view of an NCHW
            gradient).
        out: (C, OH, OW, N) the block's output, relu(max + bias).
        index: (C, OH, OW, N) uint8 offsets from :func:`max_pool_forward`.
        kh, kw, sh, sw: window and stride.
        g: (C, OH, OW, N) result, the masked gradient (overwritten).
        dz: (C, Hp, Wp, N) result, the gradient of the pool's input (overwritten).
    """
    c_in, oh, ow, n = out.shape
    zero = np.zeros(1, g.dtype)[0]
    for c in range(c_in):
        for y in range(oh):
            for x in range(ow):
                src, kept, dst = grad[c, y, x], out[c, y, x], g[c, y, x]
                for t in range(n):
                    v = src[t]
                    dst[t] = v if kept[t] > 0 else v * zero
    max_pool_backward(g, index, kh, kw, sh, sw, dz)


@njit(**_JIT)
def col2im(cols, row0, sh, sw, out):
    """Add the column matrix of a convolution's input gradient back into the image (the
    adjoint of im2col), for the output rows ``row0 .. row0 + R - 1``.

    Args:
        cols: (C, kh, kw, R, OW, N): entry (c, i, j, y, x, n) is the gradient of input
            element (c, (row0 + y)*sh + i, x*sw + j, n); C-contiguous.
        row0: first output row of this block.
        sh, sw: stride.
        out: (C, Hp, Wp, N) accumulator (zero before the first block), C-contiguous. Each
            element gets its terms in the order of the kernel offsets, as the NumPy path
            adds them.
    """
    c_in, kh, kw, rows, ow, n = cols.shape
    if sw == 1:  # a row of cols is one contiguous run of the image row: OW*N numbers
        wp, run = out.shape[2], ow * n
        flat = out.reshape(c_in, -1)
        runs = cols.reshape(c_in, kh, kw, rows, run)
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    for y in range(rows):
                        src = runs[c, i, j, y]
                        start = (((row0 + y) * sh + i) * wp + j) * n
                        target = flat[c, start:start + run]
                        for u in range(run):
                            target[u] += src[u]
        return
    for c in range(c_in):
        for i in range(kh):
            for j in range(kw):
                for y in range(rows):
                    for x in range(ow):
                        src = cols[c, i, j, y, x]
                        target = out[c, (row0 + y) * sh + i, x * sw + j]
                        for t in range(n):
                            target[t] += src[t]


@njit(cache=True, nogil=True, parallel=False, fastmath={"contract"})
def conv_relu_max_pool_direct(x, weight, bias, ph, pw, pkh, pkw, psh, psw, out):
    """relu(max_pool(conv2d(x) + bias)) for inference on a few images, computed directly
    (no im2col matrix, no BLAS call): the latency path of batch-1 inference.

    Each image is zero-padded into a flat (C_in, Hp*Wp) buffer; with stride 1, kernel offset
    (i, j) of every output (y, x) is element (y*Wp + x) + (i*Wp + j) of that buffer, so the
    convolution is a sum of shifted copies of the buffer's rows,
    ``z[t] += w[c, i, j] * buffer[c, i*Wp + j + t]`` over t < L = (H_out - 1)*Wp + W_out
    (positions x >= W_out wrap around and are never read). Two output channels per pass
    over ``z`` to halve the loads of ``buffer``, and one pass per kernel row (c, i) when
    kw = 5 (LeNet-5), its five taps added together, else one pass per tap: the passes are
    short (L = 136 in LeNet-5's second layer), so their number decides the time. The sums
    run in another order than the GEMM's (with fused multiply-adds): equal up to rounding.

    Args:
        x: (N, C_in, H, W) input.
        weight: (C_out, C_in, kh, kw); bias: (C_out,), or empty for none.
        ph, pw: the convolution's zero padding (its stride is 1).
        pkh, pkw, psh, psw: the max-pool's window and stride (no pool padding).
        out: (N, C_out, P_h, P_w) output.
    """
    n_img, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    hp, wp = h + 2 * ph, w + 2 * pw
    oh, ow = hp - kh + 1, wp - kw + 1
    length = (oh - 1) * wp + ow
    pooled_h, pooled_w = out.shape[2], out.shape[3]
    has_bias = bias.shape[0] > 0
    zero = np.zeros(1, out.dtype)[0]
    padded = np.zeros((c_in, hp * wp), x.dtype)
    # two separate arrays, not rows of one: LLVM then knows they do not overlap, and
    # vectorises the accumulation without run-time overlap checks
    z0, z1 = np.empty(length, x.dtype), np.empty(length, x.dtype)
    for n in range(n_img):
        for c in range(c_in):
            for y in range(h):
                row = padded[c, (y + ph) * wp + pw:(y + ph) * wp + pw + w]
                for t in range(w):
                    row[t] = x[n, c, y, t]
        for o in range(0, c_out, 2):
            o1 = min(o + 1, c_out - 1)  # an odd last channel is computed twice
            z0[:] = 0
            z1[:] = 0
            for c in range(c_in):
                for i in range(kh):
                    src = padded[c, i * wp:i * wp + length + kw - 1]  # ends at hp*wp at most
                    if kw == 5:
                        _five_taps(src, weight[o, c, i], weight[o1, c, i], length, z0, z1)
                        continue
                    for j in range(kw):
                        w0, w1 = weight[o, c, i, j], weight[o1, c, i, j]
                        for t in range(length):
                            s = src[j + t]
                            z0[t] += w0 * s
                            z1[t] += w1 * s
            for q in range(min(2, c_out - o)):
                zq = z0 if q == 0 else z1
                b = bias[o + q] if has_bias else zero
                if pkh == 2 and pkw == 2 and psh == 2 and psw == 2:  # the common pool
                    for py in range(pooled_h):
                        row = out[n, o + q, py]
                        top = zq[2 * py * wp:2 * py * wp + 2 * pooled_w]
                        bottom = zq[(2 * py + 1) * wp:(2 * py + 1) * wp + 2 * pooled_w]
                        for px in range(pooled_w):  # vectorised: no index, no branch
                            m = _first_max_2x2(top[2 * px], top[2 * px + 1], bottom[2 * px],
                                               bottom[2 * px + 1])[0]
                            row[px] = _bias_relu_value(m, b, has_bias)
                    continue
                for py in range(pooled_h):
                    for px in range(pooled_w):
                        top = py * psh * wp + px * psw
                        m = zq[top]
                        for a in range(pkh):
                            for k in range(pkw):
                                v = zq[top + a * wp + k]
                                m = v if (v > m) | (v != v) else m  # a select, not a branch
                        out[n, o + q, py, px] = _bias_relu_value(m, b, has_bias)


@njit(inline="always", fastmath={"contract"})
def _five_taps(src, w0, w1, length, z0, z1):
    """z0[t] += sum_j w0[j] * src[t + j] and the same for w1 and z1, j < 5, t < length:
    one pass over z0 and z1 for a whole row of a 5-wide kernel. The five-tap pass of
    :func:`_add_five_taps` for neighbouring taps one element apart; kept apart from it because
    one helper taking the distance between taps as an argument made both callers 1.6-4x
    slower (measured), and the slices it takes cost the batch-1 kernel as much again."""
    a0, a1, a2, a3, a4 = w0[0], w0[1], w0[2], w0[3], w0[4]
    b0, b1, b2, b3, b4 = w1[0], w1[1], w1[2], w1[3], w1[4]
    for t in range(length):
        s0, s1, s2, s3, s4 = src[t], src[t + 1], src[t + 2], src[t + 3], src[t + 4]
        z0[t] = z0[t] + a0 * s0 + a1 * s1 + a2 * s2 + a3 * s3 + a4 * s4
        z1[t] = z1[t] + b0 * s0 + b1 * s1 + b2 * s2 + b3 * s3 + b4 * s4


@njit(cache=True, nogil=True, parallel=False, fastmath={"reassoc", "contract"})
def weight_grad(g, col, out):
    """out = g @ col.T, for the weight gradient of a convolution with few weights
    (C_out x K small) and a long M (pixels times batch): the shape where a BLAS GEMM has
    almost nothing to tile and spends its time packing (LeNet-5's first layer: 6 x 25 over
    M = 25,088 at batch 32).

    A 3 x 2 block of dot products per pass over 512 columns, the partial sums of each pass
    added into ``out``: the kernel reads each column of ``g`` and ``col`` once per block of
    outputs. ``reassoc`` lets LLVM vectorise each dot product (the sums run in another order
    than in a plain loop, the same order every run).

    Args:
        g: (C_out, M) gradient of the convolution output.
        col: (K, M) im2col matrix.
        out: (C_out, K) result, overwritten.
    """
    c_out, m = g.shape
    k_n = col.shape[0]
    zero = np.zeros(1, out.dtype)[0]
    out[:] = zero
    for p0 in range(0, m, 512):
        p1 = min(m, p0 + 512)
        for k in range(0, k_n, 2):
            k1 = min(k + 1, k_n - 1)  # an odd last row is computed twice, added once
            c0, c1 = col[k, p0:p1], col[k1, p0:p1]
            for o in range(0, c_out, 3):
                o1, o2 = min(o + 1, c_out - 1), min(o + 2, c_out - 1)
                sums = _dot_3x2(g[o, p0:p1], g[o1, p0:p1], g[o2, p0:p1], c0, c1, zero)
                _add_block(out, o, o1, o2, k, k1, sums)


@njit(inline="always")
def _dot_3x2(g0, g1, g2, x0s, x1s, zero):
    """The six dot products of rows g0, g1, g2 with rows x0s, x1s, in one pass."""
    a00 = a01 = a10 = a11 = a20 = a21 = zero
    for t in range(g0.shape[0]):
        x0, x1 = x0s[t], x1s[t]
        a00 += g0[t] * x0
        a01 += g0[t] * x1
        a10 += g1[t] * x0
        a11 += g1[t] * x1
        a20 += g2[t] * x0
        a21 += g2[t] * x1
    return a00, a01, a10, a11, a20, a21


@njit(inline="always")
def _add_block(out, o, o1, o2, k, k1, sums):
    """Add a 3 x 2 block of partial sums, skipping the repeated rows and columns."""
    a00, a01, a10, a11, a20, a21 = sums
    out[o, k] += a00
    if o1 != o:
        out[o1, k] += a10
    if o2 != o1:
        out[o2, k] += a20
    if k1 != k:
        out[o, k1] += a01
        if o1 != o:
            out[o1, k1] += a11
        if o2 != o1:
            out[o2, k1] += a21


@njit(**_JIT)
def small_conv_forward(xp, w2d, kh, kw, sh, out, bias=None):
    """z = W @ im2col(xp) (+ b) for a convolution with few weights (C_out x K small, horizontal
    stride 1, at most SMALL_CONV_WEIGHTS weights), without forming the im2col matrix:
    LeNet-5's first layer (6 x 25), where a BLAS GEMM with so small a side runs far below its
    peak and the im2col copy costs as much again, and its second (16 x 150), where the direct
    loop keeps pace with im2col + BLAS on one thread and keeps no im2col matrix.

    With the batch innermost and horizontal stride 1, the inputs of kernel offset (c, i, j)
    for output row y are one contiguous run of W_out*N numbers of the padded input, starting
    at (c, y*sh + i, j, 0); each output row is the weighted sum of K such runs. Two output
    channels are accumulated at a time, and the taps of a kernel row in groups of up to five
    per pass (:func:`_add_five_taps`), so that each pass loads and stores the output row once for
    up to ten products.

    Args:
        xp: (C_in, Hp, Wp, N) padded input, C-contiguous.
        w2d: (C_out, C_in*kh*kw) weights.
        kh, kw, sh: kernel size and vertical stride.
        out: (C_out, H_out, W_out, N) result, C-contiguous, overwritten.
        bias: (C_out,) bias in ``out``'s dtype, or None: each output row starts from its
            channel's bias instead of 0, so z + b costs no pass of its own (the sums then
            run b + the products, in the order of the products).
    """
    c_in, _, wp, n = xp.shape
    c_out, oh, ow, _ = out.shape
    run = ow * n
    flat = xp.reshape(c_in, -1)
    rows = out.reshape(c_out, oh, run)
    spare = np.empty(run, out.dtype)  # the second row of an odd last channel
    start = np.zeros(c_out + 1, out.dtype)  # per channel; the spare row's 0 last
    if bias is not None:
        start[:c_out] = bias
    for y in range(oh):
        for o in range(0, c_out, 2):
            _conv_row_pair(flat, w2d, kh, kw, sh, wp, n, y, o, rows[o, y],
                           rows[o + 1, y] if o + 1 < c_out else spare, start[o],
                           start[o + 1])


@njit(**_JIT)
def _conv_row_pair(flat, w2d, kh, kw, sh, wp, n, y, o, z0, z1, b0, b1):
    """Output row y of channels o and o + 1 (o again for an odd last channel) into z0, z1,
    started from b0, b1: the loop of :func:`small_conv_forward` for one row (``flat`` is xp
    as (C_in, Hp*Wp*N))."""
    c_in, run = flat.shape[0], z0.shape[0]
    o1 = min(o + 1, w2d.shape[0] - 1)
    z0[:] = b0
    z1[:] = b1
    for c in range(c_in):
        src = flat[c]
        for i in range(kh):
            base = (y * sh + i) * wp * n
            k = (c * kh + i) * kw
            # fives, then a three, then ones, in straight loops: a while loop choosing the
            # group size at each step made every kernel size 1.3-2.3x slower (measured)
            threes = kw - kw % 5  # where the fives end
            for j in range(0, threes, 5):
                _add_five_taps(z0, z1, src, base + j * n, n, run, w2d[o, k + j:k + j + 5],
                               w2d[o1, k + j:k + j + 5])
            ones = threes + 3 if kw - threes >= 3 else threes
            if ones > threes:
                _add_three_taps(z0, z1, src, base + threes * n, n, run,
                                w2d[o, k + threes:k + ones], w2d[o1, k + threes:k + ones])
            for j in range(ones, kw):
                start = base + j * n
                _add_one_tap(z0, z1, src[start:start + run], w2d[o, k + j], w2d[o1, k + j])


@njit(**_JIT)
def small_conv_relu_pool_2x2(xp, w2d, kh, kw, sh, bias, out, index):
    """relu(max_pool(conv(xp) + bias)) with 2 x 2 windows of stride 2, and the offset of
    each window's first maximum, for the convolutions of :func:`small_conv_forward`: the
    conv rows of one window row are computed into scratch rows and pooled at once, so the
    full-size conv output is never written (LeNet-5's blocks in training). Bitwise
    :func:`small_conv_forward` with the bias followed by :func:`max_pool_bias_relu` without
    one (so bitwise conv2d, ReLU and max-pool one after another): the same row loop, the
    same comparisons, the same ReLU.

    Args:
        xp: (C_in, Hp, Wp, N) padded input, C-contiguous.
        w2d: (C_out, C_in*kh*kw) weights.
        kh, kw, sh: kernel size and vertical stride of the convolution.
        bias: (C_out,) bias, or an empty array for none.
        out: (C_out, PH, PW, N) pooled output; the conv output is (H_out, W_out) with
            PH = H_out // 2, PW = W_out // 2 (rows and columns past 2 PH, 2 PW unused).
        index: (C_out, PH, PW, N) uint8 offsets of the first maxima (as max_pool_forward).
    """
    c_in, hp, wp, n = xp.shape
    c_out, ph, pw, _ = out.shape
    ow = wp - kw + 1
    run = ow * n
    flat = xp.reshape(c_in, -1)
    rows = np.empty((2, 2, ow, n), out.dtype)  # (conv row of the window, channel of the pair)
    start = np.zeros(c_out + 1, out.dtype)  # the rows start from the bias, as in
    start[:bias.shape[0]] = bias            # small_conv_forward (the spare row's 0 last)
    for py in range(ph):
        for o in range(0, c_out, 2):
            for r in range(2):
                _conv_row_pair(flat, w2d, kh, kw, sh, wp, n, 2 * py + r, o,
                               rows[r, 0].reshape(run), rows[r, 1].reshape(run), start[o],
                               start[o + 1])
            for q in range(min(2, c_out - o)):
                top, bottom = rows[0, q], rows[1, q]
                best, where = out[o + q, py], index[o + q, py]
                for x in range(pw):
                    x0 = 2 * x
                    for t in range(n):
                        m, where[x, t] = _first_max_2x2(top[x0, t], top[x0 + 1, t],
                                                        bottom[x0, t], bottom[x0 + 1, t])
                        best[x, t] = _bias_relu_value(m, 0, False)


@njit(inline="always")
def _add_five_taps(z0, z1, src, start, step, run, w0, w1):
    """z0 += sum_t w0[t] * src[start + t*step:][:run] for the 5 taps t, z1 likewise with w1:
    one pass over z0 and z1 for ten products. Three helpers (five, three, one tap) rather
    than one with the number of taps as an argument: the branches inside one helper cost
    LeNet-5's first layer 1.5x (measured), the same sums either way."""
    s0, s1 = src[start:start + run], src[start + step:start + step + run]
    s2 = src[start + 2 * step:start + 2 * step + run]
    s3 = src[start + 3 * step:start + 3 * step + run]
    s4 = src[start + 4 * step:start + 4 * step + run]
    a0, a1, a2, a3, a4 = w0[0], w0[1], w0[2], w0[3], w0[4]
    b0, b1, b2, b3, b4 = w1[0], w1[1], w1[2], w1[3], w1[4]
    for u in range(run):
        v0, v1, v2, v3, v4 = s0[u], s1[u], s2[u], s3[u], s4[u]
        z0[u] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4
        z1[u] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3 + b4 * v4


@njit(inline="always")
def _add_three_taps(z0, z1, src, start, step, run, w0, w1):
    """:func:`_add_five_taps` for 3 taps."""
    s0, s1 = src[start:start + run], src[start + step:start + step + run]
    s2 = src[start + 2 * step:start + 2 * step + run]
    a0, a1, a2, b0, b1, b2 = w0[0], w0[1], w0[2], w1[0], w1[1], w1[2]
    for u in range(run):
        v0, v1, v2 = s0[u], s1[u], s2[u]
        z0[u] += a0 * v0 + a1 * v1 + a2 * v2
        z1[u] += b0 * v0 + b1 * v1 + b2 * v2


@njit(inline="always")
def _add_one_tap(z0, z1, s0, a, b):
    """z0 += a * s0 and z1 += b * s0."""
    for u in range(s0.shape[0]):
        v = s0[u]
        z0[u] += a * v
        z1[u] += b * v


@njit(cache=True, nogil=True, parallel=False, fastmath={"reassoc", "contract"})
def small_conv_weight_grad(xp, g, kh, kw, sh, out):
    """dL/dW = g @ im2col(xp)^T for the convolutions of :func:`small_conv_forward`, without
    the im2col matrix: each entry a dot product of an output row of ``g`` with the run of
    the input it was computed from, summed over output rows, in 3 x 2 blocks of
    (output channel, kernel offset) as :func:`weight_grad`.

    Args:
        xp: (C_in, Hp, Wp, N) padded input, C-contiguous.
        g: (C_out, H_out, W_out, N) gradient of the output, C-contiguous.
        kh, kw, sh: kernel size and vertical stride.
        out: (C_out, C_in*kh*kw) result, overwritten.
    """
    c_in, _, wp, n = xp.shape
    c_out, oh, ow, _ = g.shape
    k_n = c_in * kh * kw
    run = ow * n
    flat = xp.reshape(c_in, -1)
    rows = g.reshape(c_out, oh, run)
    zero = np.zeros(1, out.dtype)[0]
    out[:] = zero
    for y in range(oh):
        for k in range(0, k_n, 2):
            k1 = min(k + 1, k_n - 1)
            c0, r0 = k // (kh * kw), k % (kh * kw)
            c1, r1 = k1 // (kh * kw), k1 % (kh * kw)
            s0 = ((y * sh + r0 // kw) * wp + r0 % kw) * n
            s1 = ((y * sh + r1 // kw) * wp + r1 % kw) * n
            x0s, x1s = flat[c0, s0:s0 + run], flat[c1, s1:s1 + run]
            for o in range(0, c_out, 3):
                o1, o2 = min(o + 1, c_out - 1), min(o + 2, c_out - 1)
                sums = _dot_3x2(rows[o, y], rows[o1, y], rows[o2, y], x0s, x1s, zero)
                _add_block(out, o, o1, o2, k, k1, sums)


# ------------------------------------------------------------------ ReLU (ops/activation.py)


def relu_forward(src, out):
    """out = max(src, 0) over 1-D arrays; ``out`` is ``src`` (the same object) for in place.
    NaN stays NaN, as ``np.maximum``; a select, so the loop vectorises (NumPy's maximum
    against a scalar runs 4-7x slower on the bench machine: see RELU_DENSE_FROM in
    thresholds.py). In place has a loop of its own: with two arguments that may alias,
    LLVM does not vectorise (measured 87 us against 9 us on 150,528 float32)."""
    if src is out:
        relu_in_place(out)
    else:
        _relu_copy(src, out)


@njit(**_JIT)
def _relu_copy(src, out):
    for i in range(src.shape[0]):
        v = src[i]
        out[i] = 0 if v < 0 else v


@njit(**_JIT)
def relu_in_place(a):
    """a = max(a, 0) over a 1-D array, in place (the loop of :func:`relu_forward` in place;
    the folded ReLU of an op's C-contiguous output, :func:`lamina.ops.activation.relu_values`)."""
    for i in range(a.shape[0]):
        v = a[i]
        a[i] = 0 if v < 0 else v


@njit(**_JIT)
def relu_backward(grad, out, g):
    """g = grad where out > 0, else 0, over 1-D arrays: ReLU's gradient from its output (a
    select, as PyTorch's threshold_backward: an infinite ``grad`` where ReLU cut gives 0)."""
    for i in range(grad.shape[0]):
        g[i] = grad[i] if out[i] > 0 else 0
