"""``lamina serve MODEL``: a FastAPI + uvicorn prediction service (extra ``lamina[serve]``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a model file written by `lamina train` or lm.save")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")


def run(args: argparse.Namespace) -> int:
    from lamina.serve import serve

    serve(args.model, host=args.host, port=args.port)
    return 0
