"""Where each customer's rows are in every event table: chunks of customers as gathers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.checks import microseconds, to_timestamp
from churnlab.events import EventTables

__all__ = ["CustomerRowIndex", "with_gaps"]


def with_gaps(purchases: pd.DataFrame) -> pd.DataFrame:
    """Add ``gap_us``, each purchase's microseconds since the customer's previous one (NA for
    the first), to purchases grouped by customer in time order: the feature query's
    ``ts - lag(ts) OVER (PARTITION BY customer_id ORDER BY ts)``."""
    ts = purchases["ts"].to_numpy("datetime64[us]").view(np.int64)
    ids = purchases["customer_id"].to_numpy()
    gap = np.zeros(len(ts), dtype=np.int64)
    first = np.ones(len(ts), dtype=bool)
    if len(ts):
        gap[1:] = np.diff(ts)
        first[1:] = ids[1:] != ids[:-1]
    return purchases.assign(gap_us=pd.arrays.IntegerArray(gap, first))


class CustomerRowIndex:
    """Where each customer's rows are in every event table, to slice chunks of customers.

    Sorting the customer ids once (a stable argsort per table) turns "the rows of these
    25,000 customers" into a gather instead of a scan of every table; memory is one int32
    position per event row plus one entry per customer.

    Purchases are ordered by customer and then time, so a chunk's purchases can come out
    grouped that way: each purchase's gap to the customer's previous one is then a difference
    of neighbours, and the same at every cutoff (a purchase's predecessor is earlier still), so
    chunks compute it instead of running the feature query's window (the same values; tested).

    Examples
    --------
    >>> # index = CustomerRowIndex(events)
    >>> # for ids in chunks: builder.transform(events, as_of, ids, row_index=index)
    """

    def __init__(self, events: EventTables):
        self._tables = {}
        for name, df in events.tables().items():
            ids = df["customer_id"].to_numpy()
            order = np.argsort(ids, kind="stable")
            if name == "purchases":
                # by customer, then time; logs usually come in time order, and then the
                # stable sort by customer already is
                ts = df["ts"].to_numpy("datetime64[us]").view(np.int64)
                t, c = ts[order], ids[order]
                if ((c[1:] == c[:-1]) & (t[1:] < t[:-1])).any():
                    by_time = np.argsort(ts, kind="stable")
                    order = by_time[np.argsort(ids[by_time], kind="stable")]
            ordered = ids[order]
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ids) else np.array([], dtype=int)
            ends = np.r_[starts[1:], len(ids)]
            pos_dtype = np.int32 if len(ids) < 2**31 else np.int64
            self._tables[name] = (id(df), ordered[starts], starts, ends, order.astype(pos_dtype))
        self._first = events.first_event()

    def first_event(self, events: EventTables) -> pd.Timestamp:
        """:meth:`EventTables.first_event` of the events the index was built on."""
        for name, df in events.tables().items():
            if self._tables.get(name, (None,))[0] != id(df):
                raise ValueError(f"the row index was built for other events than these (table {name!r})")
        return self._first

    def _runs(self, name: str, df: pd.DataFrame, customer_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which of ``customer_ids`` have rows in table ``name``, and where their runs of rows
        start and end in the sorted order."""
        frame_id, keys, starts, ends, _ = self._tables[name]
        if frame_id != id(df):
            raise ValueError(f"the row index was built for other events than these (table {name!r})")
        at = np.searchsorted(keys, customer_ids)
        at = np.minimum(at, max(len(keys) - 1, 0))
        hit = (keys[at] == customer_ids) if len(keys) else np.zeros(len(customer_ids), dtype=bool)
        return hit, starts[at[hit]], ends[at[hit]]

    def _sorted_positions(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        n = hi - lo
        # concatenated ranges lo[i]..hi[i]: each run's start repeated, plus a running offset
        offsets = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
        return self._tables[name][4][offsets]

    def positions(self, name: str, df: pd.DataFrame, customer_ids: np.ndarray, grouped: bool = False) -> np.ndarray:
        """Row positions in ``df`` (table ``name``) of the given customers, in table order, or
        with ``grouped`` each customer's rows together (purchases: in time order)."""
        _, lo, hi = self._runs(name, df, customer_ids)
        rows = self._sorted_positions(name, lo, hi)
        return rows if grouped else np.sort(rows)

    def recency_days(self, purchases: pd.DataFrame, customer_ids: np.ndarray, as_of) -> np.ndarray:
        """Days from each customer's last purchase strictly before ``as_of`` to ``as_of`` (NaN
        for none), computed as the feature query computes ``p_recency_days``: from the index,
        without building features."""
        t = to_timestamp(as_of)
        hit, lo, hi = self._runs("purchases", purchases, np.asarray(customer_ids))
        out = np.full(len(hit), np.nan)
        if not len(lo):
            return out
        ts = purchases["ts"].to_numpy("datetime64[us]").view(np.int64)[self._sorted_positions("purchases", lo, hi)]
        t_us = microseconds(t)
        # each customer's purchases are in time order: those before as_of come first
        before = np.add.reduceat((ts < t_us).astype(np.int64), np.cumsum(hi - lo) - (hi - lo))
        last = ts[np.maximum(np.cumsum(hi - lo) - (hi - lo) + before - 1, 0)]
        out[np.flatnonzero(hit)[before > 0]] = (t_us - last[before > 0]).astype(np.float64) / 86400000000.0
        return out
