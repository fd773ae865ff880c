"""History: per-epoch columns, padding, JSON round trip and extension."""

from __future__ import annotations

import json
import math

import pytest

from lamina.train import History


def test_record_pads_late_and_missing_keys_with_nan():
    history = History()
    history.record(0, {"loss": 1.0})
    history.record(1, {"loss": 0.5, "val_loss": 0.7, "note": "text is skipped"})
    history.record(2, {"val_loss": 0.6})
    assert history.epoch == [0, 1, 2]
    assert history.history["loss"][:2] == [1.0, 0.5] and math.isnan(history.history["loss"][2])
    assert math.isnan(history.history["val_loss"][0])
    assert history.history["val_loss"][1:] == [0.7, 0.6]
    assert "note" not in history.history and len(history) == 3


def test_to_dict_is_json_and_round_trips():
    history = History()
    history.record(0, {"loss": 1.0, "lr": 0.1})
    history.record(1, {"loss": 0.25, "lr": 0.1})
    data = json.loads(json.dumps(history.to_dict()))
    again = History.from_dict(data)
    assert again.history == history.history and again.epoch == history.epoch


def test_extend_appends_a_resumed_run():
    first, rest = History(), History()
    first.record(0, {"loss": 1.0})
    rest.record(1, {"loss": 0.5})
    assert first.extend(rest).history == {"loss": [1.0, 0.5]} and first.epoch == [0, 1]


@pytest.mark.parametrize("bad", [None, {"epoch": [0]}, {"epoch": [0], "history": {"a": []}}])
def test_from_dict_rejects_malformed_data(bad):
    with pytest.raises(ValueError, match="History.from_dict"):
        History.from_dict(bad)
