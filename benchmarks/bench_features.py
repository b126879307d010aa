"""Feature build at volume: DuckDB engine vs an idiomatic pandas groupby of the same features.

Run with `make bench`. Prints wall time, peak memory growth and the pandas/DuckDB ratio.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from _util import machine, measure, volume_activity, volume_events
from churnlab.features import FeatureBuilder, FeatureConfig

AS_OF = pd.Timestamp("2024-10-01")


def pandas_features(ev, as_of: pd.Timestamp, cfg: FeatureConfig, categories) -> pd.DataFrame:
    """The same purchase, support and survey features, written as idiomatic pandas groupbys."""
    day = pd.Timedelta(days=1)
    p = ev.purchases[ev.purchases["ts"] < as_of].sort_values(["customer_id", "ts"])
    p = p.assign(age=(as_of - p["ts"]) / day, gap=p.groupby("customer_id")["ts"].diff() / day)
    g = p.groupby("customer_id")
    out = pd.DataFrame(
        {
            "p_recency_days": g["age"].min(),
            "p_first_purchase_days": g["age"].max(),
            "p_count_total": g.size().astype(float),
            "p_amount_total": g["amount"].sum(),
            "p_aov": g["amount"].mean(),
        }
    )
    for w in cfg.windows:
        recent = p[p["age"] <= w].groupby("customer_id")
        out[f"p_count_{w}d"] = recent.size().reindex(out.index, fill_value=0).astype(float)
        out[f"p_amount_{w}d"] = recent["amount"].sum().reindex(out.index, fill_value=0.0)
    tw = cfg.trend_window
    prev = p[(p["age"] > tw) & (p["age"] <= 2 * tw)].groupby("customer_id")
    last = p[p["age"] <= tw].groupby("customer_id")
    out[f"p_count_trend_{tw}d"] = last.size().reindex(out.index, fill_value=0) - prev.size().reindex(out.index, fill_value=0)
    out[f"p_amount_trend_{tw}d"] = last["amount"].sum().reindex(out.index, fill_value=0) - prev["amount"].sum().reindex(
        out.index, fill_value=0
    )
    out["p_gap_median_days"] = g["gap"].median()
    out["p_gap_mean_days"] = g["gap"].mean()
    out["p_gap_std_days"] = g["gap"].std()
    out["p_distinct_products"] = g["product"].nunique().astype(float)
    out["p_distinct_channels"] = g["channel"].nunique().astype(float)
    out["p_overdue_ratio"] = out["p_recency_days"] / out["p_gap_median_days"].replace(0, np.nan)

    s = ev.support[ev.support["ts"] < as_of]
    done = s["ts"] + pd.to_timedelta(s["resolution_hours"], unit="h")
    s = s.assign(age=(as_of - s["ts"]) / day, ok=s["resolved"] & s["resolution_hours"].notna() & (done < as_of))
    s = s.assign(open=~s["ok"], res=s["resolution_hours"].where(s["ok"]))
    sg = s.groupby("customer_id")
    sf = pd.DataFrame(
        {
            "s_count_total": sg.size().astype(float),
            "s_days_since_last": sg["age"].min(),
            "s_unresolved_total": sg["open"].sum().astype(float),
            "s_unresolved_share": sg["open"].mean(),
            "s_resolution_hours_mean": sg["res"].mean(),
            "s_resolution_hours_max": sg["res"].max(),
        }
    )
    for w in cfg.windows:
        sf[f"s_count_{w}d"] = s[s["age"] <= w].groupby("customer_id").size().reindex(sf.index, fill_value=0)
    for w in cfg.windows[:2]:
        sf[f"s_unresolved_{w}d"] = s[s["age"] <= w].groupby("customer_id")["open"].sum().reindex(sf.index, fill_value=0)
    recent = s[s["age"] <= tw]
    sf[f"s_long_resolution_{tw}d"] = (recent["res"] > cfg.long_resolution_hours).groupby(recent["customer_id"]).sum()
    cats = recent["category"].astype(str).where(recent["category"].isin(categories), "other")
    sf = sf.join(pd.crosstab(recent["customer_id"], cats).add_prefix("s_cat_").add_suffix(f"_{tw}d"))

    v = ev.surveys[ev.surveys["ts"] < as_of].sort_values(["customer_id", "ts"])
    v = v.assign(age=(as_of - v["ts"]) / day)
    vg = v.groupby("customer_id")
    vf = pd.DataFrame({"v_days_since_last": vg["age"].min(), "v_responses_total": vg.size().astype(float)})
    for kind in ("nps", "csat"):
        k = v[v["kind"] == kind].groupby("customer_id")
        vf[f"v_{kind}_last"] = k["score"].last()
        vf[f"v_{kind}_mean"] = k["score"].mean()
        vf[f"v_{kind}_count"] = k.size().astype(float)
        vf[f"v_{kind}_days_since_last"] = k["age"].min()
    return out.join(sf, how="outer").join(vf, how="outer")


def pandas_activity_features(ev, as_of: pd.Timestamp, cfg: FeatureConfig, event_types) -> pd.DataFrame:
    """The activity features, as idiomatic pandas: per event type (the rest pooled as other),
    value summed per window and in the trend window before, days since the last, active days."""
    day = pd.Timedelta(days=1)
    a = ev.activity[ev.activity["ts"] < as_of]
    a = a.assign(age=(as_of - a["ts"]) / day, kind=a["event_type"].astype(str).where(a["event_type"].isin(event_types), "other"))
    g = a.groupby("customer_id")
    out = pd.DataFrame({"a_events_total": g["value"].sum(), "a_days_since_last": g["age"].min()})
    tw = cfg.trend_window

    def per_kind(frame, values, how, name):
        wide = frame.groupby(["customer_id", "kind"])[values].agg(how).unstack()
        return wide.rename(columns=lambda k: name.format(k=k))

    parts = [per_kind(a[a["age"] <= w], "value", "sum", f"a_{{k}}_{w}d") for w in cfg.windows]
    parts.append(per_kind(a[(a["age"] > tw) & (a["age"] <= 2 * tw)], "value", "sum", f"a_{{k}}_prev_{tw}d"))
    parts.append(per_kind(a, "age", "min", "a_{k}_days_since_last"))
    recent = a[a["age"] <= tw].assign(d=lambda f: np.floor(f["age"]))
    parts.append(per_kind(recent, "d", "nunique", f"a_{{k}}_active_days_{tw}d"))
    out = out.join(pd.concat(parts, axis=1))
    counts = [c for c in out.columns if not c.endswith("days_since_last")]
    out[counts] = out[counts].fillna(0.0)
    return out


def _compare(name: str, fb, ev, ref_fn, *ref_args) -> None:
    X, duck_s, duck_mb, duck_first = _repeat(fb.transform, ev, AS_OF)
    print(f"{name} duckdb : {duck_s:6.2f} s (first run {duck_first:.2f} s)  peak +{duck_mb:5.0f} MiB  "
          f"-> {X.shape[0]:,} customers x {X.shape[1]} features")
    ref, pd_s, pd_mb, pd_first = _repeat(ref_fn, *ref_args)
    print(f"{name} pandas : {pd_s:6.2f} s (first run {pd_first:.2f} s)  peak +{pd_mb:5.0f} MiB  ({ref.shape[1]} of the same features)")
    print(f"{name} speed-up (pandas time / duckdb time): {pd_s / duck_s:.1f}x best-of-3, {pd_first / duck_first:.1f}x first runs")
    common = [c for c in ref.columns if c in X.columns]
    a, b = X.loc[ref.index, common].astype(float), ref[common].astype(float)
    worst = float(np.nanmax(np.abs(a.to_numpy() - b.to_numpy()) / (1 + np.abs(b.to_numpy()))))
    print(f"{name} agreement on {len(common)} shared features: max relative difference {worst:.2e}")


def _repeat(fn, *args, n: int = 3):
    runs = [measure(fn, *args) for _ in range(n)]
    return runs[-1][0], min(r[1] for r in runs), max(r[2] for r in runs), runs[0][1]


def main() -> None:
    print(f"# Feature build benchmark ({machine()})")
    ev, gen_s, _ = measure(volume_events)
    sizes = {k: len(v) for k, v in ev.tables().items()}
    print(f"data: {sizes} (generated and validated in {gen_s:.1f}s)")
    cfg = FeatureConfig()
    fb = FeatureBuilder(cfg).fit(ev, AS_OF)
    # Each engine runs 3 times; the figures are the best time (and its first-run time), the
    # peak memory is the largest seen. Same treatment for both engines.
    _compare("events  ", fb, ev, pandas_features, ev, AS_OF, cfg, fb.support_categories_)
    del ev
    act, gen_s, _ = measure(volume_activity)
    print(f"data: {len(act.activity):,} activity rows over {act.activity['customer_id'].nunique():,} customers "
          f"(generated and validated in {gen_s:.1f}s)")
    fa = FeatureBuilder(cfg).fit(act, AS_OF)
    _compare("activity", fa, act, pandas_activity_features, act, AS_OF, cfg, fa.event_types_)

if __name__ == "__main__":
    main()
