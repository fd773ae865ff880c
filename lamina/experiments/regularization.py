"""Regularization (notes chapter 8, eq 8.1-8.3, sections 8.2-8.4).

Claim, in four parts:

1. L1 gives sparser weights than L2 at matched strength (eq 8.3 vs 8.2, the same alpha in eq 8.1):
   a softmax regression ``Linear(784, 10)`` on MNIST trained with ``CE + alpha * Omega(w)``,
   ``alpha = 1e-3``, by SGD; sparsity is the fraction of weights with ``|w| < 1e-3``.
2. Dropout (section 8.4: inverted dropout, p = 0.5) and L2 (eq 8.2, alpha = 0.01) lower the test
   error on a small training set, at the same training budget: a 2-128-128-2 MLP on 60 noisy
   "two moons" points, SGD with momentum (minibatches of 16) for a few hundred epochs (without
   regularization it memorises the points), the same data sets, initialisations and epochs for
   the three variants, averaged over several data sets. Judged on the test cross-entropy (eval
   mode, without the penalty) and the test accuracy; the gap between test and training error
   (notes section 2.2) is reported too.
3. Early stopping (section 8.3) picks the epoch with the best validation loss: the unregularised
   model above with ``EarlyStopping(patience=...)`` and a separate validation set ends with the
   weights of the epoch of lowest validation loss, and its test loss is lower than that of the
   same model (same data set, same initialisation) trained for the whole budget.
4. Dataset augmentation (section 8.2) improves the test accuracy of LeNet-5 trained on 1,000 MNIST
   images: random shifts of up to 2 pixels (``transforms.RandomShift(2)``), same schedule (Adam,
   cosine decay) and epochs as without.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "regularization"
CLAIM = ("L1 gives sparser weights than L2; dropout and L2 lower the test error; early "
         "stopping keeps the best-validation epoch; augmentation improves LeNet-5 on 1,000 images")

SPARSITY_ALPHA = 1e-3
SPARSE_BELOW = 1e-3
GAP_ALPHA = 1e-2
DROPOUT = 0.5
MOONS_NOISE = 0.3


@dataclass(frozen=True)
class Settings:
    sparsity_train: int
    sparsity_epochs: int
    moons_train: int
    moons_epochs: int
    moons_seeds: int
    patience: int
    augment_train: int
    augment_epochs: int
    augment_seeds: int


SETTINGS = {
    "tiny": Settings(1000, 3, 60, 150, 2, 30, 1000, 15, 2),
    "quick": Settings(3000, 5, 60, 200, 4, 30, 1000, 15, 2),
    "full": Settings(6000, 10, 60, 200, 8, 30, 1000, 20, 3),
}


# --------------------------------------------------------------------------- 1. L1 vs L2
def penalised_loss(model: Any, kind: str, alpha: float) -> Any:
    """``CE + alpha * Omega(w)`` (eq 8.1) with Omega = eq 8.3 (``"l1"``), 8.2 (``"l2"``) or 0."""
    from lamina import nn

    cross_entropy = nn.CrossEntropyLoss()

    def loss(output: Any, target: Any) -> Any:
        value = cross_entropy(output, target)
        if kind == "l1":
            value = value + alpha * nn.l1_penalty(model.parameters())
        elif kind == "l2":
            value = value + alpha * nn.l2_penalty(model.parameters())
        return value

    return loss


def sparsity(s: Settings, seed: int, bar: Any) -> dict[str, Any]:
    """Train the softmax regression without penalty, with L1 and with L2."""
    import lamina as lm

    x, y, x_test, y_test = common.mnist_arrays(s.sparsity_train, 1000, flat=True)
    out: dict[str, Any] = {"fraction": {}, "accuracy": {}, "weights": {}}
    for kind in ("none", "l1", "l2"):
        common.seed_all(seed)
        model = lm.nn.Sequential(lm.nn.Linear(784, 10))
        optimizer = lm.optim.SGD(model.parameters(), lr=0.1)
        lm.fit(model, penalised_loss(model, kind, SPARSITY_ALPHA), optimizer, (x, y),
               epochs=s.sparsity_epochs, batch_size=32, callbacks=[common.EpochTicker(bar)])
        weights = model[0].weight.numpy().copy()
        out["weights"][kind] = weights
        out["fraction"][kind] = float(np.mean(np.abs(weights) < SPARSE_BELOW))
        out["accuracy"][kind] = float(lm.train.evaluate(
            model, lm.nn.CrossEntropyLoss(), (x_test, y_test), metrics=("accuracy",))["accuracy"])
    return out


# --------------------------------------------------------------------------- 2-3. gap, stopping
def moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two interleaved half circles with Gaussian noise, standardised.

    Returns:
        ``(x, y)``: float32 ``(n, 2)`` and int64 labels ``(n,)``.
    """
    angle = rng.uniform(0.0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angle), 1.0 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(0.0, MOONS_NOISE, (n, 2))
    points = (points - np.array([0.5, 0.25])) / np.array([0.87, 0.5])
    return points.astype(np.float32), label.astype(np.int64)


