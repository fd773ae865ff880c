"""lamina vs PyTorch on models as users write them: nn.Module subclasses with functional calls.

    python -m bench.user_models                 # everything, writes bench/RESULTS_user_models.md
    python -m bench.user_models --quick         # fewer, shorter repeats (a smoke run)
    python -m bench.user_models --only lenet --paths fast --clock cpu

On a shared machine run it with ``OPENBLAS_NUM_THREADS=1 BENCH_THREADS=1`` and ``--clock
cpu`` (NumPy's BLAS threads and torch's threads spin against other jobs otherwise).

Training steps, the same model code driving both frameworks (``lib`` is ``lamina`` or
``torch``, ``nn`` and ``F`` its ``nn`` and ``nn.functional``), float32, on MNIST batches:

- ``lenet``: LeNet-5 as a tutorial writes it, a Module subclass calling ``F.relu`` and
  ``F.max_pool2d`` (the layers of ``lm.models.lenet5()``: Conv2d(1, 6, 5, padding=2),
  Conv2d(6, 16, 5), Linear(400, 120), Linear(120, 84), Linear(84, 10)), Adam,
  cross-entropy, at batch 32, 64, 128; beside it ``lm.models.lenet5()`` (an
  ``nn.Sequential``, where lamina fuses conv -> ReLU -> pool), trained the same way. The
  ratio "subclass / lenet5()" is lenet5()'s time over the subclass's (1.0: the subclass is as
  fast as the Sequential).
- ``mnist``: the Net of PyTorch's official MNIST example (examples/mnist/main.py): Conv2d(1,
  32, 3, 1), Conv2d(32, 64, 3, 1), max_pool2d(2), Dropout(0.25), flatten, Linear(9216, 128),
  Dropout(0.5), Linear(128, 10), log_softmax, nll_loss, Adadelta(lr=1.0) as in the
  example, at batch 64 and 128.
- ``cnn``: the BatchNorm CNN of :mod:`bench.layers`, Adam, cross-entropy, batch 64.
- ``lstm``: the LSTM(32, 128) model of :mod:`bench.layers`, sequences of 50 steps of random
  inputs, batch 32.
- ``infer``: no-grad inference (eval mode; torch.inference_mode) of the LeNet-5 subclass
  beside ``lm.models.lenet5()``, at batch 1 and 64.

Each workload alternates blocks of steps of every framework in one process (warm-up first;
as :func:`bench.run.interleaved`) and reports median times and, per pair, the median over
rounds of the ratio of the two block times of a round, with its quartiles (> 1: lamina or
the first named is faster). ``--paths both`` (the default) runs everything again in a child
process on the pure-NumPy path (``LAMINA_NO_NUMBA=1``). The machine, its BLAS and its float32
GEMM rate are recorded. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.layers import _cnn, _lstm_model
from bench.run import (
    SETTLE,
    THREADS,
    batches,
    fmt_time,
    gemm_peak,
    have_torch,
    load_mnist,
    machine_info,
    numpy_child,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS_user_models.md"

#: workload -> batch sizes
BATCHES = {"lenet": (32, 64, 128), "mnist": (64, 128), "cnn": (64,), "lstm": (32,),
           "infer": (1, 64)}
LABELS = {"lenet": "LeNet-5 subclass train", "mnist": "MNIST example Net train",
          "cnn": "BatchNorm CNN train", "lstm": "LSTM(32, 128) T=50 train",
          "infer": "LeNet-5 subclass infer"}


# ----------------------------------------------------------------------------- the models
def lenet_subclass(lib, nn, F):
    """LeNet-5 (the layers of ``lm.models.lenet5()``) as a tutorial writes it."""

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    return LeNet5()


def mnist_net(lib, nn, F):
    """The Net of PyTorch's examples/mnist/main.py, line for line."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = lib.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    return Net()


def _framework(name: str):
    """(lib, nn, F) of "lamina" or "torch", seeded, torch with BENCH_THREADS threads."""
    if name == "torch":
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(THREADS)
        return torch, torch.nn, torch.nn.functional
    import lamina as lm

    lm.manual_seed(0)
    return lm, lm.nn, lm.nn.functional


