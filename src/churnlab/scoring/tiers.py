"""Risk tiers from churn probabilities: thresholds or a top share of the list."""

from __future__ import annotations

import numpy as np

from churnlab.checks import plain

__all__ = ["DEFAULT_THRESHOLDS", "TIERS", "base_rate_thresholds", "check_share", "check_thresholds", "risk_tiers"]

#: Probability at or above which a customer is in each risk tier (below all: "low").
DEFAULT_THRESHOLDS = {"high": 0.5, "medium": 0.2}
TIERS = ("high", "medium", "low")


def check_thresholds(thresholds: dict[str, float] | None) -> dict[str, float]:
    """Validated risk-tier thresholds: tiers among ``high``/``medium``, each in (0, 1), and
    ``high`` above ``medium``. ``None`` gives :data:`DEFAULT_THRESHOLDS`.

    >>> check_thresholds({"high": 0.1, "medium": 0.6})
    Traceback (most recent call last):
    ...
    ValueError: `thresholds`: high (0.1) must be above medium (0.6)
    """
    if thresholds is None:
        return dict(DEFAULT_THRESHOLDS)
    if not isinstance(thresholds, dict) or not thresholds:
        raise TypeError(f"`thresholds` must be a dict like {DEFAULT_THRESHOLDS}, got {thresholds!r}")
    for name, t in thresholds.items():
        if name not in ("high", "medium"):
            raise ValueError(f"`thresholds`: unknown risk tier {name!r}; tiers with a threshold are 'high' and 'medium'")
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
            raise TypeError(f"`thresholds`: {name} must be a number in (0, 1), got {plain(t)!r}")
        if not 0 < t < 1:
            raise ValueError(f"`thresholds`: {name} must be in (0, 1), got {plain(t)!r}")
    if "high" in thresholds and "medium" in thresholds and not thresholds["high"] > thresholds["medium"]:
        raise ValueError(f"`thresholds`: high ({plain(thresholds['high'])}) must be above medium ({plain(thresholds['medium'])})")
    return {k: float(v) for k, v in thresholds.items()}


def base_rate_thresholds(validation_proba, base_rate: float) -> dict[str, float]:
    """Risk tiers that fit the churn rate the model learned, so that a 2%-churn business and a
    70%-churn one both get three meaningful tiers.

    ``high`` = at least 3x the base rate, or among the top 10% of the validation period's
    probabilities, whichever threshold is lower; ``medium`` = the next 20% (the 70th
    percentile), or, when that percentile is already above ``high``, midway between the base
    rate and ``high``.

    Parameters
    ----------
    validation_proba : array-like of float
        The model's churn probabilities on the validation period.
    base_rate : float
        The training labels' churn rate, in (0, 1).

    Returns
    -------
    dict
        ``{"high": h, "medium": m}`` with 0 < m < h < 1 (see :func:`check_thresholds`).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.linspace(0.0, 0.1, 101)  # a 2%-churn business: no probability near 0.5
    >>> {k: round(v, 3) for k, v in base_rate_thresholds(p, 0.02).items()}
    {'high': 0.06, 'medium': 0.04}
    """
    p = np.asarray(validation_proba, dtype=float)
    p = p[np.isfinite(p)]
    if not len(p):
        raise ValueError("`validation_proba` holds no probability")
    b = float(np.clip(base_rate, 1e-6, 1 - 1e-6))
    q70, q90 = (float(q) for q in np.quantile(p, [0.7, 0.9]))
    high = float(np.clip(min(3 * b, q90), 1e-6, 1 - 1e-6))
    medium = q70 if q70 < high else (b + high) / 2
    if not 0 < medium < high:  # a degenerate spread of probabilities: halve the high cut
        medium = high / 2
    return {"high": high, "medium": float(medium)}


def check_share(top_share) -> None:
    if isinstance(top_share, bool) or not isinstance(top_share, (int, float, np.integer, np.floating)) or not 0 < top_share < 1:
        raise ValueError(f"`top_share` must be in (0, 1), got {plain(top_share)!r}")


def risk_tiers(proba: np.ndarray, thresholds: dict[str, float] | None = None, top_share: float | None = None) -> np.ndarray:
    """Tier labels from probability thresholds (default :data:`DEFAULT_THRESHOLDS`, else
    "low") or, with ``top_share``, "high" for the top share by probability and "low" otherwise.

    Parameters
    ----------
    proba : array-like of float
        Churn probabilities (NaN: not scored, tier None).
    thresholds : dict, optional
        ``{"high": 0.5, "medium": 0.2}`` style, see :func:`check_thresholds`.
    top_share : float, optional
        Instead of thresholds: this share of the list, by probability, is "high".

    Returns
    -------
    ndarray of object
        "high", "medium" or "low" per row (None where the probability is NaN).

    Examples
    --------
    >>> risk_tiers([0.7, 0.3, 0.1]).tolist()
    ['high', 'medium', 'low']
    >>> risk_tiers([0.9, 0.3, 0.1, 0.05], top_share=0.25).tolist()
    ['high', 'low', 'low', 'low']
    """
    p = np.asarray(proba, dtype=float)
    if top_share is not None:
        check_share(top_share)
        cut = np.nanquantile(p, 1 - top_share) if np.isfinite(p).any() else np.inf
        return np.where(np.isnan(p), None, np.where(p >= cut, "high", "low"))
    thresholds = check_thresholds(thresholds)
    out = np.full(len(p), "low", dtype=object)
    for name, t in sorted(thresholds.items(), key=lambda kv: kv[1]):
        out[p >= t] = name
    out[np.isnan(p)] = None
    return out
