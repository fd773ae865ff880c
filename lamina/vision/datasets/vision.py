"""The base class of the image datasets (torchvision's ``VisionDataset``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lamina.data.dataset import Dataset


class VisionDataset(Dataset):
    """An image dataset under ``root`` with optional ``transform`` / ``target_transform``.

    Item ``i`` is ``(transform(image), target_transform(target))``; the image is a PIL image when
    Pillow is installed (as in torchvision), else a ``uint8`` array.

    Raises:
        TypeError: ``root`` is not a path, or a transform is not callable.
    """

    def __init__(self, root: str | os.PathLike[str], transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"{type(self).__name__}: root must be a path, got "
                            f"{type(root).__name__}")
        for name, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{type(self).__name__}: {name} must be callable or None, got "
                                f"{type(fn).__name__}")
        self.root = str(Path(root).expanduser())
        self.transform = transform
        self.target_transform = target_transform

    def _item(self, image: np.ndarray, target: int) -> tuple[Any, Any]:
        picture = _to_image(image)
        if self.transform is not None:
            picture = self.transform(picture)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return picture, target

    def __repr__(self) -> str:
        return f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n" \
               f"    Root location: {self.root}"


def _to_image(array: np.ndarray) -> Any:
    try:
        from PIL import Image
    except ImportError:
        return array
    return Image.fromarray(array)
