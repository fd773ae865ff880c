"""Optimizers compared (notes chapter 3, eq 3.1-3.11).

Claim: on an ill-conditioned problem momentum (eq 3.5-3.6) and Nesterov momentum (eq 3.7) reach
a far lower loss than plain SGD (eq 3.4) with the same learning rate and number of steps, and
AdaGrad's effective step ``lr / (sqrt(sum of g^2) + eps)`` (eq 3.8-3.9) only ever shrinks.

Set-up, with lamina's ``optim.SGD`` (with and without momentum / Nesterov), ``Adagrad``,
``RMSprop`` (the rule the notes' section 3.5 describes, with the moving average of RMSProp
rather than eq 3.10's sum) and ``Adam``:

(a) Two 2-D functions minimised from a fixed start, one Parameter of shape (2,):
    an ill-conditioned quadratic ``f(t) = 1/2 t^T A t``, ``A`` with eigenvalues 1 and 100
    (condition number 100) along axes rotated by 30 degrees, and Rosenbrock's banana
    ``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2``. SGD, momentum and Nesterov share one learning
    rate (momentum 0.9; on the quadratic ``lr = 1 / largest eigenvalue``, the step at which SGD
    is fastest in the steep direction); the adaptive methods use their own customary rates.
(b) A 784-64-10 ReLU MLP trained on the embedded MNIST subset with each optimizer (minibatch 64,
    eq 3.3): the loss of every minibatch, and AdaGrad's median effective step over the weights.
(c) Stationary noisy gradients: ``L(theta) = 1/2 ||theta - z||^2`` with a fresh ``z ~ N(0, I)``
    (100 coordinates) at every one of 1,000 steps (lr 0.1), so the squared gradients stay about
    the same size. AdaGrad sums them (eq 3.9's diagonal), so its effective step must fall as
    ``1/sqrt(t)``: the log-log slope of its median step over the second half of the run is
    about -1/2. RMSProp's moving
    average levels off (slope about 0). This check can fail: an AdaGrad that averaged instead of
    summing would show RMSProp's slope (see the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "optimizers"
CLAIM = ("momentum and Nesterov beat plain SGD on an ill-conditioned quadratic, and AdaGrad's "
         "effective step only shrinks")

OPTIMIZERS = ("SGD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")
CONDITION = 100.0
ANGLE = np.deg2rad(30.0)
NOISY_STEPS = 1000
"""Part (c)'s steps: RMSProp's un-corrected average reaches (1 - 0.99^500) = 99.3% of its level
by the second half, so its slope there measures the level, not the warm-up."""


@dataclass(frozen=True)
class Settings:
    quadratic_steps: int
    rosenbrock_steps: int
    n_train: int
    epochs: int


SETTINGS = {
    "tiny": Settings(100, 500, 512, 1),
    "quick": Settings(150, 2000, 3000, 2),
    "full": Settings(200, 5000, 6000, 3),
}

# name -> (learning rate on the quadratic, on Rosenbrock, on the MLP)
LEARNING_RATES = {
    "SGD": (0.01, 1e-3, 0.1),
    "momentum": (0.01, 1e-3, 0.02),
    "Nesterov": (0.01, 1e-3, 0.02),
    "AdaGrad": (1.0, 0.5, 0.05),
    "RMSProp": (0.05, 0.01, 1e-3),
    "Adam": (0.3, 0.05, 1e-3),
}


def make_optimizer(name: str, params: Any, lr: float) -> Any:
    """The lamina optimizer called ``name`` (one of :data:`OPTIMIZERS`)."""
    from lamina import optim

    factories: dict[str, Callable[[], Any]] = {
        "SGD": lambda: optim.SGD(params, lr=lr),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9),
        "Nesterov": lambda: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
        "AdaGrad": lambda: optim.Adagrad(params, lr=lr),
        "RMSProp": lambda: optim.RMSprop(params, lr=lr),
        "Adam": lambda: optim.Adam(params, lr=lr),
    }
    return factories[name]()


def quadratic_matrix() -> np.ndarray:
    """``A = R diag(1, CONDITION) R^T`` with R the rotation by ``ANGLE``."""
    c, s = np.cos(ANGLE), np.sin(ANGLE)
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([1.0, CONDITION]) @ rotation.T


def quadratic(theta: Any) -> Any:
    """``1/2 theta^T A theta`` for a lamina Tensor (or a NumPy array) of shape (2,) or (2, ...)."""
    a = quadratic_matrix()
    x, y = theta[0], theta[1]
    return 0.5 * (a[0, 0] * x * x + 2.0 * a[0, 1] * x * y + a[1, 1] * y * y)


def rosenbrock(theta: Any) -> Any:
    """``(1 - x)^2 + 100 (y - x^2)^2``; minimum 0 at (1, 1)."""
    x, y = theta[0], theta[1]
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


START = {"quadratic": (-4.0, 2.5), "rosenbrock": (-1.5, 2.0)}
FUNCTIONS = {"quadratic": quadratic, "rosenbrock": rosenbrock}


class StepTracker:
    """AdaGrad's (or RMSProp's) effective step ``lr / (sqrt(r) + eps)``, per coordinate.

    ``r`` is AdaGrad's running sum of squared gradients (eq 3.9's diagonal) or RMSProp's moving
    average. :meth:`record`, called after each ``step()``, appends the median step over the
    coordinates that had a gradient at the first step (a fixed set: coordinates that have
    never had a gradient, like the weights of MNIST's blank border pixels, have ``r = 0`` and a
    meaningless ``lr / eps``), and notes whether any coordinate's step grew since the last call.
    """

    def __init__(self, optimizer: Any, params: list[Any]) -> None:
        self.optimizer = optimizer
        self.params = list(params)
        self.medians: list[float] = []
        self.grew = False
        self._masks: list[np.ndarray] | None = None
        self._previous: list[np.ndarray] | None = None

    def record(self) -> None:
        group = self.optimizer.param_groups[0]
        steps = []
        for p in self.params:
            state = self.optimizer.state.get(p) or {}
            r = state.get("sum", state.get("square_avg"))
            if r is None:
                return
            steps.append(group["lr"] / (np.sqrt(r) + group["eps"]))
        if self._masks is None:
            self._masks = [np.asarray(self.optimizer.state[p].get(
                "sum", self.optimizer.state[p].get("square_avg")) > 0) for p in self.params]
        if self._previous is not None:
            self.grew = self.grew or any(bool(np.any(now > before)) for now, before
                                         in zip(steps, self._previous, strict=True))
        self._previous = [step.copy() for step in steps]
        used = np.concatenate([step[mask] for step, mask in zip(steps, self._masks, strict=True)])
        self.medians.append(float(np.median(used)))


def minimise(function: str, name: str, steps: int) -> dict[str, Any]:
    """Run optimizer ``name`` on a 2-D function from its start point.

    Returns:
        ``{"path": (steps + 1, 2) array, "loss": (steps + 1,) array, "step_size": list,
        "step_grew": bool}`` (the effective step after each update and whether any coordinate's
        grew: AdaGrad / RMSProp only, see :class:`StepTracker`).
    """
    import lamina as lm

    fn = FUNCTIONS[function]
    lr = LEARNING_RATES[name][0 if function == "quadratic" else 1]
    theta = lm.nn.Parameter(lm.tensor(np.array(START[function]), dtype=lm.float64))
    optimizer = make_optimizer(name, [theta], lr)
    tracker = StepTracker(optimizer, [theta])
    path, losses = [theta._data.copy()], []
    for _ in range(steps):
        loss = fn(theta)
        losses.append(float(loss.item()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        path.append(theta._data.copy())
        tracker.record()
    losses.append(float(fn(theta._data)))
    return {"path": np.array(path), "loss": np.array(losses), "step_size": tracker.medians,
            "step_grew": tracker.grew}


def noisy_steps(name: str, steps: int, rng: np.random.Generator) -> list[float]:
    """AdaGrad's or RMSProp's median effective step on stationary noisy gradients (part (c))."""
    import lamina as lm

    theta = lm.nn.Parameter(lm.zeros(100, dtype=lm.float64))
    optimizer = make_optimizer(name, [theta], 0.1)
    tracker = StepTracker(optimizer, [theta])
    for _ in range(steps):
        z = lm.tensor(rng.standard_normal(100))
        optimizer.zero_grad()
        (0.5 * ((theta - z) ** 2).sum()).backward()
        optimizer.step()
        tracker.record()
    return tracker.medians


def decay_slope(medians: list[float]) -> float:
    """Log-log slope of a step-size series against the step count, over its second half."""
    t = np.arange(1, len(medians) + 1)
    half = slice(len(medians) // 2, None)
    return float(np.polyfit(np.log(t[half]), np.log(np.asarray(medians)[half]), 1)[0])


class _BatchRecorder(common.EpochTicker):
    """Records each minibatch's loss and the optimizer's effective step (:class:`StepTracker`)."""

    def __init__(self, bar: Any, tracker: StepTracker) -> None:
        super().__init__(bar)
        self.tracker = tracker
        self.losses: list[float] = []

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.losses.append(float((logs or {})["loss"]))
        self.tracker.record()


def train_mlp(name: str, data: tuple[np.ndarray, ...], epochs: int, bar: Any) -> dict[str, Any]:
    """Train a 784-64-10 MLP with optimizer ``name``; minibatch losses and test accuracy."""
    import lamina as lm

    x, y, x_test, y_test = data
    model = lm.models.mlp([784, 64, 10])
    optimizer = make_optimizer(name, model.parameters(), LEARNING_RATES[name][2])
    tracker = StepTracker(optimizer, list(model.parameters()))
    recorder = _BatchRecorder(bar, tracker)
    lm.fit(model, lm.nn.CrossEntropyLoss(), optimizer, (x, y), epochs=epochs, batch_size=64,
           callbacks=[recorder])
    scores = lm.train.evaluate(model, lm.nn.CrossEntropyLoss(), (x_test, y_test),
                               metrics=("accuracy",))
    return {"loss": np.array(recorder.losses), "step_size": tracker.medians,
            "step_grew": tracker.grew,
            "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["loss"])}


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Compare the six optimizers on the 2-D functions and on an MNIST MLP.

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for ``optimizers.png`` and ``optimizers_mnist.png``, or None.
        seed: seeds the MLP's initialisation and shuffling.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    common.seed_all(seed)
    data = common.mnist_arrays(s.n_train, 1000, flat=True)
    runs: dict[str, dict[str, dict[str, Any]]] = {"quadratic": {}, "rosenbrock": {}, "mlp": {}}
    noise_rng = np.random.default_rng(seed)
    noisy = {name: decay_slope(noisy_steps(name, NOISY_STEPS, noise_rng))
             for name in ("AdaGrad", "RMSProp")}
    with common.progress_bar(len(OPTIMIZERS) * (2 + s.epochs), NAME, progress) as bar:
        for name in OPTIMIZERS:
            runs["quadratic"][name] = minimise("quadratic", name, s.quadratic_steps)
            runs["rosenbrock"][name] = minimise("rosenbrock", name, s.rosenbrock_steps)
            bar.update(2)
            common.seed_all(seed)
            runs["mlp"][name] = train_mlp(name, data, s.epochs, bar)

    quad = {name: float(r["loss"][-1]) for name, r in runs["quadratic"].items()}
    rosen = {name: float(np.linalg.norm(r["path"][-1] - 1.0))
             for name, r in runs["rosenbrock"].items()}
    mlp_loss = {name: float(np.mean(r["loss"][-20:])) for name, r in runs["mlp"].items()}
    mlp_acc = {name: r["test_accuracy"] for name, r in runs["mlp"].items()}
    ada_quad = runs["quadratic"]["AdaGrad"]["step_size"]
    ada_mlp = runs["mlp"]["AdaGrad"]["step_size"]
    rms_quad = runs["quadratic"]["RMSProp"]["step_size"]
    numbers = {
        "quadratic_start_loss": float(runs["quadratic"]["SGD"]["loss"][0]),
        "quadratic_final_loss": quad,
        "rosenbrock_distance_to_minimum": rosen,
        "mlp_final_train_loss": mlp_loss,
        "mlp_test_accuracy": mlp_acc,
        "adagrad_step_quadratic_first_last": [ada_quad[0], ada_quad[-1]],
        "adagrad_step_mlp_first_last": [ada_mlp[0], ada_mlp[-1]],
        "adagrad_any_coordinate_step_grew": {"quadratic": runs["quadratic"]["AdaGrad"][
            "step_grew"], "mlp": runs["mlp"]["AdaGrad"]["step_grew"]},
        "rmsprop_step_quadratic_min_max": [min(rms_quad), max(rms_quad)],
        "rmsprop_any_coordinate_step_grew": runs["quadratic"]["RMSProp"]["step_grew"],
        "noisy_gradients_step_decay_slope": noisy,
    }
    steps = s.quadratic_steps
    checks = {
        f"momentum's final quadratic loss is 10x below SGD's after {steps} steps":
            quad["momentum"] * 10 < quad["SGD"],
        f"Nesterov's final quadratic loss is 10x below SGD's after {steps} steps":
            quad["Nesterov"] * 10 < quad["SGD"],
        "AdaGrad's effective step never grows in any coordinate and its median ends below its "
        "start (quadratic)": not runs["quadratic"]["AdaGrad"]["step_grew"]
            and ada_quad[-1] < ada_quad[0],
        "AdaGrad's effective step never grows in any coordinate and its median ends below half "
        "its start (MLP on MNIST)": not runs["mlp"]["AdaGrad"]["step_grew"]
            and ada_mlp[-1] <= 0.5 * ada_mlp[0],
        "on stationary noisy gradients AdaGrad's step falls as 1/sqrt(t) (slope -0.5 +- 0.1) "
        "and RMSProp's levels off (|slope| < 0.1)": judge_decay(noisy),
    }
    conclusion = (
        f"after {steps} steps on the quadratic of condition number {CONDITION:g} (same lr "
        f"{LEARNING_RATES['SGD'][0]}), the loss went from {numbers['quadratic_start_loss']:.3g} "
        f"to {quad['SGD']:.3g} with SGD, {quad['momentum']:.3g} with momentum and "
        f"{quad['Nesterov']:.3g} with Nesterov ({quad['SGD'] / max(quad['momentum'], 1e-300):.3g}x"
        f" lower with momentum). AdaGrad's median effective step fell monotonically from "
        f"{ada_quad[0]:.3g} to {ada_quad[-1]:.3g} (quadratic) and from {ada_mlp[0]:.3g} to "
        f"{ada_mlp[-1]:.3g} (MLP) and no coordinate's step ever grew, while RMSProp's moved "
        f"between {min(rms_quad):.3g} and {max(rms_quad):.3g} (growing again once the gradients "
        f"shrank: its moving average forgets the past). Rosenbrock, distance to (1, 1) after "
        f"{s.rosenbrock_steps} steps: "
        + ", ".join(f"{k} {v:.3g}" for k, v in rosen.items())
        + ". MNIST MLP test accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in mlp_acc.items())
        + f". On stationary noisy gradients the effective step's log-log slope was "
        f"{noisy['AdaGrad']:.3f} for AdaGrad (1/sqrt(t): -0.5) and {noisy['RMSProp']:.3f} for "
        f"RMSProp."
    )
    plots = [
        common.save_figure(out_dir, f"{NAME}.png", lambda fig, axes: _draw_2d(axes, runs),
                           nrows=2, ncols=2, figsize=(12.0, 9.0),
                           title="Optimizers on an ill-conditioned quadratic and on Rosenbrock"),
        common.save_figure(out_dir, f"{NAME}_mnist.png",
                           lambda fig, axes: _draw_mlp(axes[0], runs), ncols=2,
                           figsize=(12.0, 4.5), title="Optimizers on a 784-64-10 MLP (MNIST)"),
    ]
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, plots, size, timer, out_dir)


def judge_decay(slopes: dict[str, float]) -> bool:
    """Part (c)'s check: AdaGrad's slope near -1/2, RMSProp's near 0."""
    return abs(slopes["AdaGrad"] + 0.5) < 0.1 and abs(slopes["RMSProp"]) < 0.1