def train_moons(kind: str, train: tuple, epochs: int, val: tuple | None = None,
                callbacks: tuple = ()) -> tuple[Any, Any]:
    """A 2-128-128-2 MLP trained on ``train`` with regularization ``kind`` ("none", "dropout",
    "l2"): SGD (lr 0.05, momentum 0.9) on minibatches of 16 for ``epochs`` epochs.

    Returns:
        ``(model, history)``.
    """
    import lamina as lm

    model = lm.models.mlp([2, 128, 128, 2], dropout=DROPOUT if kind == "dropout" else 0.0)
    optimizer = lm.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss = penalised_loss(model, "l2" if kind == "l2" else "none", GAP_ALPHA)
    history = lm.fit(model, loss, optimizer, train, val=val, epochs=epochs, batch_size=16,
                     callbacks=callbacks)
    return model, history


def errors(model: Any, train: tuple, test: tuple) -> dict[str, float]:
    """Cross-entropy and accuracy on the training and test sets (eval mode, no penalty)."""
    import lamina as lm

    loss = lm.nn.CrossEntropyLoss()
    tr = lm.train.evaluate(model, loss, train, metrics=("accuracy",))
    te = lm.train.evaluate(model, loss, test, metrics=("accuracy",))
    return {"train_loss": tr["loss"], "test_loss": te["loss"], "train_accuracy": tr["accuracy"],
            "test_accuracy": te["accuracy"], "loss_gap": te["loss"] - tr["loss"],
            "accuracy_gap": tr["accuracy"] - te["accuracy"]}


