"""Reports on a data file: the notes' "observe the data" step (chapter 10, step 2), printed by
``lamina inspect DATA``.

For a CSV: its shape, each column's type, nulls and distinct values, the class balance of the
label column (``--label``) and a numeric summary (pandas ``describe``). For an ``.npz``: each
array's shape, dtype, value range and NaNs, and the class balance of its label arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["class_balance", "inspect_csv", "inspect_file", "inspect_npz"]


def inspect_file(path: str | Path, label: str | None = None) -> str:
    """The report on a ``.csv`` or ``.npz`` file, as text.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another kind of file, or a ``label`` it does not hold.
    """
    path = Path(path)
    if not path.is_file():
        kind = "is a directory" if path.is_dir() else "no such file"
        raise FileNotFoundError(f"'{path}': {kind}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return inspect_csv(path, label)
    if suffix == ".npz":
        return inspect_npz(path, label)
    raise ValueError(f"'{path}': expected a .csv or .npz file")


def inspect_csv(path: Path, label: str | None) -> str:
    """The report on a CSV file, as text.

    Raises:
        ValueError: ``label`` is not a column; the file is not a valid CSV.
    """
    from lamina.tabular import read_csv, select_columns

    frame = read_csv(path)
    if label is not None:
        select_columns(frame, [label], f"'{path}'")
    lines = [f"file: {path}", f"shape: {frame.shape[0]} rows x {frame.shape[1]} columns", ""]
    rows = [("column", "dtype", "nulls", "distinct", "example")]
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        example = "" if present.empty else str(present.iloc[0])
        rows.append((str(column), str(values.dtype), _count_share(int(values.isna().sum()),
                                                                 len(frame)),
                     str(values.nunique()), example[:24]))
    lines += _table(rows)
    incomplete = int(frame.isna().any(axis=1).sum())
    lines.append(f"rows with a null: {_count_share(incomplete, len(frame))}")
    if label is not None:
        lines += ["", f"class balance of '{label}':"]
        lines += class_balance(frame[label].to_numpy())
    else:
        lines += ["", "(pass --label COLUMN to see the class balance of the labels)"]
    numeric = frame.select_dtypes("number")
    if not numeric.empty:
        lines += ["", "numeric summary:", numeric.describe().T.to_string(float_format="{:.4g}"
                                                                          .format)]
    return "\n".join(lines)


def inspect_npz(path: Path, label: str | None) -> str:
    """The report on an ``.npz`` archive, as text.

    Raises:
        ValueError: ``label`` is not an array of the archive; the file is not a valid ``.npz``.
    """
    from lamina.data import load_npz

    arrays = load_npz(path)
    if label is not None and label not in arrays:
        raise ValueError(f"'{path}': no array named {label!r}; the archive holds "
                         f"{sorted(arrays)}")
    lines = [f"file: {path}", f"arrays: {len(arrays)}", ""]
    rows = [("array", "shape", "dtype", "min", "max", "mean", "NaNs")]
    for name, array in arrays.items():
        rows.append((name, str(array.shape), str(array.dtype), *_stats(array)))
    lines += _table(rows)
    labels = [label] if label else [k for k in arrays if k in ("y", "y_train", "y_test",
                                                                 "labels", "targets")]
    for key in labels:
        lines += ["", f"class balance of '{key}':", *class_balance(arrays[key].reshape(-1))]
    return "\n".join(lines)


def class_balance(labels: np.ndarray) -> list[str]:
    """One line per class, in label order: the label, its count, its share and a bar.

    Nulls are counted apart; the last line is the ratio of the largest to the smallest class.

    Example:
        >>> print("\\n".join(class_balance(np.array(["dog", "cat", "dog", "dog"]))))
          cat  1    25.0%  ##########
          dog  3    75.0%  ##############################
          imbalance: largest / smallest class = 3.00
    """
    values = np.asarray(labels, dtype=object)
    missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in values],
                       dtype=bool)
    present = values[~missing]
    numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                  for v in present)
    names, counts = np.unique(present.astype(np.float64 if numeric else str),
                              return_counts=True)
    shown = [_label_text(n) for n in names]
    total = max(len(values), 1)
    width = max([len(n) for n in shown] + [6] * bool(missing.any()), default=1)
    count_width = len(str(counts.max(initial=0)))
    lines = []
    for name, count in zip(shown, counts, strict=True):
        share = count / total
        lines.append(f"  {name:<{width}}  {count:>{count_width}}  {100 * share:>6.1f}%  "
                     f"{'#' * round(40 * share)}")
    if missing.any():
        lines.append(f"  {'(null)':<{width}}  {int(missing.sum()):>{count_width}}")
    if len(counts) > 1:
        lines.append(f"  imbalance: largest / smallest class = {counts.max() / counts.min():.2f}")
    return lines


def _label_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _stats(array: np.ndarray) -> tuple[str, str, str, str]:
    if array.dtype.kind not in "biuf" or array.size == 0:
        return "", "", "", ""
    values = array.astype(np.float64)
    nans = int(np.isnan(values).sum())
    if nans == values.size:
        return "nan", "nan", "nan", str(nans)
    return (f"{np.nanmin(values):.4g}", f"{np.nanmax(values):.4g}",
            f"{np.nanmean(values):.4g}", str(nans))


def _count_share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else str(count)


def _table(rows: list[tuple[Any, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(f"{str(c):<{w}}" for c, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]
