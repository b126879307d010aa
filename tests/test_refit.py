"""The shipped model's refit on train + validation with what validation chose, its stacked
calibration in a training run, and the calibration lines of `churnlab train`."""

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import parse_config
from churnlab.datasets import make_demo_events
from churnlab.models import ChurnModel, LinearChurnModel
from churnlab.models.calibration import Calibrator, out_of_time_scores
from churnlab.models.evaluate import calibration_table
from churnlab.models.split import calibration_cutoffs
from churnlab.workflows.compare import table_ece
from churnlab.workflows.training import fit_and_evaluate

SMALL = {"name": "refit", "data": {"source": "demo", "demo_customers": 600, "demo_seed": 0},
         "cutoffs": {"start": "2023-10-01", "end": "2024-10-01"}, "label": {"horizon_days": 90, "active_days": 180},
         "model": {"candidates": ["lightgbm"], "num_boost_round": 60, "explanation_cache_mb": 0}}


def _xy(n=900, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"recency": rng.exponential(30, n), "orders": rng.poisson(3, n).astype(float),
                      "plan": pd.Categorical(rng.choice(["a", "b", "c"], n))})
    y = (X["recency"] + 5 * (X["plan"] == "a") + rng.normal(0, 10, n) > 35).astype(int).to_numpy()
    return X, y


def test_lightgbm_refit_trains_exactly_the_chosen_rounds_on_the_given_rows():
    X, y = _xy()
    chosen = ChurnModel(num_boost_round=300, early_stopping_rounds=20, num_threads=1).fit(
        X[:500], y[:500], validation=(X[500:700], y[500:700]))
    assert chosen.best_iteration_ < 300  # early stopping chose the number
    shipped = chosen.refit(X[:700], y[:700])
    assert shipped.booster_.current_iteration() == chosen.best_iteration_ == shipped.best_iteration_
    assert shipped.booster_.num_trees() == chosen.best_iteration_
    assert shipped.refit_rows_ == 700 and shipped.describe_params()["refit_rows"] == 700
    assert shipped.calibrator_ is chosen.calibrator_  # kept unless given
    # the same recipe on the training rows alone is the chosen model itself (deterministic)
    again = chosen.refit(X[:500], y[:500])
    np.testing.assert_array_equal(again.predict_raw(X[700:]), chosen.predict_raw(X[700:]))
    assert not np.allclose(shipped.predict_raw(X[700:]), chosen.predict_raw(X[700:]))
    assert chosen.refit(X[:700], y[:700], calibrator=None).calibrator_ is None
    with pytest.raises(ValueError, match="feature columns"):
        chosen.refit(X[["orders", "recency", "plan"]], y)


def test_linear_refit_keeps_the_chosen_C_and_learns_on_the_given_rows():
    X, y = _xy()
    chosen = LinearChurnModel(C_grid=(0.001, 0.1, 10.0)).fit(X[:500], y[:500], validation=(X[500:700], y[500:700]))
    shipped = chosen.refit(X[:700], y[:700])
    assert shipped.C_ == chosen.C_ and shipped.refit_rows_ == 700
    # by an independent fit: sklearn's regression with that C on the refit's standardised design
    from sklearn.linear_model import LogisticRegression

    Z = (shipped._design(X[:700]) - shipped.mean_) / shipped.scale_
    ref = LogisticRegression(C=chosen.C_, max_iter=5000).fit(Z, y[:700])
    np.testing.assert_allclose(shipped.coef_, ref.coef_[0], rtol=1e-6)
    assert shipped.mean_ == pytest.approx(chosen._design(X[:700]).mean(axis=0))  # preprocessing from the 700 rows
    # on the training rows alone, the chosen model again
    np.testing.assert_allclose(chosen.refit(X[:500], y[:500]).coef_, chosen.coef_)


@pytest.fixture(scope="module")
def run():
    events = make_demo_events(600, random_state=0)
    cfg = parse_config(SMALL)
    return cfg, events, fit_and_evaluate(cfg, events)


