"""One flat buffer per parameter group (lamina/optim/flat.py): layout, and every way it can
go stale (dtype changes, rebound arrays, missing gradients, loaded or edited state).

The reference for "same result" is the same optimizer with one group per parameter: its
buffers hold a single parameter each, so it is the per-parameter update. The rules are
elementwise, so both must agree bit for bit.
"""

import copy
import pickle

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim

ALL_OPTIONS = [
    (optim.SGD, dict(lr=0.05)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01, maximize=True)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(ALL_OPTIONS)]


def make_model(seed: int = 0, dtype=lm.float32):
    lm.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).to(dtype)


def make_batch(seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 4)), rng.integers(0, 3, 8)


def step(model, opt, x, y) -> None:
    opt.zero_grad()
    x = lm.tensor(np.asarray(x, dtype=model[0].weight.dtype))
    nn.CrossEntropyLoss()(model(x), lm.tensor(y)).backward()
    opt.step()


def one_group_per_param(cls, model, options):
    return cls([{"params": [p]} for p in model.parameters()], **options)


def assert_same_params(a, b) -> None:
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p._data, q._data)


@pytest.mark.parametrize(("cls", "options"), ALL_OPTIONS, ids=IDS)
def test_one_flat_buffer_equals_per_parameter_updates_bitwise(cls, options):
    flat_model, ref_model = make_model(), make_model()
    flat_opt = cls(flat_model.parameters(), **options)
    ref_opt = one_group_per_param(cls, ref_model, options)
    for i in range(5):
        x, y = make_batch(i)
        step(flat_model, flat_opt, x, y)
        step(ref_model, ref_opt, x, y)
    assert_same_params(flat_model, ref_model)
    ours, theirs = flat_opt.state_dict()["state"], ref_opt.state_dict()["state"]
    for index in ours:
        for key, value in ours[index].items():
            np.testing.assert_array_equal(value, theirs[index][key])


def test_parameters_and_state_are_views_of_flat_buffers():
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    step(model, opt, *make_batch())
    flat = opt._flat[0]
    params = list(model.parameters())
    assert flat.param.size == sum(p.numel() for p in params)
    for p, part in zip(params, flat.slices, strict=True):
        assert np.shares_memory(p._data, flat.param)
        np.testing.assert_array_equal(p._data.reshape(-1), flat.param[part])
        for key in ("exp_avg", "exp_avg_sq"):
            assert np.shares_memory(opt.state[p][key], flat.state[key])
    assert all(opt.state[p]["step"] == 1 for p in params)
    # layers read the parameters through the views: the model computes with updated values
    before = model(lm.tensor(np.ones((1, 4), np.float32)))._data.copy()
    step(model, opt, *make_batch())
    after = model(lm.tensor(np.ones((1, 4), np.float32)))._data
    assert not np.array_equal(before, after)
    assert opt._flat[0] is flat and flat.is_current(params)  # kept, not rebuilt each step
    assert flat.param.ctypes.data % 64 == 0  # cache-line aligned (lm.tensor.aligned_empty)


@pytest.mark.parametrize(("cls", "options"), ALL_OPTIONS, ids=IDS)
def test_module_double_after_steps_rebuilds_the_buffer(cls, options):
    """Module.double() rebinds every p._data: the next step must use the new float64 arrays
    (not the stale float32 buffer) and cast the state to float64."""
    flat_model, ref_model = make_model(), make_model()
    flat_opt = cls(flat_model.parameters(), **options)
    ref_opt = one_group_per_param(cls, ref_model, options)
    x, y = make_batch()
    for model, opt in ((flat_model, flat_opt), (ref_model, ref_opt)):
        step(model, opt, x, y)
        step(model, opt, x, y)
        model.double()
        step(model, opt, x, y)
        step(model, opt, x, y)
    assert_same_params(flat_model, ref_model)
    for p in flat_model.parameters():
        assert p.dtype == np.float64
        assert all(v.dtype == np.float64 for v in flat_opt.state[p].values()
                   if isinstance(v, np.ndarray))
    assert flat_opt._flat[0].param.dtype == np.float64


def test_rebinding_p_data_is_picked_up():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = make_batch()
    step(model, opt, x, y)
    weight = model[0].weight
    weight._data = np.zeros((6, 4), np.float32)  # e.g. weights loaded by assignment
    opt.zero_grad()
    out = model(lm.tensor(x.astype(np.float32)))
    nn.CrossEntropyLoss()(out, lm.tensor(y)).backward()
    grad = weight.grad._data.copy()
    opt.step()
    np.testing.assert_allclose(weight._data, -0.1 * grad, rtol=1e-6)
    assert np.shares_memory(weight._data, opt._flat[0].param)


