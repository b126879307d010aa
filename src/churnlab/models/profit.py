"""Profit of a retention campaign that targets the riskiest customers (Verbraken, Verbeke &
Baesens 2013, after Neslin et al. 2006).

A campaign contacts a fraction of customers, riskiest first, at ``f`` per contact and offers
an incentive worth ``d``. A churner who is contacted accepts with probability ``gamma`` and
stays, keeping ``clv - d``; a non-churner who is contacted takes the incentive (``-d``). Per
customer in the list, targeting the fraction that reaches ``(F1, F0)`` on the ROC curve
(``F1`` the share of churners targeted, ``F0`` of non-churners) earns

    P = (gamma * (clv - d) - f) * pi1 * F1 - (d + f) * pi0 * F0

with ``pi1`` the churn rate, ``pi0 = 1 - pi1``. The maximum over fractions is reached on the
ROC curve's convex hull.

* **MP**: the maximum profit with ``gamma`` fixed at the mean acceptance ``alpha / (alpha + beta)``.
* **EMPC**: the expected maximum profit when ``gamma ~ Beta(alpha, beta)``: for each ``gamma``
  the best hull point, integrated in closed form (regularised incomplete beta) over the
  ``gamma`` interval where that point is best.

Both come with the fraction of customers targeted (for EMPC, its expectation). Profits are per
customer of the list, in the unit of ``clv``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc

__all__ = ["empc", "profit_curve", "roc_hull"]


def _check(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    if y.ndim != 1 or y.shape != s.shape or len(y) == 0:
        raise ValueError(f"`y_true` and `y_score` must be 1-d of equal length, got {y.shape} and {s.shape}")
    if not np.isin(y, (0.0, 1.0)).all() or len(np.unique(y)) < 2:
        raise ValueError("`y_true` must hold both 0 and 1 and nothing else")
    if not np.isfinite(s).all():
        raise ValueError("`y_score` must be finite")
    return y, s


def roc_hull(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """Upper convex hull of the ROC curve, from (0, 0) to (1, 1): ``(fpr, tpr)`` of its vertices.

    Customers with equal scores are targeted together (one ROC step).

    >>> fpr, tpr = roc_hull([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    y, s = _check(y_true, y_score)
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp, fp = np.cumsum(y)[last_of_tie], np.cumsum(1 - y)[last_of_tie]
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    hull: list[int] = []
    for i in range(len(fpr)):  # Andrew's monotone chain, upper side (points come sorted by fpr, then tpr)
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (fpr[b] - fpr[a]) * (tpr[i] - tpr[a]) - (tpr[b] - tpr[a]) * (fpr[i] - fpr[a])
            if cross >= 0:  # b lies on or below the line a -> i
                hull.pop()
            else:
                break
        hull.append(i)
    return fpr[hull], tpr[hull]


def _profits(fpr, tpr, pi1, gamma, clv, d, f):
    """Profit per customer at each hull vertex, for one or more ``gamma`` (rows)."""
    gamma = np.atleast_1d(np.asarray(gamma, dtype=float))[:, None]
    return (gamma * (clv - d) - f) * pi1 * tpr[None, :] - (d + f) * (1 - pi1) * fpr[None, :]


def _check_costs(clv, d, f, alpha, beta) -> None:
    for name, value in (("clv", clv), ("d", d), ("f", f), ("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value):
            raise ValueError(f"`{name}` must be a finite number, got {value!r}")
    if d < 0 or f < 0:
        raise ValueError(f"`d` and `f` must be >= 0, got d={d!r}, f={f!r}")
    if clv <= d:
        raise ValueError(f"`clv` must exceed the incentive `d` ({d!r}), got {clv!r}")
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"`alpha` and `beta` must be > 0, got alpha={alpha!r}, beta={beta!r}")


def empc(y_true, y_score, clv: float = 200.0, d: float = 10.0, f: float = 1.0, alpha: float = 6.0,
         beta: float = 14.0) -> dict[str, float]:
    """Expected maximum profit (EMPC) and maximum profit (MP) of a churn score, with their
    fractions targeted; the defaults are the EMP measure's (R package EMP, ``empChurn``).

    Parameters
    ----------
    y_true : array-like of 0/1
        1 = churned.
    y_score : array-like of float
        Higher = riskier.
    clv : float
        Value kept when a churner accepts and stays (before the incentive).
    d : float
        Incentive cost, paid by every contacted customer who accepts.
    f : float
        Contact cost, per contacted customer.
    alpha, beta : float
        Beta distribution of a churner's acceptance rate ``gamma``.

    Returns
    -------
    dict
        ``empc`` and ``empc_fraction``; ``mp`` and ``mp_fraction`` (at ``gamma = alpha / (alpha + beta)``).

    Examples
    --------
    A perfect score on a half-churning list targets the churners only:
    0.5 x (0.3 x (200 - 10) - 1) = 28 per customer.

    >>> r = empc([0, 1] * 10, [0.1, 0.9] * 10)
    >>> round(r["empc"], 6), round(r["empc_fraction"], 6), round(r["mp"], 6), r["mp_fraction"]
    (28.0, 0.5, 28.0, 0.5)
    """
    _check_costs(clv, d, f, alpha, beta)
    y, s = _check(y_true, y_score)
    pi1 = float(y.mean())
    fpr, tpr = roc_hull(y, s)
    share = pi1 * tpr + (1 - pi1) * fpr  # fraction of the list targeted at each vertex
    mean_gamma = alpha / (alpha + beta)
    mp_all = _profits(fpr, tpr, pi1, mean_gamma, clv, d, f)[0]
    best = int(np.argmax(mp_all))  # the first (smallest fraction) of equal maxima
    # gamma above which vertex i+1 beats vertex i (increasing along the hull)
    dt, df = np.diff(tpr), np.diff(fpr)
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = ((d + f) * (1 - pi1) * df / (pi1 * np.where(dt > 0, dt, np.nan)) + f) / (clv - d)
    cut = np.where(dt > 0, cut, np.inf)  # a step that adds no churner never pays
    edges = np.clip(np.r_[0.0, np.maximum.accumulate(cut), 1.0], 0.0, 1.0)  # vertex i is best on [edges[i], edges[i+1])
    lo, hi = edges[:-1], edges[1:]
    mass = betainc(alpha, beta, hi) - betainc(alpha, beta, lo)
    # E[gamma; interval] = mean_gamma * (I(alpha + 1, beta) difference)
    first = mean_gamma * (betainc(alpha + 1, beta, hi) - betainc(alpha + 1, beta, lo))
    slope = (clv - d) * pi1 * tpr
    intercept = -f * pi1 * tpr - (d + f) * (1 - pi1) * fpr
    expected = float(np.sum(slope * first + intercept * mass))
    return {
        "empc": expected,
        "empc_fraction": float(np.sum(share * mass)),
        "mp": float(mp_all[best]),
        "mp_fraction": float(share[best]),
    }


def profit_curve(y_true, y_score, clv: float = 200.0, d: float = 10.0, f: float = 1.0, gamma: float = 0.3):
    """Profit per customer of the list against the fraction targeted (riskiest first), at
    acceptance ``gamma``: ``(fraction, profit)`` arrays, one point per distinct score.

    >>> frac, profit = profit_curve([0, 1] * 10, [0.1, 0.9] * 10)
    >>> frac.tolist(), [round(float(p), 6) for p in profit]
    ([0.0, 0.5, 1.0], [0.0, 28.0, 22.5])
    """
    _check_costs(clv, d, f, 1.0, 1.0)
    y, s = _check(y_true, y_score)
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    n = len(y)
    churners, others = np.cumsum(y)[last_of_tie], np.cumsum(1 - y)[last_of_tie]
    profit = ((gamma * (clv - d) - f) * churners - (d + f) * others) / n
    return np.r_[0.0, (churners + others) / n], np.r_[0.0, profit]
