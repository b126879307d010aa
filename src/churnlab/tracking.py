"""MLflow at the edge: tracking URI checks, run logging and the churn pyfunc model.

The model is logged as ONE MLflow pyfunc model. Its artifacts are LightGBM's own text model
file and a JSON metadata file (feature list, categories, calibration, label definition,
feature-builder state and feature dictionary); churnlab's source travels with it as a code
path, so ``mlflow.pyfunc.load_model(uri).predict(features)`` works in a fresh process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

# MLflow reads this when it is imported: keep download progress bars out of CLI output and logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from churnlab.escaping import to_csv  # noqa: E402
from churnlab.models import MODEL_TYPES, load_model_files  # noqa: E402
from churnlab.models.files import ModelFileError  # noqa: E402
from churnlab.models.lightgbm import PATTERNS_FILE  # noqa: E402
from churnlab.model_signature import input_schema, unused_features  # noqa: E402

__all__ = [
    "ChurnPyfunc",
    "TrackingError",
    "bound_http_requests",
    "check_tracking_readable",
    "check_tracking_uri",
    "experiment_id",
    "default_tracking_uri",
    "load_model_bundle",
    "log_churn_model",
    "tracking_store",
    "use_experiment",
]

PROBA_COLUMN = "churn_probability"


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used."""


def default_tracking_uri(workdir: str | Path) -> str:
    """A server-less SQLite store under ``workdir``."""
    return f"sqlite:///{(Path(workdir).resolve() / 'mlflow.db').as_posix()}"


def tracking_uri_is_set() -> bool:
    """Whether this process names an MLflow store (``MLFLOW_TRACKING_URI`` or
    ``mlflow.set_tracking_uri``) rather than falling back to MLflow's default."""
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

    return bool(is_tracking_uri_set())


#: Seconds and retries for every MLflow HTTP request churnlab makes, unless the environment
#: sets MLFLOW_HTTP_REQUEST_TIMEOUT / MLFLOW_HTTP_REQUEST_MAX_RETRIES itself: a server that
#: never answers fails the command instead of hanging it.
HTTP_TIMEOUT_S, HTTP_MAX_RETRIES = 10, 1


def bound_http_requests() -> None:
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(HTTP_TIMEOUT_S))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(HTTP_MAX_RETRIES))


def _check_server(uri: str, timeout: float, doing: str) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            if resp.status != 200:
                raise TrackingError(f"MLflow tracking server {uri} answered {resp.status} on /health; {doing}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"MLflow tracking server {uri} is unreachable ({reason}); {doing}") from None


def _check_database_driver(uri: str) -> None:
    """A database URI (postgresql://, mysql://, ...) whose SQLAlchemy driver is not installed."""
    try:
        import sqlalchemy

        sqlalchemy.create_engine(uri)  # imports the driver; does not connect
    except ModuleNotFoundError as exc:
        raise TrackingError(f"tracking URI {uri}: its database driver is not installed ({exc.name}); pip install it") from None
    except Exception as exc:
        raise TrackingError(f"tracking URI {uri} is not usable: {exc}") from None


#: Tables every MLflow SQLite store holds: its schema version, its experiments and runs.
MLFLOW_TABLES = ("alembic_version", "experiments", "runs")


def _short(exc: BaseException) -> str:
    """The driver's own message of a (SQLAlchemy-wrapped) database error, on one line."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]


def _check_sqlite_store(path: Path) -> None:
    """A store to read from: a non-empty SQLite database holding MLflow's tables. It is opened
    read-only (``mode=ro``): MLflow would turn an empty or foreign database into a new store."""
    if path.stat().st_size == 0:
        raise TrackingError(f"tracking store {path} is an empty file (0 bytes), not an MLflow store; "
                            "give the database that churnlab train wrote")
    read_only = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(read_only, uri=True, timeout=5)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise TrackingError(f"tracking store {path} cannot be read as an SQLite database ({_short(exc)})") from None
    missing = [t for t in MLFLOW_TABLES if t not in tables]
    if missing:
        raise TrackingError(f"tracking store {path} is an SQLite database without MLflow's tables "
                            f"({', '.join(missing)} missing), not an MLflow store")


@contextlib.contextmanager
def _creation_lock(path: Path):
    """Hold an exclusive ``flock`` while the SQLite store at ``path`` is created: MLflow's schema
    creation fails in the second of two processes creating one store at once ("table ...
    already exists"). The lock is taken on the store's folder, which leaves no file behind;
    on ``<db>.lock`` beside the store where a folder cannot be locked. No lock without fcntl."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            raise
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def mlflow_info_held_back():
    """MLflow's INFO records (a store's schema created or migrated, the input example checked
    against the signature) are not churnlab's output: its ``mlflow`` logger is held at
    WARNING while churnlab creates a store or logs a model, then set back."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def create_sqlite_store(uri: str) -> None:
    """Create the SQLite tracking store at ``uri`` (MLflow's schema), or open an existing one,
    one process at a time.

    Parameters
    ----------
    uri : str
        ``sqlite:///<path>``; its folder exists and is writable (:func:`check_tracking_uri`).

    Raises
    ------
    TrackingError
        The database cannot be created or opened (a full disk, a file that is not a database),
        naming it. A store this call began to create is removed again: a half-created schema
        would fail every later run.
    """
    path = Path(uri[len("sqlite:///") :])
    try:
        with _creation_lock(path):
            fresh = not path.exists()
            try:
                with mlflow_info_held_back():
                    mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
            except Exception as exc:  # every failure becomes a TrackingError: an OSError below is the lock's
                if fresh:
                    for part in (path, path.with_name(path.name + "-journal")):
                        with contextlib.suppress(OSError):
                            part.unlink()
                doing = "create" if fresh else "open"
                raise TrackingError(f"cannot {doing} the tracking database {path}: {_short(exc)}") from None
    except OSError as exc:
        raise TrackingError(f"cannot lock the folder of the tracking database {path} to create it: {exc}") from None


def check_tracking_readable(uri: str, timeout: float = 5.0) -> None:
    """Before reading a model from the store at ``uri``: a server answers, a database or folder
    exists. Never creates a store (MLflow would create an empty SQLite file by opening it)."""
    if uri.startswith(("http://", "https://")):
        _check_server(uri, timeout, "cannot read the model")
    elif uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_file():
            raise TrackingError(f"tracking store {uri} does not exist (give --tracking-uri, or MLFLOW_TRACKING_URI)")
        _check_sqlite_store(path)
    elif uri.startswith("file:") or "://" not in uri:
        path = Path(uri[len("file:") :] if uri.startswith("file:") else uri)
        if not path.is_dir():
            raise TrackingError(f"tracking store {uri} does not exist (give --tracking-uri, or MLFLOW_TRACKING_URI)")
    elif uri.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "mysql", "mssql", "sqlite"):
        _check_database_driver(uri)


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any training, if the tracking store cannot be reached or written; an
    SQLite store is created here (:func:`create_sqlite_store`)."""
    if uri.startswith(("http://", "https://")):
        _check_server(uri, timeout, "training not started")
    elif uri.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "mysql", "mssql"):
        _check_database_driver(uri)
    elif uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"cannot create the folder of the tracking database {path}: {exc}") from exc
        if not os.access(path.parent, os.W_OK):
            raise TrackingError(f"the tracking database folder {path.parent} is not writable")
        create_sqlite_store(uri)
    elif uri.startswith("file:") or "://" not in uri:
        path = Path(uri[len("file:") :] if uri.startswith("file:") else uri)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"cannot create the tracking folder {path}: {exc}") from exc


