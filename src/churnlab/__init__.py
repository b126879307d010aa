"""churnlab: point-in-time correct customer churn prediction.

The flow, one subpackage a step::

    events -> metrics / labels -> features -> models -> explain -> scoring

with configuration, MLflow tracking, the HTML report, Spark and the CLI at the edges, and
the training and benchmark workflows on top. Everything listed in ``__all__`` is importable
from here; each name is imported when first used, so ``import churnlab`` stays fast (MLflow,
SHAP, numba, matplotlib and Spark load only when a function that needs them runs).

>>> import churnlab as cl
>>> cl.retention_rate(start_count=200, end_count=180, new_count=20)
80.0
"""

from __future__ import annotations

import importlib
import sys

if "ipykernel" in sys.modules and "tqdm.auto" not in sys.modules:
    # In Jupyter, tqdm.auto (imported by MLflow and shap) warns on stderr when ipywidgets is
    # missing; churnlab draws no tqdm bar, so it is imported here with that warning silenced.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            import tqdm.auto  # noqa: F401
        except ImportError:  # pragma: no cover - tqdm comes with MLflow
            pass

__version__ = "0.1.0"

# public name -> the module that defines it
_WHERE = {
    # data in
    "EventTables": "churnlab.events",
    "EventValidationError": "churnlab.events",
    "load_events": "churnlab.events",
    "load_events_dir": "churnlab.events",
    "save_events_dir": "churnlab.events",
    "load_cdnow": "churnlab.datasets",
    "make_demo_events": "churnlab.datasets",
    "make_demo_subscriptions": "churnlab.datasets",
    "make_demo_table": "churnlab.datasets",
    # metrics and labels
    "churn_rate": "churnlab.metrics",
    "churn_rate_between": "churnlab.metrics",
    "cohort_retention": "churnlab.metrics",
    "csat": "churnlab.metrics",
    "historical_clv": "churnlab.metrics",
    "nps": "churnlab.metrics",
    "period_counts": "churnlab.metrics",
    "predictive_clv": "churnlab.metrics",
    "repeat_purchase_rate": "churnlab.metrics",
    "retention_rate": "churnlab.metrics",
    "retention_rate_between": "churnlab.metrics",
    "LabelResult": "churnlab.labels",
    "churn_labels": "churnlab.labels",
    "label_data_end": "churnlab.labels",
    # features
    "FeatureBuilder": "churnlab.features",
    "FeatureConfig": "churnlab.features",
    "TrainingSet": "churnlab.features",
    "build_features": "churnlab.features",
    "build_training_set": "churnlab.features",
    "make_cutoffs": "churnlab.features",
    # models
    "BGNBD": "churnlab.models",
    "BGNBDAlive": "churnlab.models",
    "ChurnModel": "churnlab.models",
    "GammaGamma": "churnlab.models",
    "LinearChurnModel": "churnlab.models",
    "RFMLogistic": "churnlab.models",
    "RecencyRule": "churnlab.models",
    "compare_models": "churnlab.models",
    "evaluate_scores": "churnlab.models",
    "rfm_summary": "churnlab.models",
    "empc": "churnlab.models.profit",
    "search_lightgbm": "churnlab.models",
    "select_model": "churnlab.workflows.compare",
    "time_split": "churnlab.models",
    # explain
    "global_drivers": "churnlab.explain",
    "probability_contributions": "churnlab.explain",
    "segment_drivers": "churnlab.explain",
    "shap_values": "churnlab.explain",
    "top_drivers": "churnlab.explain",
    # scoring
    "SchemaMismatchError": "churnlab.scoring",
    "ScoringModel": "churnlab.scoring",
    "risk_tiers": "churnlab.scoring",
    "score_customers": "churnlab.scoring",
    "score_table": "churnlab.scoring",
    "write_scores": "churnlab.scoring",
    "customer_value": "churnlab.scoring.value",
    "expected_profit": "churnlab.scoring.campaign",
    "add_campaign": "churnlab.scoring.campaign",
    "value_source": "churnlab.scoring.campaign",
    # monitoring
    "feature_drift": "churnlab.monitor",
    "realized_performance": "churnlab.monitor",
    # edges: config, tracking, report, Spark
    "ConfigError": "churnlab.config",
    "TrainConfig": "churnlab.config",
    "load_config": "churnlab.config",
    "load_campaign": "churnlab.config",
    "parse_config": "churnlab.config",
    "load_model_bundle": "churnlab.tracking",
    "build_report": "churnlab.report",
    "write_report": "churnlab.report",
    "register_churn_udf": "churnlab.spark",
    "spark_features": "churnlab.spark",
    "spark_predict": "churnlab.spark",
    "spark_score": "churnlab.spark",
    "spark_session": "churnlab.spark",
    "to_spark_tables": "churnlab.spark",
    # workflows
    "TrainResult": "churnlab.workflows.training",
    "train": "churnlab.workflows.training",
    "train_uplift": "churnlab.uplift.train",
    "backtest": "churnlab.workflows.backtest",
    "CDNOW_PROTOCOL": "churnlab.workflows.experiments",
    "cdnow_ablation": "churnlab.workflows.experiments",
    "cdnow_benchmark": "churnlab.workflows.experiments",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'churnlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
