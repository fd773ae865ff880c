"""Accuracy on unbalanced data, and the F-score's alpha (notes chapter 7, eq 7.1-7.4).

Claim: on a 95/5 unbalanced problem a classifier that always predicts the majority class has
95% accuracy (eq 7.3) but precision, recall and F1 of 0 for the minority class (eq 7.1, 7.2,
7.4), which is why the notes call accuracy "not suitable for unbalanced data"; and the F-score
``F = (alpha^2 + 1) P R / (alpha^2 P + R)`` (eq 7.4) trades precision against recall as alpha
moves: it tends to P as alpha -> 0 and to R as alpha -> infinity, and the decision threshold
that maximises it gives more recall (and less precision) as alpha grows.

Set-up. Two Gaussian classes in 2-D, 5% positives (the minority, label 1), split in half with
``lamina.preprocessing.train_test_split(stratify=y)``. A logistic regression (``Linear(2, 2)``
and the cross-entropy of eq 4.5) is trained with ``lm.fit``; all scores come from
``lamina.metrics`` (scikit-learn's numbers; eq 7.4's alpha is ``fbeta_score``'s beta).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamina.experiments import common

NAME = "metrics-imbalance"
CLAIM = ("on 95/5 data always predicting the majority gives 95% accuracy but F1 = 0 for the "
         "minority; the F-score's alpha (eq 7.4) trades precision against recall")

MINORITY = 0.05
ALPHAS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Settings:
    samples: int
    epochs: int


SETTINGS = {
    "tiny": Settings(2000, 20),
    "quick": Settings(4000, 30),
    "full": Settings(20000, 30),
}


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points, exactly ``MINORITY`` of them positive: N((0, 0), I) vs N((2, 2), I)."""
    y = np.zeros(n, dtype=np.int64)
    y[: int(round(MINORITY * n))] = 1
    rng.shuffle(y)
    x = rng.normal(0.0, 1.0, (n, 2)) + 2.0 * y[:, None]
    return x.astype(np.float32), y


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy (eq 7.3) and the minority class's precision, recall and F1 (eq 7.1, 7.2, 7.4)."""
    from lamina import metrics

    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
    }


def f_alpha_by_hand(y_true: np.ndarray, y_pred: np.ndarray, alpha: float) -> float:
    """Eq 7.4 from the confusion-matrix counts of table 7.1 (eq 7.1 and 7.2)."""
    from lamina import metrics

    (tn, fp), (fn, tp) = metrics.confusion_matrix(y_true, y_pred, labels=[0, 1])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    if precision == 0.0 and recall == 0.0:
        return 0.0
    return (alpha ** 2 + 1) * precision * recall / (alpha ** 2 * precision + recall)


def train_classifier(x: np.ndarray, y: np.ndarray, epochs: int, bar: Any) -> Any:
    """A logistic regression ``Linear(2, 2)`` trained with cross-entropy and Adam."""
    import lamina as lm

    model = lm.nn.Sequential(lm.nn.Linear(2, 2))
    optimizer = lm.optim.Adam(model.parameters(), lr=0.05)
    lm.fit(model, lm.nn.CrossEntropyLoss(), optimizer, (x, y), epochs=epochs, batch_size=128,
           callbacks=[common.EpochTicker(bar)])
    return model


def positive_probability(model: Any, x: np.ndarray) -> np.ndarray:
    """Softmax probability of class 1."""
    import lamina as lm

    logits = lm.train.predict(model, x).astype(np.float64)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z[:, 1] / z.sum(axis=1)


