"""A randomised retention campaign with planted uplift segments and known individual effects.

:func:`make_uplift_campaign` simulates churnlab-style event tables (purchases, support,
surveys, customers) and a ``treatments`` table: at each campaign date a cohort of customers
is split at random into contacted (``treated=1``) and held-out (``treated=0``) customers.
Whether a customer buys again within ``horizon_days`` of the campaign (the ``fixed`` churn
label) depends on the arm through four planted segments, each read from the customer's
history before the campaign, so a model can find them from point-in-time features:

==================  ====================================================================
sleeping dogs       an open (unresolved) support ticket in the 60 days before the
                    campaign: contact annoys them, uplift -0.15 to -0.3 (more tickets,
                    more harm)
lost causes         no open ticket, last purchase more than 120 days before: they leave
                    anyway (churn about 0.85 in both arms), uplift about 0.02
persuadables        no open ticket, last purchase 45-120 days before: the offer brings
                    them back, uplift 0.2 rising to 0.45 with recency
sure things         no open ticket, a purchase in the last 45 days: they stay anyway
                    (churn about 0.1), uplift about 0.02
==================  ====================================================================

``make_demo_events`` is not reused: its customers' behaviour after a cutoff does not depend
on a contact, which is the one thing an uplift simulator must plant.

Uplift is ``P(churn | control) - P(churn | treated)``: positive means the offer helps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from churnlab.checks import to_timestamp
from churnlab.events import EventTables, load_events

__all__ = ["SEGMENTS", "UpliftSimulation", "make_uplift_campaign", "true_uplift"]

SEGMENTS = ("sleeping_dog", "lost_cause", "persuadable", "sure_thing")

_DAY = np.timedelta64(1, "D")


@dataclasses.dataclass(frozen=True)
class UpliftSimulation:
    """What :func:`make_uplift_campaign` returns.

    Attributes
    ----------
    events : EventTables
    treatments : DataFrame
        ``customer_id``, ``ts``, ``treated`` (1/0), ``campaign``, ``cost``.
    truth : DataFrame
        Per treatment row (same order): ``customer_id``, ``ts``, ``segment``,
        ``p_churn_control``, ``p_churn_treated``, ``uplift`` (their difference) and
        ``churned`` (the outcome drawn).
    horizon_days : int
    """

    events: EventTables
    treatments: pd.DataFrame
    truth: pd.DataFrame
    horizon_days: int


def true_uplift(recency_days, open_tickets, rng_noise=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planted segment, ``P(churn | control)`` and ``P(churn | treated)`` of customers
    with these days since their last purchase and open tickets at the campaign.

    Parameters
    ----------
    recency_days : array of float
    open_tickets : array of int
    rng_noise : array of float, optional
        Per-customer noise in [0, 1) that varies the base churn rate a little.

    Returns
    -------
    (segment, p_churn_control, p_churn_treated) : arrays

    Examples
    --------
    >>> seg, p0, p1 = true_uplift(np.array([10.0, 80.0, 200.0, 10.0]), np.array([0, 0, 0, 2]))
    >>> seg.tolist()
    ['sure_thing', 'persuadable', 'lost_cause', 'sleeping_dog']
    >>> np.round(p0 - p1, 3).tolist()
    [0.02, 0.317, 0.02, -0.25]
    """
    r = np.asarray(recency_days, dtype=float)
    k = np.asarray(open_tickets, dtype=float)
    noise = np.zeros(len(r)) if rng_noise is None else np.asarray(rng_noise, dtype=float)
    seg = np.select([k >= 1, r > 120, r > 45], ["sleeping_dog", "lost_cause", "persuadable"], "sure_thing").astype(object)
    p0 = np.select(
        [k >= 1, r > 120, r > 45],
        [0.30 + 0.05 * k, 0.82 + 0.0004 * np.minimum(r - 120, 150), 0.50 + 0.002 * (r - 45)],
        0.06 + 0.001 * r,
    ) + 0.04 * noise
    effect = np.select(
        [k >= 1, r > 120, r > 45],
        [-(0.15 + 0.05 * np.minimum(k, 3)), 0.02, 0.2 + 0.25 * (r - 45) / 75.0],
        0.02,
    )
    p0 = np.clip(p0, 0.01, 0.99)
    p1 = np.clip(p0 - effect, 0.01, 0.99)
    return seg, p0, p1


