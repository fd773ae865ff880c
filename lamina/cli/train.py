"""``lamina train CONFIG.toml``: train a model from a config and write the run's files.

The run follows the notes' chapter 10 (observe, preprocess, select model, cost function and
optimizer, train) and writes into the output directory:

* the model file (``lm.save``: weights, architecture, the fitted preprocessing and metadata),
* ``history.csv`` (one row per epoch), ``learning_curves.png``, ``confusion_matrix.png``
  (on the test set), and ``summary.json`` (config, final metrics, wall time, versions).

:func:`run_training` does the work and is usable from Python (``lamina tune`` calls it too).
"""

from __future__ import annotations

import argparse
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

from lamina.config import Config, ConfigError, load_config

__all__ = ["TrainingResult", "add_arguments", "build_from_config", "run", "run_training"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the TOML config file")
    parser.add_argument("--out", metavar="DIR",
                        help="output directory (default: [output] dir, else runs/<config name>)")
    parser.add_argument("--epochs", type=int, metavar="N", help="override [train] epochs")
    parser.add_argument("--seed", type=int, metavar="N", help="override [train] seed")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar; print only the final lines")
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="train data-parallel in N processes (runs 'mpiexec -n N', each with "
                             "cores/N BLAS threads unless set; needs lamina[mpi]); the same "
                             "result as one process")


def run(args: argparse.Namespace) -> int:
    if args.nproc is not None and args.nproc != 1:
        return _launch(args)
    rank = _join_mpi_job()
    config = load_config(args.config)
    _override(config, args)
    if rank != 0:  # the other ranks train; rank 0 alone prints and writes the run's files
        run_training(config, Path("."), progress=False, log=lambda _: None,
                     write_files=False)
        return 0
    out_dir = Path(args.out) if args.out else default_out_dir(config, Path(args.config))
    result = run_training(config, out_dir, progress=not args.quiet,
                          log=(lambda _: None) if args.quiet else _print)
    where = result.summary["evaluated_on"]
    print(f"wrote {', '.join(sorted(p.name for p in result.files.values()))} to {out_dir}")
    for name, value in result.metrics.items():
        if name != "accuracy":
            print(f"{where} {name.replace('_', ' ')}: {value:.4f}")
    print(f"{where} accuracy: {100 * result.metrics['accuracy']:.2f}%")
    return 0


def _override(config: Config, args: argparse.Namespace) -> None:
    if args.epochs is not None:
        config.override("train", "epochs", args.epochs)
    if args.seed is not None:
        config.override("train", "seed", args.seed)


def _join_mpi_job() -> int:
    """This process's rank after joining the MPI job that started it (0 outside one)."""
    from lamina.distributed import group
    from lamina.distributed.launch import launched_by_mpi

    if launched_by_mpi() and not group.is_initialized():
        group.init_process_group("mpi")
    return group.rank_and_size()[0]


def _launch(args: argparse.Namespace) -> int:
    """``lamina train ... --nproc N``: the same command under ``mpiexec -n N``."""
    import subprocess

    from lamina.distributed.launch import launched_by_mpi, mpiexec_command

    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
    if launched_by_mpi():
        raise ValueError("--nproc inside an MPI job: use either mpiexec -n N or --nproc N")
    from lamina.distributed import is_available

    if not is_available():
        raise ImportError('--nproc needs mpi4py and MPI: pip install "lamina[mpi]"')
    argv = _without_nproc(list(getattr(args, "_argv", None) or sys.argv[1:]))
    return subprocess.call(mpiexec_command(args.nproc, argv), env=_thread_env(args.nproc))


def _thread_env(nproc: int) -> dict[str, str]:
    """The environment for N processes: unless set, each gets its share of the cores as BLAS
    threads (OpenBLAS would start one thread per core in every process)."""
    import os

    env = dict(os.environ)
    share = str(max(1, (os.cpu_count() or 1) // nproc))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, share)
    return env


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _print(message: str) -> None:
    print(message, flush=True)


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
        config: a validated :class:`~lamina.config.Config`.
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
    """
    import lamina as lm

    started = time.perf_counter()
    out_dir = Path(out_dir)
    train_options = config["train"]
    lm.manual_seed(train_options["seed"])
    data = build_from_config(config, "data", seed=train_options["seed"])
    log(f"data: {data.description}")
    model = build_from_config(config, "model", input_shape=data.input_shape,
                              num_classes=len(data.classes))
    n_params = sum(int(p.size) for p in model.parameters())
    log(f"model: {config['model']['name']} ({n_params:,} parameters)")
    loss_fn = build_from_config(config, "loss")
    optimizer = build_from_config(config, "optimizer", params=list(model.parameters()))

    if write_files:
        out_dir.mkdir(parents=True, exist_ok=True)
    callbacks = [*_callbacks(config, optimizer, out_dir, progress, write_files), *callbacks]
    x_train, y_train, val = _validation(data, train_options["validation_split"],
                                        train_options["seed"])
    eval_name, x_eval, y_eval = _evaluation_set(data, val, x_train, y_train)
    history = lm.fit(
        model, loss_fn, optimizer, (x_train, y_train), val=val,
        epochs=train_options["epochs"], batch_size=train_options["batch_size"],
        callbacks=callbacks, class_weight=_class_weight(train_options["class_weight"],
                                                        y_train, len(data.classes)),
        metrics=train_options["metrics"], shuffle=train_options["shuffle"],
    )
    model.eval()
    metrics, confusion = evaluate_arrays(model, loss_fn, x_eval, y_eval, len(data.classes))
    wall = time.perf_counter() - started
    log(f"{eval_name} set: {len(y_eval)} samples, accuracy {100 * metrics['accuracy']:.2f}%")

    summary = _summary(config, data, model, history, metrics, eval_name, wall, n_params)
    files: dict[str, Path] = {}
    if write_files:
        files = _write_outputs(config, out_dir, model, data, history, confusion, summary, log)
    return TrainingResult(model, history, metrics, confusion, data.classes, files, summary)


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
    from lamina.config import registry

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
    from lamina.cli.inputs import _split

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
    from lamina import metrics as M
    from lamina.train.loop import evaluate, predict

    labels = list(range(n_classes))
    predicted = predict(model, x).argmax(axis=1)
    scores = {"loss": evaluate(model, loss_fn, (x, y))["loss"]} if loss_fn is not None else {}
    scores["accuracy"] = float(M.accuracy_score(y, predicted))
    for name, fn in (("precision", M.precision_score), ("recall", M.recall_score),
                     ("f1", M.f1_score)):
        scores[f"macro_{name}"] = float(fn(y, predicted, labels=labels, average="macro",
                                           zero_division=0))
    return scores, np.asarray(M.confusion_matrix(y, predicted, labels=labels))


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
    from lamina.cli.artifacts import save_model

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
    from lamina.cli import error_message

    return error_message(err)
