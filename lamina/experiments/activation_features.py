"""The desirable features of an activation function (notes section 9.1), measured on lamina's.

Claim: of the notes' three desirable features (9.1), every activation of chapter 9 is
differentiable wherever its derivative is defined, with ReLU and leaky ReLU (eq 9.3, 9.4) not
differentiable at 0 (a kink) while sigmoid, tanh and swish (eq 9.1, 9.2, 9.5) are smooth; only
tanh is zero-centred (mean output 0 on zero-mean input: the notes' reason to prefer it to the
sigmoid, 9.3); and ReLU and leaky ReLU are the cheap ones: they need no exponential (nor tanh).

Set-up. For each of ``lm.functional``'s sigmoid, tanh, relu, leaky_relu (slope 0.01) and swish:

* Differentiability: at 1,000 points of ``N(0, 2^2)`` away from 0 the derivative from lamina's
  autograd is compared with a central difference (float64, step 1e-6); at 0 the one-sided
  difference quotients ``(f(h) - f(0)) / h`` and ``(f(0) - f(-h)) / h`` for ``h = 1e-7`` are
  compared: they agree where the function is differentiable at 0 and differ at a kink.
* Zero-centred: the mean output over 200,000 samples of ``N(0, 1)``; a mean within 0.01 of 0
  counts as zero-centred (the standard error of the mean is about 0.002).
* Cost: nanoseconds per element of the forward pass on 1,000,000 float32 values (best of several
  runs), and the number of transcendental evaluations (``exp``, ``tanh``, ``log``...) per element,
  counted by running the forward pass with lamina's activation ops (lamina/ops/activation.py)
  seeing a counting stand-in for NumPy. Times depend on the machine, so they are reported, not
  checked; the check is on the counted evaluations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "activation-features"
CLAIM = ("differentiable (ReLU/leaky ReLU except at 0), zero-centred (only tanh), cheap (ReLU "
         "and leaky ReLU need no exp or tanh): the notes' desirable features (9.1), measured")

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "swish")
TRANSCENDENTAL = ("exp", "expm1", "exp2", "log", "log1p", "tanh", "sinh", "cosh", "power")


@dataclass(frozen=True)
class Settings:
    samples: int
    elements: int
    repeats: int


SETTINGS = {
    "tiny": Settings(50_000, 100_000, 2),
    "quick": Settings(200_000, 1_000_000, 5),
    "full": Settings(1_000_000, 1_000_000, 20),
}


def function(name: str) -> Callable[[Any], Any]:
    """The activation ``name`` of ``lm.functional``."""
    from lamina import functional as F

    return {"sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu,
            "leaky_relu": F.leaky_relu, "swish": F.swish}[name]


def derivative_error(f: Callable[[Any], Any], points: np.ndarray) -> float:
    """Max |autograd derivative - central difference| at ``points`` (float64)."""
    import lamina as lm

    x = lm.tensor(points, requires_grad=True)
    f(x).sum().backward()
    step = 1e-6
    with lm.no_grad():
        numeric = (f(lm.tensor(points + step)).numpy()
                   - f(lm.tensor(points - step)).numpy()) / (2 * step)
    return float(np.max(np.abs(x.grad.numpy() - numeric)))


def one_sided_gap(f: Callable[[Any], Any], h: float = 1e-7) -> float:
    """|right difference quotient - left difference quotient| at 0."""
    import lamina as lm

    with lm.no_grad():
        value = f(lm.tensor(np.array([-h, 0.0, h]))).numpy()
    return float(abs((value[2] - value[1]) / h - (value[1] - value[0]) / h))


def mean_output(f: Callable[[Any], Any], z: np.ndarray) -> float:
    import lamina as lm

    with lm.no_grad():
        return float(f(lm.tensor(z)).numpy().mean())


def nanoseconds_per_element(f: Callable[[Any], Any], x: np.ndarray, repeats: int) -> float:
    """Best-of-``repeats`` forward time per element, in ns."""
    import lamina as lm

    t = lm.tensor(x)
    best = float("inf")
    with lm.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            f(t)
            best = min(best, time.perf_counter() - start)
    return 1e9 * best / x.size


class _CountingNumPy:
    """Stands in for the ``np`` module of lamina's activation ops: counts the elements passed to
    transcendental functions."""

    def __init__(self) -> None:
        self.elements = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(np, name)
        if name not in TRANSCENDENTAL:
            return attr

        def counted(x, *args, **kwargs):
            self.elements += np.size(x)
            return attr(x, *args, **kwargs)

        return counted


def transcendentals_per_element(f: Callable[[Any], Any], n: int = 1000) -> float:
    """Transcendental evaluations per element in ``f``'s forward pass (counted, see above)."""
    import lamina as lm
    from lamina.ops import activation

    counter = _CountingNumPy()
    activation.np = counter
    try:
        with lm.no_grad():
            f(lm.tensor(np.linspace(-3.0, 3.0, n)))
    finally:
        activation.np = np
    return counter.elements / n


