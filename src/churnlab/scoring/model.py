"""The scoring model: a trained model with its feature builder, dictionary and label definition."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from churnlab.events import EventTables
from churnlab.features import CustomerRowIndex, FeatureBuilder
from churnlab.features.table import TableFeatures
from churnlab.models.lightgbm import ChurnModel
from churnlab.scoring.tiers import check_thresholds

__all__ = ["ScoringModel", "SchemaMismatchError"]


class SchemaMismatchError(ValueError):
    """The model's features do not match what the feature builder produces."""


class ScoringModel:
    """A trained model with what scoring needs: feature builder, dictionary, label definition.

    Usually loaded with :meth:`load` from an MLflow URI or a model folder.

    Parameters
    ----------
    model : ChurnModel
    metadata : dict
        The model's ``churnlab.json``: ``feature_builder``, ``feature_dictionary``,
        ``label_definition``, ...
    version : str
        Written into every scored row (``model_version``).

    Attributes
    ----------
    builder : FeatureBuilder
    dictionary : DataFrame
    label_definition : dict
    thresholds : dict
        The default risk tiers: fitted to the base rate at training, else 0.5 / 0.2.
    reference_profile : dict or None
        What drift is measured against (:func:`churnlab.monitor.feature_drift`).
    value_model : dict or None
        The purchase and spend models' parameters for customer value
        (:func:`churnlab.scoring.value.fit_value_model` at the test cutoff).

    Examples
    --------
    >>> model = ScoringModel.load("runs:/<run id>/model")  # doctest: +SKIP
    >>> X = model.features(events, "2025-01-01")            # doctest: +SKIP
    """

    def __init__(self, model: ChurnModel, metadata: dict, version: str = "unknown"):
        self.model = model
        self.metadata = metadata
        self.version = version
        state = metadata["feature_builder"]
        #: "table" for a model trained on a labelled customer table, else "events"
        self.kind = "table" if state.get("kind") == "table" else "events"
        self.builder = TableFeatures.from_dict(state) if self.kind == "table" else FeatureBuilder.from_dict(state)
        self.dictionary = pd.DataFrame(metadata["feature_dictionary"])
        self.label_definition = metadata.get("label_definition", {})
        #: default risk-tier thresholds: the model's own (fitted to its base rate), or the fixed defaults
        self.thresholds = check_thresholds(metadata.get("risk_tiers") or None)
        #: the test period's feature and score distributions (see churnlab.monitor.drift), or None
        self.reference_profile = metadata.get("reference_profile") or None
        #: BG/NBD and Gamma-Gamma parameters fitted at training (see churnlab.scoring.value), or None
        self.value_model = metadata.get("value_model") or None
        missing = [f for f in model.feature_names_ if f not in self.builder.feature_names_]
        extra = [f for f in self.builder.feature_names_ if f not in model.feature_names_]
        if missing or extra:
            raise SchemaMismatchError(
                f"model features and feature builder disagree: missing from the builder {missing[:10]}, "
                f"not used by the model {extra[:10]}"
            )

    @classmethod
    def load(cls, model_uri: str) -> "ScoringModel":
        from churnlab.tracking import load_model_bundle

        model, meta = load_model_bundle(model_uri)
        return cls(model, meta, version=model_uri)

    def eligibility(self, X: pd.DataFrame, cancelled: pd.Index | None = None) -> pd.Series:
        """Status per customer with features: ``scored`` if inside the population the model was
        trained on (bought before as_of, and within ``active_days`` if the label had one),
        else ``no_purchase``, ``inactive`` (already churned by the training definition),
        ``not_active`` (no active subscription, for a model labelled by subscriptions) or
        ``cancelled`` (in ``cancelled``: see :func:`churnlab.labels.cancelled_before`)."""
        status = pd.Series("scored", index=X.index, dtype=object)
        if self.kind == "table":  # every row of a labelled table is in the trained population
            return status
        if self.label_definition.get("source") == "subscriptions":
            # labelled only when active at as_of: the others are outside the trained population
            status[X["sub_active_count"].fillna(0) == 0] = "not_active"
        elif "p_count_total" in X.columns:
            status[X["p_count_total"] == 0] = "no_purchase"
            status[(X["p_count_total"] > 0) & self.inactive(X["p_recency_days"].to_numpy())] = "inactive"
        if cancelled is not None and len(cancelled):
            status[X.index.isin(cancelled)] = "cancelled"
        return status

    def inactive(self, recency_days: np.ndarray) -> np.ndarray:
        """Whether customers whose last purchase was ``recency_days`` before as_of (NaN: never)
        are already churned by the training label's ``active_days`` (outside the scored population)."""
        active_days = self.label_definition.get("active_days")
        r = np.asarray(recency_days, dtype=float)
        if active_days is None or self.label_definition.get("rule") == "contractual":  # not a purchase-recency label
            return np.zeros(len(r), dtype=bool)
        return r > float(active_days)  # NaN compares False

    def table_features(self, table: pd.DataFrame) -> pd.DataFrame:
        """The feature frame of a customer table, for a model trained on one (the label
        column, if present, is ignored; missing feature columns are an error naming them)."""
        if self.kind != "table":
            raise SchemaMismatchError("this model was trained on event tables: score it with events and an as_of, not a table")
        return self.builder.transform(table)

    def check_tables(self, events: EventTables) -> None:
        """Raise :class:`SchemaMismatchError` if the events lack a table the model was trained with."""
        if self.kind == "table":
            raise SchemaMismatchError("this model was trained on a customer table: score it with that table (--table), not events")
        if self.builder.has_amount_ and "purchases" in self.builder.tables_ and events.purchases is not None \
                and "amount" not in events.purchases.columns:
            raise SchemaMismatchError("purchases.amount: the model was trained with order values, these purchases have none")
        missing = [t for t in self.builder.tables_ if t not in events.tables()]
        if missing:
            absent = [f for f in self.model.feature_names_ if f.split("_", 1)[0] in {m[0] for m in missing}]
            raise SchemaMismatchError(
                f"the model was trained with table(s) {missing} that the events lack; "
                f"features that cannot be built: {absent[:10]}"
            )
        self.builder.check_static_columns(events)  # a static attribute the model uses: named
        warned = self.__dict__.setdefault("_warned_absent", set())  # once per model, not per chunk
        for col in set(self.builder.absent_purchase_columns(events)) - warned:
            warned.add(col)
            warnings.warn(f"purchases.{col}: column absent (optional); the model's feature p_distinct_{col}s "
                          "is missing for every customer", UserWarning, stacklevel=2)

    def features(
        self, events: EventTables, as_of, customer_ids: Iterable | None = None, row_index: CustomerRowIndex | None = None,
        threads: int | None = None,
    ) -> pd.DataFrame:
        self.check_tables(events)
        return self.builder.transform(events, as_of, customer_ids, row_index=row_index, threads=threads)
