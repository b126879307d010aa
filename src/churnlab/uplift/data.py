"""The treatments table and the uplift rows built from it.

A ``treatments`` table records a randomised campaign: ``customer_id``, ``ts`` (when the
customer was contacted, or held out as control), ``treated`` (1/0); optionally
``campaign`` (a name) and ``cost`` (what contacting that customer cost, >= 0). Each row
becomes one uplift row: the churn label of the training config's rule measured from ``ts``
over ``horizon_days`` (:func:`churnlab.labels.churn_labels`), and the features from events
strictly before ``ts`` (:class:`churnlab.features.FeatureBuilder`, the builder training
uses), so an event at or after ``ts`` never changes a row's features.

A *cutoff* is one distinct ``ts``: every cutoff needs both arms, so the two are compared on
customers seen at the same moment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.checks import plain
from churnlab.events import EventTables, EventValidationError
from churnlab.events.contract import DEFAULT_TIME_RANGE, first_bad_row, harmonise_ids, table_error
from churnlab.events.dates import parse_text_timestamps
from churnlab.events.ids import canonical_int64
from churnlab.events.tables import read_table
from churnlab.features import FeatureBuilder, FeatureConfig
from churnlab.labels import churn_labels, label_data_end, label_table

__all__ = ["TREATMENTS", "UpliftRows", "load_treatments", "uplift_rows", "validate_treatments"]

TREATMENTS = "treatments"
REQUIRED = ("customer_id", "ts", "treated")
OPTIONAL = ("campaign", "cost")


def _ids(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        raise table_error(TREATMENTS, "customer_id", "booleans are not customer ids; "
                          + first_bad_row(s.to_frame(), s.notna(), "customer_id"))
    return harmonise_ids(s, TREATMENTS)


def _timestamps(df: pd.DataFrame, date_format: str | None) -> pd.Series:
    s = df["ts"]
    if pd.api.types.is_bool_dtype(s.dtype) or (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_datetime64_any_dtype(s.dtype)):
        raise table_error(TREATMENTS, "ts", "numbers and booleans are not timestamps (give ISO dates); " + first_bad_row(df, s.notna(), "ts"))
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        out = s
    else:
        out, problem = parse_text_timestamps(s, date_format)
        if problem is not None:
            why, bad = problem
            raise table_error(TREATMENTS, "ts", why + (first_bad_row(df, bad, "ts") if bad is not None else ""))
    if out.isna().any():
        raise table_error(TREATMENTS, "ts", "null timestamp; " + first_bad_row(df, out.isna(), "ts"))
    lo, hi = DEFAULT_TIME_RANGE
    outside = ((out < lo) | (out >= hi)).to_numpy()
    if outside.any():
        raise table_error(TREATMENTS, "ts", f"timestamp outside [{lo.date()}, {hi.date()}); " + first_bad_row(df, outside, "ts"))
    return out.astype("datetime64[us]")


def _arm(df: pd.DataFrame) -> pd.Series:
    s = df["treated"]
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("int8")
    num = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_numeric_dtype(s.dtype) else s.astype("float64")
    bad = ~num.isin([0.0, 1.0]).to_numpy()
    if bad.any():
        raise table_error(TREATMENTS, "treated", "must be 1 (contacted) or 0 (control); " + first_bad_row(df, bad, "treated"))
    return num.astype("int8")


def _cost(df: pd.DataFrame) -> pd.Series:
    s = df["cost"]
    if pd.api.types.is_bool_dtype(s.dtype):
        raise table_error(TREATMENTS, "cost", "booleans are not costs; " + first_bad_row(df, s.notna(), "cost"))
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() & s.notna()).to_numpy() | ~np.isfinite(num.fillna(0.0).to_numpy(dtype=float))
    if bad.any():
        raise table_error(TREATMENTS, "cost", "not a finite number; " + first_bad_row(df, bad, "cost"))
    neg = (num < 0).to_numpy()
    if neg.any():
        raise table_error(TREATMENTS, "cost", "negative cost; " + first_bad_row(df, neg, "cost"))
    missing = (num.isna() & (df["treated"] == 1)).to_numpy()
    if missing.any():
        raise table_error(TREATMENTS, "cost", "null cost of a contacted customer (treated 1); " + first_bad_row(df, missing, "cost"))
    return num.fillna(0.0).astype("float64")


def validate_treatments(
    df: pd.DataFrame, *, mapping: Mapping[str, str] | None = None, data_end=None, date_format: str | None = None,
) -> pd.DataFrame:
    """Check a treatments table and return a normalised copy sorted by ``ts`` and customer.

    Parameters
    ----------
    df : DataFrame
        ``customer_id``, ``ts``, ``treated`` (1/0, or booleans); optional ``campaign``, ``cost``.
        Not modified.
    mapping : dict, optional
        ``{our_column: their_column}`` renames.
    data_end : date-like, optional
        The end of the data (e.g. :func:`churnlab.labels.label_data_end`): a ``ts`` after
        it is refused.
    date_format : str, optional
        ``strftime`` format of text timestamps; default ISO 8601 only.

    Returns
    -------
    DataFrame

    Raises
    ------
    EventValidationError
        One line naming ``treatments.<column>``, the first offending row and its value: a
        missing column, ``treated`` not 0/1, a customer twice at one ``ts``, no control group
        (or no contacted customer), a cutoff with one arm only, a ``ts`` after the data's end.

    Examples
    --------
    >>> t = pd.DataFrame({"customer_id": [1, 2, 3, 4], "ts": ["2024-03-01"] * 4, "treated": [1, 0, 1, 0]})
    >>> validate_treatments(t)["treated"].tolist()
    [1, 0, 1, 0]
    >>> validate_treatments(t.assign(treated=[1, 1, 1, 2]))
    Traceback (most recent call last):
    ...
    churnlab.events.contract.EventValidationError: treatments.treated: must be 1 (contacted) or 0 (control); 1 bad row(s); first at row 3 (customer_id=4): 2
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"`treatments` must be a pandas DataFrame, got {type(df).__name__}")
    out = df.copy()
    if mapping:
        absent = {ours: theirs for ours, theirs in mapping.items() if theirs not in out.columns}
        if absent:
            ours, theirs = next(iter(absent.items()))
            raise table_error(TREATMENTS, ours, f"column mapping says {ours!r} comes from {theirs!r}, but {theirs!r} is not a column "
                              f"(columns: {list(out.columns)})")
        out = out.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    missing = [c for c in REQUIRED if c not in out.columns]
    if missing:
        raise table_error(TREATMENTS, missing[0], f"missing required column(s) {missing}; got columns {list(out.columns)}")
    if len(out) == 0:
        raise table_error(TREATMENTS, None, "table is empty")
    out = out[[c for c in (*REQUIRED, *OPTIONAL) if c in out.columns]].reset_index(drop=True)
    out["customer_id"] = _ids(out["customer_id"])
    out["ts"] = _timestamps(out, date_format)
    out["treated"] = _arm(out)
    if "cost" in out.columns:
        out["cost"] = _cost(out)
    if "campaign" in out.columns:
        out["campaign"] = out["campaign"].astype(object).where(out["campaign"].isna(), out["campaign"].astype(str))
    twice = out.duplicated(["customer_id", "ts"], keep="first").to_numpy()
    if twice.any():
        pos = int(np.flatnonzero(twice)[0])
        raise table_error(TREATMENTS, "customer_id", f"customer {plain(out['customer_id'].iloc[pos])!r} appears twice at ts "
                          f"{out['ts'].iloc[pos]}; {first_bad_row(out, twice, 'ts')}")
    for arm, what in ((0, "no control group (no row with treated 0): uplift needs customers held out of the campaign"),
                      (1, "no contacted customer (no row with treated 1)")):
        if not (out["treated"] == arm).any():
            raise table_error(TREATMENTS, "treated", what)
    arms = out.groupby("ts")["treated"].nunique()
    one = arms[arms < 2]
    if len(one):
        ts = one.index[0]
        only = int(out.loc[out["ts"] == ts, "treated"].iloc[0])
        raise table_error(TREATMENTS, "ts", f"cutoff {ts} has {'contacted' if only else 'control'} customers only "
                          f"({int((out['ts'] == ts).sum())} row(s)); every ts needs both arms ({len(one)} such cutoff(s))")
    if data_end is not None:
        end = pd.Timestamp(data_end)
        late = (out["ts"] > end).to_numpy()
        if late.any():
            raise table_error(TREATMENTS, "ts", f"after the end of the data ({end}); " + first_bad_row(out, late, "ts"))
    return out.sort_values(["ts", "customer_id"], kind="stable", ignore_index=True)


