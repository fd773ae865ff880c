"""Sequential: modules applied one after another."""

from __future__ import annotations

import math
from collections import OrderedDict

from lamina.convsize import as_pair
from lamina.nn.activation import ReLU
from lamina.nn.conv import Conv2d, conv_relu_max_pool
from lamina.nn.dropout import Flatten
from lamina.nn.linear import Linear, linear_relu
from lamina.nn.module import Module
from lamina.nn.pooling import MaxPool2d
from lamina.ops import OPS
from lamina.tensor import Tensor, is_grad_enabled


class Sequential(Module):
    """Chain modules: ``Sequential(a, b, c)(x) == c(b(a(x)))``; children are named "0", "1", ...

    An ``OrderedDict`` of named modules is accepted too, as in PyTorch.

    Each run of children ``Conv2d, ReLU, MaxPool2d`` (exactly these classes) is computed as
    one fused op, :func:`lamina.nn.conv.conv_relu_max_pool`, and each ``Linear, ReLU`` pair
    as :func:`lamina.nn.linear.linear_relu`: the same values and gradients, in less time and
    memory. Under ``lm.no_grad()`` the layers lamina knows (Conv2d, ReLU,
    MaxPool2d, Flatten, Linear) run their ops on the arrays directly, without building
    Tensors in between: the same values with less overhead per layer (batch-1 latency).
    The children, their names and parameters stay as they are.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {name} is a {type(m).__name__}, expected a "
                                f"Module")
            self.add_module(name, m)

    def forward(self, x):
        if not is_grad_enabled() and isinstance(x, Tensor):
            return Tensor._wrap(_infer(list(self._modules.values()), x.data))
        modules = list(self._modules.values())
        i, count = 0, len(modules)
        while i < count:
            m = modules[i]
            if _fusable(modules, i):
                x = conv_relu_max_pool(m, modules[i + 2], x)
                i += 3
            elif type(m) is Linear and i + 1 < count and type(modules[i + 1]) is ReLU:
                x = linear_relu(m, x)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):  # keeps the children's names, as PyTorch
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


def _fusable(modules: list[Module], i: int) -> bool:
    """Whether modules i, i+1, i+2 are exactly Conv2d, ReLU, MaxPool2d."""
    return (type(modules[i]) is Conv2d and i + 2 < len(modules)
            and type(modules[i + 1]) is ReLU and type(modules[i + 2]) is MaxPool2d)


def _infer(modules: list[Module], x):
    """The forward pass without autograd on the array ``x``: each known layer's op forward
    (the op that its ``forward`` calls, with the same arguments), any other module called on
    a Tensor as usual."""
    i, count = 0, len(modules)
    while i < count:
        m = modules[i]
        kind = type(m)
        if _fusable(modules, i):
            x = _fused_forward(m, modules[i + 2], x)
            i += 3
            continue
        if kind is ReLU:
            x = OPS["relu"](x)[0]
        elif kind is Linear or kind is Conv2d:
            weight, bias = m._parameters["weight"].data, m._parameters.get("bias")
            bias = None if bias is None else bias.data
            if kind is Linear and i + 1 < count and type(modules[i + 1]) is ReLU:
                x = OPS["linear_relu"](x, weight, bias)[0]
                i += 1
            elif kind is Linear:
                x = OPS["linear"](x, weight, bias)[0]
            else:
                x = OPS["conv2d"](x, weight, bias, stride=m.stride, padding=m.padding)[0]
        elif kind is Flatten:
            x = _flatten(x, m.start_dim, m.end_dim)
        elif kind is MaxPool2d:
            x = OPS["max_pool2d"](x, **_pool_options(m))[0]
        else:
            x = m(Tensor._wrap(x)).data
        i += 1
    return x


def _pair(value, name: str) -> tuple[int, int]:
    if type(value) is int:
        return value, value
    return as_pair(value, "MaxPool2d", name)


def _pool_options(pool: MaxPool2d) -> dict:
    return {"kernel_size": _pair(pool.kernel_size, "kernel_size"),
            "stride": _pair(pool.stride, "stride"), "padding": _pair(pool.padding, "padding")}


def _fused_forward(conv: Conv2d, pool: MaxPool2d, x):
    weight, bias = conv._parameters["weight"].data, conv._parameters.get("bias")
    options = _pool_options(pool)
    return OPS["conv2d_relu_max_pool2d"](
        x, weight, None if bias is None else bias.data, stride=conv.stride, padding=conv.padding,
        pool_kernel_size=options["kernel_size"], pool_stride=options["stride"],
        pool_padding=options["padding"])[0]


def _flatten(x, start_dim: int, end_dim: int):
    """``Tensor.flatten`` on an array: merge dims start_dim..end_dim."""
    shape = x.shape
    if not shape:
        return x.reshape(1)
    start, end = start_dim % len(shape), end_dim % len(shape)
    return x.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


class ModuleList(Module):
    """A list of modules whose parameters are registered ("0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
