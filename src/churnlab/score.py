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
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections import deque
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnlab.atomic import atomic_output, check_output_path
from churnlab.events import EventTables, plain, to_timestamp
from churnlab.explain import _driver_arrays, _shap_frame, explain
from churnlab.features import CustomerRowIndex, FeatureBuilder, shared_databases
from churnlab.labels import cancelled_before
from churnlab._treeshap import engine_threads
from churnlab.model import ChurnModel

__all__ = [
    "DEFAULT_THRESHOLDS",
    "ScoringModel",
    "SchemaMismatchError",
    "check_thresholds",
    "risk_tiers",
    "score_customers",
    "write_scores",
]

#: Probability at or above which a customer is in each risk tier (below all: "low").
DEFAULT_THRESHOLDS = {"high": 0.5, "medium": 0.2}
TIERS = ("high", "medium", "low")


_AHEAD = 2  # chunks whose features are built ahead of the one being scored


class SchemaMismatchError(ValueError):
    """The model's features do not match what the feature builder produces."""


class ScoringModel:
    """A trained model with what scoring needs: feature builder, dictionary, label definition."""

    def __init__(self, model: ChurnModel, metadata: dict, version: str = "unknown"):
        self.model = model
        self.metadata = metadata
        self.version = version
        self.builder = FeatureBuilder.from_dict(metadata["feature_builder"])
        self.dictionary = pd.DataFrame(metadata["feature_dictionary"])
        self.label_definition = metadata.get("label_definition", {})
        missing = [f for f in model.feature_names_ if f not in self.builder.feature_names_]
        extra = [f for f in self.builder.feature_names_ if f not in model.feature_names_]
        if missing or extra:
            raise SchemaMismatchError(
                f"model features and feature builder disagree: missing from the builder {missing[:10]}, "
                f"not used by the model {extra[:10]}"
            )

    @classmethod
    def load(cls, model_uri: str) -> "ScoringModel":
        from churnlab.tracking import load_model_bundle

        model, meta = load_model_bundle(model_uri)
        return cls(model, meta, version=model_uri)

    def eligibility(self, X: pd.DataFrame, cancelled: pd.Index | None = None) -> pd.Series:
        """Status per customer with features: ``scored`` if inside the population the model was
        trained on (bought before as_of, and within ``active_days`` if the label had one),
        else ``no_purchase``, ``inactive`` (already churned by the training definition) or
        ``cancelled`` (in ``cancelled``: see :func:`churnlab.labels.cancelled_before`)."""
        status = pd.Series("scored", index=X.index, dtype=object)
        status[X["p_count_total"] == 0] = "no_purchase"
        status[(X["p_count_total"] > 0) & self.inactive(X["p_recency_days"].to_numpy())] = "inactive"
        if cancelled is not None and len(cancelled):
            status[X.index.isin(cancelled)] = "cancelled"
        return status

    def inactive(self, recency_days: np.ndarray) -> np.ndarray:
        """Whether customers whose last purchase was ``recency_days`` before as_of (NaN: never)
        are already churned by the training label's ``active_days`` (outside the scored population)."""
        active_days = self.label_definition.get("active_days")
        r = np.asarray(recency_days, dtype=float)
        if active_days is None:
            return np.zeros(len(r), dtype=bool)
        return r > float(active_days)  # NaN compares False

    def check_tables(self, events: EventTables) -> None:
        """Raise :class:`SchemaMismatchError` if the events lack a table the model was trained with."""
        missing = [t for t in self.builder.tables_ if t not in events.tables()]
        if missing:
            absent = [f for f in self.model.feature_names_ if f.split("_", 1)[0] in {m[0] for m in missing}]
            raise SchemaMismatchError(
                f"the model was trained with table(s) {missing} that the events lack; "
                f"features that cannot be built: {absent[:10]}"
            )

    def features(
        self, events: EventTables, as_of, customer_ids: Iterable | None = None, row_index: CustomerRowIndex | None = None,
        threads: int | None = None,
    ) -> pd.DataFrame:
        self.check_tables(events)
        return self.builder.transform(events, as_of, customer_ids, row_index=row_index, threads=threads)


