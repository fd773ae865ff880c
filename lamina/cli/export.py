"""``lamina export MODEL --format onnx``: write the model as ONNX (extra ``lamina[onnx]``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file written by lm.save")
    parser.add_argument("--format", default="onnx", choices=("onnx",), help="output format")
    parser.add_argument("--output", "-o", help="output path (default: MODEL with suffix .onnx)")
    parser.add_argument("--input-shape",
                        help="one sample's shape, e.g. 1,28,28 (default: from the model file)")


def run(args: argparse.Namespace) -> int:
    from lamina.onnx import export_cli

    export_cli(args.model, output=args.output, format=args.format, input_shape=args.input_shape)
    return 0
