"""The kernel registry (lamina/kernels/registry.py): every compiled kernel is registered
against an op with an eligibility check; an eligible input gets the kernel, an ineligible one
falls back to the NumPy reference (the kernel is not called) and gives the same values."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
import lamina.kernels
from lamina import functional as F
from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import OPS, winograd
from lamina.ops import conv as conv_ops
from lamina.ops import im2col as L
from lamina.ops.linalg import LinearChain
from lamina.tensor import apply

f32 = np.float32


def arr(*shape, dtype=f32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# kernel -> (arguments its check accepts, arguments it refuses), as the ops pass them
CHECKS = {
    "small_conv_forward": ((arr(6, 25), arr(1, 32, 32, 4), (1, 1)),
                           (arr(6, 25), arr(1, 32, 32, 4), (1, 2))),
    "small_conv_relu_pool_2x2": (
        (arr(6, 25), arr(1, 32, 32, 4), (1, 1), ((2, 2), (2, 2), (0, 0)), arr(6)),
        (arr(6, 25), arr(1, 32, 32, 4), (1, 1), ((3, 3), (2, 2), (0, 0)), arr(6))),
    "small_conv_weight_grad": ((arr(6, 25), arr(1, 32, 32, 4), (1, 1), arr(6, 8)),
                               (arr(6, 25), arr(1, 32, 32, 4), (1, 1), arr(6, 8, dtype=float))),
    "weight_grad": ((arr(6, 100), arr(25, 100)), (arr(16, 100), arr(150, 100))),
    "col2im": ((arr(2, 3, 3, 4, 4, 2), arr(2, 6, 6, 2)),
               (arr(2, 3, 3, 4, 4, 2).transpose(0, 2, 1, 3, 4, 5), arr(2, 6, 6, 2))),
    "conv_relu_max_pool_direct": (
        (arr(1, 1, 28, 28), arr(6, 1, 5, 5), arr(6), (1, 1), ((2, 2), (2, 2), (0, 0))),
        (arr(T.DIRECT_MAX_BATCH + 1, 1, 28, 28), arr(6, 1, 5, 5), arr(6), (1, 1),
         ((2, 2), (2, 2), (0, 0)))),
    "max_pool_forward": ((arr(2, 8, 8, 3), (2, 2)), (arr(2, 17, 17, 3), (17, 17))),
    "max_pool_bias_relu": ((arr(2, 8, 8, 3), (2, 2), arr(2)),
                           (arr(2, 8, 8, 3), (2, 2), arr(2, dtype=float))),
    "max_pool_backward": ((arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint8)),
                          (arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint16))),
    "relu_max_pool_backward": (
        (arr(2, 4, 4, 3), arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint8)),
        (arr(2, 4, 4, 3), arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint16))),
    "relu_forward": ((arr(T.RELU_DENSE_FROM),), (arr(T.RELU_DENSE_FROM, dtype=np.float16),)),
    "relu_in_place": ((arr(2, T.RELU_IN_PLACE_FROM),), (arr(2, T.RELU_IN_PLACE_FROM).T,)),
    "relu_backward": ((arr(T.RELU_DENSE_FROM), arr(T.RELU_DENSE_FROM)),
                      (arr(T.RELU_DENSE_FROM), arr(T.RELU_DENSE_FROM, dtype=float))),
    "linear_rows": ((arr(1, 8), arr(4, 8), arr(4)),
                    (arr(T.LINEAR_MAX_ROWS + 1, 8), arr(4, 8), arr(4))),
    "linear_chain": ((8, np.dtype(f32), [arr(4, 8), arr(3, 4)], [arr(4), None]),
                     (8, np.dtype(f32), [arr(4, 8), arr(3, 4)], [arr(4, dtype=float), None])),
    "winograd_input": ((arr(2, 10, 10, 3), arr(36, 2, 2, 2, 3)),
                       (arr(2, 10, 10, 3), arr(36, 2, 2, 2, 3, dtype=float))),
    "winograd_output": ((arr(36, 2, 2, 2, 3), arr(2, 8, 8, 3), arr(2)),
                        (arr(36, 2, 2, 2, 3), arr(2, 8, 8, 3), arr(2, dtype=float))),
    "winograd_output_grad": ((arr(2, 8, 8, 3), arr(36, 2, 2, 2, 3)),
                             (arr(2, 8, 8, 3), arr(36, 2, 2, 2, 3, dtype=float))),
    "winograd_output_grad_pooled": (
        (arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint8), arr(36, 2, 2, 2, 3)),
        (arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint16), arr(36, 2, 2, 2, 3))),
    "winograd_input_grad": ((arr(36, 2, 2, 2, 3), arr(2, 10, 10, 3)),
                            (arr(36, 2, 2, 2, 3), arr(2, 10, 10, 3, dtype=float))),
    "bias_relu": ((arr(64, 64), arr(64)), (arr(64, 64), arr(64, dtype=float))),
    "cross_entropy_rows": ((arr(4, 3), np.zeros(4, np.int64)),
                           (arr(4, 3), np.zeros(4, np.int32))),
    "relu_grad": ((arr(64, 64), arr(64, 64)), (arr(64, 64), arr(64, 64).T)),
    **{name: ((arr(4, 3, 5), arr(3), None), (arr(4, 3, T.BN_MIN_RUN - 1), arr(3), None))
       for name in ("bn_stats", "bn_affine", "bn_grad_sums", "bn_input_grad")},
    **{name: ((arr(3, 4, 4, 5), arr(3), arr(3)),
              (arr(5, 3, 4, 4).transpose(1, 2, 3, 0), arr(3), arr(3)))
       for name in ("bn_relu_pool_forward", "bn_relu_pool_backward")},
    "bn_pool_sums": ((arr(2, 3, 4), np.zeros((2, 3, 4), np.uint8), arr(2, 3, 4)),
                     (arr(2, 3, 4), np.zeros((2, 3, 4), np.uint8), arr(2, 3, 4, dtype=float))),
    "winograd_output_grad_bn_pooled": (
        (arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint8), arr(2, 8, 8, 3),
         arr(36, 2, 2, 2, 3)),
        (arr(2, 4, 4, 3), np.zeros((2, 4, 4, 3), np.uint8), arr(2, 8, 8, 3, dtype=float),
         arr(36, 2, 2, 2, 3))),
    **{name: ((arr(1, 6, 6, 4), arr(4, 9), (arr(4), arr(4), None)),
              (arr(1, 6, 6, 4), arr(4, 9), (arr(4), arr(4, dtype=float), None)))
       for name in ("conv_bn_relu_pool_forward", "conv_bn_relu_pool_backward",
                    "conv_input_gram")},
    **{name: ((arr(3, 2, 6),), (arr(3, 2, 6, dtype=np.float16),))
       for name in ("gru_rz_input", "gru_n_input", "gru_hidden")},
    "gru_cell_backward": ((arr(3, 2, 6), arr(3, 2, 2)), (arr(3, 2, 6), arr(3, 2, 2, dtype=float))),
    "lstm_cell_forward": ((arr(3, 2, 8),), (arr(3, 2, 8, dtype=np.float16),)),
    "lstm_step_forward": ((arr(3, 2, 8),), (arr(3, 2, 8, dtype=float),)),
    "lstm_forward_steps": ((arr(3, 2, 8),), (arr(3, 2, 8, dtype=float),)),
    "lstm_backward_steps": ((arr(3, 2, 8), arr(4, 2, 2)),
                            (arr(3, 2, 8), arr(4, 2, 2, dtype=float))),
    "lstm_cell_backward": ((arr(3, 2, 8), arr(4, 2, 2)),
                           (arr(3, 2, 8), arr(4, 2, 2, dtype=float))),
}


def test_every_kernel_is_registered_against_an_op_with_a_check():
    assert set(CHECKS) == set(registry.KERNELS)
    for name, entry in registry.KERNELS.items():
        assert entry.name == name and entry.family in ("conv", "linear", "recurrent", "norm",
                                                       "winograd", "loss")
        assert entry.op in OPS, f"{name}: unknown op {entry.op}"
        assert callable(entry.eligible) and entry.replaces


def test_registered_kernels_exist_in_their_modules():
    pytest.importorskip("numba")
    for name, entry in registry.KERNELS.items():
        module = lamina.kernels._load(entry.family)
        assert callable(getattr(module, name)), name


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_select_follows_the_check_and_the_switch(backend, name):
    accepted, refused = CHECKS[name]
    entry = registry.KERNELS[name]
    assert entry.eligible(*accepted) and not entry.eligible(*refused)
    assert registry.select(name, *refused) is None
    chosen = registry.select(name, *accepted)
    if backend == "numpy":
        assert chosen is None
    else:
        assert chosen is getattr(lamina.kernels.numba_kernels(entry.family), name)


# ------------------------------------------------------------------ falling back, by value


def conv_stride_2(dtype):
    """conv2d with horizontal stride 2: refused by the small_conv_* kernels."""
    x, w, b = arr(2, 1, 8, 9, dtype=dtype), arr(2, 1, 3, 3, dtype=dtype, seed=1), arr(2)
    return _forward_backward(F.conv2d, x, w, b.astype(dtype), stride=(1, 2))


def conv_many_weights(dtype):
    """conv2d with 8 x 72 weights: weight_grad refused (more than SMALL_WEIGHT_GRAD)."""
    x, w, b = arr(3, 8, 7, 7, dtype=dtype), arr(8, 8, 3, 3, dtype=dtype, seed=1), arr(8)
    return _forward_backward(F.conv2d, x, w, b.astype(dtype), padding=(1, 1))


def fused_pool_3(dtype):
    """The fused block with a 3 x 3 pool: small_conv_relu_pool_2x2 refused."""
    x, w, b = arr(3, 1, 10, 10, dtype=dtype), arr(2, 1, 3, 3, dtype=dtype, seed=1), arr(2)
    return _forward_backward(_fused, x, w, b.astype(dtype), pool=(3, 3), pool_stride=(1, 1))


def other(dtype):
    return np.float32 if dtype == np.float64 else np.float64


def fused_wide_bias(dtype):
    """The fused block with a bias of another dtype than the data: max_pool_bias_relu and
    small_conv_relu_pool_2x2 refused."""
    x, w, b = arr(3, 1, 8, 8, dtype=dtype), arr(2, 1, 3, 3, dtype=dtype, seed=1), arr(2)
    return _forward_backward(_fused, x, w, b.astype(other(dtype)))


def pool_large_window(dtype):
    """max_pool2d over 17 x 17 windows: max_pool_forward refused (the uint8 index), hence
    max_pool_backward too (the NumPy index is uint16)."""
    return _forward_backward(F.max_pool2d, arr(2, 2, 18, 18, dtype=dtype), kernel_size=17,
                             stride=1)


def fused_large_window(dtype):
    """The fused block with a 17 x 17 pool: relu_max_pool_backward refused (uint16 index)."""
    x, w, b = arr(2, 1, 20, 20, dtype=dtype), arr(2, 1, 3, 3, dtype=dtype, seed=1), arr(2)
    return _forward_backward(_fused, x, w, b.astype(dtype), pool=(17, 17), pool_stride=(1, 1))


def col2im_strided(dtype):
    """col2im on a non-contiguous gradient: refused; the NumPy adds give the same sums."""
    cols = arr(2, 3, 3, 4, 4, 2, dtype=dtype).transpose(0, 2, 1, 3, 4, 5)
    out = np.zeros((2, 6, 6, 2), dtype)
    L.col2im(cols, 0, (1, 1), out)
    return [out]


def direct_large_batch(dtype):
    """No-grad inference on more than DIRECT_MAX_BATCH images: the direct kernel refused."""
    x = arr(T.DIRECT_MAX_BATCH + 1, 1, 12, 12, dtype=dtype)
    w, b = arr(4, 1, 5, 5, dtype=dtype), arr(4)
    return [conv_ops.conv2d_relu_max_pool2d_infer(x, w, b.astype(dtype), padding=(2, 2))]


def winograd_transforms(dtype):
    """The four Winograd transforms (tile rows 1..2 of 2 x 2 tiles) into buffers of the
    other dtype: every winograd_* kernel refused, the NumPy products write (and cast) there."""
    xp, g = arr(2, 10, 10, 3, dtype=dtype), arr(2, 8, 8, 3, dtype=dtype, seed=1)
    wide = other(dtype)
    v = winograd.input_tiles(xp, (1, 2, 0, 2), np.empty(36 * 2 * 6, wide))
    dm = winograd.output_grad_tiles(g, (1, 2, 0, 2), np.empty(36 * 2 * 6, wide))
    z, grad_xp = np.zeros((2, 8, 8, 3), wide), np.zeros((2, 10, 10, 3), wide)
    winograd.output_tiles(arr(36, 2, 6, dtype=dtype, seed=4), (1, 2, 0, 2), z, arr(2))
    winograd.input_grad_tiles(arr(36, 2, 6, dtype=dtype, seed=5), (1, 2, 0, 2), grad_xp)
    return [v, dm, z, grad_xp]


def winograd_pooled_wide_index(dtype):
    """Winograd's backward from a pooled gradient whose offsets are not uint8:
    winograd_output_grad_pooled refused, the scatter then the plain transforms."""
    x, w, b = arr(2, 3, 10, 10, dtype=dtype), arr(4, 3, 3, 3, dtype=dtype, seed=1), arr(4)
    _, backward = winograd.conv2d(x, w, b.astype(dtype), (0, 0), (8, 8))
    index = np.random.default_rng(2).integers(0, 4, (4, 4, 4, 2)).astype(np.uint16)
    return list(backward.from_pooled(arr(4, 4, 4, 2, dtype=dtype, seed=3), index,
                                     (True, True, True)))


def linear_three_rows(dtype):
    """Linear on LINEAR_MAX_ROWS + 1 rows: linear_rows refused."""
    x, w, b = arr(T.LINEAR_MAX_ROWS + 1, 8, dtype=dtype), arr(4, 8, dtype=dtype), arr(4)
    return _forward_backward(F.linear, x, w, b.astype(dtype))


def linear_small_output(dtype):
    """linear_relu with an output under ELEMENTWISE_KERNEL_FROM entries: bias_relu and
    relu_grad refused, the NumPy add, maximum and mask."""
    x, w, b = arr(3, 8, dtype=dtype), arr(5, 8, dtype=dtype, seed=1), arr(5)
    return _forward_backward(lambda *t: apply(OPS["linear_relu"], *t), x, w, b.astype(dtype))


def chain_wide_bias(dtype):
    """A LinearChain with a bias of another dtype: linear_chain refused, layer by layer."""
    chain = LinearChain([arr(4, 8, dtype=dtype), arr(3, 4, dtype=dtype)],
                        [arr(4, dtype=other(dtype)), None], (True, False))
    return [chain(arr(1, 8, dtype=dtype))]


def folded_relu_small(dtype):
    """F.relu folded into a linear output of fewer than RELU_IN_PLACE_FROM numbers:
    relu_in_place refused."""
    x, w, b = arr(2, 8, dtype=dtype), arr(T.RELU_IN_PLACE_FROM // 4, 8, dtype=dtype, seed=1), \
        arr(T.RELU_IN_PLACE_FROM // 4)
    return _forward_backward(lambda *t: F.relu(F.linear(*t)), x, w, b.astype(dtype))


def relu_small(dtype):
    """ReLU of fewer than RELU_DENSE_FROM numbers: relu_forward and relu_backward refused."""
    return _forward_backward(F.relu, arr(T.RELU_DENSE_FROM - 1, dtype=dtype))


REFUSED = {
    "relu_forward": relu_small, "relu_backward": relu_small, "relu_in_place": folded_relu_small,
    "small_conv_forward": conv_stride_2, "small_conv_weight_grad": conv_stride_2,
    "weight_grad": conv_many_weights, "small_conv_relu_pool_2x2": fused_pool_3,
    "max_pool_bias_relu": fused_wide_bias, "max_pool_forward": pool_large_window,
    "max_pool_backward": pool_large_window, "relu_max_pool_backward": fused_large_window,
    "col2im": col2im_strided, "conv_relu_max_pool_direct": direct_large_batch,
    "linear_rows": linear_three_rows, "linear_chain": chain_wide_bias,
    "winograd_input": winograd_transforms, "winograd_output": winograd_transforms,
    "winograd_output_grad": winograd_transforms, "winograd_input_grad": winograd_transforms,
    "winograd_output_grad_pooled": winograd_pooled_wide_index,
    "bias_relu": linear_small_output, "relu_grad": linear_small_output,
}


def _fused(x, weight, bias, pool=(2, 2), pool_stride=(2, 2)):
    """The op conv2d_relu_max_pool2d on Tensors."""
    return apply(OPS["conv2d_relu_max_pool2d"], x, weight, bias, pool_kernel_size=pool,
                 pool_stride=pool_stride)


def _forward_backward(fn, *arrays, **options):
    tensors = [lm.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors, **options)
    out.backward(np.cos(np.arange(out.numel())).reshape(out.shape).astype(out.dtype))
    return [out.numpy()] + [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_input_runs_the_reference_with_the_same_values(monkeypatch, name, dtype):
    """With the compiled kernels on, an input the kernel's check refuses never reaches the
    kernel (it is replaced by one that fails) and gives the pure-NumPy path's values."""
    pytest.importorskip("numba")
    case = REFUSED[name]
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    reference = case(dtype)
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
    module = lamina.kernels.numba_kernels(registry.KERNELS[name].family)

    def refused(*args):
        raise AssertionError(f"{name} was called on an input its check refuses")

    monkeypatch.setattr(module, name, refused)
    got = case(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(got, reference, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
