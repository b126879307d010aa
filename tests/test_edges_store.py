"""The MLflow store at the edges: two trainings creating one store at once, a full disk, no
model copy left in TMPDIR, and reading never writes a store."""

import hashlib
import logging
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import sqlalchemy.exc
import yaml
from conftest import small_config
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.scoring import ScoringModel
from churnlab.tracking import TrackingError, create_sqlite_store, load_model_bundle
from cli_lines import output_lines

AS_OF = "2024-12-01"
runner = CliRunner()
CLI = [sys.executable, "-m", "churnlab.cli"]


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory, demo_events):
    return save_events_dir(demo_events, tmp_path_factory.mktemp("events"))


def _write_config(folder: Path, **overrides) -> Path:
    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(small_config(**overrides)))
    return path


# ---- two processes creating one store --------------------------------------------------


def test_two_processes_creating_one_fresh_store_at_once_both_succeed(tmp_path):
    """Both processes are held until both have imported churnlab, then create the store, the
    experiment and a run at the same moment (without the lock, one failed with "table ...
    already exists" nearly every time)."""
    workdir = tmp_path / "wd"
    go = tmp_path / "go"
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        import mlflow
        from churnlab.tracking import tracking_store, use_experiment
        workdir, go, ready = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
        ready.touch()
        while not go.exists():
            time.sleep(0.005)
        uri = tracking_store(None, workdir)  # creates the SQLite store under workdir
        exp = use_experiment("race", uri, workdir)
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.log_param("process", sys.argv[3])
        print(exp, run.info.run_id)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(workdir), str(go), str(tmp_path / f"ready{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        deadline = time.time() + 120
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.time() < deadline
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs
    experiments = {out.split()[0] for out, _ in outputs}
    assert len(experiments) == 1  # one experiment, found by the second process
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs(list(experiments))
    assert sorted(r.data.params["process"] for r in runs) == sorted(str(tmp_path / f"ready{i}") for i in range(2))
    assert sorted(p.name for p in workdir.iterdir()) == ["mlflow.db"]  # no lock file left beside it


# ---- a full disk ---------------------------------------------------------------------------


def _limit_file_size(limit: int):
    def preexec():  # writes beyond `limit` bytes fail with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_a_store_that_cannot_be_written_fails_before_training_in_one_line(tmp_path):
    """The disk fills while MLflow creates its tables: exit 3 before any training, one line
    naming the database, and no half-created store left (it would fail every later run)."""
    config = _write_config(tmp_path)
    workdir = tmp_path / "wd"
    start = time.time()
    proc = subprocess.run([*CLI, "train", "--config", str(config), "--workdir", str(workdir)], capture_output=True,
                          text=True, timeout=300, preexec_fn=_limit_file_size(64 * 1024))
    assert proc.returncode == 3, proc.stderr
    db = (workdir / "mlflow.db").resolve()
    assert _only_error_line(proc.stderr) == f"error: cannot create the tracking database {db}: disk I/O error"
    assert proc.stdout == ""
    assert list(workdir.iterdir()) == []
    assert time.time() - start < 120  # no training was done first


def test_mlflow_and_sqlalchemy_error_logs_stay_out_of_the_output(tmp_path, monkeypatch):
    """What MLflow and SQLAlchemy log while the disk is full (an ERROR with the traceback and
    the SQL, the pool's own errors, alembic's progress) never reaches the output: one line."""
    import mlflow.store.db.utils as db_utils

    def full_disk(engine):
        logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 451aebb31d03, add metric step")
        logging.getLogger("alembic.runtime.migration").info("Will assume non-transactional DDL.")
        driver_error = sqlite3.OperationalError("database or disk is full")
        try:
            raise sqlalchemy.exc.OperationalError("CREATE TABLE metrics (key VARCHAR(250) NOT NULL, ...)", {}, driver_error)
        except sqlalchemy.exc.OperationalError as exc:
            logging.getLogger("mlflow.store.db.utils").exception("SQLAlchemy database error. The following exception is caught.")
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").error("Exception during reset or similar", exc_info=True)
            logging.getLogger("sqlalchemy.engine.Engine").error("ROLLBACK failed", exc_info=True)
            raise exc

    monkeypatch.setattr(db_utils, "_initialize_tables", full_disk)
    workdir = tmp_path / "wd"
    res = runner.invoke(app, ["train", "--config", str(_write_config(tmp_path)), "--workdir", str(workdir)])
    assert res.exit_code == 3, res.output
    db = (workdir / "mlflow.db").resolve()
    assert _only_error_line(res.output) == f"error: cannot create the tracking database {db}: database or disk is full"
    assert list(workdir.iterdir()) == []
    # the libraries' loggers are as they were once the command is done
    assert logging.getLogger("sqlalchemy.pool").handlers == [] and logging.getLogger("sqlalchemy.pool").propagate


def test_library_warnings_are_one_line_each_and_errors_are_held_until_success(trained, events_dir, tmp_path, monkeypatch):
    """A command that succeeds: an MLflow warning with a traceback prints as its first line,
    an error it logged (and recovered from) as a warning line after the work, no traceback."""
    import churnlab.tracking as tracking

    real = tracking.check_tracking_readable

    def noisy(uri, timeout=5.0):
        try:
            raise RuntimeError("inner detail")
        except RuntimeError:
            logging.getLogger("mlflow.utils.requirements_utils").warning("a warning\nwith a second line", exc_info=True)
            logging.getLogger("mlflow.store.db.utils").error("an error recovered from", exc_info=True)
        return real(uri, timeout)

    monkeypatch.setattr(tracking, "check_tracking_readable", noisy)
    result, _ = trained
    out = tmp_path / "s.parquet"
    res = runner.invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events",
                              str(events_dir), "--as-of", AS_OF, "--out", str(out), "--top-k", "0"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("warning: mlflow")]
    assert lines == ["warning: mlflow: a warning", "warning: mlflow: an error recovered from"]
    assert "Traceback" not in res.output and "inner detail" not in res.output
    assert out.is_file()


