"""The leakage guard (issue #27 item 6): a feature that alone separates the labels stops
training, named with its ROC-AUC; ``allow_leaky`` keeps it, said in the run; a feature that
separates only the test labels is named in a WARNING note. From the CLI."""

import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.datasets import make_demo_events, make_demo_table
from churnlab.events import save_events_dir
from churnlab.labels import churn_labels
from churnlab.models.leakage import LeakageError, check_leakage, is_label_copy, single_feature_auc
from conftest import small_config
from cli_lines import output_lines

runner = CliRunner()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def _train(tmp_path, cfg: dict):
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return runner.invoke(app, ["train", "--config", str(tmp_path / "cfg.yaml"), "--workdir", str(tmp_path / "wd")])


def _table_config(path, **extra) -> dict:
    return {
        "name": "leaky",
        "data": {"source": "table", "path": str(path), "id": "customerID", "label": "Churn", **extra.pop("data", {})},
        "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 0},
        "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 40}, "num_boost_round": 60},
        "mlflow": {"experiment": "leaky"},
        **extra,
    }


def _no_run_logged(workdir) -> None:
    """Nothing was logged: no model printed, and the store (if created before training) holds no run."""
    db = workdir / "mlflow.db"
    if db.exists():
        with sqlite3.connect(db) as con:
            tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
            assert "runs" not in tables or con.execute("select count(*) from runs").fetchone()[0] == 0
    assert not (workdir / "mlartifacts").exists() or not any((workdir / "mlartifacts").rglob("MLmodel"))


def _logged_notes(workdir) -> list[str]:
    """The run's ``note.<i>`` MLflow tags, read from the SQLite store."""
    with sqlite3.connect(workdir / "mlflow.db") as con:
        return [r[0] for r in con.execute("select value from tags where key like 'note.%'")]


def _y(values) -> np.ndarray:
    return (pd.Series(values) == "Yes").to_numpy().astype(int)


# ---- the measure itself ---------------------------------------------------------------


def test_single_feature_auc_is_either_direction_with_missing_lowest_and_levels_from_training():
    y = np.array([0, 0, 1, 1, 1, 0])
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 0.5])
    assert single_feature_auc(x, y, x, y) == pytest.approx(roc_auc_score(y, x))
    assert single_feature_auc(-x, y, -x, y) == pytest.approx(roc_auc_score(y, x))  # the other direction
    with_missing = np.array([np.nan, np.nan, 2.0, 5.0, 4.0, np.nan])  # e.g. a churn date: missing for stayers
    assert single_feature_auc(with_missing, y, with_missing, y) == 1.0
    # text: each level's churn rate on the training rows; a level unseen there scores the training rate
    x_fit, y_fit = pd.Series(["a", "a", "b", "b", None]), np.array([1, 1, 0, 1, 0])
    x_eval, y_eval = pd.Series(["a", "b", None, "zz"]), np.array([1, 0, 0, 1])
    expected = roc_auc_score(y_eval, [1.0, 0.5, 0.0, 0.6])
    assert single_feature_auc(x_fit, y_fit, x_eval, y_eval) == pytest.approx(max(expected, 1 - expected))
    # an identifier: every level unseen in training scores the same, no separation
    ids = pd.Series([f"id{i}" for i in range(6)])
    assert single_feature_auc(ids, y, pd.Series([f"new{i}" for i in range(6)]), y) == 0.5
    assert is_label_copy(["No", "Yes", "No"], [0, 1, 0]) and not is_label_copy(["No", "Yes", None], [0, 1, 0])


def test_unknown_allow_leaky_names_are_refused_naming_them():
    X = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [0.0, 1, 0, 1]})
    with pytest.raises(LeakageError, match=r"^allow_leaky: not a feature of this run: 'nope', 'neither' \(give the column as the run names it"):
        check_leakage(X, [0, 1, 1, 0], X, [0, 1, 1, 0], allow=["a", "nope", "neither"])


