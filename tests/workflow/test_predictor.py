"""The one inference path: ``lamina predict``, ``lamina evaluate``, ``lamina serve`` and the Python
API give the same probabilities, for models ending in Linear, Softmax, LogSoftmax and Sigmoid."""

from __future__ import annotations

import doctest
import json
import threading
import warnings

import numpy as np
import pytest

import lamina as lm
import lamina.workflow.predictor
from lamina import nn
from lamina.cli import main
from lamina.workflow.predictor import (
    Predictor,
    check_finite_weights,
    output_kind,
    predict_proba,
    probabilities,
)

torch = pytest.importorskip("torch")

# name -> (layers after Linear(2, outputs), outputs, kind)
HEADS = {
    "linear": ([], 3, "logits"),
    "softmax": ([nn.Softmax(dim=1)], 3, "probabilities"),
    "log_softmax": ([nn.LogSoftmax(dim=1)], 3, "log_probabilities"),
    "sigmoid": ([nn.Sigmoid()], 3, "sigmoid"),
    "linear_one": ([], 1, "logits"),
    "sigmoid_one": ([nn.Sigmoid()], 1, "sigmoid"),
    "log_softmax_one": ([nn.LogSoftmax(dim=1)], 1, "log_probabilities"),
}


def _model(name: str) -> nn.Module:
    head, outputs, _ = HEADS[name]
    lm.manual_seed(7)
    model = nn.Sequential(nn.Linear(2, outputs), *head)
    for p in model.parameters():  # larger weights: outputs spread out, labels differ
        p.data *= 4
    return model


def _inputs() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 1, (12, 2)).astype(np.float32)


def _expected(name: str, x: np.ndarray) -> np.ndarray:
    """What each head's probabilities must be, computed with torch from the Linear layer."""
    model = _model(name)
    linear = model[0]
    z = torch.tensor(x, dtype=torch.float64) @ torch.tensor(
        linear.weight.numpy(), dtype=torch.float64).T + torch.tensor(
        linear.bias.numpy(), dtype=torch.float64)
    head, outputs, kind = HEADS[name]
    if outputs == 1:
        if kind == "log_probabilities":  # log-softmax of one output is log 1: p = 1
            p1 = torch.exp(torch.log_softmax(z, dim=1))[:, 0]
        else:
            p1 = torch.sigmoid(z[:, 0])
        return torch.stack([1 - p1, p1], dim=1).numpy()
    if kind == "sigmoid":
        return torch.sigmoid(z).numpy()
    return torch.softmax(z, dim=1).numpy()


def test_doctests():
    assert doctest.testmod(lamina.workflow.predictor).failed == 0


@pytest.mark.parametrize("name", sorted(HEADS))
def test_python_api_maps_each_head_as_documented(name):
    x = _inputs()
    model = _model(name)
    assert output_kind(model) == HEADS[name][2]
    p = predict_proba(model, x)
    np.testing.assert_allclose(p, _expected(name, x), rtol=1e-5, atol=1e-6)
    assert np.array_equal(p, Predictor(model).predict_proba(x))
    assert np.array_equal(lm.predict_proba(model, x), p)
    assert np.array_equal(Predictor(model).predict(x), p.argmax(axis=1))


