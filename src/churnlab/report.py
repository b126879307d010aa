"""Driver-review report: one self-contained static HTML file (inline CSS and PNGs, no scripts,
no external requests), readable offline and no wider than the window.

Sections: headline metrics (with a glossary of the profit measures), calibration, risk
distribution, drift, global drivers (bar, beeswarm, dependence), riskiest customers with their
reasons, the campaign (when asked for), a waterfall for one customer, segment comparison.
The HTML pieces and the calibration, segment and campaign sections are in
:mod:`churnlab.report_sections`; logging the file to the model's MLflow run is in
:mod:`churnlab.report_artifact`.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from churnlab.atomic import atomic_output, check_output_path
from churnlab.events import EventTables, to_timestamp
from churnlab.explain import EXPECTED, global_drivers, shap_values, top_drivers
from churnlab.labels import cancelled_before
from churnlab.models.evaluate import ranked_models, shown_metric
from churnlab.plots import figure_png, importance_figure, shap_figure
from churnlab.report_sections import (
    CSS, GLOSSARY, calibration_section, campaign_section, campaign_targets, choose_segment, html_image, html_section,
    html_table, reliability_tables, segments_section,
)
from churnlab.scoring import ScoringModel, check_thresholds, risk_tiers
from churnlab.scoring.tiers import TIER_MEANINGS, TIERS, target_tiers

__all__ = ["build_report", "write_report", "SECTIONS", "HEADLINE_METRICS"]

# always present (for a model trained by this churnlab); "campaign" and "backtest" follow when asked for
SECTIONS = ["headline", "calibration", "risk-distribution", "drift", "global-drivers", "riskiest-customers",
            "customer-waterfall", "segments"]

#: The headline table's columns, in the CLI's order (other evaluation columns are left out).
HEADLINE_METRICS = ["roc_auc", "pr_auc", "log_loss", "brier", "lift_top10", "capture_top10", "empc", "mp", "base_rate", "n"]


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
    reliability=None,
) -> str:
    """The report as an HTML string, for event data at ``as_of`` or for a customer table.

    ``customer_id`` picks the waterfall's customer (default: the riskiest). Segments are
    compared by ``segment``, else by the customer attribute that splits the reviewed customers
    into 2 to 12 segments of at least 30 customers each whose churn risk differs most
    (categories first, else a number cut at its quantiles; see
    :func:`churnlab.report_sections.choose_segment`). Plots of SHAP values use a fixed random
    sample of ``sample`` customers; tables use everyone. Customers cancelled before ``as_of``
    (``customers.cancel_ts``) are counted, not reviewed.

    Parameters
    ----------
    model : ScoringModel
    events : EventTables
        With ``as_of``, for a model trained on events.
    as_of : date-like
    customer_id : optional
        The waterfall's customer.
    segment : str, optional
        A feature column (or customer attribute) to compare segments by.
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
        contacts, the targets in each risk tier and the top customers by expected profit
        with their reasons.
    backtest : DataFrame, optional
        :attr:`churnlab.workflows.backtest.BacktestResult.folds`: adds the backtest section
        (each metric over the folds' test cutoffs, with bootstrap intervals).
    reliability : DataFrame or dict, optional
        Calibration tables of the shipped model (``mean_predicted``, ``observed_rate``,
        ``n`` per bin; a dict for several periods) for the calibration chart, e.g. the
        training run's ``calibration/<model>.csv``
        (:func:`churnlab.report_artifact.run_reliability`). Default: what the model's
        metadata stores under ``reliability``.

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
    thresholds_given = thresholds
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
    if customer_id is not None and customer_id not in X.index:  # before any SHAP value is computed
        raise ValueError(f"customer_id {customer_id!r} has no history before as_of={t}" if not from_table
                         else f"customer_id {customer_id!r} is not in the table")
    proba = pd.Series(sm.model.churn_probability(X), index=X.index, name="churn_probability")
    sv = shap_values(sm.model, X)
    d = sm.dictionary
    gd = global_drivers(sv, d)
    tiers = pd.Series(risk_tiers(proba.to_numpy(), thresholds), index=X.index)
    if campaign is not None:  # a target is never in the tier that says "no action", as in the scores file
        from churnlab.scoring.campaign import campaign_values

        values = campaign_values(campaign, table=table, id_column=sm.builder.id_column) if from_table \
            else campaign_values(campaign, events, t, value_model=sm.value_model)
        tiers[:] = target_tiers(tiers.to_numpy(dtype=object), campaign_targets(values, proba, campaign)[1].to_numpy())

    others = ", ".join(f"{n:,} {html.escape(str(k))}" for k, n in status[status != "scored"].value_counts().items())
    parts = [f"<h1>Churn driver review</h1><p class='sub'>{html.escape(when)} &middot; model {html.escape(sm.version)} &middot; "
             f"{len(X):,} customers scored{' (not scored: ' + others + ')' if others else ''} &middot; "
             f"label: {html.escape(_label_text(sm.label_definition))}</p>"]
    parts.append(_headline(sm))
    if backtest is not None:
        parts.append(_backtest_section(backtest))
    stored = reliability if reliability is not None else sm.metadata.get("reliability")
    parts.append(calibration_section(reliability_tables(stored)))

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(proba, bins=40, color="#3b6ea8")
    ax.set(xlabel="churn probability", ylabel="customers", title="Risk distribution")
    counts = tiers.value_counts()
    counts = counts.reindex([*(t for t in TIERS if t in counts.index), *(t for t in counts.index if t not in TIERS)])
    tier_table = counts.rename_axis("risk_tier").rename("customers").reset_index()
    if thresholds_given is None and sm.metadata.get("risk_tiers"):  # the model's own tiers, read against its base rate
        tier_table["meaning"] = tier_table["risk_tier"].map(TIER_MEANINGS).fillna("")
    body = (html_image(figure_png(fig), "risk distribution") + html_table(tier_table)
            + f"<p>Mean churn probability {proba.mean():.1%}."
            + (" The campaign's targets are in the medium tier at least." if campaign is not None else "") + "</p>")
    parts.append(html_section("risk-distribution", "Risk distribution", body))

    if sm.reference_profile:
        from churnlab.monitor import DriftCounter
        from churnlab.monitor.drift import PSI_MAJOR, PSI_MODERATE

        drift = DriftCounter(sm.reference_profile).add(X, proba.to_numpy()).result()
        major = drift[drift["flag"] == "major"]
        body = (f"<p>Population stability index of each feature and of the score, these customers against the "
                f"model's test period: below {PSI_MODERATE} no shift, up to {PSI_MAJOR} moderate, above it major. "
                f"<b>{len(major)}</b> major, {int((drift['flag'] == 'moderate').sum())} moderate of {len(drift)}.</p>"
                + html_table(drift.head(15).round(4)))
        parts.append(html_section("drift", "Drift since training", body))

    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(X), size=min(sample, len(X)), replace=False))
    svs, Xs = sv.iloc[idx], X.iloc[idx]
    bar = importance_figure(gd.set_index("driver")["mean_abs_shap"], "Global drivers (mean |SHAP|, log-odds)", "mean |SHAP|")
    imgs = [html_image(bar, "global drivers"), html_image(shap_figure("beeswarm", svs, Xs), "beeswarm")]
    top_feats = sv.drop(columns=EXPECTED).abs().mean().sort_values(ascending=False).index[:3]
    deps = [html_image(shap_figure("dependence", svs, Xs, feature=f), f"dependence {f}") for f in top_feats]
    body = (f"<div class='grid'>{''.join(imgs)}</div>{html_table(gd.head(15))}<h3>Dependence of the top features</h3>"
            f"<div class='grid'>{''.join(deps)}</div>")
    parts.append(html_section("global-drivers", "Global drivers", body))

    risky = proba.sort_values(ascending=False, kind="stable").head(top_n).index
    drivers = top_drivers(sv.loc[risky], X.loc[risky], d, k=3)
    reasons = drivers.groupby("customer_id", sort=False)["reason"].apply(lambda r: "; ".join(r))
    riskiest = pd.DataFrame({"customer_id": risky, "churn_probability": proba.loc[risky].to_numpy(),
                             "risk_tier": tiers.loc[risky].to_numpy(), "top reasons": reasons.reindex(risky).to_numpy()})
    parts.append(html_section("riskiest-customers", f"Riskiest {len(risky)} customers", html_table(riskiest)))

    if campaign is not None:
        parts.append(campaign_section(values, proba, tiers, sv, X, d, campaign, top_n))

    who = customer_id if customer_id is not None else risky[0]
    row = X.index.get_loc(who)
    wf = shap_figure("waterfall", sv, X, row=row, dictionary=d)
    cd = top_drivers(sv.iloc[[row]], X.iloc[[row]], d, k=5, kind="both")[["rank", "driver", "reason", "contribution", "direction"]]
    body = (f"<p>Customer <b>{html.escape(str(who))}</b>: churn probability {proba.iloc[row]:.1%}.</p>"
            f"{html_image(wf, 'waterfall')}{html_table(cd)}")
    parts.append(html_section("customer-waterfall", "One customer's waterfall", body))

    attributes = None if not from_table else list(X.columns)  # every column of a customer table describes the customer
    col, groups, note = choose_segment(X, proba, segment=segment, attributes=attributes)
    parts.append(segments_section(col, groups, note, proba, tiers, sv, d))

    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>churnlab driver review</title>"
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


