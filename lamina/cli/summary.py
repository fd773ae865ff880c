"""``lamina summary MODEL_OR_CONFIG``: a layer table with each layer's output shape.

For convolution and pooling layers the table shows the output-size arithmetic of notes
eq 6.5-6.8 with padding, ``floor((n + 2p - k) / s) + 1``, e.g. ``(28 + 2*2 - 5)/1 + 1 = 28``,
computed by :mod:`lamina.convsize` (the helper the layers use). Shapes are also checked by
passing one zero sample through the layers (:mod:`lamina.workflow.summary`); this command
prints the table.
"""

from __future__ import annotations

import argparse

from lamina.workflow.summary import LayerRow, layer_rows, model_to_summarise

__all__ = ["LayerRow", "add_arguments", "format_table", "layer_rows", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODEL_OR_CONFIG",
                        help="a model file, or a TOML config (its model is built, untrained)")
    parser.add_argument("--input-shape", metavar="SHAPE",
                        help="one sample's shape, e.g. 1,28,28 (when the file does not say)")


def run(args: argparse.Namespace) -> int:
    model, shape, title = model_to_summarise(args.target, args.input_shape)
    print(title)
    print(format_table(layer_rows(model, shape), shape))
    return 0


def format_table(rows: list[LayerRow], input_shape: tuple[int, ...]) -> str:
    """The rows as a text table, with the input first and the parameter total last.

    Example:
        >>> rows = [LayerRow("0", "Linear", (3,), 15), LayerRow("1", "ReLU", (3,), 0)]
        >>> print(format_table(rows, (4,)))  # doctest: +NORMALIZE_WHITESPACE
        Layer (type)    Output shape    Param #    Output size (eq 6.5-6.8)
        -------------------------------------------------------------------
        input           (N, 4)                0
        0 (Linear)      (N, 3)               15
        1 (ReLU)        (N, 3)                0
        -------------------------------------------------------------------
        Total params: 15
    """
    header = ("Layer (type)", "Output shape", "Param #", "Output size (eq 6.5-6.8)")
    table = [("input", _shape(input_shape), "0", "")]
    table += [(f"{r.name} ({r.type})", _shape(r.output_shape), f"{r.parameters:,}",
               r.arithmetic) for r in rows]
    widths = [max(len(header[i]), *(len(t[i]) for t in table)) for i in range(3)]

    def line(cells: tuple[str, ...]) -> str:
        return (f"{cells[0]:<{widths[0]}}    {cells[1]:<{widths[1]}}    "
                f"{cells[2]:>{widths[2]}}    {cells[3]}").rstrip()

    rule = "-" * max(len(line(header)), *(len(line(t)) for t in table))
    total = sum(r.parameters for r in rows)
    return "\n".join([line(header), rule, *(line(t) for t in table), rule,
                      f"Total params: {total:,}"])


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"
