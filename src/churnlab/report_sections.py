"""HTML pieces and sections of the driver-review report (:mod:`churnlab.report`).

Every text that comes from the user's data (ids, column names, category values, reasons) is
escaped by :func:`html_table`, :func:`html_section` and :func:`html_image`; money is shown
with 2 decimals and thousands separators (:func:`money`). Tables sit in a container that
scrolls sideways inside the page, so no table makes the page wider than the window.
"""

from __future__ import annotations

import base64
import html

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from churnlab.explain import global_drivers, segment_drivers, top_drivers
from churnlab.plots import figure_png, reliability_tables_figure

__all__ = [
    "CSS", "GLOSSARY", "MAX_SEGMENTS", "MIN_SEGMENT", "MONEY_COLUMNS", "calibration_section", "campaign_section", "campaign_targets",
    "choose_segment", "html_image", "html_section", "html_table", "money", "reliability_tables", "segment_groups",
    "segments_section",
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0} .note{color:#555;font-size:.9rem}
.tw{max-width:100%;overflow-x:auto;margin:.5rem 0 1rem}
table{border-collapse:collapse;font-size:.9rem} th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere;max-width:40rem}
th{background:#f3f5f8} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
section{margin:2rem 0;border-top:1px solid #eee;padding-top:.5rem} img{max-width:100%;height:auto}
.grid{display:flex;flex-wrap:wrap;gap:1rem} .grid img{max-width:48%}
dl.glossary{font-size:.9rem} dl.glossary dt{font-weight:600;float:left;margin-right:.4rem} dl.glossary dd{margin:0 0 .3rem}
"""

#: Columns shown as money: 2 decimals, thousands separators.
MONEY_COLUMNS = frozenset({"customer_value", "expected_profit", "value_at_risk", "empc", "mp"})
#: Integer columns that count customers: thousands separators (ids are shown as written).
COUNT_COLUMNS = frozenset({"customers", "n", "targets"})
#: A segment holds at least this many customers; at most this many segments are shown.
MIN_SEGMENT, MAX_SEGMENTS = 30, 12

#: One line each for the campaign-profit measures of the headline table (models/profit.py).
GLOSSARY = {
    "EMPC": "expected maximum profit per customer of the list when a retention campaign contacts the riskiest "
            "customers first and stops where profit peaks, averaged over an uncertain acceptance rate "
            "(Beta(6, 14), mean 0.3), with each kept churner worth 200, an incentive of 10 and a contact cost of 1.",
    "MP": "maximum profit per customer of the list on the same terms, with the acceptance rate fixed at 0.3.",
}


def money(value) -> str:
    """An amount with 2 decimals and thousands separators ("" when missing).

    >>> money(1234567.891), money(-0.5), money(float("nan"))
    ('1,234,567.89', '-0.50', '')
    """
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return ""
    return f"{float(value):,.2f}"


def html_image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def html_section(anchor: str, title: str, body: str) -> str:
    """A report section; ``title`` is escaped, ``body`` is HTML already."""
    return f"<section id='{html.escape(anchor)}'><h2>{html.escape(title)}</h2>{body}</section>"


def html_table(df: pd.DataFrame, *, digits: int = 3, index: bool = False, money_columns=MONEY_COLUMNS) -> str:
    """A DataFrame as an escaped HTML table in a container that scrolls sideways within the page.

    Floats get ``digits`` decimals, columns in ``money_columns`` 2 decimals and thousands
    separators, customer counts thousands separators; every text is escaped.

    >>> html_table(pd.DataFrame({"name": ["<b>"], "expected_profit": [1234.5], "customers": [1200]}))
    '<div class="tw"><table><thead><tr><th>name</th><th>expected_profit</th><th>customers</th></tr></thead><tbody><tr><td>&lt;b&gt;</td><td class="num">1,234.50</td><td class="num">1,200</td></tr></tbody></table></div>'
    """
    df = df.reset_index() if index else df
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for r in df.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(df.columns, r):
            if col in money_columns and isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                cells.append(f'<td class="num">{money(v)}</td>')
            elif isinstance(v, (float, np.floating)):
                cells.append(f'<td class="num">{"" if np.isnan(v) else f"{v:.{digits}f}"}</td>')
            elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
                cells.append(f'<td class="num">{v:,}</td>' if col in COUNT_COLUMNS else f'<td class="num">{v}</td>')
            else:
                cells.append(f"<td>{html.escape('' if v is None or v is pd.NA else str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


# --------------------------------------------------------------------------- calibration


def reliability_tables(value) -> dict[str, pd.DataFrame]:
    """Calibration tables by period from what a model or a run stores: a DataFrame, a list of
    row records, or a dict of period name -> either (each with ``mean_predicted``,
    ``observed_rate`` and, optionally, ``n``). Anything else gives ``{}``.

    >>> t = reliability_tables({"test": [{"mean_predicted": 0.1, "observed_rate": 0.2, "n": 5}]})
    >>> list(t), t["test"]["n"].tolist()
    (['test'], [5])
    """
    def one(v):
        try:
            df = v if isinstance(v, pd.DataFrame) else pd.DataFrame(v)
        except (ValueError, TypeError):
            return None
        if df.empty or not {"mean_predicted", "observed_rate"} <= set(df.columns):
            return None
        return df

    if value is None:
        return {}
    columns = isinstance(value, dict) and "mean_predicted" in value  # one table as a dict of columns
    single = one(value) if isinstance(value, (pd.DataFrame, list)) or columns else None
    if single is not None:
        return {"test period": single}
    if isinstance(value, dict):
        out = {str(k): one(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None}
    return {}


def calibration_section(tables: dict[str, pd.DataFrame]) -> str:
    """The reliability chart of the stored calibration tables, with each period's mean
    predicted probability, observed churn rate and ECE; a one-line note when there is none."""
    if not tables:
        body = ("<p class='note'>No calibration table is stored with this model; a tracked model (runs:/ or "
                "models:/ URI) shows its test period's.</p>")
        return html_section("calibration", "Calibration", body)
    lines = []
    for name, t in tables.items():
        n = t["n"].to_numpy(dtype=float) if "n" in t else np.ones(len(t))
        pred, obs = t["mean_predicted"].to_numpy(dtype=float), t["observed_rate"].to_numpy(dtype=float)
        w = n / n.sum()
        lines.append(f"<li>{html.escape(name)}: mean predicted {np.sum(w * pred):.1%} against {np.sum(w * obs):.1%} "
                     f"observed; ECE {np.sum(w * np.abs(pred - obs)):.3f} over {len(t)} equal-count bins "
                     f"({int(n.sum()):,} customers).</li>")
    body = (f"<p>How far the shipped model's probabilities can be taken at face value: on the diagonal, customers "
            f"given 30% churn at a rate of 30%. ECE is the customer-weighted mean gap.</p><ul>{''.join(lines)}</ul>"
            + html_image(reliability_tables_figure(tables), "calibration"))
    return html_section("calibration", "Calibration", body)


# --------------------------------------------------------------------------- segments


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)


def segment_groups(values: pd.Series, *, min_size: int = MIN_SEGMENT, max_levels: int = MAX_SEGMENTS,
                   lump: bool = False) -> pd.Series | None:
    """The segment of each customer, or None when ``values`` do not make 2 or more segments of
    at least ``min_size`` customers.

    Categories (text, booleans, numbers with at most ``max_levels`` distinct values) are the
    segments as they are: 2 to ``max_levels`` levels, each of at least ``min_size`` customers
    (missing values form "(missing)"). With ``lump``, the largest levels are kept instead and
    the rest form "(other)" (left out, as NaN, when that is still under ``min_size``). Other
    numbers are cut at their quantiles into up to 5 bins of at least ``min_size`` customers.

    Returns
    -------
    Series or None
        Text labels (NaN: left out), ``attrs["ordered_by"]`` "risk" for categories, "value" for
        bins (their labels' order is ``attrs["order"]``).

    Examples
    --------
    >>> s = pd.Series(["a"] * 40 + ["b"] * 35 + ["c"] * 5)
    >>> segment_groups(s) is None, segment_groups(s, lump=True).value_counts(dropna=False).to_dict()
    (True, {'a': 40, 'b': 35, nan: 5})
    >>> bins = segment_groups(pd.Series(np.arange(100.0)))
    >>> bins.attrs["order"]
    ['0 to 33', '34 to 66', '67 to 99']
    """
    s = pd.Series(values)
    categorical = _is_categorical(s) or s.nunique(dropna=True) <= max_levels
    if categorical:
        labels = s.astype(object).where(s.notna(), "(missing)").astype(str)
        counts = labels.value_counts(sort=True)
        if not lump:
            if not 2 <= len(counts) <= max_levels or counts.min() < min_size:
                return None
            out = labels
        else:
            big = counts[counts >= min_size]
            keep = big.index[: max_levels - 1] if len(big) > max_levels else big.index
            rest = ~labels.isin(keep)
            out = labels.where(~rest, "(other)" if rest.sum() >= min_size else np.nan)
            if out.nunique(dropna=True) < 2:
                return None
        out.attrs.update(ordered_by="risk" if _is_categorical(s) else "value",
                         order=sorted(out.dropna().unique(), key=lambda v: (pd.to_numeric(v, errors="coerce"), v)))
        return out
    x = pd.to_numeric(s, errors="coerce").astype(float)
    finite = x[np.isfinite(x)]
    for q in range(min(5, len(finite) // min_size), 1, -1):
        bins = pd.qcut(finite, q, duplicates="drop")
        if bins.cat.categories.size < 2 or bins.value_counts().min() < min_size:
            continue
        first = finite.groupby(bins, observed=True).agg(["min", "max"])
        names = [f"{lo:.3g} to {hi:.3g}" for lo, hi in first.itertuples(index=False)]
        out = pd.Series(np.nan, index=s.index, dtype=object)
        out.loc[finite.index] = bins.cat.rename_categories(names).astype(object)
        missing = ~np.isfinite(x)
        if missing.sum() >= min_size:
            out[missing] = "(missing)"
            names = [*names, "(missing)"]
        out.attrs.update(ordered_by="value", order=names)
        return out
    return None


def _risk_spread(groups: pd.Series, proba: pd.Series) -> float:
    """Customer-weighted standard deviation of the segments' mean churn probability."""
    keep = groups.notna()
    p = proba[keep]
    means = p.groupby(groups[keep]).transform("mean")
    return float(np.sqrt(np.mean((means - p.mean()) ** 2)))


def choose_segment(X: pd.DataFrame, proba: pd.Series, *, segment: str | None = None,
                   attributes: list[str] | None = None) -> tuple[str | None, pd.Series | None, str]:
    """The attribute to compare segments by, its segments and a note for the reader.

    ``segment`` (a feature column, or a customer attribute's name without ``static_``) is
    cut into segments of at least :data:`MIN_SEGMENT` customers. Without it, among
    ``attributes`` (default: the ``static_`` columns): the categorical attribute with 2 to
    :data:`MAX_SEGMENTS` levels of at least :data:`MIN_SEGMENT` customers each whose segments
    differ most in mean churn probability; else the numeric one, cut at its quantiles; else none.

    Raises
    ------
    ValueError
        ``segment`` is not a feature column.
    """
    if segment is not None:
        col = segment if segment in X.columns else f"static_{segment}" if f"static_{segment}" in X.columns else None
        if col is None:
            static = [c for c in X.columns if c.startswith("static_")]
            raise ValueError(f"`segment`: {segment!r} is not a feature column"
                             + (f" (customer attributes: {', '.join(static)})" if static else ""))
        groups = segment_groups(X[col], lump=True)
        if groups is None:
            return col, None, f"{col} does not make 2 or more segments of at least {MIN_SEGMENT} customers."
        return col, groups, ""
    attributes = [c for c in X.columns if c.startswith("static_")] if attributes is None else attributes
    for kind in ("categorical", "numeric"):
        found = {}
        for col in attributes:
            if (kind == "categorical") != _is_categorical(X[col]):
                continue
            groups = segment_groups(X[col])
            if groups is not None:
                found[col] = (_risk_spread(groups, proba), groups)
        if found:
            col = max(found, key=lambda c: found[c][0])  # the first of equal spreads
            return col, found[col][1], ""
    return None, None, (f"No customer attribute makes 2 to {MAX_SEGMENTS} segments of at least {MIN_SEGMENT} "
                        "customers each: no segment comparison.")


def segments_section(col: str | None, groups: pd.Series | None, note: str, proba: pd.Series, tiers: pd.Series,
                     sv: pd.DataFrame, dictionary, *, top: int = 10) -> str:
    """Each segment's size, mean churn probability and high-risk share, and its top drivers."""
    if groups is None:
        title = f"Segments by {col}" if col else "Segments"
        return html_section("segments", title, f"<p class='note'>{html.escape(note)}</p>")
    keep = groups.notna()
    g, p = groups[keep], proba[keep]
    risk = p.groupby(g).agg(customers="size", mean_probability="mean")
    risk["share_high_risk"] = (tiers[keep] == "high").groupby(g).mean()
    if groups.attrs.get("ordered_by") == "value":
        risk = risk.reindex([v for v in groups.attrs["order"] if v in risk.index])
        order_text = "in the order of their values"
    else:
        risk = risk.sort_values(["mean_probability", "customers"], ascending=False, kind="stable")
        order_text = "riskiest first"
    risk.index.name = "segment"
    left = int((~keep).sum())
    lead = (f"<p>{len(risk)} segments of at least {MIN_SEGMENT} customers by <b>{html.escape(col)}</b>, {order_text}"
            + (f"; {left:,} customers in smaller groups are left out" if left else "") + ".</p>")
    drivers = segment_drivers(sv[keep], g, dictionary)
    overall = global_drivers(sv[keep], dictionary)["driver"]
    drivers = drivers.reindex([d for d in overall if d in drivers.index][:top])[list(risk.index)]
    drivers.index.name = "driver (mean |SHAP|)"
    return html_section("segments", f"Segments by {col}", lead + html_table(risk, index=True)
                        + "<h3>Top drivers by segment</h3>" + html_table(drivers, index=True))


# --------------------------------------------------------------------------- campaign


def campaign_targets(values: pd.Series, proba: pd.Series, campaign) -> tuple[pd.Series, pd.Series]:
    """Each reviewed customer's expected profit of a contact and whether the campaign
    contacts them (:func:`churnlab.scoring.campaign.mark_targets`), as scoring decides it."""
    from churnlab.scoring.campaign import expected_profit, mark_targets

    v = values.reindex(proba.index).to_numpy(dtype=float)
    profit = pd.Series(expected_profit(proba.to_numpy(), v, campaign), index=proba.index)
    return profit, pd.Series(mark_targets(profit.to_numpy(), campaign.budget), index=proba.index).astype(bool)


def campaign_section(values: pd.Series, proba: pd.Series, tiers: pd.Series, sv: pd.DataFrame, X: pd.DataFrame,
                     dictionary, campaign, top_n: int) -> str:
    """Expected profit of contacting the reviewed customers, best first: the curve, the
    recommendation, the targets in each risk tier (``tiers`` as the scores file has them)
    and the top customers with their reasons."""
    profit, target = campaign_targets(values, proba, campaign)
    v = values.reindex(proba.index).to_numpy(dtype=float)
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
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:,.2f}"))
    top = order.index[: min(top_n, n_target or top_n)]
    drivers = top_drivers(sv.loc[top], X.loc[top], dictionary, k=3)
    reasons = drivers.groupby("customer_id", sort=False)["reason"].apply(lambda r: "; ".join(r))
    table = pd.DataFrame({"customer_id": top, "churn_probability": proba.loc[top].to_numpy(),
                          "risk_tier": tiers.reindex(top).to_numpy(),
                          "customer_value": values.reindex(top).to_numpy(), "expected_profit": profit.loc[top].to_numpy(),
                          "top reasons": reasons.reindex(top).to_numpy()})
    by_tier = tiers[target].value_counts()
    known = [t for t in ("high", "medium", "low") if t in by_tier.index]
    tier_order = known + sorted((t for t in by_tier.index if t not in known), key=str)
    tier_text = ", ".join(f"{by_tier[t]:,} {html.escape(str(t))}" for t in tier_order) or "none"
    cap = f" (budget {campaign.budget:,})" if campaign.budget else ""
    summary = (f"<p>Recommended: contact <b>{n_target:,}</b> of {len(order):,} reviewed customers{cap} "
               f"({n_target / max(1, len(order)):.1%}): expected profit {money(profit[target].sum())}, value at risk "
               f"{money(np.nansum(proba.to_numpy() * v))} over {campaign.horizon_days:g} days. Contact cost "
               f"{money(campaign.contact_cost)}, incentive {money(campaign.incentive_cost)}, mean acceptance "
               f"{campaign.mean_acceptance:.0%}, margin {campaign.margin:.0%}.</p>"
               f"<p id='targets-by-tier'>Targets by risk tier: {tier_text}.</p>")
    return html_section("campaign", "Campaign: whom to contact", summary + html_image(figure_png(fig), "expected profit curve")
                        + f"<h3>Top {len(top)} customers by expected profit</h3>" + html_table(table))
