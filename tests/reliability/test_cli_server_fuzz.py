"""Seeded fuzzing of what users send: ``/predict`` bodies for ``lamina serve`` and input files for
``lamina predict``. Every case ends in an answer or a clear refusal: the server answers 200 with
finite probabilities or a 4xx with a ``detail`` message (never a 500); the command exits 0, or
non-zero with one readable line and no traceback."""

from __future__ import annotations

import contextlib
import io
import json
import math
import struct
import zlib

import numpy as np
import pytest

import lamina as lm

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from lamina.cli import main as lamina_main  # noqa: E402
from lamina.serve import create_app  # noqa: E402

SEED = 20261206
CASES = 400


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    """A 4-feature, 3-class MLP saved with its input shape and class names."""
    lm.manual_seed(0)
    path = str(tmp_path_factory.mktemp("fuzz") / "mlp.safetensors")
    lm.save(lm.models.mlp([4, 8, 3]), path,
            metadata={"input_shape": [4], "classes": ["a", "b", "c"]})
    return path


@pytest.fixture(scope="module")
def image_model_file(tmp_path_factory) -> str:
    lm.manual_seed(0)
    path = str(tmp_path_factory.mktemp("fuzz") / "lenet.safetensors")
    lm.save(lm.models.lenet5(), path, metadata={"input_shape": [1, 28, 28]})
    return path


def _png(width: int, height: int, payload: bytes) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (grayscale), with ``payload`` as data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", payload)
            + chunk(b"IEND", b""))


def _value(rng: np.random.Generator, depth: int = 0):
    """A random JSON value: numbers of every size, strings, nulls, lists and dicts."""
    kind = rng.integers(0, 9 if depth < 3 else 5)
    if kind == 0:
        return float(rng.normal() * 10.0 ** rng.integers(-3, 300))
    if kind == 1:
        return int(rng.integers(-10**6, 10**6))
    if kind == 2:
        return ["NaN", "inf", "", "abc", "1e999"][rng.integers(0, 5)]
    if kind == 3:
        return None
    if kind == 4:
        return bool(rng.integers(0, 2))
    if kind in (5, 6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.integers(0, 6))]
    return {str(rng.integers(0, 3)): _value(rng, depth + 1)}


def _body(rng: np.random.Generator) -> tuple[bytes, str]:
    """A random request body and content type, mostly near-valid."""
    kind = rng.integers(0, 7)
    if kind == 0:  # the right shape with hostile numbers
        rows = rng.normal(size=(rng.integers(0, 4), 4))
        rows[rng.random(rows.shape) < 0.2] = rng.choice([1e300, -1e300, 1e39, np.nan, np.inf])
        text = json.dumps({"inputs": rows.tolist()}, allow_nan=True)
        return text.encode(), "application/json"
    if kind == 1:
        return json.dumps({"inputs": _value(rng)}).encode(), "application/json"
    if kind == 2:
        return json.dumps(_value(rng)).encode(), "application/json"
    if kind == 3:  # bytes that are not JSON
        return rng.bytes(int(rng.integers(0, 64))), "application/json"
    if kind == 4:  # CSV rows of random widths and cells
        lines = [",".join(str(_value(rng)) for _ in range(rng.integers(0, 6)))
                 for _ in range(rng.integers(0, 4))]
        return "\n".join(lines).encode(), "text/csv"
    if kind == 5:  # PNGs: absurd sizes, truncated or junk data
        size = [int(rng.integers(1, 40)), 100_000][rng.integers(0, 2)]
        data = _png(size, size, zlib.compress(rng.bytes(int(rng.integers(0, 200)))))
        return data[: len(data) - int(rng.integers(0, 20))], "image/png"
    return rng.bytes(int(rng.integers(0, 32))), ["text/plain", "application/xml", ""][
        rng.integers(0, 3)]


def _check_answer(response, rows_hint: int | None = None) -> None:
    assert response.status_code != 500, response.text
    if response.status_code == 200:
        answer = response.json()
        probabilities = np.asarray(answer["probabilities"], dtype=float)
        assert len(answer["labels"]) == len(probabilities)
        assert np.all(np.isfinite(probabilities))
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) if len(probabilities) \
            else True
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, (str, list)) and detail


@pytest.mark.parametrize("model", ["model_file", "image_model_file"])
def test_predict_endpoint_answers_or_refuses_every_fuzzed_body(model, request):
    app = create_app(request.getfixturevalue(model))
    rng = np.random.default_rng(SEED)
    answered = refused = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(CASES):
            body, content_type = _body(rng)
            headers = {"content-type": content_type} if content_type else {}
            response = client.post("/predict", content=body, headers=headers)
            _check_answer(response)
            answered += response.status_code == 200
            refused += response.status_code != 200
    assert refused > CASES // 2  # most fuzzed bodies are bad: the fuzzer does reach the checks
    if model == "model_file":
        assert answered > 5  # and some are good: the happy path is exercised too


def _mutations(rng: np.random.Generator, good: bytes) -> bytes:
    data = bytearray(good)
    kind = rng.integers(0, 4)
    if kind == 0 and data:
        for _ in range(rng.integers(1, 8)):
            data[rng.integers(0, len(data))] = rng.integers(0, 256)
    elif kind == 1:
        del data[rng.integers(0, len(data) + 1):]
    elif kind == 2:
        data += rng.bytes(int(rng.integers(1, 64)))
    else:
        return rng.bytes(int(rng.integers(0, 200)))
    return bytes(data)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = lamina_main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_lamina_predict_answers_or_refuses_every_fuzzed_file(model_file, tmp_path):
    rng = np.random.default_rng(SEED)
    good = {
        "npz": tmp_path / "good.npz",
        "csv": tmp_path / "good.csv",
    }
    np.savez(good["npz"], x=rng.normal(size=(5, 4)).astype(np.float32))
    good["csv"].write_text("a,b,c,d\n" + "\n".join(",".join(f"{v:.3f}" for v in row)
                                                   for row in rng.normal(size=(5, 4))) + "\n")
    status, out, _ = _run("predict", model_file, str(good["npz"]))
    assert status == 0 and len(json.loads(out)["labels"]) == 5
    failures = 0
    for i in range(150):
        suffix = ["npz", "csv"][i % 2]
        path = tmp_path / f"case{i}.{suffix}"
        path.write_bytes(_mutations(rng, good[suffix].read_bytes()))
        status, out, err = _run("predict", model_file, str(path))
        assert "Traceback" not in err and "Traceback" not in out, err
        if status == 0:
            answer = json.loads(out)
            assert all(math.isfinite(c) for c in answer.get("confidence", []))
        else:
            failures += 1
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and "lamina" in lines[0], err
    assert failures > 50
