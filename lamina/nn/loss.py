"""Loss modules (notes chapter 4): reduction='mean' | 'sum' | 'none'."""

from __future__ import annotations

from lamina import functional as F
from lamina import functional_more as FM
from lamina.nn import arguments
from lamina.nn.module import Module
from lamina.ops.loss import check_reduction


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
        self.weight = weight
        self.label_smoothing = arguments.real("CrossEntropyLoss", "label_smoothing",
                                              label_smoothing, 0.0, 1.0)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return FM.cross_entropy_ignore(input, target, self.weight, self.reduction,
                                       self.label_smoothing, self.ignore_index)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) or (N, C, *) at class indices
    (N,) / (N, *); ``weight`` (C,) rescales each class and targets equal to ``ignore_index``
    are skipped ('mean' divides by the summed weights of the kept targets, as PyTorch; see
    :func:`lamina.ops.loss_more.nll_loss`)."""

    def __init__(self, weight=None, reduction: str = "mean", ignore_index: int = -100):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return FM.nll_loss_ignore(input, target, self.weight, self.reduction, self.ignore_index)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable op; ``pos_weight`` weighs positives."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.pos_weight,
                                                  self.reduction)
