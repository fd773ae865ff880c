"""lamina vs PyTorch on this CPU: one command, side by side, interleaved.

    python -m bench                 # everything, writes bench/RESULTS.md
    python -m bench --quick         # fewer repeats (a smoke run)
    python -m bench --only mlp      # a subset: mlp, lenet, infer, import, memory, gemm, size

Both frameworks run the same models on the same MNIST batches with the same thread count.
Each workload alternates lamina and PyTorch blocks (warm-up first, then several repeats) and
reports medians and the PyTorch/lamina time ratio per round, whose median is the ratio
shown (> 1 means lamina is faster). With Numba installed, the LeNet-5 training and both
models' batch-1 inference run again in a child process on the pure-NumPy path
(``LAMINA_NO_NUMBA=1``). Without torch installed, lamina's numbers alone are reported.
Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


# ----------------------------------------------------------------------------- data and models
def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    import lamina as lm

    if SHARED_MNIST.exists():
        (x, y), _ = lm.datasets.mnist(path=str(SHARED_MNIST))
    else:
        (x, y), _ = lm.datasets.mnist(subset="small")
    x = ((x.astype(np.float32) / 255.0 - 0.1307) / 0.3081)[:, None]
    return np.ascontiguousarray(x), y.astype(np.int64)


def lamina_model(name: str):
    import lamina as lm

    return lm.models.lenet5() if name == "lenet" else lm.models.mlp([784, 256, 256, 10])


def torch_model(name: str):
    import torch
    from torch import nn

    if name == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    del torch
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def batches(x: np.ndarray, y: np.ndarray, name: str, batch: int, count: int):
    """``count`` fixed batches (inputs flattened for the MLP), cycled by the step functions."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        idx = rng.integers(0, len(x), batch)
        xb = x[idx] if name == "lenet" else x[idx].reshape(batch, -1)
        out.append((np.ascontiguousarray(xb), y[idx]))
    return out


def cycling(batches_: list, body):
    """A step function that applies ``body`` to the next batch, round robin."""
    state = {"i": 0}

    def step():
        body(batches_[state["i"] % len(batches_)])
        state["i"] += 1

    return step


def train_body(model, optimizer, loss_fn):
    """One training step on a batch: the same code drives both frameworks."""

    def body(batch):
        xb, yb = batch
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()

    return body


def lamina_train_step(name: str, data):
    import lamina as lm

    lm.manual_seed(0)
    model = lamina_model(name)
    body = train_body(model, lm.optim.Adam(model.parameters(), lr=1e-3),
                      lm.nn.CrossEntropyLoss())
    return cycling([(lm.tensor(xb), lm.tensor(yb)) for xb, yb in data], body)


def torch_train_step(name: str, data):
    import torch

    torch.manual_seed(0)
    model = torch_model(name)
    body = train_body(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                      torch.nn.CrossEntropyLoss())
    return cycling([(torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in data], body)


def lamina_infer(name: str, data):
    import lamina as lm

    lm.manual_seed(0)
    model = lamina_model(name).eval()

    def body(xb):
        with lm.no_grad():
            model(xb)

    return cycling([lm.tensor(xb) for xb, _ in data], body)


def torch_infer(name: str, data):
    import torch

    model = torch_model(name).eval()

    def body(xb):
        with torch.inference_mode():
            model(xb)

    return cycling([torch.from_numpy(xb) for xb, _ in data], body)


# ----------------------------------------------------------------------------- timing
# Seconds of pause before each timed block. OpenBLAS's idle threads poll for 2^28 cycles
# (~0.1 s) after a product and torch's OpenMP threads spin too: without the pause one
# framework's pollers take a core from the other's next block. 2026-12-07, BatchNorm CNN at
# batch 64, 2 threads, 20 rounds: torch 19.9 ms a step right after a lamina block, 15.0 ms
# after a 0.3 s pause (lamina 7.7 / 9.4 ms the other way round).
SETTLE = 0.15


def time_block(step, n: int) -> float:
    """Seconds per call of ``step`` over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def interleaved(steps: dict, n: int, repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of each framework, alternating blocks of ``n`` steps, and
    (with two frameworks) under "ratio" the median over rounds of torch's block time over
    lamina's in the same round: a slow spell of a shared machine then slows both sides of
    a round instead of moving one framework's median."""
    for step in steps.values():
        time_block(step, warmup)
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(repeats):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))
        for key in order:
            time.sleep(SETTLE)  # the other framework's idle threads stop polling first
            samples[key].append(time_block(steps[key], n))
    result = {k: statistics.median(v) for k, v in samples.items()}
    if "torch" in samples:
        ratios = [t / lam for t, lam in zip(samples["torch"], samples["lamina"], strict=True)]
        result["ratio"] = statistics.median(ratios)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        result["spread"] = [quartiles[0], quartiles[-1]]
    return result


