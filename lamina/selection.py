"""Selecting elements by value or index: ``max``/``min`` (with a ``dim``: torch's
``(values, indices)`` named tuples), ``sort``, ``argsort``, ``topk``, ``kthvalue``, ``median``,
``mode``, ``gather``, ``index_select``, ``amax``/``amin``, installed as Tensor methods.

The values are read out of the input by index (the ``getitem`` op), so gradients flow to the
selected elements only, as in torch; ``t.max()`` without a dim is the ``max`` reduction (ties
share the gradient, as torch's).
"""

from __future__ import annotations

import builtins

import numpy as np

from lamina.ops import OPS
from lamina.tensor import Tensor, apply, maximum

_GETITEM = OPS["getitem"]


def _return_types():
    """:mod:`lamina.return_types`, imported on first use: its named tuples cost about 1 ms
    to create, a tenth of ``import lamina``."""
    from lamina import return_types

    return return_types


def take_along(x: Tensor, indices: np.ndarray, dim: int) -> Tensor:
    """``x``'s elements at ``indices`` along ``dim`` (``out[i][j][k] = x[i][indices[i][j][k]][k]``
    for dim 1: ``torch.gather``); ``indices`` has ``x``'s number of dimensions, and its size
    along each other dimension is at most ``x``'s. Differentiable in ``x``."""
    ndim = indices.ndim
    dim = dim % ndim if ndim else 0
    index = tuple(indices if axis == dim else
                  np.arange(n).reshape((1,) * axis + (n,) + (1,) * (ndim - axis - 1))
                  for axis, n in enumerate(indices.shape))
    return apply(_GETITEM, x, index=index)


def _dim(x: Tensor, dim: int, where: str) -> int:
    ndim = builtins.max(x.ndim, 1)
    if not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise IndexError(f"{where}: dim {dim!r} is out of range for a tensor of shape "
                         f"{tuple(x.shape)} (expected an int in [{-ndim}, {ndim - 1}])")
    return int(dim) % ndim


def _pair(x: Tensor, indices: np.ndarray, dim: int, keepdim: bool, kind):
    """(values, indices) for ``indices`` kept along ``dim`` with size 1."""
    if x.ndim == 0:
        return kind(x.reshape(()), Tensor._wrap(np.zeros((), np.int64)))
    values = take_along(x, indices, dim)
    if not keepdim:
        values = values.squeeze(dim)
        indices = np.squeeze(indices, axis=dim)
    return kind(values, Tensor._wrap(indices.astype(np.int64, copy=False)))


def _extreme(self: Tensor, dim, keepdim, axis, keepdims, np_arg, op: str, kind):
    if isinstance(dim, Tensor):  # t.max(other): elementwise
        return maximum(self, dim) if op == "max" else -maximum(-self, -dim)
    if axis is not None or isinstance(dim, (tuple, list)):  # NumPy style: the values only
        axis = dim if axis is None else axis
        return apply(OPS[op], self, axis=tuple(axis) if isinstance(axis, list) else axis,
                     keepdims=bool(keepdims or keepdim))
    if dim is None:
        if self._data.size == 0:
            raise RuntimeError(f"{op}(): expected a non-empty tensor (a reduction over no "
                               f"elements has no identity); pass dim= for an empty dimension")
        return apply(OPS[op], self)
    dim = _dim(self, dim, op)
    if self.ndim == 0:
        return _pair(self, None, dim, keepdim, kind)
    return _pair(self, np_arg(self._data, axis=dim, keepdims=True), dim,
                 bool(keepdim or keepdims), kind)


def max(self: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):  # noqa: A001
    """The maximum (torch semantics).

    ``t.max()``: a 0-d tensor. ``t.max(dim, keepdim=False)``: a named tuple ``(values,
    indices)`` along ``dim`` (indices of the first maximum, int64). ``t.max(other)``: the
    elementwise maximum. ``t.max(axis=...)`` (NumPy style, no indices) gives the values only.
    """
    return _extreme(self, dim, keepdim, axis, keepdims, np.argmax, "max", _return_types().max)


def min(self: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False):  # noqa: A001
    """The minimum: as :func:`max`, with ``argmin``."""
    return _extreme(self, dim, keepdim, axis, keepdims, np.argmin, "min", _return_types().min)


