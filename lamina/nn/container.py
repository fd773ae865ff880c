"""Sequential: modules applied one after another; ModuleList."""

from __future__ import annotations

from collections import OrderedDict

from lamina import inference
from lamina.nn.activation import ReLU
from lamina.nn.conv import Conv2d
from lamina.nn.dropout import Flatten
from lamina.nn.linear import Linear
from lamina.nn.module import Module
from lamina.nn.normalization import BatchNorm2d
from lamina.nn.pooling import MaxPool2d
from lamina.tensor import Tensor, is_grad_enabled

# the layers that the fused patterns and the no-grad plan of lamina.inference know, exactly
# these classes (a subclass may change forward), with the op each one runs
for _layer, _op in ((Conv2d, "conv2d"), (ReLU, "relu"), (MaxPool2d, "max_pool2d"),
                    (Flatten, "flatten"), (Linear, "linear"), (BatchNorm2d, "batch_norm")):
    inference.register_layer(_layer, _op)


class Sequential(Module):
    """Chain modules: ``Sequential(a, b, c)(x) == c(b(a(x)))``; children are named "0", "1", ...

    An ``OrderedDict`` of named modules is accepted too, as in PyTorch.

    The children run through :func:`lamina.inference.forward`: each run of children
    ``Conv2d, ReLU, MaxPool2d`` (exactly these classes) is computed as one fused op, each run
    of two Linear layers or more (each followed by a ReLU or not, the last one without) as
    the one op :func:`lamina.ops.linalg.linear_chain`, each other ``Linear, ReLU`` pair as one
    op, and in training mode each ``Conv2d, BatchNorm2d, ReLU, MaxPool2d(2)`` run (where its
    compiled kernels apply) and each ``BatchNorm2d, ReLU, MaxPool2d(2)`` run as one op
    (:data:`lamina.inference.PATTERNS`): the same values and gradients, in less time and
    memory. Under ``lm.no_grad()`` the children run as the plan
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
