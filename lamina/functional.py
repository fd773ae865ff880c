"""Stateless functions on Tensors (PyTorch: ``torch.nn.functional``; also ``lm.nn.functional``).

Each is a thin call of one op in :mod:`lamina.ops`; the math is documented there.

Folding: a model written as an ``nn.Module`` subclass calls ``F.max_pool2d(F.relu(
self.conv1(x)), 2)``, where ``nn.Sequential`` would run the fused op ``conv2d_relu_max_pool2d``
(:mod:`lamina.inference`). When :func:`relu` gets the output of conv2d or linear that nothing
else holds (a temporary passed straight on: CPython's reference count says so, and no weak
reference), it applies the ReLU in place to that array and folds its gradient into the node
that made it (:func:`lamina.ops.activation.relu_folded`); :func:`max_pool2d` given such a
relu(conv2d) then pools it and runs the backward pass of the three ops as one
(:func:`lamina.ops.conv.conv2d_relu_max_pool2d_folded`: no full-size ReLU mask). In the
other order, ``F.relu(F.max_pool2d(conv(x), 2))``, the pool joins the conv's node
(:func:`lamina.ops.conv.conv2d_max_pool2d_folded`) and the ReLU that node. The values
and gradients are those of the ops one after another; nobody can observe the difference,
since nobody else holds the tensor. The PyTorch example's line-by-line style, ``x =
self.conv1(x); x = F.relu(x); x = F.max_pool2d(x, 2)``, folds too: there the one other holder
is the caller's variable, which the call's result replaces (:func:`_rebinds` reads this
from the caller's bytecode). A tensor kept in another variable (``y = conv(x); z =
F.relu(y)``) or called through a module (``nn.ReLU``) takes the plain op. Written on one
line, ``F.max_pool2d(F.relu(self.conv1(x)), 2)`` goes further: the convolution itself is
deferred and the block runs as nn.Sequential's fused op (see "the deferred conv block").
"""

from __future__ import annotations

import sys
from sys import getrefcount
from types import ModuleType
from weakref import getweakrefcount

import numpy as np

from lamina.convsize import as_pair
from lamina.ops import OPS
from lamina.ops.activation import dense_view, relu_folded
from lamina.ops.conv import conv2d_max_pool2d_folded, conv2d_relu, conv2d_relu_max_pool2d_folded
from lamina.ops.loss import check_reduction, class_rows
from lamina.random import generator
from lamina.tensor import Tensor, apply

# ------------------------------------------------------------------ folding
# ops whose output is a fresh array their backward never reads -> what relu folds them into
_RELU_FOLDS = {OPS["conv2d"]: conv2d_relu, OPS["linear"]: relu_folded,
               conv2d_max_pool2d_folded: relu_folded}


_CONV2D = OPS["conv2d"]


def _refs(t) -> int:
    return getrefcount(t)


def _alone_refs() -> int:
    """What :func:`_refs` counts, called from a function's argument, for an object that
    nothing else holds (a temporary passed straight on); 0 (fold nothing) where a count might
    miss a holder: outside CPython, from 3.14 (whose borrowed stack references getrefcount
    leaves out), in a free-threaded build, or where a caller's local variable is not
    counted."""
    def probe(x):
        return _refs(x)

    alone = probe(object())
    held = object()
    free_threaded = not getattr(sys, "_is_gil_enabled", lambda: True)()
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 14) or \
            free_threaded or probe(held) <= alone:
        return 0
    return alone


_ALONE = _alone_refs()


_CALL_OPS = {"CALL", "CALL_FUNCTION", "CALL_METHOD", "CALL_KW"}
_REBINDS: dict = {}


_LOADS = {"LOAD_CONST", "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_GLOBAL"}


