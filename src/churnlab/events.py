"""Event data contract: the tables churnlab reads, their loaders and their validation.

Four tables, all keyed by ``customer_id``:

==============  ====================================================================
purchases       customer_id, ts, amount (>= 0); optional quantity, product, channel
support         customer_id, ts, category, channel, resolution_hours (>= 0, null =
                still open); optional resolved (bool)
surveys         customer_id, ts, score, kind ("nps": integer 0-10, "csat": integer 1-5)
customers       customer_id, signup_ts; optional cancel_ts; every other column is a
                static attribute (strings become categories)
==============  ====================================================================

Timestamps are normalised to timezone-naive UTC at microsecond resolution: tz-aware
columns are converted to UTC, naive ones are taken to be UTC already, and a column that
mixes the two is rejected (its meaning would be ambiguous).

Validation never mutates the caller's frame: it works on a copy.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "EventTables",
    "EventValidationError",
    "TABLE_SCHEMAS",
    "load_events",
    "read_table",
    "validate_table",
    "to_timestamp",
]

TS_DTYPE = "datetime64[us]"


class EventValidationError(ValueError):
    """Raised when an input table breaks the event data contract.

    The message always names the table and the column, and quotes an offending value.
    """


@dataclasses.dataclass(frozen=True)
class TableSchema:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ("ts",)
    non_negative: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()
    allow_extra: bool = False


TABLE_SCHEMAS: dict[str, TableSchema] = {
    "purchases": TableSchema(
        name="purchases",
        required=("customer_id", "ts", "amount"),
        optional=("quantity", "product", "channel"),
        non_negative=("amount", "quantity"),
        numeric=("amount", "quantity"),
        strings=("product", "channel"),
    ),
    "support": TableSchema(
        name="support",
        required=("customer_id", "ts", "category", "channel", "resolution_hours"),
        optional=("resolved",),
        non_negative=("resolution_hours",),
        numeric=("resolution_hours",),
        strings=("category", "channel"),
    ),
    "surveys": TableSchema(
        name="surveys",
        required=("customer_id", "ts", "score", "kind"),
        numeric=("score",),
        strings=("kind",),
    ),
    "customers": TableSchema(
        name="customers",
        required=("customer_id", "signup_ts"),
        optional=("cancel_ts",),
        timestamps=("signup_ts", "cancel_ts"),
        allow_extra=True,
    ),
}

SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5)}


def _fail(table: str, column: str | None, message: str) -> EventValidationError:
    where = f"{table}.{column}" if column else table
    return EventValidationError(f"{where}: {message}")


def _example(df: pd.DataFrame, mask: np.ndarray | pd.Series, column: str) -> str:
    """Describe the first offending row: its position, customer and value."""
    mask = np.asarray(mask, dtype=bool)
    n_bad = int(mask.sum())
    pos = int(np.flatnonzero(mask)[0])
    row = df.iloc[pos]
    cid = row.get("customer_id", "?")
    return f"{n_bad} bad row(s); first at row {pos} (customer_id={cid!r}): {row[column]!r}"


def to_timestamp(value: Any, name: str = "as_of") -> pd.Timestamp:
    """Parse one point in time the way table timestamps are parsed (naive UTC).

    >>> to_timestamp("2024-03-01")
    Timestamp('2024-03-01 00:00:00')
    """
    if value is None:
        raise ValueError(f"`{name}` is required, got None")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`{name}` must be a date or timestamp, got {value!r}") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"`{name}` must be a date or timestamp, got {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("us")


def _parse_timestamps(s: pd.Series, table: str, column: str, allow_null: bool) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        out = s
    else:
        nonnull = s.dropna()
        aware = nonnull.map(_is_tz_aware)
        if aware.any() and not aware.all():
            a = nonnull[aware].iloc[0]
            b = nonnull[~aware].iloc[0]
            raise _fail(
                table,
                column,
                f"mixes timezone-aware and naive timestamps, e.g. {a!r} and {b!r}; "
                "give every value an offset or none",
            )
        try:
            out = pd.to_datetime(s, errors="coerce", utc=bool(aware.any()), format="mixed")
        except (ValueError, TypeError) as exc:
            raise _fail(table, column, f"cannot parse timestamps ({exc})") from exc
        if aware.any():
            out = out.dt.tz_localize(None)
        bad = out.isna() & s.notna()
        if bad.any():
            raise _fail(table, column, "unparseable timestamp; " + _example(s.to_frame(), bad, column))
    out = out.astype(TS_DTYPE)
    if not allow_null and out.isna().any():
        raise _fail(table, column, "null timestamp; " + _example(out.to_frame(), out.isna(), column))
    return out


def _is_tz_aware(v: Any) -> bool:
    if isinstance(v, pd.Timestamp) or hasattr(v, "tzinfo"):
        return getattr(v, "tzinfo", None) is not None
    if isinstance(v, str):
        try:
            return pd.Timestamp(v).tzinfo is not None
        except (ValueError, TypeError):
            return False
    return False


def read_table(source: pd.DataFrame | str | Path, table: str) -> pd.DataFrame:
    """Read one table from a DataFrame (copied), a CSV file or a Parquet file."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{table}: file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        if ".csv" in suffixes or ".txt" in suffixes:
            return pd.read_csv(path)
    except Exception as exc:  # the reader's own error text is the useful part
        raise EventValidationError(f"{table}: cannot read {path}: {exc}") from exc
    raise EventValidationError(f"{table}: unsupported file type {path.suffix!r} for {path} (use .csv or .parquet)")


