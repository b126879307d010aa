"""Per-customer drivers with readable reasons, and global and per-segment drivers.

Drivers: features that describe one signal (the windows of a count, recency and the overdue
ratio, ...) share a *driver group* from the feature dictionary, and the purchase groups
(recency, frequency, spend and their trend) read as one *family*
(:data:`churnlab.explain.wording.FAMILIES`): a customer's reasons name each family once, its
contributions summed. Each reason is one feature's statement
(:mod:`churnlab.explain.wording`): a fact with the comparison that makes it a risk, against the
customer's own history or the typical customer. A risk reason is given only where the fact
raises risk compared with that reference; otherwise the family is left out and the next one
takes the slot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.explain.shap import EXPECTED
from churnlab.explain.formatting import format_many as _format_many
from churnlab.explain.formatting import format_text as _fmt
from churnlab.explain.wording import family_of, statement, typical_values

__all__ = ["driver_arrays", "global_drivers", "segment_drivers", "top_drivers", "with_typical"]


def _dictionary(dictionary: pd.DataFrame | list | None, columns) -> pd.DataFrame:
    if dictionary is None:
        return pd.DataFrame({"feature": list(columns), "group": list(columns), "reason": [f"{c} = {{value}}" for c in columns]}).set_index("feature")
    d = pd.DataFrame(dictionary).set_index("feature")
    missing = [c for c in columns if c not in d.index]
    if missing:
        raise ValueError(f"feature dictionary lacks {missing[:5]}")
    return d.loc[list(columns)]


def _column_values(col: pd.Series) -> np.ndarray:
    """A feature column as floats, or as objects if categorical or not numeric."""
    numeric = not isinstance(col.dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(col.dtype)
    return col.to_numpy(dtype=float) if numeric else col.to_numpy(dtype=object)


def _column_text(template: str, meaning: str, col: pd.Series, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reason text for the values of ``col`` at positions ``at`` as ``(texts, codes)``:
    ``texts[codes]`` are the texts. A categorical column is formatted once per category
    used (the values are the categories themselves)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()[at].astype(np.int64)
        cats = col.cat.categories
        texts = np.empty(len(cats) + 1, dtype=object)
        texts[-1] = _fmt(template, meaning, None)  # code -1: missing
        for c in np.unique(codes[codes >= 0]):
            texts[c] = _fmt(template, meaning, cats[c])
        return texts, np.where(codes < 0, len(cats), codes)
    return _format_many(template, meaning, _column_values(col)[at])


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
    shap_values : output of :func:`churnlab.explain.shap_values`
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

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"tickets": [1.2, -0.1], "recency": [0.3, 0.8], "expected_value": [-1.0, -1.0]}, index=[7, 8])
    >>> X = pd.DataFrame({"tickets": [3.0, 0.0], "recency": [40.0, 95.0]}, index=[7, 8])
    >>> top_drivers(sv, X, k=1)[["customer_id", "feature", "reason"]].values.tolist()
    [[7, 'tickets', 'tickets = 3.0 (typical customer: 1.5)'], [8, 'recency', 'recency = 95.0 (typical customer: 67.5)']]

    Without a dictionary's ``typical`` column the customers given are the reference. A
    churnlab feature reads as a person would write it:

    >>> sv = pd.DataFrame({"s_unresolved_total": [1.2], "expected_value": [-1.0]})
    >>> d = [{"feature": "s_unresolved_total", "group": "unresolved_tickets", "reason": "", "typical": 0.0}]
    >>> top_drivers(sv, pd.DataFrame({"s_unresolved_total": [1.0]}), d)["reason"].tolist()
    ['1 unresolved ticket (typical customer: none)']
    """
    a = driver_arrays(shap_values, features, dictionary, k, kind)

    def text(x):  # plain object columns: skip pandas' costly string-type inference
        return pd.Series(x, dtype=object, copy=False)

    return pd.DataFrame(
        {
            "customer_id": shap_values.index.to_numpy()[a["row"]],
            "rank": a["rank"],
            "driver": text(a["groups"][a["group"]]),
            "feature": text(a["feature"]),
            "value": text(a["value"]),
            "contribution": a["contribution"],
            "direction": text(np.where(a["contribution"] > 0, "raises risk", "lowers risk").astype(object)),
            "reason": text(a["reason_texts"][a["reason"]]),
        }
    )


