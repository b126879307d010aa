import numpy as np
import pandas as pd
import pytest
import shap

from churnlab.explain import EXPECTED, global_drivers, probability_contributions, shap_values, tidy_shap, top_drivers
from churnlab.models.lightgbm import ChurnModel


@pytest.fixture(scope="module")
def test_frame(trained):
    result, _ = trained
    f = result.training_set.frame
    X = f[f["cutoff"] == result.split["test"][0]].set_index("customer_id")[result.training_set.feature_names]
    return result, X


def test_shap_rows_add_up_to_calibrated_log_odds(test_frame):
    result, X = test_frame
    sv = shap_values(result.model, X)
    p = result.model.churn_probability(X)
    np.testing.assert_allclose(sv.sum(axis=1).to_numpy(), np.log(p / (1 - p)), atol=1e-9)
    assert sv[EXPECTED].nunique() == 1
    pc = probability_contributions(sv)
    p0 = 1 / (1 + np.exp(-sv[EXPECTED]))
    np.testing.assert_allclose(pc.sum(axis=1).to_numpy(), (p - p0).to_numpy(), atol=1e-12)


def _lgb_to_shap_trees(booster) -> dict:
    """Convert LightGBM's JSON dump to shap's generic tree format, so shap's own TreeSHAP
    (not LightGBM's pred_contrib) computes the values."""
    dump = booster.dump_model()
    trees = []
    for info in dump["tree_info"]:
        nodes = []

        def walk(node):
            i = len(nodes)
            nodes.append(None)
            if "leaf_value" in node:
                nodes[i] = (-1, -1, -1, -2, 0.0, node["leaf_value"], node.get("leaf_count", 0))
                return i
            assert node["decision_type"] == "<=", "numeric splits only"
            left, right = walk(node["left_child"]), walk(node["right_child"])
            default = left if node["default_left"] else right
            nodes[i] = (left, right, default, node["split_feature"], node["threshold"], 0.0, node["internal_count"])
            return i

        walk(info["tree_structure"])
        arr = np.array(nodes, dtype=float)
        trees.append(
            {
                "children_left": arr[:, 0].astype(int),
                "children_right": arr[:, 1].astype(int),
                "children_default": arr[:, 2].astype(int),
                "features": arr[:, 3].astype(int),
                "thresholds": arr[:, 4],
                "values": arr[:, 5][:, None],
                "node_sample_weight": arr[:, 6],
            }
        )
    return {"trees": trees, "base_offset": 0.0}


def test_pred_contrib_matches_shap_tree_explainer(demo_events):
    """LightGBM's native SHAP equals shap's independent TreeSHAP to 1e-6 (numeric features;
    shap's generic tree format has no categorical splits)."""
    from churnlab.features import FeatureConfig, build_training_set

    ts = build_training_set(demo_events, ["2024-01-01", "2024-04-01", "2024-07-01"], 60, config=FeatureConfig(include_static=False))
    names = [n for n in ts.feature_names if n != "v_nps_segment"]
    f = ts.frame
    tr, va = f[f["cutoff"] < pd.Timestamp("2024-07-01")], f[f["cutoff"] == pd.Timestamp("2024-07-01")]
    m = ChurnModel(num_boost_round=60, calibration=None, params={"num_leaves": 7, "learning_rate": 0.1}).fit(
        tr[names], tr["churned"], validation=(va[names], va["churned"])
    )
    X = va[names].head(300)
    native = m.contributions(X)
    explainer = shap.TreeExplainer(_lgb_to_shap_trees(m.booster_))
    independent = explainer.shap_values(X.to_numpy())
    np.testing.assert_allclose(native[:, :-1], independent, atol=1e-6)
    np.testing.assert_allclose(native[0, -1], explainer.expected_value, atol=1e-6)


def test_top_drivers_by_hand():
    sv = pd.DataFrame(
        {
            "p_recency_days": [1.2, -0.5],
            "p_overdue_ratio": [0.3, -0.1],
            "s_unresolved_total": [0.4, 0.9],
            "s_unresolved_30d": [0.1, 0.0],
            "v_nps_last": [-0.2, 0.05],
            EXPECTED: [-1.0, -1.0],
        },
        index=pd.Index([10, 20], name="customer_id"),
    )
    X = pd.DataFrame(
        {
            "p_recency_days": [94.0, 3.0],
            "p_overdue_ratio": [3.1, 0.2],
            "s_unresolved_total": [2.0, 1.0],
            "s_unresolved_30d": [1.0, 0.0],
            "v_nps_last": [9.0, 3.0],
        },
        index=sv.index,
    )
    d = pd.DataFrame(
        {
            "feature": list(X.columns),
            "group": ["recency", "recency", "unresolved_tickets", "unresolved_tickets", "nps_score"],
            "meaning": ["days since last purchase", "overdue", "unresolved", "unresolved 30d", "last NPS"],
            "reason": ["no purchase for {value:.0f} days", "{value:.1f}x gap", "{value:.0f} unresolved", "{value:.0f} recent", "last NPS {value:.0f}"],
            "typical": [40.0, 1.0, 0.0, 0.0, 8.0],
        }
    )
    td = top_drivers(sv, X, d, k=3)
    c10 = td[td["customer_id"] == 10]
    assert list(c10["driver"]) == ["purchase_activity", "unresolved_tickets"]  # NPS lowers risk: not a risk reason
    assert c10.iloc[0]["contribution"] == pytest.approx(1.5)  # 1.2 + 0.3 rolled into one driver
    assert c10.iloc[0]["reason"] == "no purchase for 94 days, 3.1x their usual gap"
    assert c10.iloc[1]["reason"] == "2 unresolved tickets (typical customer: none)"
    c20 = td[td["customer_id"] == 20]
    assert list(c20["driver"]) == ["unresolved_tickets", "nps_score"] and list(c20["rank"]) == [1, 2]
    both = top_drivers(sv, X, d, k=3, kind="both")
    assert list(both[both["customer_id"] == 20]["driver"]) == ["unresolved_tickets", "purchase_activity", "nps_score"]
    assert both[both["customer_id"] == 20].iloc[1]["direction"] == "lowers risk"
    with pytest.raises(ValueError, match="`k` must be > 0, got 0"):
        top_drivers(sv, X, d, k=0)


