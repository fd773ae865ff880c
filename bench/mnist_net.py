"""The official PyTorch MNIST example's Net, trained in lamina and PyTorch, interleaved.

    python -m bench.mnist_net                       # batch 64 and 128, wall clock
    python -m bench.mnist_net --clock cpu           # CPU time of the process (busy machine)
    python -m bench.mnist_net --profile             # also: where lamina's step spends its time

The model is written as users write it (a Module subclass calling the functional API):

    Conv2d(1, 32, 3, 1) -> relu -> Conv2d(32, 64, 3, 1) -> relu -> max_pool2d(2) -> dropout
    -> flatten -> Linear(9216, 128) -> relu -> dropout -> Linear(128, 10) -> log_softmax,
    nll_loss, Adam.

Both frameworks train on the same MNIST batches with the same thread count (BENCH_THREADS);
blocks of steps alternate (:func:`bench.run.interleaved`) and the ratio is the median over
rounds of torch's time over lamina's (> 1: lamina faster), with quartiles. The float32 GEMM
peak of the machine (one large ``np.matmul``) is printed beside it, and the MFLOP of a step.
Writes bench/RESULTS_mnist_net.md. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

from bench import run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS_mnist_net.md"

# multiply-adds of one image's forward pass: conv1, conv2, fc1, fc2
FORWARD_MACS = 26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9 + 9216 * 128 + 128 * 10


def net(lib, nn, F):
    """PyTorch's MNIST example Net for ``lib`` (lamina or torch, with its ``nn`` and
    functional ``F``), its calls nested as ``F.relu(self.conv1(x))``."""

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
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def lamina_net():
    import lamina as lm

    return net(lm, lm.nn, lm.nn.functional)


def lamina_sequential_net():
    """The same Net as one nn.Sequential (conv2, ReLU and max-pool then run as the fused op
    conv2d_relu_max_pool2d), same initialisation order."""
    from lamina import nn

    return nn.Sequential(nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(1), nn.Linear(9216, 128),
                         nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10), nn.LogSoftmax(dim=1))


def torch_net():
    import torch

    return net(torch, torch.nn, torch.nn.functional)


def lamina_step(data, make=None):
    import lamina as lm

    lm.manual_seed(0)
    model = (make or lamina_net)().train()
    body = run.train_body(model, lm.optim.Adam(model.parameters(), lr=1e-3),
                          lm.nn.functional.nll_loss)
    return run.cycling([(lm.tensor(xb), lm.tensor(yb)) for xb, yb in data], body)


def torch_step(data):
    import torch

    torch.manual_seed(0)
    model = torch_net().train()
    body = run.train_body(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                          torch.nn.functional.nll_loss)
    return run.cycling([(torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in data],
                       body)


def cpu_time_block(step, n: int) -> float:
    """CPU seconds of the whole process per call of ``step`` over ``n`` calls (all threads:
    with BENCH_THREADS=1 and OPENBLAS_NUM_THREADS=1 the time the step itself used)."""
    start = time.process_time()
    for _ in range(n):
        step()
    return (time.process_time() - start) / n


def _with_threshold(step, name: str, value: int):
    """``step`` run with ``lamina.kernels.thresholds.<name>`` set to ``value`` (restored
    after each call)."""
    from lamina.kernels import thresholds as T

    def changed_step():
        saved = getattr(T, name)
        setattr(T, name, value)
        try:
            step()
        finally:
            setattr(T, name, saved)

    return changed_step


def without_winograd(step):
    """``step`` run with the Winograd path switched off (its thresholds out of reach): the
    im2col + GEMM convolution lamina used before it."""
    return _with_threshold(step, "WINOGRAD_MIN_OUTPUTS", 1 << 62)


def threaded_transforms(step):
    """``step`` run with the Winograd transforms split over ``lamina.get_num_threads()``
    threads (WINOGRAD_TRANSFORM_THREADS lifted while it runs; 1, serial, by default)."""
    return _with_threshold(step, "WINOGRAD_TRANSFORM_THREADS", 1 << 16)


def measure(batch: int, x, y, rounds: int, per_block: float, im2col: bool = False,
            threaded: bool = False, sequential: bool = False) -> dict:
    data = run.batches(x, y, "lenet", batch, 8)
    steps = {"lamina": lamina_step(data), "torch": torch_step(data)}
    if im2col:
        steps["im2col"] = without_winograd(lamina_step(data))
    if threaded:
        steps["threaded"] = threaded_transforms(lamina_step(data))
    if sequential:
        steps["sequential"] = lamina_step(data, lamina_sequential_net)
        if im2col:
            steps["sequential_im2col"] = without_winograd(lamina_step(data,
                                                                   lamina_sequential_net))
    for step in steps.values():  # first calls compile or load kernels: not timed
        run.time_block(step, 3)
    probe = min(run.time_block(steps["lamina"], 2) for _ in range(3))
    n = max(2, int(per_block / max(probe, 1e-6)))
    result = run.interleaved(steps, n, rounds, warmup=max(2, n // 2))
    result["batch"] = batch
    return result


def profile(batch: int, x, y, steps: int = 20, top: int = 25) -> str:
    """cProfile of ``steps`` lamina training steps: the functions with the most own time."""
    data = run.batches(x, y, "lenet", batch, 8)
    step = lamina_step(data)
    run.time_block(step, 3)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    total = stats.total_tt / steps
    for (file, line, name), (_, calls, own, cum, _) in stats.stats.items():
        rows.append((own / steps, cum / steps, calls // steps, f"{Path(file).name}:{line}({name})"))
    rows.sort(reverse=True)
    lines = [f"lamina training step, batch {batch}: {total * 1e3:.2f} ms per step (profiled)",
             f"{'own ms':>8} {'cum ms':>8} {'calls':>6}  function"]
    lines += [f"{own * 1e3:8.3f} {cum * 1e3:8.3f} {calls:6d}  {where}"
              for own, cum, calls, where in rows[:top]]
    return "\n".join(lines)


_MEMORY_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from bench import mnist_net, run


def kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])


batch, framework = int(sys.argv[1]), sys.argv[2]
x, y = run.load_mnist()
data = run.batches(x, y, "lenet", batch, 4)
if framework == "torch":
    import torch
    torch.set_num_threads({threads})
else:
    import lamina
    lamina.set_num_threads({threads})
base = kib("VmRSS")
step = (mnist_net.lamina_step if framework == "lamina" else mnist_net.torch_step)(data)
for _ in range(10):
    step()
print(kib("VmHWM") - base)
"""


