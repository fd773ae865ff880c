"""Classification metrics with scikit-learn's names, arguments and numbers (notes chapter 7), and
the two regression errors ``fit`` logs (``mean_squared_error``, ``mean_absolute_error``).

Every function accepts lists, NumPy arrays or lamina Tensors of int, bool or string labels,
and returns the same numbers as ``sklearn.metrics`` (1.x). With ``TP``, ``FP``, ``FN``, ``TN``
counted one label against the rest (notes table 7.1):

    precision = TP / (TP + FP)                                                     (eq 7.1)
    recall    = TP / (TP + FN)                                                     (eq 7.2)
    accuracy  = (TP + TN) / (TP + TN + FP + FN)                                    (eq 7.3)
    F_beta    = (beta^2 + 1) * precision * recall / (beta^2 * precision + recall)   (eq 7.4)

The notes write eq 7.4 with ``alpha`` in place of ``beta``: ``fbeta_score(beta=alpha)``.

Labels are the sorted union of the labels in ``y_true`` and ``y_pred`` (:func:`unique_labels`)
unless ``labels=`` gives them. A 2-D array of 0/1 values is a multilabel indicator matrix
(one column per label), as in scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.labels import as_array as _as_array
from lamina.labels import is_integral_float as _is_integral_float
from lamina.labels import label_indices as _label_indices
from lamina.labels import type_of_target, unique_labels
from lamina.labels import unique_labels_of as _unique_labels_of

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "classification_report",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "mean_absolute_error",
    "mean_squared_error",
    "multilabel_confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "type_of_target",
    "unique_labels",
]

ArrayLike = Any
_AVERAGES = (None, "micro", "macro", "weighted", "samples")


class UndefinedMetricWarning(UserWarning):
    """A score is 0/0 for some label; ``zero_division`` decided its value."""


# --------------------------------------------------------------------------- label inspection


def _num_samples(y: np.ndarray, func: str, name: str) -> int:
    if y.ndim == 0:
        raise TypeError(f"{func}: {name} must be a sequence of labels, got a scalar {y!r}")
    return y.shape[0]


def _check_sample_weight(sample_weight: ArrayLike, n_samples: int, func: str) -> np.ndarray:
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"{func}: sample_weight must be numeric, got dtype {weights.dtype}")
    if weights.shape != (n_samples,):
        raise ValueError(
            f"{func}: sample_weight must have shape ({n_samples},) like y_true, "
            f"got shape {weights.shape}"
        )
    if np.all(weights == 0):
        raise ValueError(f"{func}: sample_weight must contain at least one non-zero number")
    return weights


def _check_targets(
    y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike | None, func: str
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a pair of targets: ``(y_type, labels, y_true, y_pred, sample_weight)``."""
    y_true = _as_array(y_true, func, "y_true")
    y_pred = _as_array(y_pred, func, "y_pred")
    n_true = _num_samples(y_true, func, "y_true")
    n_pred = _num_samples(y_pred, func, "y_pred")
    if n_true != n_pred:
        raise ValueError(
            f"{func}: y_true and y_pred must have the same number of samples, "
            f"got {n_true} and {n_pred}"
        )
    if n_true == 0:
        raise ValueError(f"{func}: y_true and y_pred are empty; at least 1 sample is required")
    type_true, type_pred = type_of_target(y_true), type_of_target(y_pred)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, n_true, func)
    types = {type_true, type_pred}
    if types == {"binary", "multiclass"}:
        types = {"multiclass"}
    if len(types) > 1:
        raise ValueError(
            f"{func}: classification metrics can't handle a mix of {type_true} (y_true) and "
            f"{type_pred} (y_pred) targets"
        )
    y_type = types.pop()
    if y_type not in ("binary", "multiclass", "multilabel-indicator"):
        raise ValueError(f"{func}: {y_type} targets are not supported (expected class labels)")
    if y_type in ("binary", "multiclass"):
        for name, y in (("y_true", y_true), ("y_pred", y_pred)):
            if y.ndim == 2 and y.shape[1] != 1:
                raise ValueError(f"{func}: {name} should be 1-D, got shape {y.shape}")
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    labels = _unique_labels_of([y_true, y_pred], y_type)
    if y_type == "binary" and labels.shape[0] > 2:
        y_type = "multiclass"
    return y_type, labels, y_true, y_pred, sample_weight


