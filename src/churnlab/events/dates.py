"""Text timestamps read without guessing: ISO 8601 by default, or one explicit format.

``05/01/2024`` may be 5 January or 1 May, and a parser that guesses per value can read one
row month-first and the next (``13/01/2024``) day-first. Without ``date_format`` only ISO
text (:data:`churnlab.checks.ISO_TIMESTAMP`) is read; with it, every text value must match
that ``strftime`` format. Date objects (``datetime``, ``date``, ``pd.Timestamp``,
``numpy.datetime64``) in the same column are taken as they are.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnlab.checks import ISO_TIMESTAMP

__all__ = ["check_date_format", "matches", "parse_text_timestamps"]

# An ISO value carries a UTC offset when one follows its time of day.
_OFFSET = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s?(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"


def matches(text: pd.Series, pattern: str, *, whole: bool = True) -> np.ndarray:
    """Which values of a text column match ``pattern`` (RE2 syntax), the whole value or a
    part of it: in Arrow, not value by value in Python.

    >>> matches(pd.Series(["007", "7"]), "0|[1-9][0-9]*").tolist()
    [False, True]
    """
    arr = pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    found = pc.match_substring_regex(arr, f"^(?:{pattern})$" if whole else pattern)
    return found.to_numpy(zero_copy_only=False).astype(bool)


def check_date_format(value, name: str = "date_format") -> str | None:
    """``value`` if it is None or a ``strftime`` format (text holding a ``%`` directive)."""
    if value is None:
        return None
    if not isinstance(value, str) or "%" not in value:
        raise ValueError(f"`{name}` must be a strftime format such as '%d/%m/%Y', got {value!r}")
    return value


def parse_text_timestamps(
    s: pd.Series, date_format: str | None = None,
) -> tuple[pd.Series | None, tuple[str, np.ndarray | None] | None]:
    """A text (or object) column as naive UTC timestamps.

    Returns
    -------
    (timestamps, None), or (None, (problem, rows)) where ``rows`` marks the offending
    values (None when the problem names its own examples).
    """
    values = s.astype(object)
    nonnull = values.notna().to_numpy()
    if isinstance(s.dtype, pd.StringDtype) or pd.api.types.infer_dtype(values, skipna=True) == "string":
        is_text = nonnull
    else:
        is_text = values.map(lambda v: isinstance(v, str)).to_numpy() & nonnull
    datelike = np.zeros(len(s), dtype=bool)
    rest = nonnull & ~is_text
    if rest.any():
        datelike[rest] = values[rest].map(lambda v: isinstance(v, (dt.date, np.datetime64))).to_numpy(dtype=bool)
    other = nonnull & ~is_text & ~datelike
    if other.any():
        return None, ("not a date or timestamp; ", other)
    text = values[is_text].astype(str)
    if date_format is None:
        iso = matches(text, ISO_TIMESTAMP.pattern)
        if not iso.all():
            bad = np.zeros(len(s), dtype=bool)
            bad[np.flatnonzero(is_text)[~iso]] = True
            return None, (
                "not an ISO date (YYYY-MM-DD, optionally with a time and UTC offset); for other forms give the "
                "format (date_format='%d/%m/%Y'; config: data.date_format; CLI --date-format); ", bad,
            )
        aware = np.zeros(len(s), dtype=bool)
        aware[is_text] = matches(text, _OFFSET, whole=False)
        aware[datelike] = values[datelike].map(lambda v: getattr(v, "tzinfo", None) is not None).to_numpy(dtype=bool)
        if aware.any() and not aware[nonnull].all():
            a = _shown(values[aware].iloc[0])
            b = _shown(values[nonnull & ~aware].iloc[0])
            return None, (f"mixes timezone-aware and naive timestamps, e.g. {a!r} and {b!r}; give every value an offset or none", None)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    if is_text.any():
        parsed = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce", utc=True)
        out[is_text] = parsed.dt.tz_localize(None).astype("datetime64[us]").to_numpy()
    if datelike.any():
        try:
            parsed = pd.to_datetime(values[datelike], utc=True, format="mixed")
        except (ValueError, TypeError, OverflowError) as exc:
            return None, (f"cannot read the date objects ({exc}); ", datelike)
        out[datelike] = parsed.dt.tz_localize(None).astype("datetime64[us]").to_numpy()
    bad = out.isna().to_numpy() & nonnull
    if bad.any():
        why = f"does not match date_format {date_format!r}; " if date_format is not None else "unparseable timestamp; "
        return None, (why, bad)
    return out, None


def _shown(v):
    """A value as shown in a message (text as text, timestamps as their ISO text)."""
    return str(v) if isinstance(v, (pd.Timestamp, dt.date, np.datetime64)) else v
