"""Validation of layer and loss constructor arguments: each error names the class, the
argument, what was expected and what was received (``Linear: in_features must be an int, got
float 4.5``), instead of NumPy's message from deep inside the allocation."""

from __future__ import annotations

import numbers

import numpy as np


def _got(value) -> str:
    return f"{type(value).__name__} {value!r}"


def positive_int(where: str, name: str, value) -> int:
    """``value`` as an int >= 1.

    Raises:
        TypeError: not an integer (bools and floats such as 4.0 included, as PyTorch).
        ValueError: below 1.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {_got(value)}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be positive, got {value}")
    return int(value)


def int_arg(where: str, name: str, value) -> int:
    """``value`` as an int (any sign; a dimension index such as -1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {_got(value)}")
    return int(value)


def real(where: str, name: str, value, low: float | None = None, high: float | None = None,
         ) -> float:
    """``value`` as a float, optionally within [low, high].

    Raises:
        TypeError: not a real number.
        ValueError: NaN, or outside [low, high].
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {_got(value)}")
    value = float(value)
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        bounds = f"in [{low:g}, {high:g}]" if low is not None and high is not None else (
            f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None
            else "a number")
        raise ValueError(f"{where}: {name} must be {bounds}, got {value}")
    return value


def boolean(where: str, name: str, value) -> bool:
    """``value`` as a bool (True/False, or NumPy's bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {_got(value)}")
    return bool(value)


def float_dtype(where: str, dtype) -> np.dtype:
    """``dtype`` (None: float32) as a floating NumPy dtype.

    Raises:
        TypeError: not a dtype, or not floating point.
    """
    try:
        result = np.dtype(dtype or np.float32)
    except TypeError:
        raise TypeError(f"{where}: dtype must be a floating dtype such as lm.float32, got "
                        f"{dtype!r}") from None
    if result.kind != "f":
        raise TypeError(f"{where}: dtype must be floating point (float16, float32 or "
                        f"float64), got {result}")
    return result
