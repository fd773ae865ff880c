"""Batch data augmentation and preprocessing (notes sec 8.2, "Dataset Augmentation").

The notes' idea: create fake training data from real data, with changes that keep the label
(a digit shifted by two pixels is still the same digit). Every transform here works on a whole
batch at once, vectorised over the samples (no Python loop per image), and draws its randomness
from lamina's global generator, so ``lm.manual_seed`` makes augmentation reproducible.

Inputs are NumPy arrays or lamina Tensors of shape ``(N, C, H, W)`` or ``(N, H, W)``; the output
has the input's type (a Tensor comes back as a new Tensor without gradient history) and, except for
:class:`ToFloat` and :class:`RandomCrop`'s spatial size, its shape and dtype. Pass one to
``DataLoader(..., transform=...)`` to augment each training batch::

    augment = Compose([ToFloat(), RandomShift(2), RandomRotation(10)])
    loader = DataLoader(TensorDataset(x_uint8, y), batch_size=64, shuffle=True, transform=augment)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lamina.random import generator
from lamina.tensor import Tensor

__all__ = [
    "Transform", "Compose", "ToFloat", "Normalize", "GaussianNoise", "RandomHorizontalFlip",
    "RandomShift", "RandomCrop", "RandomRotation",
]


class Transform:
    """Base class: ``__call__`` unwraps a Tensor, runs :meth:`apply` on the NumPy array and wraps
    the result back into the input's type. Subclasses define ``apply`` and ``_repr_args``."""

    def __call__(self, x: Any) -> Any:
        out = self.apply(x._data if isinstance(x, Tensor) else np.asarray(x))
        return Tensor(out) if isinstance(x, Tensor) else out

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Transform a NumPy batch; see the class docstring for shapes."""
        raise NotImplementedError(f"{type(self).__name__} must define apply")

    def _repr_args(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._repr_args().items())
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply transforms one after the other: ``Compose([f, g])(x) == g(f(x))``.

    Args:
        transforms: a sequence of callables, each mapping a batch to a batch.

    Raises:
        ValueError: ``transforms`` is not a sequence of callables.

    Example:
        >>> t = Compose([ToFloat(), Normalize(0.1307, 0.3081)])
        >>> t(np.zeros((2, 28, 28), np.uint8)).shape
        (2, 1, 28, 28)
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]):
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
            raise ValueError(f"Compose(transforms=...): expected a list of transforms, got "
                             f"{type(transforms).__name__}")
        for position, transform in enumerate(transforms):
            if not callable(transform):
                raise ValueError(f"Compose(transforms=...): transforms[{position}] is not "
                                 f"callable, got {type(transform).__name__}")
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for transform in self.transforms:
            x = transform(x)
        return x

    def __repr__(self) -> str:
        lines = "".join(f"    {transform!r},\n" for transform in self.transforms)
        return f"Compose([\n{lines}])" if lines else "Compose([])"


class ToFloat(Transform):
    """Integer pixel intensities 0..255 -> floats in [0, 1]; ``(N, H, W)`` gains a channel axis.

    ``out = x / 255`` for integer input (uint8 images, or their int64 Tensors); floating input is
    only cast to ``dtype``.

    Args:
        dtype: the floating output dtype (default float32).

    Shape:
        ``(N, H, W) -> (N, 1, H, W)``; any other shape is kept.

    Raises:
        ValueError: ``dtype`` is not a floating dtype.
        TypeError: the input is neither integer nor floating.
    """

    def __init__(self, dtype: Any = np.float32):
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"ToFloat(dtype={dtype!r}): dtype must be a floating dtype "
                             f"such as float32") from None
        if self.dtype.kind != "f":
            raise ValueError(f"ToFloat(dtype={dtype!r}): dtype must be a floating dtype, got "
                             f"{self.dtype}")

    def apply(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind in "iu":
            out = x.astype(self.dtype) / self.dtype.type(255)
        elif x.dtype.kind == "f":
            out = x.astype(self.dtype)
        else:
            raise TypeError(f"ToFloat: expected integer or floating input, got dtype {x.dtype}")
        return out[:, None] if out.ndim == 3 else out

    def _repr_args(self) -> dict[str, Any]:
        return {} if self.dtype == np.float32 else {"dtype": self.dtype.name}


class Normalize(Transform):
    """Standardise each channel: ``out[:, c] = (x[:, c] - mean[c]) / std[c]``.

    This is the standard score of preprocessing, with the training set's statistics per channel
    (MNIST: mean 0.1307, std 0.3081 after :class:`ToFloat`).

    Args:
        mean: a number or one number per channel.
        std: a positive number or one per channel.

    Shape:
        ``(N, C, H, W)``: channels on axis 1. Any other shape counts as one channel.

    Raises:
        ValueError: ``mean``/``std`` are not finite numbers, ``std <= 0``, their lengths differ, or
            (when called) they do not match the number of channels.
        TypeError: the input is not floating (use :class:`ToFloat` first).
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = _float_vector("Normalize", "mean", mean)
        self.std = _float_vector("Normalize", "std", std)
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize(std={std!r}): std must be positive")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"Normalize(mean={mean!r}, std={std!r}): mean and std must have the "
                             f"same number of channels, got {len(self.mean)} and {len(self.std)}")
        self._given = {"mean": mean, "std": std}

    def apply(self, x: np.ndarray) -> np.ndarray:
        _check_floating(x, "Normalize")
        channels = x.shape[1] if x.ndim == 4 else 1
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(f"Normalize: input of shape {x.shape} has {channels} channel(s), "
                                 f"but {name} has {len(values)} values")
        shape = (1, -1, 1, 1) if x.ndim == 4 else (1,)
        mean = self.mean.astype(x.dtype).reshape(shape)
        std = self.std.astype(x.dtype).reshape(shape)
        return (x - mean) / std

    def _repr_args(self) -> dict[str, Any]:
        return self._given


