"""The compiled kernels, each registered against the op it speeds up, with its eligibility check.

Every op in :mod:`lamina.ops` has a plain NumPy forward and backward, the reference. A
compiled kernel (``lamina[fast]``, Numba) replaces one step of an op where it is faster; the
op asks :func:`select` for it by name, with the arrays it would pass, and gets the compiled
function when Numba is in use (:func:`lamina.kernels.numba_kernels`, ``LAMINA_NO_NUMBA=1``
turns them all off) and the kernel's eligibility check accepts them, else None: the op then
runs its NumPy steps. The checks are plain functions of the arguments (dtype, contiguity,
sizes, batch); the sizes they compare against live in :mod:`lamina.kernels.thresholds`.

This table is the one place that lists them. Layer patterns (Conv2d -> ReLU -> MaxPool2d,
Linear -> ReLU, runs of Linear layers), which name layers rather than ops, are registered
in :data:`lamina.inference.PATTERNS`; the fused ops they run are ordinary ops of
:mod:`lamina.ops` and pick their kernels here.

``exact``: the kernel gives the reference's bits (it adds in the same order), or only equal
values up to rounding (it sums in another order, e.g. instead of a BLAS product).

Example:
    >>> import numpy as np
    >>> from lamina.kernels import registry
    >>> "col2im" in registry.KERNELS
    True
    >>> registry.KERNELS["linear_rows"].op
    'linear'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina import kernels as _kernels
from lamina.kernels import blas as _blas
from lamina.kernels import numba_kernels
from lamina.kernels import thresholds as T


class Kernel:
    """One compiled kernel: ``lamina.kernels.numba_<family>.<name>``, a read-only record
    (slots: :func:`select` reads two fields per call, as fast as attributes go; a dataclass
    would cost ``import lamina`` 0.8 ms for its module).

    Attributes:
        name: the kernel function's name in its module.
        family: "conv", "linear", "recurrent", "norm", "winograd" or "loss" (the module
            :func:`lamina.kernels.numba_kernels` loads).
        op: the op of :data:`lamina.ops.OPS` whose step it replaces.
        replaces: the NumPy code it stands in for.
        exact: bitwise the reference's values (else equal up to rounding).
        eligible: the check on the arguments the op passes to :func:`select`.
    """

    __slots__ = ("name", "family", "op", "replaces", "exact", "eligible")

    def __init__(self, name: str, family: str, op: str, replaces: str, exact: bool,
                 eligible: Callable[..., bool]) -> None:
        values = (name, family, op, replaces, exact, eligible)
        for field, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, field, value)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"Kernel {self.name!r} is read-only (register a new check instead)")

    def __repr__(self) -> str:
        return (f"Kernel(name={self.name!r}, family={self.family!r}, op={self.op!r}, "
                f"exact={self.exact})")


KERNELS: dict[str, Kernel] = {}


def kernel(family: str, op: str, replaces: str, exact: bool):
    """Register the decorated eligibility check as that of kernel ``check.__name__``."""
    def add(check: Callable[..., bool]) -> Callable[..., bool]:
        name = check.__name__
        KERNELS[name] = Kernel(name, family, op, replaces, exact, check)
        return check
    return add


def select(name: str, *args) -> Callable | None:
    """The compiled kernel ``name`` when Numba is in use and its eligibility check accepts
    ``args``, else None (the caller runs the NumPy reference)."""
    entry = KERNELS[name]
    if not entry.eligible(*args):  # first: in training most checks fail at once (batch)
        return None
    if not _kernels.numba_available():  # asked at every call: tests switch it at run time
        return None
    module = _MODULES.get(entry.family)
    if module is None:
        module = numba_kernels(entry.family)
        if module is None:
            return None
        _MODULES[entry.family] = module
    return getattr(module, name)  # (not cached: a test may replace it in its module)


_MODULES: dict[str, object] = {}  # family -> its loaded module of compiled kernels


# ------------------------------------------------------------------ convolution


def _few_weights(w2d: np.ndarray, xp: np.ndarray, stride) -> bool:
    """At most SMALL_CONV_WEIGHTS weights, horizontal stride 1, one dtype, contiguous input:
    the convolutions the ``small_conv_*`` kernels compute without an im2col matrix."""
    return (stride[1] == 1 and w2d.shape[0] * w2d.shape[1] <= T.SMALL_CONV_WEIGHTS
            and w2d.dtype == xp.dtype and xp.flags.c_contiguous)


@kernel("conv", "conv2d", "im2col + GEMM (_conv_forward)", exact=False)
def small_conv_forward(w2d, xp, stride) -> bool:
    return _few_weights(w2d, xp, stride)


@kernel("conv", "conv2d_relu_max_pool2d",
        "im2col + GEMM, then max_windows_bias_relu (2 x 2 windows, stride 2)", exact=False)
def small_conv_relu_pool_2x2(w2d, xp, stride, pool, bias) -> bool:
    return (pool == ((2, 2), (2, 2), (0, 0)) and _few_weights(w2d, xp, stride)
            and (bias is None or bias.dtype == xp.dtype))


@kernel("conv", "conv2d", "im2col + g @ col^T (_conv_backward)", exact=False)
def small_conv_weight_grad(w2d, xp, stride, g) -> bool:
    return g.dtype == xp.dtype and _few_weights(w2d, xp, stride)


@kernel("conv", "conv2d", "g @ col^T by BLAS (_weight_product)", exact=False)
def weight_grad(g, col) -> bool:
    return g.shape[0] * col.shape[0] <= T.SMALL_WEIGHT_GRAD and g.dtype == col.dtype


@kernel("conv", "conv2d", "col2im's strided adds, offset by offset", exact=True)
def col2im(cols, out) -> bool:
    return cols.flags.c_contiguous and out.flags.c_contiguous


@kernel("conv", "conv2d_relu_max_pool2d",
        "the op's value, im2col + GEMM + pool (inference on a few images)", exact=False)
def conv_relu_max_pool_direct(x, weight, bias, stride, pool) -> bool:
    return (x.shape[0] <= T.DIRECT_MAX_BATCH and tuple(stride) == (1, 1)
            and tuple(pool[2]) == (0, 0) and x.dtype == weight.dtype
            and (bias is None or bias.dtype == x.dtype))


# ------------------------------------------------------------------ ReLU


@kernel("conv", "relu", "np.maximum(x, zeros) over a dense array (activation.relu_values)",
        exact=True)
def relu_forward(x) -> bool:
    return x.dtype in (np.float32, np.float64) and x.size >= T.RELU_DENSE_FROM


@kernel("conv", "relu", "np.maximum(x, 0, out=x) on a C-contiguous array (activation.relu_values "
        "in place)", exact=True)
def relu_in_place(x) -> bool:
    return (x.dtype in (np.float32, np.float64) and x.size >= T.RELU_IN_PLACE_FROM
            and x.flags.c_contiguous)


@kernel("conv", "relu", "grad * (out > 0) (activation.relu_grad)", exact=False)
def relu_backward(grad, out) -> bool:
    return grad.dtype == out.dtype and relu_forward(out)


# ------------------------------------------------------------------ window max


@kernel("conv", "max_pool2d", "separable np.maximum over the window (max_windows)",
        exact=True)
def max_pool_forward(xp, kernel) -> bool:
    return kernel[0] * kernel[1] <= T.MAX_WINDOW_AREA  # (any strides: the wide conv's z)


@kernel("conv", "conv2d_relu_max_pool2d", "max_windows, then bias and ReLU", exact=True)
def max_pool_bias_relu(xp, kernel, bias) -> bool:
    return max_pool_forward(xp, kernel) and (bias is None or bias.dtype == xp.dtype)


@kernel("conv", "max_pool2d", "scatter of (index == k) * grad, offset by offset", exact=True)
def max_pool_backward(grad, index) -> bool:
    return index.dtype == np.uint8


@kernel("conv", "conv2d_relu_max_pool2d", "grad * (out > 0), then max_pool_backward",
        exact=True)
def relu_max_pool_backward(grad, out, index) -> bool:
    return index.dtype == np.uint8 and grad.dtype == out.dtype


# ------------------------------------------------------------------ linear


@kernel("linear", "linear", "x @ W.T + b (+ ReLU) by BLAS and NumPy (_affine)", exact=False)
def linear_rows(x, weight, bias) -> bool:
    return (x.ndim == 2 and x.shape[0] <= T.LINEAR_MAX_ROWS and weight.size <= T.SMALL_LINEAR
            and x.dtype == weight.dtype
            and (bias is None or (bias.dtype == x.dtype and bias.shape == weight.shape[:1])))


def _rows_of(a, dtype) -> bool:
    """A 2-D C-contiguous array of ``dtype`` with at least ELEMENTWISE_KERNEL_FROM entries."""
    return (a.ndim == 2 and a.dtype == dtype and a.flags.c_contiguous
            and a.size >= T.ELEMENTWISE_KERNEL_FROM)


@kernel("linear", "linear", "out += b; np.maximum(out, 0, out=out) (_affine)", exact=True)
def bias_relu(out, bias) -> bool:
    """A floating 2-D C-contiguous GEMM output of at least ELEMENTWISE_KERNEL_FROM entries and
    a bias of its width and dtype (or None)."""
    return (out.dtype.kind == "f" and _rows_of(out, out.dtype)
            and (bias is None or (bias.dtype == out.dtype and bias.shape == out.shape[1:]
                                  and bias.flags.c_contiguous)))


@kernel("linear", "linear_relu", "grad * (out > 0) and its sum(axis=0) (linear_relu's backward)",
        exact=True)
def relu_grad(grad, out) -> bool:
    """Gradient and output of one shape and floating dtype, 2-D, C-contiguous, at least
    ELEMENTWISE_KERNEL_FROM entries."""
    return (out.dtype.kind == "f" and grad.shape == out.shape and _rows_of(out, out.dtype)
            and _rows_of(grad, out.dtype))


@kernel("linear", "linear", "linear_forward layer after layer (LinearChain)", exact=False)
def linear_chain(width: int, dtype, weights, biases) -> bool:
    """Every layer fits one compiled call for input rows of ``width`` numbers of ``dtype``:
    2-D C-contiguous weights of ``dtype`` and at most SMALL_LINEAR entries whose shapes
    chain, biases None or of the layer's width, dtype and contiguous. (Rows are checked at
    each call: at most LINEAR_MAX_ROWS.)"""
    if len(weights) < 2:
        return False
    for weight, bias in zip(weights, biases, strict=True):
        if (weight.ndim != 2 or weight.shape[1] != width or weight.dtype != dtype
                or weight.size > T.SMALL_LINEAR or not weight.flags.c_contiguous):
            return False
        width = weight.shape[0]
        if bias is not None and (bias.shape != (width,) or bias.dtype != dtype
                                 or not bias.flags.c_contiguous):
            return False
    return True


# ------------------------------------------------------------------ losses


@kernel("loss", "cross_entropy", "the NumPy steps of _cross_entropy_indices (max, exp, sums, "
        "log, gather, range check, ignored rows)", exact=False)
def cross_entropy_rows(logits, target) -> bool:
    """Float32/float64 C-contiguous (N, C) logits and int64 targets (N,)."""
    return (logits.ndim == 2 and logits.dtype in _FLOATS and logits.flags.c_contiguous
            and target.dtype == _INT64 and target.shape == logits.shape[:1])


_INT64 = np.dtype(np.int64)


# ------------------------------------------------------------------ Winograd F(4x4, 3x3)


@kernel("winograd", "conv2d", "B^T d B by two NumPy matrix products (winograd.input_tiles)",
        exact=False)
def winograd_input(xp, v) -> bool:
    return xp.dtype == v.dtype and xp.flags.c_contiguous


@kernel("winograd", "conv2d", "A^T M A (+ bias) by two NumPy matrix products and a strided "
        "copy (winograd.output_tiles)", exact=False)
def winograd_output(m, z, bias) -> bool:
    return (m.dtype == z.dtype and m.flags.c_contiguous and z.flags.c_contiguous
            and (bias is None or bias.dtype == z.dtype))


@kernel("winograd", "conv2d", "A dY A^T by a copy and two NumPy matrix products "
        "(winograd.output_grad_tiles)", exact=False)
def winograd_output_grad(g, dm) -> bool:
    return g.dtype == dm.dtype and g.flags.c_contiguous


@kernel("winograd", "conv2d_relu_max_pool2d",
        "max_pool_backward (2 x 2, stride 2), then winograd_output_grad on its result", exact=True)
def winograd_output_grad_pooled(g, index, dm) -> bool:
    return (index.dtype == np.uint8 and g.dtype == dm.dtype and g.flags.c_contiguous
            and index.flags.c_contiguous and index.shape == g.shape)


@kernel("winograd", "conv2d_batch_norm_relu_max_pool2d",
        "batch norm's input gradient written whole (_bn_relu_pool_grad_numpy), then "
        "winograd_output_grad on it", exact=False)
def winograd_output_grad_bn_pooled(g, index, z, dm) -> bool:
    """g, index: the pooled gradient and the maxima's offsets (C, PH, PW, N); z: the
    convolution's output in whole tiles (C, 4 TY, 4 TX, N); dm: a transformed block."""
    return (winograd_output_grad_pooled(g, index, dm) and z.dtype == dm.dtype
            and z.flags.c_contiguous)


