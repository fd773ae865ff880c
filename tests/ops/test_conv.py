"""Convolution and pooling ops (lamina/ops/conv.py): float64 gradchecks of every op, parity
with torch.nn.functional in float32 and float64, max-pool ties, dtypes and memory layout, the
fused conv -> ReLU -> max-pool op against the unfused chain, and im2col in row blocks.

Every test runs twice, on the pure-NumPy path and on the Numba kernels (``lamina[fast]``;
skipped where Numba is not installed)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import lamina as lm
import lamina.kernels
from lamina import functional as F
from lamina.convsize import as_pair
from lamina.kernels import thresholds
from lamina.ops import OPS
from lamina.ops import im2col as im2col_module
from lamina.tensor import apply
from lamina.testing import gradcheck

Builder = Callable[[np.random.Generator], tuple[Callable, list]]


@pytest.fixture(autouse=True, params=["numpy", "numba"])
def backend(request, monkeypatch):
    """Run the test on the NumPy path and on the Numba kernels."""
    if request.param == "numba":
        pytest.importorskip("numba")
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
        assert lamina.kernels.numba_kernels() is not None
    else:
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    return request.param


@pytest.fixture
def small_blocks(monkeypatch):
    """Build every im2col matrix above 2 KiB in blocks of about 1 KiB of output rows."""
    monkeypatch.setattr(thresholds, "FULL_COL_BYTES", 2048)
    monkeypatch.setattr(thresholds, "BLOCK_BYTES", 1024)


def fused(x, weight, bias=None, stride=1, padding=0, pool=2, pool_stride=None, pool_padding=0):
    """The fused op conv2d -> ReLU -> max_pool2d, called as nn.Sequential calls it."""
    def pair(value, name):
        return as_pair(value, "conv2d_relu_max_pool2d", name)

    pool_stride = pool if pool_stride is None else pool_stride
    return apply(OPS["conv2d_relu_max_pool2d"], x, weight, bias, stride=pair(stride, "stride"),
                 padding=pair(padding, "padding"), pool_kernel_size=pair(pool, "pool"),
                 pool_stride=pair(pool_stride, "pool_stride"),
                 pool_padding=pair(pool_padding, "pool_padding"))


def unfused(x, weight, bias=None, stride=1, padding=0, pool=2, pool_stride=None,
            pool_padding=0):
    return F.max_pool2d(F.relu(F.conv2d(x, weight, bias, stride, padding)), pool, pool_stride,
                        pool_padding)


def leaf(rng, *shape) -> lm.Tensor:
    return lm.tensor(rng.standard_normal(shape), requires_grad=True)


def distinct(rng, *shape) -> lm.Tensor:
    """Values at least 0.05 apart, so that finite differences never swap a window's maximum."""
    values = rng.permutation(np.prod(shape)).reshape(shape) * 0.05
    return lm.tensor(values.astype(np.float64), requires_grad=True)


def conv_case(x_shape, w_shape, bias=True, stride=1, padding=0) -> Builder:
    def build(rng):
        inputs = [leaf(rng, *x_shape), leaf(rng, *w_shape)]
        if bias:
            inputs.append(leaf(rng, w_shape[0]))
        return (lambda *t: F.conv2d(*t, stride=stride, padding=padding)), inputs
    return build


def conv_const_input(rng):
    """Input without gradient (the first layer of a network): only weight and bias."""
    x = lm.tensor(rng.standard_normal((2, 1, 6, 6)))
    return (lambda w, b: F.conv2d(x, w, b, padding=1)), [leaf(rng, 3, 1, 3, 3), leaf(rng, 3)]


def fused_case(x_shape, w_shape, bias=True, **options) -> Builder:
    def build(rng):
        inputs = [leaf(rng, *x_shape), leaf(rng, *w_shape)]
        if bias:
            inputs.append(leaf(rng, w_shape[0]))
        return (lambda *t: fused(*t, **options)), inputs
    return build


def fused_const_input(rng):
    x = lm.tensor(rng.standard_normal((3, 1, 6, 6)))
    return (lambda w, b: fused(x, w, b, padding=1)), [leaf(rng, 2, 1, 3, 3), leaf(rng, 2)]


def pool_case(name, x_shape, kernel_size, stride=None, padding=0) -> Builder:
    make = distinct if name == "max_pool2d" else leaf

    def build(rng):
        fn = getattr(F, name)
        return (lambda x: fn(x, kernel_size, stride, padding)), [make(rng, *x_shape)]
    return build


