"""lamina.codec: the one JSON encoding of values and arrays in every file lamina writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lamina as lm
from lamina.codec import decode, encode
from lamina.preprocessing import LabelEncoder, StandardScaler


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and a.tolist() == b.tolist() or (a.dtype.kind == "f" and np.array_equal(
                    a, b, equal_nan=True)))
    if isinstance(a, np.generic):
        return type(a) is type(b) and (a == b or (a != a and b != b))
    if isinstance(a, float):
        return isinstance(b, float) and (a == b or (a != a and b != b))
    if isinstance(a, dict):
        return type(a) is type(b) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


VALUES = [
    None, True, 3, -2.5, float("nan"), float("-inf"), "text", [1, [2, (3, 4)]],
    {"a": 1, "b": {"c": None}}, {1: "int key", (2, 3): "tuple key"}, {"__tensor__": "a user key"},
    {"ndarray": "a user key"}, {"float": "nan"},
    np.arange(6, dtype=np.int32).reshape(2, 3), np.array([1.5, np.nan, np.inf]),
    np.array(["cat", "dog"]), np.array(["a", None, 2.5], dtype=object),
    np.float32(0.25), np.int64(-7), np.dtype("float16"), np.zeros((0, 3)),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_inline_round_trip_through_strict_json(value):
    text = json.dumps(encode(value), allow_nan=False)
    assert _same(decode(json.loads(text)), value)


def test_arrays_go_to_the_tensor_table_when_given():
    tensors: dict = {}
    value = {"w": np.ones((2, 2), np.float32), "t": lm.tensor([1.0], requires_grad=True),
             "names": np.array(["x"])}
    encoded = encode(value, tensors, "p")
    assert sorted(tensors) == ["p.t", "p.w"] and "ndarray" in encoded["names"]
    used: set = set()
    back = decode(json.loads(json.dumps(encoded, allow_nan=False)), tensors, used)
    assert used == {"p.t", "p.w"} and isinstance(back["t"], lm.Tensor) and back["t"].requires_grad
    assert np.array_equal(back["w"], value["w"]) and back["names"].tolist() == ["x"]


def test_a_model_file_holds_one_array_encoding(tmp_path):
    """Preprocessing state, metadata and layer arguments all use lamina.codec's form."""
    model = lm.models.mlp([3, 2])
    scaler = StandardScaler().fit(np.arange(6.0).reshape(2, 3))
    labels = LabelEncoder().fit(["b", "a"])
    lm.save(model, tmp_path / "m", preprocessing={"x": scaler, "y": labels},
            metadata={"mean": np.array([0.5, np.nan])})
    raw = lm.io.read_file(tmp_path / "m")
    text = " ".join(raw.metadata.values())
    assert "__ndarray__" not in text and "__scalar__" not in text and "NaN" not in text
    assert text.count('"ndarray"') >= 3
    assert json.loads(raw.metadata["preprocessing"])["items"]["x"]["config"] == scaler.to_config()
    bundle = lm.io.load_bundle(tmp_path / "m")
    assert np.array_equal(bundle.metadata["mean"], np.array([0.5, np.nan]), equal_nan=True)
    assert bundle.preprocessing["y"].inverse_transform([1]).tolist() == ["b"]


@pytest.mark.parametrize("bad, message", [
    ({"__class__": "os.system"}, "unknown tag"),
    ({"ndarray": {"dtype": "V8", "shape": [1], "data": [1]}}, "unsupported dtype"),
    ({"ndarray": {"dtype": "int8", "shape": [1], "data": [300]}}, "do not fit"),
    ({"ndarray": {"dtype": "float64", "shape": [3], "data": [1.0]}}, "flat list of 3"),
    ({"float": "evil"}, "unexpected value"),
    ({"__tensor__": "w"}, "does not hold"),
    ({"__dict__": [[[1], 2]]}, "dict key"),
])
def test_malformed_json_is_a_value_error(bad, message):
    with pytest.raises(ValueError, match=f"here: .*{message}"):
        decode(bad, where="here")


def test_deep_nesting_is_refused():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper than 64"):
        decode(deep, where="here")


def test_values_without_an_encoding_are_type_errors():
    for value in (object(), {1, 2}, np.ones(2, np.complex64), print):
        with pytest.raises(TypeError, match="cannot store"):
            encode(value, where="here")
