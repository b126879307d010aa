"""MLflow runs a person can find: named by config and time, timed from the start of training,
the shipped model's headline metrics under one prefix, no stray Default experiment."""

import re
import time

import mlflow
import numpy as np
from conftest import small_config

import churnlab.workflows.training as training
from churnlab.config import parse_config


def _ece_by_hand(y, p, bins=10):
    order = np.argsort(p, kind="stable")
    total = 0.0
    for part in np.array_split(order, bins):
        total += len(part) * abs(p[part].mean() - y[part].mean())
    return total / len(p)


def test_the_run_is_named_and_logs_the_shipped_headline(trained):
    result, _ = trained
    run = mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id)
    assert re.fullmatch(r"test \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", run.info.run_name), run.info.run_name
    m = run.data.metrics
    shipped = result.evaluation.loc[result.selected]
    assert m["shipped.roc_auc"] == float(shipped["roc_auc"]) and m["shipped.pr_auc"] == float(shipped["pr_auc"])
    y = result.test_scores["churned"].to_numpy(dtype=float)
    p = result.test_scores[result.selected].to_numpy(dtype=float)
    assert abs(m["shipped.ece"] - _ece_by_hand(y, p)) < 1e-12
    assert abs(m["shipped.mean_predicted"] - p.mean()) < 1e-12 and abs(m["shipped.observed_rate"] - y.mean()) < 1e-12


def test_the_run_spans_the_training_and_no_default_experiment_appears(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real = training.fit_and_evaluate

    def slow(*args, **kwargs):  # a training that takes at least 2 s
        time.sleep(2.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "fit_and_evaluate", slow)
    cfg = small_config(**{"data.demo_customers": 600, "model.num_boost_round": 30, "mlflow.run_name": "my run"})
    result = training.train(parse_config(cfg), workdir=tmp_path / "wd")
    client = mlflow.MlflowClient(result.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.run_name == "my run"
    assert run.info.end_time - run.info.start_time >= 2000
    # the SQLite store's own Default experiment (id 0) holds nothing; no file store appears
    # in the working folder (./mlruns/0)
    runs = {e.name: len(client.search_runs([e.experiment_id])) for e in client.search_experiments()}
    assert runs == {parse_config(cfg).mlflow.experiment: 1, "Default": 0}, runs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wd"]
