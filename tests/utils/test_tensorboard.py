"""SummaryWriter writes event files that TensorBoard's own reader reads back."""

import numpy as np
import pytest

import lamina as lm

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from lamina.utils.tensorboard import SummaryWriter  # noqa: E402


def _read(log_dir):
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={"images": 0})
    acc.Reload()
    return acc


def test_scalars_images_histograms_and_text_round_trip(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        for step in range(3):
            writer.add_scalar("train/loss", lm.tensor(1.0 / (step + 1)), step)
        writer.add_scalar("plain", 2.5, 7)
        writer.add_image("digit", lm.tensor(np.full((1, 4, 6), 0.5, np.float32)), 0)
        writer.add_histogram("weights", lm.tensor(np.linspace(-1, 1, 50)), 0)
        writer.add_scalars("pair", {"a": lm.tensor(1.0), "b": 2.0}, 0)
    acc = _read(tmp_path)
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [0, 1, 2]
    assert [e.value for e in loss] == pytest.approx([1.0, 0.5, 1 / 3], rel=1e-6)
    assert acc.Scalars("plain")[0].value == 2.5 and acc.Scalars("plain")[0].step == 7
    image = acc.Images("digit")[0]
    assert (image.width, image.height) == (6, 4)
    histogram = acc.Histograms("weights")[0].histogram_value
    assert histogram.num == 50 and histogram.min == -1 and histogram.max == 1
    assert writer.log_dir == str(tmp_path)


def test_add_scalar_needs_one_number(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="one number"):
            writer.add_scalar("x", lm.tensor([1.0, 2.0]), 0)
        with pytest.raises(NotImplementedError, match="add_graph"):
            writer.add_graph(None)
