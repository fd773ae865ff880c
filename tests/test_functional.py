"""lamina.functional (also lm.nn.functional): the stateless API and its PyTorch signatures."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import functional as F
from lamina import nn


def test_nn_functional_is_the_same_module():
    import lamina.nn.functional as nnf

    assert lm.nn.functional is F
    assert nnf is F
    assert lm.functional is F


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(parity, torch, dtype, bias, rng):
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    w = rng.standard_normal((5, 4)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype) if bias else None
    xl, wl = lm.tensor(x, requires_grad=True), lm.tensor(w, requires_grad=True)
    bl = lm.tensor(b, requires_grad=True) if bias else None
    xt, wt = parity.to_torch(x, True), parity.to_torch(w, True)
    bt = parity.to_torch(b, True) if bias else None
    out_l, out_t = F.linear(xl, wl, bl), torch.nn.functional.linear(xt, wt, bt)
    parity.assert_close(out_l, out_t)
    out_l.sum().backward()
    out_t.sum().backward()
    for ours, theirs in [(xl, xt), (wl, wt)] + ([(bl, bt)] if bias else []):
        parity.assert_close(ours.grad, theirs.grad)


@pytest.mark.parametrize(("name", "module"), [
    ("relu", nn.ReLU()), ("sigmoid", nn.Sigmoid()), ("tanh", nn.Tanh()), ("swish", nn.Swish()),
    ("silu", nn.SiLU()), ("leaky_relu", nn.LeakyReLU()), ("softmax", nn.Softmax(-1)),
    ("log_softmax", nn.LogSoftmax(-1)), ("scaled_tanh", nn.ScaledTanh()),
    ("flatten", nn.Flatten())])
def test_functions_match_their_modules(name, module, rng):
    x = lm.tensor(rng.standard_normal((2, 3, 4)))
    np.testing.assert_array_equal(getattr(F, name)(x).data, module(x).data)


def test_activations_match_torch(parity, torch, rng):
    x = rng.standard_normal((3, 5))
    tf = torch.nn.functional
    xt = torch.from_numpy(x)
    xl = lm.tensor(x)
    parity.assert_close(F.leaky_relu(xl, 0.3), tf.leaky_relu(xt, 0.3))
    parity.assert_close(F.softmax(xl, dim=0), tf.softmax(xt, dim=0))
    parity.assert_close(F.log_softmax(xl, dim=0), tf.log_softmax(xt, dim=0))
    parity.assert_close(F.silu(xl), tf.silu(xt))


@pytest.mark.parametrize("padding", [(1, 2), (1, 0, 2, 3), (0, 1, 1, 0, 2, 2)])
def test_pad_matches_torch(parity, torch, padding, rng):
    x = rng.standard_normal((2, 3, 4))
    xl, xt = lm.tensor(x, requires_grad=True), parity.to_torch(x, True)
    out_l = F.pad(xl, padding, value=0.5)
    out_t = torch.nn.functional.pad(xt, padding, value=0.5)
    parity.assert_close(out_l, out_t)
    g = rng.standard_normal(out_l.shape)
    out_l.backward(g)
    out_t.backward(torch.from_numpy(g))
    parity.assert_close(xl.grad, xt.grad)
    with pytest.raises(ValueError, match=r"pad: padding needs pairs, got \(1,\)"):
        F.pad(xl, (1,))


def test_loss_signatures_follow_pytorch(rng):
    logits = lm.tensor(rng.standard_normal((4, 3)))
    target = np.array([0, 2, 1, 2])
    weight = np.array([1.0, 2.0, 0.5])
    log_probs = F.log_softmax(logits, dim=1)
    # nll_loss(input, target, weight, ...) and cross_entropy(input, target, weight, ...)
    np.testing.assert_allclose(F.nll_loss(log_probs, target, weight).data,
                               F.cross_entropy(logits, target, weight).data)
    np.testing.assert_allclose(
        F.cross_entropy(logits, lm.tensor(target), weight=lm.tensor(weight), reduction="sum",
                        label_smoothing=0.1).data,
        nn.CrossEntropyLoss(weight, reduction="sum", label_smoothing=0.1)(logits, target).data)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(logits, np.ones((4, 3)), pos_weight=weight).data,
        nn.BCEWithLogitsLoss(pos_weight=weight)(logits, np.ones((4, 3))).data)
    np.testing.assert_allclose(F.mse_loss(logits, np.zeros((4, 3)), reduction="sum").data,
                               (logits.data**2).sum())
    np.testing.assert_allclose(F.l1_loss(logits, np.zeros((4, 3))).data,
                               np.abs(logits.data).mean())


def test_dropout_training_and_eval(rng):
    x = lm.tensor(rng.standard_normal((20, 20)))
    lm.manual_seed(0)
    out = F.dropout(x, 0.5)
    assert np.any(out.data == 0) and out.dtype == np.float64
    np.testing.assert_allclose(out.data[out.data != 0], 2 * x.data[out.data != 0])
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_mask_follows_the_input_memory_layout():
    """A transposed input (the conv ops' NCHW view of a channel-major array) gets a mask in
    its own memory order; the statistics and the gradient are those of inverted dropout."""
    lm.manual_seed(5)
    base = np.ones((6, 20, 20, 50), np.float32)
    leaf = lm.tensor(base, requires_grad=True)
    x = leaf.permute(3, 0, 1, 2)  # (50, 6, 20, 20), not C-contiguous
    out = F.dropout(x, 0.25)
    assert out.numpy().strides == x.numpy().strides
    kept = out.numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out.numpy()[kept], 1 / 0.75, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), out.numpy().transpose(1, 2, 3, 0), rtol=1e-6)
    lm.manual_seed(5)
    again = F.dropout(x, 0.25)
    np.testing.assert_array_equal(again.numpy(), out.numpy())


@pytest.mark.parametrize("p", [0.25, 0.5, 0.3, 0.9])
def test_dropout_rate_with_byte_and_32_bit_draws(p):
    """Rates that are a whole number of 256ths draw one random byte an element, others 32
    bits: both keep 1 - p of the elements (within 4 standard deviations) and scale them."""
    lm.manual_seed(1)
    out = F.dropout(lm.tensor(np.ones(200_000, np.float32)), p).numpy()
    kept = out != 0
    assert abs(kept.mean() - (1 - p)) < 4 * np.sqrt(p * (1 - p) / out.size)
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)
