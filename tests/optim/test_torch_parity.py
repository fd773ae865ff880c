"""Each optimizer, 50 steps on a small float64 MLP, against its torch.optim counterpart."""

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim

torch = pytest.importorskip("torch")

STEPS = 50


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # tiny models: thread start-up would dominate, and tests may share 2 cores
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

# (lamina class, torch class name, options); every case runs with both losses
CASES = [
    (optim.SGD, "SGD", dict(lr=0.1)),
    (optim.SGD, "SGD", dict(lr=0.1, momentum=0.9)),
    (optim.SGD, "SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    (optim.SGD, "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.SGD, "SGD", dict(lr=0.1, weight_decay=0.1)),
    (optim.SGD, "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05)),
    (optim.SGD, "SGD", dict(lr=0.01, maximize=True)),
    (optim.SGD, "SGD", dict(lr=0.01, momentum=0.5, weight_decay=0.1, maximize=True)),
    (optim.Adagrad, "Adagrad", dict(lr=0.1)),
    (optim.Adagrad, "Adagrad", dict(lr=0.1, lr_decay=0.01)),
    (optim.Adagrad, "Adagrad", dict(lr=0.1, weight_decay=0.1)),
    (optim.Adagrad, "Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6)),
    (optim.Adagrad, "Adagrad", dict(lr=0.05, maximize=True, weight_decay=0.05)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01, momentum=0.9)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01, centered=True)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01, weight_decay=0.1, eps=1e-6)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01, momentum=0.5, maximize=True)),
    (optim.Adam, "Adam", dict(lr=0.01)),
    (optim.Adam, "Adam", dict(lr=0.01, weight_decay=0.1)),
    (optim.Adam, "Adam", dict(lr=0.01, amsgrad=True)),
    (optim.Adam, "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=True,
                              weight_decay=0.05)),
    (optim.Adam, "Adam", dict(lr=0.01, maximize=True)),
    (optim.AdamW, "AdamW", dict(lr=0.01)),
    (optim.AdamW, "AdamW", dict(lr=0.01, weight_decay=0.1)),
    (optim.AdamW, "AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.Adadelta, "Adadelta", dict()),
    (optim.Adadelta, "Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    (optim.Adadelta, "Adadelta", dict(lr=0.5, maximize=True)),
    (optim.Adamax, "Adamax", dict(lr=0.01)),
    (optim.Adamax, "Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (optim.Adamax, "Adamax", dict(lr=0.01, maximize=True)),
    (optim.NAdam, "NAdam", dict(lr=0.01)),
    (optim.NAdam, "NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    (optim.NAdam, "NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (optim.NAdam, "NAdam", dict(lr=0.01, betas=(0.8, 0.99), maximize=True)),
    (optim.RAdam, "RAdam", dict(lr=0.01)),
    (optim.RAdam, "RAdam", dict(lr=0.01, weight_decay=0.1)),
    (optim.RAdam, "RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (optim.RAdam, "RAdam", dict(lr=0.01, betas=(0.5, 0.9), maximize=True)),  # rho_t > 5 early
]


def _case_id(case):
    cls, _, options = case
    return cls.__name__ + "-" + ",".join(f"{k}={v}" for k, v in options.items())


def make_models(seed: int = 0):
    """A lamina 5-8-3 tanh MLP in float64 and a torch copy with the same weights."""
    lm.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    torch_model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                                      torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for p, tp in zip(model.parameters(), torch_model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.numpy().copy()))
    return model, torch_model


def make_data(loss: str, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 5))
    y = rng.integers(0, 3, 32) if loss == "cross_entropy" else rng.standard_normal((32, 3))
    return x, y


def lamina_loss(model, x, y, loss: str):
    out = model(lm.tensor(x))
    fn = nn.CrossEntropyLoss() if loss == "cross_entropy" else nn.MSELoss()
    return fn(out, lm.tensor(y))


def torch_loss(model, x, y, loss: str):
    out = model(torch.from_numpy(x))
    fn = torch.nn.CrossEntropyLoss() if loss == "cross_entropy" else torch.nn.MSELoss()
    return fn(out, torch.from_numpy(y))


def train_lamina(model, opt, x, y, loss: str, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        lamina_loss(model, x, y, loss).backward()
        opt.step()


def train_torch(model, opt, x, y, loss: str, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(model, x, y, loss).backward()
        opt.step()


def assert_close_to_torch(model, torch_model, tol: float = 1e-8) -> None:
    for p, tp in zip(model.parameters(), torch_model.parameters(), strict=True):
        b = tp.detach().numpy()
        assert p.dtype == np.float64
        error = np.max(np.abs(p._data - b)) / max(1.0, np.max(np.abs(b)))
        assert error <= tol, f"relative error {error:.3g} > {tol}"


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch_after_50_steps(case, loss):
    cls, torch_name, options = case
    model, torch_model = make_models()
    x, y = make_data(loss)
    opt = cls(model.parameters(), **options)
    torch_opt = getattr(torch.optim, torch_name)(torch_model.parameters(), **options)
    train_lamina(model, opt, x, y, loss, STEPS)
    train_torch(torch_model, torch_opt, x, y, loss, STEPS)
    moved = max(np.max(np.abs(p._data - q._data)) for p, q in
                zip(model.parameters(), make_models()[0].parameters(), strict=True))
    assert moved > 1e-3  # the run really trained
    assert_close_to_torch(model, torch_model)


STATEFUL = [
    (optim.SGD, "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adagrad, "Adagrad", dict(lr=0.1, lr_decay=0.01)),
    (optim.RMSprop, "RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adam, "Adam", dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, "AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("case", STATEFUL, ids=[_case_id(c) for c in STATEFUL])
def test_state_dict_has_torch_layout(case):
    cls, torch_name, options = case
    model, torch_model = make_models()
    x, y = make_data("cross_entropy")
    opt = cls(model.parameters(), **options)
    torch_opt = getattr(torch.optim, torch_name)(torch_model.parameters(), **options)
    train_lamina(model, opt, x, y, "cross_entropy", 3)
    train_torch(torch_model, torch_opt, x, y, "cross_entropy", 3)
    ours, theirs = opt.state_dict(), torch_opt.state_dict()
    assert set(ours["state"]) == set(theirs["state"]) == {0, 1, 2, 3}
    for index, state in ours["state"].items():
        assert set(state) == set(theirs["state"][index])
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(value), np.asarray(theirs["state"][index][key]),
                                       rtol=1e-10, atol=1e-14)
    assert [g["params"] for g in ours["param_groups"]] == [[0, 1, 2, 3]]
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])


@pytest.mark.parametrize("case", STATEFUL, ids=[_case_id(c) for c in STATEFUL])
def test_loads_torch_state_dict_and_continues_like_torch(case):
    cls, torch_name, options = case
    model, torch_model = make_models()
    x, y = make_data("mse")
    torch_opt = getattr(torch.optim, torch_name)(torch_model.parameters(), **options)
    train_torch(torch_model, torch_opt, x, y, "mse", 20)
    for p, tp in zip(model.parameters(), torch_model.parameters(), strict=True):
        p.data[...] = tp.detach().numpy()
    opt = cls(model.parameters(), **options)
    opt.load_state_dict(torch_opt.state_dict())
    train_lamina(model, opt, x, y, "mse", 30)
    train_torch(torch_model, torch_opt, x, y, "mse", 30)
    assert_close_to_torch(model, torch_model)


def test_param_groups_with_different_lrs_and_a_mid_run_lr_change():
    model, torch_model = make_models()
    x, y = make_data("cross_entropy")

    def groups(m):
        params = list(m.parameters())
        return [{"params": params[:2], "lr": 0.2}, {"params": params[2:], "momentum": 0.5}]

    opt = optim.SGD(groups(model), lr=0.05, momentum=0.9)
    torch_opt = torch.optim.SGD(groups(torch_model), lr=0.05, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.05]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    train_lamina(model, opt, x, y, "cross_entropy", 20)
    train_torch(torch_model, torch_opt, x, y, "cross_entropy", 20)
    opt.param_groups[0]["lr"] = 0.01
    torch_opt.param_groups[0]["lr"] = 0.01
    opt.param_groups[1]["momentum"] = 0.0
    torch_opt.param_groups[1]["momentum"] = 0.0
    train_lamina(model, opt, x, y, "cross_entropy", 30)
    train_torch(torch_model, torch_opt, x, y, "cross_entropy", 30)
    assert_close_to_torch(model, torch_model)


def test_add_param_group_matches_torch():
    model, torch_model = make_models()
    x, y = make_data("mse")
    opt = optim.Adam(list(model.parameters())[:2], lr=0.01)
    torch_opt = torch.optim.Adam(list(torch_model.parameters())[:2], lr=0.01)
    train_lamina(model, opt, x, y, "mse", 10)
    train_torch(torch_model, torch_opt, x, y, "mse", 10)
    opt.add_param_group({"params": list(model.parameters())[2:], "lr": 0.03})
    torch_opt.add_param_group({"params": list(torch_model.parameters())[2:], "lr": 0.03})
    train_lamina(model, opt, x, y, "mse", 20)
    train_torch(torch_model, torch_opt, x, y, "mse", 20)
    assert_close_to_torch(model, torch_model)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("options", [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=5, history_size=3),
    dict(max_iter=7, history_size=4, line_search_fn="strong_wolfe", tolerance_change=1e-12),
], ids=["fixed", "strong_wolfe", "short-history", "wolfe-short-history"])
def test_lbfgs_matches_torch_over_several_steps(options, loss):
    model, torch_model = make_models()
    x, y = make_data(loss)
    opt = optim.LBFGS(model.parameters(), **options)
    torch_opt = torch.optim.LBFGS(torch_model.parameters(), **options)

    def closure():
        opt.zero_grad()
        out = lamina_loss(model, x, y, loss)
        out.backward()
        return out

    def torch_closure():
        torch_opt.zero_grad()
        out = torch_loss(torch_model, x, y, loss)
        out.backward()
        return out

    for _ in range(4):  # the history carries over between steps
        ours, theirs = opt.step(closure), torch_opt.step(torch_closure)
        assert float(ours.numpy()) == pytest.approx(float(theirs.detach()), rel=1e-9)
    state = opt.state[next(iter(model.parameters()))]
    torch_state = next(iter(torch_opt.state.values()))
    assert state["func_evals"] == torch_state["func_evals"]
    assert state["n_iter"] == torch_state["n_iter"]
    assert_close_to_torch(model, torch_model, tol=1e-7)


def test_lbfgs_needs_a_closure_and_one_group():
    model, _ = make_models()
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS(model.parameters()).step()
    params = list(model.parameters())
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": params[:2]}, {"params": params[2:]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS(params, line_search_fn="armijo")