CASES: dict[str, list[Builder]] = {
    "conv2d": [
        conv_case((2, 3, 5, 6), (2, 3, 3, 2)),                        # non-square kernel
        conv_case((2, 3, 5, 6), (2, 3, 3, 2), bias=False),
        conv_case((1, 2, 7, 5), (3, 2, 3, 3), stride=2, padding=1),
        conv_case((2, 2, 6, 7), (2, 2, 2, 3), stride=(2, 1), padding=(0, 2)),
        conv_case((1, 1, 5, 5), (2, 1, 5, 5)),                        # kernel = input
        conv_case((2, 2, 8, 8), (1, 2, 2, 2), stride=3),              # stride > kernel: gaps
        conv_case((1, 3, 4, 4), (2, 3, 1, 1), bias=False),            # 1x1 convolution
        conv_const_input,
    ],
    "conv2d_relu_max_pool2d": [
        fused_case((2, 2, 6, 7), (3, 2, 3, 3), padding=1),            # LeNet-like block
        fused_case((2, 2, 6, 7), (3, 2, 3, 3), bias=False, padding=1),
        fused_case((1, 2, 7, 8), (2, 2, 2, 3), stride=(1, 2), pool=3, pool_stride=1),
        fused_case((2, 1, 7, 7), (2, 1, 2, 2), pool=(3, 2), pool_stride=(2, 1),
                   pool_padding=(1, 1)),                              # pool pads with -inf
        fused_case((9, 1, 5, 5), (2, 1, 3, 3), padding=1, pool=2),    # batch >= 8 kernels
        fused_const_input,
    ],
    "max_pool2d": [
        pool_case("max_pool2d", (2, 2, 4, 6), 2),                     # stride = kernel, tiles
        pool_case("max_pool2d", (1, 2, 5, 7), 3, stride=1),           # overlapping windows
        pool_case("max_pool2d", (2, 1, 6, 5), (3, 2), stride=(2, 1), padding=(1, 1)),
        pool_case("max_pool2d", (1, 2, 7, 7), 2, stride=3),           # gaps between windows
        pool_case("max_pool2d", (1, 1, 5, 5), 2),                     # last row/column unused
        pool_case("max_pool2d", (9, 2, 5, 6), 3, stride=(1, 2)),      # batch >= 8, overlapping
    ],
    "avg_pool2d": [
        pool_case("avg_pool2d", (2, 2, 4, 6), 2),
        pool_case("avg_pool2d", (1, 2, 5, 7), 3, stride=1),
        pool_case("avg_pool2d", (2, 1, 6, 5), (3, 2), stride=(2, 1), padding=(1, 1)),
        pool_case("avg_pool2d", (1, 2, 7, 7), 2, stride=3),
        pool_case("avg_pool2d", (1, 1, 5, 5), 2),
    ],
}

PARAMS = [pytest.param(name, i, id=f"{name}-{i}")
          for name, builders in CASES.items() for i in range(len(builders))]


def conv_ops() -> set[str]:
    return {name for name, fn in OPS.items() if fn.__module__ == "lamina.ops.conv"}


def test_every_conv_op_has_a_gradcheck_case():
    assert conv_ops() == set(CASES), f"missing cases: {sorted(conv_ops() - set(CASES))}"


@pytest.mark.parametrize(("name", "index"), PARAMS)
def test_gradcheck(name, index):
    fn, inputs = CASES[name][index](np.random.default_rng(200 + index))
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize(("name", "index"), PARAMS)
def test_backward_gives_each_input_a_gradient_of_its_shape(name, index):
    fn, inputs = CASES[name][index](np.random.default_rng(200 + index))
    out = fn(*inputs)
    out.backward(np.ones(out.shape))
    for x in inputs:
        if isinstance(x, lm.Tensor) and x.requires_grad:
            assert x.grad.shape == x.shape and x.grad.dtype == np.float64


@pytest.mark.parametrize("name", ["conv2d", "conv2d_relu_max_pool2d"])
def test_gradcheck_with_im2col_in_row_blocks(small_blocks, name):
    for index in range(len(CASES[name])):
        fn, inputs = CASES[name][index](np.random.default_rng(300 + index))
        assert gradcheck(fn, inputs)


# ------------------------------------------------------------------ parity with torch
def random_geometry(rng):
    """A random conv/pool geometry that fits: kernel, stride, padding per dim and input size."""
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    size = tuple(int(k + rng.integers(0, 7)) for k in kernel)
    return kernel, stride, padding, size