def check_thresholds(thresholds: dict[str, float] | None) -> dict[str, float]:
    """Validated risk-tier thresholds: tiers among ``high``/``medium``, each in (0, 1), and
    ``high`` above ``medium``. ``None`` gives :data:`DEFAULT_THRESHOLDS`.

    >>> check_thresholds({"high": 0.1, "medium": 0.6})
    Traceback (most recent call last):
    ...
    ValueError: `thresholds`: high (0.1) must be above medium (0.6)
    """
    if thresholds is None:
        return dict(DEFAULT_THRESHOLDS)
    if not isinstance(thresholds, dict) or not thresholds:
        raise TypeError(f"`thresholds` must be a dict like {DEFAULT_THRESHOLDS}, got {thresholds!r}")
    for name, t in thresholds.items():
        if name not in ("high", "medium"):
            raise ValueError(f"`thresholds`: unknown risk tier {name!r}; tiers with a threshold are 'high' and 'medium'")
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
            raise TypeError(f"`thresholds`: {name} must be a number in (0, 1), got {plain(t)!r}")
        if not 0 < t < 1:
            raise ValueError(f"`thresholds`: {name} must be in (0, 1), got {plain(t)!r}")
    if "high" in thresholds and "medium" in thresholds and not thresholds["high"] > thresholds["medium"]:
        raise ValueError(f"`thresholds`: high ({plain(thresholds['high'])}) must be above medium ({plain(thresholds['medium'])})")
    return {k: float(v) for k, v in thresholds.items()}


def _check_share(top_share) -> None:
    if isinstance(top_share, bool) or not isinstance(top_share, (int, float, np.integer, np.floating)) or not 0 < top_share < 1:
        raise ValueError(f"`top_share` must be in (0, 1), got {plain(top_share)!r}")


def risk_tiers(proba: np.ndarray, thresholds: dict[str, float] | None = None, top_share: float | None = None) -> np.ndarray:
    """Tier labels from probability thresholds (default :data:`DEFAULT_THRESHOLDS`, else
    "low") or, with ``top_share``, "high" for the top share by probability and "low" otherwise.

    >>> risk_tiers([0.7, 0.3, 0.1]).tolist()
    ['high', 'medium', 'low']
    """
    p = np.asarray(proba, dtype=float)
    if top_share is not None:
        _check_share(top_share)
        cut = np.nanquantile(p, 1 - top_share) if np.isfinite(p).any() else np.inf
        return np.where(np.isnan(p), None, np.where(p >= cut, "high", "low"))
    thresholds = check_thresholds(thresholds)
    out = np.full(len(p), "low", dtype=object)
    for name, t in sorted(thresholds.items(), key=lambda kv: kv[1]):
        out[p >= t] = name
    out[np.isnan(p)] = None
    return out


class _Coded(NamedTuple):
    """A text column as codes into ``texts`` (-1: missing): built into Arrow with one take."""

    texts: np.ndarray
    codes: np.ndarray


def _reasons_wide(drivers: dict, rows: np.ndarray, n: int, k: int) -> dict[str, _Coded]:
    """``reason_1..k, driver_1..k`` columns for ``n`` customers from driver arrays; ``rows`` maps
    the explained customers to their positions among the ``n``."""
    reason = np.full((n, k), -1, dtype=np.int64)
    driver = np.full((n, k), -1, dtype=np.int64)
    at = (rows[drivers["row"]], drivers["rank"] - 1)
    reason[at] = drivers["reason"]
    driver[at] = drivers["group"]
    return {
        **{f"reason_{r + 1}": _Coded(drivers["reason_texts"], reason[:, r]) for r in range(k)},
        **{f"driver_{r + 1}": _Coded(drivers["groups"], driver[:, r]) for r in range(k)},
    }