def _rebound_name(code, lasti: int, function: str) -> str | None:
    """The local variable V when the call in progress at ``lasti`` of ``code`` is
    ``V = <...>.function(V, a, ...)`` with each further argument a plain load (a constant, a
    variable, an attribute of one), the result stored back in V; else None."""
    import dis  # (only where a fold is possible: not at import)

    instructions = list(dis.get_instructions(code))
    before = [i for i in instructions if i.offset <= lasti]
    after = [i for i in instructions if i.offset > lasti]
    if not before or not after or before[-1].opname not in _CALL_OPS:
        return None
    stored, count = after[0], before[-1].arg or 0
    rest = [i for i in before[:-1] if i.opname not in ("PRECALL", "KW_NAMES", "PUSH_NULL")]
    if stored.opname != "STORE_FAST" or count < 1:
        return None
    for _ in range(count - 1):  # the further arguments, last first
        while rest and rest[-1].opname == "LOAD_ATTR":
            rest.pop()
        if not rest or rest.pop().opname not in _LOADS:
            return None
    if len(rest) < 2:
        return None
    first, called = rest[-1], rest[-2]
    if called.argval != function or first.opname not in ("LOAD_FAST", "LOAD_FAST_CHECK") \
            or first.argval != stored.argval:
        return None
    return stored.argval


def _rebinds(function: str) -> bool:
    """Whether the caller of ``function`` (relu or max_pool2d, which has found one reference
    to its input more than a temporary has) is running ``x = F.function(x, ...)``: the input
    read from a local variable just before the call, the result stored back in it, as the
    PyTorch MNIST example writes its Net. The variable is then the other holder, and nothing
    can read the old value after the call. Read from the caller's bytecode, once per call
    site."""
    frame = sys._getframe(2)
    key = (frame.f_code, frame.f_lasti, function)
    name = _REBINDS.get(key, False)
    if name is False:
        name = _REBINDS[key] = _rebound_name(frame.f_code, frame.f_lasti, function)
    return name is not None


# ------------------------------------------------------------------ the deferred conv block
# ``F.max_pool2d(F.relu(self.conv1(x)), k)`` written on one line, as the tutorials do: when
# the caller's bytecode shows that the convolution's result goes straight into lamina's
# F.relu and that one straight into lamina's F.max_pool2d (further arguments constants or
# local variables: no code runs between the three calls), nn.Conv2d returns a placeholder
# that only these two calls see, and F.max_pool2d runs the fused op conv2d_relu_max_pool2d
# (nn.Sequential's: one compiled pass with ``[fast]``, the full-size convolution output
# never written). Its values are those of the three ops one after another, its gradients
# equal up to rounding (the bias gradient summed over the pooled gradient).


def _pending_conv():  # markers (the _op of a placeholder), never called
    raise AssertionError  # pragma: no cover


def _pending_conv_relu():
    raise AssertionError  # pragma: no cover


# (code, lasti) -> ((global?, name) of relu's module, of max_pool2d's) or None
_BLOCK_SITES: dict = {}
_ATTR_LOADS = {"LOAD_ATTR", "LOAD_METHOD"}
_SKIPPED = {"PRECALL", "CACHE", "PUSH_NULL", "EXTENDED_ARG"}


def _block_names(code, lasti: int):
    """(A, B) when the call at ``lasti`` of ``code`` is ``self.<conv>(v)`` in
    ``B.max_pool2d(A.relu(self.<conv>(v)), c, ...)``, ``v`` and the further arguments ``c``
    local variables or constants, A and B global names; else None."""
    import dis  # (only where the block may be deferred: not at import)

    ins = [i for i in dis.get_instructions(code) if i.opname not in _SKIPPED]
    at = next((k for k, i in enumerate(ins) if i.offset == lasti), None)
    if at is None or at < 7 or ins[at].opname != "CALL" or ins[at].arg != 1:
        return None
    arg, conv, owner, relu_attr, relu_mod, pool_attr, pool_mod = ins[at - 7:at][::-1]
    if not (arg.opname == "LOAD_FAST" and conv.opname in _ATTR_LOADS
            and owner.opname == "LOAD_FAST" and relu_attr.opname in _ATTR_LOADS
            and relu_attr.argval == "relu" and relu_mod.opname in _NAME_LOADS
            and pool_attr.opname in _ATTR_LOADS and pool_attr.argval == "max_pool2d"
            and pool_mod.opname in _NAME_LOADS):
        return None
    rest = ins[at + 1:]
    if len(rest) < 3 or rest[0].opname != "CALL" or rest[0].arg != 1:
        return None
    count = 0
    for i in rest[1:]:
        if i.opname in ("LOAD_CONST", "LOAD_FAST"):
            count += 1
            continue
        if i.opname == "CALL" and i.arg == count + 1 and count >= 1:
            return ((relu_mod.opname == "LOAD_GLOBAL", relu_mod.argval),
                    (pool_mod.opname == "LOAD_GLOBAL", pool_mod.argval))
        return None
    return None


