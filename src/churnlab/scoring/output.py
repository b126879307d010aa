"""Scored chunks as columns and files: text columns built from codes, atomic writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnlab.atomic import atomic_output, check_output_path
from churnlab.escaping import to_csv

__all__ = ["Coded", "text_column", "write_scores"]


class Coded(NamedTuple):
    """A text column as codes into ``texts`` (-1: missing): built into Arrow with one take."""

    texts: np.ndarray
    codes: np.ndarray


def text_column(values):
    """A pandas ``string`` column from an object array (None or NaN: missing) or a
    :class:`Coded` one; typed even when all missing, so that the file's column is a string
    column in every chunk."""
    dtype = pd.StringDtype()
    if dtype.storage == "pyarrow":  # straight from Arrow: no per-value checks in Python
        if isinstance(values, Coded):  # each distinct text converted once, then taken
            texts = pa.array(values.texts, type=pa.string(), from_pandas=True)
            arr = texts.take(pa.array(values.codes, mask=values.codes < 0))
        else:
            arr = pa.array(values, type=pa.string(), from_pandas=True)
        return pd.arrays.ArrowStringArray(arr)
    if isinstance(values, Coded):
        values = _decode(values)
    return pd.array(values, dtype=dtype)


def _decode(column: Coded) -> np.ndarray:
    """The texts of a :class:`Coded` column as an object array (None: missing)."""
    out = np.full(len(column.codes), None, dtype=object)
    has = column.codes >= 0
    out[has] = column.texts[column.codes[has]]
    return out


def write_scores(chunks: Iterable[pd.DataFrame], out: str | Path) -> dict:
    """Write scored chunks to ``out`` (.parquet or .csv) atomically.

    The file appears only when complete: an error, Ctrl-C or SIGTERM leaves no file (see
    :mod:`churnlab.atomic`). Each chunk is written on a thread of its own while the next
    one is computed. In a CSV file, text that a spreadsheet would read as a formula gets a
    leading ``'`` (:func:`churnlab.escaping.csv_safe`); Parquet keeps it as it is.

    Parameters
    ----------
    chunks : iterable of DataFrame
        E.g. :func:`churnlab.score_customers`.
    out : str or Path
        A file name ending in .parquet or .csv, in an existing folder.

    Returns
    -------
    dict
        Rows written per ``status``.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> chunk = pd.DataFrame({"customer_id": [1, 2], "status": ["scored", "no_history"]})
    >>> write_scores([chunk], tempfile.mkdtemp() + "/scores.csv")
    {'scored': 1, 'no_history': 1}
    """
    out = check_output_path(out, (".parquet", ".csv"))
    fmt = out.suffix.lower()
    counts: dict[str, int] = {}
    writer = schema = None

    def put(tmp: Path, i: int, chunk: pd.DataFrame) -> None:
        nonlocal writer, schema
        if fmt == ".parquet":
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(schema))
        else:
            to_csv(chunk, tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)  # formulas neutralised

    # Each chunk is written on a thread of its own while the next one is scored (the writing
    # is off the scoring's critical path); one chunk at a time and in order, so memory holds
    # at most one scored chunk waiting.
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnlab-writer")
    try:
        with atomic_output(out) as tmp:
            try:
                written = None
                for i, chunk in enumerate(chunks):
                    for status, n in chunk["status"].value_counts().items():
                        counts[status] = counts.get(status, 0) + int(n)
                    if written is not None:
                        written.result()  # raises the writer's error, if any
                    written = background.submit(put, tmp, i, chunk)
                if written is not None:
                    written.result()
                if writer is not None:
                    writer.close()  # the footer: its error (e.g. a full disk) is the run's error
                    writer = None
                if not counts:
                    raise ValueError("nothing to write: no customer was listed")
            except BaseException:
                background.shutdown(wait=True, cancel_futures=True)  # nothing writes after the unlink
                if writer is not None:
                    with contextlib.suppress(Exception):  # never a second error over the first
                        writer.close()
                raise
    finally:
        background.shutdown(wait=True)
    return counts
