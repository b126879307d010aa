"""A synthetic subscription business: accounts, subscriptions with recurring revenue, and
weekly product-usage events, with planted churn drivers.

Each account has a latent engagement that drifts week by week. Logins and exports follow
it (Poisson counts per week, one activity row per account, week and event type, the count
in ``value``). A low engagement makes downgrades likely (the subscription ends and a cheaper
one starts the same day), and the weekly cancellation hazard rises with low engagement and
with a downgrade in the last 13 weeks. So falling logins and downgrades lead churn, and
the attributes ``noise_segment`` (20 levels) and ``noise_score`` have no effect at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.events import EventTables, load_events

__all__ = ["PLANS", "make_demo_subscriptions"]

#: Plans by price: a downgrade moves one step down.
PLANS = {"team": 120.0, "pro": 50.0, "basic": 20.0}


def make_demo_subscriptions(
    n_customers: int = 2000, start: str = "2023-01-01", weeks: int = 104, random_state: int = 0
) -> EventTables:
    """Accounts, subscriptions and weekly activity of a simulated subscription business.

    Parameters
    ----------
    n_customers : int
    start : date-like
        The first week; accounts sign up during the first half of the period.
    weeks : int
        Length of the simulation.
    random_state : int

    Returns
    -------
    EventTables
        ``customers`` (signup_ts, region, noise_segment, noise_score), ``subscriptions``
        (start_ts, end_ts, amount, plan) and ``activity`` (ts, event_type, value); no purchases.

    Examples
    --------
    >>> ev = make_demo_subscriptions(200, weeks=52, random_state=1)
    >>> sorted(ev.tables()), ev.purchases is None
    (['activity', 'customers', 'subscriptions'], True)
    """
    if n_customers <= 0 or weeks < 8:
        raise ValueError(f"`n_customers` must be > 0 and `weeks` >= 8, got {n_customers} and {weeks}")
    rng = np.random.default_rng(random_state)
    t0 = pd.Timestamp(start)
    n = n_customers
    signup_week = rng.integers(0, weeks // 2, n)
    plan_names = np.array(list(PLANS))
    plan = rng.choice(len(plan_names), n, p=[0.15, 0.35, 0.5])
    engagement = rng.normal(0.0, 0.5, n)
    rate = rng.gamma(2.0, 1.5, n)  # logins per week at engagement 0
    alive = np.zeros(n, dtype=bool)
    churned_at = np.full(n, -1)
    last_downgrade = np.full(n, -100)
    sub_rows: list[tuple] = []
    open_start = np.full(n, -1)
    act_id, act_week, act_type, act_value = [], [], [], []
    for w in range(weeks):
        joining = signup_week == w
        alive |= joining
        open_start[joining] = w
        active = np.flatnonzero(alive)
        engagement[active] += rng.normal(-0.01, 0.15, len(active))
        # usage follows engagement
        logins = rng.poisson(rate[active] * np.exp(engagement[active]))
        exports = rng.poisson(0.3 * rate[active] * np.exp(engagement[active]))
        for kind, counts in (("login", logins), ("export", exports)):
            has = counts > 0
            act_id.append(active[has])
            act_week.append(np.full(int(has.sum()), w))
            act_type.append(np.full(int(has.sum()), kind))
            act_value.append(counts[has])
        # downgrades: likelier when engagement is low
        p_down = 0.01 / (1 + np.exp(3 * engagement[active]))
        down = active[(rng.random(len(active)) < p_down) & (plan[active] < len(plan_names) - 1)]
        for c in down:
            sub_rows.append((c, open_start[c], w, plan[c]))
            plan[c] += 1
            open_start[c] = w
            last_downgrade[c] = w
        # cancellations: low engagement and a recent downgrade raise the hazard
        recent = (w - last_downgrade[active]) <= 13
        hazard = 0.004 * np.exp(-2.2 * engagement[active] + 1.5 * recent)
        leaving = active[rng.random(len(active)) < hazard]
        for c in leaving:
            sub_rows.append((c, open_start[c], w, plan[c]))
        alive[leaving] = False
        churned_at[leaving] = w
    for c in np.flatnonzero(alive):
        sub_rows.append((c, open_start[c], None, plan[c]))

    day = pd.Timedelta(days=1)
    week = pd.Timedelta(weeks=1)
    ids = np.arange(1, n + 1)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_ts": t0 + signup_week * week,
            "region": rng.choice(["north", "south", "east", "west"], n),
            "noise_segment": rng.choice([f"S{j:02d}" for j in range(20)], n),
            "noise_score": np.round(rng.normal(0, 1, n), 3),
        }
    )
    c, s, e, p = zip(*sub_rows)
    subs = pd.DataFrame(
        {
            "customer_id": ids[np.array(c)],
            "start_ts": t0 + np.array(s) * week + day * 0.5,
            "end_ts": [t0 + wk * week + day * 3.5 if wk is not None else pd.NaT for wk in e],
            "amount": [PLANS[plan_names[k]] for k in p],
            "plan": plan_names[np.array(p)],
        }
    )
    a_id, a_week = np.concatenate(act_id), np.concatenate(act_week)
    activity = pd.DataFrame(
        {
            "customer_id": ids[a_id],
            "ts": t0 + a_week * week + pd.to_timedelta(rng.integers(0, 7 * 24, len(a_id)), unit="h"),
            "event_type": np.concatenate(act_type),
            "value": np.concatenate(act_value).astype(float),
        }
    )
    return load_events(customers=customers, subscriptions=subs, activity=activity, on_duplicates="keep")
