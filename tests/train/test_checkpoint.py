"""lamina.train.checkpoint: what save_checkpoint stores and load_checkpoint restores or refuses."""

from __future__ import annotations

import io

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.data import DataLoader, TensorDataset
from lamina.optim.lr_scheduler import ExponentialLR, ReduceLROnPlateau, StepLR
from lamina.train import (
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    load_checkpoint,
    save_checkpoint,
)


def _setup():
    lm.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    opt = lm.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    return model, opt


def test_schedulers_callbacks_history_and_loader_round_trip():
    model, opt = _setup()
    schedulers = [StepLR(opt, step_size=2, gamma=0.5), ExponentialLR(opt, gamma=0.9)]
    plateau = ReduceLROnPlateau(opt, patience=0)
    for s in schedulers:
        s.step()
    plateau.step(1.0)
    plateau.step(2.0)
    stopper = EarlyStopping(monitor="loss", patience=4)
    stopper.set_context(model=model)
    stopper.on_epoch_end(0, {"loss": 0.3})
    stopper.on_epoch_end(1, {"loss": 0.4})
    callbacks = [LearningRateScheduler(plateau), stopper, ModelCheckpoint("unused")]
    loader = DataLoader(TensorDataset(np.zeros((4, 3))), batch_size=2, shuffle=True,
                        generator=np.random.default_rng(5))
    list(loader)
    history = History()
    history.record(0, {"loss": 1.0, "val_loss": float("nan")})
    buffer = io.BytesIO()
    save_checkpoint(buffer, model, opt, 2, history, {"note": 1}, scheduler=schedulers,
                    callbacks=callbacks, loader=loader)
    expected_next = loader.generator.integers(1000)

    model2, opt2 = _setup()
    schedulers2 = [StepLR(opt2, step_size=2, gamma=0.5), ExponentialLR(opt2, gamma=0.9)]
    plateau2 = ReduceLROnPlateau(opt2, patience=0)
    stopper2 = EarlyStopping(monitor="loss", patience=4)
    callbacks2 = [LearningRateScheduler(plateau2), stopper2, ModelCheckpoint("unused")]
    loader2 = DataLoader(TensorDataset(np.zeros((4, 3))), batch_size=2, shuffle=True,
                         generator=np.random.default_rng(99))
    buffer.seek(0)
    checkpoint = load_checkpoint(buffer, model2, opt2, scheduler=schedulers2,
                                 callbacks=callbacks2, loader=loader2)
    assert checkpoint.epoch == 2 and checkpoint.metadata == {"note": 1}
    assert checkpoint.history.history["val_loss"][0] != checkpoint.history.history["val_loss"][0]
    for a, b in zip(schedulers + [plateau], schedulers2 + [plateau2], strict=True):
        assert a.state_dict() == b.state_dict()
    assert (stopper2.wait, stopper2.best, stopper2.best_epoch) == (1, 0.3, 0)
    assert all(np.array_equal(stopper.best_weights[k], stopper2.best_weights[k])
               for k in stopper.best_weights)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert loader2.generator.integers(1000) == expected_next
    stopper2.on_train_begin()  # a resumed fit keeps the restored state
    assert stopper2.wait == 1


def test_what_does_not_match_the_checkpoint_is_a_value_error(tmp_path):
    model, opt = _setup()
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, model, opt, 1, scheduler=StepLR(opt, step_size=1),
                    callbacks=[EarlyStopping()])
    fresh, fresh_opt = _setup()
    with pytest.raises(ValueError, match=r"c\.ckpt.*2 scheduler\(s\) given, the checkpoint "
                                         r"holds 1"):
        load_checkpoint(path, fresh, fresh_opt, scheduler=[StepLR(fresh_opt, 1)] * 2)
    with pytest.raises(ValueError, match=r"callbacks \['EarlyStopping'\], given "
                                         r"\['ModelCheckpoint'\]"):
        load_checkpoint(path, fresh, fresh_opt, callbacks=[ModelCheckpoint("x")])
    loader = DataLoader(TensorDataset(np.zeros((2, 3))), generator=np.random.default_rng(1))
    with pytest.raises(ValueError, match="no DataLoader generator state"):
        load_checkpoint(path, fresh, fresh_opt, loader=loader)
    with pytest.raises(ValueError, match="epoch must be an int"):
        save_checkpoint(path, model, opt, -1)