# --------------------------------------------------------------------------- counting


def accuracy_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Fraction (or count) of correct predictions, eq 7.3.

    ``(TP + TN) / (TP + TN + FP + FN)`` summed over classes is the fraction of samples whose
    predicted label equals the true one; for multilabel indicators a sample counts only when
    its whole row matches (subset accuracy).

    Args:
        y_true: true labels, shape ``(n_samples,)`` or ``(n_samples, n_labels)`` indicators.
        y_pred: predicted labels, same shape.
        normalize: return the fraction (True) or the (weighted) number of correct samples.
        sample_weight: per-sample weights, shape ``(n_samples,)``.

    Returns:
        The accuracy as a Python float.

    Raises:
        ValueError: different lengths, mixed target types or mixed string/number labels.

    Example:
        >>> accuracy_score([0, 1, 2, 3], [0, 2, 1, 3])
        0.5
        >>> accuracy_score(["a", "b"], ["a", "a"], normalize=False)
        1.0
    """
    y_type, _, y_true, y_pred, sample_weight = _check_targets(
        y_true, y_pred, sample_weight, "accuracy_score"
    )
    if y_type == "multilabel-indicator":
        score = ~np.any(y_true != y_pred, axis=1)
    else:
        score = y_true == y_pred
    if normalize:
        return float(np.average(score, weights=sample_weight))
    if sample_weight is None:
        return float(np.sum(score.astype(np.float64)))
    return float(np.dot(score, sample_weight))


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    normalize: str | None = None,
) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = number of samples of true label i predicted as label j.

    Rows are true labels, columns predictions (the transpose of the notes' table 7.1, as in
    scikit-learn). For two labels ``C.ravel()`` is ``(TN, FP, FN, TP)``.

    Args:
        y_true: true labels, shape ``(n_samples,)``.
        y_pred: predicted labels, shape ``(n_samples,)``.
        labels: labels indexing the rows/columns, in this order; samples whose label is not
            listed are ignored. Default: sorted union of ``y_true`` and ``y_pred``.
        sample_weight: per-sample weights, shape ``(n_samples,)``.
        normalize: ``"true"`` (rows sum to 1), ``"pred"`` (columns), ``"all"`` or None.

    Returns:
        Array of shape ``(n_labels, n_labels)``: int64 counts, float64 if weighted by floats
        or normalized.

    Raises:
        ValueError: multilabel input, empty ``labels``, no listed label in ``y_true``, or an
            unknown ``normalize``.

    Example:
        >>> confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2]).tolist()
        [[2, 0, 0], [0, 0, 1], [1, 0, 2]]
    """
    func = "confusion_matrix"
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"{func}: normalize must be 'true', 'pred', 'all' or None, got {normalize!r}"
        )
    y_type, present, y_true, y_pred, sample_weight = _check_targets(
        y_true, y_pred, sample_weight, func
    )
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"{func}: {y_type} targets are not supported")
    if labels is None:
        labels = present
    else:
        labels = _as_array(labels, func, "labels").reshape(-1)
        if labels.size == 0:
            raise ValueError(f"{func}: 'labels' should contain at least one label")
        if not np.any(_label_indices(y_true, labels) >= 0):
            raise ValueError(f"{func}: at least one label specified must be in y_true")
    n_labels = labels.shape[0]
    rows, cols = _label_indices(y_true, labels), _label_indices(y_pred, labels)
    keep = (rows >= 0) & (cols >= 0)
    flat = rows[keep] * n_labels + cols[keep]
    if sample_weight is None:
        cm = np.bincount(flat, minlength=n_labels * n_labels).astype(np.int64)
    elif sample_weight.dtype.kind in "biu":
        cm = np.zeros(n_labels * n_labels, dtype=np.int64)
        np.add.at(cm, flat, sample_weight[keep])
    else:
        cm = np.bincount(flat, weights=sample_weight[keep], minlength=n_labels * n_labels)
        cm = cm.astype(np.float64)
    cm = cm.reshape(n_labels, n_labels)
    if normalize is not None:
        with np.errstate(all="ignore"):
            if normalize == "true":
                cm = cm / cm.sum(axis=1, keepdims=True)
            elif normalize == "pred":
                cm = cm / cm.sum(axis=0, keepdims=True)
            else:
                cm = cm / cm.sum()
        cm = np.nan_to_num(cm)
    if cm.shape == (1, 1):
        warnings.warn(
            f"{func}: a single label was found in y_true and y_pred; pass labels= with all "
            "known labels to get the full matrix",
            UserWarning,
            stacklevel=2,
        )
    return cm


