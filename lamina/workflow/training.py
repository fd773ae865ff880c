"""A training run from a config (what ``lamina train`` and ``lamina tune`` do).

The run follows the notes' chapter 10 (observe, preprocess, select model, cost function and
optimizer, train) and writes into the output directory:

* the model file (``lm.save``: weights, architecture, the fitted preprocessing and metadata),
* ``history.csv`` (one row per epoch), ``learning_curves.png``, ``confusion_matrix.png``
  (on the test set), and ``summary.json`` (config, final metrics, wall time, versions).

:func:`run_training` does the work; ``lamina train`` prints its result.
"""

from __future__ import annotations

import csv
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.workflow.config import Config, ConfigError

__all__ = ["TrainingDiverged", "TrainingResult", "build_from_config", "default_out_dir",
           "evaluate_arrays", "run_training", "write_history_csv"]


def default_out_dir(config: Config, config_path: Path) -> Path:
    """``[output] dir`` (resolved against the config's directory), else ``runs/<stem>``."""
    configured = config["output"]["dir"]
    return Path(configured) if configured else Path("runs") / config_path.stem


@dataclass
class TrainingResult:
    """What :func:`run_training` produced.

    Attributes:
        model: the trained model (eval mode).
        history: the ``History`` of ``lm.fit``.
        metrics: test-set ``loss``, ``accuracy``, macro ``precision``/``recall``/``f1``.
        confusion: the test-set confusion matrix ``(C, C)`` (rows: true classes).
        classes: the class labels, in the matrix's order.
        files: what was written, by kind (``"model"``, ``"history"``, ...).
        summary: the content of ``summary.json``.
    """

    model: Any
    history: Any
    metrics: dict[str, float]
    confusion: np.ndarray
    classes: list[Any]
    files: dict[str, Path]
    summary: dict[str, Any]


def build_from_config(config: Config, table: str, **inject: Any) -> Any:
    """Call the factory that ``[table]`` names with its options and the injected arguments.

    Raises:
        ConfigError: the factory rejects the options (``ValueError``/``TypeError``); the message
            names the table and the factory.
    """
    factory = config.factory(table)
    try:
        return factory.resolve()(**config.options(table), **inject)
    except (ValueError, TypeError) as err:
        if isinstance(err, ConfigError):
            raise
        selector = "source" if table == "data" else "name"
        where = f'[{table}] ({selector} = "{factory.name}")'
        raise config.error(f"{where}: {_one_line(err)}") from None


