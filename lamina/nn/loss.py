"""Loss modules (notes chapter 4): reduction='mean' | 'sum' | 'none'."""

from __future__ import annotations

import numpy as np

from lamina import functional as F
from lamina.nn.module import Module
from lamina.ops import OPS
from lamina.ops.loss import check_reduction
from lamina.tensor import Tensor, apply


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (eq 4.2): mean((input - target)^2). Shapes must match."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (eq 4.3, which the notes mislabel "MSE"): mean|input - target|."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy (eq 4.4-4.5) of softmax(logits) against class indices or probabilities.

    Shape: logits (N, C) or (N, C, *); target (N,) / (N, *) integer class indices or (N, C)
    float probabilities; output () or target's shape for reduction='none'. ``weight`` (C,)
    rescales each class; targets equal to ``ignore_index`` contribute nothing (and do not
    count in the 'mean'); ``label_smoothing`` mixes the target with the uniform distribution
    (PyTorch's formula: (1 - eps) nll + eps / C * sum_c -w_c log q_c).
    """

    def __init__(self, weight=None, reduction: str = "mean", label_smoothing: float = 0.0,
                 ignore_index: int = -100):
        super().__init__(reduction)
        self.weight, self.label_smoothing = weight, label_smoothing
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return cross_entropy_ignore(input, target, self.weight, self.reduction,
                                    self.label_smoothing, self.ignore_index)


def _index_array(target):
    arr = target._data if isinstance(target, Tensor) else np.asarray(target)
    return arr if arr.dtype.kind in "iu" else None


def _class_weight(weight, dtype):
    return None if weight is None else np.asarray(getattr(weight, "_data", weight), dtype)


def cross_entropy_ignore(input, target, weight=None, reduction: str = "mean",
                         label_smoothing: float = 0.0, ignore_index: int = -100) -> Tensor:
    """Cross-entropy with PyTorch's ``ignore_index`` and (N, C, *) inputs: the fused
    :func:`lamina.functional.cross_entropy` when no target is ignored and the input is 2-D,
    else log_softmax + the ``nll_loss`` op (+ the smoothing term), the same values."""
    check_reduction(reduction, "CrossEntropyLoss")
    index = _index_array(target)
    if index is None or (input.ndim == 2 and not np.any(index == ignore_index)):
        return F.cross_entropy(input, target, weight, reduction, label_smoothing)
    w = _class_weight(weight, input.dtype)
    c = input.shape[1]
    logq = F.log_softmax(input, 1)
    nll = apply(OPS["nll_loss"], logq, index, weight=w, ignore_index=ignore_index,
                reduction=reduction)
    if not label_smoothing:
        return nll
    keep = index != ignore_index
    shape = (1, c) + (1,) * (input.ndim - 2)
    weighted = logq if w is None else logq * Tensor(w.reshape(shape))
    smooth = -weighted.sum(axis=1) * Tensor(keep.astype(input.dtype))
    if reduction == "none":
        total = smooth
    elif reduction == "sum":
        total = smooth.sum()
    else:
        safe = np.where(keep, index, 0)
        count = keep.sum() if w is None else (w[safe] * keep).sum()
        total = smooth.sum() / float(count)
    return nll * (1 - label_smoothing) + total * (label_smoothing / c)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, *) at class indices
    (N,) / (N, *); ``weight`` (C,) rescales each class and targets equal to ``ignore_index``
    are skipped ('mean' divides by the summed weights of the kept targets, as PyTorch; see
    :func:`lamina.ops.loss_more.nll_loss`)."""

    def __init__(self, weight=None, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        index = _index_array(target)
        if index is None:
            raise ValueError(f"nll_loss: target must hold integer class indices, got dtype "
                             f"{np.asarray(getattr(target, '_data', target)).dtype}")
        return apply(OPS["nll_loss"], input, index, weight=_class_weight(self.weight,
                                                                         input.dtype),
                     ignore_index=self.ignore_index, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable op; ``pos_weight`` weighs positives."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.pos_weight,
                                                  self.reduction)
