"""The TensorBoard callback of lm.fit logs each epoch's values and the learning rate."""

import numpy as np
import pytest

import lamina as lm
from lamina import nn

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def test_fit_writes_epoch_scalars(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    model = nn.Sequential(nn.Linear(3, 1))
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    history = lm.fit(model, nn.MSELoss(), opt, (x, y), val=(x, y), epochs=4, batch_size=16,
                     callbacks=[lm.train.TensorBoard(tmp_path, batch_frequency=2)])
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == [0, 1, 2, 3]
    assert [e.value for e in loss] == pytest.approx(history.history["loss"], rel=1e-6)
    assert [e.value for e in acc.Scalars("val_loss")] == pytest.approx(
        history.history["val_loss"], rel=1e-6)
    assert [e.value for e in acc.Scalars("lr")] == pytest.approx([0.1] * 4)
    assert len(acc.Scalars("batch/loss")) == 4 * 4 // 2


def test_batch_frequency_is_checked():
    with pytest.raises(ValueError, match="batch_frequency"):
        lm.train.TensorBoard(batch_frequency=0)
