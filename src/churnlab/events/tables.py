"""Loading the event tables: DataFrames, CSV or Parquet files, or a folder of them."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnlab.events.contract import TABLE_SCHEMAS, EventValidationError, validate_table
from churnlab.events.dates import check_date_format
from churnlab.events.ids import align_ids, text_ids_as_written

__all__ = ["EventTables", "as_events", "load_events", "load_events_dir", "read_table", "save_events_dir"]


def read_table(source: pd.DataFrame | str | Path, table: str, *, id_column: str | None = "customer_id") -> pd.DataFrame:
    """Read one table from a DataFrame (copied), a CSV file or a Parquet file.

    Parameters
    ----------
    source : DataFrame, str or Path
    table : str
        The table's name in error messages.
    id_column : str or None
        A CSV file's id column, read as text and kept as written (``007``, ``1e3``) unless
        every value is a canonical integer (then int64); None: as pandas reads it.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if not isinstance(source, (str, Path)):
        raise TypeError(f"`{table}` must be a DataFrame or a path to a .csv/.parquet file, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{table}: file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        if ".csv" in suffixes or ".txt" in suffixes:
            df = pd.read_csv(path, dtype={id_column: str} if id_column else None)
            if id_column in df.columns:
                df[id_column] = text_ids_as_written(df[id_column])
            return df
    except Exception as exc:  # the reader's own error text is the useful part
        raise EventValidationError(f"{table}: cannot read {path}: {exc}") from exc
    raise EventValidationError(f"{table}: unsupported file type {path.suffix!r} for {path} (use .csv or .parquet)")



@dataclasses.dataclass(frozen=True)
class EventTables:
    """The validated inputs of churnlab: purchases, subscriptions or activity (at least one),
    plus optional support, surveys and customers.

    Build it with :func:`load_events` or :func:`load_events_dir` (which validate) rather
    than directly.

    Parameters
    ----------
    purchases, support, surveys, subscriptions, activity, customers : DataFrame, optional

    Examples
    --------
    >>> import pandas as pd
    >>> ev = load_events(pd.DataFrame({"customer_id": [1, 2], "ts": ["2024-01-01", "2024-03-01"], "amount": 5.0}))
    >>> list(ev.tables()), [str(t.date()) for t in ev.date_range()]
    (['purchases'], ['2024-01-01', '2024-03-01'])
    """

    purchases: pd.DataFrame | None = None
    support: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    subscriptions: pd.DataFrame | None = None
    activity: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name."""
        return {name: getattr(self, name) for name in TABLE_SCHEMAS if getattr(self, name) is not None}

    def date_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last event timestamp over all event tables."""
        lo, hi = [], []
        for name, df in self.tables().items():
            if name == "customers":
                continue
            for col in TABLE_SCHEMAS[name].timestamps:
                if col in df.columns and df[col].notna().any():
                    lo.append(df[col].min())
                    hi.append(df[col].max())
        return min(lo), max(hi)

    @property
    def id_dtype(self):
        """The dtype of ``customer_id`` (the same in every table: see :func:`load_events`)."""
        return next(iter(self.tables().values()))["customer_id"].dtype

    def first_event(self) -> pd.Timestamp:
        """The first purchase, or without purchases the first subscription start or activity event:
        the start of the history that features and labels are built from."""
        if self.purchases is not None:
            return self.purchases["ts"].min()
        return min(df[col].min() for df, col in ((self.subscriptions, "start_ts"), (self.activity, "ts")) if df is not None)

    def fingerprint(self) -> dict[str, Any]:
        """Row counts, date ranges and a content hash of each table, for run tracking."""
        out: dict[str, Any] = {}
        digest = hashlib.sha256()
        for name, df in self.tables().items():
            h = pd.util.hash_pandas_object(df, index=False).to_numpy()
            digest.update(name.encode())
            digest.update(h.tobytes())
            out[f"{name}_rows"] = int(len(df))
            ts_col = TABLE_SCHEMAS[name].timestamps[0]
            out[f"{name}_min_ts"] = str(df[ts_col].min())
            out[f"{name}_max_ts"] = str(df[ts_col].max())
        out["sha256"] = digest.hexdigest()
        return out

    def filter_customers(self, customer_ids: Any) -> "EventTables":
        """The same tables restricted to ``customer_ids``."""
        ids = pd.Index(customer_ids)
        return EventTables(
            **{name: df[df["customer_id"].isin(ids)].reset_index(drop=True) for name, df in self.tables().items()}
        )


def load_events(
    purchases: pd.DataFrame | str | Path | None = None,
    support: pd.DataFrame | str | Path | None = None,
    surveys: pd.DataFrame | str | Path | None = None,
    customers: pd.DataFrame | str | Path | None = None,
    subscriptions: pd.DataFrame | str | Path | None = None,
    activity: pd.DataFrame | str | Path | None = None,
    mapping: Mapping[str, Mapping[str, str]] | None = None,
    on_duplicates: str = "raise",
    timestamp_unit: str | Mapping[str, str] | None = None,
    time_range: tuple[Any, Any] | None = None,
    *,
    date_format: str | Mapping[str, str] | None = None,
) -> EventTables:
    """Read and validate the event tables from DataFrames, CSV or Parquet files.

    Customer ids stay as written: a CSV id column is text unless every value is a canonical
    integer (``007`` and ``7`` are two customers); integer ids of DataFrames and Parquet
    files stay integers (unsigned ones above 2**63 - 1 become their decimal text). When
    tables disagree, integer ids are compared as their decimal text; a text id that writes
    a number differently (``007``, ``1e3``) beside integer ids is refused, naming both tables.

    Parameters
    ----------
    purchases, support, surveys, customers, subscriptions, activity : DataFrame or path
        At least one of ``purchases``, ``subscriptions`` and ``activity``; the others are optional.
    mapping : dict, optional
        Per-table column renames ``{table: {our_column: their_column}}``.
    on_duplicates : {"raise", "drop", "keep"}
    timestamp_unit : str or dict, optional
        Unit of numeric (epoch) timestamps, for every table (``"s"``) or per table
        (``{"purchases": "ms"}``). Without it, numeric timestamp columns are rejected.
    time_range : (start, end), optional
        Accepted timestamps; default 1900-01-01 to 2200-01-01.
    date_format : str or dict, optional
        ``strftime`` format of text timestamps, for every table (``"%d/%m/%Y"``) or per
        table (``{"purchases": "%d/%m/%Y %H:%M"}``). Without it text timestamps must be ISO
        8601 (``YYYY-MM-DD``, optionally with a time and UTC offset); others are refused.

    Returns
    -------
    EventTables
        The validated tables, each a normalised copy sorted by customer and time.

    Warns
    -----
    UserWarning
        When customers in the customers table have no event in any other table (they can
        only be scored as ``no_history``/``no_purchase``), with their count.

    Examples
    --------
    >>> import pandas as pd
    >>> ev = load_events(pd.DataFrame({"customer_id": [1, 1], "ts": ["2024-01-01", "2024-02-01"],
    ...                                "amount": [10.0, 12.5]}))
    >>> len(ev.purchases)
    2
    """
    mapping = mapping or {}
    sources = {"purchases": purchases, "support": support, "surveys": surveys, "subscriptions": subscriptions,
               "activity": activity, "customers": customers}
    if purchases is None and subscriptions is None and activity is None:
        raise TypeError("`purchases` is required unless `subscriptions` or `activity` is given: a DataFrame or a path, got None")
    if not isinstance(mapping, Mapping):
        raise TypeError(f"`mapping` must be a dict {{table: {{our_column: their_column}}}}, got {type(mapping).__name__}")
    unknown = set(mapping) - set(sources)
    if unknown:
        raise ValueError(f"`mapping` names unknown table(s) {sorted(unknown)}; tables are {sorted(sources)}")
    units = _per_table(timestamp_unit, "timestamp_unit", sources)
    formats = {t: check_date_format(f, f"date_format[{t!r}]") for t, f in _per_table(date_format, "date_format", sources).items()}
    tables = {
        name: validate_table(read_table(src, name, id_column=_id_column(mapping.get(name))), name, mapping.get(name),
                             on_duplicates, units.get(name), time_range, date_format=formats.get(name))
        for name, src in sources.items()
        if src is not None
    }
    align_ids(tables)
    if "customers" in tables:
        seen = pd.Index(np.unique(np.concatenate([df["customer_id"].to_numpy() for n, df in tables.items() if n != "customers"])))
        unmatched = int((~tables["customers"]["customer_id"].isin(seen)).sum())
        if unmatched:
            warnings.warn(
                f"customers: {unmatched:,} of {len(tables['customers']):,} customer ids have no event in any other table "
                "(check that the tables use the same ids)", UserWarning, stacklevel=2,
            )
    return EventTables(**tables)


def _id_column(mapping) -> str:
    """The user's name of a table's ``customer_id`` column."""
    theirs = mapping.get("customer_id") if isinstance(mapping, Mapping) else None
    return theirs if isinstance(theirs, str) else "customer_id"


def _per_table(value, name: str, sources: Mapping[str, Any]) -> dict[str, str]:
    """A per-table option given once for all tables or as ``{table: value}``."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {t: value for t in sources}
    if isinstance(value, Mapping):
        unknown = set(value) - set(sources)
        if unknown:
            raise ValueError(f"`{name}` names unknown table(s) {sorted(unknown)}; tables are {sorted(sources)}")
        return dict(value)
    raise TypeError(f"`{name}` must be a string or a dict {{table: value}}, got {value!r}")


#: The file names a folder of tables is searched for, per table: ``purchases.csv.gz`` and so on
#: (pandas reads compressed CSV by its extension).
TABLE_FILE_EXTENSIONS = (".parquet", ".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")


def load_events_dir(path: str | Path, mapping: Mapping[str, Mapping[str, str]] | None = None, **options) -> EventTables:
    """Load ``purchases``, ``support``, ``surveys``, ``subscriptions``, ``activity`` and
    ``customers`` (.parquet, .csv, or compressed CSV such as .csv.gz) from a folder.

    Parameters
    ----------
    path : str or Path
        The folder; ``purchases``, ``subscriptions`` or ``activity`` is required. A table
        present in two files (e.g. .csv and .csv.gz) is refused.
    mapping : dict, optional
        Per-table column renames ``{table: {our_column: their_column}}``.
    **options
        :func:`load_events`'s ``on_duplicates``, ``timestamp_unit``, ``time_range``, ``date_format``.

    Returns
    -------
    EventTables

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> pd.DataFrame({"customer_id": [1], "ts": ["2024-01-01"], "amount": [5.0]}).to_csv(f"{folder}/purchases.csv", index=False)
    >>> len(load_events_dir(folder).purchases)
    1
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"`path` must be a folder path, got {type(path).__name__}")
    folder = Path(path)
    if not folder.is_dir():
        raise EventValidationError(f"events folder not found: {folder}")
    found: dict[str, Path] = {}
    for name in TABLE_SCHEMAS:
        files = [folder / f"{name}{ext}" for ext in TABLE_FILE_EXTENSIONS if (folder / f"{name}{ext}").is_file()]
        if len(files) > 1:
            raise EventValidationError(f"{name}: both {files[0].name} and {files[1].name} in {folder}; keep one")
        if files:
            found[name] = files[0]
    if not {"purchases", "subscriptions", "activity"} & set(found):
        raise EventValidationError(
            f"purchases: no purchases.parquet or purchases.csv in {folder} (nor compressed CSV such as "
            "purchases.csv.gz, nor subscriptions or activity)"
        )
    return load_events(**found, mapping=mapping, **options)


