"""Hostile and damaged files: seeded fuzzing of every kind of file lamina writes.

Each mutation of a saved file either loads exactly what was saved or raises ValueError; no
other exception, and never more than a few MB allocated while loading a file of a few KB.
Mutations that re-sign the file (an attacker can compute sha256 too) must still be refused
cheaply or load without another exception.
"""

from __future__ import annotations

import json
import re
import tracemalloc

import numpy as np
import pytest

import lamina as lm
import lamina.io.format as fmt
from lamina import nn
from lamina.nn.conv import Conv2d
from lamina.nn.pooling import MaxPool2d
from lamina.optim.lr_scheduler import StepLR
from lamina.preprocessing import StandardScaler
from lamina.train import EarlyStopping, History, load_checkpoint, save_checkpoint

PEAK_LIMIT = 4 * 1024 * 1024
MUTATIONS_PER_KIND = 200


# ----------------------------------------------------------------------------- the files
def _model() -> nn.Sequential:
    lm.manual_seed(0)
    return nn.Sequential(Conv2d(1, 2, 3, padding=1), nn.ReLU(), MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8, 3), nn.LogSoftmax(dim=1))


def _trained():
    model = _model()
    opt = lm.optim.Adam(model.parameters(), lr=0.01)
    x = np.random.default_rng(0).normal(size=(4, 1, 4, 4)).astype(np.float32)
    loss = nn.NLLLoss()(model(lm.tensor(x)), np.array([0, 1, 2, 0]))
    loss.backward()
    opt.step()
    return model, opt


def _fingerprint(value):
    """A comparable form of anything a load returns (arrays by dtype, shape and bytes)."""
    if isinstance(value, lm.Tensor):
        return ("Tensor", value.requires_grad, _fingerprint(value.numpy()))
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape,
                value.tobytes() if value.dtype != object else repr(value.tolist()))
    if isinstance(value, np.generic):
        return ("scalar", value.dtype.str, value.tobytes())
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return ("dict", tuple((_fingerprint(k), _fingerprint(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v) for v in value))
    return (type(value).__name__, value)


def _load_model(path):
    bundle = lm.io.load_bundle(path)
    x = np.linspace(-1, 1, 8).reshape(2, 4)
    return (_fingerprint(bundle.model.state_dict()), _fingerprint(bundle.optimizer_state),
            _fingerprint(bundle.metadata), _fingerprint(bundle.preprocessing[0].transform(x)),
            repr(bundle.model))


def _load_object(path):
    return _fingerprint(lm.load(path))


def _load_checkpoint(path):
    model = _model()
    opt = lm.optim.Adam(model.parameters(), lr=0.5)
    scheduler = StepLR(opt, step_size=2)
    stopper = EarlyStopping(patience=3)
    checkpoint = load_checkpoint(path, model, opt, scheduler=scheduler, callbacks=[stopper])
    return (_fingerprint(model.state_dict()), _fingerprint(opt.state_dict()),
            _fingerprint(scheduler.state_dict()), _fingerprint(stopper.state_dict()),
            checkpoint.epoch, _fingerprint(checkpoint.history.to_dict()),
            _fingerprint(lm.random.get_rng_state()))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """kind -> (bytes of a valid file, loader returning a fingerprint)."""
    root = tmp_path_factory.mktemp("files")
    model, opt = _trained()
    scaler = StandardScaler().fit(np.arange(8.0).reshape(2, 4) ** 2)
    lm.save(model, root / "model.safetensors", optimizer=opt, preprocessing=[scaler],
            metadata={"classes": ["a", "b", "c"], "input_shape": (1, 4, 4)})
    lm.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
             "loss": 0.25, "note": "hi", "mask": lm.tensor([1.0, 2.0], requires_grad=True),
             "flags": [True, None, (1, 2.5)]}, root / "object.pt")
    scheduler = StepLR(opt, step_size=2)
    scheduler.step()
    stopper = EarlyStopping(patience=3)
    stopper.set_context(model=model)
    stopper.on_epoch_end(0, {"val_loss": 0.5})
    history = History()
    history.record(0, {"loss": 1.0, "val_loss": 0.5})
    history.record(1, {"loss": 0.5})
    save_checkpoint(root / "checkpoint.ckpt", model, opt, 2, history, scheduler=scheduler,
                    callbacks=[stopper])
    out = {}
    for kind, name, loader in (("model", "model.safetensors", _load_model),
                               ("object", "object.pt", _load_object),
                               ("checkpoint", "checkpoint.ckpt", _load_checkpoint)):
        data = (root / name).read_bytes()
        assert len(data) < 16 * 1024
        out[kind] = (data, loader)
    return out


# ----------------------------------------------------------------------------- mutations
def _split(data: bytes) -> tuple[dict, bytes]:
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size]), data[8 + size:]


def _join(header: dict, body: bytes, sign: bool) -> bytes:
    if sign:
        _sign(header, body)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + body


def _sign(header: dict, body: bytes) -> None:
    """Recompute the checksum as an attacker would (skipped where entries are not usable)."""
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict):
        return
    try:
        tensors = {name: (fmt.DTYPES[e["dtype"]], tuple(e["shape"]),
                          body[e["data_offsets"][0]:e["data_offsets"][1]])
                   for name, e in header.items() if name != "__metadata__"}
        metadata["checksum"] = fmt.checksum(metadata, tensors)
    except (KeyError, TypeError, IndexError):
        pass


_HOSTILE_JSON = [
    '{"__tensor__": "0.weight"}', '[' * 3000 + ']' * 3000, '{"__class__": "os.system"}',
    '{"ndarray": {"dtype": "float64", "shape": [1000000000], "data": []}}',
    '{"ndarray": {"dtype": "V8", "shape": [1], "data": [1]}}', '1e999', '"x"', 'null', '[]',
    '{"__dict__": [[[1], 2]]}', '{"__tuple__": 5}', '{"float": "evil"}',
    '{"type": "Linear", "args": {"in_features": 100000, "out_features": 100000}}',
    '1' * 5000, '[' + '1' * 5000 + ']',
]
_BIG = [12000, 10**5, 10**9, 2**62, -1, 0, 1.5, "7", None, True, [3, 3]]


_ODD_VALUES = [None, -1, 0, 2**70, 1e308, -0.5, "x", "", [], {}, [[1]], True,
               {"__tensor__": "0.weight"}, {"float": "nan"}, {"__tuple__": [1]},
               {"ndarray": {"dtype": "float64", "shape": [2], "data": [1.0, 2.0]}}]


def _nodes(value, path=()):
    """Every (path, value) inside a JSON value."""
    yield path, value
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _nodes(child, (*path, key))


def _replace_deep(text: str, rng: np.random.Generator) -> str:
    """One value anywhere inside a JSON text replaced by an odd one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:  # a plain string entry ("format", "format_version", ...)
        return ["1", "3", "", "lamina", "x" * 100][rng.integers(5)]
    paths = [p for p, _ in _nodes(value) if p]
    if not paths:
        return json.dumps(_ODD_VALUES[rng.integers(len(_ODD_VALUES))])
    path = paths[rng.integers(len(paths))]
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = _ODD_VALUES[rng.integers(len(_ODD_VALUES))]
    return json.dumps(value)


def _edit_header(header: dict, rng: np.random.Generator) -> None:
    names = [k for k in header if k != "__metadata__"]
    metadata = header["__metadata__"]
    choice = rng.integers(7)
    if choice == 6:  # one value deep inside a metadata entry's JSON
        key = sorted(k for k in metadata if k != "checksum")[
            rng.integers(len(metadata) - 1)]
        metadata[key] = _replace_deep(metadata[key], rng)
        return
    if choice == 0 and names:  # a tensor's shape
        entry = header[names[rng.integers(len(names))]]
        options = [[12000, 12000], [10**12], entry["shape"] + [1], entry["shape"][:-1],
                   [-1], [2**40, 2**40], "3", [1.5]]
        entry["shape"] = options[rng.integers(len(options))]
    elif choice == 1 and names:  # a tensor's dtype
        entry = header[names[rng.integers(len(names))]]
        entry["dtype"] = ["F64", "F16", "I64", "U8", "BOOL", "BF16", "F8_E4M3", "object",
                          7][rng.integers(9)]
    elif choice == 2 and names:  # a tensor's offsets
        entry = header[names[rng.integers(len(names))]]
        a, b = entry["data_offsets"]
        entry["data_offsets"] = [[b, a], [a, b + 4], [a + 4, b + 4], [0, 2**62], [a],
                                 [a, -b]][rng.integers(6)]
    elif choice == 3 and "architecture" in metadata:  # a layer's arguments or type
        arch = json.loads(metadata["architecture"])
        layer = arch["children"][rng.integers(len(arch["children"]))]
        if layer["args"] and rng.random() < 0.8:
            key = list(layer["args"])[rng.integers(len(layer["args"]))]
            layer["args"][key] = _BIG[rng.integers(len(_BIG))]
        else:
            layer["type"] = ["Linear", "Conv2d", "Sequential", "Module", "EvilLayer",
                             "Subsampling"][rng.integers(6)]
        metadata["architecture"] = json.dumps(arch)
    elif choice == 4:  # any metadata entry replaced by hostile JSON
        key = sorted(metadata)[rng.integers(len(metadata))]
        metadata[key] = _HOSTILE_JSON[rng.integers(len(_HOSTILE_JSON))]
    else:  # a tensor renamed or dropped
        if names:
            name = names[rng.integers(len(names))]
            entry = header.pop(name)
            if rng.random() < 0.5:
                header[name + "x"] = entry


def _mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, bool]:
    """A damaged or forged copy of ``data``, and whether it was re-signed."""
    kind = rng.integers(6)
    if kind == 0:  # byte flips
        out = bytearray(data)
        for _ in range(rng.integers(1, 4)):
            out[rng.integers(len(out))] ^= int(rng.integers(1, 256))
        return bytes(out), False
    if kind == 1:  # truncation
        return data[:rng.integers(len(data))], False
    if kind == 2:  # appended junk
        return data + rng.bytes(int(rng.integers(1, 64))), False
    if kind == 3:  # the header length
        size = int.from_bytes(data[:8], "little")
        size = [size + 1, size - 8, size * 2, 2**63, 0][rng.integers(5)]
        return size.to_bytes(8, "little") + data[8:], False
    header, body = _split(data)
    _edit_header(header, rng)
    sign = kind == 5
    return _join(header, body, sign), sign


def _peak_of(fn):
    tracemalloc.start()
    try:
        return fn(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["model", "object", "checkpoint"])
def test_fuzzed_files_load_identically_or_raise_value_error(files, kind, tmp_path):
    data, loader = files[kind]
    path = tmp_path / f"fuzz-{kind}"
    path.write_bytes(data)
    expected = loader(path)  # also warms up imports before memory is measured
    rng = np.random.default_rng(["model", "object", "checkpoint"].index(kind))
    outcomes = {"identical": 0, "refused": 0, "forged loaded": 0}
    for i in range(MUTATIONS_PER_KIND):
        mutated, signed = _mutate(data, rng)
        path.write_bytes(mutated)
        state = lm.random.get_rng_state()
        try:
            result, peak = _peak_of(lambda: loader(path))
        except ValueError as exc:
            assert str(path) in str(exc), f"mutation {i}: the message does not name the file"
            outcomes["refused"] += 1
            result, peak = None, None
        except Exception as exc:  # noqa: BLE001 - the point: nothing but ValueError escapes
            raise AssertionError(f"mutation {i} ({'signed' if signed else 'raw'}) raised "
                                 f"{type(exc).__name__}: {exc}") from exc
        finally:
            lm.random.set_rng_state(state)
        if result is not None:
            assert peak < PEAK_LIMIT, f"mutation {i}: loading allocated {peak} bytes"
            if result == expected:
                outcomes["identical"] += 1
            else:
                assert signed, f"mutation {i}: a damaged file loaded with different values"
                outcomes["forged loaded"] += 1
    assert outcomes["refused"] > MUTATIONS_PER_KIND // 2, outcomes


def test_refusals_allocate_little_too(files, tmp_path):
    """Failing loads are measured as well: the peak until the ValueError stays small."""
    data, _ = files["model"]
    rng = np.random.default_rng(7)
    path = tmp_path / "m"
    for _ in range(150):
        path.write_bytes(_mutate(data, rng)[0])

        def load():
            try:
                lm.io.load_bundle(path)
            except ValueError:
                pass

        assert _peak_of(load)[1] < PEAK_LIMIT


# ----------------------------------------------------------------------------- bombs
def _forged(layers: list[dict], tensors: dict[str, np.ndarray]) -> bytes:
    arch = {"type": "Sequential", "args": {},
            "children": [{"name": str(i), **layer} for i, layer in enumerate(layers)]}
    return fmt.write_bytes(tensors, {"format": "lamina", "format_version": "2",
                                     "architecture": json.dumps(arch)})


@pytest.mark.parametrize("layer, needs", [
    ({"type": "Linear", "args": {"in_features": 12000, "out_features": 12000}}, "12000"),
    ({"type": "Linear", "args": {"in_features": 100000, "out_features": 100000,
                                 "bias": False}}, "100000"),
    ({"type": "Conv2d", "args": {"in_channels": 4096, "out_channels": 4096,
                                 "kernel_size": [64, 64]}}, "4096"),
])
def test_a_tiny_file_naming_a_huge_layer_fails_before_allocating(tmp_path, layer, needs):
    path = tmp_path / "bomb.safetensors"
    tensors = {"0.weight": np.zeros((2, 3), np.float32)}
    if layer["args"].get("bias", True):
        tensors["0.bias"] = np.zeros(2, np.float32)
    path.write_bytes(_forged([layer], tensors))
    assert path.stat().st_size < 512
    result, peak = _peak_of(lambda: pytest.raises(ValueError, lm.load, path))
    assert re.search(rf"bomb\.safetensors.*0\.weight.*{needs}", str(result.value)), result.value
    assert peak < 256 * 1024, peak


@pytest.mark.parametrize("n", [50000, 10**7])
def test_a_huge_layer_of_a_class_without_a_shape_rule_is_refused(tmp_path, monkeypatch, n):
    monkeypatch.setattr(lm.io.registry, "_REGISTERED", {})

    @lm.io.register_module
    class Wide(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.n = n
            self.w = nn.Parameter(np.zeros((n, n), np.float32))

    path = tmp_path / "wide.safetensors"
    lm.save(nn.Sequential(Wide(3)), path)
    assert lm.load(path)[0].n == 3
    path.write_bytes(_forged([{"type": "Wide", "args": {"n": n}}],
                             {"0.w": np.zeros((3, 3), np.float32)}))
    result, peak = _peak_of(lambda: pytest.raises(ValueError, lm.load, path))
    assert re.search("wide.safetensors.*(far larger|out of proportion)", str(result.value))
    if "far larger" in str(result.value):  # refused before building anything
        assert peak < 256 * 1024, peak
    # else the build was stopped by the address-space cap; NumPy reports even a failed
    # allocation to tracemalloc, so its peak says nothing there


def test_a_class_with_its_own_shape_rule_is_checked_without_being_built(tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(lm.io.registry, "_REGISTERED", {})
    built = []

    @lm.io.register_module
    class Square(nn.Module):
        def __init__(self, n):
            super().__init__()
            built.append(n)
            self.n = n
            self.w = nn.Parameter(np.zeros((n, n), np.float32))

        @classmethod
        def parameter_shapes(cls, n):
            return {"w": (n, n)}

    path = tmp_path / "square.safetensors"
    path.write_bytes(_forged([{"type": "Square", "args": {"n": 2000}}],
                             {"0.w": np.zeros((3, 3), np.float32)}))
    with pytest.raises(ValueError, match=r"'0\.w' has shape \(3, 3\).*needs \(2000, 2000\)"):
        lm.load(path)
    assert built == []


def test_a_flipped_weight_byte_fails_the_checksum(files, tmp_path):
    data, _ = files["model"]
    header, body = _split(data)
    start = header["4.weight"]["data_offsets"][0]
    offset = len(data) - len(body) + start
    path = tmp_path / "m.safetensors"
    path.write_bytes(data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:])
    with pytest.raises(ValueError, match=r"m\.safetensors.*checksum mismatch"):
        lm.load(path)


def test_a_file_without_its_checksum_is_refused(files, tmp_path):
    header, body = _split(files["object"][0])
    del header["__metadata__"]["checksum"]
    path = tmp_path / "o.pt"
    path.write_bytes(_join(header, body, sign=False))
    with pytest.raises(ValueError, match="no checksum"):
        lm.load(path)


def test_a_tensor_referred_to_many_times_is_refused(tmp_path):
    """A few KB of JSON must not decode into many copies of one tensor."""
    tensors = {"w": np.zeros(1000, np.float64)}
    structure = json.dumps([{"__tensor__": "w"}] * 1000)
    path = tmp_path / "o.pt"
    path.write_bytes(fmt.write_bytes(tensors, {"format": "lamina", "format_version": "2",
                                               "object": structure}))
    with pytest.raises(ValueError, match="referred to twice"):
        lm.load(path)
