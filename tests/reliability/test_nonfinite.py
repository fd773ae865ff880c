"""Non-finite values: ``fit`` stops at the first NaN/inf batch loss with NonFiniteLossError
naming epoch and batch (before that batch's step), and ``lm.autograd.detect_anomaly`` names
the op whose backward produced NaN/inf and the op whose forward output first was non-finite."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim
from lamina.train import NonFiniteLossError


def data(nan_at: int | None = None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    if nan_at is not None:
        x.flat[nan_at] = np.nan
    return x, rng.integers(0, 3, 64)


def model():
    lm.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def test_huge_learning_rate_stops_with_epoch_and_batch():
    net = model()
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        lm.fit(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=1e10), data(),
               epochs=5, batch_size=8, shuffle=False)
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert (err.epoch, err.batch) == (0, 3) and not np.isfinite(err.loss)
    assert str(err).startswith(f"fit: the loss is {err.loss} at epoch 0, batch 3 (0-based")
    assert "the training diverged: lower the learning rate" in str(err)
    # stopped before the bad batch's step: the parameters are still finite
    assert all(np.isfinite(p.numpy()).all() for p in net.parameters())


def test_one_nan_cell_stops_at_its_batch():
    net = model()
    x, y = data(nan_at=4 * 20 + 1)  # row 20: batch 2 of size 8
    with pytest.raises(NonFiniteLossError, match=r"at epoch 0, batch 2 .* the batch's inputs "
                                                 r"hold NaN or infinite values"):
        lm.fit(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01), (x, y),
               epochs=2, batch_size=8, shuffle=False)
    assert all(np.isfinite(p.numpy()).all() for p in net.parameters())


def test_the_flag_turns_the_stop_off():
    net = model()
    x, y = data(nan_at=5)
    with np.errstate(all="ignore"):
        history = lm.fit(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01),
                         (x, y), epochs=1, batch_size=8, shuffle=False, stop_on_nonfinite=False)
    assert np.isnan(history.history["loss"][0])


def test_finite_training_is_unaffected():
    net = model()
    history = lm.fit(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.01), data(),
                     epochs=2, batch_size=8)
    assert np.isfinite(history.history["loss"]).all()


def test_detect_anomaly_names_the_backward_op():
    x = lm.tensor([0.0, 1.0], requires_grad=True)
    with lm.autograd.detect_anomaly(), np.errstate(all="ignore"):
        assert lm.autograd.is_anomaly_enabled()
        loss = x.sqrt().sum()
        with pytest.raises(RuntimeError, match=r"(?s)^Function 'sqrt' returned inf values in its "
                                               r"0th output during backward .*shape \(2,\)\)\.\n"
                                               r"The forward call of that op was:\n.*"
                                               r"test_nonfinite.py"):
            loss.backward()
    assert not lm.autograd.is_anomaly_enabled()
    with np.errstate(all="ignore"):
        x.sqrt().sum().backward()  # outside: no check (as PyTorch)
    assert np.isinf(x.grad.numpy()[0])


def test_detect_anomaly_names_the_first_non_finite_forward_op():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    x = lm.tensor([-1.0, 1.0])
    with lm.autograd.detect_anomaly(), np.errstate(all="ignore"):
        loss = (x.log() * w).sum()  # log(-1) = nan in the forward pass
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    message = str(info.value)
    assert message.startswith("Function 'mul' returned nan values in its 1th output")
    assert "The first non-finite value of the forward pass (nan) came from op 'log'" in message


def test_detect_anomaly_passes_finite_graphs_and_is_a_decorator():
    @lm.autograd.detect_anomaly()
    def step():
        lm.manual_seed(0)
        net = model()
        loss = nn.CrossEntropyLoss()(net(lm.randn(4, 4)), np.array([0, 1, 2, 0]))
        loss.backward()
        return net

    net = step()
    assert all(np.isfinite(p.grad.numpy()).all() for p in net.parameters())
    with lm.autograd.set_detect_anomaly(False):
        assert not lm.autograd.is_anomaly_enabled()


def test_lamina_train_exits_2_and_writes_no_model_when_the_loss_diverges(tmp_path, capsys):
    from lamina.cli import main

    rng = np.random.default_rng(0)
    x = ", ".join(f"[{a:.3f}, {b:.3f}]" for a, b in rng.normal(size=(40, 2)))
    y = ", ".join(str(v) for v in rng.integers(0, 2, 40))
    config = tmp_path / "diverges.toml"
    config.write_text(f'[data]\nsource = "inline"\nx = [{x}]\ny = [{y}]\n\n[model]\n'
                      f'name = "mlp"\nhidden = [8]\n\n[optimizer]\nname = "sgd"\nlr = 1e30\n\n'
                      f'[train]\nepochs = 3\nbatch_size = 8\n')
    with np.errstate(all="ignore"):
        code = main(["train", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("lamina: error: ") and err.count("\n") == 1
    assert "fit: the loss is nan at epoch 0, batch" in err
    assert not (tmp_path / "out" / "model.safetensors").exists()
