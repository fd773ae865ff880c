"""Parameters as one flat vector and back (``torch.nn.utils.parameters_to_vector`` /
``vector_to_parameters``)."""

from __future__ import annotations

import numpy as np

from lamina.tensor import Tensor, cat


def parameters_to_vector(parameters) -> Tensor:
    """The parameters flattened and concatenated in order into one 1-D tensor (in the graph:
    gradients flow back to the parameters)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' values, in place (torch
    rebinds ``param.data`` to views of ``vec``; the values are the same).

    Raises:
        TypeError: ``vec`` is not a Tensor.
        ValueError: ``vec`` is not 1-D or its length differs from the parameters' total size.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, got {type(vec).__name__}")
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D tensor of {total} elements, got "
                         f"shape {tuple(vec.shape)}")
    start = 0
    for p in parameters:
        n = p.numel()
        # in place: an optimizer's flat buffer may hold the parameter's array as a view
        np.copyto(p._data, vec._data[start:start + n].reshape(p.shape), casting="unsafe")
        p._bump_version()
        start += n
