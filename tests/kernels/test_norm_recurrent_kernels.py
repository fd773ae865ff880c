"""The Numba kernels of batch normalisation and the LSTM (lamina/kernels/numba_norm.py,
numba_recurrent.py) against their NumPy references in lamina/ops/norm.py and recurrent.py:
the LSTM step kernels give the same bits, the batch-norm ones the same values up to
rounding (they sum in float64); and the op's layouts (a convolution's channel-major output,
any other strides) give the same results on both paths."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.ops import OPS, norm, recurrent
from lamina.tensor import apply


@pytest.fixture
def kernels():
    pytest.importorskip("numba")
    import lamina.kernels

    if lamina.kernels._disabled():
        pytest.skip("LAMINA_NO_NUMBA is set")
    return lamina.kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_cell_kernels_equal_the_numpy_reference_bitwise(kernels, dtype):
    rng = np.random.default_rng(3)
    batch, hidden = 5, 7
    module = kernels.numba_kernels("recurrent")
    act = np.tanh(rng.standard_normal((batch, 4 * hidden))).astype(dtype)
    c_prev = rng.standard_normal((batch, hidden)).astype(dtype)
    results = []
    for fn in (module.lstm_cell_forward, recurrent._lstm_cell_forward):
        a, c = act.copy(), np.empty_like(c_prev)
        fn(a, c_prev, c)
        results.append((a, c))
    for x, y in zip(*results, strict=True):
        np.testing.assert_array_equal(x, y)

    gate = rng.uniform(0, 1, (batch, 4 * hidden)).astype(dtype)
    grad_h, dh, tanh_c, dc = (rng.standard_normal((batch, hidden)).astype(dtype)
                              for _ in range(4))
    results = []
    for fn in (module.lstm_cell_backward, recurrent._lstm_cell_backward):
        state = [dh.copy(), dc.copy(), np.empty_like(gate)]
        fn(grad_h, state[0], gate, tanh_c, c_prev, state[1], state[2])
        results.append(state)
    for x, y in zip(*results, strict=True):
        np.testing.assert_array_equal(x, y)


def test_tanh32_is_within_its_stated_error_of_tanh(kernels):
    module = kernels.numba_kernels("recurrent")
    x = np.concatenate([np.linspace(-12, 12, 200_001), np.geomspace(1e-30, 12, 20_000),
                        -np.geomspace(1e-30, 12, 20_000), [0.0, -0.0, 9.0, -9.0]])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    module.tanh32(x, out)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(out - exact).max() <= 3.5e-7
    assert np.all(np.abs(out) <= 1) and np.all(np.sign(out) == np.sign(x))
    tiny = np.abs(x) < 1e-3  # relative accuracy near 0 (no absolute floor there)
    np.testing.assert_allclose(out[tiny], exact[tiny], rtol=1e-6)
    special = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30], np.float32)
    out = np.empty_like(special)
    module.tanh32(special, out)
    assert np.isnan(out[2])
    np.testing.assert_allclose(out[[0, 1, 3, 4]], [1, -1, 1, -1], rtol=0, atol=3.5e-7)


def test_lstm_step_forward_matches_the_numpy_steps(kernels):
    """The fused float32 step against the op's NumPy steps (np.tanh, the cell update,
    np.tanh, h = o tanh c): the same values up to the rational tanh's error."""
    rng = np.random.default_rng(5)
    batch, hidden, h_col = 5, 7, 4
    module = kernels.numba_kernels("recurrent")
    pre = (rng.standard_normal((batch, 4 * hidden)) * 3).astype(np.float32)
    c_prev = rng.standard_normal((batch, hidden)).astype(np.float32)
    act = pre.copy()
    c, tanh_c = (np.empty((batch, hidden), np.float32) for _ in range(2))
    xh = np.full((batch, h_col + hidden + 2), 7, np.float32)
    module.lstm_step_forward(act, c_prev, c, tanh_c, xh, h_col)
    ref = np.tanh(pre)
    recurrent._lstm_cell_forward(ref, c_prev, c_ref := np.empty_like(c))
    tanh_ref = np.tanh(c_ref)
    for got, want in ((act, ref), (c, c_ref), (tanh_c, tanh_ref),
                      (xh[:, h_col:h_col + hidden], ref[:, :hidden] * tanh_ref)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert (xh[:, :h_col] == 7).all() and (xh[:, h_col + hidden:] == 7).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_kernels_equal_the_numpy_reference_bitwise(kernels, dtype):
    rng = np.random.default_rng(6)
    batch, hidden = 4, 6
    module = kernels.numba_kernels("recurrent")
    p, u = (rng.standard_normal((batch, 3 * hidden)).astype(dtype) for _ in range(2))
    h_prev = rng.standard_normal((batch, hidden)).astype(dtype)
    results = []
    for rz, n_in, new_h in ((module.gru_rz_input, module.gru_n_input, module.gru_hidden),
                            (recurrent._gru_rz_input, recurrent._gru_n_input,
                             recurrent._gru_hidden)):
        g, h = np.zeros_like(p), np.empty_like(h_prev)
        rz(p, u, g)
        np.tanh(g[:, :2 * hidden], out=g[:, :2 * hidden])
        n_in(p, u, g)
        np.tanh(g[:, 2 * hidden:], out=g[:, 2 * hidden:])
        new_h(g, h_prev, h)
        results.append((g, h))
    for x, y in zip(*results, strict=True):
        np.testing.assert_array_equal(x, y)

    gates = results[0][0]
    grad_h, carry, mm = (rng.standard_normal((batch, hidden)).astype(dtype) for _ in range(3))
    results = []
    for fn in (module.gru_cell_backward, recurrent._gru_cell_backward):
        state = [carry.copy(), np.empty_like(p), np.empty_like(p)]
        fn(grad_h, state[0], mm, gates, h_prev, u, state[1], state[2])
        results.append(state)
    for x, y in zip(*results, strict=True):
        np.testing.assert_array_equal(x, y)


def _layouts(rng, dtype):
    """(N, C, H, W) inputs: C-contiguous, channel-major (a convolution's output, viewed as
    (1, C, H W N)) and a transposed view that is neither (copied)."""
    base = rng.standard_normal((2, 3, 4, 5)) * 2 + 1
    yield "contiguous", base.astype(dtype)
    yield "channel-major", np.ascontiguousarray(base.transpose(1, 2, 3, 0)).astype(
        dtype).transpose(3, 0, 1, 2)
    yield "other", np.ascontiguousarray(base.transpose(0, 1, 3, 2)).astype(dtype).transpose(
        0, 1, 3, 2)


def _batch_norm_run(x, weight, bias, grad, training, rm, rv):
    xt = lm.tensor(x, requires_grad=True)
    wt = None if weight is None else lm.tensor(weight, requires_grad=True)
    bt = None if bias is None else lm.tensor(bias, requires_grad=True)
    out = apply(OPS["batch_norm"], xt, wt, bt, running_mean=rm, running_var=rv,
                training=training, momentum=0.2)
    out.backward(grad)
    return [out.numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in (wt, bt) if p is not None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_kernels_equal_the_numpy_path_in_every_layout(backend, dtype, training,
                                                                  affine):
    rng = np.random.default_rng(5)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    weight = rng.uniform(0.5, 1.5, 3).astype(dtype) if affine else None
    bias = rng.standard_normal(3).astype(dtype) if affine else None
    grad = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    reference = None
    for name, x in _layouts(rng, dtype):
        rm, rv = np.full(3, 0.5, dtype), np.full(3, 2.0, dtype)
        got = _batch_norm_run(x, weight, bias, grad, training, rm, rv)
        # the NumPy formulas of the module docstring on float64 copies
        x64 = x.astype(np.float64)
        axes = (0, 2, 3)
        mean = x64.mean(axis=axes) if training else np.full(3, 0.5)
        var = x64.var(axis=axes) if training else np.full(3, 2.0)
        shape = (1, 3, 1, 1)
        xhat = (x64 - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-5)
        gamma = np.ones(3) if weight is None else weight.astype(np.float64)
        g = grad.astype(np.float64) * gamma.reshape(shape)
        if training:
            gx = (g - g.mean(axis=axes, keepdims=True)
                  - xhat * (g * xhat).mean(axis=axes, keepdims=True)) / np.sqrt(
                      var.reshape(shape) + 1e-5)
        else:
            gx = g / np.sqrt(var.reshape(shape) + 1e-5)
        expected = [xhat * gamma.reshape(shape) + (0 if bias is None else bias.reshape(shape)),
                    gx]
        if affine:
            expected += [(grad * xhat).sum(axis=axes), grad.sum(axis=axes)]
        for a, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol, err_msg=name)
        if training:
            np.testing.assert_allclose(rm, 0.8 * 0.5 + 0.2 * mean, rtol=tol)
            np.testing.assert_allclose(rv, 0.8 * 2.0 + 0.2 * var * 40 / 39, rtol=tol)
        assert got[0].dtype == dtype and got[1].dtype == dtype
        if reference is None:
            reference = got
        for a, r in zip(got, reference, strict=True):
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol, err_msg=name)


