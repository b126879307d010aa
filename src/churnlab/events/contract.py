"""Event data contract: the tables churnlab reads and their validation.

Four tables, all keyed by ``customer_id``:

==============  ====================================================================
purchases       customer_id, ts; optional amount (>= 0), quantity, product, channel
support         customer_id, ts, category, resolution_hours (>= 0, null = still open)
                or resolved_ts (the resolution time: resolution_hours is derived, null
                = still open); optional channel, resolved (bool)
surveys         customer_id, ts, score, kind ("nps": integer 0-10, "csat": integer 1-5)
subscriptions   customer_id, start_ts, amount (recurring revenue per period, >= 0);
                optional end_ts (null = active), term_end_ts (the current term's end,
                known when the term starts), plan, product
activity        customer_id, ts, event_type; optional value (count or quantity, >= 0;
                default 1): product usage such as logins
customers       customer_id, signup_ts; optional cancel_ts; every other column is a
                static attribute (strings become categories)
==============  ====================================================================

Timestamps are normalised to timezone-naive UTC at microsecond resolution: tz-aware
columns are converted to UTC, naive ones are taken to be UTC already, and a column that
mixes the two is rejected (its meaning would be ambiguous). Text timestamps are ISO 8601
(``YYYY-MM-DD``, optionally with a time and UTC offset) unless a ``date_format`` is given:
day-first or month-first text is refused, never guessed. Numbers are not timestamps
unless their unit is given (``timestamp_unit``, e.g. ``"s"`` for epoch seconds): read as
nanoseconds, epoch seconds would all fall in January 1970. Timestamps outside
``time_range`` (default 1900-01-01 to 2200-01-01) are rejected as data errors.

Numbers must be finite and at most :data:`MAX_VALUE` (``amount``, ``quantity``: 1e12;
``resolution_hours``: 1e6, about 114 years).

Validation never mutates the caller's frame: it works on a copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnlab.checks import plain, to_timestamp
from churnlab.events.dates import check_date_format, parse_text_timestamps

__all__ = [
    "first_bad_row",
    "harmonise_ids",
    "DEFAULT_TIME_RANGE",
    "EventValidationError",
    "MAX_VALUE",
    "SCORE_RANGES",
    "TABLE_SCHEMAS",
    "TIMESTAMP_UNITS",
    "TableSchema",
    "snapshot_times",
    "table_error",
    "validate_table",
]

TS_DTYPE = "datetime64[us]"

#: Accepted timestamps, unless the caller widens the range (``time_range``).
DEFAULT_TIME_RANGE = (pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01"))

#: Largest accepted value per numeric column: beyond it a value is a data error, and sums of
#: such values lose the exactness the feature SQL relies on.
MAX_VALUE = {"amount": 1e12, "quantity": 1e12, "resolution_hours": 1e6, "value": 1e12}

TIMESTAMP_UNITS = ("D", "h", "m", "s", "ms", "us", "ns")


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
        required=("customer_id", "ts"),
        optional=("amount", "quantity", "product", "channel"),
        non_negative=("amount", "quantity"),
        numeric=("amount", "quantity"),
        strings=("product", "channel"),
    ),
    "support": TableSchema(
        name="support",
        # resolution_hours may be given as resolved_ts instead (derived in validate_table)
        required=("customer_id", "ts", "category", "resolution_hours"),
        optional=("channel", "resolved", "resolved_ts"),
        timestamps=("ts", "resolved_ts"),
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
    "subscriptions": TableSchema(
        name="subscriptions",
        required=("customer_id", "start_ts", "amount"),
        optional=("end_ts", "term_end_ts", "plan", "product"),
        timestamps=("start_ts", "end_ts", "term_end_ts"),
        non_negative=("amount",),
        numeric=("amount",),
        strings=("plan", "product"),
    ),
    "activity": TableSchema(
        name="activity",
        required=("customer_id", "ts", "event_type"),
        optional=("value",),
        non_negative=("value",),
        numeric=("value",),
        strings=("event_type",),
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


def table_error(table: str, column: str | None, message: str) -> EventValidationError:
    where = f"{table}.{column}" if column else table
    return EventValidationError(f"{where}: {message}")


def first_bad_row(df: pd.DataFrame, mask: np.ndarray | pd.Series, column: str, values: pd.Series | None = None) -> str:
    """Describe the first offending row: its position, customer and value (``values``: the
    column as the user gave it, when ``df`` holds a converted one)."""
    mask = np.asarray(mask, dtype=bool)
    n_bad = int(mask.sum())
    pos = int(np.flatnonzero(mask)[0])
    shown = (values if values is not None else df[column]).iloc[pos]
    # the customer is named beside another column's value; an id's own value names it already
    named = column != "customer_id" and "customer_id" in df.columns
    cid = f" (customer_id={plain(df['customer_id'].iloc[pos])!r})" if named else ""
    return f"{n_bad} bad row(s); first at row {pos}{cid}: {plain(shown)!r}"


def _parse_timestamps(
    df: pd.DataFrame, table: str, column: str, allow_null: bool, unit: str | None = None,
    time_range: tuple[pd.Timestamp, pd.Timestamp] = DEFAULT_TIME_RANGE, date_format: str | None = None,
) -> pd.Series:
    s = df[column]
    numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_datetime64_any_dtype(s.dtype)
    if unit is not None and not numeric:
        raise table_error(table, column, f"a timestamp unit ({unit!r}) is given but the column holds {s.dtype} values, not numbers")
    if pd.api.types.is_bool_dtype(s.dtype):
        raise table_error(table, column, "booleans are not timestamps; " + first_bad_row(df, s.notna(), column))
    if numeric:
        if unit is None:
            raise table_error(
                table, column,
                f"numbers are not timestamps unless their unit is given (e.g. timestamp_unit={{'{table}': 's'}} for "
                f"epoch seconds; config: data.timestamp_unit); " + first_bad_row(df, s.notna(), column),
            )
        finite = np.isfinite(s.to_numpy(dtype=float, na_value=np.nan)) | s.isna().to_numpy()
        if not finite.all():
            raise table_error(table, column, "non-finite timestamp; " + first_bad_row(df, ~finite, column))
        lo, hi = (pd.Timestamp(t).value / pd.Timedelta(1, unit=unit).value for t in time_range)
        outside = ((s < lo) | (s >= hi)).to_numpy()
        if outside.any():
            raise table_error(table, column, _range_message(time_range) + first_bad_row(df, outside, column))
        out = pd.to_datetime(s, unit=unit)
    elif isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        out = s
    else:  # text: ISO 8601, or the one date_format given; never guessed per value
        out, problem = parse_text_timestamps(s, date_format)
        if problem is not None:
            why, bad = problem
            raise table_error(table, column, why + (first_bad_row(df, bad, column) if bad is not None else ""))
    outside = ((out < time_range[0]) | (out >= time_range[1])).to_numpy()
    if outside.any():
        raise table_error(table, column, _range_message(time_range) + first_bad_row(df, outside, column))
    out = out.astype(TS_DTYPE)
    if not allow_null and out.isna().any():
        raise table_error(table, column, "null timestamp; " + first_bad_row(df, out.isna(), column))
    return out


def snapshot_times(s: pd.Series, column: str, date_format: str | None = None) -> pd.Series:
    """A labelled table's snapshot-date column as naive UTC timestamps: datetimes as they are,
    text in ISO 8601 or ``date_format``, never guessed value by value.

    Raises
    ------
    EventValidationError
        Naming ``table.<column>``, the first offending row and its value.

    Examples
    --------
    >>> snapshot_times(pd.Series(["2024-01-01", "2024-02-01"]), "snapshot").dt.month.tolist()
    [1, 2]
    >>> snapshot_times(pd.Series(["2024-01-01", "01/02/2024"]), "snapshot")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    churnlab.events.contract.EventValidationError: table.snapshot: not an ISO date ...first at row 1: '01/02/2024'
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return pd.to_datetime(s, utc=True).dt.tz_localize(None)
    parsed, problem = parse_text_timestamps(s, date_format)
    why, bad = problem if problem is not None else ("unparseable snapshot date; ", parsed.isna().to_numpy())
    if bad is None:
        raise EventValidationError(f"table.{column}: {why}")
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise EventValidationError(f"table.{column}: {why}first at row {row}: {s.iloc[row]!r}")
    return parsed


