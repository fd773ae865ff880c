"""Winograd F(4x4, 3x3) (lamina/ops/winograd.py), the path conv2d takes for 3 x 3 stride-1
convolutions with many channels: its matrices compute a 3-tap correlation, and its forward
value and both gradients equal the im2col path's (the reference) in float64 to rounding and
in float32 within a documented bound, on both kernel paths, for padded, odd-sized, batch-1
and multi-block inputs; finite differences agree with its gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina as lm
from lamina import functional as F
from lamina.kernels import thresholds as T
from lamina.ops import conv as conv_ops
from lamina.ops import winograd
from lamina.testing import gradcheck

# float32: the transforms multiply by up to 8 and divide by 24, so Winograd's rounding is
# larger than im2col's. Measured (seeded shapes below and the MNIST example's conv2 at batch
# 5): at most 8e-6 of the largest |value| of the output or gradient; the bound leaves 2.5x.
F32_TOLERANCE = 2e-5
F64_TOLERANCE = 1e-12


def arr(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def conv_values(monkeypatch, use_winograd, x, w, b, padding, grad, need=(True, True, True)):
    """conv2d's output and (grad_x, grad_w, grad_b) for ``grad``, by Winograd or im2col."""
    monkeypatch.setattr(winograd, "eligible", lambda *args: use_winograd)
    out, backward = conv_ops.conv2d(x, w, b, padding=padding)
    return [np.array(out), *backward(grad, need)]


