"""Rolling-origin backtest: would the model have held at earlier cutoffs?

For each of the last ``folds`` configured cutoffs, taken as the test cutoff, the run keeps
only the cutoffs up to it and repeats a training run on them: the same split rules
(:func:`churnlab.time_split`), the same candidates, selection and baselines, fitted from
scratch (features too), so no fold sees anything after its own test cutoff. Per fold, each
model's metrics on its test rows get a 95% interval from a stratified bootstrap of those
rows (percentiles of ``n_boot`` resamples). Across folds: the mean and the standard
deviation. Driver stability: the Spearman rank correlation of the shipped model's global
driver shares (mean |SHAP| per driver on the test rows) between consecutive folds, and each
fold's top drivers.

Per fold and model, beside the realized metrics: the model's calibration on its test rows
(``ece``, :func:`churnlab.models.evaluate.expected_calibration_error` over 10 equal-count
bins) and what its probabilities promised before the labels were known
(:func:`churnlab.monitor.estimate_performance`: ``expected_churn_rate``,
``expected_roc_auc`` with its label-draw spread ``expected_roc_auc_sd``, ``expected_pr_auc``):
the fold-by-fold check of the label-free estimate ``churnlab score`` prints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.config import TrainConfig
from churnlab.events import EventTables
from churnlab.models import time_split
from churnlab.models.evaluate import expected_calibration_error, stratified_bootstrap, validation_metric
from churnlab.monitor.estimate import estimate_performance
from churnlab.progress import NoProgress

__all__ = ["BacktestResult", "backtest", "bootstrap_interval"]

METRICS = ("roc_auc", "pr_auc")
ESTIMATED = ("expected_churn_rate", "expected_roc_auc", "expected_roc_auc_sd", "expected_pr_auc")


@dataclasses.dataclass
class BacktestResult:
    """What a backtest produced.

    Attributes
    ----------
    folds : DataFrame
        One row per fold and model: ``fold, test_cutoff, model, shipped, n, base_rate`` and,
        per metric, its value and ``<metric>_low`` / ``<metric>_high`` (95% bootstrap interval);
        then ``ece`` and the label-free estimate from the model's probabilities
        (``expected_churn_rate, expected_roc_auc, expected_roc_auc_sd, expected_pr_auc``).
    summary : DataFrame
        Per model and metric: ``mean``, ``std`` and ``folds`` across folds.
    drivers : DataFrame
        Per fold: the shipped model's driver shares (``fold, test_cutoff, driver, share, rank``).
    stability : DataFrame
        Spearman rank correlation of driver shares between consecutive folds.
    run_id : str or None
        The parent MLflow run, when tracked.
    notes : list of str
        Each configured cutoff left out because its label window is not observed.
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    drivers: pd.DataFrame
    stability: pd.DataFrame
    run_id: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def bootstrap_interval(y, proba, metric: str, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``metric`` over stratified bootstrap resamples of the rows.

    Parameters
    ----------
    y : array-like of 0/1
    proba : array-like of float
    metric : str
        A :func:`churnlab.models.evaluate.validation_metric` name.
    n_boot : int
    seed : int
    level : float

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(400) < 0.3).astype(float)
    >>> low, high = bootstrap_interval(y, (y * 0.3 + rng.random(400)) / 1.3, "roc_auc")
    >>> bool(low < 0.8 < high) or (low, high)
    True
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(proba, dtype=float)
    values = [validation_metric(metric, y[at], p[at]) for at in stratified_bootstrap(y, n_boot, seed)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def fold_cutoffs(cutoffs, horizon_days: float, folds: int) -> list[list[pd.Timestamp]]:
    """The cutoffs each fold trains and tests on: the last ``folds`` cutoffs are test cutoffs,
    each fold keeps the cutoffs up to its own. A fold whose cutoffs leave no training or
    validation period is an error naming its test cutoff."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ValueError(f"`folds` must be an integer >= 1, got {folds!r}")
    cuts = sorted(pd.Timestamp(c) for c in cutoffs)
    if folds > len(cuts):
        raise ValueError(f"--folds {folds}: only {len(cuts)} cutoffs are configured")
    out = []
    for test in cuts[len(cuts) - folds:]:
        mine = [c for c in cuts if c <= test]
        try:
            time_split(mine, horizon_days)
        except ValueError as exc:
            raise ValueError(f"--folds {folds}: the fold tested at {test.date()} leaves no training period ({exc})") from None
        out.append(mine)
    return out


def backtest(cfg: TrainConfig, events: EventTables | None = None, folds: int = 3, n_boot: int = 200,
             track: bool = True, workdir: str | Path = "models", *, progress=None) -> BacktestResult:
    """Rolling-origin backtest of a training config (see the module notes).

    Parameters
    ----------
    cfg : TrainConfig
        Event data with cutoffs (a labelled table has no cutoffs to roll).
    events : EventTables, optional
        Default: what ``cfg.data`` points at.
    folds : int
        The last ``folds`` cutoffs are test cutoffs.
    n_boot : int
        Bootstrap resamples per interval.
    track : bool
        Log one parent MLflow run with a nested run per fold.
    workdir : str or Path
        Holds the default tracking store.
    progress : churnlab.progress.Progress, optional
        Told of each fold and each fold's training stages; default: silent.

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> from churnlab.config import parse_config
    >>> cfg = parse_config({"data": {"source": "demo", "demo_customers": 600},
    ...                     "cutoffs": {"start": "2023-10-01", "end": "2024-10-01"},
    ...                     "label": {"horizon_days": 90, "active_days": 180}, "model": {"num_boost_round": 50}})
    >>> bt = backtest(cfg, folds=2, n_boot=20, track=False)
    >>> sorted(bt.folds["test_cutoff"].astype(str).unique())
    ['2024-09-01', '2024-10-01']
    >>> shipped = bt.folds[bt.folds["shipped"]]
    >>> bool(shipped["ece"].between(0, 1).all() and shipped["expected_roc_auc"].between(0.5, 1).all())
    True
    """
    from churnlab.explain import global_drivers, shap_values
    from churnlab.tracking import tracking_store
    from churnlab.workflows.training import fit_and_evaluate, load_data, observed_cutoffs

    if cfg.data.source == "table":
        raise ValueError("backtest: data.source 'table' has no cutoffs to roll; backtests need event data")
    plan = fold_cutoffs(cfg.cutoffs.resolve(), cfg.label.horizon_days, folds)  # checked before any data is read
    uri = tracking_store(cfg.mlflow.tracking_uri, workdir) if track else None  # before any fold is trained
    events = events if events is not None else load_data(cfg.data)
    # a fold is tested only at a cutoff whose label window is observed in the label table
    observed, notes = observed_cutoffs(events, cfg.cutoffs.resolve(), cfg.label, observed_until=cfg.data.observed_until)
    if notes:
        try:
            plan = fold_cutoffs(observed, cfg.label.horizon_days, folds)
        except ValueError as exc:
            raise ValueError(f"{exc}; left out before the folds: {'; '.join(notes)}") from None
    rows, driver_rows, results = [], [], []
    progress = progress or NoProgress()
    with progress.stage("backtest folds", total=len(plan)) as stage:
        for cuts in plan:
            fold_cfg = cfg.model_copy(update={"cutoffs": cfg.cutoffs.model_copy(update={"dates": [c.date() for c in cuts],
                                                                                        "start": None, "end": None})})
            results.append(fit_and_evaluate(fold_cfg, events, progress=progress))
            stage.note(f"fold {len(results)}: test cutoff {cuts[-1].date()}, shipped {results[-1].selected}")
            stage.advance()
    for i, (cuts, r) in enumerate(zip(plan, results), start=1):
        test_cut = cuts[-1]
        y = r.test_scores["churned"].to_numpy(dtype=float)
        for name, ev in r.evaluation.iterrows():
            row = {"fold": i, "test_cutoff": test_cut, "model": name, "shipped": name == r.selected,
                   "n": int(ev["n"]), "base_rate": float(ev["base_rate"])}
            for m in METRICS:
                low, high = bootstrap_interval(y, r.test_scores[name], m, n_boot=n_boot, seed=cfg.seed)
                row.update({m: float(ev[m]), f"{m}_low": low, f"{m}_high": high})
            p = r.test_scores[name].to_numpy(dtype=float)
            est = estimate_performance(p, seed=cfg.seed) if np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1 else {}
            row["ece"] = expected_calibration_error(y, p) if np.isfinite(p).all() else float("nan")
            row.update({k: est.get(k, float("nan")) for k in ESTIMATED})
            rows.append(row)
        X = r.test_features.sample(n=min(3000, len(r.test_features)), random_state=0).sort_index()
        gd = global_drivers(shap_values(r.model, X), r.builder.feature_dictionary())
        driver_rows.append(gd.assign(fold=i, test_cutoff=test_cut, rank=np.arange(1, len(gd) + 1))[
            ["fold", "test_cutoff", "driver", "share", "rank"]])
    table = pd.DataFrame(rows)
    drivers = pd.concat(driver_rows, ignore_index=True)
    summary = (table.melt(id_vars=["fold", "model"], value_vars=list(METRICS), var_name="metric")
               .groupby(["model", "metric"], sort=False)["value"].agg(mean="mean", std="std", folds="size").reset_index())
    shares = drivers.pivot_table(index="driver", columns="fold", values="share", fill_value=0.0)
    stability = pd.DataFrame([
        {"from_fold": a, "to_fold": b, "spearman": float(shares[a].rank().corr(shares[b].rank()))}
        for a, b in zip(shares.columns[:-1], shares.columns[1:])
    ], columns=["from_fold", "to_fold", "spearman"])
    result = BacktestResult(table, summary, drivers, stability, notes=notes)
    if track:
        result.run_id = _log_backtest(cfg, result, results, uri, Path(workdir))
    return result


def _log_backtest(cfg: TrainConfig, bt: BacktestResult, results: list, uri: str, workdir: Path) -> str:
    import mlflow

    from churnlab.tracking import log_frame_artifact, log_png_artifacts, use_experiment

    exp = use_experiment(cfg.mlflow.experiment, uri, workdir)
    with mlflow.start_run(experiment_id=exp, run_name=f"{cfg.name}-backtest") as parent:
        mlflow.set_tag("churnlab.kind", "backtest")
        mlflow.log_param("folds", int(bt.folds["fold"].max()))
        for row in bt.summary.itertuples():
            mlflow.log_metrics({f"{row.model}.{row.metric}.mean": row.mean, f"{row.model}.{row.metric}.std": float(np.nan_to_num(row.std))})
        for row in bt.stability.itertuples():
            mlflow.log_metric(f"drivers.spearman.{row.from_fold}_{row.to_fold}", row.spearman)
        for i, r in enumerate(results, start=1):
            fold = bt.folds[bt.folds["fold"] == i]
            with mlflow.start_run(experiment_id=exp, run_name=f"fold {i}: test {fold['test_cutoff'].iloc[0].date()}", nested=True):
                mlflow.log_params({"test_cutoff": str(fold["test_cutoff"].iloc[0].date()), "selected": r.selected})
                for row in fold.itertuples():
                    mlflow.log_metrics({f"{row.model}.{m}{s}": float(getattr(row, f"{m}{s}")) for m in METRICS
                                        for s in ("", "_low", "_high")})
                    mlflow.log_metrics({f"{row.model}.{k}": float(getattr(row, k)) for k in ("ece", *ESTIMATED)
                                        if np.isfinite(getattr(row, k))})
        for name in ("folds", "summary", "drivers", "stability"):
            log_frame_artifact(getattr(bt, name), f"backtest/{name}.csv")
        log_png_artifacts({f"{m}_over_time.png": metric_over_time_png(bt.folds, m) for m in METRICS}, "plots")
    return parent.info.run_id


def metric_over_time_png(folds: pd.DataFrame, metric: str) -> bytes:
    """One line per model: ``metric`` at each fold's test cutoff, with its bootstrap interval."""
    import matplotlib.pyplot as plt

    from churnlab.plots import figure_png

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, g in folds.groupby("model", sort=False):
        ax.errorbar(g["test_cutoff"], g[metric], yerr=[g[metric] - g[f"{metric}_low"], g[f"{metric}_high"] - g[metric]],
                    marker="o", capsize=3, label=name)
    ax.set(xlabel="test cutoff", ylabel=metric, title=f"{metric} over time (95% bootstrap intervals)")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return figure_png(fig)
