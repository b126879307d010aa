"""Baselines scored on exactly the same test rows as the model.

* :class:`RecencyRule` -- score = days since the last purchase.
* :class:`RFMLogistic` -- logistic regression on log recency, frequency and monetary value.
* :class:`BGNBDAlive` -- 1 - P(alive) from a BG/NBD model fitted on the purchase history
  before each cutoff (it uses no labels).

Scores that are not probabilities (recency days, 1 - P(alive)) are mapped to probabilities
by a Platt calibration fitted on the validation cutoff, so log loss and Brier are fair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from churnlab.bgnbd import BGNBD, rfm_summary
from churnlab.events import EventTables
from churnlab.model import Calibrator

__all__ = ["RecencyRule", "RFMLogistic", "BGNBDAlive"]

_RFM = ["p_recency_days", "p_count_total", "p_aov"]


class RecencyRule:
    """Score = days since the last purchase, calibrated to a probability on validation."""

    def fit(self, frame: pd.DataFrame, val: pd.DataFrame, events: EventTables | None = None) -> "RecencyRule":
        self.calibrator_ = Calibrator("platt").fit(self._squash(val), val["churned"])
        return self

    @staticmethod
    def _squash(frame: pd.DataFrame) -> np.ndarray:
        # Monotone map of days to (0, 1) so the Platt step works on a logit scale.
        r = frame["p_recency_days"].fillna(frame["p_recency_days"].max()).to_numpy(dtype=float)
        return r / (r + 30.0)

    def score(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return frame["p_recency_days"].to_numpy(dtype=float)

    def predict_proba(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.calibrator_.transform(self._squash(frame))


class RFMLogistic:
    """Logistic regression on log1p(recency, frequency, monetary), fitted on training snapshots."""

    def __init__(self, C: float = 1.0):
        self.C = C

    @staticmethod
    def _x(frame: pd.DataFrame) -> np.ndarray:
        return np.log1p(frame[_RFM].fillna(0.0).to_numpy(dtype=float))

    def fit(self, frame: pd.DataFrame, val: pd.DataFrame | None = None, events: EventTables | None = None) -> "RFMLogistic":
        self.pipeline_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))
        self.pipeline_.fit(self._x(frame), frame["churned"].to_numpy())
        return self

    def predict_proba(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.pipeline_.predict_proba(self._x(frame))[:, 1]


class BGNBDAlive:
    """BG/NBD fitted on all history before each row's cutoff.

    ``output="p_alive"`` scores 1 - P(alive); ``output="no_purchase"`` scores the model's
    probability of no purchase in the next ``horizon_days`` -- the quantity the fixed churn
    label measures (needs ``horizon_days``).
    """

    def __init__(self, period_days: float = 7.0, output: str = "p_alive", horizon_days: float | None = None):
        self.period_days = period_days
        self.output = output
        self.horizon_days = horizon_days

    def _score_cutoff(self, events: EventTables, cutoff: pd.Timestamp, ids: pd.Index) -> pd.Series:
        if cutoff not in self.models_:
            summary = rfm_summary(events, cutoff, self.period_days)
            self.models_[cutoff] = (BGNBD().fit(summary["x"], summary["t_x"], summary["T"]), summary)
        model, summary = self.models_[cutoff]
        s = summary.reindex(ids)
        if self.output == "no_purchase":
            if self.horizon_days is None:
                raise ValueError("BGNBDAlive(output='no_purchase') needs `horizon_days`")
            t = self.horizon_days / self.period_days
            return pd.Series(model.prob_no_purchase(t, s["x"], s["t_x"], s["T"]), index=ids)
        if self.output != "p_alive":
            raise ValueError(f"`output` must be 'p_alive' or 'no_purchase', got {self.output!r}")
        return pd.Series(1.0 - model.p_alive(s["x"], s["t_x"], s["T"]), index=ids)

    def score(self, frame: pd.DataFrame, events: EventTables) -> np.ndarray:
        if events is None:
            raise ValueError("BGNBDAlive needs the purchase events to fit BG/NBD")
        out = np.empty(len(frame))
        for cutoff, rows in frame.groupby("cutoff").indices.items():
            ids = pd.Index(frame["customer_id"].to_numpy()[rows])
            out[rows] = self._score_cutoff(events, pd.Timestamp(cutoff), ids).to_numpy()
        return out

    def fit(self, frame: pd.DataFrame, val: pd.DataFrame, events: EventTables) -> "BGNBDAlive":
        self.models_: dict = {}
        self.calibrator_ = Calibrator("platt").fit(np.clip(self.score(val, events), 1e-6, 1 - 1e-6), val["churned"])
        return self

    def predict_proba(self, frame: pd.DataFrame, events: EventTables) -> np.ndarray:
        return self.calibrator_.transform(np.clip(self.score(frame, events), 1e-6, 1 - 1e-6))
