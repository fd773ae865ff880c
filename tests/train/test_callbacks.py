"""EarlyStopping, ModelCheckpoint, CSVLogger, ProgressBar, LearningRateScheduler, TerminateOnNaN."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest

import lamina as lm
import lamina.io
from lamina import nn
from lamina.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
    fit,
)


def _weights(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _small_problem(rng, n=40):
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def _tiny_model():
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))


class WeightsPerEpoch(Callback):
    """Copies the weights at every epoch end (before EarlyStopping in the list)."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs):
        self.weights.append(_weights(self.model))


def test_early_stopping_on_an_overfitting_run_restores_the_best_epoch(rng):
    # 30 noisy training samples (a third of the labels flipped) and a wide MLP: the
    # validation loss bottoms out within a few epochs and then climbs as the net memorises.
    x = rng.normal(size=(230, 10)).astype(np.float32)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64)
    y_noisy = y.copy()
    y_noisy[:10] = 1 - y_noisy[:10]
    model = nn.Sequential(nn.Linear(10, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 2))
    opt = lm.optim.Adam(model.parameters(), lr=0.01)
    capture = WeightsPerEpoch()
    stopper = EarlyStopping(monitor="val_loss", patience=5)
    history = fit(model, nn.CrossEntropyLoss(), opt, (x[:30], y_noisy[:30]),
                  val=(x[30:], y[30:]), epochs=300, batch_size=10,
                  callbacks=[capture, stopper])
    val_loss = history.history["val_loss"]
    epochs_run = len(val_loss)
    assert epochs_run < 300 and stopper.stopped_epoch == epochs_run - 1
    best = int(np.argmin(val_loss))
    assert stopper.best_epoch == best and stopper.best == val_loss[best]
    assert epochs_run - 1 - best == 5  # exactly `patience` epochs without improvement
    assert history.history["loss"][-1] < history.history["loss"][best]  # still fitting train
    restored = _weights(model)
    assert _same(restored, capture.weights[best])
    assert not _same(restored, capture.weights[-1])


class FakeModel:
    """Just enough of a Module for unit tests of the monitors."""

    def __init__(self):
        self.value = np.zeros(1)

    def state_dict(self):
        return {"w": self.value}

    def load_state_dict(self, state):
        self.value = np.array(state["w"])


def _drive(callback, values, monitor="val_loss"):
    model = FakeModel()
    callback.set_context(model=model, optimizer=None, trainer=None)
    callback.on_train_begin({})
    for epoch, value in enumerate(values):
        model.value = np.array([float(epoch)])
        callback.on_epoch_end(epoch, {monitor: value})
        if getattr(model, "stop_training", False):
            break
    callback.on_train_end({})
    return model


@pytest.mark.parametrize("values, patience, min_delta, stopped, best_epoch", [
    ([5, 4, 4.5, 4.2, 3, 3.5], 2, 0.0, 3, 1),
    ([5, 4, 4.5, 3.9, 3.8, 3.7], 2, 0.0, None, 5),
    ([5, 4, 3.95, 3.9, 3.85], 2, 0.1, 3, 1),
    ([5, 6], 0, 0.0, 1, 0),
])
def test_early_stopping_patience_and_min_delta(values, patience, min_delta, stopped,
                                               best_epoch):
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    model = _drive(stopper, values)
    assert stopper.stopped_epoch == stopped and stopper.best_epoch == best_epoch
    assert model.value[0] == best_epoch  # the best epoch's weights are back


def test_early_stopping_auto_mode_maximises_accuracy_and_honours_baseline():
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    assert stopper.mode == "max"
    _drive(stopper, [0.5, 0.7, 0.6], monitor="val_accuracy")
    assert stopper.best_epoch == 1 and stopper.stopped_epoch == 2
    stopper = EarlyStopping(monitor="val_loss", patience=2, baseline=1.0)
    model = _drive(stopper, [2.0, 1.5, 1.2])
    assert stopper.best_epoch is None and stopper.stopped_epoch == 1
    assert model.value[0] == 1  # nothing beat the baseline: the weights are left alone


