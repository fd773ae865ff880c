"""Convolution and pooling ops (notes chapter 6), NCHW in and out, vectorised.

Each op computes in a channel-major (C, H, W, N) layout, batch innermost: im2col is one
strided copy and the convolution one GEMM whose result is already the output, and an op's
NCHW output is a transposed view that the next op reads with no copy (see
:mod:`lamina.ops.im2col`). Loops run only over kernel offsets or blocks of rows, never over
the batch, channels or pixels. The optional compiled kernels (``lamina[fast]``) replace the
window max, its scatter and col2im, with the same results, and where BLAS is slowest they
replace products too (up to rounding): convolutions with few weights run without an im2col
matrix (SMALL_CONV_WEIGHTS), and inference on one or two images convolves directly
(:func:`conv2d_relu_max_pool2d_infer`). Each kernel is picked through
:func:`lamina.kernels.registry.select`, by its eligibility check; the sizes that choose
between paths are in :mod:`lamina.kernels.thresholds`. Small batches with stride 1 build
their im2col matrix from whole padded rows (:func:`lamina.ops.im2col.wide_im2col`). float32
stays float32.

``conv2d_relu_max_pool2d`` fuses the common block conv -> ReLU -> max-pool: max-pooling
commutes with adding a per-channel bias and with ReLU (both are non-decreasing), so

    max_pool(relu(conv(x) + b)) == relu(max_pool(conv(x)) + b),

which adds the bias and applies ReLU to a quarter of the numbers (2x2 pool), and its backward
pass never forms the full-size ReLU mask.
"""

from __future__ import annotations

import numpy as np

from lamina import kernels
from lamina.convsize import check_window, spatial_output_shape
from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import im2col as L
from lamina.ops import register, relu_zeros, scratch, winograd
from lamina.ops.activation import relu_folded

# ------------------------------------------------------------------ checks and messages


def _fmt_pair(pair) -> str:
    return f"({pair[0]}, {pair[1]})"


def _conv_name(weight: np.ndarray, stride, padding) -> str:
    """How the equivalent Conv2d layer is written, defaults omitted."""
    text = f"Conv2d({weight.shape[1]}, {weight.shape[0]}, kernel_size={_fmt_pair(weight.shape[2:])}"
    if tuple(stride) != (1, 1):
        text += f", stride={_fmt_pair(stride)}"
    if tuple(padding) != (0, 0):
        text += f", padding={_fmt_pair(padding)}"
    return text + ")"


def _pool_name(kind: str, kernel_size, stride, padding) -> str:
    text = f"{kind}(kernel_size={_fmt_pair(kernel_size)}, stride={_fmt_pair(stride)}"
    if tuple(padding) != (0, 0):
        text += f", padding={_fmt_pair(padding)}"
    return text + ")"


def _check_float(where: str, x: np.ndarray) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: input must be floating point, got dtype {x.dtype}; convert "
                        f"it first, e.g. x.float() or images / 255.0")


def _fits(shape, kernel, stride, padding) -> tuple[int, int] | None:
    """(H_out, W_out) when a 4-D ``shape`` fits the window with valid settings, else None
    (the caller then runs the full checks, which raise with the layer's message)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if len(shape) != 4 or min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        return None
    oh = (shape[2] + 2 * ph - kh) // sh + 1
    ow = (shape[3] + 2 * pw - kw) // sw + 1
    return (oh, ow) if oh >= 1 and ow >= 1 else None


def _conv_geometry(x, weight, bias, stride, padding) -> tuple[int, int]:
    """(H_out, W_out) of conv2d; raise with the layer's message when something is off."""
    if weight.ndim == 4:
        c_out, c_in = weight.shape[:2]
        out_hw = _fits(x.shape, weight.shape[2:], stride, padding)
        if (out_hw is not None and x.shape[1] == c_in and x.dtype.kind == "f"
                and (bias is None or bias.shape == (c_out,))):
            return out_hw
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must have shape (C_out, C_in, kh, kw), got shape "
                         f"{weight.shape}")
    c_out, c_in, kh, kw = weight.shape
    where = _conv_name(weight, stride, padding)
    check_window(where, (kh, kw), stride, padding)
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"{where}: bias must have shape ({c_out},), got {bias.shape}")
    if x.ndim == 4 and x.shape[1] != c_in:
        raise ValueError(f"Conv2d(in_channels={c_in}): input has {x.shape[1]} "
                         f"channel{'s' if x.shape[1] != 1 else ''} (shape {x.shape})")
    out_hw = spatial_output_shape(where, x.shape, (kh, kw), stride, padding)
    _check_float(where, x)
    return out_hw


