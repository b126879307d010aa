"""Performance before the labels arrive: what the scored list should achieve if its
probabilities are calibrated (confidence-based performance estimation, as NannyML's CBPE).

If each scored customer churns with the probability the model gives, independently, the
labels are draws ``y_i ~ Bernoulli(p_i)`` and every metric of the list is a random variable
whose distribution follows from the probabilities alone. Estimated here, without labels:

* churn rate: ``E[mean y] = mean p`` (exact);
* ROC-AUC: the expected number of correctly ordered (churner, stayer) pairs over the
  expected number of such pairs,

      sum_{i != j} p_i (1 - p_j) ([s_i > s_j] + [s_i = s_j] / 2) / sum_{i != j} p_i (1 - p_j),

  computed exactly in ``O(n log n)`` by sorting the scores ``s`` (the probabilities
  themselves unless given);
* PR-AUC (average precision, as :func:`sklearn.metrics.average_precision_score` computes
  it, tied scores one threshold): the expected sum over thresholds of churners at the
  threshold times precision there, over the expected number of churners, also exact in
  ``O(n log n)`` (``E[Y_g C_g] = m_g M_{g-1} + m_g^2 + v_g`` for a group ``g`` of tied
  scores with ``m_g = sum p``, ``v_g = sum p (1 - p)`` and ``M_{g-1}`` the expected churners
  ranked above it).

Both are ratios of expectations, not expectations of the ratios: the two differ by
``O(1/n)`` (well under 0.001 from a few thousand customers; a test checks them against a
Monte Carlo mean). The spread a calibrated list's realized ROC-AUC would show, its standard
deviation over ``draws`` fixed-seed label draws, is given beside it (``roc_auc_sd``).

The estimate is only as good as the calibration: when probabilities are systematically too
high or too low on the scored period the estimate inherits the error, which is why it is
validated against realized performance on backtest folds (``benchmarks/bench_estimate.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ESTIMATE_METHOD", "estimate_performance", "expected_pr_auc", "expected_roc_auc"]

#: How the estimate is computed, as stored beside it.
ESTIMATE_METHOD = "CBPE: exact ratio of expectations over labels ~ Bernoulli(p)"
_BATCH = 8_000_000  # label draws x customers per Monte Carlo batch (bounds memory)


def _checked(proba, scores=None) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=float).ravel()
    if p.size and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
        raise ValueError("churn probabilities must be finite and within [0, 1]")
    s = p if scores is None else np.asarray(scores, dtype=float).ravel()
    if s.shape != p.shape:
        raise ValueError(f"`scores` must have one value per probability ({p.size}), got {s.size}")
    return p, s


def _groups(s: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts ``s`` and the start of each run of tied scores in it."""
    order = np.argsort(-s if descending else s, kind="stable")
    ss = s[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    return order, starts


def expected_roc_auc(proba, scores=None) -> float:
    """Expected ROC-AUC of ranking by ``scores`` when labels are drawn ``Bernoulli(proba)``
    (ratio of expectations, exact; see the module notes).

    Parameters
    ----------
    proba : array-like of float
        Calibrated churn probabilities.
    scores : array-like of float, optional
        What the list is ranked by (default: ``proba``).

    Returns
    -------
    float
        NaN when no pair of a churner and a stayer is possible (fewer than 2 customers, or
        every probability 0 or every one 1).

    Examples
    --------
    >>> # pairs (i churns, j stays): 0.9*0.8 ordered, 0.2*0.1 reversed -> 0.72 / 0.74
    >>> round(expected_roc_auc([0.2, 0.9]), 4)
    0.973
    """
    p, s = _checked(proba, scores)
    q = 1.0 - p
    denominator = p.sum() * q.sum() - float(np.dot(p, q))
    if p.size < 2 or denominator <= 0:
        return float("nan")
    order, starts = _groups(s, descending=False)
    pg = np.add.reduceat(p[order], starts)
    qg = np.add.reduceat(q[order], starts)
    vg = np.add.reduceat((p * q)[order], starts)
    below = np.cumsum(qg) - qg  # expected stayers scored strictly lower
    numerator = float(np.dot(pg, below) + 0.5 * (np.dot(pg, qg) - vg.sum()))
    return float(numerator / denominator)


def expected_pr_auc(proba, scores=None) -> float:
    """Expected average precision of ranking by ``scores`` when labels are drawn
    ``Bernoulli(proba)`` (ratio of expectations, exact; tied scores are one threshold, as
    in :func:`sklearn.metrics.average_precision_score`).

    Examples
    --------
    >>> # one threshold per customer: E[y_1 * 1/1 + y_2 * (y_1 + y_2)/2] / E[y_1 + y_2]
    >>> round(expected_pr_auc([0.2, 0.9]), 4)  # (0.9 + (0.2*0.9 + 0.2) / 2) / 1.1
    0.9909
    """
    p, s = _checked(proba, scores)
    total = p.sum()
    if total <= 0:
        return float("nan")
    order, starts = _groups(s, descending=True)
    mg = np.add.reduceat(p[order], starts)
    vg = np.add.reduceat((p * (1.0 - p))[order], starts)
    ng = np.diff(np.r_[starts, p.size])
    above = np.cumsum(mg) - mg  # expected churners scored strictly higher
    numerator = (mg * above + mg * mg + vg) / np.cumsum(ng)
    return float(numerator.sum() / total)


def _auc_draws(p: np.ndarray, s: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Realized ROC-AUC of ``draws`` fixed-seed label draws (Mann-Whitney, tied scores half)."""
    ranks = pd.Series(s).rank(method="average").to_numpy()
    rng = np.random.default_rng(seed)
    per = max(1, _BATCH // max(1, p.size))
    out = []
    for lo in range(0, draws, per):
        y = rng.random((min(per, draws - lo), p.size)) < p
        pos = y.sum(axis=1).astype(float)
        neg = p.size - pos
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((y @ ranks - pos * (pos + 1) / 2) / (pos * neg))
    return np.concatenate(out) if out else np.array([])


def estimate_performance(proba, scores=None, *, draws: int = 200, seed: int = 0) -> dict:
    """Label-free estimate of the scored list's churn rate, ROC-AUC and PR-AUC.

    Parameters
    ----------
    proba : array-like of float
        The scored customers' calibrated churn probabilities.
    scores : array-like of float, optional
        What the list is ranked by (default: ``proba``).
    draws : int
        Fixed-seed label draws for ``roc_auc_sd`` (0: not computed).
    seed : int

    Returns
    -------
    dict
        ``n, expected_churn_rate, expected_roc_auc, expected_roc_auc_sd, expected_pr_auc, method``.

    Examples
    --------
    >>> est = estimate_performance([0.1, 0.1, 0.5, 0.9], draws=0)
    >>> est["expected_churn_rate"], round(est["expected_roc_auc"], 3)
    (0.4, 0.922)
    """
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 0:
        raise ValueError(f"`draws` must be an integer >= 0, got {draws!r}")
    p, s = _checked(proba, scores)
    sd = float("nan")
    if draws > 1 and p.size >= 2:
        aucs = _auc_draws(p, s, int(draws), seed)
        aucs = aucs[np.isfinite(aucs)]
        sd = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else float("nan")
    return {
        "n": int(p.size),
        "expected_churn_rate": float(p.mean()) if p.size else float("nan"),
        "expected_roc_auc": expected_roc_auc(p, s),
        "expected_roc_auc_sd": sd,
        "expected_pr_auc": expected_pr_auc(p, s),
        "method": ESTIMATE_METHOD,
    }