def make_step(workload: str, framework: str, data, model_kind: str = "user"):
    """A function running one training step per call, cycling over ``data`` (a list of
    (inputs, targets) NumPy pairs). ``model_kind="lenet5"`` trains ``lm.models.lenet5()``
    (lamina only) instead of the subclass."""
    lib, nn, F = _framework(framework)
    if workload == "infer":
        return _infer_step(lib, framework, data, model_kind)
    if workload == "lenet":
        model = lib.models.lenet5() if model_kind == "lenet5" else lenet_subclass(lib, nn, F)
    elif workload == "mnist":
        model = mnist_net(lib, nn, F)
    elif workload == "cnn":
        model = _cnn(nn)
    else:
        model = _lstm_model(nn, nn.Module)
    model.train()
    if workload == "mnist":
        optimizer = lib.optim.Adadelta(model.parameters(), lr=1.0)
        loss_fn = F.nll_loss
    else:
        optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = F.cross_entropy
    convert = lib.tensor if framework == "lamina" else lib.from_numpy
    pairs = [(convert(x), convert(y)) for x, y in data]
    state = {"i": 0}

    def step():
        x, y = pairs[state["i"] % len(pairs)]
        state["i"] += 1
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def _infer_step(lib, framework: str, data, model_kind: str):
    """No-grad inference (eval mode; torch.inference_mode) of the LeNet-5 subclass, or of
    ``lm.models.lenet5()`` for ``model_kind="lenet5"``."""
    model = (lib.models.lenet5() if model_kind == "lenet5"
             else lenet_subclass(lib, lib.nn, lib.nn.functional)).eval()
    convert = lib.tensor if framework == "lamina" else lib.from_numpy
    inputs = [convert(x) for x, _ in data]
    no_grad = lib.no_grad if framework == "lamina" else lib.inference_mode
    state = {"i": 0}

    def step():
        x = inputs[state["i"] % len(inputs)]
        state["i"] += 1
        with no_grad():
            model(x)

    return step


def make_data(workload: str, batch: int, mnist, count: int = 8):
    if workload == "lstm":
        rng = np.random.default_rng(0)
        return [(rng.standard_normal((batch, 50, 32)).astype(np.float32),
                 rng.integers(0, 10, batch).astype(np.int64)) for _ in range(count)]
    return batches(*mnist, "lenet", batch, count)


# ----------------------------------------------------------------------------- timing
def clock_function(clock: str):
    return time.process_time if clock == "cpu" else time.perf_counter


def time_block(step, n: int, now) -> float:
    start = now()
    for _ in range(n):
        step()
    return (now() - start) / n


def interleaved(steps: dict, n: int, repeats: int, warmup: int, pairs, now) -> dict:
    """As :func:`bench.run.interleaved`, for any number of steps: median seconds per step of
    each, blocks of ``n`` steps alternated (the order reversed every round), and for each
    (name, slow, fast) of ``pairs`` the median over rounds of slow's block time / fast's,
    with the quartiles of those per-round ratios."""
    for step in steps.values():
        time_block(step, warmup, now)
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(repeats):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        for key in order:
            time.sleep(SETTLE)  # the other framework's idle threads stop polling first
            samples[key].append(time_block(steps[key], n, now))
    result = {"times": {k: statistics.median(v) for k, v in samples.items()}, "ratios": {}}
    for name, slow, fast in pairs:
        if slow in samples and fast in samples:
            ratios = [s / f for s, f in zip(samples[slow], samples[fast], strict=True)]
            q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            result["ratios"][name] = [statistics.median(ratios), q[0], q[-1]]
    return result


