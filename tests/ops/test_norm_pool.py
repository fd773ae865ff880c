"""The fused op batch_norm_relu_max_pool2d (lamina/ops/norm.py) and its kernels
(lamina/kernels/numba_norm.py): equal to batch_norm -> relu -> max_pool2d on both kernel
paths and in every input layout, the compiled kernels equal to their NumPy references, the
two-thread split bitwise equal to one thread. Gradchecks: in
tests/ops/test_gradcheck_layers.py."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.kernels import thresholds as T
from lamina.ops import OPS, norm
from lamina.tensor import apply


def _input(rng, shape, layout, dtype):
    """(N, C, H, W) values laid out as C-contiguous, batch-last (a convolution's output) or a
    batch-last slice of a larger padded buffer (a Winograd convolution's output)."""
    n, c, h, w = shape
    x = rng.standard_normal(shape) * 1.5 + 0.3
    if layout == "contiguous":
        return x.astype(dtype)
    if layout == "batch-last":
        return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).astype(dtype).transpose(3, 0, 1, 2)
    padded = np.zeros((c, h + 2, w + 3, n), dtype)
    padded[:, :h, :w] = x.transpose(1, 2, 3, 0)
    return padded[:, :h, :w].transpose(3, 0, 1, 2)


def _run(fused, x, weight, bias, grad):
    c = x.shape[1]
    rm, rv = np.zeros(c, x.dtype), np.ones(c, x.dtype)
    xt = lm.tensor(x, requires_grad=True)
    wt = None if weight is None else lm.tensor(weight, requires_grad=True)
    bt = None if bias is None else lm.tensor(bias, requires_grad=True)
    if fused:
        out = apply(OPS["batch_norm_relu_max_pool2d"], xt, wt, bt, running_mean=rm,
                    running_var=rv, momentum=0.2)
    else:
        y = apply(OPS["batch_norm"], xt, wt, bt, running_mean=rm, running_var=rv,
                  training=True, momentum=0.2)
        out = lm.nn.functional.max_pool2d(lm.nn.functional.relu(y), 2)
    out.backward(grad)
    return [out.numpy(), xt.grad.numpy(), rm, rv] + [p.grad.numpy() for p in (wt, bt)
                                                      if p is not None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "batch-last", "padded"])