@kernel("winograd", "conv2d", "B dV B^T by two NumPy matrix products and four strided adds "
        "(winograd.input_grad_tiles)", exact=False)
def winograd_input_grad(dv, grad_xp) -> bool:
    return (dv.dtype == grad_xp.dtype and dv.flags.c_contiguous
            and grad_xp.flags.c_contiguous)


# ------------------------------------------------------------------ normalisation

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@kernel("norm", "batch_norm", "mean and mean of centred squares by NumPy (_bn_stats)",
        exact=False)
def bn_stats(x3, weight, bias) -> bool:
    """x3: the (N', C, L) view of the input, with runs of at least BN_MIN_RUN along L. The
    op asks for this one and then takes all four batch-norm kernels (the other three have
    the same check) or none."""
    return (x3.shape[2] >= T.BN_MIN_RUN and x3.dtype in _FLOATS and x3.flags.c_contiguous
            and all(p is None or p.dtype == x3.dtype for p in (weight, bias)))


@kernel("norm", "batch_norm", "x * s + t per channel by NumPy (_bn_map)", exact=False)
def bn_affine(x3, weight, bias) -> bool:
    return bn_stats(x3, weight, bias)


@kernel("norm", "batch_norm", "sum dy and sum dy (x - mu) by NumPy (_bn_grad_sums)",
        exact=False)