def tracking_store(tracking_uri: str | None, workdir: str | Path) -> str:
    """The tracking URI to log to (``tracking_uri``, or the SQLite store under ``workdir``),
    checked with :func:`check_tracking_uri` before any work is done."""
    uri = tracking_uri or default_tracking_uri(workdir)
    check_tracking_uri(uri)
    return uri


def use_experiment(name: str, tracking_uri: str, workdir: str | Path | None) -> str:
    """Point MLflow at ``tracking_uri`` and return the id of experiment ``name`` (created when
    missing, its artifacts under ``workdir`` for a local store)."""
    if tracking_uri.startswith("sqlite:///"):
        create_sqlite_store(tracking_uri)  # one process at a time; opening an existing store is quick
    mlflow.set_tracking_uri(tracking_uri)
    return experiment_id(name, tracking_uri, Path(workdir) if workdir is not None else None)


def experiment_id(name: str, tracking_uri: str, workdir: Path | None) -> str:
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if workdir is not None and not tracking_uri.startswith(("http://", "https://")):
        location = (workdir.resolve() / "mlartifacts").as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException as exc:
        # another process (a second training started at once) created it meanwhile
        exp = mlflow.get_experiment_by_name(name) if exc.error_code == "RESOURCE_ALREADY_EXISTS" else None
        if exp is None:
            raise
        return exp.experiment_id


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: feature frame in, churn probability per row out."""

    def load_context(self, context) -> None:
        self.model, self.meta = load_model_files(Path(context.artifacts["metadata"]).parent)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        X = pd.DataFrame(model_input)
        # MLflow passes on the signature's columns alone: the features the model does not read
        # are filled in as missing (no tree splits on them, no coefficient weighs them)
        absent = [f for f in unused_features(self.model) if f not in X.columns]
        if absent:
            X = X.assign(**{f: np.nan for f in absent})
        proba = self.model.churn_probability(X)
        return pd.DataFrame({PROBA_COLUMN: proba}, index=getattr(model_input, "index", None))


def _signature_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The input example as plain JSON-able columns: categoricals as strings (the model
    re-applies its categories to strings and to categoricals alike)."""
    out = X.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def log_churn_model(model, metadata: dict, X_example: pd.DataFrame, register_name: str | None = None):
    """Log the model into the active run; return MLflow's ModelInfo."""
    import churnlab

    with tempfile.TemporaryDirectory() as tmp:
        model_file, meta = Path(tmp) / model.MODEL_FILE, Path(tmp) / "churnlab.json"
        model.to_files(model_file, meta, extra=metadata)
        artifacts = {"model": str(model_file), "metadata": str(meta)}
        patterns = model_file.with_name(PATTERNS_FILE)
        if patterns.exists():  # SHAP values cached at training time (see ChurnModel.cache_explanations)
            artifacts["shap_patterns"] = str(patterns)
        # the input schema names the features the model reads, with their types: MLflow
        # refuses a request without one of them (400) before the model runs
        inputs = input_schema(model, X_example)
        example = _signature_frame(X_example.head(5)[inputs.input_names()])
        outputs = mlflow.models.infer_signature(
            example, pd.DataFrame({PROBA_COLUMN: model.churn_probability(X_example.head(5))})
        ).outputs
        signature = mlflow.models.ModelSignature(inputs=inputs, outputs=outputs)
        with mlflow_info_held_back():
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


