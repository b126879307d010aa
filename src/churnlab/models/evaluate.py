"""Evaluation of churn scores on a labelled test set: ranking, probability and lift metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnlab.models.profit import empc

__all__ = ["CONSTANT_SCORES", "METRICS_HIGHER_IS_BETTER", "NOT_CONVERGED", "STATUS_OK", "calibration_table", "compare_models",
           "evaluate_scores", "expected_calibration_error", "gains_table", "ranked_models", "score_status", "shown_metric", "stratified_bootstrap", "validation_metric"]

#: the ``status`` of an evaluation row: only ``"ok"`` rows are ranked (compared, called best)
STATUS_OK, CONSTANT_SCORES, NOT_CONVERGED = "ok", "constant scores", "fit did not converge"


def _arrays(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"`y_true` and `proba` must be 1-d of equal length, got {y.shape} and {p.shape}")
    if len(y) == 0:
        raise ValueError("cannot evaluate an empty test set")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("`y_true` must hold only 0 and 1")
    if len(np.unique(y)) < 2:
        raise ValueError("`y_true` has a single class: ROC-AUC and PR-AUC are undefined")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("`proba` must be finite probabilities in [0, 1]")
    return y, p


#: the metrics a model can be selected by (higher is better)
METRICS_HIGHER_IS_BETTER = ("pr_auc", "roc_auc", "neg_log_loss", "neg_brier")


def stratified_bootstrap(y, n_boot: int = 200, seed: int = 0):
    """``n_boot`` resamples of the rows of 0/1 labels ``y`` (row positions), positives and
    negatives resampled apart so that each holds both classes as often as ``y`` does.

    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1])
    >>> [int(y[at].sum()) for at in stratified_bootstrap(y, n_boot=3)]
    [1, 1, 1]
    """
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(n_boot):
        yield np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])


def validation_metric(name: str, y_true, proba) -> float:
    """One selection metric of churn probabilities, higher is better.

    >>> validation_metric("roc_auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, p = _arrays(y_true, proba)
    if name == "pr_auc":
        return float(average_precision_score(y, p))
    if name == "roc_auc":
        return float(roc_auc_score(y, p))
    if name == "neg_log_loss":
        return -float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]))
    if name == "neg_brier":
        return -float(brier_score_loss(y, p))
    raise ValueError(f"`metric` must be one of {list(METRICS_HIGHER_IS_BETTER)}, got {name!r}")


def _top_mask(p: np.ndarray, share: float) -> np.ndarray:
    # Stable sort on -p, so ties are broken by position and results are reproducible.
    k = max(1, int(round(share * len(p))))
    order = np.argsort(-p, kind="stable")
    mask = np.zeros(len(p), dtype=bool)
    mask[order[:k]] = True
    return mask


def evaluate_scores(y_true, proba, top_share: float = 0.1) -> dict[str, float]:
    """Ranking, probability and targeting metrics of churn probabilities.

    Parameters
    ----------
    y_true : array-like of 0/1
    proba : array-like of float
        Churn probabilities of the same rows.
    top_share : float
        The share of the riskiest rows for lift and capture.

    Returns
    -------
    dict
        ``roc_auc``, ``pr_auc``, ``log_loss``, ``brier``, ``lift_top10``, ``capture_top10``,
        ``empc``, ``empc_fraction``, ``mp``, ``mp_fraction`` (:func:`churnlab.models.profit.empc`
        with the EMP measure's defaults: clv 200, incentive 10, contact 1, acceptance Beta(6, 14)),
        ``base_rate``, ``n``.

    Examples
    --------
    >>> m = evaluate_scores([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> m["roc_auc"], m["base_rate"]
    (0.75, 0.5)
    """
    if not 0 < top_share < 1:
        raise ValueError(f"`top_share` must be in (0, 1), got {top_share}")
    y, p = _arrays(y_true, proba)
    top = _top_mask(p, top_share)
    base = y.mean()
    pct = int(round(top_share * 100))
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        f"lift_top{pct}": float(y[top].mean() / base),
        f"capture_top{pct}": float(y[top].sum() / y.sum()),
        **{k: v for k, v in empc(y, p).items()},
        "base_rate": float(base),
        "n": int(len(y)),
    }


