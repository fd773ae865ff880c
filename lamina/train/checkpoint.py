"""Resumable checkpoints: everything ``fit`` needs to continue bit for bit after a crash.

A checkpoint is a model file (:mod:`lamina.io.model`; the architecture is stored when lamina can
describe the model, so ``lm.load`` also reads it) with one more metadata entry,
``"checkpoint"``: the epochs completed, lamina's RNG state, the History, the LR schedulers'
states, the DataLoader generator's state (where it has its own) and the callbacks' states
(``state_dict()`` of those that have one; arrays as tensors named ``"checkpoint:..."``).

Resuming: build the same model, optimizer, schedulers and callbacks, call
:func:`load_checkpoint` with them, then ``fit(..., initial_epoch=checkpoint.epoch)``.
:class:`lamina.train.ModelCheckpoint` writes such files during ``fit`` with no state passed by
hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamina.codec import decode, encode
from lamina.distributed.launch import world_size
from lamina.io.format import Source, read_file
from lamina.io.model import (
    check_weights,
    load_weights,
    optimizer_state,
    user_metadata,
    write_model,
)
from lamina.io.registry import shapes
from lamina.nn.module import Module
from lamina.random import get_rng_state, set_rng_state
from lamina.train.history import History

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint"]

_PREFIX = "checkpoint:"


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` restored besides the weights.

    Attributes:
        epoch: epochs completed; pass it as ``fit(..., initial_epoch=epoch)``.
        history: the :class:`lamina.train.History` saved with it, or None.
        metadata: the user's metadata, or None.
    """

    epoch: int
    history: Any = None
    metadata: Any = None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _scheduler_state(scheduler: Any) -> dict:
    if not callable(getattr(scheduler, "state_dict", None)):
        raise TypeError(f"save_checkpoint: scheduler {type(scheduler).__name__} has no "
                        f"state_dict()")
    return {k: v for k, v in scheduler.state_dict().items()
            if not callable(v) and not (isinstance(v, (list, tuple)) and v
                                        and all(callable(f) for f in v))}


def _loader_generator(loader: Any) -> np.random.Generator | None:
    """The NumPy generator a DataLoader shuffles with, when it has its own (a
    ``np.random.Generator``, or an ``lm.Generator``-like object holding one as ``rng``)."""
    rng = getattr(loader, "generator", None)
    rng = getattr(rng, "rng", rng)
    return rng if isinstance(rng, np.random.Generator) else None


def _stateful(callbacks: Iterable) -> list:
    return [c for c in callbacks if callable(getattr(c, "state_dict", None))
            and callable(getattr(c, "load_state_dict", None))]


