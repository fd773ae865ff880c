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
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * m / (m - 1)) * var
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