def assert_close_to_scale(got, expected, tolerance):
    """|got - expected| <= tolerance * max |expected| (errors scale with the sums, not with
    each element)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    scale = max(float(np.abs(expected).max()), 1e-30)
    error = float(np.abs(got - expected).max()) / scale
    assert error <= tolerance, f"relative error {error:.2e} > {tolerance:.0e}"


def compare(monkeypatch, rng, n, c_in, c_out, hw, padding, dtype, bias=True):
    x = arr(rng, n, c_in, *hw, dtype=dtype)
    w, b = arr(rng, c_out, c_in, 3, 3, dtype=dtype), arr(rng, c_out, dtype=dtype)
    out_hw = (hw[0] + 2 * padding[0] - 2, hw[1] + 2 * padding[1] - 2)
    grad = arr(rng, n, c_out, *out_hw, dtype=dtype)
    b = b if bias else None
    reference = conv_values(monkeypatch, False, x, w, b, padding, grad)
    got = conv_values(monkeypatch, True, x, w, b, padding, grad)
    tolerance = F64_TOLERANCE if dtype == np.float64 else F32_TOLERANCE
    for g, r in zip(got, reference, strict=True):
        if r is None:
            assert g is None
        else:
            assert_close_to_scale(g, r, tolerance)


# ------------------------------------------------------------------ the matrices


def test_the_matrices_compute_a_three_tap_correlation(rng):
    """y = A^T [(G g) * (B^T d)] is the 4-output correlation of d (6) with g (3), and the
    2-D nesting A^T [(G w G^T) * (B^T d B)] A the 4 x 4 one of a 6 x 6 tile."""
    d, g = rng.standard_normal(6), rng.standard_normal(3)
    direct = np.array([d[i:i + 3] @ g for i in range(4)])
    np.testing.assert_allclose(winograd.AT @ ((winograd.G @ g) * (winograd.BT @ d)), direct,
                               rtol=1e-13, atol=1e-13)
    tile, w = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    direct = np.array([[np.sum(tile[i:i + 3, j:j + 3] * w) for j in range(4)]
                       for i in range(4)])
    u, v = winograd.G @ w @ winograd.G.T, winograd.BT @ tile @ winograd.BT.T
    np.testing.assert_allclose(winograd.AT @ (u * v) @ winograd.AT.T, direct, rtol=1e-13,
                               atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weight_transforms_are_g_w_gt_and_its_adjoint(rng, dtype):
    """U = G w G^T per channel pair (one Kronecker product for all pairs), and
    weight_grad_transform its adjoint: <U(w), dU> = <w, U^T(dU)>."""
    w = arr(rng, 3, 2, 3, 3)
    u = winograd.weight_transform(w.astype(dtype))
    assert u.shape == (36, 3, 2) and u.dtype == dtype
    expected = np.stack([[winograd.G @ w[k, c] @ winograd.G.T for c in range(2)]
                         for k in range(3)])  # (3, 2, 6, 6)
    np.testing.assert_allclose(u, expected.transpose(2, 3, 0, 1).reshape(36, 3, 2),
                               rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-7)
    du = arr(rng, 36, 3, 2)
    gw = winograd.weight_grad_transform(du.astype(dtype), w.shape)
    assert gw.shape == w.shape and gw.dtype == dtype and gw.flags.c_contiguous
    expected = np.stack([[winograd.G.T @ du[:, k, c].reshape(6, 6) @ winograd.G
                          for c in range(2)] for k in range(3)])
    np.testing.assert_allclose(gw, expected, rtol=1e-6 if dtype == np.float32 else 1e-13,
                               atol=1e-6)
    np.testing.assert_allclose(np.sum(winograd.weight_transform(w) * du),
                               np.sum(w * winograd.weight_grad_transform(du, w.shape)),
                               rtol=1e-12)


def test_placed_puts_the_array_inside_zeros(rng):
    xt = arr(rng, 2, 3, 4, 5).transpose(0, 2, 1, 3)  # (2, 4, 3, 5), not contiguous
    got = winograd.placed(xt, (1, 2), (2, 7, 6, 5))
    expected = np.zeros((2, 7, 6, 5))
    expected[:, 1:5, 2:5] = xt
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
    got.fill(7.0)  # a reused array comes back with old numbers: every zero is written again
    del got
    np.testing.assert_array_equal(winograd.placed(xt, (1, 2), (2, 7, 6, 5)), expected)
    whole = np.ascontiguousarray(expected)
    assert winograd.placed(whole, (0, 0), whole.shape) is whole


# ------------------------------------------------------------------ against im2col

SHAPES = [  # n, c_in, c_out, (H, W), padding
    (2, 3, 4, (8, 8), (0, 0)),      # 6 x 6 outputs: two tiles a side, cropped
    (1, 2, 5, (7, 9), (1, 1)),      # batch 1, odd sizes, padding
    (3, 4, 2, (11, 6), (1, 0)),     # padding on one axis only
    (2, 3, 3, (3, 3), (0, 0)),      # one output pixel
    (1, 1, 1, (5, 4), (2, 2)),      # one channel, padding 2
    (4, 6, 7, (13, 10), (0, 2)),
    (5, 32, 64, (26, 26), (0, 0)),  # the MNIST example's conv2
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_winograd_equals_im2col(monkeypatch, backend, rng, shape, dtype):
    compare(monkeypatch, rng, *shape, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocks_of_one_tile_row_give_the_same_values(monkeypatch, backend, rng, dtype):
    """Every tile in a block of its own (the smallest WINOGRAD_BLOCK_BYTES), pieces of two
    or so tiles of a row, and all rows in one block: all equal im2col's values."""
    tile = 36 * (5 + 6) * 3 * np.dtype(dtype).itemsize  # transformed bytes of one tile
    for block_bytes in (1, 2 * tile, 1 << 40):
        monkeypatch.setattr(T, "WINOGRAD_BLOCK_BYTES", block_bytes)
        compare(monkeypatch, rng, 3, 5, 6, (19, 17), (1, 1), dtype)


