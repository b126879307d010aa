"""Known answers for every reason template: plural and sign-aware facts, each with the
comparison that makes it a risk, one reason per driver family, category values not codes,
and no protective fact given as a risk reason. The expected texts are written by hand."""

import numpy as np
import pandas as pd
import pytest

from churnlab.explain import EXPECTED, top_drivers
from churnlab.explain.reasons import with_typical
from churnlab.features.config import FeatureConfig
from churnlab.features.dictionary import describe_feature, describe_static

NAN = float("nan")


def dictionary(columns, typical: dict, static: dict | None = None) -> pd.DataFrame:
    static = static or {}
    rows = [describe_static(c, static[c]) if c in static else describe_feature(c, FeatureConfig()) for c in columns]
    d = pd.DataFrame(rows, columns=["feature", "family", "group", "meaning", "reason"])
    return d.assign(typical=[typical.get(c) for c in columns])


def reasons(values: dict, typical: dict, *, shap: dict | None = None, kind: str = "risk", static: dict | None = None,
            k: int = 5) -> list[str]:
    """The reasons of one customer with feature ``values`` (every contribution +0.5 unless given)."""
    X = pd.DataFrame({c: [v] for c, v in values.items()})
    for c, v in values.items():
        if isinstance(v, str):
            X[c] = pd.Categorical([v], categories=sorted({v, *(t for t in [typical.get(c)] if t)}))
    contributions = {c: [0.5] for c in values} | {c: [v] for c, v in (shap or {}).items()}
    sv = pd.DataFrame(contributions | {EXPECTED: [-1.0]})
    return top_drivers(sv, X, dictionary(list(values), typical, static), k=k, kind=kind)["reason"].tolist()