def save_checkpoint(path: Source, model: Module, optimizer: Any = None, epoch: int = 0,
                    history: History | None = None, metadata: Any = None, *,
                    scheduler: Any = None, callbacks: Iterable = (), loader: Any = None) -> None:
    """Save what resuming training needs, atomically.

    With lamina's RNG state stored, ``fit(..., initial_epoch=epoch)`` after
    :func:`load_checkpoint` continues bit for bit like an uninterrupted run (same shuffling and
    dropout masks). Any Module works (its architecture is stored when lamina can describe it).

    Args:
        path: the file to write (or a binary file object).
        model: the model.
        optimizer: its optimizer, or None.
        epoch: epochs completed so far.
        history: the :class:`History` so far, or None.
        metadata: JSON-like data of your own.
        scheduler: an LR scheduler or a list of them (their ``state_dict()``).
        callbacks: callbacks whose ``state_dict()`` is stored (others are skipped), e.g.
            :class:`lamina.train.EarlyStopping`.
        loader: a DataLoader with its own ``generator`` (its RNG state is stored).

    Raises:
        ValueError: ``epoch`` is not an int >= 0.
        TypeError: a scheduler without ``state_dict``, or state that cannot be stored.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be an int >= 0, got {epoch!r}")
    where = "save_checkpoint"
    tensors: dict[str, np.ndarray] = {}
    rng = _loader_generator(loader)
    info = {
        "epoch": int(epoch),
        "world_size": world_size() or 1,
        "rng_state": encode(get_rng_state(), where=where),
        "history": encode(history.to_dict(), where=where) if history is not None else None,
        "schedulers": [encode(_scheduler_state(s), tensors, f"{_PREFIX}schedulers.{i}", where)
                       for i, s in enumerate(_as_list(scheduler))],
        "loader_rng": encode(rng.bit_generator.state, where=where) if rng is not None else None,
        "callbacks": [{"class": type(c).__name__,
                       "state": encode(c.state_dict(), tensors, f"{_PREFIX}callbacks.{i}",
                                       where)}
                      for i, c in enumerate(_stateful(callbacks))],
    }
    write_model(model, path, optimizer, None, metadata, {"checkpoint": info},
                require_architecture=False, extra_tensors=tensors)


@contextlib.contextmanager
def _as_value_error(where: str, what: str) -> Iterator[None]:
    """A state from the file that its target rejects is a ValueError naming the file."""
    try:
        yield
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise ValueError(f"{where}: {what} in the file does not fit ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None


def _restore_rng(state: Any, where: str) -> None:
    try:
        set_rng_state(state)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{where}: bad RNG state ({exc})") from None


def _check_world_size(info: dict, where: str) -> None:
    """A checkpoint resumes with the number of processes that wrote it: each rank's random
    stream (dropout) in a multi-process ``fit`` is derived from the rank, so another count
    would not continue the run."""
    saved, now = info.get("world_size", 1), world_size()
    if isinstance(saved, bool) or not isinstance(saved, int) or saved < 1:
        raise ValueError(f"{where}: malformed checkpoint metadata (world_size {saved!r})")
    if now is not None and saved != now:
        raise ValueError(f"{where}: the checkpoint was written by a run of {saved} "
                         f"process{'es' if saved > 1 else ''}, this run has {now}; resume it "
                         f"with the same number (mpiexec -n {saved} ...), or load only the "
                         f"weights with lm.load")


def load_checkpoint(path: Source, model: Module, optimizer: Any = None, *,
                    scheduler: Any = None, callbacks: Iterable = (),
                    loader: Any = None) -> Checkpoint:
    """Restore a :func:`save_checkpoint` file into ``model``, ``optimizer``, schedulers,
    callbacks and loader in place, and lamina's RNG state.

    Args:
        path: the checkpoint file (or a binary file object).
        model: a model of the same architecture (freshly built is fine).
        optimizer: an optimizer of the same class over ``model.parameters()``, or None.
        scheduler: the scheduler(s), as many as were saved, or None to skip them.
        callbacks: the callbacks, in the order given when saving; those with
            ``load_state_dict`` get their saved state (others are skipped).
        loader: the DataLoader whose generator state was saved, or None.

    Returns:
        A :class:`Checkpoint` with ``epoch``, ``history`` and ``metadata``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a checkpoint, corrupt, tensors that do not fit ``model``, or state that
            was not saved for what is given (optimizer, schedulers, callbacks, loader).
    """
    raw = read_file(path)
    where = f"load_checkpoint({raw.name!r})"
    if raw.metadata.get("format") != "lamina" or "checkpoint" not in raw.metadata:
        raise ValueError(f"{where}: not a lamina checkpoint (metadata keys "
                         f"{sorted(raw.metadata)[:10]}); write one with "
                         f"lamina.train.save_checkpoint")
    info = raw.json("checkpoint")
    if not isinstance(info, dict) or isinstance(info.get("epoch"), bool) \
            or not isinstance(info.get("epoch"), int) or info["epoch"] < 0:
        raise ValueError(f"{where}: malformed checkpoint metadata")
    _check_world_size(info, where)
    _, opt_state = optimizer_state(raw, where)
    if optimizer is not None and opt_state is None:
        raise ValueError(f"{where}: the checkpoint holds no optimizer state")
    stored = {k: raw.array(k) for k in raw.entries if k.startswith(_PREFIX)}
    used: set[str] = set()
    schedulers = decode(info.get("schedulers", []), stored, used, where)
    states = decode(info.get("callbacks", []), stored, used, where)
    if set(stored) - used:
        raise ValueError(f"{where}: unexpected tensors {sorted(set(stored) - used)[:3]}")
    given = _as_list(scheduler)
    if scheduler is not None and len(given) != len(schedulers or []):
        raise ValueError(f"{where}: {len(given)} scheduler(s) given, the checkpoint holds "
                         f"{len(schedulers or [])}")
    stateful = _stateful(callbacks)
    if stateful and (not isinstance(states, list) or len(states) != len(stateful) or any(
            not isinstance(s, dict) or s.get("class") != type(c).__name__
            for s, c in zip(states, stateful, strict=False))):
        saved = [s.get("class") if isinstance(s, dict) else None for s in states or []]
        raise ValueError(f"{where}: the checkpoint holds the state of callbacks {saved}, "
                         f"given {[type(c).__name__ for c in stateful]}")
    loader_rng = _loader_generator(loader)
    if loader_rng is not None and info.get("loader_rng") is None:
        raise ValueError(f"{where}: the checkpoint holds no DataLoader generator state")
    history = None
    if info.get("history"):
        history = History.from_dict(decode(info["history"], where=where))
    metadata = user_metadata(raw, where)
    check_weights(raw, shapes(model), where)
    rng_state = decode(info.get("rng_state"), where=where)
    loader_state = decode(info.get("loader_rng"), where=where)
    with _as_value_error(where, "lamina's RNG state"):
        np.random.default_rng().bit_generator.state = rng_state  # checked before any change
    with _as_value_error(where, "the optimizer state"):
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
    with _as_value_error(where, "a scheduler state"):
        if scheduler is not None:
            for target, state in zip(given, schedulers, strict=True):
                target.load_state_dict(state)
    with _as_value_error(where, "a callback state"):
        for target, state in zip(stateful, states or [], strict=False):
            target.load_state_dict(state["state"])
    with _as_value_error(where, "the DataLoader generator state"):
        if loader_rng is not None:
            loader_rng.bit_generator.state = loader_state
    load_weights(model, raw, where)
    _restore_rng(rng_state, where)
    return Checkpoint(epoch=info["epoch"], history=history, metadata=metadata)

