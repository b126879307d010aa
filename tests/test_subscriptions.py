"""Subscriptions and product-usage activity: contract, point-in-time features, the
contractual label, and a subscription business through train -> score -> report."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import small_config, train_from_cli
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.datasets import make_demo_subscriptions
from churnlab.events import EventValidationError, load_events, save_events_dir
from churnlab.features import FeatureBuilder
from churnlab.labels import churn_labels

AS_OF = "2024-05-01"
SUBS = pd.DataFrame(
    {
        "customer_id": [1, 1, 2, 3],
        "start_ts": ["2024-01-01", "2024-03-01", "2024-01-15", "2024-02-01"],
        "end_ts": ["2024-03-01", None, "2024-04-20", "2024-06-10"],
        "amount": [10.0, 20.0, 15.0, 30.0],
        "term_end_ts": ["2024-02-01", "2024-09-01", "2024-07-15", "2024-08-01"],
    }
)
ACTIVITY = pd.DataFrame(
    {
        "customer_id": [1, 1, 2, 2, 3, 1],
        "ts": ["2024-04-25", "2024-04-28", "2024-02-01", "2024-04-29", "2024-04-01", "2024-01-20"],
        "event_type": ["login", "login", "export", "login", "login", "login"],
        "value": [1.0, 2.0, 1.0, 1.0, 1.0, 4.0],
    }
)


def _events(subs=SUBS, activity=ACTIVITY):
    return load_events(subscriptions=subs, activity=activity)


def test_subscription_and_activity_features_by_hand():
    X = FeatureBuilder().fit(_events(), AS_OF).transform(_events(), AS_OF)
    # 1: plan A (Jan 1 - Mar 1, ended) then B (from Mar 1, 20 a month); 90 days before May 1
    # (Feb 1) only A was running at 10. 2: one plan, ended Apr 20. 3: its end (Jun 10) is
    # after as_of, so unknown: active at as_of, started exactly 90 days before it.
    expected = {
        "sub_count_total": [2, 1, 1],
        "sub_active_count": [1, 0, 1],
        "sub_mrr": [20, 0, 30],
        "sub_mrr_change_90d": [10, -15, 30],
        "sub_tenure_days": [121, 107, 90],
        "sub_days_since_last_end": [61, 11, np.nan],
        "sub_plan_changes_90d": [1, 0, 0],
        "sub_days_to_term_end": [123, np.nan, 92],
        "a_login_30d": [3, 1, 1],  # value summed: 1 + 2
        "a_login_prev_90d": [4, 0, 0],  # Jan 20: 102 days before as_of
        "a_login_active_days_90d": [2, 1, 1],
        "a_export_90d": [0, 1, 0],  # Feb 1 is 90 days before May 1: inside the window
        "a_days_since_last": [3, 2, 30],
        "tenure_days": [121, 107, 90],
    }
    for col, values in expected.items():
        np.testing.assert_array_equal(X[col].to_numpy(), np.array(values, dtype=float), err_msg=col)


def test_what_happens_at_or_after_as_of_never_changes_the_features():
    base = FeatureBuilder().fit(_events(), AS_OF)
    before = base.transform(_events(), AS_OF)
    subs = SUBS.copy()
    subs.loc[3, "end_ts"] = "2024-05-01"  # customer 3: an end exactly at as_of is not known before it
    subs = pd.concat([subs, pd.DataFrame({"customer_id": [1], "start_ts": ["2024-05-01"], "end_ts": [None],
                                          "amount": [99.0], "term_end_ts": ["2025-05-01"]})])
    later = pd.concat([ACTIVITY, pd.DataFrame({"customer_id": [2, 3], "ts": ["2024-05-01", "2024-07-01"],
                                              "event_type": ["login", "export"], "value": [50.0, 3.0]})])
    after = base.transform(_events(subs, later), AS_OF)
    pd.testing.assert_frame_equal(after, before)
    assert after.loc[3, "sub_active_count"] == 1.0


def test_contractual_label_from_subscriptions_by_hand():
    ev = _events()
    res = churn_labels(ev, "2024-04-01", horizon_days=75, rule="contractual", observed_until="2024-12-31")
    # active Apr 1: 1 (plan B), 2 (ends Apr 20), 3 (ends Jun 10); at Jun 15: 1 only
    assert res.labels["churned"].to_dict() == {1: 0, 2: 1, 3: 1}
    res = churn_labels(ev, "2024-04-01", horizon_days=60, rule="contractual", observed_until="2024-12-31")
    assert res.labels["churned"].to_dict() == {1: 0, 2: 1, 3: 0}  # at May 31, 3 is still subscribed
    res = churn_labels(ev, "2024-05-01", horizon_days=30, rule="contractual", observed_until="2024-12-31")
    assert res.excluded["reason"].to_dict() == {2: "not_active_at_as_of"}
    assert res.definition["source"] == "subscriptions"
    with pytest.raises(ValueError, match="rule='fixed' labels by purchases"):
        churn_labels(ev, "2024-05-01", horizon_days=30)


@pytest.mark.parametrize(
    "table,df,fragment",
    [
        ("subscriptions", SUBS.assign(end_ts=["2023-12-01", None, None, None]), "subscriptions.end_ts: ends before it starts"),
        ("subscriptions", SUBS.assign(amount=[10.0, -1.0, 1.0, 1.0]), "subscriptions.amount: negative value"),
        ("subscriptions", SUBS.drop(columns="start_ts"), "subscriptions.start_ts: missing required column"),
        ("activity", ACTIVITY.assign(value=[1.0, np.inf, 1, 1, 1, 1]), "activity.value: non-finite value"),
        ("activity", ACTIVITY.drop(columns="event_type"), "activity.event_type: missing required column"),
    ],
)
def test_bad_subscription_and_activity_tables_name_the_column(table, df, fragment):
    with pytest.raises(EventValidationError, match=fragment.replace(".", r"\.")):
        load_events(**{table: df})


@pytest.mark.slow
def test_a_subscription_business_with_activity_trains_scores_and_reports(tmp_path):
    events = make_demo_subscriptions(1200, random_state=3)
    folder = save_events_dir(events, tmp_path / "events")
    cfg = small_config(**{"data": {"source": "files", "path": str(folder)},
                          "label": {"rule": "contractual", "horizon_days": 90},
                          "cutoffs": {"start": "2023-09-01", "end": "2024-09-01", "freq": "MS"}})
    uri, tracking, output = train_from_cli(cfg, tmp_path)
    assert "logistic_regression" in output and "prior_rate" in output
    runner = CliRunner()
    out = tmp_path / "scores.parquet"
    res = runner.invoke(app, ["score", "--model", uri, *tracking, "--events", str(folder), "--as-of", "2024-12-01",
                              "--out", str(out), "--chunk-size", "300"])
    assert res.exit_code == 0, res.output
    scores = pd.read_parquet(out)
    assert set(scores["status"]) == {"scored", "not_active"}
    active = events.subscriptions[(events.subscriptions["start_ts"] < "2024-12-01") &
                                  ~(events.subscriptions["end_ts"] < "2024-12-01")]["customer_id"].unique()
    assert set(scores.loc[scores["status"] == "scored", "customer_id"]) == set(active)
    reasons = scores["reason_1"].dropna()
    assert reasons.str.contains(r"'login' events in the last 90 days \(\d+ in the 90 days before\)").any()
    res = runner.invoke(app, ["report", "--model", uri, *tracking, "--events", str(folder), "--as-of", "2024-12-01",
                              "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    assert "not_active" in (tmp_path / "r.html").read_text()
    # whom to contact: valued by their recurring amounts
    from churnlab.scoring.value import customer_value

    plan = {"contact_cost": 1.0, "incentive_cost": 5.0, "acceptance": 0.3, "margin": 0.6, "value_method": "subscription",
            "horizon_days": 365}
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump({"campaign": plan}))
    out = tmp_path / "campaign.parquet"
    args = ["score", "--model", uri, *tracking, "--events", str(folder), "--as-of", "2024-12-01", "--out", str(out),
            "--chunk-size", "300", "--campaign", str(tmp_path / "campaign.yaml")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    c = pd.read_parquet(out).set_index("customer_id")
    want = customer_value(events, "2024-12-01", 365, "subscription", margin=0.6)
    np.testing.assert_allclose(c.loc[want.index, "customer_value"], want, rtol=1e-12)
    assert c.loc[c["status"] == "scored", "expected_profit"].notna().all()
    plan["value_method"] = "bgnbd_gg"  # no purchases here
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump({"campaign": plan}))
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "customer value method 'bgnbd_gg' needs purchases; these events have none" in res.output
