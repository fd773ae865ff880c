"""The universal approximation theorem, measured (notes section 2.1.2, eq 2.2-2.3).

Claim: a feed-forward network with one hidden layer, ``F(x) = sum_i v_i phi(w_i x + b_i)``
(eq 2.2, plus an output bias), fits a continuous function on a compact set with an error that
falls as the number of hidden units N grows.

Set-up. The target is ``f(x) = sin(2 pi x) + 0.5 sin(6 pi x)`` on the unit interval ``I_1 =
[0, 1]``. ``phi = tanh``, which is nonconstant, bounded and continuous as the theorem asks (and
``tanh(z) = 2 sigmoid(2z) - 1``, so the same functions F are reachable with the sigmoid). For each
width N a ``lm.models.mlp([1, N, 1], activation="tanh")`` is trained with full-batch Adam (cosine
learning-rate decay) on the mean squared error (eq 4.2) over 256 evenly spaced points. New
hidden units start as steps at places ``c_i`` spread over [0, 1] (one uniform in each of N
equal slices; ``w_i`` uniform in [-20, 20], ``b_i = -w_i c_i``). Each width starts from the
previous width's trained network, its new units with ``v_i = 0``: a network of N units is one of
more units whose extra ``v_i`` are 0, so the family is nested as in eq 2.2 and training never
restarts from scratch. The theorem is about existence; training is how lamina finds such an F.
The error is measured on a grid 8x finer than the training points: the sup-norm
``max_x |F(x) - f(x)|`` (the epsilon of eq 2.3) and the MSE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "universal-approximation"
CLAIM = ("a 1-hidden-layer MLP fits a continuous 1-D target with an error that falls as the "
         "width grows")

INPUT_SCALE = 20.0


@dataclass(frozen=True)
class Settings:
    widths: tuple[int, ...]
    steps: int


SETTINGS = {
    "tiny": Settings((1, 4, 16, 64), 800),
    "quick": Settings((1, 2, 4, 8, 16, 32, 64), 1500),
    "full": Settings((1, 2, 4, 8, 16, 32, 64, 128, 256), 4000),
}


def target(x: np.ndarray) -> np.ndarray:
    """The continuous function to approximate on [0, 1]."""
    return np.sin(2 * np.pi * x) + 0.5 * np.sin(6 * np.pi * x)


def make_network(width: int, rng: np.random.Generator, previous: Any = None) -> Any:
    """``F(x) = sum_i v_i tanh(w_i x + b_i) + c`` with steps spread over [0, 1] (float64).

    Args:
        width: N, the number of hidden units.
        rng: draws the new units.
        previous: a narrower trained network whose units are copied into the first ones (the
            new units get ``v_i = 0``), so the new network starts as exactly that function.
    """
    import lamina as lm

    model = lm.models.mlp([1, width, 1], activation="tanh").double()
    hidden, output = model[0], model[2]
    w = rng.uniform(-INPUT_SCALE, INPUT_SCALE, width)
    centres = (np.arange(width) + rng.uniform(0.0, 1.0, width)) / width
    hidden.weight._data[:, 0] = w
    hidden.bias._data[:] = -w * centres
    if previous is not None:
        old = previous[0].weight.shape[0]
        hidden.weight._data[:old] = previous[0].weight._data
        hidden.bias._data[:old] = previous[0].bias._data
        output.weight._data[:] = 0.0
        output.weight._data[:, :old] = previous[2].weight._data
        output.bias._data[:] = previous[2].bias._data
    return model


def fit(width: int, steps: int, rng: np.random.Generator, previous: Any = None) -> Any:
    """Train a width-N network on ``target`` (full-batch Adam, cosine decay, eq 4.2 loss),
    starting from ``previous`` (see :func:`make_network`) when given."""
    import lamina as lm
    from lamina import nn

    x = np.linspace(0.0, 1.0, 256)[:, None]
    inputs, targets = lm.tensor(x), lm.tensor(target(x))
    model = make_network(width, rng, previous)
    optimizer = lm.optim.Adam(model.parameters(), lr=0.02)
    schedule = lm.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = nn.MSELoss()
    for _ in range(steps):
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


def evaluate(model: Any, grid: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(F(grid), sup |F - f|, mean (F - f)^2)`` on the evaluation grid."""
    import lamina as lm

    with lm.no_grad():
        prediction = model(lm.tensor(grid[:, None])).numpy()[:, 0]
    error = prediction - target(grid)
    return prediction, float(np.max(np.abs(error))), float(np.mean(error ** 2))


