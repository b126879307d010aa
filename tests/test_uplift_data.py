"""The treatments table: one-line errors naming column, row and value; the uplift rows: the
churn label from each treatment's ts, features strictly before it (property-tested)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnlab.events import EventValidationError, load_events
from churnlab.features import build_features
from churnlab.labels import churn_labels
from churnlab.uplift.data import load_treatments, uplift_rows, validate_treatments

TS = "2024-03-01"


def tiny_events(extra_purchases=None, extra_support=None):
    purchases = pd.DataFrame(
        [
            (1, "2024-01-05", 10.0), (1, "2024-02-20", 30.0), (1, "2024-03-10", 5.0),  # buys again after ts: stays
            (2, "2024-02-01", 20.0),  # never again: churned
            (3, "2023-01-10", 99.0), (3, "2024-02-29 23:59", 1.0), (3, "2024-04-25", 8.0),  # buys again on day 55: stays
            (4, "2024-01-15", 7.0), (4, "2024-05-05", 3.0),  # after the 60-day window: churned
            (6, "2024-06-30", 1.0),  # first purchase after ts: no history
        ],
        columns=["customer_id", "ts", "amount"],
    )
    support = pd.DataFrame(
        [(1, "2024-02-10", "billing", "email", 5.0, True), (2, "2024-02-25", "delivery", "chat", np.nan, False)],
        columns=["customer_id", "ts", "category", "channel", "resolution_hours", "resolved"],
    )
    if extra_purchases is not None:
        purchases = pd.concat([purchases, extra_purchases], ignore_index=True)
    if extra_support is not None:
        support = pd.concat([support, extra_support], ignore_index=True)
    return load_events(purchases, support, on_duplicates="keep")


def tiny_treatments(**changes):
    t = pd.DataFrame({"customer_id": [1, 2, 3, 4, 6], "ts": [TS] * 5, "treated": [1, 0, 1, 0, 1],
                      "cost": [2.0, 0.0, 2.0, 0.0, 2.0], "campaign": "spring"})
    return t.assign(**changes)


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_a_valid_table_is_normalised():
    t = validate_treatments(tiny_treatments(treated=[True, False, True, False, True], customer_id=["1", "2", "3", "4", "6"]))
    assert t["treated"].tolist() == [1, 0, 1, 0, 1] and str(t["ts"].dtype) == "datetime64[us]"
    assert t["customer_id"].tolist() == ["1", "2", "3", "4", "6"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"treated": [1, 0, 1, 2, 1]}, "treatments.treated: must be 1 (contacted) or 0 (control); 1 bad row(s); first at row 3 "
                                       "(customer_id=4): 2"),
        ({"treated": [1, 0, "yes", 0, 1]}, "treatments.treated: must be 1 (contacted) or 0 (control); 1 bad row(s); first at row 2 "
                                           "(customer_id=3): 'yes'"),
        ({"treated": [1, 1, 1, 1, 1]}, "treatments.treated: no control group (no row with treated 0)"),
        ({"treated": [0, 0, 0, 0, 0]}, "treatments.treated: no contacted customer"),
        ({"customer_id": [1, 2, 3, 3, 6]}, "treatments.customer_id: customer 3 appears twice at ts 2024-03-01 00:00:00; "
                                           "1 bad row(s); first at row 3"),
        ({"ts": [TS, TS, TS, "01/03/2024", TS]}, "treatments.ts: "),
        ({"ts": [TS, TS, TS, None, TS]}, "treatments.ts: null timestamp; 1 bad row(s); first at row 3 (customer_id=4)"),
        ({"ts": [TS, TS, TS, "2024-03-02", TS]}, "treatments.ts: cutoff 2024-03-02 00:00:00 has control customers only (1 row(s))"),
        ({"cost": [2.0, 0.0, -1.0, 0.0, 2.0]}, "treatments.cost: negative cost; 1 bad row(s); first at row 2 (customer_id=3): -1.0"),
        ({"cost": [2.0, 0.0, np.nan, 0.0, 2.0]}, "treatments.cost: null cost of a contacted customer (treated 1); 1 bad row(s); "
                                                 "first at row 2"),
    ],
)
def test_bad_tables_are_refused_in_one_line(changes, message):
    with pytest.raises(EventValidationError) as exc:
        validate_treatments(tiny_treatments(**changes))
    assert one_line(exc).startswith(message)


def test_missing_columns_mapping_and_files():
    with pytest.raises(EventValidationError) as exc:
        validate_treatments(tiny_treatments().drop(columns="treated"))
    assert one_line(exc).startswith("treatments.treated: missing required column(s) ['treated']")
    t = validate_treatments(tiny_treatments().rename(columns={"treated": "contacted"}), mapping={"treated": "contacted"})
    assert t["treated"].tolist() == [1, 0, 1, 0, 1]
    with pytest.raises(EventValidationError, match="treatments: file not found: nowhere.csv"):
        load_treatments("nowhere.csv")


def test_csv_ids_stay_as_written(tmp_path):
    path = tmp_path / "treatments.csv"
    tiny_treatments(customer_id=["007", "2", "3", "4", "6"]).to_csv(path, index=False)
    assert load_treatments(path)["customer_id"].tolist() == ["007", "2", "3", "4", "6"]


def test_a_treatment_after_the_data_or_its_window_is_refused():
    ev = tiny_events()
    with pytest.raises(EventValidationError) as exc:
        uplift_rows(ev, tiny_treatments(ts=["2024-08-01"] * 5), horizon_days=60)
    assert one_line(exc).startswith("treatments.ts: after the end of the data (2024-06-30 00:00:00); 5 bad row(s); first at row 0 "
                                    "(customer_id=1): '2024-08-01 00:00:00'")
    with pytest.raises(EventValidationError) as exc:
        uplift_rows(ev, tiny_treatments(), horizon_days=180)
    assert "treatments.ts: its 180-day label window ends after purchases are observed" in one_line(exc)


def test_rows_hold_the_label_from_ts_and_features_before_it():
    ev = tiny_events()
    rows = uplift_rows(ev, tiny_treatments(), horizon_days=60)
    f = rows.frame.set_index("customer_id")
    # worked out by hand from tiny_events: 1 and 3 buy within 60 days of ts, 2 and 4 do not
    assert f["churned"].to_dict() == {1: 0, 2: 1, 3: 0, 4: 1}
    assert f["value"].to_dict() == {1: 40.0, 2: 20.0, 3: 1.0, 4: 7.0}  # spend in [ts - 365 days, ts): not 3's of 2023-01-10
    assert f["treated"].to_dict() == {1: 1, 2: 0, 3: 1, 4: 0}
    assert rows.excluded[["customer_id", "reason"]].values.tolist() == [[6, "no_purchase_before_as_of"]]
    expected = churn_labels(ev, TS, horizon_days=60).labels["churned"]
    assert f["churned"].to_dict() == expected.to_dict()
    X = build_features(ev, TS)
    pd.testing.assert_frame_equal(f[rows.feature_names], X.loc[f.index, rows.feature_names], check_names=False)
    assert f.loc[3, "p_recency_days"] == pytest.approx(1 / 1440)  # the purchase one minute before ts


_BASE = []


def _base_rows():
    if not _BASE:
        _BASE.append(uplift_rows(tiny_events(), tiny_treatments(), horizon_days=60))
    return _BASE[0]


_after = st.builds(
    lambda cid, minutes, amount: (cid, pd.Timestamp(TS) + pd.Timedelta(minutes=minutes), amount),
    st.sampled_from([1, 2, 3, 4, 5]), st.integers(0, 60 * 24 * 100), st.floats(0, 500, allow_nan=False),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(purchases=st.lists(_after, max_size=6), tickets=st.lists(_after, max_size=4))
def test_events_at_or_after_ts_never_change_features_or_value(purchases, tickets):
    rows = _base_rows()
    extra_p = pd.DataFrame(purchases, columns=["customer_id", "ts", "amount"]) if purchases else None
    extra_s = pd.DataFrame([(c, t, "returns", "phone", a, True) for c, t, a in tickets],
                           columns=["customer_id", "ts", "category", "channel", "resolution_hours", "resolved"]) if tickets else None
    got = uplift_rows(tiny_events(extra_p, extra_s), tiny_treatments(), horizon_days=60).frame
    cols = [*rows.feature_names, "value", "treated", "customer_id"]
    pd.testing.assert_frame_equal(got[cols], rows.frame[cols])
