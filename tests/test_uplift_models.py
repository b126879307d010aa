"""Uplift learners, the shipped simulator and train_uplift: the model's Qini approaches the
oracle's and beats churn-risk targeting, its profit at the chosen fraction beats churn risk's,
and the logged pyfunc model returns uplift, p_churn_treated and p_churn_control."""

import numpy as np
import pandas as pd
import pytest

import churnlab
from churnlab.config import ConfigError, parse_config
from churnlab.datasets.uplift_sim import SEGMENTS, make_uplift_campaign, true_uplift
from churnlab.models.files import ModelFileError
from churnlab.uplift.learners import TLearner, XLearner, load_learner
from churnlab.uplift.metrics import qini_coefficient
from churnlab.uplift.model import UpliftModel, load_uplift_model


def _config(**uplift):
    return parse_config({"cutoffs": {"dates": ["2024-01-01"]}, "label": {"horizon_days": 60, "active_days": 365},
                         "uplift": {"source": "simulation", **uplift}, "seed": 0})


# --- the simulator ---------------------------------------------------------------------------
def test_the_simulator_plants_the_four_segments_with_known_uplift():
    sim = make_uplift_campaign(2000, random_state=3)
    truth = sim.truth
    assert set(truth["segment"]) == set(SEGMENTS)
    np.testing.assert_allclose(truth["uplift"], truth["p_churn_control"] - truth["p_churn_treated"])
    by = truth.groupby("segment")["uplift"]
    assert by.min()["persuadable"] >= 0.2 and by.max()["sleeping_dog"] <= -0.15
    assert by.max()["sure_thing"] < 0.05 and by.max()["lost_cause"] < 0.05
    # randomised: both arms at every date, about half contacted
    t = sim.treatments
    assert t.groupby("ts")["treated"].nunique().eq(2).all() and 0.45 < t["treated"].mean() < 0.55
    # the outcome drawn is the churn label churnlab computes from the events
    from churnlab.uplift.data import uplift_rows

    rows = uplift_rows(sim.events, t, horizon_days=sim.horizon_days).frame
    merged = rows.merge(truth, on=["customer_id", "ts"], suffixes=("", "_truth"))
    assert len(merged) == len(t) and (merged["churned"] == merged["churned_truth"]).all()
    # observed churn per arm follows the planted probabilities
    for arm, col in ((0, "p_churn_control"), (1, "p_churn_treated")):
        part = merged[merged["treated"] == arm]
        assert abs(part["churned"].mean() - part[col].mean()) < 0.04


def test_segments_by_hand():
    seg, p0, p1 = true_uplift(np.array([10.0, 80.0, 200.0, 10.0]), np.array([0, 0, 0, 2]))
    assert seg.tolist() == ["sure_thing", "persuadable", "lost_cause", "sleeping_dog"]
    # persuadable at 80 days: 0.2 + 0.25 * 35 / 75; sleeping dog with 2 tickets: -(0.15 + 0.1)
    np.testing.assert_allclose(p0 - p1, [0.02, 0.2 + 0.25 * 35 / 75, 0.02, -0.25])


# --- learners --------------------------------------------------------------------------------
def _synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.random(n), "z": rng.normal(size=n),
                      "tier": pd.Categorical(rng.choice(["basic", "plus", "premium"], n), categories=["basic", "plus", "premium"])})
    t = rng.integers(0, 2, n)
    tau = 0.4 * (X["x"] > 0.6) - 0.2 * (X["x"] < 0.2)  # planted uplift
    y = (rng.random(n) < 0.5 - t * tau).astype(int)
    return X, y.to_numpy(), t, tau.to_numpy()


@pytest.mark.parametrize("cls", [TLearner, XLearner])
def test_learners_find_a_planted_effect_and_round_trip(cls, tmp_path):
    X, y, t, tau = _synthetic()
    m = cls(num_boost_round=80).fit(X[:2000], y[:2000], t[:2000], validation=(X[2000:], y[2000:], t[2000:]))
    out = m.predict(X[2000:])
    assert list(out.columns) == ["uplift", "p_churn_treated", "p_churn_control"]
    assert np.corrcoef(out["uplift"], tau[2000:])[0, 1] > 0.6
    if cls is TLearner:
        np.testing.assert_allclose(out["uplift"], out["p_churn_control"] - out["p_churn_treated"])
    # categories given as text (e.g. a served JSON frame) are coded as in training
    pd.testing.assert_frame_equal(m.predict(X[2000:].assign(tier=X["tier"][2000:].astype(str))), out)
    m.save(tmp_path / "m")
    back, meta = load_learner(tmp_path / "m")
    assert meta["kind"] == cls.KIND
    pd.testing.assert_frame_equal(back.predict(X[2000:]), out)
    # a changed file is refused, naming it
    target = tmp_path / "m" / "treated.txt"
    target.write_bytes(target.read_bytes()[:-20])
    with pytest.raises(ModelFileError, match="treated.txt is truncated"):
        load_learner(tmp_path / "m")


def test_a_learner_needs_both_outcomes_in_both_arms():
    X, y, t, _ = _synthetic(400)
    y = np.where(t == 1, 0, y)
    with pytest.raises(ValueError, match="the training rows with treated 1 have a single outcome"):
        TLearner(num_boost_round=5).fit(X, y, t, validation=(X, y, t))