# (feature values, typical values, the one risk reason)
KNOWN = [
    # purchases: recency against the customer's own gap, else the typical customer
    ({"p_recency_days": 188.0, "p_overdue_ratio": 2.5}, {"p_recency_days": 40.0}, "no purchase for 188 days, 2.5x their usual gap"),
    ({"p_recency_days": 1.0}, {"p_recency_days": 0.0}, "no purchase for 1 day (typical customer: 0)"),
    ({"p_recency_days": 95.0, "p_overdue_ratio": NAN}, {"p_recency_days": 40.0}, "no purchase for 95 days (typical customer: 40)"),
    ({"p_overdue_ratio": 1.8}, {"p_overdue_ratio": 0.9}, "last purchase 1.8x their usual gap ago (typical customer: 0.9)"),
    # counts and spend in a window, against the window before or their usual rate
    ({"p_count_90d": 3.0, "p_count_trend_90d": -8.0}, {"p_count_90d": 5.0},
     "3 purchases in the last 90 days, 8 fewer than in the 90 days before"),
    ({"p_count_90d": 1.0, "p_count_trend_90d": -1.0}, {}, "1 purchase in the last 90 days, 1 fewer than in the 90 days before"),
    ({"p_count_30d": 1.0}, {"p_count_30d": 3.0}, "1 purchase in the last 30 days (typical customer: 3)"),
    ({"p_count_180d": 2.0, "p_count_total": 14.0, "p_first_purchase_days": 720.0}, {},
     "2 purchases in the last 180 days, fewer than their usual 4"),
    ({"p_amount_180d": 3603.23, "p_amount_total": 30903.23, "p_first_purchase_days": 720.0}, {"p_amount_180d": 1000.0},
     "spent 3,603.23 in the last 180 days, less than their usual 9,100.00"),
    ({"p_amount_90d": 20.5}, {"p_amount_90d": 120.0}, "spent 20.50 in the last 90 days (typical customer: 120.00)"),
    ({"p_amount_90d": 120.0, "p_amount_trend_90d": -357.03}, {},
     "spent 120.00 in the last 90 days, 357.03 less than in the 90 days before"),
    ({"p_count_trend_90d": -8.0}, {}, "8 fewer purchases than in the 90 days before"),
    ({"p_count_trend_90d": -1.0}, {}, "1 fewer purchase than in the 90 days before"),
    ({"p_amount_trend_90d": -357.03}, {}, "spend 357.03 lower than in the previous 90 days"),
    ({"p_count_total": 1.0}, {"p_count_total": 6.0}, "1 purchase in total (typical customer: 6)"),
    ({"p_amount_total": 80.0}, {"p_amount_total": 1234.5}, "total spend 80.00 (typical customer: 1,234.50)"),
    ({"p_aov": 12.0}, {"p_aov": 35.0}, "average order 12.00 (typical customer: 35.00)"),
    ({"p_first_purchase_days": 30.0}, {"p_first_purchase_days": 400.0}, "first purchase 30 days ago (typical customer: 400)"),
    ({"p_gap_median_days": 60.0}, {"p_gap_median_days": 25.0}, "usually buys every 60 days (typical customer: 25)"),
    ({"p_gap_mean_days": 61.0}, {"p_gap_mean_days": 25.0}, "buys every 61 days on average (typical customer: 25)"),
    ({"p_gap_std_days": 40.0}, {"p_gap_std_days": 12.0}, "purchase gaps vary by 40 days (typical customer: 12)"),
    ({"p_gap_median_days": NAN}, {"p_gap_median_days": 25.0}, "a single purchase so far"),
    ({"p_distinct_products": 1.0}, {"p_distinct_products": 3.0}, "1 distinct product (typical customer: 3)"),
    ({"p_distinct_channels": 1.0}, {"p_distinct_channels": 2.0}, "1 purchase channel (typical customer: 2)"),
    # support
    ({"s_unresolved_total": 13.0, "s_unresolved_30d": 0.0}, {"s_unresolved_total": 0.0, "s_unresolved_30d": 0.0},
     "13 unresolved tickets (typical customer: none)"),
    ({"s_unresolved_total": 1.0}, {"s_unresolved_total": 0.0}, "1 unresolved ticket (typical customer: none)"),
    ({"s_unresolved_share": 0.5}, {"s_unresolved_share": 0.1}, "50% of tickets unresolved (typical customer: 10%)"),
    ({"s_unresolved_90d": 2.0}, {"s_unresolved_90d": 0.0}, "2 unresolved tickets from the last 90 days (typical customer: none)"),
    ({"s_count_total": 9.0}, {"s_count_total": 2.0}, "9 support tickets in total (typical customer: 2)"),
    ({"s_count_30d": 1.0}, {"s_count_30d": 0.0}, "1 ticket in the last 30 days (typical customer: none)"),
    ({"s_days_since_last": 3.0}, {"s_days_since_last": 120.0}, "last ticket 3 days ago (typical customer: 120)"),
    ({"s_resolution_hours_mean": 96.0}, {"s_resolution_hours_mean": 20.0}, "tickets take 96 h to resolve on average (typical customer: 20)"),
    ({"s_resolution_hours_max": 200.0}, {"s_resolution_hours_max": 30.0}, "a ticket took 200 h to resolve (typical customer: 30)"),
    ({"s_resolution_hours_mean": NAN}, {"s_resolution_hours_mean": 20.0}, "no resolved ticket yet"),
    ({"s_long_resolution_90d": 2.0}, {"s_long_resolution_90d": 0.0}, "2 tickets took over 72 h in the last 90 days (typical customer: none)"),
    ({"s_cat_billing_90d": 1.0}, {"s_cat_billing_90d": 0.0}, "1 'billing' ticket in the last 90 days (typical customer: none)"),
    # surveys
    ({"v_nps_last": 3.0}, {"v_nps_last": 8.0}, "last NPS 3 (typical customer: 8)"),
    ({"v_nps_last": NAN}, {"v_nps_last": 8.0}, "no NPS answer recorded"),
    ({"v_nps_mean": 4.5}, {"v_nps_mean": 7.9}, "average NPS 4.5 (typical customer: 7.9)"),
    ({"v_nps_trend": -2.5}, {}, "last NPS 2.5 lower than their earlier answers"),
    ({"v_nps_segment": "detractor"}, {"v_nps_segment": "promoter"}, "last NPS: detractor (most customers: promoter)"),
    ({"v_nps_count": 1.0}, {"v_nps_count": 3.0}, "1 NPS answer (typical customer: 3)"),
    ({"v_nps_days_since_last": 300.0}, {"v_nps_days_since_last": 90.0}, "last NPS answer 300 days ago (typical customer: 90)"),
    ({"v_csat_last": 2.0}, {"v_csat_last": 4.0}, "last CSAT 2/5 (typical customer: 4)"),
    ({"v_csat_mean": 2.5}, {"v_csat_mean": 4.1}, "average CSAT 2.5/5 (typical customer: 4.1)"),
    ({"v_csat_last": NAN}, {"v_csat_last": 4.0}, "no CSAT answer recorded"),
    ({"v_csat_count": 1.0}, {"v_csat_count": 2.0}, "1 CSAT answer (typical customer: 2)"),
    ({"v_csat_days_since_last": 10.0}, {"v_csat_days_since_last": 90.0}, "last CSAT answer 10 days ago (typical customer: 90)"),
    ({"v_days_since_last": 400.0}, {"v_days_since_last": 60.0}, "last survey answer 400 days ago (typical customer: 60)"),
    ({"v_responses_total": 1.0}, {"v_responses_total": 4.0}, "1 survey answer (typical customer: 4)"),
    ({"v_responses_per_year": 0.5}, {"v_responses_per_year": 2.0}, "0.5 survey answers a year (typical customer: 2.0)"),
    # tenure, subscriptions, activity
    ({"tenure_days": 45.0}, {"tenure_days": 500.0}, "customer for 45 days (typical customer: 500)"),
    ({"sub_tenure_days": 1.0}, {"sub_tenure_days": 300.0}, "subscriber for 1 day (typical customer: 300)"),
    ({"sub_count_total": 3.0}, {"sub_count_total": 1.0}, "3 subscriptions in total (typical customer: 1)"),
    ({"sub_active_count": 0.0}, {"sub_active_count": 1.0}, "0 active subscriptions (typical customer: 1)"),
    ({"sub_mrr": 20.0}, {"sub_mrr": 50.0}, "recurring revenue 20.00 (typical customer: 50.00)"),
    ({"sub_mrr_change_90d": -30.0}, {}, "recurring revenue 30.00 lower than 90 days ago"),
    ({"sub_started_90d": 2.0}, {"sub_started_90d": 0.0}, "2 subscriptions started in the last 90 days (typical customer: none)"),
    ({"sub_ended_90d": 1.0}, {"sub_ended_90d": 0.0}, "1 subscription ended in the last 90 days (typical customer: none)"),
    ({"sub_plan_changes_90d": 1.0}, {"sub_plan_changes_90d": 0.0}, "1 plan change in the last 90 days (typical customer: none)"),
    ({"sub_days_since_last_start": 10.0}, {"sub_days_since_last_start": 200.0}, "last subscription started 10 days ago (typical customer: 200)"),
    ({"sub_days_since_last_end": 10.0}, {"sub_days_since_last_end": 200.0}, "a subscription ended 10 days ago (typical customer: 200)"),
    ({"sub_days_to_term_end": 5.0}, {"sub_days_to_term_end": 60.0}, "term ends in 5 days (typical customer: 60)"),
    ({"a_login_90d": 12.0, "a_login_prev_90d": 40.0}, {"a_login_90d": 30.0}, "12 'login' events in the last 90 days (40 in the 90 days before)"),
    ({"a_login_30d": 1.0}, {"a_login_30d": 9.0}, "1 'login' event in the last 30 days (typical customer: 9)"),
    ({"a_login_prev_90d": 2.0}, {"a_login_prev_90d": 30.0}, "2 'login' events in the 90 days before the last 90 (typical customer: 30)"),
    ({"a_login_active_days_90d": 4.0}, {"a_login_active_days_90d": 20.0}, "'login' on 4 of the last 90 days (typical customer: 20)"),
    ({"a_login_days_since_last": 30.0}, {"a_login_days_since_last": 3.0}, "last 'login' 30 days ago (typical customer: 3)"),
    ({"a_events_total": 1200.0}, {"a_events_total": 5000.0}, "1,200 activity events in total (typical customer: 5,000)"),
    ({"a_days_since_last": 21.0}, {"a_days_since_last": 2.0}, "last activity 21 days ago (typical customer: 2)"),
]


