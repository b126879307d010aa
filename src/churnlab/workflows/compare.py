"""One comparison, used by training runs and the benchmarks: fit the model and the baselines
on the same split, score the same test rows, evaluate them side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.events import EventTables
from churnlab.models import BGNBDAlive, ChurnModel, RecencyRule, RFMLogistic, compare_models
from churnlab.models.baselines import SnapshotBaseline

__all__ = ["MODEL_NAME", "default_baselines", "fit_and_compare"]

MODEL_NAME = "lightgbm"


def default_baselines() -> dict[str, SnapshotBaseline]:
    """The baselines every training run prints: RFM logistic regression, the recency rule and
    BG/NBD's 1 - P(alive)."""
    return {"rfm_logistic": RFMLogistic(), "recency_rule": RecencyRule(), "bgnbd_p_alive": BGNBDAlive()}


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
    for name, baseline in (default_baselines() if baselines is None else baselines).items():
        scores[name] = baseline.fit(train, validation, events).churn_probability(test, events)
    return scores, compare_models(test["churned"], scores)
