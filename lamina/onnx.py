"""Export lamina models to ONNX (``lm.onnx.export``), built with ``onnx.helper`` only.

The exporter walks the model's layers in order (``Sequential`` nesting is flattened) and writes
one ONNX node group per layer:

    Linear      -> Gemm(x, W, b, transB=1)          (input (N, in); MatMul + Add for more dims)
    Conv2d      -> Conv(pads, strides)   (MaskedConv2d, LeNet-5's C3: W * mask baked in)
    MaxPool2d   -> MaxPool;  AvgPool2d -> AveragePool(count_include_pad=1)
    Subsampling -> AveragePool, Mul(coefficient), Add(bias)   (LeNet-5 classic S2/S4)
    Flatten     -> Flatten(axis=1), or Reshape for other start/end dims
    ReLU, Sigmoid, Tanh, LeakyReLU(alpha), Softmax(axis), LogSoftmax(axis)
    Swish       -> Mul(x, Sigmoid(x));  ScaledTanh -> Mul(Tanh(Mul(x, slope)), scale)
    Dropout, Identity -> nothing (inference graph)
    BatchNorm, LayerNorm, GroupNorm, RNN/LSTM/GRU, Conv1d, ConvTranspose2d, 1-D and adaptive
    pooling, Upsample, GELU and the other activations: see :mod:`lamina.onnx_layers`

The graph has one input ``"input"`` of shape ``("batch", *input_shape)`` and one output
``"logits"`` of shape ``("batch", ...)``; weights are initializers in the model's dtype. The
``onnx`` package is imported inside the functions, so ``import lamina`` never needs it.

Example:
    >>> import lamina as lm
    >>> model = lm.nn.Sequential(lm.nn.Linear(4, 3), lm.nn.ReLU(), lm.nn.Linear(3, 2))
    >>> path = lm.onnx.export(model, "model.onnx", input_shape=(4,))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lamina.models import (
    check_input_shape,
    infer_input_shape,
    leaf_layers,
    model_dtype,
)
from lamina.nn.module import Module
from lamina.onnx_layers import CONVERTERS as _MORE_CONVERTERS
from lamina.tensor import Tensor, no_grad

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17; readable by older runtimes too
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("lm.onnx needs the 'onnx' package: pip install 'lamina[onnx]'") from exc
    return onnx


class _GraphBuilder:
    """Collects nodes and initializers; every value gets a fresh, readable name."""

    def __init__(self, dtype: np.dtype):
        self.onnx = _onnx()
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = {INPUT_NAME}

    def fresh(self, stem: str) -> str:
        name, i = stem, 1
        while name in self._names:
            name, i = f"{stem}_{i}", i + 1
        self._names.add(name)
        return name

    def constant(self, stem: str, value, dtype: np.dtype | None = None) -> str:
        """Add an initializer (in the model's dtype unless ``dtype`` says otherwise)."""
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype or self.dtype))
        name = self.fresh(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], stem: str, **attributes) -> str:
        output = self.fresh(stem)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [output],
                                                     name=output, **attributes))
        return output


# A converter takes (builder, layer, input name, per-sample input shape, layer name) and returns
# the output name. Shapes exclude the batch axis.
Converter = Callable[[_GraphBuilder, Module, str, tuple[int, ...], str], str]


def _linear(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    weight = layer.weight._data
    if len(shape) == 1:
        inputs = [x, g.constant(f"{name}.weight", weight)]
        if layer.bias is not None:
            inputs.append(g.constant(f"{name}.bias", layer.bias._data))
        return g.node("Gemm", inputs, f"{name}.gemm", transB=1)
    y = g.node("MatMul", [x, g.constant(f"{name}.weight_t", weight.T)], f"{name}.matmul")
    if layer.bias is None:
        return y
    return g.node("Add", [y, g.constant(f"{name}.bias", layer.bias._data)], f"{name}.add")


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))