def _range_message(time_range: tuple[pd.Timestamp, pd.Timestamp]) -> str:
    lo, hi = (pd.Timestamp(t).date() for t in time_range)
    return f"timestamp outside [{lo}, {hi}) (widen it with time_range; config: data.time_range); "


def _apply_mapping(df: pd.DataFrame, table: str, mapping: Mapping[str, str] | None) -> pd.DataFrame:
    """Rename the user's columns to ours. ``mapping`` is ``{our_name: their_name}``."""
    if not mapping:
        return df
    missing = {ours: theirs for ours, theirs in mapping.items() if theirs not in df.columns}
    if missing:
        ours, theirs = next(iter(missing.items()))
        raise table_error(
            table,
            ours,
            f"column mapping says {ours!r} comes from {theirs!r}, but {theirs!r} is not a column "
            f"(columns: {list(df.columns)})",
        )
    return df.rename(columns={theirs: ours for ours, theirs in mapping.items()})


def harmonise_ids(s: pd.Series, table: str) -> pd.Series:
    """A table's ``customer_id`` column as the one id type every table shares: int64 for
    integers (exact integral floats too), their decimal text for uint64 beyond int64, text
    otherwise; a null or non-integral numeric id raises naming ``table`` and the row."""
    if s.isna().any():
        raise table_error(table, "customer_id", "null customer id; " + first_bad_row(s.to_frame(), s.isna(), "customer_id"))
    if pd.api.types.is_integer_dtype(s.dtype):
        if pd.api.types.is_unsigned_integer_dtype(s.dtype) and s.max() > np.iinfo(np.int64).max:
            return s.astype("str")  # int64 cannot hold them: their decimal text, as written
        return s.astype("int64")
    if pd.api.types.is_float_dtype(s.dtype):
        # floats are exact integers only up to 2**53
        bad = ~np.isfinite(s) | (s != np.floor(s)) | (s.abs() > 2.0**53)
        if bad.any():
            raise table_error(table, "customer_id", "non-integer numeric id; " + first_bad_row(s.to_frame(), bad, "customer_id"))
        return s.astype("int64")
    return s.astype(str)