def load_treatments(source, *, mapping: Mapping[str, str] | None = None, data_end=None, date_format: str | None = None) -> pd.DataFrame:
    """Read (a DataFrame, ``.csv`` or ``.parquet``) and validate a treatments table; see
    :func:`validate_treatments`. A missing file raises EventValidationError naming it."""
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise EventValidationError(f"{TREATMENTS}: file not found: {source}")
    theirs = (mapping or {}).get("customer_id", "customer_id")
    return validate_treatments(read_table(source, TREATMENTS, id_column=theirs), mapping=mapping, data_end=data_end,
                               date_format=date_format)


def _same_ids(treatments: pd.DataFrame, events: EventTables) -> pd.DataFrame:
    """Treatments' ``customer_id`` in the events' id type (integers written as text are read back)."""
    ids = treatments["customer_id"]
    target = events.id_dtype
    if pd.api.types.is_integer_dtype(target) and not pd.api.types.is_integer_dtype(ids.dtype):
        ints = canonical_int64(ids)
        if ints is None:
            bad = pd.to_numeric(ids, errors="coerce").isna().to_numpy()
            raise table_error(TREATMENTS, "customer_id", "text ids beside the events' integer ids; "
                              + first_bad_row(treatments, bad if bad.any() else np.ones(len(ids), bool), "customer_id"))
        return treatments.assign(customer_id=ints)
    if not pd.api.types.is_integer_dtype(target) and pd.api.types.is_integer_dtype(ids.dtype):
        return treatments.assign(customer_id=ids.astype(str))
    return treatments


