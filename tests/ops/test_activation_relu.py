"""ReLU's value and gradient paths (lamina.ops.activation.relu_values / relu_grad): the
compiled kernels ``relu_forward``/``relu_backward`` and the NumPy path on dense arrays
(contiguous, or transposed views as the conv ops return) equal np.maximum(x, 0) and
grad * (out > 0), in float32 and float64, in place or not, NaN kept."""

from __future__ import annotations

import numpy as np
import pytest

import lamina.kernels
from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import OPS
from lamina.ops.activation import relu_grad, relu_values

# (shape, axes of the view): contiguous, the conv ops' NCHW view of (C, H, W, N), a 2-D
# transpose, a strided slice (not dense: the plain np.maximum path), below the threshold;
# LeNet-5's fc1 output at batch 32 (2-D C-contiguous: relu_in_place, linear's relu_grad) and
# one between RELU_IN_PLACE_FROM and RELU_DENSE_FROM
LAYOUTS = [((3, 5, 7, 40), None), ((6, 9, 9, 16), (3, 0, 1, 2)), ((70, 90), (1, 0)),
           ((40, 300), "slice"), ((8, 9), None), ((32, 120), None), ((4, 100), None)]


def _array(rng, shape, axes, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    a.reshape(-1)[::97] = 0.0
    a.reshape(-1)[5::211] = np.nan
    if axes == "slice":
        return a[:, ::2]
    return a if axes is None else a.transpose(axes)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape,axes", LAYOUTS)
def test_relu_values_equal_np_maximum(rng, backend, dtype, shape, axes):
    x = _array(rng, shape, axes, dtype)
    expected = np.maximum(x, 0)
    out = relu_values(x)
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, expected)
    if axes not in (None, "slice"):
        assert out.strides == x.strides  # the same memory layout as the input
    inplace = x.copy(order="K")
    assert relu_values(inplace, inplace) is inplace
    np.testing.assert_array_equal(inplace, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axes", LAYOUTS)
def test_relu_grad_equals_grad_times_mask(rng, backend, dtype, shape, axes):
    out = np.maximum(_array(rng, shape, axes, dtype), 0)
    grad = _array(rng, shape, axes, dtype)
    grad[np.isnan(grad)] = 1.5
    np.testing.assert_array_equal(relu_grad(grad, out), grad * (out > 0))
    other = np.ascontiguousarray(grad)  # another memory layout than out's
    np.testing.assert_array_equal(relu_grad(other, out), grad * (out > 0))


def test_compiled_relu_kernels_against_numpy(rng):
    numba_conv = pytest.importorskip("lamina.kernels.numba_conv")
    for dtype in (np.float32, np.float64):
        x = _array(rng, (5000,), None, dtype)
        out = np.empty_like(x)
        numba_conv.relu_forward(x, out)
        np.testing.assert_array_equal(out, np.maximum(x, 0))
        numba_conv.relu_forward(x, x)
        np.testing.assert_array_equal(x, out)
        grad = rng.standard_normal(5000).astype(dtype)
        g = np.empty_like(grad)
        numba_conv.relu_backward(grad, out, g)
        np.testing.assert_array_equal(g, grad * (out > 0))


def test_kernels_are_chosen_by_size_and_dtype(monkeypatch):
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
    pytest.importorskip("numba")
    big = np.zeros(T.RELU_DENSE_FROM, np.float32)
    assert registry.select("relu_forward", big) is not None
    assert registry.select("relu_forward", big[:-1]) is None
    assert registry.select("relu_forward", big.astype(np.int32)) is None
    assert registry.select("relu_forward", big.astype(np.float16)) is None
    assert registry.select("relu_backward", big, big.astype(np.float64)) is None


def test_relu_op_keeps_integer_dtypes(backend):
    x = np.arange(-5000, 5000, dtype=np.int64).reshape(100, 100)
    out, backward = OPS["relu"](x)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    grad = np.ones((100, 100))
    np.testing.assert_array_equal(backward(grad, (True,))[0], grad * (x > 0))
