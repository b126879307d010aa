"""Shared helpers for the benchmarks: synthetic volume data and a time/peak-memory probe."""
from __future__ import annotations

import os
import platform
import threading
import time

import numpy as np
import pandas as pd
import psutil

from churnlab.events import EventTables, load_events


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}"


def measure(fn, *args, **kwargs):
    """Run ``fn`` once; return (result, wall seconds, peak RSS growth in MiB over the call)."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
    finally:
        secs = time.perf_counter() - t0
        stop.set()
        th.join()
    return out, secs, (peak[0] - base) / 2**20


def volume_events(
    n_customers=200_000, n_purchases=5_000_000, n_tickets=500_000, n_surveys=300_000, seed=0
) -> EventTables:
    """Demo-schema tables at benchmark volume (random but realistic shapes), validated."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01T00:00:00", "us")
    span_us = np.int64(730 * 86400 * 1_000_000)
    # heavy-tailed activity: some customers buy far more often than others
    weights = rng.gamma(1.2, 1.0, n_customers)
    weights /= weights.sum()

    def cust(n):
        return rng.choice(n_customers, n, p=weights).astype(np.int64) + 1

    def when(n):
        return start + rng.integers(0, span_us, n).astype("timedelta64[us]")

    purchases = pd.DataFrame(
        {
            "customer_id": cust(n_purchases),
            "ts": when(n_purchases),
            "amount": np.round(rng.lognormal(3.5, 0.5, n_purchases), 2),
            "product": rng.choice(np.array(["vinyl", "cd", "merch", "digital", "gift_card"]), n_purchases),
            "channel": rng.choice(np.array(["web", "app", "store"]), n_purchases),
        }
    )
    resolved = rng.random(n_tickets) > 0.2
    support = pd.DataFrame(
        {
            "customer_id": cust(n_tickets),
            "ts": when(n_tickets),
            "category": rng.choice(np.array(["billing", "delivery", "product", "account", "returns", "fraud"]), n_tickets),
            "channel": rng.choice(np.array(["email", "phone", "chat"]), n_tickets),
            "resolution_hours": np.where(resolved, np.round(rng.lognormal(3.0, 1.0, n_tickets), 1), np.nan),
            "resolved": resolved,
        }
    )
    is_nps = rng.random(n_surveys) < 0.7
    surveys = pd.DataFrame(
        {
            "customer_id": cust(n_surveys),
            "ts": when(n_surveys),
            "score": np.where(is_nps, rng.integers(0, 11, n_surveys), rng.integers(1, 6, n_surveys)).astype(float),
            "kind": np.where(is_nps, "nps", "csat"),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, n_customers + 1, dtype=np.int64),
            "signup_ts": start + rng.integers(0, span_us // 2, n_customers).astype("timedelta64[us]"),
            "tier": rng.choice(np.array(["basic", "plus", "premium"]), n_customers),
            "region": rng.choice(np.array(["north", "south", "east", "west"]), n_customers),
        }
    )
    return load_events(purchases, support, surveys, customers, on_duplicates="drop")


def bench_model(n_customers: int = 20_000):
    """The model every scoring benchmark scores with: trained (untracked) on ``n_customers``
    demo customers, monthly cutoffs, 90-day fixed label, LightGBM; returns ``(TrainResult, seconds)``."""
    from churnlab.config import parse_config
    from churnlab.workflows.training import train

    cfg = parse_config(
        {
            "data": {"source": "demo", "demo_customers": n_customers, "demo_seed": 1},
            "cutoffs": {"start": "2023-09-01", "end": "2024-10-01"},
            "label": {"horizon_days": 90, "active_days": 180},
            # LightGBM only: the scoring benchmarks measure its SHAP engine
            "model": {"candidates": ["lightgbm"], "params": {"num_leaves": 15, "min_data_in_leaf": 50}},
        }
    )
    result, secs, _ = measure(train, cfg, track=False)
    return result, secs


def volume_activity(n_customers: int = 200_000, n_rows: int = 20_000_000, seed: int = 1) -> EventTables:
    """Product-usage events at benchmark volume: ``n_rows`` activity rows (login, view, export,
    invite, share, api_call) over ``n_customers``, two years, a count in ``value``; validated."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(1.2, 1.0, n_customers)
    weights /= weights.sum()
    start = np.datetime64("2023-01-01T00:00:00", "us")
    span_us = np.int64(730 * 86400 * 1_000_000)
    kinds = np.array(["login", "view", "export", "invite", "share", "api_call"])
    activity = pd.DataFrame(
        {
            "customer_id": rng.choice(n_customers, n_rows, p=weights).astype(np.int64) + 1,
            "ts": start + rng.integers(0, span_us, n_rows).astype("timedelta64[us]"),
            "event_type": pd.Categorical.from_codes(rng.choice(len(kinds), n_rows, p=[0.4, 0.3, 0.1, 0.08, 0.07, 0.05]), kinds),
            "value": rng.integers(1, 5, n_rows).astype(float),
        }
    )
    return load_events(activity=activity, on_duplicates="keep")
