"""Scores of predicted class indices: what ``lamina evaluate`` prints and ``lamina train``
reports on its test set."""

from __future__ import annotations

import numpy as np

__all__ = ["classification_scores"]


def classification_scores(y: np.ndarray, predicted: np.ndarray,
                          n_classes: int) -> tuple[dict[str, float], np.ndarray]:
    """Accuracy (eq 7.3), macro precision, recall and F1 (eq 7.1, 7.2, 7.4 averaged over the
    classes ``0..n_classes-1``, 0 where undefined) and the confusion matrix ``(C, C)`` (rows:
    true classes), all by :mod:`lamina.metrics`.

    Example:
        >>> scores, matrix = classification_scores(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
        >>> scores["accuracy"], matrix.tolist()
        (0.6666666666666666, [[1, 0], [1, 1]])
    """
    from lamina import metrics as M

    labels = list(range(n_classes))
    scores = {"accuracy": float(M.accuracy_score(y, predicted))}
    for name, fn in (("precision", M.precision_score), ("recall", M.recall_score),
                     ("f1", M.f1_score)):
        scores[f"macro_{name}"] = float(fn(y, predicted, labels=labels, average="macro",
                                           zero_division=0))
    return scores, np.asarray(M.confusion_matrix(y, predicted, labels=labels))
