"""lm.save / lm.load: exact round trips, atomic single-file writes, hostile files, torch interop."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import lamina as lm
import lamina.io
from lamina import nn
from lamina.nn.conv import Conv2d
from lamina.nn.pooling import AvgPool2d, MaxPool2d


def _predict(model, x):
    model.eval()
    with lm.no_grad():
        return model(lm.tensor(x)).numpy()


def _conv_net():
    return nn.Sequential(
        Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), MaxPool2d(2),
        Conv2d(4, 6, (3, 2), stride=(1, 2), bias=False), nn.Tanh(), AvgPool2d(2, stride=1),
        nn.Flatten(), nn.Linear(6, 10), nn.Swish(), nn.Dropout(0.25), nn.Linear(10, 5),
        nn.Sigmoid(), nn.Identity(), nn.ScaledTanh(), nn.LogSoftmax(dim=1),
    )


def test_mlp_round_trip_reproduces_predictions_exactly(tmp_path, rng):
    model = lm.models.mlp([8, 16, 16, 3], activation="swish", dropout=0.2)
    x = rng.normal(size=(5, 8)).astype(np.float32)
    path = tmp_path / "mlp.safetensors"
    lm.save(model, path)
    loaded = lm.load(path)
    assert not loaded.training and type(loaded) is nn.Sequential
    assert np.array_equal(_predict(loaded, x), _predict(model, x))
    assert repr(loaded) == repr(model)


def test_a_users_conv_sequential_round_trips(tmp_path, rng):
    model = _conv_net()
    x = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    lm.save(model, tmp_path / "conv.bin")
    loaded = lm.load(tmp_path / "conv.bin")
    assert np.array_equal(_predict(loaded, x), _predict(model, x))
    assert [type(m) for m in loaded] == [type(m) for m in model]


@pytest.mark.parametrize("classic", [False, True])
def test_lenet5_round_trips(tmp_path, rng, classic):
    models = pytest.importorskip("lamina.models")
    model = models.lenet5(classic=classic)
    x = rng.normal(size=(2, 1, 28, 28)).astype(np.float32)
    lm.save(model, tmp_path / "lenet.safetensors")
    loaded = lm.load(tmp_path / "lenet.safetensors")
    assert np.array_equal(_predict(loaded, x), _predict(model, x))


def test_named_sequential_and_float64_are_kept(tmp_path, rng):
    model = nn.Sequential(OrderedDict(hidden=nn.Linear(3, 4), act=nn.ReLU(),
                                      out=nn.Linear(4, 2))).double()
    lm.save(model, tmp_path / "m")
    loaded = lm.load(tmp_path / "m")
    assert list(loaded.state_dict()) == ["hidden.weight", "hidden.bias", "out.weight",
                                         "out.bias"]
    assert all(p.dtype == np.float64 for p in loaded.parameters())
    x = rng.normal(size=(4, 3))
    assert np.array_equal(_predict(loaded, x), _predict(model, x))


def test_save_writes_exactly_the_path_and_loading_leaves_the_rng_alone(tmp_path):
    model = lm.models.mlp([4, 3])
    before = lamina.random.generator().bit_generator.state
    lm.save(model, tmp_path / "weights.ckpt")
    lm.load(tmp_path / "weights.ckpt")
    assert os.listdir(tmp_path) == ["weights.ckpt"]
    assert lamina.random.generator().bit_generator.state == before
    assert lm.save is lamina.io.save and lm.load is lamina.io.load


def test_file_is_plain_safetensors_with_pytorch_names(tmp_path):
    model = lm.models.mlp([4, 3, 2])
    lm.save(model, tmp_path / "m.safetensors")
    arrays = st_load((tmp_path / "m.safetensors").read_bytes())
    assert set(arrays) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert np.array_equal(arrays["2.weight"], model.state_dict()["2.weight"])


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(x)


def test_an_unregistered_user_module_is_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="MyNet.*register_module"):
        lm.save(MyNet(), tmp_path / "m")
    with pytest.raises(TypeError, match="MyNet"):
        lm.save(nn.Sequential(nn.Linear(2, 2), MyNet()), tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_register_module_allows_a_user_class(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(lamina.io.registry, "_REGISTERED", {})

    @lamina.io.register_module
    class Scale(nn.Module):
        def __init__(self, features, factor=2.0):
            super().__init__()
            self.features, self.factor = features, factor
            self.fc = nn.Linear(features, features)

        def forward(self, x):
            return self.fc(x) * self.factor

    model = nn.Sequential(Scale(3, factor=0.5), nn.ReLU())
    lm.save(model, tmp_path / "m")
    loaded = lm.load(tmp_path / "m")
    assert loaded[0].factor == 0.5
    x = rng.normal(size=(2, 3)).astype(np.float32)
    assert np.array_equal(_predict(loaded, x), _predict(model, x))


def test_a_zero_dimensional_buffer_keeps_its_shape(tmp_path, monkeypatch):
    monkeypatch.setattr(lamina.io.registry, "_REGISTERED", {})

    @lamina.io.register_module
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", lm.tensor(np.array(7, np.int64)))

        def forward(self, x):
            return x

    lm.save(nn.Sequential(Counter()), tmp_path / "m")
    assert lm.load(tmp_path / "m")[0].count.shape == ()


def test_optimizer_state_metadata_round_trip(tmp_path, rng):
    model = lm.models.mlp([4, 5, 2])
    opt = lm.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    x, y = rng.normal(size=(6, 4)).astype(np.float32), rng.integers(0, 2, 6)
    for _ in range(3):
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(lm.tensor(x)), y).backward()
        opt.step()
    metadata = {"input_shape": (4,), "classes": ["a", "b"], 3: {"nested": [1.5, None]}}
    lm.save(model, tmp_path / "m", optimizer=opt, metadata=metadata)
    bundle = lamina.io.load_bundle(tmp_path / "m")
    assert bundle.metadata == metadata and bundle.optimizer_class == "Adam"
    restored = bundle.model.train()
    opt2 = lm.optim.Adam(restored.parameters(), lr=0.5)
    opt2.load_state_dict(bundle.optimizer_state)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9) and opt2.param_groups[0]["lr"] == 0.01
    for m, o in ((model, opt), (restored, opt2)):
        o.zero_grad()
        nn.CrossEntropyLoss()(m(lm.tensor(x)), y).backward()
        o.step()
    assert all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(),
                                                    restored.state_dict().values(), strict=True))


def test_preprocessing_round_trip(tmp_path, rng):
    preprocessing = pytest.importorskip("lamina.preprocessing")
    scaler_cls = getattr(preprocessing, "StandardScaler", None)
    if scaler_cls is None or not hasattr(scaler_cls, "to_config"):
        pytest.skip("lamina.preprocessing.StandardScaler.to_config is not available")
    x = rng.normal(size=(20, 4))
    scaler = scaler_cls().fit(x)
    lm.save(lm.models.mlp([4, 2]), tmp_path / "m", preprocessing=[scaler])
    rebuilt = lamina.io.load_bundle(tmp_path / "m").preprocessing
    assert isinstance(rebuilt, list) and type(rebuilt[0]) is scaler_cls
    np.testing.assert_array_equal(rebuilt[0].transform(x), scaler.transform(x))


# ----------------------------------------------------------------------------- bad files
def _rewrite(path, change_header=None, change_tensors=None):
    """Rewrite a saved file with its metadata and/or tensors changed (a forged file)."""
    data = pathlib.Path(path).read_bytes()
    size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + size])["__metadata__"]
    tensors = dict(st_load(data))
    if change_header:
        change_header(metadata)
    if change_tensors:
        change_tensors(tensors)
    pathlib.Path(path).write_bytes(lamina.io.format.write_bytes(tensors, metadata))  # re-signed


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    lm.save(lm.models.mlp([4, 3, 2]), path)
    return path


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        lm.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("keep", [4, 20, -1])
def test_truncated_files_raise_value_error_naming_the_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep > 0 else data[:-7])
    with pytest.raises(ValueError, match=r"model\.safetensors.*(too short|truncated)"):
        lm.load(saved)


def test_wrong_shapes_raise(saved):
    def widen(tensors):
        tensors["0.weight"] = np.zeros((3, 5), np.float32)

    _rewrite(saved, change_tensors=widen)
    with pytest.raises(ValueError, match=r"'0\.weight' has shape \(3, 5\).*needs \(3, 4\)"):
        lm.load(saved)


def test_extra_and_missing_keys_raise(saved, tmp_path):
    _rewrite(saved, change_tensors=lambda t: t.update({"9.weight": np.zeros(2, np.float32)}))
    with pytest.raises(ValueError, match=r"unexpected \['9\.weight'\]"):
        lm.load(saved)
    lm.save(lm.models.mlp([4, 3, 2]), saved)
    _rewrite(saved, change_tensors=lambda t: t.pop("2.bias"))
    with pytest.raises(ValueError, match=r"missing \['2\.bias'\]"):
        lm.load(saved)


@pytest.mark.parametrize("layer_type", ["EvilLayer", "__import__", "os.system", "Module",
                                        "_Loss"])
def test_unknown_layer_types_raise(saved, layer_type):
    def evil(metadata):
        config = json.loads(metadata["architecture"])
        config["children"][1]["type"] = layer_type
        metadata["architecture"] = json.dumps(config)

    _rewrite(saved, change_header=evil)
    with pytest.raises(ValueError, match=f"unknown layer type '{layer_type}'"):
        lm.load(saved)


def test_bad_layer_arguments_and_deep_nesting_raise(saved):
    def bad_args(metadata):
        config = json.loads(metadata["architecture"])
        config["children"][0]["args"]["in_features"] = -4
        metadata["architecture"] = json.dumps(config)

    _rewrite(saved, change_header=bad_args)
    with pytest.raises(ValueError, match="cannot build Linear"):
        lm.load(saved)

    def deep(metadata):
        config = {"type": "ReLU", "args": {}}
        for _ in range(200):
            config = {"type": "Sequential", "args": {}, "children": [{"name": "0", **config}]}
        metadata["architecture"] = json.dumps(config)

    _rewrite(saved, change_header=deep)
    with pytest.raises(ValueError, match="nested deeper"):
        lm.load(saved)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickle_payload_is_refused_and_never_executed(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof)))  # the payload really runs when unpickled
    assert proof.exists()
    marker = tmp_path / "marker"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"state_dict": _Payload(marker)}))
    with pytest.raises(ValueError, match=r"model\.pt.*pickle"):
        lm.load(path)
    assert not marker.exists()


def test_a_torch_zip_file_is_not_a_model_file(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(ValueError, match="zip archive"):
        lamina.io.load_bundle(path)
    assert sorted(lm.load(path)) == ["bias", "weight"]  # its state_dict (tests/io)


@pytest.mark.parametrize("content", [
    b"",
    b"hello, I am a text file, not weights",
    (12).to_bytes(8, "little") + b"not json!!!!",
    (8).to_bytes(8, "little") + b"[1, 2]  ",
    (10**15).to_bytes(8, "little") + b"{}",
])
def test_garbage_files_raise_value_error(tmp_path, content):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="garbage.safetensors"):
        lm.load(path)


def test_inconsistent_tensor_entries_raise(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 8]}})
    header = header.encode() + b" " * (-len(header) % 8)
    path = tmp_path / "forged.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    with pytest.raises(ValueError, match="forged.safetensors.*'w'"):
        lm.load(path)


def test_a_plain_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    path.write_bytes(st_save({"0.weight": np.zeros((2, 2), np.float32)}))
    with pytest.raises(ValueError, match="without a lamina architecture"):
        lm.load(path)


@pytest.mark.parametrize("text, match", [
    (json.dumps({"x": {"__class__": "os.system"}}), "unknown tag '__class__'"),
    ("[" * 900 + "]" * 900, "nested deeper"),
    ("[" * 5000 + "]" * 5000, "not valid JSON"),
    (json.dumps({"__tensor__": "optimizer:nothing"}), "does not hold"),
    (json.dumps({"__ndarray__": [1, 2], "dtype": "object"}), "bad array"),
])
def test_malformed_metadata_raises(saved, text, match):
    def tag(metadata):
        metadata["metadata"] = text

    _rewrite(saved, change_header=tag)
    with pytest.raises(ValueError, match=match):
        lamina.io.load_bundle(saved)


# ----------------------------------------------------------------------------- torch interop
def _torch_lenet(torch):
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


def test_torch_state_dict_round_trip(rng):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("lamina.models")
    model = models.lenet5()
    x = rng.normal(size=(3, 1, 28, 28)).astype(np.float32)
    expected = _predict(model, x)

    state = lamina.io.to_torch_state_dict(model)
    assert list(state) == list(model.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    torch_model = _torch_lenet(torch).eval()
    torch_model.load_state_dict(state)
    with torch.no_grad():
        torch_out = torch_model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(torch_out, expected, rtol=1e-4, atol=1e-5)

    back = lamina.io.from_torch_state_dict(models.lenet5(), torch_model.state_dict())
    assert np.array_equal(_predict(back, x), expected)

    with torch.no_grad():  # weights trained or changed in torch come back exactly
        for p in torch_model.parameters():
            p.mul_(0.5)
        torch_out = torch_model(torch.from_numpy(x)).numpy()
    back = lamina.io.from_torch_state_dict(back, torch_model.state_dict())
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(back.state_dict().values(),
                                                            torch_model.state_dict().values(),
                                                            strict=True))
    np.testing.assert_allclose(_predict(back, x), torch_out, rtol=1e-4, atol=1e-5)


def test_from_torch_state_dict_accepts_arrays_and_checks_keys():
    model = lm.models.mlp([3, 2])
    state = {k: np.ones_like(v) for k, v in model.state_dict().items()}
    assert lamina.io.from_torch_state_dict(model, state) is model
    assert np.all(model.state_dict()["0.weight"] == 1)
    with pytest.raises(KeyError):
        lamina.io.from_torch_state_dict(model, {"0.weight": np.ones((2, 3))})


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoints_work_for_any_module_and_restore_the_rng(tmp_path):
    model = MyNet()
    opt = lm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "ckpt"
    lamina.train.save_checkpoint(path, model, opt, epoch=3, metadata={"note": "hi"})
    expected = lm.randn(4).numpy()
    other = MyNet()
    checkpoint = lamina.train.load_checkpoint(path, other, lm.optim.SGD(other.parameters(), lr=1.0))
    assert checkpoint.epoch == 3 and checkpoint.history is None
    assert checkpoint.metadata == {"note": "hi"}
    assert np.array_equal(lm.randn(4).numpy(), expected)
    assert all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(),
                                                    other.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="without a lamina architecture"):
        lm.load(path)  # weights only: a user class is not rebuilt


def test_load_checkpoint_errors(tmp_path, saved):
    model = lm.models.mlp([4, 3, 2])
    with pytest.raises(ValueError, match="not a lamina checkpoint"):
        lamina.train.load_checkpoint(saved, model)
    lamina.train.save_checkpoint(tmp_path / "c", model, None, epoch=1)
    with pytest.raises(ValueError, match="no optimizer state"):
        lamina.train.load_checkpoint(tmp_path / "c", model, lm.optim.SGD(model.parameters(), lr=1))
    with pytest.raises(ValueError, match="do not match the model"):
        lamina.train.load_checkpoint(tmp_path / "c", lm.models.mlp([4, 2]))
