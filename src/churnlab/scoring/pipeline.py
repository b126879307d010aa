"""Batch scoring: features at ``as_of`` -> churn probability -> risk tier -> reason codes.

Output columns: ``customer_id, as_of, churn_probability, risk_tier, reason_1..k,
driver_1..k, status, horizon_days, model_version``. ``status`` is ``scored`` or
``no_history`` (no event before ``as_of``), ``no_purchase`` (events but no purchase),
``inactive`` (last purchase longer ago than the training label's ``active_days``: already
churned by the definition the model was trained on) or ``cancelled`` (``customers.cancel_ts``
before ``as_of``). Those are reported with an empty probability, never dropped.

Files are written in chunks of customers to a temporary file beside the target and renamed
into place only when complete, so a crash or Ctrl-C never leaves a partial output.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pandas as pd

from churnlab.checks import plain, to_timestamp
from churnlab.events import EventTables
from churnlab.events.contract import snapshot_times
from churnlab.events.ids import is_canonical_integer
from churnlab.explain import driver_arrays, shap_frame, shap_values
from churnlab.explain.treeshap import engine_threads
from churnlab.features import CustomerRowIndex, shared_databases
from churnlab.labels import cancelled_before
from churnlab.scoring.model import ScoringModel
from churnlab.scoring.output import Coded, text_column
from churnlab.scoring.tiers import check_share, check_thresholds, risk_tiers

__all__ = ["prefetch", "score_block", "score_customers", "score_table"]

AHEAD = 2  # chunks whose features are built ahead of the one being scored

T = TypeVar("T")
R = TypeVar("R")


def _reasons_wide(drivers: dict, rows: np.ndarray, n: int, k: int) -> dict[str, Coded]:
    """``reason_1..k, driver_1..k`` columns for ``n`` customers from driver arrays; ``rows`` maps
    the explained customers to their positions among the ``n``."""
    reason = np.full((n, k), -1, dtype=np.int64)
    driver = np.full((n, k), -1, dtype=np.int64)
    at = (rows[drivers["row"]], drivers["rank"] - 1)
    reason[at] = drivers["reason"]
    driver[at] = drivers["group"]
    return {
        **{f"reason_{r + 1}": Coded(drivers["reason_texts"], reason[:, r]) for r in range(k)},
        **{f"driver_{r + 1}": Coded(drivers["groups"], driver[:, r]) for r in range(k)},
    }


def _predict(sm: ScoringModel, X: pd.DataFrame, k: int, reason_tiers: Collection[str] | None = None):
    """Churn probability and, when everyone gets reasons, SHAP values from the same pass:
    the model's share of scoring (numba and LightGBM, mostly without the GIL)."""
    if not len(X):
        return np.array([]), None
    if reason_tiers is None and k > 0:  # everyone gets reasons: one pass for both
        proba, contrib = sm.model.churn_probability_and_contributions(X)
        return proba, shap_frame(sm.model, contrib, X.index)
    return sm.model.churn_probability(X), None


def _score_features(
    sm: ScoringModel, X: pd.DataFrame, k: int, tiers, reason_tiers: Collection[str] | None = None,
) -> dict[str, np.ndarray]:
    """Churn probability, risk tier and ``reason_1..k, driver_1..k`` for the rows of ``X``, as arrays."""
    proba, shap = _predict(sm, X, k, reason_tiers)
    tier = tiers(proba)
    # SHAP is the cost of scoring: explain only the tiers that need reasons, if so asked
    chosen = np.ones(len(X), dtype=bool) if reason_tiers is None else np.isin(np.asarray(tier, dtype=object), list(reason_tiers))
    if chosen.any() and k > 0:
        explain_rows = X if chosen.all() else X[chosen]
        if shap is None:
            shap = shap_values(sm.model, explain_rows)
        drivers = driver_arrays(shap, explain_rows, sm.dictionary, k, "risk", values=False)
        wide = _reasons_wide(drivers, np.flatnonzero(chosen), len(X), k)
    else:
        none = Coded(np.array([], dtype=object), np.full(len(X), -1, dtype=np.int64))
        wide = {f"{c}_{r}": none for c in ("reason", "driver") for r in range(1, k + 1)}
    return {"churn_probability": proba, "risk_tier": tier, **wide}