@pytest.mark.slow
def test_train_on_a_full_disk_while_logging_the_run_is_one_line(tmp_path):
    """The store is created, training runs, and the disk fills while the run is logged."""
    sizing = tmp_path / "sizing"
    sizing.mkdir()
    create_sqlite_store(f"sqlite:///{sizing / 'mlflow.db'}")
    fresh = (sizing / "mlflow.db").stat().st_size
    config = _write_config(tmp_path, **{"data.demo_customers": 600, "model.num_boost_round": 50})
    proc = subprocess.run([*CLI, "train", "--config", str(config), "--workdir", str(tmp_path / "wd")], capture_output=True,
                          text=True, timeout=600, preexec_fn=_limit_file_size(fresh))
    assert proc.returncode == 3, proc.stderr
    line = _only_error_line(proc.stderr)
    assert "disk I/O error" in line and "MLflow run" in line


# ---- no model copy left in TMPDIR ------------------------------------------------------------


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # tempfile reads TMPDIR once
    return folder


def test_loading_a_run_or_registry_model_leaves_nothing_in_tmpdir(trained, demo_events, own_tmpdir, tmp_path):
    result, _ = trained
    run_model = ScoringModel.load(result.model_uri)
    assert list(own_tmpdir.iterdir()) == []
    registry_model = ScoringModel.load("models:/churnlab-test/1")
    assert list(own_tmpdir.iterdir()) == []
    # the SHAP patterns cached at training were read before the download was removed: the
    # explanations equal those of the model loaded from a folder that stays
    kept = Path(mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path / "kept")))
    local_model = ScoringModel.load(str(kept))
    assert run_model.model._patterns_data is not None
    X = run_model.features(demo_events, AS_OF).head(50)
    for sm in (run_model, registry_model):
        np.testing.assert_array_equal(sm.model.contributions(X), local_model.model.contributions(X))
        assert sm.model._engine().n_stored == local_model.model._engine().n_stored > 0
    assert list(own_tmpdir.iterdir()) == []


def test_the_spark_model_copy_lives_until_the_process_exits_then_is_removed(trained, tmp_path):
    # Spark's executors read the model folder whenever a DataFrame is evaluated: one copy per
    # process and URI, in churnlab's folder, removed at exit
    result, _ = trained
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    code = textwrap.dedent(f"""
        import mlflow, os, sys
        from churnlab.spark import _local_model_dir
        mlflow.set_tracking_uri({result.tracking_uri!r})
        first = _local_model_dir({result.model_uri!r})
        assert first == _local_model_dir({result.model_uri!r}), "downloaded twice"
        assert first.startswith({str(folder)!r}) and os.path.isfile(os.path.join(first, "MLmodel")), first
        print(len(os.listdir({str(folder)!r})))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "TMPDIR": str(folder)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1"]
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("path", ["no-such-artifact", "config.json"], ids=["download-fails", "not-a-model"])
def test_a_failed_load_leaves_nothing_in_tmpdir(trained, own_tmpdir, path):
    result, _ = trained
    uri = f"runs:/{result.run_id}/{path}"
    with pytest.raises(TrackingError) as err:
        load_model_bundle(uri)
    assert uri in str(err.value)
    assert list(own_tmpdir.iterdir()) == []


# ---- reading never writes a store ----------------------------------------------------------------


def _sqlite_without_mlflow_tables(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    "make,problem",
    [
        (lambda p: p.write_bytes(b""),
         "is an empty file (0 bytes), not an MLflow store; give the database that churnlab train wrote"),
        (lambda p: p.write_bytes(b"name,value\nnot,a database\n" * 40),
         "cannot be read as an SQLite database (file is not a database)"),
        (_sqlite_without_mlflow_tables,
         "is an SQLite database without MLflow's tables (alembic_version, experiments, runs missing), not an MLflow store"),
    ],
    ids=["empty", "not-a-database", "foreign-database"],
)
@pytest.mark.parametrize("command", ["score", "report"])
def test_reading_from_a_store_that_is_not_one_leaves_it_untouched(trained, events_dir, tmp_path, make, problem, command):
    result, _ = trained
    store = tmp_path / "store"
    store.mkdir()
    db = store / "mlflow.db"
    make(db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out = tmp_path / ("s.parquet" if command == "score" else "r.html")
    res = runner.invoke(app, [command, "--model", result.model_uri, "--tracking-uri", f"sqlite:///{db}", "--events",
                              str(events_dir), "--as-of", AS_OF, "--out", str(out)])
    assert res.exit_code == 3, res.output
    assert _only_error_line(res.output) == f"error: tracking store {db} {problem}"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in store.iterdir()) == ["mlflow.db"]  # no journal, no mlruns
    assert not out.exists()
