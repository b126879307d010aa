"""Features from a customer table that already holds its own churn label.

One row per customer (or per customer and snapshot date): an optional id column (without
one, a row's id is its row number), a label column, an optional snapshot-time column, and
every other column a feature unless excluded. Numbers stay numbers; text, booleans given as
text and categoricals become categories with the levels seen in training (a level unseen at
scoring becomes missing). Left out, each with a note (:func:`column_kind`): date columns
other than the snapshot time (a date is not comparable across snapshots), text columns whose
values are nearly all distinct and integer columns equal to the row number (identifiers).
Text columns that are numbers but for a few blanks are read as numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnlab.checks import check_fitted, plain
from churnlab.events import EventValidationError
from churnlab.events.dates import parse_text_timestamps
from churnlab.features.dictionary import escape_braces

__all__ = ["LABEL_VALUES", "NO_ID_NOTE", "TableFeatures", "column_kind", "feature_name", "parse_labels"]

#: A text column is read as numbers when at least this share of its non-blank values are numbers.
TEXT_NUMBER_SHARE = 0.95
#: A text column is an identifier when its distinct values exceed this share of the rows, and
IDENTIFIER_SHARE = 0.9
#: this many.
IDENTIFIER_LEVELS = 50
NO_ID_NOTE = "no id column: rows are identified by their row number (0-based position in the file)"

#: Label spellings accepted (any case, surrounding spaces ignored), and what they mean.
LABEL_VALUES = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}


def parse_labels(values: pd.Series, where: str, *, positive: str | None = None) -> np.ndarray:
    """0/1 labels from 1/0, true/false or yes/no in any case; any other value (missing
    included) is an error naming ``where`` (``table.column``), the row and the value.

    With ``positive`` (config ``data.positive``), values equal to it (as text, surrounding
    spaces ignored; numbers by value) are 1 and the one other value is 0; a second other
    value, a missing value, or a ``positive`` that never occurs is an error naming it.

    >>> parse_labels(pd.Series(["Yes", "no", " TRUE", 0]), "customers.Churn").tolist()
    [1, 0, 1, 0]
    >>> parse_labels(pd.Series(["Attrited Customer", "Existing Customer"]), "t.Attrition_Flag",
    ...              positive="Attrited Customer").tolist()
    [1, 0]
    """
    if positive is not None:
        return _labels_by_positive(values, where, str(positive))
    text = values.astype(object).map(lambda v: str(plain(v)).strip().lower() if pd.notna(v) else None)
    out = text.map(LABEL_VALUES)
    bad = out.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EventValidationError(
            f"{where}: labels must be 1/0, true/false or yes/no; {int(bad.sum())} bad row(s); "
            f"first at row {row}: {'missing' if pd.isna(values.iloc[row]) else repr(plain(values.iloc[row]))}"
        )
    return out.to_numpy(dtype=np.int64)


def _same_label(value, positive: str) -> bool:
    text = str(plain(value)).strip()
    if text == positive.strip():
        return True
    a, b = pd.to_numeric(pd.Series([text, positive.strip()]), errors="coerce")
    return bool(pd.notna(a) and pd.notna(b) and a == b)


def _labels_by_positive(values: pd.Series, where: str, positive: str) -> np.ndarray:
    missing = values.isna().to_numpy()
    if missing.any():
        raise EventValidationError(f"{where}: missing label; {int(missing.sum())} bad row(s); first at row {int(np.flatnonzero(missing)[0])}")
    levels = {str(plain(v)).strip(): v for v in pd.unique(values)}
    is_pos = {k: _same_label(v, positive) for k, v in levels.items()}
    if not any(is_pos.values()):
        raise EventValidationError(f"{where}: data.positive {positive!r} is not a value of the column; its values are "
                                   f"{sorted(levels)[:10]}")
    others = [k for k, p in is_pos.items() if not p]
    if len(others) > 1:
        text = values.astype(object).map(lambda v: str(plain(v)).strip())
        bad = (text != others[0]).to_numpy() & ~text.map(is_pos).to_numpy(dtype=bool)
        row = int(np.flatnonzero(bad)[0])
        raise EventValidationError(
            f"{where}: with data.positive {positive!r} the labels must be it or one other value ({others[0]!r}); "
            f"{int(bad.sum())} bad row(s); first at row {row}: {plain(values.iloc[row])!r}"
        )
    return values.astype(object).map(lambda v: is_pos[str(plain(v)).strip()]).to_numpy(dtype=np.int64)


def feature_name(column: str) -> str:
    """A column name LightGBM accepts (no JSON punctuation), readable."""
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(column)).strip("_") or "column"


def text_numbers(s: pd.Series) -> pd.Series:
    """A text column read as numbers: blanks, whitespace, text and non-finite values missing."""
    num = pd.to_numeric(s.astype(object).where(s.isna(), s.astype(str).str.strip()), errors="coerce")
    return num.astype("float64").where(np.isfinite(num.astype("float64")))


def column_kind(s: pd.Series, column: str, *, date_format: str | None = None) -> tuple[str, str | None]:
    """How a column of a labelled table is used, decided on the whole table in file order.

    Returns
    -------
    (kind, note)
        ``kind`` is ``"number"``, ``"text number"`` (numbers stored as text: read as numbers,
        blanks missing), ``"category"``, or left out: ``"dates"`` (datetimes, or text whose
        every value is an ISO date, or matches ``date_format``) and ``"identifier"`` (text
        with more than 90% and more than 50 distinct values; integers equal to the row number,
        0..n-1 or 1..n). ``note`` says what was decided, for the run's notes (None: nothing
        to say).

    Examples
    --------
    >>> column_kind(pd.Series(["2024-01-05", None, "2024-02-01"]), "churn_date")
    ('dates', 'churn_date: dates, left out')
    >>> column_kind(pd.Series(["29.85", " ", "1889.5"] * 40), "TotalCharges")[1]
    'TotalCharges: numbers stored as text, read as numbers; 40 value(s) that are not numbers (blank or text) became missing'
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "dates", f"{column}: dates, left out"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "category", None
    n = len(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        return "number", None
    if pd.api.types.is_numeric_dtype(s.dtype):
        if pd.api.types.is_integer_dtype(s.dtype) and n > IDENTIFIER_LEVELS:
            values = s.to_numpy()
            for first in (0, 1):
                if np.array_equal(values, np.arange(first, first + n)):
                    return "identifier", (f"{column}: the row number ({first}..{first + n - 1:,}), left out as an identifier; "
                                          "list it in data.exclude to silence this")
        return "number", None
    values = s.dropna()
    if values.empty:
        return "category", None
    if parse_text_timestamps(values, date_format)[0] is not None:
        return "dates", f"{column}: dates, left out"
    text = values.astype(str).str.strip()
    nonblank = int((text != "").sum())
    parsed = int(text_numbers(values).notna().sum())
    if nonblank and parsed >= TEXT_NUMBER_SHARE * nonblank:
        return "text number", (f"{column}: numbers stored as text, read as numbers; {len(values) - parsed:,} value(s) "
                               "that are not numbers (blank or text) became missing")
    distinct = int(values.astype(str).nunique())
    if distinct > IDENTIFIER_SHARE * n and distinct > IDENTIFIER_LEVELS:
        return "identifier", (f"{column}: {distinct:,} distinct values in {n:,} rows, left out as an identifier; "
                              "list it in data.exclude to silence this")
    if nonblank and parsed >= 0.5 * nonblank:
        return "category", (f"{column}: {parsed:,} of {nonblank:,} non-blank values ({parsed / nonblank:.1%}) are numbers, "
                            f"under {TEXT_NUMBER_SHARE:.0%}: kept as text categories")
    return "category", None


class TableFeatures:
    """The feature builder of a labelled customer table: fitted on the training rows, it turns
    any table with the same columns into the model's feature frame.

    Parameters
    ----------
    id_column : str or None
        The customer id; None: a row's id is its row number (the frame's integer index, as a
        file is read, 0-based; otherwise its position).
    label_column : str
        The churn label (ignored, and optional, at scoring).
    time_column : str, optional
        The snapshot date of each row.
    table : str
        The table's name in error messages.
    exclude : sequence of str
        Columns left out of the features (the id, label and time columns cannot be).
    date_format : str, optional
        strftime format of text dates (default: ISO 8601 only): text columns of dates are left out.

    Attributes
    ----------
    feature_names_ : list of str
        Feature names (the columns with anything but letters, digits and ``_`` replaced).
    columns_ : dict
        Feature name -> the table's column.
    categories_ : dict
        Feature name -> levels seen in training, for text columns.
    dropped_ : list of str
        Date columns not used as features.
    identifiers_ : list of str
        Identifier-like columns not used as features (see :func:`column_kind`).
    excluded_ : list of str
        The columns of ``exclude``.
    text_numbers_ : list of str
        Feature names of text columns read as numbers (the same at scoring).
    notes_ : list of str
        What was left out or converted, for the run's notes.

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a", "b", "c"], "Churn": ["Yes", "No", "No"],
    ...                   "tenure": [1, 30, 12], "Contract": ["Month-to-month", "Two year", "One year"]})
    >>> tf = TableFeatures("id", "Churn").fit(t)
    >>> X = tf.transform(pd.DataFrame({"id": ["d"], "tenure": [5], "Contract": ["Weekly"]}))
    >>> X.loc["d", "tenure"], X.loc["d", "Contract"]
    (np.float64(5.0), nan)
    """

    def __init__(self, id_column: str | None, label_column: str, time_column: str | None = None, table: str = "customers",
                 *, exclude: Sequence[str] = (), date_format: str | None = None):
        self.id_column = id_column
        self.label_column = label_column
        self.time_column = time_column
        self.table = table
        self.exclude = list(exclude)
        self.date_format = date_format

    def _check_columns(self, df: pd.DataFrame, needed: list[str]) -> None:
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise EventValidationError(f"{self.table}: missing column(s) {missing}; got columns {list(df.columns)}")

    def fit(self, df: pd.DataFrame, *, kinds_from: pd.DataFrame | None = None) -> "TableFeatures":
        """Learn the feature columns, their kinds and the text levels from ``df``.

        ``kinds_from``: the table, in file order, whose columns decide each column's kind
        (:func:`column_kind`; no label is read), e.g. the whole table when ``df`` is its
        training rows; default ``df``. Text levels are learned from ``df`` only.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"`df` must be a DataFrame, got {type(df).__name__}")
        keys = [c for c in (self.id_column, self.label_column, self.time_column) if c]
        self._check_columns(df, keys)
        whole = df if kinds_from is None else kinds_from
        kept = [c for c in self.exclude if c in keys]
        if kept:
            raise EventValidationError(f"{self.table}: exclude cannot name the id, label or time column, got {kept}")
        unknown = [c for c in self.exclude if c not in df.columns]
        if unknown:
            raise EventValidationError(f"{self.table}: exclude names column(s) not in the table: {unknown}; "
                                       f"its columns are {list(df.columns)}")
        self.columns_: dict[str, str] = {}
        self.categories_: dict[str, list[str]] = {}
        self.numeric_: list[str] = []
        self.dropped_: list[str] = []
        self.identifiers_: list[str] = []
        self.excluded_ = [c for c in df.columns if c in self.exclude]
        self.text_numbers_: list[str] = []
        self.notes_ = [NO_ID_NOTE] if self.id_column is None else []
        if self.excluded_:
            self.notes_.append(f"left out as data.exclude lists: {', '.join(map(str, self.excluded_))}")
        for col in df.columns:
            if col in keys or col in self.exclude:
                continue
            s = df[col]
            kind, note = column_kind(whole[col], str(col), date_format=self.date_format)
            if note:
                self.notes_.append(note)
            if kind in ("dates", "identifier"):
                (self.dropped_ if kind == "dates" else self.identifiers_).append(col)
                continue
            name = feature_name(col)
            if name in self.columns_:
                raise EventValidationError(
                    f"{self.table}: columns {self.columns_[name]!r} and {col!r} both become feature {name!r}; rename one"
                )
            self.columns_[name] = col
            if kind in ("number", "text number"):
                self.numeric_.append(name)
                if kind == "text number":
                    self.text_numbers_.append(name)
            else:
                self.categories_[name] = sorted({str(v) for v in s.dropna()})
        if not self.columns_:
            raise EventValidationError(f"{self.table}: no feature column besides {keys}")
        self.feature_names_ = list(self.columns_)
        return self

    def ids(self, df: pd.DataFrame) -> pd.Index:
        """The id column as an index: integers stay integers, anything else is text. Without an
        id column, the row numbers: ``df``'s integer index (a file's rows as read, 0-based; a
        slice keeps them), otherwise 0..n-1."""
        check_fitted(self, "feature_names_")
        if self.id_column is None:
            at = df.index
            rows = at.to_numpy() if pd.api.types.is_integer_dtype(at.dtype) else np.arange(len(df))
            return pd.Index(rows.astype("int64"), name="customer_id")
        self._check_columns(df, [self.id_column])
        s = df[self.id_column]
        if s.isna().any():
            row = int(np.flatnonzero(s.isna().to_numpy())[0])
            raise EventValidationError(f"{self.table}.{self.id_column}: missing id; first at row {row}")
        values = s.to_numpy() if pd.api.types.is_integer_dtype(s.dtype) else s.astype(str).to_numpy()
        return pd.Index(values, name="customer_id")

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """The feature frame of ``df``'s rows, indexed by customer id (the label column, if
        present, is not read). Missing feature columns are an error naming them."""
        check_fitted(self, "feature_names_")
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"`df` must be a DataFrame, got {type(df).__name__}")
        self._check_columns(df, [c for c in (self.id_column, *self.columns_.values()) if c is not None])
        out = {}
        for name, col in self.columns_.items():
            s = df[col]
            if name in self.categories_:
                text = s.astype(object).where(s.isna(), s.astype(str))
                out[name] = pd.Categorical(text, categories=self.categories_[name])
            elif name in self.text_numbers_:  # read as in training: what is not a number is missing
                out[name] = text_numbers(s).to_numpy()
            else:
                num = pd.to_numeric(s, errors="coerce")
                bad = num.isna() & s.notna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise EventValidationError(f"{self.table}.{col}: not a number; first at row {row}: {plain(s.iloc[row])!r}")
                out[name] = num.astype("float64").to_numpy()
        return pd.DataFrame(out, index=self.ids(df))[self.feature_names_]

    def labels(self, df: pd.DataFrame, *, positive: str | None = None) -> np.ndarray:
        """The label column as 0/1 (see :func:`parse_labels`; ``positive``: the value meaning churned)."""
        self._check_columns(df, [self.label_column])
        return parse_labels(df[self.label_column], f"{self.table}.{self.label_column}", positive=positive)

    def to_dict(self) -> dict:
        """The fitted state as plain JSON-able data (travels inside the MLflow model)."""
        check_fitted(self, "feature_names_")
        return {
            "kind": "table",
            "id_column": self.id_column,
            "label_column": self.label_column,
            "time_column": self.time_column,
            "table": self.table,
            "columns": self.columns_,
            "categories": self.categories_,
            "numeric": self.numeric_,
            "dropped": self.dropped_,
            "identifiers": self.identifiers_,
            "excluded": self.excluded_,
            "text_numbers": self.text_numbers_,
            "feature_names": self.feature_names_,
        }

    @classmethod
    def from_dict(cls, state: dict) -> "TableFeatures":
        tf = cls(state["id_column"], state["label_column"], state["time_column"], state.get("table", "customers"),
                 exclude=state.get("excluded", []))
        tf.columns_ = dict(state["columns"])
        tf.categories_ = {k: list(v) for k, v in state["categories"].items()}
        tf.numeric_ = list(state["numeric"])
        tf.dropped_ = list(state["dropped"])
        # absent from models stored before these were kept
        tf.identifiers_ = list(state.get("identifiers", []))
        tf.excluded_ = list(tf.exclude)
        tf.text_numbers_ = list(state.get("text_numbers", []))
        tf.notes_ = []
        tf.feature_names_ = list(state["feature_names"])
        return tf

    def feature_dictionary(self) -> pd.DataFrame:
        """One row per feature: name, family, driver group (the column), meaning, reason template."""
        check_fitted(self, "feature_names_")
        rows = []
        for name, col in self.columns_.items():
            text = name in self.categories_
            shown = escape_braces(str(col))  # the user's name, literal in the reason template
            reason = f"{shown} = {{value}}" if text else f"{shown} = {{value:,.10g}}"
            rows.append((name, "table", str(col), f"column `{col}` of the customer table ({'text' if text else 'number'})", reason))
        return pd.DataFrame(rows, columns=["feature", "family", "group", "meaning", "reason"])
