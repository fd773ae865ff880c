"""``lamina evaluate MODEL DATA``: accuracy, macro precision/recall/F1, report, confusion matrix.

DATA is an ``.npz`` (``x_test``/``y_test`` or ``x``/``y``), a ``.csv`` (label column from the
model file, or ``--label``), or ``mnist`` / ``mnist-small`` (their test split). Raw inputs go
through the preprocessing stored in the model file, exactly as in training.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

__all__ = ["add_arguments", "format_confusion_matrix", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file written by lamina train")
    parser.add_argument("data", metavar="DATA",
                        help="labelled data: an .npz, a .csv, mnist or mnist-small")
    parser.add_argument("--label", metavar="COLUMN",
                        help="the CSV's label column (default: the one the model was trained "
                             "on), or the .npz's label array (default: y_test or y)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text report (default) or JSON")


def run(args: argparse.Namespace) -> int:
    from lamina import metrics as M
    from lamina.workflow.data_files import read_labelled
    from lamina.workflow.evaluation import classification_scores
    from lamina.workflow.model_file import load_model

    loaded = load_model(args.model)
    x, y_raw, description = read_labelled(args.data, loaded, args.label)
    y = loaded.index_of(y_raw, f"'{args.data}'")
    probabilities = loaded.probabilities(x)
    predicted = probabilities.argmax(axis=1)
    n_classes = probabilities.shape[1]
    if y.size and y.max() >= n_classes:
        raise ValueError(f"'{args.data}': label index {int(y.max())} is beyond the model's "
                         f"{n_classes} outputs")
    labels = list(range(n_classes))
    names = [str(c) for c in (loaded.classes or labels)]
    scores, matrix = classification_scores(y, predicted, n_classes)
    if args.format == "json":
        report = M.classification_report(y, predicted, labels=labels, target_names=names,
                                         output_dict=True, zero_division=0)
        print(json.dumps({"model": str(loaded.path), "data": description, "samples": len(y),
                          "metrics": scores, "classes": loaded.classes or labels,
                          "confusion_matrix": matrix.tolist(), "report": _plain(report)},
                         indent=2))
        return 0
    print(f"model: {loaded.path}")
    print(f"data: {description}")
    print(f"accuracy:        {scores['accuracy']:.4f}  (eq 7.3)")
    print(f"macro precision: {scores['macro_precision']:.4f}  (eq 7.1, averaged over classes)")
    print(f"macro recall:    {scores['macro_recall']:.4f}  (eq 7.2, averaged over classes)")
    print(f"macro F1:        {scores['macro_f1']:.4f}  (eq 7.4 with alpha = 1)")
    print()
    print(M.classification_report(y, predicted, labels=labels, target_names=names, digits=4,
                                  zero_division=0))
    print("confusion matrix (rows: true label, columns: predicted label):")
    print(format_confusion_matrix(matrix, names))
    return 0


def format_confusion_matrix(matrix: np.ndarray, names: list[str]) -> str:
    """The matrix as an aligned text table with class names on both axes.

    Example:
        >>> print(format_confusion_matrix(np.array([[5, 1], [0, 7]]), ["cat", "dog"]))
             cat  dog
        cat    5    1
        dog    0    7
    """
    width = max(len(str(int(matrix.max(initial=0)))), *(len(n) for n in names))
    head = max(len(n) for n in names)
    lines = [" " * head + "".join(f"  {n:>{width}}" for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:<{head}}" + "".join(f"  {int(v):>{width}}" for v in row))
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
