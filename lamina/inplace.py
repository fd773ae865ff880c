"""In-place Tensor methods (``zero_``, ``fill_``, ``add_``, ``mul_``, ``clamp_``, ``copy_``,
``normal_``, ``uniform_``, ``masked_fill_``...), with torch's rules:

- each bumps the tensor's version counter (``_version``) and returns the tensor itself;
- the tensor keeps its dtype (a float64 operand is cast into a float32 tensor);
- while grad mode is on, a leaf that requires grad cannot be modified (RuntimeError, as torch:
  its gradient would be wrong); update it inside ``lm.no_grad()`` or through ``t.data``;
- a tensor outside the graph that takes an operand requiring grad (``buf.add_(w)``) joins the
  graph: it becomes the result node, as in torch;
- a non-leaf tensor in the graph (an intermediate result) cannot be modified in place while
  grad mode is on: lamina's graph cannot rewrite a node that later nodes may already use, so
  this raises a RuntimeError naming the out-of-place form to use instead.
"""

from __future__ import annotations

import numpy as np

from lamina.tensor import Tensor, _grad_enabled, _rng


def _array(x):
    return x._data if isinstance(x, Tensor) else x


def _tracked(args) -> bool:
    return any(isinstance(a, Tensor) and a.requires_grad for a in args)


def _check(self: Tensor, name: str, args) -> bool:
    """Whether the update must be recorded in the graph (raises where torch would, or where
    lamina cannot)."""
    if not _grad_enabled.get():
        return False
    if self.requires_grad:
        if self._backward is None:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in an "
                               f"in-place operation; do it inside lm.no_grad() or on t.data")
        raise RuntimeError(f"{name}: in-place operation on a tensor that is part of the graph "
                           f"(it requires grad and is not a leaf) is not supported by lamina; "
                           f"use the out-of-place form (e.g. x = x.{name.rstrip('_')}(...))")
    return _tracked(args)


def _transplant(self: Tensor, out: Tensor) -> Tensor:
    """Make ``self`` the graph node ``out`` (values written into self's own array)."""
    np.copyto(self._data, out._data, casting="unsafe")
    self.requires_grad = out.requires_grad
    self._parents, self._backward, self._seq = out._parents, out._backward, out._seq
    self._fresh = out._fresh
    self._bump_version()
    return self


def _inplace(name: str, fast, graph=None):
    """A method that runs ``fast(array, *args)`` on the data in place, or, when an operand
    requires grad, records ``graph(tensor, *args)`` and makes ``self`` its result."""

    def method(self, *args, **kwargs):
        if _check(self, name, (*args, *kwargs.values())):
            if graph is None:
                raise RuntimeError(f"{name}: an operand requires grad, but {name} is not "
                                   f"differentiable")
            return _transplant(self, graph(Tensor._wrap(self._data.copy()), *args, **kwargs))
        fast(self._data, *args, **kwargs)
        self._bump_version()
        return self

    method.__name__ = name
    setattr(Tensor, name, method)
    return method


def _ufunc(ufunc):
    def fast(a, other):
        ufunc(a, _array(other), out=a, casting="unsafe")

    return fast


def _zero(a):
    a[...] = 0


def _fill(a, value):
    a[...] = _array(value)


def _scaled(other, alpha):
    return other if alpha == 1 else other * alpha


def _legacy(other, alpha):
    """torch's deprecated ``add_(scalar, tensor)`` (``p.data.add_(-lr, grad)``)."""
    if isinstance(alpha, Tensor) and not isinstance(other, Tensor):
        return alpha, other
    return other, alpha


def _add(a, other, alpha=1):
    other, alpha = _legacy(other, alpha)
    np.add(a, _array(_scaled(_array(other), alpha)), out=a, casting="unsafe")


def _sub(a, other, alpha=1):
    other, alpha = _legacy(other, alpha)
    np.subtract(a, _array(_scaled(_array(other), alpha)), out=a, casting="unsafe")


