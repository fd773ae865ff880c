"""A restricted unpickler for the CIFAR batches: it rebuilds dicts, lists, tuples, bytes, str,
numbers and numeric NumPy arrays, and refuses every other global (``os.system``, ``eval``, any
class), so that loading a tampered file cannot run code.

A pickled NumPy array names three globals: the array rebuild function, ``numpy.ndarray`` and
``numpy.dtype``. Each is replaced here by a checking stand-in, and arrays of Python objects
(``dtype=object``, which could carry anything) are refused.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

import numpy as np

__all__ = ["safe_load", "UnsafePickleError"]

_NUMERIC_KINDS = "biufc"


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something outside the allow-list."""


def _numeric_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickleError(f"a NumPy dtype must be named by a string, got "
                                f"{type(spec).__name__}")
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_KINDS:
        raise UnsafePickleError(f"only numeric NumPy arrays may be unpickled, got dtype {dtype}")
    return dtype


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafePickleError("only plain numpy.ndarray may be rebuilt")
    return _SafeArray(shape, np.uint8)


class _SafeArray(np.ndarray):
    """An empty array whose ``__setstate__`` (pickle's BUILD step) accepts numeric data only."""

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise UnsafePickleError("unexpected NumPy array state in the pickle")
        dtype = state[2]
        if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS:
            raise UnsafePickleError(f"only numeric NumPy arrays may be unpickled, got {dtype!r}")
        if not isinstance(state[4], (bytes, bytearray, str)):
            raise UnsafePickleError("NumPy array data must be raw bytes")
        super().__setstate__(state)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS:
        raise UnsafePickleError(f"only numeric NumPy arrays may be unpickled, got {dtype!r}")
    if not isinstance(buffer, (bytes, bytearray)):
        raise UnsafePickleError("NumPy array data must be raw bytes")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """Protocol-2 pickles from Python 3 spell bytes as ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("only latin-1 text may be turned into bytes")
    return text.encode("latin1")


_ALLOWED = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _numeric_dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to load {module}.{name} from a pickle: only dicts, "
                                    f"lists, bytes, str, numbers and numeric NumPy arrays are "
                                    f"allowed") from None


def safe_load(file: BinaryIO | bytes, encoding: str = "latin1") -> Any:
    """Unpickle ``file`` (an open binary file or bytes) through the allow-list.

    ``encoding`` decodes Python 2 ``str`` objects (the CIFAR batches were written by Python 2).

    Raises:
        UnsafePickleError: the pickle names a global outside the allow-list, or holds a
            non-numeric array.
    """
    stream = io.BytesIO(file) if isinstance(file, (bytes, bytearray)) else file
    result = _RestrictedUnpickler(stream, encoding=encoding).load()
    return _plain(result)


def _plain(value: Any) -> Any:
    """Turn the :class:`_SafeArray` views back into plain arrays."""
    if isinstance(value, np.ndarray):
        return np.asarray(value).view(np.ndarray)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value