@pytest.mark.parametrize("name", sorted(HEADS))
def test_predict_evaluate_serve_and_api_agree(name, tmp_path, capsys):
    from fastapi.testclient import TestClient

    from lamina.serve import create_app

    x = _inputs()
    model = _model(name)
    path = tmp_path / "model.safetensors"
    lm.save(model, path)
    api = predict_proba(model, x)
    labels = api.argmax(axis=1)

    data = tmp_path / "data.npz"
    np.savez(data, x=x, y=labels)
    assert main(["predict", str(path), str(data), "--proba"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["labels"] == labels.tolist()
    assert np.array_equal(np.array(printed["probabilities"]), np.round(api, 6))

    assert main(["evaluate", str(path), str(data), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metrics"]["accuracy"] == 1.0
    n = api.shape[1]
    expected = np.zeros((n, n), dtype=int)
    np.add.at(expected, (labels, labels), 1)
    assert report["confusion_matrix"] == expected.tolist()

    with TestClient(create_app(path)) as client:
        answer = client.post("/predict", json={"inputs": x.tolist()}).json()
    assert answer["labels"] == labels.tolist()
    assert np.array_equal(np.array(answer["probabilities"]), api)


def test_issue_example_softmax_model_gives_one_answer(tmp_path, capsys):
    """Sequential(Linear(2, 3), Softmax(dim=1)): predict applied a second softmax before."""
    from fastapi.testclient import TestClient

    from lamina.serve import create_app

    lm.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1))
    x = np.array([[0.5, -1.0]], dtype=np.float32)
    path = tmp_path / "m.safetensors"
    lm.save(model, path)
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["predict", str(path), str(tmp_path / "x.npz"), "--proba"]) == 0
    cli = json.loads(capsys.readouterr().out)["probabilities"]
    with TestClient(create_app(path)) as client:
        served = client.post("/predict", json={"inputs": x.tolist()}).json()["probabilities"]
    with lm.no_grad():
        direct = model(lm.tensor(x)).numpy()
    np.testing.assert_allclose(served, direct, rtol=1e-6)
    np.testing.assert_allclose(cli, direct, atol=1e-6)


def test_probabilities_of_extreme_logits_are_exact_and_quiet():
    z = np.array([[-1000.0], [0.0], [1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = probabilities(z, "logits")
        q = probabilities(np.array([[1000.0, 0.0, -1000.0]]), "logits")
    assert p.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert q.tolist() == [[1.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="kind must be one of"):
        probabilities(z, "softmax")


def test_predictor_runs_in_eval_mode_without_a_graph_and_restores_the_mode():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((self.training, lm.is_grad_enabled()))
            return x

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), Probe())
    model.train()
    Predictor(model).predict_proba(_inputs())
    assert seen == [(False, False)]
    assert model.training and lm.is_grad_enabled()
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        Predictor(model, batch_size=0)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_eval_only_predictor_gives_the_same_probabilities(name):
    model = _model(name).eval()
    x = _inputs().astype(np.float64)  # cast to the model's float32 by both paths
    expected = Predictor(model).predict_proba(x)
    for batch_size in (256, 5):  # one forward pass, and three (5 + 5 + 2 samples)
        fast = Predictor(model, batch_size=batch_size, eval_only=True)
        assert np.array_equal(fast.predict_proba(x), expected)
        assert np.array_equal(fast.predict_proba(lm.tensor(x)), expected)
    assert not model.training and lm.is_grad_enabled()


def test_eval_only_predictor_runs_without_a_graph_and_refuses_a_training_model():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((self.training, lm.is_grad_enabled(), x.requires_grad))
            return x

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), Probe())
    with pytest.raises(ValueError, match=r"eval_only needs a model in eval mode; 4 of its "
                                         r"modules are in training mode \(the model, 0, 1, "
                                         r"\.\.\.\): call model.eval\(\) first"):
        Predictor(model, eval_only=True)
    model.eval()
    model[1].train()
    with pytest.raises(ValueError, match=r"1 of its modules are in training mode \(1\)"):
        Predictor(model, eval_only=True)
    model.eval()
    predictor = Predictor(model, eval_only=True)
    predictor.predict_proba(_inputs())
    assert seen == [(False, False, False)]
    with pytest.raises(ValueError, match="predict: x has no samples"):
        predictor.predict_proba(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="0-d scalar"):
        predictor.predict_proba(np.float32(1.0))


def test_predictor_is_safe_across_threads():
    model = _model("linear")
    predictor = Predictor(model, batch_size=4)
    x = _inputs()
    expected = predictor.predict_proba(x)
    results = []

    def work():
        results.append(predictor.predict_proba(x))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, expected) for r in results) and len(results) == 4


def test_check_finite_weights_names_the_tensor():
    model = _model("linear")
    check_finite_weights(model, "here")
    model[0].bias.data[1] = np.nan
    with pytest.raises(ValueError, match=r"here: the model's 0.bias holds 1 NaN or infinite "
                                         r"value \(of 3\)"):
        check_finite_weights(model, "here")
