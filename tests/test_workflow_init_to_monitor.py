"""The whole loop from the CLI, as a new user runs it: a folder of their own exports (their
column names, a gzipped CSV, tickets with a ``closed_at`` column) -> ``churnlab init`` ->
``train`` -> ``score`` -> ``report`` -> ``monitor``, with the config init wrote (one edit: few
boosting rounds, to keep the test short). And a table with a text label: the value that means
churned (``data.positive``) travels with the model, so later commands need no config."""

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import load_config
from churnlab.scoring import ScoringModel
from churnlab.workflows.training import load_data
from test_edges_init import bank_churners, exports_2011
from cli_lines import output_lines

pytestmark = pytest.mark.slow
runner = CliRunner()


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def _max_resolution_hours(tickets: pd.DataFrame, as_of: str) -> pd.Series:
    """Per customer, the slowest ticket opened and closed before ``as_of``, in hours, from the
    export as written (closed_at - created_at); NaN for a customer with none closed."""
    opened, closed = pd.to_datetime(tickets["created_at"]), pd.to_datetime(tickets["closed_at"])
    t = pd.Timestamp(as_of)
    hours = ((closed - opened).dt.total_seconds() / 3600).where((opened < t) & (closed < t))
    return hours.groupby(tickets["customer"].to_numpy()).max()


def test_init_train_score_report_monitor_on_own_exports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    tickets = exports_2011(tmp_path / "exports", n=300)

    # init: the mapping, the 2011 cutoffs and resolved_ts from closed_at are guessed
    out = _ok(["init", "exports", "--out", "shop.yaml"])
    assert "resolution hours from 'closed_at' minus 'created_at'" in out
    cfg = yaml.safe_load((tmp_path / "shop.yaml").read_text())
    assert cfg["data"]["mapping"]["support"]["resolved_ts"] == "closed_at"
    assert cfg["data"]["purchases"] == "exports/orders.csv.gz"
    # the one edit: few boosting rounds (a user would leave the default)
    with open(tmp_path / "shop.yaml", "a") as fh:
        fh.write("model:\n  num_boost_round: 60\n")

    # train ends with ready-to-paste score and report commands
    out = _ok(["train", "--config", "shop.yaml", "--workdir", "wd"])
    uri = out.split("model: ")[1].split()[0]
    assert uri.startswith("runs:/") and (tmp_path / "wd" / "mlflow.db").is_file()
    nxt = [line.strip() for line in out.splitlines() if line.strip().startswith("churnlab ")]
    score_cmd = next(c for c in nxt if c.startswith("churnlab score "))
    report_cmd = next(c for c in nxt if c.startswith("churnlab report "))
    assert "--config" not in score_cmd and "--events" not in score_cmd  # the model remembers its data

    # score as printed: every customer of the exports, ids as written
    _ok(score_cmd.split()[1:])
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert sorted(scores["customer_id"]) == sorted(pd.read_csv(tmp_path / "exports" / "accounts.csv")["cust_no"])
    scored = scores[scores["status"] == "scored"]
    assert len(scored) > 0 and scored["churn_probability"].between(0, 1).all()

    # report as printed: one self-contained HTML file
    _ok(report_cmd.split()[1:])
    html = (tmp_path / "report.html").read_text()
    assert "<html" in html[:2000].lower()

    # monitor: scores at a past cutoff whose 60-day horizon the data covers
    _ok(["score", "--model", uri, "--workdir", "wd", "--as-of", "2011-10-01", "--out", "past.csv"])
    out = _ok(["monitor", "--model", uri, "--workdir", "wd", "--scores", "past.csv"])
    assert "scores as of 2011-10-01" in out and "ROC-AUC" in out
    written = {p.name for p in tmp_path.iterdir()}
    assert {"shop.yaml", "wd", "scores.parquet", "report.html", "past.csv"} <= written
    assert not [name for name in written if ".partial-" in name]  # every file complete

    # the model's support features hold the hours between created_at and closed_at
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'wd' / 'mlflow.db'}")
    sm = ScoringModel.load(uri)
    X = sm.features(load_data(load_config(tmp_path / "shop.yaml").data), "2011-10-01")
    expected = _max_resolution_hours(tickets, "2011-10-01").reindex(X.index)
    assert expected.notna().sum() > 100
    np.testing.assert_allclose(X["s_resolution_hours_max"].to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_a_text_labels_positive_value_travels_with_the_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = bank_churners(600)
    table.to_csv("BankChurners.csv", index=False)
    _ok(["init", "BankChurners.csv", "--out", "bank.yaml"])
    assert yaml.safe_load((tmp_path / "bank.yaml").read_text())["data"]["positive"] == "Attrited Customer"
    with open(tmp_path / "bank.yaml", "a") as fh:
        fh.write("model:\n  num_boost_round: 60\n")
    uri = _ok(["train", "--config", "bank.yaml", "--workdir", "wd"]).split("model: ")[1].split()[0]
    (tmp_path / "bank.yaml").unlink()  # from here on, no config

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'wd' / 'mlflow.db'}")
    sm = ScoringModel.load(uri)
    assert sm.metadata["data"]["positive"] == "Attrited Customer"  # the stored data section
    assert sm.label_definition["positive"] == "Attrited Customer" and sm.label_definition["label_column"] == "Attrition_Flag"
    # the test rows' churn rate is the share of 'Attrited Customer' (not of the other value)
    test_rate = sm.metadata["evaluation"][sm.metadata["selected"]]["base_rate"]
    assert abs(test_rate - (table["Attrition_Flag"] == "Attrited Customer").mean()) < 0.06
    assert abs(test_rate - (table["Attrition_Flag"] == "Existing Customer").mean()) > 0.3

    # newer rows without the label, and the table itself with its text label: scored and
    # reported without --config; the report says which value means churned
    table.drop(columns="Attrition_Flag").to_csv("newer.csv", index=False)
    for source in ("newer.csv", "BankChurners.csv"):
        _ok(["report", "--model", uri, "--workdir", "wd", "--table", source, "--out", "report.html"])
        html = (tmp_path / "report.html").read_text()
        assert "label `Attrition_Flag` (churned: &#x27;Attrited Customer&#x27;)" in html
    _ok(["score", "--model", uri, "--workdir", "wd", "--table", "newer.csv", "--out", "scores.csv"])
    assert len(pd.read_csv("scores.csv")) == len(table)
    # monitor measures event data's labels: a table model is one line, exit 2
    res = runner.invoke(app, ["monitor", "--model", uri, "--workdir", "wd", "--scores", "scores.csv"])
    lines = output_lines(res.output)
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: monitor measures event data"), res.output