def _pool_geometry(kind: str, shape, dtype, kernel, stride, padding) -> tuple[int, int]:
    """(H_out, W_out) of a pool over an input of ``shape``; raise with the layer's message."""
    out_hw = _fits(shape, kernel, stride, padding)
    if (out_hw is not None and dtype.kind == "f" and 2 * padding[0] <= kernel[0]
            and 2 * padding[1] <= kernel[1]):
        return out_hw
    where = _pool_name(kind, kernel, stride, padding)
    check_window(where, kernel, stride, padding)
    if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"{where}: padding must be at most half of kernel_size, got padding "
                         f"{tuple(padding)} for kernel_size {tuple(kernel)}")
    out_hw = spatial_output_shape(where, shape, kernel, stride, padding)
    if dtype.kind != "f":
        raise TypeError(f"{where}: input must be floating point, got dtype {dtype}; convert "
                        f"it first, e.g. x.float() or images / 255.0")
    return out_hw


# ------------------------------------------------------------------ shared conv passes


def _conv_forward(xp, w2d, kernel, stride, out_hw, bias=None):
    """z = W @ im2col(xp) (+ bias[:, None, None, None] when ``bias`` is given) as (C_out,
    H_out, W_out, N), and the im2col matrix when it was built whole (small enough to keep
    for the backward pass), else None. The compiled direct kernel adds the bias as it
    convolves (no pass of its own)."""
    oh, ow = out_hw
    c_out, n = w2d.shape[0], xp.shape[3]
    dtype = np.result_type(w2d, xp)
    small = registry.select("small_conv_forward", w2d, xp, stride)
    if small is not None:
        z = scratch.empty((c_out, oh, ow, n), dtype)  # reused: no fresh pages each step
        if bias is None or bias.dtype == dtype:
            small(xp, w2d, kernel[0], kernel[1], stride[0], z, bias)
            return z, None
        small(xp, w2d, kernel[0], kernel[1], stride[0], z)
        z += bias[:, None, None, None]
        return z, None
    z, col = _conv_gemm(xp, w2d, kernel, stride, out_hw, dtype)
    if bias is not None:
        z += bias[:, None, None, None]
    return z, col


def _conv_gemm(xp, w2d, kernel, stride, out_hw, dtype):
    """:func:`_conv_forward` without the bias, by im2col and BLAS."""
    oh, ow = out_hw
    c_out, n = w2d.shape[0], xp.shape[3]
    if stride == (1, 1) and ow * n < T.WIDE_RUN:
        wp = xp.shape[2]
        col = L.wide_im2col(xp, kernel, out_hw)
        z = np.empty((c_out, oh * wp * n), dtype)
        np.matmul(w2d, col, out=z[:, :col.shape[1]])
        return z.reshape(c_out, oh, wp, n)[:, :, :ow], None
    blocks = L.row_blocks(oh, w2d.shape[1] * ow * n * xp.dtype.itemsize)
    if len(blocks) == 1:
        col = L.im2col(xp, kernel, stride, ow, (0, oh))
        return (w2d @ col).reshape(c_out, oh, ow, n), col
    z = np.empty((c_out, oh * ow * n), dtype)
    buffer = np.empty(w2d.shape[1] * (blocks[0][1] - blocks[0][0]) * ow * n, xp.dtype)
    for r0, r1 in blocks:
        col = L.im2col(xp, kernel, stride, ow, (r0, r1), buffer)
        np.matmul(w2d, col, out=z[:, r0 * ow * n:r1 * ow * n])
    return z.reshape(c_out, oh, ow, n), None


