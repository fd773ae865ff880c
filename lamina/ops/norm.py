"""Normalisation ops: batch, layer and group normalisation, forward and backward side by side.

All three standardise x over a set of axes A (m elements per group),

    mu = mean_A x,   var = mean_A (x - mu)^2 (biased),   xhat = (x - mu) / sqrt(var + eps),

and scale and shift the result, y = gamma * xhat + beta (Ioffe and Szegedy 2015). With
g = dL/dxhat = dL/dy * gamma, the gradient through the batch statistics is

    dL/dx = (1 / sqrt(var + eps)) * (g - mean_A g - xhat * mean_A(g * xhat)),

dL/dgamma = sum(dL/dy * xhat), dL/dbeta = sum(dL/dy), each summed over the axes where gamma
and beta are broadcast.
"""

from __future__ import annotations

import numpy as np

from lamina.kernels import numba_kernels
from lamina.kernels.registry import select
from lamina.ops import register, scratch, weak


def _standardize(x: np.ndarray, axes: tuple[int, ...], eps: float):
    """(xhat, mean, biased var, 1/sqrt(var + eps)) over ``axes`` (kept as size-1 axes)."""
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + eps)
    return centred * invstd, mean, var, invstd


def _standardize_backward(g: np.ndarray, xhat: np.ndarray, invstd: np.ndarray,
                          axes: tuple[int, ...]) -> np.ndarray:
    """dL/dx from g = dL/dxhat when the mean and variance were taken over ``axes``."""
    return invstd * (g - g.mean(axis=axes, keepdims=True)
                     - xhat * np.mean(g * xhat, axis=axes, keepdims=True))


def _affine(xhat, weight, bias, shape):
    out = xhat if weight is None else xhat * weight.reshape(shape)
    return out if bias is None else out + bias.reshape(shape)


def _affine_grads(grad, xhat, weight, bias, axes, need):
    grad_w = np.sum(grad * xhat, axis=axes).reshape(weight.shape) if (
        weight is not None and need[1]) else None
    grad_b = np.sum(grad, axis=axes).reshape(bias.shape) if (
        bias is not None and need[2]) else None
    return grad_w, grad_b


def _channel_view(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """x (N, C, *) as a C-contiguous (N', C, L) array without copying where its memory
    allows: (N, C, L) for a C-contiguous x; (1, C, L * N) for the channel-major,
    batch-last layout (C, *, N) in which the convolutions leave their outputs
    (:mod:`lamina.ops.im2col`), whose channels are contiguous blocks; else a copy. Returns
    the view and the axis order of that layout (None: x's own)."""
    if x.flags.c_contiguous or x.ndim < 3:
        return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1), None
    order = (*range(1, x.ndim), 0)
    moved = x.transpose(order)
    if moved.flags.c_contiguous:
        return moved.reshape(1, x.shape[1], -1), order
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1), None


def _in_layout(a: np.ndarray, order: tuple[int, ...] | None, shape3) -> np.ndarray:
    """``a`` (shaped as x) as a C-contiguous array in the (N', C, L) view of x's layout."""
    if order is None:
        return np.ascontiguousarray(a).reshape(shape3)
    return np.ascontiguousarray(a.transpose(order)).reshape(shape3)


def _from_layout(a3: np.ndarray, order: tuple[int, ...] | None, shape) -> np.ndarray:
    """The inverse of :func:`_in_layout`: an (N', C, L) result as an array of ``shape``
    (a view in that layout)."""
    if order is None:
        return a3.reshape(shape)
    moved = a3.reshape(tuple(shape[i] for i in order))
    return moved.transpose(np.argsort(order))


def _bn_kernels(x: np.ndarray, weight, bias):
    """The compiled batch-norm kernels for x, or None (NumPy path)."""
    if select("bn_stats", x, weight, bias) is None:
        return None
    return numba_kernels("norm")


def _bn_stats(x3: np.ndarray, kernels) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of x3 (N, C, L) over axes 0 and 2."""
    if kernels is not None:
        mean = np.empty(x3.shape[1])
        var = np.empty(x3.shape[1])
        kernels.bn_stats(x3, mean, var)
        return mean, var
    mean = x3.mean(axis=(0, 2))
    centred = x3 - mean[:, None]
    return mean, np.mean(np.square(centred, out=centred), axis=(0, 2))


def _bn_grad_sums(g3, x3, mean, kernels) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: sum dy and sum dy (x - mean), over axes 0 and 2 of (N, C, L)."""
    if kernels is not None:
        sum_dy = np.empty(x3.shape[1])
        sum_dy_xmu = np.empty(x3.shape[1])
        kernels.bn_grad_sums(g3, x3, np.asarray(mean, np.float64), sum_dy, sum_dy_xmu)
        return sum_dy, sum_dy_xmu
    centred = x3 - np.asarray(mean, x3.dtype)[:, None]
    centred *= g3
    return g3.sum(axis=(0, 2)), centred.sum(axis=(0, 2))