def generalisation_gap(s: Settings, seed: int, bar: Any) -> dict[str, Any]:
    """Train the moons MLP plainly, with dropout and with L2 on several data sets."""
    results: dict[str, list[dict[str, float]]] = {"none": [], "dropout": [], "l2": []}
    shown: dict[str, Any] = {}
    for k in range(s.moons_seeds):
        rng = np.random.default_rng(seed + 1000 + k)
        train, test = moons(s.moons_train, rng), moons(2000, rng)
        for kind in results:
            common.seed_all(seed + k)
            model, _ = train_moons(kind, train, s.moons_epochs)
            results[kind].append(errors(model, train, test))
            if k == 0:
                shown[kind] = model
            bar.update(1)
    mean = {kind: {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
            for kind, runs in results.items()}
    rng = np.random.default_rng(seed + 1000)
    return {"mean": mean, "models": shown, "train": moons(s.moons_train, rng)}


def early_stopping(s: Settings, seed: int, bar: Any) -> dict[str, Any]:
    """The unregularised moons MLP with EarlyStopping on a separate validation set."""
    import lamina as lm

    rng = np.random.default_rng(seed + 1000)
    train, test, val = moons(s.moons_train, rng), moons(2000, rng), moons(200, rng)
    common.seed_all(seed)
    stopper = lm.train.EarlyStopping(monitor="val_loss", patience=s.patience,
                                     restore_best_weights=True)
    model, history = train_moons("none", train, s.moons_epochs, val=val, callbacks=(stopper,))
    common.seed_all(seed)
    full, _ = train_moons("none", train, s.moons_epochs)  # same data, same start, every epoch
    bar.update(1)
    val_loss = np.array(history.history["val_loss"])
    restored = lm.train.evaluate(model, lm.nn.CrossEntropyLoss(), val)["loss"]
    return {"history": history.history, "epochs_run": len(val_loss),
            "best_epoch": stopper.best_epoch, "argmin_val_loss": int(np.argmin(val_loss)),
            "min_val_loss": float(val_loss.min()), "restored_val_loss": float(restored),
            "test": errors(model, train, test), "full_budget": errors(full, train, test)}


# --------------------------------------------------------------------------- 4. augmentation
class _Cosine(common.EpochTicker):
    """Steps a cosine learning-rate schedule at each epoch's end (and the progress bar)."""

    def __init__(self, bar: Any, schedule: Any) -> None:
        super().__init__(bar)
        self.schedule = schedule

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.schedule.step()
        super().on_epoch_end(epoch, logs)


def augmentation(s: Settings, seed: int, bar: Any) -> dict[str, Any]:
    """LeNet-5 on ``augment_train`` MNIST images, with and without random shifts."""
    import lamina as lm
    from lamina.data import DataLoader, TensorDataset, transforms

    x, y, x_test, y_test = common.mnist_arrays(s.augment_train, 1000, flat=False)
    curves: dict[str, list[list[float]]] = {"none": [], "shift": []}
    for k in range(s.augment_seeds):
        for kind in curves:
            common.seed_all(seed + k)
            model = lm.models.lenet5()
            shift = transforms.RandomShift(2) if kind == "shift" else None
            loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                                transform=shift)
            optimizer = lm.optim.Adam(model.parameters(), lr=2e-3)
            schedule = lm.optim.lr_scheduler.CosineAnnealingLR(optimizer, s.augment_epochs)
            history = lm.fit(model, lm.nn.CrossEntropyLoss(), optimizer, loader,
                             val=(x_test, y_test), epochs=s.augment_epochs,
                             metrics=("accuracy",), callbacks=[_Cosine(bar, schedule)])
            curves[kind].append(history.history["val_accuracy"])
    final = {kind: float(np.mean([c[-1] for c in runs])) for kind, runs in curves.items()}
    return {"curves": {k: np.mean(v, axis=0).tolist() for k, v in curves.items()},
            "final": final, "per_seed": {k: [c[-1] for c in v] for k, v in curves.items()}}


def judge_test_error(mean: dict[str, dict[str, float]]) -> dict[str, bool]:
    """Part 2's checks: each regulariser lowers the test error at the same budget."""
    none = mean["none"]
    return {
        f"{kind}: test cross-entropy at most 0.9x and test accuracy higher than without "
        f"regularization (same data, start and epochs)":
            mean[key]["test_loss"] < 0.9 * none["test_loss"]
            and mean[key]["test_accuracy"] > none["test_accuracy"]
        for kind, key in (("dropout", "dropout"), ("L2", "l2"))
    }