_NAME_LOADS = {"LOAD_GLOBAL", "LOAD_DEREF"}  # F as a global, or a variable of an outer function


def _named(frame, name) -> object:
    """The value of a global (``name[0]``) or free variable of ``frame``, else None."""
    is_global, text = name
    return (frame.f_globals if is_global else frame.f_locals).get(text)


def deferred_conv_block(x, weight, bias, stride, padding, frame) -> Tensor | None:
    """The placeholder of the deferred conv block (see above) for nn.Conv2d's call from
    ``frame`` (the caller's frame, whose current instruction is that call), else None (the
    layer then runs conv2d as usual)."""
    if type(x) is not Tensor or not _ALONE:
        return None
    key = (frame.f_code, frame.f_lasti)
    names = _BLOCK_SITES.get(key, False)
    if names is False:
        if len(_BLOCK_SITES) > 256:
            _BLOCK_SITES.clear()
        names = _BLOCK_SITES[key] = _block_names(*key)
    if names is None:
        return None
    first, second = _named(frame, names[0]), _named(frame, names[1])
    if not (type(first) is ModuleType and type(second) is ModuleType
            and first.__dict__.get("relu") is relu
            and second.__dict__.get("max_pool2d") is max_pool2d):
        return None
    t = Tensor._wrap(_NOTHING)  # read by no one: F.relu and F.max_pool2d take it next
    t._op = _pending_conv
    t._saved = (x, weight, bias, stride, padding)
    return t


_NOTHING = np.empty(0)


def _fold(t: Tensor, op, backward, data) -> Tensor:
    """Make ``t`` (which nothing else holds) the output ``data`` of ``op``, with ``backward``
    (None: no graph) in place of its own; it keeps its inputs, and the version check covers
    its output, which folded backward passes read."""
    t._data = data
    t._op = op
    if t._backward is not None:
        t._backward = backward
        saved = t._saved
        if not any(x is None for x in saved):  # (not ``in``: Tensor == is elementwise)
            t._saved_versions = (*(t._saved_versions if saved else ()), 0)
            t._saved = (*saved, None)
    return t


def _pair(value, where: str, name: str) -> tuple[int, int]:
    """:func:`lamina.convsize.as_pair`, with the common cases first (a layer's settings are
    pairs of ints already; a plain int): per call, the checks cost as much as a small
    convolution's arithmetic at batch 1."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int \
            and type(value[1]) is int:
        return value
    if type(value) is int:
        return value, value
    return as_pair(value, where, name)


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` itself if a Tensor; else a constant Tensor of it, in ``like``'s floating dtype
    when given (so a float64 NumPy batch does not silently upcast a float32 layer)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and like.dtype.kind == "f" and np.asarray(x).dtype.kind in "fiub":
        return Tensor(x, dtype=like.dtype)
    return Tensor(x)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b (the fully connected layer).

    Args:
        x: input Tensor (or array, converted to ``weight``'s dtype), shape (*, in).
        weight: shape (out, in).
        bias: shape (out,), or None.

    Returns:
        Tensor of shape (*, out).

    Raises:
        ValueError: ``x``'s last dimension is not ``in``.
    """
    if not isinstance(x, Tensor):
        x = _tensor(x, like=weight)
    return apply(OPS["linear"], x, weight, bias)


def linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """relu(x W^T + b) as one fused op: the values and gradients of ``relu(linear(x, ...))``
    with one graph node and one array fewer (``nn.Sequential`` uses it for Linear + ReLU).

    Args:
        x: input Tensor (or array, converted to ``weight``'s dtype), shape (*, in).
        weight: shape (out, in).
        bias: shape (out,), or None.

    Returns:
        Tensor of shape (*, out), all entries >= 0.

    Raises:
        ValueError: ``x``'s last dimension is not ``in``.
    """
    if not isinstance(x, Tensor):
        x = _tensor(x, like=weight)
    return apply(OPS["linear_relu"], x, weight, bias)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x) (eq 9.3). (``inplace`` is accepted; the result is always a new tensor.)

    When ``x`` is the output of conv2d or linear that nothing else holds (``F.relu(
    self.conv1(x))``), the ReLU is folded into the node that made it (see "Folding" in this
    module's docstring): the same values and gradients, one graph node and one array fewer.
    """
    if type(x) is Tensor and x._op is _pending_conv:  # the deferred conv block
        x._op = _pending_conv_relu
        return x
    if type(x) is Tensor and x._op in _RELU_FOLDS and not getweakrefcount(x) \
            and (_refs(x) <= _ALONE or _refs(x) == _ALONE + 1 and _ALONE and _rebinds("relu")):
        return _fold(x, _RELU_FOLDS[x._op], _RELU_FOLDS[x._op](x._data, x._backward), x._data)
    return apply(OPS["relu"], x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """max(negative_slope * x, x) (eq 9.4). (``inplace`` is accepted; the result is new.)"""
    return apply(OPS["leaky_relu"], x, negative_slope=negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x) (eq 9.1)."""
    return apply(OPS["sigmoid"], x)


def tanh(x: Tensor) -> Tensor:
    """tanh(x) (eq 9.2)."""
    return apply(OPS["tanh"], x)


def swish(x: Tensor) -> Tensor:
    """x * sigmoid(x) (eq 9.5); PyTorch calls it SiLU."""
    return apply(OPS["swish"], x)


silu = swish


def scaled_tanh(x: Tensor, scale: float = 1.7159, slope: float = 2.0 / 3.0) -> Tensor:
    """LeNet-5's A tanh(S x), A = 1.7159, S = 2/3 (LeCun et al. 1998)."""
    return apply(OPS["scaled_tanh"], x, scale=scale, slope=slope)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """e^x_i / sum_j e^x_j along ``dim`` (computed shifted by the max)."""
    return apply(OPS["softmax"], x, axis=dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log softmax by log-sum-exp along ``dim``."""
    return apply(OPS["log_softmax"], x, axis=dim)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014): zero each element with probability p and
    scale the survivors by 1/(1-p), so the expectation is unchanged and eval is the identity.
    (``inplace`` is accepted; the result is always a new tensor.)"""
    if not 0.0 <= p < 1.0:
        if p == 1.0 and training:
            return x * 0.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    data = x._data if isinstance(x, Tensor) else np.asarray(x)
    return x * _dropout_mask(data, p)


def _dropout_mask(data: np.ndarray, p: float) -> np.ndarray:
    """keep / (1 - p) in ``data``'s dtype, keep drawn with probability 1 - p per element as
    u >= p 2^32 for uniform random 32-bit integers u (2^-32 steps of probability; random
    bytes from the global generator are 2x faster than random float32s), or as u >= 256 p
    for random bytes u where 256 p is a whole number (exact for 0.25 and 0.5, the MNIST
    example's rates: a quarter of the random bytes, 0.48 against 6.9 ms for its 590k-element
    mask at batch 64, busy machine, 1 thread), laid out in
    ``data``'s memory order when ``data`` is dense (the conv ops' transposed outputs): the
    product x * mask then runs over both arrays in order (30x faster than across layouts
    for the MNIST example's pooled maps, measured: 76 us against 2.4 ms)."""
    dense = dense_view(data)
    axes = dense[0] if dense is not None else tuple(range(data.ndim))
    shape = tuple(data.shape[a] for a in axes)
    size = int(np.prod(shape))
    if (p * 256).is_integer():  # p = k / 256 (0.25, 0.5, ...): one random byte is exact
        bits = np.frombuffer(generator().bytes(size), dtype=np.uint8).reshape(shape)
        keep = bits >= np.uint8(p * 256)
    else:
        bits = np.frombuffer(generator().bytes(4 * size), dtype="<u4").reshape(shape)
        keep = bits >= np.uint32(min(round(p * 2.0**32), 2**32 - 1))
    mask = keep * np.asarray(1.0 / (1.0 - p), dtype=data.dtype)
    return mask.transpose(np.argsort(axes)) if axes != tuple(range(data.ndim)) else mask


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error (eq 4.2)."""
    check_reduction(reduction, "mse_loss")
    return apply(OPS["mse_loss"], input, _as_like(target, input), reduction=reduction)


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error (eq 4.3)."""
    check_reduction(reduction, "l1_loss")
    return apply(OPS["l1_loss"], input, _as_like(target, input), reduction=reduction)


def _as_like(target, input: Tensor):
    """A numeric target takes the input's dtype (no silent upcast); a floating Tensor target
    of another width is cast in the graph (a loss is computed in its input's dtype)."""
    if isinstance(target, Tensor):
        if target.dtype.kind == "f" and input.dtype.kind == "f" and target.dtype != input.dtype:
            return target.to(input.dtype)
        return target
    arr = np.asarray(target)
    return arr.astype(input.dtype) if arr.dtype.kind in "fbiu" else arr


def _check_batch(input: Tensor, target, where: str) -> None:
    n_in, n_t = input.shape[0] if input.ndim else None, np.shape(target)[:1]
    if n_t and n_in is not None and n_t[0] != n_in:
        raise ValueError(f"{where}: input has batch size {n_in} but target has batch size "
                         f"{n_t[0]} (input shape {input.shape}, target shape {np.shape(target)})")


def cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean",
                  label_smoothing: float = 0.0, ignore_index: int = -100,
                  size_average=None, reduce=None) -> Tensor:
    """Cross-entropy of softmax(input) against class indices (N,) or probabilities (N, C)
    (eq 4.4-4.5), by log-sum-exp. As torch: input (N, C, d1, ...) with target (N, d1, ...)
    works per position; index targets equal to ``ignore_index`` add nothing to the loss and
    are not counted by 'mean' (which divides by sum_i w[t_i] over the kept i).
    (``size_average``/``reduce`` are torch's deprecated forms of ``reduction``.)"""
    if (weight is None and not label_smoothing and size_average is None and reduce is None
            and isinstance(input, Tensor) and isinstance(target, Tensor)
            and class_rows(input._data, target._data)):
        # the common case in one op: (N, C) logits, (N,) class indices (ignored rows included)
        check_reduction(reduction, "cross_entropy")
        return apply(OPS["cross_entropy"], input, target, reduction=reduction,
                     ignore_index=ignore_index)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "cross_entropy")
    _check_batch(input, target, "cross_entropy")
    target = target if isinstance(target, Tensor) else np.asarray(target)
    if not isinstance(target, Tensor) and target.dtype.kind == "f":
        target = target.astype(input.dtype)
    tdtype = target.dtype
    if tdtype.kind not in "iuf":
        raise TypeError(f"cross_entropy: target must hold integer class indices or float "
                        f"probabilities, got dtype {tdtype}")
    if weight is not None:
        weight = np.asarray(weight._data if isinstance(weight, Tensor) else weight,
                            dtype=input.dtype)
    if input.ndim > 2:  # (N, C, d1, ...)
        _check_positions(input, target, tdtype, "cross_entropy")
        if tdtype.kind in "iu":
            return _more.cross_entropy_ignore(input, target, weight, reduction, label_smoothing,
                                              ignore_index)
        c = input.shape[1]  # probabilities: each position is a row
        rows = input.movedim(1, -1).reshape(-1, c)
        out = cross_entropy(rows, _tensor(target).movedim(1, -1).reshape(-1, c), weight,
                            reduction, label_smoothing)
        if reduction == "none":
            return out.reshape((input.shape[0],) + tuple(input.shape[2:]))
        return out
    if input.ndim == 1:  # one sample of C classes
        one = (_tensor(target).reshape(1, -1) if tdtype.kind == "f"
               else _array_of(target).reshape(1))
        out = cross_entropy(input.reshape(1, -1), one, weight, reduction, label_smoothing,
                            ignore_index)
        return out.reshape(()) if reduction == "none" else out
    if tdtype.kind in "iu" and np.any(_array_of(target) == ignore_index):
        return _more.cross_entropy_ignore(input, target, weight, reduction, label_smoothing,
                                          ignore_index)
    return apply(OPS["cross_entropy"], input, target, weight=weight, reduction=reduction,
                 label_smoothing=label_smoothing)