class GaussianNoise(Transform):
    """Add independent Gaussian noise to every element: ``out = x + std * z``, ``z ~ N(0, 1)``.

    Args:
        std: the noise standard deviation, ``>= 0``.

    Shape:
        Any; the output has the input's shape and floating dtype.

    Raises:
        ValueError: ``std`` is negative or not a finite number.
        TypeError: the input is not floating (use :class:`ToFloat` first).
    """

    def __init__(self, std: float):
        self.std = _non_negative_number("GaussianNoise", "std", std)

    def apply(self, x: np.ndarray) -> np.ndarray:
        _check_floating(x, "GaussianNoise")
        noise_dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
        noise = generator().standard_normal(x.shape, dtype=noise_dtype)
        return (x + x.dtype.type(self.std) * noise.astype(x.dtype, copy=False)).astype(x.dtype)

    def _repr_args(self) -> dict[str, Any]:
        return {"std": self.std}


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p`` (independently per sample).

    Flipping changes what a digit means (a mirrored 3 is no digit); use it for natural images.

    Args:
        p: probability of flipping a sample, in ``[0, 1]``.

    Shape:
        ``(N, C, H, W)`` or ``(N, H, W)``, kept.

    Raises:
        ValueError: ``p`` is outside ``[0, 1]``.
    """

    def __init__(self, p: float = 0.5):
        self.p = _probability("RandomHorizontalFlip", "p", p)

    def apply(self, x: np.ndarray) -> np.ndarray:
        _check_images(x, "RandomHorizontalFlip")
        flip = generator().random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def _repr_args(self) -> dict[str, Any]:
        return {"p": self.p}


class RandomShift(Transform):
    """Translate each image by a random whole number of pixels, filling with zeros.

    Per sample, ``dy`` and ``dx`` are drawn uniformly from ``{-max_shift, ..., max_shift}`` and
    ``out[..., y, x] = x[..., y - dy, x - dx]`` (0 where that falls outside the image): positive
    ``dy`` moves the content down, positive ``dx`` to the right. Vectorised as zero padding by
    ``max_shift`` followed by one gathered ``H x W`` window per sample.

    Args:
        max_shift: the largest shift in pixels, an int ``>= 0`` or a pair ``(vertical,
            horizontal)``.

    Shape:
        ``(N, C, H, W)`` or ``(N, H, W)``, kept.

    Raises:
        ValueError: ``max_shift`` is not a non-negative int or pair of them.
    """

    def __init__(self, max_shift: int | tuple[int, int]):
        self.max_shift = max_shift
        self._max = _int_pair("RandomShift", "max_shift", max_shift)

    def apply(self, x: np.ndarray) -> np.ndarray:
        images, restore = _as_nchw(x, "RandomShift")
        max_y, max_x = self._max
        shift = generator().integers((-max_y, -max_x), (max_y + 1, max_x + 1),
                                     size=(len(images), 2))
        padded = _pad(images, max_y, max_x)
        height, width = images.shape[2:]
        return restore(_windows(padded, max_y - shift[:, 0], max_x - shift[:, 1], height, width))

    def _repr_args(self) -> dict[str, Any]:
        return {"max_shift": self.max_shift}


class RandomCrop(Transform):
    """Zero-pad each image by ``padding`` then cut a random ``size`` window out of it (torchvision).

    The window's top-left corner is uniform over all positions inside the padded image, drawn
    independently per sample. ``RandomCrop(H, padding=s)`` is ``RandomShift(s)`` on ``H x H``
    images.

    Args:
        size: output ``(height, width)``, or one int for a square.
        padding: zeros added on every side before cropping, an int ``>= 0`` or a pair
            ``(vertical, horizontal)``.

    Shape:
        ``(N, C, H, W) -> (N, C, size_h, size_w)`` (likewise without C). Needs
        ``size_h <= H + 2 * padding_h`` and ``size_w <= W + 2 * padding_w``.

    Raises:
        ValueError: ``size`` is not positive, ``padding`` is negative, or (when called) the crop
            is larger than the padded input.
    """

    def __init__(self, size: int | tuple[int, int], padding: int | tuple[int, int] = 0):
        self.size, self.padding = size, padding
        self._size = _int_pair("RandomCrop", "size", size, minimum=1)
        self._padding = _int_pair("RandomCrop", "padding", padding)

    def apply(self, x: np.ndarray) -> np.ndarray:
        images, restore = _as_nchw(x, "RandomCrop")
        pad_y, pad_x = self._padding
        (crop_h, crop_w), (height, width) = self._size, images.shape[2:]
        room_y, room_x = height + 2 * pad_y - crop_h, width + 2 * pad_x - crop_w
        if room_y < 0 or room_x < 0:
            raise ValueError(f"{self!r}: crop {crop_h}x{crop_w} is larger than the padded input "
                             f"{height + 2 * pad_y}x{width + 2 * pad_x} (input shape {x.shape})")
        corner = generator().integers((0, 0), (room_y + 1, room_x + 1), size=(len(images), 2))
        padded = _pad(images, pad_y, pad_x)
        return restore(_windows(padded, corner[:, 0], corner[:, 1], crop_h, crop_w))

    def _repr_args(self) -> dict[str, Any]:
        return {"size": self.size, "padding": self.padding}


class RandomRotation(Transform):
    """Rotate each image about its centre by its own random angle, counter-clockwise (torchvision).

    Per sample ``theta ~ U(low, high)``; each output pixel ``p`` (coordinates relative to the
    centre ``((W-1)/2, (H-1)/2)``, y pointing up) reads the input at ``R(-theta) p``, where
    ``R(theta) = [[cos, -sin], [sin, cos]]``, by bilinear or nearest-neighbour interpolation; points
    outside the input read 0. The coordinate maps of the whole batch are computed at once.

    Args:
        degrees: ``d >= 0`` for angles in ``[-d, d]``, or a pair ``(low, high)`` in degrees.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.

    Shape:
        ``(N, C, H, W)`` or ``(N, H, W)``, kept. Integer input is rounded back to its dtype.

    Raises:
        ValueError: a negative ``degrees``, a pair with ``low > high``, or an unknown
            ``interpolation``.
    """

    def __init__(self, degrees: float | tuple[float, float], interpolation: str = "bilinear"):
        if isinstance(degrees, Sequence):
            if len(degrees) != 2:
                raise ValueError(f"RandomRotation(degrees={degrees!r}): expected a number or a "
                                 f"pair (low, high)")
            low = _finite_number("RandomRotation", "degrees", degrees[0])
            high = _finite_number("RandomRotation", "degrees", degrees[1])
            if low > high:
                raise ValueError(f"RandomRotation(degrees={degrees!r}): low must be <= high")
        else:
            high = _non_negative_number("RandomRotation", "degrees", degrees)
            low = -high
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomRotation(interpolation={interpolation!r}): expected "
                             f"'bilinear' or 'nearest'")
        self.degrees, self.interpolation = degrees, interpolation
        self._range = (low, high)

    def apply(self, x: np.ndarray) -> np.ndarray:
        images, restore = _as_nchw(x, "RandomRotation")
        n, _, height, width = images.shape
        theta = np.deg2rad(generator().uniform(*self._range, size=n))[:, None, None]
        # float32 coordinates are exact to ~1e-5 pixel on any realistic image size
        coordinate = np.dtype(np.float64 if x.dtype == np.float64 else np.float32)
        center_y, center_x = (height - 1) / 2, (width - 1) / 2
        u = np.arange(width, dtype=coordinate) - center_x  # x right
        v = center_y - np.arange(height, dtype=coordinate)[:, None]  # y up
        cos, sin = np.cos(theta).astype(coordinate), np.sin(theta).astype(coordinate)
        source_x = center_x + (cos * u + sin * v)
        source_y = center_y - (cos * v - sin * u)
        return restore(_sample(images, source_y, source_x, self.interpolation))

    def _repr_args(self) -> dict[str, Any]:
        return {"degrees": self.degrees, "interpolation": self.interpolation}


# --------------------------------------------------------------------------- array helpers
def _as_nchw(x: np.ndarray, caller: str) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """View a batch as (N, C, H, W) and return a function that gives results the input's rank."""
    _check_images(x, caller)
    if x.ndim == 4:
        return x, lambda out: out
    return x[:, None], lambda out: out[:, 0]