def multilabel_confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    samplewise: bool = False,
) -> np.ndarray:
    """One-vs-rest 2x2 confusion matrix per label (or per sample): ``[[TN, FP], [FN, TP]]``.

    These are the counts of the notes' table 7.1 for each label taken as "positive".

    Args:
        y_true: true labels ``(n_samples,)`` or indicator matrix ``(n_samples, n_labels)``.
        y_pred: predictions, same shape.
        sample_weight: per-sample weights, shape ``(n_samples,)``.
        labels: labels to report, in this order (column indices for indicator matrices).
        samplewise: one matrix per sample instead of per label (multilabel only).

    Returns:
        Array of shape ``(n_labels, 2, 2)`` (or ``(n_samples, 2, 2)``).

    Raises:
        ValueError: ``samplewise`` for single-label targets, or out-of-range multilabel labels.

    Example:
        >>> multilabel_confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
        [[[1, 1], [0, 1]], [[1, 0], [1, 1]]]
    """
    return _mcm(y_true, y_pred, sample_weight, labels, samplewise, "multilabel_confusion_matrix")


def _mcm(y_true, y_pred, sample_weight, labels, samplewise, func):
    y_type, present, y_true, y_pred, sample_weight = _check_targets(
        y_true, y_pred, sample_weight, func
    )
    if y_type != "multilabel-indicator":
        return _multiclass_mcm(y_true, y_pred, sample_weight, labels, present, samplewise, func)
    return _multilabel_mcm(y_true, y_pred, sample_weight, labels, present, samplewise, func)


def _stack_mcm(tp, pred_sum, true_sum, total) -> np.ndarray:
    fp = pred_sum - tp
    fn = true_sum - tp
    tn = total - tp - fp - fn
    return np.stack([tn, fp, fn, tp]).T.reshape(-1, 2, 2)


def _multiclass_mcm(y_true, y_pred, sample_weight, labels, present, samplewise, func):
    if samplewise:
        raise ValueError(
            f"{func}: samplewise metrics are only available for multilabel indicator targets"
        )
    if labels is None:
        selected = present
    else:
        selected = _as_array(labels, func, "labels").reshape(-1)
    merged = list(dict.fromkeys(selected.tolist() + present.tolist()))
    try:
        every = np.asarray(sorted(merged))
    except TypeError:  # labels= of another type than y: nothing of them is counted
        every = np.array(merged, dtype=object)
    true_idx, pred_idx = _label_indices(y_true, every), _label_indices(y_pred, every)
    n = every.shape[0]
    hit = true_idx == pred_idx
    if np.any(hit):
        weights = None if sample_weight is None else sample_weight[hit]
        tp = np.bincount(true_idx[hit], weights=weights, minlength=n)
    else:
        tp = np.zeros(n)
    pred_sum = np.bincount(pred_idx, weights=sample_weight, minlength=n)
    true_sum = np.bincount(true_idx, weights=sample_weight, minlength=n)
    pick = _label_indices(selected, every)
    tp, pred_sum, true_sum = tp[pick], pred_sum[pick], true_sum[pick]
    total = y_true.shape[0] if sample_weight is None else np.sum(sample_weight)
    return _stack_mcm(tp, pred_sum, true_sum, total)