def _predict(sm: ScoringModel, X: pd.DataFrame, k: int, reason_tiers: Collection[str] | None = None):
    """Churn probability and, when everyone gets reasons, SHAP values from the same pass:
    the model's share of scoring (numba and LightGBM, mostly without the GIL)."""
    if not len(X):
        return np.array([]), None
    if reason_tiers is None and k > 0:  # everyone gets reasons: one pass for both
        proba, contrib = sm.model.predict_proba_and_contributions(X)
        return proba, _shap_frame(sm.model, contrib, X.index)
    return sm.model.predict_proba(X), None


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
            shap = explain(sm.model, explain_rows)
        drivers = _driver_arrays(shap, explain_rows, sm.dictionary, k, "risk", values=False)
        wide = _reasons_wide(drivers, np.flatnonzero(chosen), len(X), k)
    else:
        none = _Coded(np.array([], dtype=object), np.full(len(X), -1, dtype=np.int64))
        wide = {f"{c}_{r}": none for c in ("reason", "driver") for r in range(1, k + 1)}
    return {"churn_probability": proba, "risk_tier": tier, **wide}


def _text(values):
    """A pandas ``string`` column from an object array (None or NaN: missing) or a
    :class:`_Coded` one; typed even when all missing, so that the file's column is a string
    column in every chunk."""
    dtype = pd.StringDtype()
    if dtype.storage == "pyarrow":  # straight from Arrow: no per-value checks in Python
        if isinstance(values, _Coded):  # each distinct text converted once, then taken
            texts = pa.array(values.texts, type=pa.string(), from_pandas=True)
            arr = texts.take(pa.array(values.codes, mask=values.codes < 0))
        else:
            arr = pa.array(values, type=pa.string(), from_pandas=True)
        return pd.arrays.ArrowStringArray(arr)
    if isinstance(values, _Coded):
        values = _decode(values)
    return pd.array(values, dtype=dtype)


