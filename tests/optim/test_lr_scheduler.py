"""Learning-rate schedulers: the values of torch.optim.lr_scheduler, epoch by epoch."""

import math

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim
from lamina.optim import lr_scheduler

EPOCHS = 30
LRS = (0.1, 0.03)  # two parameter groups with different rates

SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 20], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01)),  # 30 epochs: past T_max and back
    ("CosineAnnealingLR", dict(T_max=EPOCHS)),
    ("CosineAnnealingLR", dict(T_max=1)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch + 0.01 * (epoch % 3))),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=EPOCHS)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=EPOCHS)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], epochs=3, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=EPOCHS, three_phase=True)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULERS)]


def lamina_optimizer(lrs=LRS):
    groups = [{"params": [nn.Parameter(lm.zeros(2))], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0])


def torch_optimizer(torch, lrs=LRS):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def lamina_values(factories, epochs: int = EPOCHS, opt=None):
    """get_last_lr() of the last scheduler, and the groups' lr, at every epoch."""
    opt = opt or lamina_optimizer()
    scheds = [getattr(lr_scheduler, name)(opt, **options) for name, options in factories]
    values = []
    for _ in range(epochs):
        values.append(scheds[-1].get_last_lr() + [g["lr"] for g in opt.param_groups])
        opt.step()
        for sched in scheds:
            sched.step()
    return np.array(values)


def torch_values(torch, factories, epochs: int = EPOCHS):
    opt = torch_optimizer(torch)
    scheds = [getattr(torch.optim.lr_scheduler, name)(opt, **options)
              for name, options in factories]
    values = []
    for _ in range(epochs):
        values.append(scheds[-1].get_last_lr() + [g["lr"] for g in opt.param_groups])
        opt.step()
        for sched in scheds:
            sched.step()
    return np.array(values)


@pytest.mark.parametrize("name, options", SCHEDULERS, ids=IDS)
def test_matches_torch_over_30_epochs(name, options):
    torch = pytest.importorskip("torch")
    ours = lamina_values([(name, options)])
    theirs = torch_values(torch, [(name, options)])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_chained_schedulers_match_torch():
    torch = pytest.importorskip("torch")
    factories = [("ExponentialLR", dict(gamma=0.95)), ("StepLR", dict(step_size=4, gamma=0.5))]
    np.testing.assert_allclose(lamina_values(factories), torch_values(torch, factories),
                               rtol=0, atol=1e-12)


def test_cosine_follows_the_closed_form():
    values = lamina_values([("CosineAnnealingLR", dict(T_max=10, eta_min=0.01))])
    for epoch, row in enumerate(values):
        for base, lr in zip(LRS, row[:2], strict=True):
            expected = 0.01 + (base - 0.01) * (1 + math.cos(math.pi * epoch / 10)) / 2
            assert lr == pytest.approx(expected, abs=1e-12)


def test_step_lr_values_by_hand():
    values = lamina_values([("StepLR", dict(step_size=3, gamma=0.1))], epochs=7)
    np.testing.assert_allclose(values[:, 0], [0.1] * 3 + [0.01] * 3 + [0.001], rtol=1e-12)


def test_scheduler_records_initial_lr_and_base_lrs():
    opt = lamina_optimizer()
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert sched.base_lrs == list(LRS)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert sched.last_epoch == 0
    sched.step()
    assert sched.last_epoch == 1
    assert sched.get_last_lr() == [0.05, 0.015]


def test_lr_changes_reach_the_optimizer_update():
    w = nn.Parameter(lm.tensor([0.0], dtype=lm.float64))
    opt = optim.SGD([w], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        w.grad = lm.tensor([-1.0], dtype=lm.float64)
        opt.step()
        sched.step()
    np.testing.assert_allclose(w.data, [1.0 + 0.5 + 0.25])


def test_scheduler_state_dict_round_trip():
    name, options = "CosineAnnealingLR", dict(T_max=10, eta_min=0.01)
    expected = lamina_values([(name, options)])

    opt = lamina_optimizer()
    sched = lr_scheduler.CosineAnnealingLR(opt, **options)
    for _ in range(13):
        opt.step()
        sched.step()
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    assert "optimizer" not in sched_state

    fresh_opt = lamina_optimizer()
    fresh = lr_scheduler.CosineAnnealingLR(fresh_opt, **options)
    fresh_opt.load_state_dict(opt_state)
    fresh.load_state_dict(sched_state)
    values = []
    for _ in range(13, EPOCHS):
        values.append(fresh.get_last_lr() + [g["lr"] for g in fresh_opt.param_groups])
        fresh_opt.step()
        fresh.step()
    np.testing.assert_allclose(values, expected[13:], rtol=0, atol=1e-15)


def test_resuming_with_last_epoch_needs_initial_lr():
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        lr_scheduler.StepLR(lamina_optimizer(), step_size=2, last_epoch=4)


@pytest.mark.parametrize("factory, error, match", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError,
     r"StepLR: step_size must be a positive integer, got step_size=0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError,
     r"CosineAnnealingLR: T_max must be a positive integer, got T_max=0"),
    (lambda o: lr_scheduler.StepLR(object(), step_size=2), TypeError,
     r"StepLR: expected a lamina.optim.Optimizer, got object"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError,
     r"factor must be < 1, got factor=1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="best"), ValueError,
     r"mode must be 'min' or 'max', got mode='best'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), ValueError,
     r"threshold_mode must be 'rel' or 'abs'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.0]), ValueError,
     r"min_lr has 1 values, the optimizer has 2 parameter groups"),
])
def test_invalid_arguments(factory, error, match):
    with pytest.raises(error, match=match):
        factory(lamina_optimizer())


