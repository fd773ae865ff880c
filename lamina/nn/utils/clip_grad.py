"""Gradient clipping (``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``), in place on
the parameters' ``.grad``."""

from __future__ import annotations

import math

import numpy as np

from lamina.tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` taken together as one vector:
    (sum_i ||g_i||_p^p)^(1/p); ``inf``: the largest |element|.

    Raises:
        RuntimeError: ``error_if_nonfinite`` and the norm is nan or inf.
    """
    arrays = [t._data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor(0.0)
    dtype = np.result_type(*arrays)
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays)
    else:
        norms = [np.linalg.norm(a.reshape(-1).astype(np.float64), norm_type) for a in arrays]
        total = float(np.linalg.norm(np.asarray(norms), norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients is non-finite, "
                           f"so it cannot be clipped (error_if_nonfinite=True)")
    return Tensor(np.asarray(total, dtype=dtype))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale all gradients together so that their total norm is at most ``max_norm``:
    g <- g * min(1, max_norm / (total + 1e-6)) (torch's formula). Returns the total norm
    before clipping (a 0-d tensor).

    Raises:
        RuntimeError: ``error_if_nonfinite`` and the total norm is nan or inf.
    """
    grads = _grads(parameters)
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    coef = float(max_norm) / (float(total.item()) + 1e-6)
    if coef < 1.0:
        for g in grads:
            g._data *= np.asarray(coef, dtype=g.dtype)
            g._bump_version()
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        np.clip(g._data, -clip_value, clip_value, out=g._data)
        g._bump_version()
