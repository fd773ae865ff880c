"""Convolution and pooling ops (notes chapter 6), NCHW in and out, vectorised.

Layout: the ops take and return (N, C, H, W) arrays, but compute in a channel-major
(C, H, W, N) layout, the batch innermost. im2col is one strided view of the padded input of
shape (C_in, kh, kw, H_out, W_out, N), copied once into a (C_in*kh*kw, H_out*W_out*N)
matrix, so that one GEMM ``W.reshape(C_out, -1) @ col`` yields the output already as
(C_out, H_out, W_out, N). The NCHW result is a transposed *view* of it; elementwise ops keep
that memory layout, so the next conv or pool finds its input channel-major with no copy.
With the batch innermost, a window row (W_out, N) is one contiguous run of W_out*N numbers
for stride 1, which makes the im2col copy and its adjoint (col2im) 3-6x faster than in a
(C, N, H, W) layout, whose runs are only W_out long.

Loops run only over the kernel offsets (kh*kw whole-array operations), never over the
batch, channels or pixels. float32 stays float32.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from lamina.convsize import check_window, spatial_output_shape
from lamina.ops import register

_TO_INTERNAL = (1, 2, 3, 0)  # (N, C, H, W) -> (C, H, W, N)
_TO_NCHW = (3, 0, 1, 2)  # (C, H, W, N) -> (N, C, H, W)


def _internal(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """(N, C, H, W) -> padded, contiguous (C, Hp, Wp, N); free when x is already a view of
    such an array (the output of another op here) and there is no padding."""
    xt = x.transpose(_TO_INTERNAL)
    return _pad(xt, padding, value) if padding != (0, 0) else np.ascontiguousarray(xt)


def _pad(xt: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of a (C, H, W, N) array by ``padding`` on each side."""
    ph, pw = padding
    c, h, w, n = xt.shape
    out = np.full((c, h + 2 * ph, w + 2 * pw, n), value, dtype=xt.dtype)
    out[:, ph:ph + h, pw:pw + w] = xt
    return out


def _window(xp: np.ndarray, i: int, j: int, out_hw: tuple[int, int],
            stride: tuple[int, int]) -> np.ndarray:
    """The (C, H_out, W_out, N) view of the elements at kernel offset (i, j) of every window."""
    (oh, ow), (sh, sw) = out_hw, stride
    return xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def _im2col(xp: np.ndarray, kernel: tuple[int, int], out_hw: tuple[int, int],
            stride: tuple[int, int]) -> np.ndarray:
    """(C, Hp, Wp, N) -> (C*kh*kw, H_out*W_out*N): row (c, i, j) holds input channel c at
    kernel offset (i, j) of every window (one strided view, one copy)."""
    c, n = xp.shape[0], xp.shape[3]
    (kh, kw), (oh, ow), (sh, sw) = kernel, out_hw, stride
    s_c, s_h, s_w, s_n = xp.strides
    view = as_strided(xp, shape=(c, kh, kw, oh, ow, n),
                      strides=(s_c, s_h, s_w, s_h * sh, s_w * sw, s_n), writeable=False)
    return np.ascontiguousarray(view).reshape(c * kh * kw, oh * ow * n)


