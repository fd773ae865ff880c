"""Fully connected layer (notes: "Full Connected Networks")."""

from __future__ import annotations

from lamina import functional as F
from lamina.device import check_device
from lamina.dtypes import get_default_dtype
from lamina.nn import arguments, init
from lamina.nn.module import Module, Parameter
from lamina.tensor import Tensor, aligned_empty


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias.

    Shape:
        input (*, in_features) -> output (*, out_features); weight (out_features, in_features).

    Raises:
        TypeError: ``in_features``/``out_features`` not ints, or ``dtype`` not floating point.
        ValueError: ``in_features``/``out_features`` below 1.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        check_device(device, "Linear")
        in_features = arguments.positive_int("Linear", "in_features", in_features)
        out_features = arguments.positive_int("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        dtype = arguments.float_dtype("Linear", dtype or get_default_dtype())
        self.weight = Parameter(aligned_empty((out_features, in_features), dtype))
        self.bias = Parameter(aligned_empty(out_features, dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, *self._weight_and_bias())

    def _weight_and_bias(self):
        # from the registry, not self.weight: that attribute goes through Module.__getattr__
        params = self._parameters
        weight = params["weight"] if "weight" in params else self.weight
        return weight, (params["bias"] if "bias" in params else self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def linear_relu(linear: Linear, x) -> Tensor:
    """``relu(linear(x))`` as one op (:func:`lamina.functional.linear_relu`): the same values
    and gradients, one graph node and one array fewer. ``nn.Sequential`` calls it for every
    Linear (exactly; a subclass may change its forward) followed by a ReLU.

    Args:
        linear: a ``Linear``.
        x: input (*, in_features).

    Returns:
        Tensor (*, out_features).

    Example:
        >>> import lamina as lm
        >>> linear_relu(Linear(3, 2), lm.ones(4, 3)).shape
        (4, 2)
    """
    return F.linear_relu(x, *linear._weight_and_bias())


class Identity(Module):
    """Returns its input."""

    def forward(self, x):
        return x