def _check_positions(input: Tensor, target, tdtype, where: str) -> None:
    """For input (N, C, d1, ...): an index target must be (N, d1, ...), probabilities the
    input's shape."""
    expected = (input.shape if tdtype.kind == "f"
                else (input.shape[0],) + tuple(input.shape[2:]))
    if tuple(target.shape) != tuple(expected):
        raise ValueError(f"{where}: expected logits of shape (N, C), got {tuple(input.shape)} "
                         f"with a target of shape {tuple(target.shape)} (for input "
                         f"(N, C, d1, ...) the target must be {tuple(expected)})")


def _array_of(x) -> np.ndarray:
    return np.asarray(x._data if isinstance(x, Tensor) else x)


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """torch's deprecated ``size_average``/``reduce`` flags as a ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def nll_loss(input: Tensor, target, weight=None, reduction: str = "mean",
             ignore_index: int = -100, size_average=None, reduce=None) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``:
    l_i = -w[t_i] * input[i, t_i]; 'mean' divides by sum_i w[t_i] (N without weights), as
    PyTorch; targets equal to ``ignore_index`` add nothing and are not counted.
    ``cross_entropy(z, t) == nll_loss(log_softmax(z), t)``.

    Shape: input (N, C) float, target (N,) int, weight (C,) -> (N,) for 'none', else ();
    also input (C,) with a 0-d target, and input (N, C, d1, ...) with target (N, d1, ...).

    Raises:
        TypeError: input not floating point (as PyTorch).
        ValueError: batch sizes differ, or a class index outside [0, C) (not ignore_index).
    """
    if (weight is None and size_average is None and reduce is None
            and isinstance(input, Tensor) and isinstance(target, Tensor)
            and class_rows(input._data, target._data)):
        # the common case in one op (lamina.ops.loss_more.nll_loss): (N, C), (N,) indices
        check_reduction(reduction, "nll_loss")
        return apply(OPS["nll_loss"], input, target, ignore_index=ignore_index,
                     reduction=reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "nll_loss")
    if input.dtype.kind != "f":
        raise TypeError(f"nll_loss: input (log-probabilities) must be floating point (float16, "
                        f"float32 or float64), got dtype {input.dtype}; convert it first, e.g. "
                        f"x.float()")
    idx = _array_of(target)
    if input.ndim == 1:
        out = nll_loss(input.reshape(1, -1), idx.reshape(1), weight, reduction, ignore_index)
        return out.reshape(()) if reduction == "none" else out
    if input.ndim > 2:
        _check_positions(input, idx, idx.dtype, "nll_loss")
        rows = input.movedim(1, -1).reshape(-1, input.shape[1])
        out = nll_loss(rows, idx.reshape(-1), weight, reduction, ignore_index)
        return out.reshape(idx.shape) if reduction == "none" else out
    if input.ndim != 2:
        raise ValueError(f"nll_loss: expected input of shape (N, C), got {input.shape}")
    _check_batch(input, target, "nll_loss")
    if idx.dtype.kind not in "iu" or idx.shape != input.shape[:1]:
        raise ValueError(f"nll_loss: target must hold integer class indices of shape "
                         f"({input.shape[0]},), got dtype {idx.dtype} and shape {idx.shape}")
    n_classes = input.shape[1]
    ignored = idx == ignore_index
    safe = np.where(ignored, 0, idx)
    if safe.size and (safe.min() < 0 or safe.max() >= n_classes):
        bad = safe[(safe < 0) | (safe >= n_classes)][0]
        raise ValueError(f"nll_loss: target class index {bad} is out of range for {n_classes} "
                         f"classes (expected 0 <= target < {n_classes})")
    picked = -input[np.arange(len(safe)), safe]
    masked = bool(ignored.any())
    if weight is None and not masked:
        if reduction == "none":
            return picked
        return picked.sum() if reduction == "sum" else picked.mean()
    w = (np.ones(len(safe), dtype=input.dtype) if weight is None
         else np.asarray(_array_of(weight), dtype=input.dtype)[safe])
    w = np.where(ignored, 0, w).astype(input.dtype)
    picked = picked * w
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / np.asarray(w.sum(), dtype=input.dtype)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, pos_weight=None,
                                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, stable for any logit (see the op's docstring)."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    return apply(OPS["binary_cross_entropy_with_logits"], input, _as_like(target, input),
                 weight=None if weight is None else _as_like(weight, input),
                 pos_weight=None if pos_weight is None else _as_like(pos_weight, input),
                 reduction=reduction)