def _div(a, other, rounding_mode=None):
    other = _array(other)
    if rounding_mode is None:
        if a.dtype.kind != "f":
            raise RuntimeError(f"div_: result type Float can't be cast to the desired output "
                               f"type {a.dtype} (use rounding_mode='floor' or 'trunc')")
        np.true_divide(a, other, out=a, casting="unsafe")
    elif rounding_mode == "floor":
        np.copyto(a, np.floor_divide(a, other) if a.dtype.kind != "f" else
                  np.floor(a / other), casting="unsafe")
    elif rounding_mode == "trunc":
        np.copyto(a, np.trunc(a / other), casting="unsafe")
    else:
        raise ValueError(f"div_: rounding_mode must be None, 'floor' or 'trunc', got "
                         f"{rounding_mode!r}")


def _clamp(a, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise RuntimeError("clamp_: at least one of min and max must not be None")
    np.clip(a, _array(min), _array(max), out=a, casting="unsafe")


def _copy(a, src, non_blocking=False):
    np.copyto(a, np.broadcast_to(_array(src), a.shape), casting="unsafe")


def _masked_fill(a, mask, value):
    mask = np.asarray(_array(mask))
    if mask.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_: mask must be a bool tensor, got dtype {mask.dtype}")
    a[np.broadcast_to(mask, a.shape)] = _array(value)


def _unary(np_fn):
    def fast(a):
        np.copyto(a, np_fn(a), casting="unsafe")

    return fast


def _sigmoid(a):
    np.copyto(a, 1.0 / (1.0 + np.exp(-a)), casting="unsafe")


def _relu(a):
    np.maximum(a, 0, out=a)


def _add_graph(x, other, alpha=1):
    other, alpha = _legacy(other, alpha)
    return x.add(other, alpha=alpha)


def _sub_graph(x, other, alpha=1):
    other, alpha = _legacy(other, alpha)
    return x.sub(other, alpha=alpha)


_inplace("zero_", _zero)
_inplace("fill_", _fill, lambda x, value: x * 0 + value)
_inplace("add_", _add, _add_graph)
_inplace("sub_", _sub, _sub_graph)
_inplace("mul_", _ufunc(np.multiply), lambda x, other: x * other)
_inplace("div_", _div, lambda x, other, rounding_mode=None: x.div(other,
                                                                   rounding_mode=rounding_mode))
_inplace("pow_", _ufunc(np.power), lambda x, other: x ** other)
_inplace("clamp_", _clamp, lambda x, min=None, max=None: x.clamp(min, max))
Tensor.clip_ = Tensor.clamp_
_inplace("copy_", _copy, lambda x, src, non_blocking=False: src + x * 0)
_inplace("masked_fill_", _masked_fill, lambda x, mask, value: x.masked_fill(mask, value))
for _name, _np_fn in (("neg_", np.negative), ("abs_", np.abs), ("sqrt_", np.sqrt),
                      ("exp_", np.exp), ("log_", np.log), ("tanh_", np.tanh),
                      ("floor_", np.floor), ("ceil_", np.ceil), ("round_", np.rint),
                      ("sin_", np.sin), ("cos_", np.cos), ("square_", np.square)):
    _inplace(_name, _unary(_np_fn))
_inplace("sigmoid_", _sigmoid)
_inplace("relu_", _relu)


# --------------------------------------------------------------------- random fills
def _normal(a, mean=0.0, std=1.0, *, generator=None):
    np.copyto(a, _rng(generator).normal(mean, std, a.shape), casting="unsafe")


def _uniform(a, from_=0.0, to=1.0, *, generator=None, **kwargs):
    low = kwargs.pop("from", from_)  # torch's argument is named ``from``
    np.copyto(a, _rng(generator).uniform(low, to, a.shape), casting="unsafe")


def _exponential(a, lambd=1.0, *, generator=None):
    np.copyto(a, _rng(generator).exponential(1.0 / lambd, a.shape), casting="unsafe")


def _bernoulli(a, p=0.5, *, generator=None):
    np.copyto(a, _rng(generator).random(a.shape) < _array(p), casting="unsafe")


def _random(a, from_=0, to=None, *, generator=None):
    low, high = (0, from_) if to is None else (from_, to)
    if to is None and from_ == 0:
        high = 2 ** 24 if a.dtype.kind == "f" else np.iinfo(a.dtype).max
    np.copyto(a, _rng(generator).integers(low, high, a.shape), casting="unsafe")


def _log_normal(a, mean=1.0, std=2.0, *, generator=None):
    np.copyto(a, _rng(generator).lognormal(mean, std, a.shape), casting="unsafe")


for _name, _fn in (("normal_", _normal), ("uniform_", _uniform),
                   ("exponential_", _exponential), ("bernoulli_", _bernoulli),
                   ("random_", _random), ("log_normal_", _log_normal)):
    _inplace(_name, _fn)


# --------------------------------------------------------------------- scatter
def _scatter_index(a, dim, index):
    index = np.asarray(_array(index))
    if index.dtype.kind not in "iu" or index.ndim != a.ndim:
        raise RuntimeError(f"scatter_: index must be an integer tensor with {a.ndim} dimensions "
                           f"like self, got dtype {index.dtype} and shape {index.shape}")
    dim = dim % a.ndim
    return tuple(index if axis == dim else
                 np.arange(n).reshape((1,) * axis + (n,) + (1,) * (index.ndim - axis - 1))
                 for axis, n in enumerate(index.shape)), index.shape


def _source(src, shape):
    src = np.asarray(_array(src))
    return src[tuple(slice(0, n) for n in shape)] if src.ndim else src


def _scatter(a, dim, index, src=None, *, value=None, reduce=None):
    """self[index[i][j]][j] = src[i][j] for dim 0 (torch.Tensor.scatter_); ``src`` may be a
    number (or ``value=``); ``reduce`` 'add' or 'multiply' combines instead of replacing."""
    where, shape = _scatter_index(a, dim, index)
    src = _source(value if src is None else src, shape)
    if reduce is None:
        a[where] = src
    elif reduce == "add":
        np.add.at(a, where, np.broadcast_to(src, shape))
    elif reduce == "multiply":
        np.multiply.at(a, where, np.broadcast_to(src, shape))
    else:
        raise RuntimeError(f"scatter_: reduce must be 'add' or 'multiply', got {reduce!r}")


def _scatter_add(a, dim, index, src):
    """self[index[i][j]][j] += src[i][j] for dim 0, repeated indices accumulating."""
    where, shape = _scatter_index(a, dim, index)
    np.add.at(a, where, np.broadcast_to(_source(src, shape), shape))


def _index_fill(a, dim, index, value):
    a[(slice(None),) * (dim % a.ndim) + (np.asarray(_array(index)).reshape(-1),)] = _array(value)


def _fill_diagonal(a, fill_value, wrap=False):
    np.fill_diagonal(a, _array(fill_value), wrap=wrap)


def _index_add(a, dim, index, source, *, alpha=1):
    """self[..., index[i], ...] += alpha * source[..., i, ...] along ``dim`` (repeats add up)."""
    where = (slice(None),) * (dim % a.ndim) + (np.asarray(_array(index)).reshape(-1),)
    np.add.at(a, where, np.asarray(_array(source)) * alpha)


def _lerp(a, end, weight):
    np.copyto(a, a + _array(weight) * (_array(end) - a), casting="unsafe")


_inplace("fill_diagonal_", _fill_diagonal)
_inplace("index_add_", _index_add)
_inplace("lerp_", _lerp, lambda x, end, weight: x.lerp(end, weight))
_inplace("scatter_", _scatter)
_inplace("scatter_add_", _scatter_add)
_inplace("index_fill_", _index_fill)


def _untracked(name: str, *tensors) -> None:
    if _grad_enabled.get() and _tracked(tensors):
        raise RuntimeError(f"{name}: lamina's scatter is not differentiable; an input requires "
                           f"grad (use lm.no_grad(), or gather/index arithmetic instead)")


def scatter(self: Tensor, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """Out-of-place :meth:`scatter_` on a copy (not differentiable: the inputs must not require
    grad while grad mode is on)."""
    _untracked("scatter", self, src)
    return Tensor._wrap(self._data.copy()).scatter_(dim, index, src, value=value, reduce=reduce)


def scatter_add(self: Tensor, dim: int, index, src) -> Tensor:
    """Out-of-place :meth:`scatter_add_` on a copy (not differentiable)."""
    _untracked("scatter_add", self, src)
    return Tensor._wrap(self._data.copy()).scatter_add_(dim, index, src)


Tensor.scatter, Tensor.scatter_add = scatter, scatter_add
