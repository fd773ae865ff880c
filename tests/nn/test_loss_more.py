"""BCELoss, NLLLoss and CrossEntropyLoss (weight, ignore_index, label_smoothing, (N, C, *)),
HuberLoss, SmoothL1Loss and KLDivLoss against PyTorch in float64."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_loss_matches_torch(layer_parity, torch, rng, reduction, weighted):
    w = rng.uniform(0.5, 2, (4, 3)) if weighted else None
    ours = nn.BCELoss(weight=w, reduction=reduction)
    theirs = torch.nn.BCELoss(weight=None if w is None else torch.from_numpy(w),
                              reduction=reduction)
    p = rng.uniform(0.05, 0.95, (4, 3))
    layer_parity(ours, theirs, p, rng.uniform(0, 1, (4, 3)), torch_only=("weight",))
    with pytest.raises(ValueError, match="probabilities"):
        ours(lm.tensor(p + 1), lm.tensor(p))


def test_bce_loss_clamps_the_logs_like_torch(torch):
    p = np.array([0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(nn.BCELoss()(lm.tensor(p), lm.tensor(y)).item(),
                               torch.nn.BCELoss()(torch.from_numpy(p), torch.from_numpy(y)).item())


CE_CASES = [
    {}, {"ignore_index": 2}, {"weight": True}, {"weight": True, "ignore_index": 1},
    {"label_smoothing": 0.2, "ignore_index": 0}, {"weight": True, "label_smoothing": 0.1},
    {"weight": True, "label_smoothing": 0.3, "ignore_index": 3},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_CASES)
@pytest.mark.parametrize("spatial", [False, True])
def test_cross_entropy_and_nll_match_torch(layer_parity, torch, rng, reduction, options,
                                           spatial):
    shape, target_shape = ((3, 4, 2, 3), (3, 2, 3)) if spatial else ((6, 4), (6,))
    x = rng.standard_normal(shape)
    target = rng.integers(0, 4, target_shape)
    target.flat[:2] = [2, 1]
    kwargs = dict(options)
    if kwargs.pop("weight", False):
        kwargs["weight"] = rng.uniform(0.5, 2, 4)
    theirs_kwargs = dict(kwargs)
    if "weight" in kwargs:
        theirs_kwargs["weight"] = torch.from_numpy(kwargs["weight"])
    layer_parity(nn.CrossEntropyLoss(reduction=reduction, **kwargs),
                 torch.nn.CrossEntropyLoss(reduction=reduction, **theirs_kwargs), x, target,
                 torch_only=("weight",))
    kwargs.pop("label_smoothing", None)
    theirs_kwargs.pop("label_smoothing", None)
    layer_parity(nn.NLLLoss(reduction=reduction, **kwargs),
                 torch.nn.NLLLoss(reduction=reduction, **theirs_kwargs), x, target,
                 torch_only=("weight",))


def test_nll_loss_errors():
    with pytest.raises(ValueError, match="out of range"):
        nn.NLLLoss()(lm.zeros(2, 3), np.array([0, 3]))
    with pytest.raises(ValueError, match="integer"):
        nn.NLLLoss()(lm.zeros(2, 3), np.array([0.0, 1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("cls", "kwargs"), [("HuberLoss", {}), ("HuberLoss", {"delta": 0.5}),
                                             ("SmoothL1Loss", {}), ("SmoothL1Loss", {"beta": 0.3}),
                                             ("SmoothL1Loss", {"beta": 0.0})])
def test_huber_and_smooth_l1_match_torch(layer_parity, torch, rng, cls, kwargs, reduction):
    x, y = rng.standard_normal((4, 5)) * 2, rng.standard_normal((4, 5))
    layer_parity(getattr(nn, cls)(reduction=reduction, **kwargs),
                 getattr(torch.nn, cls)(reduction=reduction, **kwargs), x, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(layer_parity, torch, rng, reduction, log_target):
    logq = np.log(rng.dirichlet(np.ones(5), 4))
    p = rng.dirichlet(np.ones(5), 4)
    target = np.log(p) if log_target else p
    ours = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    theirs = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)
    layer_parity(ours, theirs, logq, target)
    if not log_target:  # a zero target contributes 0 (0 log 0 = 0)
        p[0, 1] = 0.0
        layer_parity.close(ours(lm.tensor(logq), lm.tensor(p)),
                           theirs(torch.from_numpy(logq), torch.from_numpy(p)), "t = 0")


def test_kl_div_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="batchmean"):
        nn.KLDivLoss(reduction="avg")
