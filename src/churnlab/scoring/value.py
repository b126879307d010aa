"""Customer value at ``as_of``: what a customer is expected to bring over the next
``horizon_days``, from data strictly before ``as_of``.

Methods:

* ``"bgnbd_gg"`` (default, purchases with amounts): BG/NBD's expected transactions in each
  month of the horizon x Gamma-Gamma's expected spend per transaction x ``margin``, each month
  discounted at the annual ``discount_rate``::

      value = margin * E[spend] * sum_m (E[N(t_m)] - E[N(t_{m-1})]) / (1 + r) ** (t_m / 365)

  with ``t_m`` the end of month ``m`` in days (months of 365/12 days; the last one ends at the
  horizon). Both models are fitted on every customer's purchases before ``as_of``, or taken
  from the trained model (:func:`fit_value_model` at its test cutoff, stored as ``value_model``).
  For purchase logs without amounts, ``order_value`` (an average order value) replaces
  Gamma-Gamma's expected spend: value = margin x order_value x discounted expected purchases.
* ``"simple"``: the seed formula, :func:`churnlab.metrics.predictive_clv` with a period of
  ``horizon_days``: margin x average order value x purchases per period x expected lifetime in
  periods, capped at one period (the horizon).
* ``"subscription"``: recurring amount x expected remaining paid months in the horizon,
  discounted: ``margin * mrr * sum_{m=1..M} s**m / (1 + r) ** (m / 12)`` with ``s`` the monthly
  subscription survival observed in the year before ``as_of`` (``exp(-ends / months at risk)``)
  and ``mrr`` the recurring amounts of the customer's subscriptions active at ``as_of``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.checks import check_number, to_timestamp
from churnlab.events import EventTables

__all__ = ["METHODS", "MIN_REPEAT_CUSTOMERS", "StoredValue", "check_value_inputs", "customer_value", "fit_value_model"]

METHODS = ("bgnbd_gg", "simple", "subscription")
MIN_REPEAT_CUSTOMERS = 20  # fewer cannot pin down the Gamma-Gamma spend model's three parameters
MONTH_DAYS = 365.0 / 12


def customer_value(events: EventTables, as_of, horizon_days: float = 365.0, method: str = "bgnbd_gg",
                   margin: float = 1.0, discount_rate: float = 0.0, value_model: dict | None = None,
                   order_value: float | None = None) -> pd.Series:
    """Expected value of each customer over ``horizon_days`` after ``as_of``.

    Parameters
    ----------
    events : EventTables
    as_of : date-like
        Only events strictly before it are used.
    horizon_days : float
        > 0.
    method : {"bgnbd_gg", "simple", "subscription"}
        See the module notes for each formula.
    margin : float
        Share of revenue that is profit, in (0, 1].
    discount_rate : float
        Annual, >= 0.
    value_model : dict, optional
        For ``bgnbd_gg``: parameters from :func:`fit_value_model` (a trained model stores
        them as ``value_model``); the customers' histories at ``as_of`` are then scored with
        them instead of refitting both models on every customer.
    order_value : float, optional
        For ``bgnbd_gg``: the spend per purchase for every customer, instead of Gamma-Gamma's
        (purchase logs without amounts need it).

    Returns
    -------
    Series
        ``customer_value`` indexed by customer_id: every customer with a purchase
        (``bgnbd_gg``, ``simple``) or an active subscription (``subscription``) before ``as_of``.

    Examples
    --------
    >>> from churnlab.datasets import make_demo_events
    >>> ev = make_demo_events(800, random_state=0)
    >>> v = customer_value(ev, "2024-07-01", horizon_days=365, margin=0.3, discount_rate=0.1)
    >>> bool((v >= 0).all()), v.name
    (True, 'customer_value')
    """
    t = to_timestamp(as_of)
    check_number(horizon_days, "horizon_days", above=0)
    if not 0 < check_number(margin, "margin", above=0) <= 1:
        raise ValueError(f"`margin` must be in (0, 1], got {margin!r}")
    check_number(discount_rate, "discount_rate", at_least=0)
    if order_value is not None:
        check_number(order_value, "order_value", above=0)
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {list(METHODS)}, got {method!r}")
    check_value_inputs(events, method, order_value)
    if method == "subscription":
        value = _subscription_value(events, t, horizon_days, discount_rate)
    else:
        value = _bgnbd_gg_value(events, t, horizon_days, discount_rate, value_model, order_value) if method == "bgnbd_gg" \
            else _simple_value(events, t, horizon_days)
    return (value * margin).rename("customer_value").rename_axis("customer_id")


def check_value_inputs(events: EventTables, method: str, order_value: float | None = None) -> None:
    """Raise a one-line ValueError if ``events`` cannot give customer values by ``method``
    (purchases with amounts for ``bgnbd_gg`` and ``simple``; purchases for ``bgnbd_gg``
    with an ``order_value``)."""
    if method == "subscription":
        if events.subscriptions is None:
            raise ValueError("customer value method 'subscription' needs a subscriptions table; these events have none")
        return
    if events.purchases is None:
        raise ValueError(f"customer value method {method!r} needs purchases; these events have none "
                         "(for subscriptions: campaign.value_method: subscription)")
    if "amount" not in events.purchases.columns and not (method == "bgnbd_gg" and order_value is not None):
        hint = " (or an average order value: campaign.order_value)" if method == "bgnbd_gg" else ""
        raise ValueError(f"purchases.amount: customer value method {method!r} needs order values; these purchases have none{hint}")


def _month_ends(horizon_days: float) -> np.ndarray:
    n = max(1, math.ceil(horizon_days / MONTH_DAYS - 1e-9))
    return np.minimum(np.arange(1, n + 1) * MONTH_DAYS, horizon_days)


PERIOD_DAYS = 7.0  # BG/NBD's time unit here: weeks


def fit_value_model(events: EventTables, as_of) -> dict:
    """BG/NBD and Gamma-Gamma parameters fitted on every customer's purchases before ``as_of``.

    Parameters
    ----------
    events : EventTables
        Purchases; without ``amount`` only BG/NBD is fitted (``gamma_gamma`` is None, and
        values need an ``order_value``).
    as_of : date-like

    Returns
    -------
    dict
        ``{"bgnbd": {r, alpha, a, b}, "gamma_gamma": {p, q, v} or None, "fitted_as_of": str,
        "period_days": 7.0}``.

    Examples
    --------
    >>> from churnlab.datasets import make_demo_events
    >>> sorted(fit_value_model(make_demo_events(800, random_state=0), "2024-07-01")["gamma_gamma"])
    ['p', 'q', 'v']
    """
    from churnlab.models import BGNBD, GammaGamma, rfm_summary

    t = to_timestamp(as_of)
    if events.purchases is None:
        raise ValueError("customer value: the purchase model needs purchases; these events have none")
    s = rfm_summary(events, t, period_days=PERIOD_DAYS)
    spend = None
    if "amount" in events.purchases.columns:
        repeat = s[(s["x"] > 0) & (s["monetary"] > 0)]
        if len(repeat) < MIN_REPEAT_CUSTOMERS:
            raise ValueError(f"purchases before {t.date()}: {len(repeat)} repeat customers with spend; "
                             f"the spend model needs at least {MIN_REPEAT_CUSTOMERS}")
        gg = GammaGamma().fit(repeat["x"], repeat["monetary"])
        spend = {"p": gg.p_, "q": gg.q_, "v": gg.v_}
    bg = BGNBD().fit(s["x"], s["t_x"], s["T"])
    return {"bgnbd": bg.params_, "gamma_gamma": spend, "fitted_as_of": str(t.date()), "period_days": PERIOD_DAYS}


def _bgnbd_gg_value(events: EventTables, t: pd.Timestamp, horizon_days: float, rate: float,
                    value_model: dict | None = None, order_value: float | None = None) -> pd.Series:
    from churnlab.models import rfm_summary

    params = value_model if value_model is not None else fit_value_model(events, t)
    return _value_of_histories(rfm_summary(events, t, period_days=PERIOD_DAYS), params, horizon_days, rate, order_value)


def _value_of_histories(s: pd.DataFrame, params: dict, horizon_days: float, rate: float,
                        order_value: float | None = None) -> pd.Series:
    """BG/NBD x Gamma-Gamma (or ``order_value``) value of each row of an :func:`rfm_summary`
    (in weeks), customer by customer: a customer's value depends on their own history alone,
    whichever customers are computed with them."""
    from churnlab.models import BGNBD, GammaGamma

    bg = BGNBD()
    bg.r_, bg.alpha_, bg.a_, bg.b_ = (params["bgnbd"][k] for k in ("r", "alpha", "a", "b"))
    if order_value is not None:
        spend = np.full(len(s), float(order_value))
    elif params.get("gamma_gamma") is None:
        raise ValueError("customer value: the value model has no spend model (its purchases had no amounts); "
                         "give an average order value (campaign.order_value)")
    else:
        gg = GammaGamma()
        gg.p_, gg.q_, gg.v_ = (params["gamma_gamma"][k] for k in ("p", "q", "v"))
        spend = gg.conditional_expected_average_value(s["x"], s["monetary"])
    # expected purchases = P(alive | x, t_x, T) x those of a living customer, which depend on
    # (x, T) only: x is a count and T whole days to as_of, so far fewer pairs than customers
    x, t_x, T = (s[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    pairs, which = np.unique(x + 1j * T, return_inverse=True)
    ends = _month_ends(horizon_days)
    discount = (1.0 + rate) ** (-ends / 365.0)
    alive_value, before = np.zeros(len(pairs)), np.zeros(len(pairs))
    for end, d in zip(ends, discount):  # month by month, summed in the same order for every customer
        cumulative = bg.expected_purchases_alive(end / PERIOD_DAYS, pairs.real, pairs.imag)
        alive_value += (cumulative - before) * d
        before = cumulative
    return pd.Series(spend * alive_value[which.ravel()] * bg.p_alive(x, t_x, T), index=s.index)


@dataclass(frozen=True)
class StoredValue:
    """Customer value (``bgnbd_gg``) with a stored value model, for any subset of customers:
    ``StoredValue(...)(events, as_of, customer_ids)`` equals :func:`customer_value` on every
    customer, restricted to ``customer_ids``, without a pass over everyone's purchases.

    Batch scoring calls it per chunk of the list (``score_customers(..., value=...)``), on the
    thread that builds the chunk's features, with the chunk's purchases gathered through the
    :class:`~churnlab.features.CustomerRowIndex`.

    Parameters
    ----------
    value_model : dict
        From :func:`fit_value_model` (a trained model's ``value_model``).
    horizon_days, margin, discount_rate : float
        As for :func:`customer_value`.
    order_value : float, optional
        As for :func:`customer_value`.

    Examples
    --------
    >>> from churnlab.datasets import make_demo_events
    >>> ev = make_demo_events(800, random_state=0)
    >>> vm = fit_value_model(ev, "2024-07-01")
    >>> whole = customer_value(ev, "2024-07-01", margin=0.3, value_model=vm)
    >>> some = StoredValue(vm, 365.0, margin=0.3)(ev, "2024-07-01", whole.index[:50])
    >>> bool((some == whole.iloc[:50]).all())
    True
    """

    value_model: dict
    horizon_days: float = 365.0
    margin: float = 1.0
    discount_rate: float = 0.0
    order_value: float | None = None

    def __call__(self, events: EventTables, as_of, customer_ids, row_index=None, threads: int | None = None) -> pd.Series:
        """Values of ``customer_ids`` at ``as_of`` (those with a purchase before it); ``threads``
        is accepted for :func:`~churnlab.scoring.score_customers` and unused (numpy only)."""
        from churnlab.models import rfm_summary

        check_value_inputs(events, "bgnbd_gg", self.order_value)
        t = to_timestamp(as_of)
        purchases = events.purchases
        ids = np.asarray(customer_ids)
        if row_index is not None:  # the chunk's rows, grouped by customer in time order
            at = row_index.positions("purchases", purchases, ids, grouped=True)
        else:
            at = np.flatnonzero(purchases["customer_id"].isin(ids).to_numpy())
        rows = pd.DataFrame({c: purchases[c].to_numpy()[at] for c in ("customer_id", "ts", "amount") if c in purchases.columns})
        if not (rows["ts"] < t).any():
            return pd.Series(np.array([], dtype=float), index=pd.Index(ids[:0], name="customer_id"), name="customer_value")
        s = rfm_summary(rows, t, period_days=PERIOD_DAYS, grouped=row_index is not None)
        value = _value_of_histories(s, self.value_model, self.horizon_days, self.discount_rate, self.order_value) * self.margin
        return value.rename("customer_value").rename_axis("customer_id")


def _simple_value(events: EventTables, t: pd.Timestamp, horizon_days: float) -> pd.Series:
    from churnlab.metrics import predictive_clv

    clv = predictive_clv(events, t, period_days=int(round(horizon_days)))
    per_period = clv["aov"] * clv["purchases_per_period"]
    return per_period * np.minimum(clv["expected_lifetime_periods"], 1.0)


def _subscription_value(events: EventTables, t: pd.Timestamp, horizon_days: float, rate: float) -> pd.Series:
    from churnlab.labels import active_at

    subs = events.subscriptions
    before = subs[subs["start_ts"] < t]
    end = before["end_ts"] if "end_ts" in before.columns else pd.Series(pd.NaT, index=before.index)
    active = end.isna() | (end >= t)
    mrr = before[active].groupby("customer_id")["amount"].sum()
    # monthly survival over the year before as_of: ends / months at risk
    year = t - pd.Timedelta(days=365)
    at_risk_from = before["start_ts"].clip(lower=year)
    at_risk_to = end.where(end.notna() & (end < t), t)
    months = ((at_risk_to - at_risk_from).dt.total_seconds().clip(lower=0) / 86400 / MONTH_DAYS).sum()
    ends = int((end.notna() & (end >= year) & (end < t)).sum())
    if months <= 0:
        raise ValueError(f"subscriptions: none at risk in the year before {t.date()}; cannot estimate survival")
    s = math.exp(-ends / months)
    m = np.arange(1, max(1, math.floor(horizon_days / MONTH_DAYS + 1e-9)) + 1)  # 365 days: 12 months
    factor = float(np.sum(s ** m * (1.0 + rate) ** (-m / 12.0)))
    ids = active_at(subs, t)
    return (mrr.reindex(ids).fillna(0.0) * factor)
