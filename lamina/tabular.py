"""Tables from CSV files into model inputs: the notes' chapter 13 ("not valued based data").

"The computer can only process number-based data ... For null values, we can drop them or
compute them with other not null values." :class:`TabularPipeline` does exactly that, fitted on the
training rows only (so nothing about the test rows leaks into training):

* rows without a label are dropped (a label cannot be imputed);
* nulls in the features are dropped (``nulls="drop"``) or imputed with ``SimpleImputer``
  (``"mean"``, ``"median"`` or ``"most_frequent"``; string columns always use the most
  frequent value);
* string feature columns are one-hot encoded over the categories seen in training; a category
  unseen in training is an error at transform time (``handle_unknown="error"``, the default,
  as scikit-learn's ``OneHotEncoder``) or an all-zero row (``handle_unknown="ignore"``);
* a column whose values are mostly numbers is numeric: a cell there that is not a number is
  an error naming the column, the row and the value (it is not one-hot encoded silently);
* a label column with a single class in the training rows is an error (nothing to learn);
* numeric features are standardised with ``StandardScaler``;
* string labels become class indices with ``LabelEncoder`` (kept to turn predictions back into
  names).

pandas is an optional extra (``pip install lamina[tabular]``), imported when a CSV is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HANDLE_UNKNOWN", "NULL_STRATEGIES", "TabularPipeline", "drop_missing", "read_csv",
    "require_pandas", "select_columns",
]

NULL_STRATEGIES = ("drop", "mean", "median", "most_frequent")
HANDLE_UNKNOWN = ("error", "ignore")
_INSTALL_HINT = "install lamina[tabular] (pip install 'lamina[tabular]', or pip install pandas)"


def require_pandas() -> Any:
    """Import pandas, or fail with the install command.

    Raises:
        ImportError: pandas is not installed.
    """
    try:
        import pandas
    except ImportError as err:
        raise ImportError(f"reading CSV files needs pandas: {_INSTALL_HINT}") from err
    return pandas


def read_csv(path: str | os.PathLike[str]) -> Any:
    """Read a CSV file with a header row into a pandas ``DataFrame``.

    Empty cells (and ``NA``, ``NaN``, ``null``, ...) become nulls.

    Args:
        path: the ``.csv`` file.

    Returns:
        The ``DataFrame``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is empty, not valid CSV or not text, or two columns have the same
            name (pandas would rename the second one silently).
        ImportError: pandas is missing.
    """
    pd = require_pandas()
    file = Path(path)
    if not file.is_file():
        kind = "is a directory" if file.is_dir() else "no such file"
        raise FileNotFoundError(f"read_csv: '{file}': {kind}")
    try:
        frame = pd.read_csv(file)
    except pd.errors.EmptyDataError:
        raise ValueError(f"read_csv: '{file}' is empty (expected a header row and data)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise ValueError(f"read_csv: '{file}' is not a valid CSV file: {reason}") from None
    if frame.shape[1] == 0:
        raise ValueError(f"read_csv: '{file}' has no columns")
    header = pd.read_csv(file, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = [str(v) for v in header.iloc[0].tolist()] if len(header) else []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"read_csv: '{file}' has two columns named {name!r} (columns "
                             f"{seen[name] + 1} and {i + 1}): rename one so that every column "
                             f"has its own name")
        seen[name] = i
    return frame


def select_columns(frame: Any, columns: Sequence[str], where: str) -> None:
    """Check that ``frame`` has every name in ``columns``.

    Args:
        frame: a ``DataFrame``.
        columns: the names needed.
        where: what the data is, for the message (``"read_csv: 'x.csv'"``).

    Raises:
        ValueError: a column is missing; the message lists the columns there are.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise ValueError(
            f"{where}: no column {names}; the columns are: {', '.join(map(str, frame.columns))}"
        )


