"""Per-customer drivers with readable reasons, and global and per-segment drivers.

Drivers: features that describe one signal (the windows of a count, recency and the overdue
ratio, ...) share a *driver group* from the feature dictionary; contributions are summed per
group so reasons do not repeat themselves, and the group's largest feature provides the
value shown in the reason. Some groups read better with two values at once
(:func:`churnlab.features.dictionary.composite_reasons`).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from churnlab.explain.shap import EXPECTED
from churnlab.features.dictionary import composite_reasons

__all__ = ["driver_arrays", "global_drivers", "segment_drivers", "top_drivers"]


def _dictionary(dictionary: pd.DataFrame | list | None, columns) -> pd.DataFrame:
    if dictionary is None:
        return pd.DataFrame({"feature": list(columns), "group": list(columns), "reason": [f"{c} = {{value}}" for c in columns]}).set_index("feature")
    d = pd.DataFrame(dictionary).set_index("feature")
    missing = [c for c in columns if c not in d.index]
    if missing:
        raise ValueError(f"feature dictionary lacks {missing[:5]}")
    return d.loc[list(columns)]


# a numeric format spec with fixed decimals ("{value:.0f}", "{value:+,.2f}", "{value:.1%}"),
# not an escaped one ("{{value:.0f}}" is literal text)
_SPEC = re.compile(r"(?<!\{)\{value:[+\- ]?,?\.(\d+)([f%])\}")
# what a reason template holds besides literal text: escaped braces and the value's placeholder
_TOKEN = re.compile(r"\{\{|\}\}|\{value(?::([^{}]*))?\}")


def _render(template: str, value) -> str:
    """``template`` with ``{value}`` / ``{value:spec}`` formatted and ``{{`` / ``}}`` as braces;
    any other text (a user's column name included) is copied as it is, never interpreted:
    not ``str.format``, which reads ``tenure{months}`` as a placeholder."""
    def one(m: re.Match) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return format(value, m.group(1) or "")

    return _TOKEN.sub(one, template)


def _fmt(template: str, meaning: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return f"never recorded: {meaning}"
    try:
        return _render(template, value)
    except (ValueError, TypeError):  # e.g. a numeric format spec on a category
        return f"{meaning}: {value}"


def _format_many(template: str, meaning: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Format many values with one template: ``(texts, codes)`` with ``texts[codes]`` the text
    of each value, each distinct text built once (this is the hot loop of reason codes).

    With a fixed number of decimals, values are grouped by the digits they display (their
    rounding to that precision, and the sign, for "-0.0"), so e.g. 200k recency days become a
    few hundred strings to build. A value whose binary rounding could disagree with the exact
    decimal rounding of ``format`` (within a hair of a half), or too large for that check, is
    formatted on its own: every text is the one ``format`` gives for the value."""
    m = _SPEC.search(template)
    if m is not None and values.dtype != object:
        x = values.astype(float)
        digits = int(m.group(1)) + (2 if m.group(2) == "%" else 0)
        with np.errstate(invalid="ignore"):
            scaled = x * 10.0**digits
            r = np.rint(scaled)
            # below 2**32 the scaling's error is under 1e-6: outside that band of a half,
            # the rounded digits are those of the exact value (NaN, inf fail the test)
            plain = (np.abs(scaled) < 2.0**32) & (np.abs(np.abs(scaled - r) - 0.5) > 1e-6)
        at_plain, at_own = np.flatnonzero(plain), np.flatnonzero(~plain)
        codes = np.empty(len(x), dtype=np.int64)
        c1, u1 = pd.factorize(r[at_plain].astype(np.int64) * 2 + np.signbit(x[at_plain]))
        c2, _ = pd.factorize(x[at_own], use_na_sentinel=False)
        codes[at_plain], codes[at_own] = c1, c2 + len(u1)
        _, first = np.unique(codes, return_index=True)  # one value stands for each group
        return np.array([_fmt(template, meaning, float(x[i])) for i in first], dtype=object), codes
    keys = pd.Series(values, dtype=object).astype(str).where(pd.notna(values), None).to_numpy()
    codes, _ = pd.factorize(keys, use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)
    return np.array([_fmt(template, meaning, values[i]) for i in first], dtype=object), codes.astype(np.int64)


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
    [[7, 'tickets', 'tickets = 3.0'], [8, 'recency', 'recency = 95.0']]
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
    groups = pd.Index(pd.unique(d["group"]))
    member = groups.get_indexer(d["group"])
    V = shap_values[list(names)].to_numpy(dtype=float)
    n, g = V.shape[0], len(groups)
    # contributions summed per driver group, feature by feature in column order. Not as a
    # matrix product: BLAS threads spin on a core for a while after each call (measured: a
    # second core busy for as long as this function), and batch scoring runs the feature
    # query on that core meanwhile.
    Gt = np.zeros((g, n))
    for j, gi in enumerate(member):
        Gt[gi] += V[:, j]
    G = Gt.T
    score = G.copy() if kind == "risk" else np.abs(G)
    kk = min(k, g)
    # the kk largest per row, largest first, ties to the earlier group (a stable sort's order):
    # argmax takes the first of equal maxima
    order = np.empty((n, kk), dtype=np.int64)
    every = np.arange(n)
    for r in range(kk):
        order[:, r] = score.argmax(axis=1)
        score[every, order[:, r]] = -np.inf
    rows = np.repeat(every, kk)
    gsel = order.ravel()
    contrib = G[rows, gsel]
    keep = contrib > 0 if kind == "risk" else np.ones(len(rows), dtype=bool)
    rows, gsel, contrib = rows[keep], gsel[keep], contrib[keep]
    # each chosen group's feature with the largest |contribution| shows its value
    fidx = np.empty(len(rows), dtype=np.int64)
    for gi in np.unique(gsel):
        idx = np.flatnonzero(member == gi)
        sel = np.flatnonzero(gsel == gi)
        fidx[sel] = idx[np.abs(V[np.ix_(rows[sel], idx)]).argmax(axis=1)] if len(idx) > 1 else idx[0]
    cols = features.columns
    shown = np.empty(len(rows), dtype=object) if values else None
    reasons = np.empty(len(rows), dtype=np.int64)
    texts: list[np.ndarray] = []
    used = 0

    def add(t: np.ndarray, codes: np.ndarray) -> np.ndarray:
        nonlocal used
        texts.append(t)
        used += len(t)
        return codes + (used - len(t))

    templates = d["reason"].to_numpy()
    meanings = d["meaning"].to_numpy() if "meaning" in d.columns else names
    for j in np.unique(fidx):
        sel = np.flatnonzero(fidx == j)
        col = features[names[j]]
        if shown is not None:
            shown[sel] = _column_values(col)[rows[sel]]
        reasons[sel] = add(*_column_text(templates[j], meanings[j], col, rows[sel]))
    # composite reasons for groups that read better with two values
    for group, pieces in composite_reasons(cols).items():
        needed = [f for f, _ in pieces]
        if group not in groups or not all(c in cols for c in needed):
            continue
        sel = np.flatnonzero(gsel == groups.get_loc(group))
        if not len(sel):
            continue
        ok = np.ones(len(sel), dtype=bool)
        for f in needed:
            ok &= features[f].notna().to_numpy()[rows[sel]]
        if not ok.any():
            continue
        text, codes = np.array([""], dtype=object), np.zeros(int(ok.sum()), dtype=np.int64)
        for feat, piece in pieces:  # the distinct combinations, joined once each
            t, c = _column_text(piece, feat, features[feat], rows[sel[ok]])
            pair, codes = np.unique(codes * len(t) + c, return_inverse=True)
            text = text[pair // len(t)] + t[pair % len(t)]
        reasons[sel[ok]] = add(text, codes.ravel())
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
