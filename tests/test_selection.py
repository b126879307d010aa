"""Model selection in training runs: a logistic regression shipped end to end, the noise
planted in the demo data, the LightGBM search's determinism."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import small_config

from churnlab.config import parse_config
from churnlab.explain import shap_values, top_drivers
from churnlab.models import LinearChurnModel
from churnlab.report import build_report
from churnlab.scoring import ScoringModel, score_customers
from churnlab.workflows.training import train

AS_OF = "2024-12-01"


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory, demo_events):
    cfg = parse_config(small_config(**{"model.candidates": ["logistic_regression"]}))
    return train(cfg, events=demo_events, workdir=tmp_path_factory.mktemp("linear"))


def test_a_shipped_logistic_regression_scores_explains_and_reports(linear_run, demo_events):
    result = linear_run
    assert result.selected == "logistic_regression" and isinstance(result.model, LinearChurnModel)
    mlflow.set_tracking_uri(result.tracking_uri)
    sm = ScoringModel.load(result.model_uri)
    assert isinstance(sm.model, LinearChurnModel)
    X = sm.features(demo_events, AS_OF)
    # the pyfunc model takes the builder's frame as it is
    pyfunc = mlflow.pyfunc.load_model(result.model_uri).predict(X)["churn_probability"].to_numpy()
    np.testing.assert_array_equal(pyfunc, result.model.churn_probability(X))
    df = pd.concat(score_customers(sm, demo_events, AS_OF, k=3, chunk_size=700))
    scored = df[df["status"] == "scored"].set_index("customer_id")
    np.testing.assert_array_equal(scored["churn_probability"].to_numpy(), sm.model.churn_probability(X.loc[scored.index]))
    assert scored["reason_1"].notna().mean() > 0.95
    # reasons come from exact linear SHAP: the values add up to the log-odds
    sv = shap_values(sm.model, X.loc[scored.index[:200]])
    p = scored["churn_probability"].iloc[:200].to_numpy()
    np.testing.assert_allclose(sv.sum(axis=1).to_numpy(), np.log(p / (1 - p)), atol=1e-10)
    html = build_report(sm, demo_events, AS_OF)
    assert "Churn driver review" in html


NOISE = ["static_noise_segment", "static_noise_score"]


def test_planted_noise_is_not_reported_as_a_driver(trained, demo_events):
    """The demo's noise attributes (20 random levels, a random number) stay under 2% of global
    |SHAP| and appear in under 2% of customers' top-5 reasons."""
    result, _ = trained
    X = result.test_features
    sv = shap_values(result.model, X)
    dictionary = result.builder.feature_dictionary()
    feats = sv.drop(columns="expected_value").abs().mean()
    share = feats[NOISE] / feats.sum()
    assert (share < 0.02).all(), share.to_dict()
    top = top_drivers(sv, X, dictionary, k=5)
    in_top = top[top["feature"].isin(NOISE)]["customer_id"].nunique() / len(X)
    assert in_top < 0.02, in_top
    assert set(NOISE) <= set(dictionary["feature"])  # the noise is there to be found


def test_lightgbm_search_is_deterministic_and_never_worse_than_the_configured_params(demo_events, tmp_path):
    cfg = parse_config(small_config(**{"model.candidates": ["lightgbm"], "model.search": {"trials": 3},
                                       "model.num_boost_round": 60}))
    a = train(cfg, events=demo_events, track=False)
    b = train(cfg, events=demo_events, track=False)
    pd.testing.assert_frame_equal(a.search, b.search)
    assert a.model.params == b.model.params
    assert len(a.search) == 4 and a.search["score"].iloc[0] <= a.search["score"].max()
    assert a.search.loc[a.search["best"], "score"].iloc[0] == a.search["score"].max()
    np.testing.assert_array_equal(a.test_scores["lightgbm"], b.test_scores["lightgbm"])


def test_a_model_beating_the_shipped_one_on_the_test_period_is_said():
    from churnlab.workflows.training import holdout_notes

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.3).astype(float)
    good = (0.5 * y + rng.random(2000)) / 1.5
    noise = rng.random(2000)
    near = np.clip(good + rng.normal(0, 0.01, 2000), 0, 1)  # the same ranking, up to noise
    notes = holdout_notes(y, {"lightgbm": noise, "recency_rule": good, "prior_rate": np.full(2000, 0.3)}, "lightgbm", "pr_auc")
    assert len(notes) == 1 and notes[0].startswith("WARNING: on the test period recency_rule beats the shipped lightgbm")
    assert "pr_auc" in notes[0] and "churnlab backtest" in notes[0]
    assert holdout_notes(y, {"lightgbm": good, "recency_rule": noise}, "lightgbm", "pr_auc") == []
    assert holdout_notes(y, {"lightgbm": good, "logistic_regression": near}, "lightgbm", "roc_auc") == []