# ---- a labelled table: refused, allowed, warned ------------------------------------------


def test_a_table_column_equal_to_the_label_stops_training_naming_it(tmp_path):
    table = make_demo_table(1500, random_state=0)
    table.insert(3, "churn_copy", table["Churn"])
    table.to_csv(tmp_path / "t.csv", index=False)
    expected = roc_auc_score(_y(table["Churn"]), _y(table["churn_copy"]))  # the same on any rows: 1.000
    res = _train(tmp_path, _table_config(tmp_path / "t.csv"))
    assert res.exit_code == 2, res.output
    assert _only_error_line(res.stderr) == (
        f"error: leakage: 'churn_copy' is a copy of the label (validation ROC-AUC {expected:.3f}); "
        "leave it out (data.exclude) or list it in allow_leaky")
    assert "model:" not in res.output
    _no_run_logged(tmp_path / "wd")


def _near_copy_table(n=600, snapshots=5, flip=0.01, seed=3):
    """A table split by time (5 snapshots: test = the last, validation = the one before) with
    ``flag``: the label, ``flip`` of its rows flipped."""
    table = make_demo_table(n, random_state=0, snapshots=snapshots)
    y = _y(table["Churn"])
    flipped = np.random.default_rng(seed).random(len(y)) < flip
    table.insert(3, "flag", np.where(flipped, 1 - y, y))
    return table, y


def test_a_near_copy_of_the_label_is_refused_with_its_validation_auc(tmp_path):
    table, y = _near_copy_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    val = (table["snapshot"] == sorted(table["snapshot"].unique())[-2]).to_numpy()
    expected = roc_auc_score(y[val], table["flag"].to_numpy()[val])
    assert 0.98 <= expected < 1.0  # a near copy, not a copy
    res = _train(tmp_path, _table_config(tmp_path / "t.csv", data={"time": "snapshot"}))
    assert res.exit_code == 2, res.output
    assert _only_error_line(res.stderr) == (
        f"error: leakage: 'flag' alone separates the validation labels (ROC-AUC {expected:.3f}, at least 0.98); "
        "leave it out (data.exclude) or list it in allow_leaky")
    _no_run_logged(tmp_path / "wd")


def test_two_leaky_columns_are_named_on_one_line(tmp_path):
    table, y = _near_copy_table()
    table.insert(4, "Naive_Bayes_Classifier_2", np.where(y == 1, 0.99, 0.01) + np.arange(len(y)) * 1e-9)
    table.to_csv(tmp_path / "t.csv", index=False)
    val = (table["snapshot"] == sorted(table["snapshot"].unique())[-2]).to_numpy()
    flag = roc_auc_score(y[val], table["flag"].to_numpy()[val])
    res = _train(tmp_path, _table_config(tmp_path / "t.csv", data={"time": "snapshot"}))
    assert res.exit_code == 2, res.output
    assert _only_error_line(res.stderr) == (
        "error: leakage: 2 features alone separate the validation labels (ROC-AUC at least 0.98, or a copy of the label): "
        f"'flag' ({flag:.3f}), 'Naive_Bayes_Classifier_2' (1.000); leave them out (data.exclude) or list them in allow_leaky")


def test_allow_leaky_trains_and_says_so(tmp_path):
    table, y = _near_copy_table()
    table.to_csv(tmp_path / "t.csv", index=False)
    val = (table["snapshot"] == sorted(table["snapshot"].unique())[-2]).to_numpy()
    expected = roc_auc_score(y[val], table["flag"].to_numpy()[val])
    res = _train(tmp_path, _table_config(tmp_path / "t.csv", data={"time": "snapshot"}, allow_leaky=["flag"]))
    assert res.exit_code == 0, res.output
    out = _one_line(res.output)
    assert f"allow_leaky: flag (validation ROC-AUC {expected:.3f}) kept as asked" in out
    assert "model: runs:/" in out
    assert f"allow_leaky: flag (validation ROC-AUC {expected:.3f}) kept as asked" in _logged_notes(tmp_path / "wd")
    # kept as asked, so not warned about again
    assert "alone separates the test labels" not in out


