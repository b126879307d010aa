"""Explanations: SHAP values, per-customer drivers with readable reasons, global drivers.

SHAP values come from LightGBM's native TreeSHAP (``pred_contrib=True``), in log-odds. When
the model carries a Platt calibration (``logit(p) = a * margin + b``) the values are scaled by
``a`` and the expected value becomes ``a * base + b``, so they add up exactly to the
calibrated log-odds the model returns. (An isotonic calibration is not linear; then the
values explain the uncalibrated margin.)

Log-odds to probability: a customer's probability moves from ``sigmoid(expected_value)`` to
``sigmoid(sum of all columns)``; :func:`probability_contributions` shares that change out in
proportion to each feature's log-odds contribution, so the shares add up to the change.

Drivers: features that describe one signal (the windows of a count, recency and the overdue
ratio, ...) share a *driver group* from the feature dictionary; contributions are summed per
group so reasons do not repeat themselves, and the group's largest feature provides the
value shown in the reason.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnlab.model import ChurnModel

__all__ = [
    "explain",
    "probability_contributions",
    "tidy_shap",
    "top_drivers",
    "global_drivers",
    "segment_drivers",
    "EXPECTED",
]

EXPECTED = "expected_value"


def explain(model: ChurnModel, features: pd.DataFrame) -> pd.DataFrame:
    """SHAP values (log-odds) per customer and feature, plus the ``expected_value`` column.

    Each row sums to the model's log-odds for that customer.

    Examples
    --------
    >>> # shap = explain(result.model, X); shap.sum(axis=1) == logit(result.model.predict_proba(X))
    """
    contrib = model.contributions(features)
    values, base = contrib[:, :-1], contrib[:, -1]
    cal = model.calibrator_
    if cal is not None and cal.method == "platt":
        values = values * cal.coef_
        base = base * cal.coef_ + cal.intercept_
    out = pd.DataFrame(values, index=features.index, columns=model.feature_names_)
    out[EXPECTED] = base
    return out


def probability_contributions(shap_values: pd.DataFrame) -> pd.DataFrame:
    """Share each row's probability change (from the expected value) out over the features."""
    feats = shap_values.drop(columns=EXPECTED)
    total = feats.sum(axis=1)
    p0 = 1 / (1 + np.exp(-shap_values[EXPECTED]))
    p = 1 / (1 + np.exp(-(shap_values[EXPECTED] + total)))
    scale = ((p - p0) / total.where(total != 0)).fillna(0.0)
    return feats.mul(scale, axis=0)


