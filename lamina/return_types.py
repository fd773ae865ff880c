"""The named tuples that torch's selection functions return (``torch.return_types``):
``t.max(dim)`` gives ``max(values, indices)``, which unpacks as ``values, indices = ...`` and
reads as ``.values`` / ``.indices``."""

from __future__ import annotations

from typing import Any, NamedTuple


def _repr(self) -> str:
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self,
                                                                     strict=True))
    return f"lamina.return_types.{type(self).__name__}(\n{fields})"


class max(NamedTuple):  # noqa: N801 - torch's names
    values: Any
    indices: Any

    __repr__ = _repr


class min(NamedTuple):  # noqa: N801
    values: Any
    indices: Any

    __repr__ = _repr


class sort(NamedTuple):  # noqa: N801
    values: Any
    indices: Any

    __repr__ = _repr


class topk(NamedTuple):  # noqa: N801
    values: Any
    indices: Any

    __repr__ = _repr


class median(NamedTuple):  # noqa: N801
    values: Any
    indices: Any

    __repr__ = _repr


class kthvalue(NamedTuple):  # noqa: N801
    values: Any
    indices: Any

    __repr__ = _repr


class mode(NamedTuple):  # noqa: N801
    values: Any
    indices: Any

    __repr__ = _repr


class aminmax(NamedTuple):  # noqa: N801
    min: Any
    max: Any

    __repr__ = _repr
