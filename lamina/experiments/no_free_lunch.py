"""The no free lunch theorem (notes section 2.1.1, eq 2.1), measured exactly on small spaces.

Claim: summed over every function ``f``, any two algorithms see the same distribution of cost
sequences (eq 2.1); in learning, every learner's accuracy off the training set averages exactly
1/2 over all target functions, so a learner can only win on the tasks its bias suits: a linear
learner wins on threshold functions and a parity learner on parity functions, and each loses on
the other's family.

Set-up.

* Eq 2.1 as the notes state it (Wolpert and Macready 1997): ``X`` has 4 points, ``Y = {0, 1, 2}``,
  and every one of the 3^4 = 81 functions ``f: X -> Y`` is searched by two algorithms that never
  revisit a point: ``a1`` scans ``X`` in a fixed order; ``a2`` is adaptive: it fits a lamina
  ``Linear(1, 1)`` to the points seen so far (gradient descent on the MSE, eq 4.2) and visits the
  unseen point with the lowest predicted cost. For every ``m`` the multiset of cost sequences
  ``d_m^y`` over all ``f`` is compared: eq 2.1 says they are equal.
* Learning (the supervised form, Wolpert 1996): inputs are the 8 points of ``{-1, 1}^3``; a
  learner trains on 4 of them and is scored on the other 4. Both learners are lamina
  ``Linear`` models trained with Adam on the binary cross-entropy (``BCEWithLogitsLoss``): the
  linear learner on the raw bits, the parity learner on the products of two and three bits.
  All 256 target functions are trained at once (one output column each; columns are independent
  under Adam), on several train/test splits. Threshold functions are the labelings
  ``sign(w.x + b)`` with small integer ``w``; parity functions are the products of two or three
  bits and their negations.

A broken variant shows the checks can fail: a search that may revisit points, or a learner that
peeks at the test points, no longer averages like every other (see the tests).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "no-free-lunch"
CLAIM = ("over all functions any two algorithms see the same cost sequences (eq 2.1); every "
         "learner averages 1/2 off the training set, winning only on the tasks its bias suits")

SEARCH_POINTS = 4
SEARCH_VALUES = 3
BITS = 3


@dataclass(frozen=True)
class Settings:
    splits: int
    steps: int


SETTINGS = {
    "tiny": Settings(4, 150),
    "quick": Settings(16, 300),
    "full": Settings(70, 400),
}

Search = Callable[[Callable[[int], int], int], list[int]]


def scan(f: Callable[[int], int], m: int) -> list[int]:
    """Algorithm ``a1``: visit points 0, 1, ..., m-1; return the costs seen, in order."""
    return [f(x) for x in range(m)]


def adaptive(f: Callable[[int], int], m: int) -> list[int]:
    """Algorithm ``a2``: after each visit, fit ``Linear(1, 1)`` to the visited (x, cost) pairs and
    visit the unseen point with the lowest predicted cost (ties: the smallest x)."""
    import lamina as lm
    from lamina import nn

    seen: list[int] = []
    costs: list[int] = []
    while len(seen) < m:
        if not seen:
            x = 0
        else:
            model = nn.Linear(1, 1).double()
            nn.init.zeros_(model.weight)
            nn.init.zeros_(model.bias)
            opt = lm.optim.SGD(model.parameters(), lr=0.1)
            xs = lm.tensor(np.array(seen, np.float64)[:, None])
            ys = lm.tensor(np.array(costs, np.float64)[:, None])
            for _ in range(50):
                opt.zero_grad()
                nn.MSELoss()(model(xs), ys).backward()
                opt.step()
            unseen = [p for p in range(SEARCH_POINTS) if p not in seen]
            with lm.no_grad():
                pred = model(lm.tensor(np.array(unseen, np.float64)[:, None])).numpy()[:, 0]
            x = unseen[int(np.argmin(pred))]
        seen.append(x)
        costs.append(f(x))
    return costs


def cost_sequences(search: Search, m: int) -> Counter:
    """The multiset of ``d_m^y`` over all ``3^4`` functions ``f: X -> Y`` (eq 2.1's sum over f)."""
    tally: Counter = Counter()
    for values in itertools.product(range(SEARCH_VALUES), repeat=SEARCH_POINTS):
        tally[tuple(search(values.__getitem__, m))] += 1
    return tally


def cube() -> np.ndarray:
    """The 8 points of ``{-1, 1}^3``, shape (8, 3)."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=BITS)))


def all_functions() -> np.ndarray:
    """Every labeling of the cube's 8 points, shape (8, 256), labels 0/1."""
    return np.array(list(itertools.product((0.0, 1.0), repeat=8))).T


def parity_features(x: np.ndarray) -> np.ndarray:
    """Products of two and of three bits, shape (n, 4)."""
    return np.stack([x[:, 0] * x[:, 1], x[:, 0] * x[:, 2], x[:, 1] * x[:, 2],
                     x[:, 0] * x[:, 1] * x[:, 2]], axis=1)


def threshold_family(x: np.ndarray) -> np.ndarray:
    """Indices (into :func:`all_functions`' columns) of the labelings ``w.x + b > 0`` with
    ``w`` in {-1, 0, 1}^3 (not all 0) and ``b`` in {-2.5, ..., 2.5}, constants excluded."""
    found = set()
    for w in itertools.product((-1, 0, 1), repeat=BITS):
        if not any(w):
            continue
        for b in (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5):
            labels = (x @ np.array(w, float) + b > 0).astype(int)
            if 0 < labels.sum() < len(labels):
                found.add(int("".join(map(str, labels)), 2))
    return np.array(sorted(found))


def parity_family(x: np.ndarray) -> np.ndarray:
    """Indices of the labelings ``prod_{i in S} x_i > 0`` (|S| >= 2) and their negations."""
    found = set()
    for column in parity_features(x).T:
        for sign in (1.0, -1.0):
            found.add(int("".join(map(str, (sign * column > 0).astype(int))), 2))
    return np.array(sorted(found))


def train_predict(features: np.ndarray, labels: np.ndarray, train: np.ndarray,
                  steps: int) -> np.ndarray:
    """Train one ``Linear(k, 256)`` (a logistic regression per target function) on the rows
    ``train`` and predict 0/1 labels for every row, shape (8, 256)."""
    import lamina as lm
    from lamina import nn

    model = nn.Linear(features.shape[1], labels.shape[1]).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    opt = lm.optim.Adam(model.parameters(), lr=0.1)
    x, y = lm.tensor(features[train]), lm.tensor(labels[train])
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    with lm.no_grad():
        return (model(lm.tensor(features)).numpy() > 0).astype(float)


Learner = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def linear_learner(labels: np.ndarray, train: np.ndarray, steps: int) -> np.ndarray:
    """Logistic regression on the raw bits."""
    return train_predict(cube(), labels, train, steps)


def parity_learner(labels: np.ndarray, train: np.ndarray, steps: int) -> np.ndarray:
    """Logistic regression on the products of bits."""
    return train_predict(parity_features(cube()), labels, train, steps)


def off_training_accuracy(learner: Learner, splits: Sequence[np.ndarray],
                          steps: int) -> np.ndarray:
    """Accuracy on the 4 points outside each training split, per target function, averaged over
    the splits: shape (256,)."""
    labels = all_functions()
    total = np.zeros(labels.shape[1])
    for train in splits:
        test = np.setdiff1d(np.arange(8), train)
        predicted = learner(labels, train, steps)
        total += (predicted[test] == labels[test]).mean(axis=0)
    return total / len(splits)


def pick_splits(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` of the 70 ways to choose 4 training points of 8 (all 70 when count >= 70)."""
    every = [np.array(c) for c in itertools.combinations(range(8), 4)]
    if count >= len(every):
        return every
    return [every[i] for i in rng.choice(len(every), size=count, replace=False)]


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Check eq 2.1 on all 81 search problems and the learning form on all 256 tasks.

    Args:
        quick: the ``--quick`` size.
        out: directory for ``no-free-lunch.png``, or None for no plot.
        seed: picks the train/test splits.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    with common.progress_bar(SEARCH_POINTS + 2, NAME, progress) as bar:
        same = []
        for m in range(1, SEARCH_POINTS + 1):
            same.append(cost_sequences(scan, m) == cost_sequences(adaptive, m))
            bar.update(1)
        splits = pick_splits(s.splits, rng)
        linear = off_training_accuracy(linear_learner, splits, s.steps)
        bar.update(1)
        parity = off_training_accuracy(parity_learner, splits, s.steps)
        bar.update(1)
    x = cube()
    threshold, parities = threshold_family(x), parity_family(x)
    numbers = {
        "search_functions": SEARCH_VALUES ** SEARCH_POINTS,
        "same_cost_sequence_histogram_per_m": same,
        "splits": len(splits),
        "mean_all_tasks": {"linear": float(linear.mean()), "parity": float(parity.mean())},
        "mean_threshold_family": {"linear": float(linear[threshold].mean()),
                                  "parity": float(parity[threshold].mean())},
        "mean_parity_family": {"linear": float(linear[parities].mean()),
                               "parity": float(parity[parities].mean())},
        "threshold_functions": len(threshold),
        "parity_functions": len(parities),
    }
    checks = {
        "eq 2.1: scan and adaptive search give the same histogram of cost sequences for every m":
            all(same),
        "both learners average exactly 1/2 off the training set over all 256 tasks":
            equal_to_half(linear) and equal_to_half(parity),
        "the linear learner beats the parity learner on threshold functions by > 0.1":
            linear[threshold].mean() > parity[threshold].mean() + 0.1,
        "the parity learner beats the linear learner on parity functions by > 0.1":
            parity[parities].mean() > linear[parities].mean() + 0.1,
    }
    conclusion = (
        f"over all {SEARCH_VALUES ** SEARCH_POINTS} functions the two search algorithms saw "
        f"{'the same' if all(same) else 'DIFFERENT'} cost sequences for m = 1..{SEARCH_POINTS}; "
        f"off the training set the linear learner averaged {linear.mean():.6f} and the parity "
        f"learner {parity.mean():.6f} over all 256 tasks, but on threshold functions "
        f"{linear[threshold].mean():.3f} vs {parity[threshold].mean():.3f} and on parity "
        f"functions {linear[parities].mean():.3f} vs {parity[parities].mean():.3f}."
    )
    plot = common.save_figure(out_dir, f"{NAME}.png", lambda fig, axes: _draw(axes, numbers),
                              figsize=(7.0, 4.5), title="No free lunch (eq 2.1)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def equal_to_half(accuracy: np.ndarray) -> bool:
    """Whether the mean over all tasks is 1/2 up to rounding."""
    return abs(float(accuracy.mean()) - 0.5) < 1e-12


def _draw(axes: np.ndarray, numbers: dict[str, Any]) -> None:
    ax = axes[0, 0]
    groups = ("mean_all_tasks", "mean_threshold_family", "mean_parity_family")
    names = ("all 256 tasks", "threshold functions", "parity functions")
    positions = np.arange(len(groups))
    for offset, learner in ((-0.2, "linear"), (0.2, "parity")):
        ax.bar(positions + offset, [numbers[g][learner] for g in groups], width=0.4,
               label=f"{learner} learner")
    ax.axhline(0.5, color="gray", linewidth=0.8, linestyle="--")
    ax.set_xticks(positions, names)
    ax.set_ylabel("accuracy off the training set")
    ax.set_ylim(0, 1)
    ax.legend()
