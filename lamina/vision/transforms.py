"""torchvision.transforms: image transforms for PIL images, Tensors and NumPy arrays.

Each transform takes what torchvision's takes and returns the same kind: a PIL image stays a PIL
image (processed by Pillow, as torchvision does), a Tensor is ``(..., C, H, W)``, and a NumPy array
is an image as ``np.asarray(pil_image)`` gives it, ``(H, W)`` or ``(H, W, C)``. :class:`ToTensor`
turns a PIL image or array into a float Tensor ``(C, H, W)``. Random transforms draw from lamina's
generator (``lm.manual_seed``; per worker in a DataLoader), so they are reproducible but do not
draw the same numbers as torch's generator. Resizing and rotating a Tensor or array goes through
Pillow one channel at a time (32-bit float images), so Pillow is needed for those two.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np

from lamina.random import generator as _generator
from lamina.tensor import Tensor

__all__ = ["Compose", "ToTensor", "PILToTensor", "Normalize", "Lambda", "RandomCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "Resize",
           "CenterCrop", "Pad", "Grayscale", "InterpolationMode"]


class InterpolationMode(Enum):
    """Resampling filters (torchvision's names)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _is_pil(img: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(img, Image.Image)


def _check_image(img: Any, caller: str) -> None:
    if not (_is_pil(img) or isinstance(img, (Tensor, np.ndarray))):
        raise TypeError(f"{caller}: expected a PIL image, a Tensor or a NumPy array, got "
                        f"{type(img).__name__}")
    if isinstance(img, Tensor) and img.ndim < 2:
        raise ValueError(f"{caller}: a Tensor image needs at least 2 dimensions (..., H, W), "
                         f"got shape {tuple(img.shape)}")
    if isinstance(img, np.ndarray) and img.ndim not in (2, 3):
        raise ValueError(f"{caller}: a NumPy image must be (H, W) or (H, W, C), got shape "
                         f"{img.shape}")


def _size(img: Any) -> tuple[int, int]:
    """``(height, width)``."""
    if _is_pil(img):
        return img.height, img.width
    if isinstance(img, Tensor):
        return int(img.shape[-2]), int(img.shape[-1])
    return int(img.shape[0]), int(img.shape[1])


def _as_hwc(img: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """The image as an ``(H, W, C)`` array and the function that turns such an array back into
    the input's kind (same mode, dtype and layout)."""
    if _is_pil(img):
        from PIL import Image

        mode = img.mode
        array = np.asarray(img)
        squeeze = array.ndim == 2
        hwc = array[:, :, None] if squeeze else array

        def back(out: np.ndarray) -> Any:
            return Image.fromarray(np.ascontiguousarray(out[:, :, 0] if squeeze else out),
                                   mode=None if mode in ("L", "RGB", "RGBA") else mode)
        return hwc, back
    if isinstance(img, Tensor):
        array = img._data
        lead = array.shape[:-3]
        if array.ndim == 2:
            hwc = array[:, :, None]
        else:
            hwc = np.moveaxis(array.reshape(-1, *array.shape[-2:]), 0, -1)

        def back(out: np.ndarray) -> Any:
            if array.ndim == 2:
                return Tensor(np.ascontiguousarray(out[:, :, 0]))
            return Tensor(np.ascontiguousarray(np.moveaxis(out, -1, 0)).reshape(
                *lead, -1, *out.shape[:2]))
        return hwc, back
    array = np.asarray(img)
    squeeze = array.ndim == 2
    hwc = array[:, :, None] if squeeze else array
    return hwc, (lambda out: np.ascontiguousarray(out[:, :, 0] if squeeze else out))


class Compose:
    """Apply ``transforms`` one after the other: ``t_n(...t_2(t_1(x)))``."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got "
                                f"{type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor:
    """PIL image or ``(H, W[, C])`` array -> float32 Tensor ``(C, H, W)``.

    ``uint8`` data (PIL modes ``L``, ``RGB``, ...) is scaled to ``[0, 1]`` by ``x / 255``; other
    dtypes keep their values (as torchvision).
    """

    def __call__(self, pic: Any) -> Tensor:
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: expected a PIL image or a NumPy array, got a Tensor")
        _check_image(pic, "ToTensor")
        if _is_pil(pic):
            array = np.asarray(pic)
            if pic.mode == "1":
                array = array.astype(np.uint8) * 255
        else:
            array = pic
        hwc = array[:, :, None] if array.ndim == 2 else array
        chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            scaled = chw.astype(np.float32)
            scaled /= np.float32(255)
            return Tensor._wrap(scaled)
        return Tensor(chw)

    def __repr__(self) -> str:
        return "ToTensor()"


class PILToTensor:
    """PIL image -> Tensor ``(C, H, W)`` of the same values (no scaling)."""

    def __call__(self, pic: Any) -> Tensor:
        if not _is_pil(pic):
            raise TypeError(f"PILToTensor: expected a PIL image, got {type(pic).__name__}")
        array = np.asarray(pic)
        hwc = array[:, :, None] if array.ndim == 2 else array
        return Tensor(np.ascontiguousarray(hwc.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        return "PILToTensor()"


class Normalize:
    """Per channel: ``out[c] = (x[c] - mean[c]) / std[c]`` on a float Tensor ``(..., C, H, W)``.

    Raises:
        TypeError: the input is not a floating Tensor (or array).
        ValueError: a zero in ``std``, or a channel count that ``mean``/``std`` do not match.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean = [float(m) for m in np.atleast_1d(mean)]
        self.std = [float(s) for s in np.atleast_1d(std)]
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std must not contain zeros, got {self.std}")
        self.inplace = inplace
        self._cache: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, tensor: Any) -> Any:
        array = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
        if array.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a floating-point tensor, got dtype "
                            f"{array.dtype}; apply ToTensor first")
        if array.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor image (..., C, H, W), got shape "
                             f"{array.shape}")
        channels = array.shape[-3]
        mean, std = self._columns(array.dtype)
        if mean.size not in (1, channels) or std.size not in (1, channels):
            raise ValueError(f"Normalize: {mean.size} means and {std.size} stds for "
                             f"{channels} channels")
        out = array - mean
        out /= std
        if self.inplace and isinstance(tensor, Tensor):
            tensor._data[...] = out
            tensor._bump_version()
            return tensor
        return Tensor._wrap(out) if isinstance(tensor, Tensor) else out

    def _columns(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """``mean`` and ``std`` as ``(C, 1, 1)`` arrays of ``dtype``, made once per dtype."""
        cached = self._cache.get(dtype)
        if cached is None:
            cached = self._cache[dtype] = (
                np.asarray(self.mean, dtype=dtype)[:, None, None],
                np.asarray(self.std, dtype=dtype)[:, None, None])
        return cached

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function as a transform."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda: expected a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"


def _pad_amounts(padding: Any, caller: str) -> tuple[int, int, int, int]:
    """torchvision's padding spec -> ``(left, top, right, bottom)``."""
    if isinstance(padding, numbers.Integral):
        values = (int(padding),) * 4
    elif isinstance(padding, Sequence) and len(padding) in (1, 2, 4):
        if len(padding) == 1:
            values = (int(padding[0]),) * 4
        elif len(padding) == 2:
            values = (int(padding[0]), int(padding[1])) * 2
        else:
            values = tuple(int(p) for p in padding)
    else:
        raise ValueError(f"{caller}: padding must be an int or a sequence of 1, 2 or 4 ints, "
                         f"got {padding!r}")
    if any(v < 0 for v in values):
        raise ValueError(f"{caller}: padding must be non-negative, got {padding!r}")
    return values  # type: ignore[return-value]


_NP_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
                 "symmetric": "symmetric"}


