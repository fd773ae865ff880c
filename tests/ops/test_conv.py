"""Convolution and pooling ops (lamina/ops/conv.py): float64 gradchecks of every op, parity
with torch.nn.functional in float32 and float64, max-pool ties, dtypes and memory layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import lamina as lm
from lamina import functional as F
from lamina.ops import OPS
from lamina.testing import gradcheck

Builder = Callable[[np.random.Generator], tuple[Callable, list]]


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
    "max_pool2d": [
        pool_case("max_pool2d", (2, 2, 4, 6), 2),                     # stride = kernel, tiles
        pool_case("max_pool2d", (1, 2, 5, 7), 3, stride=1),           # overlapping windows
        pool_case("max_pool2d", (2, 1, 6, 5), (3, 2), stride=(2, 1), padding=(1, 1)),
        pool_case("max_pool2d", (1, 2, 7, 7), 2, stride=3),           # gaps between windows
        pool_case("max_pool2d", (1, 1, 5, 5), 2),                     # last row/column unused
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
@pytest.mark.parametrize("name", ["conv2d", "max_pool2d", "avg_pool2d"])
def test_float32_stays_float32_in_values_and_gradients(name):
    rng = np.random.default_rng(0)
    x = lm.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    if name == "conv2d":
        w = lm.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
        b = lm.tensor(np.zeros(4, np.float32), requires_grad=True)
        out, params = F.conv2d(x, w, b, padding=1), [x, w, b]
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
    assert out.data.transpose(1, 2, 3, 0).flags.c_contiguous


# ------------------------------------------------------------------ errors
def test_op_errors_name_the_layer_and_show_the_arithmetic():
    w = lm.zeros(6, 1, 7, 7)
    with pytest.raises(ValueError, match=r"Conv2d\(1, 6, kernel_size=\(7, 7\)\): input of shape "
                                         r"\(8, 1, 5, 5\) is too small: height "
                                         r"\(5 \+ 2\*0 - 7\)/1 \+ 1 = -1"):
        F.conv2d(lm.zeros(8, 1, 5, 5), w)
    with pytest.raises(ValueError, match=r"Conv2d\(in_channels=1\): input has 3 channels"):
        F.conv2d(lm.zeros(8, 3, 28, 28), w)
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape "
                                         r"\(1, 28, 28\)"):
        F.conv2d(lm.zeros(1, 28, 28), w)
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=\(2, 2\), stride=\(2, 2\)\): "
                                         r"input of shape \(1, 1, 1, 4\) is too small: height "
                                         r"\(1 \+ 2\*0 - 2\)/2 \+ 1 = 0"):
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
