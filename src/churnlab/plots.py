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

__all__ = ["evaluation_figures", "importance_figure", "figure_png", "plain_label", "shap_figure"]


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


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].cat.codes.replace(-1, np.nan).astype(float)
    return out.astype(float)


def shap_figure(kind: str, sv: pd.DataFrame, X: pd.DataFrame, **kw) -> bytes:
    """A SHAP beeswarm, waterfall (``row=``) or dependence (``feature=``) plot as PNG bytes."""
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
        shap.plots.waterfall(ex[kw["row"]], max_display=kw.get("max_display", 12), show=False)
    elif kind == "dependence":
        # by position: the figure's names are the escaped labels
        shap.plots.scatter(ex[:, list(feats.columns).index(kw["feature"])], show=False)  # opens a figure of its own
    png = figure_png(plt.gcf())
    for number in set(plt.get_fignums()) - before:  # none left open: a report makes dozens
        plt.close(number)
    return png
