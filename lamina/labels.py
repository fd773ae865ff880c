"""Label inspection shared by :mod:`lamina.metrics` and :mod:`lamina.preprocessing`.

scikit-learn's ``type_of_target`` and ``unique_labels`` (``sklearn.utils.multiclass``), plus
the array conversion and label lookup both modules use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["as_array", "is_integral_float", "label_indices", "type_of_target", "unique_labels",
           "unique_labels_of"]

ArrayLike = Any


def as_array(y: ArrayLike, func: str, name: str) -> np.ndarray:
    """``np.asarray(y)`` (Tensors too); ragged nested lists become an object array."""
    if isinstance(y, (str, bytes)):
        raise TypeError(f"{func}: {name} must be an array-like of labels, got a {type(y).__name__}")
    try:
        return np.asarray(y)
    except ValueError:
        return np.asarray(y, dtype=object)


def _unique(y: np.ndarray) -> list:
    """The distinct values of ``y`` (any dtype, mixed objects included)."""
    try:
        return list(np.unique(y))
    except TypeError:
        return list(set(y.ravel().tolist()))


def is_integral_float(values: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return values.dtype.kind == "f" and bool(
            np.all(values.astype(np.int64).astype(values.dtype) == values)
        )


def _is_multilabel(y: np.ndarray) -> bool:
    if not (y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf"):
        return False
    values = np.unique(y)
    return values.shape[0] < 3 and (y.dtype.kind in "biu" or is_integral_float(values))


def type_of_target(y: ArrayLike) -> str:
    """The kind of target ``y`` holds, as ``sklearn.utils.multiclass.type_of_target``.

    Args:
        y: labels, shape ``(n_samples,)``, ``(n_samples, 1)`` or ``(n_samples, n_labels)``.

    Returns:
        ``"binary"`` (at most two distinct values), ``"multiclass"``, ``"multilabel-indicator"``
        (2-D 0/1 matrix), ``"continuous"`` (non-integral floats), ``"multiclass-multioutput"``,
        ``"continuous-multioutput"`` or ``"unknown"``.

    Raises:
        ValueError: nested sequences of labels, or NaN/infinity in float labels.
        TypeError: bytes labels.

    Example:
        >>> type_of_target([0, 1, 1]), type_of_target(["a", "b", "c"])
        ('binary', 'multiclass')
        >>> type_of_target([[1, 0], [0, 1]]), type_of_target([0.5, 1.0])
        ('multilabel-indicator', 'continuous')
    """
    y = as_array(y, "type_of_target", "y")
    if _is_multilabel(y):
        return "multilabel-indicator"
    if y.ndim >= 1 and y.shape[0] > 0:
        first = y[0]
        if isinstance(first, bytes):
            raise TypeError("type_of_target: bytes labels are not supported; decode them to str")
        if isinstance(first, Sequence) and not isinstance(first, str):
            raise ValueError(
                "type_of_target: got a sequence of sequences of labels; for multilabel targets "
                "pass a 2-D 0/1 indicator array (MultiLabelBinarizer converts to it)"
            )
    if y.ndim not in (1, 2):
        return "unknown"
    if min(y.shape) == 0:
        return "binary" if y.ndim == 1 else "unknown"
    if y.dtype == object and not isinstance(y.flat[0], str):
        return "unknown"
    suffix = "-multioutput" if y.ndim == 2 and y.shape[1] > 1 else ""
    if y.dtype.kind == "f" and not is_integral_float(y):
        if not np.all(np.isfinite(y)):
            raise ValueError("type_of_target: labels contain NaN or infinity")
        return "continuous" + suffix
    if len(_unique(y)) > 2 or suffix:
        return "multiclass" + suffix
    return "binary"


def unique_labels_of(arrays: list[np.ndarray], label_type: str) -> np.ndarray:
    if label_type == "multilabel-indicator":
        widths = {y.shape[1] for y in arrays}
        if len(widths) > 1:
            raise ValueError(
                f"Multi-label binary indicator input with different numbers of labels: {widths}"
            )
        return np.arange(widths.pop())
    if label_type not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {label_type!r}")
    labels: set = set()
    for y in arrays:
        labels.update(_unique(y))
    if len({isinstance(label, str) for label in labels}) > 1:
        got = " and ".join(str(np.asarray(_unique(y))) for y in arrays)
        raise ValueError(f"Mix of label input types (string and number); got {got}")
    return np.asarray(sorted(labels))


def unique_labels(*ys: ArrayLike) -> np.ndarray:
    """The sorted union of the labels in ``ys`` (``sklearn.utils.multiclass.unique_labels``).

    Args:
        *ys: label arrays; for multilabel indicator matrices the labels are column indices.

    Returns:
        Sorted array of distinct labels, shape ``(n_labels,)``.

    Raises:
        ValueError: no input, a mix of string and number labels, or of multilabel and
            single-label targets.

    Example:
        >>> unique_labels([3, 5, 5], [7, 3]).tolist()
        [3, 5, 7]
    """
    if not ys:
        raise ValueError("unique_labels: no label array was passed")
    arrays = [as_array(y, "unique_labels", "y") for y in ys]
    types = {type_of_target(y) for y in arrays}
    if types == {"binary", "multiclass"}:
        types = {"multiclass"}
    if len(types) > 1:
        raise ValueError(f"unique_labels: mix type of y not allowed, got types {sorted(types)}")
    return unique_labels_of(arrays, types.pop())


def label_indices(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Position of each ``y`` in ``labels`` (-1 where absent); labels need not be sorted."""
    n = labels.shape[0]
    comparable = (y.dtype.kind in "biuf" and labels.dtype.kind in "biuf") or (
        y.dtype.kind in "U" and labels.dtype.kind in "U"
    )
    if comparable and len(np.unique(labels)) == n:
        order = np.argsort(labels, kind="stable")
        pos = np.clip(np.searchsorted(labels[order], y), 0, n - 1)
        return np.where(labels[order][pos] == y, order[pos], -1)
    table = {label: i for i, label in enumerate(labels.tolist())}
    return np.array([table.get(v, -1) for v in y.tolist()], dtype=np.intp)

