"""Drift that matters: the features the shipped model uses, weighted by their share of |SHAP|,
ageing features compared without alarming on ageing, one verdict for the list."""

import types

import numpy as np
import pandas as pd
import pytest
from conftest import load_trained
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.explain import EXPECTED, shap_values
from churnlab.monitor import DriftCounter, ageing_features, drift_verdict, model_drift_counter, reference_profile

SUMMARY = ["as_of", "reference_as_of", "days_since_reference", "n_scored", "drift_verdict", "shap_weighted_psi", "score_psi",
           "features_compared", "features_major", "expected_churn_rate", "expected_roc_auc", "expected_roc_auc_sd",
           "expected_pr_auc", "estimate_method"]


@pytest.fixture(scope="module")
def quarter(trained, demo_events):
    """The shared model's scored customers a quarter after its test cutoff, on the same event
    log (the generator's data continue to 2024-12-31, nothing else changes)."""
    result, _ = trained
    sm = load_trained(result)
    t = pd.Timestamp(max(sm.metadata["split"]["test"])) + pd.Timedelta(days=90)
    X = sm.features(demo_events, t)
    X = X[sm.eligibility(X) == "scored"]
    return sm, t, X, sm.model.churn_probability(X)


def test_ageing_features_are_read_from_the_dictionary(trained):
    result, _ = trained
    ageing = set(ageing_features(result.builder.feature_dictionary()))
    assert {"tenure_days", "p_first_purchase_days"} <= ageing
    assert not ageing & {"p_recency_days", "s_days_since_last", "v_days_since_last", "p_gap_mean_days"}
    assert not any(a.startswith("static_") for a in ageing)


def test_the_reference_profile_stores_the_shipped_models_shap_shares(trained):
    result, _ = trained
    profile = load_trained(result).reference_profile
    assert profile["as_of"] == "2024-10-01" and "tenure_days" in profile["ageing"]
    X = result.test_features  # fewer than the 5,000 rows sampled: all of them
    mean_abs = shap_values(result.model, X).drop(columns=EXPECTED).abs().mean()
    assert pd.Series(profile["importance"]).reindex(mean_abs.index).to_numpy() == pytest.approx(
        (mean_abs / mean_abs.sum()).to_numpy(), abs=1e-12)
    for name in result.model.ignore_features or []:  # screened out: no share, not compared
        assert profile["importance"][name] == 0


def test_a_quarter_later_on_unchanged_data_raises_no_major_drift(quarter):
    sm, t, X, p = quarter
    counter = model_drift_counter(sm, t).add(X, p)
    table = counter.result()
    used = {f for f, s in sm.reference_profile["importance"].items() if s > 0}
    assert table["feature"].iloc[0] == "churn_probability" and set(table["feature"].iloc[1:]) == used
    assert table["share"].iloc[1:].is_monotonic_decreasing
    v = counter.verdict()
    assert v["drift_verdict"] in ("no drift", "minor drift") and v["shap_weighted_psi"] <= 0.2 and v["score_psi"] <= 0.2
    # the reading it replaces, every feature as is with equal weight, alarms on ageing alone
    naive = DriftCounter({**sm.reference_profile, "importance": None, "ageing": []}).add(X, p).result().set_index("feature")
    assert naive.loc["tenure_days", "psi"] > 1 and naive.loc["p_first_purchase_days", "psi"] > 1
    assert (naive["flag"] == "major").sum() >= 5
    # every feature weighed alike: the ageing ones are compared aged by the 90 days
    every = {f: 1.0 for f in sm.reference_profile["features"]}
    aged = DriftCounter({**sm.reference_profile, "importance": every}, as_of=t).add(X, p).result().set_index("feature")
    for name in ("tenure_days", "p_first_purchase_days"):
        assert aged.loc[name, "basis"] == "aged +90 days" and aged.loc[name, "psi"] < 0.05
        assert aged.loc[name, "psi_as_is"] == naive.loc[name, "psi"]


