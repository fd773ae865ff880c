"""``lamina predict MODEL INPUT...``: labels (and probabilities) for new data, as JSON or CSV.

INPUT is one or more PNG images (grayscale, the model's size, e.g. 28x28 for MNIST), one
``.npz`` (array ``x_test``, ``x`` or ``inputs``) or one ``.csv`` (the model's feature columns;
others are ignored). Labels are the original class names, via the preprocessing stored in the
model file; probabilities are the softmax of the model's outputs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file written by lamina train")
    parser.add_argument("inputs", metavar="INPUT", nargs="+",
                        help="PNG image(s), or one .npz or .csv file")
    parser.add_argument("--format", choices=("json", "csv"), default="json",
                        help="output format (default: json)")
    parser.add_argument("--proba", action="store_true",
                        help="also print every class's probability")


def run(args: argparse.Namespace) -> int:
    from lamina.workflow.data_files import read_unlabelled
    from lamina.workflow.model_file import load_model

    loaded = load_model(args.model)
    x, names = read_unlabelled(args.inputs, loaded)
    probabilities = loaded.probabilities(x)
    labels = loaded.label_of(probabilities.argmax(axis=1))
    classes = loaded.classes or list(range(probabilities.shape[1]))
    if args.format == "json":
        out = {"inputs": names, "labels": labels}
        if args.proba:
            out["classes"] = classes
            out["probabilities"] = [[round(float(p), 6) for p in row] for row in probabilities]
        else:
            out["confidence"] = [round(float(row.max()), 6) for row in probabilities]
        print(json.dumps(out))
        return 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    extra = [f"p_{c}" for c in classes] if args.proba else ["confidence"]
    writer.writerow(["input", "label", *extra])
    for name, label, row in zip(names, labels, probabilities, strict=True):
        values = row if args.proba else [row.max()]
        writer.writerow([name, label, *(f"{float(p):.6f}" for p in values)])
    return 0
