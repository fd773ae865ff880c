"""Ready-made architectures: a multilayer perceptron and LeNet-5 (LeCun et al. 1998)."""

from __future__ import annotations

from collections.abc import Sequence

from lamina import nn
from lamina.nn.conv import LENET5_C3_TABLE, Conv2d, MaskedConv2d
from lamina.nn.pooling import MaxPool2d, Subsampling

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "swish": nn.Swish,
}


def mlp(sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """A fully connected network (notes chapter 5): Linear layers between consecutive sizes,
    each hidden one followed by the activation and, if ``dropout > 0``, Dropout(dropout).
    The last Linear has neither: it returns logits (or regression outputs).

    Args:
        sizes: layer widths, input first, e.g. ``[784, 256, 256, 10]``.
        activation: one of "relu", "tanh", "sigmoid", "leaky_relu", "swish".
        dropout: drop probability after each hidden activation, in [0, 1).

    Returns:
        An ``nn.Sequential``.

    Raises:
        ValueError: fewer than two sizes, a non-positive size, an unknown activation, or
            dropout outside [0, 1).

    Example:
        >>> model = mlp([784, 256, 10])
        >>> [type(m).__name__ for m in model]
        ['Linear', 'ReLU', 'Linear']
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, got {sizes}")
    if any(int(s) != s or s <= 0 for s in sizes):
        raise ValueError(f"mlp: sizes must be positive integers, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: unknown activation {activation!r}; choose one of "
                         f"{', '.join(ACTIVATIONS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(int(n_in), int(n_out)))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def lenet5(classic: bool = False) -> nn.Sequential:
    """LeNet-5 for (N, 1, 28, 28) MNIST digits; returns logits (N, 10).

    ``classic=False`` (the default) is the modern variant, exactly::

        Conv2d(1, 6, 5, padding=2) - ReLU - MaxPool2d(2) - Conv2d(6, 16, 5) - ReLU -
        MaxPool2d(2) - Flatten - Linear(400, 120) - ReLU - Linear(120, 84) - ReLU -
        Linear(84, 10)

    with 61,706 parameters (state_dict names "0.weight", "0.bias", "3.weight", ...).
    ``nn.Sequential`` runs each Conv2d-ReLU-MaxPool2d triple as one fused op
    (:func:`lamina.nn.conv.conv_relu_max_pool`): same values and gradients, less time.

    ``classic=True`` follows LeCun et al. 1998 as far as is practical:

    - squashing function 1.7159 tanh(2x/3) after every layer up to F6 (``nn.ScaledTanh``);
    - S2 and S4 are ``Subsampling``: 2x2 sums times a trainable coefficient plus a trainable
      bias per map;
    - C3 is a ``MaskedConv2d`` with the paper's Table I connections (60 of 96 map pairs,
      1,516 parameters in use; the 900 unconnected weights stay 0 with zero gradient);
    - C5 is Conv2d(16, 120, 5), as in the paper (on a 5x5 input it is a full connection);
    - the paper feeds 32x32 images; here C1 pads the 28x28 digits by 2, which gives the same
      28x28 C1 maps;
    - simplification: the paper's output layer is 10 Euclidean RBF units with fixed
      7x12 bitmap prototypes, trained with an MAP criterion; here it is Linear(84, 10)
      trained with cross-entropy, as usual today. Weights use PyTorch's default init rather
      than the paper's U(-2.4/F_in, 2.4/F_in).

    Args:
        classic: build the 1998 architecture instead of the modern one.

    Returns:
        An ``nn.Sequential``.

    Example:
        >>> lenet5().num_parameters()
        61706
    """
    if not classic:
        return nn.Sequential(
            Conv2d(1, 6, 5, padding=2), nn.ReLU(), MaxPool2d(2),
            Conv2d(6, 16, 5), nn.ReLU(), MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),
        )
    return nn.Sequential(
        Conv2d(1, 6, 5, padding=2), nn.ScaledTanh(),                     # C1: 6 @ 28x28
        Subsampling(6), nn.ScaledTanh(),                                 # S2: 6 @ 14x14
        MaskedConv2d(6, 16, 5, connection_table=LENET5_C3_TABLE), nn.ScaledTanh(),  # C3
        Subsampling(16), nn.ScaledTanh(),                                # S4: 16 @ 5x5
        Conv2d(16, 120, 5), nn.ScaledTanh(),                             # C5: 120 @ 1x1
        nn.Flatten(),
        nn.Linear(120, 84), nn.ScaledTanh(),                             # F6
        nn.Linear(84, 10),                                               # output (see above)
    )
