"""Rows and splits: :func:`dropna` and :func:`train_test_split`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.labels import as_array as _as_array
from lamina.preprocessing._base import ArrayLike
from lamina.random import generator


def _rows_missing(data: Any, func: str, name: str) -> np.ndarray:
    if hasattr(data, "isna"):
        mask = np.asarray(data.isna())
    else:
        array = _as_array(data, func, name)
        if array.dtype.kind == "f":
            mask = np.isnan(array)
        elif array.dtype.kind == "O":
            mask = np.asarray((array != array) | np.equal(array, None), dtype=bool)
        else:
            mask = np.zeros(array.shape, dtype=bool)
    if mask.ndim == 0:
        raise ValueError(f"{func}: {name} must be an array of samples, got a scalar")
    if mask.size == 0:
        return np.zeros(mask.shape[0], dtype=bool)
    return mask.reshape(mask.shape[0], -1).any(axis=1)


def _take_rows(data: Any, rows: np.ndarray, func: str, name: str) -> Any:
    if hasattr(data, "iloc"):
        return data.iloc[rows]
    if isinstance(data, (list, tuple)):
        return [data[i] for i in rows]
    if isinstance(data, np.ndarray) or (hasattr(data, "shape") and hasattr(data, "__getitem__")):
        return data[rows]
    raise TypeError(f"{func}: {name} must be an array, list, Tensor or DataFrame, got "
                    f"{type(data).__name__}")


def _n_samples(data: Any, func: str, name: str) -> int:
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    if hasattr(data, "__len__") and not isinstance(data, (str, bytes)):
        return len(data)
    raise TypeError(f"{func}: {name} must be a sequence of samples, got {type(data).__name__}")


def dropna(X: ArrayLike, y: ArrayLike | None = None) -> Any:
    """Drop the rows (samples) that hold a NaN or None, in ``X`` or in ``y``.

    Args:
        X: samples, shape ``(n_samples,)`` or ``(n_samples, n_features)``: numeric, object
            (strings with None/NaN) or a pandas DataFrame.
        y: optional targets, shape ``(n_samples,)``; its missing rows are dropped too.

    Returns:
        ``X`` without those rows (a NumPy array; pandas objects stay pandas), or ``(X, y)``.

    Raises:
        ValueError: ``X`` and ``y`` of different lengths.

    Example:
        >>> X, y = dropna([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0]], [0, 1, 0])
        >>> X.tolist(), y.tolist()
        ([[1.0, 2.0], [4.0, 5.0]], [0, 0])
    """
    func = "dropna"
    drop = _rows_missing(X, func, "X")
    X_out = X if hasattr(X, "iloc") else _as_array(X, func, "X")
    if y is None:
        return _take_rows(X_out, np.flatnonzero(~drop), func, "X")
    drop_y = _rows_missing(y, func, "y")
    if drop_y.shape[0] != drop.shape[0]:
        raise ValueError(f"{func}: X and y must have the same number of samples, got "
                         f"{drop.shape[0]} and {drop_y.shape[0]}")
    keep = np.flatnonzero(~(drop | drop_y))
    y_out = y if hasattr(y, "iloc") else _as_array(y, func, "y")
    return _take_rows(X_out, keep, func, "X"), _take_rows(y_out, keep, func, "y")


def _split_sizes(n_samples: int, test_size: Any, train_size: Any) -> tuple[int, int]:
    """``(n_train, n_test)``: a float fraction of the test set rounds up, of the train set down."""
    func = "train_test_split"
    if test_size is None and train_size is None:
        test_size = 0.25
    test_kind, train_kind = np.asarray(test_size).dtype.kind, np.asarray(train_size).dtype.kind
    for name, size, kind in (("test_size", test_size, test_kind),
                             ("train_size", train_size, train_kind)):
        if size is not None and kind not in "if":
            raise ValueError(f"{func}: invalid value for {name}: {size!r}")
        if (kind == "i" and (size >= n_samples or size <= 0)) or (
                kind == "f" and (size <= 0 or size >= 1)):
            raise ValueError(f"{func}: {name}={size} should be either positive and smaller than "
                             f"the number of samples {n_samples} or a float in the (0, 1) range")
    if test_kind == "f" and train_kind == "f" and train_size + test_size > 1:
        raise ValueError(f"{func}: the sum of test_size and train_size = "
                         f"{train_size + test_size} should be in the (0, 1) range")
    n_test = math.ceil(test_size * n_samples) if test_kind == "f" else test_size
    n_train = math.floor(train_size * n_samples) if train_kind == "f" else train_size
    if train_size is None:
        n_train = n_samples - n_test
    elif test_size is None:
        n_test = n_samples - n_train
    if n_train + n_test > n_samples:
        raise ValueError(f"{func}: the sum of train_size and test_size = {n_train + n_test} "
                         f"should be smaller than the number of samples {n_samples}")
    n_train, n_test = int(n_train), int(n_test)
    if n_train == 0:
        raise ValueError(f"{func}: with n_samples={n_samples}, test_size={test_size} and "
                         f"train_size={train_size}, the train set would be empty")
    return n_train, n_test


def _random_state(random_state: Any) -> np.random.RandomState | np.random.Generator:
    if random_state is None:
        return np.random.RandomState(int(generator().integers(2**32)))
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.RandomState(random_state)
    raise ValueError(f"train_test_split: random_state must be None, an int or a NumPy random "
                     f"generator, got {random_state!r}")


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: Any) -> np.ndarray:
    """Per-class draws summing to ``n_draws``, proportional to ``class_counts``.

    Floors the proportional shares, then hands the remaining draws to the largest remainders;
    ties are broken at random.
    """
    share = class_counts / class_counts.sum() * n_draws
    counts = np.floor(share)
    remaining = int(n_draws - counts.sum())
    remainder = share - counts
    for value in np.sort(np.unique(remainder))[::-1]:
        if remaining <= 0:
            break
        (tied,) = np.where(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), remaining), replace=False)
        counts[chosen] += 1
        remaining -= len(chosen)
    return counts.astype(int)


def _stratified_indices(stratify: Any, n_samples: int, n_train: int, n_test: int, rng: Any):
    func = "train_test_split"
    y = _as_array(stratify, func, "stratify")
    if y.ndim == 0 or y.shape[0] != n_samples:
        raise ValueError(f"{func}: stratify must have {n_samples} entries like the arrays, got "
                         f"shape {y.shape}")
    if y.ndim == 2:
        y = np.array([" ".join(row.astype(str)) for row in y])
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    y_indices = y_indices.reshape(-1)
    if np.min(class_counts) < 2:
        raise ValueError(f"{func}: the least populated classes in stratify have only 1 member, "
                         f"which is too few (at least 2 are needed): "
                         f"{classes[class_counts < 2].tolist()}")
    for name, size in (("train_size", n_train), ("test_size", n_test)):
        if size < len(classes):
            raise ValueError(f"{func}: the {name} = {size} should be greater or equal to the "
                             f"number of classes = {len(classes)}")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list = []
    test: list = []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[: n_i[i]])
        test.extend(members[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def train_test_split(
    *arrays: Any,
    test_size: float | int | None = None,
    train_size: float | int | None = None,
    random_state: Any = None,
    shuffle: bool = True,
    stratify: ArrayLike | None = None,
) -> list:
    """Split arrays into random train and test subsets (same rows for every array).

    Sizes follow scikit-learn: a float ``test_size`` gives ``ceil(test_size * n)`` test
    samples, a float ``train_size`` ``floor(train_size * n)`` train samples, ints are counts,
    and the default is ``test_size=0.25``. With ``stratify=y`` each class keeps its
    proportion (scikit-learn's allocation: floored shares, remainders to the largest
    fractions). An int ``random_state`` gives the same split as scikit-learn; ``None`` draws
    from lamina's global generator (``lm.manual_seed``).

    Args:
        *arrays: arrays, lists, Tensors or DataFrames with the same first dimension.
        test_size: fraction in (0, 1) or number of test samples.
        train_size: fraction in (0, 1) or number of train samples (default: the rest).
        random_state: None, an int seed, or a ``np.random.RandomState``/``Generator``.
        shuffle: shuffle before splitting; False takes the first rows for training.
        stratify: class labels, shape ``(n_samples,)``, whose proportions both parts keep.

    Returns:
        ``[a_train, a_test, b_train, b_test, ...]``: each part of the input's type (lists
        stay lists).

    Raises:
        ValueError: no arrays, different lengths, bad sizes, ``stratify`` without
            ``shuffle``, or a stratify class with fewer than 2 members.

    Example:
        >>> X_train, X_test = train_test_split(np.arange(10), test_size=0.3, random_state=0)
        >>> len(X_train), len(X_test)
        (7, 3)
    """
    func = "train_test_split"
    if not arrays:
        raise ValueError(f"{func}: at least one array required as input")
    lengths = [_n_samples(a, func, f"arrays[{i}]") for i, a in enumerate(arrays)]
    if len(set(lengths)) > 1:
        raise ValueError(f"{func}: all arrays must have the same number of samples, got {lengths}")
    n_samples = lengths[0]
    n_train, n_test = _split_sizes(n_samples, test_size, train_size)
    if not shuffle:
        if stratify is not None:
            raise ValueError(f"{func}: stratified splitting needs shuffle=True")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        rng = _random_state(random_state)
        if stratify is None:
            permutation = rng.permutation(n_samples)
            test, train = permutation[:n_test], permutation[n_test : n_test + n_train]
        else:
            train, test = _stratified_indices(stratify, n_samples, n_train, n_test, rng)
    return [part for i, a in enumerate(arrays)
            for part in (_take_rows(a, train, func, f"arrays[{i}]"),
                         _take_rows(a, test, func, f"arrays[{i}]"))]