def test_allow_leaky_naming_no_column_is_refused(tmp_path):
    make_demo_table(600, random_state=0).to_csv(tmp_path / "t.csv", index=False)
    res = _train(tmp_path, _table_config(tmp_path / "t.csv", allow_leaky=["tenure", "Tenure "]))
    assert res.exit_code == 2
    assert _only_error_line(res.stderr).startswith("error: allow_leaky: not a feature of this run: 'Tenure ' (give the column")
    _no_run_logged(tmp_path / "wd")


def test_a_column_that_separates_only_the_test_labels_is_named_in_a_warning(tmp_path):
    # `late_status` is noise until the last snapshot, then the label (3% flipped): an export made at the end
    table = make_demo_table(600, random_state=0, snapshots=5)
    y = _y(table["Churn"])
    rng = np.random.default_rng(4)
    test = (table["snapshot"] == table["snapshot"].max()).to_numpy()
    late = np.where(test, np.where(rng.random(len(y)) < 0.03, 1 - y, y), rng.integers(0, 2, len(y)))
    table.insert(3, "late_status", late)
    table.to_csv(tmp_path / "t.csv", index=False)
    expected = roc_auc_score(y[test], late[test])
    res = _train(tmp_path, _table_config(tmp_path / "t.csv", data={"time": "snapshot"}))
    assert res.exit_code == 0, res.output
    out = _one_line(res.output)
    assert f"WARNING: 'late_status' alone separates the test labels (ROC-AUC {expected:.3f}), far better than the shipped model" in out
    assert "model: runs:/" in out
    logged = [n for n in _logged_notes(tmp_path / "wd") if n.startswith("WARNING: 'late_status'")]
    assert len(logged) == 1 and f"(ROC-AUC {expected:.3f})" in logged[0]


# ---- event data ---------------------------------------------------------------------------


def _events_config(folder) -> dict:
    return small_config(**{"data": {"source": "files", "path": str(folder)}, "model.num_boost_round": 50,
                           "mlflow.experiment": "leaky"})


def test_a_customers_attribute_equal_to_the_future_label_is_refused_naming_the_column(tmp_path):
    events = make_demo_events(1500, random_state=0)
    # the validation cutoff of small_config's split (its label window ends by the test cutoff 2024-10-01)
    labels = churn_labels(events, "2024-07-01", 90, active_days=180).labels
    churned = labels["churned"]  # indexed by customer_id
    customers = events.customers.copy()
    customers["crm_status"] = np.where(customers["customer_id"].map(churned).fillna(0).to_numpy() == 1, "churned", "active")
    folder = save_events_dir(events, tmp_path / "data")
    customers.to_parquet(folder / "customers.parquet", index=False)
    expected = roc_auc_score(churned.to_numpy(), (customers.set_index("customer_id").loc[churned.index, "crm_status"] == "churned").to_numpy())
    res = _train(tmp_path, _events_config(folder))
    assert res.exit_code == 2, res.output
    assert _only_error_line(res.stderr) == (
        f"error: leakage: 'customers.crm_status' alone separates the validation labels (ROC-AUC {expected:.3f}, at least 0.98); "
        "leave it out of the data or list it in allow_leaky")
    _no_run_logged(tmp_path / "wd")


def test_the_honest_demo_trains_without_refusal_or_warning(tmp_path):
    folder = save_events_dir(make_demo_events(1500, random_state=0), tmp_path / "data")
    res = _train(tmp_path, _events_config(folder))
    assert res.exit_code == 0, res.output
    out = _one_line(res.output)
    assert "model: runs:/" in out
    assert "leakage" not in out and "alone separates" not in out and "allow_leaky" not in out
