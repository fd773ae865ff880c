"""Differentiable operations on NumPy arrays: each op's forward and backward side by side.

An op is a plain function of arrays (and keyword options) that returns ``(out, backward)``;
``backward(grad, need)`` returns one gradient per array input, ``None`` where ``need[i]`` is
false or the input is not differentiable. :func:`lamina.tensor.apply` connects ops to Tensors.

Every op is registered in :data:`OPS` so that one parametrised test can gradcheck all of
them: an op without a test case fails the suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

OPS: dict[str, Callable] = {}


def register(fn: Callable) -> Callable:
    """Add ``fn`` to the op registry under its name."""
    OPS[fn.__name__] = fn
    return fn


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    The reverse of NumPy broadcasting: a size-1 (or missing) axis of an input received the
    same value along that axis of the output, so its gradient is the sum along it.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


FAMILIES = ("elementwise", "reduce", "shape", "linalg", "activation", "loss", "conv")

# Import the op families so that they register themselves.
for _family in FAMILIES:
    importlib.import_module(f"lamina.ops.{_family}")
