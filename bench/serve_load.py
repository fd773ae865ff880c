"""A bounded load test of ``lamina serve``: throughput and latency percentiles over HTTP.

    python -m bench.serve_load                      # 2,000 requests x 16 clients, JSON and PNG
    python -m bench.serve_load --requests 500 --concurrency 4 --formats json --no-write
    python -m bench.serve_load --baseline ../old-checkout --rounds 5   # A/B, alternating
    python -m bench.serve_load --batch-window-ms 2 --max-batch 32      # micro-batching
    python -m bench.serve_load --workers 2                             # two server processes

It saves a LeNet-5 (``--model mnist-net``: a heavier CNN) as ``lamina train`` would (image
pipeline, class names) in a temporary directory, starts the server in a child process on a free
port of 127.0.0.1 as ``lamina serve`` runs it (``lamina.serve.serve``, access log off; in its own
process so that the clients do not compete with the server for the GIL), sends the requests from
client threads that each hold one keep-alive connection, stops the server and prints the
throughput, the p50/p90/p99 latencies and the server's CPU time per request (user + system of
the server and its worker processes, from /proc: a measure that other load on a shared machine
disturbs less than the wall clock).

``--baseline TREE`` also serves LeNet-5 from another checkout of lamina (the model saved by
that checkout's ``bench.serve_load.save_model``, served by its ``lamina.serve.create_app`` run by
``uvicorn.run`` with h11 and asyncio, as this bench ran the server before; ``--baseline-http``
picks another parser), and the two servers take turns for ``--rounds`` rounds (order
alternating); the report gives each one's medians over the rounds and the median of the
per-round ratios new / baseline.

It replaces the ``## HTTP service load test`` section of bench/RESULTS.md (the rest of the file
is kept) unless ``--no-write``. Not a test.
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

# The baseline server: another checkout's app, run as this bench ran it before (the `http` and
# `loop` uvicorn resolved to then: h11 and asyncio; --baseline-http auto lets uvicorn choose).
_BASELINE_CHILD = """
import sys, uvicorn
from lamina.serve import create_app
model, port, http = sys.argv[1], int(sys.argv[2]), sys.argv[3]
uvicorn.run(create_app(model), host="127.0.0.1", port=port, log_level="warning",
            access_log=False, http=http, loop="auto" if http == "auto" else "asyncio")
"""


# ----------------------------------------------------------------------------- server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_serve(model_path: str, port: int, args: argparse.Namespace) -> None:
    """Entry point of the server process: ``lamina serve``'s ``serve`` (its app and uvicorn
    settings), without logs."""
    from lamina.serve import serve

    serve(model_path, port=port, batch_window_ms=args.batch_window_ms,
          max_batch=args.max_batch, workers=args.workers,
          blas_threads=args.blas_threads or None, log_level="warning", access_log=False)


def server_command(model_path: str, port: int, args: argparse.Namespace,
                   baseline: str | None = None) -> tuple[list[str], Path]:
    """The command line (and its working directory) of this tree's server, or of the
    baseline checkout's."""
    if baseline is not None:
        return [sys.executable, "-c", _BASELINE_CHILD, model_path, str(port),
                args.baseline_http], Path(baseline)
    return [sys.executable, "-m", "bench.serve_load", "--child", model_path, str(port),
            "--batch-window-ms", str(args.batch_window_ms), "--max-batch",
            str(args.max_batch), "--workers", str(args.workers), "--blas-threads",
            str(args.blas_threads)], ROOT


def start_server(command: list[str], cwd: Path, port: int,
                 timeout: float = 60.0) -> subprocess.Popen:
    """Start the server process (lamina imported from ``cwd``) and wait until ``/health``
    answers."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    process = subprocess.Popen(command, cwd=str(cwd), env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server process exited with status {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return process
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and its descendants (the worker
    processes of ``--workers``); Linux /proc, NaN elsewhere."""
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return float("nan")
    if pid not in stats:
        return float("nan")
    family = {pid}
    for _ in range(4):  # parents are listed before their children only by chance
        family |= {p for p, (parent, _) in stats.items() if parent in family}
    ticks = sum(stats[p][1] for p in family)
    return ticks / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- model and inputs
MODELS = ("lenet5", "mnist-net")
_MODEL_NAMES = {"lenet5": "LeNet-5", "mnist-net": "the PyTorch MNIST example's Net"}


def build_model(name: str):
    """LeNet-5, or the PyTorch MNIST example's Net (conv 1->32 3x3, conv 32->64 3x3, max-pool,
    Linear 9216->128->10; dropout left out, it is the identity when serving) as a Sequential:
    ~24 MFLOP a forward pass against LeNet-5's ~0.6, a model whose time batching shortens."""
    import lamina as lm
    from lamina import nn

    if name == "lenet5":
        return lm.models.lenet5()
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def save_model(directory: str, name: str = "lenet5") -> str:
    """A seeded model saved with the metadata ``lamina train`` writes."""
    import lamina as lm
    from lamina.workflow.pipelines import ImagePipeline

    lm.manual_seed(0)
    path = os.path.join(directory, f"{name}.safetensors")
    lm.save(build_model(name), path,
            metadata={"input_shape": [1, 28, 28], "classes": list(range(10)),
                      "pipeline": ImagePipeline((1, 28, 28)).to_config()})
    return path