def with_typical(dictionary: pd.DataFrame, features: pd.DataFrame | None) -> pd.DataFrame:
    """The feature dictionary with a ``typical`` column: what the typical customer of the
    reference rows ``features`` looks like (:func:`churnlab.explain.wording.typical_values`),
    the comparison of every reason. ``features`` None: the dictionary as it is.

    >>> d = pd.DataFrame({"feature": ["n"], "group": ["n"], "reason": ["n = {value}"]})
    >>> with_typical(d, pd.DataFrame({"n": [1.0, 5.0, 9.0]}))["typical"].tolist()
    [5.0]
    """
    if features is None:
        return dictionary
    typical = typical_values(features[[c for c in dictionary["feature"] if c in features.columns]])
    return dictionary.assign(typical=[typical.get(f) for f in dictionary["feature"]])


def _typical(d: pd.DataFrame, features: pd.DataFrame) -> dict:
    """The dictionary's ``typical`` values; without them, those of ``features`` themselves."""
    if "typical" not in d.columns:
        return typical_values(features[[c for c in d.index if c in features.columns]])
    out = {}
    for f, v in d["typical"].items():
        missing = v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
        out[f] = None if missing else (float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v))
    return out


def _is_text(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col.dtype)


def driver_arrays(shap_values: pd.DataFrame, features: pd.DataFrame, dictionary, k: int, kind: str, values: bool = True) -> dict:
    """:func:`top_drivers` as arrays, one entry per (customer, rank): ``row`` is the customer's
    position in ``shap_values``; ``rank`` counts from 1. Texts come as codes: ``group`` into
    ``groups`` (the driver names) and ``reason`` into ``reason_texts``, each distinct text
    built once; batch scoring lays them out wide as such and needs no ``value`` (``values=False``)."""
    if k <= 0:
        raise ValueError(f"`k` must be > 0, got {k}")
    if kind not in ("risk", "both"):
        raise ValueError(f"`kind` must be 'risk' or 'both', got {kind!r}")
    names = np.array([c for c in shap_values.columns if c != EXPECTED], dtype=object)
    d = _dictionary(dictionary, names)
    family = np.array([family_of(str(g)) for g in d["group"]], dtype=object)
    groups = pd.Index(pd.unique(family))
    member = groups.get_indexer(family)
    V = shap_values[list(names)].to_numpy(dtype=float)
    n, g = V.shape[0], len(groups)
    # contributions summed per family, feature by feature in column order. Not as a matrix
    # product: BLAS threads spin on a core for a while after each call (measured: a second
    # core busy for as long as this function), and batch scoring runs the feature query on
    # that core meanwhile.
    Gt = np.zeros((g, n))
    for j, gi in enumerate(member):
        Gt[gi] += V[:, j]
    G = Gt.T
    typical = _typical(d, features)
    arrays: dict = {}

    def column(c: str):
        """A column as floats, or as a Categorical (texts per category, not per row)."""
        if c not in arrays:
            col = features[c]
            arrays[c] = (col.array if isinstance(col.dtype, pd.CategoricalDtype) else pd.Categorical(col.astype(object))) \
                if _is_text(col) else col.to_numpy(dtype=float)
        return arrays[c]

    rows_d = d.reset_index().to_dict(orient="records")
    says = [statement(str(f), features.columns, typical, rows_d[j], _is_text(features[f])) for j, f in enumerate(names)]
    # each family's statement: in "risk", its feature with the largest positive contribution
    # whose fact raises risk against its reference (none: the family is no risk reason);
    # in "both", its feature with the largest |contribution|
    anchor_t = np.full((g, n), -1, dtype=np.int64)  # family-major: each family's row is contiguous
    best_t = np.full((g, n), -np.inf)
    Vt = V.T
    for j, gi in enumerate(member):
        if kind == "risk":
            positive = Vt[j] > 0
            if not positive.any():
                continue
            v = np.where(positive & says[j].risky(column, n), Vt[j], -np.inf)
        else:
            v = np.abs(Vt[j])
        better = v > best_t[gi]
        best_t[gi][better], anchor_t[gi][better] = v[better], j
    anchor = anchor_t.T
    if kind == "risk":
        score = np.where((anchor_t >= 0) & (Gt > 0), Gt, -np.inf).T.copy()
    else:
        score = np.abs(G)
    kk = min(k, g)
    # the kk largest per row, largest first, ties to the earlier family (a stable sort's order):
    # argmax takes the first of equal maxima
    order = np.empty((n, kk), dtype=np.int64)
    picked = np.empty((n, kk))
    every = np.arange(n)
    for r in range(kk):
        order[:, r] = score.argmax(axis=1)
        picked[:, r] = score[every, order[:, r]]
        score[every, order[:, r]] = -np.inf
    rows = np.repeat(every, kk)
    gsel = order.ravel()
    keep = np.isfinite(picked.ravel())  # a family that is no risk reason, or none left
    rows, gsel = rows[keep], gsel[keep]
    contrib = G[rows, gsel]
    fidx = anchor[rows, gsel]
    shown = np.empty(len(rows), dtype=object) if values else None
    reasons = np.empty(len(rows), dtype=np.int64)
    texts: list[np.ndarray] = []
    used = 0
    for j in np.unique(fidx):
        sel = np.flatnonzero(fidx == j)
        at = rows[sel]
        if shown is not None:
            shown[sel] = _column_values(features[names[j]])[at]
        t, codes = says[j].text(lambda c, at=at: column(c)[at], len(sel))
        reasons[sel] = codes + used
        texts.append(t)
        used += len(t)
    return {
        "row": rows,
        "rank": (np.arange(len(rows)) - np.searchsorted(rows, rows)) + 1,
        "group": gsel,
        "groups": groups.to_numpy(dtype=object),
        "feature": names[fidx],
        "value": shown,
        "contribution": contrib,
        "reason": reasons,
        "reason_texts": np.concatenate(texts) if texts else np.array([], dtype=object),
    }