@pytest.mark.slow  # a training run on 600 demo customers: minutes on 2 shared cores
def test_training_refits_on_every_cutoff_up_to_validation(run):
    cfg, _, r = run
    f = r.training_set.frame
    val = r.split["validation"][0]
    assert str(val.date()) == "2024-07-01"
    # by hand: the cutoffs 2023-10-01 .. 2024-07-01, the two between training and validation included
    upto = f[f["cutoff"] <= pd.Timestamp("2024-07-01")]
    assert sorted(upto["cutoff"].unique()) == list(pd.date_range("2023-10-01", "2024-07-01", freq="MS"))
    assert r.model.refit_rows_ == len(upto) > len(f[f["cutoff"].isin(r.split["train"] + r.split["validation"])])
    assert r.model.booster_.current_iteration() == r.model.best_iteration_
    assert any(n.startswith("shipped lightgbm refitted on train + validation (10 cutoffs, 2023-10-01 .. 2024-07-01, "
                            f"{len(upto):,} rows) with the {r.model.best_iteration_} rounds") for n in r.notes), r.notes


@pytest.mark.slow  # a training run on 600 demo customers: minutes on 2 shared cores
def test_training_calibrates_on_the_stacked_out_of_time_cutoffs(run):
    cfg, _, r = run
    f, names = r.training_set.frame, r.training_set.feature_names
    cuts = calibration_cutoffs(sorted(f["cutoff"].unique()), r.split, 90, 365)
    # by hand: 2024-01-01 (2023-10-01 + 90 days = 2023-12-30) .. the validation cutoff
    assert [str(c.date()) for c in cuts] == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01",
                                            "2024-07-01"]
    s = out_of_time_scores(r.model, f, names, cuts, 90)  # the shipped recipe (same rounds, features)
    expect = Calibrator("platt").fit(s["score"], s["churned"])
    assert r.model.calibrator_.coef_ == pytest.approx(expect.coef_, rel=1e-6)
    assert r.model.calibrator_.intercept_ == pytest.approx(expect.intercept_, rel=1e-6)
    # the reliability tables: the test scores' table, and validation through the shipped calibration
    test = r.test_scores
    pd.testing.assert_frame_equal(r.reliability["test"], calibration_table(test["churned"], test["lightgbm"]))
    assert list(r.reliability) == ["validation", "test"]
    assert r.reliability["validation"]["n"].sum() == (f["cutoff"] == r.split["validation"][0]).sum()


@pytest.mark.slow  # a training run on 600 demo customers: minutes on 2 shared cores
def test_before_scheme_is_selectable(run):
    cfg, events, after = run
    before = fit_and_evaluate(parse_config({**SMALL, "model": {**SMALL["model"], "refit": False, "calibration_days": 0}}), events)
    assert before.model.refit_rows_ is None
    assert not any("refitted on train + validation" in n for n in before.notes)
    assert any("platt on the validation cutoff 2024-07-01" in n for n in before.notes), before.notes
    assert before.model.best_iteration_ == after.model.best_iteration_  # the same selection


@pytest.mark.slow
def test_train_prints_and_logs_the_calibration(tmp_path):
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(SMALL))
    out = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "cfg.yaml"), "--workdir", str(tmp_path / "wd")])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    m = re.search(r"calibration of the shipped lightgbm \(platt on out-of-time predictions at 7 cutoffs, 2024-01-01 \.\. 2024-07-01\): "
                  r"ECE validation (0\.\d{3}), test (0\.\d{3}); mean predicted (0\.\d{3}) vs observed (0\.\d{3}) on test", text)
    assert m, text
    run_id = re.search(r"runs:/(\w+)/model", text).group(1)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'wd' / 'mlflow.db'}")
    metrics = client.get_run(run_id).data.metrics
    # what is printed is what is logged (ECE from the scores; the printed one from the reliability table)
    assert float(m.group(2)) == pytest.approx(metrics["shipped.ece"], abs=5e-4)
    assert float(m.group(1)) == pytest.approx(metrics["shipped.validation_ece"], abs=5e-4)
    assert float(m.group(3)) == pytest.approx(metrics["shipped.mean_predicted"], abs=5e-4)
    assert float(m.group(4)) == pytest.approx(metrics["shipped.observed_rate"], abs=5e-4)
    arts = {a.path for a in client.list_artifacts(run_id, "plots")} | {a.path for a in client.list_artifacts(run_id, "calibration")}
    assert {"plots/reliability.png", "calibration/shipped_validation.csv", "calibration/shipped_test.csv"} <= arts
    assert table_ece(pd.read_csv(client.download_artifacts(run_id, "calibration/shipped_test.csv", str(tmp_path)))) == \
        pytest.approx(metrics["shipped.ece"])
