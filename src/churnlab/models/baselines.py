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

from churnlab.models.bgnbd import BGNBD, rfm_summary
from churnlab.events import EventTables
from churnlab.models.calibration import Calibrator

__all__ = ["BGNBDAlive", "PriorRate", "RFMLogistic", "RecencyRule", "SnapshotBaseline", "TableLogistic"]

_RFM = ["p_recency_days", "p_count_total", "p_aov"]


class SnapshotBaseline:
    """What every baseline shares: ``fit(train, validation, events)`` on snapshot frames
    (``customer_id``, ``cutoff``, features, ``churned``; see
    :func:`churnlab.features.build_training_set`), then :meth:`churn_probability` for other
    snapshot rows and ``predict_proba`` of shape (n, 2). Baselines that use no events or
    no validation rows ignore them.
    """

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, events: EventTables | None = None) -> "SnapshotBaseline":
        raise NotImplementedError

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        """Churn probability per row of ``frame``, shape (n,)."""
        raise NotImplementedError

    def predict_proba(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        """Probabilities of (stays, churns) per row, shape (n, 2)."""
        p = self.churn_probability(frame, events)
        return np.column_stack([1.0 - p, p])


class RecencyRule(SnapshotBaseline):
    """Score = days since the last purchase, calibrated to a probability on validation.

    Attributes
    ----------
    calibrator_ : Calibrator
        Platt calibration of the squashed recency, fitted on the validation rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from churnlab.features import build_training_set
    >>> from churnlab.datasets import make_demo_events
    >>> ev = make_demo_events(400, random_state=0)
    >>> f = build_training_set(ev, ["2024-01-01", "2024-04-01", "2024-07-01"], horizon_days=60).frame
    >>> train, val = f[f["cutoff"] < "2024-07-01"], f[f["cutoff"] == "2024-07-01"]
    >>> p = RecencyRule().fit(train, val).churn_probability(val)
    >>> bool(p[val["p_recency_days"].argmax()] == p.max())  # the longest absent is the riskiest
    True
    """

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, events: EventTables | None = None) -> "RecencyRule":
        self.calibrator_ = Calibrator("platt").fit(self._squash(validation), validation["churned"])
        return self

    @staticmethod
    def _squash(frame: pd.DataFrame) -> np.ndarray:
        # Monotone map of days to (0, 1) so the Platt step works on a logit scale.
        r = frame["p_recency_days"].fillna(frame["p_recency_days"].max()).to_numpy(dtype=float)
        return r / (r + 30.0)

    def score(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return frame["p_recency_days"].to_numpy(dtype=float)

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.calibrator_.transform(self._squash(frame))


class RFMLogistic(SnapshotBaseline):
    """Logistic regression on log1p(recency, frequency, monetary), fitted on training snapshots
    (recency and frequency only for purchases without amounts).

    Parameters
    ----------
    C : float
        Inverse regularisation strength (scikit-learn's).

    Examples
    --------
    >>> import pandas as pd
    >>> from churnlab.features import build_training_set
    >>> from churnlab.datasets import make_demo_events
    >>> ev = make_demo_events(400, random_state=0)
    >>> f = build_training_set(ev, ["2024-01-01", "2024-04-01", "2024-07-01"], horizon_days=60).frame
    >>> train, val = f[f["cutoff"] < "2024-07-01"], f[f["cutoff"] == "2024-07-01"]
    >>> RFMLogistic().fit(train, val).predict_proba(val).shape == (len(val), 2)
    True
    """

    def __init__(self, C: float = 1.0):
        self.C = C

    @staticmethod
    def _x(frame: pd.DataFrame) -> np.ndarray:
        # without order values (no p_aov), recency and frequency only
        return np.log1p(frame[[c for c in _RFM if c in frame.columns]].fillna(0.0).to_numpy(dtype=float))

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None, events: EventTables | None = None) -> "RFMLogistic":
        self.pipeline_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))
        self.pipeline_.fit(self._x(train), train["churned"].to_numpy())
        return self

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.pipeline_.predict_proba(self._x(frame))[:, 1]


