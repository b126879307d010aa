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
from churnlab.models.evaluate import ranked_models, shown_metric
from churnlab.scoring import ScoringModel, check_thresholds, risk_tiers

__all__ = ["build_report", "write_report", "SECTIONS"]

# always present (for a model trained by this churnlab); "campaign" and "backtest" follow when asked for
SECTIONS = ["headline", "risk-distribution", "drift", "global-drivers", "riskiest-customers", "customer-waterfall", "segments"]

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
    campaign=None,
    backtest: pd.DataFrame | None = None,
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
    campaign : CampaignConfig, optional
        Adds the campaign section: the expected-profit curve, the recommended number of
        contacts and the top customers by expected profit with their reasons.
    backtest : DataFrame, optional
        :attr:`churnlab.workflows.backtest.BacktestResult.folds`: adds the backtest section
        (each metric over the folds' test cutoffs, with bootstrap intervals).

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
        cols = ["roc_auc", "pr_auc", "log_loss", "brier", "lift_top10", "capture_top10", "empc", "mp", "base_rate", "n"]
        metrics = metrics.sort_values("roc_auc", ascending=False)[[c for c in cols if c in metrics] + [c for c in metrics if c not in cols]]
        # rows that rank nobody (constant scores, a fit that did not converge) come last, never
        # above a real baseline, their meaningless metrics shown as "—"
        ranked = ranked_models(metrics)
        metrics = pd.concat([metrics.loc[ranked], metrics.drop(index=ranked)]).astype(object)
        for n in metrics.index.difference(ranked):
            for c in metrics.columns.difference(["status", "n", "base_rate"]):
                if shown_metric(metrics.at[n, c], c, str(metrics.at[n, "status"])) == "—":
                    metrics.at[n, c] = "—"
        shipped = sm.metadata.get("selected")
        if shipped in metrics.index:  # the model this report explains first, and named as such
            metrics = pd.concat([metrics.loc[[shipped]], metrics.drop(index=shipped)])
            metrics.index = pd.Index([f"{n} (shipped)" if n == shipped else n for n in metrics.index], name="model")
        body = _table(metrics, index=True)
        if shipped:
            body += (f"<p>Shipped: <b>{html.escape(str(shipped))}</b>, selected on the validation period, "
                     "never on these test rows.</p>")
    else:
        body = "<p>No evaluation stored with this model.</p>"
    parts.append(_section("headline", "Headline metrics (test period at training time)", body))
    if backtest is not None:
        from churnlab.workflows.backtest import METRICS, metric_over_time_png

        imgs = "".join(_img(metric_over_time_png(backtest, m), f"{m} over time") for m in METRICS)
        cols = ["fold", "test_cutoff", "model", "shipped", *[f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")]]
        shown = backtest[[c for c in cols if c in backtest.columns]].assign(test_cutoff=lambda d: d["test_cutoff"].astype(str))
        body = (f"<p>Each fold retrains on the cutoffs up to its test cutoff and evaluates every model there; "
                f"intervals are 95% bootstrap intervals of the test rows.</p><div class='grid'>{imgs}</div>"
                + _table(shown.round(4)))
        parts.append(_section("backtest", "Backtest over time", body))

    tiers = pd.Series(risk_tiers(proba.to_numpy(), thresholds), index=X.index)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(proba, bins=40, color="#3b6ea8")
    ax.set(xlabel="churn probability", ylabel="customers", title="Risk distribution")
    tier_table = tiers.value_counts().rename_axis("risk_tier").rename("customers").reset_index()
    body = _img(figure_png(fig), "risk distribution") + _table(tier_table) + f"<p>Mean churn probability {proba.mean():.1%}.</p>"
    parts.append(_section("risk-distribution", "Risk distribution", body))

    if sm.reference_profile:
        from churnlab.monitor import DriftCounter
        from churnlab.monitor.drift import PSI_MAJOR, PSI_MODERATE

        drift = DriftCounter(sm.reference_profile).add(X, proba.to_numpy()).result()
        major = drift[drift["flag"] == "major"]
        body = (f"<p>Population stability index of each feature and of the score, these customers against the "
                f"model's test period: below {PSI_MODERATE} no shift, up to {PSI_MAJOR} moderate, above it major. "
                f"<b>{len(major)}</b> major, {int((drift['flag'] == 'moderate').sum())} moderate of {len(drift)}.</p>"
                + _table(drift.head(15).round(4)))
        parts.append(_section("drift", "Drift since training", body))

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

    if campaign is not None:
        from churnlab.scoring.campaign import campaign_values

        values = campaign_values(campaign, table=table, id_column=sm.builder.id_column) if from_table \
            else campaign_values(campaign, events, t, value_model=sm.value_model)
        parts.append(_campaign_section(values, proba, sv, X, d, campaign, top_n))

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


def _campaign_section(values: pd.Series, proba: pd.Series, sv: pd.DataFrame, X: pd.DataFrame, d, campaign, top_n: int) -> str:
    """Expected profit of contacting the reviewed customers, best first: the curve, the
    recommendation and the top customers with their reasons."""
    from churnlab.scoring.campaign import expected_profit, mark_targets

    v = values.reindex(proba.index).to_numpy(dtype=float)
    profit = pd.Series(expected_profit(proba.to_numpy(), v, campaign), index=proba.index)
    target = pd.Series(mark_targets(profit.to_numpy(), campaign.budget), index=proba.index)
    order = profit.sort_values(ascending=False, kind="stable", na_position="last")
    cumulative = np.nan_to_num(order.to_numpy()).cumsum()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.arange(1, len(order) + 1) / len(order), cumulative, color="#3b6ea8")
    n_target = int(target.sum())
    if n_target:
        ax.axvline(n_target / len(order), color="#b03a2e", ls="--", label=f"contact {n_target:,}")
        ax.legend()
    ax.set(xlabel="share of reviewed customers contacted (best expected profit first)", ylabel="expected profit",
           title="Campaign: expected profit")
    top = order.index[: min(top_n, n_target or top_n)]
    drivers = top_drivers(sv.loc[top], X.loc[top], d, k=3)
    reasons = drivers.groupby("customer_id", sort=False)["reason"].apply(lambda r: "; ".join(r))
    table = pd.DataFrame({"customer_id": top, "churn_probability": proba.loc[top].to_numpy(),
                          "customer_value": values.reindex(top).to_numpy(), "expected_profit": profit.loc[top].to_numpy(),
                          "top reasons": reasons.reindex(top).to_numpy()})
    cap = f" (budget {campaign.budget:,})" if campaign.budget else ""
    summary = (f"<p>Recommended: contact <b>{n_target:,}</b> of {len(order):,} reviewed customers{cap} "
               f"({n_target / max(1, len(order)):.1%}): expected profit {profit[target].sum():,.0f}, value at risk "
               f"{np.nansum(proba.to_numpy() * v):,.0f} over {campaign.horizon_days:g} days. Contact cost "
               f"{campaign.contact_cost:g}, incentive {campaign.incentive_cost:g}, mean acceptance "
               f"{campaign.mean_acceptance:.0%}, margin {campaign.margin:.0%}.</p>")
    return _section("campaign", "Campaign: whom to contact", summary + _img(figure_png(fig), "expected profit curve")
                    + f"<h3>Top {len(top)} customers by expected profit</h3>" + _table(table))


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
