"""Tensor methods of torch's API beyond the core in tensor.py: Python number protocols
(``__index__``, ``__format__``), ``type``, comparison methods, shape methods (``view_as``,
``expand``, ``repeat``, ``split``, ``chunk``...), arithmetic methods (``add(other, alpha)``,
``pow``, ``norm``...) and the unary math functions (``sin``, ``log1p``, ``floor``...).

Everything here is built from the registered ops (lamina/ops), so gradients need no new code:
``expand`` is an add of zeros (broadcasting; backward sums, as ``unbroadcast``), ``repeat`` an
expand of an interleaved reshape, ``split`` a few slices.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from lamina import dtypes
from lamina.ops import OPS
from lamina.tensor import RETAINED, Tensor, _as_dtype, _operands, _shape_arg, apply, where
from lamina.tensor import maximum as _maximum

T = Tensor


def _method(fn):
    setattr(Tensor, fn.__name__, fn)
    return fn


def _array(x):
    return x._data if isinstance(x, Tensor) else x


# ------------------------------------------------------------------ Python protocols
@_method
def __index__(self) -> int:
    """A one-element integer tensor as an index (``classes[t]``, ``range(t)``)."""
    if self._data.size != 1 or self._data.dtype.kind not in "iub":
        raise TypeError(f"only integer tensors of a single element can be converted to an "
                        f"index, got dtype {self.dtype} and shape {tuple(self.shape)}")
    return int(self._data.item())


@_method
def __format__(self, spec: str) -> str:
    """``format(t, '+.2f')`` formats a 0-d tensor's value (as its ``item()``); other tensors
    format only with an empty spec, as ``str(t)`` (torch's rule)."""
    if self._data.ndim == 0:
        return format(self._data.item(), spec)
    if spec:
        raise TypeError(f"unsupported format string {spec!r} passed to Tensor.__format__ "
                        f"(only a 0-d tensor formats as a number; shape {tuple(self.shape)})")
    return str(self)


@_method
def __iter__(self):
    """The sub-tensors along dimension 0 (``for row in t``), each in the graph.

    Raises:
        TypeError: a 0-d tensor (as torch; Python's fallback would silently yield nothing).
    """
    if self._data.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self._data.shape[0]))


@_method
def __contains__(self, element) -> bool:
    """Whether some element equals ``element`` (``3 in t``)."""
    return bool(np.any(self._data == _array(element)))


@_method
def __invert__(self) -> Tensor:
    if self._data.dtype.kind not in "biu":
        raise TypeError(f"~ (bitwise not) needs a bool or integer tensor, got {self.dtype}")
    return Tensor._wrap(np.invert(self._data))


def _logical(np_fn, name):
    def method(self, other):
        a, b = self._data, _array(other)
        if np.asarray(a).dtype.kind not in "biu" or np.asarray(b).dtype.kind not in "biu":
            raise TypeError(f"{name} needs bool or integer tensors, got {np.asarray(a).dtype} "
                            f"and {np.asarray(b).dtype}")
        return Tensor._wrap(np.asarray(np_fn(a, b)))

    method.__name__ = name
    return method


T.__and__ = T.__rand__ = _logical(np.bitwise_and, "__and__")
T.__or__ = T.__ror__ = _logical(np.bitwise_or, "__or__")
T.__xor__ = T.__rxor__ = _logical(np.bitwise_xor, "__xor__")


@_method
def __floordiv__(self, other) -> Tensor:
    """Floor division (no gradient: piecewise constant)."""
    return Tensor._wrap(np.asarray(np.floor_divide(*(_array(x) for x in _operands(self, other)))))


@_method
def __rfloordiv__(self, other) -> Tensor:
    return Tensor._wrap(np.asarray(np.floor_divide(*(_array(x) for x in _operands(other, self)))))


@_method
def __mod__(self, other) -> Tensor:
    """Remainder with the sign of the divisor, as Python and torch (``a - floor(a/b) * b``)."""
    a, b = _operands(self, other)
    return a - b * apply(OPS["floor"], a / b) if _float(a, b) else \
        Tensor._wrap(np.asarray(np.remainder(_array(a), _array(b))))


