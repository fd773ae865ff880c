"""Matrix products: matmul (NumPy semantics, batched and 1-D), the fused linear layer, and the
fused linear layer + ReLU."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from lamina import kernels
from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import FLOAT, NUMBER, OUTPUT, register, relu_zeros, unbroadcast


def _check_matmul(a, b, where: str) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{where}: both operands need at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != k_b:
        raise ValueError(
            f"{where}: shapes {a.shape} and {b.shape} do not align: the left operand's last "
            f"dimension ({a.shape[-1]}) must equal the right operand's "
            f"{'only' if b.ndim == 1 else 'second-to-last'} dimension ({k_b})")


@register(fresh_grads=True, dtypes=(NUMBER,), saves=((1,), (0,)))
def matmul(a, b):
    """a @ b. Gradients: grad_a = grad @ b^T, grad_b = a^T @ grad (batch axes unbroadcast)."""
    _check_matmul(a, b, "matmul")
    out = a @ b

    def backward(grad, need):
        a2 = a if a.ndim > 1 else a[None, :]
        b2 = b if b.ndim > 1 else b[:, None]
        g = grad  # restore the axes that 1-D operands dropped: out (..., n, m)
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        grad_a = grad_b = None
        if need[0]:
            grad_a = unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need[1]:
            grad_b = unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)
        return grad_a, grad_b

    return out, backward


def _check_linear(x, weight) -> None:
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"Linear(in_features={weight.shape[1]}, out_features={weight.shape[0]}): expected "
            f"input with last dimension {weight.shape[1]}, got input of shape {np.shape(x)}")


def _column_major(x: np.ndarray) -> bool:
    return x.flags.f_contiguous and not x.flags.c_contiguous


def _linear_backward(x, weight, bias, grad, need, grad_b=None):
    """(grad_x, grad_W, grad_b) of y = x W^T + b, each None where not needed (or no bias);
    ``grad_b``: the bias gradient when the caller has summed it already."""
    g2 = grad if grad.ndim == 2 else grad.reshape(-1, grad.shape[-1])
    grad_x = None
    if need[0]:
        # in x's memory order: a flattened conv output is column-major (its batch innermost),
        # and its gradient then flows back to the conv ops without a transposing copy
        grad_x = (weight.T @ grad.T).T if x.ndim == 2 and _column_major(x) else grad @ weight
    grad_w = None
    if need[1]:
        grad_w = g2.T @ (x if x.ndim == 2 else x.reshape(-1, x.shape[-1]))
    if grad_b is None and bias is not None and need[2]:
        grad_b = g2.sum(axis=0)
    return (grad_x, grad_w, grad_b)[:len(need)]  # linear(x, w) has no bias input at all


def linear_forward(x, weight, bias=None, relu: bool = False) -> np.ndarray:
    """The value of :func:`linear` (or of :func:`linear_relu` when ``relu``) alone, for
    inference: same checks, no backward closure (batch-1 latency, see nn.Sequential).

    With the compiled kernels (``lamina[fast]``), one or two rows through a weight matrix of
    at most SMALL_LINEAR entries take one compiled call for product, bias and ReLU (the
    registered kernel ``linear_rows``, :func:`lamina.kernels.numba_linear.linear_rows`;
    equal up to rounding)."""
    _check_linear(x, weight)
    compiled = registry.select("linear_rows", x, weight, bias)
    if compiled is not None:
        out = np.empty((x.shape[0], weight.shape[0]), x.dtype)
        compiled(x, weight, np.empty(0, x.dtype) if bias is None else bias, relu, out)
        return out
    return _affine(x, weight, bias, relu)


def _affine(x, weight, bias, relu: bool) -> np.ndarray:
    """x @ weight.T (+ bias) (through ReLU), by BLAS and NumPy, without checks; one row as
    the matrix-vector product weight @ x[0] (a direct GEMV call, slightly faster). With the
    compiled kernels, bias and ReLU of a large enough output take one pass (``bias_relu``)."""
    out = np.dot(weight, x[0])[None] if x.ndim == 2 and x.shape[0] == 1 else _product(x, weight)
    if bias is None and not relu:
        return out
    fused = registry.select("bias_relu", out, bias)
    if fused is not None:
        fused(out, np.empty(0, out.dtype) if bias is None else bias, relu)
        return out
    if bias is not None:
        out += bias
    if relu:
        np.maximum(out, _zeros(out.shape[-1:], out.dtype), out=out)
    return out


_ZEROS: dict[tuple, np.ndarray] = {}


def _zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A cached read-only row of zeros for ``np.maximum(out, zeros, out=out)``: 1.7x faster
    than the scalar 0 on a 128 x 256 float32 output (13 -> 7.6 us; NumPy's scalar path)."""
    key = (shape, dtype)
    zeros = _ZEROS.get(key)
    if zeros is None:
        if len(_ZEROS) > 64:
            _ZEROS.clear()
        zeros = _ZEROS[key] = relu_zeros(shape, dtype)
    return zeros


