"""The report and the model's MLflow run: the run a model URI comes from, the test period's
calibration tables that run holds, and the report logged to it as an artifact.

Every function takes the tracking URI explicitly and talks to that store through its own
:class:`mlflow.MlflowClient`; none reads or changes the process's MLflow settings. A store
is checked with :func:`churnlab.tracking.check_tracking_readable` first, so a missing SQLite
file is reported, never created.
"""

from __future__ import annotations

import io
import re
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from churnlab.tracking import TrackingError, bound_http_requests, check_tracking_readable

__all__ = ["REPORT_ARTIFACT_DIR", "log_report", "model_run_id", "run_reliability"]

#: The run's folder the report is logged into.
REPORT_ARTIFACT_DIR = "report"

_RUN_URI = re.compile(r"^runs:/+([^/]+)")


def _client(tracking_uri: str):
    import mlflow

    bound_http_requests()
    check_tracking_readable(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _local_run_id(folder: Path) -> str | None:
    """The ``run_id`` of the MLmodel file in a downloaded model folder, if any."""
    import yaml

    for mlmodel in sorted(Path(folder).rglob("MLmodel"))[:1]:
        try:
            run_id = (yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}).get("run_id")
        except (OSError, yaml.YAMLError):
            return None
        return str(run_id) if run_id else None
    return None


def model_run_id(model_uri: str, *, tracking_uri: str | None, metadata: dict | None = None) -> str | None:
    """The id of the MLflow run that logged the model at ``model_uri``, or None for an
    untracked model.

    ``runs:/<run id>/...`` names it; ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
    ``models:/<name>/latest`` and ``models:/<model id>`` are looked up in the registry at
    ``tracking_uri``; a local folder gives the ``run_id`` of its ``MLmodel`` file, else of
    ``metadata``.

    Raises
    ------
    TrackingError
        The store cannot be read, or it does not know the model.

    Examples
    --------
    >>> model_run_id("runs:/0123abcd/model", tracking_uri=None)
    '0123abcd'
    >>> model_run_id("/nowhere/model", tracking_uri=None, metadata={}) is None
    True
    """
    model_uri = str(model_uri)
    hit = _RUN_URI.match(model_uri)
    if hit:
        return hit.group(1)
    if model_uri.startswith("models:/"):
        if not tracking_uri:
            raise TrackingError(f"{model_uri}: no tracking URI to look the model up in")
        client = _client(tracking_uri)
        rest = model_uri[len("models:/"):].strip("/")
        try:
            if "@" in rest:
                name, alias = rest.split("@", 1)
                return client.get_model_version_by_alias(name, alias).run_id
            name, _, version = rest.rpartition("/")
            if not name:  # models:/<model id>: a logged model of MLflow 3
                return client.get_logged_model(rest).source_run_id
            if version.isdigit():
                return client.get_model_version(name, version).run_id
            versions = client.search_model_versions(f"name = '{name}'")
            chosen = [v for v in versions if version.lower() == "latest" or str(v.current_stage).lower() == version.lower()]
            if not chosen:
                raise TrackingError(f"{model_uri}: no version {version!r} of model {name!r} in {tracking_uri}")
            return max(chosen, key=lambda v: int(v.version)).run_id
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(f"{model_uri}: cannot look the model up in {tracking_uri} ({' '.join(str(exc).split())[:200]})") from None
    if Path(model_uri).is_dir():
        found = _local_run_id(Path(model_uri))
        if found:
            return found
    run_id = (metadata or {}).get("run_id")
    return str(run_id) if run_id else None


def run_reliability(run_id: str, model_name: str, *, tracking_uri: str) -> pd.DataFrame | None:
    """The test period's calibration table of ``model_name`` that training logged to the run
    (``calibration/<model>.csv``: ``bin, n, mean_predicted, observed_rate``), or None when the
    run has none or cannot be read (a warning says why)."""
    try:
        client = _client(tracking_uri)
        with tempfile.TemporaryDirectory(prefix="churnlab-calibration-") as tmp:
            local = client.download_artifacts(run_id, f"calibration/{model_name}.csv", dst_path=tmp)
            text = Path(local).read_text(encoding="utf-8")
    except Exception as exc:
        warnings.warn(f"run {run_id}: no calibration table for {model_name} ({' '.join(str(exc).split())[:200]})",
                      UserWarning, stacklevel=2)
        return None
    table = pd.read_csv(io.StringIO(text))
    return table if {"mean_predicted", "observed_rate"} <= set(table.columns) else None


def log_report(path: str | Path, run_id: str, *, tracking_uri: str) -> str | None:
    """Log the report file at ``path`` to the run ``run_id`` under ``report/``; return the
    artifact's URI, or None with a warning when the store cannot take it (unreachable,
    read-only, the run deleted). The file itself is left as it is.

    Parameters
    ----------
    path : str or Path
        The written report.
    run_id : str
    tracking_uri : str

    Returns
    -------
    str or None

    Examples
    --------
    >>> log_report("review.html", "<run id>", tracking_uri="sqlite:///models/mlflow.db")  # doctest: +SKIP
    'file:///.../mlartifacts/<run id>/artifacts/report/review.html'
    """
    path = Path(path)
    try:
        client = _client(tracking_uri)
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise TrackingError(f"the run is {run.info.lifecycle_stage}")
        client.log_artifact(run_id, str(path), artifact_path=REPORT_ARTIFACT_DIR)
    except Exception as exc:
        warnings.warn(f"report not logged to MLflow run {run_id} in {tracking_uri}: {' '.join(str(exc).split())[:300]}; "
                      f"the file {path} is written", UserWarning, stacklevel=2)
        return None
    return f"{run.info.artifact_uri.rstrip('/')}/{REPORT_ARTIFACT_DIR}/{path.name}"