def _headline(sm: ScoringModel) -> str:
    """The evaluation stored with the model: the shipped model first, then the others by
    ROC-AUC, models that rank nobody last; the profit measures explained in one line each."""
    ev = sm.metadata.get("evaluation")
    if not ev:
        return html_section("headline", "Headline metrics (test period at training time)",
                            "<p>No evaluation stored with this model.</p>")
    metrics = pd.DataFrame(ev).T.rename_axis("model").astype({"n": int})
    metrics = metrics.sort_values("roc_auc", ascending=False)
    # rows that rank nobody (constant scores, a fit that did not converge) come last, never
    # above a real baseline, their meaningless metrics shown as "—"
    ranked = ranked_models(metrics)
    status = metrics["status"].astype(str) if "status" in metrics else pd.Series("ok", index=metrics.index)
    metrics = pd.concat([metrics.loc[ranked], metrics.drop(index=ranked)])
    shown = metrics[[c for c in HEADLINE_METRICS if c in metrics]].astype(object)
    for n in metrics.index.difference(ranked):
        for c in shown.columns.difference(["n", "base_rate"]):
            if shown_metric(shown.at[n, c], c, status[n]) == "—":
                shown.at[n, c] = "—"
    if (status != "ok").any():
        shown["status"] = status.reindex(shown.index)
    shipped = sm.metadata.get("selected")
    if shipped in shown.index:  # the model this report explains first, and named as such
        shown = pd.concat([shown.loc[[shipped]], shown.drop(index=shipped)])
        shown.index = pd.Index([f"{n} (shipped)" if n == shipped else n for n in shown.index], name="model")
    body = html_table(shown, index=True)
    terms = [k for k in GLOSSARY if k.lower() in shown.columns]
    if terms:
        body += "<dl class='glossary'>" + "".join(f"<dt>{k}</dt><dd>{html.escape(GLOSSARY[k])}</dd>" for k in terms) + "</dl>"
    if shipped:
        body += (f"<p>Shipped: <b>{html.escape(str(shipped))}</b>, selected on the validation period, "
                 "never on these test rows.</p>")
    return html_section("headline", "Headline metrics (test period at training time)", body)


