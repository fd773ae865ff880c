"""torchvision.utils: ``make_grid`` tiles a batch of images; ``save_image`` writes one to a file."""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO

import numpy as np

from lamina.tensor import Tensor

__all__ = ["make_grid", "save_image"]


def _array(tensor: Any) -> np.ndarray:
    if isinstance(tensor, (list, tuple)):
        return np.stack([_array(t) for t in tensor])
    if isinstance(tensor, Tensor):
        return np.array(tensor._data, dtype=np.float64 if tensor._data.dtype == np.float64
                        else np.float32)
    return np.array(tensor, dtype=np.float32)


def make_grid(tensor: Any, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile images ``(B, C, H, W)`` (or a list of ``(C, H, W)``) into one ``(C', H', W')`` image.

    ``min(nrow, B)`` images per row, ``ceil(B / nrow)`` rows, ``padding`` pixels of ``pad_value``
    around each: ``H' = rows * (H + padding) + padding``, ``W' = cols * (W + padding) + padding``.
    One-channel images become three channels (``C' = 3``), as in torchvision. ``normalize``
    maps ``[low, high]`` (``value_range``, default the data's min and max; per image with
    ``scale_each``) to ``[0, 1]``: ``(x.clamp(low, high) - low) / max(high - low, 1e-5)``.

    Raises:
        ValueError: the input is not 2-, 3- or 4-dimensional.
    """
    array = _array(tensor)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3:
        if array.shape[0] == 1:
            array = np.concatenate([array] * 3, axis=0)
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got "
                         f"shape {array.shape}")
    if array.shape[1] == 1:
        array = np.concatenate([array] * 3, axis=1)
    if normalize:
        def scale(img: np.ndarray) -> np.ndarray:
            low, high = value_range if value_range is not None else (img.min(), img.max())
            return (np.clip(img, low, high) - low) / max(high - low, 1e-5)
        array = np.stack([scale(img) for img in array]) if scale_each else scale(array)
    if array.shape[0] == 1:
        return Tensor(array[0])
    count, channels, height, width = array.shape
    cols = min(nrow, count)
    rows = int(math.ceil(count / cols))
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((channels, rows * cell_h + padding, cols * cell_w + padding), pad_value,
                   dtype=array.dtype)
    for k in range(count):
        y, x = divmod(k, cols)
        top, left = y * cell_h + padding, x * cell_w + padding
        grid[:, top:top + height, left:left + width] = array[k]
    return Tensor(grid)


def save_image(tensor: Any, fp: str | os.PathLike[str] | BinaryIO, format: str | None = None,
               **kwargs: Any) -> None:
    """Write ``make_grid(tensor, **kwargs)`` as an 8-bit image file (PNG, ...; needs Pillow).

    Pixels: ``uint8(clamp(x * 255 + 0.5, 0, 255))`` with ``x`` in ``[0, 1]``.
    """
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("save_image needs Pillow: pip install 'lamina[vision]'") from None
    grid = make_grid(tensor, **kwargs)._data
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(np.ascontiguousarray(pixels)).save(fp, format=format)