def test_parameter_without_grad_falls_back_and_later_steps_merge_again():
    """A parameter skipped at some steps ends with a different step count (as in PyTorch);
    the other parameters still follow the per-parameter rule exactly."""
    flat_model, ref_model = make_model(), make_model()
    flat_opt = optim.Adam(flat_model.parameters(), lr=0.01)
    ref_opt = one_group_per_param(optim.Adam, ref_model, dict(lr=0.01))
    x, y = make_batch()
    for model, opt in ((flat_model, flat_opt), (ref_model, ref_opt)):
        step(model, opt, x, y)
        model[2].bias.requires_grad_(False)  # frozen for two steps: its grad stays None
        model[2].bias.grad = None
        step(model, opt, x, y)
        step(model, opt, x, y)
        model[2].bias.requires_grad_(True)
        step(model, opt, x, y)
    assert_same_params(flat_model, ref_model)
    assert [flat_opt.state[p]["step"] for p in flat_model.parameters()] == [4, 4, 4, 2]


def test_a_parameter_that_never_gets_a_gradient_keeps_no_state():
    model = make_model()
    unused = nn.Parameter(lm.ones(3))
    opt = optim.Adam([*model.parameters(), unused], lr=0.1)
    for _ in range(2):
        step(model, opt, *make_batch())
    assert unused not in opt.state
    np.testing.assert_array_equal(unused._data, np.ones(3))
    assert all(opt.state[p]["step"] == 2 for p in model.parameters())


def test_load_state_dict_mid_run_continues_like_an_uninterrupted_run():
    x, y = make_batch()
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    for _ in range(6):
        step(model, opt, x, y)
    expected = [p._data.copy() for p in model.parameters()]

    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    for _ in range(3):
        step(model, opt, x, y)
    saved_params, saved = [p._data.copy() for p in model.parameters()], opt.state_dict()
    step(model, opt, x, y)  # a step to undo: parameters and state go back to the saved ones
    for p, array in zip(model.parameters(), saved_params, strict=True):
        p._data[...] = array
    opt.load_state_dict(saved)
    for _ in range(3):
        step(model, opt, x, y)
    for p, array in zip(model.parameters(), expected, strict=True):
        np.testing.assert_array_equal(p._data, array)


def test_a_state_entry_replaced_by_hand_takes_effect():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = make_batch()
    step(model, opt, x, y)
    weight = model[0].weight
    opt.state[weight]["momentum_buffer"] = np.zeros((6, 4), np.float32)
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(lm.tensor(x.astype(np.float32))), lm.tensor(y)).backward()
    grad, before = weight.grad._data.copy(), weight._data.copy()
    opt.step()
    np.testing.assert_allclose(weight._data, before - 0.1 * grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(opt.state[weight]["momentum_buffer"], grad)


def test_a_group_of_mixed_dtypes_updates_each_parameter():
    a = nn.Parameter(np.ones(3, np.float32))
    b = nn.Parameter(np.ones(2, np.float64))
    opt = optim.SGD([a, b], lr=0.5)
    ((a * a).sum() + (b * b).sum()).backward()
    opt.step()
    np.testing.assert_array_equal(a._data, np.zeros(3, np.float32))
    np.testing.assert_array_equal(b._data, np.zeros(2))
    assert a.dtype == np.float32 and b.dtype == np.float64


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))],
                         ids=["deepcopy", "pickle"])
def test_a_copied_model_and_optimizer_train_like_the_original(copier):
    """The copy's parameters are new arrays (no longer views of any flat buffer): it must
    rebuild its buffers, not update a stale one."""
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = make_batch()
    step(model, opt, x, y)
    model_copy, opt_copy = copier((model, opt))
    for _ in range(3):
        step(model, opt, x, y)
        step(model_copy, opt_copy, x, y)
    assert_same_params(model, model_copy)
    assert all(np.shares_memory(p._data, opt_copy._flat[0].param)
               for p in model_copy.parameters())


@pytest.mark.parametrize("edit", ["array", "step", "dict"])
def test_state_edited_by_hand_is_picked_up(edit):
    """A per-parameter state entry replaced by hand (a moment array, a step count, the whole
    dict) is what the next step uses: each parameter moves by Adam's rule applied to its own
    state as it reads after the edit."""
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = make_batch()
    step(model, opt, x, y)
    step(model, opt, x, y)
    params = list(model.parameters())
    first, last = params[0], params[-1]
    if edit == "array":
        opt.state[first]["exp_avg"] = np.full_like(first._data, 0.5)
    elif edit == "step":
        opt.state[last]["step"] = 7
    else:
        opt.state[last] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                           for k, v in opt.state[last].items()}
        opt.state[last]["exp_avg_sq"] *= 4
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(lm.tensor(np.asarray(x, np.float32))), lm.tensor(y)).backward()
    expected = []
    for p in params:  # Adam's update from the state as it reads now, in float64
        state = opt.state[p]
        g = p.grad._data.astype(np.float64)
        t = state["step"] + 1
        m = 0.9 * state["exp_avg"] + 0.1 * g
        v = 0.999 * state["exp_avg_sq"] + 0.001 * g * g
        denom = np.sqrt(v) / np.sqrt(1 - 0.999**t) + 1e-8
        expected.append(p._data - 0.01 / (1 - 0.9**t) * m / denom)
    opt.step()
    for p, want in zip(params, expected, strict=True):
        np.testing.assert_allclose(p._data, want, rtol=1e-5, atol=1e-7)
