"""fit / evaluate / predict: logs, hooks, weighting, data forms and bit-exact resume."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.data import DataLoader, TensorDataset
from lamina.train import Callback, evaluate, fit, load_checkpoint, predict, save_checkpoint


def _blobs(rng, n=96, features=6, classes=3):
    centers = rng.normal(scale=2.0, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    x = (centers[y] + rng.normal(size=(n, features))).astype(np.float32)
    return x, y.astype(np.int64)


def _model(features=6, classes=3, dropout=0.0):
    layers = [nn.Linear(features, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, classes))


def _weights(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


class Recorder(Callback):
    """Records every hook call as (tag, hook, index)."""

    def __init__(self, tag="r", log=None):
        self.tag, self.log = tag, [] if log is None else log

    def on_train_begin(self, logs):
        self.log.append((self.tag, "train_begin", None))

    def on_epoch_begin(self, epoch, logs):
        self.log.append((self.tag, "epoch_begin", epoch))

    def on_batch_begin(self, batch, logs):
        self.log.append((self.tag, "batch_begin", batch))

    def on_batch_end(self, batch, logs):
        self.log.append((self.tag, "batch_end", batch))

    def on_epoch_end(self, epoch, logs):
        self.log.append((self.tag, "epoch_end", epoch, "val_loss" in logs))

    def on_train_end(self, logs):
        self.log.append((self.tag, "train_end", None))


def test_history_has_loss_metrics_val_and_lr(rng):
    x, y = _blobs(rng)
    model = _model()
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.CrossEntropyLoss(), opt, (x[:64], y[:64]), val=(x[64:], y[64:]),
                  epochs=5, batch_size=16, metrics=["accuracy"])
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["lr"] == [0.1] * 5
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_val_loss_and_metric_are_over_the_whole_validation_set_in_eval_mode(rng):
    x, y = _blobs(rng, n=100)
    model = _model(dropout=0.5)
    opt = lm.optim.SGD(model.parameters(), lr=0.05)
    history = fit(model, nn.CrossEntropyLoss(), opt, (x[:60], y[:60]), val=(x[60:], y[60:]),
                  epochs=2, batch_size=7, metrics=["accuracy"])
    assert model.training  # fit leaves the model in training mode
    model.eval()
    with lm.no_grad():
        logits = model(lm.tensor(x[60:]))
        expected = nn.CrossEntropyLoss()(logits, y[60:]).item()
    model.train()
    np.testing.assert_allclose(history.history["val_loss"][-1], expected, rtol=1e-6)
    accuracy = np.mean(logits.numpy().argmax(axis=1) == y[60:])
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy)
    assert evaluate(model, nn.CrossEntropyLoss(), (x[60:], y[60:]), batch_size=13,
                    metrics=["accuracy"]) == pytest.approx({"loss": expected,
                                                            "accuracy": accuracy})


def test_callable_metric_gets_targets_and_raw_outputs(rng):
    x, y = _blobs(rng, n=40)
    seen = {}

    def top_class_rate(y_true, y_pred):
        seen["shapes"] = (y_true.shape, y_pred.shape)
        return float(np.mean(y_pred.argmax(axis=1) == y_true))

    model = _model()
    history = fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
                  (x, y), val=(x, y), epochs=1, metrics=[top_class_rate])
    assert seen["shapes"] == ((40,), (40, 3))
    assert "top_class_rate" in history.history and "val_top_class_rate" in history.history


def test_hooks_are_called_in_order_and_only_where_defined(rng):
    x, y = _blobs(rng, n=30)
    log: list = []

    class OnlyEpochEnd(Callback):
        def on_epoch_end(self, epoch, logs):
            log.append(("o", "epoch_end", epoch, "val_loss" in logs))

    model = _model()
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    first, second = Recorder("a", log), Recorder("b", log)
    fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=(x, y), epochs=2, batch_size=10,
        callbacks=[first, OnlyEpochEnd(), second])
    expected = [("a", "train_begin", None), ("b", "train_begin", None)]
    for epoch in range(2):
        expected += [("a", "epoch_begin", epoch), ("b", "epoch_begin", epoch)]
        for batch in range(3):
            expected += [("a", "batch_begin", batch), ("b", "batch_begin", batch),
                         ("a", "batch_end", batch), ("b", "batch_end", batch)]
        expected += [("a", "epoch_end", epoch, True), ("o", "epoch_end", epoch, True),
                     ("b", "epoch_end", epoch, True)]
    expected += [("a", "train_end", None), ("b", "train_end", None)]
    assert log == expected
    assert first.model is model and first.optimizer is opt
    assert first.trainer.history is not None and first.params["epochs"] == 2


def test_callbacks_without_set_context_get_attributes(rng):
    x, y = _blobs(rng, n=20)

    class Plain:
        def on_train_begin(self, logs):
            self.seen = (self.model, self.optimizer, self.trainer)

    model = _model()
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    plain = Plain()
    fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=1, callbacks=[plain])
    assert plain.seen[0] is model and plain.seen[1] is opt


@pytest.mark.parametrize("via", ["trainer", "model"])
def test_a_callback_can_stop_training(rng, via):
    x, y = _blobs(rng, n=20)

    class StopAtOne(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                target = self.trainer if via == "trainer" else self.model
                target.stop_training = True

    model = _model()
    history = fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
                  (x, y), epochs=10, callbacks=[StopAtOne()])
    assert len(history.history["loss"]) == 2


def _batch_loss(model, loss_fn, x, y, **weights):
    class Grab(Callback):
        def on_batch_end(self, batch, logs):
            self.loss = logs["loss"]

    grab = Grab()
    fit(model, loss_fn, lm.optim.SGD(model.parameters(), lr=0.0), (x, y), epochs=1,
        batch_size=len(x), shuffle=False, callbacks=[grab], **weights)
    return grab.loss


def test_class_weight_weighs_each_sample_loss(rng):
    x, y = _blobs(rng, n=50)
    model = _model()
    per_sample = nn.CrossEntropyLoss(reduction="none")(model(lm.tensor(x)), y).numpy()
    weights = np.array([1.0, 3.0, 0.5])[y]
    weighted = _batch_loss(model, nn.CrossEntropyLoss(), x, y,
                           class_weight={0: 1.0, 1: 3.0, 2: 0.5})
    np.testing.assert_allclose(weighted, np.mean(per_sample * weights), rtol=1e-6)
    plain = _batch_loss(model, nn.CrossEntropyLoss(), x, y)
    uniform = _batch_loss(model, nn.CrossEntropyLoss(), x, y, class_weight={0: 1, 1: 1, 2: 1})
    np.testing.assert_allclose(uniform, plain, rtol=1e-6)
    assert not np.isclose(weighted, plain)


def test_class_weight_with_one_hot_targets_and_sample_weight(rng):
    x, y = _blobs(rng, n=30)
    onehot = np.eye(3, dtype=np.float32)[y]
    model = _model()
    per_sample = nn.CrossEntropyLoss(reduction="none")(model(lm.tensor(x)), y).numpy()
    sw = rng.uniform(0.5, 2.0, size=30)
    got = _batch_loss(model, nn.CrossEntropyLoss(), x, onehot, class_weight={1: 2.0},
                      sample_weight=sw)
    expected = np.mean(per_sample * np.where(y == 1, 2.0, 1.0) * sw)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_weights_need_a_loss_with_reduction_none(rng):
    x, y = _blobs(rng, n=10)
    model = _model()
    with pytest.raises(TypeError, match="reduction='none'"):
        fit(model, lambda out, target: (out * out).mean(),
            lm.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, class_weight={0: 2.0})


def test_tuple_dataset_and_dataloader_train_the_same(rng):
    x, y = _blobs(rng, n=40)
    results = []
    for data in [(x, y), TensorDataset(x, y), DataLoader(TensorDataset(x, y), batch_size=8)]:
        lm.manual_seed(3)
        model = _model()
        fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), data,
            epochs=2, batch_size=8, shuffle=False)
        results.append(_weights(model))
    for other in results[1:]:
        assert all(np.array_equal(results[0][k], other[k]) for k in results[0])


def test_validation_split_holds_out_the_last_samples(rng):
    x, y = _blobs(rng, n=50)
    model = _model()
    seen = []

    class Sizes(Callback):
        def on_batch_end(self, batch, logs):
            seen.append(logs["size"])

    history = fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
                  (x, y), epochs=1, batch_size=100, validation_split=0.2, callbacks=[Sizes()])
    assert seen == [40]
    expected = evaluate(model, nn.CrossEntropyLoss(), (x[40:], y[40:]))["loss"]
    assert history.history["val_loss"][0] == pytest.approx(expected)


def test_uint8_inputs_are_cast_to_the_model_dtype(rng):
    x = rng.integers(0, 255, size=(20, 6)).astype(np.uint8)
    y = rng.integers(0, 3, size=20)
    model = _model()
    fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=1e-4), (x, y),
        epochs=1)
    assert predict(model, x).dtype == np.float32


def test_predict_concatenates_batches_in_eval_mode(rng):
    x, _ = _blobs(rng, n=25)
    model = _model(dropout=0.5)
    out = predict(model, x, batch_size=7)
    model.eval()
    np.testing.assert_allclose(out, model(lm.tensor(x)).numpy(), rtol=1e-6)
    assert out.shape == (25, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": -1}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"epochs": 2, "initial_epoch": 3}, "initial_epoch"),
    ({"metrics": ["bogus"]}, "unknown metric"),
    ({"validation_split": 1.5}, "validation_split"),
])
def test_bad_arguments_raise_value_error(rng, kwargs, match):
    x, y = _blobs(rng, n=10)
    model = _model()
    with pytest.raises(ValueError, match=match):
        fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
            **kwargs)


def test_mismatched_lengths_raise(rng):
    x, y = _blobs(rng, n=10)
    model = _model()
    with pytest.raises(ValueError, match="different numbers of samples"):
        fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
            (x, y[:9]), epochs=1)


def test_initial_epoch_runs_the_remaining_epochs(rng):
    x, y = _blobs(rng, n=10)
    model = _model()
    history = fit(model, nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
                  (x, y), epochs=5, initial_epoch=3)
    assert history.epoch == [3, 4]


def _resume_setup():
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    return model, lm.optim.Adam(model.parameters(), lr=0.01)


def test_resume_from_checkpoint_is_bit_identical(rng, tmp_path):
    x, y = _blobs(rng, n=70)
    data, val, loss_fn = (x[:50], y[:50]), (x[50:], y[50:]), nn.CrossEntropyLoss()

    lm.manual_seed(7)
    model, opt = _resume_setup()
    full = fit(model, loss_fn, opt, data, val=val, epochs=4, batch_size=8, shuffle=True)
    uninterrupted = _weights(model)

    lm.manual_seed(7)
    model, opt = _resume_setup()
    first = fit(model, loss_fn, opt, data, val=val, epochs=2, batch_size=8, shuffle=True)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, opt, epoch=2, history=first)
    del model, opt

    lm.manual_seed(12345)  # a different stream, and fresh objects with different weights
    model, opt = _resume_setup()
    lm.randn(100)
    checkpoint = load_checkpoint(path, model, opt)
    assert checkpoint.epoch == 2
    rest = fit(model, loss_fn, opt, data, val=val, epochs=4, batch_size=8, shuffle=True,
               initial_epoch=checkpoint.epoch)
    resumed = _weights(model)
    assert all(np.array_equal(uninterrupted[k], resumed[k]) for k in uninterrupted)
    combined = checkpoint.history.extend(rest)
    assert combined.history == full.history and combined.epoch == full.epoch


def test_top_level_names_map_to_the_train_and_io_modules():
    import lamina.io
    import lamina.train

    assert lm.fit is lamina.train.fit and lm.save is lamina.io.save and lm.load is lamina.io.load
