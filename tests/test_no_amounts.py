"""A purchase log without order values: count features only, and the whole flow still runs."""

import dataclasses

import pandas as pd
import pytest
import yaml
from conftest import small_config, train_from_cli
from typer.testing import CliRunner

from churnlab import metrics
from churnlab.cli import app
from churnlab.events import load_events, save_events_dir
from churnlab.features import FeatureBuilder

runner = CliRunner()


@pytest.fixture(scope="module")
def no_amounts(demo_events):
    return dataclasses.replace(demo_events, purchases=demo_events.purchases.drop(columns="amount"))


def test_features_without_amounts_are_the_count_features(demo_events, no_amounts):
    with_money = FeatureBuilder().fit(demo_events, "2024-06-01").transform(demo_events, "2024-06-01")
    counts_only = FeatureBuilder().fit(no_amounts, "2024-06-01").transform(no_amounts, "2024-06-01")
    money = [c for c in with_money.columns if c.startswith(("p_amount", "p_aov"))]
    assert money and not [c for c in counts_only.columns if c.startswith(("p_amount", "p_aov"))]
    pd.testing.assert_frame_equal(counts_only, with_money.drop(columns=money))


def test_a_log_without_amounts_loads_and_clv_says_why_it_cannot(no_amounts):
    p = no_amounts.purchases[["customer_id", "ts"]].head(50)
    ev = load_events(p)
    assert "amount" not in ev.purchases.columns
    with pytest.raises(ValueError, match="purchases.amount: absent; customer value needs order values"):
        metrics.historical_clv(ev, "2024-06-01")
    assert metrics.repeat_purchase_rate(ev, "2023-01-01", "2025-01-01") >= 0  # counts need no amounts


@pytest.mark.slow
def test_train_score_report_from_the_cli_without_amounts(no_amounts, tmp_path):
    folder = save_events_dir(no_amounts, tmp_path / "events")
    uri, tracking, output = train_from_cli(small_config(**{"data": {"source": "files", "path": str(folder)}}), tmp_path)
    assert "rfm_logistic" in output and "bgnbd_p_alive" in output
    out = tmp_path / "scores.parquet"
    res = runner.invoke(app, ["score", "--model", uri, *tracking, "--events", str(folder), "--as-of", "2024-12-01", "--out", str(out)])
    assert res.exit_code == 0, res.output
    scores = pd.read_parquet(out)
    scored = scores[scores["status"] == "scored"]
    assert len(scored) > 100 and scored["churn_probability"].between(0, 1).all()
    assert not scored["reason_1"].str.contains("spend|average order").any()
    res = runner.invoke(app, ["report", "--model", uri, *tracking, "--events", str(folder), "--as-of", "2024-12-01", "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    # a campaign: valued by expected purchases x a given order value, or refused naming the key
    plan = yaml.safe_load(open("configs/campaign.yaml"))
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(plan))
    args = ["score", "--model", uri, *tracking, "--events", str(folder), "--as-of", "2024-12-01", "--out", str(tmp_path / "c.parquet"),
            "--campaign", str(tmp_path / "campaign.yaml")]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "campaign.order_value" in res.output and not (tmp_path / "c.parquet").exists()
    plan["campaign"]["order_value"] = 30.0
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(plan))
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    c = pd.read_parquet(tmp_path / "c.parquet")
    assert c["customer_value"].notna().sum() > 100 and (c["customer_value"].dropna() >= 0).all()
    assert 0 < c["target"].sum() <= plan["campaign"]["budget"]


def test_a_model_with_amounts_refuses_events_without(trained, no_amounts):
    from churnlab.scoring import SchemaMismatchError, ScoringModel, score_customers

    import mlflow

    mlflow.set_tracking_uri(trained[0].tracking_uri)  # other tests point the process elsewhere
    sm = ScoringModel.load(trained[0].model_uri)
    with pytest.raises(SchemaMismatchError, match="purchases.amount: the model was trained with order values"):
        score_customers(sm, no_amounts, "2024-12-01")
