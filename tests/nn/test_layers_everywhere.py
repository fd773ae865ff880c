"""The new layers work where the old ones do: lm.save / lm.load, to_torch_state_dict /
from_torch_state_dict, ONNX export (checked in onnxruntime) and ``lamina summary``."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.cli.summary import layer_rows


def _layers() -> list[nn.Module]:
    return [
        nn.BatchNorm1d(3), nn.BatchNorm2d(3, momentum=None, affine=False),
        nn.LayerNorm((3, 4)), nn.LayerNorm(4, bias=False), nn.GroupNorm(2, 4), nn.Dropout2d(0.3),
        nn.Dropout1d(0.2), nn.Embedding(5, 3, padding_idx=1), nn.RNN(3, 4, 2, nonlinearity="relu"),
        nn.LSTM(3, 4, bidirectional=True, batch_first=True), nn.GRU(3, 4, 2, dropout=0.2),
        nn.RNNCell(3, 4), nn.LSTMCell(3, 4, bias=False), nn.GRUCell(3, 4),
        nn.Conv1d(2, 4, 3, dilation=2), nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1),
        nn.Conv2d(4, 4, 3, groups=4, dilation=2), nn.AdaptiveAvgPool2d((2, None)),
        nn.AdaptiveMaxPool2d(3), nn.MaxPool1d(3), nn.AvgPool1d(2, 1),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.GELU("tanh"),
        nn.ELU(0.5), nn.SELU(), nn.CELU(2.0), nn.Softplus(2, 10), nn.Mish(), nn.Hardswish(),
        nn.Hardsigmoid(), nn.PReLU(3, 0.1), nn.LogSigmoid(), nn.Softsign(),
        nn.Threshold(0.1, 2.0), nn.BCELoss(), nn.HuberLoss(delta=0.5), nn.SmoothL1Loss(beta=0.2),
        nn.KLDivLoss("batchmean", True), nn.NLLLoss(ignore_index=3),
        nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1),
    ]


@pytest.mark.parametrize("layer", _layers(), ids=lambda m: type(m).__name__)
def test_save_and_load_rebuild_every_new_layer(tmp_path, layer):
    if any(True for _ in layer.parameters()):
        for p in layer.parameters():
            p.data = lm.tensor(np.random.default_rng(0).standard_normal(p.shape), dtype=p.dtype)
    for _, b in layer.named_buffers():
        if b.dtype.kind == "f":
            b._data[...] = np.random.default_rng(1).uniform(0.5, 1.5, b.shape)
    path = tmp_path / "layer.safetensors"
    lm.save(layer, path)
    loaded = lm.load(path)
    assert type(loaded) is type(layer) and repr(loaded) == repr(layer)
    assert list(loaded.state_dict()) == list(layer.state_dict())
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
        assert loaded.state_dict()[key].dtype == value.dtype


def test_torch_state_dict_round_trip_of_a_model_with_new_layers(torch, rng):
    ours = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.GELU(),
                         nn.Conv2d(6, 6, 3, groups=3, dilation=2), nn.GroupNorm(3, 6),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(6),
                         nn.Linear(6, 2)).double()
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.GELU(),
        torch.nn.Conv2d(6, 6, 3, groups=3, dilation=2), torch.nn.GroupNorm(3, 6),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.LayerNorm(6),
        torch.nn.Linear(6, 2)).double()
    x = rng.standard_normal((4, 3, 9, 9))
    ours(lm.tensor(x))  # a training step moves the running statistics
    theirs.load_state_dict(lm.io.to_torch_state_dict(ours))
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(lm.tensor(x)).numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-10)
    theirs.train()
    theirs(torch.from_numpy(x))
    lm.io.from_torch_state_dict(ours, theirs.state_dict())
    assert int(ours[1].num_batches_tracked.item()) == 2
    np.testing.assert_array_equal(ours[1].running_var.numpy(),
                                  theirs[1].running_var.detach().numpy())


def test_summary_shows_shapes_of_new_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dilation=1), nn.BatchNorm2d(4), nn.GELU(),
                          nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
                          nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.LayerNorm(8))
    rows = layer_rows(model, (1, 6, 6))
    shapes = [r.output_shape for r in rows]
    assert shapes == [(4, 6, 6), (4, 6, 6), (4, 6, 6), (2, 12, 12), (2, 2, 2), (8,), (8,)]
    assert rows[1].parameters == 8 and rows[3].parameters == 4 * 2 * 9 + 2
    assert rows[3].arithmetic == "(6 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 12"


onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _onnx_matches(model, input_shape, tmp_path, batches=(1, 5), dtype=np.float32):
    path = str(tmp_path / "model.onnx")
    model = model.to(dtype)
    lm.onnx.export(model, path, input_shape)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    model.eval()
    rng = np.random.default_rng(3)
    for batch in batches:
        x = rng.standard_normal((batch, *input_shape)).astype(dtype)
        got = session.run(["logits"], {"input": x})[0]
        with lm.no_grad():
            out = model(lm.tensor(x))
        expected = (out[0] if isinstance(out, tuple) else out).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_onnx_batchnorm_cnn_matches_lamina(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, groups=2, dilation=2),
                          nn.BatchNorm2d(8, affine=False), nn.GELU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.BatchNorm1d(8), nn.Linear(8, 3))
    for _ in range(3):  # move the running statistics away from 0 and 1
        model(lm.randn(6, 3, 10, 10) * 2 + 1)
    _onnx_matches(model, (3, 10, 10), tmp_path)


@pytest.mark.parametrize("kwargs", [{}, {"num_layers": 2, "bidirectional": True},
                                    {"batch_first": True, "num_layers": 2}])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_onnx_recurrent_layers_match_lamina(tmp_path, cls, kwargs):
    _onnx_matches(getattr(nn, cls)(3, 5, **kwargs), (6, 3), tmp_path, batches=(2, 4))


@pytest.mark.parametrize("layer", [
    nn.LayerNorm(6), nn.GroupNorm(2, 4), nn.Conv1d(4, 6, 3, padding=1, dilation=2),
    nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1), nn.MaxPool1d(2),
    nn.AvgPool1d(3, 1, 1), nn.AdaptiveAvgPool2d((2, 4)), nn.AdaptiveMaxPool2d(3),
    nn.AdaptiveMaxPool2d(1), nn.Upsample(scale_factor=2),
    nn.Upsample(size=(5, 9), mode="bilinear", align_corners=True), nn.GELU(),
    nn.GELU("tanh"), nn.ELU(0.5), nn.SELU(), nn.CELU(1.5), nn.Softplus(), nn.Softplus(2, 1),
    nn.Mish(), nn.Hardswish(), nn.Hardsigmoid(), nn.PReLU(), nn.PReLU(4), nn.LogSigmoid(),
    nn.Softsign(), nn.Threshold(0.2, -1.0), nn.Dropout2d(),
], ids=lambda m: repr(m))
def test_onnx_other_new_layers_match_lamina(tmp_path, layer):
    shape = {"LayerNorm": (3, 6), "Conv1d": (4, 7), "MaxPool1d": (4, 7), "AvgPool1d": (4, 7)}.get(
        type(layer).__name__, (4, 6, 6))
    with lm.no_grad():
        for p in layer.parameters():
            p._data[...] = np.random.default_rng(0).uniform(0.5, 1.5, p.shape)
    _onnx_matches(nn.Sequential(layer), shape, tmp_path)


def test_onnx_rejects_a_recurrent_layer_before_another_layer(tmp_path):
    with pytest.raises((TypeError, ValueError), match="tuple"):
        lm.onnx.export(nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2)), tmp_path / "m.onnx", (5, 3))


def test_summary_shows_one_dimensional_window_arithmetic():
    model = nn.Sequential(nn.Conv1d(2, 4, 3, stride=2, padding=1), nn.MaxPool1d(2),
                          nn.Flatten(), nn.Linear(24, 2))
    rows = layer_rows(model, (2, 23))
    assert [r.output_shape for r in rows] == [(4, 12), (4, 6), (24,), (2,)]
    assert rows[0].arithmetic == "floor((23 + 2*1 - 3)/2) + 1 = 12"
    assert rows[1].arithmetic == "floor((12 + 2*0 - 2)/2) + 1 = 6"
