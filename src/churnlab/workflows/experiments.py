"""The real-data benchmark on CDNOW.

Protocol (the BG/NBD literature's split, made a churn task):

* calibration period: purchases up to 1997-09-30; the test cutoff is ``as_of = 1997-10-01``;
* churn label at the test cutoff: **no purchase in the following 39 weeks**, i.e. in
  ``[1997-10-01, 1997-10-01 + 273 days)`` (to the end of the data, 1998-06-30);
* training snapshots lie inside the calibration period only: cutoffs 1997-02-15 to
  1997-04-01 (twice a month) labelled with a 13-week window that ends by the validation
  cutoff 1997-07-01, whose own 13-week window ends 1997-09-30. No label ever looks past the
  calibration period, so the test period is untouched until scoring;
* every model is scored on the same 23,570 customers at the test cutoff; probability
  calibrations (Platt) are fitted on the validation cutoff.
"""

from __future__ import annotations

import functools
from pathlib import Path

import mlflow
import pandas as pd

from churnlab.models.baselines import BGNBDAlive, rfm_columns
from churnlab.datasets import load_cdnow
from churnlab.models.evaluate import compare_models
from churnlab.features import FeatureConfig, build_training_set
from churnlab.labels import churn_labels
from churnlab.models.lightgbm import ChurnModel
from churnlab.models.linear import LinearChurnModel
from churnlab.workflows.compare import default_baselines, driver_groups, fit_and_compare, select_model

__all__ = ["cdnow_benchmark", "cdnow_ablation", "CDNOW_PROTOCOL"]

CDNOW_PROTOCOL = {
    "train_cutoffs": ["1997-02-15", "1997-03-01", "1997-03-15", "1997-04-01"],
    "validation_cutoff": "1997-07-01",
    "train_horizon_days": 91,
    "test_cutoff": "1997-10-01",
    "test_horizon_days": 273,
}

#: LightGBM settings for this small, single-table problem: shallow trees, strong leaves.
CDNOW_PARAMS = {"num_leaves": 7, "min_data_in_leaf": 200, "learning_rate": 0.03}


def cdnow_benchmark(track: bool = False, workdir: str | Path = "models", tracking_uri: str | None = None, seed: int = 0):
    """Run the CDNOW benchmark; return ``(evaluation, details)``.

    ``evaluation`` has one row per model (ROC-AUC, PR-AUC, log loss, Brier, lift, capture);
    ``details`` holds the test frame, the model and the scores. With ``track=True`` the run
    is logged to MLflow (experiment ``churnlab-cdnow-benchmark``).

    Parameters
    ----------
    track : bool
    workdir : str or Path
    tracking_uri : str, optional
    seed : int

    Returns
    -------
    (DataFrame, dict)

    Examples
    --------
    >>> evaluation, details = cdnow_benchmark()  # doctest: +SKIP
    """
    from churnlab.tracking import tracking_store

    uri = tracking_store(tracking_uri, workdir) if track else None  # before any work
    events, ts, train, val, test, label = _cdnow_split()
    names = ts.feature_names
    p = CDNOW_PROTOCOL
    candidates = {"lightgbm": ChurnModel(params=CDNOW_PARAMS, seed=seed), "logistic_regression": LinearChurnModel(),
                  "rfm_logistic": LinearChurnModel(columns=rfm_columns(names))}
    baselines = {
        **default_baselines(),
        # calibrated on the 13-week validation labels, asked about the 39-week test window
        "bgnbd_no_purchase_39w": BGNBDAlive(
            output="no_purchase", horizon_days=p["train_horizon_days"], score_horizon_days=p["test_horizon_days"]
        ),
    }
    groups = driver_groups(ts.builder)
    cmp = fit_and_compare(candidates, train, val, test, names, events, baselines, seed=seed, groups=groups)
    evaluation = cmp.evaluation
    details = {"test": test.copy(), "scores": pd.DataFrame(cmp.scores), "model": cmp.selection.model,
               "selected": cmp.selection.selected, "validation": cmp.selection.validation, "builder": ts.builder,
               "label": label}
    if track:
        details["run_id"] = _log(evaluation, details, Path(workdir), uri)
    return evaluation, details


