"""Data for configs: the ``[data]`` sources (``source = "mnist"``, ...).

A source (``mnist``, ``npz``, ``csv``, ``inline``) reads its data, splits off a test set, fits
its input pipeline on the training part only and returns a :class:`PreparedData`. The fitted
pipeline is saved in the model file, so ``lamina evaluate`` and ``lamina predict`` turn raw inputs
(pixels 0..255, CSV rows) into model inputs exactly as training did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lamina.workflow.pipelines import MNIST_MEAN, MNIST_STD, ArrayPipeline, ImagePipeline

__all__ = ["PreparedData", "csv_source", "inline_source", "mnist_source", "npz_source"]


@dataclass
class PreparedData:
    """A data set ready for ``lm.fit``: model inputs, class indices and the fitted pipeline.

    Attributes:
        x_train, y_train: training inputs ``(N, *input_shape)`` float32 and labels ``(N,)`` int64.
        x_test, y_test: the held-out test set, or None when the source has none.
        pipeline: the fitted input pipeline (``transform``, ``input_shape``, ``to_config``).
        classes: the original labels, ``classes[i]`` for class index ``i``.
        description: one line for the user.
        info: JSON-serialisable facts about the source (kept in the model's metadata).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    pipeline: Any
    classes: list[Any]
    description: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


# --------------------------------------------------------------------------- sources
def mnist_source(
    subset: str = "small",
    path: str | None = None,
    max_train: int = 0,
    max_test: int = 0,
    *,
    seed: int = 0,
) -> PreparedData:
    """MNIST digits (``lm.datasets.mnist``), normalised with MNIST's mean and std.

    Args:
        subset: ``"small"`` (the 6,000/1,000 images shipped with lamina) or ``"full"``
            (60,000/10,000 from ``path``, ``$LAMINA_DATA``, the cache or a download).
        path: an ``mnist.npz`` (or its directory); implies ``subset = "full"``.
        max_train: use at most this many training images, drawn at random (0: all).
        max_test: the same for the test images.
        seed: the random seed of that draw.

    Raises:
        ValueError: an unknown subset, or negative limits.
        FileNotFoundError: full MNIST is nowhere to be found.
    """
    from lamina.data.datasets import mnist

    if subset not in ("small", "full"):
        raise ValueError(f'[data] subset must be "small" or "full", received {subset!r}')
    if path is not None:
        (x_train, y_train), (x_test, y_test) = mnist(path=path)
        name = f"MNIST from {path}"
    elif subset == "small":
        (x_train, y_train), (x_test, y_test) = mnist(subset="small")
        name = "MNIST subset shipped with lamina"
    else:
        (x_train, y_train), (x_test, y_test) = mnist()
        name = "MNIST"
    rng = np.random.default_rng(seed)
    x_train, y_train = _at_most(x_train, y_train, max_train, rng, "max_train")
    x_test, y_test = _at_most(x_test, y_test, max_test, rng, "max_test")
    pipeline = ImagePipeline((1, 28, 28), 255.0, MNIST_MEAN, MNIST_STD)
    return PreparedData(
        pipeline.transform(x_train), y_train.astype(np.int64),
        pipeline.transform(x_test), y_test.astype(np.int64), pipeline, list(range(10)),
        f"{name}: {len(x_train)} training and {len(x_test)} test images",
        {"source": "mnist", "subset": "full" if path else subset, "path": path},
    )


def npz_source(
    path: str,
    test_size: float = 0.2,
    standardize: bool = True,
    max_train: int = 0,
    *,
    seed: int = 0,
) -> PreparedData:
    """Arrays from an ``.npz``: ``x_train``/``y_train`` (+ ``x_test``/``y_test``) or ``x``/``y``.

    8-bit images (uint8 ``(N, H, W)`` or ``(N, C, H, W)``) are normalised with the training
    pixels' mean and std; other arrays are standardised per feature when ``standardize``.

    Args:
        path: the ``.npz`` file.
        test_size: the share held out as the test set when the file has no ``x_test``.
        standardize: standardise non-image features.
        max_train: use at most this many training samples (0: all).
        seed: the seed of the split and of the draw.

    Raises:
        ValueError: the archive lacks the keys, or x and y disagree in length.
    """
    from lamina.data import load_npz

    arrays = load_npz(path)
    if {"x_train", "y_train"} <= arrays.keys():
        x_train, y_train = arrays["x_train"], arrays["y_train"]
        x_test, y_test = arrays.get("x_test"), arrays.get("y_test")
    elif {"x", "y"} <= arrays.keys():
        x_train, y_train, x_test, y_test = arrays["x"], arrays["y"], None, None
    else:
        raise ValueError(f"'{path}' must hold x_train and y_train (optionally x_test, y_test), "
                         f"or x and y; it holds {sorted(arrays)}")
    _check_xy(x_train, y_train, path, "train")
    rng = np.random.default_rng(seed)
    if x_test is None and test_size > 0:
        train_idx, test_idx = _split(len(x_train), y_train, test_size, seed)
        x_train, y_train, x_test, y_test = (x_train[train_idx], y_train[train_idx],
                                            x_train[test_idx], y_train[test_idx])
    x_train, y_train = _at_most(x_train, y_train, max_train, rng, "max_train")
    if x_test is not None:
        _check_xy(x_test, y_test, path, "test")
    classes, y_train, y_test = _encode_labels(y_train, y_test)
    if x_train.dtype == np.uint8 and x_train.ndim in (3, 4):
        images = x_train if x_train.ndim == 4 else x_train[:, None]
        scaled = images.astype(np.float64) / 255.0
        pipeline: Any = ImagePipeline(images.shape[1:], 255.0, float(scaled.mean()),
                                      float(scaled.std()) or 1.0)
    else:
        pipeline = ArrayPipeline(x_train.shape[1:], standardize).fit(x_train)
    x_test_in = None if x_test is None else pipeline.transform(x_test)
    n_test = 0 if x_test is None else len(x_test)
    return PreparedData(pipeline.transform(x_train), y_train, x_test_in, y_test, pipeline,
                        classes, f"{path}: {len(x_train)} training and {n_test} test samples",
                        {"source": "npz", "path": path})


def csv_source(
    path: str,
    label: str,
    features: list[str] | None = None,
    nulls: str = "drop",
    test_size: float = 0.2,
    standardize: bool = True,
    *,
    seed: int = 0,
) -> PreparedData:
    """A table from a CSV file (notes ch 13: nulls dropped or imputed, strings encoded).

    Args:
        path: the ``.csv`` file with a header row.
        label: the column holding the class labels (strings or integers).
        features: the feature columns (default: all columns but ``label``).
        nulls: ``"drop"`` rows with empty feature cells, or impute them: ``"mean"``,
            ``"median"``, ``"most_frequent"``. Rows without a label are always dropped.
        test_size: the share of rows held out (stratified) as the test set.
        standardize: standardise numeric features (on the training rows' statistics).
        seed: the seed of the split.

    Raises:
        ValueError: a column does not exist, ``nulls`` is unknown, or no rows are left.
    """
    from lamina.tabular import (
        NULL_STRATEGIES,
        TabularPipeline,
        drop_missing,
        read_csv,
        select_columns,
    )

    if nulls not in NULL_STRATEGIES:
        raise ValueError(f"[data] nulls must be one of {', '.join(NULL_STRATEGIES)}, "
                         f"received {nulls!r}")
    frame = read_csv(path)
    where = f"'{path}'"
    select_columns(frame, [label, *(features or [])], where)
    frame, no_label = drop_missing(frame, [label])
    feature_columns = list(features) if features else [c for c in frame.columns if c != label]
    no_features = 0
    if nulls == "drop":
        frame, no_features = drop_missing(frame, feature_columns)
    if len(frame) < 2:
        raise ValueError(f"{where}: fewer than 2 rows are left after dropping nulls")
    y_raw = _label_values(frame[label].to_numpy())
    train_idx, test_idx = _split(len(frame), y_raw, test_size, seed)
    train_rows, test_rows = frame.iloc[train_idx], frame.iloc[test_idx]
    pipeline = TabularPipeline(label, feature_columns, nulls, standardize).fit(train_rows)
    classes, y_train, y_test = _encode_labels(y_raw[train_idx],
                                              y_raw[test_idx] if len(test_idx) else None)
    n_dropped = no_label + no_features
    dropped = f", {n_dropped} row{'s' * (n_dropped != 1)} with nulls dropped" if n_dropped else ""
    return PreparedData(
        pipeline.transform(train_rows), y_train,
        # held-out rows of the training file may hold categories the split left out of training
        pipeline.transform(test_rows, handle_unknown="ignore") if len(test_idx) else None,
        y_test, pipeline, classes,
        f"{path}: {len(train_idx)} training and {len(test_idx)} test rows, "
        f"{pipeline.input_shape[0]} features, {len(classes)} classes{dropped}",
        {"source": "csv", "path": path, "label": label, "features": feature_columns,
         "rows_dropped": {"no_label": no_label, "null_features": no_features}},
    )


def inline_source(
    x: list[Any],
    y: list[Any],
    test_size: float = 0.25,
    standardize: bool = True,
    *,
    seed: int = 0,
) -> PreparedData:
    """Data written in the config itself: ``x = [[...], ...]`` and ``y = [...]``.

    Makes a config self-contained (no file to find), e.g. for ``lamina tune``.

    Args:
        x: the samples, one list of numbers each (nested lists for more axes).
        y: one label per sample (integers or strings).
        test_size: the share held out (stratified) as the test set.
        standardize: standardise each feature on the training part's statistics.
        seed: the seed of the split.

    Raises:
        ValueError: x is not a rectangular array of numbers, or x and y disagree in length.
    """
    try:
        x_all = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("[data] x must be a list of equally long lists of numbers") from None
    y_all = _label_values(np.asarray(y))
    _check_xy(x_all, y_all, "[data]", "inline")
    if x_all.ndim == 1:
        x_all = x_all[:, None]
    train_idx, test_idx = _split(len(x_all), y_all, test_size, seed)
    pipeline = ArrayPipeline(x_all.shape[1:], standardize).fit(x_all[train_idx])
    classes, y_train, y_test = _encode_labels(y_all[train_idx],
                                              y_all[test_idx] if len(test_idx) else None)
    x_test = pipeline.transform(x_all[test_idx]) if len(test_idx) else None
    return PreparedData(pipeline.transform(x_all[train_idx]), y_train, x_test, y_test, pipeline,
                        classes, f"inline data: {len(train_idx)} training and {len(test_idx)} "
                        "test samples", {"source": "inline"})


# --------------------------------------------------------------------------- helpers
def _check_xy(x: np.ndarray, y: np.ndarray | None, where: str, split: str) -> None:
    if y is None:
        raise ValueError(f"{where}: x_{split} has no matching y_{split}")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{where}: the {split} inputs are empty")
    if np.ndim(y) != 1 or len(y) != len(x):
        raise ValueError(f"{where}: {split} labels of shape {np.shape(y)} do not match "
                         f"{len(x)} inputs (expected shape ({len(x)},))")


def _label_values(y: np.ndarray) -> np.ndarray:
    """Labels as integers when they are whole numbers (CSV columns with nulls read as float)."""
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    if y.dtype.kind == "O":
        return y.astype(str)
    return y


def _encode_labels(
    y_train: np.ndarray, y_test: np.ndarray | None
) -> tuple[list[Any], np.ndarray, np.ndarray | None]:
    """(classes, train indices, test indices) with the classes of both splits."""
    from lamina.preprocessing import LabelEncoder

    both = y_train if y_test is None else np.concatenate([y_train, y_test])
    encoder = LabelEncoder().fit(both)
    classes = np.asarray(encoder.classes_).tolist()
    y_test_idx = None if y_test is None else encoder.transform(y_test).astype(np.int64)
    return classes, encoder.transform(y_train).astype(np.int64), y_test_idx


def _split(n: int, y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices; stratified when every class has at least two rows."""
    indices = np.arange(n)
    if test_size <= 0:
        return indices, indices[:0]
    if not 0 < test_size < 1:
        raise ValueError(f"[data] test_size must be in [0, 1), received {test_size!r}")
    from lamina.preprocessing import train_test_split

    _, counts = np.unique(y, return_counts=True)
    n_test = math.ceil(test_size * n)
    stratify = y if counts.min() >= 2 and len(counts) <= n_test <= n - len(counts) else None
    train_idx, test_idx = train_test_split(indices, test_size=test_size, stratify=stratify,
                                           random_state=seed)
    return np.sort(np.asarray(train_idx)), np.sort(np.asarray(test_idx))


def _at_most(x: np.ndarray, y: np.ndarray, limit: int, rng: np.random.Generator,
             name: str) -> tuple[np.ndarray, np.ndarray]:
    if limit < 0:
        raise ValueError(f"[data] {name} must be >= 0 (0: all), received {limit}")
    if limit == 0 or limit >= len(x):
        return x, y
    keep = np.sort(rng.choice(len(x), size=limit, replace=False))
    return x[keep], y[keep]
