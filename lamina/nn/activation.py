"""Activation layers (notes chapter 9): thin Modules over lamina.functional."""

from __future__ import annotations

from lamina import functional as F
from lamina.nn import arguments
from lamina.nn.module import Module


class ReLU(Module):
    """max(0, x) (eq 9.3). (``inplace`` is accepted as torch's; the output is a new tensor.)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """max(negative_slope * x, x) (eq 9.4)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = arguments.real("LeakyReLU", "negative_slope", negative_slope)
        self.inplace = inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + e^-x) (eq 9.1)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x) (eq 9.2)."""

    def forward(self, x):
        return F.tanh(x)


class Swish(Module):
    """x * sigmoid(x) (eq 9.5); ``nn.SiLU`` is the same class."""

    def forward(self, x):
        return F.swish(x)


SiLU = Swish


class ScaledTanh(Module):
    """LeNet-5's 1.7159 tanh(2x/3) (LeCun et al. 1998, appendix A)."""

    def __init__(self, scale: float = 1.7159, slope: float = 2.0 / 3.0):
        super().__init__()
        self.scale, self.slope = scale, slope

    def forward(self, x):
        return F.scaled_tanh(x, self.scale, self.slope)


class Softmax(Module):
    """Softmax along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log softmax along ``dim``."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)
