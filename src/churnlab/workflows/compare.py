"""One comparison, used by training runs and the benchmarks: fit the candidate models on the
training period, select one on the validation period, fit the baselines on the same split,
score the same test rows and evaluate them side by side."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from churnlab.events import EventTables
from churnlab.models import BGNBDAlive, ChurnModel, RecencyRule, RFMLogistic, compare_models
from churnlab.models.baselines import PriorRate, SnapshotBaseline, rfm_columns
from churnlab.models.calibration import out_of_time_scores
from churnlab.models.evaluate import calibration_table, stratified_bootstrap, validation_metric
from churnlab.models.linear import LinearChurnModel
from churnlab.models.screening import permutation_screen
from churnlab.models.search import search_lightgbm
from churnlab.progress import NoProgress

__all__ = ["Comparison", "OnFeatures", "SIMPLICITY", "Selection", "default_baselines", "driver_groups", "fit_and_compare", "make_candidates",
           "refit_models", "reliability_tables", "select_model", "shipped_notes", "stacked_calibration", "table_ece",
           "validation_probability"]


#: simplest first: the one-standard-error rule ships the simplest candidate within reach of the best
SIMPLICITY = ("rfm_logistic", "logistic_regression", "lightgbm")


def make_candidates(model_cfg, seed: int = 0, features: list[str] | None = None) -> dict:
    """The unfitted candidate models a :class:`churnlab.config.ModelConfig` names, in its order
    (``rfm_logistic`` only where ``features`` hold purchase recency and frequency)."""
    m = model_cfg
    rfm = rfm_columns(features or [])
    made = {
        "lightgbm": lambda: ChurnModel(
            params=m.params, num_boost_round=m.num_boost_round, early_stopping_rounds=m.early_stopping_rounds,
            imbalance=m.imbalance, calibration=m.calibration, seed=seed, num_threads=m.num_threads,
        ),
        "logistic_regression": lambda: LinearChurnModel(metric=m.select_by),
        "rfm_logistic": lambda: LinearChurnModel(metric=m.select_by, columns=rfm),
    }
    return {name: made[name]() for name in m.candidates if name != "rfm_logistic" or rfm}


def driver_groups(builder) -> dict:
    """Feature -> driver group from a fitted builder's feature dictionary: the features that
    :func:`select_model`'s screening judges together (counts over several windows of one thing)."""
    return builder.feature_dictionary().set_index("feature")["group"].to_dict()


@dataclasses.dataclass
class Selection:
    """Fitted candidates, their validation metrics, and the one selected."""

    models: dict
    validation: pd.DataFrame
    selected: str
    select_by: str
    rule: str = "one_se"
    search: pd.DataFrame | None = None
    screening: pd.DataFrame | None = None
    #: the candidates as validation chose them, trained on the training period alone, when
    #: ``models`` were refitted (:func:`refit_models`); None otherwise
    chosen: dict | None = None

    @property
    def model(self):
        return self.models[self.selected]


def refit_models(sel: Selection, X: pd.DataFrame, y, *, calibration=None) -> Selection:
    """Each candidate of ``sel`` refitted on ``(X, y)`` (the training and validation periods
    together) with what validation chose: LightGBM's number of rounds, the regression's ``C``,
    the screened features. ``sel.chosen`` keeps the models validation judged.

    A LightGBM model keeps the calibration fitted on the validation period's predictions of
    the model trained without it, unless ``calibration`` (a function of the chosen model,
    returning raw scores and labels of rows that model's recipe did not train on, e.g.
    :func:`churnlab.models.calibration.out_of_time_scores`) gives other ones. ``X=None``
    refits nothing and only recalibrates. Returns ``sel``.
    """
    chosen = dict(sel.models)
    shipped = {}
    for name, model in chosen.items():
        new = model if X is None else model.refit(X, y)
        if calibration is not None and isinstance(model, ChurnModel) and model.calibration is not None:
            raw, labels = calibration(model)
            new.calibrate(raw, labels)
        if hasattr(model, "screening_"):
            new.screening_ = model.screening_
        shipped[name] = new
    sel.models, sel.chosen = shipped, (chosen if X is not None else None)
    return sel


def validation_probability(sel: Selection, name: str, X_val: pd.DataFrame) -> np.ndarray:
    """Candidate ``name``'s calibrated probabilities on the validation rows as the shipped
    model would give them had it not trained on them: the chosen model's raw scores through
    the shipped model's calibration (the chosen model's own probabilities for a regression)."""
    chosen = (sel.chosen or sel.models)[name]
    shipped = sel.models[name]
    if isinstance(chosen, ChurnModel):
        raw = chosen.predict_raw(X_val)
        return shipped.calibrator_.transform(raw) if shipped.calibrator_ is not None else raw
    return chosen.churn_probability(X_val)


