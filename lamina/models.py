"""Ready-made architectures (a multilayer perceptron, LeNet-5 of LeCun et al. 1998) and what
can be read off a model: its leaf layers in execution order, its dtype and the input shape its
first layer implies (used by ``lamina serve``, ``lamina predict`` and the ONNX export)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

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


# --------------------------------------------------------------------------- model shapes
DEFAULT_IMAGE_SIZE = (28, 28)
# One sample may hold at most this many numbers (64 MiB in float32; a 4096 x 4096 grayscale image):
# a larger input_shape in a model file or on the command line is refused before anything of that
# size is allocated (serve and summary pass one sample through the model).
MAX_SAMPLE_SIZE = 2**24


def leaf_layers(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """``(name, layer)`` of the leaf layers in execution order: plain ``Sequential`` containers
    are opened; any other module (a subclass with its own ``forward`` included) is a leaf."""
    if type(module) is nn.Sequential or (isinstance(module, nn.Sequential)
                                         and type(module).forward is nn.Sequential.forward):
        for name, child in module.named_children():
            yield from leaf_layers(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield (prefix or type(module).__name__), module


def model_dtype(model: nn.Module) -> np.dtype:
    """The dtype of the model's first floating parameter (float32 for a model without any)."""
    for p in model.parameters():
        if p.dtype.kind == "f":
            return np.dtype(p.dtype)
    return np.dtype(np.float32)


def check_input_shape(input_shape, where: str) -> tuple[int, ...]:
    """One sample's shape as a tuple of positive ints of at most :data:`MAX_SAMPLE_SIZE` numbers.

    Raises:
        TypeError: not a sequence of integers.
        ValueError: empty, a size <= 0, or more than ``MAX_SAMPLE_SIZE`` numbers per sample.
    """
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    try:
        if any(isinstance(d, (bool, float)) for d in input_shape):
            raise TypeError
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: input_shape must be a tuple of ints (one sample's shape, "
                        f"e.g. (784,) or (1, 28, 28)), got {input_shape!r}") from None
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(f"{where}: input_shape must be one sample's shape with positive sizes "
                         f"(e.g. (784,) or (1, 28, 28)), got {input_shape!r}")
    if math.prod(shape) > MAX_SAMPLE_SIZE:
        raise ValueError(f"{where}: input_shape {shape} holds {math.prod(shape):,} numbers per "
                         f"sample, more than the limit of {MAX_SAMPLE_SIZE:,}")
    return shape


def infer_input_shape(model: nn.Module, metadata: dict | None = None,
                      image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
                      ) -> tuple[tuple[int, ...], str | None]:
    """One sample's input shape for ``model``, and a note when it had to be guessed.

    ``metadata["input_shape"]`` (as stored by ``lm.save``) wins; otherwise the first layer
    decides: ``Linear(in_features)`` -> ``(in_features,)``, ``Conv2d(in_channels)`` ->
    ``(in_channels, *image_size)`` (MNIST's 28 x 28 by default, with a note saying so).

    Raises:
        ValueError: neither the metadata nor the first layer tell the shape, or the stored shape
            is not a valid one (see :func:`check_input_shape`).
    """
    if metadata and metadata.get("input_shape"):
        try:
            return check_input_shape(metadata["input_shape"], "infer_input_shape"), None
        except TypeError as err:
            raise ValueError(str(err)) from None
    for _, layer in leaf_layers(model):
        if hasattr(layer, "in_features"):
            return (int(layer.in_features),), None
        if hasattr(layer, "in_channels"):
            shape = (int(layer.in_channels), *image_size)
            return shape, (f"input shape not stored in the model file; assuming {shape} "
                           f"(pass --input-shape to change it)")
        if any(True for _ in layer.parameters()):
            break
    raise ValueError(f"infer_input_shape: cannot tell the input shape of {type(model).__name__} "
                     f"from its first layer; pass it explicitly (--input-shape 1,28,28)")
