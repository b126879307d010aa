"""Batch scoring: features at ``as_of`` -> churn probability -> risk tier -> reasons -> file.

- :mod:`~churnlab.scoring.model`: :class:`ScoringModel`, a trained model with its feature
  builder, dictionary and label definition;
- :mod:`~churnlab.scoring.tiers`: risk tiers;
- :mod:`~churnlab.scoring.pipeline`: :func:`score_customers`, chunk by chunk;
- :mod:`~churnlab.scoring.output`: :func:`write_scores`, atomic Parquet/CSV files.
"""

from churnlab.scoring.model import SchemaMismatchError, ScoringModel
from churnlab.scoring.output import write_scores
from churnlab.scoring.pipeline import prefetch, score_block, score_customers, score_table
from churnlab.scoring.tiers import DEFAULT_THRESHOLDS, TIERS, check_thresholds, risk_tiers

__all__ = [
    "DEFAULT_THRESHOLDS",
    "TIERS",
    "SchemaMismatchError",
    "ScoringModel",
    "check_thresholds",
    "prefetch",
    "risk_tiers",
    "score_block",
    "score_customers",
    "score_table",
    "write_scores",
]
