"""Keyed and listed holders of modules and parameters (``torch.nn.ModuleDict``,
``ParameterList``, ``ParameterDict``): what they hold is registered, so it appears in
``parameters()``, ``state_dict()`` (keys ``"name.weight"``, ``"0"``, ``"key"``...) and moves
with ``to()``. (``Sequential`` and ``ModuleList`` are in container.py.)"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from lamina.nn.module import Module, Parameter
from lamina.tensor import Tensor


def _items(values) -> Iterable:
    if isinstance(values, Mapping):
        return values.items()
    return values


class ModuleDict(Module):
    """Modules by string key, in insertion order (``nn.ModuleDict``)."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if key in self._modules and isinstance(module, Module):
            self._modules[key] = module  # (in place: keeps the order)
        else:
            self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """(key, module) pairs, in insertion order."""
        return self._modules.items()

    def update(self, modules) -> None:
        """Add ``modules`` (a mapping, or an iterable of (key, module) pairs)."""
        for key, module in _items(modules):
            self[key] = module

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``."""
        module = self._modules[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()


def _parameter(value) -> Parameter:
    """A Parameter of ``value`` (a Parameter is kept; a Tensor is wrapped, sharing memory)."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"expected an nn.Parameter or Tensor, got {type(value).__name__}")


class ParameterList(Module):
    """Parameters in a list, registered as "0", "1", ... (``nn.ParameterList``); Tensors are
    wrapped as Parameters."""

    def __init__(self, values=None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index: int):
        values = list(self._parameters.values())
        return ParameterList(values[index]) if isinstance(index, slice) else values[index]

    def __setitem__(self, index: int, value) -> None:
        key = list(self._parameters)[index]
        self._parameters[key] = _parameter(value)  # (in place: keeps the order)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def append(self, value) -> ParameterList:
        """Append ``value`` (wrapped as a Parameter); returns self."""
        setattr(self, str(len(self._parameters)), _parameter(value))
        return self

    def extend(self, values) -> ParameterList:
        """Append each of ``values``; returns self."""
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        """One line per parameter: its dtype and size."""
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {tuple(p.shape)}]"
                         for i, p in enumerate(self))


class ParameterDict(Module):
    """Parameters by string key, in insertion order (``nn.ParameterDict``)."""

    def __init__(self, parameters=None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value) -> None:
        if key in self._parameters:
            self._parameters[key] = _parameter(value)  # (in place: keeps the order)
        else:
            setattr(self, key, _parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: str) -> bool:
        return key in self._parameters

    def keys(self):
        """The keys, in insertion order."""
        return self._parameters.keys()

    def values(self):
        """The parameters, in insertion order."""
        return self._parameters.values()

    def items(self):
        """(key, parameter) pairs, in insertion order."""
        return self._parameters.items()

    def update(self, parameters) -> None:
        """Add ``parameters`` (a mapping, or an iterable of (key, tensor) pairs)."""
        for key, value in _items(parameters):
            self[key] = value

    def pop(self, key: str) -> Parameter:
        """Remove and return the parameter under ``key``."""
        value = self._parameters[key]
        del self[key]
        return value

    def get(self, key: str, default=None):
        """The parameter under ``key``, or ``default``."""
        return self._parameters.get(key, default)

    def extra_repr(self) -> str:
        """One line per parameter: its dtype and size."""
        return "\n".join(f"({k}): Parameter containing: [{p.dtype} of size {tuple(p.shape)}]"
                         for k, p in self.items())