def _apply_mapping(df: pd.DataFrame, table: str, mapping: Mapping[str, str] | None) -> pd.DataFrame:
    """Rename the user's columns to ours. ``mapping`` is ``{our_name: their_name}``."""
    if not mapping:
        return df
    missing = {ours: theirs for ours, theirs in mapping.items() if theirs not in df.columns}
    if missing:
        ours, theirs = next(iter(missing.items()))
        raise _fail(
            table,
            ours,
            f"column mapping says {ours!r} comes from {theirs!r}, but {theirs!r} is not a column "
            f"(columns: {list(df.columns)})",
        )
    return df.rename(columns={theirs: ours for ours, theirs in mapping.items()})


def _harmonise_id(s: pd.Series, table: str) -> pd.Series:
    if s.isna().any():
        raise _fail(table, "customer_id", "null customer id; " + _example(s.to_frame(), s.isna(), "customer_id"))
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype("int64")
    if pd.api.types.is_float_dtype(s.dtype):
        if (s != np.floor(s)).any():
            bad = s != np.floor(s)
            raise _fail(table, "customer_id", "non-integer numeric id; " + _example(s.to_frame(), bad, "customer_id"))
        return s.astype("int64")
    return s.astype(str)


def validate_table(
    df: pd.DataFrame,
    table: str,
    mapping: Mapping[str, str] | None = None,
    on_duplicates: str = "raise",
) -> pd.DataFrame:
    """Check one table against the contract and return a normalised copy.

    Parameters
    ----------
    df : DataFrame
        The user's table. It is not modified.
    table : {"purchases", "support", "surveys", "customers"}
    mapping : dict, optional
        ``{our_column: their_column}`` renames applied before validation.
    on_duplicates : {"raise", "drop", "keep"}
        What to do with rows that are exact duplicates of an earlier row. "keep" is for
        logs where identical lines are genuinely separate events (e.g. date-only
        timestamps).

    Raises
    ------
    EventValidationError
        Naming the table, the column and an offending value.
    """
    if table not in TABLE_SCHEMAS:
        raise ValueError(f"`table` must be one of {sorted(TABLE_SCHEMAS)}, got {table!r}")
    if on_duplicates not in ("raise", "drop", "keep"):
        raise ValueError(f"`on_duplicates` must be 'raise', 'drop' or 'keep', got {on_duplicates!r}")
    schema = TABLE_SCHEMAS[table]
    out = _apply_mapping(df.copy(), table, mapping)
    missing = [c for c in schema.required if c not in out.columns]
    if missing:
        raise _fail(table, missing[0], f"missing required column(s) {missing}; got columns {list(out.columns)}")
    if len(out) == 0:
        raise _fail(table, None, "table is empty")
    if not schema.allow_extra:
        out = out[[c for c in out.columns if c in schema.required + schema.optional]]

    out["customer_id"] = _harmonise_id(out["customer_id"], table)
    for col in schema.timestamps:
        if col in out.columns:
            out[col] = _parse_timestamps(out[col], table, col, allow_null=col not in schema.required)
    for col in schema.numeric:
        if col not in out.columns:
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        bad = num.isna() & out[col].notna()
        if bad.any():
            raise _fail(table, col, "not a number; " + _example(out, bad, col))
        out[col] = num.astype("float64")
    for col in schema.non_negative:
        if col in out.columns:
            bad = out[col] < 0
            if bad.any():
                raise _fail(table, col, "negative value; " + _example(out, bad, col))
    for col in schema.strings:
        if col in out.columns:
            # Categorical: compact, and DuckDB scans it as an ENUM far faster than Python strings.
            out[col] = out[col].astype(object).where(out[col].isna(), out[col].astype(str)).astype("category")

    if table == "purchases":
        _require_not_null(out, table, "amount")
    if table == "support":
        _require_not_null(out, table, "category")
        if "resolved" in out.columns:
            out["resolved"] = _as_bool(out["resolved"], table, "resolved")
        else:
            # No explicit flag: a ticket is resolved when it has a resolution time.
            out["resolved"] = out["resolution_hours"].notna()
    if table == "surveys":
        _check_scores(out)
    if table == "customers":
        dup = out["customer_id"].duplicated()
        if dup.any():
            raise _fail(table, "customer_id", "duplicated customer id; " + _example(out, dup, "customer_id"))
        for col in out.columns:
            if col not in ("customer_id", "signup_ts", "cancel_ts") and out[col].dtype == object:
                out[col] = out[col].astype("category")
            elif isinstance(out[col].dtype, pd.StringDtype):
                out[col] = out[col].astype(object).astype("category")
    dup = out.duplicated(keep="first") if on_duplicates != "keep" else pd.Series(False, index=out.index)
    if dup.any():
        if on_duplicates == "raise":
            raise _fail(
                table,
                None,
                f"{int(dup.sum())} duplicated row(s); first duplicate at row {int(np.flatnonzero(dup)[0])}: "
                f"{out[dup].iloc[0].to_dict()!r} (pass on_duplicates='drop' to drop them)",
            )
        out = out[~dup]
    if "ts" in out.columns:
        out = out.sort_values(["customer_id", "ts"], kind="stable")
    return out.reset_index(drop=True)