def run_training(
    config: Config,
    out_dir: str | Path,
    *,
    progress: bool = True,
    log: Any = print,
    write_files: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainingResult:
    """Train the config's model on its data and write the run's files into ``out_dir``.

    Args:
        config: a validated :class:`~lamina.workflow.config.Config`.
        out_dir: the output directory (created).
        progress: show progress on stderr: a tqdm bar per epoch on a terminal, else a line.
        log: called with one line of progress text at a time.
        write_files: write the model, history, plots and summary, and run the callbacks that
            write files (checkpoint, CSV log); ``lamina tune`` turns this off.
        callbacks: extra callbacks, run after the config's (``lamina tune`` passes its pruner).

    Returns:
        The :class:`TrainingResult`.

    Raises:
        ConfigError: the config does not fit the data or a factory rejects its options.
        FileNotFoundError: a data file is missing.
        TrainingDiverged: the loss or the weights became NaN or infinite (nothing written).
    """
    from lamina import train
    from lamina.random import manual_seed

    started = time.perf_counter()
    out_dir = Path(out_dir)
    train_options = config["train"]
    manual_seed(train_options["seed"])
    data = build_from_config(config, "data", seed=train_options["seed"])
    log(f"data: {data.description}")
    model = build_from_config(config, "model", input_shape=data.input_shape,
                              num_classes=len(data.classes))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {config['model']['name']} ({n_params:,} parameters)")
    loss_fn = build_from_config(config, "loss")
    optimizer = build_from_config(config, "optimizer", params=list(model.parameters()))

    if write_files:
        out_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [*_callbacks(config, optimizer, out_dir, progress, write_files), *callbacks]
    x_train, y_train, val = _validation(data, train_options["validation_split"],
                                        train_options["seed"])
    eval_name, x_eval, y_eval = _evaluation_set(data, val, x_train, y_train)
    try:
        history = train.fit(
            model, loss_fn, optimizer, (x_train, y_train), val=val,
            epochs=train_options["epochs"], batch_size=train_options["batch_size"],
            callbacks=callbacks, class_weight=_class_weight(train_options["class_weight"],
                                                            y_train, len(data.classes)),
            metrics=train_options["metrics"], shuffle=train_options["shuffle"],
        )
    except FloatingPointError as err:  # fit stops at the first non-finite loss
        raise TrainingDiverged(f"training diverged: {_one_line(err)}; no model was written "
                               f"(lower [optimizer] lr?)") from None
    _check_finite(model, history)
    model.eval()
    metrics, confusion = evaluate_arrays(model, loss_fn, x_eval, y_eval, len(data.classes))
    wall = time.perf_counter() - started
    log(f"{eval_name} set: {len(y_eval)} samples, accuracy {100 * metrics['accuracy']:.2f}%")

    summary = _summary(config, data, model, history, metrics, eval_name, wall, n_params)
    files: dict[str, Path] = {}
    if write_files:
        files = _write_outputs(config, out_dir, model, data, history, confusion, summary, log)
    return TrainingResult(model, history, metrics, confusion, data.classes, files, summary)


class TrainingDiverged(ValueError):
    """Training produced a non-finite loss or weights (a learning rate too large, NaN in the
    data); nothing is written."""


def _check_finite(model: Any, history: Any) -> None:
    """Refuse a diverged result: a non-finite final loss or NaN/infinite weights.

    Raises:
        TrainingDiverged: names the epoch and what is not finite.
    """
    from lamina.workflow.predictor import check_finite_weights

    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrainingDiverged(f"training diverged: the loss of epoch {len(losses)} is "
                               f"{losses[-1]}; no model was written (lower [optimizer] lr?)")
    try:
        check_finite_weights(model, "training diverged")
    except ValueError as err:
        raise TrainingDiverged(f"{err}; no model was written (lower [optimizer] lr?)") from None


def _callbacks(config: Config, optimizer: Any, out_dir: Path, progress: bool,
               write_files: bool) -> list[Any]:
    """Progress display, the learning-rate schedule and the ``[callbacks]``, in that order."""
    from lamina.train.callbacks import LearningRateScheduler, ProgressBar

    callbacks: list[Any] = []
    if progress:
        # a live tqdm bar on a terminal; one plain line per epoch in logs and pipes
        interactive = sys.stderr is not None and sys.stderr.isatty()
        callbacks.append(ProgressBar(bar=None if interactive else False))
    if config["scheduler"]:
        scheduler = build_from_config(config, "scheduler", optimizer=optimizer)
        callbacks.append(LearningRateScheduler(scheduler))
    for name, options in config["callbacks"].items():
        callback = _build_callback(config, name, options, out_dir, write_files)
        if callback is not None:
            callbacks.append(callback)
    return callbacks


def _evaluation_set(data: Any, val: Any, x_train: np.ndarray,
                    y_train: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
    """The final metrics' data: the test set, else the validation set, else the training set."""
    if data.x_test is not None:
        return "test", data.x_test, data.y_test
    if val is not None:
        return "validation", val[0], val[1]
    return "training", x_train, y_train


def _build_callback(config: Config, name: str, options: dict[str, Any], out_dir: Path,
                    write_files: bool) -> Any:
    """The callback ``[callbacks] name`` configures; None for one that writes files into
    ``out_dir`` (a checkpoint, a log) when ``write_files`` is off."""
    from lamina.workflow.config import registry

    factory = registry.callbacks.get(name)
    if "out_dir" in factory.inject and not write_files:
        return None
    inject = {"out_dir": out_dir} if "out_dir" in factory.inject else {}
    try:
        return factory.resolve()(**options, **inject)
    except (ValueError, TypeError) as err:
        raise config.error(f"[callbacks.{name}]: {_one_line(err)}") from None


def _validation(data: Any, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """(x_train, y_train, val): a stratified share of the training set, else the test set."""
    if fraction <= 0:
        val = None if data.x_test is None else (data.x_test, data.y_test)
        return data.x_train, data.y_train, val
    from lamina.workflow.sources import _split

    keep, held = _split(len(data.x_train), data.y_train, fraction, seed)
    return (data.x_train[keep], data.y_train[keep],
            (data.x_train[held], data.y_train[held]))


def _class_weight(option: Any, y: np.ndarray, n_classes: int) -> dict[int, float] | None:
    """``"balanced"``: weight n / (C * n_c) per class (scikit-learn's), so each class's total
    weight is equal; a table maps class indices (as strings) to weights."""
    if option == "none":
        return None
    if option == "balanced":
        counts = np.bincount(y, minlength=n_classes)
        return {c: len(y) / (n_classes * counts[c]) for c in range(n_classes) if counts[c]}
    return {int(k): float(v) for k, v in option.items()}


def evaluate_arrays(model: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray,
                    n_classes: int) -> tuple[dict[str, float], np.ndarray]:
    """Loss, accuracy (eq 7.3), macro precision/recall/F1 (eq 7.1, 7.2, 7.4) and the confusion
    matrix of ``model`` on ``(x, y)`` with class indices ``0..n_classes-1``."""
    from lamina.train.loop import evaluate
    from lamina.workflow.evaluation import classification_scores
    from lamina.workflow.predictor import Predictor

    predicted = Predictor(model).predict(x)
    scores = {"loss": evaluate(model, loss_fn, (x, y))["loss"]} if loss_fn is not None else {}
    accuracy, confusion = classification_scores(y, predicted, n_classes)
    return {**scores, **accuracy}, confusion


def _summary(config: Config, data: Any, model: Any, history: Any, metrics: dict[str, float],
             eval_name: str, wall: float, n_params: int) -> dict[str, Any]:
    import lamina

    last = {k: v[-1] for k, v in history.history.items() if v}
    return {
        "config_file": config.name,
        "config": config.to_dict(),
        "data": {"description": data.description, **data.info,
                 "train_samples": int(len(data.x_train)),
                 "test_samples": 0 if data.x_test is None else int(len(data.x_test)),
                 "classes": data.classes, "input_shape": list(data.input_shape)},
        "model": {"name": config["model"]["name"], "parameters": n_params},
        "epochs_run": len(history.epoch),
        "final_epoch": _finite(last),
        "evaluated_on": eval_name,
        "metrics": _finite(metrics),
        "wall_time_s": round(wall, 3),
        "versions": {"lamina": lamina.__version__, "numpy": np.__version__,
                     "python": platform.python_version(), "platform": platform.platform()},
    }


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _write_outputs(config: Config, out_dir: Path, model: Any, data: Any, history: Any,
                   confusion: np.ndarray, summary: dict[str, Any], log: Any) -> dict[str, Path]:
    from lamina.workflow.model_file import save_model

    files = {"model": out_dir / config["output"]["model"]}
    save_model(model, files["model"], data, config, summary)
    files["history"] = out_dir / "history.csv"
    write_history_csv(history, files["history"])
    files["summary"] = out_dir / "summary.json"
    if config["output"]["plots"]:
        try:
            from lamina import plots

            files["learning_curves"] = plots.plot_learning_curves(
                history, out_dir / "learning_curves.png",
                title=f"learning curves ({config.name})")
            files["confusion_matrix"] = plots.plot_confusion_matrix(
                confusion, data.classes, out_dir / "confusion_matrix.png",
                title=f"confusion matrix ({summary['evaluated_on']} set)")
        except ImportError as err:
            print(f"lamina: warning: no plots written: {err}", file=sys.stderr)
    summary["files"] = {kind: path.name for kind, path in files.items()}
    files["summary"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return files


def write_history_csv(history: Any, path: Path) -> None:
    """One row per epoch: ``epoch`` (counting from 1) then every logged value."""
    columns = list(history.history)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *columns])
        for i, epoch in enumerate(history.epoch):
            writer.writerow([epoch + 1, *(f"{history.history[c][i]:.6g}" for c in columns)])


def _one_line(err: BaseException) -> str:
    from lamina.workflow.errors import error_message

    return error_message(err)