@pytest.mark.parametrize("shape", [(4, 3, 6, 8), (3, 2, 7, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_fused_op_equals_batch_norm_relu_max_pool(backend, dtype, layout, shape, affine):
    rng = np.random.default_rng(11)
    x = _input(rng, shape, layout, dtype)
    c = shape[1]
    weight = rng.uniform(0.5, 1.5, c).astype(dtype) if affine else None
    bias = rng.standard_normal(c).astype(dtype) if affine else None
    grad = rng.standard_normal((shape[0], c, shape[2] // 2, shape[3] // 2)).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    fused, plain = _run(True, x, weight, bias, grad), _run(False, x, weight, bias, grad)
    for a, b in zip(fused, plain, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.fixture
def compiled():
    pytest.importorskip("numba")
    import lamina.kernels

    if lamina.kernels._disabled():
        pytest.skip("LAMINA_NO_NUMBA is set")
    return lamina.kernels.numba_kernels("norm")


def _kernel_forward(fn, parent, shape, weight, bias):
    c, n = parent.shape[0], parent.shape[3]
    h, w = shape
    mean, var, coef = np.empty(c), np.empty(c), np.empty((c, 2), parent.dtype)
    out = np.empty((c, h // 2, w // 2, n), parent.dtype)
    arg = np.empty(out.shape, np.uint8)
    xmax = np.empty(out.shape, parent.dtype)
    fn(parent.reshape(c, parent.shape[1], -1), h, w, n, weight, bias, 1e-5, mean, var, coef,
       out.reshape(c, h // 2, -1), arg.reshape(c, h // 2, -1), xmax.reshape(c, h // 2, -1))
    return mean, var, out, arg, xmax


def _kernel_backward(fn, g, arg, xmax, parent, shape, mean, scale, invstd):
    c, n = parent.shape[0], parent.shape[3]
    h, w = shape
    dx, sums = np.empty((c, h, w, n), parent.dtype), np.empty((c, 2))
    rows = (c, h // 2, -1)
    fn(g.reshape(rows), arg.reshape(rows), xmax.reshape(rows),
       parent.reshape(c, parent.shape[1], -1), h, w, n, mean, scale, invstd,
       np.empty((c, 3), parent.dtype), dx.reshape(c, h, -1), sums)
    return dx, sums


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(6, 8), (7, 5)])
def test_kernels_equal_the_numpy_reference(compiled, dtype, hw):
    rng = np.random.default_rng(4)
    c, n = 3, 5
    parent = (rng.standard_normal((c, hw[0] + 1, hw[1] + 2, n)) * 2 - 0.5).astype(dtype)
    xt = parent[:, :hw[0], :hw[1]]
    assert norm._batch_last_parent(xt).shape == parent.shape
    weight, bias = rng.uniform(0.5, 1.5, c), rng.standard_normal(c) - 1.0  # some windows <= 0
    mean, var, out, arg, xmax = _kernel_forward(compiled.bn_relu_pool_forward, parent, hw,
                                                weight, bias)
    r_mean, r_var, scale, _, r_out, r_arg = norm._bn_relu_pool_numpy(
        xt, weight, bias, 1e-5, (hw[0] // 2, hw[1] // 2))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(mean, r_mean, rtol=tol, atol=tol)
    np.testing.assert_allclose(var, r_var, rtol=tol, atol=tol)
    np.testing.assert_allclose(out, r_out, rtol=tol, atol=tol)
    np.testing.assert_array_equal(arg, r_arg)
    assert set(np.unique(arg)) <= {0, 1, 2, 3, 255} and (arg == 255).any()
    # xmax: the x of each window's first maximum (of y = x s + t; s > 0 here, so of x)
    windows = xt[:, :hw[0] // 2 * 2, :hw[1] // 2 * 2].reshape(
        c, hw[0] // 2, 2, hw[1] // 2, 2, n).transpose(0, 1, 3, 5, 2, 4).reshape(
        c, hw[0] // 2, hw[1] // 2, n, 4)
    np.testing.assert_array_equal(xmax, windows.max(axis=-1))
    invstd = 1.0 / np.sqrt(var + 1e-5)
    g = rng.standard_normal(out.shape).astype(dtype)
    dx, sums = _kernel_backward(compiled.bn_relu_pool_backward, g, arg, xmax, parent, hw,
                                mean, scale, invstd)
    r_dx, s1, s2 = norm._bn_relu_pool_grad_numpy(g, arg, xt, mean, scale, invstd)
    np.testing.assert_allclose(sums[:, 0], s1, rtol=tol, atol=tol)
    np.testing.assert_allclose(sums[:, 1], s2, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, r_dx, rtol=tol, atol=tol)


def test_two_threads_give_the_serial_bits(compiled, monkeypatch):
    from lamina.kernels import parallel

    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 6, 6, 4)).astype(np.float32).transpose(3, 0, 1, 2)
    weight, bias = rng.uniform(0.5, 1.5, 5).astype(np.float32), rng.standard_normal(5).astype(
        np.float32)
    grad = rng.standard_normal((4, 5, 3, 3)).astype(np.float32)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(T, "BN_POOL_THREADS", threads)
        monkeypatch.setitem(parallel._state, "threads", threads)
        calls = []
        kernel = compiled.bn_relu_pool_forward
        monkeypatch.setattr(compiled, "bn_relu_pool_forward",
                            lambda *a, k=kernel, c=calls: (c.append(a[0].shape[0]), k(*a)))
        rm, rv = np.zeros(5, np.float32), np.ones(5, np.float32)
        out, backward = OPS["batch_norm_relu_max_pool2d"](x, weight, bias, rm, rv)
        runs.append([out.copy(), *backward(grad, (True, True, True)), rm, rv])
        assert sorted(calls) == ([5] if threads == 1 else [2, 3])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_layout_check_finds_the_padded_parent():
    buffer = np.zeros((3, 8, 8, 4), np.float32)
    assert norm._batch_last_parent(buffer[:, :6, :7]).shape == (3, 8, 8, 4)
    assert norm._batch_last_parent(buffer[:, :, :, :2]) is None  # batch not contiguous
    assert norm._batch_last_parent(np.zeros((4, 3, 5, 5)).transpose(1, 2, 3, 0)) is None


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 1, 4), (1, 1, 1, 1)])
def test_bad_inputs_are_refused(shape):
    with pytest.raises(ValueError, match="batch_norm_relu_max_pool2d"):
        OPS["batch_norm_relu_max_pool2d"](np.zeros(shape, np.float32))


# ------------------------------------- conv2d -> batch norm -> ReLU -> 2 x 2 max pool


def _conv_block(fused, x, conv_w, conv_b, weight, bias, padding, grad, x_grad):
    """(out, running mean, running var, gradients) of conv2d_batch_norm_relu_max_pool2d or
    of conv2d then batch_norm_relu_max_pool2d (x's gradient only with ``x_grad``)."""
    c = conv_w.shape[0]
    rm, rv = np.zeros(c, x.dtype), np.ones(c, x.dtype)
    xt = lm.tensor(x, requires_grad=x_grad)
    params = [None if p is None else lm.tensor(p, requires_grad=True)
              for p in (conv_w, conv_b, weight, bias)]
    if fused:
        out = apply(OPS["conv2d_batch_norm_relu_max_pool2d"], xt, *params, running_mean=rm,
                    running_var=rv, momentum=0.3, padding=padding)
    else:
        z = apply(OPS["conv2d"], xt, params[0], params[1], padding=padding)
        out = apply(OPS["batch_norm_relu_max_pool2d"], z, params[2], params[3],
                    running_mean=rm, running_var=rv, momentum=0.3)
    out.backward(grad)
    grads = [t.grad.numpy() for t in [xt] * x_grad + params if t is not None]
    return [out.numpy(), rm, rv, *grads]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "c_out", "kernel", "padding"), [
    ((4, 1, 8, 8), 5, 3, (1, 1)),      # the BN CNN's first layer, smaller
    ((3, 2, 7, 9), 3, 3, (0, 1)),      # two input channels, odd output sizes
    ((2, 1, 6, 5), 4, 2, (1, 0)),      # a 2 x 2 kernel
])
@pytest.mark.parametrize("options", ["all", "no conv bias", "no affine", "x grad"])
def test_conv_block_op_equals_conv_then_the_bn_block(backend, dtype, shape, c_out, kernel,
                                                     padding, options):
    rng = np.random.default_rng(21)
    x = (rng.standard_normal(shape) + 0.3).astype(dtype)
    conv_w = rng.standard_normal((c_out, shape[1], kernel, kernel)).astype(dtype)
    conv_b = None if options == "no conv bias" else rng.standard_normal(c_out).astype(dtype)
    weight, bias = ((None, None) if options == "no affine" else
                    (rng.uniform(0.5, 1.5, c_out).astype(dtype),
                     rng.standard_normal(c_out).astype(dtype)))
    out_hw = [s + 2 * p - kernel + 1 for s, p in zip(shape[2:], padding, strict=True)]
    grad = rng.standard_normal((shape[0], c_out, out_hw[0] // 2, out_hw[1] // 2)).astype(dtype)
    args = (x, conv_w, conv_b, weight, bias, padding, grad, options == "x grad")
    fused, plain = _conv_block(True, *args), _conv_block(False, *args)
    tol = 1e-11 if dtype == np.float64 else 3e-5
    for i, (a, b) in enumerate(zip(fused, plain, strict=True)):
        assert a.dtype == b.dtype and a.shape == b.shape
        scale = max(float(np.abs(b).max()), 1.0)  # the conv bias's gradient is 0 + rounding
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=str(i))


def test_conv_block_kernels_equal_the_numpy_reference(compiled):
    """The forward kernel against conv2d + the block's NumPy reference; the backward's sums
    and routed sums against dy scattered whole; the Gram matrix against im2col's."""
    from lamina.ops import im2col

    rng = np.random.default_rng(5)
    n, c_in, c_out, h, w, k = 3, 2, 4, 7, 6, 3
    x = rng.standard_normal((n, c_in, h, w))
    conv_w, conv_b = rng.standard_normal((c_out, c_in, k, k)), rng.standard_normal(c_out)
    weight, bias = rng.uniform(0.5, 1.5, c_out), rng.standard_normal(c_out) - 0.5
    xp = im2col.internal(x, (1, 1))  # (C_in, 9, 8, N)
    oh, ow = h, w
    ph, pw = oh // 2, ow // 2
    mean, var, coef = np.empty(c_out), np.empty(c_out), np.empty((c_out, 2))
    out, arg, zmax = (np.empty((c_out, ph, pw * n), t) for t in (float, np.uint8, float))
    compiled.conv_bn_relu_pool_forward(xp, conv_w.reshape(c_out, -1), k, k, conv_b, weight,
                                       bias, 1e-5, mean, var, coef, np.empty((2, oh, ow * n)),
                                       out, arg, zmax)
    z = OPS["conv2d"](x, conv_w, conv_b, padding=(1, 1))[0]  # (N, C_out, H, W)
    zt = np.ascontiguousarray(z.transpose(1, 2, 3, 0))
    r_mean, r_var, scale, _, r_out, r_arg = norm._bn_relu_pool_numpy(zt, weight, bias, 1e-5,
                                                                      (ph, pw))
    np.testing.assert_allclose(mean, r_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, r_var, rtol=1e-12)
    np.testing.assert_allclose(out.reshape(c_out, ph, pw, n), r_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(arg.reshape(c_out, ph, pw, n), r_arg)
    g = rng.standard_normal(out.shape)
    sums, routed = np.empty((c_out, 2)), np.empty((c_out, c_in * k * k))
    compiled.conv_bn_relu_pool_backward(xp, g, arg, zmax, k, k, mean, sums, routed,
                                        np.empty((3, 2 * pw * n)))
    invstd = 1 / np.sqrt(var + 1e-5)
    dz, s1, s2 = norm._bn_relu_pool_grad_numpy(g.reshape(c_out, ph, pw, n),
                                               arg.reshape(c_out, ph, pw, n), zt, mean, scale,
                                               invstd)
    np.testing.assert_allclose(sums[:, 0], s1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sums[:, 1], s2, rtol=1e-12, atol=1e-12)
    dy = np.zeros(zt.shape)  # the routed gradient alone: dz with s = 1, b = k = 0
    dy[:, :2 * ph, :2 * pw] = np.where(
        arg.reshape(c_out, ph, 1, pw, 1, n) == (2 * np.arange(2)[:, None] + np.arange(2))[
            None, None, :, None, :, None], g.reshape(c_out, ph, 1, pw, 1, n), 0).reshape(
        c_out, 2 * ph, 2 * pw, n)
    cols = im2col.im2col(xp, (k, k), (1, 1), ow, (0, oh))  # (C_in k k, H W N)
    np.testing.assert_allclose(routed, dy.reshape(c_out, -1) @ cols.T, rtol=1e-12, atol=1e-12)
    gram, total = np.empty((c_in * k * k,) * 2), np.empty(c_in * k * k)
    compiled.conv_input_gram(xp, k, k, gram, total)
    np.testing.assert_allclose(gram, cols @ cols.T, rtol=1e-12)
    np.testing.assert_allclose(total, cols.sum(axis=1), rtol=1e-12, atol=1e-12)


def test_conv_block_op_refuses_parameters_of_another_size():
    x, w = np.zeros((2, 1, 6, 6)), np.zeros((3, 1, 3, 3))
    with pytest.raises(ValueError, match="weight must have shape \\(3,\\)"):
        OPS["conv2d_batch_norm_relu_max_pool2d"](x, w, None, np.ones(4))
    with pytest.raises(ValueError, match="Conv2d"):
        OPS["conv2d_batch_norm_relu_max_pool2d"](np.zeros((2, 2, 6, 6)), w)


@pytest.fixture
def all_winograd(monkeypatch):
    """Every 3 x 3 stride-1 convolution by Winograd (its thresholds at 0)."""
    monkeypatch.setattr(T, "WINOGRAD_MIN_CHANNELS", 0)
    monkeypatch.setattr(T, "WINOGRAD_MIN_OUTPUTS", 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "c_out", "padding"), [
    ((3, 2, 6, 6), 3, (1, 1)),      # whole tiles (8 x 8), cropped to 6 x 6
    ((2, 3, 9, 11), 2, (1, 0)),     # odd outputs (9 x 9): a row and a column no window has
    ((2, 2, 10, 10), 4, (0, 0)),    # 8 x 8: whole tiles exactly
])
@pytest.mark.parametrize("options", ["all", "no conv bias", "no affine"])
def test_conv_block_op_by_winograd_equals_conv_then_the_bn_block(backend, all_winograd, dtype,
                                                                shape, c_out, padding,
                                                                options):
    from lamina.ops import winograd

    rng = np.random.default_rng(22)
    x = (rng.standard_normal(shape) + 0.3).astype(dtype)
    conv_w = rng.standard_normal((c_out, shape[1], 3, 3)).astype(dtype)
    conv_b = None if options == "no conv bias" else rng.standard_normal(c_out).astype(dtype)
    weight, bias = ((None, None) if options == "no affine" else
                    (rng.uniform(0.5, 1.5, c_out).astype(dtype),
                     rng.standard_normal(c_out).astype(dtype)))
    out_hw = [s + 2 * p - 2 for s, p in zip(shape[2:], padding, strict=True)]
    assert winograd.eligible(x, conv_w, (1, 1), tuple(out_hw))
    grad = rng.standard_normal((shape[0], c_out, out_hw[0] // 2, out_hw[1] // 2)).astype(dtype)
    args = (x, conv_w, conv_b, weight, bias, padding, grad, True)
    fused, plain = _conv_block(True, *args), _conv_block(False, *args)
    tol = 1e-11 if dtype == np.float64 else 3e-5
    for i, (a, b) in enumerate(zip(fused, plain, strict=True)):
        assert a.dtype == b.dtype and a.shape == b.shape
        scale = max(float(np.abs(b).max()), 1.0)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=str(i))


def test_gradcheck_through_the_conv_block_by_winograd(backend, all_winograd):
    from lamina.testing import gradcheck

    rng = np.random.default_rng(23)
    inputs = [lm.tensor(rng.standard_normal(s), requires_grad=True)
              for s in ((2, 2, 5, 7), (3, 2, 3, 3), (3,))]
    inputs += [lm.tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True),
               lm.tensor(rng.standard_normal(3), requires_grad=True)]

    def fn(*args):
        return apply(OPS["conv2d_batch_norm_relu_max_pool2d"], *args, padding=(1, 0))
    assert gradcheck(fn, inputs)


def test_winograd_bn_pooled_kernel_is_the_bn_gradient_then_the_transform(rng):
    """winograd_output_grad_bn_pooled = batch norm's input gradient written whole (zeros
    past the output, in the whole tiles' extra rows and columns), then
    winograd_output_grad."""
    pytest.importorskip("numba")
    import lamina.kernels

    if lamina.kernels._disabled():
        pytest.skip("LAMINA_NO_NUMBA is set")
    wk = lamina.kernels.numba_kernels("winograd")
    c, n, oh, ow = 3, 4, 7, 6  # whole tiles 8 x 8
    z = rng.standard_normal((c, 8, 8, n))
    g = rng.standard_normal((c, oh // 2, ow // 2, n))
    index = rng.integers(0, 4, g.shape).astype(np.uint8)
    index[0, 0, 0, :2] = 255
    coef = rng.standard_normal((c, 3))
    dy = np.zeros(z.shape)
    dy[:, :oh, :ow] = z[:, :oh, :ow] * coef[:, 1, None, None, None] + coef[:, 2, None, None,
                                                                            None]
    for q in range(4):
        routed = np.where(index == q, g * coef[:, 0, None, None, None], 0)
        dy[:, q // 2:2 * (oh // 2):2, q % 2:2 * (ow // 2):2] += routed
    k = np.array([2.0, 4.0, 5.0, 8.0])
    got, expected = (np.empty((36, c, 1, 2, n)) for _ in range(2))
    for r0 in range(2):
        wk.winograd_output_grad_bn_pooled(g, index, z, coef, oh, ow, k, r0, 0, got, 0, c)
        wk.winograd_output_grad(dy, k, r0, 0, expected, 0, c)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_conv_block_by_winograd_split_over_threads_gives_the_serial_bits(backend, all_winograd,
                                                                        monkeypatch):
    """With the Winograd transforms split by channel over 2 or 3 threads (and several tile
    blocks), the op's values and gradients are bitwise those of one thread."""
    from lamina.kernels import parallel

    monkeypatch.setattr(T, "WINOGRAD_BLOCK_BYTES", 1)
    rng = np.random.default_rng(24)
    x, conv_w = rng.standard_normal((3, 2, 9, 7)), rng.standard_normal((5, 2, 3, 3))
    conv_b, weight, bias = rng.standard_normal(5), rng.uniform(0.5, 1.5, 5), rng.standard_normal(5)
    grad = rng.standard_normal((3, 5, 4, 3))
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setitem(parallel._state, "threads", threads)
        monkeypatch.setattr(T, "WINOGRAD_TRANSFORM_THREADS", threads)
        runs.append(_conv_block(True, x, conv_w, conv_b, weight, bias, (1, 1), grad, True))
    for run in runs[1:]:
        for a, b in zip(run, runs[0], strict=True):
            np.testing.assert_array_equal(a, b)
