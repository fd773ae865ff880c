"""The array plumbing of the convolution and pooling ops (:mod:`lamina.ops.conv`): layout
changes, padding, im2col and its adjoint col2im, window max and its scatter. No ops here.

Layout: the ops take and return (N, C, H, W) arrays but compute in a channel-major
(C, H, W, N) layout, the batch innermost. im2col is one strided view of the padded input, of
shape (C_in, kh, kw, H_out, W_out, N), copied into a (C_in*kh*kw, H_out*W_out*N) matrix, so
that one GEMM ``W.reshape(C_out, -1) @ col`` yields the output already as
(C_out, H_out, W_out, N). The NCHW result is a transposed *view* of it; elementwise ops keep
that memory layout, so the next conv or pool finds its input channel-major with no copy.
With the batch innermost, a window row (W_out, N) is one contiguous run of W_out*N numbers for
stride 1, which makes the im2col copy and col2im 3-6x faster than in a (C, N, H, W) layout.

A large batch would make the im2col matrix larger than the caches (10 MB for LeNet-5's first
layer at batch 128): it is then built in blocks of output rows, each block used by its GEMM
while it is still in cache, and rebuilt in the backward pass instead of being kept. Results
agree with the whole matrix's up to rounding (BLAS may order a block's sums differently).

Where :func:`lamina.kernels.numba_kernels` offers compiled kernels (``lamina[fast]``), the
window max, its scatter and col2im use them; they add in the same order as the NumPy code
here, so both give the same bits.
"""

from __future__ import annotations

import numpy as np

from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import scratch

TO_INTERNAL = (1, 2, 3, 0)  # (N, C, H, W) -> (C, H, W, N)
TO_NCHW = (3, 0, 1, 2)  # (C, H, W, N) -> (N, C, H, W)

# (the sizes that choose between paths here, FULL_COL_BYTES, BLOCK_BYTES, WIDE_RUN and
# PAD_FILL_BELOW, are in lamina.kernels.thresholds)