class BGNBDAlive(SnapshotBaseline):
    """BG/NBD fitted on all history before each row's cutoff (no labels), calibrated on validation.

    ``output="p_alive"`` scores 1 - P(alive); ``output="no_purchase"`` scores the model's
    probability of no purchase in the next ``horizon_days``, the quantity the fixed churn
    label measures.

    Parameters
    ----------
    period_days : float
        BG/NBD's time unit in days.
    output : {"p_alive", "no_purchase"}
    horizon_days : float, optional
        Needed for ``output="no_purchase"``.
    score_horizon_days : float, optional
        Asks about another window when scoring than the validation labels that calibrate it
        (e.g. calibrated on 13 weeks, asked about 39); default ``horizon_days``.

    Examples
    --------
    >>> import pandas as pd
    >>> from churnlab.features import build_training_set
    >>> from churnlab.datasets import make_demo_events
    >>> ev = make_demo_events(400, random_state=0)
    >>> f = build_training_set(ev, ["2024-01-01", "2024-04-01", "2024-07-01"], horizon_days=60).frame
    >>> train, val = f[f["cutoff"] < "2024-07-01"], f[f["cutoff"] == "2024-07-01"]
    >>> p = BGNBDAlive().fit(train, val, ev).churn_probability(val, ev)
    >>> bool(((p > 0) & (p < 1)).all())
    True
    """

    def __init__(
        self, period_days: float = 7.0, output: str = "p_alive", horizon_days: float | None = None,
        score_horizon_days: float | None = None,
    ):
        self.period_days = period_days
        self.output = output
        self.horizon_days = horizon_days
        self.score_horizon_days = score_horizon_days

    def _score_cutoff(self, events: EventTables, cutoff: pd.Timestamp, ids: pd.Index, horizon_days) -> pd.Series:
        if cutoff not in self.models_:
            summary = rfm_summary(events, cutoff, self.period_days)
            self.models_[cutoff] = (BGNBD().fit(summary["x"], summary["t_x"], summary["T"]), summary)
        model, summary = self.models_[cutoff]
        s = summary.reindex(ids)
        if self.output == "no_purchase":
            t = horizon_days / self.period_days
            return pd.Series(model.prob_no_purchase(t, s["x"], s["t_x"], s["T"]), index=ids)
        return pd.Series(1.0 - model.p_alive(s["x"], s["t_x"], s["T"]), index=ids)

    def score(self, frame: pd.DataFrame, events: EventTables, horizon_days: float | None = None) -> np.ndarray:
        """The raw score (1 - P(alive), or P(no purchase in ``horizon_days``, default the
        model's)) per row, from a BG/NBD fitted at each row's cutoff."""
        horizon_days = self.horizon_days if horizon_days is None else horizon_days
        if events is None:
            raise ValueError("BGNBDAlive needs the purchase events to fit BG/NBD (`events`)")
        out = np.empty(len(frame))
        for cutoff, rows in frame.groupby("cutoff").indices.items():
            ids = pd.Index(frame["customer_id"].to_numpy()[rows])
            out[rows] = self._score_cutoff(events, pd.Timestamp(cutoff), ids, horizon_days).to_numpy()
        return out

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, events: EventTables | None = None) -> "BGNBDAlive":
        if self.output not in ("p_alive", "no_purchase"):
            raise ValueError(f"`output` must be 'p_alive' or 'no_purchase', got {self.output!r}")
        if self.output == "no_purchase" and self.horizon_days is None:
            raise ValueError("BGNBDAlive(output='no_purchase') needs `horizon_days`")
        self.models_: dict = {}
        self.calibrator_ = Calibrator("platt").fit(np.clip(self.score(validation, events), 1e-6, 1 - 1e-6), validation["churned"])
        return self

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.calibrator_.transform(np.clip(self.score(frame, events, self.score_horizon_days), 1e-6, 1 - 1e-6))


class PriorRate:
    """The training churn rate for everyone: the floor any model must beat on a labelled table.

    Examples
    --------
    >>> PriorRate().fit_xy(pd.DataFrame({"x": [1, 2, 3, 4]}), [0, 0, 0, 1]).churn_probability_x(pd.DataFrame({"x": [9]}))
    array([0.25])
    """

    def fit_xy(self, X: pd.DataFrame, y) -> "PriorRate":
        self.rate_ = float(np.mean(np.asarray(y, dtype=float)))
        return self

    def churn_probability_x(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.rate_)


class TableLogistic:
    """Regularised logistic regression on a table's features: numbers imputed (median) and
    scaled, text one-hot encoded (levels unseen in training ignored).

    Parameters
    ----------
    C : float
        Inverse regularisation strength.

    Examples
    --------
    >>> X = pd.DataFrame({"tenure": [1.0, 40, 3, 60, 2, 50], "plan": pd.Categorical(["m", "y", "m", "y", "m", None])})
    >>> p = TableLogistic().fit_xy(X, [1, 0, 1, 0, 1, 0]).churn_probability_x(X)
    >>> bool(p[0] > 0.5 > p[1])
    True
    """

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit_xy(self, X: pd.DataFrame, y) -> "TableLogistic":
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder

        text = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        numbers = [c for c in X.columns if c not in text]
        prep = ColumnTransformer(
            [
                ("numbers", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), numbers),
                ("text", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                                       OneHotEncoder(handle_unknown="ignore")), text),
            ]
        )
        self.pipeline_ = make_pipeline(prep, LogisticRegression(C=self.C, max_iter=2000))
        self.pipeline_.fit(self._frame(X), np.asarray(y, dtype=int))
        return self

    @staticmethod
    def _frame(X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**{c: X[c].astype(object) for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)})

    def churn_probability_x(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._frame(X))[:, 1]