def test_a_shifted_feature_the_model_uses_is_still_flagged(quarter):
    sm, t, X, p = quarter
    shares = pd.Series(sm.reference_profile["importance"]).sort_values(ascending=False)
    top = shares.index[0]
    shifted = X.assign(**{top: X[top] + 3 * X[top].std()})
    counter = model_drift_counter(sm, t).add(shifted, sm.model.churn_probability(shifted))
    row = counter.result().set_index("feature").loc[top]
    v = counter.verdict()
    assert row["flag"] == "major" and v["drift_verdict"] == "major drift" and v["major"][0] == top
    # a feature the model reads less: flagged in its own row, weighed by its share in the verdict
    numeric = [f for f in shares.index if pd.api.types.is_numeric_dtype(X[f]) and X[f].std() > 0]
    small = next(f for f in numeric if 0.005 < shares[f] < 0.05 and f not in sm.reference_profile["ageing"])
    moved = X.assign(**{small: X[small] + 3 * X[small].std()})
    before = model_drift_counter(sm, t).add(X, p).result()
    after = model_drift_counter(sm, t).add(moved, p).result()
    assert after.set_index("feature").loc[small, "flag"] == "major"
    gain = after.set_index("feature").loc[small, "psi"] - before.set_index("feature").loc[small, "psi"]
    rise = drift_verdict(after)["shap_weighted_psi"] - drift_verdict(before)["shap_weighted_psi"]
    assert rise == pytest.approx(shares[small] * gain, rel=1e-9)


def test_an_ageing_feature_alarms_on_a_real_shift_but_not_on_ageing():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tenure_days": rng.uniform(0, 600, 4000), "x": rng.normal(size=4000)})
    p = rng.random(4000)
    prof = reference_profile(X, p, as_of="2024-01-01", importance={"tenure_days": 0.5, "x": 0.5}, ageing=["tenure_days"])

    def tenure(frame):
        return DriftCounter(prof, as_of="2024-03-31").add(frame, p).result().set_index("feature").loc["tenure_days"]

    older = tenure(X.assign(tenure_days=X["tenure_days"] + 90))  # nobody new: everyone 90 days older
    assert older["basis"] == "aged +90 days" and older["psi"] < 0.01 < 0.2 < older["psi_as_is"]
    steady = tenure(X)  # steady intake: the distribution itself holds
    assert steady["basis"] == "as is" and steady["psi"] < 0.01
    wave = X.assign(tenure_days=np.where(np.arange(4000) < 1600, rng.uniform(0, 30, 4000), X["tenure_days"] + 90))
    assert tenure(wave)["flag"] == "major"  # 40% new customers: off on either basis


def test_a_profile_stored_before_the_shares_falls_back_to_the_models_importance(quarter):
    sm, t, X, p = quarter
    old = {k: sm.reference_profile[k] for k in ("features", "score", "n")}
    model = types.SimpleNamespace(reference_profile=old, metadata=sm.metadata, dictionary=sm.dictionary, model=sm.model)
    counter = model_drift_counter(model, t)
    gain = sm.model.feature_importance().set_index("feature")["importance"]
    unused = set(gain[gain == 0].index)  # not compared at all
    assert counter.elapsed_days == 90 and {"tenure_days", "p_first_purchase_days"} <= set(counter.ageing) | unused
    assert counter.shares == pytest.approx((gain / gain.sum()).to_dict())
    assert counter.add(X, p).verdict()["drift_verdict"] != "major drift"


def test_churnlab_score_prints_one_verdict_and_the_estimate(trained, demo_events, quarter, tmp_path):
    result, _ = trained
    _, t, X, _ = quarter
    events = save_events_dir(demo_events, tmp_path / "events")
    out = tmp_path / "q.parquet"
    r = CliRunner().invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events",
                                 str(events), "--as-of", str(t.date()), "--out", str(out), "--top-k", "0"])
    assert r.exit_code == 0, r.output
    verdicts = [line for line in r.output.splitlines() if line.startswith("drift vs the test period:")]
    assert len(verdicts) == 1 and ("no drift" in verdicts[0] or "minor drift" in verdicts[0]), r.output
    assert "major drift" not in r.output and "differ from the model's test period" not in r.output
    assert "estimated before labels, from the calibrated probabilities: churn rate" in r.output
    summary = pd.read_csv(tmp_path / "q.estimate.csv")
    assert list(summary.columns) == SUMMARY and len(summary) == 1
    s = summary.iloc[0]
    scored = pd.read_parquet(out).query("status == 'scored'")
    assert s["n_scored"] == len(scored) == len(X) and s["days_since_reference"] == 90
    assert s["expected_churn_rate"] == pytest.approx(scored["churn_probability"].mean(), abs=1e-12)
    assert 0.5 < s["expected_roc_auc"] < 1 and f"ROC-AUC {s['expected_roc_auc']:.3f}" in r.output
    drift = pd.read_csv(tmp_path / "q.drift.csv")
    assert list(drift.columns) == ["feature", "share", "psi", "psi_as_is", "basis", "missing_share_reference",
                                   "missing_share_now", "flag"]
