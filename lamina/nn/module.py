"""Module and Parameter: the containers every layer builds on (PyTorch semantics)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from lamina.device import check_device, is_device
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


_NONE: dict = {}  # (never filled: a table a half-built Module lacks)


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
        object.__setattr__(self, "_non_persistent_buffers_set", set())
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
        d = self.__dict__  # (called for every layer and parameter a forward names: kept lean)
        params = d.get("_parameters")
        if params is not None:
            if name in params:
                return params[name]
            buffers = d.get("_buffers", _NONE)
            if name in buffers:
                return buffers[name]
            modules = d.get("_modules", _NONE)
            if name in modules:
                return modules[name]
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

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A non-trainable tensor (e.g. running statistics), moved by ``to()`` and, unless
        ``persistent=False``, saved in ``state_dict``.

        Raises:
            KeyError: ``name`` is empty, contains ".", or is already a parameter or module.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: invalid buffer name {name!r} (a non-empty string "
                           f"without '.')")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: attribute {name!r} already exists as a "
                           f"{'parameter' if name in self._parameters else 'module'}")
        self.__dict__.pop(name, None)
        self._buffers[name] = value if value is None or isinstance(value, Tensor) else Tensor(value)
        non_persistent = self.__dict__.setdefault("_non_persistent_buffers_set", set())
        if persistent:
            non_persistent.discard(name)
        else:
            non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name`` (same as attribute assignment; None keeps
        the name as an empty slot, as torch)."""
        if module is None:
            self.__dict__.pop(name, None)
            self._modules[name] = None
            return
        if not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got "
                            f"{type(module).__name__}")
        setattr(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` (``""`` is self).

        Raises:
            AttributeError: no module at that path.
        """
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = child
        return module

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

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs in registration order, each parameter once (only this
        module's own with ``recurse=False``)."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter once (shared ones are not repeated), as :meth:`named_parameters`."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "",
                      recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) for every registered buffer (persistent or not)."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every registered buffer, as :meth:`named_buffers`."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) of what ``state_dict`` holds: parameters and persistent
        buffers, in registration order."""
        for mod_name, module in self.named_modules():
            skip = module.__dict__.get("_non_persistent_buffers_set", ())
            for table in (module._parameters, module._buffers):
                for name, t in table.items():
                    if t is not None and not (table is module._buffers and name in skip):
                        yield (f"{mod_name}.{name}" if mod_name else name), t

    # ---------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and buffers by dotted name, as NumPy arrays (views, not copies)."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for key, t in self._state_items():
            out[key] = t._data
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
        own: dict[str, Tensor] = dict(self._state_items())
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

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False) -> Module:
        """Move to ``device`` and/or convert floating parameters and buffers to ``dtype``, in
        place; returns self. As torch: ``m.to(lm.float64)``, ``m.to("cpu")``,
        ``m.to(device, dtype)``, ``m.to(tensor)`` (its dtype).

        The CPU is the only device (NumPy arrays live there). Each converted tensor gets a new
        array (its ``grad`` is cleared); an optimizer that already holds the parameters notices
        at its next step and rebuilds its buffers in the new dtype.

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
            RuntimeError: a device other than the CPU.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif is_device(arg) or (isinstance(arg, int) and not isinstance(arg, bool)):
                device = arg
            else:
                dtype = arg
        check_device(device, f"{type(self).__name__}.to")
        if dtype is None:
            return self
        dtype = _as_dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: expected a floating dtype such as "
                            f"lm.float32 or lm.float64, got {dtype}")
        for m in self.modules():
            for table in (m._parameters, m._buffers):
                for t in table.values():
                    if t is not None and t.dtype.kind == "f" and t.dtype != dtype:
                        t._data = t._data.astype(dtype)
                        t._bump_version()  # a new array: cached plans rebuild
                        t.grad = None
        return self

    def cpu(self) -> Module:
        """Self (lamina's modules always live on the CPU)."""
        return self

    def cuda(self, device=None) -> Module:
        """Raises: RuntimeError: lamina has no GPU (check ``lm.cuda.is_available()``)."""
        check_device("cuda" if device is None else device, f"{type(self).__name__}.cuda")
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
        return sum(p.numel() for p in self.parameters())

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
