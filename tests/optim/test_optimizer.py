"""The Optimizer base class: param groups, state, state_dict, errors, dtypes, in-place updates."""

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim

# one configuration per optimizer with every stateful option on
ALL_OPTIONS = [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, maximize=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01,
                         initial_accumulator_value=0.1)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(ALL_OPTIONS)]


def make_model(dtype=lm.float64, seed: int = 0):
    lm.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).to(dtype)


def make_batch(dtype=np.float64, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 4)).astype(dtype), rng.integers(0, 2, 16)


def train(model, opt, x, y, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(lm.tensor(x)), lm.tensor(y)).backward()
        opt.step()


def params_of(model) -> list[np.ndarray]:
    return [p._data.copy() for p in model.parameters()]


# ------------------------------------------------------------------------- construction
def test_param_groups_hold_params_and_every_option():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    assert len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert set(group) == {"params", "lr", "momentum", "dampening", "nesterov", "weight_decay",
                          "maximize"}
    assert all(a is b for a, b in zip(group["params"], model.parameters(), strict=True))
    assert group["lr"] == 0.1 and group["momentum"] == 0.9
    assert opt.defaults["lr"] == 0.1


def test_groups_take_missing_options_from_defaults():
    model = make_model()
    first, second = model[0], model[2]
    opt = optim.Adam([{"params": first.parameters(), "lr": 0.1},
                      {"params": second.parameters(), "betas": (0.5, 0.9)}], lr=0.01)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["betas"] for g in opt.param_groups] == [(0.9, 0.999), (0.5, 0.9)]
    assert all(len(g["params"]) == 2 for g in opt.param_groups)


def test_lr_zero_group_does_not_move_and_changing_lr_takes_effect():
    model = make_model()
    x, y = make_batch()
    opt = optim.SGD([{"params": model[0].parameters(), "lr": 0.0},
                     {"params": model[2].parameters()}], lr=0.1)
    before = params_of(model)
    train(model, opt, x, y, 3)
    after = params_of(model)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])
    opt.param_groups[0]["lr"] = 0.1
    train(model, opt, x, y, 1)
    assert not np.array_equal(after[0], model[0].weight._data)


def test_single_step_follows_the_documented_rules():
    """One hand-computed step of each rule on w = [1, -2] with loss sum(w^2), grad 2w."""
    def one_step(cls, **options):
        w = nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        opt = cls([w], **options)
        (w * w).sum().backward()
        opt.step()
        return w._data

    w, g = np.array([1.0, -2.0]), np.array([2.0, -4.0])
    np.testing.assert_allclose(one_step(optim.SGD, lr=0.1), w - 0.1 * g)
    np.testing.assert_allclose(one_step(optim.SGD, lr=0.1, weight_decay=0.5),
                               w - 0.1 * (g + 0.5 * w))
    np.testing.assert_allclose(one_step(optim.SGD, lr=0.1, maximize=True), w + 0.1 * g)
    np.testing.assert_allclose(one_step(optim.SGD, lr=0.1, momentum=0.9, nesterov=True),
                               w - 0.1 * (g + 0.9 * g))
    np.testing.assert_allclose(one_step(optim.Adagrad, lr=0.1, initial_accumulator_value=1.0),
                               w - 0.1 * g / (np.sqrt(1 + g * g) + 1e-10))
    np.testing.assert_allclose(one_step(optim.RMSprop, lr=0.01, alpha=0.9),
                               w - 0.01 * g / (np.sqrt(0.1 * g * g) + 1e-8))
    np.testing.assert_allclose(one_step(optim.RMSprop, lr=0.01, alpha=0.9, centered=True),
                               w - 0.01 * g / (np.sqrt(0.1 * g * g - 0.01 * g * g) + 1e-8))
    # Adam's first step: m_hat = g, v_hat = g*g, so the step is lr * sign(g)
    np.testing.assert_allclose(one_step(optim.Adam, lr=0.1, eps=0.0), w - 0.1 * np.sign(g))
    np.testing.assert_allclose(one_step(optim.AdamW, lr=0.1, eps=0.0, weight_decay=0.5),
                               w * (1 - 0.05) - 0.1 * np.sign(g))


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cls, options, match", [
    (optim.SGD, dict(lr=-0.1), r"SGD: lr must be >= 0, got lr=-0\.1"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), r"momentum must be >= 0, got momentum=-0\.5"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1), r"weight_decay must be >= 0, got weight_decay=-1"),
    (optim.SGD, dict(lr=0.1, nesterov=True), r"nesterov=True requires momentum > 0.*momentum=0"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0.1),
     r"nesterov=True requires .*dampening=0\.1"),
    (optim.Adagrad, dict(eps=-1e-10), r"Adagrad: eps must be >= 0, got eps=-1e-10"),
    (optim.Adagrad, dict(lr_decay=-1), r"lr_decay must be >= 0, got lr_decay=-1"),
    (optim.Adagrad, dict(initial_accumulator_value=-1), r"initial_accumulator_value=-1"),
    (optim.RMSprop, dict(alpha=-0.5), r"RMSprop: alpha must be >= 0, got alpha=-0\.5"),
    (optim.RMSprop, dict(momentum=-0.5), r"RMSprop: momentum must be >= 0"),
    (optim.Adam, dict(betas=(1.0, 0.999)), r"Adam: betas\[0\] must be in \[0, 1\), got "
                                           r"betas=\(1\.0, 0\.999\)"),
    (optim.Adam, dict(betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
    (optim.Adam, dict(betas=(0.9,)), r"betas must be a pair"),
    (optim.Adam, dict(eps=-1.0), r"Adam: eps must be >= 0, got eps=-1\.0"),
    (optim.AdamW, dict(weight_decay=-0.01), r"AdamW: weight_decay must be >= 0"),
    (optim.AdamW, dict(lr=float("nan")), r"AdamW: lr must be >= 0, got lr=nan"),
])
def test_invalid_options_raise_value_error(cls, options, match):
    with pytest.raises(ValueError, match=match):
        cls(make_model().parameters(), **options)


