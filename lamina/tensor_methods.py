"""Tensor methods of torch's API beyond the core in tensor.py: Python protocols
(``__index__``, ``__format__``, ``__iter__``, bitwise operators), ``type`` and the dtype
conversions, ``new_*``, comparison and logical methods, ``grad_fn`` and ``retain_grad``.
(Shape methods: shape_methods.py; arithmetic and math: math_methods.py; selection:
selection.py; in-place methods: inplace.py.)
"""

from __future__ import annotations

import weakref

import numpy as np

from lamina import dtypes
from lamina.ops import OPS
from lamina.tensor import RETAINED, Tensor, _as_dtype, _operands, _shape_arg, apply

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


del type, all, any  # the Tensor methods keep them; this module needs the builtins


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
