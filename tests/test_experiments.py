"""The CDNOW real-data benchmark, run end to end through the CLI."""

import gzip
from importlib.resources import files

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.workflows.experiments import CDNOW_PROTOCOL, cdnow_ablation

pytestmark = pytest.mark.slow


def _raw_cdnow() -> pd.DataFrame:
    """The shipped file read with plain pandas, independently of churnlab's loader."""
    with gzip.open(files("churnlab.datasets") / "data" / "CDNOW_master.txt.gz", "rt") as fh:
        raw = pd.read_csv(fh, sep=r"\s+", header=0, names=["id", "date", "qty", "amount"])
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw




def test_test_labels_follow_the_stated_rule(bench):
    _, details, _ = bench
    raw = _raw_cdnow()
    start = pd.Timestamp(CDNOW_PROTOCOL["test_cutoff"])
    end = start + pd.Timedelta(days=CDNOW_PROTOCOL["test_horizon_days"])
    assert end == pd.Timestamp("1998-07-01")  # 39 weeks = to the end of the data (1998-06-30)
    buyers = set(raw.loc[(raw["date"] >= start) & (raw["date"] < end), "id"])
    everyone = sorted(raw.loc[raw["date"] < start, "id"].unique())
    test = details["test"].set_index("customer_id")
    assert list(test.index) == everyone and len(everyone) == 23_570
    expected = np.array([i not in buyers for i in everyone], dtype=float)
    np.testing.assert_array_equal(test["churned"].to_numpy(float), expected)


def test_lightgbm_beats_bgnbd_on_the_real_data(bench):
    evaluation, _, _ = bench
    assert {"lightgbm", "rfm_logistic", "recency_rule", "bgnbd_p_alive", "bgnbd_no_purchase_39w"} <= set(evaluation.index)
    assert evaluation["n"].nunique() == 1  # the same test customers for every model
    for bg in ("bgnbd_p_alive", "bgnbd_no_purchase_39w"):
        assert evaluation.loc["lightgbm", "roc_auc"] > evaluation.loc[bg, "roc_auc"]
        assert evaluation.loc["lightgbm", "pr_auc"] > evaluation.loc[bg, "pr_auc"]
    assert evaluation.loc["lightgbm", "roc_auc"] > 0.74


def test_the_shipped_model_is_at_least_every_baseline_on_cdnow(bench):
    evaluation, details, _ = bench
    shipped = evaluation.loc[details["selected"]]
    for base in ("rfm_logistic", "recency_rule", "bgnbd_p_alive", "bgnbd_no_purchase_39w"):
        assert shipped["roc_auc"] >= evaluation.loc[base, "roc_auc"], base
        assert shipped["pr_auc"] >= evaluation.loc[base, "pr_auc"], base
    # chosen on the validation cutoff: within one standard error of the best there
    v = details["validation"]
    gap = v["select_score"].max() - v.loc[details["selected"], "select_score"]
    assert gap <= v.loc[details["selected"], "se_of_gap_to_best"]


def test_training_never_sees_the_test_period(bench):
    _, details, _ = bench
    # the builder was fitted inside the calibration period, and the last training label
    # window (validation cutoff + 13 weeks) closes before the test cutoff
    assert details["builder"].fitted_as_of_ <= pd.Timestamp(CDNOW_PROTOCOL["validation_cutoff"])
    last = pd.Timestamp(CDNOW_PROTOCOL["validation_cutoff"]) + pd.Timedelta(days=CDNOW_PROTOCOL["train_horizon_days"])
    assert last <= pd.Timestamp(CDNOW_PROTOCOL["test_cutoff"])


def test_benchmark_run_is_tracked(bench):
    from churnlab.tracking import default_tracking_uri

    evaluation, details, workdir = bench
    client = mlflow.MlflowClient(default_tracking_uri(workdir))  # the benchmark's own store
    run = client.get_run(details["run_id"])
    assert run.data.metrics["lightgbm.roc_auc"] == pytest.approx(evaluation.loc["lightgbm", "roc_auc"])
    assert run.data.params["test_cutoff"] == "1997-10-01"
    names = {a.path for a in client.list_artifacts(details["run_id"], "plots")}
    assert "plots/roc.png" in names and "plots/feature_importance.png" in names


def test_cli_cdnow_prints_the_table(tmp_path):
    result = CliRunner().invoke(app, ["cdnow", "--no-track", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "bgnbd_p_alive" in result.output and "lightgbm" in result.output
    assert not any(tmp_path.iterdir())  # --no-track writes nothing


def test_ablation_full_model_is_the_benchmark_model(bench):
    evaluation, _, _ = bench
    ab = cdnow_ablation()
    assert list(ab.index) == ["full", "without_rhythm_features", "default_params", "bgnbd_inputs_only"]
    # same data, seed and settings: the same model, so the same figures
    assert ab.loc["full", "roc_auc"] == evaluation.loc["lightgbm", "roc_auc"]
    # trained on the churn question, even BG/NBD's own inputs beat BG/NBD's P(alive)
    assert ab.loc["bgnbd_inputs_only", "roc_auc"] > evaluation.loc["bgnbd_p_alive", "roc_auc"]