def _multilabel_mcm(y_true, y_pred, sample_weight, labels, present, samplewise, func):
    if labels is not None:
        selected = _as_array(labels, func, "labels").reshape(-1)
        if selected.dtype.kind not in "iu" and not _is_integral_float(selected):
            raise ValueError(f"{func}: multilabel labels must be column indices, got {selected}")
        selected = selected.astype(np.intp)
        if selected.size and selected.max() > present.max():
            raise ValueError(
                f"{func}: all labels must be in [0, n labels) for multilabel targets; "
                f"got {selected.max()} > {present.max()}"
            )
        if selected.size and selected.min() < 0:
            raise ValueError(
                f"{func}: all labels must be in [0, n labels) for multilabel targets; "
                f"got {selected.min()} < 0"
            )
        y_true, y_pred = y_true[:, selected], y_pred[:, selected]
    true_nz, pred_nz = y_true != 0, y_pred != 0
    both = true_nz & pred_nz
    if samplewise:
        tp, pred_sum, true_sum = (m.sum(axis=1).astype(np.intp) for m in (both, pred_nz, true_nz))
        if sample_weight is None:
            total = y_true.shape[1]
        else:
            tp, pred_sum, true_sum = (s * sample_weight for s in (tp, pred_sum, true_sum))
            total = sample_weight * y_true.shape[1]
        return _stack_mcm(tp, pred_sum, true_sum, total)
    n_cols = y_true.shape[1]

    def column_counts(mask: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(mask)
        weights = None if sample_weight is None else sample_weight[rows]
        return np.bincount(cols, weights=weights, minlength=n_cols)

    tp, pred_sum, true_sum = column_counts(both), column_counts(pred_nz), column_counts(true_nz)
    total = y_true.shape[0] if sample_weight is None else np.sum(sample_weight)
    return _stack_mcm(tp, pred_sum, true_sum, total)


# --------------------------------------------------------------------------- precision / recall / F


def _zero_division_value(zero_division: Any, func: str) -> float:
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, (int, float, np.number)):
        if np.isnan(zero_division):
            return np.nan
        if zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(
        f"{func}: zero_division must be 'warn', 0, 1 or np.nan, got {zero_division!r}"
    )


def _divide(numerator, denominator, metric, modifier, average, warn_for, zero_division):
    """``numerator / denominator`` with 0/0 entries set to ``zero_division`` (and a warning)."""
    mask = denominator == 0
    denominator = np.asarray(denominator, dtype=np.float64).copy()
    denominator[mask] = 1
    result = np.asarray(numerator, dtype=np.float64) / denominator
    if not np.any(mask):
        return result
    result[mask] = _zero_division_value(zero_division, "precision_recall_fscore_support")
    if isinstance(zero_division, str) and metric in warn_for:
        axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
        where = "due to" if result.shape[0] == 1 else f"in {axis1}s with"
        warnings.warn(
            f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} no {modifier} "
            f"{axis0}s. Use `zero_division` parameter to control this behavior.",
            UndefinedMetricWarning,
            stacklevel=4,
        )
    return result


def _nan_average(values: np.ndarray, weights: np.ndarray | None) -> float:
    if values.shape[0] == 0:
        return np.nan
    keep = ~np.isnan(values)
    if not np.any(keep):
        return np.nan
    if weights is None:
        return float(np.nanmean(values))
    try:
        return float(np.average(values[keep], weights=np.asarray(weights)[keep]))
    except ZeroDivisionError:
        return float(np.mean(values[keep]))


def _set_wise_labels(y_true, y_pred, average, labels, pos_label, func):
    if average not in _AVERAGES and average != "binary":
        raise ValueError(
            f"{func}: average has to be one of {_AVERAGES + ('binary',)}, got {average!r}"
        )
    y_type, present, _, _, _ = _check_targets(y_true, y_pred, None, func)
    if average == "binary":
        if y_type != "binary":
            options = [a for a in _AVERAGES if y_type != "multiclass" or a != "samples"]
            raise ValueError(
                f"{func}: Target is {y_type} but average='binary'. Please choose another "
                f"average setting, one of {options!r}."
            )
        if pos_label not in present.tolist() and len(present) >= 2:
            raise ValueError(
                f"{func}: pos_label={pos_label!r} is not a valid label. It should be one of "
                f"{present.tolist()}"
            )
        return [pos_label]
    if pos_label not in (None, 1):
        warnings.warn(
            f"{func}: pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single positive "
            "class.",
            UserWarning,
            stacklevel=3,
        )
    return labels


