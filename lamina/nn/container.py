"""Sequential: modules applied one after another."""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

from lamina import kernels
from lamina.convsize import as_pair
from lamina.nn.activation import ReLU
from lamina.nn.conv import Conv2d, conv_relu_max_pool
from lamina.nn.dropout import Flatten
from lamina.nn.linear import Linear, linear_relu
from lamina.nn.module import Module
from lamina.nn.pooling import MaxPool2d
from lamina.ops import OPS
from lamina.ops.conv import conv2d_relu_max_pool2d_program
from lamina.ops.linalg import LinearChain
from lamina.tensor import Tensor, is_grad_enabled


class Sequential(Module):
    """Chain modules: ``Sequential(a, b, c)(x) == c(b(a(x)))``; children are named "0", "1", ...

    An ``OrderedDict`` of named modules is accepted too, as in PyTorch.

    Each run of children ``Conv2d, ReLU, MaxPool2d`` (exactly these classes) is computed as
    one fused op, :func:`lamina.nn.conv.conv_relu_max_pool`, and each ``Linear, ReLU`` pair
    as :func:`lamina.nn.linear.linear_relu`: the same values and gradients, in less time and
    memory. Under ``lm.no_grad()`` the layers lamina knows (Conv2d, ReLU,
    MaxPool2d, Flatten, Linear) run their ops on the arrays directly, without building
    Tensors in between: the same values with less overhead per layer (batch-1 latency); a run
    of consecutive Linear layers (each with its ReLU or not) is one
    :class:`lamina.ops.linalg.LinearChain`.
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
            return Tensor._wrap(self._infer(x._data))
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

    def _infer(self, x):
        """The no-grad forward pass on the array ``x``, by the plan of :func:`_plan`, built
        again whenever the children are not the same objects as last time."""
        modules = tuple(self._modules.values())
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[0] != modules:
            cached = (modules, _plan(list(modules)))
            self.__dict__["_plan_cache"] = cached
        for step in cached[1]:
            x = step(x)
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


def _plan(modules: list[Module]) -> list:
    """The no-grad forward pass of ``modules`` as a list of steps, functions from array to
    array: each run that the autograd path fuses, and each layer lamina knows (Conv2d, ReLU,
    MaxPool2d, Flatten, Linear), runs its op's forward directly (the op that its ``forward``
    calls, with the same arguments); any other module is called on a Tensor as usual.
    Steps read parameters and layer settings when they run, so a plan stays valid for as
    long as the children are the same objects."""
    steps, i, count = [], 0, len(modules)
    while i < count:
        m = modules[i]
        kind = type(m)
        if _fusable(modules, i):
            steps.append(_fused_step(m, modules[i + 2]))
            i += 3
            continue
        if kind is Linear:  # a run of Linear layers (each with or without a ReLU after it)
            layers, relus = [], []
            while i < count and type(modules[i]) is Linear:
                relu = i + 1 < count and type(modules[i + 1]) is ReLU
                layers.append(modules[i])
                relus.append(relu)
                i += 1 + relu
            steps.append(_linear_run_step(layers, tuple(relus)))
            continue
        if kind is ReLU:
            steps.append(_relu_forward)
        elif kind is Conv2d:
            steps.append(partial(_conv_forward, m))
        elif kind is Flatten:
            steps.append(partial(_flatten, m))
        elif kind is MaxPool2d:
            steps.append(partial(_max_pool_forward, m))
        else:
            steps.append(partial(_module_forward, m))
        i += 1
    return steps


def _bias(params: dict):
    """The bias array in a layer's parameter table, or None."""
    bias = params.get("bias")
    return None if bias is None else bias._data


def _linear_run_step(layers: list[Linear], relus: tuple[bool, ...]):
    """``x -> LinearChain(...)(x)`` through consecutive Linear layers, one or more (each
    with its ReLU or not), reading their parameters at each call; the chain (and its checks)
    is built again only when a parameter array is not the one it holds."""
    tables = [layer._parameters for layer in layers]
    built: list = [None]  # the LinearChain of the parameter arrays last read

    def step(x):
        chain = built[0]
        if chain is None or not _holds(chain, tables):
            arrays = [(params["weight"]._data, _bias(params)) for params in tables]
            chain = built[0] = LinearChain([w for w, _ in arrays], [b for _, b in arrays],
                                           relus)
        return chain(x)

    return step