@dataclasses.dataclass
class UpliftRows:
    """One row per treatment that could be labelled, with its features.

    Attributes
    ----------
    frame : DataFrame
        ``customer_id``, ``ts``, ``treated``, ``churned`` (1/0), ``value`` (spend in the
        ``value_days`` before ``ts``), ``cost``, ``campaign`` (when given) and the features.
    feature_names : list of str
    builder : FeatureBuilder
        Fitted at the first ``ts``.
    excluded : DataFrame
        ``customer_id``, ``ts``, ``reason`` of every treatment row not labelled (e.g.
        ``no_purchase_before_as_of``, ``inactive``).
    label_definition : dict
    """

    frame: pd.DataFrame
    feature_names: list[str]
    builder: FeatureBuilder
    excluded: pd.DataFrame
    label_definition: dict


def uplift_rows(
    events: EventTables, treatments: pd.DataFrame, *, horizon_days: float = 90, rule: str = "fixed",
    features: FeatureConfig | None = None, value_days: float = 365, observed_until=None, **label_options,
) -> UpliftRows:
    """Label each treatment from its ``ts`` and build its features from events before it.

    Parameters
    ----------
    events : EventTables
    treatments : DataFrame
        Validated by :func:`validate_treatments` here (against the label table's end).
    horizon_days, rule : label window and rule (see :func:`churnlab.labels.churn_labels`)
    features : FeatureConfig, optional
    value_days : float
        Customer value: spend (purchases' ``amount``; without it, the purchase count) in
        ``[ts - value_days, ts)``.
    observed_until : date-like, optional
        The date the data is complete to (``data.observed_until``).
    **label_options
        ``k``, ``min_window_days``, ``single_purchase``, ``active_days`` of :func:`churn_labels`.

    Returns
    -------
    UpliftRows

    Raises
    ------
    EventValidationError
        A bad treatments table (see :func:`validate_treatments`), or a ``ts`` whose label
        window ends after the data, naming the row.

    Examples
    --------
    >>> from churnlab.datasets.uplift_sim import make_uplift_campaign
    >>> sim = make_uplift_campaign(200, campaign_dates=("2024-03-01",), horizon_days=60)
    >>> rows = uplift_rows(sim.events, sim.treatments, horizon_days=60)
    >>> len(rows.frame) == len(sim.treatments), rows.frame["churned"].tolist() == sim.truth["churned"].tolist()
    (True, True)
    """
    if not isinstance(events, EventTables):
        raise TypeError(f"`events` must be EventTables (see churnlab.load_events), got {type(events).__name__}")
    end = label_data_end(events, rule, observed_until=observed_until)
    t = _same_ids(validate_treatments(treatments, data_end=end), events)
    h = pd.Timedelta(days=float(horizon_days))
    unobserved = (t["ts"] + h > end + pd.Timedelta(days=1)).to_numpy()
    if unobserved.any():
        raise table_error(TREATMENTS, "ts", f"its {float(horizon_days):g}-day label window ends after {label_table(events, rule)} are "
                          f"observed (until {end}; set data.observed_until if the data is complete to a later date); "
                          + first_bad_row(t, unobserved, "ts"))
    cutoffs = sorted(t["ts"].unique())
    builder = FeatureBuilder(features).fit(events, cutoffs[0])
    parts, excluded, definition = [], [], {}
    for ts in cutoffs:
        rows = t[t["ts"] == ts]
        labels = churn_labels(events, ts, horizon_days, rule, observed_until=observed_until, **label_options)
        definition = labels.definition
        X = builder.transform(events, ts, customer_ids=rows["customer_id"])
        lab = labels.labels["churned"]
        ok = rows["customer_id"].isin(lab.index) & rows["customer_id"].isin(X.index)
        reason = labels.excluded["reason"].reindex(rows.loc[~ok, "customer_id"]).fillna("no_history_before_ts")
        excluded.append(pd.DataFrame({"customer_id": rows.loc[~ok, "customer_id"].to_numpy(), "ts": ts, "reason": reason.to_numpy()}))
        kept = rows[ok].reset_index(drop=True)
        kept["churned"] = lab.reindex(kept["customer_id"]).to_numpy().astype("int8")
        kept["value"] = _value(events, ts, kept["customer_id"], value_days)
        parts.append(pd.concat([kept, X.reindex(kept["customer_id"]).reset_index(drop=True)], axis=1))
    frame = pd.concat(parts, ignore_index=True)
    if "cost" not in frame.columns:
        frame.insert(3, "cost", np.nan)
    return UpliftRows(frame, list(builder.feature_names_), builder, pd.concat(excluded, ignore_index=True), definition)


def _value(events: EventTables, ts: pd.Timestamp, ids: pd.Series, days: float) -> np.ndarray:
    """Spend (or, without amounts, the purchase count) in ``[ts - days, ts)`` per customer."""
    p = events.purchases
    if p is None:
        return np.ones(len(ids))
    window = p[(p["ts"] < ts) & (p["ts"] >= ts - pd.Timedelta(days=float(days)))]
    per = window.groupby("customer_id")["amount"].sum() if "amount" in p.columns else window.groupby("customer_id").size()
    return per.reindex(ids).fillna(0.0).to_numpy(dtype=float)
