"""Peak memory of a training step, lamina vs PyTorch, measured the same way for both.

    python -m bench.memory            # the MLP and LeNet-5 at batch 32 and 128, the MNIST
                                      # example's Net at 64 and 128; writes
                                      # bench/RESULTS_memory.md
    python -m bench.memory --no-write --only mnist

Each (model, batch, framework) runs in a fresh interpreter (the OS's numbers, which see
NumPy's and PyTorch's allocators alike; tracemalloc would see NumPy's only):

1. import the framework, load a few MNIST batches, build model, Adam and loss (the
   benchmark's own step functions, :func:`bench.run.lamina_train_step` and
   :func:`bench.run.torch_train_step`), run WARMUP training steps (kernels compiled and
   loaded, optimizer state allocated, gradients kept); the MNIST example's Net is
   :func:`bench.user_models.make_step`'s (Adadelta, nll_loss, line by line);
2. empty lamina's pool of reused arrays (:mod:`lamina.ops.scratch`: what it keeps is
   the steps' memory, so it is counted in their peak, not in the steady state), free what
   the allocator holds but does not use (``malloc_trim``), reset the process's
   peak RSS (``/proc/self/clear_refs`` = 5) and read the RSS: the steady state;
3. run STEPS more training steps and read the peak RSS (``VmHWM``).

Reported: the steady state (model, gradients, optimizer state, the framework's libraries)
and the peak of a step above it (the temporaries a step allocates: activations kept for
backward, gradients on the way, scratch arrays), in MiB. Not a test: nothing here asserts.
Linux only (``/proc``); elsewhere the rows are left out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
WARMUP = 5
STEPS = 10

_CHILD = """
import ctypes, gc, json, sys
sys.path.insert(0, {root!r})
import numpy as np
from bench.run import batches, lamina_train_step, load_mnist, torch_train_step


def status(field):
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError(field + " not in /proc/self/status")


name, framework, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
if framework == "torch":
    import torch
    torch.set_num_threads({threads})
x, y = load_mnist()
data = batches(x[:4096], y[:4096], "lenet" if name == "mnist" else name, batch, 4)
before = status("VmRSS")
if name == "mnist":  # the PyTorch example's Net, line by line, Adadelta, nll_loss
    from bench.user_models import make_step
    step = make_step("mnist", framework, data)
else:
    step = (lamina_train_step if framework == "lamina" else torch_train_step)(name, data)
for _ in range({warmup}):
    step()
if framework == "lamina":  # arrays kept for reuse count in the steps' peak, not the steady state
    from lamina.ops import scratch
    scratch.clear()
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
steady = status("VmRSS")
for _ in range({steps}):
    step()
print(json.dumps({{"steady": steady, "peak": status("VmHWM"), "before": before}}))
"""


def measure(name: str, framework: str, batch: int) -> dict | None:
    """``{"steady", "peak", "before"}`` in MiB for one fresh process (see the module doc),
    or None when it failed (no torch, no /proc). ``framework``: "lamina", "torch", or
    "lamina-numpy" (lamina with ``LAMINA_NO_NUMBA=1``)."""
    script = _CHILD.format(root=str(ROOT), threads=THREADS, warmup=WARMUP, steps=STEPS)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if framework == "lamina-numpy":  # lamina on its pure-NumPy path
        env["LAMINA_NO_NUMBA"] = "1"
    proc = subprocess.run([sys.executable, "-c", script, name, framework.split("-")[0],
                           str(batch)], capture_output=True, text=True, cwd=str(ROOT), env=env)
    if proc.returncode:
        print(f"{name} {framework} b{batch}: failed: {proc.stderr.strip()[-300:]}",
              file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


NAMES = {"mlp": "MLP", "lenet": "LeNet-5", "mnist": "MNIST example Net"}
BATCHES = {"mlp": (32, 128), "lenet": (32, 128), "mnist": (64, 128)}


def run_all(frameworks=("lamina", "torch"), models=("mlp", "lenet", "mnist"),
            batch_sizes=None) -> list[dict]:
    """One row per (model, batch): each framework's measurement, printed as it comes
    (``batch_sizes`` None: each model's of BATCHES)."""
    rows = []
    for name in models:
        for batch in batch_sizes or BATCHES[name]:
            row = {"model": NAMES[name], "batch": batch}
            for framework in frameworks:
                result = measure(name, framework, batch)
                if result is not None:
                    row[framework] = result
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def _cell(result: dict | None) -> str:
    if result is None:
        return "-"
    return f"{result['peak'] - result['steady']:.1f} / {result['steady']:.0f}"


def format_row(row: dict) -> str:
    text = f"{row['model']:<17} batch {row['batch']:>4}: lamina {_cell(row.get('lamina'))}"
    for framework in ("torch", "lamina-numpy"):
        if framework in row:
            text += f" | {framework} {_cell(row.get(framework))}"
    return text + "  (MiB: step peak above steady state / steady state)"


def table(rows: list[dict]) -> list[str]:
    lines = ["| model | batch | lamina: step peak / steady MiB | torch: step peak / steady MiB "
             "| step peak lamina / torch | lamina, pure-NumPy path |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lam, tor = r.get("lamina"), r.get("torch")
        ratio = "-"
        if lam and tor and tor["peak"] - tor["steady"] > 0:
            ratio = f"{(lam['peak'] - lam['steady']) / (tor['peak'] - tor['steady']):.2f}"
        lines.append(f"| {r['model']} | {r['batch']} | {_cell(lam)} | {_cell(tor)} | {ratio} "
                     f"| {_cell(r.get('lamina-numpy'))} |")
    return lines + ["", f"Step peak: the peak RSS (VmHWM) over {STEPS} training steps (Adam, "
                    "cross-entropy; the MNIST example's Net: Adadelta, nll_loss, written line "
                    "by line as in the example) minus the RSS before them, after "
                    f"{WARMUP} warm-up steps, emptying lamina's pool of reused arrays "
                    "(ops/scratch.py: they count in the steps' peak), `malloc_trim` and a "
                    "reset of the peak "
                    "(`/proc/self/clear_refs`); steady: that RSS (libraries, model, gradients, "
                    "optimizer state; lamina's includes Numba and its compiled kernels when "
                    "installed). Each cell is a fresh process."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="do not write the results")
    parser.add_argument("--only", nargs="+", choices=sorted(NAMES), default=list(NAMES),
                        help="models to measure (default: all)")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401

        frameworks = ("lamina", "torch", "lamina-numpy")
    except ImportError:
        frameworks = ("lamina", "lamina-numpy")
    rows = run_all(frameworks, args.only)
    if not args.no_write:
        path = ROOT / "bench" / "RESULTS_memory.md"
        path.write_text("\n".join(
            ["# Peak memory of a training step", "",
             f"Written by `python -m bench.memory` on {datetime.datetime.now():%Y-%m-%d %H:%M} "
             f"({THREADS} threads; lamina with its compiled kernels where Numba is installed, "
             "and on its pure-NumPy path, `LAMINA_NO_NUMBA=1`).",
             "", *table(rows)]) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
