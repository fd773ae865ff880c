"""Module, Parameter and Sequential: registration, names, state dicts, modes, dtypes, repr."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import lamina as lm
from lamina import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.scale = nn.Parameter(np.ones(4, np.float32))
        self.register_buffer("count", np.zeros(1, np.float32))

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
        self.block = Block()
        self.head = nn.Linear(4, 1, bias=False)

    def forward(self, x):
        return self.head(self.block(self.features(x)))


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


# ----------------------------------------------------------------------------- names and order
def test_sequential_names_match_pytorch():
    names = [name for name, _ in mlp().named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(mlp().state_dict()) == names


def test_nested_names_and_order():
    net = Net()
    expected = ["features.0.weight", "features.0.bias", "block.scale", "block.fc.weight",
                "block.fc.bias", "head.weight"]
    assert [n for n, _ in net.named_parameters()] == expected
    assert list(net.state_dict()) == ["features.0.weight", "features.0.bias", "block.scale",
                                      "block.count", "block.fc.weight", "block.fc.bias",
                                      "head.weight"]
    assert [n for n, _ in net.named_buffers()] == ["block.count"]
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.1",
                                                    "block", "block.fc", "block.act", "head"]
    assert [n for n, _ in net.named_children()] == ["features", "block", "head"]
    assert net.num_parameters() == 2 * 3 + 3 + 4 + 3 * 4 + 4 + 4


def test_names_match_torch(torch):
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 3), nn.Tanh()))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.Tanh()))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]


def test_parameters_dedupes_shared_parameters():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_parameter_defaults():
    p = nn.Parameter(np.zeros((2, 2)))
    assert p.requires_grad and p.dtype == np.float64 and p.is_leaf
    assert isinstance(p, lm.Tensor)
    assert nn.Parameter([1.0, 2.0]).dtype == np.float32
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert repr(nn.Parameter([1.0])).startswith("Parameter containing:")


def test_assigning_a_non_parameter_to_a_parameter_name_is_refused():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError,
                       match="cannot assign a Tensor to parameter 'weight'.*Parameter or None"):
        layer.weight = lm.zeros(2, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.bias is None


def test_super_init_is_required():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match="super\\(\\).__init__"):
        Broken()


def test_attribute_error_names_the_module():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = nn.Linear(2, 2).nope


def test_buffers_can_be_reassigned():
    block = Block()
    block.count = lm.tensor([5.0])
    assert block.state_dict()["count"].tolist() == [5.0]


# ----------------------------------------------------------------------------- state dicts
def test_load_state_dict_round_trip_with_arrays_and_tensors():
    src, dst = mlp(), mlp()
    state = src.state_dict()
    dst.load_state_dict({k: v.copy() for k, v in state.items()})
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    dst2 = mlp()
    dst2.load_state_dict({k: lm.tensor(v) for k, v in state.items()})
    for k, v in dst2.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


def test_load_state_dict_casts_and_copies():
    model = mlp()
    weight = model[0].weight
    state = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    state["0.weight"] = np.full((8, 4), 0.25)
    model.load_state_dict(state)
    assert model[0].weight is weight  # copied into the existing parameter
    assert weight.dtype == np.float32
    np.testing.assert_array_equal(weight._data, 0.25)
    state["0.weight"][0, 0] = 9.0
    assert weight._data[0, 0] == 0.25  # a copy, not a view of the caller's array
    model.load_state_dict({k: v.tolist() for k, v in model.state_dict().items()})


def test_load_state_dict_from_torch(torch):
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = mlp()
    ours.load_state_dict(dict(theirs.named_parameters()))  # parameters that require grad
    ours = mlp()
    ours.load_state_dict(theirs.state_dict())
    for (k, v), (k2, v2) in zip(ours.state_dict().items(), theirs.state_dict().items(),
                                strict=True):
        assert k == k2
        np.testing.assert_array_equal(v, v2.numpy())


def test_load_state_dict_missing_and_unexpected_keys():
    model = mlp()
    state = model.state_dict()
    del state["2.bias"]
    with pytest.raises(KeyError, match=r"missing keys \['2.bias'\], unexpected keys \[\]"):
        model.load_state_dict(state)
    state["2.bias"] = np.zeros(3)
    state["3.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"unexpected keys \['3.weight'\]"):
        model.load_state_dict(state)
    with pytest.raises(RuntimeError, match="Sequential.load_state_dict"):
        model.load_state_dict(state)


def test_load_state_dict_non_strict():
    model = mlp()
    bias = model[2].bias._data.copy()
    result = model.load_state_dict({"0.bias": np.ones(8), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["0.weight", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[0].bias._data, 1.0)
    np.testing.assert_array_equal(model[2].bias._data, bias)


def test_load_state_dict_wrong_shape_changes_nothing():
    model = mlp()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: np.zeros_like(v) for k, v in before.items()}
    state["2.weight"] = np.zeros((8, 3))
    with pytest.raises(ValueError, match=r"'2.weight' has shape \(8, 3\), expected \(3, 8\)"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


# ----------------------------------------------------------------------------- modes and dtypes
def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.block.act.training


def test_double_and_float_convert_in_place():
    model = mlp()
    weight = model[0].weight
    assert model.double() is model
    assert model[0].weight is weight and weight.dtype == np.float64
    assert all(v.dtype == np.float64 for v in model.state_dict().values())
    x = lm.tensor(np.ones((2, 4)))
    assert model(x).dtype == np.float64
    assert model.float() is model and weight.dtype == np.float32
    assert model.to(lm.float64) is model and weight.dtype == np.float64
    assert model.to("float32") is model and weight.dtype == np.float32
    assert model.to("cpu") is model
    with pytest.raises(TypeError, match="floating dtype.*int64"):
        model.to("int64")


def test_zero_grad():
    model = mlp()
    model(lm.ones(2, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad._data == 0) for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_requires_grad_and_apply():
    model = mlp()
    model.requires_grad_(False)
    assert not model(lm.ones(1, 4)).requires_grad
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Sequential", "Linear", "ReLU", "Linear"]


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(1)


# ----------------------------------------------------------------------------- containers and repr
def test_sequential_indexing_and_ordered_dict():
    model = mlp()
    assert len(model) == 3 and isinstance(model[-1], nn.Linear)
    assert isinstance(model[1:], nn.Sequential) and len(model[1:]) == 2
    assert list(model[1:].state_dict()) == ["2.weight", "2.bias"]  # names kept, as PyTorch
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    model.append(nn.Softmax(dim=1))
    assert len(model) == 4
    with pytest.raises(TypeError, match="item 0 is a int, expected a Module"):
        nn.Sequential(3)


def test_module_list_registers_parameters():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight",
                                                         "1.bias"]
    assert len(layers) == 2 and isinstance(layers[1], nn.Linear)


def test_repr_matches_pytorch(torch):
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(),
                         nn.Flatten(), nn.Linear(8, 3, bias=False), nn.Softmax(dim=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                 torch.nn.LeakyReLU(0.2), torch.nn.Sigmoid(),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 3, bias=False),
                                 torch.nn.Softmax(dim=1))
    assert repr(ours) == repr(theirs)
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"


def test_repr_of_a_custom_module():
    text = repr(Net())
    assert text.startswith("Net(\n  (features): Sequential(\n    (0): Linear(in_features=2")
    assert "(head): Linear(in_features=4, out_features=1, bias=False)" in text


def test_attribute_lookup_on_a_half_built_module_raises_attribute_error():
    """Module.__getattr__ reads the registration tables only where they exist (an object
    made by __new__ or by copy/pickle before its state is restored)."""
    bare = nn.Module.__new__(nn.Module)
    with pytest.raises(AttributeError, match="has no attribute 'weight'"):
        _ = bare.weight
    object.__setattr__(bare, "_parameters", {"weight": 1})
    assert bare.weight == 1
    with pytest.raises(AttributeError, match="has no attribute 'bias'"):
        _ = bare.bias
    copied = copy.deepcopy(nn.Linear(2, 3))
    assert copied.weight.shape == (3, 2)
