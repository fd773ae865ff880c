"""Label encoders: :class:`LabelEncoder`, :class:`LabelBinarizer`, :class:`MultiLabelBinarizer`."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from itertools import chain

import numpy as np

from lamina.labels import as_array as _as_array
from lamina.labels import label_indices as _label_indices
from lamina.labels import type_of_target, unique_labels
from lamina.preprocessing._base import ArrayLike, _check_vector, _Transformer


def _column_or_1d(y: ArrayLike, func: str) -> np.ndarray:
    y = _as_array(y, func, "y")
    if y.ndim == 2 and y.shape[1] == 1:
        return y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{func}: y should be a 1-D array of labels, got shape {y.shape}")
    return y


def _sorted_unique(y: np.ndarray, func: str) -> np.ndarray:
    if y.dtype != object:
        return np.unique(y)
    values = set(y.tolist())
    missing = [v for v in (None,) if v in values] + [v for v in values
                                                      if isinstance(v, float) and v != v][:1]
    values = {v for v in values if v is not None and not (isinstance(v, float) and v != v)}
    try:
        ordered = sorted(values)
    except TypeError:
        types = sorted({type(v).__name__ for v in values})
        raise TypeError(f"{func}: labels must be all strings or all numbers, got {types}") from None
    result = np.empty(len(ordered) + len(missing), dtype=object)
    result[:] = ordered + missing
    return result


class LabelEncoder(_Transformer):
    """Encode labels as integers ``0 .. n_classes - 1`` in sorted label order.

    Attributes:
        classes_: the sorted labels seen in ``fit``, shape ``(n_classes,)``.

    Example:
        >>> encoder = LabelEncoder().fit(["paris", "tokyo", "paris", "amsterdam"])
        >>> encoder.transform(["tokyo", "paris"]).tolist(), encoder.classes_.tolist()
        ([2, 1], ['amsterdam', 'paris', 'tokyo'])
        >>> encoder.inverse_transform([0]).tolist()
        ['amsterdam']
    """

    _fitted = ("classes_",)
    _fit_call = "fit(y)"

    def fit(self, y: ArrayLike) -> LabelEncoder:
        """Learn the sorted distinct labels of ``y`` (shape ``(n_samples,)``)."""
        self.classes_ = _sorted_unique(_column_or_1d(y, "LabelEncoder.fit"), "LabelEncoder.fit")
        return self

    def fit_transform(self, y: ArrayLike) -> np.ndarray:
        """``fit(y)`` then ``transform(y)``."""
        return self.fit(y).transform(y)

    def transform(self, y: ArrayLike) -> np.ndarray:
        """Integer code of each label, shape ``(n_samples,)``.

        Raises:
            ValueError: a label not seen in ``fit`` (named in the message).
        """
        self._check_fitted()
        y = _column_or_1d(y, "LabelEncoder.transform")
        if y.shape[0] == 0:
            return np.array([])
        codes = _label_indices(y, self.classes_)
        if np.any(codes < 0):
            unseen = sorted({str(v) for v in y[codes < 0].tolist()})
            raise ValueError(f"LabelEncoder.transform: y contains previously unseen labels: "
                             f"{unseen}; known labels are {self.classes_.tolist()}")
        return codes.astype(np.intp)

    def inverse_transform(self, y: ArrayLike) -> np.ndarray:
        """Labels of integer codes ``y`` (shape ``(n_samples,)``).

        Raises:
            ValueError: a code outside ``0 .. n_classes - 1``.
        """
        self._check_fitted()
        y = _column_or_1d(y, "LabelEncoder.inverse_transform")
        if y.shape[0] == 0:
            return np.array([])
        if y.dtype.kind not in "iuf":
            raise ValueError(f"LabelEncoder.inverse_transform: expected integer codes, got dtype "
                             f"{y.dtype}")
        bad = np.setdiff1d(y, np.arange(len(self.classes_)))
        if bad.shape[0]:
            raise ValueError(f"LabelEncoder.inverse_transform: y contains previously unseen "
                             f"labels: {bad.tolist()}; codes go from 0 to {len(self.classes_) - 1}")
        return self.classes_[y.astype(np.intp)]

    def _check_config(self, where: str) -> None:
        _check_vector(where, "classes_", self.classes_, None, "biufUO")


def _label_binarize(y: ArrayLike, classes: np.ndarray, neg_label: int, pos_label: int,
                    func: str) -> np.ndarray:
    """One-vs-all indicator matrix of ``y`` over ``classes`` (sklearn's ``label_binarize``)."""
    given_list = isinstance(y, list)
    y = _as_array(y, func, "y")
    if y.ndim == 0 or y.shape[0] == 0:
        raise ValueError(f"{func}: y has 0 samples")
    pos_switch = pos_label == 0
    if pos_switch:
        pos_label = -neg_label
    y_type = type_of_target(y)
    if "multioutput" in y_type:
        raise ValueError(f"{func}: multioutput target data is not supported")
    if y_type == "unknown":
        raise ValueError(f"{func}: the type of target data is not known")
    n_samples, n_classes = y.shape[0], classes.shape[0]
    int_dtype = y.dtype if not given_list and y.dtype.kind == "i" else np.dtype(np.intp)
    if not given_list and y.dtype.kind in "iu" and classes.dtype.kind in "biuf":
        classes = classes.astype(y.dtype)
    if y_type == "binary":
        if n_classes == 1:
            return np.zeros((n_samples, 1), dtype=int_dtype) + np.asarray(neg_label, int_dtype)
        if n_classes >= 3:
            y_type = "multiclass"
    sorted_classes = np.sort(classes)
    if y_type in ("binary", "multiclass"):
        y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        known = np.isin(y, classes)
        Y = np.zeros((n_samples, n_classes), dtype=np.intp)
        Y[np.flatnonzero(known), np.searchsorted(sorted_classes, y[known])] = pos_label
    elif y_type == "multilabel-indicator":
        if n_classes != y.shape[1]:
            raise ValueError(f"{func}: classes {classes} mismatch with the labels "
                             f"{unique_labels(y)} found in the data")
        Y = y.copy()
        if pos_label != 1:
            Y[Y != 0] = pos_label
    else:
        raise ValueError(f"{func}: {y_type} target data is not supported with label binarization")
    if neg_label != 0:
        Y[Y == 0] = neg_label
    if pos_switch:
        Y[Y == pos_label] = 0
    Y = Y.astype(int_dtype, copy=False)
    if np.any(classes != sorted_classes):
        Y = Y[:, np.searchsorted(sorted_classes, classes)]
    if y_type == "binary":
        Y = Y[:, -1].reshape(-1, 1)
    return Y


class LabelBinarizer(_Transformer):
    """One-vs-all binary encoding of labels (notes section 13.1).

    Each label becomes a row with ``pos_label`` in its class's column and ``neg_label``
    elsewhere. Two classes give one column (``pos_label`` for the larger class); a 2-D 0/1
    multilabel indicator input is passed through.

    Args:
        neg_label: value for "not this class".
        pos_label: value for "this class"; must be greater than ``neg_label``.

    Attributes:
        classes_: sorted labels, shape ``(n_classes,)``.
        y_type_: ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``.

    Shape:
        transform: ``(n_samples,)`` -> ``(n_samples, n_classes)``, or ``(n_samples, 1)`` for
        two classes.

    Example:
        >>> binarizer = LabelBinarizer().fit(["dog", "cat", "dog", "horse"])
        >>> binarizer.transform(["dog", "cat", "dog", "horse"]).tolist()
        [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
        >>> binarizer.inverse_transform([[0.1, 0.7, 0.2]]).tolist()
        ['dog']
    """

    _params = ("neg_label", "pos_label")
    _fitted = ("classes_", "y_type_")
    _fit_call = "fit(y)"

    def __init__(self, neg_label: int = 0, pos_label: int = 1) -> None:
        self.neg_label = neg_label
        self.pos_label = pos_label

    def _check_labels(self, func: str) -> None:
        for name in ("neg_label", "pos_label"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise TypeError(f"{func}: {name} must be an int, got {value!r}")
        if self.neg_label >= self.pos_label:
            raise ValueError(f"{func}: neg_label={self.neg_label} must be strictly less than "
                             f"pos_label={self.pos_label}")

    def fit(self, y: ArrayLike) -> LabelBinarizer:
        """Learn the classes of ``y``: labels ``(n_samples,)`` or indicators ``(n_samples, k)``.

        Raises:
            ValueError: multioutput or continuous targets, or an empty ``y``.
        """
        func = "LabelBinarizer.fit"
        self._check_labels(func)
        y = _as_array(y, func, "y")
        y_type = type_of_target(y)
        if "multioutput" in y_type:
            raise ValueError(f"{func}: multioutput target data is not supported")
        if y.ndim == 0 or y.shape[0] == 0:
            raise ValueError(f"{func}: y has 0 samples")
        self.classes_ = unique_labels(y)
        self.y_type_ = y_type
        return self

    def fit_transform(self, y: ArrayLike) -> np.ndarray:
        """``fit(y)`` then ``transform(y)``."""
        return self.fit(y).transform(y)

    def transform(self, y: ArrayLike) -> np.ndarray:
        """Binary indicator matrix of ``y``; labels unseen in ``fit`` give all-``neg_label`` rows.

        Returns:
            Integer array ``(n_samples, n_classes)``, or ``(n_samples, 1)`` for two classes.
        """
        self._check_fitted()
        func = "LabelBinarizer.transform"
        self._check_labels(func)
        if type_of_target(y).startswith("multilabel") and not self.y_type_.startswith("multilabel"):
            raise ValueError(f"{func}: the binarizer was not fitted with multilabel input")
        return _label_binarize(y, self.classes_, self.neg_label, self.pos_label, func)

    def inverse_transform(self, Y: ArrayLike, threshold: float | None = None) -> np.ndarray:
        """Labels from scores: argmax per row, or a threshold for one column / multilabel.

        Args:
            Y: scores or indicators, shape ``(n_samples, n_classes)`` or ``(n_samples, 1)``.
            threshold: for binary and multilabel outputs, a score ``> threshold`` is positive;
                default ``(pos_label + neg_label) / 2`` (0.5 for the default labels).

        Returns:
            Labels ``(n_samples,)``, or the indicator matrix for multilabel binarizers.
        """
        self._check_fitted()
        func = "LabelBinarizer.inverse_transform"
        Y = _as_array(Y, func, "Y")
        if threshold is None:
            threshold = (self.pos_label + self.neg_label) / 2.0
        if self.y_type_ == "multiclass":
            if Y.ndim != 2:
                raise ValueError(f"{func}: expected Y of shape (n_samples, "
                                 f"{len(self.classes_)}), got {Y.shape}")
            return self.classes_[np.clip(np.argmax(Y, axis=1), 0, len(self.classes_) - 1)]
        if self.y_type_ == "binary" and Y.ndim == 2 and Y.shape[1] > 2:
            raise ValueError(f"{func}: binary binarizer, but Y has shape {Y.shape}")
        if self.y_type_ != "binary" and (Y.ndim != 2 or Y.shape[1] != len(self.classes_)):
            raise ValueError(f"{func}: expected Y with {len(self.classes_)} columns, got shape "
                             f"{Y.shape}")
        float_dtype = Y.dtype if Y.dtype.kind == "f" else np.float64
        int_dtype = Y.dtype if Y.dtype.kind == "i" else np.intp
        positive = (Y.astype(float_dtype) > threshold).astype(int_dtype)
        if self.y_type_ != "binary":
            return positive
        if positive.ndim == 2 and positive.shape[1] == 2:
            return self.classes_[positive[:, 1]]
        if len(self.classes_) == 1:
            return np.repeat(self.classes_[0], len(positive))
        return self.classes_[positive.reshape(-1)]

    def _check_config(self, where: str) -> None:
        self._check_labels(where)
        _check_vector(where, "classes_", self.classes_, None, "biufUO")
        if self.y_type_ not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"{where}: bad y_type_ {self.y_type_!r:.80}")


class MultiLabelBinarizer(_Transformer):
    """Sets of labels per sample <-> 0/1 indicator matrix (one column per class).

    Args:
        classes: the columns' labels in order; default: sorted labels seen in ``fit``.

    Attributes:
        classes_: labels of the columns, shape ``(n_classes,)``.

    Example:
        >>> mlb = MultiLabelBinarizer()
        >>> mlb.fit_transform([("sci-fi", "thriller"), ("comedy",)]).tolist()
        [[0, 1, 1], [1, 0, 0]]
        >>> mlb.inverse_transform([[1, 1, 0]])
        [('comedy', 'sci-fi')]
    """

    _params = ("classes",)
    _fitted = ("classes_",)
    _fit_call = "fit(y)"

    def __init__(self, classes: Iterable | None = None) -> None:
        self.classes = classes

    def fit(self, y: Iterable[Iterable]) -> MultiLabelBinarizer:
        """Learn the classes from ``y``, an iterable of label sets (ignored if ``classes``)."""
        if self.classes is None:
            classes = sorted(set(chain.from_iterable(y)))
        else:
            classes = list(self.classes)
            if len(set(classes)) < len(classes):
                raise ValueError("MultiLabelBinarizer.fit: the classes argument contains "
                                 "duplicate classes")
        dtype = int if all(isinstance(c, int) for c in classes) else object
        self.classes_ = np.empty(len(classes), dtype=dtype)
        self.classes_[:] = classes
        return self

    def fit_transform(self, y: Iterable[Iterable]) -> np.ndarray:
        """``fit(y)`` then ``transform(y)`` (``y`` may be a one-shot iterator)."""
        y = list(y)
        return self.fit(y).transform(y)

    def transform(self, y: Iterable[Iterable]) -> np.ndarray:
        """Indicator matrix ``(n_samples, n_classes)``; unknown labels are ignored (warning)."""
        self._check_fitted()
        column = {label: i for i, label in enumerate(self.classes_.tolist())}
        rows, unknown = [], set()
        for labels in y:
            row = set()
            for label in labels:
                if label in column:
                    row.add(column[label])
                else:
                    unknown.add(label)
            rows.append(sorted(row))
        if unknown:
            warnings.warn(f"MultiLabelBinarizer.transform: unknown class(es) "
                          f"{sorted(unknown, key=str)} will be ignored", UserWarning, stacklevel=2)
        out = np.zeros((len(rows), len(column)), dtype=int)
        for i, row in enumerate(rows):
            out[i, row] = 1
        return out

    def inverse_transform(self, yt: ArrayLike) -> list[tuple]:
        """Label tuples from an indicator matrix ``yt`` of shape ``(n_samples, n_classes)``.

        Raises:
            ValueError: wrong number of columns, or values other than 0 and 1.
        """
        self._check_fitted()
        func = "MultiLabelBinarizer.inverse_transform"
        yt = _as_array(yt, func, "yt")
        if yt.ndim != 2 or yt.shape[1] != len(self.classes_):
            raise ValueError(f"{func}: expected indicator for {len(self.classes_)} classes, got "
                             f"shape {yt.shape}")
        unexpected = np.setdiff1d(yt, [0, 1])
        if len(unexpected) > 0:
            raise ValueError(f"{func}: expected only 0s and 1s in the label indicator, also got "
                             f"{unexpected.tolist()}")
        return [tuple(self.classes_.compress(row)) for row in yt]

    def _check_config(self, where: str) -> None:
        _check_vector(where, "classes_", self.classes_, None, "biufUO")