def test_invalid_option_in_a_group_raises():
    model = make_model()
    with pytest.raises(ValueError, match=r"SGD: lr must be >= 0, got lr=-1"):
        optim.SGD([{"params": model[0].parameters(), "lr": -1}], lr=0.1)


def test_non_number_option_raises_type_error():
    with pytest.raises(TypeError, match=r"SGD: lr must be a real number, got lr='0.1'"):
        optim.SGD(make_model().parameters(), lr="0.1")


def test_empty_parameter_list_raises():
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        optim.Adam(iter([]))


def test_parameter_given_twice_raises():
    model = make_model()
    params = list(model.parameters())
    with pytest.raises(ValueError, match=r"appears twice"):
        optim.SGD(params + params[:1], lr=0.1)
    opt = optim.SGD(params[:2], lr=0.1)
    with pytest.raises(ValueError, match=r"appears twice"):
        opt.add_param_group({"params": params[1:]})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("params, match", [
    (None, "NoneType"),
    ({1, 2}, "set"),
    ([np.zeros(3)], "can only optimize Tensors, got ndarray"),
    ([lm.tensor([1, 2])], "floating-point Tensors, got dtype int64"),
])
def test_bad_params_raise_type_error(params, match):
    if params is None:
        params = nn.Parameter(lm.zeros(3))
        match = "params must be an ordered iterable .* got Parameter"
    with pytest.raises(TypeError, match=match):
        optim.SGD(params, lr=0.1)


def test_add_param_group_needs_params_key():
    opt = optim.SGD(make_model().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no 'params' key"):
        opt.add_param_group({"lr": 0.1})
    with pytest.raises(TypeError, match="expected a dict"):
        opt.add_param_group([nn.Parameter(lm.zeros(2))])


# ------------------------------------------------------------------------- step and state
def test_parameters_without_grad_are_skipped_and_get_no_state():
    model = make_model()
    x, y = make_batch()
    frozen = nn.Parameter(lm.ones(3, dtype=lm.float64))
    opt = optim.Adam([*model.parameters(), frozen], lr=0.1)
    train(model, opt, x, y, 2)
    np.testing.assert_array_equal(frozen._data, np.ones(3))
    assert frozen not in opt.state
    assert len(opt.state) == 4


def test_state_is_created_on_first_step():
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.1)
    assert opt.state == {}
    train(model, opt, *make_batch(), 1)
    state = opt.state[model[0].weight]
    assert state["step"] == 1
    assert state["exp_avg"].shape == model[0].weight.shape


def test_closure_is_evaluated_and_its_loss_returned():
    model = make_model()
    x, y = make_batch()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(lm.tensor(x)), lm.tensor(y))
        loss.backward()
        return loss

    first = opt.step(closure).item()
    second = opt.step(closure).item()
    assert second < first


def test_zero_grad_sets_none_or_zeros():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    train(model, opt, *make_batch(), 1)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad._data.any() for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("cls, options", ALL_OPTIONS, ids=IDS)
def test_updates_parameters_in_place(cls, options):
    """From the first step on, every parameter's array is a view of its group's flat buffer
    and later steps write into it: the same array objects, new values."""
    model = make_model()
    opt = cls(model.parameters(), **options)
    train(model, opt, *make_batch(), 1)
    arrays = [p._data for p in model.parameters()]
    before = [a.copy() for a in arrays]
    assert all(np.shares_memory(a, opt._flat[0].param) for a in arrays)
    train(model, opt, *make_batch(), 2)
    for p, array, old in zip(model.parameters(), arrays, before, strict=True):
        assert p._data is array
        assert not np.array_equal(array, old)


