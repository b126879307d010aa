"""Business metrics: retention, churn, repeat purchase, NPS/CSAT, CLV and cohort retention.

All rates are percentages. Every function is pure and deterministic, and every function
that looks at time takes its dates explicitly.

Active customers
----------------
The table-based rates need a definition of "active at time t"; here it is *at least one
purchase in the ``active_days`` days before t*, i.e. in ``[t - active_days, t)``. For a
period ``[start, end)``:

* ``S`` = customers active at ``start``; ``E`` = customers active at ``end``;
* ``N`` = customers active at ``end`` who were not active at ``start`` (new or won back);
* lost = customers active at ``start`` who are not active at ``end``.

So ``E - N`` is exactly the customers kept, and retention + churn = 100 for one period.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from churnlab.checks import check_number
from churnlab.events import EventTables, as_events, to_timestamp

__all__ = [
    "retention_rate",
    "churn_rate",
    "PeriodCounts",
    "period_counts",
    "retention_rate_between",
    "churn_rate_between",
    "repeat_purchase_rate",
    "nps",
    "csat",
    "historical_clv",
    "predictive_clv",
    "cohort_retention",
]


def _check_count(value: float, name: str) -> float:
    return check_number(value, name, at_least=0)


def retention_rate(start_count: float, end_count: float, new_count: float) -> float:
    """Customer retention rate ``((E - N) / S) x 100``.

    Parameters
    ----------
    start_count : int or float
        S, customers at the start of the period (> 0).
    end_count : int or float
        E, customers at the end of the period.
    new_count : int or float
        N, customers gained during the period (at most E).

    Returns
    -------
    float
        Retention in percent, in [0, 100].

    Examples
    --------
    >>> retention_rate(start_count=200, end_count=180, new_count=20)
    80.0
    """
    s = _check_start(start_count)
    e = _check_count(end_count, "end_count")
    n = _check_count(new_count, "new_count")
    if n > e:
        raise ValueError(f"`new_count` ({new_count}) cannot exceed `end_count` ({end_count})")
    if e - n > s:
        raise ValueError(
            f"`end_count` - `new_count` = {e - n:g} customers kept, more than `start_count` = {s:g}"
        )
    return (e - n) / s * 100.0


def _check_start(start_count) -> float:
    """S of a period's rates: a count, and > 0 (the rates divide by it)."""
    s = _check_count(start_count, "start_count")
    if s == 0:
        raise ValueError("`start_count` must be > 0, got 0")
    return s


def churn_rate(start_count: float, lost_count: float) -> float:
    """Churn rate ``lost / S x 100``.

    Parameters
    ----------
    start_count : int or float
        S, customers at the start of the period (> 0).
    lost_count : int or float
        Customers of S lost during the period (at most S).

    Returns
    -------
    float
        Churn in percent, in [0, 100].

    Examples
    --------
    >>> churn_rate(start_count=200, lost_count=40)
    20.0
    """
    s = _check_start(start_count)
    lost = _check_count(lost_count, "lost_count")
    if lost > s:
        raise ValueError(f"`lost_count` ({lost_count}) cannot exceed `start_count` ({start_count})")
    return lost / s * 100.0


def _purchases(data: EventTables | pd.DataFrame) -> pd.DataFrame:
    p = as_events(data, "purchases").purchases
    if p is None:
        raise ValueError("purchases: absent; this metric counts purchases")
    return p


def _with_amounts(data: EventTables | pd.DataFrame) -> pd.DataFrame:
    p = _purchases(data)
    if "amount" not in p.columns:
        raise ValueError("purchases.amount: absent; customer value needs order values")
    return p


def _check_days(value: int, name: str) -> int:
    return int(check_number(value, name, above=0, integer=True))


@dataclasses.dataclass(frozen=True)
class PeriodCounts:
    """Customer counts for one period (see the module docstring for the definitions)."""

    start: int
    end: int
    new: int
    lost: int
    retained: int


def _active_ids(p: pd.DataFrame, at: pd.Timestamp, active_days: int) -> set:
    window = (p["ts"] >= at - pd.Timedelta(days=active_days)) & (p["ts"] < at)
    return set(p.loc[window, "customer_id"].unique())