def _product(x, weight) -> np.ndarray:
    """x @ weight.T, C-contiguous, in the form OpenBLAS runs fastest for its shape (the same
    values up to rounding; see LINEAR_TRANSPOSED_* and LINEAR_NARROW_* in
    :mod:`lamina.kernels.thresholds`): for a few rows into a wide layer the product
    weight @ x.T, transposed back (up to 2x faster at 16-32 rows); for many rows into a few
    outputs, x times a contiguous copy of weight.T (25-35% faster)."""
    if x.ndim == 2 and weight.ndim == 2:
        rows, outputs = x.shape[0], weight.shape[0]
        if rows <= T.LINEAR_TRANSPOSED_MAX_ROWS and outputs >= T.LINEAR_TRANSPOSED_MIN_OUT:
            return np.ascontiguousarray((weight @ x.T).T)
        if rows >= T.LINEAR_NARROW_MIN_ROWS and outputs <= T.LINEAR_NARROW_MAX_OUT:
            return x @ np.ascontiguousarray(weight.T)
    return x @ weight.T


class LinearChain:
    """Consecutive linear layers (each through ReLU or not) applied to arrays for inference:
    ``LinearChain(weights, biases, relus)(x)`` is :func:`linear_forward` layer after layer
    (``weights``, ``biases`` and ``relus`` have one entry per layer; a bias may be None).

    With the compiled kernels (``lamina[fast]``), one or two rows go through all the layers
    in one compiled call (:func:`lamina.kernels.numba_linear.linear_chain`) when the
    registered kernel ``linear_chain`` is eligible (two layers or more, one dtype,
    C-contiguous weights of at most SMALL_LINEAR entries, shapes that chain): the same
    values as layer by layer, without the Python steps and calls between layers (MLP
    batch-1 latency); without them, such a chain runs the NumPy steps of
    :func:`linear_forward` without checking each layer again (the same values). The layers
    are checked once, here; a chain holds the arrays it was given, so build a new one when
    a parameter array is replaced (the no-grad plan of :mod:`lamina.inference` does, when a
    parameter's version changes). Otherwise, and to raise the usual errors, it runs layer
    by layer.
    """

    def __init__(self, weights, biases, relus) -> None:
        self.layers = list(zip(weights, biases, relus, strict=True))
        first = self.layers[0][0]
        self.width, self.dtype = first.shape[-1], first.dtype
        self.packed = None  # the compiled call's (weights, biases, relus) tuples, if it fits
        if registry.KERNELS["linear_chain"].eligible(self.width, self.dtype, weights, biases):
            empty = np.empty(0, self.dtype)
            self.packed = (tuple(weights), tuple(empty if b is None else b for b in biases),
                           tuple(bool(r) for r in relus))
            # the NumPy steps of linear_forward on one row, ReLU against zeros (relu_zeros)
            self.vector_steps = [(w, b, relu_zeros(w.shape[:1], self.dtype) if r else None)
                                 for w, b, r in self.layers]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._run(kernels.numba_kernels("linear"), x)

    def bind(self, compiled) -> Callable[[np.ndarray], np.ndarray]:
        """``self(x)`` with the kernels in use fixed now: ``compiled`` is
        ``lamina.kernels.numba_kernels("linear")``, or None for the NumPy steps. For callers
        that notice a change of kernels themselves (the no-grad plan of
        :mod:`lamina.inference`): a batch-1 call without the look-up. With the compiled
        chain, the returned function tests only what the call needs (a C-contiguous array of
        the chain's width and dtype, at most LINEAR_MAX_ROWS rows) before calling it: the
        MLP's batch-1 step spent ~2 us around an 18 us kernel in the general ``_run``."""
        slow = partial(self._run, compiled)
        if compiled is None or self.packed is None:
            return slow
        kernel, (weights, biases, relus) = compiled.linear_chain, self.packed
        width, dtype, max_rows = self.width, self.dtype, T.LINEAR_MAX_ROWS
        shape_out, empty = (weights[-1].shape[0],), np.empty

        def run(x: np.ndarray) -> np.ndarray:
            shape = x.shape
            if (len(shape) == 2 and shape[1] == width and shape[0] <= max_rows
                    and x.dtype == dtype and x.flags.c_contiguous):
                out = empty(shape[:1] + shape_out, dtype)
                kernel(x, weights, biases, relus, out)
                return out
            return slow(x)

        return run

    def _run(self, compiled, x: np.ndarray) -> np.ndarray:
        if (self.packed is not None and x.ndim == 2 and x.shape[1] == self.width
                and x.dtype == self.dtype):
            if compiled is None:  # checked once: linear_forward's NumPy steps alone
                if x.shape[0] == 1:  # on the one row as a vector: fewer NumPy calls
                    row = x[0]
                    for weight, bias, zeros in self.vector_steps:
                        row = np.dot(weight, row)
                        if bias is not None:
                            row += bias
                        if zeros is not None:  # ReLU
                            np.maximum(row, zeros, out=row)
                    return row[None]
                for weight, bias, relu in self.layers:
                    x = _affine(x, weight, bias, relu)
                return x
            if x.shape[0] <= T.LINEAR_MAX_ROWS:
                out = np.empty((x.shape[0], self.packed[0][-1].shape[0]), x.dtype)
                compiled.linear_chain(np.ascontiguousarray(x), *self.packed, out)
                return out
        for weight, bias, relu in self.layers:
            x = linear_forward(x, weight, bias, relu)
        return x