def test_tile_blocks_cover_every_tile_once(monkeypatch):
    monkeypatch.setattr(T, "WINOGRAD_BLOCK_BYTES", 100)
    assert winograd.tile_blocks(2, 6, 40) == [(0, 1, 0, 2), (0, 1, 2, 4), (0, 1, 4, 6),
                                              (1, 2, 0, 2), (1, 2, 2, 4), (1, 2, 4, 6)]
    assert winograd.tile_blocks(2, 5, 40) == [(0, 1, 0, 2), (0, 1, 2, 3), (0, 1, 3, 5),
                                              (1, 2, 0, 2), (1, 2, 2, 3), (1, 2, 3, 5)]
    assert winograd.tile_blocks(5, 2, 20) == [(0, 2, 0, 2), (2, 4, 0, 2), (4, 5, 0, 2)]
    assert winograd.tile_blocks(1, 3, 1000) == [(0, 1, 0, 1), (0, 1, 1, 2), (0, 1, 2, 3)]


def test_without_bias_and_in_float32(monkeypatch, backend, rng):
    compare(monkeypatch, rng, 2, 4, 3, (10, 9), (1, 1), np.float32, bias=False)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n=st.integers(1, 4), c_in=st.integers(1, 5), c_out=st.integers(1, 5),
       h=st.integers(1, 14), w=st.integers(1, 14), ph=st.integers(0, 2), pw=st.integers(0, 2))
def test_random_shapes_equal_im2col_in_float64(n, c_in, c_out, h, w, ph, pw):
    if h + 2 * ph < 3 or w + 2 * pw < 3:
        return  # the kernel does not fit: conv2d raises before any path is chosen
    with pytest.MonkeyPatch.context() as monkeypatch:
        rng = np.random.default_rng(n * 1000 + c_in * 100 + c_out * 10 + h + w)
        compare(monkeypatch, rng, n, c_in, c_out, (h, w), (ph, pw), np.float64)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True), (False, False, False)])
def test_only_the_gradients_asked_for(monkeypatch, backend, rng, need):
    x, w, b = arr(rng, 2, 3, 9, 7), arr(rng, 4, 3, 3, 3), arr(rng, 4)
    grad = arr(rng, 2, 4, 9, 7)
    full = conv_values(monkeypatch, True, x, w, b, (1, 1), grad)
    some = conv_values(monkeypatch, True, x, w, b, (1, 1), grad, need)
    for wanted, value, reference in zip(need, some[1:], full[1:], strict=True):
        if wanted:
            np.testing.assert_array_equal(value, reference)
        else:
            assert value is None


def test_compiled_transforms_equal_the_numpy_products(monkeypatch, rng):
    """Each of the four compiled transforms against its NumPy matrix products, float64."""
    import lamina.kernels

    pytest.importorskip("numba")
    xp, g = arr(rng, 3, 14, 18, 5), arr(rng, 4, 12, 16, 5)
    m, dv, bias = arr(rng, 36, 4, 2 * 4 * 5), arr(rng, 36, 3, 2 * 4 * 5), arr(rng, 4)

    def transforms(block):
        tiles = (block[1] - block[0]) * (block[3] - block[2])
        v = winograd.input_tiles(xp, block, np.empty(36 * 3 * 5 * tiles))
        dm = winograd.output_grad_tiles(g, block, np.empty(36 * 4 * 5 * tiles))
        z, grad_xp = np.zeros((4, 12, 16, 5)), np.zeros(xp.shape)
        winograd.output_tiles(m[..., :tiles * 5], block, z, bias)
        winograd.input_grad_tiles(dv[..., :tiles * 5], block, grad_xp)
        return [v.copy(), dm.copy(), z, grad_xp]

    for block in ((1, 3, 0, 4), (1, 3, 1, 3), (2, 3, 3, 4)):  # whole rows, pieces of rows
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
        reference = transforms(block)
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
        for got, expected in zip(transforms(block), reference, strict=True):
            assert_close_to_scale(got, expected, F64_TOLERANCE)


# ------------------------------------------------------------------ gradients, dispatch


