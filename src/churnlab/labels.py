"""Churn labels at a cutoff ``as_of``.

The timeline is split at ``as_of``: features see events with ``ts < as_of``; labels see
events with ``as_of <= ts < as_of + window``. The split point belongs to the label side so
that every event is used by exactly one of the two (an event at exactly ``as_of`` is
invisible to the features, so it must count as activity for the label).

Rules
-----
``"fixed"``
    churned = no purchase in ``[as_of, as_of + horizon_days)``.
``"adaptive"``
    window = ``max(k x median inter-purchase gap, min_window_days)``, with the gap taken
    from the customer's purchases before ``as_of``; churned = no purchase in
    ``[as_of, as_of + window)``. Customers with a single purchase have no gap: with
    ``single_purchase="floor"`` (default) they get ``min_window_days``; with
    ``"exclude"`` they are excluded with reason ``single_purchase``.
``"contractual"``
    With a ``subscriptions`` table: churned = active at ``as_of`` and not active at
    ``as_of + horizon_days`` (active at T: a subscription started before T and not ended
    before T); customers not active at ``as_of`` are excluded (``not_active_at_as_of``).
    Without it: churned = ``customers.cancel_ts`` in ``[as_of, as_of + horizon_days)``.

Events before ``as_of`` are used only to decide who is eligible (and, for the adaptive
rule, how long each customer's window is). Nobody is dropped silently: every customer
known to the tables is either labelled or listed in ``excluded`` with a reason.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from churnlab.checks import check_number
from churnlab.events import EventTables, as_events, to_timestamp

__all__ = ["LABEL_RULES", "LabelResult", "active_at", "cancelled_before", "churn_labels", "label_data_end", "label_table"]

LABEL_RULES = ("fixed", "adaptive", "contractual")
_DAY = pd.Timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class LabelResult:
    """Labels at one cutoff, the customers not labelled and why, and the label definition.

    Attributes
    ----------
    labels : DataFrame
        Indexed by customer_id: ``churned`` (0/1), ``window_days``, ``window_end``.
    excluded : DataFrame
        Indexed by customer_id: ``reason`` (e.g. ``inactive``, ``no_purchase_before_as_of``).
    definition : dict
        The rule and its parameters, stored with every model trained on these labels.
    """

    labels: pd.DataFrame
    excluded: pd.DataFrame
    definition: dict


def churn_labels(
    events: EventTables | pd.DataFrame,
    as_of,
    horizon_days: int = 90,
    rule: str = "fixed",
    k: float = 3.0,
    min_window_days: float | None = None,
    single_purchase: str = "floor",
    active_days: int | None = None,
    observed_until=None,
) -> LabelResult:
    """Label customers as churned (1) or retained (0) after ``as_of``.

    Parameters
    ----------
    events : EventTables or purchases DataFrame
    as_of : date-like
        The cutoff.
    horizon_days : int
        Label window for the fixed and contractual rules (> 0).
    rule : {"fixed", "adaptive", "contractual"}
    k : float
        Adaptive rule multiplier of the customer's median inter-purchase gap (> 0).
    min_window_days : float, optional
        Adaptive rule floor on the window; defaults to ``horizon_days``.
    single_purchase : {"floor", "exclude"}
        Adaptive rule treatment of customers with one purchase before ``as_of``.
    active_days : int, optional
        If given, customers whose last purchase is more than ``active_days`` before
        ``as_of`` count as already churned and are excluded (reason ``inactive``).
    observed_until : date-like, optional
        The date the data is complete to (may be after the label table's last event);
        default :func:`label_data_end`: the last event of the table the rule reads
        (purchases; for ``contractual`` subscriptions, else ``customers``). Windows that
        end after the day after it are not observed: for the fixed and contractual rules
        that is an error, for the adaptive rule those customers are excluded
        (``window_not_observed``). Other tables never extend it.

    Returns
    -------
    LabelResult
        ``labels`` (``churned``, ``window_days``, ``window_end`` per labelled customer),
        ``excluded`` (the reason for every customer not labelled) and ``definition``.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"customer_id": [1, 1, 2, 3], "amount": 1.0,
    ...                   "ts": ["2024-01-10", "2024-03-05", "2024-01-20", "2024-04-01"]})
    >>> res = churn_labels(p, as_of="2024-03-01", horizon_days=30)
    >>> res.labels["churned"].to_dict()
    {1: 0, 2: 1}
    >>> res.excluded["reason"].to_dict()
    {3: 'no_purchase_before_as_of'}
    """
    if rule not in LABEL_RULES:
        raise ValueError(f"`rule` must be one of {LABEL_RULES}, got {rule!r}")
    horizon_days = check_number(horizon_days, "horizon_days", above=0)
    k = check_number(k, "k", above=0)
    if single_purchase not in ("floor", "exclude"):
        raise ValueError(f"`single_purchase` must be 'floor' or 'exclude', got {single_purchase!r}")
    if active_days is not None:
        check_number(active_days, "active_days", above=0)
    floor = horizon_days if min_window_days is None else check_number(min_window_days, "min_window_days", above=0)

    ev = as_events(events)
    t = to_timestamp(as_of)
    p = ev.purchases
    if p is None and rule != "contractual":
        raise ValueError(f"rule={rule!r} labels by purchases, and these events have none; use rule='contractual' with subscriptions")
    end = label_data_end(ev, rule, observed_until=observed_until)
    source = label_table(ev, rule)
    if t > end + _DAY:
        raise ValueError(f"`as_of` ({t}) is after the end of the data: {source} are observed until {end}; "
                         "no label window can be observed (pass observed_until if the data is complete to a later date)")
    definition = {
        "rule": rule,
        "horizon_days": float(horizon_days),
        "k": float(k),
        "min_window_days": floor,
        "single_purchase": single_purchase,
        "active_days": active_days,
        "window": "[as_of, as_of + window)",
    }
    if rule != "contractual" and t <= p["ts"].min():
        raise ValueError(f"`as_of` ({t}) is at or before the first purchase ({p['ts'].min()}); nobody can be labelled")

    if rule == "contractual":
        return _contractual(ev, t, float(horizon_days), end, definition, source)

    known = _known_customers(ev)
    before = p[p["ts"] < t]
    g = before.groupby("customer_id")["ts"]
    last = g.max()
    reasons = pd.Series("no_purchase_before_as_of", index=known.difference(last.index), dtype=object)
    if ev.customers is not None:
        later = ev.customers.set_index("customer_id")["signup_ts"]
        later = later[later >= t].index.intersection(reasons.index)
        reasons[later] = "signed_up_after_as_of"
    eligible = last.index
    if active_days is not None:
        inactive = last[last < t - pd.Timedelta(days=active_days)].index
        reasons = pd.concat([reasons, pd.Series("inactive", index=inactive, dtype=object)])
        eligible = eligible.difference(inactive)

    if rule == "fixed":
        if t + pd.Timedelta(days=horizon_days) > end + _DAY:
            raise ValueError(
                f"label window [{t}, {t + pd.Timedelta(days=horizon_days)}) ends after the data: {source} are "
                f"observed until {end}; use an earlier as_of, a shorter horizon_days, or pass "
                "observed_until if the data is complete to a later date"
            )
        window = pd.Series(float(horizon_days), index=eligible)
    else:
        gaps = before.sort_values(["customer_id", "ts"])
        gap_days = gaps.groupby("customer_id")["ts"].diff().dt.total_seconds() / 86400.0
        median_gap = gap_days.groupby(gaps["customer_id"]).median().reindex(eligible)
        window = (k * median_gap).clip(lower=floor)
        single = median_gap.isna()
        if single_purchase == "exclude":
            reasons = pd.concat([reasons, pd.Series("single_purchase", index=window.index[single], dtype=object)])
            window = window[~single]
        else:
            window[single] = floor
        # A window that ends after the data cannot be observed: exclude, do not guess.
        unobserved = t + pd.to_timedelta(window, unit="D") > end + _DAY
        reasons = pd.concat([reasons, pd.Series("window_not_observed", index=window.index[unobserved], dtype=object)])
        window = window[~unobserved]

    window_end = t + pd.to_timedelta(window.to_numpy(), unit="D")
    after = p[(p["ts"] >= t) & (p["ts"] < t + pd.Timedelta(days=float(window.max()) if len(window) else 0))]
    first_after = after.groupby("customer_id")["ts"].min().reindex(window.index)
    came_back = first_after.notna() & (first_after.to_numpy() < window_end)
    labels = pd.DataFrame(
        {"churned": (~came_back).astype("int8").to_numpy(), "window_days": window.to_numpy(), "window_end": window_end},
        index=pd.Index(window.index, name="customer_id"),
    )
    return LabelResult(labels.sort_index(), _excluded_frame(reasons), definition)


def label_table(events: EventTables | pd.DataFrame, rule: str = "fixed") -> str:
    """The table a label rule reads, whose last event ends the observed label windows.

    Parameters
    ----------
    events : EventTables or purchases DataFrame
    rule : {"fixed", "adaptive", "contractual"}

    Returns
    -------
    str
        ``"purchases"`` for the fixed and adaptive rules; for ``contractual``
        ``"subscriptions"`` when that table is present, else ``"customers.cancel_ts"``.

    Examples
    --------
    >>> import pandas as pd
    >>> label_table(pd.DataFrame({"customer_id": [1], "ts": ["2024-01-01"], "amount": [5.0]}))
    'purchases'
    """
    if rule not in LABEL_RULES:
        raise ValueError(f"`rule` must be one of {LABEL_RULES}, got {rule!r}")
    ev = as_events(events)
    if rule != "contractual":
        if ev.purchases is None:
            raise ValueError(f"rule={rule!r} labels by purchases, and these events have none; use rule='contractual' with subscriptions")
        return "purchases"
    if ev.subscriptions is not None:
        return "subscriptions"
    if ev.customers is None or "cancel_ts" not in ev.customers.columns:
        raise ValueError("rule='contractual' needs a subscriptions table, or a customers table with a `cancel_ts` column (customers.cancel_ts)")
    return "customers.cancel_ts"


def label_data_end(events: EventTables | pd.DataFrame, rule: str = "fixed", *, observed_until=None) -> pd.Timestamp:
    """Until when the label table of ``rule`` is observed: the end that decides whether a
    label window ``[as_of, as_of + window)`` can be labelled (it must end by the day after).

    Only the table the rule reads counts (see :func:`label_table`): a late support ticket
    or survey answer never makes a purchase window observed.

    Parameters
    ----------
    events : EventTables or purchases DataFrame
    rule : {"fixed", "adaptive", "contractual"}
    observed_until : date-like, optional
        The date the data is complete to, returned as given: it may be after the label
        table's last event (nobody bought in the last days) or before it.

    Returns
    -------
    Timestamp
        ``observed_until``, or the day of the last timestamp of purchases (``ts``),
        subscriptions (``start_ts``, ``end_ts``) or customers (``signup_ts``, ``cancel_ts``).

    Examples
    --------
    >>> import pandas as pd
    >>> from churnlab.events import load_events
    >>> ev = load_events(pd.DataFrame({"customer_id": [1], "ts": ["2024-05-30"], "amount": [5.0]}),
    ...                  support=pd.DataFrame({"customer_id": [1], "ts": ["2024-12-01"], "category": ["billing"],
    ...                                        "channel": ["email"], "resolution_hours": [2.0]}))
    >>> str(label_data_end(ev).date()), str(label_data_end(ev, observed_until="2024-06-30").date())
    ('2024-05-30', '2024-06-30')
    """
    source = label_table(events, rule)
    if observed_until is not None:
        return to_timestamp(observed_until, "observed_until")
    ev = as_events(events)
    df, cols = {"purchases": (ev.purchases, ("ts",)), "subscriptions": (ev.subscriptions, ("start_ts", "end_ts")),
                "customers.cancel_ts": (ev.customers, ("signup_ts", "cancel_ts"))}[source]
    # term_end_ts is a scheduled date, not an observation; the day of the last event is observed whole
    return max(df[c].max() for c in cols if c in df.columns and df[c].notna().any()).normalize()


def _known_customers(ev: EventTables) -> pd.Index:
    ids = [df["customer_id"] for df in ev.tables().values()]
    return pd.Index(pd.concat(ids).unique())


def cancelled_before(events: EventTables, as_of) -> pd.Index:
    """Ids of the customers whose ``customers.cancel_ts`` is strictly before ``as_of``:
    already gone, so neither labelled nor scored (empty without that column).

    >>> import pandas as pd
    >>> from churnlab.events import load_events
    >>> ev = load_events(pd.DataFrame({"customer_id": [1, 2], "ts": ["2024-01-05"] * 2, "amount": [5.0, 5.0]}),
    ...                  customers=pd.DataFrame({"customer_id": [1, 2], "signup_ts": ["2024-01-01"] * 2,
    ...                                          "cancel_ts": ["2024-02-01", None]}))
    >>> list(cancelled_before(ev, "2024-03-01")), list(cancelled_before(ev, "2024-02-01"))
    ([1], [])
    """
    t = to_timestamp(as_of)
    c = events.customers
    if c is None or "cancel_ts" not in c.columns:
        return pd.Index([], name="customer_id")
    return pd.Index(c.loc[c["cancel_ts"].notna() & (c["cancel_ts"] < t), "customer_id"], name="customer_id")


def _excluded_frame(reasons: pd.Series) -> pd.DataFrame:
    out = reasons.rename("reason").to_frame()
    out.index.name = "customer_id"
    return out.sort_index()


def active_at(subscriptions: pd.DataFrame, t: pd.Timestamp) -> pd.Index:
    """Ids of the customers with a subscription active at ``t``: started before it and not
    ended before it.

    >>> subs = pd.DataFrame({"customer_id": [1, 2, 3], "start_ts": pd.to_datetime(["2024-01-01"] * 3),
    ...                      "end_ts": pd.to_datetime(["2024-03-01", None, "2024-01-20"])})
    >>> list(active_at(subs, pd.Timestamp("2024-02-01")))
    [1, 2]
    """
    started = subscriptions["start_ts"] < t
    ended = subscriptions["end_ts"].notna() & (subscriptions["end_ts"] < t) if "end_ts" in subscriptions.columns else False
    return pd.Index(subscriptions.loc[started & ~ended, "customer_id"].unique(), name="customer_id")


def _window_observed(t: pd.Timestamp, t_end: pd.Timestamp, end: pd.Timestamp, source: str) -> None:
    if t_end > end + _DAY:
        raise ValueError(f"label window [{t}, {t_end}) ends after the data: {source} are observed until {end}; "
                         "use an earlier as_of, a shorter horizon_days, or pass observed_until if the data is complete to a later date")


def _by_subscriptions(ev: EventTables, t: pd.Timestamp, horizon: float, end: pd.Timestamp, definition: dict) -> LabelResult:
    t_end = t + pd.Timedelta(days=horizon)
    _window_observed(t, t_end, end, "subscriptions")
    now, later = active_at(ev.subscriptions, t), active_at(ev.subscriptions, t_end)
    known = _known_customers(ev)
    reasons = pd.Series("not_active_at_as_of", index=known.difference(now), dtype=object)
    labels = pd.DataFrame(
        {"churned": (~now.isin(later)).astype("int8"), "window_days": horizon, "window_end": t_end},
        index=pd.Index(now, name="customer_id"),
    )
    return LabelResult(labels.sort_index(), _excluded_frame(reasons), {**definition, "source": "subscriptions"})


def _contractual(ev: EventTables, t: pd.Timestamp, horizon: float, end: pd.Timestamp, definition: dict, source: str) -> LabelResult:
    if ev.subscriptions is not None:
        return _by_subscriptions(ev, t, horizon, end, definition)
    if ev.customers is None or "cancel_ts" not in ev.customers.columns:
        raise ValueError("rule='contractual' needs a subscriptions table, or a customers table with a `cancel_ts` column (customers.cancel_ts)")
    c = ev.customers.set_index("customer_id")
    t_end = t + pd.Timedelta(days=horizon)
    _window_observed(t, t_end, end, source)
    reasons = pd.Series(dtype=object)
    not_yet = c.index[c["signup_ts"] >= t]
    gone = cancelled_before(ev, t)
    unknown = _known_customers(ev).difference(c.index)
    reasons = pd.concat(
        [
            pd.Series("signed_up_after_as_of", index=not_yet, dtype=object),
            pd.Series("cancelled_before_as_of", index=gone, dtype=object),
            pd.Series("not_in_customers_table", index=unknown, dtype=object),
        ]
    )
    eligible = c.drop(index=not_yet.union(gone))
    churned = eligible["cancel_ts"].notna() & (eligible["cancel_ts"] < t_end)
    labels = pd.DataFrame(
        {"churned": churned.astype("int8"), "window_days": horizon, "window_end": t_end},
        index=pd.Index(eligible.index, name="customer_id"),
    )
    return LabelResult(labels.sort_index(), _excluded_frame(reasons), definition)
