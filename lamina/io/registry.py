"""The layer registry: which Module classes a model file may name, and their JSON configs.

A model file's ``"architecture"`` is ``{"type": class name, "args": {constructor arguments},
"children": [{"name": ..., ...}]}`` (children only for ``Sequential``/``ModuleList``). Loading
rebuilds only lamina's own layer classes (looked up by name in ``lamina.nn``, ``lamina.nn.conv``,
``lamina.nn.pooling``, ``lamina.models``) or classes the user registered with
:func:`register_module` in their own code: nothing in a file is ever executed.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from lamina.codec import MAX_DEPTH, decode, encode
from lamina.nn.container import ModuleList, Sequential
from lamina.nn.module import Module
from lamina.random import generator
from lamina.tensor import Tensor

__all__ = ["register_module", "module_config", "build_module", "lookup", "is_container"]

_NAMESPACES = ("lamina.nn", "lamina.nn.conv", "lamina.nn.pooling", "lamina.models")
_REGISTERED: dict[str, type] = {}


def as_list(value: Any, where: str) -> list:
    """``value`` if it is a JSON list, else a ValueError naming what it is."""
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a JSON list, got {type(value).__name__}")
    return value


def register_module(cls: type) -> type:
    """Allow ``lm.save``/``lm.load`` to handle a Module subclass of your own (a decorator).

    The class is rebuilt on load as ``cls(**args)``, with ``args`` read from the instance
    attributes named like the constructor's arguments (or from ``get_config()`` if the class
    defines it). Registration happens in your code, so loading still runs no code from a file.

    Args:
        cls: a subclass of :class:`lamina.nn.Module`.

    Returns:
        ``cls``.

    Raises:
        TypeError: ``cls`` is not a Module subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_module: expected a Module subclass, got {cls!r}")
    _REGISTERED[cls.__name__] = cls
    return cls


def lookup(name: str) -> type | None:
    """The serialisable Module class called ``name``, or None."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if not name.isidentifier() or name.startswith("_") or name == "Module":
        return None
    for namespace in _NAMESPACES:
        try:
            module = importlib.import_module(namespace)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if (isinstance(cls, type) and issubclass(cls, Module)
                and cls.__module__.startswith("lamina.")):
            return cls
    return None


def is_container(cls: type) -> bool:
    return cls in (Sequential, ModuleList)


def _constructor_args(module: Module) -> dict[str, Any]:
    cls = type(module)
    getter = getattr(module, "get_config", None)
    if callable(getter):
        return dict(getter())
    args: dict[str, Any] = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name == "bias" and not isinstance(getattr(module, "bias", False), bool):
            args[name] = getattr(module, "bias", None) is not None
        elif name == "dtype":
            params = [t for t in module.state_dict().values() if t.dtype.kind == "f"]
            args[name] = params[0].dtype.name if params else None
        elif name in module.__dict__:
            value = module.__dict__[name]
            if isinstance(value, (Module, Tensor)) or callable(value):
                raise TypeError(f"lm.save: {cls.__name__} argument {name!r} is a "
                                f"{type(value).__name__}, which a config cannot hold")
            args[name] = value
        elif p.default is inspect.Parameter.empty:
            raise TypeError(f"lm.save: cannot read {cls.__name__}'s constructor argument "
                            f"{name!r} from the instance (no attribute {name!r}); define "
                            f"get_config() returning the constructor arguments")
    return args


def module_config(module: Module) -> dict[str, Any]:
    """The JSON architecture of ``module``: ``{"type", "args", "children"}``, recursively.

    Args:
        module: a model built from lamina layers (and containers ``Sequential``/``ModuleList``).

    Returns:
        A JSON-serialisable dict.

    Raises:
        TypeError: a class that is not a lamina layer nor registered with
            :func:`register_module`, or an argument that cannot be stored.
    """
    cls = type(module)
    if lookup(cls.__name__) is not cls:
        raise TypeError(
            f"lm.save: cannot serialise a {cls.__qualname__} (defined in {cls.__module__}): "
            f"only lamina's layers and Sequential/ModuleList are supported. Build the model as "
            f"nn.Sequential of lamina layers, decorate the class with "
            f"@lamina.io.register_module, or save the weights as PyTorch users do: "
            f"lm.save(model.state_dict(), path), later "
            f"model.load_state_dict(lm.load(path)) (lm.train.save_checkpoint for training)")
    if is_container(cls):
        children = [{"name": name, **module_config(child)}
                    for name, child in module._modules.items()]
        return {"type": cls.__name__, "args": {}, "children": children}
    args = encode(_constructor_args(module), where=f"lm.save ({cls.__name__})")
    return {"type": cls.__name__, "args": args}


def layer_class(config: Any, where: str, depth: int) -> tuple[str, type]:
    """The type name and registered class of one layer config (from a file: untrusted).

    Raises:
        ValueError: nested deeper than ``MAX_DEPTH``, not a dict with a string ``'type'``, or a
            type no class is registered for; the message starts with ``where``.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: architecture nested deeper than {MAX_DEPTH} levels")
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ValueError(f"{where}: each layer config must be a dict with a string 'type', got "
                         f"{config!r:.80}")
    name = config["type"]
    cls = lookup(name)
    if cls is None:
        raise ValueError(f"{where}: unknown layer type {name!r} in the architecture (not a "
                         f"lamina layer; register your class with lamina.io.register_module "
                         f"before loading)")
    return name, cls


