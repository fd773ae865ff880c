"""The parameter shapes an architecture needs, computed from its JSON config before building.

Loading compares these with the tensors in the file before any layer is built, so a file of a
few hundred bytes that names ``Linear(12000, 12000)`` fails at once instead of allocating and
initialising 576 MB. Every lamina layer has a shape rule here: a function with the layer's
constructor signature returning ``{parameter name: shape}``; any class may also define its own
as a ``parameter_shapes(**constructor args)`` classmethod. A class without a rule (one
registered with :func:`lamina.io.register_module`, say) is built on its own to read its
shapes, but only when the product of the integers among its arguments is at most
``max(2**16, 64 * values in the file)``, and (on Linux) with the address space capped at
64 MB plus 128 bytes per value in the file while it is built: allocation stays proportional to
the data that is actually in the file.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

from lamina.codec import decode
from lamina.io.registry import (
    as_list,
    build_module,
    is_container,
    layer_class,
    rng_untouched,
)

__all__ = ["expected_shapes", "register_shapes"]

Shapes = dict[str, tuple[int, ...]]
_RULES: dict[str, Callable[..., Shapes]] = {}
_UNRULED_FLOOR = 2 ** 16
_UNRULED_BUDGET = 64 * 1024 * 1024


def register_shapes(name: str) -> Callable:
    """Decorator: ``rule(**constructor args) -> {name: shape}`` for the lamina layer ``name``."""
    def add(rule: Callable[..., Shapes]) -> Callable[..., Shapes]:
        _RULES[name] = rule
        return rule
    return add


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r:.40}")
    return value


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return _count(value[0], what), _count(value[1], what)
    n = _count(value, what)
    return n, n


def _with_bias(shapes: Shapes, bias: Any, out: int) -> Shapes:
    if bias:
        shapes["bias"] = (out,)
    return shapes


@register_shapes("Linear")
def _linear(in_features, out_features, bias=True, device=None, dtype=None) -> Shapes:
    n_in, n_out = _count(in_features, "in_features"), _count(out_features, "out_features")
    return _with_bias({"weight": (n_out, n_in)}, bias, n_out)


def _groups(c_in: int, c_out: int, groups: Any) -> int:
    g = _count(groups, "groups")
    if c_in % g or c_out % g:
        raise ValueError(f"in_channels ({c_in}) and out_channels ({c_out}) must be divisible "
                         f"by groups ({g})")
    return g


@register_shapes("Conv2d")
def _conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
            bias=True, device=None, dtype=None) -> Shapes:
    c_in, c_out = _count(in_channels, "in_channels"), _count(out_channels, "out_channels")
    kh, kw = _pair(kernel_size, "kernel_size")
    g = _groups(c_in, c_out, groups)
    return _with_bias({"weight": (c_out, c_in // g, kh, kw)}, bias, c_out)


@register_shapes("MaskedConv2d")
def _masked_conv2d(in_channels, out_channels, kernel_size, connection_table, stride=1,
                   padding=0, bias=True, device=None, dtype=None) -> Shapes:
    return _conv2d(in_channels, out_channels, kernel_size, bias=bias)


@register_shapes("Conv1d")
def _conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
            bias=True, device=None, dtype=None) -> Shapes:
    c_in, c_out = _count(in_channels, "in_channels"), _count(out_channels, "out_channels")
    k = kernel_size[0] if isinstance(kernel_size, (list, tuple)) and len(kernel_size) == 1 \
        else kernel_size
    g = _groups(c_in, c_out, groups)
    return _with_bias({"weight": (c_out, c_in // g, _count(k, "kernel_size"))}, bias, c_out)


@register_shapes("ConvTranspose2d")
def _conv_transpose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
                      output_padding=0, groups=1, bias=True, dilation=1, device=None,
                      dtype=None) -> Shapes:
    c_in, c_out = _count(in_channels, "in_channels"), _count(out_channels, "out_channels")
    kh, kw = _pair(kernel_size, "kernel_size")
    g = _groups(c_in, c_out, groups)
    return _with_bias({"weight": (c_in, c_out // g, kh, kw)}, bias, c_out)


@register_shapes("Subsampling")
def _subsampling(channels, kernel_size=2, device=None, dtype=None) -> Shapes:
    c = _count(channels, "channels")
    return {"weight": (c,), "bias": (c,)}


def _batch_norm(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                device=None, dtype=None) -> Shapes:
    c = _count(num_features, "num_features")
    shapes: Shapes = {"weight": (c,), "bias": (c,)} if affine else {}
    if track_running_stats:
        shapes.update({"running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()})
    return shapes


for _name in ("BatchNorm1d", "BatchNorm2d"):
    _RULES[_name] = _batch_norm


@register_shapes("LayerNorm")
def _layer_norm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                device=None, dtype=None) -> Shapes:
    dims = normalized_shape if isinstance(normalized_shape, (list, tuple)) \
        else (normalized_shape,)
    shape = tuple(_count(d, "normalized_shape") for d in dims)
    if not shape:
        raise ValueError("normalized_shape must hold positive sizes")
    if not elementwise_affine:
        return {}
    return {"weight": shape, "bias": shape} if bias else {"weight": shape}


@register_shapes("GroupNorm")
def _group_norm(num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None) -> Shapes:
    g, c = _count(num_groups, "num_groups"), _count(num_channels, "num_channels")
    if c % g:
        raise ValueError(f"num_channels ({c}) must be divisible by num_groups ({g})")
    return {"weight": (c,), "bias": (c,)} if affine else {}


@register_shapes("Embedding")
def _embedding(num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None) -> Shapes:
    return {"weight": (_count(num_embeddings, "num_embeddings"),
                       _count(embedding_dim, "embedding_dim"))}


@register_shapes("PReLU")
def _prelu(num_parameters=1, init=0.25, device=None, dtype=None) -> Shapes:
    return {"weight": (_count(num_parameters, "num_parameters"),)}


def _recurrent(gates: int) -> Callable[..., Shapes]:
    def rule(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
             batch_first=False, dropout=0.0, bidirectional=False, device=None,
             dtype=None) -> Shapes:
        n_in, h = _count(input_size, "input_size"), _count(hidden_size, "hidden_size")
        directions = 2 if bidirectional else 1
        shapes: Shapes = {}
        for layer in range(_count(num_layers, "num_layers")):
            layer_in = n_in if layer == 0 else h * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes[f"weight_ih_l{layer}{suffix}"] = (gates * h, layer_in)
                shapes[f"weight_hh_l{layer}{suffix}"] = (gates * h, h)
                if bias:
                    shapes[f"bias_ih_l{layer}{suffix}"] = (gates * h,)
                    shapes[f"bias_hh_l{layer}{suffix}"] = (gates * h,)
        return shapes
    return rule


def _cell(gates: int) -> Callable[..., Shapes]:
    def rule(input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
             dtype=None) -> Shapes:
        n_in, h = _count(input_size, "input_size"), _count(hidden_size, "hidden_size")
        shapes: Shapes = {"weight_ih": (gates * h, n_in), "weight_hh": (gates * h, h)}
        if bias:
            shapes.update({"bias_ih": (gates * h,), "bias_hh": (gates * h,)})
        return shapes
    return rule


for _name, _gates in (("RNN", 1), ("LSTM", 4), ("GRU", 3)):
    _RULES[_name] = _recurrent(_gates)
    _RULES[_name + "Cell"] = _cell(_gates)


def _no_parameters(**kwargs: Any) -> Shapes:
    return {}


for _name in ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Swish", "SiLU", "ScaledTanh", "Softmax",
              "LogSoftmax", "Dropout", "Flatten", "Identity", "MaxPool2d", "AvgPool2d",
              "Dropout1d", "Dropout2d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool2d",
              "AdaptiveMaxPool2d", "Upsample", "GELU", "ELU", "CELU", "SELU", "Softplus",
              "Hardswish", "Hardsigmoid", "Mish", "Softsign", "LogSigmoid", "Threshold"):
    _RULES[_name] = _no_parameters


def _ints(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        return [i for v in value for i in _ints(v)]
    if isinstance(value, dict):
        return [i for v in value.values() for i in _ints(v)]
    return []


def _rule(name: str, cls: type) -> Callable[..., Shapes] | None:
    own = getattr(cls, "parameter_shapes", None)
    if callable(own):
        return own
    return _RULES.get(name) if cls.__module__.startswith("lamina.") else None


@contextlib.contextmanager
def _allocation_limit(budget: int, where: str, name: str) -> Iterator[None]:
    """Cap the process's address space at its current size plus ``budget`` bytes (Linux):
    building a layer of a class without a shape rule cannot allocate more than that."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        yield
        return
    limit = current + budget
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    except MemoryError:
        raise ValueError(f"{where}: building {name} from the file's arguments needs more than "
                         f"{budget} bytes, out of proportion to the file") from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _leaf(config: dict, cls: type, elements: int, where: str) -> Shapes:
    name = config["type"]
    args = config.get("args", {})
    if not isinstance(args, dict):
        raise ValueError(f"{where}: {name} 'args' must be a dict, got {type(args).__name__}")
    kwargs = decode(args, where=where)
    rule = _rule(name, cls)
    if rule is not None:
        try:
            inspect.signature(rule).bind(**kwargs)
        except TypeError:  # arguments the rule does not know (a newer layer): build guarded
            rule = None
    if rule is not None and rule is not _no_parameters:
        try:
            found = rule(**kwargs)
            return {str(k): tuple(int(d) for d in v) for k, v in found.items()}
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{where}: cannot build {name}(**{kwargs!r:.200}): {exc}") from None
    if rule is not None:
        with rng_untouched():
            return {k: tuple(v.shape) for k, v in build_module(config, where).state_dict().items()}
    product = math.prod(i for i in _ints(kwargs) if i > 1)
    bound = max(_UNRULED_FLOOR, 64 * elements)
    if product > bound:
        raise ValueError(f"{where}: {name}'s arguments {kwargs!r:.200} would build a layer far "
                         f"larger than the {elements} values the file holds (product of its "
                         f"integer arguments {product} > {bound})")
    with rng_untouched(), _allocation_limit(_UNRULED_BUDGET + 16 * 8 * elements, where, name):
        module = build_module(config, where)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def expected_shapes(config: Any, elements: int, where: str, depth: int = 0) -> Shapes:
    """``{state_dict name: shape}`` of the model ``config`` describes, without building it.

    Args:
        config: a :func:`lamina.io.module_config` architecture (from a file: untrusted).
        elements: the number of values stored in the file (bounds layers without a rule).
        where: the start of error messages.

    Raises:
        ValueError: a malformed config, an unknown layer type, arguments a layer rejects, or a
            layer without a shape rule whose arguments are out of proportion to the file.
    """
    name, cls = layer_class(config, where, depth)
    if not is_container(cls):
        if "children" in config:
            raise ValueError(f"{where}: {name} is not a container but its config has "
                             f"'children'")
        return _leaf(config, cls, elements, where)
    out: Shapes = {}
    names: set[str] = set()
    for child in as_list(config.get("children", []), where):
        child_name = child.get("name") if isinstance(child, dict) else None
        if not isinstance(child_name, str) or not child_name or child_name in names:
            raise ValueError(f"{where}: each child of {name} needs a unique string 'name'")
        names.add(child_name)
        for key, shape in expected_shapes(child, elements, where, depth + 1).items():
            out[f"{child_name}.{key}"] = shape
    return out