def _require_not_null(df: pd.DataFrame, table: str, col: str) -> None:
    if df[col].isna().any():
        raise _fail(table, col, "null value; " + _example(df, df[col].isna(), col))


def _as_bool(s: pd.Series, table: str, col: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(bool)
    lookup = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    mapped = s.astype(str).str.strip().str.lower().map(lookup)
    bad = mapped.isna()
    if bad.any():
        raise _fail(table, col, "not a boolean; " + _example(s.to_frame(), bad, col))
    return mapped.astype(bool)


def _check_scores(df: pd.DataFrame) -> None:
    kinds = df["kind"].astype(str).str.lower()
    bad_kind = ~kinds.isin(list(SCORE_RANGES))
    if bad_kind.any():
        raise _fail("surveys", "kind", f"must be one of {sorted(SCORE_RANGES)}; " + _example(df, bad_kind, "kind"))
    df["kind"] = kinds.astype("category")
    _require_not_null(df, "surveys", "score")
    score = df["score"]
    for kind, (lo, hi) in SCORE_RANGES.items():
        sel = (kinds == kind).to_numpy()
        bad = sel & ((score < lo) | (score > hi) | (score != np.floor(score))).to_numpy()
        if bad.any():
            raise _fail(
                "surveys", "score", f"{kind} score must be an integer in [{lo}, {hi}]; " + _example(df, bad, "score")
            )


@dataclasses.dataclass(frozen=True)
class EventTables:
    """The validated inputs of churnlab: purchases plus optional support, surveys, customers.

    Build it with :func:`load_events` (which validates) rather than directly.
    """

    purchases: pd.DataFrame
    support: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name."""
        return {name: getattr(self, name) for name in TABLE_SCHEMAS if getattr(self, name) is not None}

    def date_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last event timestamp over all event tables."""
        lo, hi = [], []
        for name, df in self.tables().items():
            if name != "customers":
                lo.append(df["ts"].min())
                hi.append(df["ts"].max())
        return min(lo), max(hi)

    def fingerprint(self) -> dict[str, Any]:
        """Row counts, date ranges and a content hash of each table, for run tracking."""
        out: dict[str, Any] = {}
        digest = hashlib.sha256()
        for name, df in self.tables().items():
            h = pd.util.hash_pandas_object(df, index=False).to_numpy()
            digest.update(name.encode())
            digest.update(h.tobytes())
            out[f"{name}_rows"] = int(len(df))
            ts_col = "signup_ts" if name == "customers" else "ts"
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
    purchases: pd.DataFrame | str | Path,
    support: pd.DataFrame | str | Path | None = None,
    surveys: pd.DataFrame | str | Path | None = None,
    customers: pd.DataFrame | str | Path | None = None,
    mapping: Mapping[str, Mapping[str, str]] | None = None,
    on_duplicates: str = "raise",
) -> EventTables:
    """Read and validate the event tables from DataFrames, CSV or Parquet files.

    Parameters
    ----------
    purchases, support, surveys, customers : DataFrame or path
        ``purchases`` is required; the others are optional.
    mapping : dict, optional
        Per-table column renames ``{table: {our_column: their_column}}``.
    on_duplicates : {"raise", "drop"}

    Examples
    --------
    >>> import pandas as pd
    >>> ev = load_events(pd.DataFrame({"customer_id": [1, 1], "ts": ["2024-01-01", "2024-02-01"],
    ...                                "amount": [10.0, 12.5]}))
    >>> len(ev.purchases)
    2
    """
    mapping = mapping or {}
    sources = {"purchases": purchases, "support": support, "surveys": surveys, "customers": customers}
    unknown = set(mapping) - set(sources)
    if unknown:
        raise ValueError(f"`mapping` names unknown table(s) {sorted(unknown)}; tables are {sorted(sources)}")
    tables = {
        name: validate_table(read_table(src, name), name, mapping.get(name), on_duplicates)
        for name, src in sources.items()
        if src is not None
    }
    id_kinds = {name: pd.api.types.is_integer_dtype(df["customer_id"].dtype) for name, df in tables.items()}
    if len(set(id_kinds.values())) > 1:
        # Integer ids in one table and text in another: compare them as text everywhere.
        for df in tables.values():
            df["customer_id"] = df["customer_id"].astype(str)
    return EventTables(**tables)


def load_events_dir(path: str | Path, mapping: Mapping[str, Mapping[str, str]] | None = None) -> EventTables:
    """Load ``purchases``, ``support``, ``surveys`` and ``customers`` (.parquet or .csv) from a folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"events folder not found: {folder}")
    found: dict[str, Path] = {}
    for name in TABLE_SCHEMAS:
        for ext in (".parquet", ".csv"):
            if (folder / f"{name}{ext}").exists():
                found[name] = folder / f"{name}{ext}"
                break
    if "purchases" not in found:
        raise FileNotFoundError(f"purchases: no purchases.parquet or purchases.csv in {folder}")
    return load_events(**found, mapping=mapping)


def save_events_dir(events: EventTables, path: str | Path) -> Path:
    """Write each table as Parquet into ``path`` (created if missing)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in events.tables().items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder
