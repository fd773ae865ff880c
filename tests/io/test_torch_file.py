"""lm.load reads PyTorch's torch.save files of state_dicts without torch, never running code."""

from __future__ import annotations

import io
import pathlib
import tracemalloc
import zipfile

import numpy as np
import pytest

import lamina as lm
from lamina import nn

torch = pytest.importorskip("torch")

PEAK_LIMIT = 4 * 1024 * 1024


def _torch_file(path) -> dict:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.ones(2, 4)).sum().backward()
    opt.step()
    strided = torch.arange(12, dtype=torch.int64).reshape(3, 4)[:, 1:3]
    saved = {"model_state_dict": net.state_dict(), "optimizer_state_dict": opt.state_dict(),
             "epoch": 5, "loss": 0.5, "names": ["a", "b"], "strided": strided,
             "half": torch.ones(2, dtype=torch.float16), "bf16": torch.tensor([1.5, -2.0],
                                                                             dtype=torch.bfloat16),
             "flags": torch.tensor([True, False]), "param": torch.nn.Parameter(torch.ones(2))}
    torch.save(saved, path)
    return saved


def test_a_torch_checkpoint_is_read_without_torch_semantics_lost(tmp_path):
    path = tmp_path / "checkpoint.pth"
    saved = _torch_file(path)
    back = lm.load(path, map_location="cpu", weights_only=True)
    assert back.keys() == saved.keys() and back["epoch"] == 5 and back["names"] == ["a", "b"]
    for key, value in saved["model_state_dict"].items():
        assert isinstance(back["model_state_dict"][key], lm.Tensor)
        assert np.array_equal(back["model_state_dict"][key].numpy(), value.numpy())
    assert np.array_equal(back["strided"].numpy(), saved["strided"].numpy())
    assert back["half"].dtype == np.float16 and back["flags"].dtype == np.bool_
    assert np.array_equal(back["bf16"].numpy(), saved["bf16"].float().numpy())
    assert back["param"].requires_grad and not back["strided"].requires_grad
    momentum = back["optimizer_state_dict"]["state"][0]["momentum_buffer"]
    assert np.array_equal(momentum.numpy(),
                          saved["optimizer_state_dict"]["state"][0]["momentum_buffer"].numpy())

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model.load_state_dict(back["model_state_dict"])
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    torch_net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),
                                    torch.nn.Linear(3, 2))
    torch_net.load_state_dict(saved["model_state_dict"])
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(lm.tensor(x)).numpy(), expected, rtol=1e-6)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_torch_file_with_a_code_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.ones(2), "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match=r"evil\.pt.*allow-list"):
        lm.load(path)
    assert not marker.exists()


def test_a_pickled_torch_module_is_refused_with_advice(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match=r"whole\.pt.*torch\.nn.*state_dict"):
        lm.load(path)


def _rezip(data: bytes, change) -> bytes:
    """A copy of the torch archive with its data.pkl changed (valid CRCs: a forged file)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                content = change(content)
            target.writestr(info.filename, content)
    return out.getvalue()


def _fingerprint(value):
    if isinstance(value, lm.Tensor):
        return ("T", value.requires_grad, value.numpy().dtype.str, value.shape,
                value.numpy().tobytes())
    if isinstance(value, dict):
        return tuple((k, _fingerprint(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v) for v in value))
    return (type(value).__name__, repr(value))


def test_fuzzed_torch_files_load_identically_or_raise_value_error(tmp_path):
    path = tmp_path / "fuzz.pt"
    _torch_file(path)
    data = path.read_bytes()
    expected = _fingerprint(lm.load(path))
    rng = np.random.default_rng(3)
    refused = 0
    for i in range(240):
        kind = rng.integers(5)
        forged = False
        if kind == 0:
            mutated = bytearray(data)
            for _ in range(rng.integers(1, 4)):
                mutated[rng.integers(len(mutated))] ^= int(rng.integers(1, 256))
            mutated = bytes(mutated)
        elif kind == 1:
            mutated = data[:rng.integers(len(data))]
        elif kind == 2:
            mutated = data + rng.bytes(int(rng.integers(1, 64)))
        else:  # the pickle itself damaged, in an archive with valid CRCs
            forged = True

            def change(pkl):
                pkl = bytearray(pkl)
                for _ in range(rng.integers(1, 4)):
                    pkl[rng.integers(len(pkl))] = int(rng.integers(256))
                return bytes(pkl)

            mutated = _rezip(data, change)
        path.write_bytes(mutated)
        tracemalloc.start()
        try:
            result = _fingerprint(lm.load(path))
        except ValueError as exc:
            assert "fuzz.pt" in str(exc)
            refused += 1
            continue
        except Exception as exc:  # noqa: BLE001 - nothing but ValueError may escape
            raise AssertionError(f"mutation {i} raised {type(exc).__name__}: {exc}") from exc
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < PEAK_LIMIT, f"mutation {i}: {peak} bytes"
        assert forged or result == expected, f"mutation {i}: damaged file loaded differently"
    assert refused > 120
