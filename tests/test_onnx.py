"""lm.onnx.export: the exported graph runs in onnxruntime and matches lamina's forward pass."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import lamina as lm
from lamina import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5


def _run_onnx(path: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def _lamina(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with lm.no_grad():
        return model(lm.tensor(x)).numpy()


def _assert_matches(model: nn.Module, path: str, input_shape: tuple[int, ...], dtype=np.float32,
                    batches=(1, 7)) -> None:
    rng = np.random.default_rng(0)
    for batch in batches:
        x = rng.standard_normal((batch, *input_shape)).astype(dtype)
        got = _run_onnx(path, x)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, _lamina(model, x), rtol=TOL, atol=TOL)


def test_mlp_matches_lamina_for_batch_1_and_7(tmp_path):
    model = lm.models.mlp([20, 16, 12, 5], activation="tanh", dropout=0.2)
    path = lm.onnx.export(model, tmp_path / "mlp.onnx", input_shape=(20,))
    assert path == str(tmp_path / "mlp.onnx")
    _assert_matches(model, path, (20,))


@pytest.mark.parametrize("classic", [False, True], ids=["modern", "classic"])
def test_lenet5_matches_lamina(tmp_path, classic):
    model = lm.models.lenet5(classic=classic)
    path = lm.onnx.export(model, tmp_path / "lenet5.onnx", (1, 28, 28))
    _assert_matches(model, path, (1, 28, 28))


def test_classic_lenet5_bakes_the_c3_connection_mask(tmp_path):
    model = lm.models.lenet5(classic=True)
    c3 = model[4]
    c3.weight.data[...] = 1.0  # unconnected weights must not reach the graph
    path = lm.onnx.export(model, tmp_path / "lenet5.onnx", (1, 28, 28))
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    exported = weights["4.weight"]
    connected = exported[:, :, 0, 0] != 0
    assert connected.sum() == 60  # LeCun et al. 1998, Table I
    _assert_matches(model, path, (1, 28, 28))


def test_graph_contract_input_output_opset_and_checker(tmp_path):
    path = lm.onnx.export(lm.models.lenet5(), tmp_path / "m.onnx", (1, 28, 28))
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert out_dims[0].dim_param == "batch" and out_dims[1].dim_value == 10
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu",
                   "Gemm", "Relu", "Gemm"]
    assert sum(onnx.numpy_helper.to_array(t).size for t in proto.graph.initializer) == 61706


def test_every_supported_layer_matches(tmp_path):
    model = nn.Sequential(
        lm.nn.conv.Conv2d(2, 4, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        lm.nn.pooling.MaxPool2d(3, stride=1, padding=1), nn.Swish(),
        lm.nn.pooling.AvgPool2d(2, stride=1, padding=1), nn.ScaledTanh(),
        nn.Sequential(nn.Dropout(0.5), nn.Identity(), lm.nn.pooling.Subsampling(4)),
        nn.Linear(3, 6),  # on a 4-D input: MatMul + Add
        nn.Sigmoid(), nn.Flatten(2), nn.Tanh(), nn.Softmax(dim=1), nn.Flatten(), nn.ReLU(),
        nn.Linear(4 * 3 * 6, 3, bias=False), nn.LogSoftmax(dim=-1),
    )
    for p in model.parameters():
        p.data[...] = np.random.default_rng(1).standard_normal(p.shape) * 0.5
    path = lm.onnx.export(model, tmp_path / "zoo.onnx", (2, 9, 9))
    _assert_matches(model, path, (2, 9, 9))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"MatMul", "Add", "AveragePool", "Reshape", "LeakyRelu", "LogSoftmax"} <= ops
    assert "Dropout" not in ops


def test_flatten_over_the_batch_axis(tmp_path):
    model = nn.Sequential(nn.Linear(4, 5), nn.Flatten(0, -1))
    path = lm.onnx.export(model, tmp_path / "flat.onnx", (3, 4))
    _assert_matches(model, path, (3, 4))


def test_float64_model_exports_float64_weights(tmp_path):
    model = lm.models.mlp([6, 8, 3]).double()
    path = lm.onnx.export(model, tmp_path / "m64.onnx", (6,))
    proto = onnx.load(path)
    assert {t.data_type for t in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}
    _assert_matches(model, path, (6,), dtype=np.float64)


def test_export_keeps_training_mode_and_writes_atomically(tmp_path):
    model = lm.models.mlp([4, 3, 2], dropout=0.5).train()
    lm.onnx.export(model, tmp_path / "m.onnx", (4,))
    assert all(m.training for m in model.modules())
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary file left behind


def test_unsupported_layer_raises_type_error_naming_it(tmp_path):
    class Doubler(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Sequential(nn.Linear(4, 4), Doubler())
    with pytest.raises(TypeError, match=r"layer '1' \(Doubler\) has no ONNX converter"):
        lm.onnx.export(model, tmp_path / "m.onnx", (4,))
    assert not (tmp_path / "m.onnx").exists()


def test_subclass_overriding_forward_is_rejected(tmp_path):
    class Shifted(nn.ReLU):
        def forward(self, x):
            return x + 1

    with pytest.raises(TypeError, match="Shifted"):
        lm.onnx.export(nn.Sequential(Shifted()), tmp_path / "m.onnx", (3,))


@pytest.mark.parametrize("shape, error, message", [
    ((5,), ValueError, r"input_shape \(5,\) does not fit layer '0' \(Linear\)"),
    ((), ValueError, "one sample's shape"),
    (("a",), TypeError, "tuple of ints"),
    ((0,), ValueError, "positive sizes"),
])
def test_bad_input_shape(tmp_path, shape, error, message):
    with pytest.raises(error, match=message):
        lm.onnx.export(lm.models.mlp([4, 2]), tmp_path / "m.onnx", shape)


def test_export_cli_reads_the_input_shape_from_metadata(tmp_path, capsys):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    saved = tmp_path / "model.safetensors"
    lm.save(model, saved, metadata={"input_shape": [3, 4]})
    written = lm.onnx.export_cli(saved)
    assert written == str(tmp_path / "model.onnx")
    assert capsys.readouterr().out.strip() == written
    _assert_matches(model, written, (3, 4))


def test_export_cli_infers_the_shape_of_a_cnn_with_a_note(tmp_path, capsys):
    saved = tmp_path / "lenet.safetensors"
    model = lm.models.lenet5()
    lm.save(model, saved)
    out = tmp_path / "out" / "lenet.onnx"
    out.parent.mkdir()
    assert lm.onnx.export_cli(saved, output=out) == str(out)
    assert "assuming (1, 28, 28)" in capsys.readouterr().err
    _assert_matches(model, str(out), (1, 28, 28))


def test_export_cli_input_shape_option_and_format(tmp_path):
    saved = tmp_path / "mlp.safetensors"
    lm.save(lm.models.mlp([10, 4]), saved)
    written = lm.onnx.export_cli(saved, input_shape="10", output=tmp_path / "a.onnx")
    assert written.endswith("a.onnx")
    with pytest.raises(ValueError, match="--format must be 'onnx'"):
        lm.onnx.export_cli(saved, format="tflite")
    with pytest.raises(ValueError, match="--input-shape"):
        lm.onnx.export_cli(saved, input_shape="ten")


def test_import_lamina_does_not_import_onnx():
    code = ("import sys, lamina, lamina.onnx; "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