def validate_table(
    df: pd.DataFrame,
    table: str,
    mapping: Mapping[str, str] | None = None,
    on_duplicates: str = "raise",
    timestamp_unit: str | None = None,
    time_range: tuple[Any, Any] | None = None,
    *,
    date_format: str | None = None,
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
    timestamp_unit : {"D", "h", "m", "s", "ms", "us", "ns"}, optional
        Unit of numeric timestamp columns (epoch numbers); without it numbers are rejected.
    time_range : (start, end), optional
        Accepted timestamps, default 1900-01-01 (included) to 2200-01-01 (excluded).
    date_format : str, optional
        ``strftime`` format of text timestamps (e.g. ``"%d/%m/%Y"``). Without it text
        timestamps must be ISO 8601 (``YYYY-MM-DD``, optionally with a time and UTC offset);
        other text is refused, naming the row and value, never guessed.

    Raises
    ------
    EventValidationError
        Naming the table, the column and an offending value.
    """
    if table not in TABLE_SCHEMAS:
        raise ValueError(f"`table` must be one of {sorted(TABLE_SCHEMAS)}, got {table!r}")
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"`df` ({table}) must be a pandas DataFrame, got {type(df).__name__}")
    if on_duplicates not in ("raise", "drop", "keep"):
        raise ValueError(f"`on_duplicates` must be 'raise', 'drop' or 'keep', got {on_duplicates!r}")
    if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
        raise ValueError(f"`timestamp_unit` must be one of {list(TIMESTAMP_UNITS)}, got {timestamp_unit!r}")
    time_range = _check_time_range(time_range)
    date_format = check_date_format(date_format)
    schema = TABLE_SCHEMAS[table]
    out = _apply_mapping(df.copy(), table, mapping)
    derive_hours = table == "support" and "resolution_hours" not in out.columns and "resolved_ts" in out.columns
    missing = [c for c in schema.required if c not in out.columns and not (derive_hours and c == "resolution_hours")]
    if missing:
        instead = " (or resolved_ts, the resolution time)" if table == "support" and "resolution_hours" in missing else ""
        raise table_error(table, missing[0], f"missing required column(s) {missing}{instead}; got columns {list(out.columns)}")
    if len(out) == 0:
        raise table_error(table, None, "table is empty")
    if not schema.allow_extra:
        out = out[[c for c in out.columns if c in schema.required + schema.optional]]

    out["customer_id"] = harmonise_ids(out["customer_id"], table)
    for col in schema.timestamps:
        if col in out.columns:
            out[col] = _parse_timestamps(out, table, col, col not in schema.required, timestamp_unit, time_range, date_format)
    if "resolved_ts" in out.columns:
        if derive_hours:
            out["resolution_hours"] = _hours_to_resolve(out)
        out = out.drop(columns="resolved_ts")
    for col in schema.numeric:
        if col not in out.columns:
            continue
        if pd.api.types.is_bool_dtype(out[col].dtype):
            raise table_error(table, col, "booleans are not numbers; " + first_bad_row(out, out[col].notna(), col))
        num = pd.to_numeric(out[col], errors="coerce")
        bad = num.isna() & out[col].notna()
        if bad.any():
            raise table_error(table, col, "not a number; " + first_bad_row(out, bad, col))
        num = num.astype("float64")
        bad = ~np.isfinite(num) & num.notna()
        if bad.any():
            raise table_error(table, col, "non-finite value; " + first_bad_row(out, bad, col))
        if col in MAX_VALUE:
            bad = num > MAX_VALUE[col]
            if bad.any():
                raise table_error(table, col, f"value above the accepted maximum {MAX_VALUE[col]:g}; " + first_bad_row(out, bad, col))
        out[col] = num
    for col in schema.non_negative:
        if col in out.columns:
            bad = out[col] < 0
            if bad.any():
                raise table_error(table, col, "negative value; " + first_bad_row(out, bad, col))
    for col in schema.strings:
        if col in out.columns:
            # Categorical: compact, and DuckDB scans it as an ENUM far faster than Python strings.
            out[col] = out[col].astype(object).where(out[col].isna(), out[col].astype(str)).astype("category")

    if table == "purchases":
        if "amount" in out.columns:  # without order values there are count features only
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
    if table == "subscriptions" and "end_ts" in out.columns:
        bad = (out["end_ts"] < out["start_ts"]).to_numpy()
        if bad.any():
            raise table_error(table, "end_ts", "ends before it starts (start_ts " + str(out["start_ts"].iloc[int(np.flatnonzero(bad)[0])])
                              + "); " + first_bad_row(out, bad, "end_ts"))
    if table == "activity":
        _require_not_null(out, table, "event_type")
    if table == "customers":
        dup = out["customer_id"].duplicated()
        if dup.any():
            raise table_error(table, "customer_id", "duplicated customer id; " + first_bad_row(out, dup, "customer_id"))
        for col in out.columns:
            if col not in ("customer_id", "signup_ts", "cancel_ts") and out[col].dtype == object:
                out[col] = out[col].astype("category")
            elif isinstance(out[col].dtype, pd.StringDtype):
                out[col] = out[col].astype(object).astype("category")
    dup = out.duplicated(keep="first") if on_duplicates != "keep" else pd.Series(False, index=out.index)
    if dup.any():
        if on_duplicates == "raise":
            raise table_error(
                table,
                None,
                f"{int(dup.sum())} duplicated row(s); first duplicate at row {int(np.flatnonzero(dup)[0])}: "
                f"{ {k: plain(v) for k, v in out[dup].iloc[0].to_dict().items()}!r} "
                "(drop them with on_duplicates='drop', config data.on_duplicates: drop, CLI --on-duplicates drop)",
            )
        out = out[~dup]
    if schema.timestamps[0] in out.columns and table != "customers":
        out = out.sort_values(["customer_id", schema.timestamps[0]], kind="stable")
    return out.reset_index(drop=True)


def _check_time_range(time_range) -> tuple[pd.Timestamp, pd.Timestamp]:
    if time_range is None:
        return DEFAULT_TIME_RANGE
    try:
        lo, hi = (to_timestamp(t, "time_range") for t in time_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`time_range` must be two dates (start, end), got {time_range!r}") from exc
    if not lo < hi:
        raise ValueError(f"`time_range` must start before it ends, got {time_range!r}")
    return lo, hi


def _hours_to_resolve(out: pd.DataFrame) -> pd.Series:
    """``resolved_ts - ts`` in hours (null: still open); a resolution before its ticket opened
    is an error naming the first such row, its ts and its resolved_ts."""
    hours = (out["resolved_ts"] - out["ts"]) / pd.Timedelta(hours=1)
    bad = (hours < 0).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise table_error("support", "resolved_ts", f"before the ticket's ts ({out['ts'].iloc[pos]}); "
                          + first_bad_row(out, bad, "resolved_ts", values=out["resolved_ts"].astype(str)))
    return hours.astype("float64")


def _require_not_null(df: pd.DataFrame, table: str, col: str) -> None:
    if df[col].isna().any():
        raise table_error(table, col, "null value; " + first_bad_row(df, df[col].isna(), col))


def _as_bool(s: pd.Series, table: str, col: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(bool)
    lookup = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    mapped = s.astype(str).str.strip().str.lower().map(lookup)
    bad = mapped.isna()
    if bad.any():
        raise table_error(table, col, "not a boolean; " + first_bad_row(s.to_frame(), bad, col))
    return mapped.astype(bool)


def _check_scores(df: pd.DataFrame) -> None:
    kinds = df["kind"].astype(str).str.lower()
    bad_kind = ~kinds.isin(list(SCORE_RANGES))
    if bad_kind.any():
        raise table_error("surveys", "kind", f"must be one of {sorted(SCORE_RANGES)}; " + first_bad_row(df, bad_kind, "kind"))
    df["kind"] = kinds.astype("category")
    _require_not_null(df, "surveys", "score")
    score = df["score"]
    for kind, (lo, hi) in SCORE_RANGES.items():
        sel = (kinds == kind).to_numpy()
        bad = sel & ((score < lo) | (score > hi) | (score != np.floor(score))).to_numpy()
        if bad.any():
            raise table_error(
                "surveys", "score", f"{kind} score must be an integer in [{lo}, {hi}]; " + first_bad_row(df, bad, "score")
            )
