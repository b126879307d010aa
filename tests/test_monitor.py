"""Drift at scoring and realized performance of past score files."""

import numpy as np
import pandas as pd
import pytest
from conftest import load_trained
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.labels import churn_labels
from churnlab.monitor import DriftCounter, feature_drift, psi, realized_performance, reference_profile
from churnlab.scoring import score_customers

PAST = "2024-09-01"  # its 90-day horizon ends 2024-11-30, inside the demo data (to 2024-12-31)


def test_psi_by_hand():
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5)
    assert psi([50, 50], [80, 20]) == pytest.approx(0.3 * np.log(1.6) + 0.3 * np.log(2.5), rel=1e-12)
    assert psi([10, 0], [10, 0]) == 0.0


def test_drift_flags_the_shifted_feature_and_not_the_untouched_ones(trained):
    result, _ = trained
    sm = load_trained(result)
    X = result.test_features
    same = feature_drift(sm, X)  # the reference rows themselves: no drift at all
    assert (same["psi"] == 0).all() and set(same["flag"]) == {"none"}
    shifted = X.copy()
    shifted["p_recency_days"] = shifted["p_recency_days"] + 120
    drift = feature_drift(sm, shifted, scores=sm.model.churn_probability(X)).set_index("feature")
    assert drift.loc["p_recency_days", "flag"] == "major" and drift.loc["p_recency_days", "psi"] > 1
    others = drift.drop(index="p_recency_days")
    assert (others["psi"] == 0).all()
    # the score itself moves once it is computed from the shifted features
    assert feature_drift(sm, shifted).set_index("feature").loc["churn_probability", "psi"] > 0


def test_drift_counts_add_up_over_chunks_and_missing_shares_are_reported():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=1000), "plan": pd.Categorical(rng.choice(list("abc"), 1000))})
    p = rng.random(1000)
    profile = reference_profile(X, p)
    later = X.assign(x=np.where(rng.random(1000) < 0.3, np.nan, X["x"]))
    whole = DriftCounter(profile).add(later, p).result()
    counter = DriftCounter(profile)
    for lo in range(0, 1000, 300):
        counter.add(later.iloc[lo : lo + 300], p[lo : lo + 300])
    pd.testing.assert_frame_equal(counter.result(), whole)
    row = whole.set_index("feature").loc["x"]
    assert row["missing_share_reference"] == 0 and row["missing_share_now"] == pytest.approx(np.isnan(later["x"]).mean())


@pytest.fixture(scope="module")
def past_scores(trained, demo_events):
    result, _ = trained
    sm = load_trained(result)
    return sm, pd.concat(score_customers(sm, demo_events, PAST, k=0))


def test_realized_performance_equals_metrics_from_churn_labels(past_scores, demo_events):
    sm, scores = past_scores
    r = realized_performance(sm, scores, demo_events)
    d = sm.label_definition
    labels = churn_labels(demo_events, PAST, horizon_days=d["horizon_days"], active_days=d["active_days"]).labels["churned"]
    scored = scores[scores["status"] == "scored"].set_index("customer_id")
    both = scored.join(labels, how="inner")
    assert r.labelled == len(both) and r.as_of == pd.Timestamp(PAST)
    assert r.metrics["roc_auc"] == pytest.approx(roc_auc_score(both["churned"], both["churn_probability"]), abs=1e-12)
    assert r.metrics["pr_auc"] == pytest.approx(average_precision_score(both["churned"], both["churn_probability"]), abs=1e-12)
    high = both[both["risk_tier"] == "high"]
    assert r.tiers.loc["high", "churn_rate"] == pytest.approx(high["churned"].mean())
    assert r.tiers.loc["high", "lift"] == pytest.approx(high["churned"].mean() / both["churned"].mean())


def test_realized_performance_refuses_what_it_cannot_measure(past_scores, demo_events, trained):
    sm, scores = past_scores
    early = scores.assign(as_of=pd.Timestamp("2024-12-01"))
    with pytest.raises(ValueError, match=r"the 90-day horizon ends 2025-03-01, and purchases \(the table the label is defined by\) "
                                         r"are observed until 2024-12-3\d; measure it once purchases up to 2025-03-01 are in"):
        realized_performance(sm, early, demo_events)
    with pytest.raises(ValueError, match=r"scores.model_version: \['runs:/other/model'\] is not this model"):
        realized_performance(sm, scores.assign(model_version="runs:/other/model"), demo_events)
    with pytest.raises(ValueError, match=r"scores: missing column\(s\) \['as_of'\]"):
        realized_performance(sm, scores.drop(columns="as_of"), demo_events)


def test_cli_monitor_and_score_drift_file(trained, demo_events, past_scores, tmp_path):
    result, _ = trained
    sm, scores = past_scores
    events_dir = save_events_dir(demo_events, tmp_path / "events")
    path = tmp_path / "past.parquet"
    scores.to_parquet(path)
    args = ["--model", result.model_uri, "--tracking-uri", result.tracking_uri]
    r = CliRunner().invoke(app, ["monitor", *args, "--scores", str(path), "--events", str(events_dir)])
    assert r.exit_code == 0, r.output
    assert "ROC-AUC" in r.output and "Realized churn per risk tier" in r.output
    out = tmp_path / "now.parquet"
    r = CliRunner().invoke(app, ["score", *args, "--events", str(events_dir), "--as-of", "2024-12-01", "--out", str(out), "--top-k", "0"])
    assert r.exit_code == 0, r.output
    drift = pd.read_csv(tmp_path / "now.drift.csv")
    assert list(drift.columns) == ["feature", "share", "psi", "psi_as_is", "basis", "missing_share_reference",
                                   "missing_share_now", "flag"]
    assert "churn_probability" in set(drift["feature"]) and "drift vs the test period" in r.output
