"""Features from a customer table that already holds its own churn label.

One row per customer (or per customer and snapshot date): an id column, a label column, an
optional snapshot-time column, and every other column a feature. Numbers stay numbers;
text, booleans given as text and categoricals become categories with the levels seen in
training (a level unseen at scoring becomes missing). Date columns other than the snapshot
time are not used as features (a date is not comparable across snapshots): they are listed
in ``dropped_``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from churnlab.checks import check_fitted, plain
from churnlab.events import EventValidationError
from churnlab.features.dictionary import escape_braces

__all__ = ["LABEL_VALUES", "TableFeatures", "feature_name", "parse_labels"]

#: Label spellings accepted (any case, surrounding spaces ignored), and what they mean.
LABEL_VALUES = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}


def parse_labels(values: pd.Series, where: str) -> np.ndarray:
    """0/1 labels from 1/0, true/false or yes/no in any case; any other value (missing
    included) is an error naming ``where`` (``table.column``), the row and the value.

    >>> parse_labels(pd.Series(["Yes", "no", " TRUE", 0]), "customers.Churn").tolist()
    [1, 0, 1, 0]
    """
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


def feature_name(column: str) -> str:
    """A column name LightGBM accepts (no JSON punctuation), readable."""
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(column)).strip("_") or "column"


class TableFeatures:
    """The feature builder of a labelled customer table: fitted on the training rows, it turns
    any table with the same columns into the model's feature frame.

    Parameters
    ----------
    id_column : str
        The customer id.
    label_column : str
        The churn label (ignored, and optional, at scoring).
    time_column : str, optional
        The snapshot date of each row.
    table : str
        The table's name in error messages.

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

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a", "b", "c"], "Churn": ["Yes", "No", "No"],
    ...                   "tenure": [1, 30, 12], "Contract": ["Month-to-month", "Two year", "One year"]})
    >>> tf = TableFeatures("id", "Churn").fit(t)
    >>> X = tf.transform(pd.DataFrame({"id": ["d"], "tenure": [5], "Contract": ["Weekly"]}))
    >>> X.loc["d", "tenure"], X.loc["d", "Contract"]
    (np.float64(5.0), nan)
    """

    def __init__(self, id_column: str, label_column: str, time_column: str | None = None, table: str = "customers"):
        self.id_column = id_column
        self.label_column = label_column
        self.time_column = time_column
        self.table = table

    def _check_columns(self, df: pd.DataFrame, needed: list[str]) -> None:
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise EventValidationError(f"{self.table}: missing column(s) {missing}; got columns {list(df.columns)}")

    def fit(self, df: pd.DataFrame) -> "TableFeatures":
        """Learn the feature columns, their kinds and the text levels from ``df``."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"`df` must be a DataFrame, got {type(df).__name__}")
        keys = [self.id_column, self.label_column] + ([self.time_column] if self.time_column else [])
        self._check_columns(df, keys)
        self.columns_: dict[str, str] = {}
        self.categories_: dict[str, list[str]] = {}
        self.numeric_: list[str] = []
        self.dropped_: list[str] = []
        for col in df.columns:
            if col in keys:
                continue
            s = df[col]
            if pd.api.types.is_datetime64_any_dtype(s.dtype):
                self.dropped_.append(col)
                continue
            name = feature_name(col)
            if name in self.columns_:
                raise EventValidationError(
                    f"{self.table}: columns {self.columns_[name]!r} and {col!r} both become feature {name!r}; rename one"
                )
            self.columns_[name] = col
            if pd.api.types.is_bool_dtype(s.dtype) or (pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)):
                self.numeric_.append(name)
            else:
                self.categories_[name] = sorted({str(v) for v in s.dropna()})
        if not self.columns_:
            raise EventValidationError(f"{self.table}: no feature column besides {keys}")
        self.feature_names_ = list(self.columns_)
        return self

    def ids(self, df: pd.DataFrame) -> pd.Index:
        """The id column as an index: integers stay integers, anything else is text."""
        check_fitted(self, "feature_names_")
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
        self._check_columns(df, [self.id_column, *self.columns_.values()])
        out = {}
        for name, col in self.columns_.items():
            s = df[col]
            if name in self.categories_:
                text = s.astype(object).where(s.isna(), s.astype(str))
                out[name] = pd.Categorical(text, categories=self.categories_[name])
            else:
                num = pd.to_numeric(s, errors="coerce")
                bad = num.isna() & s.notna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise EventValidationError(f"{self.table}.{col}: not a number; first at row {row}: {plain(s.iloc[row])!r}")
                out[name] = num.astype("float64").to_numpy()
        return pd.DataFrame(out, index=self.ids(df))[self.feature_names_]

    def labels(self, df: pd.DataFrame) -> np.ndarray:
        """The label column as 0/1 (see :func:`parse_labels`)."""
        self._check_columns(df, [self.label_column])
        return parse_labels(df[self.label_column], f"{self.table}.{self.label_column}")

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
            "feature_names": self.feature_names_,
        }

    @classmethod
    def from_dict(cls, state: dict) -> "TableFeatures":
        tf = cls(state["id_column"], state["label_column"], state["time_column"], state.get("table", "customers"))
        tf.columns_ = dict(state["columns"])
        tf.categories_ = {k: list(v) for k, v in state["categories"].items()}
        tf.numeric_ = list(state["numeric"])
        tf.dropped_ = list(state["dropped"])
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