def _check_images(x: np.ndarray, caller: str) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(f"{caller}: expected a batch of images of shape (N, C, H, W) or "
                         f"(N, H, W), got shape {x.shape}")


def _check_floating(x: np.ndarray, caller: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{caller}: expected floating input, got dtype {x.dtype}; convert "
                        f"integer images with ToFloat() first")


def _pad(images: np.ndarray, pad_y: int, pad_x: int) -> np.ndarray:
    return np.pad(images, ((0, 0), (0, 0), (pad_y, pad_y), (pad_x, pad_x)))


def _windows(padded: np.ndarray, top: np.ndarray, left: np.ndarray, height: int,
             width: int) -> np.ndarray:
    """out[n] = padded[n, :, top[n]:top[n]+height, left[n]:left[n]+width], as one gather."""
    windows = np.lib.stride_tricks.sliding_window_view(padded, (height, width), axis=(2, 3))
    return windows[np.arange(len(padded)), :, top, left]


def _sample(images: np.ndarray, source_y: np.ndarray, source_x: np.ndarray,
            interpolation: str) -> np.ndarray:
    """Read ``images[n, c]`` at the real-valued points ``(source_y[n], source_x[n])``, zero outside.

    Bilinear: with ``y0 = floor(y)``, ``wy = y - y0`` (likewise x), the value is
    ``(1-wy)((1-wx) I[y0, x0] + wx I[y0, x0+1]) + wy((1-wx) I[y0+1, x0] + wx I[y0+1, x0+1])``.
    Nearest: ``I[round(y), round(x)]``. Each corner is one ``np.take`` from the flattened batch.

    Shape:
        images ``(N, C, H, W)``; source_y, source_x ``(N, H', W')``; output ``(N, C, H', W')``.
    """
    n, channels, height, width = images.shape
    out_shape = (n, channels, *source_y.shape[1:])
    points = math.prod(source_y.shape[1:])
    work = images.dtype if images.dtype.kind == "f" else np.dtype(np.float32)
    # A zero frame (1 pixel before, 2 after) covers every neighbour of a point in [-1, size], and
    # any point farther out reads only zeros, so clipping the points there changes no value.
    padded = np.pad(images.astype(work, copy=False), ((0, 0), (0, 0), (1, 2), (1, 2)))
    source_y = np.clip(source_y, -1, height)
    source_x = np.clip(source_x, -1, width)
    padded_w = width + 3
    rounding = np.rint if interpolation == "nearest" else np.floor
    top, left = rounding(source_y), rounding(source_x)
    plane_start = np.arange(n * channels).reshape(n, channels, 1) * padded.shape[2] * padded_w
    index = plane_start + ((top.astype(np.intp) + 1) * padded_w
                           + left.astype(np.intp) + 1).reshape(n, 1, points)
    flat = padded.reshape(-1)
    if interpolation == "nearest":
        out = np.take(flat, index)
    else:
        wy = (source_y - top).astype(work, copy=False).reshape(n, 1, points)
        wx = (source_x - left).astype(work, copy=False).reshape(n, 1, points)
        below_index = index + padded_w
        above = (1 - wx) * np.take(flat, index) + wx * np.take(flat, index + 1)
        below = (1 - wx) * np.take(flat, below_index) + wx * np.take(flat, below_index + 1)
        out = (1 - wy) * above + wy * below
    out = out.reshape(out_shape)
    if images.dtype.kind in "iu":
        info = np.iinfo(images.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(images.dtype, copy=False)


# --------------------------------------------------------------------------- argument checks
def _finite_number(caller: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{caller}({name}={value!r}): {name} must be a finite number")
    return float(value)


def _non_negative_number(caller: str, name: str, value: Any) -> float:
    number = _finite_number(caller, name, value)
    if number < 0:
        raise ValueError(f"{caller}({name}={value!r}): {name} must be >= 0")
    return number


def _probability(caller: str, name: str, value: Any) -> float:
    number = _finite_number(caller, name, value)
    if not 0 <= number <= 1:
        raise ValueError(f"{caller}({name}={value!r}): {name} must be a probability in [0, 1]")
    return number


def _int_pair(caller: str, name: str, value: Any, minimum: int = 0) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    valid = len(pair) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in pair)
    if not valid:
        raise ValueError(f"{caller}({name}={value!r}): {name} must be an int >= {minimum} or a "
                         f"pair of them")
    return int(pair[0]), int(pair[1])


def _float_vector(caller: str, name: str, value: Any) -> np.ndarray:
    try:
        vector = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}({name}={value!r}): {name} must be a number or a sequence of "
                         f"numbers, one per channel") from None
    if vector.size == 0 or not np.all(np.isfinite(vector)) or np.ndim(value) > 1:
        raise ValueError(f"{caller}({name}={value!r}): {name} must be a finite number or a "
                         f"non-empty 1-d sequence of them, one per channel")
    return vector