def run_workload(workload: str, batch: int, mnist, quick: bool, use_torch: bool,
                 clock: str) -> dict:
    now = clock_function(clock)
    data = make_data(workload, batch, mnist)
    steps = {"lamina": make_step(workload, "lamina", data)}
    pairs = []
    if workload in ("lenet", "infer"):
        steps["lenet5()"] = make_step(workload, "lamina", data, "lenet5")
        pairs.append(("subclass / lenet5()", "lenet5()", "lamina"))
    if use_torch:
        steps["torch"] = make_step(workload, "torch", data)
        pairs.insert(0, ("vs torch", "torch", "lamina"))
        if workload in ("lenet", "infer"):
            pairs.append(("lenet5() vs torch", "torch", "lenet5()"))
    for step in steps.values():  # first calls compile or load kernels: not timed
        time_block(step, 3, now)
    probe = min(time_block(steps["lamina"], 2, now) for _ in range(2))
    per_block = 0.15 if quick else 0.3
    n = max(2, int(per_block / max(probe, 1e-6)))
    result = interleaved(steps, n, 3 if quick else 15, max(2, n // 2), pairs, now)
    row = {"workload": workload, "batch": batch, **result}
    print(format_row(row), flush=True)
    return row


def format_row(row) -> str:
    times, b = row["times"], row["batch"]
    text = f"{LABELS[row['workload']]:<26} batch {b:>4}:"
    text += " | ".join(f" {k} {fmt_time(v)} ({b / v:,.0f}/s)" for k, v in times.items())
    for name, r in row["ratios"].items():
        text += f" | {name} {fmt_ratio(r)}"
    return text


def fmt_ratio(r) -> str:
    return f"{r[0]:.2f}x ({r[1]:.2f}-{r[2]:.2f})"


# ----------------------------------------------------------------------------- report
def table(rows) -> list[str]:
    lines = ["| workload | batch | lamina | lenet5() | torch | vs torch | subclass / lenet5() "
             "| lenet5() vs torch |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t, q = r["times"], r["ratios"]
        cells = [fmt_time(t[k]) if k in t else "-" for k in ("lamina", "lenet5()", "torch")]
        ratios = [fmt_ratio(q[k]) if k in q else "-"
                  for k in ("vs torch", "subclass / lenet5()", "lenet5() vs torch")]
        lines.append(f"| {LABELS[r['workload']]} | {r['batch']} | " + " | ".join(cells + ratios)
                     + " |")
    return lines


def numpy_path(args) -> list[dict]:
    """The same workloads in a child process with LAMINA_NO_NUMBA=1."""
    return numpy_child(["bench.user_models", "--json", "--paths", "fast", "--clock", args.clock,
                        "--only", *args.only] + (["--quick"] if args.quick else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.user_models",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--only", nargs="+", default=list(BATCHES), choices=list(BATCHES))
    parser.add_argument("--batch", type=int, nargs="+", default=None,
                        help="only these batch sizes")
    parser.add_argument("--paths", choices=["fast", "numpy", "both"], default="both",
                        help="compiled kernels (as installed), LAMINA_NO_NUMBA=1, or both")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time, or the process's CPU time (for a busy machine)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch:
        args.only = [w for w in args.only if set(BATCHES[w]) & set(args.batch)]
    use_torch = have_torch()
    mnist = load_mnist()

    def run_all() -> list[dict]:
        return [run_workload(w, b, mnist, args.quick, use_torch, args.clock)
                for w in args.only for b in BATCHES[w] if not args.batch or b in args.batch]

    if args.json:
        rows = run_all()
        print(json.dumps(rows))
        return 0
    info = machine_info()
    info["float32 GEMM (1024^3 NumPy matmul)"] = f"{gemm_peak() / 1e9:.1f} GFLOP/s"
    info["clock"] = "process CPU time" if args.clock == "cpu" else "wall"
    info["OPENBLAS_NUM_THREADS"] = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    sections = []
    if args.paths in ("fast", "both") and os.environ.get("LAMINA_NO_NUMBA") != "1":
        sections += ["## Compiled kernels (`lamina[fast]`)", "", *table(run_all()), ""]
    if args.paths in ("numpy", "both"):
        rows = run_all() if os.environ.get("LAMINA_NO_NUMBA") == "1" else numpy_path(args)
        if rows:
            sections += ["## Pure NumPy (`LAMINA_NO_NUMBA=1`)", "", *table(rows), ""]
    text = "\n".join([
        "# lamina vs PyTorch: user-written models (issue 19)", "",
        f"Written by `python -m bench.user_models{' ' + ' '.join(argv or sys.argv[1:])}` on "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}. Training steps (the infer rows: no-grad "
        f"forward passes); medians of "
        f"{3 if args.quick else 15} interleaved blocks per model in one process; a ratio is "
        "the median over rounds of the slower-named side's block time over the other's "
        "(vs torch: torch / lamina, > 1 means lamina is faster; subclass / lenet5(): "
        "lenet5()'s time / the subclass's, 1.0 means as fast), quartiles in parentheses.",
        "", "## Machine", "", *[f"- {k}: {v}" for k, v in info.items()], "", *sections])
    if not args.no_write:
        RESULTS.write_text(text + "\n")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
