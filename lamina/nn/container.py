"""Sequential: modules applied one after another; ModuleList."""

from __future__ import annotations

from collections import OrderedDict

from lamina import inference
from lamina.nn.activation import ReLU
from lamina.nn.conv import Conv2d
from lamina.nn.dropout import Flatten
from lamina.nn.linear import Linear
from lamina.nn.module import Module
from lamina.nn.pooling import MaxPool2d
from lamina.tensor import Tensor, is_grad_enabled

# the layers that the fused patterns and the no-grad plan of lamina.inference know, exactly
# these classes (a subclass may change forward), with the op each one runs
for _layer, _op in ((Conv2d, "conv2d"), (ReLU, "relu"), (MaxPool2d, "max_pool2d"),
                    (Flatten, "flatten"), (Linear, "linear")):
    inference.register_layer(_layer, _op)


class Sequential(Module):
    """Chain modules: ``Sequential(a, b, c)(x) == c(b(a(x)))``; children are named "0", "1", ...

    An ``OrderedDict`` of named modules is accepted too, as in PyTorch.

    The children run through :func:`lamina.inference.forward`: each run of children
    ``Conv2d, ReLU, MaxPool2d`` (exactly these classes) is computed as one fused op, and each
    ``Linear, ReLU`` pair as one op (:data:`lamina.inference.PATTERNS`): the same values and
    gradients, in less time and memory. Under ``lm.no_grad()`` the children run as the plan
    of :func:`lamina.inference.plan`: the layers lamina knows (Conv2d, ReLU, MaxPool2d,
    Flatten, Linear) run their ops on the arrays directly, without building Tensors in
    between (batch-1 latency), a run of consecutive Linear layers is one
    :class:`lamina.ops.linalg.LinearChain`; the plan is rebuilt when a child, a parameter or
    its version changes. The children, their names and parameters stay as they are.
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
        if isinstance(x, Tensor) and not is_grad_enabled() and x._data.dtype.kind == "f":
            # (other dtypes go through the ops, whose dtype policy promotes or refuses them)
            return Tensor._wrap(inference.plan(self).run(x._data))
        for step in inference.layer_steps(self):
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