def build_module(config: Any, where: str = "build_module", depth: int = 0) -> Module:
    """Rebuild a Module from :func:`module_config`'s output (fresh parameters).

    Raises:
        ValueError: an unknown layer type, malformed config or arguments the layer rejects;
            the message starts with ``where``.
    """
    name, cls = layer_class(config, where, depth)
    args = config.get("args", {})
    if not isinstance(args, dict):
        raise ValueError(f"{where}: {name} 'args' must be a dict, got {type(args).__name__}")
    if is_container(cls):
        children = as_list(config.get("children", []), where)
        built = OrderedDict()
        for child in children:
            child_name = child.get("name") if isinstance(child, dict) else None
            if not isinstance(child_name, str) or not child_name or child_name in built:
                raise ValueError(f"{where}: each child of {name} needs a unique string 'name'")
            built[child_name] = build_module(child, where, depth + 1)
        if cls is ModuleList:
            return ModuleList(built.values())
        default = list(built) == [str(i) for i in range(len(built))]
        return Sequential(*built.values()) if default else Sequential(built)
    if "children" in config:
        raise ValueError(f"{where}: {name} is not a container but its config has 'children'")
    kwargs = decode(args, where=where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: cannot build {name}(**{kwargs!r:.200}): {exc}") from None


@contextlib.contextmanager
def rng_untouched() -> Iterator[None]:
    """Building a layer initialises it from lamina's generator: leave the stream unchanged."""
    rng = generator()
    state = rng.bit_generator.state
    try:
        yield
    finally:
        rng.bit_generator.state = state


def shapes(model: Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_rebuild(model: Module, config: dict) -> None:
    """Refuse to write a config that would not rebuild ``model`` (same repr and shapes)."""
    try:
        with rng_untouched():
            rebuilt = build_module(config, "lm.save")
    except ValueError as exc:
        raise TypeError(f"lm.save: the model cannot be rebuilt from its config: {exc}") from None
    if shapes(rebuilt) != shapes(model) or repr(rebuilt) != repr(model):
        raise TypeError(f"lm.save: {type(model).__name__}'s config does not rebuild the same "
                        f"model (rebuilt:\n{rebuilt!r}\nparameters {shapes(rebuilt)}; "
                        f"model:\n{model!r}\nparameters {shapes(model)}); was a layer changed "
                        f"after construction?")