@pytest.mark.parametrize("cls, options", ALL_OPTIONS, ids=IDS)
def test_float32_stays_float32(cls, options):
    model = make_model(lm.float32)
    opt = cls(model.parameters(), **options)
    train(model, opt, *make_batch(np.float32), 3)
    for p in model.parameters():
        assert p.dtype == np.float32
        for key, value in opt.state[p].items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, key
    for state in opt.state_dict()["state"].values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("cls, options", ALL_OPTIONS, ids=IDS)
def test_numpy_scalar_options_compute_in_float32(cls, options):
    """np.float64 options (e.g. from a tuner) must not promote float32 arithmetic (NEP 50)."""
    def as_numpy(value):
        if isinstance(value, tuple):
            return tuple(np.float64(v) for v in value)
        return np.float64(value) if isinstance(value, float) else value

    results = []
    for opts in (options, {k: as_numpy(v) for k, v in options.items()}):
        model = make_model(lm.float32)
        train(model, cls(model.parameters(), **opts), *make_batch(np.float32), 5)
        results.append(params_of(model))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls, options", ALL_OPTIONS, ids=IDS)
def test_float32_run_tracks_float64_run(cls, options):
    results = []
    for dtype in (lm.float32, lm.float64):
        model = make_model(dtype)
        train(model, cls(model.parameters(), **options), *make_batch(dtype), 10)
        results.append(params_of(model))
    for single, double in zip(*results, strict=True):
        np.testing.assert_allclose(single, double, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("cls, options", ALL_OPTIONS, ids=IDS)
def test_state_dict_round_trip_continues_like_an_uninterrupted_run(cls, options):
    x, y = make_batch()
    model = make_model()
    train(model, cls(model.parameters(), **options), x, y, 30)
    uninterrupted = params_of(model)

    model = make_model()
    opt = cls(model.parameters(), **options)
    train(model, opt, x, y, 12)
    saved_params, saved = params_of(model), opt.state_dict()
    train(model, opt, x, y, 3)  # steps after saving must not change the saved state
    for p, array in zip(model.parameters(), saved_params, strict=True):
        p._data[...] = array
    fresh = cls(model.parameters(), **options)
    fresh.load_state_dict(saved)
    for state in saved["state"].values():  # loading must have copied the arrays
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.fill(np.nan)
    train(model, fresh, x, y, 18)
    for a, b in zip(params_of(model), uninterrupted, strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_dict_layout():
    model = make_model()
    opt = optim.Adam([{"params": model[0].parameters(), "lr": 0.1},
                      {"params": model[2].parameters()}], lr=0.01)
    train(model, opt, *make_batch(), 2)
    saved = opt.state_dict()
    assert set(saved) == {"state", "param_groups"}
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2, 3]]
    assert [g["lr"] for g in saved["param_groups"]] == [0.1, 0.01]
    assert sorted(saved["state"]) == [0, 1, 2, 3]
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert saved["state"][0]["step"] == 2
    assert isinstance(saved["state"][3]["exp_avg"], np.ndarray)
    assert saved["state"][3]["exp_avg"] is not opt.state[model[2].bias]["exp_avg"]


def test_load_state_dict_restores_group_options_and_keeps_params():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, *make_batch(), 1)
    opt.param_groups[0]["lr"] = 0.02
    saved = opt.state_dict()
    fresh = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.02
    assert all(a is b for a, b in zip(fresh.param_groups[0]["params"], model.parameters(),
                                      strict=True))
    np.testing.assert_array_equal(fresh.state[model[0].weight]["momentum_buffer"],
                                  opt.state[model[0].weight]["momentum_buffer"])


def test_load_state_dict_accepts_tensors_and_casts_to_the_param_dtype():
    model = make_model(lm.float32)
    opt = optim.Adam(model.parameters())
    saved = {"state": {0: {"step": np.array(3.0),
                           "exp_avg": lm.tensor(np.ones((6, 4))),
                           "exp_avg_sq": np.ones((6, 4))}},
             "param_groups": [{**optim.Adam(make_model().parameters()).defaults,
                               "params": [0, 1, 2, 3]}]}
    opt.load_state_dict(saved)
    state = opt.state[model[0].weight]
    assert state["step"] == 3 and isinstance(state["step"], int)
    assert state["exp_avg"].dtype == np.float32 and state["exp_avg_sq"].dtype == np.float32


def test_load_state_dict_errors():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, *make_batch(), 1)
    saved = opt.state_dict()
    two_groups = optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters()}],
                           lr=0.1)
    with pytest.raises(ValueError, match="the state has 1 parameter groups, this optimizer has 2"):
        two_groups.load_state_dict(saved)
    smaller = optim.SGD(model[0].parameters(), lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 4 parameters in the state, 2 in this"):
        smaller.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"'momentum_buffer' has shape \(2, 2\), its parameter "
                                         r"has shape \(6, 4\)"):
        optim.SGD(model.parameters(), lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a dict with keys 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
