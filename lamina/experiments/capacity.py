"""Capacity, underfitting and overfitting (notes sections 2.1 and 2.2).

Claim: as a model's capacity grows, its training error falls monotonically while its test error
is U-shaped: it first falls (the model underfits less) and then rises again (it overfits: the gap
between training and test error grows).

Set-up. ``y = sin(1.5 pi x) + noise`` (Gaussian, sigma 0.3) with ``x`` uniform on [-1, 1]; a
training set of 15 points and a test set of 1,000 drawn the same way (notes 2.2: both come from
the same distribution). Errors are the mean squared error of eq 4.2.

* Polynomials of degree 0..12, as lamina models: the Legendre features ``P_0(x) .. P_d(x)``
  (numerically better conditioned than powers of x) into a bias-free ``Linear(d + 1, 1)``,
  trained by full-batch Adam on eq 4.2. All degrees and all training sets train at once as one
  batched lamina model (a weight tensor masked so that model d uses the first d + 1
  coefficients; each coefficient belongs to one model and Adam's update is elementwise, so the
  models train independently). Errors are averaged over many training sets (the expected
  error; a single small training set is noisy). The model of degree d contains every model of
  lower degree, so its best training error cannot be higher; trained rather than solved, the
  fall holds up to optimisation accuracy (checked with a 1% tolerance), and the highest
  degrees stop short of the exact least-squares fit (:func:`fit_polynomial`, NumPy's
  ``lstsq``, quoted beside), which makes their overfitting milder than the exact solution's.
* One-hidden-layer MLPs of growing width (a tanh layer, eq 2.2 form), trained with lamina
  (full-batch Adam on eq 4.2) on one training set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "capacity"
CLAIM = ("as capacity grows, training error falls monotonically while test error is U-shaped "
         "(under- then over-fitting)")

NOISE = 0.3


@dataclass(frozen=True)
class Settings:
    n_train: int
    n_test: int
    max_degree: int
    repeats: int
    widths: tuple[int, ...]
    steps: int
    poly_steps: int


SETTINGS = {
    "tiny": Settings(15, 500, 12, 20, (1, 4, 32), 400, 2000),
    "quick": Settings(15, 1000, 12, 100, (1, 2, 4, 16, 64), 1500, 3000),
    "full": Settings(15, 2000, 12, 400, (1, 2, 4, 8, 16, 32, 64, 128), 4000, 5000),
}


def target(x: np.ndarray) -> np.ndarray:
    """The noiseless function to learn, ``sin(1.5 pi x)``."""
    return np.sin(1.5 * np.pi * x)


def sample(n: int, rng: np.random.Generator, spread: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``(x, y)`` with ``y = target(x) + N(0, NOISE^2)``.

    Args:
        n: the number of points.
        rng: the generator.
        spread: one x uniform in each of ``n`` equal slices of [-1, 1] (a training design
            without large gaps) instead of ``n`` independent uniform draws.
    """
    if spread:
        x = -1.0 + 2.0 * (np.arange(n) + rng.uniform(0.0, 1.0, n)) / n
    else:
        x = rng.uniform(-1.0, 1.0, n)
    return x, target(x) + rng.normal(0.0, NOISE, n)


