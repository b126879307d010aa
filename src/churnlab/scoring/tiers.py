"""Risk tiers from churn probabilities: thresholds or a top share of the list.

A model's own tiers (:func:`base_rate_thresholds`) are read against the churn rate it
learned, one sentence each (:data:`TIER_MEANINGS`):

- **high**: churn probability at least twice the base rate: contact first;
- **medium**: above the base rate but under twice it, or a campaign target whatever its
  probability: contact where the campaign's expected profit is positive;
- **low**: at or below the base rate and not a campaign target: no action.

With a campaign (:func:`churnlab.scoring.campaign.add_campaign`) a target in "low" moves to
"medium" (:func:`target_tiers`), so that no customer the campaign contacts sits in the tier
that says "no action".
"""

from __future__ import annotations

import numpy as np

from churnlab.checks import plain

__all__ = ["DEFAULT_THRESHOLDS", "TIERS", "TIER_MEANINGS", "base_rate_thresholds", "check_share", "check_thresholds",
           "risk_tiers", "target_tiers"]

#: Probability at or above which a customer is in each risk tier (below all: "low").
DEFAULT_THRESHOLDS = {"high": 0.5, "medium": 0.2}
TIERS = ("high", "medium", "low")

#: What each tier means for a retention decision, one sentence each.
TIER_MEANINGS = {
    "high": "churn probability at least twice the base rate: contact first.",
    "medium": "above the base rate but under twice it, or a campaign target: contact where the campaign's expected profit is positive.",
    "low": "at or below the base rate and not a campaign target: no action.",
}


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
    """Risk tiers read against the churn rate the model learned, so that a 2%-churn business
    and a 70%-churn one both get tiers that mean the same (:data:`TIER_MEANINGS`).

    ``medium`` starts at the base rate: a customer more likely to churn than the typical
    one is never "low". ``high`` starts at twice the base rate, or midway between the base
    rate and 1 where twice it would reach 1 (base rates of 1/3 and more).

    Parameters
    ----------
    validation_proba : array-like of float
        The model's churn probabilities on the validation period (checked to hold some).
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
    {'high': 0.04, 'medium': 0.02}
    >>> {k: round(v, 3) for k, v in base_rate_thresholds(p, 0.6).items()}
    {'high': 0.8, 'medium': 0.6}
    """
    p = np.asarray(validation_proba, dtype=float)
    if not np.isfinite(p).any():
        raise ValueError("`validation_proba` holds no probability")
    if isinstance(base_rate, bool) or not isinstance(base_rate, (int, float, np.integer, np.floating)) or not 0 < base_rate < 1:
        raise ValueError(f"`base_rate` must be in (0, 1), got {plain(base_rate)!r}")
    b = float(np.clip(base_rate, 1e-6, 1 - 1e-6))
    return {"high": float(min(2 * b, (1 + b) / 2)), "medium": b}


def target_tiers(tiers, target) -> np.ndarray:
    """The tiers with every campaign target at least "medium": a customer the campaign
    contacts never sits in "low", the tier that says "no action".

    >>> target_tiers(np.array(["high", "low", "low", None], dtype=object), [True, True, False, False]).tolist()
    ['high', 'medium', 'low', None]
    """
    out = np.array(tiers, dtype=object)
    hit = np.asarray(target, dtype=bool)
    if out.shape != hit.shape:
        raise ValueError(f"`tiers` and `target` differ in length: {out.shape[0]} and {hit.shape[0]}")
    low = np.fromiter((isinstance(t, str) and t == "low" for t in out), dtype=bool, count=len(out))
    out[hit & low] = "medium"
    return out


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