def drop_missing(frame: Any, columns: Sequence[str]) -> tuple[Any, int]:
    """Drop the rows with a null in any of ``columns``.

    Args:
        frame: a ``DataFrame``.
        columns: the columns to look at.

    Returns:
        ``(rows kept, number of rows dropped)``; the index is renumbered ``0..n-1``.
    """
    from lamina.preprocessing import dropna

    complete = dropna(frame[list(columns)])
    kept = frame.loc[complete.index].reset_index(drop=True)
    return kept, len(frame) - len(kept)


class TabularPipeline:
    """Turn rows of a table into a float32 feature matrix, fitted on the training rows.

    Args:
        label: the label column (never a feature).
        features: the feature columns, in order; ``None`` takes every column but ``label``.
        nulls: ``"drop"`` (rows with nulls must be removed before :meth:`transform`, which
            rejects them) or an imputation strategy, ``"mean"``, ``"median"``, ``"most_frequent"``.
        standardize: standardise numeric columns to zero mean and unit variance.
        handle_unknown: what :meth:`transform` does with a category not seen in training:
            ``"error"`` (ValueError naming column, row and value) or ``"ignore"`` (an all-zero
            one-hot row, as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).

    Attributes:
        numeric_: the numeric feature columns.
        categories_: string column -> its categories in training, in one-hot order.
        feature_names_: the output columns (``"island=Dream"`` for one-hot ones).

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"size": [1.0, None, 3.0], "color": ["red", "blue", "red"],
        ...                       "kind": ["a", "b", "a"]})
        >>> pipe = TabularPipeline(label="kind", nulls="mean").fit(frame)
        >>> pipe.feature_names_
        ['size', 'color=blue', 'color=red']
        >>> pipe.transform(frame).astype(float).round(2).tolist()
        [[-1.22, 0.0, 1.0], [0.0, 1.0, 0.0], [1.22, 0.0, 1.0]]
    """

    kind = "tabular"

    def __init__(
        self,
        label: str | None,
        features: Sequence[str] | None = None,
        nulls: str = "drop",
        standardize: bool = True,
        handle_unknown: str = "error",
    ) -> None:
        if nulls not in NULL_STRATEGIES:
            raise ValueError(
                f"TabularPipeline(nulls={nulls!r}): expected one of {', '.join(NULL_STRATEGIES)}"
            )
        if handle_unknown not in HANDLE_UNKNOWN:
            raise ValueError(f"TabularPipeline(handle_unknown={handle_unknown!r}): expected one "
                             f"of {', '.join(HANDLE_UNKNOWN)}")
        self.handle_unknown = handle_unknown
        self.label = label
        self.features = None if features is None else [str(f) for f in features]
        self.nulls = nulls
        self.standardize = bool(standardize)
        self.numeric_: list[str] = []
        self.categories_: dict[str, list[str]] = {}
        self._imputer: Any = None
        self._category_fill: dict[str, str] = {}
        self._scaler: Any = None

    # ------------------------------------------------------------------ fitting
    def fit(self, frame: Any) -> TabularPipeline:
        """Learn the columns, categories, imputation values and scaling from training rows.

        Args:
            frame: a ``DataFrame`` of training rows (the label column may be there).

        Returns:
            self.

        Raises:
            ValueError: a feature column is missing, there are no feature columns, a mostly
                numeric column holds a value that is not a number (the message names column,
                row and value), or the label column (when ``frame`` has it) holds one class.
        """
        from lamina.preprocessing import SimpleImputer, StandardScaler

        if self.features is None:
            self.features = [str(c) for c in frame.columns if c != self.label]
        if not self.features:
            raise ValueError("TabularPipeline.fit: no feature columns (only the label)")
        if self.label in self.features:
            raise ValueError(f"TabularPipeline: the label {self.label!r} is also a feature")
        select_columns(frame, self.features, "TabularPipeline.fit")
        pd = require_pandas()
        if self.label is not None and self.label in frame.columns:
            _check_classes(frame[self.label], self.label)
        self.numeric_ = [c for c in self.features
                         if pd.api.types.is_numeric_dtype(frame[c].dtype)]
        for column in self.features:
            if column not in self.numeric_:
                _reject_stray_text(frame[column], column, "TabularPipeline.fit")
        strings = [c for c in self.features if c not in self.numeric_]
        self.categories_ = {}
        self._category_fill = {}
        for column in strings:
            values = frame[column].dropna().astype(str)
            self.categories_[column] = sorted(values.unique().tolist())
            if self.nulls != "drop" and len(values):
                self._category_fill[column] = str(values.value_counts().idxmax())
        numeric = self._numeric_block(frame)
        self._imputer = None
        if self.nulls != "drop" and self.numeric_:
            self._imputer = SimpleImputer(strategy=self.nulls).fit(numeric)
            numeric = self._imputer.transform(numeric)
        self._scaler = StandardScaler().fit(numeric) if self.standardize and self.numeric_ \
            else None
        return self

    @property
    def feature_names_(self) -> list[str]:
        names = list(self.numeric_)
        for column, categories in self.categories_.items():
            names += [f"{column}={c}" for c in categories]
        return names

    @property
    def input_shape(self) -> tuple[int]:
        """One sample's shape, ``(number of output features,)``."""
        return (len(self.feature_names_),)

    # ------------------------------------------------------------------ transforming
    def transform(self, frame: Any, handle_unknown: str | None = None) -> np.ndarray:
        """The feature matrix of ``frame``'s rows.

        Args:
            frame: a ``DataFrame`` with (at least) the feature columns; others are ignored.
            handle_unknown: overrides the pipeline's ``handle_unknown`` for this call (e.g.
                ``"ignore"`` for held-out rows of the training file).

        Returns:
            float32 array.

        Shape:
            ``(len(frame), len(feature_names_))``.

        Raises:
            ValueError: a feature column is missing, a row has nulls when ``nulls="drop"``
                (the message names the first such row and column), a numeric column holds a
                value that is not a number, or (``handle_unknown="error"``) a category was not
                seen in training; the messages name the column, the row and the value.
        """
        if self.features is None:
            raise ValueError("TabularPipeline.transform: call fit first")
        select_columns(frame, self.features, "TabularPipeline.transform")
        if self.nulls == "drop":
            self._reject_nulls(frame)
        numeric = self._numeric_block(frame)
        if self._imputer is not None:
            numeric = self._imputer.transform(numeric)
        if self._scaler is not None:
            numeric = self._scaler.transform(numeric)
        blocks = [np.asarray(numeric, dtype=np.float64)]
        for column, categories in self.categories_.items():
            values = frame[column]
            if column in self._category_fill:
                values = values.fillna(self._category_fill[column])
            text = values.astype(str).to_numpy()
            if (handle_unknown or self.handle_unknown) == "error":
                _reject_unknown(text, categories, column, frame.index)
            blocks.append((text[:, None] == np.asarray(categories, dtype=object)[None, :])
                          .astype(np.float64))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def fit_transform(self, frame: Any) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` on the same rows."""
        return self.fit(frame).transform(frame)

    def _numeric_block(self, frame: Any) -> np.ndarray:
        if not self.numeric_:
            return np.zeros((len(frame), 0))
        try:
            return frame[self.numeric_].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as err:
            for column in self.numeric_:
                _reject_stray_text(frame[column], column, "TabularPipeline.transform",
                                   numeric=True)
            raise ValueError(
                f"TabularPipeline: numeric columns {self.numeric_} hold non-numbers ({err})"
            ) from None

    def _reject_nulls(self, frame: Any) -> None:
        nulls = frame[self.features].isna()
        if nulls.to_numpy().any():
            row = int(np.argmax(nulls.to_numpy().any(axis=1)))
            column = str(nulls.columns[nulls.iloc[row].to_numpy()][0])
            raise ValueError(
                f"row {row + 1} has no value in column '{column}' ({int(nulls.sum().sum())} "
                "empty cells in all); the model was trained with nulls = \"drop\": fill or drop "
                "those rows first"
            )

    # ------------------------------------------------------------------ saving
    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable description from which :meth:`from_config` rebuilds the fit."""
        return {
            "kind": self.kind,
            "label": self.label,
            "features": self.features,
            "nulls": self.nulls,
            "standardize": self.standardize,
            "handle_unknown": self.handle_unknown,
            "numeric": self.numeric_,
            "categories": self.categories_,
            "category_fill": self._category_fill,
            "imputer": None if self._imputer is None else self._imputer.to_config(),
            "scaler": None if self._scaler is None else self._scaler.to_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TabularPipeline:
        """Rebuild a fitted pipeline from :meth:`to_config`'s output.

        Raises:
            ValueError: ``config`` is not such a description.
        """
        from lamina.preprocessing import SimpleImputer, StandardScaler

        try:
            pipe = cls(config["label"], config["features"], config["nulls"],
                       config["standardize"], config.get("handle_unknown", "error"))
            pipe.numeric_ = [str(c) for c in config["numeric"]]
            pipe.categories_ = {str(k): [str(c) for c in v]
                                for k, v in config["categories"].items()}
            pipe._category_fill = {str(k): str(v) for k, v in config["category_fill"].items()}
            if config["imputer"] is not None:
                pipe._imputer = SimpleImputer.from_config(config["imputer"])
            if config["scaler"] is not None:
                pipe._scaler = StandardScaler.from_config(config["scaler"])
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"TabularPipeline.from_config: malformed description ({err})") \
                from None
        return pipe

    def __repr__(self) -> str:
        return (f"TabularPipeline(label={self.label!r}, features={self.features!r}, "
                f"nulls={self.nulls!r}, standardize={self.standardize}, "
                f"handle_unknown={self.handle_unknown!r})")


def _row(index, position: int) -> str:
    """A row as messages name it: its 1-based number (the frame's own index label when that is
    an integer, as after ``read_csv``)."""
    label = index[position]
    return f"row {label + 1}" if isinstance(label, (int, np.integer)) else f"row {label!r}"


def _check_classes(labels: Any, column: str) -> None:
    values = labels.dropna().unique()
    if len(values) == 1:
        raise ValueError(f"TabularPipeline.fit: the label column '{column}' has a single class "
                         f"({values[0]!r}) in the {int(labels.notna().sum())} training rows; a "
                         f"classifier needs at least two classes to learn anything")


def _reject_stray_text(values: Any, column: str, where: str, numeric: bool = False) -> None:
    """Raise ValueError when a text column is mostly numbers (or ``numeric``): it names the
    first cell that is not a number. A column decides by majority: more than half of its
    non-empty cells numbers -> a numeric column with bad cells, else a categorical column."""
    pd = require_pandas()
    present = values.dropna()
    if not len(present):
        return
    as_numbers = pd.to_numeric(present, errors="coerce")
    good = int(as_numbers.notna().sum())
    if not numeric and 2 * good <= len(present):
        return  # mostly text: a categorical column
    bad = np.flatnonzero(as_numbers.isna().to_numpy())
    if not len(bad):
        return
    position = values.index.get_loc(present.index[bad[0]])
    raise ValueError(
        f"{where}: column '{column}' is numeric ({good} of its {len(present)} non-empty values "
        f"are numbers) but {_row(values.index, position)} holds {present.iloc[bad[0]]!r}, which "
        f"is not a number ({len(bad)} such cell{'s' * (len(bad) != 1)}); fix or empty those "
        f"cells (an empty cell is a null, see nulls=)")


def _reject_unknown(text: np.ndarray, categories: list[str], column: str, index: Any) -> None:
    known = np.isin(text, np.asarray(categories, dtype=object))
    if known.all():
        return
    position = int(np.argmin(known))
    shown = ", ".join(repr(c) for c in categories[:10]) + (", ..." if len(categories) > 10 else "")
    raise ValueError(
        f"TabularPipeline.transform: column '{column}' holds {text[position]!r} at "
        f"{_row(index, position)}, a category not seen in training (known: {shown}; "
        f"{int((~known).sum())} such cell{'s' * (int((~known).sum()) != 1)}); pass "
        f"handle_unknown=\"ignore\" to encode unseen categories as all-zero one-hot rows"
    )
