"""Noise does not reach the reasons, whichever model ships: the validation screening by driver
group (Benjamini-Hochberg over the groups' permutation importances) applies to every
candidate, and the planted noise of the demos stays out of the scored reasons."""

import numpy as np
import pandas as pd
import pytest
from conftest import load_trained, small_config

from churnlab.config import parse_config
from churnlab.datasets import make_demo_subscriptions
from churnlab.explain import global_drivers, shap_values
from churnlab.models import ChurnModel, LinearChurnModel
from churnlab.models.screening import benjamini_hochberg, permutation_screen
from churnlab.scoring import ScoringModel, score_customers
from churnlab.workflows.compare import select_model
from churnlab.workflows.training import fit_and_evaluate

NOISE = ("noise_segment", "noise_score")


def planted(n: int, seed: int):
    """A strong and a weak driver, a 20-level random attribute and two random numbers."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"recency": rng.exponential(30, n), "tickets": rng.poisson(1.0, n).astype(float),
                      "segment": pd.Categorical(rng.choice([f"S{j:02d}" for j in range(20)], n)),
                      "noise_a": rng.normal(size=n), "noise_b": rng.uniform(size=n)})
    logit = (X["recency"] - 30) / 12 + 0.4 * (X["tickets"] - 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_benjamini_hochberg_by_hand():
    # m = 5: the cuts are 0.01, 0.02, 0.03, 0.04, 0.05; the largest i with p_(i) <= cut is 3
    p = {"a": 0.001, "b": 0.035, "c": 0.012, "d": 0.045, "e": 0.6}
    assert benjamini_hochberg(p, 0.05) == {"a": True, "b": False, "c": True, "d": False, "e": False}
    # step-up: a p-value above its own cut passes when a larger one is under its cut
    assert benjamini_hochberg({"a": 0.03, "b": 0.04}, 0.05) == {"a": True, "b": True}
    assert benjamini_hochberg({}, 0.05) == {}


def test_the_screen_drops_noise_for_both_model_kinds_and_keeps_the_drivers():
    X, y = planted(4000, 0)
    tr, va = slice(0, 2000), slice(2000, None)
    for model in (ChurnModel(num_boost_round=40, params={"num_leaves": 15, "min_data_in_leaf": 20}, num_threads=1), LinearChurnModel()):
        model.fit(X[tr], y[tr], validation=(X[va], y[va]))
        table = permutation_screen(model, X[va], y[va], seed=0).set_index("feature")
        assert table["keep"].to_dict() == {"recency": True, "tickets": True, "segment": False, "noise_a": False, "noise_b": False}, \
            (type(model).__name__, table)
        assert {"importance", "se", "p_value", "group"} <= set(table.columns)
    with pytest.raises(ValueError, match="`alpha` must be in"):
        permutation_screen(model, X[va], y[va], alpha=1.5)


def test_select_model_refits_the_regression_without_the_groups_that_do_not_hold():
    X, y = planted(4000, 1)
    tr, va = slice(0, 2000), slice(2000, None)
    groups = {"recency": "recency", "tickets": "tickets", "segment": "segment", "noise_a": "noise", "noise_b": "noise"}
    sel = select_model({"logistic_regression": LinearChurnModel()}, X[tr], y[tr], X[va], y[va], groups=groups, rule="best")
    model = sel.model
    assert model.columns == ["recency", "tickets"]
    assert set(model.screening_.loc[~model.screening_["keep"], "group"]) == {"segment", "noise"}
    sv = shap_values(model, X[va].head(200))
    assert (sv[["segment", "noise_a", "noise_b"]] == 0).all().all()
    assert sel.screening is model.screening_  # no LightGBM candidate: the regression's table
    # screen=False: every column stays
    sel = select_model({"logistic_regression": LinearChurnModel()}, X[tr], y[tr], X[va], y[va], groups=groups, screen=False)
    assert sel.model.columns is None and sel.screening is None


def noise_slots(scores: pd.DataFrame) -> tuple[int, int]:
    drivers = scores[[c for c in scores.columns if c.startswith("driver_")]].stack().astype(str)
    return int(drivers.isin(NOISE).sum()), len(drivers)


@pytest.mark.slow
def test_demo_scores_name_the_planted_noise_in_under_1_percent_of_reason_slots(trained, demo_events):
    """The shipped demo model (2,500 customers, the shared training run), scored at the end of
    the demo period: the planted noise in under 1% of reason slots (measured before the
    screening held on validation: 4.6%, noise_segment the 10th global driver) and never among
    the top 5 global drivers."""
    result, _ = trained
    sm = load_trained(result)
    as_of = demo_events.date_range()[1].normalize() + pd.Timedelta(days=1)
    scores = pd.concat(score_customers(sm, demo_events, as_of, k=5))
    noise, slots = noise_slots(scores)
    assert slots > 3000 and noise / slots < 0.01, (noise, slots)
    X = sm.features(demo_events, as_of)
    top5 = global_drivers(shap_values(sm.model, X[sm.eligibility(X) == "scored"]), sm.dictionary)["driver"].head(5).tolist()
    assert not set(top5) & set(NOISE), top5


@pytest.mark.slow
def test_a_shipped_regression_on_a_subscription_business_keeps_noise_out_of_reasons():
    """The regression alone is a candidate, so it ships; its noise attributes do not hold on
    validation and leave it (measured unscreened: 5.7% of reason slots, noise_segment the
    6th global driver)."""
    cfg = parse_config(small_config(**{"data": {"source": "demo_subscriptions", "demo_customers": 1500, "demo_seed": 0},
                                       "label": {"rule": "contractual", "horizon_days": 90},
                                       "cutoffs": {"start": "2023-09-01", "end": "2024-09-01", "freq": "MS"},
                                       "model.candidates": ["logistic_regression"], "model.explanation_cache_mb": 0}))
    events = make_demo_subscriptions(1500, random_state=0)
    result = fit_and_evaluate(cfg, events)
    assert result.selected == "logistic_regression"
    screened = result.model.screening_
    assert set(screened.loc[screened["feature"].str.contains("noise"), "keep"]) == {False}
    sm = ScoringModel(result.model, result.metadata)
    scores = pd.concat(score_customers(sm, events, "2024-12-01", k=5))
    noise, slots = noise_slots(scores)
    assert slots > 1000 and noise / slots < 0.01, (noise, slots)
