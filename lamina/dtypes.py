"""PyTorch's dtype names (``lm.float``, ``lm.long``, ...) as NumPy dtypes, and the default
floating dtype that Python floats and the creation functions use (``set_default_dtype``).

This module imports nothing of lamina's: :mod:`lamina.tensor` reads the default from here.
"""

from __future__ import annotations

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - torch's name
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001 - torch's name
int64 = long = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)  # noqa: A001 - torch's name
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)

NAMES = ("float16", "half", "float32", "float", "float64", "double", "int8", "int16", "short",
         "int32", "int", "int64", "long", "uint8", "bool", "complex64", "cfloat", "complex128",
         "cdouble")

finfo = np.finfo  # lm.finfo(lm.float32).eps, .max, .tiny: NumPy's, which torch's mirrors
iinfo = np.iinfo

_default = [float32]


def get_default_dtype() -> np.dtype:
    """The floating dtype of ``lm.tensor(1.5)``, ``lm.zeros(3)``, ``lm.randn(3)``... (float32
    unless :func:`set_default_dtype` changed it), as ``torch.get_default_dtype``."""
    return _default[0]


def set_default_dtype(d) -> None:
    """Make ``d`` (float32 or float64) the default floating dtype, as ``torch.set_default_dtype``.

    Raises:
        TypeError: ``d`` is not float32 or float64 (as torch, which also allows only floating
            types; lamina's ops run in float32 and float64).
    """
    dtype = np.dtype(d) if d is not None else None
    if dtype not in (float32, float64):
        raise TypeError(f"set_default_dtype: expected lm.float32 or lm.float64, got {d!r}")
    _default[0] = dtype


_TYPE_NAMES = {float16: "HalfTensor", float32: "FloatTensor", float64: "DoubleTensor",
               int8: "CharTensor", int16: "ShortTensor", int32: "IntTensor", int64: "LongTensor",
               uint8: "ByteTensor", bool: "BoolTensor"}


def type_name(dtype: np.dtype) -> str:
    """torch's legacy type string of ``dtype`` with lamina's module name:
    ``float32`` -> ``'lamina.FloatTensor'`` (what ``Tensor.type()`` returns)."""
    name = _TYPE_NAMES.get(np.dtype(dtype))
    if name is None:
        raise TypeError(f"Tensor.type(): no legacy type name for dtype {dtype}")
    return f"lamina.{name}"


def from_type_name(name: str) -> np.dtype:
    """The dtype of a legacy type string, ``'torch.FloatTensor'`` or ``'lamina.LongTensor'``."""
    short = name.rsplit(".", 1)[-1]
    for dtype, known in _TYPE_NAMES.items():
        if known == short:
            return dtype
    raise TypeError(f"Tensor.type(): unknown type {name!r}; expected a dtype (lm.float32) or a "
                    f"name like 'torch.FloatTensor'")
