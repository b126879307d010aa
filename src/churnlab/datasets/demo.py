"""A synthetic event generator with planted churn drivers.

:func:`make_demo_events` simulates customers day by day. Each customer joins on a signup
day, buys at an irregular personal rate (gamma-distributed across customers, with yearly
seasonality and a December peak), raises support tickets and answers NPS/CSAT surveys.
Every day a living customer may start to churn with a hazard that depends on the planted
drivers below; a churning customer either leaves at once (a *silent* churner, about a third)
or first goes through a 30-90 day disengagement phase in which purchases fall to a third.

Planted drivers of the daily churn hazard (multiplicative effects, documented so the model
and SHAP can be checked against them):

* unresolved support tickets: x ``exp(1.6)`` per recent unresolved ticket (decays with a
  45-day time constant, capped at 3)
* long ticket resolution: x ``exp(0.5)`` while a ticket that took > 72 h is recent
* detractor NPS (last score 0-6): x ``exp(1.0)``; promoter (9-10): x ``exp(-0.5)``
* loyal repeat buying lowers it: x ``(1 + purchases so far) ** -0.4``
* tier: premium x ``exp(-0.3)``, basic x ``exp(0.2)``
* falling purchase frequency: the disengagement phase above precedes most churn, so a
  drop in recent purchases versus the customer's usual rate is a leading signal.

Planted noise: the customer attributes ``noise_segment`` (20 equally likely levels) and
``noise_score`` (standard normal) have no effect at all; a model that reports them as
drivers is fitting noise. They are drawn from their own stream, so they leave every other
table unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.checks import to_timestamp
from churnlab.events import EventTables, load_events

__all__ = ["PLANTED_DRIVERS", "make_demo_events"]

PLANTED_DRIVERS = {
    "unresolved_tickets": "support tickets left unresolved raise churn hazard",
    "long_resolution": "tickets that took more than 72 hours raise churn hazard",
    "detractor_nps": "a last NPS of 0-6 raises churn hazard, 9-10 lowers it",
    "falling_frequency": "purchases drop to a third in the 30-90 days before most churn",
    "loyalty": "more purchases so far lower churn hazard",
}

_CATEGORIES = np.array(["billing", "delivery", "product", "account", "returns"])
_CATEGORY_P = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
_CATEGORY_UNRESOLVED = np.array([0.3, 0.2, 0.15, 0.1, 0.2])
_CATEGORY_HOURS = np.array([30.0, 20.0, 12.0, 6.0, 24.0])
_PRODUCTS = np.array(["vinyl", "cd", "merch", "digital", "gift_card"])
_CHANNELS = np.array(["web", "app", "store"])


def make_demo_events(
    n_customers: int = 2000,
    start: str | pd.Timestamp = "2023-01-01",
    end: str | pd.Timestamp = "2024-12-31",
    random_state: int = 0,
    return_truth: bool = False,
) -> EventTables | tuple[EventTables, pd.DataFrame]:
    """Simulate purchases, support tickets, surveys and customers with planted churn drivers.

    Parameters
    ----------
    n_customers : int
        Number of customers (> 0).
    start, end : date-like
        The simulated period; customers join during its first 60 %.
    random_state : int
        Seed; the same seed gives identical tables.
    return_truth : bool
        Also return the simulation's ground truth per customer (``churn_ts`` when the
        customer actually left, NaT if never, and ``silent``).

    Returns
    -------
    EventTables, or (EventTables, DataFrame) with ``return_truth``
        The truth frame holds each customer's simulated churn day and drivers.

    Examples
    --------
    >>> ev = make_demo_events(n_customers=50, random_state=1)
    >>> sorted(ev.tables())
    ['customers', 'purchases', 'support', 'surveys']
    """
    if int(n_customers) <= 0:
        raise ValueError(f"`n_customers` must be > 0, got {n_customers}")
    t0, t1 = to_timestamp(start, "start"), to_timestamp(end, "end")
    n_days = int((t1 - t0).days)
    if n_days < 60:
        raise ValueError(f"`end` must be at least 60 days after `start`, got {start} -> {end}")
    n = int(n_customers)
    rng = np.random.default_rng(random_state)

    signup_day = rng.integers(0, max(1, int(n_days * 0.6)), n)
    tier = rng.choice(np.array(["basic", "plus", "premium"]), n, p=[0.55, 0.3, 0.15])
    region = rng.choice(np.array(["north", "south", "east", "west"]), n)
    acquisition = rng.choice(np.array(["web", "store", "referral", "ads"]), n, p=[0.4, 0.25, 0.15, 0.2])
    tier_rate = np.select([tier == "premium", tier == "plus"], [1.5, 1.2], 1.0)
    buy_rate = rng.gamma(2.0, 1.0 / 60.0, n) * tier_rate  # mean ~ one purchase a month
    spend = rng.lognormal(np.log(35.0), 0.4, n) * np.select([tier == "premium"], [1.6], 1.0)
    ticket_rate = rng.gamma(1.5, 1.0 / 100.0, n)
    survey_rate = rng.uniform(0.002, 0.012, n)
    satisfaction = rng.normal(0.0, 1.0, n)
    silent = rng.random(n) < 0.33
    tier_hazard = np.select([tier == "premium", tier == "basic"], [-0.3, 0.2], 0.0)
    fav_product = rng.integers(0, len(_PRODUCTS), n)
    fav_channel = rng.integers(0, len(_CHANNELS), n)

    alive = np.ones(n, dtype=bool)
    churn_day = np.full(n, -1)
    leave_on = np.full(n, -1)  # day on which a disengaging customer stops for good
    n_purchases = np.zeros(n)
    unresolved = np.zeros(n)  # decayed count of recent unresolved tickets
    long_recent = np.zeros(n)  # decayed indicator of a recent >72h ticket
    last_nps = np.full(n, np.nan)
    decay = np.exp(-1.0 / 45.0)

    p_rows, s_rows, v_rows = [], [], []
    doy0 = t0.dayofyear
    for day in range(n_days + 1):
        joined = day >= signup_day
        active = alive & joined
        if not active.any():
            continue
        doy = (doy0 + day) % 365
        season = 1.0 + 0.2 * np.sin(2 * np.pi * doy / 365.0) + (0.6 if doy >= 334 else 0.0)
        disengaging = leave_on >= 0
        rate = buy_rate * season * np.where(disengaging, 0.33, 1.0)
        buys = active & ((rng.random(n) < rate) | (signup_day == day))
        idx = np.flatnonzero(buys)
        if idx.size:
            n_purchases[idx] += 1
            p_rows.append((idx, np.full(idx.size, day)))

        tickets = active & (rng.random(n) < ticket_rate * np.where(disengaging, 1.5, 1.0))
        tidx = np.flatnonzero(tickets)
        unresolved *= decay
        long_recent *= decay
        if tidx.size:
            cat = rng.choice(len(_CATEGORIES), tidx.size, p=_CATEGORY_P)
            hours = rng.lognormal(np.log(_CATEGORY_HOURS[cat]), 0.9)
            open_ = rng.random(tidx.size) < _CATEGORY_UNRESOLVED[cat]
            unresolved[tidx] += open_
            long_recent[tidx] = np.maximum(long_recent[tidx], (hours > 72).astype(float))
            satisfaction[tidx] -= 0.25 * open_ + 0.1 * (hours > 72)
            s_rows.append((tidx, np.full(tidx.size, day), cat, hours, open_))

        surveys = active & (rng.random(n) < survey_rate)
        vidx = np.flatnonzero(surveys)
        if vidx.size:
            latent = 7.6 + 1.4 * satisfaction[vidx] - 1.5 * np.minimum(unresolved[vidx], 3) + rng.normal(0, 1.2, vidx.size)
            is_nps = rng.random(vidx.size) < 0.7
            nps_score = np.clip(np.rint(latent), 0, 10)
            csat_score = np.clip(np.rint(1 + (latent / 10.0) * 4), 1, 5)
            score = np.where(is_nps, nps_score, csat_score)
            last_nps[vidx[is_nps]] = nps_score[is_nps]
            v_rows.append((vidx, np.full(vidx.size, day), score, is_nps))

        log_h = (
            np.log(1.0 / 500.0)
            + 1.6 * np.minimum(unresolved, 3.0)
            + 0.5 * long_recent
            + np.where(last_nps <= 6, 1.0, 0.0)
            + np.where(last_nps >= 9, -0.5, 0.0)
            - 0.4 * np.log1p(n_purchases)
            + tier_hazard
        )
        starts = active & ~disengaging & (rng.random(n) < np.exp(log_h))
        sidx = np.flatnonzero(starts)
        if sidx.size:
            quit_now = silent[sidx]
            alive[sidx[quit_now]] = False
            churn_day[sidx[quit_now]] = day
            slow = sidx[~quit_now]
            leave_on[slow] = day + rng.integers(30, 91, slow.size)
        leaving = np.flatnonzero(alive & (leave_on == day))
        alive[leaving] = False
        churn_day[leaving] = day

    ids = np.arange(1, n + 1, dtype=np.int64)
    base = t0.to_datetime64().astype("datetime64[s]")

    def stamp(day_arr: np.ndarray) -> np.ndarray:
        # Events happen between 08:00 and 22:00; seconds keep timestamps distinct.
        secs = rng.integers(8 * 3600, 22 * 3600, day_arr.size)
        return (base + day_arr.astype("timedelta64[D]") + secs.astype("timedelta64[s]")).astype("datetime64[us]")

    p_idx = np.concatenate([r[0] for r in p_rows]) if p_rows else np.array([], dtype=int)
    p_day = np.concatenate([r[1] for r in p_rows]) if p_rows else np.array([], dtype=int)
    n_p = p_idx.size
    use_fav = rng.random(n_p) < 0.6
    purchases = pd.DataFrame(
        {
            "customer_id": ids[p_idx],
            "ts": stamp(p_day),
            "amount": np.round(spend[p_idx] * rng.lognormal(0.0, 0.35, n_p), 2),
            "quantity": rng.integers(1, 5, n_p).astype(float),
            "product": np.where(use_fav, _PRODUCTS[fav_product[p_idx]], _PRODUCTS[rng.integers(0, 5, n_p)]),
            "channel": np.where(rng.random(n_p) < 0.7, _CHANNELS[fav_channel[p_idx]], _CHANNELS[rng.integers(0, 3, n_p)]),
        }
    )
    s_idx = np.concatenate([r[0] for r in s_rows])
    s_open = np.concatenate([r[4] for r in s_rows])
    s_hours = np.round(np.concatenate([r[3] for r in s_rows]), 1)
    support = pd.DataFrame(
        {
            "customer_id": ids[s_idx],
            "ts": stamp(np.concatenate([r[1] for r in s_rows])),
            "category": _CATEGORIES[np.concatenate([r[2] for r in s_rows])],
            "channel": np.array(["email", "phone", "chat"])[rng.integers(0, 3, s_idx.size)],
            # An unresolved ticket has no resolution time yet.
            "resolution_hours": np.where(s_open, np.nan, s_hours),
            "resolved": ~s_open,
        }
    )
    v_idx = np.concatenate([r[0] for r in v_rows])
    surveys = pd.DataFrame(
        {
            "customer_id": ids[v_idx],
            "ts": stamp(np.concatenate([r[1] for r in v_rows])),
            "score": np.concatenate([r[2] for r in v_rows]),
            "kind": np.where(np.concatenate([r[3] for r in v_rows]), "nps", "csat"),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_ts": (base + signup_day.astype("timedelta64[D]")).astype("datetime64[us]"),
            "tier": tier,
            "region": region,
            "acquisition_channel": acquisition,
        }
    )
    noise = np.random.default_rng([random_state, 20])  # its own stream: the other tables do not move
    customers["noise_segment"] = noise.choice([f"S{j:02d}" for j in range(20)], n)
    customers["noise_score"] = np.round(noise.normal(0.0, 1.0, n), 3)
    events = load_events(purchases, support, surveys, customers)
    if not return_truth:
        return events
    churn_ts = pd.Series(pd.NaT, index=ids, dtype="datetime64[us]")
    gone = churn_day >= 0
    churn_ts[gone] = (base + churn_day[gone].astype("timedelta64[D]")).astype("datetime64[us]")
    truth = pd.DataFrame({"churn_ts": churn_ts.to_numpy(), "silent": silent}, index=pd.Index(ids, name="customer_id"))
    return events, truth