def period_counts(
    purchases: EventTables | pd.DataFrame,
    period_start,
    period_end,
    active_days: int = 90,
) -> PeriodCounts:
    """Count S, E, N, lost and retained customers for ``[period_start, period_end)``.

    Parameters
    ----------
    purchases : EventTables or DataFrame
        The events, or a purchases table (validated).
    period_start, period_end : date-like
        The period; a customer is active at t with a purchase in ``[t - active_days, t)``.
    active_days : int
        Days of the activity window.

    Returns
    -------
    PeriodCounts
        ``start`` (S), ``end`` (E), ``new`` (N), ``lost`` and ``retained`` customers.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> period_counts(log, "2024-02-01", "2024-03-10", active_days=30)  # S: 1, 2, 3; E: 1, 3, 4
    PeriodCounts(start=3, end=3, new=1, lost=1, retained=2)
    """
    p = _purchases(purchases)
    t0 = to_timestamp(period_start, "period_start")
    t1 = to_timestamp(period_end, "period_end")
    if t1 <= t0:
        raise ValueError(f"`period_end` ({t1}) must be after `period_start` ({t0})")
    days = _check_days(active_days, "active_days")
    s, e = _active_ids(p, t0, days), _active_ids(p, t1, days)
    return PeriodCounts(start=len(s), end=len(e), new=len(e - s), lost=len(s - e), retained=len(s & e))


def retention_rate_between(purchases, period_start, period_end, active_days: int = 90) -> float:
    """Retention rate of the customers active at ``period_start``, measured at ``period_end``.

    Parameters
    ----------
    purchases : EventTables or DataFrame
    period_start, period_end : date-like
    active_days : int
        Active at t = a purchase in ``[t - active_days, t)``.

    Returns
    -------
    float
        ``retention_rate(S, E, N)`` of :func:`period_counts`, in percent.

    Raises
    ------
    ValueError
        When nobody is active at ``period_start``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> round(retention_rate_between(log, "2024-02-01", "2024-03-10", active_days=30), 2)  # (3 - 1) / 3
    66.67
    """
    c = period_counts(purchases, period_start, period_end, active_days)
    if c.start == 0:
        raise ValueError(f"no customer is active at period_start={period_start} (active_days={active_days})")
    return retention_rate(c.start, c.end, c.new)


def churn_rate_between(purchases, period_start, period_end, active_days: int = 90) -> float:
    """Churn rate of the customers active at ``period_start``, measured at ``period_end``.

    Parameters
    ----------
    purchases : EventTables or DataFrame
    period_start, period_end : date-like
    active_days : int
        Active at t = a purchase in ``[t - active_days, t)``.

    Returns
    -------
    float
        ``churn_rate(S, lost)`` of :func:`period_counts`, in percent.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> round(churn_rate_between(log, "2024-02-01", "2024-03-10", active_days=30), 2)  # customer 2 of 1, 2, 3
    33.33
    """
    c = period_counts(purchases, period_start, period_end, active_days)
    if c.start == 0:
        raise ValueError(f"no customer is active at period_start={period_start} (active_days={active_days})")
    return churn_rate(c.start, c.lost)


def repeat_purchase_rate(purchases, start, end) -> float:
    """Share (%) of customers with >= 2 purchases among those with >= 1 in ``[start, end)``.

    Parameters
    ----------
    purchases : EventTables or DataFrame
    start, end : date-like

    Returns
    -------
    float
        Percent of buyers in the period who bought at least twice in it.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> repeat_purchase_rate(log, "2024-01-01", "2024-04-01")  # customers 1 and 3 of 4
    50.0
    """
    p = _purchases(purchases)
    t0, t1 = to_timestamp(start, "start"), to_timestamp(end, "end")
    if t1 <= t0:
        raise ValueError(f"`end` ({t1}) must be after `start` ({t0})")
    counts = p.loc[(p["ts"] >= t0) & (p["ts"] < t1), "customer_id"].value_counts()
    if counts.empty:
        raise ValueError(f"no purchase in [{t0}, {t1})")
    return float((counts >= 2).sum() / len(counts) * 100.0)


