"""The customer list of ``churnlab score --customers``: which customers to score.

The list is a CSV or Parquet file with a ``customer_id`` column (a file of one column may
name it otherwise: that column is taken, with a warning). Ids are matched as written: a CSV
column is read as text, and becomes integers only when the events' ids are integers and
every listed id is written as one (``7``, not ``007``, ``+7``, ``7.0`` or ``1e3``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.checks import plain
from churnlab.events.ids import CANONICAL_INTEGER, canonical_int64

__all__ = ["read_customer_list"]

ID_COLUMN = "customer_id"


def _read(path: Path) -> pd.DataFrame:
    from churnlab.events import read_table

    if "".join(path.suffixes).lower().endswith((".parquet", ".pq")):
        return read_table(path, "customers list")
    if not any(s in "".join(path.suffixes).lower() for s in (".csv", ".txt")):
        return read_table(path, "customers list")  # names the file types it reads
    try:  # every column as text, as written: no value is read as a number or as missing
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise ValueError(f"--customers {path}: cannot read it as CSV ({' '.join(str(exc).split())})") from None


def read_customer_list(path: str | Path, *, id_dtype) -> tuple[pd.Series, list[str]]:
    """The ids of a customer list, unique, in the events' id type, and what to tell the user.

    Parameters
    ----------
    path : str or Path
        A CSV or Parquet file with a ``customer_id`` column, or with exactly one column.
    id_dtype : dtype
        The events' ``customer_id`` dtype (:attr:`EventTables.id_dtype`): with integer ids,
        every listed id must be written as an integer.

    Returns
    -------
    (Series, list of str)
        The ids in the order listed, each once (empty values skipped), and the warnings: the
        column taken from a one-column file without ``customer_id``, duplicated ids dropped.

    Raises
    ------
    ValueError
        Naming the file: it is missing or unreadable, has several columns but no
        ``customer_id``, holds no id, or an id is not written as the events' integers are.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "list.csv"
    >>> _ = f.write_text("customer_id\\n007\\n7\\n007\\n")
    >>> ids, notes = read_customer_list(f, id_dtype=object)
    >>> ids.tolist(), notes[0].endswith("1 duplicated id(s) dropped (first: '007'); each customer is scored once")
    (['007', '7'], True)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--customers: file not found: {path}")
    df = _read(path)
    notes = []
    if ID_COLUMN in df.columns:
        col = ID_COLUMN
    elif len(df.columns) == 1:
        col = df.columns[0]
        notes.append(f"--customers {path} has no customer_id column: its only column {col!r} is read as the "
                     "customer ids (its first line as the header)")
    else:
        shown = [str(c) for c in df.columns[:10]] + (["..."] if len(df.columns) > 10 else [])
        raise ValueError(f"--customers {path}: no customer_id column (columns: {', '.join(map(repr, shown))}); "
                         "the list needs a customer_id column, or exactly one column")
    ids = df[col]
    if isinstance(ids, pd.DataFrame):  # the column name twice in the header
        raise ValueError(f"--customers {path}: column {col!r} appears more than once")
    text = ids.dtype == object or pd.api.types.is_string_dtype(ids.dtype)
    empty = ids.isna().to_numpy() | ((ids.astype(str) == "").to_numpy() if text else False)
    ids = ids[~empty].reset_index(drop=True)
    if ids.empty:
        raise ValueError(f"--customers {path}: column {col!r} holds no customer id")
    if pd.api.types.is_integer_dtype(id_dtype) and text:
        ints = canonical_int64(ids)
        if ints is None:
            text = ids.astype(str)
            bad = ~text.str.fullmatch(CANONICAL_INTEGER.pattern).to_numpy()
            pos = int(np.flatnonzero(bad)[0]) if bad.any() else 0  # else: beyond int64
            raise ValueError(
                f"--customers {path}: {col} must be written as integers like the events' ids, got "
                f"{plain(ids.iloc[pos])!r} at row {pos} (ids are matched as written)"
            )
        ids = ints
    duplicated = ids.duplicated()
    if duplicated.any():
        first = plain(ids[duplicated].iloc[0])
        notes.append(f"--customers {path}: {int(duplicated.sum()):,} duplicated id(s) dropped (first: {first!r}); "
                     "each customer is scored once")
        ids = ids[~duplicated].reset_index(drop=True)
    return ids, notes
