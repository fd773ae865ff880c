"""Tensor: a NumPy array with reverse-mode automatic differentiation.

Every operation records its inputs and a ``backward`` closure (see :mod:`lamina.ops`) and
takes a sequence number from a global counter. A node's inputs are always older than the node,
so :meth:`Tensor.backward` visits the nodes in decreasing sequence number (a heap: newest first)
and every node's gradient is complete before its backward runs; no recursion, so graphs of any
depth back-propagate, and only the nodes that receive a gradient are visited. A tensor used by
several operations receives the sum of their gradients (the multivariable chain rule).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import math
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from lamina import dtypes, ops
from lamina.device import CPU, check_device, is_device
from lamina.ops import ALL, DTYPES, FRESH_GRADS, OPS, SAVES, VIEWS, conform_dtypes
from lamina.size import Size

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("lamina_grad_enabled",
                                                                   default=True)
# the active anomaly detector (lamina.autograd.anomaly), or None: apply and backward call its
# forward/record/backward hooks (per thread and asyncio task, as grad mode)
_anomaly: contextvars.ContextVar = contextvars.ContextVar("lamina_anomaly", default=None)


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph, in the calling thread (and asyncio task).

    Grad mode is a ``contextvars.ContextVar``, so, as in PyTorch, ``no_grad`` in one thread does
    not change another thread's mode; a new thread starts with grad mode on."""
    return _grad_enabled.get()


class _GradMode(contextlib.ContextDecorator):
    """Set whether operations record the graph, restoring the previous setting on exit.
    (A class rather than ``@contextmanager``: entering it costs a fraction of a microsecond,
    which matters for batch-1 inference.)"""

    __slots__ = ("enabled", "tokens")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tokens: list[contextvars.Token] = []

    def __enter__(self) -> None:
        self.tokens.append(_grad_enabled.set(self.enabled))

    def __exit__(self, *exc) -> None:
        _grad_enabled.reset(self.tokens.pop())


def no_grad() -> _GradMode:
    """Context manager (and decorator) that disables graph building, as ``torch.no_grad``."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (and decorator) that re-enables graph building inside ``no_grad``."""
    return _GradMode(True)


def _as_dtype(dtype) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}: use lm.float32, lm.float64, np.float64 or "
                        f"'float64'") from None


def _to_array(data, dtype=None) -> np.ndarray:
    """Convert ``data`` following PyTorch's rules: Python floats -> float32, arrays (NumPy, or
    anything with ``__array__``) keep their floating dtype, ints -> int64, bools stay bool."""
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._data
    arr = np.asarray(data)
    if isinstance(data, (float, int, list, tuple)) and not isinstance(data, np.generic):
        if arr.dtype == np.float64:
            arr = arr.astype(dtypes.get_default_dtype())
    if arr.dtype.kind in "iu" and dtype is None:
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "O":
        raise TypeError(f"lm.tensor: cannot build a tensor from data of type "
                        f"{type(data).__name__} holding non-numeric objects")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


