"""Model files: a Module's architecture and weights (plus optimizer, preprocessing, metadata).

In the file container of :mod:`lamina.io.format`, the tensors are the model's ``state_dict``
under its PyTorch names (``"0.weight"``), so ``safetensors.torch.load_file`` +
``load_state_dict`` also works in PyTorch, plus optimizer state arrays under the prefix
``"optimizer:"``. The string metadata holds JSON (:mod:`lamina.codec`):

- ``"architecture"``: :func:`lamina.io.module_config` of the model;
- optional ``"optimizer"`` (class and state), ``"preprocessing"`` (the transformers'
  ``to_config``), ``"metadata"`` (the user's) and ``"checkpoint"`` (written by
  :func:`lamina.train.save_checkpoint`).

Loading validates before it allocates: the file (header, entries, checksum), then the shapes
and dtypes of its tensors against the shapes the architecture needs (computed from the
configs, :mod:`lamina.io.shapes`), and only then builds the layers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.codec import decode, encode
from lamina.io.atomic import atomic_write
from lamina.io.format import FORMAT_VERSION, RawFile, Source, read_file, write_bytes
from lamina.io.registry import (
    as_list,
    build_module,
    check_rebuild,
    module_config,
    rng_untouched,
    shapes,
)
from lamina.io.shapes import expected_shapes
from lamina.nn.module import Module

__all__ = ["save_model", "write_model", "load_bundle", "load_model", "Bundle", "load_weights",
           "optimizer_state", "user_metadata", "OPTIMIZER_PREFIX", "EXTRA_PREFIXES"]

OPTIMIZER_PREFIX = "optimizer:"
#: prefixes of tensors that are not the model's weights (parameter names never hold ':')
EXTRA_PREFIXES = (OPTIMIZER_PREFIX, "checkpoint:")


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _preprocessing_config(value: Any) -> dict:
    where = "lm.save(preprocessing=...)"

    def one(obj: Any) -> dict:
        if not callable(getattr(obj, "to_config", None)):
            raise TypeError(f"{where}: {type(obj).__name__} has no to_config(); use the "
                            f"transformers of lamina.preprocessing")
        return {"type": type(obj).__name__, "config": obj.to_config()}

    if isinstance(value, dict):
        return {"kind": "dict", "items": {str(k): one(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"kind": "list", "items": [one(v) for v in value]}
    return {"kind": "single", "item": one(value)}


def write_model(model: Module, path: Source, optimizer: Any = None, preprocessing: Any = None,
                metadata: Any = None, extra: dict[str, Any] | None = None,
                require_architecture: bool = True,
                extra_tensors: dict[str, np.ndarray] | None = None) -> None:
    """Write a model file (see the module doc).

    ``extra`` adds JSON metadata entries and ``extra_tensors`` tensors, whose names must start
    with one of :data:`EXTRA_PREFIXES` other than the optimizer's (``"checkpoint:"``).

    Raises:
        TypeError: not a Module, a layer lamina cannot describe (with
            ``require_architecture``), or values that cannot be stored.
    """
    if not isinstance(model, Module):
        raise TypeError(f"lm.save: model must be a lamina Module, got {type(model).__name__}")
    from lamina import __version__

    header = {"format": "lamina", "format_version": FORMAT_VERSION,
              "lamina_version": __version__}
    try:
        config = module_config(model)
    except TypeError:
        if require_architecture:
            raise
        config = None
    if config is not None:
        check_rebuild(model, config)
        header["architecture"] = _dumps(config)
    tensors = {k: np.asarray(getattr(v, "_data", v), order="C")
               for k, v in model.state_dict().items()}
    clash = [k for k in tensors if k.startswith(EXTRA_PREFIXES)]
    if clash:
        raise ValueError(f"lm.save: parameter names {clash} clash with the optimizer prefix")
    if optimizer is not None:
        state = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
        header["optimizer"] = _dumps({
            "class": None if isinstance(optimizer, dict) else type(optimizer).__name__,
            "state": encode(state, tensors, OPTIMIZER_PREFIX + "state", "lm.save(optimizer)")})
    if preprocessing is not None:
        header["preprocessing"] = _dumps(_preprocessing_config(preprocessing))
    if metadata is not None:
        header["metadata"] = _dumps(encode(metadata, where="lm.save(metadata=...)"))
    header.update({k: _dumps(v) for k, v in (extra or {}).items()})
    for name, array in (extra_tensors or {}).items():
        if not name.startswith(EXTRA_PREFIXES[1:]):
            raise ValueError(f"lm.save: extra tensor {name!r} needs a prefix of "
                             f"{EXTRA_PREFIXES[1:]}")
        tensors[name] = array
    data = write_bytes(tensors, header)
    if isinstance(path, (str, os.PathLike)):
        atomic_write(path, data)
    else:
        path.write(data)


def save_model(model: Module, path: Source, *, optimizer: Any = None,
               preprocessing: Any = None, metadata: Any = None) -> None:
    """Save ``model`` (architecture and weights) to exactly ``path``, atomically.

    Raises:
        TypeError: the model holds a layer lamina cannot describe (the message names its
            class and says to save ``model.state_dict()`` instead).
    """
    write_model(model, path, optimizer, preprocessing, metadata)


def _model_entries(raw: RawFile) -> dict[str, tuple]:
    return {k: v for k, v in raw.entries.items() if not k.startswith(EXTRA_PREFIXES)}


def check_weights(raw: RawFile, expected: dict[str, tuple], where: str) -> None:
    """The file's model tensors must be exactly ``expected`` (names and shapes), floats where
    the model has floats; checked on the header alone, before anything is built."""
    stored = _model_entries(raw)
    missing = [k for k in expected if k not in stored]
    extra = [k for k in stored if k not in expected]
    if missing or extra:
        needs = ", ".join(f"{k} {tuple(v)}" for k, v in list(expected.items())[:6])
        raise ValueError(f"{where}: the file's tensors do not match the model: missing "
                         f"{missing[:10]}, unexpected {extra[:10]} (the architecture needs "
                         f"{needs or 'no tensors'})")
    for key, shape in expected.items():
        if stored[key][1] != tuple(shape):
            raise ValueError(f"{where}: tensor {key!r} has shape {stored[key][1]} in the "
                             f"file, the model needs {tuple(shape)}")


def load_weights(model: Module, raw: RawFile, where: str) -> None:
    """Copy the file's model tensors into ``model``, after checking names, shapes, dtypes."""
    expected = shapes(model)
    check_weights(raw, expected, where)
    current = model.state_dict()
    for key, (dtype, _, _) in _model_entries(raw).items():
        if (dtype.kind == "f") != (np.asarray(current[key]).dtype.kind == "f"):
            raise ValueError(f"{where}: tensor {key!r} has dtype {dtype} in the file, the "
                             f"model holds {np.asarray(current[key]).dtype}")
    model.load_state_dict(raw.arrays(_model_entries(raw)))


