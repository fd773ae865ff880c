"""Loss functions (notes chapter 4) as fused ops: one pass forward, closed-form backward.

Fused because the composite forms are either unstable (softmax then log overflows, eq 4.4-4.5
needs log-sum-exp) or several times slower (MSE and L1 would be three ops each).
"""

from __future__ import annotations

import numpy as np

from lamina.kernels import registry
from lamina.ops import FLOAT, INDEX_OR_FLOAT, PROMOTE, register, weak

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, where: str) -> None:
    """Raise ValueError naming ``where`` unless ``reduction`` is 'mean', 'sum' or 'none'."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def class_rows(scores: np.ndarray, index: np.ndarray) -> bool:
    """Whether ``scores`` is (N, C) floating point and ``index`` (N,) integer class indices:
    the case the cross_entropy and nll_loss ops take in one pass, from F.cross_entropy,
    F.nll_loss and nn.CrossEntropyLoss."""
    return (scores.ndim == 2 and index.ndim == 1 and index.dtype.kind in "iu"
            and index.shape[0] == scores.shape[0] and scores.dtype.kind == "f")


def _reduce(values: np.ndarray, reduction: str, denominator=None):
    """Apply ``reduction`` and return (out, scale) where grad of each element = grad * scale."""
    if reduction == "none":
        return values, None
    if reduction == "sum":
        return values.sum(), 1.0
    count = values.size if denominator is None else denominator
    if count == 0:  # an empty batch (or zero total weight): NaN, as PyTorch's mean
        return np.full((), np.nan, values.dtype), float("nan")
    return values.sum() / count, 1.0 / count


def _elementwise_grad(grad, scale):
    return grad if scale is None else grad * scale


def _check_same_shape(input, target, where: str) -> None:
    if np.shape(input) != np.shape(target):
        raise ValueError(f"{where}: input and target must have the same shape, got input "
                         f"{np.shape(input)} and target {np.shape(target)}")


@register(dtypes=(FLOAT, PROMOTE), saves=((0, 1),))
def mse_loss(input, target, reduction="mean"):
    """Mean squared error (eq 4.2): mean((input - target)^2); d/dinput = 2 (input - target) / n,
    i.e. -2 e / n with e = target - input, the error of eq 4.1.

    The notes' eq 4.2 and 4.3 sum from i = 0 to n (n + 1 terms) but divide by n; lamina sums the n
    elements and divides by n (the mean), as PyTorch and scikit-learn do."""
    _check_same_shape(input, target, "MSELoss")
    diff = input - target
    out, scale = _reduce(diff * diff, reduction)

    def backward(grad, need):
        g = 2 * diff * _elementwise_grad(grad, scale)
        return (g if need[0] else None, -g if need[1] else None)

    return np.asarray(out, dtype=diff.dtype), backward


@register(dtypes=(FLOAT, PROMOTE), saves=((0, 1),))
def l1_loss(input, target, reduction="mean"):
    """Mean absolute error (eq 4.3, labelled "MSE" in the notes): mean|input - target| (a mean
    over the n elements; the notes' sum from i = 0 to n has one term too many, see mse)."""
    _check_same_shape(input, target, "L1Loss")
    diff = input - target
    out, scale = _reduce(np.abs(diff), reduction)

    def backward(grad, need):
        g = np.sign(diff) * _elementwise_grad(grad, scale)
        return (g if need[0] else None, -g if need[1] else None)

    return np.asarray(out, dtype=diff.dtype), backward


@register(dtypes=(FLOAT, INDEX_OR_FLOAT), saves=((1,),))
def cross_entropy(logits, target, weight=None, reduction="mean", label_smoothing=0.0,
                  ignore_index=None):
    """Cross-entropy H(p, q) = -sum_x p(x) log q(x) (eq 4.4-4.5) with q = softmax(logits).

    ``target`` is either integer class indices of shape (N,) or class probabilities of shape
    (N, C). log q is computed by log-sum-exp, so large logits never overflow.
    With class weights w and index targets, 'mean' divides by sum_i w[target_i] (as PyTorch).
    ``ignore_index`` (index targets without weights or smoothing only; None: none): rows whose
    target equals it add 0 to the loss and get a zero gradient, and 'mean' divides by the
    number of the other rows (NaN when there are none), as PyTorch.

    Shape: logits (N, C); target (N,) int or (N, C) float -> (N,) for reduction='none', else ().
    Backward (index targets, no weights): grad_logits = (softmax(logits) - onehot) * grad_i,
    computed as softmax(logits) with 1 subtracted at the target indices (no one-hot array).
    """
    if logits.ndim != 2:
        raise ValueError(f"CrossEntropyLoss: expected logits of shape (N, C), got {logits.shape}")
    n, c = logits.shape
    label_smoothing = weak(label_smoothing)
    index_target = target.dtype.kind in "iu"
    if index_target:
        if target.shape != (n,):
            raise ValueError(f"CrossEntropyLoss: class-index target must have shape ({n},) to "
                             f"match logits {logits.shape}, got {target.shape}")
        plain = weight is None and not label_smoothing
        if plain:
            compiled = registry.select("cross_entropy_rows", logits, target)
            if compiled is not None:
                return _cross_entropy_compiled(compiled, logits, target, reduction, ignore_index)
        if ignore_index is not None and not plain:
            raise ValueError("cross_entropy: ignore_index is handled by this op only for index "
                             "targets without weight or label_smoothing")
        keep = None
        if ignore_index is not None and n:
            keep = target != ignore_index
            if keep.all():
                keep = None
        checked = target if keep is None else target[keep]
        if checked.size and (checked.min() < 0 or checked.max() >= c):
            bad = checked[(checked < 0) | (checked >= c)][0]
            _raise_out_of_range(bad, c)
        if plain:
            shifted = logits - logits.max(axis=1, keepdims=True)
            return _cross_entropy_indices(shifted, target, reduction, keep)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logq = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    if index_target:
        probs = np.zeros_like(logq)
        probs[np.arange(n), target] = 1
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / c
    else:
        if target.shape != logits.shape:
            raise ValueError(f"CrossEntropyLoss: probability target must have the logits' shape "
                             f"{logits.shape}, got {target.shape} (class indices must be an "
                             f"integer array)")
        probs = target
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / c
    weighted = probs if weight is None else probs * weight
    losses = -np.sum(weighted * logq, axis=1)
    denominator = None
    if weight is not None and index_target and reduction == "mean":
        denominator = np.sum(weight[target])
    out, scale = _reduce(losses, reduction, denominator)

    def backward(grad, need):
        g = _elementwise_grad(grad, scale)
        g = np.reshape(g, (-1, 1)) if np.ndim(g) else g
        grad_logits = None
        if need[0]:
            # d/dz of -sum_c w_c p_c log softmax(z)_c = softmax(z) * sum_c w_c p_c - w p
            grad_logits = (np.exp(logq) * np.sum(weighted, axis=1, keepdims=True) - weighted) * g
        grad_target = None
        if need[1] and not index_target:
            wlogq = logq if weight is None else logq * weight
            grad_target = -wlogq * g * (1 - label_smoothing)
        return grad_logits, grad_target

    return np.asarray(out, dtype=logits.dtype), backward


def _raise_out_of_range(bad, c: int):
    raise ValueError(f"CrossEntropyLoss: target class index {bad} is out of range for "
                     f"{c} classes (expected 0 <= target < {c})")


def _cross_entropy_indices(shifted, target, reduction, keep=None):
    """Cross-entropy with class indices, no class weights, no smoothing: the common case.

    l_i = log sum_c e^(z_ic) - z_i,t_i with z = logits - max (eq 4.4-4.5 with a one-hot p);
    d l_i / d z_i = softmax(z_i) - onehot(t_i): the softmax, with 1 taken off at t_i in place.
    ``keep``: None, or a boolean mask of the rows not ignored (the others count 0, and 'mean'
    divides by the kept rows).
    """
    n = shifted.shape[0]
    rows = np.arange(n)
    if keep is not None:
        target = np.where(keep, target, 0)  # any class: the ignored rows are zeroed below
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    losses = np.log(total[:, 0])
    losses -= shifted[rows, target]
    denominator = None
    if keep is not None:
        losses[~keep] = 0
        denominator = int(keep.sum())
    out, scale = _reduce(losses, reduction, denominator)

    def backward(grad, need):
        if not need[0]:
            return None, None
        grad_logits = np.divide(e, total)  # softmax
        grad_logits[rows, target] -= 1
        g = _elementwise_grad(grad, scale)
        grad_logits *= np.reshape(g, (-1, 1)) if np.ndim(g) else g
        if keep is not None:  # after the scaling: 0, not NaN, when every row is ignored
            grad_logits[~keep] = 0
        return grad_logits, None

    return np.asarray(out, dtype=shifted.dtype), backward


def _cross_entropy_compiled(compiled, logits, target, reduction, ignore_index):
    """:func:`_cross_entropy_indices` (with the range check and the ignored rows) by the
    compiled kernel ``cross_entropy_rows``: one pass computes the losses and the gradient
    factor softmax - onehot, which backward only scales."""
    losses = np.empty(logits.shape[0], logits.dtype)
    factor = np.empty_like(logits)
    ignore = ignore_index is not None
    kept = compiled(logits, target, ignore, int(ignore_index) if ignore else 0, losses, factor)
    if kept < 0:
        _raise_out_of_range(target[-1 - kept], logits.shape[1])
    out, scale = _reduce(losses, reduction, kept if ignore else None)

    def backward(grad, need):
        if not need[0]:
            return None, None
        if kept == 0:  # every row ignored (the mean is NaN): no gradient, as PyTorch
            return np.zeros_like(factor), None
        g = _elementwise_grad(grad, scale)
        return np.multiply(factor, np.reshape(g, (-1, 1)) if np.ndim(g) else g), None

    return np.asarray(out, dtype=logits.dtype), backward


@register(dtypes=(FLOAT, PROMOTE), saves=((0, 1),))
def binary_cross_entropy_with_logits(logits, target, weight=None, pos_weight=None,
                                     reduction="mean"):
    """Binary cross-entropy on logits x with targets y in [0, 1], stable for any x:

        l = (1 - y) x + (1 + (p - 1) y) softplus(-x),   softplus(-x) = log(1 + e^-x)
    (p = pos_weight, 1 by default), computed as max(-x, 0) + log(1 + e^-|x|).
    d l / d x = (1 - y) - (1 + (p - 1) y) sigmoid(-x);  d l / d y = -x + (p - 1) softplus(-x).
    """
    _check_same_shape(logits, target, "BCEWithLogitsLoss")
    softplus_neg = np.maximum(-logits, 0) + np.log1p(np.exp(-np.abs(logits)))
    coef = 1.0 if pos_weight is None else 1 + (pos_weight - 1) * target
    losses = (1 - target) * logits + coef * softplus_neg
    if weight is not None:
        losses = losses * weight
    out, scale = _reduce(losses, reduction)

    def backward(grad, need):
        g = _elementwise_grad(grad, scale)
        if weight is not None:
            g = g * weight
        sig_neg = 0.5 * (1.0 - np.tanh(0.5 * logits))
        grad_x = ((1 - target) - coef * sig_neg) * g if need[0] else None
        grad_y = None
        if need[1]:
            dy = -logits if pos_weight is None else -logits + (pos_weight - 1) * softplus_neg
            grad_y = dy * g
        return grad_x, grad_y

    return np.asarray(out, dtype=losses.dtype), backward