def pad(img: Any, padding: Any, fill: float = 0, padding_mode: str = "constant") -> Any:
    """Pad the borders: ``(left, top, right, bottom)`` pixels (torchvision ``F.pad``)."""
    if padding_mode not in _NP_PAD_MODES:
        raise ValueError(f"Pad: padding_mode must be one of {sorted(_NP_PAD_MODES)}, got "
                         f"{padding_mode!r}")
    left, top, right, bottom = _pad_amounts(padding, "Pad")
    hwc, back = _as_hwc(img)
    widths = ((top, bottom), (left, right), (0, 0))
    if padding_mode == "constant":
        fills = np.broadcast_to(np.asarray(fill, dtype=hwc.dtype), (hwc.shape[2],))
        out = np.stack([np.pad(hwc[:, :, c], widths[:2], constant_values=fills[c])
                        for c in range(hwc.shape[2])], axis=2)
    else:
        out = np.pad(hwc, widths, mode=_NP_PAD_MODES[padding_mode])
    return back(out)


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    """The ``height x width`` window at ``(top, left)``; outside the image is zero-filled."""
    h, w = _size(img)
    pads = (max(0, -left), max(0, -top), max(0, left + width - w), max(0, top + height - h))
    if any(pads):
        img = pad(img, list(pads))
        top, left = top + pads[1], left + pads[0]
    hwc, back = _as_hwc(img)
    return back(hwc[top:top + height, left:left + width])