def flatten(x: Tensor, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""
    return x.flatten(start_dim, end_dim)


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: Tensor, padding, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims; ``padding`` = (left, right, top, bottom, ...) as PyTorch orders it
    (last dimension first). ``mode``: 'constant' (``value``, default 0), 'reflect' (mirror
    without the edge), 'replicate' (repeat the edge) or 'circular' (wrap around); the last
    three gather the input by index, so gradients add up where an element is reused.

    Raises:
        ValueError: an odd number of pads, more pairs than dims, or an unknown mode.
    """
    if isinstance(mode, (int, float)) and not isinstance(mode, bool):  # lamina's pad(x, p, 0.5)
        mode, value = "constant", mode
    if len(padding) % 2:
        raise ValueError(f"pad: padding needs pairs, got {padding}")
    if len(padding) // 2 > x.ndim:
        raise ValueError(f"pad: {len(padding) // 2} pairs of padding for a tensor of only "
                         f"{x.ndim} dims")
    widths = [(0, 0)] * x.ndim
    for i in range(len(padding) // 2):
        widths[x.ndim - 1 - i] = (int(padding[2 * i]), int(padding[2 * i + 1]))
    if mode == "constant":
        return apply(OPS["pad"], x, pad_width=tuple(widths),
                     value=0.0 if value is None else value)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    for dim, (left, right) in enumerate(widths):
        if left or right:
            n = x.shape[dim]
            if mode == "reflect" and max(left, right) >= n:
                raise ValueError(f"pad: reflect padding ({left}, {right}) must be smaller than "
                                 f"the dimension's size {n}")
            index = np.pad(np.arange(n), (left, right), mode=_PAD_MODES[mode])
            x = x.index_select(dim, index)
    return x


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
           padding=0) -> Tensor:
    """2-D cross-correlation (eq 6.4), NCHW. Shape: x (N, C_in, H, W), weight
    (C_out, C_in, kh, kw) -> (N, C_out, H_out, W_out), H_out = floor((H + 2p - kh)/s) + 1
    (eq 6.5-6.6)."""
    return apply(OPS["conv2d"], _tensor(x), weight, bias,
                 stride=_pair(stride, "conv2d", "stride"),
                 padding=_pair(padding, "conv2d", "padding"))


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over kernel_size windows (notes 6.3, output size eq 6.7-6.8); stride defaults to
    kernel_size."""
    k = _pair(kernel_size, "max_pool2d", "kernel_size")
    s = k if stride is None else _pair(stride, "max_pool2d", "stride")
    p = _pair(padding, "max_pool2d", "padding")
    if type(x) is Tensor and x._op is _pending_conv_relu:  # the deferred conv block
        inputs, weight, bias, conv_stride, conv_padding = x._saved
        return apply(OPS["conv2d_relu_max_pool2d"], inputs, weight, bias, stride=conv_stride,
                     padding=conv_padding, pool_kernel_size=k, pool_stride=s, pool_padding=p)
    if type(x) is Tensor and x._op is conv2d_relu and not getweakrefcount(x) \
            and (_refs(x) <= _ALONE or _refs(x) == _ALONE + 1 and _ALONE
                 and _rebinds("max_pool2d")):  # F.max_pool2d(F.relu(conv(x))): see "Folding"
        before = x._backward.before_relu if x._backward is not None else None
        out, backward = conv2d_relu_max_pool2d_folded(x._data, before, k, s, p)
        return _fold(x, conv2d_relu_max_pool2d_folded, backward, out)
    if type(x) is Tensor and x._op is _CONV2D and not getweakrefcount(x) \
            and (_refs(x) <= _ALONE or _refs(x) == _ALONE + 1 and _ALONE
                 and _rebinds("max_pool2d")):  # F.max_pool2d(conv(x)), a ReLU may follow
        out, backward = conv2d_max_pool2d_folded(x._data, x._backward, k, s, p)
        return _fold(x, conv2d_max_pool2d_folded, backward, out)
    return apply(OPS["max_pool2d"], _tensor(x), kernel_size=k, stride=s, padding=p)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over kernel_size windows (padding counts as zeros, as PyTorch's default
    count_include_pad=True); stride defaults to kernel_size."""
    k = as_pair(kernel_size, "avg_pool2d", "kernel_size")
    s = k if stride is None else as_pair(stride, "avg_pool2d", "stride")
    return apply(OPS["avg_pool2d"], _tensor(x), kernel_size=k, stride=s,
                 padding=as_pair(padding, "avg_pool2d", "padding"))


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """Class indices (int, any shape) as one-hot rows: shape (*, num_classes), int64, with a 1
    at each index (``num_classes=-1``: one more than the largest index).

    Raises:
        RuntimeError: a non-integer tensor, a negative index, or one >= num_classes.
    """
    idx = _array_of(tensor)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot: expected an integer (class index) tensor, got dtype "
                           f"{idx.dtype}")
    if idx.size and idx.min() < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and idx.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                           f"({num_classes}), got {int(idx.max())}")
    out = np.zeros(idx.shape + (num_classes,), np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.int64), 1, axis=-1)
    return Tensor._wrap(out)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped into [min_val, max_val]."""
    return x.clamp(min_val, max_val)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6)."""
    return x.clamp(0.0, 6.0)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input / max(||input||_p along dim, eps) (unit vectors along ``dim``)."""
    return input / input.norm(p, dim=dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 x2) / max(||x1|| ||x2||, eps) along ``dim``."""
    dot = (x1 * x2).sum(dim=dim)
    return dot / (x1.norm(2, dim=dim) * x2.norm(2, dim=dim)).clamp(min=eps)

# The functional forms of the layers added after the notes' models (normalisation, embedding,
# more activations, losses, convolutions, pooling, interpolate) live in their own module.
from lamina import functional_more as _more  # noqa: E402

adaptive_avg_pool2d = _more.adaptive_avg_pool2d
adaptive_max_pool2d = _more.adaptive_max_pool2d
avg_pool1d = _more.avg_pool1d
batch_norm = _more.batch_norm
binary_cross_entropy = _more.binary_cross_entropy
celu = _more.celu
conv1d = _more.conv1d
conv_transpose2d = _more.conv_transpose2d
dropout1d = _more.dropout1d
dropout2d = _more.dropout2d
elu = _more.elu
embedding = _more.embedding
gelu = _more.gelu
group_norm = _more.group_norm
hardsigmoid = _more.hardsigmoid
hardswish = _more.hardswish
huber_loss = _more.huber_loss
interpolate = _more.interpolate
kl_div = _more.kl_div
layer_norm = _more.layer_norm
logsigmoid = _more.logsigmoid
max_pool1d = _more.max_pool1d
mish = _more.mish
prelu = _more.prelu
selu = _more.selu
smooth_l1_loss = _more.smooth_l1_loss
softplus = _more.softplus
softsign = _more.softsign
threshold = _more.threshold
