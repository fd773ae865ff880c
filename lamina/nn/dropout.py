"""Dropout and Flatten: layers without parameters that reshape or mask."""

from __future__ import annotations

from lamina import functional as F
from lamina.nn import arguments
from lamina.nn.module import Module


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014; the notes' section 8.4 is empty): in training
    each element is zeroed with probability p and survivors are scaled by 1/(1-p); in eval mode
    the identity. Masks come from lamina's seeded generator."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = arguments.real(type(self).__name__, "p", p, 0.0, 1.0)
        self.inplace = inplace  # (accepted as torch's; the output is a new tensor)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = arguments.int_arg("Flatten", "start_dim", start_dim)
        self.end_dim = arguments.int_arg("Flatten", "end_dim", end_dim)

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
