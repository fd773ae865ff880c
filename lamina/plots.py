"""Figures of a training run, saved as PNG: learning curves and the confusion matrix.

matplotlib is an optional extra (``pip install lamina[plot]``) imported only when a figure is
drawn. Figures are built on ``matplotlib.figure.Figure`` and rendered by the Agg backend, never
through ``pyplot``: nothing global (the user's backend, open windows) is touched, and the functions
work on a machine without a display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_confusion_matrix", "plot_learning_curves", "require_matplotlib"]

_INSTALL_HINT = "install lamina[plot] (pip install 'lamina[plot]', or pip install matplotlib)"
_MAX_ANNOTATED_CLASSES = 30


def require_matplotlib() -> Any:
    """Import matplotlib's ``Figure`` class, or fail with the install command.

    Returns:
        ``matplotlib.figure.Figure``.

    Raises:
        ImportError: matplotlib is not installed; the message says how to install it.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"lamina.plots needs matplotlib: {_INSTALL_HINT}") from err
    return Figure


def plot_learning_curves(
    history: Any, path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Draw the per-epoch loss (and every other metric) of a training run into a PNG.

    One panel per quantity: ``loss`` with ``val_loss``, ``accuracy`` with ``val_accuracy``, and
    so on; a training curve and its ``val_`` twin share a panel. A gap that opens between the two
    is the overfitting of the notes' sec 2.2 (training error falls, test error does not).

    Args:
        history: a ``History`` (anything with a ``.history`` dict) or a dict from name to a list
            of per-epoch values, e.g. ``{"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}``.
        path: the PNG file to write (its directory is created).
        title: the figure's title.

    Returns:
        The path written.

    Raises:
        ImportError: matplotlib is missing (``install lamina[plot]``).
        TypeError: ``history`` is neither a mapping nor has a ``.history`` mapping.
        ValueError: ``history`` holds no values.

    Example:
        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "curves.png")
        >>> plot_learning_curves({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}, out).name
        'curves.png'
    """
    curves = _history_dict(history)
    panels = _group_panels(curves)
    Figure = require_matplotlib()
    fig = Figure(figsize=(5.0 * len(panels), 3.8), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, keys) in zip(axes, panels.items(), strict=True):
        for key in keys:
            values = np.asarray(curves[key], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            style = "--" if key.startswith("val_") else "-"
            label = "validation" if key.startswith("val_") else "training" if key == name else key
            ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: np.ndarray | Sequence[Sequence[int]],
    classes: Sequence[Any] | None,
    path: str | os.PathLike[str],
    title: str | None = None,
    normalize: bool = False,
) -> Path:
    """Draw a confusion matrix as a heat map with the counts written in each cell.

    Rows are the true classes, columns the predicted ones (scikit-learn's layout; the notes'
    table 7.1 is its transpose for two classes). With ``normalize=True`` each row is divided by
    its sum, so the diagonal reads as the per-class recall (eq 7.2).

    Args:
        matrix: the ``(C, C)`` counts, e.g. from ``lamina.metrics.confusion_matrix``.
        classes: the ``C`` class names for the axes (``None``: ``0..C-1``).
        path: the PNG file to write (its directory is created).
        title: the figure's title (default ``"confusion matrix"``).
        normalize: divide each row by its total.

    Returns:
        The path written.

    Shape:
        - matrix: ``(C, C)``.

    Raises:
        ImportError: matplotlib is missing (``install lamina[plot]``).
        ValueError: ``matrix`` is not square, or ``classes`` does not have ``C`` names.

    Example:
        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "cm.png")
        >>> plot_confusion_matrix([[5, 1], [2, 7]], ["cat", "dog"], out).name
        'cm.png'
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(
            f"plot_confusion_matrix(matrix=...): expected a non-empty square (C, C) array, "
            f"received shape {counts.shape}"
        )
    n = counts.shape[0]
    names = [str(c) for c in (range(n) if classes is None else classes)]
    if len(names) != n:
        raise ValueError(
            f"plot_confusion_matrix(classes=...): expected {n} names for a {n}x{n} matrix, "
            f"received {len(names)}"
        )
    shown = counts.astype(float)
    if normalize:
        totals = shown.sum(axis=1, keepdims=True)
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0)

    Figure = require_matplotlib()
    side = min(2.0 + 0.55 * n, 14.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(shown, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    default_title = "confusion matrix (row-normalised)" if normalize else "confusion matrix"
    ax.set_title(title or default_title)
    if n <= _MAX_ANNOTATED_CLASSES:
        threshold = shown.max() / 2.0 if shown.size else 0.0
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(counts[i, j])}"
                color = "white" if shown[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=color,
                        fontsize=8 if n > 10 else 10)
    return _save(fig, path)


def _history_dict(history: Any) -> dict[str, list[float]]:
    curves = getattr(history, "history", history)
    if not isinstance(curves, Mapping):
        raise TypeError(
            "plot_learning_curves(history=...): expected a History or a dict of per-epoch "
            f"lists, received {type(history).__name__}"
        )
    curves = {str(k): list(v) for k, v in curves.items() if _is_numeric_list(v)}
    if not any(curves.values()):
        raise ValueError("plot_learning_curves(history=...): the history holds no epochs")
    return curves


def _is_numeric_list(values: Any) -> bool:
    try:
        np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return False
    return np.ndim(values) == 1 and len(values) > 0


def _group_panels(curves: dict[str, list[float]]) -> dict[str, list[str]]:
    """``{"loss": ["loss", "val_loss"], "accuracy": [...]}``, loss first, then insertion order."""
    panels: dict[str, list[str]] = {}
    for key in curves:
        if key == "lr":
            continue
        base = key.removeprefix("val_")
        panels.setdefault(base, []).append(key)
    if "lr" in curves and len(set(curves["lr"])) > 1:
        panels["learning rate"] = ["lr"]
    order = sorted(panels, key=lambda name: name != "loss")
    return {name: sorted(panels[name], key=lambda k: k.startswith("val_")) for name in order}


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=110)
    return target
