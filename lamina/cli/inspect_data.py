"""``lamina inspect DATA``: the notes' "observe the data" step (chapter 10, step 2).

For a CSV: its shape, each column's type, nulls and distinct values, the class balance of the
label column (``--label``) and a numeric summary (pandas ``describe``). For an ``.npz``: each
array's shape, dtype, value range and NaNs, and the class balance of its label arrays. The
report is :func:`lamina.workflow.inspection.inspect_file`.
"""

from __future__ import annotations

import argparse

from lamina.workflow.inspection import class_balance, inspect_file

__all__ = ["add_arguments", "class_balance", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="a .csv or .npz file")
    parser.add_argument("--label", metavar="NAME",
                        help="the label column (CSV) or array (npz) whose class balance to show "
                             "(npz default: arrays named y, y_train, y_test, labels)")


def run(args: argparse.Namespace) -> int:
    print(inspect_file(args.data, args.label))
    return 0