@register(fresh_grads=True, dtypes=(FLOAT,), saves=((1,), (0,), ()))
def linear(x, weight, bias=None):
    """Fused affine map y = x W^T + b (one GEMM each way, bias added in place).

    Shape: x (*, in), weight (out, in), bias (out,) -> y (*, out).
    Gradients: grad_x = grad W, grad_W = grad^T x, grad_b = sum of grad over all but the last axis.
    """
    out = linear_forward(x, weight, bias)

    def backward(grad, need):
        return _linear_backward(x, weight, bias, grad, need)

    return out, backward


@register(fresh_grads=True, dtypes=(FLOAT,),
          saves=((1, OUTPUT), (0, OUTPUT), (OUTPUT,)))
def linear_relu(x, weight, bias=None):
    """relu(x W^T + b) as one op (eq 9.3 after the affine map). Fused for speed: the ReLU runs
    in place on the GEMM's output, so a hidden layer costs one graph node and one array, not two.

    Shape: as :func:`linear`.
    Gradients: those of :func:`linear` for grad * (y > 0).
    """
    out = linear_forward(x, weight, bias, relu=True)

    def backward(grad, need):
        return _linear_relu_backward(x, weight, bias, out, grad, need)

    return out, backward


def _linear_relu_backward(x, weight, bias, out, grad, need):
    """:func:`_linear_backward` of y = relu(x W^T + b) whose output is ``out``: for
    ``grad * (out > 0)``, which the compiled ``relu_grad`` forms in one pass with the bias
    gradient."""
    compiled = registry.select("relu_grad", grad, out)
    if compiled is None:
        return _linear_backward(x, weight, bias, grad * (out > 0), need)
    masked = np.empty_like(out)  # and the bias gradient in the same pass
    with_bias = bias is not None and len(need) > 2 and need[2]
    grad_b = np.empty(out.shape[1] if with_bias else 0, out.dtype)
    compiled(grad, out, masked, grad_b)
    return _linear_backward(x, weight, bias, masked, need, grad_b if with_bias else None)