def save_baseline_model(tree: Path, directory: str) -> str:
    """The LeNet-5 saved by the baseline checkout's own ``bench.serve_load.save_model`` (a
    model file is read by the lamina that wrote it: formats move on)."""
    target = os.path.join(directory, "baseline")
    os.makedirs(target, exist_ok=True)
    code = "import sys; from bench.serve_load import save_model; print(save_model(sys.argv[1]))"
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", code, target], cwd=str(tree), env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return done.stdout.strip().splitlines()[-1]


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
             time_limit: float, server_pid: int | None = None) -> dict:
    """Send ``requests`` POST /predict from ``concurrency`` threads; latencies in ms, and the
    server's CPU ms per request when ``server_pid`` is given."""
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
    cpu_start = cpu_seconds(server_pid) if server_pid else float("nan")
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    cpu = cpu_seconds(server_pid) - cpu_start if server_pid else float("nan")
    lat = np.array(latencies) * 1000.0
    n = len(latencies)
    return {"requests": n, "errors": len(errors), "wall_s": wall,
            "throughput": n / wall if wall else 0.0,
            "p50": float(np.percentile(lat, 50)) if n else float("nan"),
            "p90": float(np.percentile(lat, 90)) if n else float("nan"),
            "p99": float(np.percentile(lat, 99)) if n else float("nan"),
            "max": float(lat.max()) if n else float("nan"),
            "mean": statistics.fmean(lat) if n else float("nan"),
            "cpu_ms": 1000.0 * cpu / n if n else float("nan")}


def measure(server: str, command: list[str], cwd: Path, model_path: str, port: int,
            formats: list[str], images: np.ndarray, args: argparse.Namespace) -> list[dict]:
    """Start one server, load it with each format (after a warm-up), stop it."""
    process = start_server(command, cwd, port)
    results = []
    try:
        for kind in formats:
            payloads = bodies(kind, images, args.batch if kind == "json" else 1)
            run_load(port, payloads, min(300, args.requests), args.concurrency, 30.0)  # warm-up
            result = run_load(port, payloads, args.requests, args.concurrency,
                              args.time_limit, process.pid)
            result["format"] = kind if kind == "png" or args.batch == 1 else \
                f"json (batch {args.batch})"
            result["server"] = server
            results.append(result)
            print(f"{server:>8} {kind:>4}: {result['requests']:,} requests in "
                  f"{result['wall_s']:.2f} s = {result['throughput']:,.0f} requests/s; latency "
                  f"p50 {result['p50']:.1f} ms, p90 {result['p90']:.1f} ms, p99 "
                  f"{result['p99']:.1f} ms, max {result['max']:.1f} ms; server CPU "
                  f"{result['cpu_ms']:.3f} ms/request; {result['errors']} errors", flush=True)
    finally:
        stop_server(process)
    return results


def summarise(rounds: list[list[dict]]) -> list[dict]:
    """Per (server, format): the medians over rounds of each measure, the quartiles of the
    throughput, and for "new" the median of the per-round throughput and CPU ratios against
    "baseline"."""
    cells: dict[tuple[str, str], list[dict]] = {}
    for results in rounds:
        for r in results:
            cells.setdefault((r["server"], r["format"]), []).append(r)
    rows = []
    for (server, kind), runs in cells.items():
        row = {"server": server, "format": kind, "rounds": len(runs),
               "requests": sum(r["requests"] for r in runs),
               "errors": sum(r["errors"] for r in runs)}
        for key in ("throughput", "p50", "p90", "p99", "max", "cpu_ms"):
            row[key] = statistics.median(r[key] for r in runs)
        values = [r["throughput"] for r in runs]
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        row["spread"] = (quartiles[0], quartiles[-1])
        base = cells.get(("baseline", kind))
        if server == "new" and base:
            row["ratio"] = statistics.median(
                n["throughput"] / b["throughput"] for n, b in zip(runs, base, strict=False))
            row["cpu_ratio"] = statistics.median(
                b["cpu_ms"] / n["cpu_ms"] for n, b in zip(runs, base, strict=False))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- report