def bn_grad_sums(x3, weight, bias) -> bool:
    return bn_stats(x3, weight, bias)


@kernel("norm", "batch_norm", "dy * s + x * b + k per channel by NumPy (_bn_map)",
        exact=False)
def bn_input_grad(x3, weight, bias) -> bool:
    return bn_stats(x3, weight, bias)


@kernel("norm", "batch_norm_relu_max_pool2d", "statistics, affine map, ReLU and 2 x 2 "
        "window maximum by NumPy (_bn_relu_pool_numpy)", exact=False)
def bn_relu_pool_forward(xt, weight, bias) -> bool:
    """xt: the (C, H, W, N) view of the input, whose batch axis must be contiguous. The op
    asks for this one and then takes the backward kernel too (same check) or neither."""
    return (xt.dtype in _FLOATS and xt.strides[3] == xt.itemsize
            and all(p is None or p.dtype == xt.dtype for p in (weight, bias)))


@kernel("norm", "batch_norm_relu_max_pool2d", "routing to the window maxima, the sums and "
        "the input gradient by NumPy (_bn_relu_pool_grad_numpy)", exact=False)
def bn_relu_pool_backward(xt, weight, bias) -> bool:
    return bn_relu_pool_forward(xt, weight, bias)


@kernel("norm", "conv2d_batch_norm_relu_max_pool2d", "conv2d's output whole, then "
        "batch_norm_relu_max_pool2d's forward on it (the composed ops)", exact=False)
