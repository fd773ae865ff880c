"""``lm.save`` and ``lm.load``: one pair of functions for models, state_dicts and checkpoints.

``lm.save(obj, path)`` writes a model file (:mod:`lamina.io.model`) for a Module built from
lamina's layers (or registered ones), and an object file (:mod:`lamina.io.objects`) for a
state_dict, a checkpoint dict or any nesting of dicts, lists and tuples of Tensors, NumPy
arrays, numbers, strings, None and bools. ``lm.load(path)`` returns what was saved. Files are
safetensors plus JSON under any name (``.pt``, ``.pth``, ...); nothing is ever pickled.
``path`` may also be a binary file object (``open(p, "wb")`` / ``open(p, "rb")``).
``lm.load`` also reads PyTorch's own ``torch.save`` files of state_dicts and checkpoint dicts
(:mod:`lamina.io.torch_file`: an allow-list unpickler that can only rebuild tensors, never
call anything else).
"""

from __future__ import annotations

import os
from typing import Any

from lamina.io.format import Source, is_zip, parse, read_bytes
from lamina.io.model import bundle_from, save_model
from lamina.io.objects import OBJECT_KEY, object_from, save_object
from lamina.io.torch_file import load_torch_zip
from lamina.nn.module import Module

__all__ = ["save", "load"]


def _check_target(path: Any, who: str, mode: str) -> None:
    if isinstance(path, (str, os.PathLike)):
        return
    method = "write" if mode == "w" else "read"
    if not callable(getattr(path, method, None)):
        raise TypeError(f"{who}: expected a path or a binary file object opened with "
                        f"'{mode}b', got {type(path).__name__}")


def save(obj: Any, path: Source, *, optimizer: Any = None, preprocessing: Any = None,
         metadata: Any = None, **kwargs: Any) -> None:
    """Save ``obj`` to exactly ``path`` (atomically), or to a binary file object.

    Args:
        obj: a model built from lamina layers (architecture and weights are stored), or a
            state_dict / checkpoint dict: dicts, lists and tuples of Tensors, NumPy arrays,
            numbers, strings, None and bools.
        path: the file to write (any name), or a file object opened with ``"wb"``.
        optimizer: models only: an optimizer (or its ``state_dict()``) stored too.
        preprocessing: models only: lamina.preprocessing transformer(s) with ``to_config()``.
        metadata: models only: JSON-like data of your own.
        **kwargs: PyTorch's ``pickle_module``, ``pickle_protocol`` and
            ``_use_new_zipfile_serialization`` are accepted and ignored (nothing is pickled).

    Raises:
        TypeError: a Module of a class lamina cannot describe (save ``model.state_dict()``
            instead, as PyTorch users do), or a value that cannot be stored.
        FileNotFoundError: the directory of ``path`` does not exist.

    Example:
        >>> import lamina as lm, tempfile, os
        >>> model = lm.nn.Sequential(lm.nn.Linear(4, 3), lm.nn.ReLU(), lm.nn.Linear(3, 2))
        >>> path = os.path.join(tempfile.mkdtemp(), "model.pt")
        >>> lm.save(model.state_dict(), path)
        >>> sorted(lm.load(path))
        ['0.bias', '0.weight', '2.bias', '2.weight']
    """
    unknown = set(kwargs) - {"pickle_module", "pickle_protocol", "_use_new_zipfile_serialization"}
    if unknown:
        raise TypeError(f"lm.save: unexpected keyword arguments {sorted(unknown)}")
    _check_target(path, "lm.save", "w")
    if isinstance(obj, Module):
        save_model(obj, path, optimizer=optimizer, preprocessing=preprocessing,
                   metadata=metadata)
        return
    if optimizer is not None or preprocessing is not None or metadata is not None:
        raise TypeError("lm.save: optimizer=, preprocessing= and metadata= go with a model; for "
                        "other objects put them in the saved dict")
    save_object(obj, path)


def _check_map_location(map_location: Any) -> None:
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return
    name = getattr(map_location, "type", map_location)
    if not isinstance(name, str) or name.split(":")[0] != "cpu":
        raise ValueError(f"lm.load: map_location={map_location!r}: lamina runs on the CPU only "
                         f"(use None or 'cpu')")


def load(path: Source, map_location: Any = None, *, weights_only: bool | None = None,
         mmap: bool | None = None, **kwargs: Any) -> Any:
    """Load what :func:`save` wrote: a Module (in eval mode) or the saved object.

    Args:
        path: the file, or a binary file object opened with ``"rb"``.
        map_location: None or ``"cpu"`` (a ``torch.load`` argument; lamina is CPU-only).
        weights_only: accepted for PyTorch compatibility; lamina never unpickles, so every
            load is weights-only.
        mmap: accepted and ignored.
        **kwargs: PyTorch's ``pickle_module`` and pickle load arguments, accepted and ignored.

    Returns:
        The model (for a model file) or the object, with Tensors for saved Tensors.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a truncated, corrupt, edited or hostile file, a plain pickle, or a PyTorch
            file that holds more than tensors and containers (a pickled Module); the message
            names the file.
    """
    unknown = set(kwargs) - {"pickle_module", "encoding", "pickle_load_args"}
    if unknown:
        raise TypeError(f"lm.load: unexpected keyword arguments {sorted(unknown)}")
    _check_map_location(map_location)
    _check_target(path, "lm.load", "r")
    name, data = read_bytes(path)
    if is_zip(data):
        return load_torch_zip(name, data)
    raw = parse(name, data)
    if raw.metadata.get("format") == "lamina" and OBJECT_KEY in raw.metadata:
        return object_from(raw)
    return bundle_from(raw).model

