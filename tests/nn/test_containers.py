"""ModuleDict, ParameterList, ParameterDict (lamina/nn/containers.py) and ModuleList's list
methods: registration, state_dict keys as torch's, and parity of a model built from them."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn


def _build(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = lib.nn.ModuleDict({"a": lib.nn.Linear(3, 4), "b": lib.nn.Linear(4, 2)})
            self.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(4) * 0.5),
                                                lib.nn.Parameter(lib.ones(2) * 2.0)])
            self.extra = lib.nn.ParameterDict({"shift": lib.nn.Parameter(lib.zeros(2) + 0.1)})
            self.layers = lib.nn.ModuleList([lib.nn.Linear(2, 2), lib.nn.Linear(2, 2)])

        def forward(self, x):
            x = self.blocks["a"](x) * self.scales[0]
            x = self.blocks["b"](x.relu()) * self.scales[1] + self.extra["shift"]
            for layer in self.layers:
                x = layer(x)
            return x

    return Net()


def test_keys_and_parity_with_torch(parity):
    ours, theirs = _build(lm).double(), _build(parity.torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    x = np.random.default_rng(0).standard_normal((5, 3))
    parity.module(ours, theirs, x)


def test_module_dict_behaves_as_a_mapping():
    d = nn.ModuleDict([("x", nn.Linear(1, 1))])
    d["y"] = nn.ReLU()
    d.update({"z": nn.Tanh()})
    d["x"] = nn.Linear(1, 1)  # replacing keeps the position
    assert list(d) == ["x", "y", "z"]
    assert list(d) == ["x", "y", "z"] and "y" in d and len(d) == 3
    assert list(d.keys()) == ["x", "y", "z"] and isinstance(d.pop("z"), nn.Tanh)
    del d["y"]
    assert [k for k, _ in d.items()] == ["x"] and len(list(d.parameters())) == 2
    d.clear()
    assert len(d) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([lm.zeros(2)])
    pl.append(lm.ones(3))
    pl += [nn.Parameter(lm.ones(1))]
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) for p in pl)
    assert list(pl.state_dict()) == ["0", "1", "2"] and pl[1].shape == (3,)
    pl[0] = lm.ones(2)
    assert pl[0].tolist() == [1.0, 1.0] and len(pl[1:]) == 2
    pd = nn.ParameterDict({"w": lm.zeros(2)})
    pd["b"] = nn.Parameter(lm.ones(1))
    assert list(pd.state_dict()) == ["w", "b"] and pd.get("nope") is None and "w" in pd
    with pytest.raises(TypeError, match="expected an nn.Parameter or Tensor"):
        pd["c"] = np.zeros(2)


def test_module_list_list_methods():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.extend([nn.ReLU(), nn.Tanh()])
    ml.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Linear", "Sigmoid", "ReLU", "Tanh"]
    assert list(dict(ml.named_children())) == ["0", "1", "2", "3"]
    del ml[1]
    assert [type(m).__name__ for m in ml] == ["Linear", "ReLU", "Tanh"]
    ml[2] = nn.Sigmoid()
    assert isinstance(ml[-1], nn.Sigmoid) and isinstance(ml[:2], nn.ModuleList)
    assert isinstance(ml.pop(0), nn.Linear) and len(ml) == 2 and len(ml + ml) == 4
