"""Tensor creation functions of torch's API beyond tensor.py's (``zeros``, ``ones``, ``full``,
``randn``, ``rand``, ``arange``): ``from_numpy`` (shares memory), ``as_tensor``, ``empty``,
``linspace``, ``logspace``, ``eye``, ``randint``, ``randperm``, ``normal``, the ``*_like``
functions, ``meshgrid``, ``tril``/``triu``, ``bernoulli``, ``multinomial``.

Random functions draw from lamina's global generator (``lm.manual_seed``) or from
``generator=`` (an ``lm.Generator``). ``device`` must be the CPU.
"""

from __future__ import annotations

import numpy as np

from lamina.device import check_device
from lamina.tensor import Tensor, _as_dtype, _default, _rng, _shape_arg, rand, randn


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (changing one changes the other) and keeping its
    dtype, as ``torch.from_numpy``.

    Raises:
        TypeError: ``array`` is not a NumPy array of numbers or bools.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a np.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: can't convert an array of dtype {array.dtype}; supported: "
                        f"bool, integers, floats")
    return Tensor._wrap(array)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor without copying where possible (``torch.as_tensor``): a Tensor of
    the right dtype is returned as it is, a NumPy array shares memory (when no conversion is
    needed), anything else is converted as ``lm.tensor`` does."""
    check_device(device, "lm.as_tensor")
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor):
        return data if dtype is None or dtype == data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or dtype == data.dtype) \
            and data.dtype.kind in "biufc":
        return Tensor._wrap(data)
    return Tensor(data, dtype=dtype)


asarray = as_tensor


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of ``size`` (values are whatever the memory held)."""
    check_device(device, "lm.empty")
    dtype = _default(dtype)
    return Tensor(np.empty(_shape_arg(size), dtype), dtype=dtype, requires_grad=requires_grad)


def _like(t, dtype):
    array = t._data if isinstance(t, Tensor) else np.asarray(t)
    return array.shape, _as_dtype(dtype) or array.dtype


