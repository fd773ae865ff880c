"""Callbacks for :func:`lamina.fit` (Keras' hooks): early stopping, checkpoints, logging.

A callback is any object with some of the hooks ``on_train_begin(logs)``,
``on_train_end(logs)``, ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
``on_epoch_complete(epoch, logs)``, ``on_batch_begin(batch, logs)``, ``on_batch_end(batch, logs)``.
Callbacks with state that resuming needs have ``state_dict()`` / ``load_state_dict(state)``,
which :func:`lamina.train.save_checkpoint` and :func:`lamina.train.load_checkpoint` use.
The loop calls only the hooks a callback defines, in the order of the ``callbacks`` list, so
put loggers before :class:`EarlyStopping` and :class:`ModelCheckpoint`. :class:`Callback`
therefore defines no hook (a subclass must not call ``super().on_epoch_end``); it only
receives the loop's context.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

from lamina.train.history import History

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar", "CSVLogger",
           "LearningRateScheduler", "TerminateOnNaN", "History"]

_MAX_WORDS = ("acc", "auc", "f1", "fbeta", "precision", "recall", "score")


class Callback:
    """Base class of callbacks; constructible with no arguments.

    Before ``on_train_begin`` the loop calls :meth:`set_context`, which sets ``self.model``,
    ``self.optimizer``, ``self.trainer`` (a :class:`lamina.train.loop.Trainer`: set
    ``trainer.stop_training = True`` to stop) and ``self.params`` (epochs, steps, ...).

    Example:
        >>> class Recorder(Callback):
        ...     def __init__(self):
        ...         self.losses = []
        ...     def on_epoch_end(self, epoch, logs):
        ...         self.losses.append(logs["loss"])
        >>> Recorder().losses
        []
    """

    model: Any = None
    optimizer: Any = None
    trainer: Any = None
    params: dict = {}
    #: in a multi-process ``fit`` (MPI), run only on rank 0: set it on callbacks that print or
    #: write files; the others run on every rank with the same logs
    rank_zero_only: bool = False

    def set_context(self, model: Any = None, optimizer: Any = None, trainer: Any = None) -> None:
        """Receive the loop's model, optimizer and trainer (called by ``fit``)."""
        self.model, self.optimizer, self.trainer = model, optimizer, trainer
        self.params = dict(getattr(trainer, "params", {}) or {})

    def request_stop(self) -> None:
        """Ask the loop to stop after the current epoch."""
        if self.trainer is not None:
            self.trainer.stop_training = True
        if self.model is not None:
            self.model.stop_training = True


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    """'min' or 'max': ``auto`` is 'max' for accuracy-like names, else 'min'."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(word in monitor.lower() for word in _MAX_WORDS) else "min"


def _monitor_value(logs: dict | None, monitor: str, who: str) -> float:
    logs = logs or {}
    if monitor not in logs:
        hint = " (pass val= to fit to get val_* values)" if monitor.startswith("val_") else ""
        raise ValueError(f"{who}: monitor={monitor!r} is not in the epoch logs; available: "
                         f"{sorted(logs)}{hint}")
    return float(logs[monitor])


class _Monitor(Callback):
    """Tracks the best value of one logged quantity."""

    def __init__(self, monitor: str, mode: str, min_delta: float, who: str) -> None:
        self.monitor = monitor
        self.mode = _resolve_mode(mode, monitor, who)
        if not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"{who}: min_delta must be a number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _improves(self, current: float, reference: float) -> bool:
        if math.isnan(current):
            return False
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (notes section 8.3).

    An epoch improves when its value beats the best so far by more than ``min_delta``
    (``current < best - min_delta`` in 'min' mode, ``current > best + min_delta`` in 'max').
    Training stops after ``patience`` epochs in a row without improvement (after the first one
    when ``patience=0``, as in Keras). With ``restore_best_weights`` the model's parameters at
    the best epoch are copied (by value) when it happens and written back in ``on_train_end``,
    whether or not training stopped early.

    Args:
        monitor: the logged name to watch, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` ("max" for accuracy-like names).
        patience: epochs without improvement before stopping.
        min_delta: smallest change that counts as an improvement.
        restore_best_weights: put the best epoch's parameters back at the end.
        baseline: a value the monitored quantity must beat to count as an improvement at all.

    Attributes:
        best: the best value seen; ``best_epoch`` its epoch (None if none beat the baseline).
        stopped_epoch: the epoch at which training was stopped, or None.
        best_weights: the copied state dict of the best epoch, or None.

    Raises:
        ValueError: a bad ``mode``/``patience``/``min_delta``, or (during training) a
            ``monitor`` missing from the logs.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 0,
                 min_delta: float = 0.0, restore_best_weights: bool = True,
                 baseline: float | None = None) -> None:
        super().__init__(monitor, mode, min_delta, "EarlyStopping")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) \
                or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline = baseline
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        if self.baseline is not None:
            self.best = float(self.baseline)
        else:
            self.best = math.inf if self.mode == "min" else -math.inf

    def on_train_begin(self, logs: dict | None = None) -> None:
        if getattr(self, "_restored", False):
            self._restored = False  # resumed from a checkpoint: keep the restored state
            return
        self._reset()

    def state_dict(self) -> dict[str, Any]:
        """The counters, best value and (with ``restore_best_weights``) the best weights."""
        return {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the next ``on_train_begin`` keeps it (a resumed run)."""
        try:
            self.wait, self.best = int(state["wait"]), float(state["best"])
            self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
            weights = state["best_weights"]
            self.best_weights = None if weights is None else {
                str(k): np.asarray(v) for k, v in weights.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"EarlyStopping.load_state_dict: malformed state ({exc})") from None
        self._restored = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = _monitor_value(logs, self.monitor, "EarlyStopping")
        if self._improves(current, self.best):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights and self.model is not None:
                self.best_weights = {k: np.array(v, copy=True)
                                     for k, v in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.request_stop()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model after every epoch, or only when ``monitor`` improves.

    Files are written atomically (a temporary file in the same directory, then ``os.replace``),
    so a crash never leaves a half-written checkpoint at ``path``. Each file is a resumable
    checkpoint (:func:`lamina.train.save_checkpoint`): the model (loadable with ``lm.load``
    when lamina can describe it), the epoch, lamina's RNG state, the History, the states of the
    run's LR schedulers, of the training DataLoader's own generator and of every callback with
    ``state_dict()``, and with ``include_optimizer`` the optimizer's state. Inside ``fit`` the
    file is written after every callback's ``on_epoch_end`` and the History record, so
    :func:`lamina.train.load_checkpoint` with the same objects, then
    ``fit(..., initial_epoch=checkpoint.epoch)``, continues bit for bit (kill -9 included).

    Args:
        path: file path; may hold ``str.format`` fields filled from the epoch (1-based, as Keras)
            and the logs, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"``.
        monitor: the logged name compared with ``save_best_only``.
        save_best_only: write only when ``monitor`` improves on the best value so far.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        include_optimizer: also store the optimizer's state (needed to resume).

    Attributes:
        best: the best monitored value saved so far.
        last_saved: the path of the last file written, or None.

    Raises:
        ValueError: a bad ``mode``, or (with ``save_best_only``) a ``monitor`` missing from the
            logs.
    """

    rank_zero_only = True

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto",
                 include_optimizer: bool = False) -> None:
        super().__init__(monitor, mode, 0.0, "ModelCheckpoint")
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self.include_optimizer = bool(include_optimizer)
        self.last_saved: str | None = None
        self._pending: tuple[int, dict] | None = None

    def state_dict(self) -> dict[str, Any]:
        """The best value so far and the last path written."""
        return {"best": self.best, "last_saved": self.last_saved}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        try:
            self.best = float(state["best"])
            last = state["last_saved"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint.load_state_dict: malformed state ({exc})") \
                from None
        self.last_saved = None if last is None else str(last)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = _monitor_value(logs, self.monitor, "ModelCheckpoint")
            if not self._improves(current, self.best):
                return
            self.best = current
        self._pending = (epoch, dict(logs))
        if self.trainer is None:  # called by hand, outside fit: write now
            self.on_epoch_complete(epoch, logs)

    def on_epoch_complete(self, epoch: int, logs: dict | None = None) -> None:
        if self._pending is None:
            return
        from lamina.train.checkpoint import save_checkpoint

        epoch, logs = self._pending
        self._pending = None
        path = self.path.format(epoch=epoch + 1, **logs) if "{" in self.path else self.path
        trainer = self.trainer
        callbacks = list(getattr(trainer, "callbacks", None) or [])
        schedulers = [c.schedule for c in callbacks if isinstance(c, LearningRateScheduler)
                      and hasattr(c.schedule, "state_dict")]
        self.last_saved = path
        save_checkpoint(path, self.model,
                        self.optimizer if self.include_optimizer else None, epoch + 1,
                        getattr(trainer, "history", None),
                        {"epoch": epoch + 1, "logs": {k: float(v) for k, v in logs.items()}},
                        scheduler=schedulers, callbacks=callbacks,
                        loader=getattr(trainer, "loader", None))


class ProgressBar(Callback):
    """A live progress bar per epoch (tqdm) with loss, metrics and ETA; a line per epoch without.

    Args:
        bar: True for a tqdm bar, False for plain lines, None for tqdm when it is installed.
        file: where to write (default ``sys.stderr``).
    """

    rank_zero_only = True

    def __init__(self, bar: bool | None = None, file: TextIO | None = None) -> None:
        if bar is None or bar:
            try:
                import tqdm  # noqa: F401
                bar = True
            except ImportError:
                if bar:
                    raise ImportError("ProgressBar(bar=True) needs tqdm: pip install tqdm") \
                        from None
                bar = False
        self.bar, self.file = bool(bar), file
        self._tqdm: Any = None
        self._sums: dict[str, float] = {}
        self._count = 0
        self._start = 0.0
        self._title = "Epoch"

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._sums, self._count, self._start = {}, 0, time.perf_counter()
        epochs = self.params.get("epochs", "?")
        self._title = f"Epoch {epoch + 1}/{epochs}"
        if self.bar:
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=self.params.get("steps"), desc=self._title, unit="batch",
                              file=self.file or sys.stderr, leave=True, dynamic_ncols=True)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        n = int(logs.get("size", 1))
        self._count += n
        for key, value in logs.items():
            if key not in ("batch", "size"):
                self._sums[key] = self._sums.get(key, 0.0) + float(value) * n
        if self._tqdm is not None:
            running = {k: v / self._count for k, v in self._sums.items()}
            self._tqdm.set_postfix_str(_format(running), refresh=False)
            self._tqdm.update(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        text = _format({k: v for k, v in (logs or {}).items() if k != "lr"})
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(text, refresh=False)
            self._tqdm.close()
            self._tqdm = None
        else:
            seconds = time.perf_counter() - self._start
            print(f"{self._title} - {seconds:.1f}s - {text}", file=self.file or sys.stderr,
                  flush=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None


def _format(values: dict) -> str:
    return " - ".join(f"{k}: {v:.4g}" for k, v in values.items())


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (0-based, as Keras) then the logs' keys, sorted.

    Args:
        path: the CSV file.
        append: append to an existing file (its header is kept) instead of overwriting it.
        separator: the field separator.
    """

    rank_zero_only = True

    def __init__(self, path: str | os.PathLike, append: bool = False,
                 separator: str = ",") -> None:
        self.path, self.append, self.separator = os.fspath(path), bool(append), separator
        self._file: TextIO | None = None
        self._writer: Any = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        has_header = (self.append and os.path.exists(self.path)
                      and os.path.getsize(self.path) > 0)
        self._file = open(self.path, "a" if self.append else "w", newline="", encoding="utf-8")
        self._keys = _read_header(self.path, self.separator) if has_header else None
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._file is None:
            self.on_train_begin()
        if self._keys is None:
            self._keys = ["epoch", *sorted(logs)]
            self._writer = csv.writer(self._file, delimiter=self.separator)
            self._writer.writerow(self._keys)
        elif self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.separator)
        row = {"epoch": epoch, **logs}
        self._writer.writerow([row.get(key, "NA") for key in self._keys])
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_header(path: str, separator: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f, delimiter=separator))