def have_torch() -> bool:
    try:
        import torch

        torch.set_num_threads(THREADS)
        return True
    except ImportError:
        return False


def run_model_workloads(kind: str, names, batch_sizes, x, y, quick: bool, use_torch: bool):
    rows = []
    for name in names:
        for batch in batch_sizes:
            data = batches(x, y, name, batch, 16)
            if kind == "train":
                steps = {"lamina": lamina_train_step(name, data)}
                if use_torch:
                    steps["torch"] = torch_train_step(name, data)
            else:
                steps = {"lamina": lamina_infer(name, data)}
                if use_torch:
                    steps["torch"] = torch_infer(name, data)
            per_step = 0.2 if quick else 0.3  # seconds per block, roughly
            for step in steps.values():  # first calls compile or load kernels: not timed
                time_block(step, 3)
            probe = min(time_block(steps["lamina"], 3) for _ in range(3))
            n = max(3, int(per_step / max(probe, 1e-6)))
            med = interleaved(steps, n, 3 if quick else 15, warmup=max(2, n // 2))
            rows.append({"workload": f"{'LeNet-5' if name == 'lenet' else 'MLP'} {kind}",
                         "batch": batch, "lamina": med["lamina"], "torch": med.get("torch"),
                         "ratio": med.get("ratio"), "spread": med.get("spread")})
            print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row) -> str:
    lam, tor, b = row["lamina"], row["torch"], row["batch"]
    text = f"{row['workload']:<22} batch {b:>4}: lamina {fmt_time(lam)}"
    if "train" in row["workload"]:
        text += f" ({b / lam:,.0f} samples/s)"
    if tor:
        text += f" | torch {fmt_time(tor)}"
        if "train" in row["workload"]:
            text += f" ({b / tor:,.0f} samples/s)"
        text += f" | ratio {fmt_ratio(row)}"
    return text


def fmt_ratio(row) -> str:
    """The median ratio, and the quartiles of the per-round ratios in parentheses."""
    spread = row.get("spread")
    text = f"{row['ratio']:.2f}x"
    return text + (f" ({spread[0]:.2f}-{spread[1]:.2f})" if spread else "")


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


# ----------------------------------------------------------------------------- import, memory
# what import_times times, by name
IMPORTS = {"numpy": "import numpy", "lamina": "import numpy, lamina", "torch": "import torch"}


def import_times(repeats: int) -> dict[str, float]:
    """Median wall time of fresh interpreters importing numpy, numpy+lamina, torch,
    interleaved run by run; under "added", the median over runs of (numpy+lamina) - numpy
    timed back to back (paired, so a slow spell of the machine cancels out)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    samples: dict[str, list[float | None]] = {k: [] for k in IMPORTS}
    for _ in range(repeats + 1):
        for key, code in IMPORTS.items():
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
            elapsed = time.perf_counter() - start
            samples[key].append(elapsed if proc.returncode == 0 else None)
    result = {k: statistics.median(ok) for k, v in samples.items()
              if (ok := [t for t in v[1:] if t is not None])}
    pairs = [b - a for a, b in zip(samples["numpy"][1:], samples["lamina"][1:], strict=True)
             if a is not None and b is not None]
    if pairs:
        result["added"] = statistics.median(pairs)
    return result


def lamina_self_import(repeats: int) -> float:
    """Median seconds that ``import lamina`` takes after ``import numpy`` in a fresh
    interpreter, as ``python -X importtime`` reports it (cumulative, lamina's line): the
    figure that a difference of two noisy wall times only estimates."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    samples = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import numpy, lamina"],
                              env=env, capture_output=True, text=True)
        for line in proc.stderr.splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) == 3 and fields[2] == "lamina":
                samples.append(int(fields[1]) * 1e-6)
    return statistics.median(samples) if samples else float("nan")


