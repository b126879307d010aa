"""MLflow at the edge: tracking URI checks, run logging and the churn pyfunc model.

The model is logged as ONE MLflow pyfunc model. Its artifacts are LightGBM's own text model
file and a JSON metadata file (feature list, categories, calibration, label definition,
feature-builder state and feature dictionary); churnlab's source travels with it as a code
path, so ``mlflow.pyfunc.load_model(uri).predict(features)`` works in a fresh process.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# MLflow reads this when it is imported: keep download progress bars out of CLI output and logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from churnlab.model import PATTERNS_FILE, ChurnModel  # noqa: E402

__all__ = [
    "ChurnPyfunc",
    "TrackingError",
    "check_tracking_uri",
    "default_tracking_uri",
    "load_model_bundle",
    "log_churn_model",
]

PROBA_COLUMN = "churn_probability"


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used."""


def default_tracking_uri(workdir: str | Path) -> str:
    """A server-less SQLite store under ``workdir``."""
    return f"sqlite:///{(Path(workdir).resolve() / 'mlflow.db').as_posix()}"


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any training, if the tracking store cannot be reached or written."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise TrackingError(f"MLflow tracking server {uri} answered {resp.status} on /health")
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingError(f"MLflow tracking server {uri} is unreachable ({exc}); training not started") from exc
    elif uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"cannot create the folder of the tracking database {path}: {exc}") from exc
        if not os.access(path.parent, os.W_OK):
            raise TrackingError(f"the tracking database folder {path.parent} is not writable")
    elif uri.startswith("file:") or "://" not in uri:
        path = Path(uri[len("file:") :] if uri.startswith("file:") else uri)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"cannot create the tracking folder {path}: {exc}") from exc


def _experiment_id(name: str, tracking_uri: str, workdir: Path | None) -> str:
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if workdir is not None and not tracking_uri.startswith(("http://", "https://")):
        location = (workdir.resolve() / "mlartifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: feature frame in, churn probability per row out."""

    def load_context(self, context) -> None:
        self.model, self.meta = ChurnModel.from_files(context.artifacts["booster"], context.artifacts["metadata"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        proba = self.model.predict_proba(pd.DataFrame(model_input))
        return pd.DataFrame({PROBA_COLUMN: proba}, index=getattr(model_input, "index", None))


def _signature_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Categoricals travel as strings through MLflow's schema; the model re-applies categories."""
    out = X.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def log_churn_model(model: ChurnModel, metadata: dict, X_example: pd.DataFrame, register_name: str | None = None):
    """Log the model into the active run; return MLflow's ModelInfo."""
    import churnlab

    with tempfile.TemporaryDirectory() as tmp:
        booster, meta = Path(tmp) / "model.txt", Path(tmp) / "churnlab.json"
        model.to_files(booster, meta, extra=metadata)
        artifacts = {"booster": str(booster), "metadata": str(meta)}
        patterns = booster.with_name(PATTERNS_FILE)
        if patterns.exists():  # SHAP values cached at training time (see ChurnModel.cache_explanations)
            artifacts["shap_patterns"] = str(patterns)
        example = _signature_frame(X_example.head(5))
        signature = mlflow.models.infer_signature(example, pd.DataFrame({PROBA_COLUMN: model.predict_proba(X_example.head(5))}))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("_pyfunc_model.py")),  # models from code: no pickle
            artifacts=artifacts,
            code_paths=[str(Path(churnlab.__file__).parent)],
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
            registered_model_name=register_name,
        )


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow", "duckdb", "pydantic", "pyyaml")]


def load_model_bundle(model_uri: str) -> tuple[ChurnModel, dict]:
    """Download a logged churn model and return (ChurnModel, metadata) for scoring and explaining.

    ``model_uri`` is anything MLflow understands (``runs:/<id>/model``, ``models:/<name>/<v>``,
    a local folder).
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        local = Path(model_uri) if Path(model_uri).is_dir() else Path(mlflow.artifacts.download_artifacts(model_uri))
    except Exception as exc:
        raise FileNotFoundError(f"model not found or unreadable: {model_uri} ({exc})") from exc
    booster = next(local.rglob("model.txt"), None)
    meta = next(local.rglob("churnlab.json"), None)
    if booster is None or meta is None:
        raise FileNotFoundError(f"{model_uri} is not a churnlab model (no model.txt/churnlab.json artifacts)")
    return ChurnModel.from_files(booster, meta)


def log_dict_artifact(data: Any, name: str) -> None:
    mlflow.log_text(json.dumps(data, indent=2, default=str, sort_keys=True), name)


def log_frame_artifact(df: pd.DataFrame, name: str) -> None:
    mlflow.log_text(df.to_csv(index=df.index.name is not None or not isinstance(df.index, pd.RangeIndex)), name)


def log_png_artifacts(figs: dict[str, bytes], folder: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in figs.items():
            (Path(tmp) / name).write_bytes(png)
        mlflow.log_artifacts(tmp, folder)


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, (list, tuple, np.ndarray)) else json.dumps(list(v), default=str)
    return out
