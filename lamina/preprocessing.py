"""Preprocessing with scikit-learn's names, arguments and numbers (notes chapter 13).

Label encoders (:class:`LabelBinarizer`, :class:`MultiLabelBinarizer`, :class:`LabelEncoder`),
feature scalers (:class:`StandardScaler`, :class:`MinMaxScaler`), missing values
(:class:`SimpleImputer`, :func:`dropna`) and :func:`train_test_split`. Inputs may be lists,
NumPy arrays or lamina Tensors; outputs are NumPy arrays.

Every transformer has ``to_config()`` / ``from_config(config)``: a JSON-serialisable dict
``{"class": name, "params": {...}, "attributes": {...}}`` holding the constructor arguments and
the fitted attributes (arrays as ``{"ndarray": {"dtype", "shape", "data"}}``, non-finite floats
as ``{"float": "nan"}``), so a fitted pipeline can be stored in a model file without pickle.
:func:`from_config` rebuilds any of them from its dict and validates it.

Example (the notes' listing in section 13.1):
    >>> binarizer = LabelBinarizer().fit(["dog", "cat", "dog", "horse"])
    >>> binarizer.transform(["dog"]).tolist()
    [[0, 1, 0]]
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections import Counter
from collections.abc import Iterable
from itertools import chain
from typing import Any

import numpy as np

from lamina.metrics import _as_array, _label_indices, type_of_target, unique_labels
from lamina.random import generator

__all__ = [
    "NotFittedError",
    "LabelBinarizer",
    "LabelEncoder",
    "MinMaxScaler",
    "MultiLabelBinarizer",
    "SimpleImputer",
    "StandardScaler",
    "dropna",
    "from_config",
    "train_test_split",
]

ArrayLike = Any
_REGISTRY: dict[str, type[_Transformer]] = {}
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16))


# --------------------------------------------------------------------------- JSON config


def _encode_element(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    raise TypeError(f"to_config: cannot store a value of type {type(value).__name__}")


def _encode(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biufUO":
            raise TypeError(f"to_config: cannot store an array of dtype {array.dtype}")
        flat = array.ravel().tolist()
        if array.dtype.kind in "fO":
            flat = [_encode_element(v) for v in flat]
        return {"ndarray": {"dtype": str(array.dtype), "shape": list(array.shape), "data": flat}}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return _encode_element(value)


def _decode_element(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, dict) and set(value) == {"float"}:
        if value["float"] in ("nan", "inf", "-inf"):
            return float(value["float"])
    raise ValueError(f"{where}: unexpected value {str(value)[:80]!r}")


def _decode_array(spec: Any, where: str) -> np.ndarray | np.generic:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise ValueError(f"{where}: an array needs exactly the keys dtype, shape and data")
    try:
        dtype = np.dtype(spec["dtype"]) if isinstance(spec["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biufUO":
        raise ValueError(f"{where}: unsupported array dtype {spec['dtype']!r}")
    shape, data = spec["shape"], spec["data"]
    if not (isinstance(shape, list) and len(shape) <= 8
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ValueError(f"{where}: bad array shape {str(shape)[:80]}")
    if not isinstance(data, list) or len(data) != math.prod(shape):
        raise ValueError(f"{where}: array data must be a flat list of {math.prod(shape)} values")
    kinds = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "U": (str,)}
    if dtype.kind == "O":
        array = np.empty(len(data), dtype=object)
        array[:] = [_decode_element(v, where) for v in data]
    else:
        if dtype.kind == "f":
            data = [_decode_element(v, where) for v in data]
        allowed = kinds[dtype.kind]
        if any(not isinstance(v, allowed) or (dtype.kind != "b" and isinstance(v, bool))
               for v in data):
            raise ValueError(f"{where}: array values do not match dtype {dtype}")
        try:
            array = np.array(data, dtype=dtype)
        except (OverflowError, ValueError) as error:
            raise ValueError(f"{where}: array values do not fit dtype {dtype}: {error}") from None
    array = array.reshape(shape)
    return array[()] if not shape else array


def _decode(value: Any, where: str, depth: int = 0) -> Any:
    if isinstance(value, list):
        if depth > 2:
            raise ValueError(f"{where}: lists nested too deeply")
        return [_decode(v, where, depth + 1) for v in value]
    if isinstance(value, dict) and set(value) == {"ndarray"}:
        return _decode_array(value["ndarray"], where)
    return _decode_element(value, where)


def _check_vector(where: str, name: str, value: Any, length: int | None, kinds: str,
                  optional: bool = False) -> None:
    """Validate one fitted attribute read from a config."""
    if value is None and optional:
        return
    if not (isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in kinds):
        raise ValueError(f"{where}: {name} must be a 1-D array of kind {kinds!r}, "
                         f"got {value!r:.80}")
    if length is not None and value.shape[0] != length:
        raise ValueError(f"{where}: {name} has {value.shape[0]} entries, expected {length}")


def _check_count(where: str, name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r:.80}")
    return int(value)


class NotFittedError(ValueError, AttributeError):
    """A transformer was used before ``fit`` (scikit-learn's exception of the same name)."""


class _Transformer:
    """Shared plumbing: parameters, fitted check, ``fit_transform`` and the JSON config."""

    _params: tuple[str, ...] = ()
    _tuple_params: tuple[str, ...] = ()
    _fitted: tuple[str, ...] = ()
    _fit_call = "fit(X)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, by name."""
        return {name: getattr(self, name) for name in self._params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _is_fitted(self) -> bool:
        return all(hasattr(self, name) for name in self._fitted)

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            name = type(self).__name__
            raise NotFittedError(f"{name} is not fitted: call {self._fit_call} first")

    def fit_transform(self, X: ArrayLike, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y, **fit_params)`` then ``transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def to_config(self) -> dict[str, Any]:
        """JSON-serialisable dict: class name, constructor arguments, fitted attributes.

        Returns:
            ``{"class": str, "params": dict, "attributes": dict}``; ``attributes`` is empty
            before ``fit``.
        """
        attributes = {}
        if self._is_fitted():
            attributes = {name: _encode(str(value) if isinstance(value, np.dtype) else value)
                          for name, value in ((n, getattr(self, n)) for n in self._fitted)}
        params = {name: _encode(value) for name, value in self.get_params().items()}
        return {"class": type(self).__name__, "params": params, "attributes": attributes}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Transformer:
        """Rebuild a transformer from :meth:`to_config`'s dict (nothing in it is executed).

        Raises:
            ValueError: not a config of this class, unknown keys, or attributes of the wrong
                type or shape.
        """
        where = "from_config" if cls is _Transformer else f"{cls.__name__}.from_config"
        if not isinstance(config, dict) or not set(config) <= {"class", "params", "attributes"}:
            raise ValueError(f"{where}: expected a dict with keys class, params, attributes")
        name = config.get("class")
        target = _REGISTRY.get(name) if isinstance(name, str) else None
        if target is None:
            raise ValueError(f"{where}: unknown class {name!r:.80}; expected one of "
                             f"{sorted(_REGISTRY)}")
        if cls is not _Transformer and target is not cls:
            raise ValueError(f"{where}: the config is for {name}, not {cls.__name__}")
        params, attributes = config.get("params", {}), config.get("attributes", {})
        if not isinstance(params, dict) or not set(params) <= set(target._params):
            raise ValueError(f"{where}: params must be a dict with keys among {target._params}")
        if not isinstance(attributes, dict):
            raise ValueError(f"{where}: attributes must be a dict")
        params = {k: _decode(v, where) for k, v in params.items()}
        for key in set(target._tuple_params) & set(params):
            if isinstance(params[key], list):
                params[key] = tuple(params[key])
        try:
            obj = target(**params)
        except TypeError as error:
            raise ValueError(f"{where}: bad params: {error}") from None
        if attributes:
            if set(attributes) != set(target._fitted):
                raise ValueError(f"{where}: fitted attributes must be exactly "
                                 f"{sorted(target._fitted)}, got {sorted(attributes)}")
            for key, value in attributes.items():
                setattr(obj, key, _decode(value, where))
            obj._check_config(where)
        return obj

    def _check_config(self, where: str) -> None:
        raise NotImplementedError


def from_config(config: dict[str, Any]) -> _Transformer:
    """Rebuild any transformer of this module from its ``to_config()`` dict.

    Example:
        >>> scaler = StandardScaler().fit([[0.0], [2.0]])
        >>> from_config(scaler.to_config()).transform([[4.0]]).tolist()
        [[3.0]]
    """
    return _Transformer.from_config(config)


# --------------------------------------------------------------------------- labels


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


# --------------------------------------------------------------------------- feature scalers


def _check_X(X: ArrayLike, func: str, n_features: int | None = None, copy: bool = True,
             allow_nan: bool = True) -> np.ndarray:
    """Validate features ``X`` as a float array ``(n_samples, n_features)`` (a copy by default)."""
    array = _as_array(X, func, "X")
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{func}: X must be numeric, got dtype {array.dtype}") from None
    if array.ndim != 2:
        raise ValueError(f"{func}: expected a 2-D array X of shape (n_samples, n_features), got "
                         f"shape {array.shape}; use X.reshape(-1, 1) for a single feature")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{func}: X of shape {array.shape} is empty")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{func}: X has {array.shape[1]} features, but {func.split('.')[0]} "
                         f"was fitted with {n_features} features (X shape {array.shape})")
    if array.dtype not in _FLOAT_DTYPES:
        array = array.astype(np.float64)
    elif copy or not isinstance(X, np.ndarray):
        array = np.array(array, copy=True)
    if np.isinf(array).any():
        raise ValueError(f"{func}: X contains infinity")
    if not allow_nan and np.isnan(array).any():
        raise ValueError(f"{func}: X contains NaN")
    return array


def _accumulate(op, x: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    """Run a sum-like ``op`` with float64 accumulation for lower-precision floats."""
    if x.dtype.kind == "f" and x.dtype.itemsize < 8:
        if op is np.matmul:
            return op(x.astype(np.float64), *(a.astype(np.float64) for a in args))
        return op(x, *args, dtype=np.float64, **kwargs)
    return op(x, *args, **kwargs)


def _mean_and_var(X: np.ndarray, sample_weight: np.ndarray | None, with_var: bool):
    """Column mean, variance and count, NaNs ignored (corrected two-pass algorithm).

    Chan, Golub & LeVeque: ``var = (sum (x - T)^2 - (sum (x - T))^2 / n) / n`` with
    ``T = sum x / n``; the correction term cancels the rounding error of ``T``.
    """
    nan_mask = np.isnan(X)
    sum_op = np.nansum if nan_mask.any() else np.sum
    if sample_weight is not None:
        total = _accumulate(np.matmul, sample_weight, np.where(nan_mask, 0, X))
        observed = (~nan_mask).astype(sample_weight.dtype)
        count = _accumulate(np.sum, sample_weight[:, None] * observed, axis=0)
    else:
        total = _accumulate(sum_op, X, axis=0)
        count = X.shape[0] - _accumulate(sum_op, nan_mask.astype(X.dtype), axis=0)
    mean = total / count
    if not with_var:
        return mean, None, count
    deviation = X - total / count
    if sample_weight is not None:
        correction = _accumulate(np.matmul, sample_weight, np.where(nan_mask, 0, deviation))
        deviation **= 2
        squares = _accumulate(np.matmul, sample_weight, np.where(nan_mask, 0, deviation))
    else:
        correction = _accumulate(sum_op, deviation, axis=0)
        deviation **= 2
        squares = _accumulate(sum_op, deviation, axis=0)
    squares -= correction**2 / count
    return mean, squares / count, count


class StandardScaler(_Transformer):
    """Standardise features: ``z = (x - mean_) / scale_`` column by column.

    ``scale_`` is the population standard deviation (``ddof=0``); a (near-)constant feature
    gets ``scale_ = 1``. NaNs are ignored in ``fit`` and kept in ``transform``.

    Args:
        with_mean: subtract ``mean_``.
        with_std: divide by ``scale_``.
        copy: work on a copy of ``X`` (False may modify a float ndarray in place).

    Attributes:
        mean_, var_, scale_: per-feature statistics, shape ``(n_features,)`` (``var_`` and
            ``scale_`` None without ``with_std``).
        n_samples_seen_: non-NaN samples per feature (one number when all are equal).
        n_features_in_: number of features seen in ``fit``.

    Shape:
        ``(n_samples, n_features)`` -> same.

    Example:
        >>> StandardScaler().fit_transform([[0.0, 1.0], [2.0, 1.0]]).tolist()
        [[-1.0, 0.0], [1.0, 0.0]]
    """

    _params = ("with_mean", "with_std", "copy")
    _fitted = ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_")

    def __init__(self, with_mean: bool = True, with_std: bool = True, copy: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std
        self.copy = copy

    def fit(self, X: ArrayLike, y: Any = None, sample_weight: ArrayLike | None = None
            ) -> StandardScaler:
        """Compute ``mean_``, ``var_``, ``scale_`` of ``X`` ``(n_samples, n_features)``.

        Args:
            X: training features.
            y: ignored.
            sample_weight: per-sample weights, shape ``(n_samples,)``.
        """
        func = "StandardScaler.fit"
        X = _check_X(X, func, copy=False)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=X.dtype)
            if sample_weight.shape != (X.shape[0],):
                raise ValueError(f"{func}: sample_weight must have shape ({X.shape[0]},), got "
                                 f"{sample_weight.shape}")
            if np.all(sample_weight == 0):
                raise ValueError(f"{func}: sample_weight must contain at least one non-zero "
                                 "number")
        if self.with_mean or self.with_std:
            mean, var, seen = _mean_and_var(X, sample_weight, self.with_std)
        else:
            mean = var = None
            seen = np.zeros(X.shape[1], dtype=np.int64 if sample_weight is None else X.dtype)
            seen += X.shape[0] - np.isnan(X).sum(axis=0)
        if seen.max() == seen.min():
            seen = seen[0]
        scale = None
        if self.with_std:
            eps = np.finfo(np.float64).eps
            constant = var <= seen * eps * var + (seen * mean * eps) ** 2
            scale = np.sqrt(var)
            scale[constant] = 1.0
        self.mean_, self.var_, self.scale_ = mean, var, scale
        self.n_samples_seen_ = seen
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: ArrayLike, copy: bool | None = None) -> np.ndarray:
        """``(X - mean_) / scale_``; ``X`` of shape ``(n_samples, n_features_in_)``."""
        self._check_fitted()
        copy = self.copy if copy is None else copy
        X = _check_X(X, "StandardScaler.transform", self.n_features_in_, copy)
        if self.with_mean:
            X -= self.mean_.astype(X.dtype)
        if self.with_std:
            X /= self.scale_.astype(X.dtype)
        return X

    def inverse_transform(self, X: ArrayLike, copy: bool | None = None) -> np.ndarray:
        """``X * scale_ + mean_``: back to the original units."""
        self._check_fitted()
        copy = self.copy if copy is None else copy
        X = _check_X(X, "StandardScaler.inverse_transform", self.n_features_in_, copy)
        if self.with_std:
            X *= self.scale_.astype(X.dtype)
        if self.with_mean:
            X += self.mean_.astype(X.dtype)
        return X

    def _check_config(self, where: str) -> None:
        n = _check_count(where, "n_features_in_", self.n_features_in_)
        _check_vector(where, "mean_", self.mean_, n, "f", optional=not self.with_mean)
        _check_vector(where, "var_", self.var_, n, "f", optional=not self.with_std)
        _check_vector(where, "scale_", self.scale_, n, "f", optional=not self.with_std)
        seen = self.n_samples_seen_
        if not isinstance(seen, (np.ndarray, np.number, int, float)) or isinstance(seen, bool):
            raise ValueError(f"{where}: bad n_samples_seen_ {seen!r:.80}")


class MinMaxScaler(_Transformer):
    """Scale each feature to ``feature_range``: ``x * scale_ + min_``.

    ``scale_ = (hi - lo) / (data_max_ - data_min_)`` and ``min_ = lo - data_min_ * scale_``;
    a constant feature gets range 1. NaNs are ignored in ``fit`` and kept in ``transform``.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``.
        copy: work on a copy of ``X``.
        clip: clip transformed values to ``feature_range``.

    Attributes:
        data_min_, data_max_, data_range_, scale_, min_: shape ``(n_features,)``.
        n_samples_seen_, n_features_in_: counts from ``fit``.

    Example:
        >>> MinMaxScaler().fit_transform([[1.0], [3.0], [5.0]]).ravel().tolist()
        [0.0, 0.5, 1.0]
    """

    _params = ("feature_range", "copy", "clip")
    _tuple_params = ("feature_range",)
    _fitted = ("data_min_", "data_max_", "data_range_", "scale_", "min_", "n_samples_seen_",
               "n_features_in_")

    def __init__(self, feature_range: tuple[float, float] = (0, 1), copy: bool = True,
                 clip: bool = False) -> None:
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def _range(self, func: str, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        try:
            lo, hi = self.feature_range
            lo, hi = np.asarray(lo, dtype=dtype), np.asarray(hi, dtype=dtype)
        except (TypeError, ValueError):
            raise ValueError(f"{func}: feature_range must be a pair of numbers, got "
                             f"{self.feature_range!r}") from None
        if lo >= hi:
            raise ValueError(f"{func}: minimum of desired feature range must be smaller than "
                             f"maximum, got {tuple(self.feature_range)}")
        return lo, hi

    def fit(self, X: ArrayLike, y: Any = None) -> MinMaxScaler:
        """Compute per-feature minimum and maximum of ``X`` ``(n_samples, n_features)``."""
        func = "MinMaxScaler.fit"
        X = _check_X(X, func, copy=False)
        lo, hi = self._range(func, X.dtype)
        data_min, data_max = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        data_range = data_max - data_min
        safe_range = data_range.copy()
        safe_range[safe_range < 10 * np.finfo(safe_range.dtype).eps] = 1.0
        self.scale_ = (hi - lo) / safe_range
        self.min_ = lo - data_min * self.scale_
        self.data_min_, self.data_max_, self.data_range_ = data_min, data_max, data_range
        self.n_samples_seen_ = X.shape[0]
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """``X * scale_ + min_`` (clipped to ``feature_range`` if ``clip``)."""
        self._check_fitted()
        func = "MinMaxScaler.transform"
        X = _check_X(X, func, self.n_features_in_, self.copy)
        X *= self.scale_
        X += self.min_
        if self.clip:
            lo, hi = self._range(func, X.dtype)
            np.clip(X, lo, hi, out=X)
        return X

    def inverse_transform(self, X: ArrayLike) -> np.ndarray:
        """``(X - min_) / scale_``: back to the original units."""
        self._check_fitted()
        X = _check_X(X, "MinMaxScaler.inverse_transform", self.n_features_in_, self.copy)
        X -= self.min_
        X /= self.scale_
        return X

    def _check_config(self, where: str) -> None:
        n = _check_count(where, "n_features_in_", self.n_features_in_)
        for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
            _check_vector(where, name, getattr(self, name), n, "f")
        _check_count(where, "n_samples_seen_", self.n_samples_seen_)
        self._range(where, self.scale_.dtype)


# --------------------------------------------------------------------------- missing values


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and value != value


def _missing_mask(X: np.ndarray, missing_values: Any) -> np.ndarray:
    if _is_nan(missing_values):
        if X.dtype.kind == "f":
            return np.isnan(X)
        if X.dtype.kind in "iu":
            return np.zeros(X.shape, dtype=bool)
        return np.asarray(X != X, dtype=bool)
    return np.asarray(X == missing_values, dtype=bool)


def _most_frequent(values: np.ndarray) -> Any:
    """Most frequent value; ties go to the smallest (NaN for no values)."""
    if values.size == 0:
        return np.nan
    if values.dtype != object:
        uniques, counts = np.unique(values, return_counts=True)
        return uniques[np.argmax(counts)]
    counter = Counter(values.tolist())
    best = max(counter.values())
    tied = [v for v, c in counter.items() if c == best]
    try:
        return min(tied)
    except TypeError:
        return min(tied, key=lambda v: (str(type(v)), str(v)))


class SimpleImputer(_Transformer):
    """Replace missing values column by column with a statistic of the observed ones.

    Args:
        missing_values: the placeholder for missing entries (``np.nan``, ``None``, a number
            or a string).
        strategy: ``"mean"``, ``"median"``, ``"most_frequent"`` (ties -> smallest value) or
            ``"constant"`` (``fill_value``; default 0 for numbers, ``"missing_value"`` for
            strings). Mean and median need numeric data; the others also take strings.
        fill_value: the constant for ``strategy="constant"``.
        copy: kept for scikit-learn compatibility (``transform`` always returns a new array).
        keep_empty_features: keep all-missing columns (imputed with 0, or ``fill_value``);
            by default they are dropped from ``transform``'s output with a warning.

    Attributes:
        statistics_: the fill value per feature, shape ``(n_features,)`` (NaN for a column
            with no observed value).
        n_features_in_: number of features seen in ``fit``.

    Example:
        >>> SimpleImputer().fit_transform([[1.0, np.nan], [3.0, 4.0]]).tolist()
        [[1.0, 4.0], [3.0, 4.0]]
        >>> imputer = SimpleImputer(missing_values=None, strategy="most_frequent")
        >>> imputer.fit_transform([["a"], [None], ["b"], ["a"]]).tolist()
        [['a'], ['a'], ['b'], ['a']]
    """

    _params = ("missing_values", "strategy", "fill_value", "copy", "keep_empty_features")
    _fitted = ("statistics_", "n_features_in_", "_fit_dtype")
    _STRATEGIES = ("mean", "median", "most_frequent", "constant")

    def __init__(self, missing_values: Any = np.nan, strategy: str = "mean",
                 fill_value: Any = None, copy: bool = True,
                 keep_empty_features: bool = False) -> None:
        self.missing_values = missing_values
        self.strategy = strategy
        self.fill_value = fill_value
        self.copy = copy
        self.keep_empty_features = keep_empty_features

    def _validate(self, X: ArrayLike, in_fit: bool) -> np.ndarray:
        func = f"SimpleImputer.{'fit' if in_fit else 'transform'}"
        if self.strategy not in self._STRATEGIES:
            raise ValueError(f"{func}: strategy must be one of {self._STRATEGIES}, got "
                             f"{self.strategy!r}")
        numeric_only = self.strategy in ("mean", "median")
        if not in_fit and self._fit_dtype.kind == "O":
            dtype = object
        elif not numeric_only and isinstance(X, list) and any(
                isinstance(v, str) for row in X
                for v in (row if isinstance(row, (list, tuple)) else [row])):
            dtype = object
        else:
            dtype = None
        if dtype is object:
            array = np.array(X, dtype=object)
        else:  # np.asarray first: a Tensor's __array__ may hand out its own buffer
            array = np.array(_as_array(X, func, "X"), copy=True)
        if array.dtype.kind in "US":
            array = array.astype(object)
        if numeric_only and array.dtype not in _FLOAT_DTYPES:
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{func}: cannot use {self.strategy} strategy with non-numeric "
                                 f"data: {error}") from None
        if array.ndim != 2:
            raise ValueError(f"{func}: expected a 2-D array X of shape (n_samples, n_features), "
                             f"got shape {array.shape}")
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"{func}: X of shape {array.shape} is empty")
        if array.dtype.kind not in "iufO":
            raise ValueError(f"{func}: unsupported dtype {array.dtype}; use a numeric array or "
                             "an object array of strings")
        if array.dtype.kind == "f" and np.isinf(array).any():
            raise ValueError(f"{func}: X contains infinity")
        if not _is_nan(self.missing_values):
            if np.any(_missing_mask(array, np.nan)):
                raise ValueError(f"{func}: X contains NaN but missing_values="
                                 f"{self.missing_values!r}")
        if array.dtype.kind in "iuf" and not isinstance(self.missing_values, numbers.Real):
            raise ValueError(f"{func}: X is numeric (dtype {array.dtype}) but missing_values="
                             f"{self.missing_values!r} is not a number")
        if in_fit:
            self._fit_dtype = array.dtype
        if self.strategy == "constant" and (not in_fit or self.fill_value is not None):
            try:
                source = np.dtype(type(self.fill_value)) if in_fit else self._fit_dtype
            except TypeError:
                source = np.dtype(object)
            if not np.can_cast(source, array.dtype, casting="same_kind"):
                raise ValueError(f"{func}: fill_value={self.fill_value!r} cannot be cast to the "
                                 f"input data of dtype {array.dtype}")
        return array

    def fit(self, X: ArrayLike, y: Any = None) -> SimpleImputer:
        """Compute ``statistics_`` from ``X`` ``(n_samples, n_features)``."""
        X = self._validate(X, in_fit=True)
        fill = self.fill_value
        if fill is None:
            fill = 0 if X.dtype.kind in "iuf" else "missing_value"
        mask = _missing_mask(X, self.missing_values)
        empty = 0 if self.keep_empty_features else np.nan
        if self.strategy in ("mean", "median"):
            masked = np.ma.masked_array(X, mask=mask)
            reduce = np.ma.mean if self.strategy == "mean" else np.ma.median
            result = reduce(masked, axis=0)
            stats = np.ma.getdata(result)
            stats[np.ma.getmaskarray(result)] = empty
        elif self.strategy == "most_frequent":
            stats = np.empty(X.shape[1], dtype=object if X.dtype == object else np.float64)
            for j in range(X.shape[1]):
                observed = X[~mask[:, j], j]
                stats[j] = 0 if observed.size == 0 and self.keep_empty_features else \
                    _most_frequent(observed)
        else:
            stats = np.full(X.shape[1], fill, dtype=object)
            if not self.keep_empty_features:
                stats[mask.all(axis=0)] = np.nan
        self.statistics_ = stats
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """``X`` with missing entries replaced by ``statistics_`` (all-missing columns dropped).

        Raises:
            ValueError: a different number of features than in ``fit``.
        """
        self._check_fitted()
        X = self._validate(X, in_fit=False)
        if X.shape[1] != self.statistics_.shape[0]:
            raise ValueError(f"SimpleImputer.transform: X has {X.shape[1]} features, but "
                             f"SimpleImputer was fitted with {self.statistics_.shape[0]} features")
        mask = _missing_mask(X, self.missing_values)
        if self.keep_empty_features:
            values = self.statistics_.astype(self._fit_dtype, copy=False)
        else:
            valid = ~_missing_mask(self.statistics_, np.nan)
            values = self.statistics_[valid].astype(self._fit_dtype, copy=False)
            if not valid.all():
                warnings.warn(f"SimpleImputer.transform: skipping features without any observed "
                              f"values: {np.flatnonzero(~valid).tolist()}. At least one "
                              f"non-missing value is needed for imputation with "
                              f"strategy='{self.strategy}'.", UserWarning, stacklevel=2)
                X, mask = X[:, valid], mask[:, valid]
        rows, cols = np.nonzero(mask.T)[::-1]
        X[rows, cols] = np.repeat(values, mask.sum(axis=0))
        return X

    def _check_config(self, where: str) -> None:
        try:
            self._fit_dtype = np.dtype(self._fit_dtype)
        except TypeError:
            raise ValueError(f"{where}: bad _fit_dtype {self._fit_dtype!r:.80}") from None
        if self._fit_dtype.kind not in "iufO" or self.strategy not in self._STRATEGIES:
            raise ValueError(f"{where}: bad _fit_dtype or strategy")
        n = _check_count(where, "n_features_in_", self.n_features_in_)
        _check_vector(where, "statistics_", self.statistics_, n, "ifO")


# --------------------------------------------------------------------------- rows and splits


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
