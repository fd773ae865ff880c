"""The reused work arrays of lamina/ops/scratch.py: an array is handed out again only when
nothing but the pool references it (no Tensor, view, closure or variable)."""

from __future__ import annotations

import numpy as np

from lamina.ops import scratch


def test_a_held_array_is_never_handed_out_again():
    scratch.clear()
    a = scratch.empty((3, 5), np.float32)
    b = scratch.empty((3, 5), np.float32)
    assert a is not b and a.shape == (3, 5) and a.dtype == np.float32


def test_a_released_array_is_reused():
    scratch.clear()
    address = scratch.empty((4, 6), np.float64).__array_interface__["data"][0]
    again = scratch.empty((4, 6), np.float64)
    assert again.__array_interface__["data"][0] == address


def test_views_and_closures_keep_an_array_held():
    scratch.clear()
    first = scratch.empty((2, 8), np.float32)
    view = first[1:]
    keep = (lambda held: (lambda: held))(first)
    del first
    assert scratch.empty((2, 8), np.float32).base is None  # a new array: view and closure
    assert view.base is not None and keep() is view.base


def test_shapes_and_dtypes_do_not_mix_and_the_pool_is_bounded(monkeypatch):
    scratch.clear()
    monkeypatch.setattr(scratch, "PER_KEY", 2)
    held = [scratch.empty((3,), np.float32) for _ in range(4)]
    assert len({id(a) for a in held}) == 4
    assert len(scratch._pool[((3,), np.dtype(np.float32))]) == 2
    assert scratch.empty((3,), np.float64).dtype == np.float64
    scratch.clear()
    assert not scratch._pool and scratch._state["bytes"] == 0


def test_a_full_pool_drops_unheld_arrays_of_shapes_unused_longest(monkeypatch):
    scratch.clear()
    monkeypatch.setattr(scratch, "MAX_BYTES", 2500)
    scratch.empty((100,), np.float64)  # 800 bytes, released at once
    held = scratch.empty((101,), np.float64)
    scratch.empty((102,), np.float64)
    scratch.empty((100,), np.float64)  # used again: now the most recent
    assert scratch._state["bytes"] == 800 + 808 + 816
    scratch.empty((103,), np.float64)  # drops the (102,) array, asked for longest ago
    keys = [k[0] for k in scratch._pool]
    assert (102,) not in keys and keys[-1] == (103,) and (101,) in keys
    assert scratch._state["bytes"] == 800 + 808 + 824
    assert held.shape == (101,)
    scratch.clear()


def test_an_op_output_the_caller_keeps_is_not_overwritten():
    import lamina as lm

    rng = np.random.default_rng(0)
    bn = lm.nn.BatchNorm2d(3)
    first = bn(lm.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))).numpy()
    kept = first.copy()
    for _ in range(6):  # more calls than the pool keeps arrays of one shape
        bn(lm.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32)))
    np.testing.assert_array_equal(first, kept)


def test_without_a_gil_nothing_is_kept_or_reused(monkeypatch):
    monkeypatch.setattr(scratch, "_REUSE", False)
    scratch.clear()
    for _ in range(3):
        scratch.empty((5, 3), np.float32)
    assert scratch._pool == {}


def test_empty_like_keeps_a_transposed_layout_and_is_reused_once_released():
    scratch.clear()
    a = np.empty((3, 4, 5, 2), np.float32).transpose(3, 0, 1, 2)  # NCHW view of (C,H,W,N)
    out = scratch.empty_like(a)
    assert out.shape == a.shape and out.strides == a.strides and out.dtype == a.dtype
    address = out.__array_interface__["data"][0]
    held = scratch.empty_like(a, np.float64)
    assert held.dtype == np.float64 and held.strides == (8, 320, 80, 16)
    del out
    assert scratch.empty_like(a).__array_interface__["data"][0] == address
    odd = np.empty((4, 6), np.float32)[:, ::2]  # not dense: C order
    assert scratch.empty_like(odd).flags.c_contiguous


def test_relu_and_pooling_outputs_the_caller_keeps_are_not_overwritten():
    """Outputs of the conv, ReLU and max-pool ops come from the pool: a second step must not
    write into the first step's outputs while they are held."""
    import lamina as lm
    from lamina import functional as F

    rng = np.random.default_rng(0)
    conv = lm.nn.Conv2d(2, 16, 3)
    x = lm.tensor(rng.standard_normal((32, 2, 12, 12)).astype(np.float32))
    first = F.max_pool2d(F.relu(conv(x)), 2)
    kept = first.numpy().copy()
    first.sum().backward()
    grad = conv.weight.grad.numpy().copy()
    second = F.max_pool2d(F.relu(conv(-x)), 2)
    second.sum().backward()
    np.testing.assert_array_equal(first.numpy(), kept)
    assert not np.array_equal(second.numpy(), kept)
    assert np.isfinite(grad).all()
