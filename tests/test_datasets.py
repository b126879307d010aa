import pandas as pd
import pytest

from churnlab.datasets import load_cdnow, make_demo_events


def test_demo_is_deterministic_and_complete():
    a = make_demo_events(300, random_state=3)
    b = make_demo_events(300, random_state=3)
    c = make_demo_events(300, random_state=4)
    for name in a.tables():
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])
    assert not a.purchases.equals(c.purchases)
    assert set(a.tables()) == {"purchases", "support", "surveys", "customers"}
    assert set(a.purchases["customer_id"]) <= set(a.customers["customer_id"])


def test_demo_churn_truth_is_consistent_with_events():
    ev, truth = make_demo_events(800, random_state=0, return_truth=True)
    gone = truth["churn_ts"].dropna()
    last = ev.purchases.groupby("customer_id")["ts"].max()
    # nobody buys after the day they churned
    assert (last.reindex(gone.index).dropna() < gone.loc[last.reindex(gone.index).dropna().index] + pd.Timedelta(days=1)).all()
    assert 0.2 < truth["churn_ts"].notna().mean() < 0.8


def test_demo_planted_driver_unresolved_tickets_raise_churn():
    """After an unresolved ticket, customers start to churn sooner than after a resolved one."""
    ev, truth = make_demo_events(3000, random_state=1, return_truth=True)
    t = ev.support.merge(truth, left_on="customer_id", right_index=True)
    soon = (t["churn_ts"] - t["ts"]) < pd.Timedelta(days=120)
    rate_open = soon[~t["resolved"]].mean()
    rate_resolved = soon[t["resolved"]].mean()
    assert rate_open > 1.3 * rate_resolved, (rate_open, rate_resolved)


def test_demo_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`n_customers` must be > 0, got 0"):
        make_demo_events(0)
    with pytest.raises(ValueError, match="at least 60 days"):
        make_demo_events(10, start="2024-01-01", end="2024-01-10")


def test_cdnow_loads_with_published_shape():
    raw = load_cdnow(merge_same_day=False)
    assert len(raw.purchases) == 69659
    assert raw.purchases["customer_id"].nunique() == 23570
    assert raw.purchases["ts"].min() == pd.Timestamp("1997-01-01")
    assert raw.purchases["ts"].max() == pd.Timestamp("1998-06-30")
    merged = load_cdnow()
    assert len(merged.purchases) < len(raw.purchases)
    assert merged.purchases["amount"].sum() == pytest.approx(raw.purchases["amount"].sum())