def judge(numbers: dict[str, Any]) -> dict[str, bool]:
    """The claim's checks on measured numbers."""
    gap, mean = numbers["one_sided_gap_at_0"], numbers["mean_output_on_N01"]
    smooth = ("sigmoid", "tanh", "swish")
    return {
        "autograd's derivative equals the central difference away from 0 (error < 1e-6)":
            all(v < 1e-6 for v in numbers["derivative_error_away_from_0"].values()),
        "sigmoid, tanh and swish are differentiable at 0 (one-sided quotients agree to 1e-5)":
            all(gap[n] < 1e-5 for n in smooth),
        "ReLU and leaky ReLU have a kink at 0 (one-sided quotients differ by > 0.9)":
            gap["relu"] > 0.9 and gap["leaky_relu"] > 0.9,
        "only tanh is zero-centred (|mean output| < 0.01; the others > 0.1)":
            abs(mean["tanh"]) < 0.01 and all(abs(mean[n]) > 0.1 for n in ACTIVATIONS
                                             if n != "tanh"),
        "ReLU and leaky ReLU need no transcendental function; sigmoid, tanh, swish need one":
            all(numbers["transcendentals_per_element"][n] == (0 if "relu" in n else 1)
                for n in ACTIVATIONS),
    }


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Measure differentiability, zero-centredness and cost of each activation.

    Args:
        quick: the ``--quick`` size.
        out: directory for ``activation-features.png``, or None for no plot.
        seed: seeds the sample points.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    points = rng.normal(0.0, 2.0, 1000)
    points = points[np.abs(points) > 1e-3]
    z = rng.standard_normal(s.samples)
    x32 = rng.standard_normal(s.elements).astype(np.float32)
    derivative, gap, mean, cost, counted = {}, {}, {}, {}, {}
    with common.progress_bar(len(ACTIVATIONS), NAME, progress) as bar:
        for name in ACTIVATIONS:
            f = function(name)
            derivative[name] = derivative_error(f, points)
            gap[name] = one_sided_gap(f)
            mean[name] = mean_output(f, z)
            cost[name] = nanoseconds_per_element(f, x32, s.repeats)
            counted[name] = transcendentals_per_element(f)
            bar.update(1)
    numbers = {
        "derivative_error_away_from_0": derivative,
        "one_sided_gap_at_0": gap,
        "mean_output_on_N01": mean,
        "transcendentals_per_element": counted,
        "forward_ns_per_element_float32": cost,
    }
    checks = judge(numbers)
    conclusion = (
        "mean output on N(0, 1): " + ", ".join(f"{n} {mean[n]:+.3f}" for n in ACTIVATIONS)
        + "; one-sided derivative gap at 0: " + ", ".join(f"{n} {gap[n]:.2g}" for n in ACTIVATIONS)
        + "; forward cost (ns/element, this machine): "
        + ", ".join(f"{n} {cost[n]:.2g}" for n in ACTIVATIONS) + "."
    )
    plot = common.save_figure(out_dir, f"{NAME}.png", lambda fig, axes: _draw(axes, numbers),
                              ncols=2, figsize=(11.0, 4.0),
                              title="Desirable features of activations (9.1)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(axes: np.ndarray, numbers: dict[str, Any]) -> None:
    positions = np.arange(len(ACTIVATIONS))
    ax = axes[0, 0]
    ax.bar(positions, [numbers["mean_output_on_N01"][n] for n in ACTIVATIONS])
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_xticks(positions, ACTIVATIONS)
    ax.set_ylabel("mean output on N(0, 1) input")
    ax.set_title("zero-centred?")
    ax = axes[0, 1]
    ax.bar(positions, [numbers["forward_ns_per_element_float32"][n] for n in ACTIVATIONS],
           color="tab:orange")
    ax.set_xticks(positions, ACTIVATIONS)
    ax.set_ylabel("ns per element (float32 forward)")
    ax.set_title("computational expense")
