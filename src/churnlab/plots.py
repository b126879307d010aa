"""Matplotlib figures for evaluation and explanations, returned as PNG bytes.

The backend is left to the user (matplotlib falls back to Agg without a display); every
figure made here is rendered and closed, so none leaks into an interactive session.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from sklearn.metrics import precision_recall_curve, roc_curve

from churnlab.models.evaluate import calibration_table, gains_table
from churnlab.models.profit import profit_curve

__all__ = ["evaluation_figures", "importance_figure", "figure_png", "plain_label", "reliability_figure", "reliability_tables_figure",
           "shap_figure"]


def plain_label(text) -> str:
    """``text`` shown as it is in a figure: its dollar signs escaped, so that matplotlib never
    reads a user's name such as ``$\\frac{a}$`` as mathtext (which fails or renders math).

    >>> plain_label("price $ [EUR]")
    'price \\\\$ [EUR]'
    """
    return str(text).replace("$", r"\$")


def figure_png(fig) -> bytes:
    """Render a figure to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _roc(y, p):
    fpr, tpr, _ = roc_curve(y, p)
    return fpr, tpr


def _pr(y, p):
    prec, rec, _ = precision_recall_curve(y, p)
    return rec, prec


def _calibration(y, p):
    cal = calibration_table(y, p)
    return cal["mean_predicted"], cal["observed_rate"]


def _gains(y, p):
    g = gains_table(y, p)
    return np.r_[0, g["share_targeted"]], np.r_[0, g["share_of_churners_captured"]]


# file name -> (curve of one model, marker, axis labels and title, reference line)
_CURVES = {
    "roc.png": (_roc, None, ("false positive rate", "true positive rate", "ROC"), "diagonal"),
    "pr.png": (_pr, None, ("recall", "precision", "Precision-recall"), "base_rate"),
    "calibration.png": (
        _calibration, "o", ("mean predicted probability", "observed churn rate", "Calibration (deciles)"), "diagonal",
    ),
    "gains.png": (_gains, "o", ("share of customers targeted", "share of churners captured", "Cumulative gains"), "diagonal"),
    # the EMP measure's defaults: clv 200, incentive 10, contact 1, acceptance 0.3 (its Beta(6, 14) mean)
    "profit.png": (lambda y, p: profit_curve(y, p), None,
                   ("share of customers targeted (riskiest first)", "profit per customer of the list",
                    "Campaign profit (clv 200, incentive 10, contact 1, acceptance 0.3)"), "zero"),
}


def evaluation_figures(y_true, scores: dict[str, np.ndarray]) -> dict[str, bytes]:
    """ROC, precision-recall, calibration, cumulative gains and campaign profit curves for several models."""
    y = np.asarray(y_true)
    figs = {}
    for fname, (curve, marker, (xlabel, ylabel, title), reference) in _CURVES.items():
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, p in scores.items():
            xs, ys = curve(y, p)
            ax.plot(xs, ys, label=name, **({"marker": marker, "ms": 3} if marker else {}))
        if reference == "diagonal":
            ax.plot([0, 1], [0, 1], "k:", lw=1)
        elif reference == "zero":
            ax.axhline(0.0, color="k", ls=":", lw=1)
        else:
            ax.axhline(y.mean(), color="k", ls=":", lw=1)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        ax.legend(fontsize=8)
        figs[fname] = figure_png(fig)
    return figs


def importance_figure(values: pd.Series, title: str, xlabel: str, top: int = 15) -> bytes:
    """Horizontal bar chart of the largest values of a Series."""
    v = values.sort_values(ascending=False).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(v) + 1))
    ax.barh([plain_label(x) for x in v.index], v.to_numpy(), color="#3b6ea8")
    ax.set(title=title, xlabel=xlabel)
    return figure_png(fig)


def reliability_figure(y_true, proba, *, n_bins: int = 10, label: str = "test period") -> bytes:
    """Reliability chart of one set of outcomes: mean predicted probability against the
    observed churn rate in ``n_bins`` equal-count bins of the score
    (:func:`churnlab.models.evaluate.calibration_table`).

    Parameters
    ----------
    y_true : array-like of 0/1
    proba : array-like of float
    n_bins : int
    label : str
        The legend entry.

    Returns
    -------
    bytes
        PNG.

    Examples
    --------
    >>> png = reliability_figure([0, 0, 1, 1] * 10, [0.1, 0.3, 0.6, 0.9] * 10, n_bins=4)
    >>> png[:4] == b"\\x89PNG"
    True
    """
    return reliability_tables_figure({label: calibration_table(y_true, proba, n_bins)})