def make_uplift_campaign(
    n_customers: int = 6000,
    campaign_dates=("2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01"),
    horizon_days: int = 60,
    *,
    treated_share: float = 0.5,
    contact_cost: float = 20.0,
    random_state: int = 0,
) -> UpliftSimulation:
    """Simulate customers, their history, and a randomised campaign at each date.

    Each customer belongs to one campaign date's cohort (equal shares) and is contacted
    with probability ``treated_share``. Customers join during the year before their
    campaign, buy at a personal rate until their last purchase before it, may hold open
    support tickets, and answer surveys. After the campaign a customer who stays buys
    within ``horizon_days`` and then at their usual rate until the data ends
    (``horizon_days + 30`` days after the last campaign); one who churns never buys again.

    Parameters
    ----------
    n_customers : int
        Number of customers (>= 40 per campaign date).
    campaign_dates : sequence of date-like
        Increasing dates, at least ``horizon_days`` apart for a time split.
    horizon_days : int
        The label window after each campaign (> 0).
    treated_share : float
        Share of each cohort contacted, in (0, 1).
    contact_cost : float
        The ``cost`` recorded for each contacted customer (0 for control customers).
    random_state : int

    Returns
    -------
    UpliftSimulation

    Examples
    --------
    >>> sim = make_uplift_campaign(200, campaign_dates=("2024-03-01",), random_state=1)
    >>> sorted(sim.treatments.columns), bool(sim.treatments["treated"].isin([0, 1]).all())
    (['campaign', 'cost', 'customer_id', 'treated', 'ts'], True)
    >>> sorted(sim.truth["segment"].unique())
    ['lost_cause', 'persuadable', 'sleeping_dog', 'sure_thing']
    """
    n = int(n_customers)
    dates = [to_timestamp(d, "campaign_dates") for d in campaign_dates]
    if not dates or any(b <= a for a, b in zip(dates, dates[1:])):
        raise ValueError(f"`campaign_dates` must be increasing dates, got {list(campaign_dates)!r}")
    if n < 40 * len(dates):
        raise ValueError(f"`n_customers` must be at least 40 per campaign date ({40 * len(dates)}), got {n_customers}")
    if not 0 < treated_share < 1:
        raise ValueError(f"`treated_share` must be in (0, 1), got {treated_share!r}")
    if int(horizon_days) <= 0:
        raise ValueError(f"`horizon_days` must be > 0, got {horizon_days!r}")
    h = int(horizon_days)
    rng = np.random.default_rng(random_state)
    end = dates[-1] + pd.Timedelta(days=h + 30)

    ids = np.arange(1, n + 1, dtype=np.int64)
    cohort = rng.permutation(np.arange(n) % len(dates))
    camp = np.array([d.to_datetime64() for d in dates], dtype="datetime64[us]")[cohort]
    treated = (rng.random(n) < treated_share).astype(np.int8)
    tier = rng.choice(np.array(["basic", "plus", "premium"]), n, p=[0.55, 0.3, 0.15])
    rate = rng.gamma(3.0, 1.0 / 90.0, n) * np.select([tier == "premium", tier == "plus"], [1.4, 1.2], 1.0)  # per day
    spend = rng.lognormal(np.log(35.0), 0.35, n) * np.select([tier == "premium"], [1.8], 1.0)
    recency = np.clip(np.round(rng.exponential(70.0, n)) + 1, 1, 300)  # days from the last purchase to the campaign
    tenure = recency + rng.integers(120, 365, n)  # days from signup to the campaign
    open_tickets = np.minimum(rng.poisson(0.3, n), 3)
    seg, p0, p1 = true_uplift(recency, open_tickets, rng.random(n))
    churned = (rng.random(n) < np.where(treated == 1, p1, p0)).astype(np.int8)

    def at(days_before: np.ndarray, who: np.ndarray) -> np.ndarray:
        secs = rng.integers(8 * 3600, 22 * 3600, len(who)).astype("timedelta64[s]")
        return camp[who] - (np.ceil(days_before).astype(np.int64) * _DAY).astype("timedelta64[s]") + secs

    # history: a purchase at signup and at the last purchase, Poisson purchases between
    p_who, p_ts = [np.arange(n), np.arange(n)], [at(tenure, np.arange(n)), at(recency, np.arange(n))]
    n_between = rng.poisson(rate * (tenure - recency - 1).clip(0))
    who = np.repeat(np.arange(n), n_between)
    p_who.append(who)
    p_ts.append(at(recency[who] + 1 + rng.random(who.size) * (tenure[who] - recency[who] - 1).clip(0), who))
    # after the campaign: stayers buy within the window, then at their rate until the end
    stay = np.flatnonzero(churned == 0)
    first = rng.random(stay.size) * (h - 1)
    p_who.append(stay)
    p_ts.append(at(-first, stay))
    left = ((end.to_datetime64() - camp[stay]) / _DAY).astype(float) - first - 1
    n_after = rng.poisson(rate[stay] * left.clip(0))
    who = np.repeat(stay, n_after)
    rep = np.repeat(np.arange(stay.size), n_after)
    p_who.append(who)
    p_ts.append(at(-(first[rep] + 1 + rng.random(who.size) * left[rep].clip(0)), who))
    p_who, p_ts = np.concatenate(p_who), np.concatenate(p_ts)
    keep = p_ts < end.to_datetime64()
    p_who, p_ts = p_who[keep], p_ts[keep]
    purchases = pd.DataFrame({
        "customer_id": ids[p_who], "ts": p_ts.astype("datetime64[us]"),
        "amount": np.round(spend[p_who] * rng.lognormal(0.0, 0.3, p_who.size), 2),
    })

    # support: open tickets in the 60 days before the campaign, resolved ones earlier
    who_open = np.repeat(np.arange(n), open_tickets)
    n_old = rng.poisson(0.5, n)
    who_old = np.repeat(np.arange(n), n_old)
    s_who = np.concatenate([who_open, who_old])
    s_days = np.concatenate([1 + rng.random(who_open.size) * 58, 61 + rng.random(who_old.size) * (tenure[who_old] - 62).clip(0)])
    hours = np.round(rng.lognormal(np.log(20.0), 0.8, s_who.size), 1)
    is_open = np.arange(s_who.size) < who_open.size
    support = pd.DataFrame({
        "customer_id": ids[s_who], "ts": at(s_days, s_who).astype("datetime64[us]"),
        "category": rng.choice(np.array(["billing", "delivery", "product", "account"]), s_who.size),
        "channel": rng.choice(np.array(["email", "phone", "chat"]), s_who.size),
        "resolution_hours": np.where(is_open, np.nan, hours), "resolved": ~is_open,
    })
    v_who = np.flatnonzero(rng.random(n) < 0.5)
    surveys = pd.DataFrame({
        "customer_id": ids[v_who], "ts": at(1 + rng.random(v_who.size) * (tenure[v_who] - 2), v_who).astype("datetime64[us]"),
        "score": np.clip(np.rint(rng.normal(7.5, 1.8, v_who.size) - 2.0 * (open_tickets[v_who] > 0)), 0, 10),
        "kind": "nps",
    })
    signup = (camp - (tenure.astype(np.int64) * _DAY)).astype("datetime64[D]").astype("datetime64[us]")
    customers = pd.DataFrame({"customer_id": ids, "signup_ts": signup, "tier": tier})
    events = load_events(purchases, support, surveys, customers, on_duplicates="drop")
    treatments = pd.DataFrame({
        "customer_id": ids, "ts": camp, "treated": treated.astype(np.int64),
        "campaign": pd.Series(pd.DatetimeIndex(camp).strftime("retention-%Y-%m-%d")),
        "cost": np.where(treated == 1, float(contact_cost), 0.0),
    }).sort_values(["ts", "customer_id"], ignore_index=True)
    order = pd.Index(ids).get_indexer(treatments["customer_id"])
    truth = pd.DataFrame({
        "customer_id": treatments["customer_id"], "ts": treatments["ts"], "segment": seg[order],
        "p_churn_control": p0[order], "p_churn_treated": p1[order], "uplift": (p0 - p1)[order], "churned": churned[order],
    })
    return UpliftSimulation(events, treatments, truth, h)
