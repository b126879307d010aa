"""Uplift evaluation on a randomised campaign: Qini and uplift curves, their normalised areas,
uplift per decile with bootstrap intervals, and the incremental profit of targeting.

The outcome ``y`` is 1 when the customer was *retained* (did not churn), so a positive uplift
score means the contact is expected to keep the customer. Customers are ranked by score,
highest first; customers with equal scores are taken together (the curves have a point
only where the score changes, joined by straight lines), so a curve does not depend on the
order of tied rows.

* Qini curve (Radcliffe 2007): ``Q(k) = R_T(k) - R_C(k) N_T(k) / N_C(k)`` for the top ``k``
  rows, ``R`` the retained and ``N`` the customers of each arm among them.
* Uplift curve: ``U(k) = (R_T(k) / N_T(k) - R_C(k) / N_C(k)) k``.
* Qini coefficient and AUUC: the area between the curve and the straight line from
  ``(0, 0)`` to its end, divided by that of the best possible ordering of the observed
  outcomes (as scikit-uplift's ``qini_auc_score`` and ``uplift_auc_score``): 1 for a
  perfect ranking, about 0 for a random one, negative for a harmful one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.checks import binary_labels

__all__ = [
    "auuc",
    "best_fraction",
    "profit_curve",
    "qini_coefficient",
    "qini_curve",
    "uplift_by_decile",
    "uplift_curve",
]


def _inputs(y, score, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = binary_labels(y, "y", len(np.asarray(y)))
    t = binary_labels(treatment, "treatment", len(y))
    s = np.asarray(score, dtype=float)
    if s.shape != y.shape:
        raise ValueError(f"`score` must hold one value per row ({len(y)}), got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"`score` must be finite, got {s[~np.isfinite(s)][0]!r}")
    if t.sum() == 0 or t.sum() == len(t):
        raise ValueError("`treatment` must hold both arms (1 contacted, 0 control)")
    return y, s, t


def _cumulative(y, s, t):
    """Counts among the top rows at each distinct score (ties together), from the first."""
    order = np.argsort(-s, kind="mergesort")
    y, s, t = y[order], s[order], t[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    n = ends + 1.0
    n_t = np.cumsum(t)[ends]
    r_t = np.cumsum(y * t)[ends]
    r_c = np.cumsum(y * (1 - t))[ends]
    return n, n_t, n - n_t, r_t, r_c


def qini_curve(y, score, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points of the Qini curve: customers targeted and incremental retained customers.

    Parameters
    ----------
    y : array of 0/1
        1 = retained.
    score : array of float
        Higher = target first.
    treatment : array of 0/1

    Returns
    -------
    (n_targeted, qini) : arrays starting at (0, 0)

    Examples
    --------
    >>> x, q = qini_curve([1, 0, 0, 1], [0.9, 0.8, 0.2, 0.1], [1, 0, 1, 0])
    >>> x.tolist(), q.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 1.0, 0.0])
    """
    y, s, t = _inputs(y, score, treatment)
    n, n_t, n_c, r_t, r_c = _cumulative(y, s, t)
    q = r_t - r_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    return np.r_[0.0, n], np.r_[0.0, q]