def _float(a, b) -> bool:
    return "f" in (np.asarray(_array(a)).dtype.kind, np.asarray(_array(b)).dtype.kind)


# ------------------------------------------------------------------ dtype and facts
@_method
def type(self, dtype=None, non_blocking: bool = False):  # noqa: A001 - torch's name
    """No argument: the legacy type name (``'lamina.FloatTensor'``). With a dtype (or a name
    like ``'torch.DoubleTensor'``): this tensor converted to it, as ``.to(dtype)``."""
    if dtype is None:
        return dtypes.type_name(self.dtype)
    if isinstance(dtype, str) and dtype.endswith("Tensor"):
        dtype = dtypes.from_type_name(dtype)
    return self.to(dtype)


@_method
def is_floating_point(self) -> bool:
    """Whether the dtype is a floating type."""
    return self._data.dtype.kind == "f"


@_method
def element_size(self) -> int:
    """Bytes per element."""
    return self._data.itemsize


@_method
def nelement(self) -> int:
    """The number of elements (``numel``)."""
    return self._data.size


@_method
def ndimension(self) -> int:
    """The number of dimensions (``dim``)."""
    return self._data.ndim


@_method
def contiguous(self, memory_format=None) -> Tensor:
    """This tensor (its array is used as it is; NumPy handles any layout)."""
    return self


@_method
def is_contiguous(self, memory_format=None) -> bool:
    """Whether the array is C-contiguous."""
    return bool(self._data.flags.c_contiguous)


def _dtype_of(method):
    def convert(self) -> Tensor:
        return self.to(method[1])

    convert.__name__ = method[0]
    convert.__doc__ = f"This tensor as {method[1]} (itself if it already is)."
    return convert


for _pair in (("half", dtypes.float16), ("int", dtypes.int32), ("short", dtypes.int16),
              ("bool", dtypes.bool), ("byte", dtypes.uint8), ("char", dtypes.int8)):
    setattr(T, _pair[0], _dtype_of(_pair))


@_method
def long(self) -> Tensor:
    """This tensor as int64 (no gradient: integers are not differentiable)."""
    return self if self.dtype == dtypes.int64 else Tensor._wrap(self._data.astype(np.int64))