def test_gradcheck_through_winograd(monkeypatch, backend, rng):
    monkeypatch.setattr(winograd, "eligible", lambda *args: True)
    x = lm.tensor(arr(rng, 2, 3, 7, 6), requires_grad=True)
    w = lm.tensor(arr(rng, 4, 3, 3, 3), requires_grad=True)
    b = lm.tensor(arr(rng, 4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [x, w, b])


def test_which_convolutions_take_winograd():
    """3 x 3, stride 1, one dtype, enough channels and outputs (the thresholds)."""
    x, w = np.zeros((32, 32, 26, 26), np.float32), np.zeros((64, 32, 3, 3), np.float32)
    assert winograd.eligible(x, w, (1, 1), (24, 24))  # the MNIST example's conv2, batch 32
    assert not winograd.eligible(x[:8], w, (1, 1), (24, 24))  # too few outputs
    assert not winograd.eligible(x, w, (2, 2), (12, 12))
    assert not winograd.eligible(x, np.zeros((64, 32, 5, 5), np.float32), (1, 1), (22, 22))
    assert not winograd.eligible(x, w.astype(np.float64), (1, 1), (24, 24))
    assert not winograd.eligible(x.astype(np.float16), w.astype(np.float16), (1, 1), (24, 24))
    assert winograd.eligible(x.astype(np.float64), w.astype(np.float64), (1, 1), (24, 24))
    assert not winograd.eligible(x[:, :1], w[:, :1], (1, 1), (24, 24))  # conv1: one channel


def test_conv2d_dispatches_eligible_convolutions_to_winograd(monkeypatch, rng):
    calls = []
    original = winograd.conv2d

    def spy(*args):
        calls.append(args[1].shape)
        return original(*args)

    monkeypatch.setattr(winograd, "conv2d", spy)
    layer = lm.nn.Conv2d(16, 32, 3, padding=1)
    layer(lm.tensor(arr(rng, 16, 16, 28, 28, dtype=np.float32)))
    assert calls == [(32, 16, 3, 3)]
    layer(lm.tensor(arr(rng, 2, 16, 28, 28, dtype=np.float32)))  # too few outputs
    assert len(calls) == 1


def test_a_layer_on_the_winograd_path_matches_torch(torch, rng):
    """nn.Conv2d(16, 32, 3, padding=1) at batch 16 on 28 x 28 (eligible by the default
    thresholds): float64 values and gradients equal PyTorch's."""
    assert winograd.eligible(np.zeros((16, 16, 28, 28)), np.zeros((32, 16, 3, 3)), (1, 1),
                             (28, 28))
    layer = lm.nn.Conv2d(16, 32, 3, padding=1).double()
    reference = torch.nn.Conv2d(16, 32, 3, padding=1).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.weight.numpy()))
        reference.bias.copy_(torch.from_numpy(layer.bias.numpy()))
    x = arr(rng, 16, 16, 28, 28)
    grad = arr(rng, 16, 32, 28, 28)
    xl, xt = lm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_l, out_t = layer(xl), reference(xt)
    out_l.backward(lm.tensor(grad))
    out_t.backward(torch.from_numpy(grad))
    for a, b in [(out_l, out_t), (xl.grad, xt.grad), (layer.weight.grad, reference.weight.grad),
                 (layer.bias.grad, reference.bias.grad)]:
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ threads


