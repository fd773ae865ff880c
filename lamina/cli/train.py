"""``lamina train CONFIG.toml``: train a model from a config and write the run's files.

The run itself is :func:`lamina.workflow.training.run_training` (the model file, history, plots
and summary it writes are described there); this command reads the config, applies the
command-line overrides and prints the result.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lamina.workflow.config import load_config
from lamina.workflow.training import TrainingResult, default_out_dir, run_training

__all__ = ["TrainingResult", "add_arguments", "run", "run_training"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the TOML config file")
    parser.add_argument("--out", metavar="DIR",
                        help="output directory (default: [output] dir, else runs/<config name>)")
    parser.add_argument("--epochs", type=int, metavar="N", help="override [train] epochs")
    parser.add_argument("--seed", type=int, metavar="N", help="override [train] seed")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar; print only the final lines")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.epochs is not None:
        config.override("train", "epochs", args.epochs)
    if args.seed is not None:
        config.override("train", "seed", args.seed)
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


def _print(message: str) -> None:
    print(message, flush=True)