def fit_polynomial(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares Legendre coefficients of the given degree (the exact training-MSE minimiser,
    by NumPy: the reference the lamina models are compared with)."""
    features = np.polynomial.legendre.legvander(x, degree)
    coef, *_ = np.linalg.lstsq(features, y, rcond=None)
    return coef


def mse(prediction: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error, eq 4.2."""
    return float(np.mean((prediction - y) ** 2))


def train_polynomials(x: np.ndarray, y: np.ndarray, max_degree: int, steps: int) -> np.ndarray:
    """Fit polynomials of every degree 0..max_degree to each of R training sets with lamina.

    Args:
        x, y: the training sets, shape ``(R, n)``.
        max_degree: the highest degree D.
        steps: full-batch Adam steps (lr 0.05, cosine-annealed).

    Returns:
        Legendre coefficients, shape ``(R, D + 1, D + 1)``: ``[r, d]`` is the degree-d model of
        set r (its coefficients above d are 0).
    """
    import lamina as lm

    sets, size = x.shape[0], max_degree + 1
    features = lm.tensor(np.stack([np.polynomial.legendre.legvander(row, max_degree)
                                   for row in x]))
    targets = lm.tensor(y[:, :, None])
    mask = lm.tensor(np.tril(np.ones((size, size))))  # model d uses coefficients 0..d
    weight = lm.nn.Parameter(lm.zeros(sets, size, size, dtype=lm.float64))
    optimizer = lm.optim.Adam([weight], lr=0.05)
    schedule = lm.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        predictions = features @ (weight * mask).transpose(1, 2)  # (R, n, models)
        loss = ((predictions - targets) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return weight.numpy() * np.tril(np.ones((size, size)))


def polynomial_errors(settings: Settings, rng: np.random.Generator,
                      bar: Any) -> dict[str, np.ndarray]:
    """Training and test MSE of every degree, averaged over ``settings.repeats`` training sets,
    for the lamina models and for the exact least-squares fits.

    Returns:
        ``{"train", "test", "exact_train", "exact_test"}``, each of shape ``(max_degree + 1,)``.
    """
    x_test, y_test = sample(settings.n_test, rng)
    sets = [sample(settings.n_train, rng, spread=True) for _ in range(settings.repeats)]
    x, y = np.stack([s[0] for s in sets]), np.stack([s[1] for s in sets])
    coef = train_polynomials(x, y, settings.max_degree, settings.poly_steps)
    bar.update(settings.repeats)
    degrees = range(settings.max_degree + 1)
    out = {key: np.zeros(len(degrees)) for key in ("train", "test", "exact_train", "exact_test")}
    for r in range(settings.repeats):
        for d in degrees:
            exact = fit_polynomial(x[r], y[r], d)
            for key, c in (("", coef[r, d]), ("exact_", exact)):
                out[key + "train"][d] += mse(np.polynomial.legendre.legval(x[r], c), y[r])
                out[key + "test"][d] += mse(np.polynomial.legendre.legval(x_test, c), y_test)
    return {key: value / settings.repeats for key, value in out.items()}


def judge(train: np.ndarray, test: np.ndarray) -> dict[str, bool]:
    """The polynomial checks: training error never rises (1% tolerance: trained models), test
    error falls then rises."""
    best, last = int(np.argmin(test)), len(test) - 1
    return {
        "polynomial training MSE never rises with the degree (within 1%)":
            bool(np.all(train[1:] <= train[:-1] * 1.01)),
        "polynomial test MSE falls then rises: its minimum is at an inner degree, at least 1.5x "
        "below both ends": 0 < best < last and test[best] * 1.5 < min(test[0], test[last]),
    }


def train_mlp(width: int, x: np.ndarray, y: np.ndarray, steps: int) -> Any:
    """A 1-hidden-layer tanh MLP of the given width fitted to ``(x, y)`` by full-batch Adam."""
    import lamina as lm
    from lamina import nn

    model = lm.models.mlp([1, width, 1], activation="tanh").double()
    optimizer = lm.optim.Adam(model.parameters(), lr=0.01)
    schedule = lm.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    loss_fn = nn.MSELoss()
    inputs, targets = lm.tensor(x[:, None]), lm.tensor(y[:, None])
    for _ in range(steps):
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


def predict_mlp(model: Any, x: np.ndarray) -> np.ndarray:
    import lamina as lm

    with lm.no_grad():
        return model(lm.tensor(x[:, None])).numpy()[:, 0]


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Measure training and test error against capacity (see the module docstring).

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for ``capacity.png``, or None for no plot.
        seed: seeds the data and lamina's generator.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    with common.progress_bar(s.repeats + len(s.widths), NAME, progress) as bar:
        errors = polynomial_errors(s, rng, bar)
        train, test = errors["train"], errors["test"]
        x, y = sample(s.n_train, rng, spread=True)
        x_test, y_test = sample(s.n_test, rng)
        mlp_train, mlp_test = [], []
        for width in s.widths:
            model = train_mlp(width, x, y, s.steps)
            mlp_train.append(mse(predict_mlp(model, x), y))
            mlp_test.append(mse(predict_mlp(model, x_test), y_test))
            bar.update(1)

    best = int(np.argmin(test))
    last = len(test) - 1
    numbers = {
        "degrees": list(range(len(train))),
        "poly_train_mse": train.tolist(),
        "poly_test_mse": test.tolist(),
        "exact_least_squares_train_mse": errors["exact_train"].tolist(),
        "exact_least_squares_test_mse": errors["exact_test"].tolist(),
        "best_degree": best,
        "noise_variance": NOISE ** 2,
        "mlp_widths": list(s.widths),
        "mlp_train_mse": mlp_train,
        "mlp_test_mse": mlp_test,
    }
    checks = {
        **judge(train, test),
        "MLP training MSE at the largest width is below half that at the smallest":
            mlp_train[-1] < 0.5 * mlp_train[0],
    }
    mlp_note = ("; their test error rose again at large width" if mlp_test[-1] > 1.1 * min(mlp_test)
                else "; within this training budget their test error did not rise again at large "
                     "width (gradient training from small weights limits the effective capacity, "
                     "as early stopping does)")
    conclusion = (
        f"polynomial training MSE fell at every degree, from {train[0]:.3f} (degree 0) to "
        f"{train[last]:.2g} (degree {last}); test MSE was U-shaped: {test[0]:.3f} at degree 0 "
        f"(underfitting), lowest {test[best]:.3f} at degree {best} (the noise floor is "
        f"{NOISE ** 2:.2f}), {test[last]:.3g} at degree {last} (overfitting, gap "
        f"{test[last] - train[last]:.3g}; the exact least-squares fit of degree {last} reaches "
        f"{errors['exact_test'][last]:.3g}). MLPs of width {s.widths[0]}..{s.widths[-1]}: training "
        f"MSE {mlp_train[0]:.3f} -> {mlp_train[-1]:.3f}, test MSE {mlp_test[0]:.3f} -> "
        f"{mlp_test[-1]:.3f} (lowest {min(mlp_test):.3f} at width "
        f"{s.widths[int(np.argmin(mlp_test))]}){mlp_note}."
    )
    plot = common.save_figure(
        out_dir, f"{NAME}.png",
        lambda fig, axes: _draw(axes[0], x, y, numbers),
        ncols=3, figsize=(16.0, 4.6),
        title="Capacity: training error falls, test error is U-shaped (notes 2.1-2.2)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(axes: np.ndarray, x: np.ndarray, y: np.ndarray, numbers: dict[str, Any]) -> None:
    grid = np.linspace(-1.0, 1.0, 400)
    best = numbers["best_degree"]
    last = numbers["degrees"][-1]
    ax = axes[0]
    ax.scatter(x, y, color="black", s=18, zorder=3, label="training set")
    ax.plot(grid, target(grid), color="gray", linestyle=":", label="true function")
    coefs = train_polynomials(x[None], y[None], last, 3000)[0]
    for degree, style in ((1, "-"), (best, "-"), (last, "--")):
        coef = coefs[degree]
        ax.plot(grid, np.polynomial.legendre.legval(grid, coef), style, label=f"degree {degree}")
    ax.set_ylim(-2.5, 2.5)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("polynomial fits to one training set (lamina)")
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.semilogy(numbers["degrees"], numbers["poly_train_mse"], "o-", label="training MSE")
    ax.semilogy(numbers["degrees"], numbers["poly_test_mse"], "s-", label="test MSE")
    ax.axhline(numbers["noise_variance"], color="gray", linestyle=":", label="noise variance")
    ax.axvline(best, color="green", alpha=0.4, label=f"best degree ({best})")
    ax.set_xlabel("polynomial degree (capacity)")
    ax.set_ylabel("mean squared error (eq 4.2)")
    ax.set_title("error vs degree (mean over training sets)")
    ax.legend(fontsize=8)

    ax = axes[2]
    widths = numbers["mlp_widths"]
    ax.semilogy(widths, numbers["mlp_train_mse"], "o-", label="training MSE")
    ax.semilogy(widths, numbers["mlp_test_mse"], "s-", label="test MSE")
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, labels=[str(w) for w in widths])
    ax.axhline(numbers["noise_variance"], color="gray", linestyle=":", label="noise variance")
    ax.set_xlabel("hidden units (capacity)")
    ax.set_ylabel("mean squared error (eq 4.2)")
    ax.set_title("1-hidden-layer MLP (lamina, Adam)")
    ax.legend(fontsize=8)