class Tensor:
    """An n-dimensional array that can record operations for automatic differentiation.

    Attributes:
        data: a Tensor sharing this tensor's memory, outside the graph (as ``torch.Tensor.data``);
            ``numpy()`` gives the array itself. Assigning ``t.data = x`` replaces the values.
        grad: the accumulated gradient (a Tensor of ``data``'s shape) after backward, or None.
        requires_grad: whether gradients flow to this tensor.
    """

    __slots__ = ("_data", "grad", "requires_grad", "_parents", "_backward", "_seq", "_fresh",
                 "_version", "_op", "_saved", "_saved_versions", "_base", "__weakref__")
    __array_priority__ = 100  # make ndarray (op) Tensor defer to Tensor's reflected operators

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        self._data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        if self.requires_grad and self._data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype "
                            f"{self._data.dtype}")
        self._parents: tuple = ()
        self._backward: Callable | None = None
        self._seq = 0
        self._fresh = False
        self._version = 0
        self._op = None
        self._saved = ()
        self._base = None

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False) -> Tensor:
        t = _new(cls)
        t._data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._parents = ()
        t._backward = None
        t._seq = 0
        t._fresh = False
        t._version = 0
        t._op = None
        t._saved = ()
        t._base = None
        return t

    @property
    def data(self) -> Tensor:
        """This tensor's values as a new Tensor sharing memory, outside the graph (PyTorch's
        ``.data``): in-place changes through it change ``self`` and are not tracked."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value) -> None:
        array = value._data if isinstance(value, Tensor) else np.asarray(value)
        self._data = array
        self._version += 1

    def _bump_version(self) -> None:
        """Record an in-place change of the values (backward checks saved tensors' versions);
        a view's change is also one of the tensor it views (PyTorch shares the counter)."""
        self._version += 1
        if self._base is not None:
            self._base._version += 1

    # ----------------------------------------------------------------- array facts
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape as a plain tuple (NumPy's; ``size()`` gives it as an ``lm.Size``)."""
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None) -> Size | int:
        """The shape as an :class:`lm.Size` (a tuple), or the size of dimension ``dim``."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[dim]

    @property
    def device(self):
        """Where the values live: always ``lm.device("cpu")`` (NumPy arrays)."""
        return CPU

    is_cuda = False

    def numel(self) -> int:
        return self._data.size

    def dim(self) -> int:
        return self._data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def __len__(self) -> int:
        return len(self._data)

    def __array__(self, dtype=None, copy=None):
        a = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return a.copy() if copy and a is self._data else a

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        default = self.dtype == dtypes.get_default_dtype() or self.dtype == int64
        extra = "" if default else f", dtype={self.dtype}"
        if self._backward is not None and hasattr(self, "grad_fn"):
            extra += f", grad_fn=<{self.grad_fn.name()}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item(): only a one-element tensor converts to a Python number, "
                             f"got shape {self.shape}")
        return self._data.item()

    def tolist(self):
        """The values as (nested) Python lists."""
        return self._data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph. Of a leaf (or a view of one) it is a view for
        backward's version checks: an in-place change of either is one of both, as in PyTorch
        (of a graph node it is not linked: the link would keep the whole graph alive)."""
        t = Tensor._wrap(self._data)
        base = self._base if self._base is not None else self
        if base._backward is None:
            t._base = base
        return t

    def clone(self) -> Tensor:
        """A copy that stays in the graph (gradients flow back to ``self``)."""
        return apply(OPS["mul"], self, 1)

    def astype(self, dtype) -> Tensor:
        """A copy converted to ``dtype`` (gradients flow back, cast to the source dtype)."""
        return self.to(dtype)

    def to(self, *args, dtype=None, device=None, copy: bool = False,
           non_blocking: bool = False) -> Tensor:
        """This tensor on ``device`` with ``dtype`` (torch's ``.to``): ``t.to(lm.float64)``,
        ``t.to("cpu")``, ``t.to(device, dtype)`` or ``t.to(other)`` (other's dtype). Returns
        ``self`` when nothing changes (unless ``copy``); a dtype change stays in the graph
        (gradients flow back, cast to the source dtype).

        Raises:
            RuntimeError: a device other than the CPU (lamina has no GPU).
        """
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif is_device(arg) or (isinstance(arg, int) and not isinstance(arg, bool)):
                device = arg
            else:
                dtype = arg
        check_device(device, "Tensor.to")
        dtype = _as_dtype(dtype)
        if dtype is None or dtype == self.dtype:
            return self.clone() if copy else self
        if dtype.kind != "f" or self.dtype.kind != "f":  # integers carry no gradient
            return Tensor._wrap(self._data.astype(dtype))
        return apply(_astype, self, dtype=dtype)

    def float(self) -> Tensor:
        """This tensor as float32 (itself if already float32)."""
        return self.to(float32)

    def cpu(self) -> Tensor:
        """This tensor (lamina's tensors are always on the CPU)."""
        return self

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        """Raises: RuntimeError: lamina has no GPU (check ``lm.cuda.is_available()``)."""
        check_device("cuda" if device is None else device, "Tensor.cuda")
        return self

    def double(self) -> Tensor:
        """This tensor as float64 (itself if already float64)."""
        return self.to(float64)

    def long(self) -> Tensor:
        """This tensor as int64, cut from the graph."""
        return Tensor._wrap(self._data.astype(np.int64))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self.

        Raises:
            RuntimeError: a non-floating tensor asked to require grad (as torch).
        """
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got {self._data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    # ----------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph: bool | None = None) -> None:
        """Accumulate d(self)/d(leaf) * grad into ``leaf.grad`` for every leaf that requires it.

        Args:
            grad: the gradient of the final objective w.r.t. this tensor, shape ``self.shape``.
                Optional only for a one-element tensor (then 1).
            retain_graph: accepted for PyTorch compatibility; the graph is always kept, so
                backward may run several times (gradients accumulate).

        Raises:
            RuntimeError: the tensor does not require grad, or is not a scalar and no ``grad``;
                or a tensor that an op saved for backward was changed in place since (its
                version counter moved on), as in PyTorch.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph; "
                               "did you build it inside no_grad() or from inputs without "
                               "requires_grad=True?")
        if grad is None:
            if self._data.size != 1:
                raise RuntimeError(f"backward(): grad can be omitted only for a scalar output, "
                                   f"but this tensor has shape {self.shape}; pass a gradient of "
                                   f"that shape, e.g. t.backward(lm.ones_like(t))")
            grad = np.ones_like(self._data)
        else:
            grad = np.asarray(grad._data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape}, expected the "
                                 f"tensor's shape {self.shape}")
        if self._backward is None:
            _accumulate(self, grad, False)
            return
        if _backward_callbacks:  # left by a pass that raised: not this pass's
            _backward_callbacks.clear()
        heappop, heappush = _HEAP or _heap_functions()

        # pending: seq -> [node, summed gradient]; heap: -seq of the pending nodes
        pending = {self._seq: [self, grad]}
        heap = [-self._seq]
        anomaly = _anomaly.get()
        while heap:
            node, g = pending.pop(-heappop(heap))
            saved = node._saved
            if saved:
                for x, version in zip(saved, node._saved_versions, strict=True):
                    if (node if x is None else x)._version != version:
                        _check_saved(node)  # raises, naming the tensor
            if RETAINED and id(node) in RETAINED and RETAINED[id(node)]() is node:
                _accumulate(node, g, False)  # t.retain_grad() on a non-leaf
            parents = node._parents
            if len(parents) == 1:
                need = _NEED_ONE
            else:
                need = tuple([p is not None for p in parents])
            fresh = node._fresh
            grads = node._backward(g, need)
            if anomaly is not None:
                anomaly.backward(node, grads)
            for parent, pg in zip(parents, grads, strict=True):
                if parent is None or pg is None:
                    continue
                if parent._backward is None:
                    _accumulate(parent, pg, fresh)
                    continue
                entry = pending.get(parent._seq)
                if entry is None:
                    pending[parent._seq] = [parent, pg]
                    heappush(heap, -parent._seq)
                else:
                    entry[1] = entry[1] + pg
        if _backward_callbacks:
            _run_backward_callbacks()


