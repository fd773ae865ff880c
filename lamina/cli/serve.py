"""``lamina serve MODEL``: a FastAPI + uvicorn prediction service (extra ``lamina[serve]``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a model file written by `lamina train` or lm.save")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--batch-window-ms", type=float, default=0.0, metavar="MS",
                        help="micro-batch concurrent /predict requests: a request waits up to "
                             "MS milliseconds for others, and they run as one forward pass "
                             "(default 0: each request runs alone)")
    parser.add_argument("--max-batch", type=int, default=None, metavar="N",
                        help="the most samples of one micro-batch (default 32; needs "
                             "--batch-window-ms)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="server processes sharing the port, each with its own copy of the "
                             "model (default 1); more use more cores")
    parser.add_argument("--blas-threads", type=int, default=1, metavar="N",
                        help="BLAS threads per server process (default 1: a server's "
                             "parallelism comes from its requests and workers)")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false",
                        help="do not log a line per request")


def run(args: argparse.Namespace) -> int:
    from lamina.serve import DEFAULT_MAX_BATCH, check_batching, serve

    if args.max_batch is not None and not args.batch_window_ms:
        raise ValueError("serve: --max-batch sets the size of micro-batches; it needs "
                         "--batch-window-ms MS (a window > 0)")
    max_batch = DEFAULT_MAX_BATCH if args.max_batch is None else args.max_batch
    check_batching(args.batch_window_ms, max_batch)
    serve(args.model, host=args.host, port=args.port, batch_window_ms=args.batch_window_ms,
          max_batch=max_batch, workers=args.workers, blas_threads=args.blas_threads,
          access_log=args.access_log)
    return 0