def paired_bootstrap_se(y, proba: dict, best: str, metric: str, n_boot: int = 200, seed: int = 0) -> dict:
    """Standard error of ``metric(best) - metric(other)`` per model, over ``n_boot`` resamples of
    the rows (positives and negatives resampled apart, so each resample holds both classes)."""
    y = np.asarray(y, dtype=float)
    diffs = {name: [] for name in proba}
    for at in stratified_bootstrap(y, n_boot, seed):
        top = validation_metric(metric, y[at], proba[best][at])
        for name, p in proba.items():
            diffs[name].append(top - validation_metric(metric, y[at], p[at]) if name != best else 0.0)
    return {name: float(np.std(d, ddof=1)) for name, d in diffs.items()}


def select_model(candidates: dict, X: pd.DataFrame, y, X_val: pd.DataFrame, y_val, select_by: str = "pr_auc",
                 rule: str = "one_se", search_trials: int = 0, search_timeout_s: float | None = None,
                 screen: bool = True, seed: int = 0, groups: dict | None = None, *, progress=None) -> Selection:
    """Fit each candidate on ``(X, y)`` (early stopping, calibration or ``C`` on validation) and
    select one on ``(X_val, y_val)`` by ``select_by``.

    ``rule="best"`` takes the best (the first in order on a tie). ``rule="one_se"`` (the
    one-standard-error rule of Breiman et al. 1984, Hastie et al. 2009 §7.10) takes the
    simplest candidate (order :data:`SIMPLICITY`) whose validation score is within one
    paired-bootstrap standard error of the best's: a difference validation cannot tell from
    noise does not buy complexity. LightGBM candidates are tuned first when ``search_trials``
    > 0 (:func:`churnlab.models.search.search_lightgbm`) and, with ``screen``, refitted
    without the features whose permutation importance on validation does not exceed chance
    (:func:`churnlab.models.screening.permutation_screen`).

    Parameters
    ----------
    candidates : dict of str to estimator
        Unfitted models with ``fit(X, y, validation=...)`` and ``churn_probability``.
    X, y : DataFrame, array-like
        The training period.
    X_val, y_val : DataFrame, array-like
        The validation period: never the test period.
    select_by : {"pr_auc", "roc_auc", "neg_log_loss", "neg_brier"}
    rule : {"one_se", "best"}
    search_trials, search_timeout_s : int, float
    screen : bool
    seed : int
        Seeds the bootstrap and the search.
    groups : dict, optional
        Feature -> driver group, for the screening (features of a group are judged together).
    progress : churnlab.progress.Progress, optional
        Told of each candidate fitted, with its validation score and screening (stage
        ``candidates``), and of the search's trials.

    Returns
    -------
    Selection
        ``models`` (fitted), ``validation`` (their metrics, ``select_score`` and
        ``se_of_gap_to_best``), ``selected`` and ``model``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from churnlab.models import ChurnModel, LinearChurnModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.exponential(30, 900), "orders": rng.poisson(3, 900).astype(float)})
    >>> y = (X["recency"] + rng.normal(0, 10, 900) > 35).astype(int)
    >>> sel = select_model({"lightgbm": ChurnModel(num_boost_round=50), "logistic_regression": LinearChurnModel()},
    ...                    X[:600], y[:600], X[600:], y[600:])
    >>> sel.selected in sel.models, list(sel.validation.index)
    (True, ['lightgbm', 'logistic_regression'])
    """
    if not candidates:
        raise ValueError("`candidates` must name at least one model")
    if rule not in ("one_se", "best"):
        raise ValueError(f"`rule` must be 'one_se' or 'best', got {rule!r}")
    y_val = np.asarray(y_val, dtype=float)
    search = None
    screening = None
    progress = progress or NoProgress()
    proba = {}
    with progress.stage("candidates", total=len(candidates)) as stage:
        for name, model in candidates.items():
            if isinstance(model, ChurnModel) and search_trials > 0:
                params, search = search_lightgbm(model, X, y, X_val, y_val, select_by, search_trials, search_timeout_s, seed,
                                                 progress=progress)
                model.set_params(params=params)
            model.fit(X, y, validation=(X_val, y_val))
            table = _screened(model, X, y, X_val, y_val, seed=seed, groups=groups) if screen else None
            if table is not None and (isinstance(model, ChurnModel) or screening is None):  # the notes name LightGBM's
                screening = table
            proba[name] = model.churn_probability(X_val)
            shown = f"{name}: validation {select_by} {validation_metric(select_by, y_val, proba[name]):.4f}"
            if table is not None:
                shown += f"; screening kept {int(table['keep'].sum())} of {len(table)} features"
            stage.note(shown)
            stage.advance()
    validation = compare_models(y_val, proba)
    score = {name: validation_metric(select_by, y_val, p) for name, p in proba.items()}
    best = max(score, key=lambda name: score[name])  # max keeps the first of equals
    se = paired_bootstrap_se(y_val, proba, best, select_by, seed=seed) if len(proba) > 1 else {best: 0.0}
    validation["select_score"] = pd.Series(score)
    validation["se_of_gap_to_best"] = pd.Series(se)
    selected = best
    if rule == "one_se":
        within = [n for n in proba if score[best] - score[n] <= se[n]]
        selected = min(within, key=lambda n: (SIMPLICITY.index(n) if n in SIMPLICITY else len(SIMPLICITY), list(proba).index(n)))
    return Selection(dict(candidates), validation, selected, select_by, rule, search, screening)