_HEAP: tuple = ()  # (heappop, heappush), imported by the first backward pass


def _heap_functions() -> tuple:
    """heapq's functions, imported on first use (not at the top: 0.4 ms of import lamina)."""
    global _HEAP
    from heapq import heappop, heappush

    _HEAP = (heappop, heappush)
    return _HEAP


# callables to run once when the backward pass in progress ends (queue_backward_callback)
_backward_callbacks: list[Callable[[], None]] = []


def queue_backward_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once when the backward pass in progress has filled every leaf's
    gradient (PyTorch's ``Variable._execution_engine.queue_callback``).

    Meant to be called from an op's backward: ``DistributedDataParallel`` marks its outputs
    with an identity op whose backward queues the gradient averaging. A callback queued twice
    in one pass (equal callables) runs once; a pass that raises runs none.
    """
    if callback not in _backward_callbacks:
        _backward_callbacks.append(callback)


def _run_backward_callbacks() -> None:
    callbacks = _backward_callbacks[:]
    _backward_callbacks.clear()
    for callback in callbacks:
        callback()


RETAINED: dict[int, weakref.ref] = {}  # non-leaf tensors whose .grad is kept (retain_grad)
_NEED_ONE = (True,)  # a one-input node exists only because its input needs a gradient
_new = object.__new__
_sequence = itertools.count(1)


def _accumulate(leaf: Tensor, grad, owned: bool) -> None:
    """Add ``grad`` into ``leaf.grad``. The first gradient is copied (backward closures may hand
    one array to two inputs, or a view of their own) unless ``owned``: a fresh array of an op
    registered with ``fresh_grads=True``, which the leaf can keep as it is."""
    current = leaf.grad
    dtype = leaf._data.dtype
    if current is None:
        if not (owned and type(grad) is np.ndarray and grad.dtype == dtype):
            grad = np.array(grad, dtype=dtype, copy=True)
        leaf.grad = Tensor._wrap(grad)
    else:
        total = current._data + grad
        current._data = total if total.dtype == dtype else total.astype(dtype)


def apply(op: Callable, *inputs, **options) -> Tensor:
    """Run ``op`` on the arrays of ``inputs`` and, when gradients are on, record it.

    Non-Tensor inputs (Python numbers, arrays) are constants: they get no gradient.
    The op's dtype policy (:mod:`lamina.ops`) is applied first: an array input of a kind the
    op does not take as it is is promoted or refused with a TypeError. A recorded node keeps
    the version counters of the tensors its backward reads; backward checks them.
    """
    arrays = []  # (one pass for the arrays and the inputs that need a gradient)
    parents = []
    recorded = False
    for x in inputs:
        if isinstance(x, Tensor):
            arrays.append(x._data)
            if x.requires_grad:
                parents.append(x)
                recorded = True
                continue
        else:
            arrays.append(x)
        parents.append(None)
    spec = DTYPES.get(op)
    if spec is not None:
        if len(spec) == 1:
            accepted = spec[0]
            for a in arrays:
                if type(a) is np.ndarray and a.dtype.kind not in accepted:
                    arrays = conform_dtypes(op, arrays)
                    break
        else:
            last = len(spec) - 1
            for i, a in enumerate(arrays):
                if type(a) is np.ndarray and a.dtype.kind not in spec[i if i < last else last]:
                    arrays = conform_dtypes(op, arrays)
                    break
    if options:
        for key, value in options.items():
            if isinstance(value, Tensor):
                options[key] = value._data
    out, backward = op(*arrays, **options)
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    t = _new(Tensor)
    t._data = out
    t.grad = None
    t._fresh = False
    t._version = 0
    t._op = op
    t._saved = ()
    t._base = None
    if op in VIEWS and out.base is not None and isinstance(inputs[0], Tensor):
        source = inputs[0]
        t._base = source._base if source._base is not None else source
    anomaly = _anomaly.get()
    if anomaly is not None:
        anomaly.forward(op, t, inputs)
    if recorded and _grad_enabled.get():
        parents = tuple(parents)
        t.requires_grad = True
        t._parents = parents
        t._backward = backward
        t._seq = next(_sequence)
        t._fresh = op in FRESH_GRADS
        needs = SAVES.get(op, ALL)
        if needs is not None:
            _save(t, op, needs, inputs, parents)
        if anomaly is not None:
            anomaly.record(t)
        return t
    t.requires_grad = False
    t._parents = ()
    t._backward = None
    t._seq = 0
    return t


def _astype(a: np.ndarray, dtype: np.dtype):
    """``a`` converted to ``dtype``; the gradient is converted back (reads no values)."""
    source = a.dtype
    return a.astype(dtype), lambda grad, need: (grad.astype(source),)


SAVES[_astype] = None


def _save(node: Tensor, op: Callable, needs, inputs: tuple, parents: tuple) -> None:
    """Keep on ``node`` the tensors its backward reads, for the inputs that need a gradient,
    with their versions now (``None`` stands for the node's own output, at version 0); a saved
    view brings its base along (an in-place change of either changes both)."""
    mask, bit = 0, 1
    for parent in parents:
        if parent is not None:
            mask |= bit
        bit <<= 1
    key = (op, mask, len(parents))  # (an op of any number of inputs: linear_chain)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(needs, len(parents), mask)
    saved = []
    for j in plan:
        if j < 0:
            saved.append(None)
        elif j < len(inputs):
            x = inputs[j]
            if isinstance(x, Tensor):
                saved.append(x)
                if x._base is not None:
                    saved.append(x._base)
    if saved:
        node._saved = tuple(saved)
        node._saved_versions = tuple([0 if x is None else x._version for x in saved])


_PLANS: dict[tuple, tuple[int, ...]] = {}  # (op, mask of inputs needing grad, count) -> saved


def _plan(needs, count: int, mask: int) -> tuple[int, ...]:
    """The indices (-1: the output) that an op's backward reads when the inputs in ``mask``
    need a gradient."""
    if needs is ALL:
        return tuple(range(count)) + (-1,)
    last = len(needs) - 1
    wanted: set[int] = set()
    for i in range(count):
        if mask >> i & 1:
            wanted.update(needs[i if i < last else last])
    return tuple(sorted(j for j in wanted if j < count))  # (OUTPUT, -1, first)


def _check_saved(node: Tensor) -> None:
    """Raise RuntimeError (PyTorch's message) if a tensor ``node``'s backward reads was changed
    in place after the forward pass recorded it."""
    for x, version in zip(node._saved, node._saved_versions, strict=True):
        now = (node if x is None else x)._version
        if now != version:
            target = node if x is None else x
            which = "the output" if x is None else "an input"
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{target.dtype} tensor of shape {target.shape}], {which} "
                f"saved by op '{_op_name(node._op)}', is at version {now}; expected version "
                f"{version} instead. Hint: the tensor was changed in place (+=, -=, "
                f"t[...] = ..., t.data = ..., an optimizer step) after the forward pass that "
                f"saved it and before backward; change it after backward, or out of place "
                f"(x = x + 1)")


def _op_name(op) -> str:
    return getattr(op, "__name__", type(op).__name__)


def _const(x, like: Tensor):
    """Turn a non-Tensor operand into an array that does not upcast ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if type(x) in (int, float, bool):
        return x  # Python scalars are "weak" under NumPy 2: float32 stays float32
    arr = np.asarray(x)  # np.float64 subclasses float but is "strong": made weak below
    if arr.ndim == 0 and arr.dtype.kind in "fiu":  # a NumPy scalar acts like a Python number
        if like.dtype.kind == "f":
            return arr.astype(like.dtype)
        return arr.item()
    return arr


def _kind(x) -> str:
    if isinstance(x, (Tensor, np.ndarray)):
        return x.dtype.kind
    return {bool: "b", int: "i", float: "f"}.get(type(x), "O")


def _cast(x, dtype: np.dtype):
    """An integer/bool operand (never part of the graph) converted to ``dtype``."""
    if isinstance(x, Tensor):
        return Tensor._wrap(x._data.astype(dtype))
    return x.astype(dtype) if isinstance(x, np.ndarray) else x


def _operands(a, b):
    """The operands of a two-operand op under PyTorch's type promotion: Python and 0-d NumPy
    scalars are weak (float32 * np.float64(2) is float32), and an integer or bool operand takes
    the floating operand's dtype (float32 * int64 is float32; int64 * 0.5 is float32). A bool
    array operand stays bool against a floating array (NumPy then gives the float dtype, and
    ``sub`` refuses bools, as PyTorch). Of two tensors of one kind, a 0-d one takes the other's
    dtype (float32 (3,) + float64 () is float32, as PyTorch)."""
    like = a if isinstance(a, Tensor) else b
    a, b = _const(a, like), _const(b, like)
    kind_a, kind_b = _kind(a), _kind(b)
    if kind_a == "f" and (kind_b in "iu" or (kind_b == "b" and not hasattr(a, "dtype"))):
        b = _cast(b, a.dtype if hasattr(a, "dtype") else dtypes.get_default_dtype())
    elif kind_b == "f" and (kind_a in "iu" or (kind_a == "b" and not hasattr(b, "dtype"))):
        a = _cast(a, b.dtype if hasattr(b, "dtype") else dtypes.get_default_dtype())
    elif kind_a == kind_b and isinstance(a, Tensor) and isinstance(b, Tensor) \
            and a.dtype != b.dtype and (a.ndim == 0) != (b.ndim == 0):
        if a.ndim == 0:
            a = a.to(b.dtype)
        else:
            b = b.to(a.dtype)
    return a, b


def _binary(name: str, reflected: bool = False):
    fn = OPS[name]

    def method(self, other):
        a, b = (other, self) if reflected else (self, other)
        a, b = _operands(a, b)
        if name == "div" and _kind(a) in "iub" and _kind(b) in "iub":  # true division
            a, b = (_cast(x, dtypes.get_default_dtype()) if hasattr(x, "dtype") else float(x)
                    for x in (a, b))
        return apply(fn, a, b)

    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


def _compare(np_fn):
    def method(self, other):
        other = other._data if isinstance(other, Tensor) else other
        return Tensor._wrap(np_fn(self._data, other))

    return method


def _axis(axis, dim):
    axis = dim if axis is None else axis
    return tuple(axis) if isinstance(axis, list) else axis


def _keep(keepdims, keepdim):
    return bool(keepdims or keepdim)


def _install_methods() -> None:
    T = Tensor
    T.__add__, T.__radd__ = _binary("add"), _binary("add", True)
    T.__sub__, T.__rsub__ = _binary("sub"), _binary("sub", True)
    T.__mul__, T.__rmul__ = _binary("mul"), _binary("mul", True)
    T.__truediv__, T.__rtruediv__ = _binary("div"), _binary("div", True)
    T.__pow__, T.__rpow__ = _binary("power"), _binary("power", True)
    T.__matmul__, T.__rmatmul__ = _binary("matmul"), _binary("matmul", True)
    T.__lt__, T.__le__ = _compare(np.less), _compare(np.less_equal)
    T.__gt__, T.__ge__ = _compare(np.greater), _compare(np.greater_equal)
    T.__eq__, T.__ne__ = _compare(np.equal), _compare(np.not_equal)
    T.__hash__ = object.__hash__
    T.__iadd__, T.__isub__ = _inplace(np.add, "add"), _inplace(np.subtract, "sub")
    T.__imul__, T.__itruediv__ = _inplace(np.multiply, "mul"), _inplace(np.true_divide, "div")


def _inplace(ufunc: np.ufunc, name: str):
    """``t += x`` and friends. Outside the graph (no grad involved, or inside ``no_grad``, as in
    ``p -= lr * p.grad``) the data is updated in place, keeping its dtype. A leaf that requires
    grad cannot be modified while the graph is recorded (as in PyTorch); for other tensors in the
    graph the result is a new node (the name is rebound, the old tensor keeps its value)."""
    fn = OPS[name]

    def method(self, other):
        _, other = _operands(self, other)
        in_graph = self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
        if not (in_graph and _grad_enabled.get()):
            ufunc(self._data, other._data if isinstance(other, Tensor) else other, out=self._data)
            self._bump_version()
            return self
        if self.requires_grad and self.is_leaf:
            raise RuntimeError(f"in-place {name} on a leaf tensor that requires grad would "
                               f"corrupt its gradient; update it inside lm.no_grad() or on t.data")
        return apply(fn, self, other)

    method.__name__ = f"__i{name}__"
    return method


_install_methods()


def _tensor_method(fn):
    """Install ``fn`` as a Tensor method (module-level names that shadow builtins, such as
    ``sum``/``max``/``min``, are deleted after their definitions)."""
    setattr(Tensor, fn.__name__, fn)
    return fn


@_tensor_method
def __neg__(self):
    return apply(OPS["neg"], self)


@_tensor_method
def __getitem__(self, index):
    if isinstance(index, Tensor):
        index = index._data
    elif isinstance(index, tuple):
        index = tuple(i._data if isinstance(i, Tensor) else i for i in index)
    return apply(OPS["getitem"], self, index=index)


@_tensor_method
def __setitem__(self, index, value):
    if self.requires_grad and is_grad_enabled():
        raise RuntimeError("in-place assignment into a tensor that requires grad would corrupt "
                           "its gradient; do it inside lm.no_grad() or on t.data")
    index = index._data if isinstance(index, Tensor) else index
    self._data[index] = value._data if isinstance(value, Tensor) else value
    self._bump_version()


@_tensor_method
def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
    """Sum over ``axis``/``dim`` (all axes when None); ``keepdims``/``keepdim`` keep them as 1."""
    return apply(OPS["sum"], self, axis=_axis(axis, dim), keepdims=_keep(keepdims, keepdim))


@_tensor_method
def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
    """Mean over ``axis``/``dim`` (all axes when None); ``keepdims``/``keepdim`` keep them as 1."""
    return apply(OPS["mean"], self, axis=_axis(axis, dim), keepdims=_keep(keepdims, keepdim))


@_tensor_method
def var(self, axis=None, keepdims=False, *, dim=None, keepdim=False, unbiased=True):
    """Variance (unbiased by default, as ``torch.var``), built from mean and power."""
    axis, keep = _axis(axis, dim), _keep(keepdims, keepdim)
    centred = self - self.mean(axis=axis, keepdims=True)
    reduced = np.mean(self._data, axis=axis, keepdims=keep).size
    n = self._data.size // reduced if reduced else 1
    return (centred * centred).sum(axis=axis, keepdims=keep) / (n - 1 if unbiased else n)


@_tensor_method
def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
    """Indices (int64, no gradient) of the maxima along ``axis``/``dim`` (flattened when None)."""
    return Tensor._wrap(np.argmax(self._data, axis=_axis(axis, dim),
                                  keepdims=_keep(keepdims, keepdim)))


@_tensor_method
def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=False):
    """Indices (int64, no gradient) of the minima along ``axis``/``dim`` (flattened when None)."""
    return Tensor._wrap(np.argmin(self._data, axis=_axis(axis, dim),
                                  keepdims=_keep(keepdims, keepdim)))


del sum  # the Tensor method keeps it; this module needs the builtin
# (max, min with torch's (values, indices) for a dim: lamina/selection.py)


def _unary(name: str, op_name: str | None = None):
    fn = OPS[op_name or name]

    def method(self):
        return apply(fn, self)

    method.__name__ = name
    setattr(Tensor, name, method)


for _name, _op in [("exp", None), ("log", None), ("sqrt", None), ("abs", "absolute"),
                   ("relu", None), ("sigmoid", None), ("tanh", None)]:
    _unary(_name, _op)
Tensor.__abs__ = Tensor.abs


@_tensor_method
def clip(self, min=None, max=None):  # noqa: A002
    """Clamp into [min, max] (``clamp`` is the same method); either bound may be None."""
    return apply(OPS["clip"], self, min=min, max=max)


Tensor.clamp = Tensor.clip


@_tensor_method
def softmax(self, axis=-1, *, dim=None):
    """Softmax along ``axis``/``dim`` (see :func:`lamina.ops.activation.softmax`)."""
    return apply(OPS["softmax"], self, axis=dim if dim is not None else axis)


@_tensor_method
def log_softmax(self, axis=-1, *, dim=None):
    """Log-softmax along ``axis``/``dim``, by log-sum-exp."""
    return apply(OPS["log_softmax"], self, axis=dim if dim is not None else axis)


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


@_tensor_method
def reshape(self, *shape):
    """The same values in a new shape (``view`` is the same method); one size may be -1."""
    return apply(OPS["reshape"], self, shape=_shape_arg(shape))


Tensor.view = Tensor.reshape


@_tensor_method
def flatten(self, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one (as ``torch.flatten``)."""
    shape = self.shape
    if not shape:
        return self.reshape(1)
    start, end = start_dim % len(shape), end_dim % len(shape)
    new = tuple(shape[:start]) + (math.prod(shape[start:end + 1]),) + tuple(shape[end + 1:])
    return self.reshape(new)


@_tensor_method
def permute(self, *axes):
    """Reorder the axes: ``t.permute(2, 0, 1)`` or ``t.permute((2, 0, 1))``."""
    return apply(OPS["transpose"], self, axes=_shape_arg(axes))


@_tensor_method
def transpose(self, dim0=None, dim1=None):
    """Swap two axes (PyTorch) or, with no arguments, reverse all axes (NumPy)."""
    if dim0 is None:
        return apply(OPS["transpose"], self, axes=None)
    axes = list(range(self.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return apply(OPS["transpose"], self, axes=tuple(axes))


Tensor.T = property(lambda self: apply(OPS["transpose"], self, axes=None))


@_tensor_method
def squeeze(self, dim=None, *, axis=None):
    """Remove size-1 axes: all of them, or those among ``dim`` (an int or tuple); as torch, a
    named axis whose size is not 1 is kept."""
    dim = axis if dim is None else dim
    shape = self._data.shape
    if dim is None:
        return self.reshape(tuple(n for n in shape if n != 1))
    dims = {d % max(len(shape), 1) for d in ((dim,) if isinstance(dim, int) else dim)}
    return self.reshape(tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1)))


@_tensor_method
def unsqueeze(self, dim):
    """Insert a size-1 axis at ``dim``."""
    return self.reshape(np.expand_dims(np.empty(self.shape, dtype=bool), dim).shape)


# --------------------------------------------------------------------- constructors
def tensor(data, dtype=None, requires_grad: bool = False, *, device=None,
           pin_memory: bool = False) -> Tensor:
    """Build a Tensor (PyTorch: ``torch.tensor``), always a copy of ``data``.

    Floating NumPy input keeps its dtype, Python floats take the default dtype (float32, see
    ``lm.set_default_dtype``), integers int64. ``dtype`` accepts ``lm.float64``, ``np.float64``
    or ``"float64"``; ``device`` must be the CPU.
    """
    check_device(device, "lm.tensor")
    if isinstance(data, Tensor):
        data = data._data.copy()
    elif isinstance(data, np.ndarray):
        data = data.copy()
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _default(dtype) -> np.dtype:
    return _as_dtype(dtype) or dtypes.get_default_dtype()


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros, ``lm.zeros(2, 3)`` or ``lm.zeros((2, 3))``; default dtype float32."""
    check_device(device, "lm.zeros")
    dtype = _default(dtype)
    return Tensor(np.zeros(_shape_arg(shape), dtype), dtype=dtype, requires_grad=requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones, ``lm.ones(2, 3)`` or ``lm.ones((2, 3))``; default dtype float32."""
    check_device(device, "lm.ones")
    dtype = _default(dtype)
    return Tensor(np.ones(_shape_arg(shape), dtype), dtype=dtype, requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``. The dtype, as torch, follows the
    value: bool for a bool, int64 for an int, else the default dtype (float32)."""
    check_device(device, "lm.full")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = (np.bool_ if isinstance(fill_value, (bool, np.bool_))
                 else np.int64 if isinstance(fill_value, (int, np.integer)) else None)
    dtype = _default(dtype)
    return Tensor(np.full(shape, fill_value, dtype), dtype=dtype, requires_grad=requires_grad)


def _like(t, dtype) -> tuple[tuple[int, ...], np.dtype]:
    array = t._data if isinstance(t, Tensor) else np.asarray(t)
    return array.shape, _as_dtype(dtype) or array.dtype


def zeros_like(t, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    """Zeros of ``t``'s shape and (unless ``dtype`` is given) dtype."""
    check_device(device, "lm.zeros_like")
    shape, dtype = _like(t, dtype)
    return Tensor(np.zeros(shape, dtype), dtype=dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    """Ones of ``t``'s shape and (unless ``dtype`` is given) dtype."""
    check_device(device, "lm.ones_like")
    shape, dtype = _like(t, dtype)
    return Tensor(np.ones(shape, dtype), dtype=dtype, requires_grad=requires_grad)


def _rng(generator):
    """The NumPy generator behind ``generator`` (an ``lm.Generator``), or the global one."""
    if generator is not None:
        return generator.rng
    from lamina.random import generator as global_generator

    return global_generator()


def _floating(dtype, where: str) -> np.dtype:
    dtype = _default(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: expected a floating dtype, got {dtype}")
    return dtype


def randn(*shape, dtype=None, device=None, requires_grad: bool = False,
          generator=None) -> Tensor:
    """Standard normal samples from lamina's seeded generator (``lm.manual_seed``) or from
    ``generator`` (an ``lm.Generator``)."""
    check_device(device, "lm.randn")
    dtype = _floating(dtype, "lm.randn")
    rng = _rng(generator)
    if dtype in (float32, float64):
        data = rng.standard_normal(_shape_arg(shape), dtype=dtype)
    else:
        data = rng.standard_normal(_shape_arg(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad: bool = False,
         generator=None) -> Tensor:
    """Uniform [0, 1) samples from lamina's seeded generator or from ``generator``."""
    check_device(device, "lm.rand")
    dtype = _floating(dtype, "lm.rand")
    rng = _rng(generator)
    if dtype in (float32, float64):
        data = rng.random(_shape_arg(shape), dtype=dtype)
    else:
        data = rng.random(_shape_arg(shape)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, *, device=None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, end); integer arguments give int64, as PyTorch."""
    check_device(device, "lm.arange")
    if end is None:
        start, end = 0, start
    data = np.arange(start, end, step)
    if dtype is None and data.dtype.kind == "f":
        dtype = dtypes.get_default_dtype()
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing axis (``torch.cat``)."""
    return apply(OPS["concatenate"], *tensors, axis=dim)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new axis (``torch.stack``)."""
    return apply(OPS["stack"], *tensors, axis=dim)


def _consts(a, b):
    """Operands of a two-operand function, promoted as the operators do."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return a, b
    return _operands(a, b)


def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` else ``b`` (``torch.where``); gradients flow to ``a`` and ``b``."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    return apply(OPS["where"], cond, *_consts(a, b))


def maximum(a, b) -> Tensor:
    """Elementwise maximum (``torch.maximum``); ties split the gradient."""
    return apply(OPS["maximum"], *_consts(a, b))


def aligned_empty(shape: int | tuple[int, ...], dtype, align: int = 64) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` whose first element
    starts an ``align``-byte boundary (a cache line; NumPy guarantees 16). Parameters
    live in such arrays: a compiled kernel streaming a weight matrix then loads whole vectors
    without splitting any across two cache lines (the batch-1 linear kernel runs the MLP's
    layers 10% faster, measured), and rows whose length is a multiple of 16 float32 stay
    aligned too. The array is a view of a slightly larger byte buffer (its ``base``)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def as_tensor(x) -> Tensor:
    """``x`` itself if a Tensor, else a constant Tensor of it."""
    return x if isinstance(x, Tensor) else Tensor(x)


__all__ = ["Tensor", "tensor", "apply", "no_grad", "enable_grad", "is_grad_enabled", "zeros",
           "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange", "cat", "stack",
           "where", "maximum", "float32", "float64", "int64", "ops", "queue_backward_callback"]
