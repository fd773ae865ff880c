"""Functional forms added for torch scripts (lamina/functional.py): one_hot, pad modes,
nll_loss/cross_entropy with ignore_index and (N, C, d1, ...) inputs, smooth_l1, huber, binary
cross-entropy, softplus, logsigmoid, elu, hardtanh, relu6, normalize, cosine_similarity:
float64 parity with torch.nn.functional, values and gradients."""

from __future__ import annotations

import lamina.nn.functional as F
import numpy as np
import pytest

import lamina as lm

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((6, 4))
Z4 = RNG.standard_normal((2, 3, 4, 5))
PROBS = RNG.uniform(0.05, 0.95, (6, 4))
TARGET01 = RNG.uniform(0, 1, (6, 4))
T = np.array([0, 3, -100, 1, 2, -100])
T_ALL = np.array([0, 3, 3, 1, 2, 1])
T_K = RNG.integers(0, 3, (2, 4, 5))
T_K[0, 0, :2] = -100
W = np.array([0.5, 2.0, 1.0, 1.5])
W3 = np.array([0.5, 2.0, 1.0])
IMG = RNG.standard_normal((2, 3, 4, 5))


def _c(lib, a):
    return lib.tensor(a) if lib is lm else lib.from_numpy(a)


# (name, call(lib, F, *inputs)) with differentiable inputs listed separately
CASES = [
    ("nll_mean", lambda lib, f, x: f.nll_loss(x, _c(lib, T_ALL)), (Z,)),
    ("nll_ignore", lambda lib, f, x: f.nll_loss(x, _c(lib, T)), (Z,)),
    ("nll_ignore_weight", lambda lib, f, x: f.nll_loss(x, _c(lib, T), weight=_c(lib, W)), (Z,)),
    ("nll_ignore_sum", lambda lib, f, x: f.nll_loss(x, _c(lib, T), reduction="sum"), (Z,)),
    ("nll_ignore_none", lambda lib, f, x: f.nll_loss(x, _c(lib, T), reduction="none"), (Z,)),
    ("nll_custom_ignore", lambda lib, f, x: f.nll_loss(x, _c(lib, T_ALL), ignore_index=3),
     (Z,)),
    ("nll_kdim", lambda lib, f, x: f.nll_loss(x, _c(lib, T_K), weight=_c(lib, W3)), (Z4,)),
    ("nll_kdim_none", lambda lib, f, x: f.nll_loss(x, _c(lib, T_K), reduction="none"), (Z4,)),
    ("nll_1d", lambda lib, f, x: f.nll_loss(x[0], _c(lib, np.array(2))), (Z,)),
    ("ce_ignore", lambda lib, f, x: f.cross_entropy(x, _c(lib, T)), (Z,)),
    ("ce_ignore_weight", lambda lib, f, x: f.cross_entropy(x, _c(lib, T), weight=_c(lib, W)),
     (Z,)),
    ("ce_ignore_smooth", lambda lib, f, x: f.cross_entropy(x, _c(lib, T), label_smoothing=0.2),
     (Z,)),
    ("ce_ignore_weight_smooth", lambda lib, f, x: f.cross_entropy(
        x, _c(lib, T), weight=_c(lib, W), label_smoothing=0.1), (Z,)),
    ("ce_ignore_none", lambda lib, f, x: f.cross_entropy(x, _c(lib, T), reduction="none"), (Z,)),
    ("ce_ignore_sum", lambda lib, f, x: f.cross_entropy(x, _c(lib, T), reduction="sum",
                                                       label_smoothing=0.3), (Z,)),
    ("ce_kdim", lambda lib, f, x: f.cross_entropy(x, _c(lib, T_K)), (Z4,)),
    ("ce_kdim_weight_smooth", lambda lib, f, x: f.cross_entropy(
        x, _c(lib, T_K), weight=_c(lib, W3), label_smoothing=0.2), (Z4,)),
    ("ce_kdim_none", lambda lib, f, x: f.cross_entropy(x, _c(lib, T_K), reduction="none"),
     (Z4,)),
    ("ce_kdim_probs", lambda lib, f, x, p: f.cross_entropy(x, p.softmax(1)), (Z4, Z4 * 2)),
    ("ce_1d", lambda lib, f, x: f.cross_entropy(x[1], _c(lib, np.array(3))), (Z,)),
    ("smooth_l1", lambda lib, f, x, y: f.smooth_l1_loss(x, y), (Z, Z[::-1].copy())),
    ("smooth_l1_beta", lambda lib, f, x, y: f.smooth_l1_loss(x, y, beta=0.5, reduction="sum"),
     (Z, Z[::-1].copy())),
    ("smooth_l1_beta0", lambda lib, f, x, y: f.smooth_l1_loss(x, y, beta=0.0), (Z, Z * 0.3)),
    ("smooth_l1_none", lambda lib, f, x, y: f.smooth_l1_loss(x, y, reduction="none"),
     (Z, Z * 0.3)),
    ("huber", lambda lib, f, x, y: f.huber_loss(x, y), (Z, Z[::-1].copy())),
    ("huber_delta", lambda lib, f, x, y: f.huber_loss(x, y, delta=0.4, reduction="none"),
     (Z, Z[::-1].copy())),
    ("bce", lambda lib, f, p, t: f.binary_cross_entropy(p, t), (PROBS, TARGET01)),
    ("bce_weight_sum", lambda lib, f, p, t: f.binary_cross_entropy(
        p, t, weight=_c(lib, W), reduction="sum"), (PROBS, TARGET01)),
    ("bce_none", lambda lib, f, p: f.binary_cross_entropy(p, _c(lib, TARGET01),
                                                          reduction="none"), (PROBS,)),
    ("bce_of_sigmoid", lambda lib, f, z: f.binary_cross_entropy(z.sigmoid(), _c(lib, TARGET01)),
     (Z,)),
    ("one_hot_sum", lambda lib, f, x: (x * f.one_hot(_c(lib, T_ALL), 4)).sum(1), (Z,)),
    ("pad_constant", lambda lib, f, x: f.pad(x, (1, 2, 0, 1), value=0.5), (IMG,)),
    ("pad_reflect", lambda lib, f, x: f.pad(x, (2, 1, 1, 3), mode="reflect"), (IMG,)),
    ("pad_replicate", lambda lib, f, x: f.pad(x, (3, 0, 2, 2), mode="replicate"), (IMG,)),
    ("pad_circular", lambda lib, f, x: f.pad(x, (1, 2, 2, 1), mode="circular"), (IMG,)),
    ("pad_1d_reflect", lambda lib, f, x: f.pad(x, (2, 2), mode="reflect"), (Z4[0],)),
    ("softplus", lambda lib, f, x: f.softplus(x * 10), (Z,)),
    ("softplus_beta", lambda lib, f, x: f.softplus(x * 10, beta=2.0, threshold=5.0), (Z,)),
    ("logsigmoid", lambda lib, f, x: f.logsigmoid(x * 20), (Z,)),
    ("elu", lambda lib, f, x: f.elu(x), (Z,)),
    ("elu_alpha", lambda lib, f, x: f.elu(x, alpha=0.5), (Z,)),
    ("hardtanh", lambda lib, f, x: f.hardtanh(x * 2, -0.5, 1.5), (Z,)),
    ("relu6", lambda lib, f, x: f.relu6(x * 8), (Z,)),
    ("normalize", lambda lib, f, x: f.normalize(x), (Z,)),
    ("normalize_p1_dim0", lambda lib, f, x: f.normalize(x, p=1, dim=0), (Z,)),
    ("cosine_similarity", lambda lib, f, x, y: f.cosine_similarity(x, y), (Z, Z[::-1].copy())),
    ("cosine_similarity_dim0", lambda lib, f, x, y: f.cosine_similarity(x, y, dim=0),
     (Z, Z * 2 + 1)),
    ("log_softmax_dim", lambda lib, f, x: f.log_softmax(x, dim=0), (Z,)),
    ("dropout_eval", lambda lib, f, x: f.dropout(x, 0.5, training=False), (Z,)),
    ("relu_inplace_kw", lambda lib, f, x: f.relu(x * 1.0, inplace=False), (Z,)),
    ("max_pool2d", lambda lib, f, x: f.max_pool2d(x, 2), (IMG,)),
    ("linear", lambda lib, f, x, w, b: f.linear(x, w, b), (Z, Z[:3], W3)),
    ("mse_sum", lambda lib, f, x, y: f.mse_loss(x, y, reduction="sum"), (Z, Z * 0.5)),
]