def _bn_map(g3, x3, a, b, k, kernels) -> np.ndarray:
    """g3 * a + x3 * b + k per channel of (N, C, L) arrays (b, k may be None: zero), into a
    reused array (:mod:`lamina.ops.scratch`)."""
    out = scratch.empty(x3.shape, x3.dtype)
    dtype = x3.dtype
    a = np.asarray(a, dtype)
    if kernels is not None:
        zero = np.zeros(len(a), dtype)
        kernels.bn_input_grad(g3, x3, a, zero if b is None else np.asarray(b, dtype),
                              zero if k is None else np.asarray(k, dtype), out)
        return out
    np.multiply(g3, a[:, None], out=out)
    if b is not None:
        out += x3 * np.asarray(b, dtype)[:, None]
    if k is not None:
        out += np.asarray(k, dtype)[:, None]
    return out


def _update_running(running_mean, running_var, mean, var, momentum, m: int) -> None:
    """The running statistics' update in place, as PyTorch: r = (1 - momentum) r + momentum *
    (batch statistic), the variance unbiased (times m / (m - 1)) for the m values per
    channel; a None running array is left as it is."""
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * m / (m - 1)) * var


@register
def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=True,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over the channel axis 1 of x (N, C, *).

    Training: the statistics of the batch over every axis but 1 (m = N * prod(*)) normalise
    x; when ``running_mean``/``running_var`` arrays are given they are updated in place,
    r <- (1 - momentum) r + momentum s, with the unbiased variance s = var * m / (m - 1) for
    ``running_var`` (PyTorch's rule). Evaluation (``training=False``): the running statistics
    normalise x and are constants, so dL/dx = dL/dy * gamma / sqrt(running_var + eps).

    Computed on an (N, C, L) view of x's memory (no transposing copy: a convolution's output,
    channel-major, is viewed as (1, C, L N); the output and dL/dx keep x's layout), per
    channel: the output is
    one affine map y = x * s + t with s = gamma * invstd, t = beta - mu * s; the backward
    reads x itself (no xhat is kept) through the module docstring's formula written out,
    with S1 = sum dy, S2 = sum dy (x - mu) = sum(dy * xhat) / invstd:

        dL/dx = s * dy + b * x + k,   b = -s * invstd^2 * S2 / m,   k = -s * S1 / m - b * mu

    dL/dgamma = invstd * S2, dL/dbeta = S1. The compiled kernels (``[fast]``) make each of
    the statistics, the output, the sums and dL/dx one pass.

    Shape: x (N, C, *) -> (N, C, *); weight, bias, running_mean, running_var (C,).
    """
    eps, momentum = weak(eps), weak(momentum)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input (N, C, *) with at least 2 dimensions, "
                         f"got shape {x.shape}")
    x3, order = _channel_view(x)
    m = x3.shape[0] * x3.shape[2]
    kernels = _bn_kernels(x3, weight, bias)
    if training:
        if m <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {x.shape}")
        mean, var = _bn_stats(x3, kernels)
        _update_running(running_mean, running_var, mean, var, momentum, m)
    else:  # copies: the running statistics may change before the backward pass
        mean, var = np.array(running_mean), np.array(running_var)
    invstd = 1.0 / np.sqrt(var + eps)
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    if kernels is None:
        out = _bn_map(x3, x3, scale, None, shift, None)
    else:
        out = scratch.empty(x3.shape, x3.dtype)
        kernels.bn_affine(x3, np.asarray(scale, x3.dtype), np.asarray(shift, x3.dtype), out)

    def backward(grad, need):
        g3 = _in_layout(np.asarray(grad, x3.dtype), order, x3.shape)
        need_w = weight is not None and need[1]
        need_b = bias is not None and need[2]
        sums = _bn_grad_sums(g3, x3, mean, kernels) if (training and need[0]) or need_w \
            else None
        grad_x = None
        if need[0]:
            if training:
                b = -scale * invstd * invstd * sums[1] / m
                grad_x = _bn_map(g3, x3, scale, b, -scale * sums[0] / m - b * mean, kernels)
            else:
                grad_x = _bn_map(g3, x3, scale, None, None, kernels)
            grad_x = _from_layout(grad_x, order, x.shape)
        grad_w = (invstd * sums[1]).astype(weight.dtype).reshape(weight.shape) if need_w \
            else None
        if need_b:
            total = sums[0] if sums is not None else g3.sum(axis=(0, 2))
            grad_b = np.asarray(total).astype(bias.dtype).reshape(bias.shape)
        else:
            grad_b = None
        return grad_x, grad_w, grad_b

    return _from_layout(out, order, x.shape), backward


@register
def layer_norm(x, weight=None, bias=None, normalized_ndim=1, eps=1e-5):
    """Layer normalisation (Ba et al. 2016) over the last ``normalized_ndim`` axes of x.

    Shape: x (*, D_1..D_k) -> same; weight, bias (D_1..D_k) (k = normalized_ndim).
    """
    eps = weak(eps)
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    xhat, _, _, invstd = _standardize(x, axes, eps)
    shape = x.shape[x.ndim - normalized_ndim:]
    out = _affine(xhat, weight, bias, shape)
    outer = tuple(range(x.ndim - normalized_ndim))

    def backward(grad, need):
        grad_x = None
        if need[0]:
            g = grad if weight is None else grad * weight
            grad_x = _standardize_backward(g, xhat, invstd, axes)
        return (grad_x, *_affine_grads(grad, xhat, weight, bias, outer, need))

    return out, backward


@register
def group_norm(x, weight=None, bias=None, num_groups=1, eps=1e-5):
    """Group normalisation (Wu and He 2018): the C channels of x (N, C, *) form
    ``num_groups`` groups of C / G channels, each standardised over its channels and every
    spatial position of one sample; gamma and beta are per channel.

    Shape: x (N, C, *) -> same; weight, bias (C,).
    """
    eps = weak(eps)
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels cannot be split into {num_groups} groups")
    grouped = x.reshape(n, num_groups, -1)
    xhat_g, _, _, invstd = _standardize(grouped, (2,), eps)
    xhat = xhat_g.reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    out = _affine(xhat, weight, bias, shape)
    axes = (0, *range(2, x.ndim))

    def backward(grad, need):
        grad_x = None
        if need[0]:
            g = grad if weight is None else grad * weight.reshape(shape)
            grad_x = _standardize_backward(g.reshape(grouped.shape), xhat_g, invstd,
                                           (2,)).reshape(x.shape)
        return (grad_x, *_affine_grads(grad, xhat, weight, bias, axes, need))

    return out, backward


def _pool_windows(a: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The 2 x 2 windows of stride 2 of a (C, H, W, N) array as (4, C, out_h, out_w, N), in
    row-major order within a window (a copy)."""
    c, n = a.shape[0], a.shape[3]
    six = a[:, :2 * out_h, :2 * out_w].reshape(c, out_h, 2, out_w, 2, n)
    return six.transpose(2, 4, 0, 1, 3, 5).reshape(4, c, out_h, out_w, n)


def _bn_relu_pool_numpy(xt, weight64, bias64, eps, out_hw):
    """NumPy reference of the compiled forward of :func:`batch_norm_relu_max_pool2d` on
    xt (C, H, W, N): (mean, var, scale, shift, out, arg), as the kernel defines them."""
    mean = xt.mean(axis=(1, 2, 3), dtype=np.float64)
    centred = xt - mean.astype(xt.dtype)[:, None, None, None]
    var = np.mean(np.square(centred, out=centred), axis=(1, 2, 3), dtype=np.float64)
    scale = weight64 / np.sqrt(var + eps)
    shift = bias64 - mean * scale
    y = xt * scale.astype(xt.dtype)[:, None, None, None]
    y += shift.astype(xt.dtype)[:, None, None, None]
    windows = _pool_windows(y, *out_hw)
    k = windows.argmax(axis=0)
    best = np.take_along_axis(windows, k[None], axis=0)[0]
    positive = best > 0
    out = np.where(positive, best, 0).astype(xt.dtype, copy=False)
    arg = np.where(positive, k, 255).astype(np.uint8)
    return mean, var, scale, shift, out, arg


def _bn_relu_pool_grad_numpy(gt, arg, xt, mean, scale, invstd):
    """NumPy reference of the compiled backward of :func:`batch_norm_relu_max_pool2d`:
    (dx (C, H, W, N), S1, S2) from the pooled gradient gt (C, H // 2, W // 2, N)."""
    c, height, width, n = xt.shape
    out_h, out_w = arg.shape[1], arg.shape[2]
    m = height * width * n
    routed = np.where(arg[None] == np.arange(4, dtype=np.uint8)[:, None, None, None, None],
                      gt[None], 0).astype(xt.dtype, copy=False)  # (4, C, out_h, out_w, N)
    dy = np.zeros(xt.shape, xt.dtype)
    dy[:, :2 * out_h, :2 * out_w] = routed.reshape(2, 2, c, out_h, out_w, n).transpose(
        2, 3, 0, 4, 1, 5).reshape(c, 2 * out_h, 2 * out_w, n)
    s1 = dy.sum(axis=(1, 2, 3), dtype=np.float64)
    centred = xt - mean.astype(xt.dtype)[:, None, None, None]
    s2 = (dy * centred).sum(axis=(1, 2, 3), dtype=np.float64)
    b = -scale * invstd * invstd * s2 / m
    k = -scale * s1 / m - b * mean
    dx = dy * scale.astype(xt.dtype)[:, None, None, None]
    dx += xt * b.astype(xt.dtype)[:, None, None, None]
    dx += k.astype(xt.dtype)[:, None, None, None]
    return dx, s1, s2


def _batch_last_parent(xt: np.ndarray) -> np.ndarray | None:
    """A C-contiguous (C, H', W', N) array P (H' >= H, W' >= W) with xt = P[:, :H, :W] (a
    view of the same memory; rows and columns past H, W are never read), or None when
    xt's strides are not of that form (e.g. the batch axis is not contiguous)."""
    item = xt.itemsize
    s_c, s_h, s_w, s_n = xt.strides
    c, h, w, n = xt.shape
    if s_n != item or s_w != n * item or s_h % s_w or s_c % s_h or s_h // s_w < w \
            or s_c // s_h < h:
        return None
    parent = np.lib.stride_tricks.as_strided(xt, (c, s_c // s_h, s_h // s_w, n), xt.strides)
    # (C-contiguous by construction, so the kernels' reshape of it is a view, never a copy
    # that would read the rows past H, W)
    return parent if parent.flags.c_contiguous else None


def _bn_pool_kernels(xt: np.ndarray, weight, bias):
    """(forward, backward) compiled kernels of :func:`batch_norm_relu_max_pool2d` for xt
    (C, H, W, N), or None (NumPy path)."""
    if select("bn_relu_pool_forward", xt, weight, bias) is None:
        return None
    compiled = numba_kernels("norm")
    return compiled.bn_relu_pool_forward, compiled.bn_relu_pool_backward


def _by_channels(kernel, args: tuple, channels: int) -> None:
    """``kernel(*args)``, whose arrays with ``channels`` rows are per channel: in this thread,
    or, with 2 threads (min of :func:`lamina.get_num_threads` and BN_POOL_THREADS of
    :mod:`lamina.kernels.thresholds`, 1 by default) and 2+ channels, the first half of the
    channels in :mod:`lamina.kernels.worker`'s thread at the same time (the kernels release
    the GIL; each channel is computed alike either way: the same bits)."""
    from lamina.kernels import thresholds as T

    if T.BN_POOL_THREADS < 2 or channels < 2:
        kernel(*args)
        return
    from lamina.kernels import parallel, worker  # lazy: lamina.get_num_threads's module

    if parallel.get_num_threads() < 2:
        kernel(*args)
        return
    half = channels // 2

    def part(lo, hi):
        return tuple(a[lo:hi] if isinstance(a, np.ndarray) and a.ndim and
                     a.shape[0] == channels else a for a in args)

    job = worker.executor().submit(kernel, *part(0, half))
    kernel(*part(half, channels))
    job.result()


def _bn_pool_forward(kernel, parent: np.ndarray, hw: tuple[int, int], weight64, bias64, eps):
    """The compiled forward of :func:`batch_norm_relu_max_pool2d` on the (C, H, W, N) input
    whose C-contiguous batch-last parent is ``parent`` (see :func:`_batch_last_parent`):
    (mean, var, out, arg, xmax) with out, arg, xmax (C, H // 2, W // 2, N)."""
    channels, n = parent.shape[0], parent.shape[3]
    pooled = (hw[0] // 2, hw[1] // 2)
    mean, var = np.empty(channels), np.empty(channels)
    out = scratch.empty((channels, *pooled, n), parent.dtype)
    arg = np.empty(out.shape, np.uint8)
    xmax = np.empty(out.shape, parent.dtype)
    rows = (channels, pooled[0], -1)
    _by_channels(kernel, (parent.reshape(channels, parent.shape[1], -1), *hw, n, weight64,
                          bias64, float(eps), mean, var, np.empty((channels, 2), parent.dtype),
                          out.reshape(rows), arg.reshape(rows), xmax.reshape(rows)), channels)
    return mean, var, out, arg, xmax


def bn_relu_pool_compiled(x: np.ndarray, weight, bias) -> bool:
    """Whether :func:`batch_norm_relu_max_pool2d` runs its compiled kernels on x (N, C, H,
    W): Numba in use, x batch-last (a convolution's output) and the dtypes accepted. Its
    NumPy path is a reference, slower than the three ops (batch_norm, relu, max_pool2d) on
    that path, so the layer pattern uses the op only when this holds."""
    if x.ndim != 4:
        return False
    xt = x.transpose(1, 2, 3, 0)
    return _batch_last_parent(xt) is not None and _bn_pool_kernels(xt, weight, bias) is not None


@register(saves=((0,),))
def batch_norm_relu_max_pool2d(x, weight=None, bias=None, running_mean=None, running_var=None,
                               momentum=0.1, eps=1e-5):
    """``max_pool2d(relu(batch_norm(x, training=True)), 2)`` (2 x 2 windows of stride 2, no
    padding) as one op: the layers BatchNorm2d -> ReLU -> MaxPool2d(2) of a convolution
    block in training mode.

    Per channel (m = N H W values): mu, var = the batch's mean and biased variance, s =
    gamma / sqrt(var + eps), t = beta - mu s, y = x s + t (as :func:`batch_norm`), and out =
    the maximum of relu(y) over each window; the running statistics are updated as
    :func:`batch_norm` does. Kept for the backward pass: x and, per output, the offset of
    the window's first maximum of y (uint8; 255 where that maximum is not positive, which
    passes no gradient through the ReLU). Backward: dy = the output gradient routed to those
    offsets (zero elsewhere), then batch normalisation's input gradient (eq in
    :func:`batch_norm`): S1 = sum dy, S2 = sum dy (x - mu), dL/dx = s dy + b x + k with
    b = -s invstd^2 S2 / m, k = -s S1 / m - b mu; dL/dgamma = invstd S2, dL/dbeta = S1.

    Works on the batch-last view (C, H, W, N) of x, the layout of lamina's convolution
    outputs (no copy), and returns its output and dL/dx in that layout (as (N, C, ...)
    views). The compiled kernels (``[fast]``, where x's batch axis is contiguous) do the
    forward in one call (statistics and pooling, each channel's values read from cache) and
    the backward in one.

    Shape: x (N, C, H, W) -> (N, C, H // 2, W // 2); weight, bias, running_mean,
    running_var (C,).
    """
    eps, momentum = weak(eps), weak(momentum)
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        raise ValueError(f"batch_norm_relu_max_pool2d: expected an input (N, C, H, W) with H, "
                         f"W >= 2, got shape {x.shape}")
    channels = x.shape[1]
    xt = x.transpose(1, 2, 3, 0)
    m = x.size // channels
    if m <= 1:
        raise ValueError(f"batch_norm_relu_max_pool2d: expected more than 1 value per channel, "
                         f"got input of shape {x.shape}")
    out_hw = (x.shape[2] // 2, x.shape[3] // 2)
    weight64 = np.ones(channels) if weight is None else weight.astype(np.float64)
    bias64 = np.zeros(channels) if bias is None else bias.astype(np.float64)
    parent = _batch_last_parent(xt)
    kernels = None if parent is None else _bn_pool_kernels(xt, weight, bias)
    if kernels is None:
        mean, var, scale, _, out, arg = _bn_relu_pool_numpy(xt, weight64, bias64, eps, out_hw)
    else:
        mean, var, out, arg, xmax = _bn_pool_forward(kernels[0], parent, x.shape[2:],
                                                     weight64, bias64, eps)
        rows = (channels, out_hw[0], -1)
        scale = weight64 / np.sqrt(var + eps)
    invstd = 1.0 / np.sqrt(var + eps)
    _update_running(running_mean, running_var, mean, var, momentum, m)

    def backward(grad, need):
        gt = grad.transpose(1, 2, 3, 0)
        if kernels is None:
            dx, s1, s2 = _bn_relu_pool_grad_numpy(gt, arg, xt, mean, scale, invstd)
        else:
            dx = scratch.empty(xt.shape, x.dtype)
            sums = np.empty((channels, 2))
            _by_channels(kernels[1], (np.ascontiguousarray(gt, x.dtype).reshape(rows),
                                      arg.reshape(rows), xmax.reshape(rows),
                                      parent.reshape(channels, parent.shape[1], -1),
                                      *x.shape[2:], x.shape[0], mean, scale, invstd,
                                      np.empty((channels, 3), x.dtype),
                                      dx.reshape(channels, x.shape[2], -1), sums), channels)
            s1, s2 = sums[:, 0], sums[:, 1]
        grad_w = (invstd * s2).astype(weight.dtype) if weight is not None and need[1] else None
        grad_b = s1.astype(bias.dtype) if bias is not None and need[2] else None
        return (dx.transpose(3, 0, 1, 2) if need[0] else None), grad_w, grad_b

    return out.transpose(3, 0, 1, 2), backward


def _conv_bn_pool_kernels(xp: np.ndarray, w2d: np.ndarray, params: tuple):
    """The compiled kernels of :func:`conv2d_batch_norm_relu_max_pool2d` for the padded
    input xp (C_in, Hp, Wp, N) and the weights w2d (C_out, C_in kh kw), or None."""
    if select("conv_bn_relu_pool_forward", xp, w2d, params) is None:
        return None
    return numba_kernels("norm")


def conv_bn_relu_pool_compiled(x: np.ndarray, conv_weight: np.ndarray, params: tuple,
                               padding: tuple[int, int], x_grad: bool) -> bool:
    """Whether :func:`conv2d_batch_norm_relu_max_pool2d` runs its compiled kernels for x
    (N, C_in, H, W), conv_weight, ``padding`` (params: the convolution's bias and the batch
    norm's weight and bias, None where absent) and whether x's gradient is needed
    (``x_grad``): a convolution by Winograd's F(4x4, 3x3) (:mod:`lamina.ops.winograd`), or
    one with few weights on an input without gradient. Its other path is the two ops it
    stands for, so callers may as well call those."""
    from lamina.ops import winograd

    if x.ndim != 4 or conv_weight.ndim != 4 or x.dtype != conv_weight.dtype \
            or x.shape[1] != conv_weight.shape[1]:
        return False
    out_hw = tuple(x.shape[2 + i] + 2 * padding[i] - conv_weight.shape[2 + i] + 1
                   for i in range(2))
    if out_hw[0] < 2 or out_hw[1] < 2:
        return False
    if winograd.eligible(x, conv_weight, (1, 1), out_hw):
        return _winograd_block_kernels(x.dtype, params) is not None
    probe = np.empty((1, 1, 1, 1), x.dtype)  # the checks read dtypes and shapes only
    return not x_grad and select("conv_bn_relu_pool_forward", probe, conv_weight.reshape(
        conv_weight.shape[0], -1), params) is not None


@register(saves=((0,),))
def conv2d_batch_norm_relu_max_pool2d(x, conv_weight, conv_bias=None, weight=None, bias=None,
                                      running_mean=None, running_var=None, momentum=0.1,
                                      eps=1e-5, padding=(0, 0)):
    """``max_pool2d(relu(batch_norm(conv2d(x, conv_weight, conv_bias, padding=padding),
    weight, bias, training=True)), 2)`` as one op: the layers Conv2d (stride 1) ->
    BatchNorm2d -> ReLU -> MaxPool2d(2) of a first convolution block in training mode.

    With z = conv2d(x) (eq 6.4) and u_t the input that weight t of the C_in kh kw meets at
    each output position (z = W u + b per channel), the forward pass is
    :func:`batch_norm_relu_max_pool2d` on z. The compiled kernels (``[fast]``, few weights
    as the ``small_conv_*`` kernels) make z two channels at a time in a small work array and
    pool it there, so z is never written whole, and keep, per pooled output, the offset of
    the window's maximum and the z there (as :func:`batch_norm_relu_max_pool2d`). Backward,
    with dy the pooled gradient routed to those maxima, S1 = sum dy, S2 = sum dy (z - mu),
    and dz = s dy + b z + k (batch norm's input gradient, as there):

        dL/dW_t = sum dz u_t = s sum dy u_t + b sum z u_t + k sum u_t,
        sum z u_t = sum_t' W_t' Gram[t', t] + b_conv sum u_t  (Gram = sum u u^T),
        dL/db_conv = sum dz = s S1 + b m mu + k m   (0 up to rounding: batch norm removes
                                                     any shift),

    so the weight gradient needs the routed sums (pooled size), the input's Gram matrix
    and sums, never dz; dL/dgamma = invstd S2, dL/dbeta = S1. Where x's gradient is asked
    for, dz is needed whole: the backward pass then computes the convolution again and runs
    the two ops' backward passes. Without the compiled kernels, the op is those two ops.

    Shape: x (N, C_in, H, W), conv_weight (C_out, C_in, kh, kw), conv_bias, weight, bias,
    running_mean, running_var (C_out,) -> (N, C_out, H' // 2, W' // 2), H' = H + 2 p - kh
    + 1 (eq 6.5).
    """
    from lamina.ops import conv as conv_ops  # ops.conv and ops.norm: neither imports the other
    from lamina.ops import im2col as L
    from lamina.ops import winograd

    eps, momentum = weak(eps), weak(momentum)
    padding = tuple(padding)
    out_hw = conv_ops._conv_geometry(x, conv_weight, conv_bias, (1, 1), padding)
    params = (conv_bias, weight, bias)
    c_out, c_in, kh, kw = conv_weight.shape
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None and a.shape != (c_out,):
            raise ValueError(f"conv2d_batch_norm_relu_max_pool2d: {name} must have shape "
                             f"({c_out},) for {c_out} output channels, got {a.shape}")
    w2d = conv_weight.reshape(c_out, -1)
    compiled = xp = None
    if out_hw[0] >= 2 and out_hw[1] >= 2 and x.dtype == conv_weight.dtype:
        if winograd.eligible(x, conv_weight, (1, 1), out_hw) and _winograd_block_kernels(
                x.dtype, params) is not None:
            out, block_backward = _winograd_block(x, conv_weight, conv_bias, weight, bias,
                                                  running_mean, running_var, momentum, eps,
                                                  padding, out_hw)

            def backward(grad, need):  # (defined here: the node is named after the op)
                return block_backward(grad, need)

            return out, backward
        xp = L.internal(x, padding)
        compiled = _conv_bn_pool_kernels(xp, w2d, params)
    if compiled is None:
        z, conv_backward = conv_ops.conv2d(x, conv_weight, conv_bias, (1, 1), padding)
        out, bn_backward = batch_norm_relu_max_pool2d(z, weight, bias, running_mean,
                                                      running_var, momentum, eps)

        def composed_backward(grad, need):
            grad_z, grad_w, grad_b = bn_backward(grad, (True, need[3], need[4]))
            return (*conv_backward(grad_z, need[:3]), grad_w, grad_b)

        return out, composed_backward
    n, dtype = x.shape[0], xp.dtype
    m = n * out_hw[0] * out_hw[1]
    if m <= 1:
        raise ValueError(f"conv2d_batch_norm_relu_max_pool2d: expected more than 1 value per "
                         f"channel, got a convolution output of {out_hw} at batch {n}")
    pooled = (out_hw[0] // 2, out_hw[1] // 2)
    weight64 = np.ones(c_out) if weight is None else weight.astype(np.float64)
    bias64 = np.zeros(c_out) if bias is None else bias.astype(np.float64)
    mean, var = np.empty(c_out), np.empty(c_out)
    out = scratch.empty((c_out, *pooled, n), dtype)
    arg = np.empty(out.shape, np.uint8)
    zmax = np.empty(out.shape, dtype)
    rows = (c_out, pooled[0], -1)
    w2d = np.ascontiguousarray(w2d)
    compiled.conv_bn_relu_pool_forward(
        xp, w2d, kh, kw, np.empty(0, dtype) if conv_bias is None else conv_bias, weight64,
        bias64, float(eps), mean, var, np.empty((c_out, 2), dtype),
        scratch.empty((2, out_hw[0], out_hw[1] * n), dtype), out.reshape(rows),
        arg.reshape(rows), zmax.reshape(rows))
    invstd = 1.0 / np.sqrt(var + eps)
    scale = weight64 * invstd
    _update_running(running_mean, running_var, mean, var, momentum, m)
    w64 = w2d.astype(np.float64)  # (a copy: the weights the forward pass used)
    b64 = np.zeros(c_out) if conv_bias is None else conv_bias.astype(np.float64)

    def backward(grad, need):
        gt = np.ascontiguousarray(grad.transpose(1, 2, 3, 0), dtype)
        grad_x = grad_w = grad_b = None
        if need[0]:  # dz whole: the convolution again, then the two ops' backward passes
            z, conv_backward = conv_ops.conv2d(x, conv_weight, conv_bias, (1, 1), padding)
            dz, s1, s2 = _bn_relu_pool_grad_numpy(gt, arg, z.transpose(1, 2, 3, 0), mean,
                                                  scale, invstd)
            grad_x, grad_w, grad_b = conv_backward(dz.transpose(3, 0, 1, 2), need[:3])
        else:
            sums, routed = np.empty((c_out, 2)), np.empty((c_out, w2d.shape[1]))
            compiled.conv_bn_relu_pool_backward(xp, gt.reshape(rows), arg.reshape(rows),
                                                zmax.reshape(rows), kh, kw, mean, sums, routed,
                                                np.empty((3, 2 * pooled[1] * n), dtype))
            s1, s2 = sums[:, 0], sums[:, 1]
            b = -scale * invstd * invstd * s2 / m
            k = -scale * s1 / m - b * mean
            if need[1]:
                gram, total = np.empty((w2d.shape[1],) * 2), np.empty(w2d.shape[1])
                compiled.conv_input_gram(xp, kh, kw, gram, total)
                zu = w64 @ gram + b64[:, None] * total  # sum z u_t per channel
                grad_w = (scale[:, None] * routed + b[:, None] * zu
                          + k[:, None] * total).reshape(conv_weight.shape).astype(dtype)
            if need[2] and conv_bias is not None:
                grad_b = (scale * s1 + b * (m * mean) + k * m).astype(dtype)
        grad_gamma = (invstd * s2).astype(weight.dtype) if weight is not None and need[3] \
            else None
        grad_beta = s1.astype(bias.dtype) if bias is not None and need[4] else None
        return grad_x, grad_w, grad_b, grad_gamma, grad_beta

    return out.transpose(3, 0, 1, 2), backward


def _winograd_block_kernels(dtype, params: tuple):
    """The compiled kernels that :func:`_winograd_block` needs for inputs of ``dtype`` with
    ``params`` (the convolution's bias, the batch norm's weight and bias), as (the norm
    kernels, winograd_output_grad_bn_pooled), or None."""
    one, index = np.empty((1, 1, 1, 1), dtype), np.empty((1, 1, 1, 1), np.uint8)
    if (select("bn_relu_pool_forward", one, params[1], params[2]) is None
            or select("bn_pool_sums", one, index, one) is None
            or any(p is not None and p.dtype != dtype for p in params)):
        return None
    chosen = select("winograd_output_grad_bn_pooled", one, index, one, one)
    return None if chosen is None else (numba_kernels("norm"), chosen)


def _winograd_block(x, conv_weight, conv_bias, weight, bias, running_mean, running_var,
                    momentum, eps, padding, out_hw):
    """:func:`conv2d_batch_norm_relu_max_pool2d` for a convolution that Winograd's F(4x4,
    3x3) computes (:mod:`lamina.ops.winograd`): its output z in whole tiles, the batch
    norm block's compiled forward pass on it; backward, S1 and S2 from the pooled arrays,
    then the convolution's backward pass from dz = a dy + b z + k0 formed tile row by tile
    row in its output-gradient transform (``winograd_output_grad_bn_pooled``): dz is never
    written whole. The conv bias's gradient is sum dz = a S1 + b m mu + k0 m."""
    from lamina.ops import winograd

    dtype, c_out, n = x.dtype, conv_weight.shape[0], x.shape[0]
    m = n * out_hw[0] * out_hw[1]
    if m <= 1:
        raise ValueError(f"conv2d_batch_norm_relu_max_pool2d: expected more than 1 value per "
                         f"channel, got a convolution output of {out_hw} at batch {n}")
    z, conv_backward = winograd.conv2d_internal(x, conv_weight, conv_bias, padding, out_hw)
    whole = _batch_last_parent(z)  # (the whole tiles: C-contiguous, made so by Winograd)
    norm_kernels = numba_kernels("norm")
    weight64 = np.ones(c_out) if weight is None else weight.astype(np.float64)
    bias64 = np.zeros(c_out) if bias is None else bias.astype(np.float64)
    mean, var, out, arg, zmax = _bn_pool_forward(norm_kernels.bn_relu_pool_forward, whole,
                                                 out_hw, weight64, bias64, eps)
    invstd = 1.0 / np.sqrt(var + eps)
    scale = weight64 * invstd
    _update_running(running_mean, running_var, mean, var, momentum, m)
    rows = (c_out, out.shape[1], -1)

    def backward(grad, need):
        gt = np.ascontiguousarray(grad.transpose(1, 2, 3, 0), dtype)
        sums = np.empty((c_out, 2))
        norm_kernels.bn_pool_sums(gt.reshape(rows), arg.reshape(rows), zmax.reshape(rows), mean,
                                  sums)
        s1, s2 = sums[:, 0], sums[:, 1]
        b = -scale * invstd * invstd * s2 / m
        k = -scale * s1 / m - b * mean
        conv_need = (need[0], need[1], False)
        chosen = select("winograd_output_grad_bn_pooled", gt, arg, whole, gt)
        if chosen is None:  # the kernels were switched off since the forward pass: dz whole
            dz = _bn_relu_pool_grad_numpy(gt, arg, z, mean, scale, invstd)[0]
            grad_x, grad_w, _ = conv_backward(dz, conv_need)
        else:
            coef = np.stack([scale, b, k], axis=1).astype(dtype)
            grad_x, grad_w, _ = conv_backward(None, conv_need, bn=(chosen, gt, arg, whole, coef))
        grad_cb = (scale * s1 + b * (m * mean) + k * m).astype(dtype) \
            if conv_bias is not None and need[2] else None
        grad_gamma = (invstd * s2).astype(weight.dtype) if weight is not None and need[3] \
            else None
        grad_beta = s1.astype(bias.dtype) if bias is not None and need[4] else None
        return grad_x, grad_w, grad_cb, grad_gamma, grad_beta

    return out.transpose(3, 0, 1, 2), backward
