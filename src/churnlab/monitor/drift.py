"""Drift at scoring: do the customers scored now look like the ones the model was tested on?

At training, :func:`reference_profile` stores, for every feature and for the score, the
distribution on the test period: numbers in 10 quantile bins (fewer when values repeat),
categories by level (the 20 most frequent, the rest as one "other" level), and the share
missing. At scoring, :class:`DriftCounter` counts the scored customers into the same bins,
chunk by chunk (counts add up, so the result does not depend on the chunking), and
:meth:`DriftCounter.result` gives each feature's population stability index

    PSI = sum_i (now_i - ref_i) * ln(now_i / ref_i)

over the bins and a "missing" bin, with shares floored at 1e-4 so that an empty bin counts
but does not divide by zero. Usual reading (Siddiqi 2006, as in Evidently and NannyML):
below 0.1 no shift, 0.1 to 0.2 a moderate shift worth a look, above 0.2 a major shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.checks import is_text_dtype

__all__ = ["PSI_MAJOR", "PSI_MODERATE", "DriftCounter", "feature_drift", "psi", "reference_profile"]

PSI_MODERATE, PSI_MAJOR = 0.1, 0.2
SCORE = "churn_probability"
_FLOOR = 1e-4
_LEVELS = 20


def psi(reference_counts, current_counts) -> float:
    """Population stability index between two sets of counts over the same bins.

    >>> round(psi([50, 50], [50, 50]), 6), round(psi([50, 50], [80, 20]), 4)
    (0.0, 0.4159)
    """
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return float("nan")
    r = np.maximum(ref / ref.sum(), _FLOOR)
    c = np.maximum(cur / cur.sum(), _FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def _profile(values: pd.Series) -> dict:
    if is_text_dtype(values.dtype):
        text = values.astype(object).where(values.notna(), None)
        counts = text.dropna().astype(str).value_counts()
        levels = sorted(counts.index[:_LEVELS])
        return {"kind": "category", "levels": levels, **_count_category(text, levels)}
    v = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    finite = v[np.isfinite(v)]
    edges = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9))).tolist() if len(finite) else []
    return {"kind": "number", "edges": edges, **_count_number(v, edges)}


def _count_category(text: pd.Series, levels: list) -> dict:
    known = text.dropna().astype(str)
    counts = known.value_counts().reindex(levels, fill_value=0).to_numpy()
    return {"counts": [int(c) for c in counts], "other": int((~known.isin(levels)).sum()),
            "missing": int(text.isna().sum())}


def _count_number(v: np.ndarray, edges: list) -> dict:
    finite = np.isfinite(v)
    bins = np.searchsorted(np.asarray(edges, dtype=float), v[finite], side="left")
    return {"counts": [int(c) for c in np.bincount(bins, minlength=len(edges) + 1)], "missing": int((~finite).sum())}


def _count(values: pd.Series, prof: dict) -> dict:
    if prof["kind"] == "category":
        return _count_category(values.astype(object).where(values.notna(), None), prof["levels"])
    return _count_number(pd.to_numeric(values, errors="coerce").astype(float).to_numpy(), prof["edges"])


def _bins(c: dict) -> list[int]:
    return [*c["counts"], *([c["other"]] if "other" in c else []), c["missing"]]


def reference_profile(features: pd.DataFrame, scores) -> dict:
    """The distributions that drift is measured against (JSON-ready).

    Parameters
    ----------
    features : DataFrame
        The model's features on the reference rows (the test period at training).
    scores : array-like of float
        The model's churn probabilities on the same rows.

    Returns
    -------
    dict
        ``{"features": {name: profile}, "score": profile, "n": rows}``.

    Examples
    --------
    >>> X = pd.DataFrame({"recency": [1.0, 5.0, 9.0, None], "plan": pd.Categorical(["a", "b", "a", "a"])})
    >>> p = reference_profile(X, [0.1, 0.2, 0.3, 0.4])
    >>> p["features"]["plan"]["counts"], p["features"]["recency"]["missing"]
    ([3, 1], 1)
    """
    return {"features": {c: _profile(features[c]) for c in features.columns},
            "score": _profile(pd.Series(np.asarray(scores, dtype=float))), "n": int(len(features))}


class DriftCounter:
    """Counts scored customers into a reference profile's bins, chunk by chunk.

    Parameters
    ----------
    profile : dict
        From :func:`reference_profile` (stored with the model as ``reference_profile``).

    Examples
    --------
    >>> X = pd.DataFrame({"x": np.arange(100.0)})
    >>> counter = DriftCounter(reference_profile(X, np.linspace(0, 1, 100)))
    >>> counter.add(X + 50, np.linspace(0, 1, 100)).result().set_index("feature")["flag"].to_dict()
    {'x': 'major', 'churn_probability': 'none'}
    """

    def __init__(self, profile: dict):
        self.profile = profile
        self.now = {name: None for name in [*profile["features"], SCORE]}
        self.n = 0

    def _reference(self, name: str) -> dict:
        return self.profile["score"] if name == SCORE else self.profile["features"][name]

    def add(self, features: pd.DataFrame, scores) -> "DriftCounter":
        """Count one chunk's features and churn probabilities (the scored customers)."""
        columns = {**{c: features[c] for c in self.profile["features"] if c in features.columns},
                   SCORE: pd.Series(np.asarray(scores, dtype=float))}
        for name, values in columns.items():
            prof = self._reference(name)
            counts = _bins(_count(values, prof))
            self.now[name] = counts if self.now[name] is None else [a + b for a, b in zip(self.now[name], counts)]
        self.n += len(features)
        return self

    def result(self) -> pd.DataFrame:
        """One row per feature and for the score: ``feature, psi, missing_share_reference,
        missing_share_now, flag`` (``none`` < 0.1 <= ``moderate`` <= 0.2 < ``major``), largest PSI first."""
        rows = []
        for name, now in self.now.items():
            prof = self._reference(name)
            ref = _bins(prof)
            value = psi(ref, now) if now is not None else float("nan")
            flag = "none" if value < PSI_MODERATE else ("moderate" if value <= PSI_MAJOR else "major")
            rows.append({
                "feature": name,
                "psi": value,
                "missing_share_reference": prof["missing"] / max(1, sum(ref)),
                "missing_share_now": (now[-1] / max(1, sum(now))) if now is not None else float("nan"),
                "flag": flag if np.isfinite(value) else "no data",
            })
        out = pd.DataFrame(rows)
        return out.sort_values("psi", ascending=False, kind="stable", na_position="last").reset_index(drop=True)


def feature_drift(model, features: pd.DataFrame, scores=None) -> pd.DataFrame:
    """PSI of every feature (and of the score) between the model's test period and ``features``.

    Parameters
    ----------
    model : ScoringModel
        Trained by churnlab (its metadata holds ``reference_profile``).
    features : DataFrame
        The model's features of the customers scored now, e.g. :meth:`ScoringModel.features`
        of the scored population.
    scores : array-like, optional
        Their churn probabilities (default: the model's, computed here).

    Returns
    -------
    DataFrame
        ``feature, psi, missing_share_reference, missing_share_now, flag``; thresholds
        :data:`PSI_MODERATE` (0.1) and :data:`PSI_MAJOR` (0.2).

    Examples
    --------
    >>> drift = feature_drift(ScoringModel.load("runs:/<id>/model"), X)  # doctest: +SKIP
    """
    profile = model.metadata.get("reference_profile")
    if not profile:
        raise ValueError("this model has no reference profile (trained before churnlab stored one); retrain it")
    proba = model.model.churn_probability(features) if scores is None else scores
    return DriftCounter(profile).add(features, proba).result()
