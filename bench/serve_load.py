"""A bounded load test of ``lamina serve``: throughput and latency percentiles over HTTP.

    python -m bench.serve_load                      # 2,000 requests x 16 clients, JSON and PNG
    python -m bench.serve_load --requests 500 --concurrency 4 --formats json --no-write

It saves a LeNet-5 as ``lamina train`` would (image pipeline, class names) in a temporary
directory, starts ``lamina serve``'s app with uvicorn in a child process on a free port of
127.0.0.1 (so the clients do not compete with the server for the GIL), sends the requests from
client threads that each hold one keep-alive connection, stops the server and prints the
throughput and the p50/p90/p99 latencies. It replaces the ``## HTTP service load test`` section
of bench/RESULTS.md (the rest of the file is kept) unless ``--no-write``. Not a test.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## HTTP service load test"
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"


# ----------------------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_serve(model_path: str, port: int) -> None:
    """Entry point of the server process: the app of ``lamina serve``, quiet logs."""
    import uvicorn

    from lamina.serve import create_app

    uvicorn.run(create_app(model_path), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def start_server(model_path: str, timeout: float = 60.0) -> tuple[subprocess.Popen, int]:
    """Start the server process and wait until ``/health`` answers."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                  "")]))
    process = subprocess.Popen([sys.executable, "-m", "bench.serve_load", "--child", model_path,
                                str(port)], cwd=str(ROOT), env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server process exited with status {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return process, port
        except OSError:
            time.sleep(0.1)
    stop_server(process)
    raise RuntimeError(f"the server did not answer on port {port} within {timeout:.0f} s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ----------------------------------------------------------------------------- model and inputs
def save_model(directory: str) -> str:
    """A seeded LeNet-5 saved with the metadata ``lamina train`` writes."""
    import lamina as lm
    from lamina.workflow.pipelines import ImagePipeline

    lm.manual_seed(0)
    path = os.path.join(directory, "lenet5.safetensors")
    lm.save(lm.models.lenet5(), path,
            metadata={"input_shape": [1, 28, 28], "classes": list(range(10)),
                      "pipeline": ImagePipeline((1, 28, 28)).to_config()})
    return path


def digits(n: int) -> np.ndarray:
    import lamina as lm

    if SHARED_MNIST.exists():
        _, (x, _) = lm.datasets.mnist(path=str(SHARED_MNIST))
    else:
        _, (x, _) = lm.datasets.mnist(subset="small")
    return x[:n]


def bodies(kind: str, images: np.ndarray, batch: int) -> list[tuple[bytes, str]]:
    """Request bodies and their Content-Type, one per distinct input."""
    out = []
    for start in range(0, len(images) - batch + 1, batch):
        chunk = images[start:start + batch]
        if kind == "json":
            out.append((json.dumps({"inputs": chunk.tolist()}).encode(), "application/json"))
        else:
            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(chunk[0]).save(buffer, format="PNG")
            out.append((buffer.getvalue(), "image/png"))
    return out


# ----------------------------------------------------------------------------- load
def run_load(port: int, payloads: list[tuple[bytes, str]], requests: int, concurrency: int,
             time_limit: float) -> dict:
    """Send ``requests`` POST /predict from ``concurrency`` threads; latencies in seconds."""
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + time_limit

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= requests or time.perf_counter() > deadline:
                break
            body, content_type = payloads[i % len(payloads)]
            start = time.perf_counter()
            try:
                connection.request("POST", "/predict", body=body,
                                   headers={"Content-Type": content_type})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}")
            except OSError as exc:
                errors.append(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = np.array(latencies) * 1000.0
    return {"requests": len(latencies), "errors": len(errors), "wall_s": wall,
            "throughput": len(latencies) / wall if wall else 0.0,
            "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "p90": float(np.percentile(lat, 90)) if len(lat) else float("nan"),
            "p99": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
            "max": float(lat.max()) if len(lat) else float("nan"),
            "mean": statistics.fmean(lat) if len(lat) else float("nan")}


# ----------------------------------------------------------------------------- report
def section(results: list[dict], args: argparse.Namespace) -> list[str]:
    lines = [
        SECTION, "",
        f"`python -m bench.serve_load` on {time.strftime('%Y-%m-%d %H:%M')}: LeNet-5 behind "
        f"`lamina serve` (uvicorn, one process) on 127.0.0.1, {args.requests:,} POST /predict "
        f"requests per format from {args.concurrency} client threads with keep-alive "
        f"connections (the server in its own process), batch {args.batch} per request, after "
        f"a warm-up; {os.cpu_count()} CPUs shared by server and clients (load average "
        f"{args.load:.1f} before the run), Python {platform.python_version()}. "
        f"Latency = request sent to answer read, queueing included.", "",
        "| format | requests | errors | wall | requests/s | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['format']} | {r['requests']:,} | {r['errors']} | {r['wall_s']:.2f} s "
                     f"| {r['throughput']:,.0f} | {r['p50']:.1f} ms | {r['p90']:.1f} ms | "
                     f"{r['p99']:.1f} ms | {r['max']:.1f} ms |")
    return lines + [""]


def replace_section(path: Path, lines: list[str]) -> None:
    """Put ``lines`` in place of the existing section (up to the next ``## ``), or append."""
    text = path.read_text().splitlines() if path.exists() else ["# lamina benchmark results",
                                                                 ""]
    if SECTION in text:
        start = text.index(SECTION)
        end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")),
                   len(text))
        text = text[:start] + lines + text[end:]
    else:
        text = text + ([""] if text and text[-1] else []) + lines
    while text and not text[-1]:
        text.pop()
    path.write_text("\n".join(text) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per format")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--batch", type=int, default=1, help="images per JSON request")
    parser.add_argument("--formats", default="json,png", help="json, png or both (json,png)")
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="stop sending after this many seconds per format")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_serve(args.child[0], int(args.child[1]))
        return 0
    args.load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as directory:
        model_path = save_model(directory)
        images = digits(256)
        process, port = start_server(model_path)
        try:
            for kind in [k.strip() for k in args.formats.split(",") if k.strip()]:
                payloads = bodies(kind, images, args.batch if kind == "json" else 1)
                run_load(port, payloads, min(300, args.requests), args.concurrency, 30.0)  # warm-up
                result = run_load(port, payloads, args.requests, args.concurrency,
                                  args.time_limit)
                result["format"] = kind if kind == "png" or args.batch == 1 else \
                    f"json (batch {args.batch})"
                results.append(result)
                print(f"{kind:>4}: {result['requests']:,} requests in {result['wall_s']:.2f} s = "
                      f"{result['throughput']:,.0f} requests/s; latency p50 "
                      f"{result['p50']:.1f} ms, p90 {result['p90']:.1f} ms, p99 "
                      f"{result['p99']:.1f} ms, max {result['max']:.1f} ms; "
                      f"{result['errors']} errors", flush=True)
        finally:
            stop_server(process)
    if not args.no_write:
        replace_section(RESULTS, section(results, args))
        print(f"wrote the '{SECTION[3:]}' section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
