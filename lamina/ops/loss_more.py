"""More losses (PyTorch's NLLLoss with ignore_index, BCELoss, Huber / smooth L1, KL
divergence): the shared math of the loss layers and of their functional forms."""

from __future__ import annotations

import numpy as np

from lamina.ops import register, weak
from lamina.ops.loss import _check_same_shape, _elementwise_grad, _reduce

_LOG_FLOOR = -100.0  # PyTorch's BCELoss clamps log(p) and log(1 - p) at -100


def _classes_last(input: np.ndarray, target: np.ndarray, where: str):
    """(input as (M, C), target as (M,)) for input (N, C, *) and target (N, *)."""
    if input.ndim < 2:
        raise ValueError(f"{where}: expected input (N, C) or (N, C, *), got shape {input.shape}")
    expected = input.shape[:1] + input.shape[2:]
    if target.ndim and target.shape[0] != input.shape[0]:
        raise ValueError(f"{where}: input has batch size {input.shape[0]} but target has batch "
                         f"size {target.shape[0]} (input shape {input.shape}, target shape "
                         f"{target.shape})")
    if target.shape != expected:
        raise ValueError(f"{where}: target must have shape {expected} for input of shape "
                         f"{input.shape}, got {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{where}: target must hold integer class indices, got dtype "
                        f"{target.dtype}")
    c = input.shape[1]
    return np.moveaxis(input, 1, -1).reshape(-1, c), target.reshape(-1)


@register
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities at class indices.

    l_i = -w_i input[i, t_i] with w_i = weight[t_i] (1 without weights) and w_i = 0 where
    t_i == ignore_index; 'mean' divides by sum_i w_i (PyTorch's rule; NaN when every target
    is ignored). dL/dinput[i, t_i] = -w_i * grad_i, zero elsewhere.

    Shape: input (N, C) or (N, C, *); target (N,) or (N, *) int; weight (C,); the output is
    target's shape for reduction='none', else ().
    """
    flat, t = _classes_last(input, target, "nll_loss")
    m, c = flat.shape
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        raise ValueError(f"nll_loss: target class index {t[bad][0]} is out of range for {c} "
                         f"classes (expected 0 <= target < {c} or ignore_index={ignore_index})")
    safe = np.where(keep, t, 0)
    w = keep.astype(flat.dtype) if weight is None else weight[safe] * keep
    rows = np.arange(m)
    losses = -w * flat[rows, safe]
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = w.sum()
            out, scale = losses.sum() / total, 1.0 / total
    else:
        out, scale = _reduce(losses.reshape(target.shape), reduction)

    def backward(grad, need):
        if not need[0]:
            return None, None
        g = np.reshape(_elementwise_grad(grad, scale), -1) if reduction == "none" else (
            grad * scale)
        grad_flat = np.zeros_like(flat)
        grad_flat[rows, safe] = -w * g
        moved = grad_flat.reshape(input.shape[:1] + input.shape[2:] + (c,))
        return np.ascontiguousarray(np.moveaxis(moved, -1, 1)), None

    return np.asarray(out, dtype=input.dtype), backward


@register
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities p against targets y:

        l = -w (y log p + (1 - y) log(1 - p)),  logs clamped at -100 (as PyTorch),
    dl/dp = w (p - y) / max(p (1 - p), 1e-12);  dl/dy = -w (log p - log(1 - p)).

    Raises:
        ValueError: shapes differ, or a probability outside [0, 1].
    """
    _check_same_shape(input, target, "BCELoss")
    if input.size and (input.min() < 0 or input.max() > 1):
        raise ValueError(f"BCELoss: input must hold probabilities in [0, 1] (apply a sigmoid, "
                         f"or use BCEWithLogitsLoss on logits), got values in "
                         f"[{input.min():.4g}, {input.max():.4g}]")
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(input), _LOG_FLOOR)
        log_q = np.maximum(np.log1p(-input), _LOG_FLOOR)
    losses = -(target * log_p + (1 - target) * log_q)
    if weight is not None:
        losses = losses * weight
    out, scale = _reduce(losses, reduction)

    def backward(grad, need):
        g = _elementwise_grad(grad, scale)
        if weight is not None:
            g = g * weight
        grad_p = g * (input - target) / np.maximum(input * (1 - input), 1e-12) if need[0] else None
        grad_y = -g * (log_p - log_q) if need[1] else None
        return grad_p, grad_y

    return np.asarray(out, dtype=losses.dtype), backward


@register
def huber_loss(input, target, reduction="mean", delta=1.0, smooth_l1=False):
    """Huber loss with d = input - target: 0.5 d^2 where |d| < delta, else
    delta (|d| - 0.5 delta); derivative d, or delta sign(d). ``smooth_l1=True`` divides by
    delta (PyTorch's SmoothL1Loss with beta = delta: 0.5 d^2 / beta or |d| - 0.5 beta)."""
    _check_same_shape(input, target, "SmoothL1Loss" if smooth_l1 else "HuberLoss")
    delta = weak(delta)
    d = input - target
    small = np.abs(d) < delta
    losses = np.where(small, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    if smooth_l1:
        losses = losses / delta
    out, scale = _reduce(losses, reduction)

    def backward(grad, need):
        slope = np.where(small, d, delta * np.sign(d))
        if smooth_l1:
            slope = slope / delta
        g = slope * _elementwise_grad(grad, scale)
        return (g if need[0] else None, -g if need[1] else None)

    return np.asarray(out, dtype=d.dtype), backward


@register
def kl_div(input, target, reduction="mean", log_target=False):
    """KL divergence with log-probabilities ``input`` (x) and probabilities ``target`` (t):
    l = t (log t - x), 0 where t = 0 (``log_target=True``: t is log t, l = e^t (t - x)).

    'batchmean' divides the sum by the batch size input.shape[0] (the true KL divergence per
    sample); 'mean' by the number of elements. dl/dx = -t (or -e^t); dl/dt = log t + 1 - x
    where t > 0 (or e^t (t - x + 1)).
    """
    _check_same_shape(input, target, "KLDivLoss")
    if log_target:
        e = np.exp(target)
        losses = e * (target - input)
    else:
        positive = target > 0
        log_t = np.log(np.where(positive, target, 1))
        losses = np.where(positive, target * log_t, 0) - target * input
    if reduction == "batchmean":
        n = input.shape[0] if input.ndim else 1
        out, scale = losses.sum() / n, 1.0 / n
    else:
        out, scale = _reduce(losses, reduction)

    def backward(grad, need):
        g = _elementwise_grad(grad, scale)
        if log_target:
            return (-e * g if need[0] else None,
                    e * (target - input + 1) * g if need[1] else None)
        grad_t = np.where(positive, log_t + 1, 0) - input if need[1] else None
        return (-target * g if need[0] else None, None if grad_t is None else grad_t * g)

    return np.asarray(out, dtype=losses.dtype), backward