# ------------------------------------------------------------------------- ReduceLROnPlateau
RNG = np.random.default_rng(0)
METRICS = {
    # plateaus, improvements below the threshold, noise
    "plateau": [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8] * 3,
    "tiny_gains": [1.0 - 1e-6 * i for i in range(EPOCHS)],
    "noisy": list(1.0 / np.arange(1, EPOCHS + 1) + 0.3 * RNG.random(EPOCHS)),
}
PLATEAU_OPTIONS = [
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2),
    dict(mode="max", patience=0, factor=0.7),
    dict(patience=1, threshold=0.05, threshold_mode="abs", min_lr=[0.002, 0.01]),
    dict(mode="max", patience=2, threshold=0.1, threshold_mode="abs", min_lr=0.005),
    dict(patience=0, factor=0.5, eps=0.02),
]


@pytest.mark.parametrize("metrics", sorted(METRICS))
@pytest.mark.parametrize("options", PLATEAU_OPTIONS,
                         ids=[str(i) for i in range(len(PLATEAU_OPTIONS))])
def test_reduce_on_plateau_matches_torch(options, metrics):
    torch = pytest.importorskip("torch")
    opt, torch_opt = lamina_optimizer(), torch_optimizer(torch)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **options)
    torch_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **options)
    ours, theirs = [], []
    for value in METRICS[metrics]:
        sched.step(value)
        torch_sched.step(value)
        ours.append(sched.get_last_lr() + [g["lr"] for g in opt.param_groups])
        theirs.append(torch_sched.get_last_lr() + [g["lr"] for g in torch_opt.param_groups])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert sched.num_bad_epochs == torch_sched.num_bad_epochs
    assert sched.best == torch_sched.best


def test_reduce_on_plateau_by_hand():
    opt = lamina_optimizer()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    assert isinstance(sched, lr_scheduler.LRScheduler)
    for loss in [1.0, 1.0, 1.0]:
        sched.step(loss)
    assert sched.get_last_lr() == list(LRS)
    sched.step(lm.tensor(1.0))  # a one-element Tensor works as the metric
    assert sched.get_last_lr() == [0.05, 0.015]
    state = sched.state_dict()
    restored = lr_scheduler.ReduceLROnPlateau(lamina_optimizer(), patience=9)
    restored.load_state_dict(state)
    assert restored.patience == 2 and restored.best == 1.0


def _momentum_values(make, torch_module, opt, epochs=EPOCHS):
    sched = make(torch_module, opt)
    rows = []
    for _ in range(epochs):
        rows.append([g["lr"] for g in opt.param_groups]
                    + [g["momentum"] if "momentum" in g and "betas" not in g
                       else g["betas"][0] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(rows)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_one_cycle_cycles_momentum_or_beta1_like_torch(optimizer):
    torch = pytest.importorskip("torch")

    def make(module, opt):
        return module.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.3, total_steps=EPOCHS)

    options = dict(momentum=0.9) if optimizer == "SGD" else {}
    ours = getattr(optim, optimizer)([nn.Parameter(lm.zeros(2))], lr=0.1, **options)
    theirs = getattr(torch.optim, optimizer)([torch.nn.Parameter(torch.zeros(2))], lr=0.1,
                                             **options)
    np.testing.assert_allclose(_momentum_values(make, lm, ours),
                               _momentum_values(make, torch, theirs), rtol=0, atol=1e-12)


@pytest.mark.parametrize("parts", [
    ([("LinearLR", dict(start_factor=0.1, total_iters=4)), ("ExponentialLR", dict(gamma=0.9))],
     [5]),
    ([("ConstantStep", None), ("CosineAnnealingLR", dict(T_max=8, eta_min=0.001)),
      ("StepLR", dict(step_size=3, gamma=0.5))], [4, 15]),
    ([("MultiStepLR", dict(milestones=[2, 6])),
      ("LambdaLR", dict(lr_lambda=lambda e: 1 / (e + 1)))], [10]),
], ids=["warmup-exponential", "three", "multistep-lambda"])
def test_sequential_lr_matches_torch(parts):
    torch = pytest.importorskip("torch")
    specs, milestones = parts
    specs = [("ExponentialLR", dict(gamma=1.0)) if name == "ConstantStep" else (name, options)
             for name, options in specs]

    def run(module, opt):
        scheds = [getattr(module.optim.lr_scheduler, name)(opt, **options)
                  for name, options in specs]
        seq = module.optim.lr_scheduler.SequentialLR(opt, scheds, milestones=milestones)
        rows = []
        for _ in range(EPOCHS):
            rows.append(seq.get_last_lr() + [g["lr"] for g in opt.param_groups])
            opt.step()
            seq.step()
        return np.array(rows)

    np.testing.assert_allclose(run(lm, lamina_optimizer()), run(torch, torch_optimizer(torch)),
                               rtol=0, atol=1e-12)


def test_new_scheduler_arguments_are_checked():
    opt = lamina_optimizer()
    with pytest.raises(ValueError, match="start_factor"):
        lr_scheduler.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.raises(ValueError, match="milestones"):
        lr_scheduler.SequentialLR(opt, [sched], milestones=[3])
    one_cycle = lr_scheduler.OneCycleLR(lamina_optimizer(), max_lr=0.1, total_steps=2)
    one_cycle.step()
    one_cycle.step()
    with pytest.raises(ValueError, match="total_steps"):
        one_cycle.step()