# --- train_uplift on the shipped simulator ---------------------------------------------------
@pytest.fixture(scope="module")
def simulated():
    cfg = _config(sim_customers=6000, sim_seed=0, incentive_cost=50.0, bootstrap=100)
    result = churnlab.train_uplift(cfg, track=False)
    sim = make_uplift_campaign(6000, horizon_days=60, random_state=0)
    te = result.test_scores
    oracle = sim.truth.set_index(["customer_id", "ts"])["uplift"].reindex(pd.MultiIndex.from_frame(te[["customer_id", "ts"]]))
    return result, te, oracle.to_numpy()


@pytest.mark.slow
def test_on_the_simulator_the_model_approaches_the_oracle_and_beats_churn_risk(simulated):
    result, te, oracle = simulated
    assert result.split["how"] == "time" and result.split["test"] == ["2024-10-01 00:00:00"]
    ev = result.evaluation
    y, t = 1 - te["churned"], te["treated"]
    oracle_qini = qini_coefficient(y, oracle, t)
    qini = ev.loc[result.selected, "qini"]
    assert qini == pytest.approx(qini_coefficient(y, te[result.selected], t))
    assert qini >= 0.8 * oracle_qini > 0
    assert qini > ev.loc["churn_risk", "qini"] and qini > ev.loc["random", "qini"]
    # incremental profit on the test period at the fraction each chose on validation
    assert ev.loc[result.selected, "profit_at_chosen"] > ev.loc["churn_risk", "profit_at_chosen"]
    assert ev.loc[result.selected, "profit_at_chosen"] > ev.loc["churn_risk_x_value", "profit_at_chosen"]
    assert 0 < ev.loc[result.selected, "chosen_fraction"] < 1
    # the X-learner ranks at least as well as the T-learner on the test period
    assert ev.loc["x_learner", "qini"] >= ev.loc["t_learner", "qini"]
    # the top deciles of the selected model hold the persuadables: observed uplift there is positive
    d = result.deciles
    assert d.loc[0, "lower"] > 0 and d.loc[0, "uplift"] > d["uplift"].iloc[-3:].mean()


@pytest.mark.slow
def test_the_selection_follows_validation_qini(simulated):
    result, _, _ = simulated
    ev = result.evaluation
    assert result.selected == ev.loc[["t_learner", "x_learner"], "validation_qini"].idxmax()
    assert set(ev.index) == {"t_learner", "x_learner", "random", "churn_risk", "churn_risk_x_value"}
    curves = result.curves
    assert set(curves["qini"]["model"]) == set(ev.index) and curves["profit"]["profit"].iloc[0] == 0.0


# --- tracked run, pyfunc ---------------------------------------------------------------------
def test_train_uplift_logs_one_pyfunc_model(tmp_path):
    import mlflow

    sim = make_uplift_campaign(1500, campaign_dates=("2024-06-01",), random_state=2)
    cfg = _config(source="file", learners=["t_learner"], num_boost_round=40, bootstrap=20)
    result = churnlab.train_uplift(cfg, sim.events, treatments=sim.treatments, workdir=tmp_path)
    assert result.model_uri == f"runs:/{result.run_id}/model" and result.tracking_uri.startswith("sqlite:///")
    assert result.split["how"] == "customers" and result.selected == "t_learner"
    features = result.rows.frame[result.rows.feature_names].head(50)
    expected = result.model.predict(features).reset_index(drop=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=result.model_uri, dst_path=str(tmp_path / "dl"),
                                                tracking_uri=result.tracking_uri)
    got = mlflow.pyfunc.load_model(local).predict(features)
    assert list(got.columns) == ["uplift", "p_churn_treated", "p_churn_control"]
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    back = load_uplift_model(result.model_uri, tracking_uri=result.tracking_uri)
    assert isinstance(back, UpliftModel) and back.metadata["selected"] == "t_learner"
    ids = result.rows.frame["customer_id"].head(50)
    scored = back.score(sim.events, "2024-06-01", customer_ids=ids)
    np.testing.assert_allclose(scored.loc[ids].to_numpy(), expected.to_numpy(), rtol=1e-12)
    run = mlflow.MlflowClient(tracking_uri=result.tracking_uri).get_run(result.run_id)
    assert run.data.tags["churnlab.kind"] == "uplift" and "t_learner.qini" in run.data.metrics
    assert run.data.metrics["t_learner.qini"] == pytest.approx(result.evaluation.loc["t_learner", "qini"])


def test_train_uplift_refuses_a_config_without_uplift():
    cfg = parse_config({"cutoffs": {"dates": ["2024-01-01"]}})
    with pytest.raises(ConfigError, match="uplift: the config has no uplift section"):
        churnlab.train_uplift(cfg, track=False)
    with pytest.raises(ConfigError, match="uplift.treatments: no treatments table given"):
        churnlab.train_uplift(_config(source="file"), make_uplift_campaign(200, campaign_dates=("2024-03-01",)).events, track=False)


def test_the_uplift_config_section_is_checked():
    with pytest.raises(ConfigError, match="uplift.learners.0: Input should be 't_learner' or 'x_learner'"):
        _config(learners=["s_learner"])
    with pytest.raises(ConfigError, match="uplift.incentive_cost: Input should be greater than or equal to 0"):
        _config(incentive_cost=-1)
    with pytest.raises(ConfigError, match="uplift.params: .*num_leave"):
        _config(params={"num_leave": 3})