def peak_memory(use_torch: bool) -> list[dict]:
    """Peak memory of a training step, lamina vs PyTorch, LeNet-5 and the MLP at batch 32
    and 128, each in a fresh process (:mod:`bench.memory`)."""
    from bench import memory

    return memory.run_all(("lamina", "torch") if use_torch else ("lamina",))


# ----------------------------------------------------------------------------- GEMM efficiency
GEMM_FLOPS_NOTE = (
    "FLOPs of a step count the GEMMs only: forward 2*B*sum(in*out) over the layers "
    "(784x256, 256x256, 256x10), backward 2*B*sum(in*out) for the weight gradients plus "
    "2*B*sum(in*out) over the layers but the first for the input gradients (the data needs "
    "none): 155.4 MFLOP at B = 128. Bias, ReLU, loss and the Adam update are not counted: "
    "their time is the non-GEMM overhead the efficiency exposes. Peak: the best of 10 float32 "
    "1024 x 1024 x 1024 NumPy matmuls (the BLAS below) at the same thread count.")


def gemm_peak(clock=time.perf_counter, size: int = 1024) -> float:
    """The machine's float32 matmul rate in FLOP/s: the best of 10 ``size``-cubed NumPy
    matmuls at the BLAS's current thread count, timed by ``clock``, after a 1 s pause.

    The pause matters: torch's OpenMP threads spin for a while after its last step and take
    a core from the BLAS; measured straight after the interleaved runs, a 2-thread peak
    read as the 1-thread one (102.9 GFLOP/s against 186 measured alone, 2026-12-07)."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    time.sleep(1.0)
    best = float("inf")
    for _ in range(10):
        start = clock()
        a @ a
        best = min(best, clock() - start)
    return 2 * size**3 / best


MLP_SIZES = [(784, 256), (256, 256), (256, 10)]  # (in, out) of the bench MLP's layers


def step_gemms_time(batch: int, clock=time.perf_counter, blocks: int = 15) -> float:
    """Seconds per MLP train step that its GEMMs alone take, issued as lamina issues them
    (forward: :func:`lamina.ops.linalg._product`, the layout it picks by shape; backward: the
    products of ``_linear_backward``, ``g @ W`` and ``g.T @ x``, no input gradient for the
    first layer) on arrays of the step's shapes, at the BLAS's current thread count: the
    median over ``blocks`` blocks. The data batch cycles through 16 arrays, as the timed
    steps' batches do (a batch that is not in cache made the first product 6% slower: 650
    vs 612 us at 128 rows, one thread). What the step takes beyond it is the non-GEMM time
    (bias, ReLU and its mask, loss, Adam, autograd and Python)."""
    from lamina.ops.linalg import _product

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((o, i), dtype=np.float32) for i, o in MLP_SIZES]
    inputs = [rng.standard_normal((batch, i), dtype=np.float32) for i, _ in MLP_SIZES]
    grads = [rng.standard_normal((batch, o), dtype=np.float32) for _, o in MLP_SIZES]
    data = [rng.standard_normal((batch, MLP_SIZES[0][0]), dtype=np.float32) for _ in range(16)]
    turn = [0]

    def gemms():
        turn[0] += 1
        inputs[0] = data[turn[0] % len(data)]
        for x, w in zip(inputs, weights, strict=True):
            _product(x, w)
        for k, (x, w, g) in enumerate(zip(inputs, weights, grads, strict=True)):
            g.T @ x
            if k:
                g @ w

    for _ in range(3):
        gemms()
    n = max(3, int(0.1 / max(1e-6, _block_time(gemms, 3, clock))))
    return statistics.median(_block_time(gemms, n, clock) for _ in range(blocks))


def _block_time(fn, n: int, clock) -> float:
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n


def step_flops(batch: int) -> int:
    """GEMM FLOPs of one MLP train step (:data:`GEMM_FLOPS_NOTE`)."""
    macs = sum(i * o for i, o in MLP_SIZES)
    return 2 * batch * macs * 2 + 2 * batch * (macs - MLP_SIZES[0][0] * MLP_SIZES[0][1])


def gemm_efficiency(mlp_rows) -> list[dict]:
    """Achieved FLOP/s of the MLP train step vs the machine's float32 matmul FLOP/s
    (what is counted: :data:`GEMM_FLOPS_NOTE`), and the step's GEMMs alone
    (:func:`step_gemms_time`): their rate is the ceiling of the step's at these shapes, and
    the step's time beyond theirs is what is not GEMM."""
    peak = gemm_peak()
    rows = []
    for row in mlp_rows:
        b = row["batch"]
        flops = step_flops(b)
        rows.append({"batch": b, "achieved": flops / row["lamina"], "peak": peak,
                     "torch_achieved": flops / row["torch"] if row["torch"] else None,
                     "gemms": step_gemms_time(b), "step": row["lamina"]})
    return rows