def section(rows: list[dict], args: argparse.Namespace) -> list[str]:
    batching = (f"micro-batching on ({args.batch_window_ms:g} ms window, up to "
                f"{args.max_batch} samples)" if args.batch_window_ms else "no micro-batching")
    batching += f", {args.blas_threads or 'default'} BLAS thread(s)"
    processes = "one process" if args.workers == 1 else f"{args.workers} worker processes"
    command = "python -m bench.serve_load" + (" " + " ".join(args.argv) if args.argv else "")
    baseline = (f" The baseline is the checkout {args.baseline_name} serving the same model "
                f"(uvicorn.run(create_app(model)), http={args.baseline_http}); the servers took "
                f"turns, {args.rounds} rounds, order alternating; values are medians over the "
                f"rounds, 'vs baseline' the median of the per-round ratios."
                if args.baseline else "")
    lines = [
        SECTION, "",
        f"`{command}` on {time.strftime('%Y-%m-%d %H:%M')}: {_MODEL_NAMES[args.model]} behind "
        f"`lamina serve` "
        f"(`lamina.serve.serve`: {processes}, {batching}) on 127.0.0.1, "
        f"{args.requests:,} POST /predict requests per format and round from "
        f"{args.concurrency} client threads with keep-alive connections (the server in its "
        f"own process), batch {args.batch} per request, after a warm-up; {os.cpu_count()} "
        f"CPUs shared by server and clients (load average {args.load:.1f} before the run), "
        f"Python {platform.python_version()}. Latency = request sent to answer read, queueing "
        f"included; server CPU = the server process's user + system time per request.{baseline}",
        "",
        "| server | format | requests | errors | requests/s (quartiles) | vs baseline | p50 | "
        "p90 | p99 | max | server CPU / request |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = (f"{r['ratio']:.2f}x (CPU {r['cpu_ratio']:.2f}x less)" if "ratio" in r
                 else "")
        lines.append(f"| {r['server']} | {r['format']} | {r['requests']:,} | {r['errors']} | "
                     f"{r['throughput']:,.0f} ({r['spread'][0]:,.0f}-{r['spread'][1]:,.0f}) | "
                     f"{ratio} | {r['p50']:.1f} ms | {r['p90']:.1f} ms | {r['p99']:.1f} ms | "
                     f"{r['max']:.1f} ms | {r['cpu_ms']:.3f} ms |")
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
    parser.add_argument("--model", default="lenet5", choices=MODELS,
                        help="the served model (default lenet5)")
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests per format (and round)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--batch", type=int, default=1, help="images per JSON request")
    parser.add_argument("--formats", default="json,png", help="json, png or both (json,png)")
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="stop sending after this many seconds per format")
    parser.add_argument("--batch-window-ms", type=float, default=0.0,
                        help="the server's micro-batching window (lamina serve's flag)")
    parser.add_argument("--max-batch", type=int, default=32,
                        help="the server's largest micro-batch (lamina serve's flag)")
    parser.add_argument("--workers", type=int, default=1,
                        help="the server's worker processes (lamina serve's flag)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="the server's BLAS threads (lamina serve's flag; 0: BLAS's own)")
    parser.add_argument("--baseline", metavar="TREE",
                        help="another lamina checkout to serve the same model, in turns")
    parser.add_argument("--baseline-http", default="h11", choices=["h11", "httptools", "auto"],
                        help="the baseline's HTTP parser (default h11, as it ran before)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of turns")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_serve(args.child[0], int(args.child[1]), args)
        return 0
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.load = os.getloadavg()[0]
    if args.baseline:
        baseline = Path(args.baseline).resolve()
        if not (baseline / "lamina" / "serve.py").exists():
            parser.error(f"--baseline {args.baseline}: no lamina/serve.py there")
        args.baseline_name = _describe_tree(baseline)
        if args.model != "lenet5":
            parser.error("--baseline compares LeNet-5 servers (the baseline saves its own)")
    formats = [k.strip() for k in args.formats.split(",") if k.strip()]
    servers = ["baseline", "new"] if args.baseline else ["new"]
    rounds = []
    with tempfile.TemporaryDirectory() as directory:
        paths = {"new": save_model(directory, args.model)}
        if args.baseline:
            paths["baseline"] = save_baseline_model(Path(args.baseline).resolve(), directory)
        images = digits(256)
        for r in range(args.rounds):
            results = []
            for server in servers if r % 2 == 0 else list(reversed(servers)):
                port = _free_port()
                command, cwd = server_command(paths[server], port, args,
                                              args.baseline if server == "baseline" else None)
                results += measure(server, command, cwd, paths[server], port, formats, images,
                                   args)
            rounds.append(results)
    rows = summarise(rounds)
    if args.rounds > 1 or args.baseline:
        for row in rows:
            ratio = f"; {row['ratio']:.2f}x the baseline" if "ratio" in row else ""
            print(f"median {row['server']:>8} {row['format']:>4}: {row['throughput']:,.0f} "
                  f"requests/s ({row['spread'][0]:,.0f}-{row['spread'][1]:,.0f}), p50 "
                  f"{row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, server CPU "
                  f"{row['cpu_ms']:.3f} ms/request{ratio}")
    if not args.no_write:
        replace_section(RESULTS, section(rows, args))
        print(f"wrote the '{SECTION[3:]}' section of {RESULTS}")
    return 0


def _describe_tree(path: Path) -> str:
    """``path`` (and its git commit, when it is a checkout)."""
    try:
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return f"`{path.name}`" + (f" at {commit}" if commit else "")


if __name__ == "__main__":
    sys.exit(main())