@functools.lru_cache(maxsize=1)
def _cdnow_split():
    """Events, training set, the train / validation / test frames, and the test label definition.

    Built once per process (the benchmark, its ablation and the CLI share it); callers treat
    the frames as read-only."""
    p = CDNOW_PROTOCOL
    events = load_cdnow()
    cuts = [*p["train_cutoffs"], p["validation_cutoff"]]
    ts = build_training_set(events, cuts, horizon_days=p["train_horizon_days"], config=FeatureConfig(), active_days=None)
    f = ts.frame
    val_cut = pd.Timestamp(p["validation_cutoff"])
    train, val = f[f["cutoff"] < val_cut], f[f["cutoff"] == val_cut]
    test_cut = pd.Timestamp(p["test_cutoff"])
    lab = churn_labels(events, test_cut, horizon_days=p["test_horizon_days"], active_days=None)
    X_test = ts.builder.transform(events, test_cut, customer_ids=lab.labels.index)
    test = X_test.assign(churned=lab.labels["churned"].reindex(X_test.index).to_numpy(), cutoff=test_cut).reset_index()
    return events, ts, train, val, test, lab.definition


def cdnow_ablation(seed: int = 0) -> pd.DataFrame:
    """What LightGBM's result on CDNOW owes to its features and settings.

    Same protocol and test customers as :func:`cdnow_benchmark`; rows: the full model, the
    model without the purchase-rhythm features (inter-purchase gaps and the overdue ratio),
    with LightGBM's default-like churnlab parameters instead of the shallow CDNOW ones, and
    with only the four inputs BG/NBD itself uses (recency, frequency, spend, age).

    Parameters
    ----------
    seed : int

    Returns
    -------
    DataFrame
        One row per variant: ``full``, ``without_rhythm_features``, ``default_params``,
        ``bgnbd_inputs_only``.

    Examples
    --------
    >>> cdnow_ablation()["roc_auc"]  # doctest: +SKIP
    """
    _, ts, train, val, test, _ = _cdnow_split()
    names = ts.feature_names
    rhythm = [c for c in names if c.startswith(("p_gap", "p_overdue"))]
    variants = {
        "full": (names, CDNOW_PARAMS),
        "without_rhythm_features": ([c for c in names if c not in rhythm], CDNOW_PARAMS),
        "default_params": (names, None),
        "bgnbd_inputs_only": (["p_recency_days", "p_count_total", "p_aov", "p_first_purchase_days"], CDNOW_PARAMS),
    }
    scores = {}
    groups = driver_groups(ts.builder)
    for name, (cols, params) in variants.items():
        # as in the benchmark: fitted, screened on validation and refitted (select_model)
        m = select_model({"lightgbm": ChurnModel(params=params, seed=seed)}, train[cols], train["churned"], val[cols],
                         val["churned"], seed=seed, groups=groups).model
        scores[name] = m.churn_probability(test[cols])
    return compare_models(test["churned"], scores)


def _log(evaluation: pd.DataFrame, details: dict, workdir: Path, uri: str) -> str:
    from churnlab.plots import evaluation_figures, importance_figure
    from churnlab.tracking import log_dict_artifact, log_frame_artifact, log_png_artifacts, use_experiment

    with mlflow.start_run(experiment_id=use_experiment("churnlab-cdnow-benchmark", uri, workdir), run_name="cdnow-39w") as run:
        mlflow.log_params({k: str(v) for k, v in CDNOW_PROTOCOL.items()})
        mlflow.log_params({f"lgbm.{k}": v for k, v in CDNOW_PARAMS.items()})
        for name, row in evaluation.iterrows():
            mlflow.log_metrics({f"{name}.{k}": float(v) for k, v in row.items() if k != "status"})
        log_frame_artifact(evaluation, "evaluation.csv")
        log_dict_artifact(details["label"], "test_label_definition.json")
        y = details["test"]["churned"]
        figs = evaluation_figures(y, {c: details["scores"][c].to_numpy() for c in details["scores"].columns})
        mlflow.log_param("selected", details["selected"])
        imp = details["model"].feature_importance()
        figs["feature_importance.png"] = importance_figure(imp.set_index("feature")["importance"],
                                                           f"{details['selected']} importance (CDNOW)", imp.attrs["measure"])
        log_png_artifacts(figs, "plots")
    return run.info.run_id