#: the inputs whose versions linear_chain's backward checks, whichever inputs need a
#: gradient: x and every weight (of at most LINEAR_CHAIN_MAX_LAYERS layers; the biases are
#: never read, nor the output: the last layer has no ReLU)
_CHAIN_READS = (0, *range(1, 2 * T.LINEAR_CHAIN_MAX_LAYERS, 2))


@register(fresh_grads=True, dtypes=(FLOAT,), saves=(_CHAIN_READS,))
def linear_chain(x, *params, relus=()):
    """Consecutive linear layers, each through ReLU or not, as one op: with
    ``params = (W_1, b_1, ..., W_n, b_n)`` (a bias may be None) and h_0 = x,
    h_k = h_{k-1} W_k^T + b_k, through ReLU where ``relus[k-1]`` (eq 9.3), and the output is
    h_n. The values and gradients of :func:`linear` / :func:`linear_relu` layer after layer,
    computed by the same functions in the same order (so the same bits), as one graph node:
    ``nn.Sequential`` runs each run of two Linear layers or more this way in grad mode (the
    MLP's training step spent ~40 us a step on the separate nodes' Python, 1 thread).

    The last layer has no ReLU (``nn.Sequential`` runs a last Linear + ReLU pair as
    :func:`linear_relu`), so the output is not read by backward: changing it in place after
    the forward pass is allowed, as after :func:`linear`. Every weight and x are version
    checked (saved) whichever inputs need a gradient, a superset of what PyTorch checks.

    Shape: x (*, in_1), W_k (out_k, in_k) with in_k = out_{k-1}, b_k (out_k,) -> (*, out_n).
    Gradients: backward through the layers in reverse, each as its own op's backward
    (grad_W_k = g_k^T h_{k-1}, grad_b_k = sum of g_k, g_{k-1} = g_k W_k, where g_k is the
    gradient at h_k masked by h_k > 0 for a ReLU layer); the input gradients of the first
    layers are skipped when nothing before them needs one.

    Raises:
        ValueError: ``params`` is not two entries per entry of ``relus``, the last layer has a
            ReLU, there are more than LINEAR_CHAIN_MAX_LAYERS layers, or a layer's input
            width does not match.
    """
    if len(params) != 2 * len(relus) or not relus:
        raise ValueError(f"linear_chain: expected a weight and a bias (or None) for each of "
                         f"the {len(relus)} layers in relus, got {len(params)} parameters")
    if relus[-1] or len(relus) > T.LINEAR_CHAIN_MAX_LAYERS:
        raise ValueError(f"linear_chain: expected at most {T.LINEAR_CHAIN_MAX_LAYERS} layers, "
                         f"the last without ReLU, got relus={tuple(relus)}")
    hidden = [x]  # h_0 .. h_n
    for k, relu in enumerate(relus):
        hidden.append(linear_forward(hidden[-1], params[2 * k], params[2 * k + 1], relu))
    out = hidden[-1]

    def backward(grad, need):
        grads = [None] * len(need)
        wanted = [i for i, n in enumerate(need) if n]
        first = wanted[0] if wanted else len(need)  # inputs before it need no gradient
        for k in range(len(relus) - 1, -1, -1):
            if 2 * k + 2 < first:
                break
            weight, bias = params[2 * k], params[2 * k + 1]
            layer_need = (2 * k + 1 > first, need[2 * k + 1], need[2 * k + 2])
            if relus[k]:
                layer = _linear_relu_backward(hidden[k], weight, bias, hidden[k + 1], grad,
                                              layer_need)
            else:
                layer = _linear_backward(hidden[k], weight, bias, grad, layer_need)
            grad, grads[2 * k + 1], grads[2 * k + 2] = layer
        if need[0]:
            grads[0] = grad
        return tuple(grads)

    return out, backward
