"""Arithmetic and math methods of torch's Tensor API (``add(other, alpha)``, ``div(rounding_mode)``,
``pow``, ``masked_fill``, ``std``, ``norm``, ``prod``, ``cumsum``, ``logsumexp``, ``diag``,
``roll``, ``unique``..., and the unary functions ``sin``, ``log1p``, ``floor``...), installed on
:class:`lamina.Tensor`. Built from the registered ops (lamina/ops), so gradients need no new
code.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.ops import OPS
from lamina.tensor import Tensor, apply, where
from lamina.tensor import maximum as _maximum

T = Tensor


def _method(fn):
    setattr(Tensor, fn.__name__, fn)
    return fn


def _array(x):
    return x._data if isinstance(x, Tensor) else x


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


del pow  # the Tensor method keeps it; this module needs the builtin
