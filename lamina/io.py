"""Saving and loading models: one safetensors file, never pickle; PyTorch state-dict interop.

File format (``lm.save(model, path)`` writes exactly ``path``): a safetensors file
(https://huggingface.co/docs/safetensors) whose tensors are the model's ``state_dict`` under
its PyTorch names (``"0.weight"``), so ``safetensors.torch.load_file`` + ``load_state_dict``
also works in PyTorch, plus optimizer state arrays under the prefix ``"optimizer:"``. The
header's string metadata holds JSON:

- ``"format"``: ``"lamina"``; ``"format_version"``; ``"lamina_version"``;
- ``"architecture"``: ``{"type": class name, "args": {constructor arguments},
  "children": [{"name": ..., ...}]}`` (children only for ``Sequential``/``ModuleList``);
- optional ``"optimizer"`` (class and state structure), ``"preprocessing"``, ``"metadata"``
  (the user's) and ``"checkpoint"`` (epoch, RNG state, history).

Loading parses the header as JSON, checks every tensor's dtype, shape and byte range, and
rebuilds the model only from lamina's own layer classes (looked up by name in ``lamina.nn``,
``lamina.nn.conv``, ``lamina.nn.pooling``, ``lamina.models``) or classes the user registered
with :func:`register_module` in their own code. Nothing in a file is ever executed.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import inspect
import json
import math
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.nn.container import ModuleList, Sequential
from lamina.nn.module import Module
from lamina.random import generator
from lamina.tensor import Tensor

__all__ = ["save", "load", "load_bundle", "Bundle", "register_module", "module_config",
           "build_module", "save_checkpoint", "load_checkpoint", "Checkpoint",
           "to_torch_state_dict", "from_torch_state_dict"]

FORMAT_VERSION = "1"
OPTIMIZER_PREFIX = "optimizer:"
_NAMESPACES = ("lamina.nn", "lamina.nn.conv", "lamina.nn.pooling", "lamina.models")
_REGISTERED: dict[str, type] = {}
_MAX_HEADER = 100 * 1024 * 1024
_MAX_DEPTH = 64
_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
           "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
_MAGIC = ((b"\x80", "a Python pickle payload (lamina never unpickles files)"),
          (b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth file? load it in PyTorch and use "
                          "lm.io.from_torch_state_dict)"),
          (b"\x93NUMPY", "a NumPy .npy file"),
          (b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"))


# --------------------------------------------------------------------------- JSON codec
def _encode(value: Any, tensors: dict[str, np.ndarray] | None, key: str, where: str) -> Any:
    """``value`` as JSON data; arrays go to ``tensors`` under ``key`` (or inline if None).

    Tuples, non-string dict keys, NumPy scalars and dtypes are tagged so that :func:`_decode`
    returns exactly what was encoded.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Tensor):
        value = value._data
    if isinstance(value, np.ndarray):
        if tensors is None:
            return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
        tensors[key] = np.ascontiguousarray(value)
        return {"__tensor__": key}
    if isinstance(value, np.generic):
        return {"__scalar__": value.item(), "dtype": value.dtype.str}
    if isinstance(value, np.dtype):
        return {"__dtype__": value.str}
    if isinstance(value, (tuple, list)):
        items = [_encode(v, tensors, f"{key}.{i}", where) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, tensors, f"{key}.{k}", where) for k, v in value.items()}
        return {"__dict__": [[_encode(k, None, key, where), _encode(v, tensors, f"{key}.{k}",
                                                                     where)]
                             for k, v in value.items()]}
    raise TypeError(f"{where}: cannot store a value of type {type(value).__name__} "
                    f"({value!r:.80}); only numbers, strings, None, lists, tuples, dicts and "
                    f"arrays can be saved")


