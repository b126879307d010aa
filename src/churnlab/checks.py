"""Argument checks shared by the public functions: a bad value is named with the parameter,
e.g. "`horizon_days` must be a number > 0, got '90'", as a TypeError (wrong kind of value)
or a ValueError (right kind, wrong value)."""

from __future__ import annotations

import datetime as dt
import numbers
import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ISO_TIMESTAMP", "check_fitted", "check_number", "is_text_dtype", "microseconds", "plain", "to_timestamp"]

#: Text timestamps churnlab reads without a ``date_format``: ISO 8601, ``YYYY-MM-DD``, optionally
#: a time (``T`` or a space, ``HH:MM[:SS[.fraction]]``) and a UTC offset (``Z``, ``+HH``,
#: ``+HH:MM``, ``+HHMM``); surrounding spaces are ignored. Day-first or month-first text such
#: as ``01/07/2025`` is ambiguous and needs an explicit format.
ISO_TIMESTAMP = re.compile(
    r"\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:\s?(?:Z|[+-]\d{2}(?::?\d{2})?))?)?\s*"
)


def microseconds(t: pd.Timestamp) -> int:
    """A timestamp as integer microseconds since 1970, as ``ts`` columns read with
    ``to_numpy("datetime64[us]").view(np.int64)`` (the same numpy cast).

    >>> microseconds(pd.Timestamp("1970-01-02"))
    86400000000
    """
    return int(np.datetime64(t.to_datetime64(), "us").astype(np.int64))


def is_text_dtype(dtype) -> bool:
    """Whether a column of this dtype holds categories or text (pandas categorical, object or
    string) rather than numbers.

    >>> is_text_dtype(pd.CategoricalDtype(["a"])), is_text_dtype(np.dtype(float))
    (True, False)
    """
    return isinstance(dtype, pd.CategoricalDtype) or dtype == object or pd.api.types.is_string_dtype(dtype)


def check_number(
    value, name: str, *, above: float | None = None, at_least: float | None = None, integer: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number (not a bool, not text) within bounds.

    >>> check_number(90, "horizon_days", above=0)
    90.0
    >>> check_number("90", "horizon_days", above=0)
    Traceback (most recent call last):
    ...
    TypeError: `horizon_days` must be a number > 0, got '90'
    """
    bounds = " > " + f"{above:g}" if above is not None else (" >= " + f"{at_least:g}" if at_least is not None else "")
    kind = "a whole number" if integer else "a number"
    shown = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be {kind}{bounds}, got {shown!r}")
    v = float(value)
    if not np.isfinite(v) or (integer and v != np.floor(v)):
        raise ValueError(f"`{name}` must be {'a whole' if integer else 'a finite'} number{bounds}, got {shown!r}")
    if (above is not None and not v > above) or (at_least is not None and not v >= at_least):
        raise ValueError(f"`{name}` must be{bounds}, got {shown!r}")
    return v


def plain(value: Any) -> Any:
    """A value as Python shows it to people: ``4``, not ``np.int64(4)``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value)
    return value



def to_timestamp(value: Any, name: str = "as_of") -> pd.Timestamp:
    """Parse one point in time the way table timestamps are parsed (naive UTC).

    Accepted: ISO 8601 text (:data:`ISO_TIMESTAMP`), ``pd.Timestamp``, ``datetime.datetime``,
    ``datetime.date`` and ``numpy.datetime64``. Other text (``01/07/2025``, ``now``), numbers
    and booleans raise ValueError naming ``name`` and the value.

    >>> to_timestamp("2024-03-01")
    Timestamp('2024-03-01 00:00:00')
    >>> to_timestamp("01/07/2025")
    Traceback (most recent call last):
    ...
    ValueError: `as_of` must be a date in ISO form YYYY-MM-DD (optionally with a time and UTC offset), got '01/07/2025'
    """
    if value is None:
        raise ValueError(f"`{name}` is required, got None")
    if isinstance(value, str):
        if value.strip().lower() in ("now", "today", "yesterday", "tomorrow"):
            raise ValueError(f"`{name}` must be a date in ISO form YYYY-MM-DD, got {value!r}: give the date itself, e.g. "
                             f"{dt.date.today().isoformat()}")
        if not ISO_TIMESTAMP.fullmatch(value):
            raise ValueError(f"`{name}` must be a date in ISO form YYYY-MM-DD (optionally with a time and UTC offset), got {value!r}")
        value = value.strip()
    elif not isinstance(value, (pd.Timestamp, dt.date, np.datetime64)):  # dt.datetime is a dt.date
        raise ValueError(f"`{name}` must be a date or timestamp, got {plain(value)!r}")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`{name}` must be a date or timestamp, got {value!r}") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"`{name}` must be a date or timestamp, got {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("us")



def check_fitted(obj, attribute: str) -> None:
    """Raise scikit-learn's ``NotFittedError`` (a ValueError) unless ``obj`` has ``attribute``,
    the one every fitted object of its kind sets: "FeatureBuilder is not fitted; call fit first"."""
    if getattr(obj, attribute, None) is None:
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"{type(obj).__name__} is not fitted; call fit first")


def binary_labels(y, name: str, n: int) -> np.ndarray:
    """Labels as 0.0/1.0 floats, refused (naming ``name``) unless every one is 0 or 1."""
    arr = np.asarray(y, dtype=float) if not isinstance(y, (str, bytes)) else np.array([np.nan])
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"`{name}` must hold one label per row ({n}), got shape {arr.shape}")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"`{name}` must hold 0/1 labels, got {np.asarray(y, dtype=object)[bad][0]!r}")
    return arr


def check_feature_frame(model, X) -> None:
    """Raise unless ``X`` is a DataFrame holding every feature ``model`` was trained on
    (``model.feature_names_``), naming the missing ones; raise NotFittedError before fit."""
    check_fitted(model, "feature_names_")
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`X` must be a DataFrame of the features the model was trained on, got {type(X).__name__}")
    missing = [c for c in model.feature_names_ if c not in X.columns]
    if missing:
        raise ValueError(f"features: missing column(s) {missing[:10]} the model was trained on")
