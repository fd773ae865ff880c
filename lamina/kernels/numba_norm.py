"""Numba kernels of batch normalisation (:func:`lamina.ops.norm.batch_norm`) over a
(N, C, L) view of the input (L = the product of the spatial sizes; no transposing copy).

NumPy needs a pass per formula (mean, centring, squares, their mean, scale, shift; in the
backward two reductions and four broadcasting passes), each over the whole activation and
most allocating one. Here the statistics are one reduction pass each, the output and the
input gradient one pass each, with per-channel sums accumulated in float64 (the reference
sums in the input's dtype, pairwise): equal to the NumPy path up to rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lamina.kernels.numba_conv import _conv_row_pair


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def bn_stats(x, mean, var):
    """Per channel c of x (N, C, L): mean[c] = sum x / m and the biased variance var[c] =
    sum (x - mean)^2 / m (m = N L; two passes, float64 sums)."""
    n, channels, length = x.shape
    m = n * length
    for c in range(channels):
        total = 0.0
        for i in range(n):
            row = x[i, c]
            for j in range(length):
                total += row[j]
        mu = total / m
        squares = 0.0
        for i in range(n):
            row = x[i, c]
            for j in range(length):
                d = row[j] - mu
                squares += d * d
        mean[c] = mu
        var[c] = squares / m


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def bn_grad_sums(dy, x, mean, sum_dy, sum_dy_xmu):
    """Per channel c: sum_dy[c] = sum dy and sum_dy_xmu[c] = sum dy (x - mean[c]) over
    (N, L) of dy, x (N, C, L) (float64 sums)."""
    n, channels, length = x.shape
    for c in range(channels):
        mu = mean[c]
        s1 = 0.0
        s2 = 0.0
        for i in range(n):
            g = dy[i, c]
            row = x[i, c]
            for j in range(length):
                s1 += g[j]
                s2 += g[j] * (row[j] - mu)
        sum_dy[c] = s1
        sum_dy_xmu[c] = s2


@njit(cache=True, nogil=True)
def bn_affine(x, scale, shift, out):
    """out = x * scale[c] + shift[c] per channel of x, out (N, C, L)."""
    n, channels, length = x.shape
    for i in range(n):
        for c in range(channels):
            a = scale[c]
            b = shift[c]
            src = x[i, c]
            dst = out[i, c]
            for j in range(length):
                dst[j] = src[j] * a + b


@njit(cache=True, nogil=True)
def bn_input_grad(dy, x, a, b, k, out):
    """out = dy * a[c] + x * b[c] + k[c] per channel (the input gradient of batch
    normalisation written as an affine map of dy and x), all (N, C, L)."""
    n, channels, length = x.shape
    for i in range(n):
        for c in range(channels):
            ac = a[c]
            bc = b[c]
            kc = k[c]
            g = dy[i, c]
            src = x[i, c]
            dst = out[i, c]
            for j in range(length):
                dst[j] = g[j] * ac + src[j] * bc + kc



# ---------------------------------------------- batch norm -> ReLU -> 2 x 2 max pool
# (:func:`lamina.ops.norm.batch_norm_relu_max_pool2d`) on the batch-last layout (C, H, W, N)
# in which lamina's convolutions leave their outputs; every loop is per channel, so the op
# may run two halves of the channels at once (lamina.ops.norm._by_channels): the same bits.


def _bn_relu_pool_forward(x, height, width, batch, weight, bias, eps, mean, var, coef, out,
                          arg, xmax):
    """Per channel c of the batch-last input x (C, H', W' * N) C-contiguous, of which rows
    :height and their first width * N numbers (columns :width, each N numbers) are read:
    the mean and biased variance (two passes, float64 sums), y = x * s + t with s =
    weight[c] / sqrt(var + eps), t = bias[c] - mean * s, and the 2 x 2 windows of stride 2
    of relu(y): out (C, height // 2, (width // 2) * N) their maximum, arg (same shape) the
    offset 0..3 (row-major) of the window's first maximum of y, or 255 where that maximum is
    not positive (no gradient), xmax (same shape, x's dtype) the x at that first maximum
    (the backward pass's sums then read pooled-size arrays only). weight, bias, mean, var
    (C,) float64; coef (C, 2) in x's dtype receives (s, t)."""
    channels = x.shape[0]
    out_h, out_w = out.shape[1], out.shape[2] // batch
    run = width * batch
    m = height * run
    for c in range(channels):
        total = 0.0
        for i in range(height):
            row = x[c, i]
            for p in range(run):
                total += row[p]
        mu = total / m
        squares = 0.0
        for i in range(height):
            row = x[c, i]
            for p in range(run):
                d = row[p] - mu
                squares += d * d
        v = squares / m
        mean[c] = mu
        var[c] = v
        scale = weight[c] / np.sqrt(v + eps)
        coef[c, 0] = scale
        coef[c, 1] = bias[c] - mu * scale
        a = coef[c, 0]
        b = coef[c, 1]
        zero = x.dtype.type(0)
        for i in range(out_h):
            top = x[c, 2 * i]
            bottom = x[c, 2 * i + 1]
            dst = out[c, i]
            where = arg[c, i]
            kept = xmax[c, i]
            for j in range(out_w):  # (slices: an index plus an offset is not vectorised)
                r0 = top[2 * j * batch:(2 * j + 1) * batch]
                r1 = top[(2 * j + 1) * batch:(2 * j + 2) * batch]
                r2 = bottom[2 * j * batch:(2 * j + 1) * batch]
                r3 = bottom[(2 * j + 1) * batch:(2 * j + 2) * batch]
                o = dst[j * batch:(j + 1) * batch]
                w = where[j * batch:(j + 1) * batch]
                xm = kept[j * batch:(j + 1) * batch]
                for n in range(batch):
                    v = r0[n]
                    best = v * a + b
                    xb = v
                    k = 0
                    v = r1[n]
                    y = v * a + b
                    if y > best:
                        best = y
                        xb = v
                        k = 1
                    v = r2[n]
                    y = v * a + b
                    if y > best:
                        best = y
                        xb = v
                        k = 2
                    v = r3[n]
                    y = v * a + b
                    if y > best:
                        best = y
                        xb = v
                        k = 3
                    positive = best > 0
                    o[n] = best if positive else zero
                    w[n] = k if positive else 255
                    xm[n] = xb


@njit(inline="always")
def _pooled_sums(g, arg, xmax, c, mu, zero):
    """(S1, S2) = (sum dy, sum dy (x - mu)) of channel c, float64, for dy the pooled
    gradient g routed to the windows' maxima (none where arg is 255), whose x the forward
    pass kept in xmax: dy is nonzero at the maxima only, so the pooled arrays suffice."""
    s1 = 0.0
    s2 = 0.0
    for i in range(g.shape[1]):
        gr = g[c, i]
        where = arg[c, i]
        kept = xmax[c, i]
        for p in range(gr.shape[0]):  # (a select: 5x faster than a product with the test)
            gv = gr[p] if where[p] != 255 else zero
            s1 += gv
            s2 += gv * (kept[p] - mu)
    return s1, s2


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def bn_pool_sums(g, arg, xmax, mean, sums):
    """sums[c] = (S1, S2) of :func:`_pooled_sums` for every channel c of g, arg, xmax
    (C, PH, PW N) (the backward pass of batch norm -> ReLU -> 2 x 2 max pool before its
    input gradient: :func:`lamina.kernels.numba_winograd.winograd_output_grad_bn_pooled`
    forms that as it goes)."""
    zero = g.dtype.type(0)
    for c in range(g.shape[0]):
        sums[c, 0], sums[c, 1] = _pooled_sums(g, arg, xmax, c, mean[c], zero)


def _bn_relu_pool_backward(g, arg, xmax, x, height, width, batch, mean, scale, invstd, coef,
                           dx, sums):
    """The backward pass of :func:`_bn_relu_pool_forward` per channel c: dy = g routed to
    each window's recorded maximum (none where arg is 255), S1 = sum dy, S2 = sum dy (x -
    mean) (float64; summed over the pooled arrays, dy being nonzero only at the maxima,
    whose x the forward pass kept in xmax), and dx = s dy + b x + k with b = -s invstd^2
    S2 / m, k = -s S1 / m - b mean (every position of x, those outside the windows too);
    sums[c] = (S1, S2).
    g, arg, xmax (C, height // 2, (width // 2) * N); x as in the forward pass; dx (C, height,
    width * N) C-contiguous; mean, scale (s), invstd (C,) float64; coef (C, 3) in x's dtype,
    work space. (Each loop reads and writes few arrays: with more, Numba's loops are not
    vectorised.)"""
    channels = x.shape[0]
    out_h, out_w = g.shape[1], g.shape[2] // batch
    run = width * batch
    m = height * run
    for c in range(channels):
        mu = mean[c]
        zero = x.dtype.type(0)
        s1, s2 = _pooled_sums(g, arg, xmax, c, mu, zero)
        sums[c, 0] = s1
        sums[c, 1] = s2
        s = scale[c]
        bc = -s * invstd[c] * invstd[c] * s2 / m
        coef[c, 0] = s
        coef[c, 1] = bc
        coef[c, 2] = -s * s1 / m - bc * mu
        a = coef[c, 0]
        b = coef[c, 1]
        k0 = coef[c, 2]
        covered = 2 * out_w * batch
        for i in range(out_h):
            gr = g[c, i]
            where = arg[c, i]
            for q in range(4):
                src = x[c, 2 * i + q // 2]
                dst = dx[c, 2 * i + q // 2]
                shift = (q % 2) * batch
                for j in range(out_w):
                    r = src[2 * j * batch + shift:(2 * j + 1) * batch + shift]
                    d = dst[2 * j * batch + shift:(2 * j + 1) * batch + shift]
                    gj = gr[j * batch:(j + 1) * batch]
                    wj = where[j * batch:(j + 1) * batch]
                    for n in range(batch):
                        d[n] = r[n] * b + k0 + (gj[n] * a if wj[n] == q else zero)
        for i in range(height):  # the last column and row when width or height is odd
            src = x[c, i]
            dst = dx[c, i]
            for p in range(covered if i < 2 * out_h else 0, run):
                dst[p] = src[p] * b + k0


bn_relu_pool_forward = njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})(
    _bn_relu_pool_forward)
bn_relu_pool_backward = njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})(
    _bn_relu_pool_backward)


# ------------------- convolution -> batch norm -> ReLU -> 2 x 2 max pool, a first layer
# (:func:`lamina.ops.norm.conv2d_batch_norm_relu_max_pool2d`): the convolution's output is
# made two channels at a time in a small work array and pooled there (never written whole);
# the backward pass reads pooled-size arrays and the input only.


@njit(cache=True, nogil=True)
def conv_bn_relu_pool_forward(xp, w2d, kh, kw, conv_bias, weight, bias, eps, mean, var, coef,
                              z, out, arg, xmax):
    """For each output channel c of the stride-1 convolution of xp (C_in, Hp, Wp, N)
    C-contiguous by w2d (C_out, C_in kh kw) plus conv_bias (C_out,; empty: none): its
    output rows (H' = Hp - kh + 1, W' = Wp - kw + 1) into z (2, H', W' N) (channels two at
    a time, as :func:`lamina.kernels.numba_conv.small_conv_forward` computes them), then
    :func:`bn_relu_pool_forward` on them: mean, var, coef, out, arg, xmax of channel c."""
    c_in, hp, wp, n = xp.shape
    c_out = w2d.shape[0]
    oh, ow = hp - kh + 1, wp - kw + 1
    flat = xp.reshape(c_in, -1)
    biased = conv_bias.shape[0] > 0
    zero = np.zeros(1, z.dtype)[0]  # the rows start from 0 (the bias is added below)
    for o in range(0, c_out, 2):
        for y in range(oh):
            _conv_row_pair(flat, w2d, kh, kw, 1, wp, n, y, o, z[0, y], z[1, y], zero, zero)
        for q in range(min(2, c_out - o)):
            c = o + q
            if biased:
                b = conv_bias[c]
                rows = z[q]
                for y in range(oh):
                    row = rows[y]
                    for p in range(ow * n):
                        row[p] += b
            bn_relu_pool_forward(z[q:q + 1], oh, ow, n, weight[c:c + 1], bias[c:c + 1], eps,
                                 mean[c:c + 1], var[c:c + 1], coef[c:c + 1], out[c:c + 1],
                                 arg[c:c + 1], xmax[c:c + 1])


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def conv_bn_relu_pool_backward(xp, g, arg, xmax, kh, kw, mean, sums, routed, dy):
    """The sums of the backward pass of :func:`conv_bn_relu_pool_forward` per channel c,
    dy = g routed to each window's recorded maximum (none where arg is 255): sums[c] = (S1,
    S2) = (sum dy, sum dy (z - mean[c])) and routed[c, t] = sum dy u_t, u_t the input that
    weight t (of C_in kh kw) meets at each output position (float64). g, arg, xmax
    (C_out, PH, PW N); dy (3, 2 PW N) in g's dtype: work space for one output row of dy of
    three channels at a time, whose dot products with the input runs (three channels by
    three weights a pass, as :func:`lamina.kernels.numba_conv.small_conv_weight_grad`) are
    summed in g's dtype, then added up in float64."""
    c_in, hp, wp, n = xp.shape
    channels, ph, prun = g.shape
    pw = prun // n
    taps = kh * kw
    k_n = c_in * taps
    row = wp * n
    flat = xp.reshape(-1)
    zero = dy.dtype.type(0)
    for c in range(channels):
        sums[c, 0], sums[c, 1] = _pooled_sums(g, arg, xmax, c, mean[c], zero)
        for t in range(k_n):
            routed[c, t] = 0.0
    span = 2 * prun  # the output columns the windows cover (an odd last one has dy 0)
    for o in range(0, channels, 3):
        chans = (o, min(o + 1, channels - 1), min(o + 2, channels - 1))
        for i in range(ph):
            for a in range(2):
                for q in range(3):  # the output row 2 i + a of dy, three channels
                    gr = g[chans[q], i]
                    where = arg[chans[q], i]
                    for j in range(pw):
                        gj = gr[j * n:(j + 1) * n]
                        wj = where[j * n:(j + 1) * n]
                        for b in range(2):
                            d = dy[q, (2 * j + b) * n:(2 * j + b + 1) * n]
                            at = 2 * a + b
                            for s in range(n):  # (a select: a product with the test's 0/1
                                d[s] = gj[s] if wj[s] == at else zero  # is 5x slower)
                for t in range(0, k_n, 3):
                    t1, t2 = min(t + 1, k_n - 1), min(t + 2, k_n - 1)
                    y = 2 * i + a
                    sums9 = _dot_3x3(dy[0, :span], dy[1, :span], dy[2, :span],
                                     flat[_tap(t, taps, kw, hp, row, n, y):][:span],
                                     flat[_tap(t1, taps, kw, hp, row, n, y):][:span],
                                     flat[_tap(t2, taps, kw, hp, row, n, y):][:span], zero)
                    for q in range(3):
                        if q == 0 or chans[q] > chans[q - 1]:
                            routed[chans[q], t] += sums9[3 * q]
                            if t1 > t:
                                routed[chans[q], t1] += sums9[3 * q + 1]
                            if t2 > t1:
                                routed[chans[q], t2] += sums9[3 * q + 2]


@njit(inline="always")
def _dot_3x3(d0, d1, d2, x0, x1, x2, zero):
    """The nine dot products of rows d0, d1, d2 with rows x0, x1, x2, in one pass."""
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = zero
    for p in range(d0.shape[0]):
        v0, v1, v2 = x0[p], x1[p], x2[p]
        a00 += d0[p] * v0
        a01 += d0[p] * v1
        a02 += d0[p] * v2
        a10 += d1[p] * v0
        a11 += d1[p] * v1
        a12 += d1[p] * v2
        a20 += d2[p] * v0
        a21 += d2[p] * v1
        a22 += d2[p] * v2
    return a00, a01, a02, a10, a11, a12, a20, a21, a22


@njit(inline="always")
def _tap(t, taps, kw, hp, row, n, y):
    """Where in the flat padded input (C_in, Hp, Wp N) the run of weight t (of C_in kh kw)
    for output row y starts."""
    return ((t // taps) * hp + y + (t % taps) // kw) * row + (t % kw) * n


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def conv_input_gram(xp, kh, kw, gram, total):
    """gram[t, t'] = sum u_t u_t' and total[t] = sum u_t over the output positions of a
    stride-1 convolution of xp (C_in, Hp, Wp, N) C-contiguous, u_t the input that weight t
    (of C_in kh kw) meets there (float64 sums): with them the sums of z u_t, z = W u + b,
    are W gram + b total, without z."""
    c_in, hp, wp, n = xp.shape
    oh, ow = hp - kh + 1, wp - kw + 1
    taps = kh * kw
    k_n = c_in * taps
    run = ow * n
    row = wp * n
    flat = xp.reshape(-1)
    zero = xp.dtype.type(0)  # (each run summed in x's dtype, as the products; then float64)
    for t in range(k_n):
        total[t] = 0.0
        for u in range(k_n):
            gram[t, u] = 0.0
    for y in range(oh):
        for t in range(k_n):
            a0 = ((t // taps) * hp + y + (t % taps) // kw) * row + (t % kw) * n
            a = flat[a0:a0 + run]
            s = zero
            for p in range(run):
                s += a[p]
            total[t] += s
            for u in range(t, k_n):
                b0 = ((u // taps) * hp + y + (u % taps) // kw) * row + (u % kw) * n
                b = flat[b0:b0 + run]
                s = zero
                for p in range(run):
                    s += a[p] * b[p]
                gram[t, u] += s
    for t in range(k_n):
        for u in range(t):
            gram[t, u] = gram[u, t]
