"""Channel-wise dropout: whole feature maps are zeroed (Tompson et al. 2015)."""

from __future__ import annotations

from lamina import functional_more as FM
from lamina.nn.module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(_DropoutNd):
    """In training, zero each channel x[n, c] (a whole feature map) with probability p and
    scale the rest by 1/(1-p); identity in eval mode. Shapes as PyTorch 2.13
    (:func:`lamina.functional_more.dropout2d`): (N, C, H, W); a 3-D input is read as
    (N, C, L) and a 2-D input gets element-wise dropout, both with a warning."""

    def forward(self, x):
        return FM.dropout2d(x, self.p, self.training)


class Dropout1d(_DropoutNd):
    """Zero each channel of (N, C, L) (or (C, L)) with probability p in training."""

    def forward(self, x):
        return FM.dropout1d(x, self.p, self.training)