def _conv_backward(g2d, xp, col, w2d, kernel, stride, out_hw, need_x: bool, need_w: bool):
    """Gradients of z = W @ im2col(xp) for g2d = dL/dz (C_out, H_out*W_out*N):
    dL/dW = g2d @ col^T and dL/dxp = col2im(W^T @ g2d), block by block when ``col`` was not
    kept. Returns (grad_xp or None, grad_w2d or None)."""
    (kh, kw), (oh, ow) = kernel, out_hw
    c_in, n = xp.shape[0], xp.shape[3]
    if col is not None:
        blocks = [(0, oh)]
    else:
        blocks = L.row_blocks(oh, w2d.shape[1] * ow * n * xp.dtype.itemsize)
    grad_xp = np.zeros(xp.shape, g2d.dtype) if need_x else None
    grad_w = None
    small = (registry.select("small_conv_weight_grad", w2d, xp, stride, g2d)
             if need_w and col is None else None)
    if small is not None:
        grad_w = np.empty(w2d.shape, g2d.dtype)
        g4d = np.ascontiguousarray(g2d).reshape(w2d.shape[0], oh, ow, n)
        small(xp, g4d, kh, kw, stride[0], grad_w)
        need_w = False
    buffer = None
    if col is None and need_w:
        buffer = np.empty(w2d.shape[1] * (blocks[0][1] - blocks[0][0]) * ow * n, xp.dtype)
    w2d_t = w2d.T
    for r0, r1 in blocks:
        g = g2d if len(blocks) == 1 else g2d[:, r0 * ow * n:r1 * ow * n]
        if need_w:
            block_col = col if col is not None else L.im2col(xp, kernel, stride, ow, (r0, r1),
                                                              buffer)
            product = _weight_product(g, block_col)
            grad_w = product if grad_w is None else np.add(grad_w, product, out=grad_w)
        if need_x:  # W^T g a few output rows at a time, into one buffer: the transient stays small
            piece = T.GRAD_COLS_BYTES if kernels.numba_available() else T.GRAD_COLS_BYTES_NUMPY
            step = max(1, piece // (w2d.shape[1] * ow * n * g2d.dtype.itemsize))
            rows_out = np.empty(w2d.shape[1] * min(step, r1 - r0) * ow * n,
                                np.result_type(w2d_t, g))
            for a in range(r0, r1, step):
                b = min(r1, a + step)
                part = g if b - a == r1 - r0 else g[:, (a - r0) * ow * n:(b - r0) * ow * n]
                cols = rows_out[:w2d.shape[1] * (b - a) * ow * n].reshape(w2d.shape[1], -1)
                np.matmul(w2d_t, part, out=cols)
                L.col2im(cols.reshape(c_in, kh, kw, b - a, ow, n), a, stride, grad_xp)
    return grad_xp, grad_w


def _weight_product(g, col):
    """g @ col^T (C_out x K): by the compiled kernel ``weight_grad`` where it is eligible
    (a result of at most SMALL_WEIGHT_GRAD entries, where BLAS is slowest); otherwise by
    BLAS: as (col @ g^T)^T when col has at least TALL_COL times more rows than g, else as
    g @ col^T summed over pieces of WEIGHT_CHUNK columns (the measurements are with the
    thresholds, :mod:`lamina.kernels.thresholds`)."""
    compiled = registry.select("weight_grad", g, col)
    if compiled is not None:
        out = np.empty((g.shape[0], col.shape[0]), g.dtype)
        # contiguous rows (a block of g is a strided view): the kernel's loops vectorise
        compiled(np.ascontiguousarray(g), np.ascontiguousarray(col), out)
        return out
    if col.shape[0] >= T.TALL_COL * g.shape[0]:
        return (col @ g.T).T
    chunk = T.WEIGHT_CHUNK
    out = g[:, :chunk] @ col[:, :chunk].T
    for start in range(chunk, g.shape[1], chunk):
        out += g[:, start:start + chunk] @ col[:, start:start + chunk].T
    return out


# ------------------------------------------------------------------ ops


@register
def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
    """2-D cross-correlation, the "convolution" of deep learning (eq 6.4 with the kernel not
    flipped), as one GEMM on the im2col matrix:

        out[n, o, y, x] = b[o] + sum_{c, i, j} W[o, c, i, j] * xpad[n, c, y*sh + i, x*sw + j]

    Shape:
        x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) ->
        (N, C_out, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1 (eq 6.5-6.6).

    Gradients (g = grad as (C_out, H_out*W_out*N), col the im2col matrix):
        grad_w = g @ col^T, grad_b = sum of g over its columns,
        grad_x = col2im(W^T g): each kernel offset's slice added back where it was read.

    Raises:
        ValueError: x is not 4-D, its channels differ from weight's C_in, or the kernel does
            not fit the padded input.
        TypeError: x is not floating point.
    """
    stride, padding = tuple(stride), tuple(padding)
    out_hw = _conv_geometry(x, weight, bias, stride, padding)
    if winograd.eligible(x, weight, stride, out_hw):  # 3 x 3, stride 1, many channels: F(4x4, 3x3)
        return winograd.conv2d(x, weight, bias, padding, out_hw)
    c_out, c_in, kh, kw = weight.shape
    hw = x.shape[2:]
    xp = L.internal(x, padding)
    w2d = weight.reshape(c_out, -1)
    z, col = _conv_forward(xp, w2d, (kh, kw), stride, out_hw, bias)
    out = z.transpose(L.TO_NCHW)

    def backward(grad, need):
        g2d = grad.transpose(L.TO_INTERNAL).reshape(c_out, -1)
        grad_b = g2d.sum(axis=1) if bias is not None and need[2] else None
        grad_xp, grad_w = _conv_backward(g2d, xp, col, w2d, (kh, kw), stride, out_hw,
                                         need[0], need[1])
        grad_x = L.to_nchw(grad_xp, padding, hw) if need[0] else None
        grad_w = grad_w.reshape(weight.shape) if need[1] else None
        return grad_x, grad_w, grad_b

    return out, backward


@register
def conv2d_relu_max_pool2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0),
                           pool_kernel_size=(2, 2), pool_stride=(2, 2), pool_padding=(0, 0)):
    """max_pool2d(relu(conv2d(x, weight, bias, stride, padding)), pool_kernel_size,
    pool_stride, pool_padding) in one op, computed as relu(max_pool(conv(x)) + bias).

    The two are the same function: adding b[o] and ReLU are non-decreasing, so they commute
    with the max over a window, and the forward values are bitwise equal (rounding is
    monotone too). ReLU and the bias then touch only the pooled outputs, and the backward
    pass masks the pooled gradient:

        g = grad * (out > 0),   grad_b = sum of g,   dz = g routed to each window's first
        maximum of conv(x),     then conv2d's backward with dz.

    The first maximum is taken among the convolution outputs before the bias (PyTorch,
    unfused, takes it after bias and ReLU; the compiled direct kernel ``small_conv_relu_pool_2x2``
    starts each sum from the bias, as conv2d's, and takes it after): the same element unless
    two of a window's pre-activations differ by less than the rounding of adding the bias,
    and where ReLU is 0 the gradient is 0 either way.

    Shape:
        x (N, C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) ->
        (N, C_out, P_h, P_w), P_h = floor((H_out + 2 pp - pk)/ps) + 1 with
        H_out = floor((H + 2p - kh)/s) + 1 (eq 6.5-6.8).

    Raises:
        ValueError, TypeError: as conv2d and max_pool2d.
    """
    stride, padding = tuple(stride), tuple(padding)
    pool = tuple(pool_kernel_size), tuple(pool_stride), tuple(pool_padding)
    out_hw = _conv_geometry(x, weight, bias, stride, padding)
    c_out, c_in, kh, kw = weight.shape
    n, hw = x.shape[0], x.shape[2:]
    pooled_hw = _pool_geometry("MaxPool2d", (n, c_out, *out_hw), x.dtype, *pool)
    xp = w2d = fused = col = conv_backward = None  # conv_backward: Winograd's, internal layout
    if winograd.eligible(x, weight, stride, out_hw):  # 3 x 3, stride 1, many channels
        z, conv_backward = winograd.conv2d_internal(x, weight, None, padding, out_hw)
    else:
        xp = L.internal(x, padding)
        w2d = weight.reshape(c_out, -1)
        fused = registry.select("small_conv_relu_pool_2x2", w2d, xp, stride, pool, bias)
    if fused is not None:
        # one compiled pass: the conv rows of each window row are pooled as they come
        out = np.empty((c_out, *pooled_hw, n), xp.dtype)
        index = np.empty(out.shape, np.uint8)
        fused(xp, w2d, kh, kw, stride[0], np.empty(0, xp.dtype) if bias is None else bias,
              out, index)
        zp = pre = col = None
        padded_shape = (c_out, *out_hw, n)
    else:
        after = bias  # added to the pooled maxima; the direct kernel adds it as it sums,
        if conv_backward is None:  # as conv2d's (the values stay bitwise conv2d's)
            if (bias is not None and bias.dtype == xp.dtype
                    and registry.select("small_conv_forward", w2d, xp, stride) is not None):
                after = None
            z, col = _conv_forward(xp, w2d, (kh, kw), stride, out_hw, None if after is not None
                                   else bias)
        zp = L.pad(z, pool[2], -np.inf) if pool[2] != (0, 0) else z
        # pre: the maxima before bias and ReLU, kept by the NumPy path for its argmax
        out, index, pre = L.max_windows_bias_relu(zp, pool[0], pool[1], pooled_hw, after)
        padded_shape = zp.shape
        if index is not None:
            zp = None  # the compiled kernel found the argmax: the conv output is not needed

    def backward(grad, need):
        nonlocal index
        grad_t = grad.transpose(L.TO_INTERNAL)
        if not (need[0] or need[1]):
            g = np.multiply(grad_t, out > 0, out=np.empty_like(out))
            return None, None, g.sum(axis=(1, 2, 3)) if bias is not None and need[2] else None
        if (conv_backward is not None and index is not None
                and pool == ((2, 2), (2, 2), (0, 0)) and out_hw[0] % 4 == 0 == out_hw[1] % 4):
            # Winograd's transform routes g itself (winograd.conv2d's from_pooled)
            g = np.multiply(grad_t, out > 0, out=scratch.empty(out.shape, out.dtype))
            grad_b = g.sum(axis=(1, 2, 3)) if bias is not None and need[2] else None
            return (*conv_backward(None, (need[0], need[1], False), (g, index))[:2], grad_b)
        if index is None:
            index = L.first_max(zp, pre, *pool[:2])
        g, dzp = L.relu_max_scatter(grad_t, out, index, padded_shape, pool[0], pool[1])
        grad_b = g.sum(axis=(1, 2, 3)) if bias is not None and need[2] else None
        dz = dzp if pool[2] == (0, 0) else L.to_nchw(dzp, pool[2], out_hw).transpose(
            L.TO_INTERNAL)
        if conv_backward is not None:
            return (*conv_backward(dz, (need[0], need[1], False))[:2], grad_b)
        g2d = np.ascontiguousarray(dz).reshape(c_out, -1)
        grad_xp, grad_w = _conv_backward(g2d, xp, col, w2d, (kh, kw), stride, out_hw,
                                         need[0], need[1])
        grad_x = L.to_nchw(grad_xp, padding, hw) if need[0] else None
        grad_w = grad_w.reshape(weight.shape) if need[1] else None
        return grad_x, grad_w, grad_b

    return out.transpose(L.TO_NCHW), backward


