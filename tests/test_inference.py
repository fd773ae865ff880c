"""The inference module (lamina/inference.py): the no-grad plan is rebuilt exactly when a
parameter's version stamp says its array may have changed (an optimizer's flat buffer, data
assignment, load_state_dict, Module.to), and gives the recorded forward pass's values; a
user's Module subclass written like LeNet-5 gives lenet5()'s outputs."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
import lamina.kernels
from lamina import functional as F
from lamina import inference, nn
from lamina.kernels import thresholds as T


def lenet_and_input(batch=1):
    lm.manual_seed(0)
    model = lm.models.lenet5().eval()
    x = lm.tensor(np.random.default_rng(1).standard_normal((batch, 1, 28, 28)).astype(
        np.float32))
    return model, x


def assert_like_recorded(model, x, backend):
    """The no-grad output equals the recorded forward pass's (up to the direct kernel's
    rounding with [fast] on small batches)."""
    with lm.no_grad():
        fast = model(x).numpy()
    recorded = model(x).numpy()
    if backend == "numba" and x.shape[0] <= T.DIRECT_MAX_BATCH:
        np.testing.assert_allclose(fast, recorded, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(fast, recorded)


def test_plan_is_kept_while_nothing_changes(backend):
    model, x = lenet_and_input()
    with lm.no_grad():
        model(x)
        plan = inference.plan(model)
        model(x)
        model.eval()
        model.weight_count = 1  # a plain attribute of the container
    assert inference.plan(model) is plan
    model[0].weight._data[...] *= 0.5  # in place, outside the autograd API: read as it is
    assert inference.plan(model) is plan
    assert_like_recorded(model, x, backend)


def test_plan_is_rebuilt_after_the_optimizers_flat_buffer(backend):
    """An optimizer's first step moves every parameter into its flat buffer (new arrays)
    and bumps their versions: the plan is rebuilt and sees the trained weights."""
    model, x = lenet_and_input()
    with lm.no_grad():
        before = model(x).numpy()
    plan = inference.plan(model)
    versions = [p._version for p in model.parameters()]
    opt = lm.optim.Adam(model.parameters(), lr=0.1)
    loss = model(x).sum()
    loss.backward()
    opt.step()
    assert all(p._version > v for p, v in zip(model.parameters(), versions, strict=True))
    assert inference.plan(model) is not plan
    with lm.no_grad():
        after = model(x).numpy()
    assert not np.allclose(before, after)
    assert_like_recorded(model, x, backend)
    plan = inference.plan(model)
    assert inference.plan(model) is plan  # nothing changed: the plan stays
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()  # an in-place update of the flat buffer, but a step moves the parameters'
    # versions on (backward through a graph from before the step must raise, as PyTorch)
    assert inference.plan(model) is not plan
    assert_like_recorded(model, x, backend)


def test_plan_is_rebuilt_after_data_assignment_and_load_state_dict(backend):
    model, x = lenet_and_input()
    plan = inference.plan(model)
    model[7].weight.data = np.zeros((120, 400), np.float32)
    assert inference.plan(model) is not plan
    assert_like_recorded(model, x, backend)
    plan = inference.plan(model)
    other, _ = lenet_and_input()
    for p in other.parameters():
        p.data = p.numpy() * 1.5
    model.load_state_dict(other.state_dict())
    assert inference.plan(model) is not plan
    with lm.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())
    plan = inference.plan(model)
    model.double()
    assert inference.plan(model) is not plan
    with lm.no_grad():
        assert model(x.double()).dtype == np.float64


def test_plan_is_rebuilt_for_a_replaced_child_or_parameter_or_kernels(monkeypatch):
    model, x = lenet_and_input()
    plan = inference.plan(model)
    model[0].bias = None
    assert inference.plan(model) is not plan
    plan = inference.plan(model)
    model[0].bias = nn.Parameter(np.zeros(6, np.float32))
    assert inference.plan(model) is not plan
    plan = inference.plan(model)
    model._modules["9"] = nn.Tanh()
    assert inference.plan(model) is not plan
    plan = inference.plan(model)
    on = lamina.kernels.numba_available()
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: not on)
    assert inference.plan(model) is not plan


class UserLeNet(nn.Module):
    """LeNet-5 as tutorials write it: layers as attributes, functional calls in forward."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_a_user_module_like_lenet5_gives_its_outputs(backend, batch):
    model, x = lenet_and_input(batch)
    user = UserLeNet().eval()
    names = dict(zip(["conv1", "conv2", "fc1", "fc2", "fc3"], ["0", "3", "7", "9", "11"],
                     strict=True))
    user.load_state_dict({f"{name}.{kind}": model.state_dict()[f"{index}.{kind}"]
                          for name, index in names.items() for kind in ("weight", "bias")})
    with lm.no_grad():
        ours, theirs = user(x).numpy(), model(x).numpy()
    if backend == "numba" and batch <= T.DIRECT_MAX_BATCH:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_a_sequential_like_container_can_use_the_plan(backend):
    """Any Module whose forward applies its children in order can call inference.forward."""

    class Chain(nn.Module):
        def __init__(self, *layers):
            super().__init__()
            for i, layer in enumerate(layers):
                self.add_module(f"layer{i}", layer)

        def forward(self, x):
            return inference.forward(self, x)

    lm.manual_seed(2)
    model = Chain(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(8, 3), nn.ReLU(), nn.Linear(3, 2))
    x = lm.tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32))
    assert_like_recorded(model, x, backend)
    assert len(inference.plan(model).steps) == 3  # the conv block, Flatten, the Linear run
    assert len(inference.layer_steps(model)) == 3  # the block, Flatten, the Linear run (one op)


def test_register_layer_rejects_an_unknown_op():
    with pytest.raises(ValueError, match="unknown op 'softmax'"):
        inference.register_layer(nn.Softmax, "softmax")


@pytest.mark.parametrize("grad", [False, True])
def test_a_deep_copy_runs_its_own_parameters(backend, grad):
    """The caches belong to the module they were built for: a copy made after a forward
    pass (grad or no-grad) builds its own and reads its own parameters."""
    import copy

    model, x = lenet_and_input(2)
    with lm.no_grad():
        original = model(x).numpy()
    model(x)
    twin = copy.deepcopy(model)
    for p in twin.parameters():
        p._data[...] = 0.0
    with lm.enable_grad() if grad else lm.no_grad():
        np.testing.assert_array_equal(twin(x).numpy(), np.zeros((2, 10), np.float32))
        np.testing.assert_allclose(model(x).numpy(), original, rtol=1e-5, atol=1e-6)


def test_a_recurrent_layer_in_a_sequential_runs_under_no_grad():
    """An LSTM returns (output, (h, c)): the no-grad plan hands that tuple on, as grad mode does."""
    import numpy as np

    import lamina as lm
    from lamina import nn

    lm.manual_seed(0)
    model = nn.Sequential(nn.LSTM(3, 4, batch_first=True))
    x = lm.tensor(np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32))
    with_grad = model(x)
    with lm.no_grad():
        without = model(x)
    np.testing.assert_array_equal(without[0].numpy(), with_grad[0].numpy())
    np.testing.assert_array_equal(without[1][0].numpy(), with_grad[1][0].numpy())