def run_both(parity, torch_fn, lamina_fn, arrays, seed):
    """Run both on the same arrays, back-propagate one random output gradient, compare."""
    ours = [lm.tensor(a, requires_grad=True) for a in arrays]
    theirs = [parity.to_torch(a, requires_grad=True) for a in arrays]
    out_l, out_t = lamina_fn(*ours), torch_fn(*theirs)
    parity.assert_close(out_l, out_t)
    grad = np.random.default_rng(seed).standard_normal(out_l.shape).astype(arrays[0].dtype)
    out_l.backward(grad)
    out_t.backward(parity.to_torch(grad))
    for a, b in zip(ours, theirs, strict=True):
        parity.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(parity, torch, dtype, seed, bias):
    rng = np.random.default_rng(seed)
    kernel, stride, padding, size = random_geometry(rng)
    n, c_in, c_out = (int(v) for v in rng.integers(1, 4, 3))
    arrays = [rng.standard_normal((n, c_in, *size)).astype(dtype),
              rng.standard_normal((c_out, c_in, *kernel)).astype(dtype)]
    if bias:
        arrays.append(rng.standard_normal(c_out).astype(dtype))
    run_both(parity,
             lambda *t: torch.nn.functional.conv2d(*t, stride=stride, padding=padding),
             lambda *t: F.conv2d(*t, stride=stride, padding=padding), arrays, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pools_match_torch(parity, torch, dtype, seed, name):
    rng = np.random.default_rng(seed)
    kernel, stride, padding, size = random_geometry(rng)
    n, c = (int(v) for v in rng.integers(1, 4, 2))
    x = rng.standard_normal((n, c, *size)).astype(dtype)
    torch_fn, ours = getattr(torch.nn.functional, name), getattr(F, name)
    run_both(parity, lambda t: torch_fn(t, kernel, stride, padding),
             lambda t: ours(t, kernel, stride, padding), [x], seed)


@pytest.mark.parametrize(("kernel", "stride"), [(2, 2), (3, 1), (3, 2), ((2, 3), (1, 2))])
def test_max_pool_ties_go_to_the_first_maximum_like_torch(parity, torch, kernel, stride):
    """Integer-valued inputs from {0, 1, 2} make most windows hold their maximum twice."""
    x = np.random.default_rng(3).integers(0, 3, (2, 2, 7, 8)).astype(np.float64)
    run_both(parity, lambda t: torch.nn.functional.max_pool2d(t, kernel, stride),
             lambda t: F.max_pool2d(t, kernel, stride), [x], 0)
    constant = np.ones((1, 1, 4, 4))
    xl = lm.tensor(constant, requires_grad=True)
    F.max_pool2d(xl, 2).sum().backward()
    assert xl.grad.numpy()[0, 0].tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]] * 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("bias", [True, False])
