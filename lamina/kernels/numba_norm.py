"""Numba kernels of batch normalisation (:func:`lamina.ops.norm.batch_norm`) over a
(N, C, L) view of the input (L = the product of the spatial sizes; no transposing copy).

NumPy needs a pass per formula (mean, centring, squares, their mean, scale, shift; in the
backward two reductions and four broadcasting passes), each over the whole activation and
most allocating one. Here the statistics are one reduction pass each, the output and the
input gradient one pass each, with per-channel sums accumulated in float64 (the reference
sums in the input's dtype, pairwise): equal to the NumPy path up to rounding.
"""

from __future__ import annotations

from numba import njit


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

