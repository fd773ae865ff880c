"""Missing values: :class:`SimpleImputer`."""

from __future__ import annotations

import numbers
import warnings
from collections import Counter
from typing import Any

import numpy as np

from lamina.labels import as_array as _as_array
from lamina.preprocessing._base import (
    _FLOAT_DTYPES,
    ArrayLike,
    _check_count,
    _check_vector,
    _Transformer,
)


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