def _screened(model, X, y, X_val, y_val, *, seed: int, groups: dict | None) -> pd.DataFrame | None:
    """Screen a fitted candidate's driver groups on validation
    (:func:`churnlab.models.screening.permutation_screen`) and refit it without those that do
    not hold; its screening table (also kept as ``model.screening_``), or None for a model
    that is not screened."""
    if not isinstance(model, (ChurnModel, LinearChurnModel)):
        return None
    # every candidate, so that no shipped model explains customers with noise
    table = permutation_screen(model, X_val, y_val, seed=seed, groups=groups)
    kept = table.loc[table["keep"], "feature"].tolist()
    if kept and len(kept) < len(table):
        if isinstance(model, ChurnModel):
            model.set_params(ignore_features=table.loc[~table["keep"], "feature"].tolist())
        else:  # the regression's unused columns get zero weight
            model.set_params(columns=kept)
        model.fit(X, y, validation=(X_val, y_val))
    model.screening_ = table
    return table


def default_baselines(events: EventTables | None = None, features: list[str] | None = None, *,
                      horizon_days: float | None = None) -> dict:
    """The baselines a training run prints: with purchases, the RFM logistic regression, the
    recency rule, BG/NBD's 1 - P(alive) and, given the label's ``horizon_days``, BG/NBD's
    -E[purchases in the horizon] (``bgnbd_expected_purchases``); without (subscriptions,
    activity), the prior rate (the regularised logistic regression on the same features is a
    candidate model)."""
    if events is None or events.purchases is not None:
        out = {"rfm_logistic": RFMLogistic(), "recency_rule": RecencyRule(), "bgnbd_p_alive": BGNBDAlive()}
        if horizon_days is not None:
            out["bgnbd_expected_purchases"] = BGNBDAlive(output="expected_purchases", horizon_days=float(horizon_days))
        return out
    return {"prior_rate": OnFeatures(PriorRate(), features)}


class OnFeatures(SnapshotBaseline):
    """A baseline that reads a snapshot frame's feature columns (``fit_xy`` / ``churn_probability_x``)."""

    def __init__(self, baseline, features: list[str]):
        self.baseline = baseline
        self.features = features

    def fit(self, train: pd.DataFrame, validation: pd.DataFrame, events: EventTables | None = None) -> "OnFeatures":
        self.baseline.fit_xy(train[self.features], train["churned"])
        return self

    def churn_probability(self, frame: pd.DataFrame, events: EventTables | None = None) -> np.ndarray:
        return self.baseline.churn_probability_x(frame[self.features])


@dataclasses.dataclass
class Comparison:
    """A selection and the evaluation of every candidate and baseline on the same test rows."""

    selection: Selection
    scores: dict
    evaluation: pd.DataFrame