def gemm_split(row: dict) -> str:
    """The step's time split into its GEMMs alone and the rest, as one line."""
    gemms, step, peak = row["gemms"], row["step"], row["peak"]
    rate = step_flops(row["batch"]) / gemms
    return (f"its GEMMs alone take {fmt_time(gemms)} ({rate / 1e9:.1f} GFLOP/s, "
            f"{100 * rate / peak:.0f}% of the peak: the ceiling at these shapes), the rest of "
            f"the step {fmt_time(max(step - gemms, 0.0))} ({100 * max(step - gemms, 0) / step:.0f}%"
            f" of it) is not GEMM")


# ----------------------------------------------------------------------------- batch-1 bound
def _read_kernel():
    """A compiled read of every element of some arrays (a sum, reassociated so that it
    vectorises): the fastest way found to stream them from where they live; None without
    Numba (or with LAMINA_NO_NUMBA=1)."""
    if os.environ.get("LAMINA_NO_NUMBA") == "1":
        return None
    try:
        from numba import njit
    except ImportError:
        return None

    @njit(fastmath=True, nogil=True)
    def read_all(arrays):
        total = np.float32(0)
        for a in arrays:
            flat = a.reshape(-1)
            for i in range(flat.size):
                total += flat[i]
        return total

    return read_all


