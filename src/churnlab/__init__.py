"""churnlab: point-in-time correct customer churn prediction.

events -> metrics / labels -> features -> model -> explain -> score
"""

__version__ = "0.1.0"

from churnlab.baselines import BGNBDAlive, RecencyRule, RFMLogistic
from churnlab.bgnbd import BGNBD, rfm_summary
from churnlab.config import ConfigError, TrainConfig, load_config, parse_config
from churnlab.datasets import load_cdnow, make_demo_events
from churnlab.evaluate import calibration_table, compare_models, evaluate_scores, gains_table
from churnlab.events import EventTables, EventValidationError, load_events, load_events_dir, save_events_dir
from churnlab.features import (
    CustomerRowIndex,
    FeatureBuilder,
    FeatureConfig,
    TrainingSet,
    build_features,
    build_training_set,
    make_cutoffs,
)
from churnlab.labels import LabelResult, churn_labels
from churnlab.metrics import (
    churn_rate,
    churn_rate_between,
    cohort_retention,
    csat,
    historical_clv,
    nps,
    period_counts,
    predictive_clv,
    repeat_purchase_rate,
    retention_rate,
    retention_rate_between,
)
from churnlab.model import ChurnModel, time_split
from churnlab.experiments import CDNOW_PROTOCOL, cdnow_ablation, cdnow_benchmark
from churnlab.explain import explain, global_drivers, probability_contributions, segment_drivers, tidy_shap, top_drivers
from churnlab.report import build_report, write_report
from churnlab.score import ScoringModel, SchemaMismatchError, risk_tiers, score_customers, write_scores
from churnlab.spark import register_churn_udf, spark_features, spark_predict, spark_score, spark_session, to_spark_tables
from churnlab.tracking import load_model_bundle
from churnlab.training import TrainResult, train

__all__ = [
    "__version__",
    "BGNBD",
    "BGNBDAlive",
    "CDNOW_PROTOCOL",
    "ChurnModel",
    "ConfigError",
    "EventTables",
    "EventValidationError",
    "CustomerRowIndex",
    "FeatureBuilder",
    "FeatureConfig",
    "LabelResult",
    "RFMLogistic",
    "RecencyRule",
    "SchemaMismatchError",
    "ScoringModel",
    "TrainConfig",
    "TrainResult",
    "TrainingSet",
    "build_features",
    "build_report",
    "build_training_set",
    "calibration_table",
    "cdnow_ablation",
    "cdnow_benchmark",
    "churn_labels",
    "churn_rate",
    "churn_rate_between",
    "cohort_retention",
    "compare_models",
    "csat",
    "evaluate_scores",
    "explain",
    "gains_table",
    "global_drivers",
    "historical_clv",
    "load_cdnow",
    "load_config",
    "load_events",
    "load_events_dir",
    "load_model_bundle",
    "make_cutoffs",
    "make_demo_events",
    "nps",
    "parse_config",
    "period_counts",
    "predictive_clv",
    "probability_contributions",
    "register_churn_udf",
    "repeat_purchase_rate",
    "retention_rate",
    "retention_rate_between",
    "rfm_summary",
    "risk_tiers",
    "save_events_dir",
    "score_customers",
    "segment_drivers",
    "spark_features",
    "spark_predict",
    "spark_score",
    "spark_session",
    "tidy_shap",
    "time_split",
    "to_spark_tables",
    "top_drivers",
    "train",
    "write_report",
    "write_scores",
]
