"""lamina vs PyTorch on the layers of issue 17: a BatchNorm CNN and an LSTM, training steps.

    python -m bench.layers [--quick]      # prints a table; writes bench/RESULTS_layers.md

On a shared machine run it with ``OPENBLAS_NUM_THREADS=1 BENCH_THREADS=1`` (NumPy's BLAS
threads and torch's threads spin against other jobs otherwise, and the numbers mean little).

Workloads (float32, Adam, the same code drives both frameworks, interleaved blocks as in
``bench/run.py``; ratio = torch time / lamina time, > 1 means lamina is faster):

- BatchNorm CNN: Conv2d(1, 16, 3, p=1) BatchNorm2d ReLU MaxPool2d(2) Conv2d(16, 32, 3, p=1)
  BatchNorm2d ReLU MaxPool2d(2) Flatten Linear(1568, 10) on 1x28x28 batches of 32, cross-entropy.
- LSTM: LSTM(32, 128) on sequences of 50 steps, batch 32, last hidden state -> Linear(128, 10),
  cross-entropy.

Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import numpy as np

from bench.run import THREADS, fmt_time, have_torch, interleaved

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


def _data(kind: str, count: int = 8):
    rng = np.random.default_rng(0)
    shape = (32, 1, 28, 28) if kind == "cnn" else (32, 50, 32)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, 32))
            for _ in range(count)]


def _step(framework: str, kind: str):
    data = _data(kind)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args(argv)
    use_torch = have_torch()
    rows = []
    for kind, label in (("cnn", "BatchNorm CNN train, batch 32"),
                        ("lstm", "LSTM(32, 128) train, T=50, batch 32")):
        steps = {"lamina": _step("lamina", kind)}
        if use_torch:
            steps["torch"] = _step("torch", kind)
        result = interleaved(steps, n=2 if args.quick else 5, repeats=3 if args.quick else 9,
                             warmup=2)
        rows.append((label, result))
    lines = ["# lamina vs PyTorch: BatchNorm CNN and LSTM (issue 17)", "",
             f"Written by `python -m bench.layers` on "
             f"{datetime.datetime.now():%Y-%m-%d %H:%M}; medians of interleaved blocks; "
             f"ratio = torch / lamina (> 1: lamina faster), quartiles in parentheses.", "",
             "| workload | lamina | torch | ratio |", "|---|---:|---:|---:|"]
    for label, r in rows:
        torch_time = fmt_time(r["torch"]) if "torch" in r else "-"
        ratio = (f"{r['ratio']:.2f}x ({r['spread'][0]:.2f}-{r['spread'][1]:.2f})"
                 if "ratio" in r else "-")
        lines.append(f"| {label} | {fmt_time(r['lamina'])} | {torch_time} | {ratio} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        (HERE / "RESULTS_layers.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