def _holds(chain: LinearChain, tables: list[dict]) -> bool:
    """Whether ``chain`` holds the weight and bias arrays of the parameter tables now."""
    for (weight, bias, _), params in zip(chain.layers, tables, strict=True):
        if params["weight"]._data is not weight or _bias(params) is not bias:
            return False
    return True


def _relu_forward(x):
    return OPS["relu"](x)[0]


def _conv_forward(conv: Conv2d, x):
    return OPS["conv2d"](x, conv._parameters["weight"]._data, _bias(conv._parameters),
                         stride=conv.stride, padding=conv.padding)[0]


def _max_pool_forward(pool: MaxPool2d, x):
    return OPS["max_pool2d"](x, *_pool_options(pool))[0]


def _module_forward(module: Module, x):
    return module(Tensor._wrap(x))._data


def _pair(value, name: str) -> tuple[int, int]:
    if type(value) is int:
        return value, value
    return as_pair(value, "MaxPool2d", name)


def _pool_options(pool: MaxPool2d) -> tuple[tuple[int, int], ...]:
    """(kernel_size, stride, padding) of ``pool`` as pairs."""
    return (_pair(pool.kernel_size, "kernel_size"), _pair(pool.stride, "stride"),
            _pair(pool.padding, "padding"))


# programs a fused conv block keeps, for as many input shapes (a last, smaller batch, or
# requests of a few sizes when serving, without rebuilding at every change of shape)
KEPT_PROGRAMS = 4


def _fused_step(conv: Conv2d, pool: MaxPool2d):
    """``x -> conv2d_relu_max_pool2d_infer(x, ...)`` reading the layers' parameters and
    settings at each call: a :func:`lamina.ops.conv.conv2d_relu_max_pool2d_program`, built
    when none of the last KEPT_PROGRAMS was built for these parameter arrays, settings,
    input shape and dtype, and kernels in use."""
    params = conv._parameters
    kept: list = [()]  # ((what it was built for, weight, bias, program), ...), newest first

    def step(x):
        weight, bias = params["weight"]._data, _bias(params)
        state = (x.shape, x.dtype, weight.shape, conv.stride, conv.padding, pool.kernel_size,
                 pool.stride, pool.padding, kernels.numba_kernels())
        programs = kept[0]
        for held in programs:  # (the first, most often)
            if held[1] is weight and held[2] is bias and held[0] == state:
                if held is not programs[0]:
                    kept[0] = (held,) + tuple(h for h in programs if h is not held)
                return held[3](x)
        held = (state, weight, bias, conv2d_relu_max_pool2d_program(
            x, weight, bias, conv.stride, conv.padding, *_pool_options(pool), state[-1]))
        current = tuple(h for h in programs if h[1] is weight and h[2] is bias)
        kept[0] = (held,) + current[:KEPT_PROGRAMS - 1]  # (none holds a replaced array)
        return held[3](x)

    return step


def _flatten(layer: Flatten, x):
    """``Tensor.flatten`` on an array: merge dims start_dim..end_dim."""
    shape = x.shape
    if not shape:
        return x.reshape(1)
    start, end = layer.start_dim % len(shape), layer.end_dim % len(shape)
    return x.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


class ModuleList(Module):
    """A list of modules whose parameters are registered ("0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        """Append ``module`` (named by its position); returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        items = list(self._modules.values())
        return ModuleList(items[index]) if isinstance(index, slice) else items[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def extend(self, modules) -> ModuleList:
        """Append each of ``modules``; returns self."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (the names are renumbered)."""
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)

    def _renumber(self, items: list) -> None:
        self._modules.clear()
        for m in items:
            self.append(m)

    def __setitem__(self, index: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        keys = list(self._modules)
        self._modules[keys[index]] = module  # (in place: keeps the order)

    def __delitem__(self, index) -> None:
        items = list(self._modules.values())
        del items[index]
        self._renumber(items)

    def __iadd__(self, modules) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other) -> ModuleList:
        return ModuleList([*self, *other])

    def pop(self, index: int = -1) -> Module:
        """Remove and return the module at ``index``."""
        module = self[index]
        del self[index]
        return module
