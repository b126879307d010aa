"""Calibration: raw model scores back to probabilities (Platt or isotonic), fitted on
out-of-time predictions.

A calibration fitted on one period carries that period's churn rate forward. Where the
rate moves from period to period (seasons, a cohort ageing) the next period inherits the
error, so :func:`out_of_time_scores` stacks several periods: at each calibration cutoff, a
copy of the model (same parameters and number of rounds) trained only on the cutoffs whose
label windows end by it scores that cutoff's rows, as the shipped model will score a period
it has not seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["Calibrator", "out_of_time_scores"]


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


def out_of_time_scores(model, frame: pd.DataFrame, features: list[str], cutoffs, horizon_days: float) -> pd.DataFrame:
    """Raw (uncalibrated) scores of each calibration cutoff's rows by a model that never saw them.

    For each cutoff ``c`` of ``cutoffs``, ``model.refit`` (the same parameters and number of
    rounds, no calibration) is trained on ``frame``'s rows at the cutoffs whose label windows
    end by ``c`` (``cutoff + horizon_days <= c``) and scores the rows at ``c`` with
    ``predict_raw``. A cutoff without earlier rows of both classes is skipped.

    Parameters
    ----------
    model : ChurnModel
        Fitted: its :meth:`~churnlab.models.ChurnModel.refit` recipe is repeated.
    frame : DataFrame
        Snapshot rows: ``cutoff``, ``churned`` and ``features``.
    features : list of str
    cutoffs : sequence of Timestamp
        Where to score (e.g. :func:`churnlab.models.split.calibration_cutoffs`).
    horizon_days : float
        The label window.

    Returns
    -------
    DataFrame
        ``cutoff``, ``churned``, ``score`` and ``train_rows`` (of the model that scored it), one
        row per scored snapshot row.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from churnlab.models import ChurnModel
    >>> rng = np.random.default_rng(0)
    >>> cut = np.repeat(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]), 300)
    >>> f = pd.DataFrame({"cutoff": cut, "x": rng.normal(size=1200)})
    >>> f["churned"] = (f["x"] + rng.normal(size=1200) > 0).astype(int)
    >>> m = ChurnModel(num_boost_round=20).fit(f[["x"]][:600], f["churned"][:600], validation=(f[["x"]][600:], f["churned"][600:]))
    >>> s = out_of_time_scores(m, f, ["x"], pd.to_datetime(["2024-03-01", "2024-04-01"]), horizon_days=29)
    >>> s.groupby("cutoff")["train_rows"].first().tolist()
    [600, 900]
    """
    h = pd.Timedelta(days=float(horizon_days))
    parts = []
    for c in cutoffs:
        c = pd.Timestamp(c)
        past = frame[frame["cutoff"] + h <= c]
        rows = frame[frame["cutoff"] == c]
        if rows.empty or past["churned"].nunique() < 2:
            continue
        fitted = model.refit(past[features], past["churned"].to_numpy(), calibrator=None)
        parts.append(pd.DataFrame({"cutoff": c, "churned": rows["churned"].to_numpy(), "score": fitted.predict_raw(rows[features]),
                                   "train_rows": len(past)}))
    if not parts:
        return pd.DataFrame({"cutoff": pd.Series(dtype="datetime64[ns]"), "churned": pd.Series(dtype=int),
                             "score": pd.Series(dtype=float), "train_rows": pd.Series(dtype=int)})
    return pd.concat(parts, ignore_index=True)