def _contour(ax: Any, function: str, box: tuple[float, float, float, float]) -> None:
    xs = np.linspace(box[0], box[1], 300)
    ys = np.linspace(box[2], box[3], 300)
    grid = np.stack(np.meshgrid(xs, ys))
    values = FUNCTIONS[function](grid)
    levels = np.geomspace(max(values.min(), 1e-3), values.max(), 18)
    ax.contour(xs, ys, values, levels=levels, colors="gray", linewidths=0.6, alpha=0.6)


def _draw_2d(axes: np.ndarray, runs: dict[str, Any]) -> None:
    boxes = {"quadratic": (-4.5, 4.5, -3.0, 3.0), "rosenbrock": (-2.0, 2.0, -1.0, 3.0)}
    minima = {"quadratic": (0.0, 0.0), "rosenbrock": (1.0, 1.0)}
    titles = {"quadratic": f"quadratic, condition number {CONDITION:g}",
              "rosenbrock": "Rosenbrock (1-x)^2 + 100(y-x^2)^2"}
    for row, function in enumerate(("quadratic", "rosenbrock")):
        box = boxes[function]
        ax = axes[row, 0]
        _contour(ax, function, box)
        for name, result in runs[function].items():
            path = result["path"]
            ax.plot(path[:, 0], path[:, 1], "-", linewidth=1.2, label=name)
        ax.plot(*START[function], "ko", markersize=5)
        ax.plot(*minima[function], "k*", markersize=12)
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(f"trajectories: {titles[function]}")
        ax.legend(fontsize=7, loc="upper right")
        ax = axes[row, 1]
        for name, result in runs[function].items():
            ax.semilogy(np.maximum(result["loss"], 1e-16), label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss f(x, y)")
        ax.set_title(f"loss: {function}")
        ax.legend(fontsize=7)


def _smooth(values: np.ndarray, window: int = 10) -> np.ndarray:
    if len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _draw_mlp(axes: np.ndarray, runs: dict[str, Any]) -> None:
    ax = axes[0]
    for name, result in runs["mlp"].items():
        ax.plot(_smooth(result["loss"]), label=f"{name} (test acc {result['test_accuracy']:.3f})")
    ax.set_yscale("log")
    ax.set_xlabel("minibatch")
    ax.set_ylabel("cross-entropy (10-batch moving average)")
    ax.set_title("training loss per minibatch")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogy(runs["quadratic"]["AdaGrad"]["step_size"], label="AdaGrad, quadratic")
    ax.semilogy(runs["quadratic"]["RMSProp"]["step_size"], label="RMSProp, quadratic")
    ax.semilogy(runs["mlp"]["AdaGrad"]["step_size"], label="AdaGrad, MLP")
    ax.semilogy(runs["mlp"]["RMSProp"]["step_size"], label="RMSProp, MLP")
    ax.set_xlabel("step")
    ax.set_ylabel("median of lr / (sqrt(r) + eps)")
    ax.set_title("effective step size (eq 3.8 vs RMSProp)")
    ax.legend(fontsize=7)