def load_model_bundle(model_uri: str) -> tuple[object, dict]:
    """Download a logged churn model and return (model, metadata) for scoring and explaining.

    ``model_uri`` is anything MLflow understands (``runs:/<id>/model``, ``models:/<name>/<v>``,
    a local folder).

    Parameters
    ----------
    model_uri : str
        A run or registry URI (the tracking store is checked first, never created) or a
        folder holding exactly one churnlab model.

    Returns
    -------
    (ChurnModel or LinearChurnModel, dict)
        The model its ``model_type`` names and its metadata (``churnlab.json``).

    Raises
    ------
    TrackingError
        The store or the model cannot be reached or read, or the folder holds several models.

    Examples
    --------
    >>> model, meta = load_model_bundle("runs:/<run id>/model")  # doctest: +SKIP
    """
    # A run's or the registry's model (code included) is downloaded into a folder of
    # churnlab's own, removed once the model is in memory, whether it loaded or not.
    with tempfile.TemporaryDirectory(prefix="churnlab-model-", ignore_cleanup_errors=True) as tmp:
        model, meta = _load_bundle(model_uri, Path(tmp))
        _hold_in_memory(model, Path(tmp), str(model_uri))
    return model, meta


def _hold_in_memory(model, folder: Path, model_uri: str) -> None:
    """Read now what a model would read lazily from ``folder``, which is about to be removed:
    the SHAP patterns cached at training (``from_files`` has read every other file)."""
    saved = getattr(model, "_patterns_file", None)
    if saved is None or not Path(saved).resolve().is_relative_to(folder.resolve()):
        return
    model._patterns_data = Path(saved).read_bytes() if Path(saved).is_file() else None
    model._patterns_file = f"{model_uri.rstrip('/')}/{PATTERNS_FILE}"  # names it in warnings


def _load_bundle(model_uri: str, download_to: Path) -> tuple[object, dict]:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not isinstance(model_uri, (str, Path)):
        raise TypeError(f"`model_uri` must be an MLflow model URI or a folder, got {type(model_uri).__name__}")
    model_uri = str(model_uri)
    if Path(model_uri).is_dir():
        local = Path(model_uri)
    elif "://" in model_uri or model_uri.startswith(("runs:", "models:")):
        bound_http_requests()
        if model_uri.startswith(("runs:", "models:")):
            check_tracking_readable(mlflow.get_tracking_uri())
        try:
            local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(download_to)))
        except Exception as exc:
            detail = " ".join(str(exc).split())[:300]
            raise TrackingError(f"model not found or unreadable: {model_uri} ({detail})") from None
    else:
        raise TrackingError(f"model not found: {model_uri} is neither a folder nor an MLflow URI (runs:/, models:/)")
    metas = sorted(local.rglob("churnlab.json"))
    files = {cls.MODEL_FILE for cls in MODEL_TYPES.values()}
    if len(metas) > 1:
        found = [str(p.relative_to(local)) for p in metas]
        raise TrackingError(f"{model_uri} holds more than one model ({', '.join(found)}); give the folder of one")
    if not metas or not any((metas[0].parent / f).is_file() for f in files):
        raise TrackingError(f"{model_uri} is not a churnlab model (no churnlab.json beside {' or '.join(sorted(files))})")
    try:
        return load_model_files(metas[0].parent)
    except ModelFileError as exc:  # checked before any parser read it: named within the model
        try:
            name = exc.path.relative_to(local).as_posix()
        except ValueError:
            name = exc.path.name
        raise TrackingError(f"model {model_uri}: {name} {exc.problem}; the model cannot be used") from None
    except (OSError, ValueError, KeyError) as exc:
        raise TrackingError(f"{model_uri} is not a readable churnlab model ({exc})") from None


def log_dict_artifact(data: Any, name: str) -> None:
    mlflow.log_text(json.dumps(data, indent=2, default=str, sort_keys=True), name)


def log_frame_artifact(df: pd.DataFrame, name: str) -> None:
    mlflow.log_text(to_csv(df, index=df.index.name is not None or not isinstance(df.index, pd.RangeIndex)), name)


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
