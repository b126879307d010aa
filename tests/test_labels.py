import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnlab.events import load_events
from churnlab.labels import churn_labels

AS_OF = "2024-03-01"


def log():
    rows = [
        # customer 1: monthly buyer who comes back 10 days after as_of -> retained (fixed 30d)
        (1, "2024-01-01"), (1, "2024-01-31"), (1, "2024-02-20"), (1, "2024-03-11"),
        # customer 2: bought once, never again -> churned
        (2, "2024-02-01"),
        # customer 3: comes back exactly at as_of: label side of the split -> retained
        (3, "2024-01-15"), (3, "2024-03-01"),
        # customer 4: comes back on day 30 exactly (outside [as_of, as_of+30d)) -> churned
        (4, "2024-02-10"), (4, "2024-03-31"),
        # customer 5: first purchase after as_of -> excluded
        (5, "2024-03-05"),
        # customer 6: weekly buyer, back after 20 days
        (6, "2024-02-01"), (6, "2024-02-08"), (6, "2024-02-15"), (6, "2024-02-22"), (6, "2024-03-21"),
        # data runs to mid-June
        (7, "2024-06-15"),
    ]
    return pd.DataFrame([(c, t, 1.0) for c, t in rows], columns=["customer_id", "ts", "amount"])


def test_fixed_rule_by_hand():
    res = churn_labels(log(), AS_OF, horizon_days=30)
    assert res.labels["churned"].to_dict() == {1: 0, 2: 1, 3: 0, 4: 1, 6: 0}
    assert res.excluded["reason"].to_dict() == {5: "no_purchase_before_as_of", 7: "no_purchase_before_as_of"}
    assert (res.labels["window_days"] == 30).all()
    assert res.definition["rule"] == "fixed"


def test_adaptive_rule_by_hand():
    res = churn_labels(log(), AS_OF, horizon_days=10, rule="adaptive", k=3)
    lab = res.labels
    # customer 1 median gap = median(30, 20) = 25 days -> window 75 days: back on day 10 -> retained
    assert lab.loc[1, "window_days"] == pytest.approx(75.0)
    assert lab.loc[1, "churned"] == 0
    # customer 6 median gap 7 days -> window 21 days -> back on day 20 -> retained
    assert lab.loc[6, "window_days"] == pytest.approx(21.0)
    assert lab.loc[6, "churned"] == 0
    # customer 2 single purchase -> floor (= horizon 10 days)
    assert lab.loc[2, "window_days"] == 10.0 and lab.loc[2, "churned"] == 1
    # customer 4 single purchase before as_of; returns on day 30 > floor -> churned
    assert lab.loc[4, "churned"] == 1
    tight = churn_labels(log(), AS_OF, horizon_days=10, rule="adaptive", k=2)
    # k=2: customer 6 window 14 days, back on day 20 -> churned
    assert tight.labels.loc[6, "churned"] == 1


def test_adaptive_single_purchase_exclusion_and_censoring():
    res = churn_labels(log(), AS_OF, horizon_days=10, rule="adaptive", single_purchase="exclude")
    assert res.excluded.loc[2, "reason"] == "single_purchase"
    assert 2 not in res.labels.index
    # a window that runs past the data end is excluded, not guessed
    late = churn_labels(log(), "2024-06-01", horizon_days=10, rule="adaptive", k=3)
    assert late.excluded.loc[1, "reason"] == "window_not_observed"


def test_active_days_excludes_already_churned():
    res = churn_labels(log(), AS_OF, horizon_days=30, active_days=30)
    # customer 3 last bought 2024-01-15, 46 days before as_of
    assert res.excluded.loc[3, "reason"] == "inactive"
    assert 3 not in res.labels.index


def test_nobody_silently_dropped():
    events = load_events(log())
    res = churn_labels(events, AS_OF, horizon_days=30)
    everyone = set(events.purchases["customer_id"])
    assert set(res.labels.index) | set(res.excluded.index) == everyone
    assert not set(res.labels.index) & set(res.excluded.index)


def test_contractual_rule():
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "signup_ts": ["2023-01-01", "2023-06-01", "2024-04-01", "2023-01-01"],
            "cancel_ts": [None, "2024-03-15", None, "2024-02-01"],
        }
    )
    events = load_events(log(), customers=customers)
    res = churn_labels(events, AS_OF, horizon_days=30, rule="contractual")
    assert res.labels["churned"].to_dict() == {1: 0, 2: 1}
    assert res.excluded.loc[3, "reason"] == "signed_up_after_as_of"
    assert res.excluded.loc[4, "reason"] == "cancelled_before_as_of"
    with pytest.raises(ValueError, match="customers.cancel_ts"):
        churn_labels(load_events(log()), AS_OF, rule="contractual")


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        ({"horizon_days": -3}, "`horizon_days` must be > 0, got -3"),
        ({"rule": "magic"}, "`rule` must be one of"),
        ({"k": 0}, "`k` must be > 0, got 0"),
        ({"as_of": "2023-01-01"}, "at or before the first purchase"),
        ({"as_of": "2024-06-01", "horizon_days": 90}, "ends after the data"),
        ({"as_of": "not-a-date"}, "`as_of` must be a date"),
        ({"single_purchase": "drop"}, "`single_purchase` must be"),
    ],
)
def test_bad_label_arguments(kwargs, msg):
    args = {"as_of": AS_OF, "horizon_days": 30} | kwargs
    with pytest.raises(ValueError) as err:
        churn_labels(log(), **args)
    assert msg in str(err.value)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.lists(st.integers(1, 6), min_size=1, max_size=30))
def test_labels_unchanged_when_history_before_eligibility_window_changes(rnd, extra_customers):
    """Events before as_of only decide eligibility (fixed rule): replacing the timestamps
    of earlier purchases by other times before as_of, keeping who bought, changes nothing."""
    base = load_events(log()).purchases
    res = churn_labels(base, AS_OF, horizon_days=30)
    before = base["ts"] < pd.Timestamp(AS_OF)
    shuffled = base.copy()
    offsets = np.array([rnd.randint(1, 300) for _ in range(int(before.sum()))])
    shuffled.loc[before, "ts"] = pd.Timestamp(AS_OF) - pd.to_timedelta(offsets, unit="h")
    extra = pd.DataFrame(
        {"customer_id": extra_customers, "ts": pd.Timestamp("2023-12-01"), "amount": 1.0}
    ).astype({"ts": "datetime64[us]"})
    moved = pd.concat([shuffled, extra], ignore_index=True)
    res2 = churn_labels(moved, AS_OF, horizon_days=30)
    pd.testing.assert_frame_equal(res.labels, res2.labels.loc[res.labels.index])
