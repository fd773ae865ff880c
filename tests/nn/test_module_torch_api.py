"""Module's torch API beyond the basics (lamina/nn/module.py): register_buffer's persistent
flag, buffers, recurse=False, get_submodule, apply/children/modules, and
load_state_dict(strict=False) reporting missing and unexpected keys as torch does."""

from __future__ import annotations

import pytest

import lamina as lm
from lamina import nn


def _net(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(2, 3)
            self.head = lib.nn.Sequential(lib.nn.ReLU(), lib.nn.Linear(3, 1))
            self.register_buffer("mean", lib.zeros(2))
            self.register_buffer("cache", lib.zeros(1), persistent=False)

        def forward(self, x):
            return self.head(self.fc(x - self.mean))

    return Net()


def test_traversal_and_state_dict_keys_match_torch(torch):
    ours, theirs = _net(lm), _net(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__
                                                         for m in theirs.modules()]
    assert [n for n, _ in ours.named_parameters(recurse=False)] == []
    assert len(list(ours.fc.parameters(recurse=False))) == 2
    assert len(list(ours.buffers())) == 2 and len(list(ours.buffers(recurse=False))) == 2
    assert ours.get_submodule("head.1") is ours.head[1] and ours.get_submodule("") is ours
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        ours.get_submodule("head.nope")


def test_load_state_dict_non_strict_reports_keys(torch):
    ours, theirs = _net(lm), _net(torch)
    state = {k: v for k, v in ours.state_dict().items() if k != "fc.bias"}
    state["unused.weight"] = lm.zeros(1).numpy()
    result = ours.load_state_dict(state, strict=False)
    tstate = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
    expected = theirs.load_state_dict(tstate, strict=False)
    assert result.missing_keys == expected.missing_keys == ["fc.bias"]
    assert result.unexpected_keys == expected.unexpected_keys == ["unused.weight"]
    missing, unexpected = result
    assert missing == ["fc.bias"]
    with pytest.raises(RuntimeError, match="missing keys"):
        ours.load_state_dict(state)


def test_register_buffer_rules():
    m = nn.Linear(1, 1)
    m.register_buffer("count", lm.tensor([0]))
    m.count = lm.tensor([5])
    assert m.count.tolist() == [5] and "count" in m.state_dict()
    m.register_buffer("count", m.count, persistent=False)
    assert "count" not in m.state_dict() and dict(m.named_buffers())["count"] is m.count
    with pytest.raises(KeyError, match="already exists as a parameter"):
        m.register_buffer("weight", lm.zeros(1))
    with pytest.raises(KeyError, match="invalid buffer name"):
        m.register_buffer("a.b", lm.zeros(1))


def test_apply_for_custom_init():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    seen = []

    def init(m):
        seen.append(type(m).__name__)
        if isinstance(m, nn.Linear):
            m.weight.data.fill_(0.5)
            m.bias.data.zero_()

    assert model.apply(init) is model
    assert seen == ["Sequential", "Linear", "ReLU", "Linear"]
    assert all(p.numpy().tolist() == [[0.5] * 3] * 4 for p in [model[0].weight])


def test_add_module_none_and_register_module():
    m = nn.Module()
    m.register_module("a", nn.ReLU())
    m.add_module("b", None)
    assert [n for n, _ in m.named_children()] == ["a"] and m.b is None
    with pytest.raises(TypeError, match="must be a Module or None"):
        m.add_module("c", 3)


def test_torch_constructor_arguments_are_accepted():
    class Layer(nn.Linear):  # as the corpus's forward-forward script subclasses nn.Linear
        def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
            super().__init__(in_features, out_features, bias, device, dtype)

    assert Layer(2, 3).weight.shape == (3, 2)
    assert nn.Linear(2, 3, device="cpu", dtype=lm.float64).weight.dtype == lm.float64
    assert nn.Conv2d(1, 2, 3, device="cpu").weight.shape == (2, 1, 3, 3)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 3, device="cuda")
    assert nn.ReLU(inplace=True)(lm.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]
    assert nn.LeakyReLU(0.1, inplace=True)(lm.tensor([-1.0])).tolist() == pytest.approx([-0.1])
    assert nn.Dropout(0.5, inplace=True).eval()(lm.ones(2)).tolist() == [1.0, 1.0]
    logits, target = lm.randn(4, 3), lm.tensor([0, -100, 2, 1])
    assert nn.CrossEntropyLoss(ignore_index=-100)(logits, target).item() == pytest.approx(
        lm.nn.functional.cross_entropy(logits, target).item())
    target = lm.tensor([0, 1, 2, 1])
    assert nn.NLLLoss(ignore_index=1)(logits.log_softmax(1), target).item() == pytest.approx(
        -(logits.log_softmax(1)[0, 0] + logits.log_softmax(1)[2, 2]).item() / 2)
    try:
        lm.set_default_dtype(lm.float64)
        assert nn.Linear(2, 2).weight.dtype == lm.float64
    finally:
        lm.set_default_dtype(lm.float32)