def save_events_dir(events: EventTables, path: str | Path) -> Path:
    """Write each table as Parquet into ``path`` (created if missing).

    Parameters
    ----------
    events : EventTables
    path : str or Path

    Returns
    -------
    Path
        The folder, readable again with :func:`load_events_dir`.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> ev = load_events(pd.DataFrame({"customer_id": [1], "ts": ["2024-01-01"], "amount": [5.0]}))
    >>> folder = save_events_dir(ev, tempfile.mkdtemp())
    >>> load_events_dir(folder).purchases.equals(ev.purchases)
    True
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in events.tables().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def as_events(data: "EventTables | pd.DataFrame", name: str = "events") -> EventTables:
    """``data`` as EventTables: EventTables as they are, a DataFrame validated as the purchases
    table (identical rows kept: a plain log may repeat a line on purpose). Functions that
    only need purchases accept either through this.

    >>> ev = as_events(pd.DataFrame({"customer_id": [1], "ts": ["2024-01-01"], "amount": [5.0]}))
    >>> len(ev.purchases)
    1
    """
    if isinstance(data, EventTables):
        return data
    if isinstance(data, pd.DataFrame):
        return EventTables(purchases=validate_table(data, "purchases", on_duplicates="keep"))
    raise TypeError(f"`{name}` must be EventTables or a purchases DataFrame, got {type(data).__name__}")