def weight_stream_bound(name: str, quick: bool) -> dict:
    """How long streaming the parameters of model ``name`` takes on this machine, the floor
    of a batch-1 forward pass (each weight is read once per input row): the median over
    blocks of the fastest of two reads of exactly those arrays, repeated as inference
    repeats them (so they sit where they settle: L2 or L3, 1 MiB for the MLP), by the
    bench's thread count: a compiled sum over all of them (Numba) and NumPy's BLAS dot of
    each with itself (``np.dot(w, w)``, a single read of each byte). Also the time of
    lamina's compiled layer chain alone (the batch-1 kernel of the MLP, without the model
    call around it). Seconds, and the bytes."""
    import lamina as lm
    from lamina.kernels import numba_kernels
    from lamina.ops.linalg import LinearChain

    lm.manual_seed(0)
    model = lamina_model(name).eval()
    arrays = [p.detach().numpy() for p in model.parameters()]
    flats = [a.reshape(-1) for a in arrays]
    n = 300 if quick else 2000
    blocks = 5 if quick else 15

    def median_time(fn) -> float:
        fn()
        samples = []
        for _ in range(blocks):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples.append((time.perf_counter() - start) / n)
        return statistics.median(samples)

    reads = {"BLAS dot": median_time(lambda: [np.dot(f, f) for f in flats])}
    read_all = _read_kernel()
    if read_all is not None:
        packed = tuple(flats)
        reads["compiled read"] = median_time(lambda: read_all(packed))
    result = {"bytes": sum(a.nbytes for a in arrays), "bound": min(reads.values()),
              "method": min(reads, key=reads.get)}
    weights, biases = arrays[0::2], arrays[1::2]
    chain = LinearChain(weights, biases, [True] * (len(weights) - 1) + [False])
    compiled = numba_kernels("linear")
    row = np.zeros((1, weights[0].shape[1]), weights[0].dtype)
    if compiled is not None and chain.packed is not None:
        result["kernel"] = median_time(lambda: chain.bind(compiled)(row))
    return result


def batch1_bound_lines(latency: float, quick: bool) -> list[str]:
    """The MLP's batch-1 latency beside the measured bound of streaming its weights (goal:
    latency / bound <= 1.25), printed and as RESULTS.md lines."""
    b = weight_stream_bound("mlp", quick)
    kernel = b.get("kernel")
    text = (f"MLP batch 1: latency {fmt_time(latency)}; streaming its {b['bytes'] / 2**20:.2f} "
            f"MiB of parameters takes {fmt_time(b['bound'])} ({b['method']}, "
            f"{b['bytes'] / b['bound'] / 1e9:.0f} GB/s): latency / bound "
            f"{latency / b['bound']:.2f}x (goal <= 1.25x)")
    if kernel is not None:
        text += (f"; the compiled layer chain alone {fmt_time(kernel)}, "
                 f"{kernel / b['bound']:.2f}x the bound")
    print(text, flush=True)
    return [text + ". The bound is the median time of the fastest plain read of exactly "
            "those arrays, repeated as inference repeats them (so they sit in L2/L3 as in "
            "the latency run), at the bench's thread count.", ""]


# ----------------------------------------------------------------------------- install size
def installed_size() -> dict[str, float]:
    """MiB of site-packages in fresh venvs: lamina core, lamina[fast], torch 2.13 CPU."""
    import tempfile

    specs = {"lamina": [str(ROOT)], "lamina[fast]": [f"{ROOT}[fast]"],
             "torch 2.13 CPU": ["torch==2.13.0"]}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in specs.items():
            venv = Path(tmp) / label.replace(" ", "_").replace("[", "_").replace("]", "")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *spec],
                                 capture_output=True, text=True)
            if pip.returncode:
                print(f"install of {label} failed: {pip.stderr.strip()[-200:]}")
                continue
            site = next(venv.glob("lib/python*/site-packages"))
            baseline = {"pip", "setuptools", "_distutils_hack"}
            total = 0
            for entry in site.iterdir():
                if entry.name.split("-")[0] in baseline or entry.name == "distutils-precedence.pth":
                    continue
                files = [entry] if entry.is_file() else entry.rglob("*")
                total += sum(f.stat().st_size for f in files if f.is_file())
            out[label] = total / 2**20
            print(f"installed size {label}: {out[label]:.1f} MiB", flush=True)
    return out


# ----------------------------------------------------------------------------- report
def machine_info() -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "cpus": os.cpu_count(), "threads": THREADS, "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = "; ".join(f"{p.get('internal_api')} {p.get('version')} "
                                 f"({p.get('architecture')}, {p.get('num_threads')} threads)"
                                 for p in threadpool_info() if p.get("user_api") == "blas")
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = "not installed"
    import lamina

    info["lamina"] = lamina.__version__
    info["numba"] = _numba_state()
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "unset")
    return info