def _pair(size: Any, caller: str) -> tuple[int, int]:
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) in (1, 2):
        return (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))
    raise ValueError(f"{caller}: size must be an int or a (height, width) pair, got {size!r}")


class Pad:
    """Pad each side (int: all four; 2 ints: left/right, top/bottom; 4: left, top, right,
    bottom) with ``fill`` or by ``edge``/``reflect``/``symmetric`` copies."""

    def __init__(self, padding: Any, fill: float = 0, padding_mode: str = "constant"):
        _pad_amounts(padding, "Pad")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img: Any) -> Any:
        _check_image(img, "Pad")
        return pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return f"Pad(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class CenterCrop:
    """The central ``size`` window: ``top = round((H - h) / 2)``, ``left = round((W - w) / 2)``
    (zero-padded when the image is smaller)."""

    def __init__(self, size: Any):
        self.size = _pair(size, "CenterCrop")

    def __call__(self, img: Any) -> Any:
        _check_image(img, "CenterCrop")
        h, w = _size(img)
        th, tw = self.size
        return crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """Pad by ``padding`` (optional), then cut a ``size`` window at a uniformly drawn corner:
    ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}``.

    Raises:
        ValueError: the (padded) image is smaller than ``size`` and ``pad_if_needed`` is False.
    """

    def __init__(self, size: Any, padding: Any = None, pad_if_needed: bool = False,
                 fill: float = 0, padding_mode: str = "constant"):
        self.size = _pair(size, "RandomCrop")
        if padding is not None:
            _pad_amounts(padding, "RandomCrop")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def __call__(self, img: Any) -> Any:
        _check_image(img, "RandomCrop")
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = _size(img)
        th, tw = self.size
        if self.pad_if_needed and (w < tw or h < th):
            img = pad(img, [max(0, tw - w), max(0, th - h)], self.fill, self.padding_mode)
            h, w = _size(img)
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {(th, tw)} is larger than the input image "
                             f"size {(h, w)}")
        rng = _generator()
        top = int(rng.integers(0, h - th + 1))
        left = int(rng.integers(0, w - tw + 1))
        return crop(img, top, left, th, tw)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


def _flip(img: Any, axis: int) -> Any:
    if _is_pil(img):
        from PIL import Image

        return img.transpose(Image.FLIP_LEFT_RIGHT if axis == 1 else Image.FLIP_TOP_BOTTOM)
    hwc, back = _as_hwc(img)
    return back(np.flip(hwc, axis=axis))


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must lie in [0, 1], got {p}")
        self.p = p

    def __call__(self, img: Any) -> Any:
        _check_image(img, "RandomHorizontalFlip")
        return _flip(img, 1) if _generator().random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip:
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomVerticalFlip: p must lie in [0, 1], got {p}")
        self.p = p

    def __call__(self, img: Any) -> Any:
        _check_image(img, "RandomVerticalFlip")
        return _flip(img, 0) if _generator().random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomVerticalFlip(p={self.p})"


def _resample(mode: Any) -> int:
    from PIL import Image

    if isinstance(mode, InterpolationMode):
        mode = mode.value
    table = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
    if isinstance(mode, str) and mode in table:
        return table[mode]
    if isinstance(mode, int):
        return mode
    raise ValueError(f"interpolation must be an InterpolationMode, got {mode!r}")


def _per_channel(img: Any, op: Callable[[Any], Any]) -> Any:
    """Apply a PIL operation to a Tensor/array one channel at a time as float32 images."""
    from PIL import Image

    hwc, back = _as_hwc(img)
    channels = [np.asarray(op(Image.fromarray(np.ascontiguousarray(
        hwc[:, :, c], dtype=np.float32), mode="F"))) for c in range(hwc.shape[2])]
    out = np.stack(channels, axis=2)
    if hwc.dtype.kind in "iu":
        out = np.clip(np.round(out), np.iinfo(hwc.dtype).min, np.iinfo(hwc.dtype).max)
    return back(out.astype(hwc.dtype))


