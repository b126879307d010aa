import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnlab import metrics as m


def p(rows):
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])


# Hand-made log. Active = purchase in the 30 days before a date.
LOG = p(
    [
        (1, "2024-01-05", 10.0),
        (1, "2024-02-10", 30.0),
        (2, "2024-01-20", 20.0),
        (3, "2024-01-25", 5.0),
        (3, "2024-01-26", 5.0),
        (4, "2024-02-15", 50.0),
        (5, "2023-12-01", 8.0),
    ]
)


def test_retention_and_churn_formulas():
    assert m.retention_rate(200, 180, 20) == 80.0
    assert m.retention_rate(start_count=10, end_count=10, new_count=0) == 100.0
    assert m.churn_rate(200, 40) == 20.0


@pytest.mark.parametrize(
    "args,msg",
    [
        ((0, 5, 0), "`start_count` must be > 0"),
        ((10, 5, 6), "`new_count` (6) cannot exceed `end_count` (5)"),
        ((10, 30, 5), "more than `start_count`"),
        ((-1, 5, 0), "`start_count` must be >= 0, got -1"),
    ],
)
def test_retention_rate_rejects_impossible_counts(args, msg):
    with pytest.raises(ValueError) as err:
        m.retention_rate(*args)
    assert msg in str(err.value)


def test_churn_rate_rejects_impossible_counts():
    with pytest.raises(ValueError, match="`start_count` must be > 0"):
        m.churn_rate(0, 0)
    with pytest.raises(ValueError, match=r"`lost_count` \(11\) cannot exceed"):
        m.churn_rate(10, 11)


def test_period_counts_by_hand():
    # Active at 2024-02-01 (purchase in [2024-01-02, 2024-02-01)): 1, 2, 3.
    # Active at 2024-03-01 (purchase in [2024-01-31, 2024-03-01)): 1, 4.
    c = m.period_counts(LOG, "2024-02-01", "2024-03-01", active_days=30)
    assert (c.start, c.end, c.new, c.lost, c.retained) == (3, 2, 1, 2, 1)
    assert m.retention_rate_between(LOG, "2024-02-01", "2024-03-01", 30) == pytest.approx(100 / 3)
    assert m.churn_rate_between(LOG, "2024-02-01", "2024-03-01", 30) == pytest.approx(200 / 3)


def test_between_rates_reject_bad_periods():
    with pytest.raises(ValueError, match="must be after"):
        m.period_counts(LOG, "2024-03-01", "2024-02-01")
    with pytest.raises(ValueError, match="`active_days` must be > 0, got 0"):
        m.period_counts(LOG, "2024-02-01", "2024-03-01", active_days=0)
    with pytest.raises(ValueError, match="no customer is active"):
        m.retention_rate_between(LOG, "2020-01-01", "2020-02-01")
    with pytest.raises(ValueError, match="`period_start` must be a date"):
        m.period_counts(LOG, "garbage", "2024-02-01")


def test_repeat_purchase_rate_by_hand():
    # January: customers 1, 2, 3 buy; only 3 buys twice.
    assert m.repeat_purchase_rate(LOG, "2024-01-01", "2024-02-01") == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="no purchase in"):
        m.repeat_purchase_rate(LOG, "2030-01-01", "2030-02-01")


def test_nps_and_csat_by_hand():
    assert m.nps([10, 9, 8, 7, 6, 0]) == 0.0
    assert m.nps([10, 10, 10, 3]) == 50.0
    assert m.nps([0]) == -100.0
    assert m.csat([5, 4, 3, 1]) == 50.0
    with pytest.raises(ValueError, match=r"NPS scores must be integers in \[0, 10\], got 11.0"):
        m.nps([11])
    with pytest.raises(ValueError, match="CSAT scores .* got 0.0"):
        m.csat([0, 5])
    with pytest.raises(ValueError, match="empty"):
        m.nps([])


@given(st.lists(st.integers(0, 10), min_size=1, max_size=200))
def test_nps_bounds_and_independent_count(scores):
    value = m.nps(scores)
    assert -100 <= value <= 100
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    assert value == pytest.approx(100 * (promoters - detractors) / len(scores))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 15), st.integers(0, 119), st.floats(0, 100)),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 60),
)
def test_retention_plus_churn_is_100(rows, active_days):
    df = p([(c, pd.Timestamp("2024-01-01") + pd.Timedelta(days=d), a) for c, d, a in rows])
    start, end = "2024-02-15", "2024-03-20"
    c = m.period_counts(df, start, end, active_days)
    if c.start == 0:
        return
    assert m.retention_rate_between(df, start, end, active_days) + m.churn_rate_between(
        df, start, end, active_days
    ) == pytest.approx(100.0)
    assert c.end - c.new == c.retained


def test_historical_clv_only_uses_data_before_as_of():
    clv = m.historical_clv(LOG, "2024-02-01")
    assert clv.to_dict() == {1: 10.0, 2: 20.0, 3: 10.0, 5: 8.0}
    assert m.historical_clv(LOG, "2024-02-01", margin=0.5)[1] == 5.0
    with pytest.raises(ValueError, match="`margin` must be in"):
        m.historical_clv(LOG, "2024-02-01", margin=0)


def test_predictive_clv_formula_by_hand():
    out = m.predictive_clv(LOG, "2024-03-01", period_days=30, churn_rate_pct=50.0, active_days=30)
    # customer 1: AOV 20, 2 purchases, first 2024-01-05 -> tenure 56 days = 56/30 periods
    row = out.loc[1]
    assert row["aov"] == 20.0
    assert row["purchases_per_period"] == pytest.approx(2 / (56 / 30))
    assert row["expected_lifetime_periods"] == 2.0
    assert row["clv"] == pytest.approx(20 * 2 / (56 / 30) * 2)
    # customer 4: first purchase 15 days before as_of; tenure floored at active_days=30
    assert out.loc[4, "purchases_per_period"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`churn_rate_pct` must be in"):
        m.predictive_clv(LOG, "2024-03-01", churn_rate_pct=0)


def test_cohort_retention_by_hand():
    log = p(
        [
            (1, "2024-01-03", 1.0),
            (1, "2024-02-03", 1.0),
            (2, "2024-01-09", 1.0),
            (2, "2024-03-09", 1.0),
            (3, "2024-02-01", 1.0),
            (3, "2024-03-01", 1.0),
            (4, "2024-04-20", 1.0),  # after as_of: ignored
        ]
    )
    mat = m.cohort_retention(log, "2024-04-01")
    assert mat.loc["2024-01", "cohort_size"] == 2
    assert mat.loc["2024-01", 0] == 100.0
    assert mat.loc["2024-01", 1] == 50.0
    assert mat.loc["2024-01", 2] == 50.0
    assert mat.loc["2024-02", 1] == 100.0
    assert np.isnan(mat.loc["2024-02", 2])  # April is not complete at as_of
    assert "2024-04" not in mat.index
