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

from lamina.ops import register, weak


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


@register
def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=True,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over the channel axis 1 of x (N, C, *).

    Training: the statistics of the batch over every axis but 1 (m = N * prod(*)) normalise
    x; when ``running_mean``/``running_var`` arrays are given they are updated in place,
    r <- (1 - momentum) r + momentum s, with the unbiased variance s = var * m / (m - 1) for
    ``running_var`` (PyTorch's rule). Evaluation (``training=False``): the running statistics
    normalise x and are constants, so dL/dx = dL/dy * gamma / sqrt(running_var + eps).

    Shape: x (N, C, *) -> (N, C, *); weight, bias, running_mean, running_var (C,).
    """
    eps, momentum = weak(eps), weak(momentum)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input (N, C, *) with at least 2 dimensions, "
                         f"got shape {x.shape}")
    axes = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        m = x.size // x.shape[1]
        if m <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {x.shape}")
        xhat, mean, var, invstd = _standardize(x, axes, eps)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(-1)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * m / (m - 1)) * var.reshape(-1)
    else:
        invstd = (1.0 / np.sqrt(running_var + eps)).reshape(shape).astype(x.dtype, copy=False)
        xhat = (x - running_mean.reshape(shape)) * invstd
    out = _affine(xhat, weight, bias, shape)

    def backward(grad, need):
        grad_x = None
        if need[0]:
            g = grad if weight is None else grad * weight.reshape(shape)
            grad_x = _standardize_backward(g, xhat, invstd, axes) if training else g * invstd
        return (grad_x, *_affine_grads(grad, xhat, weight, bias, axes, need))

    return out, backward


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