def use_threads(monkeypatch, threads):
    """lamina's kernel threads set to ``threads`` for the test only (the BLAS untouched)."""
    from lamina.kernels import parallel

    monkeypatch.setitem(parallel._state, "threads", threads)
    monkeypatch.setattr(T, "WINOGRAD_TRANSFORM_THREADS", threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_transforms_give_the_one_thread_bits(monkeypatch, backend, rng, dtype):
    """Split by channel over 2 or 3 threads (more than some channel counts), the forward
    value and all three gradients are bitwise those of one thread, on both kernel paths,
    also with several blocks of tile rows."""
    monkeypatch.setattr(T, "WINOGRAD_BLOCK_BYTES", 1)
    x, w, b = arr(rng, 5, 3, 13, 11, dtype=dtype), arr(rng, 7, 3, 3, 3, dtype=dtype), \
        arr(rng, 7, dtype=dtype)
    grad = arr(rng, 5, 7, 13, 11, dtype=dtype)
    use_threads(monkeypatch, 1)
    reference = conv_values(monkeypatch, True, x, w, b, (1, 1), grad)
    for threads in (2, 3, 8):
        use_threads(monkeypatch, threads)
        got = conv_values(monkeypatch, True, x, w, b, (1, 1), grad)
        for g, r in zip(got, reference, strict=True):
            np.testing.assert_array_equal(g, r)


def test_split_covers_the_range_in_near_equal_pieces():
    from lamina.kernels import parallel

    assert parallel.split(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert parallel.split(2, 5) == [(0, 1), (1, 2)]
    assert parallel.split(0, 2) == [(0, 0)]
    assert parallel.bounds(64, 2).tolist() == [0, 32, 64]
    assert parallel.bounds(2, 5).dtype == np.int64


def test_num_threads_setting(monkeypatch):
    """The default follows LAMINA_NUM_THREADS, then the BLAS variables; set_num_threads
    checks its argument and is read back by get_num_threads (and threadpoolctl's BLAS)."""
    from lamina.kernels import parallel

    monkeypatch.setitem(parallel._state, "threads", None)
    monkeypatch.setenv("LAMINA_NUM_THREADS", "3")
    assert lm.get_num_threads() == 3
    monkeypatch.setitem(parallel._state, "threads", None)
    monkeypatch.delenv("LAMINA_NUM_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert lm.get_num_threads() == 1
    with pytest.raises(ValueError, match="positive number of threads, got 0"):
        lm.set_num_threads(0)
    with pytest.raises(TypeError, match="expects an int, got float"):
        lm.set_num_threads(2.0)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = threadpoolctl.threadpool_info()
    try:
        lm.set_num_threads(1)
        assert lm.get_num_threads() == 1
        blas = [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]
        assert all(t == 1 for t in blas)
    finally:
        for p in before:
            if p["user_api"] == "blas":
                threadpoolctl.threadpool_limits(p["num_threads"], user_api="blas")


# ------------------------------------------------------------------ the fused op


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hw, pool_padding", [((14, 14), (0, 0)), ((13, 11), (1, 0))])
def test_fused_conv_relu_pool_by_winograd_equals_im2col(monkeypatch, backend, rng, dtype, hw,
                                                        pool_padding):
    """conv2d_relu_max_pool2d (nn.Sequential's Conv2d -> ReLU -> MaxPool2d) computes its
    convolution by Winograd where eligible: the same values and gradients as its im2col path."""
    x, w, b = arr(rng, 3, 4, *hw, dtype=dtype), arr(rng, 5, 4, 3, 3, dtype=dtype), \
        arr(rng, 5, dtype=dtype)
    out_hw = (hw[0] - 2, hw[1] - 2)
    pooled = ((out_hw[0] + 2 * pool_padding[0] - 2) // 2 + 1,
              (out_hw[1] + 2 * pool_padding[1] - 2) // 2 + 1)
    grad = arr(rng, 3, 5, *pooled, dtype=dtype)
    results, original = [], winograd.conv2d_internal
    for use in (False, True):
        calls = []
        monkeypatch.setattr(winograd, "eligible", lambda *args, use=use: use)
        monkeypatch.setattr(winograd, "conv2d_internal",
                            lambda *args, calls=calls: calls.append(1) or original(*args))
        out, backward = conv_ops.conv2d_relu_max_pool2d(x, w, b, pool_padding=pool_padding)
        results.append([np.array(out), *backward(grad, (True, True, True))])
        assert len(calls) == use
    tolerance = F64_TOLERANCE if dtype == np.float64 else F32_TOLERANCE
    for got, expected in zip(results[1], results[0], strict=True):
        assert_close_to_scale(got, expected, tolerance)


def test_gradcheck_through_the_fused_op_by_winograd(monkeypatch, backend, rng):
    monkeypatch.setattr(winograd, "eligible", lambda *args: True)
    x = lm.tensor(arr(rng, 2, 3, 8, 7), requires_grad=True)
    w = lm.tensor(arr(rng, 4, 3, 3, 3), requires_grad=True)
    b = lm.tensor(arr(rng, 4), requires_grad=True)
    from lamina.ops import OPS
    from lamina.tensor import apply

    op = OPS["conv2d_relu_max_pool2d"]
    assert gradcheck(lambda x, w, b: apply(op, x, w, b, padding=(1, 1)), [x, w, b])


def test_fused_inference_program_by_winograd(monkeypatch, backend, rng):
    """The no-grad program of the fused op (nn.Sequential in eval mode) takes Winograd where
    eligible, on both kernel paths: the op's training value up to rounding."""
    import lamina.kernels

    x, w, b = arr(rng, 4, 6, 12, 12), arr(rng, 8, 6, 3, 3), arr(rng, 8)
    monkeypatch.setattr(winograd, "eligible", lambda *args: False)
    expected = np.array(conv_ops.conv2d_relu_max_pool2d(x, w, b)[0])
    monkeypatch.setattr(winograd, "eligible", lambda *args: True)
    calls, original = [], winograd.conv2d_internal
    monkeypatch.setattr(winograd, "conv2d_internal",
                        lambda *args: calls.append(1) or original(*args))
    program = conv_ops.conv2d_relu_max_pool2d_program(x, w, b,
                                                      compiled=lamina.kernels.numba_kernels())
    assert_close_to_scale(np.asarray(program(x)), expected, F64_TOLERANCE)
    assert calls


# ------------------------------------------------------------------ from a 2 x 2 max-pool


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooled_output_gradient_kernel_is_the_scatter_then_the_transform(rng, dtype):
    """winograd_output_grad_pooled builds dY from the pooled gradient and the maxima's
    offsets as max_pool_backward writes it: bitwise the dM of the two kernels in turn."""
    pytest.importorskip("numba")
    from lamina.kernels import numba_conv, numba_winograd

    g = arr(rng, 3, 4, 6, 5, dtype=dtype)
    g[0, 0, 0, :2] = (-0.0, np.nan)
    index = rng.integers(0, 4, g.shape).astype(np.uint8)
    dy = np.empty((3, 8, 12, 5), dtype)
    numba_conv.max_pool_backward(g, index, 2, 2, 2, 2, dy)
    k = winograd._constants(dtype)
    expected, got = np.empty((36, 3, 1, 3, 5), dtype), np.empty((36, 3, 1, 3, 5), dtype)
    numba_winograd.winograd_output_grad(dy, k, 1, 0, expected, 0, 3)
    numba_winograd.winograd_output_grad_pooled(g, index, k, 1, 0, got, 0, 3)
    np.testing.assert_array_equal(got, expected)
    part, whole = np.empty((36, 3, 1, 2, 5), dtype), np.empty((36, 3, 1, 2, 5), dtype)
    numba_winograd.winograd_output_grad(dy, k, 1, 1, whole, 0, 3)  # tile columns 1 and 2
    numba_winograd.winograd_output_grad_pooled(g, index, k, 1, 1, part, 0, 3)
    np.testing.assert_array_equal(part, whole)
    np.testing.assert_array_equal(whole[:, :, :, 0], expected[:, :, :, 1])


def test_from_pooled_equals_the_backward_of_the_scattered_gradient(monkeypatch, backend, rng):
    """conv2d's Winograd backward ``from_pooled(g, index, need)`` gives what the backward of
    the scattered gradient gives, on both kernel paths (the NumPy path scatters first)."""
    from lamina.ops import im2col as L

    x, w, b = arr(rng, 3, 4, 10, 14), arr(rng, 5, 4, 3, 3), arr(rng, 5)
    monkeypatch.setattr(winograd, "eligible", lambda *args: True)
    _, backward = conv_ops.conv2d(x, w, b)
    g = arr(rng, 5, 4, 6, 3)
    index = rng.integers(0, 4, g.shape).astype(np.uint8)
    dz = L.max_scatter(g, index, (5, 8, 12, 3), (2, 2), (2, 2))
    expected = backward(dz.transpose(L.TO_NCHW), (True, True, True))
    got = backward.from_pooled(g, index, (True, True, True))
    for a, e in zip(got, expected, strict=True):
        assert_close_to_scale(a, e, F64_TOLERANCE)
    _, odd = conv_ops.conv2d(arr(rng, 3, 4, 9, 14), w, b)  # 7 x 12 outputs: not whole tiles
    assert not hasattr(odd, "from_pooled")


@pytest.mark.parametrize("style", ["nested", "line by line"])
def test_folded_relu_pool_on_winograd_equals_the_plain_ops(monkeypatch, backend, rng, style):
    """F.max_pool2d(F.relu(conv(x)), 2) folded onto a Winograd convolution (the MNIST
    example's conv2; its backward starts from the pooled gradient): the values and
    gradients of the plain ops, float64, both paths, both styles."""
    monkeypatch.setattr(winograd, "eligible", lambda *args: True)
    x = lm.tensor(arr(rng, 3, 4, 10, 14), requires_grad=True)
    w = lm.tensor(arr(rng, 5, 4, 3, 3), requires_grad=True)
    b = lm.tensor(arr(rng, 5), requires_grad=True)

    def folded(x):
        if style == "nested":
            return F.max_pool2d(F.relu(F.conv2d(x, w, b)), 2)
        x = F.conv2d(x, w, b)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        return x

    calls, original = [], winograd.output_grad_tiles_pooled
    monkeypatch.setattr(winograd, "output_grad_tiles_pooled",
                        lambda *args: calls.append(1) or original(*args))
    out = folded(x)
    target = lm.tensor(arr(rng, *out.shape))
    (out * target).sum().backward()
    assert bool(calls) == (backend == "numba")  # (the NumPy path has no offsets to use)
    grads = [t.grad.numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    z = F.conv2d(x, w, b)
    r = F.relu(z)  # (held: the plain ops)
    plain = F.max_pool2d(r, 2)
    (plain * target).sum().backward()
    np.testing.assert_array_equal(out.numpy(), plain.numpy())
    for got, t in zip(grads, (x, w, b), strict=True):
        assert_close_to_scale(got, t.grad.numpy(), F64_TOLERANCE)
    assert gradcheck(folded, [x])


def test_fused_op_backward_starts_from_the_pooled_gradient(monkeypatch, rng):
    """nn.Sequential's conv2d_relu_max_pool2d on a Winograd conv whose output is whole tiles
    routes the pooled gradient inside the transform (compiled kernels): its im2col values."""
    import lamina.kernels

    if not lamina.kernels.numba_available():
        pytest.skip("compiled kernels off (LAMINA_NO_NUMBA=1 or no Numba)")
    x, w, b = arr(rng, 3, 4, 14, 10), arr(rng, 5, 4, 3, 3), arr(rng, 5)
    grad = arr(rng, 3, 5, 6, 4)
    calls, original = [], winograd.output_grad_tiles_pooled
    monkeypatch.setattr(winograd, "output_grad_tiles_pooled",
                        lambda *args: calls.append(1) or original(*args))
    results = []
    for use in (False, True):
        monkeypatch.setattr(winograd, "eligible", lambda *args, use=use: use)
        out, backward = conv_ops.conv2d_relu_max_pool2d(x, w, b)
        results.append([np.array(out), *backward(grad, (True, True, True))])
    assert calls
    for got, expected in zip(results[1], results[0], strict=True):
        assert_close_to_scale(got, expected, F64_TOLERANCE)
