"""History: the per-epoch record that ``lm.fit`` returns (Keras: ``keras.callbacks.History``)."""

from __future__ import annotations

import math


class History:
    """Per-epoch logs of a training run.

    ``history`` maps each logged name (``"loss"``, ``"val_loss"``, ``"accuracy"``,
    ``"val_accuracy"``, ``"lr"``, ...) to a list with one value per epoch; ``epoch`` lists the
    (0-based) epoch numbers. A name that first appears at a later epoch is padded with ``nan``
    for the earlier ones, so every list has ``len(epoch)`` values.

    ``fit`` creates one and records into it after every epoch's callbacks ran; pass a History
    in ``callbacks`` to have ``fit`` record into (and return) that one instead.

    Example:
        >>> h = History()
        >>> h.record(0, {"loss": 1.0, "val_loss": 1.5})
        >>> h.record(1, {"loss": 0.5, "val_loss": 1.2})
        >>> h.history["val_loss"], h.epoch
        ([1.5, 1.2], [0, 1])
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def record(self, epoch: int, logs: dict) -> None:
        """Append one epoch's ``logs`` (name -> number).

        Args:
            epoch: the 0-based epoch number.
            logs: the epoch's values; non-numbers are skipped.
        """
        self.epoch.append(int(epoch))
        for key, value in logs.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    continue
            column = self.history.setdefault(key, [math.nan] * (len(self.epoch) - 1))
            column.append(value)
        for column in self.history.values():
            if len(column) < len(self.epoch):
                column.append(math.nan)

    def extend(self, other: History) -> History:
        """Append the epochs of ``other`` (e.g. a resumed run after a checkpoint's history).

        Returns:
            self.
        """
        for i, epoch in enumerate(other.epoch):
            self.record(epoch, {k: v[i] for k, v in other.history.items()})
        return self

    def to_dict(self) -> dict:
        """A JSON-serialisable copy: ``{"epoch": [...], "history": {...}}``."""
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Rebuild a History from :meth:`to_dict`'s output.

        Raises:
            ValueError: ``data`` does not have that form.
        """
        try:
            epochs = [int(e) for e in data["epoch"]]
            columns = {str(k): [float(x) for x in v] for k, v in data["history"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"History.from_dict: expected {{'epoch': [...], 'history': {{...}}}}, "
                             f"got {type(data).__name__} ({exc})") from None
        if any(len(v) != len(epochs) for v in columns.values()):
            raise ValueError("History.from_dict: every history list must have one value per epoch")
        out = cls()
        out.epoch, out.history = epochs, columns
        return out

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"