def conv_bn_relu_pool_forward(xp, w2d, params) -> bool:
    """xp: the padded input (C_in, Hp, Wp, N); w2d: the convolution's weights (C_out,
    C_in kh kw); params: its bias and the batch norm's weight and bias (None where absent).
    Few weights (as the ``small_conv_*`` kernels), float32 or float64, one dtype. The op
    takes the three kernels of this op together or none."""
    return (xp.dtype in _FLOATS and _few_weights(w2d, xp, (1, 1))
            and all(p is None or p.dtype == xp.dtype for p in params))


@kernel("norm", "conv2d_batch_norm_relu_max_pool2d", "dz whole (routing, batch norm's "
        "input gradient), then conv2d's weight gradient (the composed ops)", exact=False)
def conv_bn_relu_pool_backward(xp, w2d, params) -> bool:
    return conv_bn_relu_pool_forward(xp, w2d, params)


@kernel("norm", "conv2d_batch_norm_relu_max_pool2d", "the sums of z u over the convolution's "
        "output z (conv2d's weight gradient of dz whole)", exact=False)
def conv_input_gram(xp, w2d, params) -> bool:
    return conv_bn_relu_pool_forward(xp, w2d, params)


@kernel("norm", "conv2d_batch_norm_relu_max_pool2d", "the routing and sums of "
        "_bn_relu_pool_grad_numpy", exact=False)
