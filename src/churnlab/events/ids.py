"""Customer ids kept as written.

CSV has no types: an id column read from CSV stays text unless every value is a canonical
integer (``0`` or an optional ``-`` and digits without leading zeros, within int64), so that
``007`` and ``7``, ``00001`` and ``1``, ``1e3`` and ``1000`` remain different customers.
Integer ids of DataFrames and Parquet files stay integers; unsigned ones above 2**63 - 1
become their decimal text (int64 cannot hold them). When one table has integer ids and
another text ids, the integers are compared as their decimal text, unless a text id reads as
a number written another way (``007``, ``+7``, ``1e3``, ``7.0``): whether it is the same
customer as an integer id is ambiguous, and it is refused naming both tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from churnlab.checks import plain
from churnlab.events.contract import EventValidationError
from churnlab.events.dates import matches

__all__ = ["CANONICAL_INTEGER", "align_ids", "canonical_int64", "is_canonical_integer", "text_ids_as_written"]

#: An integer written the one way ``str(int)`` writes it.
CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
#: Text that reads as a number (decimal, exponent, sign, surrounding spaces).
_NUMBER = r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*"
_INT64 = np.iinfo(np.int64)


def is_canonical_integer(text: str) -> bool:
    """Whether ``text`` is an integer written as ``str(int)`` writes it, within int64.

    >>> is_canonical_integer("7"), is_canonical_integer("007"), is_canonical_integer("1e3")
    (True, False, False)
    """
    return bool(CANONICAL_INTEGER.fullmatch(text)) and _INT64.min <= int(text) <= _INT64.max


def canonical_int64(values: pd.Series) -> pd.Series | None:
    """Text ids as int64 when every one is a canonical integer within int64, else None."""
    if values.isna().any():
        return None
    text = values.astype("str")
    if not matches(text, CANONICAL_INTEGER.pattern).all():
        return None
    long = text[text.str.len() >= 19]  # only these can leave int64
    if any(not _INT64.min <= int(v) <= _INT64.max for v in long):
        return None
    return pd.Series(text.astype("int64").to_numpy(), index=values.index, name=values.name)


def text_ids_as_written(values: pd.Series) -> pd.Series:
    """An id column read as text (from CSV): integers if every value is canonical, else the text."""
    ints = canonical_int64(values)
    return ints if ints is not None else values


def _non_canonical_numbers(ids: pd.Series) -> np.ndarray:
    text = ids.astype("str")
    return matches(text, _NUMBER) & ~matches(text, CANONICAL_INTEGER.pattern)


def align_ids(tables: Mapping[str, pd.DataFrame]) -> None:
    """Give ``customer_id`` one type across ``tables`` (modified in place): integers become
    their decimal text when another table has text ids.

    Raises
    ------
    EventValidationError
        When a text id reads as a number written otherwise than an integer id would be (e.g.
        ``'007'`` beside integer ids), naming both tables and the value.
    """
    ints = [n for n, df in tables.items() if pd.api.types.is_integer_dtype(df["customer_id"].dtype)]
    texts = [n for n in tables if n not in ints]
    if not ints or not texts:
        return
    for name in texts:
        odd = _non_canonical_numbers(tables[name]["customer_id"])
        if odd.any():
            pos = int(np.flatnonzero(odd)[0])
            value = tables[name]["customer_id"].iloc[pos]
            other = tables[ints[0]]["customer_id"].iloc[0]
            raise EventValidationError(
                f"{name}.customer_id: text id {plain(value)!r} reads as a number written differently from "
                f"the integer ids of {ints[0]}.customer_id (e.g. {plain(other)!r}): whether they are the same customer "
                "is ambiguous; write the ids the same way in every table"
            )
    for name in ints:
        tables[name]["customer_id"] = tables[name]["customer_id"].astype("str")
