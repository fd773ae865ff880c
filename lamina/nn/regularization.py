"""Parameter norm penalties (notes 8.1): J~ = J + alpha * Omega(theta) (eq 8.1)."""

from __future__ import annotations

from collections.abc import Iterable

from lamina.tensor import Tensor


def _weights(params: Iterable[Tensor], include_bias: bool) -> list[Tensor]:
    params = list(params.parameters() if hasattr(params, "parameters") else params)
    return [p for p in params if include_bias or p.ndim >= 2]


def l2_penalty(params, include_bias: bool = False) -> Tensor:
    """Omega = 1/2 ||w||_2^2 = 1/2 sum w^2 over the weights (ndim >= 2) (eq 8.2).

    Args:
        params: a Module or an iterable of parameters.
        include_bias: also penalise 1-D parameters (biases).
    """
    weights = _weights(params, include_bias)
    if not weights:
        raise ValueError("l2_penalty: no weights (parameters with ndim >= 2) were given")
    total = (weights[0] * weights[0]).sum()
    for w in weights[1:]:
        total = total + (w * w).sum()
    return 0.5 * total


def l1_penalty(params, include_bias: bool = False) -> Tensor:
    """Omega = ||w||_1 = sum |w| over the weights (ndim >= 2) (eq 8.3)."""
    weights = _weights(params, include_bias)
    if not weights:
        raise ValueError("l1_penalty: no weights (parameters with ndim >= 2) were given")
    total = weights[0].abs().sum()
    for w in weights[1:]:
        total = total + w.abs().sum()
    return total