@pytest.mark.parametrize("values, typical, expected", KNOWN, ids=[next(iter(v)) + f"-{i}" for i, (v, _, _) in enumerate(KNOWN)])
def test_each_template_reads_as_written_by_hand(values, typical, expected):
    assert reasons(values, typical) == [expected]


def test_static_attributes_show_the_value_and_the_most_common_one():
    static = {"static_plan": "plan", "static_score": "score"}
    assert reasons({"static_plan": "basic"}, {"static_plan": "pro"}, static=static) == ["plan: basic (most customers: pro)"]
    assert reasons({"static_score": 2.5}, {"static_score": 0.0}, static=static) == ["score: 2.5 (typical customer: 0.0)"]
    # the most common value is no risk against the typical customer: left out
    assert reasons({"static_plan": "basic"}, {"static_plan": "basic"}, static=static) == []
    assert reasons({"static_plan": "basic"}, {"static_plan": "basic"}, static=static, kind="both") == ["plan: basic (as most customers)"]
    X = pd.DataFrame({"static_plan": pd.Categorical([None], categories=["basic", "pro"])})
    sv = pd.DataFrame({"static_plan": [0.4], EXPECTED: [-1.0]})
    d = dictionary(["static_plan"], {"static_plan": "pro"}, static)
    assert top_drivers(sv, X, d, kind="both")["reason"].tolist() == ["plan: not recorded"]


