"""``lamina tune CONFIG --trials N``: search the ranges of a config with Optuna (``lamina[tune]``).

The config is a training config whose values may be ranges (``lr = {log_uniform = [1e-4,
1e-1]}``, see :mod:`lamina.tune`) and is self-contained (data inline, or absolute paths). The
command prints the best value and its trial, the best values of the ranges, and writes
``best_config.toml`` (a plain config: ``lamina train best_config.toml`` trains it) and
``best_model/`` (that training run: the model file, history, summary, plots) into the current
directory, or ``--out DIR``. With ``--storage sqlite:///study.db`` the trials are kept in that
file, and running the command again continues the study.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the TOML config with ranges")
    parser.add_argument("--trials", type=int, metavar="N",
                        help="trials to run now (default: [tune] trials)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="start no trial after S seconds (default: [tune] timeout)")
    parser.add_argument("--storage", metavar="URL",
                        help="keep the study there and continue it, e.g. sqlite:///study.db")
    parser.add_argument("--study-name", metavar="NAME",
                        help="the study's name (default: [tune] study_name, else the "
                             "config's file name)")
    parser.add_argument("--seed", type=int, metavar="N", help="override [tune] seed")
    parser.add_argument("--out", metavar="DIR", default=".",
                        help="where best_config.toml and best_model/ go (default: .)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress; print only the results")


def run(args: argparse.Namespace) -> int:
    from lamina.tune import tune

    for option, value in (("--trials", args.trials), ("--timeout", args.timeout)):
        if value is not None and value <= 0:
            raise ValueError(f"lamina tune: {option} must be > 0, received {value}")
    result = tune(args.config, args.trials, timeout=args.timeout, storage=args.storage,
                  study_name=args.study_name, out_dir=args.out, seed=args.seed,
                  progress=not args.quiet)
    states = [t.state.name.lower() for t in result.study.trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "fail")
                       if s in states)
    print(f"study '{result.study.study_name}': {len(states)} trials ({counts})")
    print(f"best {result.metric}: {result.best_value:.6g} (trial {result.best_trial})")
    for name, value in result.best_params.items():
        print(f"  {name} = {_show(value)}")
    out = Path(args.out)
    written = [result.files["config"].name]
    if "model" in result.files:
        written.append(f"{result.files['model'].parent.name}/ "
                       f"({result.files['model'].name}, ...)")
    print(f"wrote {', '.join(written)} to {out}")
    if result.metrics:
        print(f"best model: {result.metrics['evaluated_on']} accuracy "
              f"{100 * result.metrics['accuracy']:.2f}%")
    sys.stdout.flush()
    return 0


def _show(value: Any) -> str:
    """A value as a config writes it: 0.00312, "adam", true, [32, 16]."""
    return f"{value:.6g}" if isinstance(value, float) else json.dumps(value)
