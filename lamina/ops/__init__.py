"""Differentiable operations on NumPy arrays: each op's forward and backward side by side.

An op is a plain function of arrays (and keyword options) that returns ``(out, backward)``;
``backward(grad, need)`` returns one gradient per array input, ``None`` where ``need[i]`` is
false or the input is not differentiable. :func:`lamina.tensor.apply` connects ops to Tensors.

Every op is registered in :data:`OPS` so that one parametrised test can gradcheck all of
them: an op without a test case fails the suite.

An op registered with ``fresh_grads=True`` promises that its backward returns newly allocated
arrays that nothing else references (not ``grad`` itself, not a view, not an array kept in the
closure, never the same array twice): the engine then hands them to leaf tensors as their
``.grad`` without the defensive copy it makes otherwise.

Dtype policy (checked by :func:`lamina.tensor.apply`, one set lookup per array input): each op
declares, per positional input, the dtype kinds it accepts (``dtypes=``):

* :data:`FLOAT` -- floating point only; integer, bool, complex and string arrays raise
  TypeError naming the op, the input, the dtype received and the dtypes accepted (where
  PyTorch raises: softmax, the losses' input, linear, conv2d, ...);
* :data:`PROMOTE` -- floating point; integer and bool arrays are promoted to the dtype of the
  op's first floating array input, else to float32 (PyTorch's default dtype), as PyTorch's
  ``exp``/``log``/``sqrt``/``sigmoid``/``tanh`` do and as a loss's target is;
* :data:`REAL` (the default), :data:`NUMBER`, :data:`INDEX`, :data:`INDEX_OR_FLOAT` -- kinds
  taken as they are. No op takes complex numbers: lamina has no complex autograd, so a complex
  array is refused rather than having its imaginary part dropped.

Saved tensors (``saves=``): for each positional input, the inputs (and :data:`OUTPUT`) that its
gradient reads. :func:`lamina.tensor.apply` records the version counter of each tensor saved for
the inputs that need a gradient, and backward raises if one was changed in place since, as
PyTorch does. The default, :data:`ALL`, saves every input and the output (always safe). An op
registered with ``view=True`` may return a view of its first input: the output then counts as
that input's base, whose in-place changes are the view's too (PyTorch shares the counter).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

OPS: dict[str, Callable] = {}
FRESH_GRADS: set[Callable] = set()

# dtype kinds (``np.dtype.kind``) accepted per input; "+" marks integer/bool promotion
FLOAT = "f"
PROMOTE = "f+"
REAL = "biuf"
NUMBER = "iuf"
INDEX = "iu"
INDEX_OR_FLOAT = "iuf"
DTYPES: dict[Callable, tuple[str, ...]] = {}  # op -> accepted kinds per positional input

OUTPUT = -1  # in ``saves``: the op's own output
ALL = "all"  # ``saves`` default: every input and the output
SAVES: dict[Callable, tuple | None] = {}  # op -> per input, what its gradient reads; None: nothing
VIEWS: set[Callable] = set()  # ops whose output may be a view of their first input

_DESCRIBE = {FLOAT: "floating point (float16, float32 or float64)",
             PROMOTE: "floating point, integer or bool (integers and bools are promoted to "
                      "floating point)",
             REAL: "bool, integer or floating point",
             NUMBER: "integer or floating point",
             INDEX: "integer"}


def register(fn: Callable | None = None, *, fresh_grads: bool = False,
             dtypes: tuple[str, ...] = (REAL,), saves: tuple | str | None = ALL,
             view: bool = False):
    """Add ``fn`` to the op registry under its name (``@register`` or
    ``@register(fresh_grads=True, dtypes=(FLOAT,), saves=((0,),))``, see the module docstring).

    Args:
        fresh_grads: backward returns fresh arrays nothing else references.
        dtypes: accepted dtype kinds per positional input (the last entry covers the rest).
        saves: per positional input, the inputs (indices, :data:`OUTPUT` for the output) its
            gradient reads (the last entry covers the rest); None when backward reads no
            values at all (only shapes); :data:`ALL` (default) for every input and the output.
        view: the output may share the first input's memory (NumPy view): an in-place change
            of either is then a change of both for the version checks.
    """
    if fn is None:
        return lambda f: register(f, fresh_grads=fresh_grads, dtypes=dtypes, saves=saves,
                                  view=view)
    OPS[fn.__name__] = fn
    if fresh_grads:
        FRESH_GRADS.add(fn)
    DTYPES[fn] = tuple(dtypes)
    if saves != ALL:
        SAVES[fn] = saves
    if view:
        VIEWS.add(fn)
    return fn


def conform_dtypes(op: Callable, arrays: list) -> list:
    """``arrays`` made acceptable to ``op`` under its dtype policy (integers and bools promoted
    where it says :data:`PROMOTE`), or TypeError naming the op, the input, the dtype received and
    those accepted. Called by :func:`lamina.tensor.apply` only when an input's kind is not one
    the op takes as it is (the fast path is one set lookup per input)."""
    spec = DTYPES[op]
    target = next((a.dtype for a in arrays if type(a) is np.ndarray and a.dtype.kind == "f"),
                  np.dtype(np.float32))
    out = list(arrays)
    for i, a in enumerate(arrays):
        if type(a) is not np.ndarray:
            continue
        accepted = spec[min(i, len(spec) - 1)]
        kind = a.dtype.kind
        if kind in accepted:
            continue
        if "+" in accepted and kind in "biu":
            out[i] = a.astype(target)
            continue
        raise TypeError(_dtype_message(op, i, a.dtype, accepted))
    return out


def _dtype_message(op: Callable, index: int, dtype: np.dtype, accepted: str) -> str:
    import inspect

    params = [p for p in inspect.signature(op).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    name = f"input {index} ({params[index].name})" if index < len(params) else f"input {index}"
    wanted = _DESCRIBE.get(accepted, "one of the kinds " + accepted)
    message = f"{op.__name__}: {name} must be {wanted}, got dtype {dtype}"
    if dtype.kind in "biu":
        message += "; convert it first, e.g. x.float()"
    elif dtype.kind == "c":
        message += ("; lamina has no complex numbers (the imaginary part would be lost): pass "
                    "x.real and x.imag as separate real inputs")
    elif dtype.kind in "USO":
        message += "; text is not numbers: encode it first (e.g. one-hot or class indices)"
    return message


def weak(value):
    """A NumPy scalar or 0-d array as the Python number it holds; anything else unchanged.

    Python numbers are "weak" in NumPy's type promotion (float32 array * 0.5 is float32) but
    NumPy scalars are not (float32 array * np.float64(0.5) is float64): ops pass their scalar
    hyperparameters through this so that a value from a config or a tuner cannot upcast.
    """
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    The reverse of NumPy broadcasting: a size-1 (or missing) axis of an input received the
    same value along that axis of the output, so its gradient is the sum along it.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def relu_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A read-only array of zeros, for ReLU as ``np.maximum(out, zeros, out=out)`` in the
    batch-1 inference paths: with the scalar 0, NumPy spends 0.3-0.6 us per call on
    broadcasting it, 2-3x the work itself on a layer's few hundred outputs (same values)."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


FAMILIES = ("elementwise", "reduce", "shape", "linalg", "activation", "loss", "conv", "norm",
            "activation_more", "loss_more", "embedding", "recurrent", "unary", "scan", "einsum")

# Import the op families so that they register themselves.
for _family in FAMILIES:
    importlib.import_module(f"lamina.ops.{_family}")