def test_a_table_column_reads_as_its_template_with_the_comparison():
    d = pd.DataFrame({"feature": ["Contract", "tenure"], "group": ["Contract", "tenure"], "meaning": ["c", "t"],
                      "reason": ["Contract = {value}", "tenure = {value:,.10g}"], "typical": ["Two year", 29.0]})
    X = pd.DataFrame({"Contract": pd.Categorical(["Month-to-month"], categories=["Month-to-month", "Two year"]), "tenure": [3.0]})
    sv = pd.DataFrame({"Contract": [0.9], "tenure": [0.4], EXPECTED: [-1.0]})
    assert top_drivers(sv, X, d)["reason"].tolist() == ["Contract = Month-to-month (most customers: Two year)",
                                                         "tenure = 3 (typical customer: 29)"]


def test_protective_facts_are_never_risk_reasons():
    """A big spender's spend, a frequent buyer's gap, a promoter's NPS or a rising count
    raise no risk against the reference their reason states: left out, even with a positive
    contribution; with ``kind="both"`` the same fact reads with its comparison."""
    big = {"p_amount_180d": 12000.0, "p_amount_total": 30400.0, "p_first_purchase_days": 720.0}
    assert reasons(big, {"p_amount_180d": 5000.0}) == []
    assert reasons(big, {"p_amount_180d": 5000.0}, kind="both", k=1) == ["spent 12,000.00 in the last 180 days, more than their usual 6,133.33"]
    assert reasons({"p_gap_mean_days": 10.0}, {"p_gap_mean_days": 25.0}) == []
    assert reasons({"v_nps_last": 9.0}, {"v_nps_last": 8.0}) == []
    assert reasons({"p_count_trend_90d": 3.0}, {}) == []
    assert reasons({"p_count_trend_90d": 3.0}, {}, kind="both") == ["3 more purchases than in the 90 days before"]
    assert reasons({"p_count_trend_90d": 0.0}, {}, kind="both") == ["as many purchases as in the 90 days before"]
    # a missing NPS is no risk where most customers have none either
    assert reasons({"v_nps_last": NAN}, {"v_nps_last": None}) == []
    # above their usual rate but below the typical customer: the comparison that makes it a risk
    assert reasons({"p_amount_90d": 100.0, "p_amount_trend_90d": 40.0}, {"p_amount_90d": 300.0}) == [
        "spent 100.00 in the last 90 days (typical customer: 300.00)"]


def test_one_reason_per_driver_family_from_its_strongest_risky_fact():
    """Recency, window counts and spend are one family: one reason, the one with the largest
    contribution among the facts that raise risk; the family's contributions are summed."""
    values = {"p_recency_days": 188.0, "p_overdue_ratio": 2.5, "p_amount_90d": 0.0, "p_count_90d": 0.0,
              "p_count_trend_90d": -3.0, "s_unresolved_total": 2.0}
    typical = {"p_recency_days": 40.0, "p_amount_90d": 90.0, "p_count_90d": 2.0, "s_unresolved_total": 0.0}
    shap = {"p_recency_days": 0.9, "p_overdue_ratio": 0.3, "p_amount_90d": 0.2, "p_count_90d": 0.4,
            "p_count_trend_90d": 0.1, "s_unresolved_total": 0.6}
    X = pd.DataFrame({c: [v] for c, v in values.items()})
    sv = pd.DataFrame({c: [v] for c, v in shap.items()} | {EXPECTED: [-1.0]})
    got = top_drivers(sv, X, dictionary(list(values), typical), k=5)
    assert got["reason"].tolist() == ["no purchase for 188 days, 2.5x their usual gap", "2 unresolved tickets (typical customer: none)"]
    assert got["driver"].tolist() == ["purchase_activity", "unresolved_tickets"]
    assert got["contribution"].tolist() == pytest.approx([1.9, 0.6])
    # recency lowering risk: the family's reason is the next risky fact, the count's fall
    got = top_drivers(sv.assign(p_recency_days=-0.1), X, dictionary(list(values), typical), k=5)
    assert got["reason"].tolist()[0] == "0 purchases in the last 90 days, 3 fewer than in the 90 days before"


