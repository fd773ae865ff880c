"""A :func:`lamina.fit` callback that logs every epoch's numbers to TensorBoard."""

from __future__ import annotations

import numbers
import os
from typing import Any

from lamina.train.callbacks import Callback

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Write the epoch logs (``loss``, ``val_loss``, metrics) and each parameter group's learning
    rate (``lr``, ``lr/group1``, ... unless the logs hold them) as TensorBoard scalars, one
    point per epoch; with ``batch_frequency=k`` also the batch logs every ``k`` batches (tags
    ``batch/<name>``).

    Args:
        log_dir: where the event file goes (default ``runs/...``, as ``SummaryWriter``).
        writer: an existing :class:`lamina.utils.tensorboard.SummaryWriter` to write to instead
            (it is left open).
        batch_frequency: log batch values every this many batches; None: epochs only.

    Raises:
        ValueError: ``batch_frequency`` is not a positive int.
        ImportError: tensorboardX is not installed (extra ``lamina[tensorboard]``).

    Example:
        >>> import tempfile
        >>> callback = TensorBoard(tempfile.mkdtemp())
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, writer: Any = None,
                 batch_frequency: int | None = None) -> None:
        if batch_frequency is not None and (isinstance(batch_frequency, bool) or not isinstance(
                batch_frequency, int) or batch_frequency <= 0):
            raise ValueError(f"TensorBoard: batch_frequency must be a positive int or None, got "
                             f"{batch_frequency!r}")
        from lamina.utils.tensorboard import SummaryWriter

        self._owns = writer is None
        self.writer = SummaryWriter(log_dir) if writer is None else writer
        self.batch_frequency = batch_frequency
        self._batches = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(name, float(value), epoch)
        groups = getattr(self.optimizer, "param_groups", None) or []
        for i, group in enumerate(groups):
            tag = "lr" if i == 0 else f"lr/group{i}"
            if tag not in (logs or {}):  # fit may log it already
                self.writer.add_scalar(tag, float(group["lr"]), epoch)
        self.writer.flush()

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self.batch_frequency is None or self._batches % self.batch_frequency:
            return
        for name, value in (logs or {}).items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(f"batch/{name}", float(value), self._batches)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._owns:
            self.writer.close()
        else:
            self.writer.flush()
