"""Rolling-origin backtests: folds, intervals, driver stability, MLflow runs, CLI and report."""

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import small_config
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import parse_config
from churnlab.workflows.backtest import backtest, bootstrap_interval, fold_cutoffs
from churnlab.workflows.training import fit_and_evaluate


def test_fold_cutoffs_keep_each_folds_past_only():
    cuts = pd.date_range("2024-01-01", "2024-10-01", freq="MS")
    plan = fold_cutoffs(cuts, 60, 3)
    assert [p[-1] for p in plan] == list(cuts[-3:])
    assert plan[0] == list(cuts[:-2])
    with pytest.raises(ValueError, match=r"--folds 8: the fold tested at 2024-03-01 leaves no training period"):
        fold_cutoffs(cuts, 60, 8)
    with pytest.raises(ValueError, match=r"--folds 11: only 10 cutoffs are configured"):
        fold_cutoffs(cuts, 60, 11)
    with pytest.raises(ValueError, match=r"`folds` must be an integer >= 1, got 0"):
        fold_cutoffs(cuts, 60, 0)


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    y = (rng.random(600) < 0.25).astype(float)
    p = (y * 0.4 + rng.random(600)) / 1.4
    low, high = bootstrap_interval(y, p, "roc_auc", n_boot=300)
    assert low < roc_auc_score(y, p) < high and high - low < 0.15
    assert bootstrap_interval(y, p, "roc_auc", n_boot=300) == (low, high)


@pytest.fixture(scope="module")
def bt(tmp_path_factory, demo_events):
    cfg = parse_config(small_config(**{"model.num_boost_round": 150}))
    workdir = tmp_path_factory.mktemp("bt")
    return cfg, backtest(cfg, events=demo_events, folds=2, n_boot=50, workdir=workdir), workdir


def test_each_fold_is_a_training_run_on_the_cutoffs_up_to_its_test_cutoff(bt, demo_events):
    cfg, result, _ = bt
    f = result.folds
    assert sorted(f["test_cutoff"].astype(str).unique()) == ["2024-09-01", "2024-10-01"]
    assert (f.groupby("fold")["shipped"].sum() == 1).all()
    assert ((f["roc_auc_low"] <= f["roc_auc"]) & (f["roc_auc"] <= f["roc_auc_high"])).all()
    last = fit_and_evaluate(cfg, demo_events)  # the configured cutoffs: the last fold
    mine = f[f["fold"] == 2].set_index("model")
    for name, row in last.evaluation.iterrows():
        assert mine.loc[name, "roc_auc"] == row["roc_auc"] and mine.loc[name, "pr_auc"] == row["pr_auc"]
    s = result.summary.set_index(["model", "metric"])
    assert s.loc[("lightgbm", "roc_auc"), "mean"] == pytest.approx(f[f["model"] == "lightgbm"]["roc_auc"].mean())
    assert len(result.stability) == 1 and -1 <= result.stability["spearman"].iloc[0] <= 1
    assert set(result.drivers["fold"]) == {1, 2}


def test_backtest_is_one_parent_run_with_a_nested_run_per_fold(bt):
    _, result, workdir = bt
    from churnlab.tracking import default_tracking_uri

    client = mlflow.MlflowClient(default_tracking_uri(workdir))
    parent = client.get_run(result.run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert len(children) == 2
    assert {a.path for a in client.list_artifacts(result.run_id, "plots")} >= {"plots/roc_auc_over_time.png", "plots/pr_auc_over_time.png"}
    assert "lightgbm.roc_auc.mean" in parent.data.metrics


def test_cli_backtest_and_the_report_section(tmp_path, trained, demo_events):
    from churnlab.events import save_events_dir

    cfg = small_config(**{"data": {"source": "demo", "demo_customers": 1200, "demo_seed": 0}, "model.num_boost_round": 80})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "bt.csv"
    r = CliRunner().invoke(app, ["backtest", "--config", str(path), "--folds", "2", "--no-track", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Backtest: test metrics per fold" in r.output and "Spearman" in r.output and out.exists()
    r = CliRunner().invoke(app, ["backtest", "--config", str(path), "--folds", "30", "--no-track"])
    assert r.exit_code == 2 and "--folds 30: only 14 cutoffs are configured" in r.output
    result, _ = trained
    events_dir = save_events_dir(demo_events, tmp_path / "events")
    html = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["report", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events",
                                 str(events_dir), "--as-of", "2024-12-01", "--out", str(html), "--backtest", str(out)])
    assert r.exit_code == 0, r.output
    text = html.read_text()
    assert "Backtest over time" in text and "Drift since training" in text


def test_an_unusable_tracking_store_fails_before_any_fold_is_trained(tmp_path, demo_events, monkeypatch):
    import churnlab.workflows.training as training
    from churnlab.tracking import TrackingError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cfg = parse_config(small_config(**{"mlflow.tracking_uri": f"sqlite:///{blocker}/sub/mlflow.db"}))

    def no_training(*args, **kwargs):
        raise AssertionError("a fold was trained before the tracking store was checked")

    monkeypatch.setattr(training, "fit_and_evaluate", no_training)
    with pytest.raises(TrackingError, match="cannot create the folder of the tracking database"):
        backtest(cfg, events=demo_events, folds=2, n_boot=10, workdir=tmp_path)
