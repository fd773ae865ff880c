"""Data-parallel benchmark: 2 MPI ranks x 1 thread against 1 process x 2 threads, and the
MPI Allreduce timings behind the scaling model of docs/distributed.md.

    python bench/distributed.py            # writes bench/DISTRIBUTED.md (about 5 minutes)
    python bench/distributed.py --quick    # one round, shorter blocks

Each configuration runs in fresh processes (thread counts must be set before NumPy loads):

* ``1p x 2t``: one process, ``OPENBLAS_NUM_THREADS=2``, a plain training loop on the global batch;
* ``2r x 1t``: ``mpiexec -n 2``, one BLAS thread each, ``DistributedDataParallel`` on half of
  each global batch (gradients averaged by one Allreduce per step);
* ``1p x 1t``: one process, one thread: the compute time of the scaling model.

Throughput is global samples per second (Adam, cross-entropy, float32, MNIST); the
configurations run interleaved, ``--rounds`` times, and the tables give the median per round.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {"1p x 2t": (1, 2), "2r x 1t": (2, 1), "1p x 1t": (1, 1)}
SIZES_KB = [1, 4, 16, 64, 256, 1024, 4096, 16384]


# ----------------------------------------------------------------------------- workers
def worker_throughput(model_name: str, batch: int, seconds: float) -> None:
    sys.path.insert(0, str(ROOT))
    import lamina as lm
    from bench.run import lamina_model, load_mnist

    rank, world = 0, 1
    if os.environ.get("PMI_SIZE", "1") != "1":
        import lamina.distributed as dist

        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    x, y = load_mnist()
    if model_name == "mlp":
        x = x.reshape(len(x), -1)
    lm.manual_seed(0)
    model = lamina_model("lenet" if model_name == "lenet5" else "mlp")
    if world > 1:
        model = lm.nn.parallel.DistributedDataParallel(model)
    optimizer = lm.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = lm.nn.CrossEntropyLoss()
    batches = []
    for start in range(0, min(64, len(x) // batch) * batch, batch):  # <= 64 batches, cycled
        rows = slice(start + rank, start + batch, world)
        batches.append((lm.tensor(x[rows]), lm.tensor(y[rows])))

    def step(i: int) -> None:
        xb, yb = batches[i % len(batches)]
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    for i in range(5):
        step(i)
    # the same number of steps on every rank: rank 0 picks it from a short timing
    t = time.perf_counter()
    for i in range(5):
        step(i)
    per_step = (time.perf_counter() - t) / 5
    steps = max(10, int(seconds / max(per_step, 1e-6)))
    if world > 1:
        from mpi4py import MPI

        steps = MPI.COMM_WORLD.bcast(steps, root=0)
    rates, cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        for i in range(steps // 3):
            step(i)
        rates.append(batch * (steps // 3) / (time.perf_counter() - t))
        cpu.append((time.process_time() - c) / (steps // 3))
    if rank == 0:
        print(json.dumps({"samples_per_s": statistics.median(rates),
                          "step_s": batch / statistics.median(rates),
                          "cpu_step_s": statistics.median(cpu)}))


def worker_allreduce(repeat_s: float) -> None:
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    out = {}
    for kb in SIZES_KB:
        buffer = np.ones(kb * 1024 // 4, dtype=np.float32)
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, buffer)
        comm.Barrier()
        t = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer)
        once = comm.bcast(time.perf_counter() - t, root=0)
        reps = max(5, min(2000, int(repeat_s / max(once, 1e-6))))
        times = []
        for _ in range(reps):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer)
            times.append(time.perf_counter() - t)
        slowest = comm.allreduce(statistics.median(times), op=MPI.MAX)
        out[kb] = slowest
    if comm.Get_rank() == 0:
        print(json.dumps(out))


# ----------------------------------------------------------------------------- driver
def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    return env


def _mpiexec() -> str:
    sys.path.insert(0, str(ROOT))
    from lamina.distributed.launch import find_mpiexec

    return find_mpiexec()


def run_worker(ranks: int, threads: int, args: list[str], timeout: int = 300) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    if ranks > 1:
        command = [_mpiexec(), "-n", str(ranks), *command]
    done = subprocess.run(command, env=_env(threads), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import numpy as np

    info = {"python": platform.python_version(), "numpy": np.__version__,
            "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f
                               if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from mpi4py import MPI

        info["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
        import mpi4py

        info["mpi4py"] = mpi4py.__version__
    except ImportError:
        info["mpi"] = "mpi4py not installed"
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        info[name] = os.environ.get(name, "unset")
    return info


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "DISTRIBUTED.md"))
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker[0] == "throughput":
            worker_throughput(args.worker[1], int(args.worker[2]), float(args.worker[3]))
        else:
            worker_allreduce(float(args.worker[1]))
        return 0

    rounds, seconds = (1, 1.0) if args.quick else (args.rounds, args.seconds)
    started, load_before = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load()
    results: dict[tuple, list[dict]] = {}
    for _ in range(rounds):
        for model in ("lenet5", "mlp"):
            for batch in (64, 256):
                for mode, (ranks, threads) in MODES.items():
                    row = run_worker(ranks, threads, ["throughput", model, str(batch),
                                                      str(seconds)])
                    results.setdefault((model, batch, mode), []).append(row)
                    print(model, batch, mode, f"{row['samples_per_s']:.0f} samples/s",
                          file=sys.stderr)
    allreduce = [run_worker(2, 1, ["allreduce", str(seconds / 4)]) for _ in range(rounds)]
    load_after = load()
    write(Path(args.out), results, allreduce, started, load_before, load_after, rounds,
          seconds)
    print(f"wrote {args.out}")
    return 0


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def write(path: Path, results: dict, allreduce: list[dict], started: str, load_before: str,
          load_after: str, rounds: int, seconds: float) -> None:
    info = machine()
    lines = [
        "# lamina data-parallel benchmark (MPI)", "",
        f"Written by `python bench/distributed.py` on {started}: {rounds} interleaved "
        f"round(s) of every configuration, each a fresh process (or `mpiexec -n 2` job) timing "
        f"about {seconds:g} s of training steps after a warm-up; the tables give the median "
        f"over rounds. Load average (1, 5, 15 min) before: {load_before}, after: "
        f"{load_after}. The machine was shared with other work during the run, so treat "
        f"single numbers as +-20%.", "",
        "## Machine", "",
        *[f"- {k}: {v}" for k, v in info.items()], "",
        "## Training throughput: 2 ranks x 1 thread against 1 process x 2 threads", "",
        "Adam, cross-entropy, float32, MNIST. `1p x 2t`: one process, 2 BLAS threads, the "
        "global batch in one step. `2r x 1t`: `mpiexec -n 2`, 1 BLAS thread each, half the "
        "global batch per rank, `DistributedDataParallel` averaging the gradients (one "
        "Allreduce per step). Samples/s count global samples.", "",
        "| model | global batch | 1p x 2t samples/s | 2r x 1t samples/s | 2r x 1t / 1p x 2t | "
        "1p x 1t samples/s | 1p x 1t step (wall) | 1p x 1t step (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model in ("lenet5", "mlp"):
        for batch in (64, 256):
            a = _median(results[(model, batch, "1p x 2t")], "samples_per_s")
            b = _median(results[(model, batch, "2r x 1t")], "samples_per_s")
            c = _median(results[(model, batch, "1p x 1t")], "samples_per_s")
            name = "LeNet-5" if model == "lenet5" else "MLP 784-256-256-10"
            cpu = _median(results[(model, batch, "1p x 1t")], "cpu_step_s")
            lines.append(f"| {name} | {batch} | {a:,.0f} | {b:,.0f} | {b / a:.2f}x | {c:,.0f} "
                         f"| {1e3 * batch / c:.2f} ms | {1e3 * cpu:.2f} ms |")
    lines += ["", "## MPI Allreduce, 2 ranks on this machine (shared memory)", "",
              "`comm.Allreduce(MPI.IN_PLACE, float32 array)`, median of many calls after a "
              "barrier, slowest rank; median over rounds.", "",
              "| message | time | bandwidth (message / time) |", "|---:|---:|---:|"]
    for kb in SIZES_KB:
        t = statistics.median(float(a[str(kb)]) for a in allreduce)
        size = f"{kb} KB" if kb < 1024 else f"{kb // 1024} MB"
        lines.append(f"| {size} | {t * 1e6:,.0f} us | {kb * 1024 / t / 1e9:.2f} GB/s |")
    lines += ["", *prediction(results), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


LATENCY_S = 30e-6  # one message step of MPI over TCP on 10/25 GbE (assumed, typical)


def allreduce_model(size_bytes: float, nodes: int, gbit_s: float) -> float:
    """Predicted Allreduce time on ``nodes`` machines: MPICH's large-message algorithm
    (reduce-scatter then allgather, recursive halving/doubling), 2 log2(N) latency steps and
    2 (N-1)/N of the message over each link."""
    import math

    bandwidth = gbit_s * 1e9 / 8
    return 2 * math.log2(nodes) * LATENCY_S + 2 * (nodes - 1) / nodes * size_bytes / bandwidth


def efficiency(compute: float, size_bytes: float, nodes: int, gbit_s: float) -> float:
    """E(N) = C / (N (C / N + A(S, N)))."""
    return compute / (nodes * (compute / nodes + allreduce_model(size_bytes, nodes, gbit_s)))


def prediction(results: dict) -> list[str]:
    """The scaling model of docs/distributed.md, from the measured one-thread step times."""
    sys.path.insert(0, str(ROOT))
    import lamina as lm

    sizes = {"lenet5": sum(p.size for p in lm.models.lenet5().parameters()) * 4,
             "mlp": sum(p.size for p in lm.models.mlp([784, 256, 256, 10]).parameters()) * 4}
    nodes = [2, 4, 8, 16, 32, 64]
    lines = [
        "## Scaling model: predicted efficiency on N machines (a prediction, not a measurement)",
        "",
        "time per step T(N) = C / N + A(S, N), efficiency E(N) = C / (N T(N)), where C is the "
        "measured one-process one-thread step time of the global batch above (`1p x 1t`, its "
        "CPU time: on a loaded machine the wall time counts the waits for a core too), S "
        "the float32 gradient size and A(S, N) = 2 log2(N) a + 2 (N-1)/N S / bandwidth (MPICH's "
        f"reduce-scatter + allgather), with a = {LATENCY_S * 1e6:g} us per message step "
        "(assumed: MPI over TCP). C / N assumes the step time shrinks in proportion to the "
        "per-machine batch; below ~8 samples per machine lamina's per-operation overhead "
        "dominates and the real efficiency is lower than predicted.", "",
        "| model (S) | global batch | C | network | " + " | ".join(f"N={n}" for n in nodes)
        + " |", "|---|---:|---:|---|" + "---:|" * len(nodes),
    ]
    for model in ("lenet5", "mlp"):
        name = "LeNet-5" if model == "lenet5" else "MLP 784-256-256-10"
        for batch in (64, 256):
            compute = _median(results[(model, batch, "1p x 1t")], "cpu_step_s")
            for gbit in (10, 25):
                cells = [f"{efficiency(compute, sizes[model], n, gbit):.0%}" for n in nodes]
                lines.append(f"| {name} ({sizes[model] / 1e6:.2f} MB) | {batch} | "
                             f"{compute * 1e3:.1f} ms | {gbit} Gbit/s | " + " | ".join(cells)
                             + " |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
