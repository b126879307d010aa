"""User-derived text on its way out: to the terminal and into CSV files.

:func:`printable` makes any text safe to print on one line: control characters, line breaks
and bidirectional overrides become visible escapes (``\\x1b``, ``\\n``, ``\\u202e``).

:func:`csv_safe` neutralises spreadsheet formulas as OWASP recommends: a text cell (or
header) that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
single quote, so that a spreadsheet shows it as text instead of evaluating it. Numeric
columns are left as numbers (``-1.5`` stays a number). Text that already starts with quotes
followed by one of those characters gets one more quote, so :func:`csv_restored` gives back
exactly the text that was written. Every CSV churnlab writes goes through :func:`to_csv`;
Parquet files keep text as it is.
"""

from __future__ import annotations

import csv
import re

import pandas as pd

__all__ = ["csv_restored", "csv_safe", "printable", "to_csv"]


def _escape(code: int) -> str:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    if code in named:
        return named[code]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


#: C0 controls (tab and line breaks included), DEL, C1 controls (NEL included), the bidi
#: embedding/override/isolate characters and marks, and the Unicode line/paragraph separators.
_UNPRINTABLE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029,
                *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TRANSLATION = {code: _escape(code) for code in _UNPRINTABLE}


def printable(text) -> str:
    """``text`` (any object, as ``str``) with every control character, line break and bidi
    override replaced by a visible escape, so that it prints as given on one line.

    Parameters
    ----------
    text : object
        A message or a value from the user's data (column name, path, id).

    Returns
    -------
    str

    Examples
    --------
    >>> printable("orders\\x1b[2J.csv")
    'orders\\\\x1b[2J.csv'
    >>> print(printable("a\\nb\\tc \\u202eevil"))
    a\\nb\\tc \\u202eevil
    """
    return str(text).translate(_TRANSLATION)


#: Text that a spreadsheet reads as a formula, after any quotes a previous neutralisation added.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")


def _cell(value, pattern: re.Pattern, change):
    return change(value) if isinstance(value, str) and pattern.match(value) else value


def _column(s: pd.Series, pattern: re.Pattern, change) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.rename_categories([_cell(c, pattern, change) for c in s.cat.categories])
    if s.dtype == object:
        return s.map(lambda v: _cell(v, pattern, change))
    if pd.api.types.is_string_dtype(s.dtype):  # pandas string columns: the match is vectorised
        hit = s.str.match(pattern.pattern).fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            return s
        s = s.copy()
        s[hit] = [change(v) for v in s[hit]]
    return s


def _frame(df: pd.DataFrame, pattern: re.Pattern, change) -> pd.DataFrame:
    out = df.copy(deep=False)
    for i in range(out.shape[1]):
        out.isetitem(i, _column(out.iloc[:, i], pattern, change))
    if not isinstance(df.columns, pd.MultiIndex):
        out.columns = [_cell(c, pattern, change) for c in df.columns]
    if not isinstance(df.index, (pd.RangeIndex, pd.MultiIndex)):
        name = _cell(df.index.name, pattern, change)
        out.index = pd.Index(_column(pd.Series(df.index, copy=False), pattern, change), name=name)
    return out


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy of ``df`` whose text cells, column names and index are neutralised
    against spreadsheet formulas (see the module docstring); numeric columns unchanged.

    >>> csv_safe(pd.DataFrame({"id": ["=1+1", "@x", "a-b", "'+x"], "n": [-1, 2, 3, 4]})).to_dict("list")
    {'id': ["'=1+1", "'@x", 'a-b', "''+x"], 'n': [-1, 2, 3, 4]}
    """
    return _frame(df, _FORMULA, lambda v: "'" + v)


def csv_restored(df: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`csv_safe`, for a CSV file churnlab wrote and reads back: one
    leading quote removed where quotes are followed by ``= + - @``, tab or carriage return.

    >>> csv_restored(pd.DataFrame({"id": ["'=1+1", "''+x", "'plain"]}))["id"].tolist()
    ['=1+1', "'+x", "'plain"]
    """
    return _frame(df, _NEUTRALISED, lambda v: v[1:])


def _has_carriage_return(s: pd.Series) -> bool:
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = pd.Series(s.cat.categories)
    if s.dtype == object:
        return any(isinstance(v, str) and "\r" in v for v in s)
    if pd.api.types.is_string_dtype(s.dtype):
        return bool(s.str.contains("\r", regex=False).fillna(False).any())
    return False


def to_csv(df: pd.DataFrame, path_or_buf=None, **kwargs):
    """``df.to_csv(path_or_buf, **kwargs)`` with formulas neutralised (:func:`csv_safe`): the
    one way churnlab writes CSV.

    Python's CSV writer leaves a field holding a carriage return unquoted (a reader would end
    the row there), so a frame with one is written with every text field quoted."""
    safe = csv_safe(df)
    texts = [safe.iloc[:, i] for i in range(safe.shape[1])] + [pd.Series(safe.columns, dtype=object)]
    if not isinstance(safe.index, pd.RangeIndex):
        texts.append(pd.Series(safe.index, dtype=object))
    if "quoting" not in kwargs and any(_has_carriage_return(t) for t in texts):
        kwargs["quoting"] = csv.QUOTE_NONNUMERIC
    return safe.to_csv(path_or_buf, **kwargs)