def empty_like(input, dtype=None, device=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    """An uninitialised tensor of ``input``'s shape and dtype."""
    check_device(device, "lm.empty_like")
    shape, dtype = _like(input, dtype)
    return Tensor(np.empty(shape, dtype), dtype=dtype, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None,  # noqa: A002
              requires_grad: bool = False) -> Tensor:
    """A tensor of ``input``'s shape and dtype filled with ``fill_value``."""
    check_device(device, "lm.full_like")
    shape, dtype = _like(input, dtype)
    return Tensor(np.full(shape, fill_value, dtype), dtype=dtype, requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad: bool = False,  # noqa: A002
              generator=None) -> Tensor:
    """Uniform [0, 1) samples of ``input``'s shape and dtype."""
    shape, dtype = _like(input, dtype)
    return rand(shape, dtype=dtype, device=device, requires_grad=requires_grad,
                generator=generator)


def randn_like(input, dtype=None, device=None, requires_grad: bool = False,  # noqa: A002
               generator=None) -> Tensor:
    """Standard normal samples of ``input``'s shape and dtype."""
    shape, dtype = _like(input, dtype)
    return randn(shape, dtype=dtype, device=device, requires_grad=requires_grad,
                 generator=generator)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniform in [low, high) (``lm.randint(high, size)`` starts at 0), int64 unless
    ``dtype`` is given, as ``torch.randint``.

    Raises:
        TypeError: ``size`` is missing.
    """
    check_device(device, "lm.randint")
    if size is None:
        if high is None or isinstance(high, int):
            raise TypeError("randint: size is required, e.g. lm.randint(0, 10, (3,)) or "
                            "lm.randint(10, (3,))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    data = _rng(generator).integers(int(low), int(high), size)
    dtype = _as_dtype(dtype) or np.dtype(np.int64)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, generator=None) -> Tensor:  # noqa: A002
    """Integers in [low, high) of ``input``'s shape (and dtype)."""
    if high is None:
        low, high = 0, low
    shape, dtype = _like(input, dtype)
    return randint(low, high, shape, generator=generator, dtype=dtype)


def randperm(n: int, *, generator=None, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (int64), as ``torch.randperm``."""
    check_device(device, "lm.randperm")
    data = _rng(generator).permutation(int(n))
    dtype = _as_dtype(dtype) or np.dtype(np.int64)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples (``torch.normal``): ``normal(mean, std, size)`` with numbers, or
    elementwise means/standard deviations given as tensors (broadcast together)."""
    check_device(device, "lm.normal")
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if tensors:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        dtype = _as_dtype(dtype) or tensors[0].dtype
    else:
        if size is None:
            raise TypeError("normal: with a number mean and std, size is required, e.g. "
                            "lm.normal(0.0, 1.0, size=(3,))")
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
        dtype = _default(dtype)
    data = _rng(generator).normal(m, s, shape).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def bernoulli(input, p=None, *, generator=None) -> Tensor:  # noqa: A002
    """0/1 samples with probabilities ``input`` (or ``p``), in ``input``'s dtype."""
    probs = input._data if isinstance(input, Tensor) else np.asarray(input)
    if p is not None:
        probs = np.full(probs.shape, p, probs.dtype)
    return Tensor._wrap((_rng(generator).random(probs.shape) < probs).astype(probs.dtype))


def multinomial(input, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator=None) -> Tensor:
    """``num_samples`` category indices per row drawn with probabilities proportional to the
    (non-negative) weights ``input`` (1-D or 2-D), as ``torch.multinomial``.

    Raises:
        RuntimeError: more samples than categories without replacement, or invalid weights.
    """
    weights = np.asarray(input._data if isinstance(input, Tensor) else input, dtype=np.float64)
    rows = weights.reshape(-1, weights.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(axis=1) <= 0).any():
        raise RuntimeError("multinomial: weights must be finite, non-negative, and have a "
                           "positive sum per row")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples from "
                           f"{rows.shape[1]} categories without replacement")
    rng = _rng(generator)
    out = np.stack([rng.choice(rows.shape[1], num_samples, replace=replacement,
                               p=row / row.sum()) for row in rows])
    return Tensor._wrap(out.reshape(weights.shape[:-1] + (num_samples,)).astype(np.int64))


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    check_device(device, "lm.linspace")
    data = np.linspace(float(start), float(end), int(steps))
    return Tensor(data.astype(_default(dtype)), requires_grad=requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    check_device(device, "lm.logspace")
    data = np.logspace(float(start), float(end), int(steps), base=base)
    return Tensor(data.astype(_default(dtype)), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (ones on the diagonal)."""
    check_device(device, "lm.eye")
    dtype = _default(dtype)
    return Tensor(np.eye(int(n), None if m is None else int(m), dtype=dtype), dtype=dtype,
                  requires_grad=requires_grad)


def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (``torch.meshgrid``; torch's default indexing 'ij':
    the first input varies along dimension 0). Each grid is the input reshaped and expanded,
    so gradients flow back to the inputs."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expected 0-D or 1-D tensors, got shape "
                               f"{tuple(t.shape)}")
    tensors = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(tensors) >= 2
    order = [1, 0] + list(range(2, len(tensors))) if swap else list(range(len(tensors)))
    shape = tuple(tensors[i].shape[0] for i in order)
    grids = []
    for i, t in enumerate(tensors):
        axis = order.index(i)
        view = [1] * len(shape)
        view[axis] = shape[axis]
        grids.append(t.reshape(view).expand(shape))
    return tuple(grids)


def _triangle(input, diagonal: int, np_fn) -> Tensor:  # noqa: A002
    x = input if isinstance(input, Tensor) else Tensor(input)
    mask = np_fn(np.ones(x.shape[-2:], dtype=bool), diagonal)
    if x.dtype.kind != "f":
        return Tensor._wrap(np.where(mask, x._data, 0).astype(x.dtype))
    return x * mask.astype(x.dtype)


def tril(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of the last two dimensions (others zero); differentiable."""
    return _triangle(input, diagonal, np.tril)


def triu(input, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of the last two dimensions (others zero); differentiable."""
    return _triangle(input, diagonal, np.triu)


Tensor.tril = lambda self, diagonal=0: tril(self, diagonal)
Tensor.triu = lambda self, diagonal=0: triu(self, diagonal)



def _legacy_type(name: str, dtype):
    def make(*args) -> Tensor:
        if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return Tensor(np.empty(args, dtype), dtype=dtype)  # FloatTensor(2, 3): a shape
        if len(args) != 1:
            raise TypeError(f"{name}: expected sizes or one sequence of data, got {args!r}")
        return Tensor(args[0], dtype=dtype)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"torch's legacy constructor: ``lm.{name}(2, 3)`` an uninitialised {dtype} "
                    f"tensor of that shape, ``lm.{name}(data)`` a {dtype} tensor of ``data``.")
    return make


FloatTensor = _legacy_type("FloatTensor", np.dtype(np.float32))
DoubleTensor = _legacy_type("DoubleTensor", np.dtype(np.float64))
LongTensor = _legacy_type("LongTensor", np.dtype(np.int64))
IntTensor = _legacy_type("IntTensor", np.dtype(np.int32))
BoolTensor = _legacy_type("BoolTensor", np.dtype(np.bool_))
ByteTensor = _legacy_type("ByteTensor", np.dtype(np.uint8))