def conv2d_relu_max_pool2d_infer(x, weight, bias=None, stride=(1, 1), padding=(0, 0),
                                  pool_kernel_size=(2, 2), pool_stride=(2, 2),
                                  pool_padding=(0, 0)) -> np.ndarray:
    """The forward value of :func:`conv2d_relu_max_pool2d` alone, for inference (no graph,
    nothing kept for a backward pass); same arguments, same errors: the value of
    :func:`conv2d_relu_max_pool2d_program` for ``x``, applied to ``x``."""
    return conv2d_relu_max_pool2d_program(x, weight, bias, stride, padding, pool_kernel_size,
                                          pool_stride, pool_padding, kernels.numba_kernels())(x)


def conv2d_relu_max_pool2d_program(x, weight, bias=None, stride=(1, 1), padding=(0, 0),
                                   pool_kernel_size=(2, 2), pool_stride=(2, 2),
                                   pool_padding=(0, 0), compiled=None):
    """:func:`conv2d_relu_max_pool2d_infer` prepared for inputs of the shape and dtype of
    ``x``: the checks run and the path is chosen here, once, and ``program(x)`` then does
    only the arithmetic (batch-1 latency: the checks cost as much as a small convolution).
    A program reads ``weight`` and ``bias`` when it runs, through views made here, so it
    stays right while they are the same arrays (in place updates included); the caller
    (the no-grad plan of :mod:`lamina.inference`) builds a new one when a parameter's
    version, a setting, the input's shape or dtype, or ``compiled`` changes.

    Four programs:

    - ``compiled`` (the module of :func:`lamina.kernels.numba_kernels`) is not None and the
      registered kernel ``conv_relu_max_pool_direct`` is eligible (at most DIRECT_MAX_BATCH
      images, stride 1, no pool padding, one dtype): one compiled call that convolves
      directly, no im2col copy, no BLAS call, no Python steps between them; equal to the
      op's value up to rounding (the sums run in another order);
    - without compiled kernels, one image, stride 1, 2 x 2 pooling of stride 2 and outputs
      narrower than WIDE_RUN: :func:`_conv_relu_pool_one`, the op's NumPy steps on (C, H, W)
      arrays with everything but the arithmetic worked out here (bitwise the op's value);
    - without compiled kernels, where :func:`lamina.ops.winograd.eligible`: the op itself
      (it convolves by Winograd F(4x4, 3x3));
    - without compiled kernels otherwise: the op's NumPy steps with bias and ReLU in place
      on the pooled maxima (the op keeps the maxima for its backward pass: one array more,
      about 2% of LeNet-5 inference at batch 256, measured);
    - otherwise the op itself (its forward value; the closure it returns is dropped).
    """
    stride, padding = tuple(stride), tuple(padding)
    pool = tuple(pool_kernel_size), tuple(pool_stride), tuple(pool_padding)

    def op_value(x):  # the op itself, where neither faster program applies
        return conv2d_relu_max_pool2d(x, weight, bias, stride, padding, *pool)[0]

    if pool[2] != (0, 0):
        return op_value
    out_hw = _conv_geometry(x, weight, bias, stride, padding)
    c_out = weight.shape[0]
    pooled_hw = _pool_geometry("MaxPool2d", (x.shape[0], c_out, *out_hw), x.dtype, *pool)
    if compiled is None:
        if (x.shape[0] == 1 and stride == (1, 1) and pool[0] == pool[1] == (2, 2)
                and out_hw[1] < T.WIDE_RUN):
            return _conv_relu_pool_one(x, weight, bias, padding, out_hw, pooled_hw)
        if winograd.eligible(x, weight, stride, out_hw):  # the op convolves by Winograd
            return op_value
        w2d = weight.reshape(c_out, -1)

        def numpy_steps(x):
            z, _ = _conv_forward(L.internal(x, padding), w2d, weight.shape[2:], stride, out_hw)
            out, _ = L.max_windows(z, pool[0], pool[1], pooled_hw)
            if bias is not None:  # relu(out + bias), in place where the dtypes allow
                out = np.add(out, bias.reshape(-1, 1, 1, 1),
                             out=out if bias.dtype == out.dtype else None)
            return np.maximum(out, 0, out=out).transpose(L.TO_NCHW)

        return numpy_steps
    if not registry.KERNELS["conv_relu_max_pool_direct"].eligible(x, weight, bias, stride,
                                                                   pool):
        return op_value
    shape = (x.shape[0], c_out, *pooled_hw)
    settings = (np.empty(0, x.dtype) if bias is None else bias, *padding, *pool[0], *pool[1])
    kernel = compiled.conv_relu_max_pool_direct

    def direct(x):
        out = np.empty(shape, x.dtype)
        kernel(x, weight, *settings, out)
        return out

    return direct


