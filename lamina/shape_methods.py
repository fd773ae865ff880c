"""Shape and linear-algebra methods of torch's Tensor API (``view_as``, ``expand``, ``repeat``,
``split``, ``chunk``, ``unbind``, ``narrow``, ``flip``, ``t``, ``movedim``, ``mm``, ``bmm``,
``dot``, ``outer``...), installed on :class:`lamina.Tensor`.

All are built from the registered ops, so gradients need no new code: ``expand`` is an add of
zeros (broadcasting; backward sums, as ``unbroadcast``), ``repeat`` an expand of an
interleaved reshape, ``split`` a few slices.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.tensor import Tensor, _shape_arg

T = Tensor


def _method(fn):
    setattr(Tensor, fn.__name__, fn)
    return fn


def _array(x):
    return x._data if isinstance(x, Tensor) else x


# ------------------------------------------------------------------ shape
@_method
def view_as(self, other: Tensor) -> Tensor:
    """This tensor reshaped to ``other``'s shape."""
    return self.reshape(other.shape)


T.reshape_as = view_as


@_method
def expand(self, *sizes) -> Tensor:
    """This tensor broadcast to ``sizes`` (-1 keeps a dimension; new dimensions go in front),
    as ``torch.expand``. The result is a copy (NumPy: no shared strided view), so writing into
    it does not write into ``self``; gradients sum over the broadcast dimensions."""
    sizes = _shape_arg(sizes)
    shape = self.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                           f"number of dimensions ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = tuple(shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    for i, n in enumerate(shape):
        if n != 1 and target[lead + i] != n:
            raise RuntimeError(f"expand: the size of dimension {lead + i} ({target[lead + i]}) "
                               f"must match the existing size ({n}) unless that is 1; shape "
                               f"{tuple(shape)} cannot expand to {tuple(sizes)}")
    if target == tuple(shape):
        return self
    return self + np.zeros(target, self.dtype)


@_method
def expand_as(self, other: Tensor) -> Tensor:
    """This tensor broadcast to ``other``'s shape (see :meth:`expand`)."""
    return self.expand(other.shape)


@_method
def repeat(self, *sizes) -> Tensor:
    """Tile this tensor ``sizes[i]`` times along each dimension (``torch.repeat``, NumPy's
    ``tile``); extra leading sizes add dimensions. Built as reshape -> expand -> reshape:
    (a, b) repeated (r, s) is (1, a, 1, b) -> (r, a, s, b) -> (r*a, s*b)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError(f"repeat: the number of repeats ({len(sizes)}) must be at least the "
                           f"number of dimensions ({self.ndim})")
    shape = (1,) * (len(sizes) - self.ndim) + tuple(self.shape)
    interleaved = tuple(x for n in shape for x in (1, n))
    expanded = tuple(x for r, n in zip(sizes, shape, strict=True) for x in (r, n))
    out = self.reshape(interleaved).expand(expanded)
    return out.reshape(tuple(r * n for r, n in zip(sizes, shape, strict=True)))


@_method
def split(self, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of ``split_size`` each (the last may be smaller) or of the given
    list of sizes (``torch.split``); each piece is a slice, so gradients flow back."""
    n = self.shape[dim]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise RuntimeError(f"split: split_size must be positive, got "
                               f"{split_size_or_sections}")
        step = split_size_or_sections
        sections = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sections = [int(s) for s in split_size_or_sections]
        if sum(sections) != n:
            raise RuntimeError(f"split: sizes {sections} sum to {sum(sections)}, but dimension "
                               f"{dim} has size {n}")
    lead = (slice(None),) * (dim % self.ndim)
    out, start = [], 0
    for size in sections:
        out.append(self[lead + (slice(start, start + size),)])
        start += size
    return tuple(out)


@_method
def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer when they run out, as
    ``torch.chunk``)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be positive, got {chunks}")
    return self.split(max(1, math.ceil(self.shape[dim] / chunks)), dim)


@_method
def tensor_split(self, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``n`` near-equal pieces (the first ones one larger) or at the given indices."""
    n = self.shape[dim]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    else:
        bounds = [0] + [min(int(i), n) for i in indices_or_sections] + [n]
        sizes = [max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return self.split(sizes, dim)


@_method
def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each without that dimension."""
    lead = (slice(None),) * (dim % self.ndim)
    return tuple(self[lead + (i,)] for i in range(self.shape[dim]))


@_method
def narrow(self, dim: int, start: int, length: int) -> Tensor:
    """``length`` elements from ``start`` along ``dim``."""
    return self[(slice(None),) * (dim % self.ndim) + (slice(start, start + length),)]


@_method
def flip(self, *dims) -> Tensor:
    """Reverse the order along ``dims``."""
    dims = {d % self.ndim for d in _shape_arg(dims)}
    return self[tuple(slice(None, None, -1) if i in dims else slice(None)
                      for i in range(self.ndim))]


@_method
def t(self) -> Tensor:
    """The transpose of a tensor of at most 2 dimensions (``torch.t``)."""
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, got {self.ndim}; use "
                           f"transpose(dim0, dim1) or mT")
    return self if self.ndim < 2 else self.transpose(0, 1)


T.mT = property(lambda self: self.transpose(-2, -1))


@_method
def swapaxes(self, axis0: int, axis1: int) -> Tensor:
    """Swap two dimensions (``transpose(axis0, axis1)``)."""
    return self.transpose(axis0, axis1)


T.swapdims = swapaxes


@_method
def movedim(self, source: int, destination: int) -> Tensor:
    """Move dimension ``source`` to position ``destination``."""
    order = list(range(self.ndim))
    order.insert(destination % self.ndim, order.pop(source % self.ndim))
    return self.permute(order)


# ------------------------------------------------------------------ linear algebra
@_method
def matmul(self, other) -> Tensor:
    """Matrix product with NumPy's broadcasting rules (``self @ other``)."""
    return self @ other


@_method
def mm(self, other: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors (``torch.mm``)."""
    if self.ndim != 2 or np.ndim(_array(other)) != 2:
        raise RuntimeError(f"mm: expected two 2-D tensors, got shapes {tuple(self.shape)} and "
                           f"{np.shape(_array(other))}")
    return self @ other


@_method
def bmm(self, other: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (``torch.bmm``)."""
    if self.ndim != 3 or np.ndim(_array(other)) != 3:
        raise RuntimeError(f"bmm: expected two 3-D tensors, got shapes {tuple(self.shape)} and "
                           f"{np.shape(_array(other))}")
    return self @ other


@_method
def mv(self, vec: Tensor) -> Tensor:
    """Matrix-vector product."""
    return self @ vec


@_method
def dot(self, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors."""
    if self.ndim != 1 or np.ndim(_array(other)) != 1:
        raise RuntimeError("dot: expected two 1-D tensors")
    return self @ other


@_method
def outer(self, other: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: out[i, j] = self[i] other[j]."""
    return self.reshape(-1, 1) * other.reshape(1, -1)


