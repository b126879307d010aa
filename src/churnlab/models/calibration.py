"""Calibration: raw model scores back to probabilities (Platt or isotonic)."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["Calibrator"]


class Calibrator:
    """Maps a raw score to a probability: Platt (logistic on the logit) or isotonic."""

    def __init__(self, method: str = "platt"):
        self.method = method

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
        return np.log(p / (1 - p))

    def fit(self, score, y) -> "Calibrator":
        if self.method not in ("platt", "isotonic"):
            raise ValueError(f"`method` must be 'platt' or 'isotonic', got {self.method!r}")
        if self.method == "platt":
            lr = LogisticRegression(C=1e6, solver="lbfgs").fit(self._logit(score)[:, None], np.asarray(y))
            self.coef_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        else:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(score, y)
            self.x_, self.y_ = iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()
        return self

    def transform(self, score) -> np.ndarray:
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.coef_ * self._logit(score) + self.intercept_)))
        return np.interp(np.asarray(score, dtype=float), self.x_, self.y_)

    def to_dict(self) -> dict:
        if self.method == "platt":
            return {"method": "platt", "coef": self.coef_, "intercept": self.intercept_}
        return {"method": "isotonic", "x": self.x_, "y": self.y_}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibrator":
        c = cls(d["method"])
        if d["method"] == "platt":
            c.coef_, c.intercept_ = d["coef"], d["intercept"]
        else:
            c.x_, c.y_ = d["x"], d["y"]
        return c