def global_drivers(shap_values: pd.DataFrame, dictionary: pd.DataFrame | list | None = None) -> pd.DataFrame:
    """Mean |SHAP| per driver group (and the top feature of each), largest first.

    Parameters
    ----------
    shap_values : DataFrame
        Output of :func:`churnlab.explain.shap_values`.
    dictionary : DataFrame or list of dict, optional
        The feature dictionary (its ``group`` column); without it each feature is a group.

    Returns
    -------
    DataFrame
        ``driver``, ``mean_abs_shap``, ``top_feature``, ``share``.

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"a": [1.0, -3.0], "b": [0.5, 0.5], "expected_value": [0.0, 0.0]})
    >>> global_drivers(sv)[["driver", "mean_abs_shap"]].values.tolist()
    [['a', 2.0], ['b', 0.5]]
    """
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
    """Mean |SHAP| per driver group within each segment (e.g. tier): drivers x segments.

    Parameters
    ----------
    shap_values : DataFrame
    segment : Series
        The segment of each customer (same index); missing values form "(missing)".
    dictionary : DataFrame or list of dict, optional

    Returns
    -------
    DataFrame
        Rows: drivers; columns: segments.

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"a": [1.0, -3.0], "b": [0.5, 0.5], "expected_value": [0.0, 0.0]})
    >>> segment_drivers(sv, pd.Series(["gold", "basic"])).to_dict()
    {'basic': {'a': 3.0, 'b': 0.5}, 'gold': {'a': 1.0, 'b': 0.5}}
    """
    seg = pd.Series(segment).reindex(shap_values.index).astype(object).fillna("(missing)")
    parts = {name: global_drivers(shap_values[seg == name], dictionary).set_index("driver")["mean_abs_shap"] for name in sorted(seg.unique(), key=str)}
    return pd.DataFrame(parts).fillna(0.0).sort_values(list(parts)[0], ascending=False)