def test_batch_norm_keeps_a_convolution_output_in_its_layout(backend):
    rng = np.random.default_rng(1)
    conv, bn = lm.nn.Conv2d(2, 3, 3, padding=1), lm.nn.BatchNorm2d(3)
    # (8 images: rows of W_out N = 40 numbers, the im2col path, not the narrow one)
    x = lm.tensor(rng.standard_normal((8, 2, 5, 5)).astype(np.float32))
    z = conv(x)
    assert z.numpy().transpose(1, 2, 3, 0).flags.c_contiguous  # the conv's channel-major view
    x3, order = norm._channel_view(z.numpy())
    assert order == (1, 2, 3, 0) and x3.shape == (1, 3, 200)
    assert np.shares_memory(x3, z.numpy())
    y = bn(z)
    assert y.numpy().transpose(1, 2, 3, 0).flags.c_contiguous


def test_lstm_forward_twice_then_backward_of_the_first_is_unchanged(backend, torch):
    """A graph that is still alive keeps its work arrays: a second forward pass (which asks
    the pool for arrays of the same shapes) cannot overwrite them."""
    rng = np.random.default_rng(2)
    ours, theirs = lm.nn.LSTM(3, 4), torch.nn.LSTM(3, 4).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.double()
    x1, x2 = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 3))
    out1, _ = ours(lm.tensor(x1))
    out2, _ = ours(lm.tensor(x2))
    out1.sum().backward()
    first = ours.weight_hh_l0.grad.numpy().copy()
    t_out, _ = theirs(torch.from_numpy(x1))
    t_out.sum().backward()
    np.testing.assert_allclose(first, theirs.weight_hh_l0.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(out2.numpy(), theirs(torch.from_numpy(x2))[0].detach().numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_loop_kernels_equal_the_python_loops(kernels, monkeypatch, reverse):
    """lstm_forward_steps / lstm_backward_steps (the time loops compiled, BLAS called
    directly) against the op's Python loops over the same step kernels: the same bits."""
    from lamina.kernels import blas, registry

    if blas.sgemm_library() is None:
        pytest.skip("NumPy's bundled OpenBLAS not found")
    rng = np.random.default_rng(8)
    t_len, batch, n_in, hidden = 6, 3, 4, 5
    f32 = np.float32
    args = (rng.standard_normal((t_len, batch, n_in)).astype(f32),
            *(rng.standard_normal((batch, hidden)).astype(f32) for _ in range(2)),
            (rng.standard_normal((4 * hidden, n_in)) * 0.5).astype(f32),
            (rng.standard_normal((4 * hidden, hidden)) * 0.5).astype(f32),
            *(rng.standard_normal(4 * hidden).astype(f32) for _ in range(2)))
    grad = rng.standard_normal((t_len + 1, batch, hidden)).astype(f32)

    def run():
        out, backward = recurrent.lstm_sequence(*args, reverse=reverse)
        return [out.copy()] + [g.copy() for g in backward(grad, (True,) * 7)]

    calls = []
    module = kernels.numba_kernels("recurrent")
    for name in ("lstm_forward_steps", "lstm_backward_steps"):
        kernel = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _k=kernel, _n=name: (calls.append(_n), _k(*a))[1])
    compiled = run()
    assert calls == ["lstm_forward_steps", "lstm_backward_steps"]
    for name in ("lstm_forward_steps", "lstm_backward_steps"):
        entry = registry.KERNELS[name]
        monkeypatch.setitem(registry.KERNELS, name, registry.Kernel(
            name, entry.family, entry.op, entry.replaces, entry.exact, lambda *a: False))
    python = run()
    assert calls == ["lstm_forward_steps", "lstm_backward_steps"]
    for a, b in zip(compiled, python, strict=True):
        np.testing.assert_array_equal(a, b)
