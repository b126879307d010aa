"""Baselines scored on exactly the same test rows as the model.

* :class:`RecencyRule` -- score = days since the last purchase.
* :class:`RFMLogistic` -- logistic regression on log recency, frequency and monetary value.
* :class:`BGNBDAlive` -- 1 - P(alive) from a BG/NBD model fitted on the purchase history
  before each cutoff (it uses no labels), or -E[purchases in the label horizon], which
  still ranks customers where P(alive) collapses to 1 for everyone.

Scores that are not probabilities (recency days, 1 - P(alive)) are mapped to probabilities
by a Platt calibration fitted on the validation cutoff, so log loss and Brier are fair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.models.bgnbd import BGNBD, rfm_summary
from churnlab.events import EventTables
from churnlab.models.calibration import Calibrator
from churnlab.models.linear import LinearChurnModel

__all__ = ["BGNBDAlive", "PriorRate", "RFMLogistic", "RecencyRule", "RFM_COLUMNS", "SnapshotBaseline", "rfm_columns"]

RFM_COLUMNS = ["p_recency_days", "p_count_total", "p_aov"]


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

    def fit_status(self) -> str:
        """``"ok"``, or ``"fit did not converge"`` for a baseline whose own fit failed (read
        after scoring: some fit lazily per cutoff)."""
        return "ok"


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
    """Logistic regression on recency, frequency and monetary value (log1p, standardised;
    recency and frequency only for purchases without amounts), fitted on the training
    snapshots with ``C`` chosen on the validation snapshots: a
    :class:`~churnlab.models.linear.LinearChurnModel` restricted to :func:`rfm_columns`, so a
    training run can also ship it.

    Attributes
    ----------
    model_ : LinearChurnModel
        Fitted on the RFM columns.

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

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame | None = None, events: EventTables | None = None) -> "RFMLogistic":
        if validation is None:
            raise TypeError("`validation` is required: C is chosen on a later period")
        cols = rfm_columns(train.columns)
        if not cols:
            raise ValueError(f"RFM logistic regression needs the purchase features {RFM_COLUMNS[:2]}; the frame has none")
        self.model_ = LinearChurnModel(columns=cols)
        self.model_.fit(train[cols], train["churned"], validation=(validation[cols], validation["churned"]))
        return self

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.model_.churn_probability(frame[self.model_.feature_names_])


def rfm_columns(columns) -> list[str]:
    """The recency, frequency and monetary features among ``columns`` (none without purchases).

    >>> rfm_columns(["p_recency_days", "p_count_total", "sub_mrr"])
    ['p_recency_days', 'p_count_total']
    """
    return [c for c in RFM_COLUMNS if c in set(columns)] if "p_recency_days" in set(columns) else []


class BGNBDAlive(SnapshotBaseline):
    """BG/NBD fitted on all history before each row's cutoff (no labels), calibrated on validation.

    ``output="p_alive"`` scores 1 - P(alive); ``output="no_purchase"`` scores the model's
    probability of no purchase in the next ``horizon_days``, the quantity the fixed churn
    label measures; ``output="expected_purchases"`` scores -E[purchases in the next
    ``horizon_days`` | history] (fewer expected purchases, more churn), squashed to
    ``1 / (1 + E)`` before the Platt step (a monotone map: the ranking is that of -E).

    Parameters
    ----------
    period_days : float
        BG/NBD's time unit in days.
    output : {"p_alive", "no_purchase", "expected_purchases"}
    horizon_days : float, optional
        Needed for ``output="no_purchase"`` and ``output="expected_purchases"``.
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
        if self.output == "expected_purchases":
            t = horizon_days / self.period_days
            return pd.Series(-model.expected_purchases(t, s["x"], s["t_x"], s["T"]), index=ids)
        return pd.Series(1.0 - model.p_alive(s["x"], s["t_x"], s["T"]), index=ids)

    def score(self, frame: pd.DataFrame, events: EventTables, horizon_days: float | None = None) -> np.ndarray:
        """The raw score (1 - P(alive), P(no purchase in ``horizon_days``, default the
        model's), or -E[purchases in ``horizon_days``]) per row, from a BG/NBD fitted at
        each row's cutoff."""
        horizon_days = self.horizon_days if horizon_days is None else horizon_days
        if events is None:
            raise ValueError("BGNBDAlive needs the purchase events to fit BG/NBD (`events`)")
        out = np.empty(len(frame))
        for cutoff, rows in frame.groupby("cutoff").indices.items():
            ids = pd.Index(frame["customer_id"].to_numpy()[rows])
            out[rows] = self._score_cutoff(events, pd.Timestamp(cutoff), ids, horizon_days).to_numpy()
        return out

    def _squashed(self, frame: pd.DataFrame, events: EventTables, horizon_days: float | None = None) -> np.ndarray:
        # the score on (0, 1), increasing with churn risk, for the Platt step's logit
        s = self.score(frame, events, horizon_days)
        if self.output == "expected_purchases":
            s = 1.0 / (1.0 - s)  # 1 / (1 + E), E >= 0
        return np.clip(s, 1e-6, 1 - 1e-6)

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, events: EventTables | None = None) -> "BGNBDAlive":
        if self.output not in ("p_alive", "no_purchase", "expected_purchases"):
            raise ValueError(f"`output` must be 'p_alive', 'no_purchase' or 'expected_purchases', got {self.output!r}")
        if self.output != "p_alive" and self.horizon_days is None:
            raise ValueError(f"BGNBDAlive(output={self.output!r}) needs `horizon_days`")
        self.models_: dict = {}
        self.calibrator_ = Calibrator("platt").fit(self._squashed(validation, events), validation["churned"])
        return self

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.calibrator_.transform(self._squashed(frame, events, self.score_horizon_days))

    def fit_status(self) -> str:
        """``"fit did not converge"`` when BG/NBD's fit at any cutoff scored so far did not
        (:attr:`churnlab.models.bgnbd.BGNBD.converged_`), else ``"ok"``."""
        ok = all(getattr(model, "converged_", True) for model, _ in getattr(self, "models_", {}).values())
        return "ok" if ok else "fit did not converge"


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
