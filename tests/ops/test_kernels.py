"""Compiled kernels (lamina/kernels): the backend switch, the lazy import of Numba, and each
Numba kernel against the NumPy code it replaces (bitwise: both add in the same order)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina.kernels
from lamina.ops import im2col as L

ROOT = Path(__file__).resolve().parents[2]

# (kh, kw, sh, sw, H, W): 2x2 tiles, overlapping, gaps, a window of one, uneven edges
GEOMETRIES = [(2, 2, 2, 2, 8, 8), (2, 2, 1, 1, 5, 6), (3, 3, 2, 2, 9, 8), (3, 2, 1, 2, 7, 7),
              (1, 1, 1, 1, 4, 4), (2, 3, 3, 3, 8, 9), (3, 3, 3, 3, 9, 9), (2, 2, 3, 1, 8, 5)]
BATCHES = [1, 3, 8, 13]  # below 8 and from 8 on, different code paths


def run(code: str, **env) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=True)
    return proc.stdout.strip()


def test_import_lamina_does_not_import_numba():
    code = "import sys, lamina, lamina.nn, lamina.models; print('numba' in sys.modules)"
    assert run(code) == "False"


def test_environment_variable_forces_the_numpy_path():
    code = "import lamina.kernels as k; print(k.numba_available(), k.numba_kernels())"
    assert run(code, LAMINA_NO_NUMBA="1") == "False None"


def test_switch_is_read_at_every_call(monkeypatch):
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    assert lamina.kernels.numba_kernels() is None


@pytest.fixture
def numba_conv():
    pytest.importorskip("numba")
    from lamina.kernels import numba_conv

    return numba_conv


def test_numba_is_used_by_default_when_installed(numba_conv):
    code = "import lamina.kernels as k; print(k.numba_available())"
    assert run(code, LAMINA_NO_NUMBA="") == "True"


def numpy_window_max(xp, kh, kw, sh, sw):
    out_hw = ((xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1)
    best, _ = L.max_windows(xp, (kh, kw), (sh, sw), out_hw)
    return best, L.first_max(xp, best, (kh, kw), (sh, sw))


def inputs(rng, shape, dtype):
    """Small integers (many ties) with NaNs sprinkled in (NaN wins its window)."""
    xp = rng.integers(0, 3, shape).astype(dtype)
    flat = xp.reshape(-1)
    flat[rng.choice(flat.size, max(1, flat.size // 40), replace=False)] = np.nan
    return xp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_max_pool_kernels_equal_numpy(monkeypatch, numba_conv, dtype, n, geometry):
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    kh, kw, sh, sw, h, w = geometry
    rng = np.random.default_rng(n * 100 + h)
    xp = inputs(rng, (3, h, w, n), dtype)
    best_ref, index_ref = numpy_window_max(xp, kh, kw, sh, sw)
    best = np.empty(best_ref.shape, dtype)
    index = np.empty(best_ref.shape, np.uint8)
    numba_conv.max_pool_forward(xp, kh, kw, sh, sw, best, index)
    np.testing.assert_array_equal(best, best_ref)  # NaN == NaN here
    np.testing.assert_array_equal(index, index_ref)

    grad = rng.standard_normal(best.shape).astype(dtype)
    reference = L.max_scatter(grad, index_ref, xp.shape, (kh, kw), (sh, sw))
    out = np.full(xp.shape, 7.0, dtype)  # the kernel must overwrite everything
    numba_conv.max_pool_backward(grad, index, kh, kw, sh, sw, out)
    np.testing.assert_array_equal(out, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_relu_max_pool_backward_kernel_equals_numpy(monkeypatch, numba_conv, dtype, n,
                                                    geometry):
    """g = grad * (out > 0) and its scatter, in one call: bitwise the NumPy path's, for a
    gradient that is a transposed view (as the op passes it), NaN in it (NaN * 0 stays NaN)
    and outputs that ReLU set to zero."""
    kh, kw, sh, sw, h, w = geometry
    rng = np.random.default_rng(n * 100 + h + 7)
    xp = inputs(rng, (3, h, w, n), dtype)
    best, index = numpy_window_max(xp, kh, kw, sh, sw)
    out = np.maximum(best - 1.0, 0)  # relu(max + b): zeros where ReLU cut
    grad_nchw = rng.standard_normal((n, *best.shape[:3])).astype(dtype)
    grad_nchw.reshape(-1)[::5] = np.nan
    grad = grad_nchw.transpose(L.TO_INTERNAL)
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    g_ref, dz_ref = L.relu_max_scatter(grad, out, index, xp.shape, (kh, kw), (sh, sw))
    monkeypatch.undo()
    g, dz = np.full(out.shape, 7.0, dtype), np.full(xp.shape, 7.0, dtype)
    numba_conv.relu_max_pool_backward(grad, out, index, kh, kw, sh, sw, g, dz)
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(dz, dz_ref)
    cut = (out == 0) & np.isfinite(grad)
    assert (g[cut] == 0).all() and np.isnan(g[np.isnan(grad)]).all()
    got = L.relu_max_scatter(grad, out, index, xp.shape, (kh, kw), (sh, sw))  # the dispatch
    np.testing.assert_array_equal(got[1], dz_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_col2im_kernel_equals_numpy(monkeypatch, numba_conv, dtype, n, geometry):
    kh, kw, sh, sw, h, w = geometry
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    rng = np.random.default_rng(n * 100 + h)
    cols = rng.standard_normal((2, kh, kw, oh, ow, n)).astype(dtype)
    start = rng.standard_normal((2, h, w, n)).astype(dtype)
    for row0, rows in ((0, oh), (oh // 2, oh - oh // 2)):  # a whole matrix, a block
        block = np.ascontiguousarray(cols[:, :, :, :rows])
        expected, actual = start.copy(), start.copy()
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
        L.col2im(block, row0, (sh, sw), expected)
        numba_conv.col2im(block, row0, sh, sw, actual)
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("geometry", GEOMETRIES[:4])
@pytest.mark.parametrize("with_bias", [True, False])
def test_max_pool_bias_relu_kernel_equals_numpy(monkeypatch, numba_conv, dtype, n, geometry,
                                                with_bias):
    """relu(max + b): NaN stays NaN, as np.maximum(best + b, 0)."""
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    kh, kw, sh, sw, h, w = geometry
    rng = np.random.default_rng(n * 100 + h)
    xp = inputs(rng, (3, h, w, n), dtype) - 1.0
    xp.reshape(-1)[::7] = -0.0
    bias = np.array([0.0, 0.5, -1.0], dtype) if with_bias else None
    expected, _, best = L.max_windows_bias_relu(xp, (kh, kw), (sh, sw), (
        (h - kh) // sh + 1, (w - kw) // sw + 1), bias)
    out = np.empty(expected.shape, dtype)
    index = np.empty(expected.shape, np.uint8)
    none = np.empty(0, dtype)
    numba_conv.max_pool_bias_relu(xp, kh, kw, sh, sw, none if bias is None else bias, out, index)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(index, L.first_max(xp, best, (kh, kw), (sh, sw)))


def test_max_pool_kernel_on_minus_infinity_padding(numba_conv):
    xp = L.pad(np.full((1, 2, 2, 1), -1.0), (1, 1), -np.inf)
    best = np.empty((1, 3, 3, 1))
    index = np.empty((1, 3, 3, 1), np.uint8)
    numba_conv.max_pool_forward(xp, 2, 2, 1, 1, best, index)
    assert (best == -1.0).all()
    assert index[0, :, :, 0].tolist() == [[3, 2, 2], [1, 0, 0], [1, 0, 0]]


def test_doctests():
    import doctest

    result = doctest.testmod(lamina.kernels)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 3])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_forward_kernel_equals_blas(monkeypatch, rng, dtype, rows, relu, with_bias):
    """linear_forward on one or two rows takes the compiled kernel ([fast]): the BLAS value
    up to rounding, NaN kept; three rows and the NumPy path go to BLAS."""
    pytest.importorskip("numba")
    from lamina.ops import linalg

    x = rng.standard_normal((rows, 37)).astype(dtype)
    x[0, 5] = np.nan
    w = rng.standard_normal((11, 37)).astype(dtype)
    b = rng.standard_normal(11).astype(dtype) if with_bias else None
    results = {}
    for backend in (False, True):
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda on=backend: on)
        results[backend] = linalg.linear_forward(x, w, b, relu)
    assert results[True].dtype == dtype and results[True].shape == (rows, 11)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(results[True], results[False], rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="in_features=37"):
        linalg.linear_forward(x[:, :3], w, b, relu)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 3])
def test_linear_chain_equals_layer_by_layer(monkeypatch, rng, dtype, rows):
    """LinearChain: one compiled call for one or two rows ([fast]), bitwise the values of
    linear_forward layer by layer (the same kernel); biases absent or present, ReLU or not,
    NaN kept; three rows, the NumPy path and layers that do not fit run layer by layer."""
    pytest.importorskip("numba")
    from lamina.ops import linalg

    calls = []
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
    compiled = lamina.kernels.numba_kernels("linear")
    monkeypatch.setattr(compiled, "linear_chain",
                        lambda *a, f=compiled.linear_chain: calls.append(1) or f(*a))
    sizes = [29, 17, 8, 5]
    weights = [rng.standard_normal((o, i)).astype(dtype) for i, o in zip(sizes, sizes[1:],
                                                                          strict=False)]
    biases = [rng.standard_normal(17).astype(dtype), None, rng.standard_normal(5).astype(dtype)]
    relus = (True, False, True)
    x = rng.standard_normal((rows, 29)).astype(dtype)
    x[0, 3] = np.nan
    expected = x
    for w, b, r in zip(weights, biases, relus, strict=True):
        expected = linalg.linear_forward(expected, w, b, r)
    got = linalg.LinearChain(weights, biases, relus)(x)
    assert got.dtype == dtype and got.shape == (rows, 5) and np.isnan(got[0]).all()
    np.testing.assert_array_equal(got, expected)
    assert len(calls) == (rows <= 2)

    calls.clear()  # layers that cannot go to the compiled call: the same values, layer by layer
    strided = [weights[0], np.asfortranarray(weights[1]), weights[2]]
    tol = 1e-5 if dtype == np.float32 else 1e-12  # a strided weight: another compilation
    np.testing.assert_allclose(linalg.LinearChain(strided, biases, relus)(x), expected,
                               rtol=tol, atol=tol)
    mixed = [weights[0].astype(np.float16), *weights[1:]]
    linalg.LinearChain(mixed, biases, relus)(x)
    assert not calls
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)  # BLAS rounding
    got = linalg.LinearChain(weights, biases, relus)(x)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    assert not calls
    layer_by_layer = x  # the NumPy path, checked once: bitwise linear_forward's NumPy steps
    for w, b, r in zip(weights, biases, relus, strict=True):
        layer_by_layer = linalg.linear_forward(layer_by_layer, w, b, r)
    np.testing.assert_array_equal(got, layer_by_layer)
    with pytest.raises(ValueError, match=r"in_features=8, .*got input of shape \(\d, 17\)"):
        linalg.LinearChain([weights[0], weights[2]], [None, None], (False, False))(x)


def test_a_bound_linear_chain_calls_the_kernel_only_for_what_it_takes(monkeypatch, rng):
    """LinearChain.bind(compiled): one or two C-contiguous rows of the chain's width and dtype
    go to the compiled chain at once; a strided row goes through the general path (which
    copies it and calls the chain), three rows, another dtype or width run layer by layer,
    with the same values (or the layer's error)."""
    pytest.importorskip("numba")
    from lamina.ops import linalg

    calls = []
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
    compiled = lamina.kernels.numba_kernels("linear")
    weights = [rng.standard_normal((7, 12)), rng.standard_normal((3, 7))]
    biases = [rng.standard_normal(7), None]
    chain = linalg.LinearChain(weights, biases, (True, False))
    monkeypatch.setattr(compiled, "linear_chain",
                        lambda *a, f=compiled.linear_chain: calls.append(1) or f(*a))
    run = chain.bind(compiled)

    def reference(x):
        for w, b, r in zip(weights, biases, (True, False), strict=True):
            x = linalg.linear_forward(x, w, b, r)
        return x

    wide = rng.standard_normal((4, 24))
    for x, kernel in [(wide[:1, :12].copy(), True), (wide[:2, :12].copy(), True),
                      (wide[:1, ::2], True), (wide[:3, :12].copy(), False),
                      (wide[:1, :12].astype(np.float32), False)]:
        calls.clear()
        got = run(x)
        np.testing.assert_allclose(got, reference(x), rtol=1e-6, atol=1e-6)
        assert got.shape == (x.shape[0], 3) and len(calls) == kernel
    with pytest.raises(ValueError, match="in_features=12"):
        run(wide[:1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 13])
@pytest.mark.parametrize("geometry", [
    # (C_in, C_out, kh, kw, sh, Hp, Wp): LeNet-5's first layer, odd channels and sizes
    # (conv 7 x 5 -> pooled 3 x 2, the last row and column unused), vertical stride 2
    (1, 6, 5, 5, 1, 12, 12), (2, 3, 3, 2, 1, 9, 6), (1, 5, 2, 4, 2, 11, 9)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_small_conv_relu_pool_kernel_equals_the_two_kernels(numba_conv, rng, dtype, n, geometry,
                                                           with_bias):
    """The fused training forward of a small conv block: bitwise small_conv_forward with the
    bias, then max_pool_bias_relu without one (NaN inputs included), and the same argmax."""
    c_in, c_out, kh, kw, sh, hp, wp = geometry
    xp = rng.standard_normal((c_in, hp, wp, n)).astype(dtype)
    xp[0, hp // 2, wp // 2, 0] = np.nan  # one input: NaN in the windows that read it
    w2d = rng.standard_normal((c_out, c_in * kh * kw)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if with_bias else np.empty(0, dtype)
    if with_bias:
        bias[0] = -100.0  # channel 0: ReLU cuts everything but the NaNs
    oh, ow = (hp - kh) // sh + 1, wp - kw + 1
    z = np.empty((c_out, oh, ow, n), dtype)
    numba_conv.small_conv_forward(xp, w2d, kh, kw, sh, z, bias if with_bias else None)
    pooled = (c_out, oh // 2, ow // 2, n)
    expected, expected_index = np.empty(pooled, dtype), np.empty(pooled, np.uint8)
    numba_conv.max_pool_bias_relu(z, 2, 2, 2, 2, np.empty(0, dtype), expected, expected_index)
    out, index = np.full(pooled, 7.0, dtype), np.full(pooled, 9, np.uint8)
    numba_conv.small_conv_relu_pool_2x2(xp, w2d, kh, kw, sh, bias, out, index)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(index, expected_index)
    assert np.isnan(out).any() and (not with_bias or (out[0] == 0).any())


@pytest.mark.parametrize("c_out", [6, 5])  # an odd last channel: the spare row
def test_small_conv_forward_bias_starts_the_sums(numba_conv, rng, c_out):
    """small_conv_forward with a bias equals the im2col product plus the bias (float64, up
    to rounding), and without one the product alone; LeNet-5's second layer's geometry."""
    c_in, kh, kw, n = 3, 5, 5, 4
    xp = rng.standard_normal((c_in, 9, 9, n))
    w2d = rng.standard_normal((c_out, c_in * kh * kw))
    bias = rng.standard_normal(c_out)
    col = L.im2col(np.ascontiguousarray(xp), (kh, kw), (1, 1), 5, (0, 5)).copy()
    product = (w2d @ col).reshape(c_out, 5, 5, n)
    z, plain = np.empty((c_out, 5, 5, n)), np.empty((c_out, 5, 5, n))
    numba_conv.small_conv_forward(xp, w2d, kh, kw, 1, z, bias)
    numba_conv.small_conv_forward(xp, w2d, kh, kw, 1, plain)
    np.testing.assert_allclose(z, product + bias[:, None, None, None], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(plain, product, rtol=1e-12, atol=1e-12)


def test_lenet5_second_conv_takes_the_direct_kernels(numba_conv):
    """LeNet-5's conv2 (16 x 150 weights = SMALL_CONV_WEIGHTS) at batch 32 is eligible for
    the direct kernels (no im2col matrix kept for the backward pass)."""
    from lamina.kernels import registry

    if not lamina.kernels.numba_available():
        pytest.skip("compiled kernels switched off (LAMINA_NO_NUMBA)")
    xp = np.zeros((6, 14, 14, 32), np.float32)
    w2d = np.zeros((16, 150), np.float32)
    g = np.zeros((16, 3200), np.float32)
    bias = np.zeros(16, np.float32)
    assert registry.select("small_conv_forward", w2d, xp, (1, 1)) is not None
    assert registry.select("small_conv_weight_grad", w2d, xp, (1, 1), g) is not None
    pool = ((2, 2), (2, 2), (0, 0))
    assert registry.select("small_conv_relu_pool_2x2", w2d, xp, (1, 1), pool, bias) is not None
    assert registry.select("small_conv_forward", np.zeros((17, 150), np.float32), xp,
                           (1, 1)) is None