def tidy_shap(shap_values: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Long format: one row per customer and feature with ``value`` and ``shap``."""
    feats = shap_values.drop(columns=EXPECTED)
    long = feats.rename_axis(index="customer_id", columns="feature").stack().rename("shap").reset_index()
    vals = features[feats.columns].astype(object).rename_axis(index="customer_id", columns="feature")
    long["value"] = vals.stack(future_stack=True).reindex(pd.MultiIndex.from_frame(long[["customer_id", "feature"]])).to_numpy()
    return long[["customer_id", "feature", "value", "shap"]]


def _dictionary(dictionary: pd.DataFrame | list | None, columns) -> pd.DataFrame:
    if dictionary is None:
        return pd.DataFrame({"feature": list(columns), "group": list(columns), "reason": [f"{c} = {{value}}" for c in columns]}).set_index("feature")
    d = pd.DataFrame(dictionary).set_index("feature")
    missing = [c for c in columns if c not in d.index]
    if missing:
        raise ValueError(f"feature dictionary lacks {missing[:5]}")
    return d.loc[list(columns)]


# Reasons that read two features of one group at once.
_GROUP_REASONS = {
    "recency": (("p_recency_days", "p_overdue_ratio"), "no purchase for {p_recency_days:.0f} days, {p_overdue_ratio:.1f}x their usual gap"),
    "unresolved_tickets": (("s_unresolved_total", "s_unresolved_30d"), "{s_unresolved_total:.0f} unresolved tickets ({s_unresolved_30d:.0f} opened in the last 30 days)"),
    "nps": (("v_nps_last", "v_nps_segment"), "last NPS {v_nps_last:.0f} ({v_nps_segment})"),
}


def _fmt(template: str, meaning: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return f"never recorded: {meaning}"
    try:
        return template.format(value=value)
    except (ValueError, TypeError):  # e.g. a numeric format spec on a category
        return f"{meaning}: {value}"


def top_drivers(
    shap_values: pd.DataFrame,
    features: pd.DataFrame,
    dictionary: pd.DataFrame | list | None = None,
    k: int = 5,
    kind: str = "risk",
) -> pd.DataFrame:
    """The top ``k`` drivers per customer, as reason codes.

    Parameters
    ----------
    shap_values : output of :func:`explain`
    features : the feature frame that was explained (same index)
    dictionary : feature dictionary (``FeatureBuilder.feature_dictionary()`` or the records in
        the model metadata); without it every feature is its own driver
    k : int
    kind : {"risk", "both"}
        "risk" keeps drivers that raise churn risk (positive contribution), largest first;
        "both" ranks by absolute contribution.

    Returns
    -------
    DataFrame with ``customer_id, rank, driver, feature, value, contribution, direction,
    reason``.
    """
    if k <= 0:
        raise ValueError(f"`k` must be > 0, got {k}")
    if kind not in ("risk", "both"):
        raise ValueError(f"`kind` must be 'risk' or 'both', got {kind!r}")
    feats = shap_values.drop(columns=EXPECTED)
    d = _dictionary(dictionary, feats.columns)
    groups = pd.Index(pd.unique(d["group"]))
    member = groups.get_indexer(d["group"])
    V = feats.to_numpy()
    n, g = V.shape[0], len(groups)
    G = np.zeros((n, g))
    np.add.at(G.T, member, V.T)  # sum contributions per group
    # representative feature of each group = its largest |contribution| member
    absV = np.abs(V)
    rep = np.zeros((n, g), dtype=int)
    best = np.full((n, g), -1.0)
    for j, gi in enumerate(member):
        better = absV[:, j] > best[:, gi]
        rep[better, gi] = j
        best[better, gi] = absV[better, j]
    score = G if kind == "risk" else np.abs(G)
    kk = min(k, g)
    order = np.argsort(-score, axis=1, kind="stable")[:, :kk]
    rows = np.repeat(np.arange(n), kk)
    gsel = order.ravel()
    contrib = G[rows, gsel]
    keep = contrib > 0 if kind == "risk" else np.ones(len(rows), dtype=bool)
    rows, gsel, contrib = rows[keep], gsel[keep], contrib[keep]
    fidx = rep[rows, gsel]
    names = feats.columns.to_numpy()
    cols = features.columns
    values = np.empty(len(rows), dtype=object)
    reasons = np.empty(len(rows), dtype=object)
    templates = d["reason"].to_numpy()
    meanings = d["meaning"].to_numpy() if "meaning" in d.columns else feats.columns.to_numpy()
    for j in np.unique(fidx):
        sel = fidx == j
        col = features[names[j]]
        vals = col.to_numpy(dtype=object)[rows[sel]]
        values[sel] = vals
        tmpl = templates[j]
        reasons[sel] = [_fmt(tmpl, meanings[j], v) for v in vals]
    # composite reasons for groups that read better with two values
    group_names = groups.to_numpy()[gsel]
    for group, (needed, tmpl) in _GROUP_REASONS.items():
        if not all(c in cols for c in needed):
            continue
        sel = np.flatnonzero(group_names == group)
        if not len(sel):
            continue
        frame = features[list(needed)].iloc[rows[sel]]
        ok = frame.notna().all(axis=1).to_numpy()
        recs = frame[ok].to_dict("records")
        reasons[sel[ok]] = [tmpl.format(**r) for r in recs]
    out = pd.DataFrame(
        {
            "customer_id": shap_values.index.to_numpy()[rows],
            "rank": (np.arange(len(rows)) - np.searchsorted(rows, rows)) + 1,
            "driver": group_names,
            "feature": names[fidx],
            "value": values,
            "contribution": contrib,
            "direction": np.where(contrib > 0, "raises risk", "lowers risk"),
            "reason": reasons,
        }
    )
    return out


def global_drivers(shap_values: pd.DataFrame, dictionary: pd.DataFrame | list | None = None) -> pd.DataFrame:
    """Mean |SHAP| per driver group (and the top feature of each), largest first."""
    feats = shap_values.drop(columns=EXPECTED)
    d = _dictionary(dictionary, feats.columns)
    per_feature = feats.abs().mean()
    df = pd.DataFrame({"feature": per_feature.index, "mean_abs_shap": per_feature.to_numpy(), "group": d["group"].to_numpy()})
    by_group = feats.T.groupby(d["group"].to_numpy()).sum().T.abs().mean()
    top_feature = df.sort_values("mean_abs_shap", ascending=False).groupby("group")["feature"].first()
    out = pd.DataFrame({"driver": by_group.index, "mean_abs_shap": by_group.to_numpy()})
    out["top_feature"] = out["driver"].map(top_feature)
    out["share"] = out["mean_abs_shap"] / out["mean_abs_shap"].sum()
    return out.sort_values(["mean_abs_shap", "driver"], ascending=[False, True]).reset_index(drop=True)


def segment_drivers(shap_values: pd.DataFrame, segment: pd.Series, dictionary=None) -> pd.DataFrame:
    """Mean |SHAP| per driver group within each segment (e.g. tier): drivers x segments."""
    seg = pd.Series(segment).reindex(shap_values.index).astype(object).fillna("(missing)")
    parts = {name: global_drivers(shap_values[seg == name], dictionary).set_index("driver")["mean_abs_shap"] for name in sorted(seg.unique(), key=str)}
    return pd.DataFrame(parts).fillna(0.0).sort_values(list(parts)[0], ascending=False)
