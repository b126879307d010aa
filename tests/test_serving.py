"""The logged pyfunc model behind a real ``mlflow models serve`` on 127.0.0.1: its signature
names the features it reads, a request with them is answered with the in-process
probabilities, a request without some of them gets MLflow's 400 naming them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.types.schema import AnyType, DataType

from churnlab.model_signature import input_schema, unused_features, used_features

pytestmark = pytest.mark.slow

AS_OF = "2024-10-01"


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _json_rows(X: pd.DataFrame) -> list[list]:
    """Cells as plain Python values: floats round-trip exactly through ``json`` (repr), text
    as text, missing as null."""
    return X.astype(object).where(X.notna(), None).to_numpy().tolist()


@contextlib.contextmanager
def _served(model_uri: str, tracking_uri: str, log: Path, timeout_s: float = 240.0):
    """``mlflow models serve`` as a subprocess of this venv; yields its base URL once /ping
    answers; stopped (its process group) on the way out."""
    port = _free_port()
    exe = Path(sys.executable)
    cli = [str(exe.with_name("mlflow"))] if exe.with_name("mlflow").is_file() else [str(exe), "-m", "mlflow"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
           "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # the server runs uvicorn from PATH
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*cli, "models", "serve", "-m", model_uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow models serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as resp:
                    if resp.status == 200:
                        break
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve did not answer /ping within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(1.0)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the group: mlflow and the uvicorn it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def features(trained, demo_events):
    result, _ = trained
    X = result.builder.transform(demo_events, AS_OF).head(60)
    return X[result.training_set.feature_names]


def test_the_signature_names_the_features_the_model_reads_with_their_types(trained, features):
    result, _ = trained
    sig = mlflow.models.get_model_info(result.model_uri).signature
    schema = sig.inputs
    names = schema.input_names()
    assert names == used_features(result.model) and names  # training order
    assert not set(names) & set(unused_features(result.model))
    assert all(spec.required for spec in schema.inputs)
    for spec in schema.inputs:
        dtype = features[spec.name].dtype
        expected = AnyType() if isinstance(dtype, pd.CategoricalDtype) else DataType.double
        assert spec.type == expected, spec.name
    assert sig.outputs.input_names() == ["churn_probability"]
    if hasattr(result.model, "booster_"):  # what is left out is what no tree splits on
        split = dict(zip(result.model.booster_.feature_name(), result.model.booster_.feature_importance("split")))
        assert all(split[f] == 0 for f in unused_features(result.model))
        assert sum(split[f] for f in names) > 0


def test_input_schema_refuses_a_frame_without_a_feature(trained, features):
    result, _ = trained
    first = used_features(result.model)[0]
    with pytest.raises(ValueError, match=first):
        input_schema(result.model, features.drop(columns=[first]))


def test_a_local_mlflow_server_answers_with_the_in_process_probabilities(trained, features, tmp_path):
    result, _ = trained
    used = used_features(result.model)
    in_process = mlflow.pyfunc.load_model(result.model_uri).predict(features)["churn_probability"].to_numpy()
    np.testing.assert_array_equal(in_process, result.model.churn_probability(features))
    # the features the model does not read may be left out of the frame
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(result.model_uri).predict(features[used])["churn_probability"].to_numpy(), in_process)

    with _served(result.model_uri, result.tracking_uri, tmp_path / "serve.log") as url:
        status, body = _post(f"{url}/invocations", {"dataframe_split": {"columns": used, "data": _json_rows(features[used])}})
        assert status == 200, body
        served = np.array([row["churn_probability"] for row in body["predictions"]])
        np.testing.assert_allclose(served, in_process, rtol=1e-12, atol=0)

        records = [dict(zip(used, row)) for row in _json_rows(features[used].head(5))]
        status, body = _post(f"{url}/invocations", {"dataframe_records": records})
        assert status == 200, body
        np.testing.assert_allclose([r["churn_probability"] for r in body["predictions"]], in_process[:5], rtol=1e-12)

        # two features left out: one 400 naming both, no traceback
        dropped = [used[0], used[-1]]
        kept = [c for c in used if c not in dropped]
        status, body = _post(f"{url}/invocations", {"dataframe_split": {"columns": kept, "data": _json_rows(features[kept])}})
        assert status == 400, body
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"Model is missing inputs {dropped}" in body["message"]
        assert "stack_trace" not in body and "Traceback" not in body["message"]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
