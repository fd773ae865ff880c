"""In-place rules: a tensor saved for backward and changed in place afterwards makes backward
raise RuntimeError (PyTorch's version counters), property-tested against PyTorch: over random
ops, shapes, which inputs require grad and which tensor is changed, lamina raises exactly when
PyTorch does, and otherwise gives PyTorch's gradients. Plus the issue's reproductions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lamina as lm
from lamina import nn, optim

torch = pytest.importorskip("torch")
F = torch.nn.functional

SETTINGS = settings(max_examples=80, derandomize=True, deadline=None, database=None)

# name -> (lamina fn, torch fn, number of inputs); inputs are positive float64 (n, n) matrices
OPS = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, 2),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, 2),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, 2),
    "div": (lambda a, b: a / b, lambda a, b: a / b, 2),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, 2),
    "matmul": (lambda a, b: a @ b, lambda a, b: a @ b, 2),
    "maximum": (lm.maximum, torch.maximum, 2),
    "mse": (lambda a, b: nn.functional.mse_loss(a, b), F.mse_loss, 2),
    "bce": (lambda a, b: nn.functional.binary_cross_entropy_with_logits(a, b),
            F.binary_cross_entropy_with_logits, 2),
    "linear": (lambda a, b: nn.functional.linear(a, b), F.linear, 2),
    "exp": (lambda a: a.exp(), torch.exp, 1),
    "log": (lambda a: a.log(), torch.log, 1),
    "sqrt": (lambda a: a.sqrt(), torch.sqrt, 1),
    "sigmoid": (lambda a: a.sigmoid(), torch.sigmoid, 1),
    "tanh": (lambda a: a.tanh(), torch.tanh, 1),
    "relu": (lambda a: (a - 1).relu(), lambda a: (a - 1).relu(), 1),
    "abs": (lambda a: a.abs(), torch.abs, 1),
    "softmax": (lambda a: a.softmax(-1), lambda a: a.softmax(-1), 1),
    "log_softmax": (lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1), 1),
    "sum": (lambda a: a.sum(axis=0), lambda a: a.sum(dim=0), 1),
    "mean": (lambda a: a.mean(), lambda a: a.mean(), 1),
    "max": (lambda a: a.max(axis=1), lambda a: a.amax(dim=1), 1),
    "reshape": (lambda a: a.reshape(-1), lambda a: a.reshape(-1), 1),
    "transpose_mul": (lambda a, b: a.T * b, lambda a, b: a.T * b, 2),
    "getitem_mul": (lambda a, b: a[1:] * b[1:], lambda a, b: a[1:] * b[1:], 2),
    "leaky_relu": (lambda a: nn.functional.leaky_relu(a - 1), lambda a: F.leaky_relu(a - 1), 1),
    "silu": (lambda a: nn.functional.silu(a), F.silu, 1),
}


def outcome(backward):
    try:
        backward()
    except RuntimeError as err:
        return "raises", str(err)
    return "ok", None


@SETTINGS
@given(op=st.sampled_from(sorted(OPS)), n=st.integers(2, 4), b_grad=st.booleans(),
       changed=st.sampled_from(["a", "b", "out", "nothing"]), seed=st.integers(0, 2**16))
def test_backward_raises_exactly_when_torch_does(op, n, b_grad, changed, seed):
    mine_fn, torch_fn, arity = OPS[op]
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 2.0, (n, n)) for _ in range(arity)]
    grads = [True, b_grad][:arity]
    mine = [lm.tensor(a, requires_grad=g) for a, g in zip(arrays, grads, strict=True)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads, strict=True)]
    out_mine, out_theirs = mine_fn(*mine), torch_fn(*theirs)
    loss_mine, loss_theirs = out_mine.sum(), out_theirs.sum()
    target = {"a": 0, "b": 1}.get(changed)
    if changed == "out":
        with lm.no_grad():
            out_mine += 1.0
        with torch.no_grad():
            out_theirs.add_(1.0)
    elif target is not None and target < arity:
        with lm.no_grad():
            mine[target] += 1.0
        with torch.no_grad():
            theirs[target].add_(1.0)
    result, message = outcome(loss_mine.backward)
    expected, torch_message = outcome(loss_theirs.backward)
    assert result == expected, (op, changed, b_grad, message, torch_message)
    if result == "raises":
        assert "modified by an inplace operation" in message and "is at version" in message
        return
    for m, t in zip(mine, theirs, strict=True):
        if t.grad is not None:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(retains=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_repeated_backward_without_changes_accumulates(retains, seed):
    rng = np.random.default_rng(seed)
    w = lm.tensor(rng.standard_normal(3), requires_grad=True)
    x = lm.tensor(rng.standard_normal(3))
    loss = (x * w * w).sum()
    for _ in range(retains):
        loss.backward(retain_graph=True)
    np.testing.assert_allclose(w.grad.numpy(), retains * 2 * x.numpy() * w.numpy())


# ------------------------------------------------------------------ the reproductions
def test_changing_a_saved_constant_after_forward_raises():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    x = lm.tensor([3.0, 4.0])
    loss = (x * w).sum()
    x += 100
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[float32 tensor "
                                           r"of shape \(2,\)\], an input saved by op 'mul', is "
                                           r"at version 1; expected version 0"):
        loss.backward()
    assert w.grad is None


def test_changing_a_parameter_under_no_grad_raises():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with lm.no_grad():
        w -= 1
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        loss.backward()


def test_changes_through_views_count():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    x = lm.tensor([[3.0, 4.0]])
    loss = (x.reshape(2) * w).sum()  # the view is saved: a change of its base counts
    x[0, 0] = 5.0
    with pytest.raises(RuntimeError, match="inplace operation"):
        loss.backward()
    base = lm.tensor([3.0, 4.0])
    loss = (base * w).sum()
    view = base.detach()
    view += 1  # a change through a view of a saved tensor
    with pytest.raises(RuntimeError, match="inplace operation"):
        loss.backward()


def test_backward_through_a_graph_from_before_an_optimizer_step_raises():
    lm.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.1)
    loss = model(lm.randn(5, 3)).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=r"an input saved by op 'linear_chain'"):
        loss.backward()
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    topt = torch.optim.Adam(tm.parameters(), lr=0.1)
    tloss = tm(torch.randn(5, 3)).sum()
    tloss.backward(retain_graph=True)
    topt.step()
    with pytest.raises(RuntimeError, match="inplace operation"):
        tloss.backward()


@pytest.mark.parametrize("opt_cls", [optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad])
def test_the_usual_training_loop_is_unaffected(opt_cls):
    lm.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = opt_cls(model.parameters(), lr=0.01)
    x, y = lm.randn(16, 3), np.arange(16) % 2
    for _ in range(3):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        versions = [p._version for p in model.parameters()]
        opt.step()
        assert all(p._version > v for p, v in zip(model.parameters(), versions, strict=True))
    history = lm.fit(model, nn.CrossEntropyLoss(), opt, (x.numpy(), y), epochs=2, batch_size=4)
    assert np.isfinite(history.history["loss"]).all()