# --------------------------------------------------------------------------- run
def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Measure the four regularization claims (see the module docstring).

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for the ``regularization_*.png`` figures, or None.
        seed: seeds data, initialisation, shuffling, dropout and augmentation.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    total = (3 * s.sparsity_epochs + 3 * s.moons_seeds + 1
             + 2 * s.augment_seeds * s.augment_epochs)
    with common.progress_bar(total, NAME, progress) as bar:
        sparse = sparsity(s, seed, bar)
        gap = generalisation_gap(s, seed, bar)
        stop = early_stopping(s, seed, bar)
        augment = augmentation(s, seed, bar)

    frac, mean = sparse["fraction"], gap["mean"]
    numbers = {
        "sparse_fraction": frac,
        "sparsity_test_accuracy": sparse["accuracy"],
        "loss_gap": {k: v["loss_gap"] for k, v in mean.items()},
        "accuracy_gap": {k: v["accuracy_gap"] for k, v in mean.items()},
        "moons_test_accuracy": {k: v["test_accuracy"] for k, v in mean.items()},
        "early_stopping_best_epoch": stop["best_epoch"],
        "early_stopping_epochs_run": stop["epochs_run"],
        "early_stopping_min_val_loss": stop["min_val_loss"],
        "early_stopping_restored_val_loss": stop["restored_val_loss"],
        "early_stopping_test_loss": stop["test"]["test_loss"],
        "same_data_full_budget_test_loss": stop["full_budget"]["test_loss"],
        "moons_test_loss": {k: v["test_loss"] for k, v in mean.items()},
        "augmentation_test_accuracy": augment["final"],
        "augmentation_test_accuracy_per_seed": augment["per_seed"],
    }
    base_gap = mean["none"]["loss_gap"]
    checks = {
        "L1: at least 5x the fraction of |w| < 1e-3 of L2, and 0.1 more":
            frac["l1"] > 5 * frac["l2"] and frac["l1"] > frac["l2"] + 0.1,
        **judge_test_error(mean),
        "early stopping: best epoch = argmin of the validation loss, training stopped early, "
        "and the restored weights give that loss": (
            stop["best_epoch"] == stop["argmin_val_loss"]
            and stop["epochs_run"] < s.moons_epochs
            and abs(stop["restored_val_loss"] - stop["min_val_loss"]) < 1e-5),
        "early stopping: lower test loss than the same model trained for the whole budget on "
        "the same data": stop["test"]["test_loss"] < stop["full_budget"]["test_loss"],
        "augmentation: LeNet-5 test accuracy at least 0.5 point higher with random shifts":
            augment["final"]["shift"] > augment["final"]["none"] + 0.005,
    }
    acc = augment["final"]
    conclusion = (
        f"fraction of |w| < 1e-3 at alpha = {SPARSITY_ALPHA:g}: L1 {frac['l1']:.3f}, L2 "
        f"{frac['l2']:.3f}, none {frac['none']:.3f} (test accuracy L1 "
        f"{sparse['accuracy']['l1']:.3f}, L2 {sparse['accuracy']['l2']:.3f}). Test - training "
        f"cross-entropy on {s.moons_train} points (mean of {s.moons_seeds} data sets): none "
        f"{base_gap:.3f}, dropout {mean['dropout']['loss_gap']:.3f}, L2 "
        f"{mean['l2']['loss_gap']:.3f}; accuracy gap none {mean['none']['accuracy_gap']:.3f}, "
        f"dropout {mean['dropout']['accuracy_gap']:.3f}, L2 {mean['l2']['accuracy_gap']:.3f}. "
        f"Early stopping kept epoch {stop['best_epoch']} (the argmin of the validation loss, "
        f"{stop['min_val_loss']:.3f}) and stopped after {stop['epochs_run']} of "
        f"{s.moons_epochs} epochs; test loss {stop['test']['test_loss']:.3f} vs "
        f"{stop['full_budget']['test_loss']:.3f} for the same model trained to the end on the "
        f"same data. Test cross-entropy at the same budget: none {mean['none']['test_loss']:.3f},"
        f" dropout {mean['dropout']['test_loss']:.3f}, L2 {mean['l2']['test_loss']:.3f}; test "
        f"accuracy none {mean['none']['test_accuracy']:.3f}, dropout "
        f"{mean['dropout']['test_accuracy']:.3f}, L2 {mean['l2']['test_accuracy']:.3f}. LeNet-5 on "
        f"{s.augment_train:,} images: test accuracy {acc['none']:.3f} without, {acc['shift']:.3f} "
        f"with random shifts ({100 * (acc['shift'] - acc['none']):+.1f} points)."
    )
    plots = [
        common.save_figure(out_dir, f"{NAME}_l1_l2.png",
                           lambda fig, axes: _draw_sparsity(axes[:, 0], sparse), nrows=3,
                           figsize=(12.0, 6.5),
                           title="L1 (eq 8.3) vs L2 (eq 8.2) on a softmax regression of MNIST"),
        common.save_figure(out_dir, f"{NAME}_gap.png",
                           lambda fig, axes: _draw_gap(axes[0], gap), ncols=4,
                           figsize=(17.0, 4.3),
                           title="Dropout and L2 on 60 noisy points: decision boundaries and "
                                 "train/test gap"),
        common.save_figure(out_dir, f"{NAME}_early_stopping_augmentation.png",
                           lambda fig, axes: _draw_stop_augment(axes[0], stop, augment, s),
                           ncols=2, figsize=(12.0, 4.5),
                           title="Early stopping (8.3) and dataset augmentation (8.2)"),
    ]
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, plots, size, timer, out_dir)


# --------------------------------------------------------------------------- figures
NAMES = {"none": "no regularization", "dropout": f"dropout p={DROPOUT}",
         "l2": f"L2 alpha={GAP_ALPHA}"}
PENALTY_NAMES = {"none": "no penalty", "l1": "L1 (eq 8.3)", "l2": "L2 (eq 8.2)"}


