"""The linear layer's GEMM forms and its one-pass bias + ReLU (lamina/ops/linalg.py, the
kernels bias_relu and relu_grad of lamina/kernels/numba_linear.py): every form gives x W^T
(+ b, through ReLU) of the reference, on both kernel paths, NaN kept."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
import lamina.kernels
from lamina.kernels import thresholds as T
from lamina.ops import OPS, linalg
from lamina.tensor import apply

# (rows, in, out): each form of _product (transposed product, narrow copy, plain) and the
# edges of their thresholds
SHAPES = [(2, 37, T.LINEAR_TRANSPOSED_MIN_OUT), (T.LINEAR_TRANSPOSED_MAX_ROWS, 19, 130),
          (T.LINEAR_TRANSPOSED_MAX_ROWS + 1, 19, 130), (5, 23, T.LINEAR_TRANSPOSED_MIN_OUT - 1),
          (T.LINEAR_NARROW_MIN_ROWS, 29, T.LINEAR_NARROW_MAX_OUT),
          (T.LINEAR_NARROW_MIN_ROWS - 1, 29, 3), (T.LINEAR_NARROW_MIN_ROWS, 29, 17), (0, 7, 120)]


def reference(x, w, b, relu):
    """x W^T + b (ReLU) in float64 by plain loops of NumPy dot products (no BLAS GEMM)."""
    out = np.array([[np.dot(row.astype(np.float64), unit.astype(np.float64)) for unit in w]
                    for row in x]).reshape(x.shape[0], w.shape[0])
    if b is not None:
        out = out + b
    return np.maximum(out, 0) if relu else out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_linear_forward_forms_equal_the_reference(backend, rng, dtype, shape, relu):
    rows, n_in, n_out = shape
    x = rng.standard_normal((rows, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    for bias in (b, None):
        got = linalg.linear_forward(x, w, bias, relu)
        assert got.dtype == dtype and got.shape == (rows, n_out) and got.flags.c_contiguous
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, reference(x, w, bias, relu), rtol=tol, atol=tol)


def test_the_forms_keep_nan_and_take_strided_inputs(backend, rng):
    x = rng.standard_normal((16, 40)).astype(np.float32)
    x[3, 7] = np.nan
    w = np.asfortranarray(rng.standard_normal((128, 40)).astype(np.float32))
    got = linalg.linear_forward(x[:, ::1], w, None, True)
    assert np.isnan(got[3]).all() and not np.isnan(np.delete(got, 3, axis=0)).any()
    np.testing.assert_allclose(linalg.linear_forward(np.asfortranarray(x), w, None, False),
                               x @ w.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [3, 64, 128])
def test_bias_relu_kernel_is_bitwise_numpy(monkeypatch, rng, dtype, rows):
    """bias_relu ([fast]) on outputs of at least ELEMENTWISE_KERNEL_FROM entries: bitwise
    the NumPy add and maximum, NaN kept, with and without a bias or ReLU."""
    pytest.importorskip("numba")
    compiled = lamina.kernels.numba_kernels("linear")
    if compiled is None:
        pytest.skip("compiled kernels disabled")
    out = rng.standard_normal((rows, 700)).astype(dtype)
    out[0, :3] = [np.nan, -np.inf, np.inf]
    bias = rng.standard_normal(700).astype(dtype)
    for b, relu in ((bias, True), (bias, False), (None, True)):
        expected = out + b if b is not None else out.copy()
        if relu:
            expected = np.maximum(expected, 0)
        got = out.copy()
        compiled.bias_relu(got, np.empty(0, dtype) if b is None else b, relu)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_kernel_is_bitwise_numpy(rng, dtype):
    pytest.importorskip("numba")
    compiled = lamina.kernels.numba_kernels("linear")
    if compiled is None:
        pytest.skip("compiled kernels disabled")
    grad = rng.standard_normal((50, 300)).astype(dtype)
    out = np.maximum(rng.standard_normal((50, 300)).astype(dtype), 0)
    grad[0, :2] = np.nan
    out[0, 0] = 0.0  # NaN * 0 stays NaN, as in NumPy
    result = np.empty_like(out)
    compiled.relu_grad(grad, out, result, np.empty(0, dtype))
    expected = grad * (out > 0)
    np.testing.assert_array_equal(result, expected)
    grad[0, :2] = -1.0  # with the bias gradient: bitwise NumPy's sum(axis=0)
    grad[:, 5] = -np.abs(grad[:, 5])
    out[:, 5] = 0.0
    expected = grad * (out > 0)
    bias_grad = np.empty(300, dtype)
    compiled.relu_grad(grad, out, result, bias_grad)
    np.testing.assert_array_equal(result, expected)
    assert bias_grad.tobytes() == expected.sum(axis=0).tobytes()
    assert bias_grad[5] == 0 and not np.signbit(bias_grad[5])  # -0.0 + ... from +0.0


@pytest.mark.parametrize("rows", [8, 128])
def test_linear_relu_step_is_the_same_on_both_paths(monkeypatch, rng, rows):
    """The op linear_relu forward and backward with the compiled kernels: bitwise the
    NumPy path's values (bias + ReLU and the ReLU gradient; the GEMMs are the same calls)."""
    pytest.importorskip("numba")
    x = rng.standard_normal((rows, 64)).astype(np.float32)
    w = rng.standard_normal((200, 64)).astype(np.float32)
    b = rng.standard_normal(200).astype(np.float32)
    seed = rng.standard_normal((rows, 200)).astype(np.float32)
    results = {}
    for on in (False, True):
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda on=on: on)
        tensors = [lm.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = apply(OPS["linear_relu"], *tensors)
        y.backward(seed)
        results[on] = [y.numpy()] + [t.grad.numpy() for t in tensors]
    for a, c in zip(results[False], results[True], strict=True):
        np.testing.assert_array_equal(a, c)


def test_linear_chain_checks_every_weight_it_reads_whatever_ran_before(rng):
    """The version check of linear_chain covers each weight its backward reads, also a
    frozen one, even after a shorter chain whose inputs needing a gradient were the same
    positions (the saved-tensor plans are kept per op, mask and number of inputs)."""
    def tensors(*shapes, grad=True):
        return [lm.tensor(rng.standard_normal(s), requires_grad=grad) for s in shapes]

    x = lm.tensor(rng.standard_normal((4, 3)))
    short = tensors((5, 3), (5,), (2, 5), (2,))
    apply(OPS["linear_chain"], x, *short, relus=(True, False)).sum().backward()
    params = tensors((5, 3), (5,), (4, 5), (4,)) + tensors((2, 4), (2,), grad=False)
    out = apply(OPS["linear_chain"], x, *params, relus=(True, True, False))
    params[4].add_(1.0)  # the frozen last weight, read for the input gradient of its layer
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_linear_chain_rejects_parameters_that_do_not_fit_the_layers(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="a weight and a bias"):
        OPS["linear_chain"](x, w, relus=(True,))
    with pytest.raises(ValueError, match="expected input with last dimension 3"):
        OPS["linear_chain"](x, w, None, w, None, relus=(True, False))
    with pytest.raises(ValueError, match="the last without ReLU"):
        OPS["linear_chain"](x, w, None, w.T, None, relus=(False, True))


def test_linear_chain_output_may_change_in_place_before_backward(rng):
    """As after linear: the output is not read by backward, so scaling it in place (e.g.
    logits /= T) before backward is allowed and the gradients are those of the scaled
    output."""
    x = lm.tensor(rng.standard_normal((4, 3)))
    params = [lm.tensor(rng.standard_normal(s), requires_grad=True)
              for s in ((5, 3), (5,), (2, 5), (2,))]
    out = apply(OPS["linear_chain"], x, *params, relus=(True, False))
    out /= 2.0
    out.sum().backward()
    half = [p.grad.numpy().copy() for p in params]
    for p in params:
        p.grad = None
    (apply(OPS["linear_chain"], x, *params, relus=(True, False)) / 2.0).sum().backward()
    for a, p in zip(half, params, strict=True):
        np.testing.assert_array_equal(a, p.grad.numpy())