def test_early_stopping_without_the_monitored_value_says_so(rng):
    x, y = _small_problem(rng)
    model = _tiny_model()
    with pytest.raises(ValueError, match="val_loss.*pass val="):
        fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=2, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_model_checkpoint_best_only_writes_atomically_on_improvement(tmp_path, monkeypatch):
    model = _tiny_model()
    path = tmp_path / "best.safetensors"
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((src, dst))
        assert os.path.dirname(src) == os.path.dirname(os.fspath(dst)) and src != dst
        assert os.path.getsize(src) > 0
        real_replace(src, dst)

    monkeypatch.setattr(lamina.io.atomic.os, "replace", spy)
    checkpoint = ModelCheckpoint(path, save_best_only=True)
    checkpoint.set_context(model=model, optimizer=None, trainer=None)
    saved = {}
    for epoch, val_loss in enumerate([1.0, 0.8, 0.9, 0.85, 0.7]):
        for p in model.parameters():
            p.data[...] = epoch
        checkpoint.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
        saved[epoch] = next(lm.load(path).parameters()).numpy()[0, 0]
    assert [os.fspath(dst) for _, dst in replaced] == [os.fspath(path)] * 3
    assert saved == {0: 0.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 4.0}
    assert checkpoint.best == 0.7 and os.listdir(tmp_path) == ["best.safetensors"]


def test_model_checkpoint_every_epoch_with_a_formatted_path(rng, tmp_path):
    x, y = _small_problem(rng)
    model = _tiny_model()
    checkpoint = ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.2f}.safetensors")
    fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=3, callbacks=[checkpoint])
    names = sorted(os.listdir(tmp_path))
    assert [n[:5] for n in names] == ["m-01-", "m-02-", "m-03-"]
    assert checkpoint.last_saved == os.fspath(tmp_path / names[-1])
    bundle = lamina.io.load_bundle(checkpoint.last_saved)
    assert bundle.metadata["epoch"] == 3
    assert _same(_weights(bundle.model), _weights(model))


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    model = _tiny_model()
    path = tmp_path / "m.safetensors"
    lm.save(model, path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(lamina.io.atomic.os, "fsync", broken_fsync)
    for p in model.parameters():
        p.data[...] = 42
    with pytest.raises(OSError, match="disk full"):
        lm.save(model, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.safetensors"]


def test_csv_logger_writes_one_row_per_epoch(rng, tmp_path):
    x, y = _small_problem(rng)
    model = _tiny_model()
    path = tmp_path / "log.csv"
    history = fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
                  (x, y), val=(x, y), epochs=3, metrics=["accuracy"],
                  callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for i, row in enumerate(rows[1:]):
        for key, text in zip(rows[0][1:], row[1:], strict=True):
            assert float(text) == history.history[key][i]
    fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
        val=(x, y), epochs=2, metrics=["accuracy"], callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and rows.count(rows[0]) == 1
    fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=1, callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        assert len(list(csv.reader(f))) == 2  # overwritten


@pytest.mark.parametrize("bar", [True, False])
def test_progress_bar_shows_epochs_loss_and_metrics(rng, bar):
    x, y = _small_problem(rng)
    model = _tiny_model()
    out = io.StringIO()
    fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
        val=(x, y), epochs=2, batch_size=10, metrics=["accuracy"],
        callbacks=[ProgressBar(bar=bar, file=out)])
    text = out.getvalue()
    for piece in ("Epoch 1/2", "Epoch 2/2", "loss: ", "accuracy: ", "val_loss: "):
        assert piece in text


def test_learning_rate_scheduler_with_functions(rng):
    x, y = _small_problem(rng)
    model = _tiny_model()
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3,
                  callbacks=[LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    history = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3,
                  callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert history.history["lr"] == pytest.approx([0.1 / 6, 0.1 / 12, 0.1 / 24])
    with pytest.raises(ValueError, match="schedule"):
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1,
            callbacks=[LearningRateScheduler(lambda epoch: "fast")])


def test_learning_rate_scheduler_steps_lamina_schedulers(rng):
    x, y = _small_problem(rng)
    model = _tiny_model()
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    step = lm.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=5,
                  callbacks=[LearningRateScheduler(step)])
    assert history.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])

    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    plateau = lm.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=(x, y), epochs=3,
                  callbacks=[LearningRateScheduler(plateau, monitor="val_loss")])
    assert history.history["lr"][0] == 0.1  # it got the metric and did not fail


def test_terminate_on_nan_stops_after_the_first_bad_batch(rng):
    x, y = _small_problem(rng)
    model = _tiny_model()
    history = fit(model, lambda out, target: (out * np.nan).mean(),
                  lm.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=5, batch_size=10,
                  callbacks=[TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_callback_base_is_constructible_and_defines_no_hooks():
    callback = Callback()
    for hook in ("on_train_begin", "on_epoch_end", "on_batch_end"):
        assert not hasattr(callback, hook)
