"""The minibatch gradient as an estimate of the full gradient (notes section 3.1, eq 3.1-3.3).

Claim: the minibatch gradient ``g`` (eq 3.3) is an unbiased estimate of the full gradient
``grad J`` (eq 3.2 of the cost 3.1), and its error falls as ``1/sqrt(m')``: quadrupling the
minibatch halves the error, so a minibatch of a few hundred examples already estimates the
gradient well at a fraction of the cost of the full sum.

Set-up. A lamina ``Linear(784, 10)`` softmax regression on MNIST images (the embedded subset),
its weights moved away from the initialisation by a few SGD steps so that the per-example
gradients are typical of training. The full gradient is one backward pass of the mean
cross-entropy (eq 4.5) over all ``m`` examples (eq 3.2). For ``m'`` = 1, 4, 16, 64 and 256,
minibatches are drawn uniformly with replacement (the i.i.d. sampling behind the ``1/sqrt(m')``
law; without replacement the error also shrinks by ``sqrt((m - m') / (m - 1))``), and ``g`` is one
backward pass of the minibatch's mean loss (eq 3.3). Measured: the root-mean-square error
``E ||g - grad J||`` and the distance between the average ``g`` and ``grad J``.

A broken variant shows the checks can fail: an estimator that forgets eq 3.3's ``1/m'`` (a summed
gradient) grows with ``m'`` instead (see the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "minibatch-gradient"
CLAIM = ("the minibatch gradient (eq 3.3) estimates the full gradient (eq 3.2) without bias, "
         "its error falling as 1/sqrt(m')")

BATCH_SIZES = (1, 4, 16, 64, 256)


@dataclass(frozen=True)
class Settings:
    examples: int
    draws: int


SETTINGS = {
    "tiny": Settings(1000, 60),
    "quick": Settings(4000, 200),
    "full": Settings(6000, 500),
}


def build(x: np.ndarray, y: np.ndarray) -> Any:
    """``Linear(784, 10)`` in float64 after 20 SGD steps on ``x, y`` (batches of 50)."""
    import lamina as lm
    from lamina import nn

    model = nn.Linear(784, 10).double()
    opt = lm.optim.SGD(model.parameters(), lr=0.5)
    for step in range(20):
        rows = slice(50 * step % len(x), 50 * step % len(x) + 50)
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(lm.tensor(x[rows])), y[rows]).backward()
        opt.step()
    return model


def gradient(model: Any, x: np.ndarray, y: np.ndarray, reduction: str = "mean") -> np.ndarray:
    """The gradient of the batch's cross-entropy w.r.t. all parameters, as one vector.
    ``reduction="mean"`` is eq 3.2 / 3.3; ``"sum"`` drops the ``1/m'`` (the broken variant)."""
    import lamina as lm
    from lamina import nn

    model.zero_grad()
    nn.CrossEntropyLoss(reduction=reduction)(model(lm.tensor(x)), y).backward()
    return np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])


def estimate_errors(model: Any, x: np.ndarray, y: np.ndarray, draws: int,
                    rng: np.random.Generator, reduction: str = "mean",
                    bar: Any = None) -> dict[str, list[float]]:
    """For each ``m'`` in :data:`BATCH_SIZES`: the RMS error of ``draws`` minibatch gradients
    against the full gradient, and the distance of their mean from it (relative to the full
    gradient's norm)."""
    full = gradient(model, x, y)
    scale = float(np.linalg.norm(full))
    rms, bias = [], []
    for m in BATCH_SIZES:
        estimates = np.stack([gradient(model, x[idx], y[idx], reduction)
                              for idx in rng.integers(0, len(x), size=(draws, m))])
        rms.append(float(np.sqrt(np.mean(np.sum((estimates - full) ** 2, axis=1)))) / scale)
        bias.append(float(np.linalg.norm(estimates.mean(axis=0) - full)) / scale)
        if bar is not None:
            bar.update(1)
    return {"rms_error": rms, "mean_error": bias}


def slope(values: list[float]) -> float:
    """Least-squares slope of ``log(values)`` against ``log(m')``."""
    return float(np.polyfit(np.log(BATCH_SIZES), np.log(values), 1)[0])


def judge(errors: dict[str, list[float]], draws: int) -> dict[str, bool]:
    """The claim's checks on measured errors."""
    rms, bias = errors["rms_error"], errors["mean_error"]
    return {
        "the error falls as 1/sqrt(m'): log-log slope within 0.1 of -1/2":
            abs(slope(rms) + 0.5) < 0.1,
        "256 examples estimate the gradient 16x better than 1, within 25%":
            0.75 * 16 < rms[0] / rms[-1] < 1.25 * 16,
        "unbiased: the mean of the draws is within 3 standard errors of the full gradient":
            all(b < 3 * r / np.sqrt(draws) for b, r in zip(bias, rms, strict=True)),
    }


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Measure the minibatch gradient's error against the full gradient for several ``m'``.

    Args:
        quick: the ``--quick`` size.
        out: directory for ``minibatch-gradient.png``, or None for no plot.
        seed: seeds the model and the minibatch draws.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    x, y, _, _ = common.mnist_arrays(s.examples, 0, flat=True)
    x = x.astype(np.float64)
    model = build(x, y)
    with common.progress_bar(len(BATCH_SIZES), NAME, progress) as bar:
        errors = estimate_errors(model, x, y, s.draws, rng, bar=bar)
    checks = judge(errors, s.draws)
    rms = errors["rms_error"]
    numbers = {
        "examples_m": s.examples,
        "draws_per_batch_size": s.draws,
        "batch_sizes": list(BATCH_SIZES),
        "relative_rms_error": rms,
        "relative_error_of_the_mean": errors["mean_error"],
        "loglog_slope": slope(rms),
        "error_times_sqrt_batch": [r * np.sqrt(m) for r, m in zip(rms, BATCH_SIZES,
                                                                  strict=True)],
    }
    conclusion = (
        "relative RMS error of the minibatch gradient: "
        + ", ".join(f"m'={m}: {r:.3g}" for m, r in zip(BATCH_SIZES, rms, strict=True))
        + f" (log-log slope {slope(rms):.3f}, theory -0.5); error x sqrt(m') stays "
        f"{min(numbers['error_times_sqrt_batch']):.3g}-{max(numbers['error_times_sqrt_batch']):.3g}"
        f"; the mean of {s.draws} draws is within "
        f"{max(errors['mean_error']):.3g} of the full gradient (relative)."
    )
    plot = common.save_figure(out_dir, f"{NAME}.png", lambda fig, axes: _draw(axes, numbers),
                              figsize=(6.5, 4.5),
                              title="Minibatch gradient error (eq 3.1-3.3)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(axes: np.ndarray, numbers: dict[str, Any]) -> None:
    ax = axes[0, 0]
    m = np.array(numbers["batch_sizes"], float)
    rms = np.array(numbers["relative_rms_error"])
    ax.loglog(m, rms, "o-", label="measured ||g - grad J|| / ||grad J||")
    ax.loglog(m, rms[0] / np.sqrt(m), "--", color="gray", label="1/sqrt(m') from m'=1")
    ax.set_xlabel("minibatch size m'")
    ax.set_ylabel("relative RMS error")
    ax.legend()
