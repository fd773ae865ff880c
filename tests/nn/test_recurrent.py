"""RNN, LSTM, GRU and their cells against PyTorch in float64 (outputs, final states, input,
state and parameter gradients through time), and 20 training steps of an LSTM in both."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina as lm
from lamina import nn

OPTIONS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"bias": False},
    {"batch_first": True},
]


def _states(rng, cls, layers, batch, hidden, unbatched=False):
    shape = (layers, hidden) if unbatched else (layers, batch, hidden)
    if cls == "LSTM":
        return (rng.standard_normal(shape), rng.standard_normal(shape))
    return rng.standard_normal(shape)


@pytest.mark.parametrize("kwargs", OPTIONS)
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("with_state", [False, True])
def test_recurrent_layer_matches_torch(layer_parity, torch, rng, cls, kwargs, with_state):
    ours, theirs = getattr(nn, cls)(3, 4, **kwargs), getattr(torch.nn, cls)(3, 4, **kwargs)
    t_len, batch = 5, 2
    shape = (batch, t_len, 3) if kwargs.get("batch_first") else (t_len, batch, 3)
    inputs = [rng.standard_normal(shape)]
    if with_state:
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        inputs.append(_states(rng, cls, layers, batch, 4))
    layer_parity(ours, theirs, *inputs)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_and_relu_rnn(layer_parity, torch, rng, cls):
    kwargs = {"nonlinearity": "relu"} if cls == "RNN" else {}
    ours, theirs = getattr(nn, cls)(3, 4, **kwargs), getattr(torch.nn, cls)(3, 4, **kwargs)
    layer_parity(ours, theirs, rng.standard_normal((6, 3)), _states(rng, cls, 1, 1, 4, True))


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers_in_eval_and_train(layer_parity, torch, rng, cls):
    ours, theirs = getattr(nn, cls)(3, 4, 2, dropout=0.5), getattr(torch.nn, cls)(3, 4, 2,
                                                                             dropout=0.5)
    x = rng.standard_normal((4, 2, 3))
    layer_parity(ours, theirs, x, train=False)  # eval: no dropout, equal to torch
    ours.train()
    first = ours(lm.tensor(x))[0].numpy()
    second = ours(lm.tensor(x))[0].numpy()
    assert not np.allclose(first, second)  # train: a fresh dropout mask per call
    assert np.allclose(ours.eval()(lm.tensor(x))[0].numpy(), ours(lm.tensor(x))[0].numpy())


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(layer_parity, torch, rng, cls, bias):
    ours, theirs = getattr(nn, cls)(3, 5, bias=bias), getattr(torch.nn, cls)(3, 5, bias=bias)
    state = ((rng.standard_normal((4, 5)), rng.standard_normal((4, 5))) if cls == "LSTMCell"
             else rng.standard_normal((4, 5)))
    layer_parity(ours, theirs, rng.standard_normal((4, 3)), state)
    layer_parity(ours, theirs, rng.standard_normal((4, 3)))  # zero initial state
    layer_parity(ours, theirs, rng.standard_normal(3))  # unbatched


def test_names_shapes_and_init_follow_torch(torch):
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    bound = 1 / math.sqrt(4)
    values = np.concatenate([p.numpy().ravel() for p in ours.parameters()])
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound
    assert repr(ours) == repr(theirs)
    assert repr(nn.GRU(3, 4, batch_first=True, dropout=0.5)) == repr(
        torch.nn.GRU(3, 4, batch_first=True, dropout=0.5))


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="input_size=3"):
        nn.LSTM(3, 4)(lm.zeros(5, 2, 2))
    with pytest.raises(ValueError, match="h_0"):
        nn.LSTM(3, 4)(lm.zeros(5, 2, 3), (lm.zeros(1, 3, 4), lm.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match="tuple"):
        nn.LSTM(3, 4)(lm.zeros(5, 2, 3), lm.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


def test_lstm_training_losses_equal_torch_for_20_steps(torch):
    """Same initial weights, same data, SGD with momentum: the 20 losses agree to 1e-8."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((12, 8, 3))  # (T, B, I)
    y = rng.standard_normal((8, 2))

    class Ours(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 6, num_layers=2)
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[-1])

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 6, num_layers=2)
            self.head = torch.nn.Linear(6, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[-1])

    theirs = Theirs().double()
    ours = Ours().double()
    lm.io.from_torch_state_dict(ours, theirs.state_dict())
    opt_l = lm.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    losses_l, losses_t = [], []
    for _ in range(20):
        opt_l.zero_grad()
        loss = nn.MSELoss()(ours(lm.tensor(x)), lm.tensor(y))
        loss.backward()
        opt_l.step()
        losses_l.append(loss.item())
        opt_t.zero_grad()
        loss_t = torch.nn.MSELoss()(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        loss_t.backward()
        opt_t.step()
        losses_t.append(loss_t.item())
    np.testing.assert_allclose(losses_l, losses_t, rtol=1e-8)
    assert losses_l[-1] < losses_l[0]


@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch_and_padding_row_gets_no_gradient(layer_parity, torch, rng,
                                                                  padding_idx):
    ours = nn.Embedding(7, 3, padding_idx=padding_idx)
    theirs = torch.nn.Embedding(7, 3, padding_idx=padding_idx)
    idx = np.array([[0, 2, 6, 2], [6, 6, 1, 0]])
    layer_parity(ours, theirs, idx)
    if padding_idx is not None:
        assert not np.any(ours.weight.grad.numpy()[padding_idx])
        assert not np.any(nn.Embedding(7, 3, padding_idx=padding_idx).weight.numpy()[padding_idx])


def test_embedding_errors_and_from_pretrained():
    with pytest.raises(IndexError, match="out of range"):
        nn.Embedding(4, 2)(np.array([4]))
    with pytest.raises(TypeError, match="integers"):
        nn.Embedding(4, 2)(np.array([1.0]))
    table = np.arange(6.0).reshape(3, 2)
    layer = nn.Embedding.from_pretrained(table)
    assert not layer.weight.requires_grad
    np.testing.assert_array_equal(layer(np.array([2])).numpy(), [[4.0, 5.0]])


@pytest.mark.parametrize("kwargs", OPTIONS)
def test_lstm_matches_torch_on_both_kernel_paths(layer_parity, torch, rng, backend, kwargs):
    """lstm_sequence's NumPy steps and its compiled ones (``backend``), every layer option,
    with initial states."""
    ours, theirs = nn.LSTM(3, 4, **kwargs), torch.nn.LSTM(3, 4, **kwargs)
    shape = (2, 6, 3) if kwargs.get("batch_first") else (6, 2, 3)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    layer_parity(ours, theirs, rng.standard_normal(shape), _states(rng, "LSTM", layers, 2, 4))


def test_lstm_float32_training_step_is_close_to_torch(torch, backend):
    """float32 (the fast paths' dtype) through a batch-first LSTM and a head, gradients
    against torch's within float32 rounding."""
    rng = np.random.default_rng(4)
    ours, theirs = nn.LSTM(5, 8, batch_first=True), torch.nn.LSTM(5, 8, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    out, (h, c) = ours(lm.tensor(x))
    (out[:, -1].sum() + 0.5 * c.sum()).backward()
    t_out, (t_h, t_c) = theirs(torch.from_numpy(x))
    (t_out[:, -1].sum() + 0.5 * t_c.sum()).backward()
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(),
                                   rtol=1e-4, atol=1e-5, err_msg=name)