def fit_and_compare(
    candidates: dict,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    events: EventTables | None,
    baselines: dict | None = None,
    horizon_days: float | None = None,
    refit: pd.DataFrame | None = None,
    calibration=None,
    **select,
) -> Comparison:
    """Select a model among ``candidates`` (:func:`select_model`, keywords passed on) on the
    snapshot frames' ``features``, fit each baseline on the same frames, and evaluate all of
    them on the test rows (:func:`churnlab.models.compare_models`), candidates first.

    ``baselines`` default to :func:`default_baselines` (given ``horizon_days``, the label's).
    The evaluation's ``status`` marks a model whose test scores are constant or whose fit did
    not converge (:meth:`~churnlab.models.baselines.SnapshotBaseline.fit_status`): its row is
    printed as such and never ranked.

    ``refit`` (the training and validation rows together) and ``calibration``: the candidates
    are refitted and calibrated after the selection (:func:`refit_models`) and scored on the
    test rows as refitted; the baselines are fitted on ``train`` and ``validation`` as before."""
    sel = select_model(candidates, train[features], train["churned"], validation[features], validation["churned"], **select)
    if refit is not None or calibration is not None:
        refit_models(sel, None if refit is None else refit[features], None if refit is None else refit["churned"],
                     calibration=calibration)
    scores = {name: model.churn_probability(test[features]) for name, model in sel.models.items()}
    status = {}
    chosen = default_baselines(events, features, horizon_days=horizon_days) if baselines is None else baselines
    for name, baseline in chosen.items():
        if name in scores:  # a candidate too (rfm_logistic): the same model, evaluated once
            continue
        scores[name] = baseline.fit(train, validation, events).churn_probability(test, events)
        status[name] = baseline.fit_status() if hasattr(baseline, "fit_status") else "ok"
    return Comparison(sel, scores, compare_models(test["churned"], scores, status=status))


def stacked_calibration(frame: pd.DataFrame, features: list[str], cutoffs, horizon_days: float):
    """The ``calibration`` of :func:`refit_models` for snapshot rows: a function of a chosen
    LightGBM model that returns its recipe's out-of-time raw scores and labels at each of
    ``cutoffs`` (:func:`churnlab.models.calibration.out_of_time_scores`), stacked."""
    def scores(model):
        s = out_of_time_scores(model, frame, features, cutoffs, horizon_days)
        return s["score"].to_numpy(), s["churned"].to_numpy()
    return scores


def reliability_tables(y_val, p_val, y_test, p_test, n_bins: int = 10) -> dict:
    """The shipped model's reliability table (:func:`churnlab.models.evaluate.calibration_table`:
    ``bin``, ``n``, ``mean_predicted``, ``observed_rate`` per equal-count bin) on the
    validation and the test rows: ``{"validation": DataFrame, "test": DataFrame}``.

    >>> t = reliability_tables([0, 1], [0.2, 0.6], [0, 0, 1, 1], [0.1, 0.3, 0.5, 0.9], n_bins=2)
    >>> t["test"]["mean_predicted"].round(2).tolist(), t["test"]["observed_rate"].tolist()
    ([0.2, 0.7], [0.0, 1.0])
    """
    return {"validation": calibration_table(y_val, p_val, n_bins), "test": calibration_table(y_test, p_test, n_bins)}


def table_ece(table: pd.DataFrame) -> float:
    """ECE of a reliability table: the row-weighted mean |mean predicted - observed rate|."""
    return float((table["n"] * (table["mean_predicted"] - table["observed_rate"]).abs()).sum() / table["n"].sum())


def shipped_notes(sel: Selection, reliability: dict, *, refit: str | None = None, calibrated_on: str | None = None) -> list[str]:
    """What ``churnlab train`` prints about the shipped model's fit and calibration: the refit
    (``refit``: which rows), the calibration (``calibrated_on``: which predictions) and its ECE
    and mean predicted vs observed churn rate on validation and test."""
    model = sel.model
    notes = []
    if refit is not None:
        what = f"{model.best_iteration_} rounds" if isinstance(model, ChurnModel) else f"C={model.C_:g}"
        notes.append(f"shipped {sel.selected} refitted on train + validation ({refit}) with the {what} validation chose")
    val, test = reliability["validation"], reliability["test"]
    mean = {k: float((t["n"] * t["mean_predicted"]).sum() / t["n"].sum()) for k, t in reliability.items()}
    rate = {k: float((t["n"] * t["observed_rate"]).sum() / t["n"].sum()) for k, t in reliability.items()}
    how = f" ({calibrated_on})" if calibrated_on and isinstance(model, ChurnModel) and model.calibrator_ is not None else ""
    notes.append(f"calibration of the shipped {sel.selected}{how}: ECE validation {table_ece(val):.3f}, test {table_ece(test):.3f}; "
                 f"mean predicted {mean['test']:.3f} vs observed {rate['test']:.3f} on test ({mean['validation']:.3f} vs "
                 f"{rate['validation']:.3f} on validation)")
    return notes