def _scores(scores: Iterable[float], lo: int, hi: int, name: str) -> np.ndarray:
    if isinstance(scores, (str, bytes)) or not isinstance(scores, Iterable):
        raise TypeError(f"`scores` must be a list of {name} answers, got {scores!r}")
    values = list(scores) if not isinstance(scores, (np.ndarray, pd.Series)) else list(np.asarray(scores, dtype=object))
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"`scores` must hold numbers, got {v!r}")
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError(f"`scores` is empty; {name} needs at least one response")
    bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi) | (arr != np.floor(arr))
    if bad.any():
        raise ValueError(f"{name} scores must be integers in [{lo}, {hi}], got {float(arr[bad][0])!r}")
    return arr


def nps(scores: Iterable[float]) -> float:
    """Net Promoter Score: % promoters (9-10) minus % detractors (0-6), in [-100, 100].

    Parameters
    ----------
    scores : iterable of int
        Answers on the 0-10 scale.

    Returns
    -------
    float

    Examples
    --------
    >>> nps([10, 9, 8, 7, 6, 0])
    0.0
    """
    arr = _scores(scores, 0, 10, "NPS")
    return float(((arr >= 9).mean() - (arr <= 6).mean()) * 100.0)


def csat(scores: Iterable[float]) -> float:
    """Customer satisfaction: % of answers that are 4 or 5 on a 1-5 scale.

    Parameters
    ----------
    scores : iterable of int
        Answers on the 1-5 scale.

    Returns
    -------
    float

    Examples
    --------
    >>> csat([5, 4, 3, 1])
    50.0
    """
    arr = _scores(scores, 1, 5, "CSAT")
    return float((arr >= 4).mean() * 100.0)


def _check_margin(margin) -> float:
    if not 0 < check_number(margin, "margin") <= 1:
        raise ValueError(f"`margin` must be in (0, 1], got {margin!r}")
    return float(margin)


def historical_clv(purchases, as_of, margin: float = 1.0) -> pd.Series:
    """Historical customer lifetime value: ``margin x`` total spend before ``as_of``.

    Parameters
    ----------
    purchases : EventTables or DataFrame
    as_of : date-like
        Only purchases strictly before it count.
    margin : float
        Share of revenue that is profit, in (0, 1].

    Returns
    -------
    Series
        Indexed by customer_id, for customers with a purchase before ``as_of``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> historical_clv(log, "2024-02-12", margin=0.5).to_dict()
    {1: 15.0, 2: 2.5, 3: 4.0}
    """
    _check_margin(margin)
    p = _with_amounts(purchases)
    t = to_timestamp(as_of)
    before = p[p["ts"] < t]
    if before.empty:
        raise ValueError(f"no purchase before as_of={t}")
    return (before.groupby("customer_id")["amount"].sum() * margin).rename("historical_clv")


