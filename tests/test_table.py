"""A customer table with its own churn label: train -> score -> report from the CLI."""

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import parse_config
from churnlab.datasets import make_demo_table
from churnlab.events import EventValidationError
from churnlab.features.table import TableFeatures, parse_labels
from churnlab.scoring import ScoringModel, score_table
from churnlab.workflows.table import split_table

runner = CliRunner()


def _config(tmp_path, path, **data) -> str:
    cfg = {
        "name": "table",
        "data": {"source": "table", "path": str(path), "id": "customerID", "label": "Churn", **data},
        "split": {"test_size": 0.25, "validation_size": 0.25, "seed": 0},
        "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 40}, "num_boost_round": 300},
        "mlflow": {"experiment": "table"},
    }
    out = tmp_path / "table.yaml"
    out.write_text(yaml.safe_dump(cfg))
    return str(out)


@pytest.fixture(scope="module")
def trained_table(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table")
    table = make_demo_table(3000, random_state=0)
    table.to_csv(tmp / "customers.csv", index=False)
    res = runner.invoke(app, ["train", "--config", _config(tmp, tmp / "customers.csv"), "--workdir", str(tmp / "wd")])
    assert res.exit_code == 0, res.output
    assert "split: random, stratified by the label, seed 0 (the table has no time column)" in " ".join(res.output.split())
    uri = res.output.split("model: ")[1].split()[0]
    tracking = f"sqlite:///{tmp / 'wd' / 'mlflow.db'}"
    return tmp, table, uri, tracking


@pytest.mark.slow
def test_the_table_model_beats_the_prior_and_reads_the_planted_columns(trained_table):
    tmp, table, uri, tracking = trained_table
    import mlflow

    mlflow.set_tracking_uri(tracking)
    model = ScoringModel.load(uri)
    assert model.kind == "table"
    ev = pd.DataFrame(model.metadata["evaluation"]).T
    assert set(ev.index) == {"lightgbm", "logistic_regression", "prior_rate"}
    assert ev.loc["lightgbm", "roc_auc"] > 0.75 and ev.loc["prior_rate", "roc_auc"] == 0.5
    assert ev.loc["logistic_regression", "roc_auc"] > 0.75  # the planted effects are linear
    run = mlflow.get_run(uri.split("/")[1])
    assert run.data.tags["note.0"].startswith("split: random, stratified")


@pytest.mark.slow
def test_cli_scores_and_reports_a_table(trained_table):
    tmp, table, uri, tracking = trained_table
    new = make_demo_table(200, random_state=5).drop(columns="Churn")  # no label at scoring
    new.loc[0, "Contract"] = "Weekly"  # a level never seen in training: missing for the model
    new.to_csv(tmp / "new.csv", index=False)
    out = tmp / "scores.parquet"
    res = runner.invoke(app, ["score", "--model", uri, "--tracking-uri", tracking, "--table", str(tmp / "new.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    scores = pd.read_parquet(out)
    assert list(scores["customer_id"]) == list(new["customerID"])
    assert (scores["status"] == "scored").all() and scores["churn_probability"].between(0, 1).all()
    assert scores["as_of"].isna().all()
    # a reason is a fact that raises risk against the typical customer: every customer at risk has one
    at_risk = scores["risk_tier"].isin(["high", "medium"])
    assert at_risk.any() and scores.loc[at_risk, "reason_1"].notna().all()
    reasons = scores["reason_1"].dropna()
    assert reasons.str.contains(" = ").all()
    assert reasons.str.startswith(("Contract = ", "tenure = ", "SupportCalls = ", "MonthlyCharges = ", "PaymentMethod = ")).mean() > 0.9
    # the same as the Python API
    import mlflow

    mlflow.set_tracking_uri(tracking)
    api = pd.concat(score_table(ScoringModel.load(uri), pd.read_csv(tmp / "new.csv")))
    np.testing.assert_array_equal(api["churn_probability"].to_numpy(), scores["churn_probability"].to_numpy())
    report = tmp / "review.html"
    res = runner.invoke(app, ["report", "--model", uri, "--tracking-uri", tracking, "--table", str(tmp / "new.csv"), "--out", str(report)])
    assert res.exit_code == 0, res.output
    text = report.read_text()
    assert "the customer table" in text and "Contract = Month-to-month" in text


@pytest.mark.slow
@pytest.mark.parametrize(
    "change,fragment",
    [
        ("drop:tenure", "missing column(s) ['tenure']"),
        ("events", "--table replaces --events and --as-of"),
    ],
)
def test_bad_tables_at_scoring(trained_table, change, fragment):
    tmp, table, uri, tracking = trained_table
    new = make_demo_table(20, random_state=6)
    args = ["score", "--model", uri, "--tracking-uri", tracking, "--out", str(tmp / "bad.parquet")]
    if change.startswith("drop:"):
        new = new.drop(columns=change.split(":")[1])
    else:
        args += ["--as-of", "2024-01-01"]
    new.to_csv(tmp / "bad.csv", index=False)
    res = runner.invoke(app, [*args, "--table", str(tmp / "bad.csv")])
    assert res.exit_code == 2
    assert fragment in res.output and res.output.count("\n") == 1
    assert not (tmp / "bad.parquet").exists()


def test_labels_accept_the_usual_spellings_and_name_a_bad_one():
    assert parse_labels(pd.Series(["Yes", "NO", "true", "False", "1", "0", 1, 0.0, True]), "t.Churn").tolist() == [1, 0, 1, 0, 1, 0, 1, 0, 1]
    with pytest.raises(EventValidationError, match=r"t.Churn: labels must be 1/0, true/false or yes/no; 1 bad row\(s\); first at row 2: 'maybe'"):
        parse_labels(pd.Series(["yes", "no", "maybe"]), "t.Churn")
    with pytest.raises(EventValidationError, match="first at row 1: missing"):
        parse_labels(pd.Series(["yes", None]), "t.Churn")


def test_a_table_with_snapshot_dates_is_split_by_time():
    table = make_demo_table(300, random_state=2, snapshots=6)
    y = parse_labels(table["Churn"], "t.Churn")
    parts, how = split_table(table, y, "snapshot", test_size=0.2, validation_size=0.2, seed=0)
    dates = {k: sorted(table["snapshot"].iloc[at].unique()) for k, at in parts.items()}
    assert max(dates["train"]) < min(dates["validation"]) <= max(dates["validation"]) < min(dates["test"])
    assert how.startswith("by time")


def test_table_features_keep_numbers_and_make_text_categories():
    t = make_demo_table(100, random_state=3)
    tf = TableFeatures("customerID", "Churn").fit(t)
    X = tf.transform(t)
    assert X.index.name == "customer_id" and list(X.index[:2]) == ["C000000", "C000001"]
    assert X["tenure"].dtype == "float64" and isinstance(X["Contract"].dtype, pd.CategoricalDtype)
    assert "Churn" not in X.columns
    back = TableFeatures.from_dict(tf.to_dict()).transform(t)
    pd.testing.assert_frame_equal(back, X)
    clash = pd.DataFrame({"id": [1, 2], "y": [0, 1], "a b": [1, 2], "a_b": [3, 4]})
    with pytest.raises(EventValidationError, match="columns 'a b' and 'a_b' both become feature 'a_b'"):
        TableFeatures("id", "y").fit(clash)


@pytest.mark.parametrize(
    "data,fragment",
    [
        ({"source": "table", "path": "t.csv", "id": "id"}, "data.source 'table' needs data.label"),
        ({"source": "files", "path": "d", "label": "Churn"}, "data.id, data.label and data.time are for data.source 'table'"),
    ],
)
def test_table_config_errors_name_the_key(data, fragment):
    from churnlab.config import ConfigError

    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        parse_config({"data": data, "cutoffs": {"dates": ["2024-01-01", "2024-02-01", "2024-03-01"]}})


@pytest.mark.slow
def test_cli_scores_a_table_with_a_campaign_valued_by_its_own_column(trained_table, tmp_path):
    tmp, table, uri, tracking = trained_table
    new = make_demo_table(300, random_state=7).drop(columns="Churn")
    new.to_csv(tmp_path / "new.csv", index=False)
    plan = {"contact_cost": 2.0, "incentive_cost": 15.0, "acceptance": 0.4, "budget": 25, "value_column": "MonthlyCharges"}
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump({"campaign": plan}))
    out = tmp_path / "scores.csv"
    args = ["score", "--model", uri, "--tracking-uri", tracking, "--table", str(tmp_path / "new.csv"), "--out", str(out)]
    res = runner.invoke(app, [*args, "--campaign", str(tmp_path / "campaign.yaml"), "--sort", "expected_profit"])
    assert res.exit_code == 0, res.output
    s = pd.read_csv(out)
    value = new.set_index("customerID")["MonthlyCharges"].reindex(s["customer_id"]).to_numpy()
    np.testing.assert_array_equal(s["customer_value"].to_numpy(), value)
    p = s["churn_probability"].to_numpy()
    np.testing.assert_allclose(s["expected_profit"], p * 0.4 * (value - 15.0) - (1 - p) * 15.0 - 2.0, rtol=1e-12)
    assert (np.diff(s["expected_profit"]) <= 0).all()
    assert s["target"].sum() == min(25, int((s["expected_profit"] > 0).sum()))
    written = out.read_bytes()
    # the value column must be named, and exist; a refused run leaves the earlier file alone
    del plan["value_column"]
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump({"campaign": plan}))
    res = runner.invoke(app, [*args, "--campaign", str(tmp_path / "campaign.yaml")])
    assert res.exit_code == 2 and "campaign.value_column: required to score a customer table" in res.output
    plan["value_column"] = "Revenue"
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump({"campaign": plan}))
    res = runner.invoke(app, [*args, "--campaign", str(tmp_path / "campaign.yaml")])
    assert res.exit_code == 2 and "campaign.value_column: 'Revenue' is not a column of the table" in res.output
    assert out.read_bytes() == written
