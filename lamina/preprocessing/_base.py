"""The transformers' shared base: parameters, fitted check and the JSON config.

``to_config()`` / ``from_config(config)`` store a transformer as
``{"class": name, "params": {...}, "attributes": {...}}`` with arrays and non-finite floats in
:mod:`lamina.codec`'s one encoding (the same as in model files).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.codec import decode, encode

ArrayLike = Any
_REGISTRY: dict[str, type[_Transformer]] = {}
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.float16))


def _encode(value: Any) -> Any:
    return encode(value, where="to_config")


def _decode(value: Any, where: str) -> Any:
    return decode(value, where=where)


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
        >>> from lamina.preprocessing import StandardScaler
        >>> scaler = StandardScaler().fit([[0.0], [2.0]])
        >>> from_config(scaler.to_config()).transform([[4.0]]).tolist()
        [[3.0]]
    """
    return _Transformer.from_config(config)