def precision_recall_at(y_true: np.ndarray, probability: np.ndarray,
                        thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall (eq 7.1, 7.2) of ``probability >= t`` for every threshold t at once,
    from the counts TP(t) and FP(t) (precision 0 where nothing is predicted positive)."""
    positives = np.sort(probability[y_true == 1])
    negatives = np.sort(probability[y_true == 0])
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros(len(thresholds)), where=predicted > 0)
    return precision, tp / max(len(positives), 1)


def best_thresholds(y_true: np.ndarray, probability: np.ndarray) -> dict[float, dict[str, float]]:
    """For each alpha, the threshold maximising F_alpha (eq 7.4), with its precision and recall.

    The search uses the counts of :func:`precision_recall_at`; the chosen threshold is then
    scored with ``lamina.metrics``.
    """
    from lamina import metrics

    candidates = np.unique(probability)
    precision, recall = precision_recall_at(y_true, probability, candidates)
    out = {}
    for alpha in ALPHAS:
        denominator = alpha ** 2 * precision + recall
        f = np.divide((alpha ** 2 + 1) * precision * recall, denominator,
                      out=np.zeros(len(candidates)), where=denominator > 0)
        t = float(candidates[int(np.argmax(f))])
        pred = (probability >= t).astype(np.int64)
        out[alpha] = {"threshold": t,
                      "f": float(metrics.fbeta_score(y_true, pred, beta=alpha, zero_division=0)),
                      "precision": float(metrics.precision_score(y_true, pred, zero_division=0)),
                      "recall": float(metrics.recall_score(y_true, pred, zero_division=0))}
    return out


def run(quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> common.Result:
    """Score a majority-class predictor and a trained classifier on 95/5 data.

    Args:
        quick: the ``--quick`` size (well under a minute on 2 cores).
        out: directory for ``metrics-imbalance.png``, or None for no plot.
        seed: seeds the data, the split and the training.
        progress: show a progress bar on stderr.
        tiny: the smallest size, for the tests.

    Returns:
        The :class:`~lamina.experiments.common.Result`.
    """
    from lamina import metrics
    from lamina.preprocessing import train_test_split

    timer = common.Timer()
    size, s = common.pick_size(SETTINGS, quick, tiny)
    out_dir = common.resolve_out(out)
    rng = common.seed_all(seed)
    x, y = make_data(s.samples, rng)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, stratify=y,
                                                        random_state=seed)
    with common.progress_bar(s.epochs, NAME, progress) as bar:
        model = train_classifier(x_train, y_train, s.epochs, bar)
    majority = np.zeros_like(y_test)
    probability = positive_probability(model, x_test)
    trained = (probability >= 0.5).astype(np.int64)
    results = {"always majority": scores(y_test, majority), "trained": scores(y_test, trained)}
    identity_error = max(
        abs(metrics.fbeta_score(y_test, pred, beta=a, zero_division=0)
            - f_alpha_by_hand(y_test, pred, a))
        for pred in (majority, trained) for a in (*ALPHAS, 0.01, 100.0))
    p, r = results["trained"]["precision"], results["trained"]["recall"]
    f_curve = {a: float(metrics.fbeta_score(y_test, trained, beta=a)) for a in
               np.geomspace(0.01, 100.0, 41)}
    best = best_thresholds(y_test, probability)
    recalls = [best[a]["recall"] for a in ALPHAS]
    precisions = [best[a]["precision"] for a in ALPHAS]
    numbers = {
        "test_samples": int(len(y_test)),
        "minority_share": float(np.mean(y_test)),
        "scores": results,
        "confusion_matrix_majority": metrics.confusion_matrix(y_test, majority).tolist(),
        "confusion_matrix_trained": metrics.confusion_matrix(y_test, trained).tolist(),
        "f_alpha_at_0.5": {a: float(metrics.fbeta_score(y_test, trained, beta=a))
                           for a in (0.01, *ALPHAS, 100.0)},
        "best_threshold_by_alpha": best,
        "max_difference_fbeta_vs_eq_7_4": identity_error,
    }
    maj = results["always majority"]
    checks = {
        "always-majority: accuracy within 0.01 of 0.95, minority precision, recall, F1 all 0":
            abs(maj["accuracy"] - 0.95) < 0.01 and maj["f1"] == maj["precision"]
            == maj["recall"] == 0.0,
        "the trained classifier's minority F1 is above 0.3 (it finds positives)":
            results["trained"]["f1"] > 0.3,
        "fbeta_score(beta=alpha) equals eq 7.4 computed from the confusion matrix (1e-12)":
            identity_error < 1e-12,
        "F_alpha tends to precision as alpha -> 0 and to recall as alpha -> infinity "
        "(alpha 0.01 and 100, within 1e-3)":
            abs(f_curve[0.01] - p) < 1e-3 and abs(f_curve[100.0] - r) < 1e-3,
        "the F_alpha-optimal threshold's recall never falls as alpha grows, and is higher (and "
        "its precision lower) at alpha 4 than at alpha 0.25": (
            bool(np.all(np.diff(recalls) >= 0)) and recalls[-1] > recalls[0]
            and precisions[-1] < precisions[0]),
    }
    tr = results["trained"]
    conclusion = (
        f"on {len(y_test):,} test points ({100 * np.mean(y_test):.1f}% positive) always "
        f"predicting the majority scored accuracy {maj['accuracy']:.3f}, minority precision "
        f"{maj['precision']:.2f}, recall {maj['recall']:.2f}, F1 {maj['f1']:.2f}; the trained "
        f"logistic regression scored accuracy {tr['accuracy']:.3f}, precision "
        f"{tr['precision']:.3f}, recall {tr['recall']:.3f}, F1 {tr['f1']:.3f}. At its 0.5 "
        f"threshold F_alpha went from {f_curve[0.01]:.3f} (alpha 0.01, = precision) to "
        f"{f_curve[100.0]:.3f} (alpha 100, = recall). Choosing the threshold that maximises "
        "F_alpha: " + "; ".join(
            f"alpha {a:g}: threshold {best[a]['threshold']:.3f}, P {best[a]['precision']:.2f},"
            f" R {best[a]['recall']:.2f}" for a in ALPHAS)
        + f". lamina's fbeta_score matched eq 7.4 to {identity_error:.1g}."
    )
    plot = common.save_figure(
        out_dir, f"{NAME}.png",
        lambda fig, axes: _draw(axes[0], results, y_test, probability, best, f_curve, p, r),
        ncols=3, figsize=(17.0, 4.8),
        title="Metrics on 95/5 unbalanced data: accuracy vs precision, recall and F-alpha "
              "(eq 7.1-7.4)")
    return common.finish(NAME, CLAIM, numbers, checks, conclusion, [plot], size, timer, out_dir)


def _draw(axes: np.ndarray, results: dict[str, dict[str, float]], y: np.ndarray,
          probability: np.ndarray, best: dict[float, dict[str, float]],
          f_curve: dict[float, float], precision: float, recall: float) -> None:
    ax = axes[0]
    keys = ("accuracy", "precision", "recall", "f1")
    position = np.arange(len(keys))
    for offset, name in ((-0.2, "always majority"), (0.2, "trained")):
        values = [results[name][k] for k in keys]
        ax.bar(position + offset, values, 0.4, label=name)
        for i, v in enumerate(values):
            ax.text(i + offset, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(position, labels=["accuracy (7.3)", "precision (7.1)", "recall (7.2)",
                                    "F1 (7.4)"], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score (minority class positive)")
    ax.set_title("majority-class predictor vs trained classifier")
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[1]
    thresholds = np.linspace(0.01, 0.99, 99)
    precision_curve, recall_curve = precision_recall_at(y, probability, thresholds)
    ax.plot(thresholds, precision_curve, label="precision")
    ax.plot(thresholds, recall_curve, label="recall")
    for alpha in ALPHAS:
        ax.axvline(best[alpha]["threshold"], color="gray", linestyle=":", linewidth=1)
        ax.text(best[alpha]["threshold"], 0.02 + 0.06 * ALPHAS.index(alpha), f"a={alpha:g}",
                fontsize=8, rotation=0)
    ax.set_xlabel("decision threshold on P(minority)")
    ax.set_ylabel("score")
    ax.set_title("thresholds maximising F_alpha (dotted), by alpha")
    ax.legend(fontsize=8)

    ax = axes[2]
    alphas = list(f_curve)
    ax.semilogx(alphas, list(f_curve.values()), "o-", markersize=3, label="F_alpha (eq 7.4)")
    ax.axhline(precision, color="tab:orange", linestyle="--", label=f"precision {precision:.2f}")
    ax.axhline(recall, color="tab:green", linestyle="--", label=f"recall {recall:.2f}")
    ax.set_xlabel("alpha")
    ax.set_ylabel("F_alpha at threshold 0.5")
    ax.set_title("F_alpha moves from precision to recall")
    ax.legend(fontsize=8)
