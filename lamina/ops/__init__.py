"""Differentiable operations on NumPy arrays: each op's forward and backward side by side.

An op is a plain function of arrays (and keyword options) that returns ``(out, backward)``;
``backward(grad, need)`` returns one gradient per array input, ``None`` where ``need[i]`` is
false or the input is not differentiable. :func:`lamina.tensor.apply` connects ops to Tensors.

Every op is registered in :data:`OPS` so that one parametrised test can gradcheck all of
them: an op without a test case fails the suite.

An op registered with ``fresh_grads=True`` promises that its backward returns newly allocated
arrays that nothing else references (not ``grad`` itself, not a view, not an array kept in the
closure, never the same array twice): the engine then hands them to leaf tensors as their
``.grad`` without the defensive copy it makes otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

OPS: dict[str, Callable] = {}
FRESH_GRADS: set[Callable] = set()


def register(fn: Callable | None = None, *, fresh_grads: bool = False):
    """Add ``fn`` to the op registry under its name (``@register`` or
    ``@register(fresh_grads=True)``, see the module docstring)."""
    if fn is None:
        return lambda f: register(f, fresh_grads=fresh_grads)
    OPS[fn.__name__] = fn
    if fresh_grads:
        FRESH_GRADS.add(fn)
    return fn


def weak(value):
    """A NumPy scalar or 0-d array as the Python number it holds; anything else unchanged.

    Python numbers are "weak" in NumPy's type promotion (float32 array * 0.5 is float32) but
    NumPy scalars are not (float32 array * np.float64(0.5) is float64): ops pass their scalar
    hyperparameters through this so that a value from a config or a tuner cannot upcast.
    """
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


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


def relu_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A read-only array of zeros, for ReLU as ``np.maximum(out, zeros, out=out)`` in the
    batch-1 inference paths: with the scalar 0, NumPy spends 0.3-0.6 us per call on
    broadcasting it, 2-3x the work itself on a layer's few hundred outputs (same values)."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


FAMILIES = ("elementwise", "reduce", "shape", "linalg", "activation", "loss", "conv", "norm",
            "activation_more", "loss_more", "embedding", "recurrent")

# Import the op families so that they register themselves.
for _family in FAMILIES:
    importlib.import_module(f"lamina.ops.{_family}")
