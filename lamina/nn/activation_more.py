"""More activation layers (PyTorch names and arguments): thin Modules over
:mod:`lamina.functional_more`."""

from __future__ import annotations

import numpy as np

from lamina import functional_more as FM
from lamina.nn.module import Module, Parameter


class GELU(Module):
    """x Phi(x) (Hendrycks and Gimpel 2016); ``approximate='tanh'`` for the tanh form."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return FM.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise (Clevert et al. 2015)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return FM.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class CELU(ELU):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1)) (Barron 2017)."""

    def forward(self, x):
        return FM.celu(x, self.alpha)


class SELU(Module):
    """scale * ELU(x, alpha), alpha = 1.6733, scale = 1.0507 (Klambauer et al. 2017)."""

    def forward(self, x):
        return FM.selu(x)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, linear where beta x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return FM.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Mish(Module):
    """x tanh(softplus(x)) (Misra 2019)."""

    def forward(self, x):
        return FM.mish(x)


class Hardswish(Module):
    """x relu6(x + 3) / 6 (Howard et al. 2019)."""

    def forward(self, x):
        return FM.hardswish(x)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6."""

    def forward(self, x):
        return FM.hardsigmoid(x)


class PReLU(Module):
    """x if x > 0 else a x with learnt slopes a (He et al. 2015): one shared
    (``num_parameters=1``) or one per channel of axis 1; ``weight`` starts at ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        super().__init__()
        if num_parameters <= 0:
            raise ValueError(f"PReLU: num_parameters must be positive, got {num_parameters}")
        self.num_parameters, self.init = int(num_parameters), init
        self.weight = Parameter(np.full(num_parameters, init, np.dtype(dtype or np.float32)))

    def forward(self, x):
        return FM.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class LogSigmoid(Module):
    """log sigmoid(x), stable for any x."""

    def forward(self, x):
        return FM.logsigmoid(x)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x):
        return FM.softsign(x)


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float):
        super().__init__()
        self.threshold, self.value = threshold, value

    def forward(self, x):
        return FM.threshold(x, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}"
