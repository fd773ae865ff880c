"""Module and Parameter: the containers every layer builds on (PyTorch semantics)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from lamina.tensor import Tensor, _as_dtype


class StateDictError(KeyError, ValueError, RuntimeError):
    """``load_state_dict`` got missing/unexpected keys or a wrong shape. Catch it as ``KeyError``,
    ``ValueError`` or (as in PyTorch) ``RuntimeError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (PyTorch's ``_IncompatibleKeys``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (``requires_grad=True`` by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        data = data._data if isinstance(data, Tensor) else data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models.

    Parameters, buffers and child modules assigned as attributes are registered in assignment
    order; ``named_parameters`` and ``state_dict`` use PyTorch's dotted names (``"0.weight"``).
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attributes")
        params, buffers = self._parameters, self._buffers
        if name in params and value is not None and not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to "
                            f"parameter {name!r} (expected an nn.Parameter or None)")
        if name in buffers and (value is None or isinstance(value, Tensor)):
            buffers[name] = value
            return
        for table in (params, buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (None removes it and sets the attribute to None)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value) -> None:
        """A non-trainable tensor saved in ``state_dict`` (e.g. running statistics)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = value if value is None or isinstance(value, Tensor) else Tensor(value)

    def add_module(self, name: str, module: Module) -> None:
        """Register a child module under ``name`` (same as attribute assignment)."""
        setattr(self, name, module)

    # ---------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module (name ``prefix``) and every descendant, each once,
        depth first in registration order (PyTorch's order)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant (see :meth:`named_modules`)."""
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator[Module]:
        """The direct child modules."""
        yield from (m for m in self._modules.values() if m is not None)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) of the direct child modules."""
        yield from ((k, m) for k, m in self._modules.items() if m is not None)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs in registration order, each parameter once."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter once (shared ones are not repeated), as :meth:`named_parameters`."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) for every registered buffer."""
        for mod_name, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    # ---------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and buffers by dotted name, as NumPy arrays (views, not copies)."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for mod_name, module in self.named_modules():
            for table in (module._parameters, module._buffers):
                for name, t in table.items():
                    if t is not None:
                        out[f"{mod_name}.{name}" if mod_name else name] = t._data
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) into the parameters and buffers, cast to their dtypes.

        Nothing is changed unless every key and shape checks out.

        Args:
            state_dict: a mapping of dotted names to NumPy arrays, Tensors or array-likes.
            strict: require exactly the module's keys.

        Returns:
            ``(missing_keys, unexpected_keys)`` (both empty when ``strict``).

        Raises:
            StateDictError: (a KeyError, ValueError and RuntimeError) with ``strict``, a key is
                missing or unexpected; or an array's shape differs from its parameter's.
        """
        where = f"{type(self).__name__}.load_state_dict"
        own: dict[str, Tensor] = {}
        for mod_name, module in self.named_modules():
            for table in (module._parameters, module._buffers):
                for name, t in table.items():
                    if t is not None:
                        own[f"{mod_name}.{name}" if mod_name else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise StateDictError(f"{where}: missing keys {missing}, unexpected keys {unexpected} "
                                 f"(expected exactly the keys of state_dict(): {list(own)})")
        values = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                value = value._data
            elif hasattr(value, "detach"):  # a torch tensor, possibly requiring grad
                value = value.detach().cpu().numpy()
            value = np.asarray(value)
            if value.shape != target.shape:
                raise StateDictError(f"{where}: {key!r} has shape {value.shape}, expected "
                                     f"{target.shape}")
            values[key] = value
        for key, value in values.items():
            own[key]._data[...] = value.astype(own[key].dtype, copy=False)
            own[key]._bump_version()  # (as PyTorch's copy_: cached plans rebuild)
        return IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- modes and dtypes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False``: eval) on this module and its descendants; returns
        self."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (dropout becomes the identity); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (None, or zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad._data[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (False freezes them); returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype) -> Module:
        """Convert floating parameters and buffers to ``dtype`` in place; returns self.

        A device string (``"cpu"``) is accepted and ignored: NumPy arrays live on the CPU.
        Each tensor gets a new array (its ``grad`` is cleared); an optimizer that already holds
        the parameters notices at its next step and rebuilds its buffers in the new dtype.

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
        """
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        dtype = _as_dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: expected a floating dtype such as "
                            f"lm.float32 or lm.float64, got {dtype}")
        for m in self.modules():
            for table in (m._parameters, m._buffers):
                for t in table.values():
                    if t is not None and t.dtype.kind == "f":
                        t._data = t._data.astype(dtype)
                        t._bump_version()  # a new array: cached plans rebuild
                        t.grad = None
        return self

    def double(self) -> Module:
        """Convert floating parameters and buffers to float64 in place; returns self."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Convert floating parameters and buffers to float32 in place; returns self."""
        return self.to(np.float32)

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on this module and every descendant (e.g. custom init); returns
        self."""
        for m in self.modules():
            fn(m)
        return self

    def num_parameters(self) -> int:
        """Total number of parameter elements."""
        return sum(p.size for p in self.parameters())

    # ---------------------------------------------------------------- call
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("]
        if extra:
            lines.append("  " + extra.replace("\n", "\n  "))
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        lines.append(")")
        return "\n".join(lines)
