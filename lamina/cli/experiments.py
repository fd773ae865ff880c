"""``lamina experiments list`` and ``lamina experiments run NAME [--quick] [--out DIR]``.

``list`` prints one plain line per experiment, ``NAME  claim``. ``run`` shows a progress bar on
stderr, then prints the claim, the measured numbers, the checks, a short conclusion and the
figures written into DIR (default ``experiments-out``); ``run all`` runs every experiment. The
exit status is 0 when every claim run holds and 1 otherwise, so a CI job can run them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["add_arguments", "run", "run_cli"]

DEFAULT_OUT = "experiments-out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list`` and ``run`` actions to the ``lamina experiments`` parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                    parser_class=type(parser))
    actions.add_parser("list", help="one line per experiment: NAME  claim",
                       description="List the experiments: one line each, NAME  claim.")
    runner = actions.add_parser("run", help="run one experiment (or all) and print its numbers",
                                description="Run an experiment: measure its claim, print the "
                                            "numbers and a conclusion, save its figures.")
    runner.add_argument("name", metavar="NAME",
                        help="an experiment's NAME (see 'lamina experiments list'), or 'all'")
    runner.add_argument("--quick", action="store_true",
                        help="smaller sizes: at most a minute on 2 cores")
    runner.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"directory for the PNG figures and files (default: {DEFAULT_OUT})")
    runner.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    runner.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Carry out ``args.action``; the exit status is 1 when a claim did not hold.

    Raises:
        ValueError: an unknown experiment name (the message lists the names).
    """
    from lamina import experiments

    if args.action == "list":
        for name, claim in experiments.claims().items():
            print(f"{name}  {claim}")
        return 0
    names = experiments.names() if args.name == "all" else [args.name]
    experiments.get(names[0])  # an unknown name fails here, before any work
    status = 0
    for position, name in enumerate(names):
        if position:
            print()
        result = experiments.run(name, quick=args.quick, out=args.out, seed=args.seed,
                                 progress=not args.no_progress)
        print(result.report(), flush=True)
        status = status or (0 if result.claim_holds else 1)
    return status


def run_cli(argv: Sequence[str]) -> int:
    """``lamina experiments ARGV...`` from Python; returns the exit status.

    Example:
        >>> run_cli(["list"])  # doctest: +ELLIPSIS
        capacity  as capacity grows, ...
        0
    """
    from lamina.cli import main

    return main(["experiments", *argv])
