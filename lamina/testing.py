"""Finite-difference gradient checking, public so users can check their own ops.

Central differences: dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h, with error O(h^2);
in float64 with h = 1e-6 this agrees with an exact gradient to about 1e-8 relative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lamina.tensor import Tensor, no_grad


def numerical_grad(fn: Callable[..., Tensor], inputs: Sequence[Tensor], index: int,
                   weights: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d sum(fn(*inputs) * weights) / d inputs[index], by central differences.

    Args:
        fn: maps the inputs to a Tensor.
        inputs: the arguments of ``fn``; ``inputs[index]`` is perturbed in place and restored.
        index: which input to differentiate.
        weights: array of ``fn``'s output shape contracting the output to a scalar.
        eps: finite-difference step h.

    Returns:
        An array of ``inputs[index]``'s shape.
    """
    tensor = inputs[index]
    if not tensor._data.flags.c_contiguous:  # reshape(-1) below must be a view, not a copy
        tensor._data = np.ascontiguousarray(tensor._data)
    flat = tensor._data.reshape(-1)
    grad = np.zeros(flat.size, dtype=flat.dtype)
    with no_grad():
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = float(np.sum(fn(*inputs)._data * weights))
            flat[i] = old - eps
            minus = float(np.sum(fn(*inputs)._data * weights))
            flat[i] = old
            grad[i] = (plus - minus) / (2 * eps)
    return grad.reshape(tensor.shape)


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-6, rtol: float = 1e-4, seed: int = 0) -> bool:
    """Compare autograd's gradients of ``fn`` with finite differences for every input that
    requires grad. The output is contracted with fixed random weights so that every output
    element is checked.

    Args:
        fn: maps the inputs to a Tensor.
        inputs: float64 Tensors; those with ``requires_grad`` are checked (other items, such
            as integer index arrays, are passed through unchanged).
        eps: finite-difference step h.
        atol: absolute tolerance of the comparison.
        rtol: relative tolerance of the comparison.
        seed: seed of the random weights that contract the output to a scalar.

    Example:
        >>> import numpy as np, lamina as lm
        >>> x = lm.Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        >>> gradcheck(lambda t: (t * t).sum(), [x])
        True

    Returns:
        True when all gradients match.

    Raises:
        AssertionError: naming the input and the largest difference, when one does not match.
        TypeError: an input that requires grad is not float64.
    """
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} must be float64 for a meaningful check, "
                            f"got {t.dtype}")
    out = fn(*inputs)
    weights = np.asarray(np.random.default_rng(seed).standard_normal(out.shape))
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    (out * Tensor(weights)).sum().backward()
    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        expected = numerical_grad(fn, inputs, i, weights, eps)
        actual = np.zeros_like(t._data) if t.grad is None else t.grad._data
        if not np.allclose(actual, expected, atol=atol, rtol=rtol):
            worst = float(np.max(np.abs(actual - expected)))
            raise AssertionError(f"gradcheck: input {i} (shape {t.shape}): autograd and finite "
                                 f"differences differ by up to {worst:.3g}\nautograd:\n{actual}"
                                 f"\nnumerical:\n{expected}")
    return True
