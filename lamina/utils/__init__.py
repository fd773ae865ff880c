"""PyTorch's ``torch.utils`` namespace: ``lamina.utils.data`` and ``lamina.utils.tensorboard``.

Both load on first use (``lm.utils.data.DataLoader`` works after ``import lamina``).
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = {"data": "lamina.utils.data", "tensorboard": "lamina.utils.tensorboard"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    raise AttributeError(f"module 'lamina.utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_SUBMODULES)


__all__ = ["data", "tensorboard"]
