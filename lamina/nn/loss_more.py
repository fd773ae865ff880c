"""More loss layers (PyTorch names and arguments): BCELoss, HuberLoss, SmoothL1Loss,
KLDivLoss, over the ops of :mod:`lamina.ops.loss_more`."""

from __future__ import annotations

from lamina import functional_more as FM
from lamina.nn.loss import _Loss
from lamina.nn.module import Module


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (after a sigmoid): -w (y log p + (1-y) log(1-p)),
    logs clamped at -100 as PyTorch. Prefer BCEWithLogitsLoss on logits (stable)."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return FM.binary_cross_entropy(input, target, self.weight, self.reduction)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2), d = input - target."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return FM.huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", delta={self.delta}"


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (Girshick 2015); HuberLoss / beta."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return FM.smooth_l1_loss(input, target, self.reduction, self.beta)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", beta={self.beta}"


class KLDivLoss(Module):
    """KL divergence sum t (log t - x) of log-probabilities x from targets t (``log_target``:
    t given as log t); reduction 'mean' (per element), 'batchmean' (per sample: the true KL
    divergence), 'sum' or 'none'."""

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        if reduction not in ("mean", "sum", "none", "batchmean"):
            raise ValueError(f"KLDivLoss: reduction must be one of ('mean', 'sum', 'none', "
                             f"'batchmean'), got {reduction!r}")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return FM.kl_div(input, target, self.reduction, self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"