def internal(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """(N, C, H, W) -> padded, C-contiguous (C, Hp, Wp, N); free when x is already a view of
    such an array (the output of another op here) and there is no padding."""
    xt = x.transpose(TO_INTERNAL)
    return pad(xt, padding, value) if padding != (0, 0) else np.ascontiguousarray(xt)


def pad(xt: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of a (C, H, W, N) array by ``padding`` on each side."""
    ph, pw = padding
    c, h, w, n = xt.shape
    shape = (c, h + 2 * ph, w + 2 * pw, n)
    if xt.size < T.PAD_FILL_BELOW:  # small: fewer calls; large: write each element once
        # (np.zeros: memory the allocator hands out zeroed, faster than filling it)
        out = np.zeros(shape, xt.dtype) if value == 0 else np.full(shape, value, xt.dtype)
        out[:, ph:ph + h, pw:pw + w] = xt
        return out
    out = np.empty(shape, dtype=xt.dtype)
    if ph:
        out[:, :ph] = value
        out[:, ph + h:] = value
    if pw:
        out[:, ph:ph + h, :pw] = value
        out[:, ph:ph + h, pw + w:] = value
    out[:, ph:ph + h, pw:pw + w] = xt
    return out


def to_nchw(xp: np.ndarray, padding: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """Padded (C, Hp, Wp, N) -> the (N, C, H, W) view of its interior."""
    (ph, pw), (h, w) = padding, hw
    if ph == 0 and pw == 0:
        return xp.transpose(TO_NCHW)
    return xp[:, ph:ph + h, pw:pw + w].transpose(TO_NCHW)


def window(xp: np.ndarray, i: int, j: int, out_hw: tuple[int, int],
           stride: tuple[int, int], row0: int = 0) -> np.ndarray:
    """The (C, rows, W_out, N) view of the elements at kernel offset (i, j) of the windows of
    output rows ``row0 .. row0 + rows - 1`` (``out_hw = (rows, W_out)``)."""
    (oh, ow), (sh, sw) = out_hw, stride
    top = row0 * sh + i
    return xp[:, top:top + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


# --------------------------------------------------------------------- im2col and col2im
def row_blocks(rows: int, row_bytes: int) -> list[tuple[int, int]]:
    """Split output rows 0..rows-1 into blocks whose im2col matrix is about BLOCK_BYTES;
    one block when the whole matrix is at most FULL_COL_BYTES (both thresholds)."""
    if rows * row_bytes <= T.FULL_COL_BYTES:
        return [(0, rows)]
    step = max(1, T.BLOCK_BYTES // row_bytes)
    return [(r, min(rows, r + step)) for r in range(0, rows, step)]


def im2col(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], ow: int,
           rows: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """C-contiguous (C, Hp, Wp, N) -> (C*kh*kw, R*W_out*N) for the output rows ``rows = (r0, r1)``,
    R = r1 - r0: row (c, i, j) holds input channel c at kernel offset (i, j) of every window
    (one strided view, one copy, into ``out``'s memory when given)."""
    c, n = xp.shape[0], xp.shape[3]
    (kh, kw), (sh, sw), (r0, r1) = kernel, stride, rows
    s_c, s_h, s_w, s_n = xp.strides
    shape = (c, kh, kw, r1 - r0, ow, n)
    # np.ndarray on xp's buffer: the same view as as_strided, 7x less overhead (batch 1)
    view = np.ndarray(shape, xp.dtype, xp, r0 * sh * s_h,
                      (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n))
    if out is None:  # a reused array (ops/scratch.py): no fresh pages to fault in each step
        out = scratch.empty((view.size,), xp.dtype)
    block = out[:view.size].reshape(shape)
    np.copyto(block, view)
    return block.reshape(c * kh * kw, -1)


def wide_im2col(xp: np.ndarray, kernel: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """The im2col matrix of a stride-1 window over whole padded rows, for small batches.

    With stride 1 and the batch innermost, the inputs of kernel offset (i, j) for all windows
    are one contiguous run of the flattened channel, starting at element (i, j, 0) and
    L = ((H_out - 1) * Wp + W_out) * N long: column (y*Wp + x)*N + n holds window (y, x) of
    image n for x < W_out, and windows that wrap past the row's end (x >= W_out) for the
    rest. So the matrix is C*kh*kw long copies instead of C*kh*kw*H_out short ones, at the
    price of Wp/W_out times more GEMM columns, whose results the caller drops (a win when
    W_out*N is small: batch-1 inference). The last run ends exactly at the channel's end.

    Returns (C*kh*kw, L) for a C-contiguous (C, Hp, Wp, N) ``xp``.
    """
    shape, strides = wide_view(xp.shape, xp.itemsize, kernel, out_hw)
    view = np.ndarray(shape, xp.dtype, xp, 0, strides)
    return np.ascontiguousarray(view).reshape(-1, shape[3])


def wide_view(shape: tuple[int, ...], itemsize: int, kernel: tuple[int, int],
              out_hw: tuple[int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(shape, strides) of the view (C, kh, kw, L) whose copy is :func:`wide_im2col`'s matrix,
    over a C-contiguous array of ``shape`` (C, Hp, Wp, N) and ``itemsize`` bytes a number."""
    c, hp, wp, n = shape
    (kh, kw), (oh, ow) = kernel, out_hw
    s_h = wp * n * itemsize
    return (c, kh, kw, ((oh - 1) * wp + ow) * n), (hp * s_h, s_h, n * itemsize, itemsize)


def col2im(cols: np.ndarray, row0: int, stride: tuple[int, int], out: np.ndarray) -> None:
    """Add ``cols`` (C, kh, kw, R, W_out, N), the gradient of the im2col block of output rows
    ``row0 .. row0 + R - 1``, into the padded image gradient ``out`` (C, Hp, Wp, N): each
    kernel offset's slice goes back where it was read, offsets in order."""
    compiled = registry.select("col2im", cols, out)
    if compiled is not None:
        compiled(cols, row0, stride[0], stride[1], out)
        return
    _, kh, kw, rows, ow, _ = cols.shape
    for i in range(kh):
        for j in range(kw):
            window(out, i, j, (rows, ow), stride, row0)[...] += cols[:, i, j]


# --------------------------------------------------------------------- window max
def max_windows(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """The maximum of every window of a (C, Hp, Wp, N) array, and (compiled kernels only) the
    offset of its first maximum; the NumPy path leaves the offsets to :func:`first_max`,
    which runs in the backward pass, so that inference never pays for them.

    NaN wins (as ``np.maximum``); ties go to the first maximum in row-major order (PyTorch's
    rule).
    """
    (kh, kw), (sh, sw) = kernel, stride
    compiled = registry.select("max_pool_forward", xp, kernel)
    if compiled is not None:
        shape = (xp.shape[0], *out_hw, xp.shape[3])
        best, index = scratch.empty(shape, xp.dtype), scratch.empty(shape, np.uint8)
        compiled(xp, kh, kw, sh, sw, best, index)
        return best, index
    # separably: the max over each window's rows, then over its columns (kh + kw - 2
    # ufunc calls instead of kh * kw; max is exact, so the same values)
    oh, ow = out_hw
    rows = xp[:, 0:sh * (oh - 1) + 1:sh]
    if kh > 1:
        rows = np.maximum(rows, xp[:, 1:1 + sh * (oh - 1) + 1:sh])
        for i in range(2, kh):
            np.maximum(rows, xp[:, i:i + sh * (oh - 1) + 1:sh], out=rows)
    best = rows[:, :, 0:sw * (ow - 1) + 1:sw]
    if kw == 1:
        return best.copy(), None
    best = np.maximum(best, rows[:, :, 1:1 + sw * (ow - 1) + 1:sw])
    for j in range(2, kw):
        np.maximum(best, rows[:, :, j:j + sw * (ow - 1) + 1:sw], out=best)
    return best, None


def max_windows_bias_relu(xp: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                          out_hw: tuple[int, int], bias: np.ndarray | None):
    """relu(window max + bias) per channel, as ``(out, index, best)``: the offsets of the
    first maxima (compiled kernels, else None) or the maxima themselves (NumPy path, for
    :func:`first_max` in the backward pass, else None)."""
    (kh, kw), (sh, sw) = kernel, stride
    compiled = registry.select("max_pool_bias_relu", xp, kernel, bias)
    if compiled is not None:
        shape = (xp.shape[0], *out_hw, xp.shape[3])
        out, index = np.empty(shape, xp.dtype), np.empty(shape, np.uint8)
        none = np.empty(0, xp.dtype)
        compiled(xp, kh, kw, sh, sw, none if bias is None else bias, out, index)
        return out, index, None
    best, _ = max_windows(xp, kernel, stride, out_hw)
    out = best.copy() if bias is None else best + bias[:, None, None, None]
    np.maximum(out, 0, out=out)
    return out, None, best


def first_max(xp: np.ndarray, best: np.ndarray, kernel: tuple[int, int],
              stride: tuple[int, int]) -> np.ndarray:
    """Offset i*kw + j of the first element of each window equal to its max ``best``
    (kh*kw - 1 where the max is NaN), as the smallest unsigned integer type that holds it."""
    (kh, kw), out_hw = kernel, best.shape[1:3]
    views = [window(xp, i, j, out_hw, stride) for i in range(kh) for j in range(kw)]
    # offset = number of leading offsets that are not the maximum
    index = np.zeros(best.shape, np.min_scalar_type(len(views) - 1))
    not_found = np.ones(best.shape, bool)
    differs = np.empty(best.shape, bool)
    for v in views[:-1]:
        np.not_equal(v, best, out=differs)
        not_found &= differs
        index += not_found
    return index


def max_scatter(grad: np.ndarray, index: np.ndarray, shape: tuple[int, ...],
                kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Route ``grad`` (C, H_out, W_out, N) to the window maxima given by ``index``, in a new
    (C, Hp, Wp, N) array ``shape``: the adjoint of taking the window max."""
    (kh, kw), out_hw = kernel, grad.shape[1:3]
    compiled = registry.select("max_pool_backward", grad, index)
    if compiled is not None:
        out = scratch.empty(shape, grad.dtype)
        compiled(np.ascontiguousarray(grad), np.ascontiguousarray(index), kh, kw, stride[0],
                 stride[1], out)
        return out
    return scatter(lambda k: (index == k) * grad, shape, grad.dtype, kernel, out_hw, stride)


def relu_max_scatter(grad: np.ndarray, out: np.ndarray, index: np.ndarray,
                     shape: tuple[int, ...], kernel: tuple[int, int],
                     stride: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The backward pass of relu(window max + bias) for the gradient ``grad`` of its output
    ``out`` (both (C, H_out, W_out, N)): ``(g, dz)`` with g = grad * (out > 0), the gradient
    of the bias and of the maxima, and dz, g routed to the window maxima by ``index`` in a
    new (C, Hp, Wp, N) array ``shape``. One compiled call with ``lamina[fast]``."""
    compiled = registry.select("relu_max_pool_backward", grad, out, index)
    if compiled is not None:
        g, dz = scratch.empty_like(out), scratch.empty(shape, out.dtype)
        compiled(grad, out, index, kernel[0], kernel[1], stride[0], stride[1], g, dz)
        return g, dz
    g = np.multiply(grad, out > 0, out=np.empty_like(out))
    return g, max_scatter(g, index, shape, kernel, stride)


def scatter(pieces, shape: tuple[int, ...], dtype, kernel: tuple[int, int],
            out_hw: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Sum the per-offset gradients ``pieces(k)`` (each (C, H_out, W_out, N)) back into a
    new padded (C, Hp, Wp, N) array, offsets in order: the adjoint of reading the windows.

    Non-overlapping windows (stride >= kernel) are assigned rather than added, and when they
    tile the padded input exactly the zero fill is skipped too.
    """
    (kh, kw), (oh, ow), (sh, sw) = kernel, out_hw, stride
    disjoint = sh >= kh and sw >= kw
    exact = (sh, sw) == (kh, kw) and oh * sh == shape[1] and ow * sw == shape[2]
    out = np.empty(shape, dtype) if exact else np.zeros(shape, dtype)
    for k in range(kh * kw):
        target = window(out, k // kw, k % kw, out_hw, stride)
        if disjoint:
            target[...] = pieces(k)
        else:
            target += pieces(k)
    return out