def _conv_weight(layer) -> np.ndarray:
    """The effective kernel: a connection mask (LeNet-5's C3 table) multiplies the weight."""
    weight = layer.weight._data
    mask = layer.__dict__.get("_mask", layer.__dict__.get("mask"))
    if mask is not None:
        weight = weight * np.asarray(mask._data if isinstance(mask, Tensor) else mask)
    return weight


def _conv2d(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    weight = _conv_weight(layer)
    ph, pw = _pair(layer.padding)
    inputs = [x, g.constant(f"{name}.weight", weight)]
    if getattr(layer, "bias", None) is not None:
        inputs.append(g.constant(f"{name}.bias", layer.bias._data))
    attributes = {"kernel_shape": list(weight.shape[2:]), "strides": list(_pair(layer.stride)),
                  "pads": [ph, pw, ph, pw]}
    if getattr(layer, "dilation", 1) not in (1, (1, 1)):
        attributes["dilations"] = list(_pair(layer.dilation))
    if getattr(layer, "groups", 1) != 1:
        attributes["group"] = int(layer.groups)
    return g.node("Conv", inputs, f"{name}.conv", **attributes)


def _pool_attributes(layer) -> dict[str, list[int]]:
    kernel = _pair(layer.kernel_size)
    stride = kernel if getattr(layer, "stride", None) is None else _pair(layer.stride)
    ph, pw = _pair(getattr(layer, "padding", 0))
    return {"kernel_shape": list(kernel), "strides": list(stride), "pads": [ph, pw, ph, pw]}


def _max_pool2d(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    return g.node("MaxPool", [x], f"{name}.maxpool", **_pool_attributes(layer))


def _avg_pool2d(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    return g.node("AveragePool", [x], f"{name}.avgpool", count_include_pad=1,
                  **_pool_attributes(layer))


def _subsampling(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    """LeNet-5's S layers: per-channel ``coefficient * avg_pool(x) + bias``."""
    y = _avg_pool2d(g, layer, x, shape, name)
    channels = shape[0]
    for attribute, op in (("weight", "Mul"), ("coefficient", "Mul"), ("bias", "Add")):
        param = getattr(layer, attribute, None)
        if param is None:
            continue
        value = np.asarray(param._data)
        if value.size == channels:
            value = value.reshape(channels, 1, 1)
        y = g.node(op, [y, g.constant(f"{name}.{attribute}", value)], f"{name}.{op.lower()}")
    return y


def _flatten(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    full = (-1, *shape)  # -1 stands for the batch axis
    start, end = layer.start_dim % len(full), layer.end_dim % len(full)
    if start == 1 and end == len(full) - 1:
        return g.node("Flatten", [x], f"{name}.flatten", axis=1)
    if start == 0:  # the batch axis merges too: let Reshape infer it
        target = [-1, *full[end + 1:]]
    else:  # 0 copies the batch size
        target = [0, *full[1:start], int(np.prod(full[start:end + 1])), *full[end + 1:]]
    shape_name = g.constant(f"{name}.shape", target, dtype=np.int64)
    return g.node("Reshape", [x, shape_name], f"{name}.reshape")


def _unary(op_type: str) -> Converter:
    def convert(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
        return g.node(op_type, [x], f"{name}.{op_type.lower()}")
    return convert


def _leaky_relu(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    return g.node("LeakyRelu", [x], f"{name}.leakyrelu", alpha=float(layer.negative_slope))


def _softmax(op_type: str) -> Converter:
    def convert(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
        dim = -1 if getattr(layer, "dim", None) is None else int(layer.dim)
        return g.node(op_type, [x], f"{name}.{op_type.lower()}", axis=dim)
    return convert


def _swish(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    return g.node("Mul", [x, g.node("Sigmoid", [x], f"{name}.sigmoid")], f"{name}.mul")


def _scaled_tanh(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    inner = g.node("Mul", [x, g.constant(f"{name}.slope", layer.slope)], f"{name}.mul_slope")
    y = g.node("Tanh", [inner], f"{name}.tanh")
    return g.node("Mul", [y, g.constant(f"{name}.scale", layer.scale)], f"{name}.mul_scale")


def _skip(g: _GraphBuilder, layer, x: str, shape: tuple[int, ...], name: str) -> str:
    return x


# Class names (looked up in lamina.nn when exporting, so layers added later are found) ->
# converter. Subclasses use their closest listed base (LogSoftmax before Softmax).
_CONVERTERS: dict[str, Converter] = {
    "Linear": _linear,
    "Conv2d": _conv2d,
    "MaskedConv2d": _conv2d,
    "MaxPool2d": _max_pool2d,
    "AvgPool2d": _avg_pool2d,
    "Subsampling": _subsampling,
    "Flatten": _flatten,
    "ReLU": _unary("Relu"),
    "Sigmoid": _unary("Sigmoid"),
    "Tanh": _unary("Tanh"),
    "LeakyReLU": _leaky_relu,
    "Softmax": _softmax("Softmax"),
    "LogSoftmax": _softmax("LogSoftmax"),
    "Swish": _swish,
    "ScaledTanh": _scaled_tanh,
    "Dropout": _skip,
    "Identity": _skip,
}
_CONVERTERS.update(_MORE_CONVERTERS)  # normalisation, recurrent, more conv/pool/activations


def _converter_for(layer: Module) -> Converter | None:
    """The converter of the closest listed base class. A class outside lamina that overrides
    ``forward`` computes something else and has none."""
    for cls in type(layer).__mro__:
        if cls.__name__ in _CONVERTERS and cls.__module__.startswith("lamina."):
            own = type(layer).__module__.startswith("lamina.")
            return _CONVERTERS[cls.__name__] if own or type(layer).forward is cls.forward else None
    return None


def build_model_proto(model: Module, input_shape: Sequence[int]):
    """The ``onnx.ModelProto`` of ``model`` for samples of shape ``input_shape``.

    Args:
        model: a lamina Module built from the layers listed in the module docstring.
        input_shape: one sample's shape, without the batch axis.

    Returns:
        The checked ``onnx.ModelProto`` (opset 17, dynamic batch axis ``"batch"``).

    Raises:
        TypeError: a layer has no ONNX converter (the message names it).
        ValueError: ``input_shape`` does not fit the model (the layer's own message).
    """
    onnx = _onnx()
    from onnx import helper

    shape = check_input_shape(input_shape, "lm.onnx.export")
    dtype = model_dtype(model)
    layers = list(leaf_layers(model))
    for name, layer in layers:
        if _converter_for(layer) is None:
            raise TypeError(f"lm.onnx.export: layer {name!r} ({type(layer).__name__}) has no ONNX "
                            f"converter; supported layers: {', '.join(_CONVERTERS)}")
    g = _GraphBuilder(dtype)
    modes = {id(m): m.training for m in model.modules()}
    model.eval()
    try:
        value, current = INPUT_NAME, np.zeros((1, *shape), dtype)
        with no_grad():
            for i, (name, layer) in enumerate(layers):
                try:
                    result = layer(Tensor(current))
                    if isinstance(result, tuple):  # RNN/LSTM/GRU: (output, states)
                        if i != len(layers) - 1:
                            raise TypeError(f"{type(layer).__name__} returns a tuple (output, "
                                            f"states), which the next layer cannot take")
                        result = result[0]
                    following = np.asarray(result._data)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"lm.onnx.export: input_shape {shape} does not fit layer "
                                     f"{name!r} ({type(layer).__name__}) receiving "
                                     f"{current.shape}: {exc}") from exc
                value = _converter_for(layer)(g, layer, value, current.shape[1:], name)
                current = following
    finally:
        for m in model.modules():
            object.__setattr__(m, "training", modes[id(m)])
    if value == INPUT_NAME:  # a model of Identity/Dropout layers only
        value = g.node("Identity", [value], "identity")
    g.nodes[-1].output[0] = OUTPUT_NAME
    elem_type = helper.np_dtype_to_tensor_dtype(dtype)
    inputs = [helper.make_tensor_value_info(INPUT_NAME, elem_type, ["batch", *shape])]
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, elem_type,
                                             ["batch", *current.shape[1:]])]
    graph = helper.make_graph(g.nodes, type(model).__name__, inputs, outputs, g.initializers)
    proto = helper.make_model(graph, producer_name="lamina", producer_version=_version(),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _version() -> str:
    import lamina

    return lamina.__version__


def export(model: Module, path: str | os.PathLike, input_shape: Sequence[int]) -> str:
    """Write ``model`` as an ONNX file that onnxruntime (or any ONNX runtime) can run.

    Args:
        model: a lamina Module: ``Sequential`` nesting of Linear, Conv2d, pooling, Flatten,
            activation, Dropout and Identity layers (LeNet-5 modern and classic included).
        path: the file to write; written to a temporary file first, then renamed over ``path``.
        input_shape: one sample's shape, e.g. ``(784,)`` for an MLP or ``(1, 28, 28)`` for a
            CNN. The batch axis is dynamic.

    Returns:
        ``path`` as a string.

    Shape:
        graph input ``"input"``: ``(batch, *input_shape)`` in the model's dtype;
        graph output ``"logits"``: ``(batch, *output_shape)``, what ``model(x)`` returns.

    Raises:
        TypeError: a layer has no ONNX equivalent (the message names the layer).
        ValueError: ``input_shape`` is malformed or does not fit the model.
        ImportError: the ``onnx`` package is not installed.

    Example:
        >>> import lamina as lm
        >>> mlp = lm.models.mlp([784, 64, 10])  # doctest: +SKIP
        >>> lm.onnx.export(mlp, "mlp.onnx", (784,))  # doctest: +SKIP
        'mlp.onnx'
    """
    proto = build_model_proto(model, input_shape)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".lamina-", suffix=".onnx.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,28,28"``, ``"1x28x28"`` or ``(1, 28, 28)`` -> ``(1, 28, 28)``."""
    if not isinstance(text, str):
        return check_input_shape(text, "parse_shape")
    parts = [p for p in text.replace("x", ",").replace(" ", ",").strip("()[]").split(",") if p]
    try:
        return check_input_shape([int(p) for p in parts], "parse_shape")
    except ValueError:
        raise ValueError(f"--input-shape: expected sizes separated by commas, e.g. 1,28,28 or "
                         f"784, got {text!r}") from None


def export_cli(model_path: str | os.PathLike, output: str | os.PathLike | None = None,
               format: str = "onnx", input_shape: str | Sequence[int] | None = None) -> str:
    """``lamina export MODEL --format onnx [--output PATH] [--input-shape 1,28,28]``.

    Loads the model file with ``lm.io.load_bundle`` (or ``lm.load``), finds the input shape
    (argument, then the file's metadata, then the first layer), exports it and prints the
    written path.

    Args:
        model_path: a file written by ``lm.save``.
        output: where to write; default ``MODEL`` with the suffix ``.onnx``.
        format: only ``"onnx"``.
        input_shape: one sample's shape, as a sequence or text like ``"1,28,28"``.

    Returns:
        The written path.

    Raises:
        ValueError: unknown format, unreadable model file or unusable input shape.
        TypeError: a layer has no ONNX converter.
    """
    if format.lower() != "onnx":
        raise ValueError(f"lamina export: --format must be 'onnx', got {format!r}")
    model, metadata = _load_model(model_path)
    if input_shape is not None:
        shape = parse_shape(input_shape)
    else:
        shape, note = infer_input_shape(model, metadata)
        if note:
            print(f"note: {note}", file=sys.stderr)
    if output is None:
        output = os.path.splitext(os.fspath(model_path))[0] + ".onnx"
    written = export(model, output, shape)
    print(written)
    return written


def _load_model(model_path) -> tuple[Module, dict]:
    """(model in eval mode, metadata dict) from a file written by ``lm.save``."""
    from lamina import io

    load_bundle = getattr(io, "load_bundle", None)
    if load_bundle is not None:
        bundle = load_bundle(model_path)
        return bundle.model.eval(), dict(getattr(bundle, "metadata", None) or {})
    return io.load(model_path).eval(), {}