def uplift_curve(y, score, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points of the uplift curve: customers targeted and (retention rate contacted minus
    control among them) x their number; arms without rows count as rate 0.

    Examples
    --------
    >>> x, u = uplift_curve([1, 0, 0, 1], [0.9, 0.8, 0.2, 0.1], [1, 0, 1, 0])
    >>> u.tolist()
    [0.0, 1.0, 2.0, 1.5, 0.0]
    """
    y, s, t = _inputs(y, score, treatment)
    n, n_t, n_c, r_t, r_c = _cumulative(y, s, t)
    rate_t = np.divide(r_t, n_t, out=np.zeros_like(r_t), where=n_t > 0)
    rate_c = np.divide(r_c, n_c, out=np.zeros_like(r_c), where=n_c > 0)
    return np.r_[0.0, n], np.r_[0.0, (rate_t - rate_c) * n]


def _area_over_line(x: np.ndarray, v: np.ndarray) -> float:
    """Trapezoid area under ``v(x)`` minus that under the line from (0, 0) to its last point."""
    return float(np.trapezoid(v, x) - v[-1] * x[-1] / 2.0)


def qini_coefficient(y, score, treatment) -> float:
    """The area between the Qini curve and the random line, over that of the perfect ordering
    (contacted customers retained first, control customers retained last).

    Examples
    --------
    >>> y, t = [1, 0, 0, 1, 1, 0], [1, 1, 0, 0, 1, 0]
    >>> round(qini_coefficient(y, [6, 5, 4, 3, 2, 1], t), 4), round(qini_coefficient(y, [1, 2, 3, 4, 5, 6], t), 4)
    (0.1538, 0.0)
    """
    y, s, t = _inputs(y, score, treatment)
    perfect = y * t - y * (1 - t)
    return _area_over_line(*qini_curve(y, s, t)) / _area_over_line(*qini_curve(y, perfect, t))


def auuc(y, score, treatment) -> float:
    """Normalised area under the uplift curve: over the random line, divided by that of the
    best ordering of the observed outcomes.

    Examples
    --------
    >>> y, t = [1, 0, 0, 1], [1, 0, 1, 0]
    >>> auuc(y, [0.9, 0.8, 0.2, 0.1], t), auuc(y, [0.1, 0.2, 0.8, 0.9], t)
    (1.0, -1.0)
    """
    y, s, t = _inputs(y, score, treatment)
    responders_c, non_responders_t = np.sum(y * (1 - t)), np.sum((1 - y) * t)
    perfect = 2 * (y == t) + (y if responders_c > non_responders_t else t)
    return _area_over_line(*uplift_curve(y, s, t)) / _area_over_line(*uplift_curve(y, perfect, t))


def uplift_by_decile(y, score, treatment, *, bins: int = 10, n_boot: int = 200, seed: int = 0, level: float = 0.9) -> pd.DataFrame:
    """Observed uplift (retention rate contacted minus control) per score decile, highest
    scores first, with percentile bootstrap intervals (rows resampled within each arm of the decile).

    Parameters
    ----------
    y, score, treatment : arrays
    bins : int
        Number of equal-count groups by rank (ties broken by row order).
    n_boot : int
    seed : int
    level : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        ``decile`` (1 = highest scores), ``n``, ``n_treated``, ``n_control``,
        ``mean_score``, ``uplift``, ``lower``, ``upper`` (NaN where an arm is empty).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.integers(0, 2, 400); s = rng.random(400); y = (rng.random(400) < 0.3 + 0.4 * t * (s > 0.5)).astype(int)
    >>> d = uplift_by_decile(y, s, t, bins=2, n_boot=50)
    >>> d["decile"].tolist(), bool(d["uplift"].iloc[0] > d["uplift"].iloc[1])
    ([1, 2], True)
    """
    y, s, t = _inputs(y, score, treatment)
    if bins < 1 or bins > len(y):
        raise ValueError(f"`bins` must be in [1, {len(y)}], got {bins}")
    rng = np.random.default_rng(seed)
    order = np.argsort(-s, kind="mergesort")
    groups = np.array_split(order, bins)
    rows = []
    for i, g in enumerate(groups, start=1):
        yt, yc = y[g][t[g] == 1], y[g][t[g] == 0]
        up = yt.mean() - yc.mean() if len(yt) and len(yc) else np.nan
        lo = hi = np.nan
        if len(yt) and len(yc):
            bt = rng.binomial(len(yt), yt.mean(), n_boot) / len(yt)  # resampled mean of 0/1 rows
            bc = rng.binomial(len(yc), yc.mean(), n_boot) / len(yc)
            lo, hi = np.quantile(bt - bc, [(1 - level) / 2, (1 + level) / 2])
        rows.append({"decile": i, "n": len(g), "n_treated": len(yt), "n_control": len(yc), "mean_score": float(s[g].mean()),
                     "uplift": float(up), "lower": float(lo), "upper": float(hi)})
    return pd.DataFrame(rows)


def profit_curve(
    y, score, treatment, value, *, margin: float = 1.0, contact_cost: float = 1.0, incentive_cost: float = 0.0,
    cost=None, steps: int = 100,
) -> pd.DataFrame:
    """Incremental profit of contacting the top fraction of customers by score, estimated
    from the campaign's two arms.

    For the top ``k`` customers, with contacted ``T`` and control ``C`` among them::

        profit = k (mean_T(margin value y) - mean_C(margin value y) - cost per contact)

    where the cost per contact is ``contact_cost + incentive_cost x mean_T(y)`` (the
    incentive is paid by each contacted customer who stays); with recorded costs, their mean
    over the contacted customers among the top replaces ``contact_cost``. The first terms are
    the retained value the contact adds: sure things cost an incentive without adding any,
    sleeping dogs lose value.

    Parameters
    ----------
    y : array of 0/1
        1 = retained.
    score, treatment : arrays
    value : array of float
        What a retained customer is worth.
    margin, contact_cost, incentive_cost : float
    cost : array of float, optional
        The recorded contact cost of each contacted customer (control rows ignored), instead
        of ``contact_cost``.
    steps : int
        The curve's fractions: 0, 1/steps, ..., 1.

    Returns
    -------
    DataFrame
        ``fraction``, ``n_targeted``, ``profit`` (0 at fraction 0; NaN where an arm has no
        customer among the top).

    Examples
    --------
    >>> c = profit_curve([1, 0, 1, 0], [4, 3, 2, 1], [1, 0, 0, 1], [10.0] * 4, contact_cost=1.0, steps=2)
    >>> c["profit"].tolist()
    [0.0, 18.0, -4.0]
    """
    y, s, t = _inputs(y, score, treatment)
    v = np.asarray(value, dtype=float)
    if v.shape != y.shape or not np.isfinite(v).all():
        raise ValueError(f"`value` must hold one finite value per row ({len(y)})")
    c = None if cost is None else np.asarray(cost, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    y, t, v, s = y[order], t[order], v[order], s[order]
    gain = margin * v * y
    cum_t, cum_gt, cum_gc, cum_yt = np.cumsum(t), np.cumsum(gain * t), np.cumsum(gain * (1 - t)), np.cumsum(y * t)
    cum_cost = np.cumsum(np.nan_to_num(c[order]) * t) if c is not None else None
    # a fraction that splits tied scores takes the whole tie (the curve does not depend on row order)
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    out = []
    for i in range(steps + 1):
        f = i / steps
        k = int(round(f * len(y)))
        if k == 0:
            out.append((f, 0, 0.0))
            continue
        j = last_of_tie[np.searchsorted(last_of_tie, k - 1)]
        k = j + 1
        nt, nc = cum_t[j], k - cum_t[j]
        if nt == 0 or nc == 0:
            out.append((f, k, np.nan))
            continue
        per_contact = (cum_cost[j] / nt if cum_cost is not None else contact_cost) + incentive_cost * cum_yt[j] / nt
        out.append((f, k, float(k * (cum_gt[j] / nt - cum_gc[j] / nc - per_contact))))
    return pd.DataFrame(out, columns=["fraction", "n_targeted", "profit"])


def best_fraction(curve: pd.DataFrame) -> tuple[float, float]:
    """The fraction of a :func:`profit_curve` with the highest profit (the smallest one on
    ties; contacting nobody, profit 0, is always a choice) and that profit.

    >>> best_fraction(pd.DataFrame({"fraction": [0, 0.5, 1], "profit": [0.0, 18.0, -2.0]}))
    (0.5, 18.0)
    """
    p = curve["profit"].to_numpy(dtype=float)
    p = np.where(np.isfinite(p), p, -np.inf)
    i = int(np.argmax(p))
    return float(curve["fraction"].iloc[i]), float(p[i])