@pytest.mark.parametrize("name, call, inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(parity, name, call, inputs):
    torch = parity.torch
    parity.call(lambda *xs: call(lm, F, *xs),
                lambda *xs: call(torch, torch.nn.functional, *xs), *inputs)


def test_one_hot_matches_torch(torch):
    for idx, n in ((np.array([0, 2, 1]), -1), (np.array([[1, 0], [3, 3]]), 5)):
        ours, theirs = F.one_hot(lm.tensor(idx), n), torch.nn.functional.one_hot(
            torch.from_numpy(idx), n)
        assert ours.dtype == lm.long and ours.tolist() == theirs.tolist()
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(lm.tensor([0, 3]), 3)
    with pytest.raises(RuntimeError, match="integer"):
        F.one_hot(lm.tensor([0.0]), 3)


def test_bce_clamps_logs_as_torch(torch):
    p, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    ours = F.binary_cross_entropy(lm.tensor(p), lm.tensor(t), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy(torch.from_numpy(p), torch.from_numpy(t),
                                                      reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        F.binary_cross_entropy(lm.tensor([1.5]), lm.tensor([1.0]))


def test_errors():
    with pytest.raises(ValueError, match="must be smaller than the dimension"):
        F.pad(lm.zeros(1, 3), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(lm.zeros(1, 3), (1, 1), mode="mirror")
    with pytest.raises(ValueError, match=r"target must be \(2, 4\)"):
        F.cross_entropy(lm.zeros(2, 3, 4), lm.tensor([0, 1]))
    with pytest.raises(ValueError, match="out of range"):
        F.nll_loss(lm.zeros(2, 3), lm.tensor([0, 5]))


def test_legacy_reduction_flags(torch):
    x, t = lm.tensor(Z), lm.tensor(T_ALL)
    assert F.cross_entropy(x, t, size_average=False).item() == pytest.approx(
        F.cross_entropy(x, t, reduction="sum").item())
    assert F.nll_loss(x, t, reduce=False).shape == (6,)


def test_bce_of_a_saturated_sigmoid_has_finite_gradients(torch):
    z = np.array([-200.0, -5.0, 0.0, 40.0], dtype=np.float32)  # sigmoid: 0, ..., 1 in float32
    t = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    ours = lm.tensor(z, requires_grad=True)
    theirs = torch.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy(ours.sigmoid(), lm.tensor(t), reduction="sum")
    loss_t = torch.nn.functional.binary_cross_entropy(theirs.sigmoid(), torch.tensor(t),
                                                      reduction="sum")
    loss.backward()
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-5)
    assert np.isfinite(ours.grad.numpy()).all()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)