def precision_recall_fscore_support(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    beta: float = 1.0,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: str | None = None,
    warn_for: tuple[str, ...] = ("precision", "recall", "f-score"),
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> tuple:
    """Precision (eq 7.1), recall (eq 7.2), F-beta (eq 7.4) and support per label or averaged.

    For each label, with ``TP``, ``FP``, ``FN`` counted one-vs-rest::

        precision = TP / (TP + FP)
        recall    = TP / (TP + FN)
        F_beta    = (1 + beta^2) TP / ((1 + beta^2) TP + beta^2 FN + FP)

    The last line is eq 7.4 (``alpha`` there is ``beta`` here) with precision and recall
    substituted; it is also defined when precision or recall is 0/0. A score whose
    denominator is zero takes the value ``zero_division``.

    Args:
        y_true: true labels ``(n_samples,)`` or indicator matrix ``(n_samples, n_labels)``.
        y_pred: predicted labels, same shape.
        beta: weight of recall against precision (``beta > 1`` favours recall).
        labels: labels to score, in this order (default: all, sorted).
        pos_label: the positive label when ``average='binary'``.
        average: ``'binary'`` (score of ``pos_label`` only; targets must be binary),
            ``'micro'`` (global counts), ``'macro'`` (unweighted mean over labels),
            ``'weighted'`` (mean weighted by support), ``'samples'`` (multilabel: mean over
            samples) or None (one score per label).
        warn_for: which scores warn on zero division when ``zero_division='warn'``.
        sample_weight: per-sample weights, shape ``(n_samples,)``.
        zero_division: value for 0/0 scores: ``'warn'`` (0 and a warning), 0, 1 or ``np.nan``
            (NaN scores are left out of averages).

    Returns:
        ``(precision, recall, fbeta, support)``: floats and ``support=None`` when averaged,
        else arrays of shape ``(n_labels,)``.

    Raises:
        ValueError: unknown ``average``; ``average='binary'`` with non-binary targets or a
            ``pos_label`` not among the labels; negative ``beta``; bad ``zero_division``.

    Example:
        >>> p, r, f, s = precision_recall_fscore_support([0, 1, 1, 2], [0, 1, 0, 2])
        >>> p.tolist(), r.tolist(), s.tolist()
        ([0.5, 1.0, 1.0], [1.0, 0.5, 1.0], [1, 2, 1])
    """
    return _prfs(y_true, y_pred, beta, labels, pos_label, average, warn_for, sample_weight,
                 zero_division, "precision_recall_fscore_support")


def _prfs(y_true, y_pred, beta, labels, pos_label, average, warn_for, sample_weight,
          zero_division, func):
    _zero_division_value(zero_division, func)
    if not isinstance(beta, (int, float, np.number)) or np.isnan(beta) or beta < 0:
        raise ValueError(f"{func}: beta must be a number >= 0, got {beta!r}")
    labels = _set_wise_labels(y_true, y_pred, average, labels, pos_label, func)
    samplewise = average == "samples"
    mcm = _mcm(y_true, y_pred, sample_weight, labels, samplewise, func)
    tp_sum = mcm[:, 1, 1]
    pred_sum = tp_sum + mcm[:, 0, 1]
    true_sum = tp_sum + mcm[:, 1, 0]
    if average == "micro":
        tp_sum, pred_sum, true_sum = (
            np.reshape(np.sum(s), (1,)) for s in (tp_sum, pred_sum, true_sum)
        )
    beta2 = beta**2
    precision = _divide(tp_sum, pred_sum, "precision", "predicted", average, warn_for,
                        zero_division)
    recall = _divide(tp_sum, true_sum, "recall", "true", average, warn_for, zero_division)
    if np.isposinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        denominator = beta2 * true_sum.astype(np.float64) + pred_sum.astype(np.float64)
        f_score = _divide((1 + beta2) * tp_sum.astype(np.float64), denominator, "f-score",
                          "true nor predicted", average, warn_for, zero_division)
    if average is None:
        return precision, recall, f_score, true_sum
    if average == "weighted":
        weights = true_sum
    elif average == "samples":
        weights = None if sample_weight is None else np.asarray(sample_weight)
    else:
        weights = None
    return (
        _nan_average(precision, weights),
        _nan_average(recall, weights),
        _nan_average(f_score, weights),
        None,
    )


def _one_score(func: str, y_true, y_pred, labels, pos_label, average, sample_weight,
               zero_division, beta: float = 1.0):
    metric = {"precision_score": "precision", "recall_score": "recall"}.get(func, "f-score")
    which = ("precision", "recall", "f-score").index(metric)
    return _prfs(y_true, y_pred, beta, labels, pos_label, average, (metric,), sample_weight,
                 zero_division, func)[which]


def precision_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> float | np.ndarray:
    """Precision ``TP / (TP + FP)``, eq 7.1: of the samples predicted positive, the share that is.

    Arguments, averages and errors as :func:`precision_recall_fscore_support`.

    Returns:
        A float, or an array of shape ``(n_labels,)`` when ``average=None``.

    Example:
        >>> precision_score([0, 1, 1, 0], [1, 1, 1, 0])
        0.6666666666666666
    """
    return _one_score("precision_score", y_true, y_pred, labels, pos_label, average,
                      sample_weight, zero_division)


def recall_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> float | np.ndarray:
    """Recall ``TP / (TP + FN)``, eq 7.2: of the truly positive samples, the share found.

    Arguments, averages and errors as :func:`precision_recall_fscore_support`.

    Returns:
        A float, or an array of shape ``(n_labels,)`` when ``average=None``.

    Example:
        >>> recall_score([0, 1, 1, 0], [1, 1, 0, 0])
        0.5
    """
    return _one_score("recall_score", y_true, y_pred, labels, pos_label, average,
                      sample_weight, zero_division)


def fbeta_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    beta: float,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> float | np.ndarray:
    """F-beta score, eq 7.4: the notes' F-score with ``alpha`` is ``fbeta_score(beta=alpha)``.

    ``F = (beta^2 + 1) * precision * recall / (beta^2 * precision + recall)``; a larger
    ``beta`` weighs recall more. Computed as ``(1 + beta^2) TP / ((1 + beta^2) TP +
    beta^2 FN + FP)``, the same value, defined whenever ``TP + FN + FP > 0``.
    Arguments, averages and errors as :func:`precision_recall_fscore_support`.

    Returns:
        A float, or an array of shape ``(n_labels,)`` when ``average=None``.

    Example:
        >>> round(fbeta_score([0, 1, 1, 0], [1, 1, 0, 0], beta=2.0), 4)
        0.5
    """
    return _one_score("fbeta_score", y_true, y_pred, labels, pos_label, average,
                      sample_weight, zero_division, beta)


def f1_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> float | np.ndarray:
    """F1 score: eq 7.4 with ``alpha = 1``, the harmonic mean of precision and recall.

    Arguments, averages and errors as :func:`precision_recall_fscore_support`.

    Returns:
        A float, or an array of shape ``(n_labels,)`` when ``average=None``.

    Example:
        >>> f1_score(["a", "b", "b"], ["a", "b", "a"], average="macro")
        0.6666666666666666
    """
    return _one_score("f1_score", y_true, y_pred, labels, pos_label, average, sample_weight,
                      zero_division)


# --------------------------------------------------------------------------- report


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    labels: ArrayLike | None = None,
    target_names: Sequence[str] | None = None,
    sample_weight: ArrayLike | None = None,
    digits: int = 2,
    output_dict: bool = False,
    zero_division: str | float = "warn",
) -> str | dict:
    """Precision, recall, F1 and support per label plus averages, as scikit-learn prints them.

    Args:
        y_true: true labels ``(n_samples,)`` or indicator matrix ``(n_samples, n_labels)``.
        y_pred: predicted labels, same shape.
        labels: labels to include, in this order (default: all, sorted).
        target_names: display names of ``labels``, same length.
        sample_weight: per-sample weights, shape ``(n_samples,)``.
        digits: decimals in the text report.
        output_dict: return a dict ``{name: {"precision", "recall", "f1-score", "support"}}``
            (plus ``"accuracy"``, ``"macro avg"``, ``"weighted avg"``) instead of text.
        zero_division: as in :func:`precision_recall_fscore_support`.

    Returns:
        The text table, or the dict.

    Raises:
        ValueError: ``target_names`` of the wrong length when ``labels`` is not given.

    Example:
        >>> print(classification_report([0, 1, 1], [0, 1, 0]))
                      precision    recall  f1-score   support
        <BLANKLINE>
                   0       0.50      1.00      0.67         1
                   1       1.00      0.50      0.67         2
        <BLANKLINE>
            accuracy                           0.67         3
           macro avg       0.75      0.75      0.67         3
        weighted avg       0.83      0.67      0.67         3
        <BLANKLINE>
    """
    func = "classification_report"
    y_type, present, y_true_arr, y_pred_arr, _ = _check_targets(
        y_true, y_pred, sample_weight, func
    )
    if labels is None:
        labels, labels_given = present, False
    else:
        labels, labels_given = np.asarray(labels), True
    micro_is_accuracy = y_type in ("multiclass", "binary") and (
        not labels_given or set(labels.tolist()) >= set(present.tolist())
    )
    if target_names is not None and len(labels) != len(target_names):
        if not labels_given:
            raise ValueError(
                f"{func}: number of classes, {len(labels)}, does not match size of "
                f"target_names, {len(target_names)}. Try specifying the labels parameter"
            )
        warnings.warn(
            f"{func}: labels size, {len(labels)}, does not match size of target_names, "
            f"{len(target_names)}",
            UserWarning,
            stacklevel=2,
        )
    if target_names is None:
        target_names = [f"{label}" for label in labels.tolist()]
    headers = ["precision", "recall", "f1-score", "support"]
    p, r, f1, s = precision_recall_fscore_support(
        y_true_arr, y_pred_arr, labels=labels, average=None, sample_weight=sample_weight,
        zero_division=zero_division,
    )
    rows = list(zip(target_names, p, r, f1, s, strict=False))
    averages = ["micro", "macro", "weighted"]
    if y_type == "multilabel-indicator":
        averages.append("samples")
    lines: dict[str, list] = {}
    for average in averages:
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        avg_p, avg_r, avg_f1, _ = precision_recall_fscore_support(
            y_true_arr, y_pred_arr, labels=labels, average=average,
            sample_weight=sample_weight, zero_division=zero_division,
        )
        lines[heading] = [avg_p, avg_r, avg_f1, np.sum(s)]
    if output_dict:
        report = {row[0]: dict(zip(headers, [float(v) for v in row[1:]], strict=True))
                  for row in rows}
        for heading, values in lines.items():
            report[heading] = dict(zip(headers, [float(v) for v in values], strict=True))
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report
    width = max(max(len(name) for name in target_names), len("weighted avg"), digits)
    text = f"{'':>{width}s} " + "".join(f" {h:>9}" for h in headers) + "\n\n"
    for name, *values in rows:
        text += _report_row(name, values, width, digits)
    text += "\n"
    for heading, values in lines.items():
        if heading == "accuracy":
            text += (f"{heading:>{width}s} " + f" {'':>9.{digits}}" * 2
                     + f" {values[2]:>9.{digits}f} {values[3]:>9}\n")
        else:
            text += _report_row(heading, values, width, digits)
    return text