def _conv_relu_pool_one(x, weight, bias, padding, out_hw, pooled_hw):
    """The NumPy program of :func:`conv2d_relu_max_pool2d_program` for one image, stride 1,
    2 x 2 pooling of stride 2 and outputs narrower than WIDE_RUN: the same GEMM on the same
    wide im2col matrix as :func:`_conv_forward`, and the same maxima, bias and ReLU (bitwise
    the batched path's values), on (C, H, W) arrays, an unpadded image used where it is.
    Shapes, strides and index tuples are worked out here, once: per call there are only the
    NumPy calls, fewer and smaller than with a batch axis (batch-1 latency without
    ``[fast]``)."""
    (ph, pw), (oh, _), (py, px) = padding, out_hw, pooled_hw
    c, h, w = x.shape[1:]
    c_out, wp = weight.shape[0], w + 2 * pw
    w2d = weight.reshape(c_out, -1)
    dtype = np.result_type(weight, x)
    # (L.internal(x, padding)[..., 0] gives the same xp; this is 1-2% faster for the model)
    padded, inside = (c, h + 2 * ph, wp), np.s_[:, ph:ph + h, pw:pw + w]
    view_shape, view_strides = L.wide_view((*padded, 1), x.dtype.itemsize, weight.shape[2:],
                                           out_hw)
    columns = np.s_[:, :view_shape[3]]  # of z: the wide matrix ends before the last row does
    even, odd = np.s_[:, 0:2 * py:2, :2 * px], np.s_[:, 1:2 * py:2, :2 * px]
    left, right = np.s_[:, :, 0::2], np.s_[:, :, 1::2]
    same = bias is None or bias.dtype == dtype
    bias3 = None if bias is None else bias.reshape(-1, 1, 1)
    zeros = relu_zeros((c_out, py, px), dtype if same else np.result_type(dtype, bias))

    def program(x):
        if ph or pw or not x.flags.c_contiguous:
            xp = np.zeros(padded, x.dtype)
            xp[inside] = x[0]
        else:
            xp = x[0]
        col = np.ascontiguousarray(np.ndarray(view_shape, x.dtype, xp, 0, view_strides))
        z = np.empty((c_out, oh * wp), dtype)
        np.matmul(w2d, col.reshape(-1, view_shape[3]), out=z[columns])
        z = z.reshape(c_out, oh, wp)
        rows = np.maximum(z[even], z[odd])
        out = np.maximum(rows[left], rows[right])
        if bias3 is not None:  # the op's bias and ReLU, with the bias view and zeros made above
            out = np.add(out, bias3, out=out if same else None)
        return np.maximum(out, zeros, out=out)[None]

    return program