def judge(mse: list[float], sup: list[float]) -> dict[str, bool]:
    """The claim's checks on the errors measured at increasing widths."""
    return {
        "the MSE at the largest width is at least 100x below that of one hidden unit":
            mse[-1] * 100 < mse[0],
        "the MSE falls at every step of width (each wider network is strictly better)":
            bool(np.all(np.diff(mse) < 0)),
        "the sup error (eps of eq 2.3) falls at every step of width and ends below 0.1 (range "
        "of f: 3)": bool(np.all(np.diff(sup) < 0)) and sup[-1] < 0.1,
    }


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Fit networks of growing width and measure their approximation error.

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for ``universal-approximation.png``, or None for no plot.
        seed: seeds the initialisation.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    grid = np.linspace(0.0, 1.0, 2049)
    sup, mse, curves = [], [], {}
    with common.progress_bar(len(s.widths), NAME, progress) as bar:
        model = None
        for width in s.widths:
            model = fit(width, s.steps, rng, model)
            prediction, sup_error, mse_error = evaluate(model, grid)
            sup.append(sup_error)
            mse.append(mse_error)
            curves[width] = prediction
            bar.update(1)

    numbers = {"widths": list(s.widths), "sup_error": sup, "mse": mse,
               "mse_ratio_first_to_last": mse[0] / mse[-1]}
    checks = judge(mse, sup)
    table = ", ".join(f"N={w}: {e:.3g}" for w, e in zip(s.widths, sup, strict=True))
    conclusion = (
        f"sup-norm error max|F - f| by width: {table}. The MSE fell from {mse[0]:.3g} (N="
        f"{s.widths[0]}) to {mse[-1]:.3g} (N={s.widths[-1]}), {mse[0] / mse[-1]:.3g}x lower."
    )
    plot = common.save_figure(
        out_dir, f"{NAME}.png", lambda fig, axes: _draw(axes[0], grid, curves, numbers),
        ncols=2, figsize=(12.0, 4.5),
        title="Universal approximation: F(x) = sum v_i tanh(w_i x + b_i) (eq 2.2)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(axes: np.ndarray, grid: np.ndarray, curves: dict[int, np.ndarray],
          numbers: dict[str, Any]) -> None:
    ax = axes[0]
    ax.plot(grid, target(grid), color="black", linewidth=3, alpha=0.35, label="f(x)")
    widths = list(curves)
    shown = sorted({widths[0], widths[len(widths) // 3], widths[2 * len(widths) // 3],
                    widths[-1]})
    for width in shown:
        ax.plot(grid, curves[width], label=f"F, N={width}")
    ax.set_xlabel("x")
    ax.set_ylabel("value")
    ax.set_title("target f and networks of width N")
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.loglog(numbers["widths"], numbers["sup_error"], "o-", label="sup |F - f| (eq 2.3)")
    ax.loglog(numbers["widths"], numbers["mse"], "s-", label="mean squared error")
    ax.set_xscale("log", base=2)
    ax.set_xticks(numbers["widths"], labels=[str(w) for w in numbers["widths"]])
    ax.set_xlabel("hidden units N")
    ax.set_ylabel("error on a fine grid")
    ax.set_title("error vs width")
    ax.legend(fontsize=8)