def reliability_tables_figure(tables: dict[str, pd.DataFrame]) -> bytes:
    """Reliability chart of one or more calibration tables (columns ``mean_predicted``,
    ``observed_rate`` and ``n``, one row per bin), one line per table, with the diagonal of
    perfect calibration and each table's ECE (customer-weighted mean gap) in its legend."""
    fig, ax = plt.subplots(figsize=(5, 4))
    top = 0.0
    for name, t in tables.items():
        pred, obs = t["mean_predicted"].to_numpy(dtype=float), t["observed_rate"].to_numpy(dtype=float)
        n = t["n"].to_numpy(dtype=float) if "n" in t else np.ones(len(t))
        ece = float(np.sum(n * np.abs(pred - obs)) / np.sum(n)) if np.sum(n) else float("nan")
        ax.plot(pred, obs, marker="o", ms=4, label=f"{plain_label(name)} (ECE {ece:.3f})")
        top = max(top, float(np.nanmax(np.r_[pred, obs, 0.0])))
    top = min(1.0, max(0.05, top * 1.08))
    ax.plot([0, top], [0, top], "k:", lw=1, label="perfectly calibrated")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="mean predicted probability", ylabel="observed churn rate",
           title="Calibration (equal-count bins)")
    ax.legend(fontsize=8)
    return figure_png(fig)


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].cat.codes.replace(-1, np.nan).astype(float)
    return out.astype(float)


def waterfall_explanation(sv: pd.DataFrame, X: pd.DataFrame, row: int, dictionary=None) -> shap.Explanation:
    """One customer's waterfall as the reason table reads it: one bar per driver family
    (:func:`churnlab.explain.top_drivers` with ``kind="both"``), its contributions summed
    (log-odds), labelled with the family's reason text (category values, never codes);
    families with no contribution (features the model does not use) are left out.

    Examples
    --------
    >>> sv = pd.DataFrame({"a": [0.5], "b": [-0.25], "expected_value": [-1.0]})
    >>> ex = waterfall_explanation(sv, pd.DataFrame({"a": [3.0], "b": [1.0]}), 0)
    >>> ex.feature_names, ex.values.tolist(), float(ex.base_values)
    (['a = 3.0 (typical customer: 3.0)', 'b = 1.0 (typical customer: 1.0)'], [0.5, -0.25], -1.0)
    """
    from churnlab.explain import top_drivers

    one_sv, one_x = sv.iloc[[row]], X.iloc[[row]]
    drivers = top_drivers(one_sv, one_x, dictionary, k=one_sv.shape[1], kind="both")
    drivers = drivers[drivers["contribution"] != 0]  # families the model does not use
    return shap.Explanation(values=drivers["contribution"].to_numpy(dtype=float),
                            base_values=float(one_sv["expected_value"].iloc[0]),
                            feature_names=[plain_label(r) for r in drivers["reason"]])


def shap_figure(kind: str, sv: pd.DataFrame, X: pd.DataFrame, **kw) -> bytes:
    """A SHAP beeswarm, waterfall (``row=``, ``dictionary=``: :func:`waterfall_explanation`) or
    dependence (``feature=``) plot as PNG bytes."""
    feats = sv.drop(columns="expected_value")
    ex = shap.Explanation(
        values=feats.to_numpy(), base_values=sv["expected_value"].to_numpy(), data=_numeric(X[feats.columns]).to_numpy(),
        feature_names=[plain_label(c) for c in feats.columns],
    )
    before = set(plt.get_fignums())
    plt.figure()
    if kind == "beeswarm":
        shap.plots.beeswarm(ex, max_display=kw.get("max_display", 12), show=False)
    elif kind == "waterfall":
        shap.plots.waterfall(waterfall_explanation(sv, X, kw["row"], kw.get("dictionary")),
                             max_display=kw.get("max_display", 12), show=False)
    elif kind == "dependence":
        # by position: the figure's names are the escaped labels
        shap.plots.scatter(ex[:, list(feats.columns).index(kw["feature"])], show=False)  # opens a figure of its own
    png = figure_png(plt.gcf())
    for number in set(plt.get_fignums()) - before:  # none left open: a report makes dozens
        plt.close(number)
    return png
