"""The report and the model's MLflow run: the run found from the model URI, the run's
calibration table read, the report logged as an artifact, and a store that cannot take it
warned about while the HTML file stays written. Real SQLite stores in tmp_path."""

import warnings

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.report_artifact import REPORT_ARTIFACT_DIR, log_report, model_run_id, run_reliability
from churnlab.tracking import TrackingError

AS_OF = "2024-12-01"


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite store with one finished run and a registered version of its model."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("report-test", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(exp)
    client.log_text(run.info.run_id, "bin,n,mean_predicted,observed_rate\n0,50,0.1,0.08\n1,50,0.6,0.7\n",
                    "calibration/lightgbm.csv")
    client.set_terminated(run.info.run_id)
    client.create_registered_model("churn")
    version = client.create_model_version("churn", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("churn", "champion", version.version)
    return uri, run.info.run_id, client


@pytest.fixture
def report_file(tmp_path):
    path = tmp_path / "review.html"
    path.write_text("<!DOCTYPE html><html><body>review</body></html>", encoding="utf-8")
    return path


def test_the_run_is_found_from_every_kind_of_model_uri(store, tmp_path):
    uri, run_id, _ = store
    before = mlflow.get_tracking_uri()
    assert model_run_id(f"runs:/{run_id}/model", tracking_uri=None) == run_id
    assert model_run_id("models:/churn/1", tracking_uri=uri) == run_id
    assert model_run_id("models:/churn@champion", tracking_uri=uri) == run_id
    assert model_run_id("models:/churn/latest", tracking_uri=uri) == run_id
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(f"artifact_path: model\nrun_id: {run_id}\n")
    assert model_run_id(str(folder), tracking_uri=None) == run_id
    (folder / "MLmodel").write_text("artifact_path: model\n")
    assert model_run_id(str(folder), tracking_uri=None, metadata={"run_id": "abc"}) == "abc"
    assert model_run_id(str(folder), tracking_uri=None, metadata={}) is None
    with pytest.raises(TrackingError, match="models:/churn/7: cannot look the model up"):
        model_run_id("models:/churn/7", tracking_uri=uri)
    assert mlflow.get_tracking_uri() == before  # the process's MLflow settings are left alone


def test_the_report_is_logged_to_the_run_and_reads_back_the_same(store, report_file, tmp_path):
    uri, run_id, client = store
    before = mlflow.get_tracking_uri()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logged = log_report(report_file, run_id, tracking_uri=uri)
    assert logged == f"{(tmp_path / 'artifacts').as_uri()}/{run_id}/artifacts/report/review.html"
    assert [a.path for a in client.list_artifacts(run_id, REPORT_ARTIFACT_DIR)] == ["report/review.html"]
    back = client.download_artifacts(run_id, "report/review.html", dst_path=str(tmp_path / "back"))
    assert open(back, encoding="utf-8").read() == report_file.read_text(encoding="utf-8")
    assert mlflow.get_tracking_uri() == before


def test_the_run_calibration_table_is_read(store):
    uri, run_id, _ = store
    table = run_reliability(run_id, "lightgbm", tracking_uri=uri)
    assert table[["n", "mean_predicted", "observed_rate"]].to_dict("list") == {
        "n": [50, 50], "mean_predicted": [0.1, 0.6], "observed_rate": [0.08, 0.7]}
    with pytest.warns(UserWarning, match="no calibration table for xgboost"):
        assert run_reliability(run_id, "xgboost", tracking_uri=uri) is None


def test_a_store_that_cannot_take_the_report_warns_and_leaves_the_file(store, report_file, tmp_path):
    uri, run_id, client = store
    # the experiment's artifact folder lies under a regular file: nothing can be written there
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    exp = client.create_experiment("blocked", artifact_location=(blocker / "artifacts").as_uri())
    blocked = client.create_run(exp).info.run_id
    with pytest.warns(UserWarning, match=f"report not logged to MLflow run {blocked} in {uri}: .*the file {report_file} is written"):
        assert log_report(report_file, blocked, tracking_uri=uri) is None
    assert report_file.is_file()
    client.delete_run(run_id)
    with pytest.warns(UserWarning, match="the run is deleted"):
        assert log_report(report_file, run_id, tracking_uri=uri) is None


def test_an_unreachable_or_missing_store_warns_and_creates_nothing(report_file, tmp_path):
    with pytest.warns(UserWarning, match="report not logged to MLflow run abc in http://127.0.0.1:9: .*unreachable"):
        assert log_report(report_file, "abc", tracking_uri="http://127.0.0.1:9") is None
    missing = tmp_path / "nowhere" / "mlflow.db"
    with pytest.warns(UserWarning, match="does not exist"):
        assert log_report(report_file, "abc", tracking_uri=f"sqlite:///{missing}") is None
    assert not missing.parent.exists()  # never created
    assert report_file.is_file()


@pytest.mark.slow
def test_churnlab_report_logs_the_report_to_the_models_run(trained, demo_events, tmp_path):
    result, _ = trained
    events = save_events_dir(demo_events, tmp_path / "events")
    out = tmp_path / "logged-review.html"
    res = CliRunner().invoke(app, ["report", "--model", result.model_uri, "--tracking-uri", result.tracking_uri,
                                   "--events", str(events), "--as-of", AS_OF, "--out", str(out)])
    assert res.exit_code == 0, res.output
    client = mlflow.MlflowClient(tracking_uri=result.tracking_uri)
    assert f"report logged to MLflow run {result.run_id}: " in res.output
    assert "report/logged-review.html" in {a.path for a in client.list_artifacts(result.run_id, REPORT_ARTIFACT_DIR)}
    text = out.read_text(encoding="utf-8")
    # the run's test-period calibration table drives the chart: its ECE is in the report
    cal = pd.read_csv(client.download_artifacts(result.run_id, f"calibration/{result.selected}.csv", str(tmp_path / "cal")))
    ece = (cal["n"] * (cal["mean_predicted"] - cal["observed_rate"]).abs()).sum() / cal["n"].sum()
    assert f"ECE {ece:.3f} over {len(cal)} equal-count bins" in text
    assert "alt=\"calibration\"" in text
