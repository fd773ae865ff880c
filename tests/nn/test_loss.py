"""Loss modules: parity with torch (values, input and target gradients), stability, errors."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import functional as F
from lamina import nn

DTYPES = [np.float32, np.float64]
SEEDS = [0, 1]
REDUCTIONS = ["mean", "sum", "none"]


def run_pair(parity, ours, theirs, input, target, seed=0, target_grad=False):
    """Apply both losses, compare the values and the gradients w.r.t. input (and target)."""
    torch = parity.torch
    xl, xt = lm.tensor(input, requires_grad=True), parity.to_torch(input, requires_grad=True)
    tl = lm.tensor(target, requires_grad=target_grad)
    tt = parity.to_torch(target, requires_grad=target_grad)
    out_l, out_t = ours(xl, tl), theirs(xt, tt)
    parity.assert_close(out_l, out_t, dtype=input.dtype)
    grad = np.random.default_rng(seed).standard_normal(out_l.shape).astype(input.dtype)
    out_l.backward(grad)
    out_t.backward(torch.from_numpy(grad))
    parity.assert_close(xl.grad, xt.grad)
    if target_grad:
        parity.assert_close(tl.grad, tt.grad)
    return out_l


def random_shape(rng) -> tuple[int, ...]:
    return tuple(int(n) for n in rng.integers(1, 6, int(rng.integers(1, 4))))


# ----------------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
def test_regression_losses_match_torch(parity, torch, name, reduction, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng)
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    out = run_pair(parity, getattr(nn, name)(reduction=reduction),
                   getattr(torch.nn, name)(reduction=reduction), x, y, seed, target_grad=True)
    assert out.shape == (shape if reduction == "none" else ())


def test_mse_and_l1_values_follow_the_notes():
    x, y = lm.tensor([1.0, 2.0, 4.0]), lm.tensor([1.0, 0.0, 1.0])
    assert nn.MSELoss()(x, y).item() == pytest.approx((0 + 4 + 9) / 3)  # eq 4.2
    assert nn.L1Loss()(x, y).item() == pytest.approx((0 + 2 + 3) / 3)  # eq 4.3
    assert nn.MSELoss(reduction="sum")(x, y).item() == pytest.approx(13)


# ----------------------------------------------------------------------------- cross-entropy
def ce_data(rng, dtype, target_kind):
    n, c = int(rng.integers(1, 7)), int(rng.integers(2, 6))
    logits = (rng.standard_normal((n, c)) * rng.choice([1.0, 10.0])).astype(dtype)
    if target_kind == "index":
        target = rng.integers(0, c, n)
    else:
        target = rng.random((n, c))
        target = (target / target.sum(axis=1, keepdims=True)).astype(dtype)
    return logits, target, c


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("target_kind", ["index", "prob"])
def test_cross_entropy_matches_torch(parity, torch, target_kind, label_smoothing, weighted,
                                     reduction, seed, dtype):
    rng = np.random.default_rng(seed)
    logits, target, c = ce_data(rng, dtype, target_kind)
    weight = rng.uniform(0.2, 2.0, c).astype(dtype) if weighted else None
    ours = nn.CrossEntropyLoss(weight=weight, reduction=reduction,
                               label_smoothing=label_smoothing)
    theirs = torch.nn.CrossEntropyLoss(
        weight=None if weight is None else torch.from_numpy(weight), reduction=reduction,
        label_smoothing=label_smoothing)
    out = run_pair(parity, ours, theirs, logits, target, seed,
                   target_grad=target_kind == "prob")
    assert out.shape == ((len(logits),) if reduction == "none" else ())


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_one_hot_equals_index_targets(dtype):
    rng = np.random.default_rng(0)
    logits = lm.tensor(rng.standard_normal((6, 4)).astype(dtype))
    labels = rng.integers(0, 4, 6)
    one_hot = np.eye(4, dtype=dtype)[labels]
    a, b = F.cross_entropy(logits, labels), F.cross_entropy(logits, one_hot)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    assert a.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_huge_logits_are_stable(parity, torch, dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]], dtype=dtype)
    target = np.array([1, 2])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = run_pair(parity, nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), logits,
                       target)
    assert np.isfinite(out.item())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(parity, torch, weighted, reduction, seed, dtype):
    rng = np.random.default_rng(seed)
    logits, target, c = ce_data(rng, dtype, "index")
    log_probs = (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(dtype)
    weight = rng.uniform(0.2, 2.0, c).astype(dtype) if weighted else None
    ours = nn.NLLLoss(weight=weight, reduction=reduction)
    theirs = torch.nn.NLLLoss(weight=None if weight is None else torch.from_numpy(weight),
                              reduction=reduction)
    run_pair(parity, ours, theirs, log_probs, target, seed)


def test_cross_entropy_is_nll_of_log_softmax(rng):
    logits = lm.tensor(rng.standard_normal((5, 3)))
    target = rng.integers(0, 3, 5)
    np.testing.assert_allclose(F.cross_entropy(logits, target).data,
                               F.nll_loss(F.log_softmax(logits, dim=1), target).data)


# ----------------------------------------------------------------------------- binary cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("weighted", "pos_weighted"), [(False, False), (True, False),
                                                        (False, True), (True, True)])
def test_bce_with_logits_matches_torch(parity, torch, weighted, pos_weighted, reduction, seed,
                                       dtype):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    logits = (rng.standard_normal((n, c)) * 5).astype(dtype)
    target = rng.random((n, c)).astype(dtype)
    weight = rng.uniform(0.2, 2.0, (n, c)).astype(dtype) if weighted else None
    pos_weight = rng.uniform(0.2, 4.0, c).astype(dtype) if pos_weighted else None
    ours = nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)
    theirs = torch.nn.BCEWithLogitsLoss(
        weight=None if weight is None else torch.from_numpy(weight), reduction=reduction,
        pos_weight=None if pos_weight is None else torch.from_numpy(pos_weight))
    run_pair(parity, ours, theirs, logits, target, seed, target_grad=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_with_extreme_logits(parity, torch, dtype, pos_weight):
    logits = np.array([-100.0, -100.0, 100.0, 100.0, -1e4, 1e4, 0.0], dtype=dtype)
    target = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.5], dtype=dtype)
    pw = None if pos_weight is None else np.full(7, pos_weight, dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = run_pair(parity, nn.BCEWithLogitsLoss(reduction="none", pos_weight=pw),
                       torch.nn.BCEWithLogitsLoss(
                           reduction="none",
                           pos_weight=None if pw is None else torch.from_numpy(pw)),
                       logits, target, target_grad=True)
    assert np.all(np.isfinite(out.data))


def test_bce_accepts_integer_labels_without_upcasting():
    logits = lm.randn(4, requires_grad=True)
    loss = nn.BCEWithLogitsLoss()(logits, np.array([0, 1, 1, 0]))
    assert loss.dtype == np.float32
    loss.backward()
    assert logits.grad.dtype == np.float32


# ----------------------------------------------------------------------------- errors
def test_mismatched_batch_sizes():
    with pytest.raises(ValueError, match=r"cross_entropy: input has batch size 4 but target has "
                                         r"batch size 3"):
        nn.CrossEntropyLoss()(lm.randn(4, 3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"nll_loss: input has batch size 4 but target has "
                                         r"batch size 5"):
        nn.NLLLoss()(lm.randn(4, 3), np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match=r"MSELoss: .*same shape.*input \(4, 2\) and target "
                                         r"\(3, 2\)"):
        nn.MSELoss()(lm.randn(4, 2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"L1Loss: .*input \(4,\) and target \(2,\)"):
        nn.L1Loss()(lm.randn(4), np.zeros(2))
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss: .*input \(4,\) and target \(5,\)"):
        nn.BCEWithLogitsLoss()(lm.randn(4), np.zeros(5))
    with pytest.raises(ValueError, match=r"probability target must have the logits' shape "
                                         r"\(4, 3\), got \(4, 2\)"):
        nn.CrossEntropyLoss()(lm.randn(4, 3), np.zeros((4, 2)))


@pytest.mark.parametrize("bad", [3, -1, 10])
def test_out_of_range_class_index(bad):
    target = np.array([0, bad, 1])
    with pytest.raises(ValueError, match=rf"CrossEntropyLoss: target class index {bad} is out "
                                         rf"of range for 3 classes \(expected 0 <= target < 3\)"):
        nn.CrossEntropyLoss()(lm.randn(3, 3), target)
    with pytest.raises(ValueError, match=rf"nll_loss: target class index {bad} is out of range "
                                         rf"for 3 classes"):
        nn.NLLLoss()(lm.randn(3, 3), target)


def test_bad_shapes_and_target_types():
    # (N, C, d) logits take (N, d) targets, as PyTorch
    with pytest.raises(ValueError, match=r"target must have shape \(2, 4\) for input of shape "
                                         r"\(2, 3, 4\), got \(2,\)"):
        nn.CrossEntropyLoss()(lm.randn(2, 3, 4), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"class-index target must have shape \(2,\)"):
        nn.CrossEntropyLoss()(lm.randn(2, 3), np.zeros((2, 1), dtype=np.int64))
    with pytest.raises(TypeError, match="target must hold integer class indices or float "
                                        "probabilities, got dtype bool"):
        nn.CrossEntropyLoss()(lm.randn(2, 3), np.array([True, False]))
    with pytest.raises(ValueError, match=r"nll_loss: target must hold integer class indices"):
        nn.NLLLoss()(lm.randn(2, 3), np.array([0.0, 1.0]))


@pytest.mark.parametrize("cls", [nn.MSELoss, nn.L1Loss, nn.CrossEntropyLoss, nn.NLLLoss,
                                 nn.BCEWithLogitsLoss])
def test_unknown_reduction(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: reduction must be one of \('mean', "
                                         rf"'sum', 'none'\), got 'avg'"):
        cls(reduction="avg")


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.cross_entropy, F.nll_loss,
                                F.binary_cross_entropy_with_logits])
def test_unknown_reduction_functional(fn):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: reduction must be one of .*'avg'"):
        fn(lm.randn(2, 2), np.zeros(2, dtype=np.int64), reduction="avg")


def test_mse_gradient_is_the_eq_4_1_error():
    """Eq 4.1's error e = y - y' drives the MSE (eq 4.2): d MSE / d y' = -2 e / n."""
    y = np.array([1.0, -2.0, 0.5, 3.0])
    prediction = lm.tensor(np.array([0.5, -1.0, 0.5, 2.0]), requires_grad=True)
    nn.MSELoss()(prediction, lm.tensor(y)).backward()
    error = y - prediction.numpy()  # eq 4.1
    np.testing.assert_allclose(prediction.grad.numpy(), -2 * error / len(y), rtol=1e-15)
