"""lamina vs PyTorch on the layers of issue 17: a BatchNorm CNN and an LSTM, training steps.

    python -m bench.layers [--quick]      # prints a table; writes bench/RESULTS_layers.md
    python -m bench.layers --cnn-batch 32 64 --rounds 21 --clock cpu --only cnn --paths fast

On a shared machine run it with ``OPENBLAS_NUM_THREADS=1 BENCH_THREADS=1`` (NumPy's BLAS
threads and torch's threads spin against other jobs otherwise, and the numbers mean little).

Workloads (float32, Adam, the same code drives both frameworks, interleaved blocks as in
``bench/run.py``; ratio = torch time / lamina time, > 1 means lamina is faster):

- BatchNorm CNN: Conv2d(1, 16, 3, p=1) BatchNorm2d ReLU MaxPool2d(2) Conv2d(16, 32, 3, p=1)
  BatchNorm2d ReLU MaxPool2d(2) Flatten Linear(1568, 10) on 1x28x28 batches of 32 and 64
  (``--cnn-batch``), cross-entropy.
- LSTM: LSTM(32, 128) on sequences of 50 steps, batch 32, last hidden state -> Linear(128, 10),
  cross-entropy.

``--threads-ab`` adds a row "threaded": lamina with the threading switches of
:mod:`lamina.kernels.thresholds` that are off by default turned on (:data:`THREADED`: half
of the batch-norm/pool kernels' channels in a second thread; the LSTM's all-steps products
in a second thread beside its time loop), interleaved with the default.

``--clock cpu`` times blocks by the CPU time of the process (``time.process_time``: on a
busy machine it leaves out the time spent waiting for a core; BLAS and torch worker threads'
time counts), ``--clock wall`` (default) by ``time.perf_counter``. Only a full run with the
default batches and both paths writes the RESULTS file. Rows marked "pure NumPy" run lamina
with its compiled kernels switched off (``LAMINA_NO_NUMBA=1``'s path) in the same process.

The inputs are standard-normal noise. torch's BatchNorm CNN step is data-dependent: alone at
batch 64, 2 threads, it took 7.5-8.7 ms on real MNIST batches and 11.3-11.9 ms on this noise,
while lamina took 11.4-12.9 ms on either (2026-12-07). So this bench flatters lamina on that
model; ``python -m bench.user_models --only cnn`` trains on MNIST. The cause is torch's
max-pool (``max_pool2d_with_indices``, a compare-and-branch per element): on the first
block's ReLU output, 1 thread, 0.40 ms a call on MNIST activations (64% zeros, large equal
regions: predictable branches) against 4.05 ms on the noise's (50% zeros at random); its
other ops differ far less. lamina's pooling is branch-free (selects), so its step takes
the same time on both.

Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from pathlib import Path

import numpy as np

from bench.run import SETTLE, THREADS, fmt_time, have_torch

HERE = Path(__file__).resolve().parent


def _cnn(nn):
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def _lstm_model(nn, module_base):
    class Model(module_base):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return Model()


def _data(kind: str, batch: int, count: int = 8):
    rng = np.random.default_rng(0)
    shape = (batch, 1, 28, 28) if kind == "cnn" else (batch, 50, 32)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, batch))
            for _ in range(count)]


def _step(framework: str, kind: str, batch: int):
    data = _data(kind, batch)
    if framework == "lamina":
        import lamina as lm

        lm.manual_seed(0)
        nn = lm.nn
        model = _cnn(nn) if kind == "cnn" else _lstm_model(nn, nn.Module)
        optimizer = lm.optim.Adam(model.parameters(), lr=1e-3)
        batches = [(lm.tensor(x), lm.tensor(y)) for x, y in data]
    else:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(THREADS)
        nn = torch.nn
        model = _cnn(nn) if kind == "cnn" else _lstm_model(nn, nn.Module)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]
    loss_fn = nn.CrossEntropyLoss()
    state = {"i": 0}

    def step():
        x, y = batches[state["i"] % len(batches)]
        state["i"] += 1
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    return step


def numpy_only(step):
    """``step`` with lamina's compiled kernels switched off for its duration (the pure-NumPy
    path, as ``LAMINA_NO_NUMBA=1`` gives it, in the same process)."""
    import lamina.kernels

    def run():
        compiled = lamina.kernels.numba_available
        lamina.kernels.numba_available = lambda: False
        try:
            step()
        finally:
            lamina.kernels.numba_available = compiled

    return run


#: the threading switches ``--threads-ab`` turns on (see that option)
THREADED = {"cnn": {"BN_POOL_THREADS": 2}, "lstm": {"LSTM_OVERLAP_STEPS": 7}}


def with_thresholds(step, values: dict):
    """``step`` with the constants ``values`` of :mod:`lamina.kernels.thresholds` set for its
    duration (restored after each call)."""
    from lamina.kernels import thresholds as T

    def run():
        saved = {k: getattr(T, k) for k in values}
        for k, v in values.items():
            setattr(T, k, v)
        try:
            step()
        finally:
            for k, v in saved.items():
                setattr(T, k, v)

    return run


def interleaved(steps: dict, n: int, repeats: int, warmup: int, clock: str) -> dict:
    """As :func:`bench.run.interleaved` (alternating blocks of ``n`` steps, the median over
    rounds of torch's block time over lamina's, quartiles), with a choice of clock."""
    now = time.process_time if clock == "cpu" else time.perf_counter

    def block(step, count: int) -> float:
        start = now()
        for _ in range(count):
            step()
        return (now() - start) / count

    for step in steps.values():
        block(step, warmup)
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(repeats):
        for key in (list(steps) if r % 2 == 0 else list(reversed(steps))):
            time.sleep(SETTLE)  # the other framework's idle threads stop polling first
            samples[key].append(block(steps[key], n))
    result: dict = {k: statistics.median(v) for k, v in samples.items()}
    for slow, fast, key in (("torch", "lamina", ""), ("torch", "threaded", "threaded "),
                            ("lamina", "threaded", "threaded vs lamina ")):
        if slow in samples and fast in samples:
            ratios = [a / b for a, b in zip(samples[slow], samples[fast], strict=True)]
            quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            result[key + "ratio"] = statistics.median(ratios)
            result[key + "spread"] = [quartiles[0], quartiles[-1]]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--cnn-batch", type=int, nargs="+", default=[32, 64],
                        help="batch sizes of the BatchNorm CNN (default 32 64)")
    parser.add_argument("--lstm-batch", type=int, nargs="+", default=[32],
                        help="batch sizes of the LSTM (default 32)")
    parser.add_argument("--only", choices=("cnn", "lstm"), help="one workload only")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 9; quick 3)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: time.perf_counter; cpu: time.process_time")
    parser.add_argument("--paths", choices=("fast", "numpy", "both"), default="both",
                        help="lamina with its compiled kernels, pure NumPy, or both rows")
    parser.add_argument("--threads-ab", action="store_true",
                        help="also time lamina with the threading switches of THREADED on "
                             "(interleaved; they need lamina.get_num_threads() >= 2: with "
                             "OPENBLAS_NUM_THREADS=1 set LAMINA_NUM_THREADS=2 too)")
    args = parser.parse_args(argv)
    use_torch = have_torch()
    rounds = args.rounds or (3 if args.quick else 9)
    work = [("cnn", b, f"BatchNorm CNN train, batch {b}") for b in args.cnn_batch]
    work += [("lstm", b, f"LSTM(32, 128) train, T=50, batch {b}") for b in args.lstm_batch]
    paths = {"fast": ["fast"], "numpy": ["numpy"], "both": ["fast", "numpy"]}[args.paths]
    rows = []
    for path in paths:
        for kind, batch, label in work:
            if args.only and kind != args.only:
                continue
            step = _step("lamina", kind, batch)
            steps = {"lamina": step if path == "fast" else numpy_only(step)}
            if args.threads_ab and path == "fast":
                steps["threaded"] = with_thresholds(_step("lamina", kind, batch),
                                                    THREADED[kind])
            if use_torch:
                steps["torch"] = _step("torch", kind, batch)
            result = interleaved(steps, n=2 if args.quick else 5, repeats=rounds, warmup=3,
                                 clock=args.clock)
            label = label if path == "fast" else label + " (lamina pure NumPy)"
            rows.append((label, result))
            print(f"{label}: {result}", flush=True)
    lines = ["# lamina vs PyTorch: BatchNorm CNN and LSTM (issues 17, 19)", "",
             f"Written by `python -m bench.layers` on "
             f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {THREADS} thread(s), "
             f"{args.clock} clock, {rounds} rounds; medians of interleaved blocks; "
             f"ratio = torch / lamina (> 1: lamina faster), quartiles in parentheses.", "",
             "| workload | lamina | torch | ratio |", "|---|---:|---:|---:|"]
    if args.threads_ab:
        lines[-2:] = ["| workload | lamina | threaded | torch | ratio | threaded ratio "
                      "| threaded vs lamina |", "|---|---:|---:|---:|---:|---:|---:|"]

    def ratio(r, key):
        return (f"{r[key + 'ratio']:.2f}x ({r[key + 'spread'][0]:.2f}-"
                f"{r[key + 'spread'][1]:.2f})" if key + "ratio" in r else "-")

    for label, r in rows:
        torch_time = fmt_time(r["torch"]) if "torch" in r else "-"
        if args.threads_ab:
            threaded = fmt_time(r["threaded"]) if "threaded" in r else "-"
            lines.append(f"| {label} | {fmt_time(r['lamina'])} | {threaded} | {torch_time} | "
                         f"{ratio(r, '')} | {ratio(r, 'threaded ')} | "
                         f"{ratio(r, 'threaded vs lamina ')} |")
        else:
            lines.append(f"| {label} | {fmt_time(r['lamina'])} | {torch_time} | "
                         f"{ratio(r, '')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    full = (not (args.quick or args.only or args.threads_ab) and args.cnn_batch == [32, 64]
            and args.lstm_batch == [32] and args.paths == "both")
    if full:
        (HERE / "RESULTS_layers.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