def optimizer_state(raw: RawFile, where: str) -> tuple[str | None, Any]:
    """The optimizer class name and state stored in ``raw`` (None, None when there is none)."""
    stored = [k for k in raw.entries if k.startswith(OPTIMIZER_PREFIX)]
    if "optimizer" not in raw.metadata:
        if stored:
            raise ValueError(f"{where}: optimizer tensors {stored[:3]} without optimizer "
                             f"metadata")
        return None, None
    info = raw.json("optimizer")
    if not isinstance(info, dict) or "state" not in info:
        raise ValueError(f"{where}: malformed optimizer metadata")
    used: set[str] = set()
    state = decode(info["state"], raw.arrays(stored), used, where)
    if set(stored) - used:
        raise ValueError(f"{where}: unexpected optimizer tensors "
                         f"{sorted(set(stored) - used)[:3]}")
    name = info.get("class")
    return (name if isinstance(name, str) else None), state


def _preprocessing(raw: RawFile, where: str) -> Any:
    if "preprocessing" not in raw.metadata:
        return None
    config = raw.json("preprocessing")

    def one(item: Any) -> Any:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise ValueError(f"{where}: malformed preprocessing entry {item!r:.80}")
        from lamina import preprocessing

        cls = getattr(preprocessing, item["type"], None) if item["type"].isidentifier() else None
        if (not isinstance(cls, type) or not cls.__module__.startswith("lamina.")
                or not callable(getattr(cls, "from_config", None))):
            raise ValueError(f"{where}: unknown preprocessing type {item['type']!r:.80}")
        try:
            return cls.from_config(item.get("config", {}))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"{where}: cannot rebuild {item['type']}: {exc}") from None

    kind = config.get("kind") if isinstance(config, dict) else None
    if kind == "single":
        return one(config.get("item"))
    if kind == "list":
        return [one(v) for v in as_list(config.get("items"), where)]
    if kind == "dict" and isinstance(config.get("items"), dict):
        return {k: one(v) for k, v in config["items"].items()}
    raise ValueError(f"{where}: malformed preprocessing metadata")


@dataclass
class Bundle:
    """Everything :func:`lamina.io.save` stored with a model.

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


def user_metadata(raw: RawFile, where: str) -> Any:
    """The user's ``metadata`` entry, decoded (None when absent)."""
    if "metadata" not in raw.metadata:
        return None
    return decode(raw.json("metadata"), where=where)


def bundle_from(raw: RawFile) -> Bundle:
    """The model and the rest of a validated model file (see :func:`load_bundle`)."""
    where = raw.where
    if raw.metadata.get("format") != "lamina" or "architecture" not in raw.metadata:
        hint = ("a lamina checkpoint of a model lamina cannot describe: use "
                "lamina.train.load_checkpoint(path, model)"
                if "checkpoint" in raw.metadata else
                "read its tensors with safetensors and use model.load_state_dict or "
                "lm.io.from_torch_state_dict")
        raise ValueError(f"{where}: a safetensors file without a lamina architecture "
                         f"(metadata keys {sorted(raw.metadata)[:10]}); {hint}")
    config = raw.json("architecture")
    weights = _model_entries(raw)
    elements = sum(math.prod(shape) for _, shape, _ in raw.entries.values())
    check_weights(raw, expected_shapes(config, elements, where), where)
    float_dtypes = {dtype for dtype, _, _ in weights.values() if dtype.kind == "f"}
    with rng_untouched():
        model = build_module(config, where)
    if len(float_dtypes) == 1:
        model.to(float_dtypes.pop().newbyteorder("="))
    load_weights(model, raw, where)
    optimizer_class, state = optimizer_state(raw, where)
    return Bundle(model=model.eval(), optimizer_state=state, optimizer_class=optimizer_class,
                  preprocessing=_preprocessing(raw, where), metadata=user_metadata(raw, where),
                  architecture=config, path=raw.name)


def load_bundle(path: Source) -> Bundle:
    """Load the model and all else :func:`lamina.io.save` stored in ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt (checksum), not a lamina safetensors file (a
            pickle, a PyTorch zip, ...), names an unknown layer type, or its tensors do not fit
            the architecture (missing / extra keys, wrong shapes); the message names the file.
    """
    return bundle_from(read_file(path))


def load_model(path: Source) -> Module:
    """The model of a model file, in eval mode (see :func:`load_bundle`)."""
    return load_bundle(path).model
