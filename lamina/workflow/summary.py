"""What ``lamina summary`` shows: each layer of a model with its output shape and, for
convolution and pooling layers, the output-size arithmetic of notes eq 6.5-6.8 with padding,
``floor((n + 2p - k) / s) + 1``, computed by :mod:`lamina.convsize` (the helper the layers use).
Shapes are checked by passing one zero sample through the layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LayerRow", "layer_rows", "model_to_summarise"]


def model_to_summarise(target: str | Path, input_shape: str | None = None
                       ) -> tuple[Any, tuple[int, ...], str]:
    """``(model, one sample's shape, title)`` for a model file or a TOML config (its model built,
    untrained); ``input_shape`` (text such as ``"1,28,28"``) overrides the stored shape.

    Raises:
        ValueError: no input shape is known, or it is malformed or absurdly large.
    """
    path = Path(target)
    if path.suffix.lower() == ".toml":
        from lamina.workflow.config import load_config
        from lamina.workflow.training import build_from_config

        config = load_config(path)
        data = build_from_config(config, "data", seed=config["train"]["seed"])
        model = build_from_config(config, "model", input_shape=data.input_shape,
                                  num_classes=len(data.classes))
        shape = _parse_shape(input_shape) if input_shape else data.input_shape
        return model, shape, f"model of {path.name}: {config['model']['name']} (untrained)"
    from lamina.workflow.model_file import load_model

    loaded = load_model(path)
    shape = _parse_shape(input_shape) if input_shape else loaded.input_shape
    if shape is None:
        raise ValueError(f"'{path}' does not store its input shape; pass --input-shape, "
                         "e.g. --input-shape 1,28,28")
    name = loaded.metadata.get("model_name", type(loaded.model).__name__)
    return loaded.model, tuple(shape), f"model file {path}: {name}"


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"--input-shape {text!r}: expected positive integers such as 1,28,28")
    from lamina.models import check_input_shape

    return check_input_shape(shape, "--input-shape")


@dataclass
class LayerRow:
    """One line of the table.

    Attributes:
        name: the layer's name in the model (``"0"``, ``"features.conv1"``).
        type: its class name.
        output_shape: one sample's output shape.
        parameters: its number of parameters.
        arithmetic: the output-size computation (conv/pool layers), else ``""``.
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    parameters: int
    arithmetic: str = ""


def layer_rows(model: Any, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """The layers of ``model`` in execution order, each with its output shape.

    ``Sequential`` containers are opened; any other module is one row. One zero sample is
    passed through, so a shape that does not fit raises the layer's own error.

    Args:
        model: a lamina Module.
        input_shape: one sample's shape.

    Returns:
        One :class:`LayerRow` per layer.

    Raises:
        ValueError: the input shape does not fit a layer (the message shows the arithmetic).
    """
    from lamina.models import leaf_layers, model_dtype
    from lamina.tensor import Tensor
    from lamina.train.loop import evaluation

    rows: list[LayerRow] = []
    x = np.zeros((1, *input_shape), dtype=model_dtype(model))
    with evaluation(model):
        for name, layer in leaf_layers(model):
            out = layer(Tensor(x))
            if isinstance(out, tuple):  # a recurrent layer: (output, states)
                out = out[0]
            y = np.asarray(out._data)
            params = sum(p.numel() for p in layer.parameters())
            rows.append(LayerRow(name, type(layer).__name__, tuple(y.shape[1:]), params,
                                 _arithmetic(layer, x.shape)))
            x = y
    return rows


def _ints(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * dims


def _arithmetic(module: Any, in_shape: tuple[int, ...]) -> str:
    """eq 6.5-6.8 for a layer with a sliding window over (H, W) or L (Conv1d, MaxPool1d), the
    transposed form for ConvTranspose2d; Flatten's product."""
    from lamina.convsize import conv_arithmetic, conv_transpose_arithmetic
    from lamina.nn import Flatten

    if isinstance(module, Flatten) and len(in_shape) > 2:
        return f"{'*'.join(map(str, in_shape[1:]))} = {math.prod(in_shape[1:])}"
    if not hasattr(module, "kernel_size") or len(in_shape) not in (3, 4):
        return ""
    dims = len(in_shape) - 2
    kernel = _ints(module.kernel_size, dims)
    if len(kernel) != dims:
        return ""
    stride = _ints(getattr(module, "stride", None) or module.kernel_size, dims)
    padding = _ints(getattr(module, "padding", 0) or 0, dims)
    dilation = _ints(getattr(module, "dilation", 1) or 1, dims)
    if hasattr(module, "output_padding"):  # ConvTranspose2d
        extra = _ints(module.output_padding, dims)
        parts = [conv_transpose_arithmetic(*args) for args
                 in zip(in_shape[2:], kernel, stride, padding, dilation, extra, strict=True)]
    else:
        parts = [conv_arithmetic(n, k, s, p, d) for n, k, s, p, d
                 in zip(in_shape[2:], kernel, stride, padding, dilation, strict=True)]
    if len(parts) == 1 or parts[0] == parts[1]:
        return parts[0]
    return f"H: {parts[0]}; W: {parts[1]}"