def _new(fn_name):
    def method(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        dtype = _as_dtype(dtype) or self.dtype
        return Tensor(getattr(np, fn_name)(_shape_arg(size), dtype), requires_grad=requires_grad)

    method.__name__ = f"new_{fn_name}"
    method.__doc__ = f"A new tensor of ``size`` by ``np.{fn_name}``, in this tensor's dtype."
    return method


T.new_zeros, T.new_ones, T.new_empty = _new("zeros"), _new("ones"), _new("empty")


@_method
def new_full(self, size, fill_value, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """A new tensor of ``size`` filled with ``fill_value``, in this tensor's dtype."""
    return Tensor(np.full(_shape_arg((size,)), fill_value, _as_dtype(dtype) or self.dtype),
                  requires_grad=requires_grad)


@_method
def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor (a copy) of ``data``, in this tensor's dtype unless ``dtype`` is given."""
    array = np.array(_array(data), dtype=_as_dtype(dtype) or self.dtype)
    return Tensor(array, requires_grad=requires_grad)


# ------------------------------------------------------------------ comparisons
def _compare(name: str, dunder: str):
    def method(self, other) -> Tensor:
        return getattr(self, dunder)(other)

    method.__name__ = name
    method.__doc__ = f"Elementwise ``{dunder}`` as a bool tensor (``torch.{name}``)."
    return method


for _name, _dunder in (("eq", "__eq__"), ("ne", "__ne__"), ("lt", "__lt__"), ("le", "__le__"),
                       ("gt", "__gt__"), ("ge", "__ge__"), ("greater", "__gt__"),
                       ("greater_equal", "__ge__"), ("less", "__lt__"),
                       ("less_equal", "__le__"), ("not_equal", "__ne__")):
    setattr(T, _name, _compare(_name, _dunder))


@_method
def equal(self, other) -> bool:
    """True when ``other`` has the same shape and the same values (``torch.equal``)."""
    other = _array(other)
    return self._data.shape == np.shape(other) and bool(np.array_equal(self._data, other))


@_method
def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|self - other| <= atol + rtol |other| elementwise (``torch.isclose``)."""
    return Tensor._wrap(np.isclose(self._data, _array(other), rtol=rtol, atol=atol,
                                   equal_nan=equal_nan))


@_method
def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether :meth:`isclose` holds everywhere (``torch.allclose``)."""
    return bool(np.allclose(self._data, _array(other), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


for _name, _np in (("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite),
                   ("signbit", np.signbit), ("logical_not", np.logical_not)):
    setattr(T, _name, (lambda f: lambda self: Tensor._wrap(np.asarray(f(self._data))))(_np))

for _name, _np in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                   ("logical_xor", np.logical_xor)):
    setattr(T, _name, (lambda f: lambda self, other: Tensor._wrap(
        np.asarray(f(self._data, _array(other)))))(_np))


@_method
def all(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False,
        out=None) -> Tensor:  # noqa: A001
    """Whether every element (along ``dim``) is non-zero, as a bool tensor. (``axis``,
    ``keepdims`` and ``out=None`` are accepted too: ``np.all(t)`` calls this method.)"""
    if out is not None:
        raise TypeError("all: out= is not supported")
    axis = dim if axis is None else axis
    return Tensor._wrap(np.asarray(np.all(self._data, axis=axis,
                                            keepdims=bool(keepdim or keepdims))))


@_method
def any(self, dim=None, keepdim: bool = False, *, axis=None, keepdims: bool = False,
        out=None) -> Tensor:  # noqa: A001
    """Whether some element (along ``dim``) is non-zero, as a bool tensor. (``axis``,
    ``keepdims`` and ``out=None`` are accepted too: ``np.any(t)`` calls this method.)"""
    if out is not None:
        raise TypeError("any: out= is not supported")
    axis = dim if axis is None else axis
    return Tensor._wrap(np.asarray(np.any(self._data, axis=axis,
                                            keepdims=bool(keepdim or keepdims))))


@_method
def nonzero(self, as_tuple: bool = False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or a tuple of 1-D ones."""
    found = np.nonzero(self._data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in found)
    return Tensor._wrap(np.stack(found, axis=1).astype(np.int64) if found else
                        np.zeros((0, 0), np.int64))


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


# ------------------------------------------------------------------ arithmetic
@_method
def add(self, other, *, alpha=1) -> Tensor:
    """self + alpha * other (``torch.add``)."""
    return self + (other if alpha == 1 else other * alpha)


@_method
def sub(self, other, *, alpha=1) -> Tensor:
    """self - alpha * other (``torch.sub``)."""
    return self - (other if alpha == 1 else other * alpha)


T.subtract = sub


@_method
def mul(self, other) -> Tensor:
    """self * other."""
    return self * other


T.multiply = mul


@_method
def div(self, other, *, rounding_mode: str | None = None) -> Tensor:
    """self / other; ``rounding_mode`` 'floor' or 'trunc' rounds the quotient (no gradient
    through the rounding, as torch)."""
    out = self / other
    if rounding_mode is None:
        return out
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got "
                         f"{rounding_mode!r}")
    rounded = apply(OPS["floor" if rounding_mode == "floor" else "trunc"], out)
    a, b = (np.asarray(_array(x)) for x in (self, other))
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return Tensor._wrap(rounded._data.astype(np.result_type(a, b)))
    return rounded


T.divide = T.true_divide = div


@_method
def pow(self, exponent) -> Tensor:  # noqa: A001
    return self ** exponent


@_method
def neg(self) -> Tensor:
    """-self."""
    return -self


T.negative = neg


@_method
def reciprocal(self) -> Tensor:
    """1 / self."""
    return 1.0 / self


@_method
def rsqrt(self) -> Tensor:
    """1 / sqrt(self)."""
    return 1.0 / self.sqrt()


@_method
def square(self) -> Tensor:
    """self * self."""
    return self * self


@_method
def maximum(self, other) -> Tensor:
    """Elementwise maximum; ties split the gradient."""
    return _maximum(self, other)


@_method
def minimum(self, other) -> Tensor:
    """Elementwise minimum, as -maximum(-self, -other)."""
    return -_maximum(-self, -other if isinstance(other, Tensor) else -np.asarray(other))


@_method
def masked_fill(self, mask, value) -> Tensor:
    """``value`` where ``mask`` is true, else ``self`` (differentiable in ``self``)."""
    mask = np.asarray(_array(mask))
    if mask.dtype != np.bool_:
        raise RuntimeError(f"masked_fill: mask must be a bool tensor, got dtype {mask.dtype}")
    fill = np.asarray(_array(value), dtype=self.dtype)
    return where(mask, fill, self)


@_method
def std(self, dim=None, unbiased: bool = True, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation: sqrt(var) (unbiased by default; ``correction`` = 0 or 1)."""
    if correction is not None:
        unbiased = bool(correction)
    return self.var(dim=dim, keepdim=keepdim, unbiased=unbiased).sqrt()


@_method
def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The p-norm (``torch.norm``): (sum |x|^p)^(1/p) over ``dim`` (all elements by default);
    'fro' and 2 are the Euclidean norm, ``inf`` the largest |x|, 0 the count of non-zeros."""
    x = self if dtype is None else self.to(dtype)
    if p == "fro" or p == 2:
        return _root((x * x).sum(dim=dim, keepdim=keepdim), 0.5)
    if p in (math.inf, "inf"):
        return x.abs().amax(dim, keepdim)
    if p == -math.inf:
        return x.abs().amin(dim, keepdim)
    if p == 1:
        return x.abs().sum(dim=dim, keepdim=keepdim)
    if p == 0:
        return Tensor._wrap(np.asarray(np.count_nonzero(x._data, axis=dim, keepdims=keepdim),
                                       dtype=x.dtype))
    if isinstance(p, str):
        raise ValueError(f"norm: p must be a number, 'fro' or inf, got {p!r}")
    return _root((x.abs() ** p).sum(dim=dim, keepdim=keepdim), 1.0 / p)


def _root(total: Tensor, power: float) -> Tensor:
    """total ** power with gradient 0 where total is 0 (torch's subgradient for the norm of a
    zero vector; the plain power would give inf * 0 = nan)."""
    positive = total._data > 0
    if positive.all():
        return total ** power
    return where(positive, total, np.ones((), total.dtype)) ** power * positive.astype(
        total.dtype)


@_method
def dist(self, other, p=2) -> Tensor:
    """The p-norm of self - other."""
    return (self - other).norm(p)


@_method
def prod(self, dim=None, keepdim: bool = False) -> Tensor:
    """Product of the elements (along ``dim``); the gradient of each element is the product of
    the others (exact when some are zero)."""
    if dim is None:
        flat = self.reshape(-1)
        return flat.unbind(0)[0] if flat.shape[0] == 1 else _product(flat.unbind(0))
    pieces = self.unbind(dim)
    out = _product(pieces) if pieces else self.sum(dim=dim) * 0 + 1
    return out.unsqueeze(dim) if keepdim else out


def _product(pieces):
    out = pieces[0]
    for piece in pieces[1:]:
        out = out * piece
    return out


@_method
def cumsum(self, dim: int, dtype=None) -> Tensor:
    """Running sums along ``dim``: out[i] = sum_{j <= i} x[j] (op ``cumsum``, ops/scan.py)."""
    x = self if dtype is None else self.to(dtype)
    if x.dtype.kind != "f":
        return Tensor._wrap(np.cumsum(x._data, axis=dim))
    return apply(OPS["cumsum"], x, axis=dim)


@_method
def ravel(self) -> Tensor:
    """The elements as a 1-D tensor (``reshape(-1)``)."""
    return self.reshape(-1)


@_method
def diff(self, n: int = 1, dim: int = -1) -> Tensor:
    """The n-th forward difference along ``dim``: out[i] = x[i + 1] - x[i], applied n times."""
    out = self
    for _ in range(n):
        size = out.shape[dim]
        out = out.narrow(dim, 1, size - 1) - out.narrow(dim, 0, size - 1)
    return out


@_method
def lerp(self, end, weight) -> Tensor:
    """self + weight (end - self): linear interpolation (``torch.lerp``)."""
    return self + weight * (end - self)


@_method
def addmm(self, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta self + alpha (mat1 @ mat2) (``torch.addmm``)."""
    product = mat1 @ mat2
    return (self if beta == 1 else self * beta) + (product if alpha == 1 else product * alpha)


@_method
def logsumexp(self, dim, keepdim: bool = False) -> Tensor:
    """log sum_i e^{x_i} along ``dim``, computed shifted by the (constant) maximum so that it
    never overflows; its gradient is the softmax along ``dim``."""
    shift = Tensor._wrap(np.max(self._data, axis=dim, keepdims=True))
    shift._data[~np.isfinite(shift._data)] = 0
    out = (self - shift).exp().sum(dim=dim, keepdim=True).log() + shift
    return out if keepdim else out.squeeze(dim)


@_method
def diag(self, diagonal: int = 0) -> Tensor:
    """A 1-D tensor -> the square matrix with it on diagonal ``diagonal``; a 2-D tensor -> its
    diagonal ``diagonal`` as a 1-D tensor (``torch.diag``); differentiable."""
    if self.ndim == 1:
        n = self.shape[0] + abs(diagonal)
        rows = np.arange(self.shape[0]) + max(-diagonal, 0)
        cols = np.arange(self.shape[0]) + max(diagonal, 0)
        placed = np.zeros((n, self.shape[0]), self.dtype)
        placed[rows, np.arange(self.shape[0])] = 1
        picked = np.zeros((self.shape[0], n), self.dtype)
        picked[np.arange(self.shape[0]), cols] = 1
        return (Tensor._wrap(placed) * self) @ Tensor._wrap(picked)
    if self.ndim != 2:
        raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got {self.ndim} dimensions")
    rows, cols = self.shape
    start_r, start_c = max(-diagonal, 0), max(diagonal, 0)
    length = max(min(rows - start_r, cols - start_c), 0)
    return self[np.arange(length) + start_r, np.arange(length) + start_c]


@_method
def trace(self) -> Tensor:
    """The sum of the main diagonal of a 2-D tensor."""
    return self.diag().sum()


@_method
def roll(self, shifts, dims=None) -> Tensor:
    """Shift elements cyclically by ``shifts`` along ``dims`` (the flattened tensor when
    None), as ``torch.roll``; differentiable (a gather)."""
    if dims is None:
        return self.reshape(-1).roll(shifts, 0).reshape(self.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    out = self
    for shift, dim in zip(shifts, dims, strict=True):
        out = out.index_select(dim, np.roll(np.arange(self.shape[dim]), shift))
    return out


@_method
def type_as(self, other: Tensor) -> Tensor:
    """This tensor converted to ``other``'s dtype."""
    return self.to(other.dtype)


@_method
def count_nonzero(self, dim=None) -> Tensor:
    """The number of non-zero elements (along ``dim``), int64."""
    return Tensor._wrap(np.asarray(np.count_nonzero(self._data, axis=dim), dtype=np.int64))


@_method
def unique(self, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct elements, sorted (``torch.unique``); with ``return_inverse`` the index of
    each element's value among them, with ``return_counts`` how often each occurs."""
    if dim is not None:
        raise NotImplementedError("unique: dim= is not supported by lamina")
    values, inverse, counts = np.unique(self._data, return_inverse=True, return_counts=True)
    out = [Tensor._wrap(values)]
    if return_inverse:
        out.append(Tensor._wrap(inverse.reshape(self.shape).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@_method
def bincount(self, weights=None, minlength: int = 0) -> Tensor:
    """Counts of each non-negative integer in a 1-D tensor (weighted sums with ``weights``)."""
    if self.ndim != 1 or self.dtype.kind not in "iu":
        raise RuntimeError(f"bincount: expected a 1-D integer tensor, got dtype {self.dtype} "
                           f"and shape {tuple(self.shape)}")
    w = None if weights is None else _array(weights)
    out = np.bincount(self._data, weights=w, minlength=minlength)
    return Tensor._wrap(out if w is not None else out.astype(np.int64))


# ------------------------------------------------------------------ unary math
def _unary(name: str, op: str):
    fn = OPS[op]

    def method(self) -> Tensor:
        return apply(fn, self)

    method.__name__ = name
    method.__doc__ = f"Elementwise {name} (op ``{op}`` in lamina/ops/unary.py)."
    setattr(T, name, method)


for _name, _op in (("sin", "sin"), ("cos", "cos"), ("tan", "tan"), ("asin", "arcsin"),
                   ("arcsin", "arcsin"), ("acos", "arccos"), ("arccos", "arccos"),
                   ("atan", "arctan"), ("arctan", "arctan"), ("sinh", "sinh"),
                   ("cosh", "cosh"), ("log1p", "log1p"), ("expm1", "expm1"), ("log2", "log2"),
                   ("log10", "log10"), ("floor", "floor"), ("ceil", "ceil"), ("round", "rint"),
                   ("trunc", "trunc"), ("fix", "trunc"), ("sign", "sign")):
    _unary(_name, _op)


@_method
def frac(self) -> Tensor:
    """The fractional part, self - trunc(self) (gradient 1)."""
    return self - self.trunc()


@_method
def exp2(self) -> Tensor:
    """2 ** self."""
    return 2.0 ** self


@_method
def clamp_min(self, min) -> Tensor:  # noqa: A002
    """self clamped from below at ``min``."""
    return self.clamp(min=min)


@_method
def clamp_max(self, max) -> Tensor:  # noqa: A002
    """self clamped from above at ``max``."""
    return self.clamp(max=max)


T.__round__ = lambda self, ndigits=None: (self.round() if ndigits is None
                                          else Tensor._wrap(np.round(self._data, ndigits)))

del type, all, any, pow  # the Tensor methods keep them; this module needs the builtins


# ------------------------------------------------------------------ graph introspection
class GradFn:
    """What torch shows as ``t.grad_fn``: the node that made a tensor (``<MulBackward0 ...>``);
    ``name()`` gives the name, ``next_functions`` the input nodes (None for constants,
    ``AccumulateGrad`` for leaves that require grad)."""

    __slots__ = ("_tensor",)

    def __init__(self, tensor: Tensor) -> None:
        self._tensor = tensor

    def name(self) -> str:
        """The node's name: the op's, CamelCased, + ``Backward0`` (``MulBackward0``)."""
        op = getattr(self._tensor._backward, "__qualname__", "Function").split(".")[0]
        return "".join(part[:1].upper() + part[1:] for part in op.split("_")) + "Backward0"

    @property
    def next_functions(self) -> tuple:
        out = []
        for parent in self._tensor._parents:
            if parent is None:
                out.append((None, 0))
            elif parent._backward is None:
                out.append((_AccumulateGrad(parent), 0))
            else:
                out.append((GradFn(parent), 0))
        return tuple(out)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self._tensor))}>"


class _AccumulateGrad:
    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self.variable))}>"


T.grad_fn = property(lambda self: None if self._backward is None else GradFn(self),
                     doc="The node that computed this tensor (None for a leaf), as torch's.")


def _forget(key: int) -> None:
    RETAINED.pop(key, None)


@_method
def retain_grad(self) -> None:
    """Keep this non-leaf tensor's gradient in ``.grad`` at the next backward passes (leaves
    keep theirs anyway), as torch."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
    if self._backward is not None and id(self) not in RETAINED:
        key = id(self)
        RETAINED[key] = weakref.ref(self, lambda _ref: _forget(key))


T.retains_grad = property(lambda self: self._backward is not None and id(self) in RETAINED
                          and RETAINED[id(self)]() is self,
                          doc="Whether retain_grad() was called on this non-leaf tensor.")
