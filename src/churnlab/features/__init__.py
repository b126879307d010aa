"""Point-in-time features at a cutoff ``as_of``, from events strictly before it.

- :mod:`~churnlab.features.config`: what is computed (:class:`FeatureConfig`);
- :mod:`~churnlab.features.sql`: the logic, as SQL for DuckDB and Spark;
- :mod:`~churnlab.features.builder`: :class:`FeatureBuilder`, fitted once, run at any cutoff;
- :mod:`~churnlab.features.dictionary`: what each feature means and how its reason reads;
- :mod:`~churnlab.features.row_index` and :mod:`~churnlab.features.engine`: chunked
  batch scoring (row index, shared DuckDB databases);
- :mod:`~churnlab.features.snapshots`: training snapshots over many cutoffs.
"""

from churnlab.features.builder import FeatureBuilder, build_features
from churnlab.features.config import FeatureConfig
from churnlab.features.dictionary import describe_feature
from churnlab.features.engine import shared_databases
from churnlab.features.row_index import CustomerRowIndex
from churnlab.features.snapshots import TrainingSet, build_training_set, make_cutoffs
from churnlab.features.sql import DUCKDB, SPARK, feature_sql

__all__ = [
    "DUCKDB",
    "SPARK",
    "CustomerRowIndex",
    "FeatureBuilder",
    "FeatureConfig",
    "TrainingSet",
    "build_features",
    "build_training_set",
    "describe_feature",
    "feature_sql",
    "make_cutoffs",
    "shared_databases",
]
