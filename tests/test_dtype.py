"""A float32 model stays float32: outputs, losses, gradients, optimizer state and parameters.

NumPy promotes silently (float32 * np.float64 scalar is float64, float32 @ float64 is float64),
and one upcast anywhere makes every later array float64: twice the memory traffic and a slower
GEMM. These tests train a few steps and check the dtype of everything a step produces.
"""

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim

OPTIMIZERS = [
    (optim.SGD, dict(lr=0.01)),
    (optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    (optim.Adagrad, dict(lr=0.01, lr_decay=1e-3, weight_decay=1e-4)),
    (optim.RMSprop, dict(lr=0.001, momentum=0.5, centered=True, weight_decay=1e-4)),
    (optim.Adam, dict(lr=0.001)),
    (optim.Adam, dict(lr=0.001, amsgrad=True, weight_decay=1e-4, maximize=True)),
    (optim.AdamW, dict(lr=0.001, weight_decay=0.01)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(OPTIMIZERS)]


def as_numpy_scalars(options: dict) -> dict:
    """The same options as NumPy float64 scalars (as a tuner or a config file may give them)."""
    return {k: np.float64(v) if isinstance(v, float) else v for k, v in options.items()}


def batch(shape, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, shape[0])


def check_graph_float32(root) -> None:
    """Assert that every node of ``root``'s graph holds float32 and make each node's backward
    assert that it returns float32 gradients (an upcast there would otherwise be hidden: leaf
    gradients are cast to the parameter's dtype when accumulated)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node._backward is None:
            continue
        seen.add(id(node))
        assert node.dtype == np.float32, node
        inner = node._backward

        def checked(grad, need, inner=inner):
            grads = inner(grad, need)
            for g in grads:
                assert g is None or np.asarray(g).dtype == np.float32, np.asarray(g).dtype
            return grads

        node._backward = checked
        stack.extend(p for p in node._parents if p is not None)


def assert_float32_step(model, opt, x, y, loss_fn) -> None:
    """One training step, checking the dtype of everything along the way."""
    opt.zero_grad()
    out = model(lm.tensor(x))
    assert out.dtype == np.float32
    loss = loss_fn(out, lm.tensor(y))
    assert loss.dtype == np.float32
    check_graph_float32(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, name
    opt.step()
    for name, p in model.named_parameters():
        assert p.dtype == np.float32, name
        for key, value in opt.state[p].items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, (name, key)


@pytest.mark.parametrize("numpy_options", [False, True], ids=["python", "numpy-scalars"])
@pytest.mark.parametrize(("cls", "options"), OPTIMIZERS, ids=IDS)
def test_mlp_stays_float32(cls, options, numpy_options):
    lm.manual_seed(0)
    model = lm.models.mlp([20, 16, 16, 10], dropout=0.1)
    opt = cls(model.parameters(), **(as_numpy_scalars(options) if numpy_options else options))
    x, y = batch((8, 20))
    for _ in range(3):
        assert_float32_step(model, opt, x, y, nn.CrossEntropyLoss())
    for state in opt.state_dict()["state"].values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))
    with lm.no_grad():
        assert model.eval()(lm.tensor(x)).dtype == np.float32


@pytest.mark.parametrize("classic", [False, True], ids=["modern", "classic"])
@pytest.mark.parametrize(("cls", "options"), OPTIMIZERS, ids=IDS)
def test_lenet5_stays_float32(cls, options, classic):
    lm.manual_seed(0)
    model = lm.models.lenet5(classic=classic)
    opt = cls(model.parameters(), **as_numpy_scalars(options))
    x, y = batch((2, 1, 28, 28))
    for _ in range(2):
        assert_float32_step(model, opt, x, y, nn.CrossEntropyLoss())


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "swish"])
def test_every_mlp_activation_stays_float32(activation):
    lm.manual_seed(0)
    model = lm.models.mlp([6, 5, 3], activation=activation)
    x, y = batch((4, 6))
    assert_float32_step(model, optim.Adam(model.parameters()), x, y % 3, nn.CrossEntropyLoss())


LOSSES = {
    "cross_entropy_indices": lambda z, t: nn.CrossEntropyLoss()(z, t),
    "cross_entropy_weighted_smoothed": lambda z, t: nn.CrossEntropyLoss(
        weight=np.linspace(0.5, 1.5, 10), label_smoothing=np.float64(0.1))(z, t),
    "cross_entropy_probabilities": lambda z, t: nn.CrossEntropyLoss()(
        z, np.eye(10)[t.data]),
    "nll": lambda z, t: nn.NLLLoss(weight=np.ones(10))(z.log_softmax(dim=1), t),
    "mse": lambda z, t: nn.MSELoss()(z, np.eye(10)[t.data]),
    "l1": lambda z, t: nn.L1Loss(reduction="sum")(z, np.eye(10)[t.data]),
    "bce": lambda z, t: nn.BCEWithLogitsLoss(pos_weight=np.full(10, 2.0))(
        z, np.eye(10)[t.data]),
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_stays_float32_with_float64_targets_and_weights(loss):
    lm.manual_seed(0)
    model = lm.models.mlp([6, 8, 10])
    x, y = batch((4, 6))
    assert_float32_step(model, optim.SGD(model.parameters(), lr=0.1), x, y, LOSSES[loss])


def test_functional_hyperparameters_as_numpy_float64_keep_float32():
    x = lm.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    F = lm.functional
    outputs = [F.leaky_relu(x, np.float64(0.2)), F.scaled_tanh(x, np.float64(1.7), np.float64(0.6)),
               F.dropout(x, np.float64(0.5)), x * np.float64(3.0), x + np.float64(1.0),
               x.clamp(np.float64(-1.0), np.float64(1.0)), x ** np.float64(2.0)]
    for out in outputs:
        assert out.dtype == np.float32
        loss = out.sum()
        check_graph_float32(loss)
        loss.backward()
        assert x.grad.dtype == np.float32


def test_float64_model_stays_float64():
    lm.manual_seed(0)
    model = lm.models.mlp([6, 5, 3]).double()
    opt = optim.Adam(model.parameters())
    x, y = batch((4, 6))
    opt.zero_grad()
    model(lm.tensor(x.astype(np.float64))).sum().backward()
    opt.step()
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64
               for p in model.parameters())
    assert all(v.dtype == np.float64 for s in opt.state.values() for v in s.values()
               if isinstance(v, np.ndarray))