def _numba_state() -> str:
    try:
        import numba

        disabled = os.environ.get("LAMINA_NO_NUMBA") == "1"
        return f"{numba.__version__}{' (disabled: LAMINA_NO_NUMBA=1)' if disabled else ''}"
    except ImportError:
        return "not installed (pure NumPy)"


def write_results(path: Path, info: dict, sections: list[str]) -> None:
    head = [
        "# lamina benchmark results",
        "",
        f"Written by `python -m bench` on {datetime.datetime.now():%Y-%m-%d %H:%M}. "
        "Times are medians of 15 interleaved blocks (about 0.3 s each) per framework in one "
        "process; a ratio is the median over rounds of PyTorch's block time / lamina's block "
        "time in the same round (> 1: lamina faster), with the quartiles of those per-round "
        "ratios in parentheses. Machines are noisy: expect +-20% between runs.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
    ]
    kept = []  # sections written by other bench scripts (e.g. serve_load.py) survive a rerun
    if path.exists():
        for block in path.read_text().split("\n## ")[1:]:
            if block.startswith("HTTP service load test"):
                kept.append("## " + block.rstrip("\n"))
    path.write_text("\n".join(head + sections + kept) + "\n")


def table(rows, with_torch: bool) -> list[str]:
    lines = ["| workload | batch | lamina | torch | lamina samples/s | torch samples/s | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        tor, lam, b = r["torch"], r["lamina"], r["batch"]
        torch_time = fmt_time(tor) if tor else "-"
        torch_rate = f"{b / tor:,.0f}" if tor else "-"
        ratio = fmt_ratio(r) if tor else "-"
        lines.append(f"| {r['workload']} | {b} | {fmt_time(lam)} | {torch_time} | "
                     f"{b / lam:,.0f} | {torch_rate} | {ratio} |")
    return lines


def numpy_path(quick: bool) -> list[dict]:
    """Re-run the LeNet-5 training and both models' batch-1 inference in a child process with
    LAMINA_NO_NUMBA=1 (the rows are printed by the child as they come)."""
    return numpy_child(["bench", "--json-numpy"] + (["--quick"] if quick else []))


def numpy_child(args: list[str]) -> list[dict]:
    """Run ``python -m ARGS`` in a child process with LAMINA_NO_NUMBA=1, echo its row lines
    as "pure NumPy: ..." and return the rows it prints as JSON on its last line ([] if it
    fails, after printing its stderr's tail)."""
    env = dict(os.environ, LAMINA_NO_NUMBA="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(ROOT))
    if proc.returncode:
        print(proc.stderr[-2000:])
        return []
    lines = proc.stdout.strip().splitlines()
    for line in lines[:-1]:
        if "batch" in line:
            print("pure NumPy: " + line, flush=True)
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["mlp", "lenet", "infer", "import", "memory", "gemm", "size"])
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--json-numpy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    want = set(args.only or ["mlp", "lenet", "infer", "import", "memory", "gemm", "size"])
    use_torch = have_torch()
    x, y = load_mnist()

    if args.json_numpy:
        rows = run_model_workloads("train", ["lenet"], [32, 128], x, y, args.quick, use_torch)
        rows += run_model_workloads("infer", ["lenet", "mlp"], [1], x, y, args.quick, use_torch)
        print(json.dumps(rows))
        return 0

    info = machine_info()
    print("\n".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    sections: list[str] = []
    mlp_rows = []
    train_rows = []
    if "mlp" in want or "gemm" in want:
        mlp_rows = run_model_workloads("train", ["mlp"], [32, 128], x, y, args.quick, use_torch)
        train_rows += mlp_rows
    if "lenet" in want:
        train_rows += run_model_workloads("train", ["lenet"], [32, 128], x, y, args.quick,
                                          use_torch)
    if train_rows:
        sections += ["## Training throughput (Adam, cross-entropy)", "",
                     *table(train_rows, use_torch), ""]
    if "lenet" in want and "numba (disabled" not in info["numba"] and "not installed" not in \
            info["numba"]:
        np_rows = numpy_path(args.quick)
        if np_rows:
            sections += ["## Pure-NumPy path (`LAMINA_NO_NUMBA=1`, same run)", "",
                         *table(np_rows, use_torch), ""]
    if "infer" in want:
        rows = run_model_workloads("infer", ["mlp", "lenet"], [1, 256], x, y, args.quick,
                                   use_torch)
        sections += ["## Inference latency (eval mode, no grad)", "", *table(rows, use_torch),
                     ""]
        latency = next(r["lamina"] for r in rows if r["workload"] == "MLP infer"
                       and r["batch"] == 1)
        sections += batch1_bound_lines(latency, args.quick)
    if "gemm" in want and mlp_rows:
        sections += ["## GEMM efficiency of the MLP train step", "",
                     "| batch | lamina GFLOP/s | torch GFLOP/s | machine float32 matmul GFLOP/s "
                     "| lamina efficiency |", "|---:|---:|---:|---:|---:|"]
        eff = gemm_efficiency(mlp_rows)
        for r in eff:
            tor = f"{r['torch_achieved'] / 1e9:.1f}" if r["torch_achieved"] else "-"
            sections.append(f"| {r['batch']} | {r['achieved'] / 1e9:.1f} | {tor} | "
                            f"{r['peak'] / 1e9:.1f} | {100 * r['achieved'] / r['peak']:.0f}% |")
            print(f"GEMM efficiency, MLP train batch {r['batch']}: lamina "
                  f"{r['achieved'] / 1e9:.1f} GFLOP/s, torch {tor} GFLOP/s, float32 matmul peak "
                  f"{r['peak'] / 1e9:.1f} GFLOP/s: {100 * r['achieved'] / r['peak']:.0f}% "
                  f"(goal >= 60% at batch 128); {gemm_split(r)}", flush=True)
        sections += [""] + [f"Batch {r['batch']}: {gemm_split(r)}." for r in eff] + [
            "", GEMM_FLOPS_NOTE, ""]
    if "import" in want:
        t = import_times(5 if args.quick else 15)
        print("import times:", {k: f"{v * 1e3:.0f} ms" for k, v in t.items()}, flush=True)
        lines = ["## Import time (fresh interpreter, median, interleaved)", "",
                 "| command | wall time |", "|---|---:|"]
        lines += [f"| `{k}` | {v * 1e3:.0f} ms |" for k, v in t.items() if k in IMPORTS]
        if "added" in t:
            lines.append("")
            lines.append(f"`import lamina` adds {1e3 * t['added']:.0f} ms to `import numpy` "
                         f"(median over runs of the difference, each pair timed back to back; "
                         f"below the machine's noise it can come out negative). Its own import, "
                         f"after numpy's, takes {1e3 * lamina_self_import(9):.1f} ms by "
                         f"`python -X importtime` (median of 9).")
        if "torch" in t and "lamina" in t:
            lines.append(f"`import numpy, lamina` is {t['torch'] / t['lamina']:.1f}x faster "
                         f"than `import torch`.")
        sections += lines + [""]
    if "memory" in want:
        from bench import memory

        rows = peak_memory(use_torch)
        sections += ["## Peak memory of a training step (RSS, fresh process per cell)", "",
                     *memory.table(rows), ""]
    if "size" in want:
        sizes = installed_size()
        lines = ["## Installed size (site-packages of a fresh venv, without pip/setuptools)", "",
                 "| install | MiB |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in sizes.items()]
        sections += lines + [""]
    if not args.no_write:
        write_results(ROOT / "bench" / "RESULTS.md", info, sections)
        print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