def test_a_family_without_a_risky_fact_leaves_its_slot_to_the_next():
    values = {"p_amount_180d": 12000.0, "s_unresolved_total": 1.0, "v_nps_last": 4.0}
    typical = {"p_amount_180d": 5000.0, "s_unresolved_total": 0.0, "v_nps_last": 8.0}
    got = reasons(values, typical, shap={"p_amount_180d": 2.0, "s_unresolved_total": 0.3, "v_nps_last": 0.2}, k=2)
    assert got == ["1 unresolved ticket (typical customer: none)", "last NPS 4 (typical customer: 8)"]


def test_typical_values_come_with_the_dictionary_or_from_the_rows_given():
    X = pd.DataFrame({"s_unresolved_total": [0.0, 0.0, 3.0], "static_plan": pd.Categorical(["a", "b", "b"])})
    d = with_typical(dictionary(list(X.columns), {}, {"static_plan": "plan"}).drop(columns="typical"), X)
    assert d["typical"].tolist() == [0.0, "b"]
    sv = pd.DataFrame({"s_unresolved_total": [0.1, 0.1, 0.9], "static_plan": [0.2, -0.1, -0.1], EXPECTED: [-1.0] * 3})
    got = top_drivers(sv, X, d.drop(columns="typical"))
    assert got["reason"].tolist() == ["plan: a (most customers: b)", "3 unresolved tickets (typical customer: none)"]
    assert got["customer_id"].tolist() == [0, 2]
    assert with_typical(d, None) is d


def test_many_customers_get_the_texts_each_would_get_alone():
    """Texts are built per distinct value and combination: the same as one customer at a time."""
    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame({"p_recency_days": rng.integers(0, 200, n).astype(float),
                      "p_overdue_ratio": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 4, n).round(2)),
                      "p_count_90d": rng.integers(0, 5, n).astype(float), "p_count_trend_90d": rng.integers(-4, 4, n).astype(float),
                      "v_nps_last": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 11, n)).astype(float)})
    sv = pd.DataFrame(rng.normal(0, 1, (n, 5)), columns=X.columns).assign(**{EXPECTED: -1.0})
    typical = {"p_recency_days": 40.0, "p_count_90d": 2.0, "v_nps_last": 8.0}
    d = dictionary(list(X.columns), typical)
    for kind in ("risk", "both"):
        whole = top_drivers(sv, X, d, k=3, kind=kind)
        alone = pd.concat([top_drivers(sv.iloc[[i]], X.iloc[[i]], d, k=3, kind=kind) for i in range(n)], ignore_index=True)
        assert whole["reason"].tolist() == alone["reason"].tolist()
        assert whole["customer_id"].tolist() == alone["customer_id"].tolist()
        assert len(whole) == 2 * n if kind == "both" else 0 < len(whole) < 2 * n  # two families


def test_the_waterfall_has_the_reason_tables_families_numbers_and_category_values():
    from churnlab.plots import shap_figure, waterfall_explanation

    values = {"p_recency_days": 188.0, "p_overdue_ratio": 2.5, "p_count_90d": 0.0, "s_unresolved_total": 2.0,
              "static_plan": "basic", "v_nps_last": 9.0}
    typical = {"p_recency_days": 40.0, "p_count_90d": 2.0, "s_unresolved_total": 0.0, "static_plan": "pro", "v_nps_last": 8.0}
    X = pd.DataFrame({c: [v] for c, v in values.items()})
    X["static_plan"] = pd.Categorical(["basic"], categories=["basic", "pro"])  # code 0: never shown
    sv = pd.DataFrame({"p_recency_days": [0.9], "p_overdue_ratio": [0.3], "p_count_90d": [0.2], "s_unresolved_total": [0.6],
                       "static_plan": [0.25], "v_nps_last": [0.0], EXPECTED: [-1.0]})
    d = dictionary(list(values), typical, {"static_plan": "plan"})
    ex = waterfall_explanation(sv, X, 0, d)
    assert ex.feature_names == ["no purchase for 188 days, 2.5x their usual gap", "2 unresolved tickets (typical customer: none)",
                                "plan: basic (most customers: pro)"]  # NPS: no contribution, left out
    assert ex.values.tolist() == pytest.approx([1.4, 0.6, 0.25])
    table = top_drivers(sv, X, d, k=3, kind="both")
    assert table["reason"].tolist() == ex.feature_names and table["contribution"].tolist() == pytest.approx(ex.values.tolist())
    assert float(ex.base_values) == -1.0
    assert shap_figure("waterfall", sv, X, row=0, dictionary=d).startswith(b"\x89PNG")
