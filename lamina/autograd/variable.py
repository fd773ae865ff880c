"""``Variable``: PyTorch's pre-0.4 wrapper, kept in old tutorials (``Variable(x,
requires_grad=True)``). As in torch today, it returns a Tensor."""

from __future__ import annotations

from lamina.tensor import Tensor


def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:  # noqa: N802
    """``data`` as a Tensor (itself when already one) with ``requires_grad`` set when asked."""
    t = data if isinstance(data, Tensor) else Tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t