def calibration_table(y_true, proba, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed churn rate in equal-count bins of the score."""
    y, p = _arrays(y_true, proba)
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=int)
    bins[order] = np.arange(len(p)) * n_bins // len(p)
    df = pd.DataFrame({"bin": bins, "y": y, "p": p})
    out = df.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    return out.reset_index()


def expected_calibration_error(y_true, proba, n_bins: int = 10) -> float:
    """ECE: the customer-weighted mean gap between predicted and observed churn rate over the
    equal-count bins of :func:`calibration_table`.

    Examples
    --------
    >>> # bins {0.1, 0.3}: 0.2 predicted, 0 observed; {0.5, 0.9}: 0.7 against 1
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.5, 0.9], n_bins=2), 3)
    0.25
    """
    cal = calibration_table(y_true, proba, n_bins)
    return float((cal["n"] * (cal["mean_predicted"] - cal["observed_rate"]).abs()).sum() / cal["n"].sum())


def gains_table(y_true, proba, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gains by decile of score (highest risk first)."""
    y, p = _arrays(y_true, proba)
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    edges = np.linspace(0, len(y), n_bins + 1).round().astype(int)[1:]
    cum = np.cumsum(ys)
    return pd.DataFrame(
        {
            "share_targeted": np.arange(1, n_bins + 1) / n_bins,
            "share_of_churners_captured": cum[edges - 1] / y.sum(),
            "lift": (cum[edges - 1] / edges) / y.mean(),
        }
    )


def score_status(proba) -> str:
    """``"constant scores"`` when ``proba`` ranks nobody (fewer than 2 distinct values, or a
    standard deviation below 1e-9 of the mean magnitude), else ``"ok"``.

    >>> score_status([0.3, 0.3, 0.3]), score_status([0.3, 0.3, 0.4])
    ('constant scores', 'ok')
    """
    p = np.asarray(proba, dtype=float)
    if len(np.unique(p)) < 2 or float(np.std(p)) <= 1e-9 * max(float(np.abs(p).mean()), np.finfo(float).tiny):
        return CONSTANT_SCORES
    return STATUS_OK


def compare_models(y_true, scores: dict[str, np.ndarray], top_share: float = 0.1, *, status: dict[str, str] | None = None) -> pd.DataFrame:
    """:func:`evaluate_scores` for several models scored on the same rows, one row each.

    Parameters
    ----------
    y_true : array-like of 0/1
    scores : dict of str to array-like
        Churn probabilities per model, each of the rows of ``y_true``.
    top_share : float
    status : dict of str to str, optional
        A model's own verdict on its fit (``"fit did not converge"``); ``"ok"`` if absent.

    Returns
    -------
    DataFrame
        One row per model, in the order given, its metrics and ``status``: ``"constant
        scores"`` (:func:`score_status`), else the model's ``status``, else ``"ok"``. The
        metrics of a row that is not ``"ok"`` are computed but rank nothing
        (:func:`ranked_models`).

    Examples
    --------
    >>> ev = compare_models([0, 1, 1, 0], {"a": [0.2, 0.9, 0.7, 0.1], "b": [0.5, 0.4, 0.6, 0.3], "c": [0.4] * 4})
    >>> ev["roc_auc"].tolist(), ev["status"].tolist()
    ([1.0, 0.75, 0.5], ['ok', 'ok', 'constant scores'])
    """
    rows = {name: evaluate_scores(y_true, p, top_share) for name, p in scores.items()}
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    given = status or {}
    out["status"] = [s if (s := score_status(p)) != STATUS_OK else given.get(name, STATUS_OK) for name, p in scores.items()]
    return out


def ranked_models(evaluation: pd.DataFrame) -> list[str]:
    """The models of an evaluation that may be ranked: ``status`` ``"ok"`` (every row of a
    table from before the ``status`` column)."""
    if "status" not in evaluation.columns:
        return list(evaluation.index)
    return [n for n, s in evaluation["status"].items() if s == STATUS_OK]


#: metrics that only mean something for scores that rank the rows
_RANKING = ("roc_auc", "pr_auc", "lift_", "capture_", "empc", "mp")


def shown_metric(value, column: str, status: str = STATUS_OK, digits: int = 3) -> str:
    """A metric as printed: ``"—"`` where the row's status makes it meaningless (the ranking
    and targeting metrics of constant scores; every metric of a fit that did not converge),
    else the value to ``digits`` places. Log loss and Brier of constant scores are kept:
    they are the floor of a constant guess.

    >>> shown_metric(0.5, "roc_auc", "constant scores"), shown_metric(0.25, "brier", "constant scores")
    ('—', '0.250')
    """
    if status == NOT_CONVERGED or (status == CONSTANT_SCORES and column.startswith(_RANKING)):
        return "—"
    return f"{float(value):.{digits}f}"