def predictive_clv(
    purchases,
    as_of,
    period_days: int = 365,
    churn_rate_pct: float | None = None,
    active_days: int = 90,
    margin: float = 1.0,
) -> pd.DataFrame:
    """Simple predictive CLV per customer at ``as_of``.

    ``clv = margin x AOV x purchases_per_period x expected_lifetime_periods`` where

    * AOV = the customer's average order value before ``as_of``;
    * purchases_per_period = the customer's purchases before ``as_of`` divided by their
      tenure (first purchase to ``as_of``) in periods of ``period_days``, with tenure
      floored at ``active_days`` so brand-new customers are not extrapolated wildly;
    * expected_lifetime_periods = ``100 / churn_rate_pct``, the mean of a geometric
      lifetime with that per-period churn rate. If ``churn_rate_pct`` is None it is the
      population churn rate over ``[as_of - period_days, as_of)`` from
      :func:`churn_rate_between` (only data before ``as_of``).

    Parameters
    ----------
    purchases : EventTables or DataFrame
    as_of : date-like
    period_days : int
        The period of the churn rate and of purchases per period.
    churn_rate_pct : float, optional
        Churn per period in percent, in (0, 100].
    active_days : int
        Activity window, and the floor on tenure.
    margin : float
        In (0, 1].

    Returns
    -------
    DataFrame
        Indexed by customer_id: ``aov``, ``purchases_per_period``,
        ``expected_lifetime_periods``, ``clv``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> # customer 1: AOV 15, 2 purchases in 87 days = 0.69 a month, 100 / 50 = 2 months to live
    >>> round(float(predictive_clv(log, "2024-04-01", period_days=30, churn_rate_pct=50, active_days=30).loc[1, "clv"]), 2)
    20.69
    """
    _check_margin(margin)
    period = _check_days(period_days, "period_days")
    floor = _check_days(active_days, "active_days")
    p = _with_amounts(purchases)
    t = to_timestamp(as_of)
    before = p[p["ts"] < t]
    if before.empty:
        raise ValueError(f"no purchase before as_of={t}")
    if churn_rate_pct is None:
        churn_rate_pct = churn_rate_between(before, t - pd.Timedelta(days=period), t, active_days)
    if not 0 < check_number(churn_rate_pct, "churn_rate_pct") <= 100:
        raise ValueError(f"`churn_rate_pct` must be in (0, 100], got {churn_rate_pct}")
    g = before.groupby("customer_id")
    tenure_days = ((t - g["ts"].min()).dt.total_seconds() / 86400.0).clip(lower=floor)
    out = pd.DataFrame(
        {
            "aov": g["amount"].mean(),
            "purchases_per_period": g.size() / (tenure_days / period),
        }
    )
    out["expected_lifetime_periods"] = 100.0 / churn_rate_pct
    out["clv"] = margin * out["aov"] * out["purchases_per_period"] * out["expected_lifetime_periods"]
    return out


def cohort_retention(purchases, as_of, freq: str = "M") -> pd.DataFrame:
    """Cohort retention matrix from purchases before ``as_of``.

    Rows are cohorts by first-purchase period (``freq="M"`` months or ``"Q"`` quarters),
    columns are periods since the first purchase (0, 1, 2, ...), values are the % of the
    cohort with at least one purchase in that period. Period 0 is 100 by construction.
    Only complete periods (ending at or before ``as_of``) are filled; later cells are NaN.

    Parameters
    ----------
    purchases : EventTables or DataFrame
    as_of : date-like
    freq : {"M", "Q"}

    Returns
    -------
    DataFrame
        One row per cohort (a pandas Period), ``cohort_size`` and one column per period since.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "amount": [10.0, 20.0, 5.0, 8.0, 8.0, 30.0],
    ...                     "ts": ["2024-01-05", "2024-02-10", "2024-01-20", "2024-01-25", "2024-03-02", "2024-02-15"]})
    >>> # January cohort: 1, 2, 3 (1 buys in February, 3 in March); February cohort: 4
    >>> cohort_retention(log, "2024-04-01")[[0, 1, 2]].round(1).to_dict(orient="list")
    {0: [100.0, 100.0], 1: [33.3, 0.0], 2: [33.3, nan]}
    """
    if freq not in ("M", "Q"):
        raise ValueError(f"`freq` must be 'M' or 'Q', got {freq!r}")
    p = _purchases(purchases)
    t = to_timestamp(as_of)
    before = p.loc[p["ts"] < t, ["customer_id", "ts"]]
    if before.empty:
        raise ValueError(f"no purchase before as_of={t}")
    period = before["ts"].dt.to_period(freq)
    first = period.groupby(before["customer_id"]).transform("min")
    since = (period - first).map(lambda off: off.n).astype(int)
    frame = pd.DataFrame({"customer_id": before["customer_id"], "cohort": first, "since": since})
    active = frame.drop_duplicates().groupby(["cohort", "since"])["customer_id"].nunique()
    sizes = frame.groupby("cohort")["customer_id"].nunique()
    matrix = active.unstack("since").reindex(columns=range(int(since.max()) + 1)).fillna(0)
    matrix = matrix.div(sizes, axis=0) * 100.0
    # Blank out periods that have not fully elapsed by as_of.
    for cohort in matrix.index:
        for k in matrix.columns:
            if (cohort + k).end_time >= t:
                matrix.loc[cohort, k] = np.nan
    matrix.insert(0, "cohort_size", sizes)
    matrix.index = matrix.index.astype(str)
    matrix.index.name = "cohort"
    return matrix