def test_fused_conv_relu_max_pool_matches_torch(parity, torch, dtype, seed, bias):
    rng = np.random.default_rng(seed)
    kernel, stride, padding, size = random_geometry(rng)
    n, c_in, c_out = (int(v) for v in rng.integers(1, 4, 3))
    n += 9 * (seed % 2)  # batches of 8 and more take the vectorised kernels
    out_hw = [(s + 2 * p - k) // st + 1 for s, p, k, st in zip(size, padding, kernel, stride,
                                                                  strict=True)]
    pool = tuple(int(rng.integers(1, min(3, h) + 1)) for h in out_hw)
    pool_stride = tuple(int(rng.integers(1, 3)) for _ in pool)
    arrays = [rng.standard_normal((n, c_in, *size)).astype(dtype),
              rng.standard_normal((c_out, c_in, *kernel)).astype(dtype)]
    if bias:
        arrays.append(rng.standard_normal(c_out).astype(dtype))
    tf = torch.nn.functional
    run_both(parity,
             lambda *t: tf.max_pool2d(tf.relu(tf.conv2d(*t, stride=stride, padding=padding)),
                                      pool, pool_stride),
             lambda *t: fused(*t, stride=stride, padding=padding, pool=pool,
                              pool_stride=pool_stride), arrays, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_op_equals_the_unfused_chain(rng, dtype):
    """Forward values bitwise equal (bias and ReLU commute with the max); gradients equal up
    to the order in which the bias gradient is summed."""
    x = rng.standard_normal((10, 2, 9, 9)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    results = []
    for fn in (fused, unfused):
        inputs = [lm.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = fn(*inputs, padding=1)
        out.backward(np.random.default_rng(0).standard_normal(out.shape).astype(dtype))
        results.append((out.numpy(), *(t.grad.numpy() for t in inputs)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for ours, reference in zip(results[0][2:], results[1][2:], strict=True):
        np.testing.assert_allclose(ours, reference, rtol=tol, atol=tol)


def test_fused_op_without_gradients_and_relu_zeros():
    """All-negative pre-activations: output 0, and every gradient 0 (ReLU cuts them)."""
    x = lm.tensor(np.ones((2, 1, 4, 4)), requires_grad=True)
    w = lm.tensor(-np.ones((1, 1, 3, 3)), requires_grad=True)
    out = fused(x, w, padding=1)
    assert out.shape == (2, 1, 2, 2) and not out.numpy().any()
    out.sum().backward()
    assert not x.grad.numpy().any() and not w.grad.numpy().any()
    with lm.no_grad():
        assert not fused(x, w, padding=1).requires_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_row_blocks_match_the_whole_matrix(monkeypatch, rng, dtype):
    """Blocks give the same values up to rounding (BLAS may sum a block's products in
    another order than the whole matrix's)."""
    x = rng.standard_normal((3, 2, 11, 9)).astype(dtype)
    w = rng.standard_normal((4, 2, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    monkeypatch.setattr(thresholds, "BLOCK_BYTES", 1024)
    grads = []
    for limit in (1 << 30, 2048):
        monkeypatch.setattr(thresholds, "FULL_COL_BYTES", limit)
        inputs = [lm.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = F.conv2d(*inputs, stride=(1, 1), padding=(0, 1))
        out.backward(np.ones(out.shape, dtype))
        grads.append([out.numpy()] + [t.grad.numpy() for t in inputs])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b_ in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(a, b_, rtol=tol, atol=tol)


def test_max_pool_padding_is_minus_infinity():
    x = lm.tensor(-np.ones((1, 1, 2, 2)))
    assert F.max_pool2d(x, 2, stride=1, padding=1).numpy().max() == -1.0


def test_avg_pool_counts_padding_in_the_mean():
    out = F.avg_pool2d(lm.tensor(np.ones((1, 1, 2, 2))), 2, stride=1, padding=1)
    assert out.numpy()[0, 0].tolist() == [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]


def test_max_pool_propagates_nan():
    x = np.zeros((1, 1, 2, 2), np.float32)
    x[0, 0, 1, 1] = np.nan
    assert np.isnan(F.max_pool2d(lm.tensor(x), 2).item())


# ------------------------------------------------------------------ dtypes and layout
@pytest.mark.parametrize("name", ["conv2d", "conv2d_relu_max_pool2d", "max_pool2d",
                                  "avg_pool2d"])
def test_float32_stays_float32_in_values_and_gradients(name):
    rng = np.random.default_rng(0)
    x = lm.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    if name.startswith("conv2d"):
        w = lm.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
        b = lm.tensor(np.zeros(4, np.float32), requires_grad=True)
        op = F.conv2d if name == "conv2d" else fused
        out, params = op(x, w, b, padding=1), [x, w, b]
    else:
        out, params = getattr(F, name)(x, 2), [x]
    assert out.dtype == np.float32
    out.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in params)


def test_ops_accept_any_memory_layout(rng):
    """A Fortran-ordered or transposed input gives the same results as a contiguous one."""
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    strange = np.asfortranarray(x)
    flipped = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    for variant in (strange, flipped):
        np.testing.assert_allclose(F.conv2d(lm.tensor(variant), lm.tensor(w), padding=1).numpy(),
                                   F.conv2d(lm.tensor(x), lm.tensor(w), padding=1).numpy())
        np.testing.assert_array_equal(F.max_pool2d(lm.tensor(variant), 2).numpy(),
                                      F.max_pool2d(lm.tensor(x), 2).numpy())


def test_chained_ops_pass_channel_major_views_without_copies(rng):
    """The documented layout: an op's NCHW output is a transposed view of a (C, H, W, N)
    array, so the next op needs no transposition copy."""
    x = lm.tensor(rng.standard_normal((4, 1, 12, 12)).astype(np.float32))
    w = lm.tensor(rng.standard_normal((3, 1, 3, 3)).astype(np.float32))
    out = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
    assert out.shape == (4, 3, 6, 6)
    assert out._data.transpose(1, 2, 3, 0).flags.c_contiguous


# ------------------------------------------------------------------ errors
def test_op_errors_name_the_layer_and_show_the_arithmetic():
    w = lm.zeros(6, 1, 7, 7)
    with pytest.raises(ValueError, match=r"Conv2d\(1, 6, kernel_size=\(7, 7\)\): input of shape "
                                         r"\(8, 1, 5, 5\) is too small: height "
                                         r"floor\(\(5 \+ 2\*0 - 7\)/1\) \+ 1 = -1"):
        F.conv2d(lm.zeros(8, 1, 5, 5), w)
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\): input has 3 channels"):
        F.conv2d(lm.zeros(8, 3, 28, 28), w)
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape "
                                         r"\(1, 28, 28\)"):
        F.conv2d(lm.zeros(1, 28, 28), w)
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=\(2, 2\), stride=\(2, 2\)\): "
                                         r"input of shape \(1, 1, 1, 4\) is too small: height "
                                         r"floor\(\(1 \+ 2\*0 - 2\)/2\) \+ 1 = 0"):
        F.max_pool2d(lm.zeros(1, 1, 1, 4), 2)
    with pytest.raises(ValueError, match="padding must be at most half of kernel_size"):
        F.avg_pool2d(lm.zeros(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        F.conv2d(lm.zeros(1, 1, 8, 8), w, lm.zeros(5))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        F.conv2d(lm.zeros(1, 1, 8, 8), w, stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        F.max_pool2d(lm.zeros(1, 1, 8, 8), (2, 2, 2))
    with pytest.raises(TypeError, match=r"MaxPool2d\(.*\): input must be floating point, got "
                                        "dtype int64"):
        F.max_pool2d(lm.tensor(np.zeros((1, 1, 8, 8), np.int64)), 2)
    with pytest.raises(TypeError, match="input must be floating point"):
        F.conv2d(np.zeros((1, 1, 8, 8), np.uint8), w)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", ["conv2d", "fused"])
def test_wide_im2col_matches_the_standard_matrix(monkeypatch, rng, batch, name):
    """Stride-1 convolutions of small batches read whole padded rows (im2col.wide_im2col):
    the same values and gradients as the standard im2col, up to rounding."""
    x = rng.standard_normal((batch, 2, 9, 7))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    results = []
    for wide_run in (0, 1 << 30):  # never wide, always wide
        monkeypatch.setattr(thresholds, "WIDE_RUN", wide_run)
        inputs = [lm.tensor(a, requires_grad=True) for a in (x, w, b)]
        if name == "conv2d":
            out = F.conv2d(*inputs, padding=(1, 2))
        else:
            out = fused(*inputs, padding=(1, 2))
        out.backward(np.cos(np.arange(out.numel())).reshape(out.shape))
        results.append([out.numpy()] + [t.grad.numpy() for t in inputs])
    for standard, wide in zip(*results, strict=True):
        np.testing.assert_allclose(wide, standard, rtol=1e-12, atol=1e-12)


def test_wide_im2col_rows_are_the_windows(rng):
    """Column (y*Wp + x)*N + n of the wide matrix is window (y, x) of image n for x < W_out."""
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    xp = im2col_module.internal(x, (1, 1))
    oh, ow = 4, 5  # kernel 3 x 2 on the padded 8 x 7 input
    wide = im2col_module.wide_im2col(xp, (3, 2), (oh, ow))
    standard = im2col_module.im2col(xp, (3, 2), (1, 1), ow, (0, oh))
    wp, n = xp.shape[2], xp.shape[3]
    assert wide.shape == (3 * 3 * 2, ((oh - 1) * wp + ow) * n)
    for y in range(oh):
        rows = wide[:, y * wp * n:(y * wp + ow) * n]
        np.testing.assert_array_equal(rows, standard[:, y * ow * n:(y + 1) * ow * n])


@pytest.mark.parametrize("batch", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [
    # C_in, C_out, size, padding, pool window, pool stride, bias
    (1, 6, 12, 2, (2, 2), (2, 2), True),
    (3, 5, 9, 0, (3, 2), (2, 1), True),
    (2, 3, 7, (1, 0), (2, 2), (1, 1), False),
])
@pytest.mark.parametrize("kernel", [(3, 3), (5, 5), (3, 5)])
def test_inference_forward_equals_the_op(backend, rng, batch, dtype, case, kernel):
    """conv2d_relu_max_pool2d_infer (the no-grad path of Sequential): the op's value; with
    the compiled direct kernel (small batches) up to rounding, else exactly (kernels 5
    wide take the direct kernel's five-tap passes)."""
    from lamina.ops import conv as conv_ops

    c_in, c_out, size, padding, window, stride, has_bias = case
    padding = as_pair(padding, "test", "padding")
    x = rng.standard_normal((batch, c_in, size, size)).astype(dtype)
    x[0, 0, 1, 1] = np.nan  # NaN wins the max and survives ReLU, as in the op
    w = rng.standard_normal((c_out, c_in, *kernel)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if has_bias else None
    expected = OPS["conv2d_relu_max_pool2d"](x, w, b, (1, 1), padding, window, stride)[0]
    got = conv_ops.conv2d_relu_max_pool2d_infer(x, w, b, (1, 1), padding, window, stride)
    assert got.shape == expected.shape and got.dtype == dtype
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    if backend == "numba" and batch <= thresholds.DIRECT_MAX_BATCH:
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, expected)


def test_inference_forward_raises_as_the_op(backend):
    from lamina.ops import conv as conv_ops

    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match="input has 2 channels"):
        conv_ops.conv2d_relu_max_pool2d_infer(x, np.zeros((4, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match="MaxPool2d"):
        conv_ops.conv2d_relu_max_pool2d_infer(x, np.zeros((4, 2, 7, 7), np.float32),
                                              pool_kernel_size=(3, 3))


@pytest.mark.parametrize("shape", [(1, 1, 1), (6, 25, 1300), (4, 7, 513), (5, 9, 2048),
                                   (16, 150, 700), (3, 24, 50), (6, 25, 9000), (40, 30, 8192)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_weight_gradient_kernel_is_the_product(backend, rng, shape, dtype):
    """The weight gradient g @ col^T: by the compiled kernel for small C_out x K ([fast]),
    by BLAS otherwise, as (col @ g^T)^T for a tall col (K >= 8 C_out: (16, 150, 700) and
    (3, 24, 50)) and else summed over pieces of WEIGHT_CHUNK columns (the last two shapes
    without [fast], the last one with it); odd block edges included (C_out not a multiple
    of 3, K odd, M not a multiple of 512 or of WEIGHT_CHUNK)."""
    from lamina.ops import conv as conv_ops

    c_out, k, m = shape
    g = rng.standard_normal((c_out, m)).astype(dtype)
    col = rng.standard_normal((k, m)).astype(dtype)
    got = conv_ops._weight_product(g, col)
    expected = g.astype(np.float64) @ col.T.astype(np.float64)
    assert got.shape == (c_out, k) and got.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.sqrt(m))


@pytest.mark.parametrize("case", [
    # x shape, w shape, stride, padding
    ((3, 1, 9, 8), (3, 1, 3, 3), (1, 1), (1, 1)),
    ((2, 2, 7, 9), (5, 2, 2, 3), (2, 1), (0, 2)),
    ((1, 3, 6, 6), (1, 3, 3, 1), (1, 1), (0, 0)),
    ((2, 1, 9, 11), (3, 1, 2, 4), (1, 1), (1, 2)),   # a kernel row of 4 taps: 3 + 1
    ((1, 2, 10, 12), (2, 2, 3, 7), (2, 1), (0, 3)),  # 7 taps: 5 + 1 + 1
    ((2, 1, 8, 8), (6, 1, 5, 5), (1, 1), (2, 2)),    # LeNet-5's first layer, 5 taps
    ((3, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0)),  # LeNet-5's second (SMALL_CONV_WEIGHTS)
])
def test_small_convolutions_without_im2col_match_blas(monkeypatch, rng, case):
    """Convolutions with at most SMALL_CONV_WEIGHTS weights run without an im2col matrix
    when compiled ([fast]; the direct forward adds the bias as it sums): the same output and
    gradients as im2col + BLAS, up to rounding (odd channel counts, vertical stride and
    padding included)."""

    x_shape, w_shape, stride, padding = case
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(
        w_shape[0])
    results = []
    for direct in (False, True):  # im2col + BLAS, then the thresholds as they are
        if not direct:
            monkeypatch.setattr(thresholds, "SMALL_WEIGHT_GRAD", 0)
            monkeypatch.setattr(thresholds, "SMALL_CONV_WEIGHTS", 0)
        else:
            monkeypatch.undo()
        inputs = [lm.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = F.conv2d(*inputs, stride=stride, padding=padding)
        out.backward(np.sin(np.arange(out.numel())).reshape(out.shape))
        results.append([out.numpy()] + [t.grad.numpy() for t in inputs])
    for blas, small in zip(*results, strict=True):
        np.testing.assert_allclose(small, blas, rtol=1e-12, atol=1e-12)
