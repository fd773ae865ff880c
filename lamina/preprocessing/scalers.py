"""Feature scalers: :class:`StandardScaler`, :class:`MinMaxScaler`."""

from __future__ import annotations

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
