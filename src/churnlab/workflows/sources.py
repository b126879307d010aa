"""Where `score`, `report` and `monitor` read their data: the same data section as training.

A command is given a training config (its ``data:`` section), a folder or files
(``--events``), a customer table (``--table``), or none of them; then the data section the
model was trained with, stored in its metadata, is read again. Files given on the command
line are read with the config's (or, without one, the model's) column mapping, duplicate rule,
timestamp unit and date format, so that the user's own exports are read the way training read
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from churnlab.config import DataConfig
from churnlab.events import TABLE_SCHEMAS, EventTables, read_table

__all__ = ["scoring_data_section", "read_scoring_data"]

_TABLE_FIELDS = tuple(TABLE_SCHEMAS)  # per-table file fields of DataConfig


def scoring_data_section(
    stored: Mapping[str, Any] | None,
    *,
    config: DataConfig | None = None,
    events: Sequence[Path] | None = None,
    table: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> DataConfig:
    """The data section a scoring command reads.

    Parameters
    ----------
    stored : dict or None
        The data section the model was trained with (``ScoringModel.metadata["data"]``).
    config : DataConfig, optional
        A training config's data section (``--config``); it replaces ``stored``.
    events : list of Path, optional
        ``--events``: a folder, or files named purchases/subscriptions/activity/support/
        surveys/customers (.csv, .csv.gz, .parquet). They replace the section's files; its
        mapping and reading options stay.
    table : Path, optional
        ``--table``: a customer table for a model trained on one.
    options : dict, optional
        ``on_duplicates``, ``timestamp_unit``, ``date_format`` given on the command line
        (None: the section's own).

    Returns
    -------
    DataConfig

    Examples
    --------
    >>> import tempfile
    >>> newer = Path(tempfile.mkdtemp())
    >>> section = scoring_data_section({"source": "files", "path": "/exports",
    ...                                 "mapping": {"purchases": {"ts": "order_date"}}},
    ...                                events=[newer])
    >>> section.path == newer, section.mapping["purchases"]
    (True, {'ts': 'order_date'})
    """
    if events and table is not None:
        raise ValueError("--table replaces --events: give one or the other")
    base = config
    if base is None and stored:
        base = DataConfig.model_validate(dict(stored))
    given = {k: v for k, v in (options or {}).items() if v is not None}
    if base is None:
        if not events and table is None:
            raise ValueError("give --events (event data), --table (a customer table) or --config (the training config): "
                             "the model does not record the data it was trained on")
        # the files given are the whole section; a table model's id column comes from the model
        base = DataConfig.model_construct(source="table" if table is not None else "files", path=table)
    update: dict[str, Any] = dict(given)
    if table is not None:
        if not table.is_file():
            raise ValueError(f"--table: file not found: {table}")
        update.update(source="table", path=table)
    elif events:
        update.update(_events_files(events))
    return base.model_copy(update=update)


def _events_files(events: Sequence[Path]) -> dict[str, Any]:
    """``--events`` as the file fields of a data section."""
    for p in events:
        if not p.exists():
            raise ValueError(f"--events: not found: {p}")
    cleared: dict[str, Any] = {name: None for name in _TABLE_FIELDS}
    if len(events) == 1 and events[0].is_dir():
        return {**cleared, "source": "files", "path": events[0]}
    named: dict[str, Path] = {}
    for p in events:
        stem = p.name.split(".")[0]
        if stem not in TABLE_SCHEMAS:
            raise ValueError(f"--events file {p} must be named {'/'.join(TABLE_SCHEMAS)} (.csv, .csv.gz or .parquet)")
        if stem in named:
            raise ValueError(f"--events: two files for {stem}: {named[stem]} and {p}; give one")
        named[stem] = p
    if not {"purchases", "subscriptions", "activity"} & set(named):
        raise ValueError("--events must include a purchases, subscriptions or activity file (or be a folder that holds one)")
    return {**cleared, **named, "source": "files", "path": None}


def read_scoring_data(data: DataConfig, *, id_column: str | None = None,
                      before: pd.Timestamp | None = None) -> EventTables | pd.DataFrame:
    """Read a data section: its event tables, or (``source: table``) the customer table
    with its id column kept as written (a label column may be absent: scoring ignores it).

    Parameters
    ----------
    data : DataConfig
        From :func:`scoring_data_section`.
    id_column : str, optional
        A table model's id column (default: the section's ``id``).
    before : Timestamp, optional
        The scoring cutoff: a ``sql`` section reads only the event rows before it, filtered
        in the database (other sources are read whole; features never use later rows).

    Returns
    -------
    EventTables or DataFrame
    """
    from churnlab.workflows.training import load_data

    if data.source == "table":
        if data.path is None or not Path(data.path).is_file():
            raise ValueError(f"data.path: customer table not found: {data.path}")
        return read_table(data.path, "table", id_column=id_column or data.id)
    return load_data(data, before=before)
