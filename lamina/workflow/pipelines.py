"""Input pipelines saved with a model: raw inputs (pixels 0..255, arrays, table rows) -> model
inputs, exactly as in training.

A data source (:mod:`lamina.workflow.sources`) fits its pipeline on the training part only;
``lamina train`` saves ``pipeline.to_config()`` in the model file, and
:func:`pipeline_from_config` rebuilds it for ``lamina evaluate``, ``predict`` and ``serve``. The
tabular pipeline lives in :mod:`lamina.tabular`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MNIST_MEAN", "MNIST_STD", "ArrayPipeline", "ImagePipeline", "pipeline_from_config"]

# The mean and standard deviation of MNIST's training pixels scaled to [0, 1].
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class ImagePipeline:
    """Pixels -> normalised float32 images ``(N, C, H, W)``: ``(x / scale - mean) / std``.

    Args:
        input_shape: one image's shape ``(C, H, W)``.
        scale: the pixel value of white (255 for 8-bit images).
        mean: the mean of the training pixels after dividing by ``scale``.
        std: their standard deviation.

    Example:
        >>> pipe = ImagePipeline((1, 2, 2), mean=0.5, std=0.5)
        >>> pipe.transform(np.array([[[0, 255], [255, 0]]], dtype=np.uint8)).tolist()
        [[[[-1.0, 1.0], [1.0, -1.0]]]]
    """

    kind = "image"

    def __init__(self, input_shape: tuple[int, int, int] = (1, 28, 28), scale: float = 255.0,
                 mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        if len(self.input_shape) != 3:
            raise ValueError(f"ImagePipeline(input_shape={input_shape}): expected (C, H, W)")
        if not std > 0:
            raise ValueError(f"ImagePipeline(std={std}): expected a number > 0")
        self.scale, self.mean, self.std = float(scale), float(mean), float(std)

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Normalise a batch of images.

        Args:
            images: pixels ``(N, H, W)`` (one channel), ``(N, C, H, W)``, or flattened
                ``(N, C*H*W)``.

        Returns:
            float32 ``(N, C, H, W)``.

        Raises:
            ValueError: the images do not have the pipeline's size; the message names both.
        """
        x = np.asarray(images)
        c, h, w = self.input_shape
        if x.ndim == 2 and x.shape[1] == c * h * w:
            x = x.reshape(len(x), c, h, w)
        elif x.ndim == 3 and c == 1:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            received = "x".join(map(str, x.shape[-2:])) if x.ndim >= 3 else str(x.shape[1:])
            raise ValueError(
                f"expected images of {h}x{w} pixels with {c} channel{'s' * (c != 1)} "
                f"(input shape {self.input_shape}), received {received} (array of shape "
                f"{tuple(np.shape(images))})"
            )
        if x.dtype.kind not in "biuf":
            raise ValueError(f"expected numeric pixel values, received dtype {x.dtype}")
        return ((x.astype(np.float32) / self.scale - self.mean) / self.std).astype(np.float32)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "input_shape": list(self.input_shape), "scale": self.scale,
                "mean": self.mean, "std": self.std}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImagePipeline:
        return cls(tuple(config["input_shape"]), config["scale"], config["mean"], config["std"])


class ArrayPipeline:
    """Numeric arrays -> float32 model inputs, optionally standardised per feature.

    Args:
        input_shape: one sample's shape.
        standardize: learn each feature's mean and standard deviation in :meth:`fit` and map it
            to zero mean and unit variance (``StandardScaler``).
    """

    kind = "array"

    def __init__(self, input_shape: tuple[int, ...], standardize: bool = True) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        self.standardize = bool(standardize)
        self._scaler: Any = None

    def fit(self, x: np.ndarray) -> ArrayPipeline:
        """Learn the per-feature scaling from training inputs ``(N, *input_shape)``."""
        if self.standardize:
            from lamina.preprocessing import StandardScaler

            self._scaler = StandardScaler().fit(self._flat(x).astype(np.float64))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """float32 ``(N, *input_shape)``; accepts flattened ``(N, prod(input_shape))`` too.

        Raises:
            ValueError: the samples do not have ``input_shape``.
        """
        flat = self._flat(x).astype(np.float64)
        if self._scaler is not None:
            flat = np.asarray(self._scaler.transform(flat))
        return flat.astype(np.float32).reshape(len(flat), *self.input_shape)

    def _flat(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        size = math.prod(self.input_shape)
        if x.ndim < 2 or (x.shape[1:] != self.input_shape and math.prod(x.shape[1:]) != size):
            raise ValueError(
                f"expected samples of shape {self.input_shape}, received an array of shape "
                f"{x.shape}"
            )
        if x.dtype.kind not in "biuf":
            raise ValueError(f"expected numbers, received an array of dtype {x.dtype}")
        return x.reshape(len(x), size)

    def to_config(self) -> dict[str, Any]:
        scaler = None if self._scaler is None else self._scaler.to_config()
        return {"kind": self.kind, "input_shape": list(self.input_shape),
                "standardize": self.standardize, "scaler": scaler}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ArrayPipeline:
        pipe = cls(tuple(config["input_shape"]), config["standardize"])
        if config.get("scaler") is not None:
            from lamina.preprocessing import StandardScaler

            pipe._scaler = StandardScaler.from_config(config["scaler"])
        return pipe


def pipeline_from_config(config: dict[str, Any]) -> Any:
    """Rebuild a fitted pipeline from its ``to_config()`` description.

    Raises:
        ValueError: an unknown kind or a malformed description.
    """
    from lamina.tabular import TabularPipeline

    kinds = {"image": ImagePipeline, "array": ArrayPipeline, "tabular": TabularPipeline}
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in kinds:
        raise ValueError(f"unknown input pipeline {kind!r} in the model file; expected one of "
                         f"{sorted(kinds)}")
    try:
        return kinds[kind].from_config(config)
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed {kind} input pipeline in the model file ({err})") from None