def test_planted_drivers_rank_among_top_global_drivers(test_frame):
    result, X = test_frame
    gd = global_drivers(shap_values(result.model, X), result.builder.feature_dictionary())
    top = list(gd["driver"][:8])
    assert top[0] == "recency"
    # nps is planted too, but on this 2,500-customer demo the model's NPS group does not hold
    # on validation (1.25 standard errors): the screening drops it (make demo's 4,000 keep it)
    for planted in ("frequency", "unresolved_tickets"):
        assert planted in top, (planted, top)
    assert gd["share"].sum() == pytest.approx(1.0)


def test_tidy_shap_long_format(test_frame):
    result, X = test_frame
    sv = shap_values(result.model, X.head(4))
    long = tidy_shap(sv, X.head(4))
    assert len(long) == 4 * len(result.model.feature_names_)
    row = long[(long["customer_id"] == X.index[0]) & (long["feature"] == "p_recency_days")].iloc[0]
    assert row["value"] == X.iloc[0]["p_recency_days"]
    assert row["shap"] == sv.iloc[0]["p_recency_days"]


def test_reason_text_of_a_categorical_is_the_text_of_each_value():
    """Categorical features are formatted once per category used: the same text as
    formatting every value on its own, missing values included."""
    from churnlab.explain.reasons import _column_text, _fmt

    col = pd.Series(pd.Categorical(["gold", None, "basic", "gold", "plus"], categories=["basic", "gold", "plus", "unused"]))
    at = np.array([3, 1, 0, 0, 4, 2])
    texts, codes = _column_text("plan: {value}", "plan", col, at)
    got = list(texts[codes])
    expected = [_fmt("plan: {value}", "plan", col.iloc[i] if pd.notna(col.iloc[i]) else None) for i in at]
    assert got == expected
    assert got == ["plan: gold", "never recorded: plan", "plan: gold", "plan: gold", "plan: plus", "plan: basic"]
    numeric = pd.Series([1.0, np.nan, 2.5])
    texts, codes = _column_text("{value:.1f} days", "gap", numeric, np.array([2, 1, 0]))
    assert list(texts[codes]) == ["2.5 days", "never recorded: gap", "1.0 days"]


@pytest.mark.parametrize("template", ["{value:,.2f}", "spend {value:+,.2f} vs before", "{value:.0f} days", "{value:.1%} of spend", "{value:.1f}"])
def test_reason_numbers_read_as_format_writes_each_value(template):
    """Numbers are formatted once per displayed value, yet every text is exactly what
    ``format`` gives for the value itself: halves in decimal that are not halves in binary
    (13.265 is 13.26500000000000056843...: "13.27"), exact binary halves (0.125: "0.12"),
    negative zero ("-0.00"), huge values, NaN and infinities."""
    from churnlab.explain.reasons import _fmt, _format_many

    rng = np.random.default_rng(7)
    cents = rng.integers(0, 10**6, 20_000) / 100.0
    tricky = np.array([13.265, 2.675, 1.005, 0.125, 0.375, -0.001, 0.001, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5,
                       0.0005, 0.00125, 12345678.905, 3e12 + 0.125, 1e300, -1e300, np.nan, np.inf, -np.inf])
    # averages of cents (like an average order value) hit decimal halves often
    values = np.concatenate([cents, cents / 3, cents / 8, rng.normal(0, 50, 20_000), tricky])
    texts, codes = _format_many(template, "spend", values)
    expected = [_fmt(template, "spend", float(v)) for v in values]
    assert list(texts[codes]) == expected
    # and a text is built once per displayed value: 50k recency days make at most 401 texts
    days = rng.uniform(0, 400, 50_000)
    texts, codes = _format_many("{value:.0f} days", "recency", days)
    assert len(texts) <= 401 and list(texts[codes][:3]) == [f"{v:.0f} days" for v in days[:3]]
