"""How the CLI fails: one line per problem whatever the terminal, the documented exit code,
no partial file, no store created by reading, bounded waits on tracking servers."""

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import small_config
from typer.testing import CliRunner

import churnlab.workflows.training
from churnlab.atomic import remove_stale_partials
from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.scoring import ScoringModel, score_customers, write_scores
from cli_lines import output_lines

AS_OF = "2024-12-01"
runner = CliRunner()
CLI = [sys.executable, "-m", "churnlab.cli"]


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory, demo_events):
    return save_events_dir(demo_events, tmp_path_factory.mktemp("events"))


def _score_args(trained, events_dir, out):
    result, _ = trained
    return ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events", str(events_dir),
            "--as-of", AS_OF, "--out", str(out)]


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- writing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), PermissionError(errno.EACCES, "Permission denied")],
    ids=["disk-full", "read-only"],
)
def test_a_write_that_fails_is_one_line_exit_2_and_no_file(trained, events_dir, tmp_path, monkeypatch, error):
    def fail(self, table, *a, **k):
        raise error

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)
    # and removing the temporary file fails too: the first error is the one reported
    real_unlink = Path.unlink
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    res = runner.invoke(app, _score_args(trained, events_dir, tmp_path / "s.parquet"))
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert res.exit_code == 2
    assert error.strerror in _only_error_line(res.output)
    assert not (tmp_path / "s.parquet").exists()


def test_stale_partial_files_of_dead_runs_are_removed(trained, demo_events, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".s.parquet.partial-{dead.pid}"
        running = tmp_path / f".s.parquet.partial-{alive.pid}"
        unrelated = tmp_path / f".other.parquet.partial-{dead.pid}"
        for p in (stale, running, unrelated):
            p.write_text("half a file")
        sm = ScoringModel.load(trained[0].model_uri)
        write_scores(score_customers(sm, demo_events, AS_OF, customer_ids=[1, 2], k=0), tmp_path / "s.parquet")
        assert not stale.exists()  # its process is gone
        assert running.exists() and unrelated.exists()  # another run's, another target's
        assert remove_stale_partials(tmp_path / "other.parquet") == [unrelated]
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.slow
def test_sigterm_while_writing_cleans_up_and_exits_143(trained, events_dir, tmp_path):
    """The CLI in its own process, held mid-way through the file; SIGTERM then."""
    out = tmp_path / "out" / "s.parquet"
    out.parent.mkdir()
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import sys, time
        import churnlab.scoring.pipeline as score
        real = score.score_block
        calls = []
        def held(*a, **k):
            calls.append(1)
            if len(calls) == 2:  # the first chunk is in the file: hold the second
                open({str(ready)!r}, "w").close()
                time.sleep(120)
            return real(*a, **k)
        score.score_block = held
        from churnlab.cli import app
        sys.argv = ["churnlab", *{_score_args(trained, events_dir, out) + ["--chunk-size", "300", "--top-k", "0"]!r}]
        app()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline
            time.sleep(0.1)
        # the second chunk is built ahead on a worker thread while the first is written:
        # wait for the first chunk's partial file, not only for the hold
        while not any(p.name.startswith(".s.parquet.partial-") for p in out.parent.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert _only_error_line(err) == "error: terminated (SIGTERM); no output file was written"
    assert list(out.parent.iterdir()) == []


# ---- the error promise ---------------------------------------------------------------


def test_errors_are_one_line_on_a_narrow_terminal(trained, events_dir, tmp_path):
    env = {**os.environ, "COLUMNS": "40", "TERM": "xterm"}
    args = _score_args(trained, events_dir, tmp_path / "s.parquet") + ["--high", "0.1", "--medium", "0.6"]
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert _only_error_line(proc.stderr) == "error: --high (0.1) must be above --medium (0.6)"


def _write_config(tmp_path, **overrides) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(small_config(**overrides)))
    return path


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        ({"model.params": {"num_leaves": "many"}}, 'model.params: LightGBM refuses them: Parameter num_leaves should be of type int, got "many"'),
        ({"model.params": {"nonexistent_param": 3}}, "model.params: `nonexistent_param` is not a LightGBM parameter or alias (got 3)"),
        ({"data": {"source": "files", "path": "no-such-folder"}}, "events folder not found"),
        ({"data": {"source": "files", "path": ".", "timestamp_unit": "fortnight"}}, "data.timestamp_unit"),
    ],
)
def test_bad_training_configs_exit_2_in_one_line(tmp_path, overrides, fragment):
    res = runner.invoke(app, ["train", "--config", str(_write_config(tmp_path, **overrides)), "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 2, res.output
    assert fragment in _only_error_line(res.output)


def test_a_database_tracking_uri_without_its_driver_exits_3(tmp_path):
    import importlib.util

    pytest.importorskip("sqlalchemy")
    # pg8000 is a driver churnlab never installs ([sql] brings psycopg)
    if importlib.util.find_spec("pg8000"):
        pytest.skip("pg8000 is installed here")
    res = runner.invoke(app, ["train", "--config", str(_write_config(tmp_path)), "--workdir", str(tmp_path / "wd"),
                              "--tracking-uri", "postgresql+pg8000://user@127.0.0.1/mlflow"])
    assert res.exit_code == 3
    assert re.search(r"its database driver is not installed \(pg8000\); pip install it$", _only_error_line(res.output))


@pytest.mark.slow
def test_interrupted_mlflow_logging_deletes_the_run_and_says_so(tmp_path, demo_events, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(churnlab.workflows.training, "log_churn_model", interrupted)
    workdir = tmp_path / "wd"
    res = runner.invoke(app, ["train", "--config", str(_write_config(tmp_path)), "--workdir", str(workdir)])
    assert res.exit_code == 130
    line = _only_error_line(res.output)
    assert line.startswith("error: interrupted; the unfinished MLflow run ") and line.endswith("was deleted (mlflow gc removes its files)")
    run_id = line.split("MLflow run ")[1].split()[0]
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"


# ---- reading a model -------------------------------------------------------------------


def test_reading_a_run_uri_never_creates_a_tracking_store(trained, events_dir, tmp_path):
    result, _ = trained
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    args = ["score", "--model", result.model_uri, "--events", str(events_dir), "--as-of", AS_OF, "--out", "s.parquet"]
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 3
    assert "does not exist (give --tracking-uri, or MLFLOW_TRACKING_URI)" in _only_error_line(proc.stderr)
    assert list(tmp_path.iterdir()) == []  # no mlflow.db, no mlruns/, no output


def test_a_refusing_tracking_server_fails_fast_with_exit_3(events_dir, tmp_path):
    start = time.time()
    res = runner.invoke(app, ["score", "--model", "models:/churn/1", "--tracking-uri", f"http://127.0.0.1:{_free_port()}",
                              "--events", str(events_dir), "--as-of", AS_OF, "--out", str(tmp_path / "s.parquet")])
    assert res.exit_code == 3
    assert "is unreachable" in _only_error_line(res.output)
    assert time.time() - start < 30


@pytest.mark.slow
def test_a_silent_tracking_server_fails_within_30_s(events_dir, tmp_path):
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        start = time.time()
        res = runner.invoke(app, ["report", "--model", "models:/churn/1", "--tracking-uri", f"http://127.0.0.1:{listener.getsockname()[1]}",
                                  "--events", str(events_dir), "--as-of", AS_OF, "--out", str(tmp_path / "r.html")])
        elapsed = time.time() - start
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert res.exit_code == 3
    assert "is unreachable (timed out)" in _only_error_line(res.output)
    assert elapsed < 30