def _report_row(name: str, values: list, width: int, digits: int) -> str:
    scores = "".join(f" {v:>9.{digits}f}" for v in values[:3])
    return f"{name:>{width}s} {scores} {values[3]:>9}\n"


# --------------------------------------------------------------------------- regression
def _regression_targets(y_true: ArrayLike, y_pred: ArrayLike, sample_weight: ArrayLike,
                        func: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Both as float ``(n_samples, n_outputs)`` arrays of the same shape, and the weights, in
    scikit-learn's dtype: the common type of the floating inputs (float32 stays float32), else
    float64."""
    arrays = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        a = _as_array(y, func, name)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{func}: {name} must hold numbers, got dtype {a.dtype}")
        if a.ndim not in (1, 2):
            raise ValueError(f"{func}: {name} must be 1-D (n_samples,) or 2-D (n_samples, "
                             f"n_outputs), got shape {a.shape}")
        arrays.append(a.reshape(-1, 1) if a.ndim == 1 else a)
    weights = None if sample_weight is None else \
        _check_sample_weight(sample_weight, arrays[0].shape[0], func)
    floats = [a.dtype for a in (*arrays, weights) if a is not None and a.dtype.kind == "f"]
    dtype = np.result_type(*floats) if floats else np.float64
    t, p = (a.astype(dtype) for a in arrays)
    if t.shape != p.shape:
        raise ValueError(f"{func}: y_true and y_pred must have the same number of samples and "
                         f"outputs, got shapes {np.shape(y_true)} and {np.shape(y_pred)}")
    if t.shape[0] == 0:
        raise ValueError(f"{func}: y_true and y_pred hold no samples")
    return t, p, None if weights is None else weights.astype(dtype)


def _regression_error(errors: np.ndarray, weights: np.ndarray | None, multioutput: Any,
                      func: str) -> float | np.ndarray:
    if weights is None:
        per_output = errors.mean(axis=0)
    else:
        per_output = (errors * weights[:, None]).sum(axis=0) / weights.sum()
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        if multioutput == "uniform_average":
            return float(np.average(per_output))
        raise ValueError(f"{func}: multioutput must be 'raw_values', 'uniform_average' or an "
                         f"array of weights, got {multioutput!r}")
    if per_output.shape[0] == 1:
        raise ValueError(f"{func}: multioutput weights are useful only with several outputs; "
                         f"y has one")
    output_weights = np.asarray(multioutput, dtype=np.float64)
    if output_weights.shape != per_output.shape:
        raise ValueError(f"{func}: multioutput weights must have shape {per_output.shape}, got "
                         f"{output_weights.shape}")
    return float(np.average(per_output, weights=output_weights))


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike = None,
                       multioutput: Any = "uniform_average") -> float | np.ndarray:
    """Mean squared error, ``MSE = (1/n) sum_i (y_i - yhat_i)^2`` (the loss of eq 2.3), per output
    and then averaged over outputs (scikit-learn's ``mean_squared_error``).

    Args:
        y_true: targets ``(n_samples,)`` or ``(n_samples, n_outputs)``.
        y_pred: predictions of the same shape.
        sample_weight: weights ``(n_samples,)`` of the mean over samples.
        multioutput: ``"uniform_average"`` (default), ``"raw_values"`` (one error per output)
            or weights ``(n_outputs,)``.

    Example:
        >>> mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
        0.375
    """
    t, p, w = _regression_targets(y_true, y_pred, sample_weight, "mean_squared_error")
    return _regression_error((t - p) ** 2, w, multioutput, "mean_squared_error")


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                        sample_weight: ArrayLike = None,
                        multioutput: Any = "uniform_average") -> float | np.ndarray:
    """Mean absolute error, ``MAE = (1/n) sum_i |y_i - yhat_i|``, per output and then averaged
    over outputs (scikit-learn's ``mean_absolute_error``); arguments as
    :func:`mean_squared_error`.

    Example:
        >>> mean_absolute_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
        0.5
    """
    t, p, w = _regression_targets(y_true, y_pred, sample_weight, "mean_absolute_error")
    return _regression_error(np.abs(t - p), w, multioutput, "mean_absolute_error")