def _scatter(pieces, shape: tuple[int, ...], dtype, kernel: tuple[int, int],
             out_hw: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Sum the per-offset gradients ``pieces(k)`` (each (C, H_out, W_out, N)) back into a
    padded (C, Hp, Wp, N) array: the adjoint of reading the windows (col2im).

    Non-overlapping windows (stride >= kernel) are assigned rather than added, and when they
    tile the padded input exactly the zero fill is skipped too.
    """
    (kh, kw), (oh, ow), (sh, sw) = kernel, out_hw, stride
    disjoint = sh >= kh and sw >= kw
    exact = sh == kh and sw == kw and oh * sh == shape[1] and ow * sw == shape[2]
    out = np.empty(shape, dtype) if exact else np.zeros(shape, dtype)
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        target = _window(out, i, j, out_hw, stride)
        if disjoint:
            target[...] = pieces(k)
        else:
            target += pieces(k)
    return out


def _to_nchw(xp: np.ndarray, padding: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """Padded (C, Hp, Wp, N) -> the (N, C, H, W) view of its interior."""
    (ph, pw), (h, w) = padding, hw
    return xp[:, ph:ph + h, pw:pw + w].transpose(_TO_NCHW)


def _check_float(where: str, x: np.ndarray) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: input must be floating point, got dtype {x.dtype}; convert "
                        f"it first, e.g. x.float() or images / 255.0")


def _fmt_pair(pair: tuple[int, int]) -> str:
    return f"({pair[0]}, {pair[1]})"


def _conv_name(weight: np.ndarray, stride: tuple[int, int], padding: tuple[int, int]) -> str:
    """How the equivalent Conv2d layer is written, defaults omitted."""
    text = f"Conv2d({weight.shape[1]}, {weight.shape[0]}, kernel_size={_fmt_pair(weight.shape[2:])}"
    if stride != (1, 1):
        text += f", stride={_fmt_pair(stride)}"
    if padding != (0, 0):
        text += f", padding={_fmt_pair(padding)}"
    return text + ")"


def _pool_name(kind: str, kernel_size, stride, padding) -> str:
    text = f"{kind}(kernel_size={_fmt_pair(kernel_size)}, stride={_fmt_pair(stride)}"
    if tuple(padding) != (0, 0):
        text += f", padding={_fmt_pair(padding)}"
    return text + ")"


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
    n, hw = x.shape[0], x.shape[2:]

    xp = _internal(x, padding)
    col = _im2col(xp, (kh, kw), out_hw, stride)
    padded_shape = xp.shape
    w2d = weight.reshape(c_out, -1)
    out = w2d @ col
    if bias is not None:
        out += bias[:, None]
    out = out.reshape(c_out, *out_hw, n).transpose(_TO_NCHW)

    def backward(grad, need):
        g2d = grad.transpose(_TO_INTERNAL).reshape(c_out, -1)
        grad_w = (g2d @ col.T).reshape(weight.shape) if need[1] else None
        grad_b = g2d.sum(axis=1) if bias is not None and need[2] else None
        grad_x = None
        if need[0]:
            grad_col = (w2d.T @ g2d).reshape(c_in, kh, kw, *out_hw, n)
            dxp = _scatter(lambda k: grad_col[:, k // kw, k % kw], padded_shape,
                           grad_col.dtype, (kh, kw), out_hw, stride)
            grad_x = _to_nchw(dxp, padding, hw)
        return grad_x, grad_w, grad_b

    return out, backward


def _pool_setup(kind: str, x, kernel_size, stride, padding):
    kernel_size, stride, padding = tuple(kernel_size), tuple(stride), tuple(padding)
    where = _pool_name(kind, kernel_size, stride, padding)
    check_window(where, kernel_size, stride, padding)
    if any(2 * p > k for p, k in zip(padding, kernel_size, strict=True)):
        raise ValueError(f"{where}: padding must be at most half of kernel_size, got padding "
                         f"{padding} for kernel_size {kernel_size}")
    out_hw = spatial_output_shape(where, x.shape, kernel_size, stride, padding)
    _check_float(where, x)
    return kernel_size, stride, padding, out_hw


@register
def max_pool2d(x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
    """Max over each kh x kw window (notes 6.3); padding counts as -inf.

        out[n, c, y, x] = max_{i, j} xpad[n, c, y*sh + i, x*sw + j]

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1 (eq 6.7-6.8).

    Gradient: each output's gradient goes to the first maximum of its window (row-major
    order, as PyTorch), whose offset is kept as a small unsigned integer per output.
    """
    kernel, stride, padding, out_hw = _pool_setup("MaxPool2d", x, kernel_size, stride, padding)
    xp = _internal(x, padding, -np.inf)
    views = [_window(xp, i, j, out_hw, stride) for i in range(kernel[0]) for j in range(kernel[1])]
    best = views[0].copy()
    for v in views[1:]:
        np.maximum(best, v, out=best)
    # argmax = number of leading offsets that are not the maximum
    index = np.zeros(best.shape, np.min_scalar_type(len(views) - 1))
    not_found = np.ones(best.shape, bool)
    differs = np.empty(best.shape, bool)
    for v in views[:-1]:
        np.not_equal(v, best, out=differs)
        not_found &= differs
        index += not_found
    padded_shape = xp.shape

    def backward(grad, need):
        gt = grad.transpose(_TO_INTERNAL)
        dxp = _scatter(lambda k: (index == k) * gt, padded_shape, grad.dtype, kernel, out_hw,
                       stride)
        return (_to_nchw(dxp, padding, x.shape[2:]),)

    return best.transpose(_TO_NCHW), backward


@register
def avg_pool2d(x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
    """Mean over each kh x kw window; padded zeros count in the mean (PyTorch's default
    ``count_include_pad=True``).

        out[n, c, y, x] = 1/(kh kw) sum_{i, j} xpad[n, c, y*sh + i, x*sw + j]

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1 (eq 6.7-6.8).

    Gradient: grad / (kh kw) added to every element of each window.
    """
    kernel, stride, padding, out_hw = _pool_setup("AvgPool2d", x, kernel_size, stride, padding)
    xp = _internal(x, padding)
    area = kernel[0] * kernel[1]
    total = _window(xp, 0, 0, out_hw, stride).copy()
    for k in range(1, area):
        total += _window(xp, k // kernel[1], k % kernel[1], out_hw, stride)
    total *= np.asarray(1.0 / area, dtype=total.dtype)
    padded_shape = xp.shape

    def backward(grad, need):
        share = grad.transpose(_TO_INTERNAL) * np.asarray(1.0 / area, dtype=grad.dtype)
        dxp = _scatter(lambda k: share, padded_shape, grad.dtype, kernel, out_hw, stride)
        return (_to_nchw(dxp, padding, x.shape[2:]),)

    return total.transpose(_TO_NCHW), backward