def amax(self: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The maximum over ``dim`` (an int, a tuple, or None for all), values only; ties share
    the gradient (``torch.amax``)."""
    return apply(OPS["max"], self, axis=tuple(dim) if isinstance(dim, list) else dim,
                 keepdims=keepdim)


def amin(self: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The minimum over ``dim``, values only (``torch.amin``)."""
    return apply(OPS["min"], self, axis=tuple(dim) if isinstance(dim, list) else dim,
                 keepdims=keepdim)


def argsort(self: Tensor, dim: int = -1, descending: bool = False,
            stable: bool = False) -> Tensor:
    """Indices that sort ``self`` along ``dim`` (int64; ties keep their order, which also
    satisfies ``stable=True``)."""
    if self.ndim == 0:
        return Tensor._wrap(np.zeros((), np.int64))
    dim = _dim(self, dim, "argsort")
    a = self._data
    if descending:
        if a.dtype.kind in "bu":
            a = a.astype(np.int64)
        # -a keeps equal elements in their order; NaN sorts first, as torch's descending sort
        a = np.where(np.isnan(a), -np.inf, -a) if a.dtype.kind == "f" else -a
    return Tensor._wrap(np.argsort(a, axis=dim, kind="stable").astype(np.int64, copy=False))


def sort(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` sorted along ``dim`` (a named tuple, as ``torch.sort``)."""
    indices = argsort(self, dim, descending)._data
    if self.ndim == 0:
        return _return_types().sort(self.reshape(()), Tensor._wrap(indices))
    return _return_types().sort(take_along(self, indices, dim), Tensor._wrap(indices))


def topk(self: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` as ``(values,
    indices)``, largest first.

    Raises:
        RuntimeError: ``k`` is larger than the size of ``dim`` (as torch).
    """
    dim = _dim(self, dim, "topk")
    n = self.shape[dim] if self.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {dim} of size {n}")
    if self.ndim == 0:
        return _return_types().topk(self.reshape(()), Tensor._wrap(np.zeros((), np.int64)))
    order = argsort(self, dim, descending=largest)._data
    indices = np.take(order, np.arange(k), axis=dim)
    return _return_types().topk(take_along(self, indices, dim), Tensor._wrap(indices))


def kthvalue(self: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest element (1-based) along ``dim`` as ``(values, indices)``."""
    dim = _dim(self, dim, "kthvalue")
    n = self.shape[dim] if self.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue: k ({k}) is out of range for dimension {dim} of size {n}")
    if self.ndim == 0:
        return _pair(self, None, dim, keepdim, _return_types().kthvalue)
    order = argsort(self, dim)._data
    return _pair(self, np.take(order, [k - 1], axis=dim), dim, keepdim, _return_types().kthvalue)


def median(self: Tensor, dim=None, keepdim: bool = False):
    """The median; for an even count the lower of the two middle values (torch's rule, not the
    mean of the two). No dim: a 0-d tensor; with ``dim``: ``(values, indices)``."""
    if dim is None:
        if self._data.size == 0:
            raise RuntimeError("median(): expected a non-empty tensor")
        flat = self.reshape(-1)
        return kthvalue(flat, (flat.shape[0] + 1) // 2, 0).values
    dim = _dim(self, dim, "median")
    n = self.shape[dim] if self.ndim else 1
    values, indices = kthvalue(self, (n + 1) // 2, dim, keepdim)
    return _return_types().median(values, indices)


def mode(self: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence, as ``(values, indices)`` (torch's CPU result)."""
    dim = _dim(self, dim, "mode")
    if self.ndim == 0:
        return _pair(self, None, dim, keepdim, _return_types().mode)
    moved = np.moveaxis(self._data, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    best = np.empty(len(rows), np.int64)
    for r, row in enumerate(rows):
        values, counts = np.unique(row, return_counts=True)  # sorted: argmax picks the smallest
        value = values[np.argmax(counts)]
        best[r] = np.flatnonzero(row == value)[-1]
    indices = np.expand_dims(best.reshape(moved.shape[:-1]), dim)
    return _pair(self, indices, dim, keepdim, _return_types().mode)


def gather(self: Tensor, dim: int, index) -> Tensor:
    """``out[i][j] = self[i][index[i][j]]`` for dim 1 (``torch.gather``): ``index`` (int) has
    ``self``'s number of dimensions; the output has ``index``'s shape."""
    index = np.asarray(index._data if isinstance(index, Tensor) else index)
    if index.dtype.kind not in "iu" or index.ndim != self.ndim:
        raise RuntimeError(f"gather: index must be an integer tensor with {self.ndim} "
                           f"dimensions like the input, got dtype {index.dtype} and shape "
                           f"{index.shape}")
    return take_along(self, index, _dim(self, dim, "gather"))


def take_along_dim(self: Tensor, indices, dim: int | None = None) -> Tensor:
    """The elements at ``indices`` along ``dim`` (``torch.take_along_dim``; the flattened
    tensor when ``dim`` is None), as the indices returned by ``argsort``/``argmax(keepdim)``."""
    index = np.asarray(indices._data if isinstance(indices, Tensor) else indices)
    if dim is None:
        return apply(_GETITEM, self.reshape(-1), index=index.reshape(-1))
    dim = _dim(self, dim, "take_along_dim")
    shape = list(np.broadcast_shapes(
        tuple(n if i != dim else 1 for i, n in enumerate(self.shape)),
        tuple(n if i != dim else 1 for i, n in enumerate(index.shape))))
    shape[dim] = index.shape[dim]
    return take_along(self, np.broadcast_to(index, shape), dim)


def index_select(self: Tensor, dim: int, index) -> Tensor:
    """The slices ``index`` (a 1-D integer tensor) along ``dim`` (``torch.index_select``)."""
    index = np.asarray(index._data if isinstance(index, Tensor) else index)
    if index.dtype.kind not in "iu" or index.ndim > 1:
        raise RuntimeError(f"index_select: index must be a 1-D integer tensor, got dtype "
                           f"{index.dtype} and shape {index.shape}")
    dim = _dim(self, dim, "index_select")
    return apply(_GETITEM, self, index=(slice(None),) * dim + (index.reshape(-1),))


METHODS = (max, min, amax, amin, argsort, sort, topk, kthvalue, median, mode, gather,
           index_select, take_along_dim)
for _fn in METHODS:
    setattr(Tensor, _fn.__name__, _fn)
