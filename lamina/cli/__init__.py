"""The ``lamina`` command line: ``lamina COMMAND ...`` (also ``python -m lamina``).

Each command is a module ``lamina/cli/<name>.py`` with two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...   # its options
    def run(args: argparse.Namespace) -> int: ...                      # its work; exit status

listed once in :data:`COMMANDS`. A command's module is imported only when that command runs (or
shows its ``--help``), so ``lamina --help`` stays fast and a command whose optional dependencies
are missing does not break the others. To add a command, write its module and add a line to
:data:`COMMANDS`.

Errors a user can cause (a missing file, a malformed config, a wrong image size, ...) print one
line, ``lamina: error: ...``, on stderr and exit with status 2; anything else is a bug and prints
``lamina: internal error: ...`` with status 1. ``LAMINA_DEBUG=1`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import NoReturn

from lamina.workflow.errors import error_message

__all__ = ["COMMANDS", "Command", "build_parser", "error_message", "main"]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130

# What a user can cause and fix: bad paths and files, bad values, missing optional extras.
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError)


@dataclass(frozen=True)
class Command:
    """One ``lamina`` command.

    Attributes:
        name: the word after ``lamina``.
        help: one line for ``lamina --help``.
        module: the module with ``add_arguments(parser)`` and ``run(args) -> int``.
    """

    name: str
    help: str
    module: str


COMMANDS: tuple[Command, ...] = (
    Command("train", "train a model from a TOML config", "lamina.cli.train"),
    Command("evaluate", "score a saved model on labelled data", "lamina.cli.evaluate"),
    Command("predict", "predict labels for images, an .npz or a CSV", "lamina.cli.predict"),
    Command("summary", "layer table of a model or config, with the output-size arithmetic",
            "lamina.cli.summary"),
    Command("inspect", "observe a data set: shapes, types, nulls, class balance",
            "lamina.cli.inspect_data"),
    Command("experiments", "list and run the experiments of the course notes",
            "lamina.cli.experiments"),
    Command("tune", "search hyperparameters of a config", "lamina.cli.tune"),
    Command("serve", "serve a model over HTTP", "lamina.cli.serve"),
    Command("export", "export a model (ONNX)", "lamina.cli.export"),
)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as the same one-line ``lamina: error:`` as other errors."""

    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "lamina" else f"{self.prog}: "
        print(f"lamina: error: {where}{message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The ``lamina`` argument parser.

    Args:
        selected: the command about to run; only its module is imported for its options.

    Returns:
        The parser; parsed arguments carry ``_command`` (the :class:`Command`) and ``_run``.
    """
    from lamina import __version__

    parser = _Parser(
        prog="lamina",
        description="lamina: train, evaluate and inspect NumPy deep-learning models.",
        epilog="Run 'lamina COMMAND --help' for a command's options. "
               "Set LAMINA_DEBUG=1 to see tracebacks.",
    )
    parser.add_argument("--version", action="version", version=f"lamina {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                     required=True, parser_class=_Parser)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        sub.set_defaults(_command=command, _run=None)
        if command.name != selected:
            continue
        module = _import_command(command)
        if module is None:
            sub.description = (f"{command.help} (not available yet in this installation: "
                               f"module {command.module} is missing)")
            sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        else:
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def _import_command(command: Command) -> ModuleType | None:
    """The command's module, or None when it is not part of this installation yet."""
    try:
        return importlib.import_module(command.module)
    except ModuleNotFoundError as err:
        if err.name is not None and command.module.startswith(err.name):
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lamina`` with ``argv`` (default: ``sys.argv[1:]``).

    Args:
        argv: the arguments after the program name.

    Returns:
        The exit status: 0 on success, 2 for a user error, 1 for an internal error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    debug = os.environ.get("LAMINA_DEBUG", "") not in ("", "0")
    try:
        parser = build_parser(selected)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else EXIT_USER_ERROR
        args._argv = argv
        if args._run is None:
            raise ValueError(
                f"'lamina {args._command.name}' is not available yet in this installation "
                f"(module {args._command.module} is missing)"
            )
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("lamina: interrupted", file=sys.stderr)
        _end_mpi_job(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`lamina predict ... | head`): not an error.
        _silence_stdout()
        return 0
    except Exception as err:  # the one place that turns exceptions into messages
        if debug:
            raise
        if isinstance(err, USER_ERRORS):
            print(f"lamina: error: {error_message(err)}", file=sys.stderr)
            _end_mpi_job(EXIT_USER_ERROR)
            return EXIT_USER_ERROR
        print(f"lamina: internal error: {type(err).__name__}: {error_message(err)} "
              "(set LAMINA_DEBUG=1 to see the traceback)", file=sys.stderr)
        _end_mpi_job(EXIT_INTERNAL_ERROR)
        return EXIT_INTERNAL_ERROR


def _end_mpi_job(code: int) -> None:
    """In an MPI job of several processes, a failing one ends them all (the others would wait
    for it in their next collective for ever)."""
    group = sys.modules.get("lamina.distributed.group")
    if group is not None:
        group.abort(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
