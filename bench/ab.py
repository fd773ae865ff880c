"""A/B timing of two lamina trees in one run, rounds alternated (for changes to lamina itself).

    python -m bench.ab /tmp/lamina_old            # the old tree against this one
    python -m bench.ab OLD --rounds 40 --only lenet-train-32,lenet-infer-1

Each tree runs in its own worker process (``PYTHONPATH=tree``), once with the compiled kernels
and once with ``LAMINA_NO_NUMBA=1``; the driver asks the two workers of a path for one timed
block each, in alternating order, round after round, so that a slow spell of a shared machine
slows both sides of a round. Reported per workload: each tree's median time per step and the
median over rounds of old/new block time (> 1: the new tree is faster) with its quartiles.
The workloads are those of :mod:`bench.run` (same models, batches and step functions). Not a
test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# workload: (model, kind, batch, steps per timed block)
WORKLOADS = {
    "lenet-train-32": ("lenet", "train", 32, 60),
    "lenet-train-128": ("lenet", "train", 128, 15),
    "mlp-train-32": ("mlp", "train", 32, 120),
    "mlp-train-128": ("mlp", "train", 128, 40),
    "lenet-infer-1": ("lenet", "infer", 1, 1500),
    "mlp-infer-1": ("mlp", "infer", 1, 2500),
    "lenet-infer-256": ("lenet", "infer", 256, 15),
    # LeNet-5 as a Module subclass with functional calls (bench/user_models.py's)
    "user-lenet-train-32": ("lenet", "user", 32, 60),
}


def worker(clock: str) -> None:
    """Answer "workload" lines with the seconds per step of one timed block (JSON), by the
    wall clock or by the CPU time of the whole process (``clock="cpu"``: on a busy machine
    it leaves out the time the process waited for a core; BLAS threads' time counts)."""
    from bench import run  # from the tree on PYTHONPATH, as lamina is

    now = time.process_time if clock == "cpu" else time.perf_counter

    def time_block(step, n: int) -> float:
        start = now()
        for _ in range(n):
            step()
        return (now() - start) / n

    x, y = run.load_mnist()
    steps = {}
    for line in sys.stdin:
        key = line.strip()
        if not key:
            continue
        name, kind, batch, n = WORKLOADS[key]
        if key not in steps:
            data = run.batches(x, y, name, batch, 16)
            if kind == "user":
                from bench import user_models

                step = user_models.make_step(name, "lamina", data)
            else:
                step = (run.lamina_train_step if kind == "train" else run.lamina_infer)(name,
                                                                                         data)
            time_block(step, max(5, n // 4))  # warm-up (compiles the kernels once)
            steps[key] = step
        time.sleep(0.02)
        print(json.dumps(time_block(steps[key], n)), flush=True)


class Worker:
    def __init__(self, tree: Path, numpy_only: bool, clock: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(tree))
        env.pop("LAMINA_NO_NUMBA", None)
        if numpy_only:
            env["LAMINA_NO_NUMBA"] = "1"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--worker", clock], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=str(tree))

    def time(self, key: str) -> float:
        self.proc.stdin.write(key + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def compare(old: Path, new: Path, keys: list[str], rounds: int, numpy_only: bool,
            clock: str) -> list:
    workers = {"old": Worker(old, numpy_only, clock), "new": Worker(new, numpy_only, clock)}
    rows = []
    try:
        for key in keys:
            for w in workers.values():
                w.time(key)  # warm-up block
            samples: dict[str, list[float]] = {"old": [], "new": []}
            for r in range(rounds):
                for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                    samples[side].append(workers[side].time(key))
            ratios = [a / b for a, b in zip(samples["old"], samples["new"], strict=True)]
            q = statistics.quantiles(ratios, n=4)
            rows.append((key, "numpy" if numpy_only else "fast",
                         statistics.median(samples["old"]), statistics.median(samples["new"]),
                         statistics.median(ratios), q[0], q[-1]))
            print(_row(rows[-1]), flush=True)
    finally:
        for w in workers.values():
            w.close()
    return rows


def _row(row) -> str:
    key, path, old, new, ratio, q1, q3 = row
    return (f"| {key} | {path} | {old * 1e6:,.1f} us | {new * 1e6:,.1f} us | "
            f"{ratio:.3f}x ({q1:.3f}-{q3:.3f}) |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("old", nargs="?", type=Path, help="root of the old tree (has lamina/)")
    parser.add_argument("--new", type=Path, default=ROOT, help="root of the new tree (this one)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads of {', '.join(WORKLOADS)}")
    parser.add_argument("--paths", default="fast,numpy", help="fast, numpy or both")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or the process's CPU time (busy machines)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.old is None:
        parser.error("the old tree's root is required")
    keys = [k for k in args.only.split(",") if k]
    unknown = [k for k in keys if k not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; expected some of {list(WORKLOADS)}")
    print(f"{args.rounds} rounds, {args.clock} clock\n"
          "| workload | path | old | new | old/new |\n|---|---|---:|---:|---:|")
    for path in args.paths.split(","):
        compare(args.old.resolve(), args.new.resolve(), keys, args.rounds, path == "numpy",
                args.clock)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[-1])
    else:
        main()