def _templates(weights: np.ndarray) -> np.ndarray:
    gap = np.full((28, 2), np.nan)
    tiles = []
    for row in weights:
        tiles += [row.reshape(28, 28), gap]
    return np.concatenate(tiles[:-1], axis=1)


def _draw_sparsity(axes: np.ndarray, sparse: dict[str, Any]) -> None:
    limit = max(float(np.abs(sparse["weights"][k]).max()) for k in ("l1", "l2"))
    for ax, kind in zip(axes[:2], ("l2", "l1"), strict=True):
        ax.imshow(_templates(sparse["weights"][kind]), cmap="RdBu", vmin=-limit, vmax=limit)
        ax.set_title(f"{PENALTY_NAMES[kind]}: the 10 class templates (weights of digits 0-9); "
                     f"{100 * sparse['fraction'][kind]:.1f}% of |w| < {SPARSE_BELOW:g}")
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[2]
    bins = np.logspace(-8, 0, 60)
    for kind in ("none", "l2", "l1"):
        magnitudes = np.clip(np.abs(sparse["weights"][kind]).ravel(), 1e-8, None)
        ax.hist(magnitudes, bins=bins, histtype="step", linewidth=1.5,
                label=PENALTY_NAMES[kind])
    ax.axvline(SPARSE_BELOW, color="black", linestyle=":", label=f"|w| = {SPARSE_BELOW:g}")
    ax.set_xscale("log")
    ax.set_xlabel("|w|")
    ax.set_ylabel("number of weights")
    ax.set_title(f"weight magnitudes, same alpha = {SPARSITY_ALPHA:g}")
    ax.legend(fontsize=8)


def _draw_gap(axes: np.ndarray, gap: dict[str, Any]) -> None:
    import lamina as lm

    x, y = gap["train"]
    grid = np.linspace(-2.5, 2.5, 200)
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    for ax, kind in zip(axes[:3], ("none", "dropout", "l2"), strict=True):
        logits = lm.train.predict(gap["models"][kind], points)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba = (z[:, 1] / z.sum(axis=1)).reshape(xx.shape)
        ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
        ax.contour(xx, yy, proba, levels=[0.5], colors="black", linewidths=1.2)
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", edgecolors="black", s=22)
        m = gap["mean"][kind]
        ax.set_title(f"{NAMES[kind]} (one data set)\nmean over data sets: train acc "
                     f"{m['train_accuracy']:.2f}, test acc {m['test_accuracy']:.2f}", fontsize=10)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    ax = axes[3]
    kinds = ("none", "dropout", "l2")
    position = np.arange(len(kinds))
    ax.bar(position - 0.2, [gap["mean"][k]["loss_gap"] for k in kinds], 0.4,
           label="test - train cross-entropy")
    ax.bar(position + 0.2, [gap["mean"][k]["accuracy_gap"] for k in kinds], 0.4,
           label="train - test accuracy")
    ax.set_xticks(position, labels=[NAMES[k] for k in kinds], fontsize=8)
    ax.set_ylabel("generalization gap (mean over data sets)")
    ax.set_title("train/test gap")
    ax.legend(fontsize=8)


def _draw_stop_augment(axes: np.ndarray, stop: dict[str, Any], augment: dict[str, Any],
                       s: Settings) -> None:
    ax = axes[0]
    history = stop["history"]
    epochs = np.arange(len(history["loss"]))
    ax.semilogy(epochs, history["loss"], label="training loss")
    ax.semilogy(epochs, history["val_loss"], label="validation loss")
    ax.axvline(stop["best_epoch"], color="green", linestyle="--",
               label=f"best epoch {stop['best_epoch']} (weights kept)")
    ax.axvline(epochs[-1], color="red", linestyle=":",
               label=f"stopped (patience {s.patience})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title("early stopping on the 60-point moons MLP")
    ax.legend(fontsize=8)
    ax = axes[1]
    for kind, label in (("none", "no augmentation"), ("shift", "random shifts of <= 2 px")):
        curve = augment["curves"][kind]
        ax.plot(np.arange(1, len(curve) + 1), curve, "o-", markersize=3,
                label=f"{label} (final {augment['final'][kind]:.3f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (1,000 images)")
    ax.set_ylim(0.8, 1.0)
    ax.set_title(f"LeNet-5 trained on {s.augment_train:,} MNIST images")
    ax.legend(fontsize=8)
