"""torchvision's API on lamina: ``lamina.vision.datasets``, ``.transforms`` and ``.utils``.

``import lamina.vision as torchvision`` (or ``from lamina.vision import datasets, transforms``) lets
a torchvision script run unchanged. Datasets return PIL images when Pillow is installed (extra
``lamina[vision]``), as torchvision does, so that transforms behave the same; without Pillow they
return ``uint8`` NumPy arrays (``HW`` or ``HWC``), which the transforms also accept.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = {"datasets": "lamina.vision.datasets", "transforms": "lamina.vision.transforms",
               "utils": "lamina.vision.utils"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    raise AttributeError(f"module 'lamina.vision' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_SUBMODULES)


__all__ = ["datasets", "transforms", "utils"]
