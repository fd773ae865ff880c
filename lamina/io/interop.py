"""PyTorch interop: lamina's state_dict as torch tensors and back (torch imported on call).

lamina uses PyTorch's parameter names and layouts (Linear weight ``(out, in)``, Conv2d weight
``(out, in, kh, kw)``), so state dicts move between the two unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from lamina.nn.module import Module
from lamina.tensor import Tensor

__all__ = ["to_torch_state_dict", "from_torch_state_dict"]


def to_torch_state_dict(model: Module) -> OrderedDict:
    """The model's ``state_dict`` as PyTorch tensors under the same names (copies).

    lamina uses PyTorch's names and layouts (Linear weight ``(out, in)``, Conv2d weight
    ``(out, in, kh, kw)``), so the result loads into the equivalent ``torch.nn`` model.
    Imports torch only when called.
    """
    import torch

    return OrderedDict((k, torch.from_numpy(np.array(getattr(v, "_data", v), copy=True)))
                       for k, v in model.state_dict().items())


def from_torch_state_dict(model: Module, state_dict: Any, strict: bool = True) -> Module:
    """Load PyTorch tensors (or NumPy arrays / lamina Tensors) into ``model`` in place.

    Args:
        model: the lamina model.
        state_dict: name -> tensor, e.g. ``torch_model.state_dict()``.
        strict: require exactly the model's keys.

    Returns:
        ``model``.

    Raises:
        KeyError: with ``strict``, missing or unexpected keys.
        ValueError: a tensor's shape differs from its parameter's.
    """
    arrays = OrderedDict()
    for key, value in state_dict.items():
        if hasattr(value, "detach") and hasattr(value, "cpu") and not isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        arrays[key] = value._data if isinstance(value, Tensor) else np.asarray(value)
    model.load_state_dict(arrays, strict=strict)
    return model
