"""Public functions called with the wrong kind or value of argument raise TypeError or
ValueError naming the parameter and the value, never a numpy or attribute error."""

import numpy as np
import pandas as pd
import pytest

import churnlab as cl
from churnlab import metrics as m

LOG = pd.DataFrame(
    {"customer_id": [1, 1, 2, 3], "ts": ["2024-01-10", "2024-03-05", "2024-01-20", "2024-04-01"], "amount": 1.0}
)


@pytest.fixture(scope="module")
def events():
    return cl.load_events(LOG)


CASES = [
    # (call(events), error, fragment)
    (lambda ev: cl.churn_labels(ev, "2024-03-01", horizon_days="90"), TypeError, "`horizon_days` must be a number > 0, got '90'"),
    (lambda ev: cl.churn_labels(ev, "2024-03-01", horizon_days=np.nan), ValueError, "`horizon_days` must be a finite number > 0, got nan"),
    (lambda ev: cl.churn_labels(ev, "2300-01-01", rule="adaptive"), ValueError, "`as_of` (2300-01-01 00:00:00) is after the end of the data"),
    (lambda ev: cl.churn_labels(ev, "2024-03-01", k="3"), TypeError, "`k` must be a number > 0, got '3'"),
    (lambda ev: cl.churn_labels(ev, "2024-03-01", horizon_days=30, active_days=True), TypeError, "`active_days` must be a number > 0, got True"),
    (lambda ev: cl.churn_labels([1, 2], "2024-03-01"), TypeError, "`events` must be EventTables or a purchases DataFrame"),
    (lambda ev: m.retention_rate("200", 180, 20), TypeError, "`start_count` must be a number >= 0, got '200'"),
    (lambda ev: m.churn_rate(200, None), TypeError, "`lost_count` must be a number >= 0, got None"),
    (lambda ev: m.churn_rate(np.int64(200), np.float64(np.inf)), ValueError, "`lost_count` must be a finite number >= 0, got inf"),
    (lambda ev: m.period_counts(ev, "2024-02-01", "2024-03-01", active_days=90.5), ValueError, "`active_days` must be a whole number > 0, got 90.5"),
    (lambda ev: m.historical_clv(ev, "2024-03-01", margin="0.5"), TypeError, "`margin` must be a number, got '0.5'"),
    (lambda ev: m.historical_clv(ev, "2024-03-01", margin=1.5), ValueError, "`margin` must be in (0, 1], got 1.5"),
    (lambda ev: m.predictive_clv(ev, "2024-03-01", churn_rate_pct="20"), TypeError, "`churn_rate_pct` must be a number, got '20'"),
    (lambda ev: m.nps("9,10"), TypeError, "`scores` must be a list of NPS answers, got '9,10'"),
    (lambda ev: m.csat([5, "4"]), TypeError, "`scores` must hold numbers, got '4'"),
    (lambda ev: m.retention_rate_between([1, 2], "2024-01-01", "2024-02-01"), TypeError, "`purchases` must be EventTables or a purchases DataFrame"),
    (lambda ev: cl.build_features(LOG, "2024-03-01"), TypeError, "`events` must be EventTables"),
    (lambda ev: cl.build_training_set(ev, "2024-03-01"), TypeError, "`cutoffs` must be a list of dates, got '2024-03-01'"),
    (lambda ev: cl.make_cutoffs("2024-01-01", "2024-06-01", freq="fortnightly"), ValueError, "`freq` is not a pandas frequency"),
    (lambda ev: cl.load_events(None), TypeError, "`purchases` is required"),
    (lambda ev: cl.risk_tiers([0.5], {"high": "0.5"}), TypeError, "high must be a number in (0, 1), got '0.5'"),
]


@pytest.mark.parametrize("call,error,fragment", CASES)
def test_misuse_names_the_parameter_and_value(events, call, error, fragment):
    with pytest.raises(error) as err:
        call(events)
    assert fragment in str(err.value)
