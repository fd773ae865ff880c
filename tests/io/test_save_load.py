"""lm.save / lm.load of any object: state_dicts and checkpoint dicts, as torch.save/torch.load."""

from __future__ import annotations

import io
import os
from collections import OrderedDict

import numpy as np
import pytest

import lamina as lm
from lamina import nn


def _net():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_a_state_dict_round_trips_under_any_name(tmp_path):
    model = _net()
    for name in ("model.pt", "model.pth", "weights", "w.bin"):
        lm.save(model.state_dict(), tmp_path / name)
        other = _net()
        other.load_state_dict(lm.load(tmp_path / name))
        for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
            assert np.array_equal(a, b)
    assert sorted(os.listdir(tmp_path)) == ["model.pt", "model.pth", "w.bin", "weights"]


def test_a_checkpoint_dict_comes_back_as_saved(tmp_path):
    model = _net()
    opt = lm.optim.Adam(model.parameters(), lr=0.01)
    model(lm.ones(2, 4)).sum().backward()
    opt.step()
    saved = {
        "epoch": 7, "loss": 0.125, "best": float("inf"), "name": "run-1", "done": False,
        "nothing": None, "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(), "shape": (2, 3), "scores": [0.5, 0.25],
        "tensor": lm.tensor([[1.0, 2.0]], requires_grad=True), "ints": np.arange(5),
        "labels": np.array(["cat", "dog"]), "scalar": np.float32(1.5), 3: "int key",
        "zero_d": np.array(2.5), "zero_d_tensor": lm.tensor(4), "empty": np.zeros((0, 3)),
    }
    path = tmp_path / "checkpoint.tar"
    lm.save(saved, path)
    back = lm.load(path, map_location="cpu", weights_only=True)
    assert back.keys() == saved.keys()
    assert back["epoch"] == 7 and back["best"] == float("inf") and back["nothing"] is None
    assert back["shape"] == (2, 3) and back[3] == "int key" and back["done"] is False
    assert isinstance(back["tensor"], lm.Tensor) and back["tensor"].requires_grad
    assert np.array_equal(back["tensor"].numpy(), saved["tensor"].numpy())
    assert isinstance(back["ints"], np.ndarray) and back["ints"].dtype == np.int64
    assert back["labels"].tolist() == ["cat", "dog"]
    assert type(back["scalar"]) is np.float32 and back["scalar"] == 1.5
    assert back["zero_d"].shape == () and back["zero_d"] == 2.5
    assert back["zero_d_tensor"].shape == () and back["zero_d_tensor"].item() == 4
    assert back["empty"].shape == (0, 3)
    restored = lm.optim.Adam(_net().parameters(), lr=1.0)
    restored.load_state_dict(back["optimizer_state_dict"])
    assert restored.param_groups[0]["lr"] == 0.01


def test_torch_style_file_objects(tmp_path):
    """The compat scripts' ``torch.save(array, open(p, 'wb'))`` then ``torch.load(p)``."""
    data = np.random.default_rng(0).normal(size=(10, 3))
    with open(tmp_path / "traindata.pt", "wb") as f:
        lm.save(data, f)
    assert np.array_equal(lm.load(str(tmp_path / "traindata.pt")), data)
    buffer = io.BytesIO()
    lm.save({"x": lm.tensor(data)}, buffer)
    buffer.seek(0)
    assert np.array_equal(lm.load(buffer)["x"].numpy(), data)
    with open(tmp_path / "traindata.pt", "rb") as f:
        assert np.array_equal(lm.load(f), data)


def test_a_saved_file_is_plain_safetensors_with_the_state_dict_names(tmp_path):
    from safetensors.numpy import load_file

    model = _net()
    lm.save({"model": model.state_dict()}, tmp_path / "c.pt")
    arrays = load_file(tmp_path / "c.pt")
    assert sorted(arrays) == ["model.0.bias", "model.0.weight", "model.2.bias", "model.2.weight"]
    lm.save(model.state_dict(), tmp_path / "s.pt")
    assert sorted(load_file(tmp_path / "s.pt")) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_models_still_save_whole_and_user_classes_get_a_clear_error(tmp_path):
    model = _net()
    lm.save(model, tmp_path / "m.pt")
    loaded = lm.load(tmp_path / "m.pt")
    assert isinstance(loaded, nn.Sequential) and repr(loaded) == repr(model)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(TypeError, match=r"Net.*lm\.save\(model\.state_dict\(\), path\)"):
        lm.save(Net(), tmp_path / "n.pt")
    with pytest.raises(TypeError, match=r"(?s)Net.*save its state_dict\(\) instead"):
        lm.save({"model": Net(), "epoch": 1}, tmp_path / "n.pt")
    lm.save(Net().state_dict(), tmp_path / "n.pt")
    Net().load_state_dict(lm.load(tmp_path / "n.pt"))


@pytest.mark.parametrize("value, kind", [
    (object(), "object"), ({"f": print}, "builtin_function_or_method"),
    ({"c": np.ones(2, np.complex128)}, "complex128"), ({1, 2}, "set"),
])
def test_values_that_cannot_be_stored_are_refused_by_type(tmp_path, value, kind):
    with pytest.raises(TypeError, match=kind):
        lm.save(value, tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


def test_load_arguments(tmp_path):
    lm.save(OrderedDict(a=np.ones(2)), tmp_path / "a.pt")
    for location in (None, "cpu", lm.device("cpu") if hasattr(lm, "device") else "cpu",
                     lambda storage, loc: storage):
        assert np.array_equal(lm.load(tmp_path / "a.pt", map_location=location)["a"],
                              np.ones(2))
    with pytest.raises(ValueError, match="CPU only"):
        lm.load(tmp_path / "a.pt", map_location="cuda:0")
    with pytest.raises(TypeError, match="unexpected keyword"):
        lm.load(tmp_path / "a.pt", strict=True)
    with pytest.raises(TypeError, match="binary file object"):
        lm.load(12)
    with pytest.raises(TypeError, match="optimizer=.* go with a model"):
        lm.save({"a": 1}, tmp_path / "b.pt", optimizer={"state": {}})


DATA = os.path.join(os.path.dirname(__file__), "data")


def test_files_of_the_first_format_still_load():
    """Written by lamina before this format (no checksum, ``__ndarray__`` tags, preprocessing
    configs encoded twice): everything comes back."""
    bundle = lm.io.load_bundle(os.path.join(DATA, "format1-model.safetensors"))
    assert bundle.metadata["classes"] == ["a", "b"] and bundle.metadata["shape"] == (3,)
    assert bundle.metadata["n"] == 4 and bundle.metadata["nan"] != bundle.metadata["nan"]
    assert bundle.optimizer_class == "Adam" and bundle.preprocessing["z"].feature_range == (-1, 1)
    np.testing.assert_allclose(bundle.preprocessing["x"].transform([[1.0, 2.0, 3.0]]),
                               [[-1 / 3] * 3])
    assert bundle.preprocessing["y"].inverse_transform([1]).tolist() == ["b"]
    model = lm.models.mlp([3, 4, 2])
    opt = lm.optim.Adam(model.parameters(), lr=0.5)
    checkpoint = lm.train.load_checkpoint(os.path.join(DATA, "format1-checkpoint.safetensors"),
                                          model, opt)
    assert checkpoint.epoch == 2 and opt.param_groups[0]["lr"] == 0.01
    for a, b in zip(model.state_dict().values(), bundle.model.state_dict().values(),
                    strict=True):
        assert np.array_equal(a, b)