def _decode(column: _Coded) -> np.ndarray:
    """The texts of a :class:`_Coded` column as an object array (None: missing)."""
    out = np.full(len(column.codes), None, dtype=object)
    has = column.codes >= 0
    out[has] = column.texts[column.codes[has]]
    return out


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
    """
    sm = model
    if not isinstance(sm, ScoringModel):
        raise TypeError(f"`model` must be a ScoringModel (ScoringModel.load(uri)), got {type(sm).__name__}")
    if not isinstance(events, EventTables):
        raise TypeError(f"`events` must be EventTables (see churnlab.load_events), got {type(events).__name__}")
    for name, value in (("chunk_size", chunk_size), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an integer, got {plain(value)!r}")
    if chunk_size <= 0:
        raise ValueError(f"`chunk_size` must be > 0, got {chunk_size}")
    if k < 0:
        raise ValueError(f"`k` (reason codes per customer) must be >= 0, got {k}")
    if top_share is not None:
        _check_share(top_share)
    else:
        thresholds = check_thresholds(thresholds)
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
        requested = _requested_ids(customer_ids, events.purchases["customer_id"].dtype)
    sm.check_tables(events)
    return _score_stream(sm, events, t, requested, k, thresholds, top_share, chunk_size, progress, reason_tiers)


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
        if not np.isfinite(f) or f != np.floor(f) or (isinstance(v, str) and not v.strip().lstrip("+-").isdigit()):
            raise ValueError(f"customer list: ids are integers like the events', got {plain(v)!r}")
    return pd.Index(pd.unique(values.map(lambda v: int(float(v)) if not isinstance(v, (int, np.integer)) else int(v)).astype("int64")))


def _score_stream(sm, events, t, requested, k, thresholds, top_share, chunk_size, progress, reason_tiers):
    """The generator behind :func:`score_customers` (arguments already checked)."""
    all_ids = requested if requested is not None else sm.builder.known_customers(events, t)
    cancelled = cancelled_before(events, t)

    # Features per chunk of customers, so memory beyond the event tables depends on the chunk
    # size, not on how many are scored. With several chunks, an index of where each customer's
    # rows are lets a chunk read its own rows rather than filter every table again. Built
    # when the first chunk needs it: by then the worker is loading the SHAP kernels beside it.
    row_index = _Once(lambda: CustomerRowIndex(events) if len(all_ids) > chunk_size else None)

    # While one chunk is scored, the next chunks' features are built on a worker thread
    # (DuckDB runs without the GIL): the stages share the cores instead of taking turns, each
    # on its half of them (on 2 cores, one each: oversubscribed thread pools stall at their
    # barriers). At most _AHEAD chunks are built ahead, so memory stays bounded by the chunk
    # size, not the list size. The worker starts at once (SHAP kernels, then the second
    # chunk) while the main thread builds the first chunk. When the worker has no features
    # left to build, it scores the next chunk; a main thread that finds the worker scoring
    # its chunk scores the one after meanwhile, so neither core waits at the end of the list.
    # (With a model that brings its training patterns' SHAP values, the first chunk no
    # longer fills the cache on every core: measured, starting both at once won.)
    bounds = [(lo, lo + chunk_size) for lo in range(0, len(all_ids), chunk_size)]
    pipelined = len(bounds) > 1
    sql_threads, kernel_threads = _split_cores() if pipelined else (None, None)

    def chunk_features(lo, hi, threads=None):
        ids = all_ids[lo:hi]
        gone = ids[:0]
        index = row_index()
        if index is not None:
            # customers already churned by the training label are known from the index alone:
            # their features would only be built to be thrown away
            gone = ids[sm.inactive(index.recency_days(events.purchases, ids.to_numpy(), t))]
            ids = ids.difference(gone, sort=False) if len(gone) else ids
        X = sm.features(events, t, ids, index, threads=threads)
        status = sm.eligibility(X, cancelled)
        if len(gone):
            status = pd.concat([status, pd.Series("inactive", index=gone, dtype=object)])
        listed = all_ids[lo:hi]
        if len(cancelled):  # cancelled before as_of, whatever else is known of them
            gone_for_good = listed[listed.isin(cancelled)]
            status = pd.concat([status[~status.index.isin(gone_for_good)], pd.Series("cancelled", index=gone_for_good, dtype=object)])
        return listed, X[status.reindex(X.index) == "scored"], status

    def chunks(work, shap: bool = False):
        """``(ids, work(ids, features, status))`` per chunk, in order; with ``shap``, the SHAP
        kernels load on the worker thread while the first chunk's features are built.

        Whichever thread gets to a chunk's ``work`` first computes it, once (results do not
        depend on who computes them): the worker, with no features left to build, takes the
        next chunk if the main thread has not started it; the main thread, finding the worker
        at its chunk, takes the next built one meanwhile.
        """
        # every chunk's query on one DuckDB database, closed after the worker's last query
        with shared_databases():
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnlab-features") if pipelined else None
            kernels = pool.submit(lambda: sm.model._engine().load_kernels()) if pool is not None and shap else None
            pending: deque = deque()
            queued = 1  # chunks whose features have been handed to the worker, the first's aside

            def build(b):
                ids, X, status = chunk_features(*b, sql_threads)
                return ids, _Once(lambda: work(ids, X, status))

            def ahead(built):
                with engine_threads(kernel_threads):
                    built.result()[1].ahead()

            def build_ahead():
                nonlocal queued
                while queued < len(bounds) and len(pending) < _AHEAD:
                    pending.append(pool.submit(build, bounds[queued]))
                    queued += 1
                if pending and queued == len(bounds):
                    # features before scoring: only with none left to build does the worker score
                    # ahead (measured: scoring ahead earlier held up the last features, and then
                    # the main thread waited for both)
                    pool.submit(ahead, pending[0])

            try:
                for i in range(len(bounds)):
                    if i:
                        ids, result = pending.popleft().result()
                        build_ahead()
                    else:
                        if pool is not None:
                            build_ahead()
                        ids, X, status = chunk_features(*bounds[0], sql_threads)
                        result = _Once(lambda: work(ids, X, status))
                    if kernels is not None:
                        kernels.result()
                        kernels = None
                    if result.busy() and pending and pending[0].done():
                        ahead(pending[0])  # the worker is at this chunk: take the next one
                    last = i == len(bounds) - 1
                    with engine_threads(None if last else kernel_threads):
                        value = result()
                    yield ids, value
            finally:  # an abandoned run (error, Ctrl-C) does not build the chunks after it
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)

    if top_share is not None:
        # one cut for the whole list, not per chunk: a first pass for probabilities only
        proba = [p for _, p in chunks(lambda ids, X, status: sm.model.predict_proba(X) if len(X) else None) if p is not None]
        q = np.quantile(np.concatenate(proba), 1 - top_share) if proba else np.inf

        def tiers(p):
            return np.where(p >= q, "high", "low").astype(object)

    else:

        def tiers(p):
            return risk_tiers(p, thresholds)

    def score(ids, X, status):
        return _score_block(sm, X, status, ids, t, k, tiers, reason_tiers)

    for ids, part in chunks(score, shap=k > 0):
        if progress is not None:
            progress(len(ids))
        yield part


class _Once:
    """``fn()`` computed once, by whichever thread asks first; the others wait for it, or with
    :meth:`ahead` do not. An error is not kept: the next ask computes again and raises it."""

    def __init__(self, fn):
        self._fn, self._lock, self._done, self._value = fn, threading.Lock(), False, None

    def _compute(self):
        if not self._done:
            self._value, self._done = self._fn(), True
        return self._value

    def __call__(self):
        with self._lock:
            return self._compute()

    def busy(self) -> bool:
        """Whether a thread is computing it now."""
        return self._lock.locked() and not self._done

    def ahead(self) -> None:
        """Compute it now unless another thread is at it."""
        if self._lock.acquire(blocking=False):
            try:
                self._compute()
            finally:
                self._lock.release()


def _split_cores() -> tuple[int, int]:
    """Threads for (the feature SQL, the SHAP kernels) when the two run side by side."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 2
    return max(1, n // 2), max(1, n - n // 2)


def _score_block(
    sm: ScoringModel, X: pd.DataFrame, status: pd.Series, ids: pd.Index, t: pd.Timestamp, k: int, tiers,
    reason_tiers: Collection[str] | None = None,
) -> pd.DataFrame:
    """Output rows for ``ids``: ``X`` holds the features of those eligible for scoring, ``status``
    the eligibility of those with history; ids in neither are ``no_history``. Shared by the
    local scorer and the Spark one so that both write the same columns and types."""
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
        c: _text(_Coded(v.texts, spread(v.codes, -1, np.int64)) if isinstance(v, _Coded) else spread(v, None))
        for c, v in cols.items()
        if c != "churn_probability"
    }
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "as_of": np.full(n, t.as_unit("us").to_datetime64()),
            "churn_probability": spread(np.asarray(cols["churn_probability"], dtype="float64"), np.nan, "float64"),
            **text,
            "status": _text(state),
            "horizon_days": np.full(n, float(horizon) if horizon is not None else np.nan),
            "model_version": _text(_Coded(np.array([sm.version], dtype=object), np.zeros(n, dtype=np.int64))),
        }
    )


def write_scores(chunks: Iterable[pd.DataFrame], out: str | Path) -> dict:
    """Write chunks to ``out`` (.parquet or .csv) atomically; return counts by status.

    The file appears only when complete: an error, Ctrl-C or SIGTERM leaves no file (see
    :mod:`churnlab.atomic`).
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
            chunk.to_csv(tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)

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
