"""One comparison, used by training runs and the benchmarks: fit the model and the baselines
on the same split, score the same test rows, evaluate them side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.events import EventTables
from churnlab.models import BGNBDAlive, ChurnModel, RecencyRule, RFMLogistic, compare_models
from churnlab.models.baselines import PriorRate, SnapshotBaseline, TableLogistic

__all__ = ["MODEL_NAME", "OnFeatures", "default_baselines", "fit_and_compare"]

MODEL_NAME = "lightgbm"


def default_baselines(events: EventTables | None = None, features: list[str] | None = None) -> dict:
    """The baselines a training run prints: with purchases, the RFM logistic regression, the
    recency rule and BG/NBD's 1 - P(alive); without (subscriptions, activity), a regularised
    logistic regression on the same features and the prior rate."""
    if events is None or events.purchases is not None:
        return {"rfm_logistic": RFMLogistic(), "recency_rule": RecencyRule(), "bgnbd_p_alive": BGNBDAlive()}
    return {"logistic_regression": OnFeatures(TableLogistic(), features), "prior_rate": OnFeatures(PriorRate(), features)}


class OnFeatures(SnapshotBaseline):
    """A baseline that reads a snapshot frame's feature columns (``fit_xy`` / ``churn_probability_x``)."""

    def __init__(self, baseline, features: list[str]):
        self.baseline = baseline
        self.features = features

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, events: EventTables | None = None) -> "OnFeatures":
        self.baseline.fit_xy(train[self.features], train["churned"])
        return self

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.baseline.churn_probability_x(frame[self.features])


def fit_and_compare(
    model: ChurnModel,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    events: EventTables,
    baselines: dict[str, SnapshotBaseline] | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Fit ``model`` on ``train[features]`` (early stopping and calibration on ``validation``)
    and each baseline on the same frames; return the churn probabilities of the test rows per
    model, and their evaluation (:func:`churnlab.models.compare_models`), model first."""
    model.fit(train[features], train["churned"], validation=(validation[features], validation["churned"]))
    scores = {MODEL_NAME: model.churn_probability(test[features])}
    for name, baseline in (default_baselines(events, features) if baselines is None else baselines).items():
        scores[name] = baseline.fit(train, validation, events).churn_probability(test, events)
    return scores, compare_models(test["churned"], scores)