def _decode(value: Any, tensors: dict[str, np.ndarray] | None, used: set[str], where: str,
            depth: int = 0) -> Any:
    """Inverse of :func:`_encode`; arrays come from ``tensors`` (their names added to ``used``).

    Raises:
        ValueError: unknown tags, dangling tensor references or nesting over _MAX_DEPTH.
    """
    if depth > _MAX_DEPTH and isinstance(value, (list, dict)):
        raise ValueError(f"{where}: JSON nested deeper than {_MAX_DEPTH} levels")
    depth += 1
    if isinstance(value, list):
        return [_decode(v, tensors, used, where, depth) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        name = value["__tensor__"]
        if tensors is None or not isinstance(name, str) or name not in tensors:
            raise ValueError(f"{where}: refers to a tensor {name!r} that the file does not hold")
        used.add(name)
        return np.array(tensors[name], copy=True)
    try:
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=_checked_dtype(value.get("dtype")))
        if "__scalar__" in value:
            return _checked_dtype(value.get("dtype")).type(value["__scalar__"])
        if "__dtype__" in value:
            return _checked_dtype(value["__dtype__"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: bad array, scalar or dtype in the file's JSON ({exc})") \
            from None
    if "__tuple__" in value:
        return tuple(_decode(v, tensors, used, where, depth)
                     for v in _as_list(value["__tuple__"], where))
    if "__dict__" in value:
        pairs = _as_list(value["__dict__"], where)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError(f"{where}: a tagged dict must hold [key, value] pairs")
        return {_hashable(_decode(k, None, used, where, depth), where):
                _decode(v, tensors, used, where, depth) for k, v in pairs}
    tags = [k for k in value if k.startswith("__")]
    if tags:
        raise ValueError(f"{where}: unknown tag {tags[0]!r} in the file's JSON")
    return {k: _decode(v, tensors, used, where, depth) for k, v in value.items()}


def _checked_dtype(name: Any) -> np.dtype:
    if not isinstance(name, str):
        raise ValueError(f"dtype must be a string, got {name!r:.40}")
    dtype = np.dtype(name)
    if dtype.kind not in "biufc":
        raise ValueError(f"dtype {name!r} is not numeric")
    return dtype


def _as_list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a JSON list, got {type(value).__name__}")
    return value


def _hashable(value: Any, where: str) -> Any:
    if isinstance(value, (list, dict)):
        raise ValueError(f"{where}: a dict key must be a number, string or tuple")
    return value


# --------------------------------------------------------------------------- architecture
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


def _lookup(name: str) -> type | None:
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


def _is_container(cls: type) -> bool:
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
    if _lookup(cls.__name__) is not cls:
        raise TypeError(
            f"lm.save: cannot serialise a {cls.__qualname__} (defined in {cls.__module__}): "
            f"only lamina's layers and Sequential/ModuleList are supported. Build the model as "
            f"nn.Sequential of lamina layers, decorate the class with "
            f"@lamina.io.register_module, or save weights only: "
            f"lm.train.save_checkpoint / model.state_dict()")
    if _is_container(cls):
        children = [{"name": name, **module_config(child)}
                    for name, child in module._modules.items()]
        return {"type": cls.__name__, "args": {}, "children": children}
    args = _encode(_constructor_args(module), None, "", f"lm.save ({cls.__name__})")
    return {"type": cls.__name__, "args": args}


def build_module(config: Any, where: str = "build_module", depth: int = 0) -> Module:
    """Rebuild a Module from :func:`module_config`'s output (fresh parameters).

    Raises:
        ValueError: an unknown layer type, malformed config or arguments the layer rejects;
            the message starts with ``where``.
    """
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: architecture nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ValueError(f"{where}: each layer config must be a dict with a string 'type', got "
                         f"{config!r:.80}")
    name = config["type"]
    cls = _lookup(name)
    if cls is None:
        raise ValueError(f"{where}: unknown layer type {name!r} in the architecture (not a "
                         f"lamina layer; register your class with lamina.io.register_module "
                         f"before loading)")
    args = config.get("args", {})
    if not isinstance(args, dict):
        raise ValueError(f"{where}: {name} 'args' must be a dict, got {type(args).__name__}")
    if _is_container(cls):
        children = _as_list(config.get("children", []), where)
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
    kwargs = _decode(args, None, set(), where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: cannot build {name}(**{kwargs!r:.200}): {exc}") from None


@contextlib.contextmanager
def _rng_untouched() -> Iterator[None]:
    """Building a layer initialises it from lamina's generator: leave the stream unchanged."""
    rng = generator()
    state = rng.bit_generator.state
    try:
        yield
    finally:
        rng.bit_generator.state = state


def _shapes(model: Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check_rebuild(model: Module, config: dict) -> None:
    """Refuse to write a config that would not rebuild ``model`` (same repr and shapes)."""
    try:
        with _rng_untouched():
            rebuilt = build_module(config, "lm.save")
    except ValueError as exc:
        raise TypeError(f"lm.save: the model cannot be rebuilt from its config: {exc}") from None
    if _shapes(rebuilt) != _shapes(model) or repr(rebuilt) != repr(model):
        raise TypeError(f"lm.save: {type(model).__name__}'s config does not rebuild the same "
                        f"model (rebuilt:\n{rebuilt!r}\nparameters {_shapes(rebuilt)}; "
                        f"model:\n{model!r}\nparameters {_shapes(model)}); was a layer changed "
                        f"after construction?")


# --------------------------------------------------------------------------- writing
def _atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "lm.save: directory does not exist", directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _preprocessing_config(value: Any) -> dict:
    where = "lm.save(preprocessing=...)"

    def one(obj: Any) -> dict:
        if not callable(getattr(obj, "to_config", None)):
            raise TypeError(f"{where}: {type(obj).__name__} has no to_config(); use the "
                            f"transformers of lamina.preprocessing")
        return {"type": type(obj).__name__, "config": _encode(obj.to_config(), None, "", where)}

    if isinstance(value, dict):
        return {"kind": "dict", "items": {str(k): one(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"kind": "list", "items": [one(v) for v in value]}
    return {"kind": "single", "item": one(value)}


def _write(model: Module, path: str | os.PathLike, optimizer: Any, preprocessing: Any,
           metadata: Any, extra: dict[str, Any], require_architecture: bool) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"lm.save: model must be a lamina Module, got {type(model).__name__}")
    path = os.fspath(path)
    header = {"format": "lamina", "format_version": FORMAT_VERSION}
    from lamina import __version__

    header["lamina_version"] = __version__
    try:
        config = module_config(model)
    except TypeError:
        if require_architecture:
            raise
        config = None
    if config is not None:
        _check_rebuild(model, config)
        header["architecture"] = json.dumps(config)
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    clash = [k for k in tensors if k.startswith(OPTIMIZER_PREFIX)]
    if clash:
        raise ValueError(f"lm.save: parameter names {clash} clash with the optimizer prefix")
    if optimizer is not None:
        state = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
        header["optimizer"] = json.dumps({
            "class": None if isinstance(optimizer, dict) else type(optimizer).__name__,
            "state": _encode(state, tensors, OPTIMIZER_PREFIX + "state", "lm.save(optimizer)")})
    if preprocessing is not None:
        header["preprocessing"] = json.dumps(_preprocessing_config(preprocessing))
    if metadata is not None:
        header["metadata"] = json.dumps(_encode(metadata, None, "", "lm.save(metadata=...)"))
    header.update({k: json.dumps(v) for k, v in extra.items()})
    from safetensors.numpy import save as st_save

    _atomic_write(path, st_save(tensors, metadata=header))


def save(model: Module, path: str | os.PathLike, *, optimizer: Any = None,
         preprocessing: Any = None, metadata: Any = None) -> None:
    """Save ``model`` (architecture and weights) to exactly ``path``, atomically.

    Args:
        model: a model built from lamina layers, e.g. a user's ``nn.Sequential``.
        path: the file to write (any name; ``.safetensors`` is customary). Written through a
            temporary file in the same directory and ``os.replace``.
        optimizer: an optimizer (or its ``state_dict()``) whose state is stored too.
        preprocessing: a lamina.preprocessing transformer, or a list / dict of them, with
            ``to_config()``.
        metadata: JSON-like data of your own (numbers, strings, lists, dicts, small arrays).

    Raises:
        TypeError: the model holds a layer lamina cannot describe (the message names its
            class), or metadata that cannot be stored.
        FileNotFoundError: the directory of ``path`` does not exist.

    Example:
        >>> import lamina as lm, tempfile, os
        >>> model = lm.nn.Sequential(lm.nn.Linear(4, 3), lm.nn.ReLU(), lm.nn.Linear(3, 2))
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> lm.save(model, path)
        >>> type(lm.load(path)).__name__
        'Sequential'
    """
    _write(model, path, optimizer, preprocessing, metadata, {}, require_architecture=True)


# --------------------------------------------------------------------------- reading
def _read(path: str | os.PathLike) -> tuple[str, dict[str, str], dict[str, np.ndarray]]:
    """Validate and read a safetensors file: (path, string metadata, arrays)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "lm.load: no such file", path)
    if os.path.isdir(path):
        raise ValueError(f"lm.load: {path!r} is a directory, expected a lamina model file")
    with open(path, "rb") as f:
        data = f.read()
    where = f"lm.load({path!r})"
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise ValueError(f"{where}: the file is {what}, not a lamina safetensors file")
    if len(data) < 8:
        raise ValueError(f"{where}: {len(data)} bytes is too short for a safetensors file "
                         f"(truncated or not a model file)")
    size = int.from_bytes(data[:8], "little")
    if size > min(len(data) - 8, _MAX_HEADER):
        raise ValueError(f"{where}: header length {size} exceeds the {len(data) - 8} bytes "
                         f"after it (truncated file, or not a safetensors file)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{where}: the header is not valid JSON ({exc}); corrupt or not a "
                         f"safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{where}: __metadata__ must map strings to strings")
    _check_entries(header, len(data) - 8 - size, where)
    from safetensors.numpy import load as st_load

    try:
        arrays = st_load(data)
    except Exception as exc:  # safetensors raises its own error type for any corruption
        raise ValueError(f"{where}: corrupt safetensors data ({exc})") from None
    return path, metadata, arrays


def _check_entries(header: dict, available: int, where: str) -> None:
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{where}: tensor {name!r} has a malformed header entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPES:
            raise ValueError(f"{where}: tensor {name!r} has unknown dtype {dtype!r}")
        if (not isinstance(shape, list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                           for d in shape)):
            raise ValueError(f"{where}: tensor {name!r} has a bad shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise ValueError(f"{where}: tensor {name!r} has bad data offsets {offsets!r}")
        if offsets[1] > available:
            raise ValueError(f"{where}: tensor {name!r} needs bytes up to {offsets[1]} but the "
                             f"data section has {available}: the file is truncated")
        if offsets[1] - offsets[0] != math.prod(shape) * _DTYPES[dtype]:
            raise ValueError(f"{where}: tensor {name!r} of shape {shape} and dtype {dtype} "
                             f"does not match its {offsets[1] - offsets[0]} bytes")


def _json(metadata: dict[str, str], key: str, where: str) -> Any:
    try:
        return json.loads(metadata[key])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{where}: metadata {key!r} is not valid JSON ({exc})") from None


def _load_weights(model: Module, arrays: dict[str, np.ndarray], where: str) -> None:
    """Copy the file's model tensors into ``model``, checking keys and shapes first."""
    weights = {k: v for k, v in arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
    expected = _shapes(model)
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing or extra:
        raise ValueError(f"{where}: the file's tensors do not match the model: missing "
                         f"{missing}, unexpected {extra}")
    for key, shape in expected.items():
        if weights[key].shape != shape:
            raise ValueError(f"{where}: tensor {key!r} has shape {weights[key].shape} in the "
                             f"file, the model needs {shape}")
    model.load_state_dict(weights)


def _optimizer_state(metadata: dict[str, str], arrays: dict[str, np.ndarray],
                     where: str) -> tuple[str | None, Any]:
    stored = {k for k in arrays if k.startswith(OPTIMIZER_PREFIX)}
    if "optimizer" not in metadata:
        if stored:
            raise ValueError(f"{where}: optimizer tensors {sorted(stored)[:3]} without optimizer "
                             f"metadata")
        return None, None
    info = _json(metadata, "optimizer", where)
    if not isinstance(info, dict) or "state" not in info:
        raise ValueError(f"{where}: malformed optimizer metadata")
    used: set[str] = set()
    state = _decode(info["state"], {k: arrays[k] for k in stored}, used, where)
    if stored - used:
        raise ValueError(f"{where}: unexpected optimizer tensors {sorted(stored - used)[:3]}")
    name = info.get("class")
    return (name if isinstance(name, str) else None), state


def _preprocessing(metadata: dict[str, str], where: str) -> Any:
    if "preprocessing" not in metadata:
        return None
    config = _json(metadata, "preprocessing", where)

    def one(item: Any) -> Any:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise ValueError(f"{where}: malformed preprocessing entry {item!r:.80}")
        module = importlib.import_module("lamina.preprocessing")
        cls = getattr(module, item["type"], None) if item["type"].isidentifier() else None
        if (not isinstance(cls, type) or not cls.__module__.startswith("lamina.")
                or not callable(getattr(cls, "from_config", None))):
            raise ValueError(f"{where}: unknown preprocessing type {item['type']!r}")
        try:
            return cls.from_config(_decode(item.get("config", {}), None, set(), where))
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{where}: cannot rebuild {item['type']}: {exc}") from None

    kind = config.get("kind") if isinstance(config, dict) else None
    if kind == "single":
        return one(config.get("item"))
    if kind == "list":
        return [one(v) for v in _as_list(config.get("items"), where)]
    if kind == "dict" and isinstance(config.get("items"), dict):
        return {k: one(v) for k, v in config["items"].items()}
    raise ValueError(f"{where}: malformed preprocessing metadata")


@dataclass
class Bundle:
    """Everything :func:`save` stored.

    Attributes:
        model: the rebuilt Module, in eval mode.
        optimizer_state: the optimizer's ``state_dict()`` (PyTorch layout), or None; give it to
            a fresh optimizer's ``load_state_dict``.
        optimizer_class: the optimizer's class name, or None.
        preprocessing: the rebuilt transformer(s), or None.
        metadata: the user's metadata, or None.
        architecture: the JSON architecture.
        path: the file read.
    """

    model: Module
    optimizer_state: Any = None
    optimizer_class: str | None = None
    preprocessing: Any = None
    metadata: Any = None
    architecture: dict = field(default_factory=dict)
    path: str = ""


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load the model and all else :func:`save` stored in ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt, not a lamina safetensors file (a pickle,
            a PyTorch zip, ...), names an unknown layer type, or its tensors do not fit the
            architecture (missing / extra keys, wrong shapes); the message names the file.
    """
    path, metadata, arrays = _read(path)
    where = f"lm.load({path!r})"
    if metadata.get("format") != "lamina" or "architecture" not in metadata:
        raise ValueError(f"{where}: a safetensors file without a lamina architecture "
                         f"(metadata keys {sorted(metadata)}); read its tensors with "
                         f"safetensors and use model.load_state_dict or "
                         f"lm.io.from_torch_state_dict")
    config = _json(metadata, "architecture", where)
    with _rng_untouched():
        model = build_module(config, where)
    weights = {k: v for k, v in arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
    float_dtypes = {v.dtype for v in weights.values() if v.dtype.kind == "f"}
    if len(float_dtypes) == 1:
        model.to(float_dtypes.pop())
    _load_weights(model, arrays, where)
    optimizer_class, optimizer_state = _optimizer_state(metadata, arrays, where)
    user = None
    if "metadata" in metadata:
        user = _decode(_json(metadata, "metadata", where), None, set(), where)
    return Bundle(model=model.eval(), optimizer_state=optimizer_state,
                  optimizer_class=optimizer_class, preprocessing=_preprocessing(metadata, where),
                  metadata=user, architecture=config, path=path)


def load(path: str | os.PathLike) -> Module:
    """Load a model saved by :func:`save`, in eval mode (``lm.load``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a truncated, corrupt or hostile file (see :func:`load_bundle`).
    """
    return load_bundle(path).model


# --------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` restored besides the weights.

    Attributes:
        epoch: epochs completed; pass it as ``fit(..., initial_epoch=epoch)``.
        history: the :class:`lamina.train.History` saved with it, or None.
        metadata: the user's metadata, or None.
    """

    epoch: int
    history: Any = None
    metadata: Any = None


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any, epoch: int,
                    history: Any = None, metadata: Any = None) -> None:
    """Save what resuming training needs: weights, optimizer state, epoch, RNG state, history.

    With the RNG state (``lamina.random``'s generator) stored, ``fit(..., initial_epoch=epoch)``
    after :func:`load_checkpoint` continues bit for bit like an uninterrupted run (same
    shuffling and dropout masks). Any Module works (its architecture is stored when lamina can
    describe it); the file is written atomically.

    Args:
        path: the file to write.
        model: the model.
        optimizer: its optimizer, or None.
        epoch: epochs completed so far.
        history: the :class:`lamina.train.History` so far, or None.
        metadata: JSON-like data of your own.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be an int >= 0, got {epoch!r}")
    from lamina.distributed.launch import world_size

    info = {"epoch": int(epoch), "world_size": world_size() or 1,
            "rng_state": _encode(generator().bit_generator.state, None, "", "save_checkpoint"),
            "history": history.to_dict() if history is not None else None}
    _write(model, path, optimizer, None, metadata, {"checkpoint": info},
           require_architecture=False)


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any = None) -> Checkpoint:
    """Restore a :func:`save_checkpoint` file into ``model`` and ``optimizer`` in place, and
    lamina's RNG state.

    Args:
        path: the checkpoint file.
        model: a model of the same architecture (freshly built is fine).
        optimizer: an optimizer of the same class over ``model.parameters()``, or None.

    Returns:
        A :class:`Checkpoint` with ``epoch``, ``history`` and ``metadata``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a checkpoint, corrupt, tensors that do not fit ``model``, or no
            optimizer state when ``optimizer`` is given.
    """
    from lamina.train.history import History

    path, metadata, arrays = _read(path)
    where = f"load_checkpoint({path!r})"
    if metadata.get("format") != "lamina" or "checkpoint" not in metadata:
        raise ValueError(f"{where}: not a lamina checkpoint (metadata keys {sorted(metadata)}); "
                         f"write one with lamina.train.save_checkpoint")
    info = _json(metadata, "checkpoint", where)
    if not isinstance(info, dict) or not isinstance(info.get("epoch"), int):
        raise ValueError(f"{where}: malformed checkpoint metadata")
    _check_world_size(info, where)
    _, optimizer_state = _optimizer_state(metadata, arrays, where)
    if optimizer is not None and optimizer_state is None:
        raise ValueError(f"{where}: the checkpoint holds no optimizer state")
    _load_weights(model, arrays, where)
    if optimizer is not None:
        optimizer.load_state_dict(optimizer_state)
    state = _decode(info.get("rng_state"), None, set(), where)
    try:
        generator().bit_generator.state = state
    except (TypeError, ValueError, KeyError):
        from lamina.random import set_rng_state

        try:
            set_rng_state(state)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{where}: bad RNG state ({exc})") from None
    history = History.from_dict(info["history"]) if info.get("history") else None
    user = None
    if "metadata" in metadata:
        user = _decode(_json(metadata, "metadata", where), None, set(), where)
    return Checkpoint(epoch=info["epoch"], history=history, metadata=user)


def _check_world_size(info: dict, where: str) -> None:
    """A checkpoint resumes with the number of processes that wrote it: each rank's random
    stream (dropout) is derived from the rank, so another count would not continue the run."""
    from lamina.distributed.launch import world_size

    saved, now = info.get("world_size", 1), world_size()
    if not isinstance(saved, int) or saved < 1:
        raise ValueError(f"{where}: malformed checkpoint metadata (world_size {saved!r})")
    if now is not None and saved != now:
        raise ValueError(f"{where}: the checkpoint was written by a run of {saved} "
                         f"process{'es' if saved > 1 else ''}, this run has {now}; resume it "
                         f"with the same number (mpiexec -n {saved} ...), or load only the "
                         f"weights with lm.load")


# --------------------------------------------------------------------------- torch interop
def to_torch_state_dict(model: Module) -> OrderedDict:
    """The model's ``state_dict`` as PyTorch tensors under the same names (copies).

    lamina uses PyTorch's names and layouts (Linear weight ``(out, in)``, Conv2d weight
    ``(out, in, kh, kw)``), so the result loads into the equivalent ``torch.nn`` model.
    Imports torch only when called.
    """
    import torch

    return OrderedDict((k, torch.from_numpy(np.array(v, copy=True)))
                       for k, v in model.state_dict().items())


def from_torch_state_dict(model: Module, state_dict: Any, strict: bool = True) -> Module:
    """Load PyTorch tensors (or NumPy arrays / lamina Tensors) into ``model`` in place.

    Args:
        model: the lamina model.
        state_dict: name -> tensor, e.g. ``torch_model.state_dict()``.
        strict: require exactly the model's keys.

    Returns:
        ``model``.

    Raises:
        KeyError: with ``strict``, missing or unexpected keys.
        ValueError: a tensor's shape differs from its parameter's.
    """
    arrays = OrderedDict()
    for key, value in state_dict.items():
        if hasattr(value, "detach") and hasattr(value, "cpu") and not isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        arrays[key] = value._data if isinstance(value, Tensor) else np.asarray(value)
    model.load_state_dict(arrays, strict=strict)
    return model