def score_customers(
    model: ScoringModel,
    events: EventTables,
    as_of,
    customer_ids: Iterable | None = None,
    k: int = 5,
    thresholds: dict[str, float] | None = None,
    top_share: float | None = None,
    chunk_size: int = 50_000,
    progress=None,
    reason_tiers: Collection[str] | None = None,
    drift=None,
    value: Callable | None = None,
):
    """Scored chunks (DataFrames) for the requested customers, in customer order.

    Arguments are checked when this is called; the chunks are computed as the returned
    iterator is consumed (e.g. by :func:`write_scores`).

    ``reason_tiers`` (e.g. ``{"high"}``) limits SHAP and reason codes to customers in those
    risk tiers; the others get probability and tier with empty reasons. Reason codes are
    read by people reviewing at-risk customers, and SHAP is most of the cost of scoring.

    Everything runs chunk by chunk of ``chunk_size`` customers: features (from the chunk's own
    event rows, found through a :class:`~churnlab.features.CustomerRowIndex`), eligibility,
    probability, SHAP and reasons, so memory beyond the event tables is bounded by the chunk
    size. Customers already ``inactive`` are recognised from the row index before any feature
    is built; customers whose ``customers.cancel_ts`` is before ``as_of`` get status
    ``cancelled``. The features of the next chunks (at most two) are built on a worker thread
    while the current one is scored; the output does not depend on chunking or threads.
    ``k=0`` skips SHAP and reasons (probability and tier only). Tiers by ``top_share`` use the
    probability distribution of all requested customers (one extra probability-only pass).

    Parameters
    ----------
    model : ScoringModel
    events : EventTables
        Holding every table the model was trained with.
    as_of : date-like
        Features use events strictly before it.
    customer_ids : iterable, optional
        The list to score (default: everyone with an event before ``as_of``); ids of the
        events' type, unknown ones reported as ``no_history``.
    k : int
        Reasons per customer (0: none).
    thresholds : dict, optional
        Risk-tier thresholds; default the model's own, fitted to its base rate
        (:attr:`ScoringModel.thresholds`).
    top_share : float, optional
        Instead: the top share of the list is "high", the rest "low".
    chunk_size : int
        Customers per chunk.
    progress : callable, optional
        Called with the number of customers of each finished chunk.
    reason_tiers : collection of str, optional
        Only these tiers get reasons.
    drift : DriftCounter, optional
        Counts each chunk's scored customers (features and probability) for the drift
        table, verdict and label-free performance estimate of
        :class:`churnlab.monitor.DriftCounter` (e.g. :func:`churnlab.monitor.model_drift_counter`
        of the model at ``as_of``).
    value : callable, optional
        ``value(events, as_of, customer_ids, row_index, threads=...) -> Series`` of customer
        value by id, e.g. :class:`churnlab.scoring.value.StoredValue`: called per chunk with
        the chunk's listed customers, beside its features; adds ``customer_value`` (NaN for
        customers it leaves out).

    Returns
    -------
    iterator of DataFrame
        One frame per chunk: ``customer_id, as_of, churn_probability, risk_tier,
        reason_1..k, driver_1..k, status, horizon_days, model_version`` (and
        ``customer_value`` with ``value``).

    Examples
    --------
    >>> model = ScoringModel.load("models:/churn/3")                                  # doctest: +SKIP
    >>> counts = write_scores(score_customers(model, events, "2025-01-01"), "scores.parquet")  # doctest: +SKIP
    """
    sm = model
    if not isinstance(sm, ScoringModel):
        raise TypeError(f"`model` must be a ScoringModel (ScoringModel.load(uri)), got {type(sm).__name__}")
    if not isinstance(events, EventTables):
        raise TypeError(f"`events` must be EventTables (see churnlab.load_events), got {type(events).__name__}")
    for name, number in (("chunk_size", chunk_size), ("k", k)):
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
            raise TypeError(f"`{name}` must be an integer, got {plain(number)!r}")
    if chunk_size <= 0:
        raise ValueError(f"`chunk_size` must be > 0, got {chunk_size}")
    if k < 0:
        raise ValueError(f"`k` (reason codes per customer) must be >= 0, got {k}")
    if top_share is not None:
        check_share(top_share)
    else:
        thresholds = check_thresholds(thresholds) if thresholds is not None else sm.thresholds
    if reason_tiers is not None:
        known = {"high", "low"} if top_share is not None else {"low", *thresholds}
        if isinstance(reason_tiers, str):
            raise TypeError(f"`reason_tiers` must be a collection of tier names, got {reason_tiers!r}")
        unknown = sorted(set(reason_tiers) - known)
        if unknown or not reason_tiers:
            raise ValueError(f"`reason_tiers` must name risk tiers among {sorted(known)}, got {sorted(reason_tiers)}")
    t = to_timestamp(as_of)
    first, last = events.date_range()
    if t <= first:
        raise ValueError(
            f"`as_of` {t} is not after the first event ({first}); the events span {first} to {last}, "
            "so no customer has history to score"
        )
    requested = None
    if customer_ids is not None:
        requested = _requested_ids(customer_ids, events.id_dtype)
    sm.check_tables(events)
    if value is not None and not callable(value):
        raise TypeError(f"`value` must be a function of (events, as_of, customer_ids, row_index), got {type(value).__name__}")
    return _score_stream(sm, events, t, requested, k, thresholds, top_share, chunk_size, progress, reason_tiers, drift, value)