class LearningRateScheduler(Callback):
    """Set the learning rate every epoch from a schedule.

    ``schedule`` is either a function -- ``epoch -> lr`` or ``(epoch, lr) -> lr`` -- applied to
    every parameter group in ``on_epoch_begin``, or a scheduler from
    :mod:`lamina.optim.lr_scheduler` stepped in ``on_epoch_end``; a scheduler whose ``step``
    needs a metric (``ReduceLROnPlateau``) gets ``logs[monitor]``.

    Args:
        schedule: the function or scheduler object.
        monitor: the logged value given to a plateau scheduler.

    Raises:
        TypeError: ``schedule`` is neither callable nor has ``step``.
        ValueError: the function returns something that is not a number >= 0.
    """

    def __init__(self, schedule: Callable | Any, monitor: str = "val_loss") -> None:
        if not hasattr(schedule, "step") and not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function epoch -> lr or "
                            f"an lr_scheduler, got {type(schedule).__name__}")
        self.schedule, self.monitor = schedule, monitor

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's ``state_dict()`` (empty for a function schedule)."""
        getter = getattr(self.schedule, "state_dict", None)
        return {"schedule": getter()} if callable(getter) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into the scheduler."""
        if "schedule" in state:
            self.schedule.load_state_dict(state["schedule"])

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if hasattr(self.schedule, "step"):
            return
        groups = self.optimizer.param_groups
        if _required_arguments(self.schedule) >= 2:
            lr = self.schedule(epoch, float(groups[0]["lr"]))
        else:
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) or not lr >= 0:
            raise ValueError(f"LearningRateScheduler: schedule({epoch}) must return a number "
                             f">= 0, got {lr!r}")
        for group in groups:
            group["lr"] = float(lr)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not hasattr(self.schedule, "step"):
            return
        if _required_arguments(self.schedule.step) >= 1:
            self.schedule.step(_monitor_value(logs, self.monitor, "LearningRateScheduler"))
        else:
            self.schedule.step()


def _required_arguments(fn: Callable) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.request_stop()