def bn_pool_sums(g, arg, xmax) -> bool:
    """The pooled gradient g, offsets arg (uint8) and kept maxima xmax, (C, PH, PW N)."""
    return (g.dtype in _FLOATS and xmax.dtype == g.dtype and arg.dtype == np.uint8
            and all(a.flags.c_contiguous and a.shape == g.shape for a in (arg, xmax)))


# ------------------------------------------------------------------ recurrent


@kernel("recurrent", "lstm_sequence",
        "sigmoid from tanh and c = f c_prev + i g by NumPy (_lstm_cell_forward)", exact=True)
def lstm_cell_forward(gates) -> bool:
    return gates.dtype in _FLOATS


@kernel("recurrent", "lstm_sequence", "np.tanh of the gates, lstm_cell_forward, np.tanh of "
        "the cell and h = o tanh(c) (a rational tanh, within 3.5e-7)", exact=False)
def lstm_step_forward(gates) -> bool:
    """float32 only: the rational tanh is fitted to float32's precision."""
    return gates.dtype == np.float32


@kernel("recurrent", "lstm_sequence", "the forward time loop in Python: np.matmul and "
        "lstm_step_forward per step", exact=True)
def lstm_forward_steps(gates) -> bool:
    """float32 (as lstm_step_forward), and NumPy's bundled OpenBLAS found (its GEMM called
    directly: the same products as np.matmul's)."""
    return gates.dtype == np.float32 and _blas.sgemm_library() is not None


@kernel("recurrent", "lstm_sequence", "the backward time loop in Python: "
        "lstm_cell_backward and np.matmul per step", exact=True)
def lstm_backward_steps(gates, grad) -> bool:
    return grad.dtype == np.float32 and lstm_forward_steps(gates)


@kernel("recurrent", "lstm_sequence", "one step of BPTT by NumPy (_lstm_cell_backward)",
        exact=True)
def lstm_cell_backward(gates, grad) -> bool:
    return gates.dtype in _FLOATS and grad.dtype == gates.dtype


@kernel("recurrent", "gru_layer", "r, z and n pre-activations and h = (1 - z) n + z h by "
        "NumPy (_gru_rz_input, _gru_n_input, _gru_hidden)", exact=True)
def gru_rz_input(proj) -> bool:
    """The op asks for this one and then takes gru_n_input and gru_hidden too (same check)."""
    return proj.dtype in _FLOATS


@kernel("recurrent", "gru_layer", "the pre-activation of n by NumPy (_gru_n_input)",
        exact=True)
def gru_n_input(proj) -> bool:
    return gru_rz_input(proj)


@kernel("recurrent", "gru_layer", "h = (1 - z) n + z h_prev by NumPy (_gru_hidden)", exact=True)
def gru_hidden(proj) -> bool:
    return gru_rz_input(proj)


@kernel("recurrent", "gru_layer", "one step of BPTT by NumPy (_gru_cell_backward)", exact=True)
def gru_cell_backward(gates, grad) -> bool:
    return gates.dtype in _FLOATS and grad.dtype == gates.dtype


__all__ = ["KERNELS", "Kernel", "kernel", "select"]
