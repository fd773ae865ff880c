"""``lamina summary MODEL_OR_CONFIG``: a layer table with each layer's output shape.

For convolution and pooling layers the table shows the output-size arithmetic of notes
eq 6.5-6.8 with padding, ``floor((n + 2p - k) / s) + 1``, e.g. ``(28 + 2*2 - 5)/1 + 1 = 28``,
computed by :mod:`lamina.convsize` (the helper the layers use). Shapes are also checked by
passing one zero sample through the layers.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LayerRow", "add_arguments", "format_table", "layer_rows", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODEL_OR_CONFIG",
                        help="a model file, or a TOML config (its model is built, untrained)")
    parser.add_argument("--input-shape", metavar="SHAPE",
                        help="one sample's shape, e.g. 1,28,28 (when the file does not say)")


def run(args: argparse.Namespace) -> int:
    model, shape, title = _load(args.target, args.input_shape)
    print(title)
    print(format_table(layer_rows(model, shape), shape))
    return 0


def _load(target: str, input_shape: str | None) -> tuple[Any, tuple[int, ...], str]:
    path = Path(target)
    if path.suffix.lower() == ".toml":
        from lamina.cli.train import build_from_config
        from lamina.config import load_config

        config = load_config(path)
        data = build_from_config(config, "data", seed=config["train"]["seed"])
        model = build_from_config(config, "model", input_shape=data.input_shape,
                                  num_classes=len(data.classes))
        shape = _parse_shape(input_shape) if input_shape else data.input_shape
        return model, shape, f"model of {path.name}: {config['model']['name']} (untrained)"
    from lamina.cli.artifacts import load_model

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
    return shape


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
    from lamina.nn import Sequential
    from lamina.tensor import Tensor, no_grad

    dtype = next((p.dtype for p in model.parameters()), np.float32)
    rows: list[LayerRow] = []

    def visit(module: Any, name: str, x: np.ndarray) -> np.ndarray:
        if isinstance(module, Sequential) and type(module).forward is Sequential.forward:
            for child_name, child in module.named_children():
                x = visit(child, f"{name}.{child_name}" if name else child_name, x)
            return x
        with no_grad():
            y = np.asarray(module(Tensor(x))._data)
        params = sum(p.numel() for p in module.parameters())
        rows.append(LayerRow(name or type(module).__name__, type(module).__name__,
                             tuple(y.shape[1:]), params, _arithmetic(module, x.shape)))
        return y

    was_training = model.training
    model.eval()
    try:
        visit(model, "", np.zeros((1, *input_shape), dtype=dtype))
    finally:
        model.train(was_training)
    return rows


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _arithmetic(module: Any, in_shape: tuple[int, ...]) -> str:
    """eq 6.5-6.8 for a layer with a sliding window over (H, W); Flatten's product."""
    from lamina.convsize import conv_arithmetic

    if type(module).__name__ == "Flatten" and len(in_shape) > 2:
        return f"{'*'.join(map(str, in_shape[1:]))} = {math.prod(in_shape[1:])}"
    if not hasattr(module, "kernel_size") or len(in_shape) != 4:
        return ""
    kernel = _pair(module.kernel_size)
    stride = _pair(getattr(module, "stride", None) or module.kernel_size)
    padding = _pair(getattr(module, "padding", 0) or 0)
    dilation = _pair(getattr(module, "dilation", 1) or 1)
    parts = [conv_arithmetic(n, k, s, p, d) for n, k, s, p, d
             in zip(in_shape[2:], kernel, stride, padding, dilation, strict=True)]
    if parts[0] == parts[1]:
        return parts[0]
    return f"H: {parts[0]}; W: {parts[1]}"


def format_table(rows: list[LayerRow], input_shape: tuple[int, ...]) -> str:
    """The rows as a text table, with the input first and the parameter total last.

    Example:
        >>> rows = [LayerRow("0", "Linear", (3,), 15), LayerRow("1", "ReLU", (3,), 0)]
        >>> print(format_table(rows, (4,)))  # doctest: +NORMALIZE_WHITESPACE
        Layer (type)    Output shape    Param #    Output size (eq 6.5-6.8)
        -------------------------------------------------------------------
        input           (N, 4)                0
        0 (Linear)      (N, 3)               15
        1 (ReLU)        (N, 3)                0
        -------------------------------------------------------------------
        Total params: 15
    """
    header = ("Layer (type)", "Output shape", "Param #", "Output size (eq 6.5-6.8)")
    table = [("input", _shape(input_shape), "0", "")]
    table += [(f"{r.name} ({r.type})", _shape(r.output_shape), f"{r.parameters:,}",
               r.arithmetic) for r in rows]
    widths = [max(len(header[i]), *(len(t[i]) for t in table)) for i in range(3)]

    def line(cells: tuple[str, ...]) -> str:
        return (f"{cells[0]:<{widths[0]}}    {cells[1]:<{widths[1]}}    "
                f"{cells[2]:>{widths[2]}}    {cells[3]}").rstrip()

    rule = "-" * max(len(line(header)), *(len(line(t)) for t in table))
    total = sum(r.parameters for r in rows)
    return "\n".join([line(header), rule, *(line(t) for t in table), rule,
                      f"Total params: {total:,}"])


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"