def peak_memory(batch: int) -> dict[str, float]:
    """MiB that the peak RSS of a fresh process grows by over 10 training steps at ``batch``
    (from after loading the data and importing the framework: lamina's Numba and its kernels,
    ~70 MiB, load during the first step, torch's libraries at its import), per framework;
    and (keys ``"<framework> step"``) the step's peak above the steady state as
    :mod:`bench.memory` measures it (the example's Net line by line, Adadelta)."""
    from bench import memory

    result = {}
    for framework in ("lamina", "torch"):
        script = _MEMORY_SCRIPT.format(root=str(ROOT), threads=run.THREADS)
        proc = subprocess.run([sys.executable, "-c", script, str(batch), framework],
                              capture_output=True, text=True, check=True)
        result[framework] = int(proc.stdout.split()[-1]) / 1024
        step = memory.measure("mnist", framework, batch)
        if step is not None:
            result[framework + " step"] = step["peak"] - step["steady"]
    return result


def table(args, x, y, path: str) -> list[str]:
    """One table of lamina vs torch on kernel path ``path`` ("fast": the compiled kernels
    where Numba is installed; "numpy": switched off at run time, as LAMINA_NO_NUMBA=1)."""
    import lamina.kernels

    lines = [f"kernel path: {path}", "",
             "| batch | lamina ms | torch ms | torch/lamina | quartiles | lamina GFLOP/s "
             "| lamina im2col ms (torch/it, medians) | lamina, threaded transforms ms (torch/it) |",
             "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    notes: list[str] = []
    saved = lamina.kernels.numba_available
    if path == "numpy":
        lamina.kernels.numba_available = lambda: False
    try:
        for batch in args.batch:
            r = measure(batch, x, y, args.rounds, args.block, args.im2col, args.threaded,
                        args.sequential)
            gflops = 6 * FORWARD_MACS * batch / r["lamina"] / 1e9
            old = (f"{r['im2col'] * 1e3:.2f} ({r['torch'] / r['im2col']:.2f}x)"
                   if args.im2col else "-")
            threaded = (f"{r['threaded'] * 1e3:.2f} ({r['torch'] / r['threaded']:.2f}x)"
                        if args.threaded else "-")
            lines.append(f"| {batch} | {r['lamina'] * 1e3:.2f} | {r['torch'] * 1e3:.2f} | "
                         f"{r['ratio']:.2f}x | {r['spread'][0]:.2f}-{r['spread'][1]:.2f} | "
                         f"{gflops:.1f} | {old} | {threaded} |")
            print(lines[-1], flush=True)
            if args.sequential:
                seq = [f"{name} {r[key] * 1e3:.2f} ms ({r['torch'] / r[key]:.2f}x torch)"
                       for name, key in (("nn.Sequential", "sequential"),
                                         ("its im2col", "sequential_im2col")) if key in r]
                notes.append(f"- batch {batch}, the Net as nn.Sequential: {', '.join(seq)}")
                print(notes[-1], flush=True)
    finally:
        lamina.kernels.numba_available = saved
    return lines + [""] + (notes + [""] if notes else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=float, default=0.4, help="seconds per block, roughly")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--paths", choices=("fast", "numpy", "both"), default="both",
                        help="kernel paths to time (both: fast, then pure NumPy)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", action="store_true", help="also peak RSS per framework")
    parser.add_argument("--im2col", action="store_true",
                        help="also time lamina with the Winograd path off (before/after)")
    parser.add_argument("--sequential", action="store_true",
                        help="also the Net as nn.Sequential (the fused conv-ReLU-pool op)")
    parser.add_argument("--threaded", action="store_true",
                        help="also lamina with the Winograd transforms on lamina's threads")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import torch

    import lamina

    torch.set_num_threads(run.THREADS)
    lamina.set_num_threads(run.THREADS)  # its kernels' threads and (threadpoolctl) the BLAS's
    if args.clock == "cpu":
        run.time_block = cpu_time_block  # interleaved() looks it up at call time
    x, y = run.load_mnist()
    peak = {"gflops": run.gemm_peak(time.process_time if args.clock == "cpu"
                                    else time.perf_counter, 2048) / 1e9,
            "note": f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"}
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "BENCH_THREADS",
                                                     "LAMINA_NO_NUMBA") if k in os.environ)
    flags = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# PyTorch MNIST example Net, training ({datetime.datetime.now():%Y-%m-%d %H:%M})",
             "", f"`{env} python -m bench.mnist_net {flags}`".replace("` ", "`"),
             "", f"threads {run.THREADS} (lamina.get_num_threads() {lamina.get_num_threads()}), "
             f"clock {args.clock}, numba "
             f"{'installed' if lamina.kernels._load() is not None else 'not installed'}, "
             f"torch {torch.__version__}, float32 GEMM peak {peak['gflops']:.1f} GFLOP/s "
             f"({peak['note']}), {6 * FORWARD_MACS / 1e6:.0f} MFLOP per image per step "
             "(fwd + bwd)", ""]
    print("\n".join(lines), flush=True)
    paths = ("fast", "numpy") if args.paths == "both" else (args.paths,)
    for path in paths:
        lines += table(args, x, y, path)
    if args.memory:
        head = ["peak RSS growth over 10 training steps from the framework's import, fresh "
                "process (MiB; lamina's includes loading Numba and its kernels); step: the "
                "step's peak above the steady state (bench.memory)", "",
                "| batch | lamina | torch | lamina step | torch step |", "|---|---|---|---|---|"]
        print("\n".join(head), flush=True)
        lines += head
        for batch in args.batch:
            mem = peak_memory(batch)
            steps = " | ".join(f"{mem[k]:.1f}" if k in mem else "-"
                               for k in ("lamina step", "torch step"))
            lines.append(f"| {batch} | {mem['lamina']:.1f} | {mem['torch']:.1f} | {steps} |")
            print(lines[-1], flush=True)
    if args.profile:
        for batch in args.batch:
            text = profile(batch, x, y)
            print("\n" + text, flush=True)
            lines += ["", "```", text, "```"]
    if not args.no_write:
        RESULTS.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
