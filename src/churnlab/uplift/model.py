"""The shipped uplift model: the selected meta-learner with the feature builder it was trained
with, saved as files (LightGBM text models and JSON) and logged to MLflow as one pyfunc model
whose ``predict`` returns ``uplift``, ``p_churn_treated`` and ``p_churn_control``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from churnlab.checks import to_timestamp
from churnlab.events import EventTables
from churnlab.features import FeatureBuilder
from churnlab.uplift.learners import OUTPUT_COLUMNS, TLearner, load_learner

__all__ = ["MODEL_FOLDER", "UpliftModel", "UpliftPyfunc", "load_uplift_model", "save_pyfunc"]

MODEL_FOLDER = "uplift"  # the learner's files inside the MLflow model's artifacts
KIND = "churnlab-uplift"

# The MLflow "models from code" entry: written beside the model when it is saved, so no
# module of the package registers a model when it is imported.
_ENTRY = "import mlflow\nfrom churnlab.uplift.model import UpliftPyfunc\n\nmlflow.models.set_model(UpliftPyfunc())\n"


class UpliftModel:
    """A fitted uplift learner and its feature builder.

    Parameters
    ----------
    learner : TLearner or XLearner
    builder : FeatureBuilder
    metadata : dict, optional
        Stored with the model (label definition, evaluation, selection).
    """

    def __init__(self, learner: TLearner, builder: FeatureBuilder, metadata: dict | None = None):
        self.learner = learner
        self.builder = builder
        self.metadata = dict(metadata or {})

    @property
    def feature_names(self) -> list[str]:
        return list(self.learner.feature_names_)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """``uplift``, ``p_churn_treated``, ``p_churn_control`` for a feature frame (index kept)."""
        missing = [c for c in self.feature_names if c not in features.columns]
        if missing:
            raise ValueError(f"features: missing column(s) {missing[:10]} the uplift model was trained on")
        return self.learner.predict(features[self.feature_names])

    def score(self, events: EventTables, as_of, customer_ids=None) -> pd.DataFrame:
        """Features at ``as_of`` (events strictly before it) and the model's three columns,
        indexed by customer id."""
        t = to_timestamp(as_of)
        return self.predict(self.builder.transform(events, t, customer_ids))

    def save(self, folder) -> Path:
        """Write the model into ``folder``; read it back with :meth:`load`."""
        extra = {"model_kind": KIND, "feature_builder": self.builder.to_dict(), "outputs": list(OUTPUT_COLUMNS), **self.metadata}
        return self.learner.save(folder, extra=extra)

    @classmethod
    def load(cls, folder) -> "UpliftModel":
        learner, meta = load_learner(folder)
        if meta.get("model_kind") != KIND:
            raise ValueError(f"{folder}: not a churnlab uplift model (model_kind {meta.get('model_kind')!r})")
        builder = FeatureBuilder.from_dict(meta["feature_builder"])
        skip = {"model_kind", "feature_builder", "outputs", "file_sha256", "metadata_sha256", "kind", "init", "feature_names",
                "treated_share"}
        return cls(learner, builder, {k: v for k, v in meta.items() if k not in skip})


class UpliftPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: feature frame in; ``uplift``, ``p_churn_treated``, ``p_churn_control`` out."""

    def load_context(self, context) -> None:
        self.model = UpliftModel.load(context.artifacts[MODEL_FOLDER])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.predict(pd.DataFrame(model_input))


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("lightgbm", "pandas", "numpy", "scikit-learn", "mlflow", "duckdb", "pydantic", "pyyaml")]


def save_pyfunc(model: UpliftModel, path, X_example: pd.DataFrame) -> Path:
    """Save ``model`` as an MLflow pyfunc model folder at ``path`` (which must not exist):
    churnlab's source travels with it as a code path; loading it runs that code."""
    import churnlab

    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        folder = model.save(Path(tmp) / MODEL_FOLDER)
        entry = Path(tmp) / "uplift_pyfunc_entry.py"
        entry.write_text(_ENTRY)
        example = X_example.head(5).copy()
        for col in example.columns:
            if isinstance(example[col].dtype, pd.CategoricalDtype):
                example[col] = example[col].astype(object).where(example[col].notna(), None)
        outputs = mlflow.models.infer_signature(example, model.predict(X_example.head(5)).reset_index(drop=True)).outputs
        mlflow.pyfunc.save_model(
            str(path), python_model=str(entry), artifacts={MODEL_FOLDER: str(folder)},
            code_paths=[str(Path(churnlab.__file__).parent)],
            signature=mlflow.models.ModelSignature(inputs=None, outputs=outputs),
            pip_requirements=_requirements(),
        )
    return path


def load_uplift_model(model_uri: str, *, tracking_uri: str | None = None) -> UpliftModel:
    """An uplift model from an MLflow URI (``runs:/<id>/model``, read from ``tracking_uri``)
    or a local pyfunc folder :func:`save_pyfunc` wrote.

    Raises
    ------
    churnlab.tracking.TrackingError
        The model cannot be found or read.
    """
    from churnlab.tracking import TrackingError, check_tracking_readable

    with tempfile.TemporaryDirectory(prefix="churnlab-uplift-", ignore_cleanup_errors=True) as tmp:
        if Path(str(model_uri)).is_dir():
            local = Path(str(model_uri))
        else:
            if tracking_uri is not None:
                check_tracking_readable(tracking_uri)
            try:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=str(model_uri), dst_path=tmp, tracking_uri=tracking_uri))
            except Exception as exc:
                raise TrackingError(f"uplift model not found or unreadable: {model_uri} ({' '.join(str(exc).split())[:300]})") from None
        found = sorted(p.parent for p in local.rglob("uplift_learner.json"))
        if len(found) != 1:
            raise TrackingError(f"{model_uri} is not a churnlab uplift model (no single uplift_learner.json)")
        return UpliftModel.load(found[0])