class Resize:
    """Resize to ``size``: an int matches the smaller edge (the other keeps the aspect ratio,
    ``int(size * long / short)``); a ``(h, w)`` pair sets both."""

    def __init__(self, size: Any, interpolation: Any = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool | None = True):
        if not (isinstance(size, numbers.Integral) or (isinstance(size, Sequence)
                                                       and len(size) in (1, 2))):
            raise ValueError(f"Resize: size must be an int or a (height, width) pair, got "
                             f"{size!r}")
        self.size, self.interpolation, self.max_size = size, interpolation, max_size
        self.antialias = antialias

    def _target(self, h: int, w: int) -> tuple[int, int]:
        if isinstance(self.size, Sequence) and len(self.size) == 2:
            return int(self.size[0]), int(self.size[1])
        short_target = int(self.size if isinstance(self.size, numbers.Integral) else self.size[0])
        short, long = min(h, w), max(h, w)
        new_long = int(short_target * long / short)
        if self.max_size is not None and new_long > self.max_size:
            short_target, new_long = int(self.max_size * short_target / new_long), self.max_size
        return (short_target, new_long) if h <= w else (new_long, short_target)

    def __call__(self, img: Any) -> Any:
        _check_image(img, "Resize")
        th, tw = self._target(*_size(img))
        resample = _resample(self.interpolation)
        if _is_pil(img):
            return img.resize((tw, th), resample)
        return _per_channel(img, lambda channel: channel.resize((tw, th), resample))

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, interpolation={self.interpolation})"


class RandomRotation:
    """Rotate counter-clockwise by an angle drawn uniformly from ``degrees`` (``d`` means
    ``(-d, d)``), about ``center`` (default the image centre), filling with ``fill``."""

    def __init__(self, degrees: Any, interpolation: Any = InterpolationMode.NEAREST,
                 expand: bool = False, center: Sequence[float] | None = None, fill: float = 0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError(f"RandomRotation: a single degrees value must be >= 0, got "
                                 f"{degrees}")
            degrees = (-float(degrees), float(degrees))
        elif not (isinstance(degrees, Sequence) and len(degrees) == 2):
            raise ValueError(f"RandomRotation: degrees must be a number or a (min, max) pair, "
                             f"got {degrees!r}")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation, self.expand, self.center, self.fill = (interpolation, expand,
                                                                   center, fill)

    def __call__(self, img: Any) -> Any:
        _check_image(img, "RandomRotation")
        angle = float(_generator().uniform(self.degrees[0], self.degrees[1]))
        resample = _resample(self.interpolation)
        center = None if self.center is None else tuple(self.center)
        if _is_pil(img):
            fill = self.fill
            if isinstance(fill, numbers.Number) and len(img.getbands()) > 1:
                fill = (fill,) * len(img.getbands())
            return img.rotate(angle, resample, self.expand, center, fillcolor=fill)
        return _per_channel(img, lambda channel: channel.rotate(
            angle, resample, self.expand, center, fillcolor=float(self.fill)))

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation})"


class Grayscale:
    """To gray: ``L = 0.299 R + 0.587 G + 0.114 B`` (Pillow's, for PIL images; torchvision's
    ``0.2989, 0.587, 0.114`` for Tensors), repeated to ``num_output_channels`` (1 or 3)."""

    def __init__(self, num_output_channels: int = 1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got "
                             f"{num_output_channels}")
        self.num_output_channels = num_output_channels

    def __call__(self, img: Any) -> Any:
        _check_image(img, "Grayscale")
        if _is_pil(img):
            gray = img.convert("L")
            return gray if self.num_output_channels == 1 else gray.convert("RGB")
        hwc, back = _as_hwc(img)
        if hwc.shape[2] == 3:
            gray = hwc[:, :, 0] * 0.2989 + hwc[:, :, 1] * 0.587 + hwc[:, :, 2] * 0.114
            if hwc.dtype.kind in "iu":
                gray = np.clip(np.round(gray), 0, np.iinfo(hwc.dtype).max)
            gray = gray.astype(hwc.dtype)
        else:
            gray = hwc[:, :, 0]
        return back(np.repeat(gray[:, :, None], self.num_output_channels, axis=2))

    def __repr__(self) -> str:
        return f"Grayscale(num_output_channels={self.num_output_channels})"