def _backtest_section(backtest: pd.DataFrame) -> str:
    from churnlab.workflows.backtest import METRICS, metric_over_time_png

    imgs = "".join(html_image(metric_over_time_png(backtest, m), f"{m} over time") for m in METRICS)
    cols = ["fold", "test_cutoff", "model", "shipped", *[f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")]]
    shown = backtest[[c for c in cols if c in backtest.columns]].assign(test_cutoff=lambda d: d["test_cutoff"].astype(str))
    body = (f"<p>Each fold retrains on the cutoffs up to its test cutoff and evaluates every model there; "
            f"intervals are 95% bootstrap intervals of the test rows.</p><div class='grid'>{imgs}</div>"
            + html_table(shown.round(4), digits=4))
    return html_section("backtest", "Backtest over time", body)


def _label_text(d: dict) -> str:
    if not d:
        return "unknown"
    if d.get("rule") == "adaptive":
        return f"adaptive, {d.get('k')} x usual gap (at least {d.get('min_window_days')} days)"
    if d.get("rule") == "table":
        churned = f" (churned: {d['positive']!r})" if d.get("positive") is not None else ""
        return f"the table's own label `{d.get('label_column')}`{churned}; split {d.get('split')}"
    return f"{d.get('rule')}, {d.get('horizon_days'):g} days"


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