def score_table(
    model: ScoringModel,
    table: pd.DataFrame,
    k: int = 5,
    thresholds: dict[str, float] | None = None,
    top_share: float | None = None,
    chunk_size: int = 50_000,
    reason_tiers: Collection[str] | None = None,
    drift=None,
    *,
    date_format: str | None = None,
):
    """Scored chunks for the rows of a customer table, for a model trained on one.

    Parameters
    ----------
    model : ScoringModel
        Trained with ``data.source: table``.
    table : DataFrame
        The model's feature columns and id column; a label column is ignored.
    k, thresholds, top_share, chunk_size, reason_tiers, drift
        As for :func:`score_customers`.
    date_format : str, optional
        strftime format of a text snapshot-date column (default: ISO 8601 only).

    Returns
    -------
    iterator of DataFrame
        The columns of :func:`score_customers`; ``as_of`` is the row's snapshot date when the
        model was trained with one and the table has it, else empty.

    Examples
    --------
    >>> chunks = score_table(ScoringModel.load("runs:/<run id>/model"), pd.read_csv("customers.csv"))  # doctest: +SKIP
    """
    if not isinstance(model, ScoringModel):
        raise TypeError(f"`model` must be a ScoringModel (ScoringModel.load(uri)), got {type(model).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"`k` (reason codes per customer) must be an integer >= 0, got {plain(k)!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size <= 0:
        raise ValueError(f"`chunk_size` must be an integer > 0, got {plain(chunk_size)!r}")
    X_all = model.table_features(table)  # checks the columns now, not at the first chunk
    if X_all.index.has_duplicates and model.builder.time_column not in table.columns:
        raise ValueError(f"table.{model.builder.id_column}: duplicated id {X_all.index[X_all.index.duplicated()][0]!r}")
    time = model.builder.time_column
    when = snapshot_times(table[time], time, date_format).to_numpy("datetime64[us]") if time and time in table.columns else None
    if top_share is not None:
        check_share(top_share)
        tiers = _tiers(None, np.quantile(model.model.churn_probability(X_all), 1 - top_share) if len(X_all) else np.inf)
    else:
        tiers = _tiers(check_thresholds(thresholds) if thresholds is not None else model.thresholds)

    def chunks():
        for lo in range(0, len(X_all), chunk_size):
            X = X_all.iloc[lo : lo + chunk_size]
            # rows by position: one customer may stand at several snapshot dates
            rows = pd.RangeIndex(len(X))
            t = when[lo : lo + chunk_size] if when is not None else None
            part = score_block(model, X.set_axis(rows), pd.Series("scored", index=rows, dtype=object), rows, t, k, tiers,
                               reason_tiers)
            if drift is not None:
                drift.add(X, part["churn_probability"].to_numpy())
            yield part.assign(customer_id=X.index.to_numpy())

    return chunks()


def _requested_ids(customer_ids: Iterable, id_dtype) -> pd.Index:
    """The listed ids, unique, in the events' id type: integers stay integers only when every
    value is integral (``2.5``, ``True`` or ``'abc'`` are refused, naming the value)."""
    if isinstance(customer_ids, (str, bytes, pd.DataFrame)):
        raise TypeError(f"`customer_ids` must be a list of ids, got {type(customer_ids).__name__}")
    values = pd.Series(list(customer_ids) if not isinstance(customer_ids, (pd.Series, pd.Index, np.ndarray)) else customer_ids)
    if values.empty:
        raise ValueError("the customer list is empty")
    if values.isna().any():
        raise ValueError(f"customer list: missing id at position {int(np.flatnonzero(values.isna())[0])}")
    if not pd.api.types.is_integer_dtype(id_dtype):
        if pd.api.types.is_bool_dtype(values.dtype) or values.map(lambda v: isinstance(v, (bool, np.bool_))).any():
            bad = values[values.map(lambda v: isinstance(v, (bool, np.bool_)))].iloc[0]
            raise ValueError(f"customer list: {plain(bad)!r} is not a customer id")
        return pd.Index(pd.unique(values.astype(str)))
    if pd.api.types.is_integer_dtype(values.dtype):
        return pd.Index(pd.unique(values.astype("int64")))
    if pd.api.types.is_float_dtype(values.dtype):
        bad = ~np.isfinite(values) | (values != np.floor(values))
        if bad.any():
            raise ValueError(f"customer list: ids are integers like the events', got {plain(values[bad].iloc[0])!r}")
        return pd.Index(pd.unique(values.astype("int64")))
    for v in values:  # the first value that is not an integral number is named
        if isinstance(v, (bool, np.bool_)):
            raise ValueError(f"customer list: ids are integers like the events', got {plain(v)!r}")
        if isinstance(v, (int, np.integer)):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"customer list: ids are integers like the events', got {plain(v)!r}") from None
        # text is an integer id only as str(int) writes it: '007', '+7' or '1e3' is not 7 as written
        if not np.isfinite(f) or f != np.floor(f) or (isinstance(v, str) and not is_canonical_integer(v)):
            raise ValueError(f"customer list: ids are integers like the events', got {plain(v)!r}")
    return pd.Index(pd.unique(values.map(lambda v: int(float(v)) if not isinstance(v, (int, np.integer)) else int(v)).astype("int64")))


@contextlib.contextmanager
def prefetch(fn: Callable[[T], R], items: Iterable[T], depth: int = AHEAD) -> Iterator[Iterator[R]]:
    """``fn(item)`` for each item, in order, computed up to ``depth`` items ahead on one worker
    thread that starts when the block is entered; ``depth=0`` computes each on the caller's
    thread when asked. Leaving the block early (an error, Ctrl-C) cancels what was not
    started and waits for the item being computed; an error in ``fn`` surfaces when its
    item is reached.

    >>> with prefetch(lambda x: x * x, range(5)) as squares:
    ...     list(squares)
    [0, 1, 4, 9, 16]
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"`depth` must be an integer >= 0, got {depth!r}")
    queue = iter(items)
    if depth == 0:
        yield (fn(item) for item in queue)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnlab-prefetch")
    pending: deque = deque()

    def top_up() -> None:
        while len(pending) < depth:
            item = next(queue, _END)
            if item is _END:
                return
            pending.append(pool.submit(fn, item))

    def results() -> Iterator[R]:
        while pending:
            value = pending.popleft().result()
            top_up()
            yield value

    try:
        top_up()
        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


def _score_stream(sm, events, t, requested, k, thresholds, top_share, chunk_size, progress, reason_tiers, drift=None,
                  value=None):
    """The generator behind :func:`score_customers` (arguments already checked).

    Chunk by chunk: features (on a worker thread, up to :data:`AHEAD` chunks ahead, so
    DuckDB builds the next chunks while this one is scored: DuckDB runs without the GIL),
    then probability, SHAP and reasons on this thread. Each stage gets half of the cores
    (oversubscribed thread pools stall at their barriers); the last chunk, with no features
    left to build, is scored on all of them. Memory beyond the event tables is bounded by
    the chunk size, and the output does not depend on the chunking (tested).
    """
    all_ids = requested if requested is not None else sm.builder.known_customers(events, t)
    cancelled = cancelled_before(events, t)
    bounds = [(lo, lo + chunk_size) for lo in range(0, len(all_ids), chunk_size)]
    pipelined = len(bounds) > 1
    sql_threads, kernel_threads = _split_cores() if pipelined else (None, None)
    # With several chunks, an index of where each customer's rows are lets a chunk gather its
    # own rows instead of filtering every table again. Built by the first chunk, on the one
    # thread that builds every chunk's features, while this thread loads the SHAP kernels.
    index: list[CustomerRowIndex] = []

    def chunk_features(bound):
        if pipelined and not index:
            index.append(CustomerRowIndex(events))
        row_index = index[0] if index else None
        lo, hi = bound
        listed = all_ids[lo:hi]
        ids, gone = listed, listed[:0]
        if row_index is not None and events.purchases is not None:
            # customers already churned by the training label are known from the index alone:
            # their features would only be built to be thrown away
            gone = listed[sm.inactive(row_index.recency_days(events.purchases, listed.to_numpy(), t))]
            ids = listed.difference(gone, sort=False) if len(gone) else listed
        X = sm.features(events, t, ids, row_index, threads=sql_threads)
        status = sm.eligibility(X, cancelled)
        if len(gone):
            status = pd.concat([status, pd.Series("inactive", index=gone, dtype=object)])
        if len(cancelled):  # cancelled before as_of, whatever else is known of them
            gone_for_good = listed[listed.isin(cancelled)]
            status = pd.concat([status[~status.index.isin(gone_for_good)], pd.Series("cancelled", index=gone_for_good, dtype=object)])
        return listed, X[status.reindex(X.index) == "scored"], status

    def chunk_inputs(bound, with_value: bool):
        ids, X, status = chunk_features(bound)
        worth = value(events, t, ids, index[0] if index else None, threads=sql_threads) if with_value else None
        return ids, X, status, worth

    def each_chunk(warm_up: bool = False, with_value: bool = False):
        """``(ids, features, status, value, is_last)`` per chunk, features built ahead."""
        # every chunk's query on one DuckDB database, closed after the last one
        build = functools.partial(chunk_inputs, with_value=with_value)
        with shared_databases(), prefetch(build, bounds, AHEAD if pipelined else 0) as built:
            if warm_up:  # SHAP kernels (and the model's training patterns) load meanwhile
                sm.model.warm_up()
            for i, (ids, X, status, worth) in enumerate(built):
                yield ids, X, status, worth, i == len(bounds) - 1

    if top_share is not None:
        # one cut for the whole list, not per chunk: a first pass for probabilities only
        proba = [sm.model.churn_probability(X) for _, X, _, _, _ in each_chunk() if len(X)]
        tiers = _tiers(None, np.quantile(np.concatenate(proba), 1 - top_share) if proba else np.inf)
    else:
        tiers = _tiers(thresholds)

    for ids, X, status, worth, last in each_chunk(warm_up=k > 0, with_value=value is not None):
        with engine_threads(None if last else kernel_threads):
            part = score_block(sm, X, status, ids, t, k, tiers, reason_tiers)
        if worth is not None:
            part["customer_value"] = worth.reindex(ids).to_numpy(dtype=float)
        if drift is not None:
            _count_drift(drift, X, part)
        if progress is not None:
            progress(len(ids))
        yield part

def _count_drift(drift, X: pd.DataFrame, part: pd.DataFrame) -> None:
    """Add a chunk's scored customers (their features and probabilities) to a DriftCounter."""
    proba = part.set_index("customer_id")["churn_probability"]
    drift.add(X, proba.reindex(X.index).to_numpy())


def _tiers(thresholds: dict[str, float] | None, cut: float | None = None):
    """The tier of each probability of a chunk: by ``thresholds``, or with ``cut`` (one
    probability for the whole list, from ``top_share``) "high" at or above it, else "low"."""
    if cut is not None:
        return lambda p: np.where(p >= cut, "high", "low").astype(object)
    return lambda p: risk_tiers(p, thresholds)


def _split_cores() -> tuple[int, int]:
    """Threads for (the feature SQL, the SHAP kernels) when the two run side by side."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 2
    return max(1, n // 2), max(1, n - n // 2)


def score_block(
    sm: ScoringModel, X: pd.DataFrame, status: pd.Series, ids: pd.Index, t, k: int, tiers,
    reason_tiers: Collection[str] | None = None,
) -> pd.DataFrame:
    """Output rows for ``ids``: ``X`` holds the features of those eligible for scoring, ``status``
    the eligibility of those with history; ids in neither are ``no_history``. ``t`` is the
    cutoff (a Timestamp), one per row (a table's snapshot dates) or None. Shared by the local
    scorers and the Spark one so that all write the same columns and types."""
    cols = _score_features(sm, X, k, tiers, reason_tiers)
    n = len(ids)
    at = ids.get_indexer(X.index)  # the scored customers' places in the list

    def spread(values, fill, dtype=object):
        out = np.full(n, fill, dtype=dtype)
        out[at] = values
        return out

    known = ids.get_indexer(status.index)
    state = np.full(n, "no_history", dtype=object)
    state[known[known >= 0]] = status.to_numpy(dtype=object)[known >= 0]
    horizon = sm.label_definition.get("horizon_days")
    text = {
        c: text_column(Coded(v.texts, spread(v.codes, -1, np.int64)) if isinstance(v, Coded) else spread(v, None))
        for c, v in cols.items()
        if c != "churn_probability"
    }
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "as_of": _as_of_column(t, n),
            "churn_probability": spread(np.asarray(cols["churn_probability"], dtype="float64"), np.nan, "float64"),
            **text,
            "status": text_column(state),
            "horizon_days": np.full(n, float(horizon) if horizon is not None else np.nan),
            "model_version": text_column(Coded(np.array([sm.version], dtype=object), np.zeros(n, dtype=np.int64))),
        }
    )


def _as_of_column(t, n: int) -> np.ndarray:
    """One cutoff for every row, a cutoff per row (a table's snapshot dates), or none."""
    if t is None:
        return np.full(n, np.datetime64("NaT", "us"))
    if isinstance(t, pd.Timestamp):
        return np.full(n, t.as_unit("us").to_datetime64())
    return np.asarray(t, dtype="datetime64[us]")
