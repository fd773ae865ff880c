"""lamina's one JSON codec: Python values and NumPy arrays <-> strict JSON data.

Every JSON that lamina writes (a model file's architecture, optimizer, metadata and checkpoint
entries, ``lm.save`` of dicts and lists, the preprocessing transformers' ``to_config``) goes
through :func:`encode` and is read back with :func:`decode`, so one array encoding exists:

- an array inline: ``{"ndarray": {"dtype": "float64", "shape": [2], "data": [0.5, 1.0]}}``
  (``data`` flat, in C order; dtypes of kind bool, int, uint, float, str and object); a NumPy
  scalar is an array of shape ``[]`` and comes back as a scalar (so does an inline 0-d array);
- an array stored as a tensor of the file (``tensors`` given): ``{"__tensor__": name}``, with
  ``"tensor": true`` for a lamina Tensor (and ``"requires_grad": true`` where set);
- a non-finite float: ``{"float": "nan"}`` (also ``"inf"``, ``"-inf"``), so the text is
  strict JSON;
- a tuple: ``{"__tuple__": [...]}``; a NumPy dtype: ``{"__dtype__": "float32"}``; a dict whose
  keys are not all plain strings: ``{"__dict__": [[key, value], ...]}``.

Decoding never executes anything: it accepts only these forms and raises ValueError (with the
``where`` prefix) for anything else.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.tensor import Tensor

__all__ = ["encode", "decode", "decode_array", "MAX_DEPTH", "TENSOR_DTYPES"]

MAX_DEPTH = 64
_MAX_NDIM = 32
_INLINE_KINDS = "biufUO"
#: dtypes stored as tensors of a safetensors file (others are written inline)
TENSOR_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
    np.float16, np.float32, np.float64))
_ELEMENT_TYPES = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "U": (str,)}


def _plain_float(value: float) -> Any:
    return value if math.isfinite(value) else {"float": repr(value)}


def _element(value: Any, where: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return _plain_float(value)
    raise TypeError(f"{where}: cannot store an array element of type {type(value).__name__}")


def _inline(array: np.ndarray, where: str) -> dict:
    if array.dtype.kind not in _INLINE_KINDS:
        raise TypeError(f"{where}: cannot store an array of dtype {array.dtype}")
    flat = array.ravel().tolist()
    if array.dtype.kind in "fO":
        flat = [_element(v, where) for v in flat]
    return {"ndarray": {"dtype": str(array.dtype), "shape": list(array.shape), "data": flat}}


def _child(key: str, part: Any) -> str:
    return f"{key}.{part}" if key else str(part)


def _plain_keys(value: dict) -> bool:
    keys = set(value)
    return (all(isinstance(k, str) and not k.startswith("__") for k in keys)
            and keys not in ({"ndarray"}, {"float"}))


def encode(value: Any, tensors: dict[str, np.ndarray] | None = None, key: str = "",
           where: str = "encode") -> Any:
    """``value`` as strict JSON data (see the module doc for the forms).

    Args:
        value: None, bools, numbers, strings, NumPy scalars, dtypes and arrays, lamina Tensors,
            and lists, tuples and dicts of them.
        tensors: where arrays go as file tensors (named from ``key`` and the path to them);
            None writes them inline.
        key: the name prefix of tensors.
        where: the start of error messages.

    Returns:
        Data that ``json.dumps(..., allow_nan=False)`` accepts.

    Raises:
        TypeError: a value of another type (the message names it).
    """
    if isinstance(value, np.generic):
        return _inline(np.asarray(value), where)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _plain_float(float(value))
    if isinstance(value, Tensor):
        if tensors is None:
            return _inline(value._data, where)
        out = encode(value._data, tensors, key, where)
        if isinstance(out, dict) and "__tensor__" in out:
            out["tensor"] = True
            if value.requires_grad:
                out["requires_grad"] = True
        return out
    if isinstance(value, np.ndarray):
        array = value
        if tensors is None or array.dtype.newbyteorder("=") not in TENSOR_DTYPES:
            return _inline(array, where)
        name, n = key or "tensor", 1
        while name in tensors:
            n += 1
            name = f"{key or 'tensor'}#{n}"
        tensors[name] = np.asarray(array, dtype=array.dtype.newbyteorder("="), order="C")
        return {"__tensor__": name}
    if isinstance(value, np.dtype):
        return {"__dtype__": str(value)}
    if isinstance(value, (tuple, list)):
        items = [encode(v, tensors, _child(key, i), where) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if _plain_keys(value):
            return {k: encode(v, tensors, _child(key, k), where) for k, v in value.items()}
        return {"__dict__": [[encode(k, None, key, where), encode(v, tensors, _child(key, k),
                                                                  where)]
                             for k, v in value.items()]}
    hint = "; save its state_dict() instead" if callable(getattr(value, "state_dict", None)) \
        else ""
    raise TypeError(f"{where}: cannot store a value of type {type(value).__name__} "
                    f"({value!r:.80}); only None, bools, numbers, strings, lists, tuples, dicts, "
                    f"NumPy arrays and lamina Tensors can be saved{hint}")


def _dtype(name: Any, where: str, kinds: str) -> np.dtype:
    try:
        dtype = np.dtype(name) if isinstance(name, str) else None
    except Exception:  # NumPy raises TypeError, ValueError or SyntaxError for bad strings
        dtype = None
    if dtype is None or dtype.kind not in kinds:
        raise ValueError(f"{where}: bad array: unsupported dtype {str(name)[:40]!r}")
    return dtype


def _decode_element(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, dict) and set(value) == {"float"} \
            and value["float"] in ("nan", "inf", "-inf"):
        return float(value["float"])
    raise ValueError(f"{where}: unexpected value {str(value)[:80]!r}")


def decode_array(spec: Any, where: str) -> np.ndarray | np.generic:
    """The array of an inline ``{"dtype", "shape", "data"}`` spec (a scalar for shape []).

    Raises:
        ValueError: other keys, a dtype that is not bool/int/uint/float/str/object, a bad
            shape, a length that is not the product of the shape, or values of the wrong type.
    """
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise ValueError(f"{where}: an array needs exactly the keys dtype, shape and data")
    dtype = _dtype(spec["dtype"], where, _INLINE_KINDS)
    shape, data = spec["shape"], spec["data"]
    if not (isinstance(shape, list) and len(shape) <= _MAX_NDIM
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ValueError(f"{where}: bad array shape {str(shape)[:80]}")
    if not isinstance(data, list) or len(data) != math.prod(shape):
        raise ValueError(f"{where}: array data must be a flat list of {math.prod(shape)} values")
    if dtype.kind == "O":
        array = np.empty(len(data), dtype=object)
        array[:] = [_decode_element(v, where) for v in data]
    else:
        if dtype.kind == "f":
            data = [_decode_element(v, where) for v in data]
        allowed = _ELEMENT_TYPES[dtype.kind]
        if any(not isinstance(v, allowed) or (dtype.kind != "b" and isinstance(v, bool))
               for v in data):
            raise ValueError(f"{where}: array values do not match dtype {dtype}")
        try:
            array = np.array(data, dtype=dtype)
        except (OverflowError, ValueError) as error:
            raise ValueError(f"{where}: array values do not fit dtype {dtype}: {error}") from None
    array = array.reshape(shape)
    return array[()] if not shape else array


def _as_list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a JSON list, got {type(value).__name__}")
    return value


def _hashable(value: Any, where: str) -> Any:
    if isinstance(value, (list, dict, np.ndarray)):
        raise ValueError(f"{where}: a dict key must be a number, string or tuple")
    return value


def _tensor(value: dict, tensors: dict[str, np.ndarray] | None, used: set[str] | None,
            where: str) -> Any:
    name = value["__tensor__"]
    if not set(value) <= {"__tensor__", "tensor", "requires_grad"}:
        raise ValueError(f"{where}: a tensor reference has unknown keys {sorted(value)[:5]}")
    if tensors is None or not isinstance(name, str) or name not in tensors:
        raise ValueError(f"{where}: refers to a tensor {str(name)[:80]!r} that the file does "
                         f"not hold")
    if used is not None:
        if name in used:  # one copy per stored tensor: no file decodes to more than its size
            raise ValueError(f"{where}: tensor {name[:80]!r} is referred to twice")
        used.add(name)
    array = np.array(tensors[name], copy=True)
    if value.get("tensor") is True:
        return Tensor(array, requires_grad=value.get("requires_grad") is True
                      and array.dtype.kind == "f")
    return array


def decode(value: Any, tensors: dict[str, np.ndarray] | None = None,
           used: set[str] | None = None, where: str = "decode", depth: int = 0) -> Any:
    """Inverse of :func:`encode`; file tensors come from ``tensors`` (their names go to ``used``).

    Also reads the tags of lamina's first file format (``__ndarray__``, ``__scalar__``).

    Raises:
        ValueError: unknown tags, references to tensors that are not there, malformed arrays,
            or nesting deeper than :data:`MAX_DEPTH`; the message starts with ``where``.
    """
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: JSON nested deeper than {MAX_DEPTH} levels")
    depth += 1
    if isinstance(value, list):
        return [decode(v, tensors, used, where, depth) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"{where}: unexpected value {str(value)[:80]!r}")
    keys = set(value)
    if keys == {"ndarray"}:
        return decode_array(value["ndarray"], where)
    if keys == {"float"}:
        return _decode_element(value, where)
    if "__tensor__" in value:
        return _tensor(value, tensors, used, where)
    if "__tuple__" in value:
        return tuple(decode(v, tensors, used, where, depth)
                     for v in _as_list(value["__tuple__"], where))
    if "__dict__" in value:
        pairs = _as_list(value["__dict__"], where)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError(f"{where}: a tagged dict must hold [key, value] pairs")
        return {_hashable(decode(k, None, used, where, depth), where):
                decode(v, tensors, used, where, depth) for k, v in pairs}
    if "__dtype__" in value:
        return _dtype(value["__dtype__"], where, "biufc")
    if "__ndarray__" in value:  # format 1
        dtype = _dtype(value.get("dtype"), where, "biuf")
        try:
            return np.asarray(value["__ndarray__"], dtype=dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{where}: bad array in the file's JSON ({exc})") from None
    if "__scalar__" in value:  # format 1
        dtype = _dtype(value.get("dtype"), where, "biuf")
        try:
            return dtype.type(value["__scalar__"])
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{where}: bad scalar in the file's JSON ({exc})") from None
    tags = [k for k in value if k.startswith("__")]
    if tags:
        raise ValueError(f"{where}: unknown tag {tags[0]!r:.40} in the JSON")
    return {k: decode(v, tensors, used, where, depth) for k, v in value.items()}