def _pool_windows(out: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                  padding: tuple[int, int]):
    """The max-pool windows of the NCHW input ``out`` (checked as :func:`max_pool2d`): its
    padded internal copy (padding -inf), the window maxima, and the offsets of the first
    maxima (None where the NumPy path leaves them to :func:`lamina.ops.im2col.first_max`)."""
    out_hw = _pool_geometry("MaxPool2d", out.shape, out.dtype, kernel, stride, padding)
    zp = L.internal(out, padding, -np.inf)
    best, index = L.max_windows(zp, kernel, stride, out_hw)
    return zp, best, index


@register
def max_pool2d(x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
    """Max over each kh x kw window (notes 6.3); padding counts as -inf.

        out[n, c, y, x] = max_{i, j} xpad[n, c, y*sh + i, x*sw + j]

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1 (eq 6.7-6.8).

    Gradient: each output's gradient goes to the first maximum of its window (row-major
    order, as PyTorch), whose offset is kept as a small unsigned integer per output (found
    in the forward pass by the compiled kernel, in the backward pass by NumPy).
    """
    kernel, stride, padding = tuple(kernel_size), tuple(stride), tuple(padding)
    xp, best, index = _pool_windows(x, kernel, stride, padding)

    def backward(grad, need):
        nonlocal index
        if index is None:
            index = L.first_max(xp, best, kernel, stride)
        dxp = L.max_scatter(grad.transpose(L.TO_INTERNAL), index, xp.shape, kernel, stride)
        return (L.to_nchw(dxp, padding, x.shape[2:]),)

    return best.transpose(L.TO_NCHW), backward


def conv2d_relu(out: np.ndarray, backward):
    """relu(conv2d(...)) from conv2d's fresh output ``out`` and its ``backward``:
    :func:`lamina.ops.activation.relu_folded`, under a name of its own, which
    :func:`conv2d_relu_max_pool2d_folded` accepts (see :func:`lamina.functional.relu`)."""
    return relu_folded(out, backward)


def conv2d_relu_max_pool2d_folded(out: np.ndarray, conv_backward, kernel_size=(2, 2),
                                  stride=(2, 2), padding=(0, 0)):
    """max_pool2d of ``out`` = relu(conv2d(...)) (made by :func:`conv2d_relu`, the ReLU done
    in place on the convolution's output), with the backward pass of the three as one:

        g = grad * (pooled > 0),   dz = g routed to each window's first maximum,

    then conv2d's ``conv_backward`` with dz: the backward of :func:`conv2d_relu_max_pool2d`
    (one compiled call with ``lamina[fast]``, no full-size ReLU mask). The window maxima of
    relu(z) are relu of those of z, and where one is positive its first maximum is z's, so
    values and gradients are those of the three ops one after another (PyTorch's unfused
    rule: the argmax after bias and ReLU).

    Returns (pooled (N, C, P_h, P_w), backward), backward None when ``conv_backward`` is.

    Raises:
        ValueError, TypeError: as :func:`max_pool2d`.
    """
    kernel, stride, padding = tuple(kernel_size), tuple(stride), tuple(padding)
    zp, best, index = _pool_windows(out, kernel, stride, padding)
    if conv_backward is None:
        return best.transpose(L.TO_NCHW), None
    hw = out.shape[2:]
    if index is not None:
        zp = None  # the compiled kernel found the argmax: the conv output is not needed
    padded_shape = (out.shape[1], hw[0] + 2 * padding[0], hw[1] + 2 * padding[1], out.shape[0])

    pooled = getattr(conv_backward, "from_pooled", None)
    if not (index is not None and kernel == stride == (2, 2) and padding == (0, 0)):
        pooled = None

    def backward(grad, need):
        nonlocal index
        if pooled is not None:  # Winograd's transform routes g itself: no full-size dz
            g = np.multiply(grad.transpose(L.TO_INTERNAL), best > 0,
                            out=scratch.empty(best.shape, best.dtype))
            return pooled(g, index, need)
        if index is None:
            index = L.first_max(zp, best, kernel, stride)
        g, dzp = L.relu_max_scatter(grad.transpose(L.TO_INTERNAL), best, index, padded_shape,
                                    kernel, stride)
        if len(need) < 3 or not need[2]:
            return conv_backward(L.to_nchw(dzp, padding, hw), need)
        # the bias gradient, the sum of dz, as the sum of the pooled g (a quarter of the
        # numbers for 2 x 2 windows; what conv2d_relu_max_pool2d does)
        grad_x, grad_w, _ = conv_backward(L.to_nchw(dzp, padding, hw),
                                          (need[0], need[1], False))
        return grad_x, grad_w, g.sum(axis=(1, 2, 3))

    return best.transpose(L.TO_NCHW), backward


def conv2d_max_pool2d_folded(out: np.ndarray, conv_backward, kernel_size=(2, 2),
                             stride=(2, 2), padding=(0, 0)):
    """max_pool2d of conv2d's fresh output ``out``, with the backward pass of the two as one
    node: the pooled gradient routed to each window's first maximum, then conv2d's
    ``conv_backward`` (``F.relu(F.max_pool2d(conv(x), 2))``, see
    :func:`lamina.functional.max_pool2d`). The offsets of the maxima are found here, in the
    forward pass, on both kernel paths: the backward pass never reads the pooled output, so
    a ReLU may then be folded into it in place (:func:`lamina.ops.activation.relu_folded`).

    Returns (pooled (N, C, P_h, P_w), backward), backward None when ``conv_backward`` is.

    Raises:
        ValueError, TypeError: as :func:`max_pool2d`.
    """
    kernel, stride, padding = tuple(kernel_size), tuple(stride), tuple(padding)
    zp, best, index = _pool_windows(out, kernel, stride, padding)
    if conv_backward is None:
        return best.transpose(L.TO_NCHW), None
    if index is None:
        index = L.first_max(zp, best, kernel, stride)
    hw, padded_shape = out.shape[2:], zp.shape
    del zp

    def backward(grad, need):
        dzp = L.max_scatter(grad.transpose(L.TO_INTERNAL), index, padded_shape, kernel, stride)
        return conv_backward(L.to_nchw(dzp, padding, hw), need)

    return best.transpose(L.TO_NCHW), backward


@register
def avg_pool2d(x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
    """Mean over each kh x kw window; padded zeros count in the mean (PyTorch's default
    ``count_include_pad=True``).

        out[n, c, y, x] = 1/(kh kw) sum_{i, j} xpad[n, c, y*sh + i, x*sw + j]

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1 (eq 6.7-6.8).

    Gradient: grad / (kh kw) added to every element of each window.
    """
    kernel, stride, padding = tuple(kernel_size), tuple(stride), tuple(padding)
    out_hw = _pool_geometry("AvgPool2d", x.shape, x.dtype, kernel, stride, padding)
    xp = L.internal(x, padding)
    area = kernel[0] * kernel[1]
    total = L.window(xp, 0, 0, out_hw, stride).copy()
    for k in range(1, area):
        total += L.window(xp, k // kernel[1], k % kernel[1], out_hw, stride)
    total *= np.asarray(1.0 / area, dtype=total.dtype)
    padded_shape = xp.shape

    def backward(grad, need):
        share = grad.transpose(L.TO_INTERNAL) * np.asarray(1.0 / area, dtype=grad.dtype)
        dxp = L.scatter(lambda k: share, padded_shape, grad.dtype, kernel, out_hw, stride)
        return (L.to_nchw(dxp, padding, x.shape[2:]),)

    return total.transpose(L.TO_NCHW), backward
