"""Driver-review report: one self-contained static HTML file (inline CSS and PNGs, no scripts,
no external requests), readable offline.

Sections: headline metrics, risk distribution, global drivers (bar, beeswarm, dependence),
riskiest customers with their reasons, a waterfall for one customer, segment comparison.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from churnlab.events import EventTables, to_timestamp
from churnlab.explain import EXPECTED, global_drivers, segment_drivers, shap_values, top_drivers
from churnlab.plots import figure_png, importance_figure, shap_figure
from churnlab.atomic import atomic_output, check_output_path
from churnlab.labels import cancelled_before
from churnlab.scoring import ScoringModel, check_thresholds, risk_tiers

__all__ = ["build_report", "write_report", "SECTIONS"]

SECTIONS = ["headline", "risk-distribution", "global-drivers", "riskiest-customers", "customer-waterfall", "segments"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem} th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left}
th{background:#f3f5f8} td.num{text-align:right;font-variant-numeric:tabular-nums}
section{margin:2rem 0;border-top:1px solid #eee;padding-top:.5rem} img{max-width:100%}
.grid{display:flex;flex-wrap:wrap;gap:1rem} .grid img{max-width:48%}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(df: pd.DataFrame, digits: int = 3, index: bool = False) -> str:
    df = df.reset_index() if index else df
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for v in r:
            if isinstance(v, (float, np.floating)):
                cells.append(f'<td class="num">{"" if np.isnan(v) else f"{v:.{digits}f}"}</td>')
            elif isinstance(v, (int, np.integer)):
                cells.append(f'<td class="num">{v}</td>')
            else:
                cells.append(f"<td>{html.escape('' if v is None or v is pd.NA else str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def build_report(
    model: ScoringModel,
    events: EventTables | None = None,
    as_of=None,
    customer_id=None,
    segment: str | None = None,
    top_n: int = 25,
    sample: int = 5000,
    random_state: int = 0,
    thresholds: dict[str, float] | None = None,
    table: pd.DataFrame | None = None,
) -> str:
    """The report as an HTML string, for event data at ``as_of`` or for a customer table.

    ``customer_id`` picks the waterfall's customer (default: the riskiest). ``segment`` names
    a feature to compare drivers by (default: the first static attribute, if any). Plots of
    SHAP values use a fixed random sample of ``sample`` customers; tables use everyone.
    Customers cancelled before ``as_of`` (``customers.cancel_ts``) are counted, not reviewed.

    Parameters
    ----------
    model : ScoringModel
    events : EventTables
        With ``as_of``, for a model trained on events.
    as_of : date-like
    customer_id : optional
        The waterfall's customer.
    segment : str, optional
        A feature column to compare segments by.
    top_n : int
        Rows of the riskiest-customers table.
    sample : int
        Customers in the SHAP plots.
    random_state : int
    thresholds : dict, optional
        Risk-tier thresholds, as for :func:`churnlab.score_customers` (default: the model's).
    table : DataFrame, optional
        Instead of ``events`` and ``as_of``: the rows of a customer table, for a model
        trained on one.

    Returns
    -------
    str
        A self-contained HTML document (inline CSS and PNGs, no scripts).

    Examples
    --------
    >>> html = build_report(ScoringModel.load("models:/churn/3"), events, "2025-01-01")  # doctest: +SKIP
    >>> write_report(html, "review.html")                                            # doctest: +SKIP
    """
    if not isinstance(model, ScoringModel):
        raise TypeError(f"`model` must be a ScoringModel (ScoringModel.load(uri)), got {type(model).__name__}")
    sm = model
    thresholds = check_thresholds(thresholds) if thresholds is not None else sm.thresholds
    from_table = table is not None
    if from_table:
        if events is not None or as_of is not None:
            raise ValueError("give `table`, or `events` and `as_of`, not both")
        X_all = sm.table_features(table)
        X_all = X_all[~X_all.index.duplicated(keep="last")]  # a customer's latest snapshot row
        status, when = sm.eligibility(X_all), "the customer table"
    else:
        if not isinstance(events, EventTables):
            raise TypeError(f"`events` must be EventTables (see churnlab.load_events), got {type(events).__name__}")
        t = to_timestamp(as_of)
        X_all = sm.features(events, t)
        status, when = sm.eligibility(X_all, cancelled_before(events, t)), f"as of {t.date()}"
    X = X_all[status == "scored"]
    if X.empty:
        if from_table:
            raise ValueError("`table`: no customer to review")
        first, last = events.date_range()
        raise ValueError(f"`as_of` {t}: no customer to review (the events span {first} to {last})")
    proba = pd.Series(sm.model.churn_probability(X), index=X.index, name="churn_probability")
    sv = shap_values(sm.model, X)
    d = sm.dictionary
    gd = global_drivers(sv, d)

    others = ", ".join(f"{n:,} {k}" for k, n in status[status != "scored"].value_counts().items())
    parts = [f"<h1>Churn driver review</h1><p class='sub'>{when} &middot; model {html.escape(sm.version)} &middot; "
             f"{len(X):,} customers scored{' (not scored: ' + others + ')' if others else ''} &middot; "
             f"label: {html.escape(_label_text(sm.label_definition))}</p>"]

    ev = sm.metadata.get("evaluation")
    if ev:
        metrics = pd.DataFrame(ev).T.rename_axis("model").astype({"n": int})
        # JSON metadata loses the order: best model first, metrics in the CLI's order
        cols = ["roc_auc", "pr_auc", "log_loss", "brier", "lift_top10", "capture_top10", "base_rate", "n"]
        metrics = metrics.sort_values("roc_auc", ascending=False)[[c for c in cols if c in metrics] + [c for c in metrics if c not in cols]]
        body = _table(metrics, index=True)
    else:
        body = "<p>No evaluation stored with this model.</p>"
    parts.append(_section("headline", "Headline metrics (test period at training time)", body))

    tiers = pd.Series(risk_tiers(proba.to_numpy(), thresholds), index=X.index)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(proba, bins=40, color="#3b6ea8")
    ax.set(xlabel="churn probability", ylabel="customers", title="Risk distribution")
    tier_table = tiers.value_counts().rename_axis("risk_tier").rename("customers").reset_index()
    body = _img(figure_png(fig), "risk distribution") + _table(tier_table) + f"<p>Mean churn probability {proba.mean():.1%}.</p>"
    parts.append(_section("risk-distribution", "Risk distribution", body))

    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(X), size=min(sample, len(X)), replace=False))
    svs, Xs = sv.iloc[idx], X.iloc[idx]
    bar = importance_figure(gd.set_index("driver")["mean_abs_shap"], "Global drivers (mean |SHAP|, log-odds)", "mean |SHAP|")
    imgs = [_img(bar, "global drivers"), _img(shap_figure("beeswarm", svs, Xs), "beeswarm")]
    top_feats = sv.drop(columns=EXPECTED).abs().mean().sort_values(ascending=False).index[:3]
    deps = [_img(shap_figure("dependence", svs, Xs, feature=f), f"dependence {f}") for f in top_feats]
    body = f"<div class='grid'>{''.join(imgs)}</div>{_table(gd.head(15))}<h3>Dependence of the top features</h3><div class='grid'>{''.join(deps)}</div>"
    parts.append(_section("global-drivers", "Global drivers", body))

    risky = proba.sort_values(ascending=False, kind="stable").head(top_n).index
    drivers = top_drivers(sv.loc[risky], X.loc[risky], d, k=3)
    reasons = drivers.groupby("customer_id", sort=False)["reason"].apply(lambda r: "; ".join(r))
    riskiest = pd.DataFrame({"customer_id": risky, "churn_probability": proba.loc[risky].to_numpy(), "top reasons": reasons.reindex(risky).to_numpy()})
    parts.append(_section("riskiest-customers", f"Riskiest {len(risky)} customers", _table(riskiest)))

    who = customer_id if customer_id is not None else risky[0]
    if who not in X.index:
        raise ValueError(f"customer_id {who!r} has no history before as_of={t}" if not from_table else f"customer_id {who!r} is not in the table")
    row = X.index.get_loc(who)
    wf = shap_figure("waterfall", sv, X, row=row)
    cd = top_drivers(sv.iloc[[row]], X.iloc[[row]], d, k=5, kind="both")[["rank", "driver", "reason", "contribution", "direction"]]
    body = f"<p>Customer <b>{html.escape(str(who))}</b>: churn probability {proba.iloc[row]:.1%}.</p>{_img(wf, 'waterfall')}{_table(cd)}"
    parts.append(_section("customer-waterfall", "One customer's waterfall", body))

    first_text = next((c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)), None)
    seg_col = segment or next((c for c in X.columns if c.startswith("static_")), first_text if from_table else None)
    if seg_col is not None:
        if seg_col not in X.columns:
            raise ValueError(f"`segment` must be a feature column, got {seg_col!r}")
        seg = X[seg_col].astype(object)
        risk = proba.groupby(seg.fillna("(missing)")).agg(["size", "mean"]).rename(columns={"size": "customers", "mean": "mean_probability"})
        body = _table(risk, index=True) + _table(segment_drivers(sv, seg, d).head(10), index=True)
    else:
        body = "<p>No static attribute to segment by.</p>"
    parts.append(_section("segments", f"Segments{' by ' + html.escape(seg_col) if seg_col else ''}", body))

    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>churnlab driver review</title>"
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


def _label_text(d: dict) -> str:
    if not d:
        return "unknown"
    if d.get("rule") == "adaptive":
        return f"adaptive, {d.get('k')} x usual gap (at least {d.get('min_window_days')} days)"
    if d.get("rule") == "table":
        return f"the table's own label `{d.get('label_column')}`; split {d.get('split')}"
    return f"{d.get('rule')}, {d.get('horizon_days'):g} days"


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{html.escape(title)}</h2>{body}</section>"


def write_report(html_text: str, out: str | Path) -> Path:
    """Write the report atomically: a temporary file beside ``out``, renamed when complete.

    Parameters
    ----------
    html_text : str
    out : str or Path
        A file name ending in ``.html``, in an existing folder.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> write_report("<html></html>", tempfile.mkdtemp() + "/review.html").read_text()
    '<html></html>'
    """
    out = check_output_path(out, (".html",))
    with atomic_output(out) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return out
