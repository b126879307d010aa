"""Training run: data -> snapshots -> time split -> LightGBM and baselines -> evaluation -> MLflow."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from churnlab.config import DataConfig, LabelConfig, TrainConfig
from churnlab.events import EventTables, load_events, load_events_dir
from churnlab.explain import EXPECTED, global_drivers, shap_values
from churnlab.explain.reasons import with_typical
from churnlab.features import FeatureBuilder, TrainingSet, build_training_set
from churnlab.models import ChurnModel, calibration_table, time_split
from churnlab.models.leakage import check_leakage, holdout_leakage_notes, resolve_allowed
from churnlab.models.split import calibration_cutoffs, densify_training
from churnlab.models.evaluate import expected_calibration_error, ranked_models
from churnlab.monitor.drift import training_reference
from churnlab.scoring.value import fit_value_model
from churnlab.models.linear import LinearChurnModel
from churnlab.plots import evaluation_figures, importance_figure, reliability_tables_figure, shap_figure
from churnlab.scoring.tiers import base_rate_thresholds
from churnlab.tracking import (
    flatten,
    log_churn_model,
    log_dict_artifact,
    log_frame_artifact,
    log_png_artifacts,
    tracking_store,
    use_experiment,
)
from churnlab.workflows.compare import (driver_groups, fit_and_compare, make_candidates, reliability_tables, shipped_notes,
                                        stacked_calibration, table_ece, validation_probability)

__all__ = ["TrainResult", "fit_and_evaluate", "holdout_notes", "load_data", "observed_cutoffs", "train"]


def load_data(data: DataConfig, *, before: pd.Timestamp | None = None) -> EventTables:
    """The event tables a config points at.

    ``before``: for ``data.source: sql``, read only the event rows before it (the filter runs
    in the database); files and demo data are read whole (features never look at or after
    a cutoff either way).
    """
    if data.source == "sql":
        from churnlab.events.sql import read_sql_events

        return read_sql_events(data, before=before).events
    if data.source == "demo":
        from churnlab.datasets import make_demo_events

        return make_demo_events(data.demo_customers, random_state=data.demo_seed)
    if data.source == "demo_subscriptions":
        from churnlab.datasets import make_demo_subscriptions

        return make_demo_subscriptions(data.demo_customers, random_state=data.demo_seed)
    if data.source == "cdnow":
        from churnlab.datasets import load_cdnow

        return load_cdnow()
    options = {"on_duplicates": data.on_duplicates, "timestamp_unit": data.timestamp_unit, "time_range": data.time_range,
               "date_format": data.date_format}
    if data.path is not None:
        return load_events_dir(data.path, mapping=data.mapping, **options)
    return load_events(data.purchases, data.support, data.surveys, data.customers, data.subscriptions, data.activity,
                       mapping=data.mapping, **options)


@dataclasses.dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    model : ChurnModel or LinearChurnModel
        The selected model, the one logged.
    builder : FeatureBuilder
    training_set : TrainingSet
    split : dict
        Cutoffs per period (see :func:`churnlab.time_split`).
    evaluation : DataFrame
        One row per model, the same test rows for each.
    test_scores : DataFrame
        ``customer_id``, ``churned`` and each model's churn probability on the test rows.
    test_features : DataFrame
        The test rows' features, indexed by customer id.
    notes : list of str
        What the run should say about itself (e.g. how a table was split).
    risk_tiers : dict
        The model's default risk-tier thresholds (see :func:`churnlab.scoring.tiers.base_rate_thresholds`).
    selected : str
        The name of the selected candidate (``lightgbm``, ``logistic_regression``).
    validation : DataFrame
        Every candidate's metrics on the validation period, which selected the model.
    search : DataFrame or None
        LightGBM's search trials, when searched.
    screening : DataFrame or None
        LightGBM's permutation importance per feature on validation, and which were kept.
    value_model : dict or None
        BG/NBD and Gamma-Gamma parameters at the test cutoff, for customer value at scoring
        (None without order values or with too few repeat customers).
    data : dict or None
        The config's data section (paths absolute), stored with the model: ``churnlab score``
        reads new data with the same mapping and options.
    next_as_of : Timestamp or None
        Event data: the day after its last event, the cutoff that scores every customer now.
    reliability : dict or None
        The shipped model's reliability tables, ``{"validation": DataFrame, "test": DataFrame}``,
        each ``bin``, ``n``, ``mean_predicted``, ``observed_rate`` over 10 equal-count bins
        (:func:`churnlab.workflows.compare.reliability_tables`); validation as the shipped
        calibration scores the model validation chose.
    run_id, model_uri, tracking_uri : str or None
        Set when the run was tracked.
    """

    model: ChurnModel | LinearChurnModel
    builder: FeatureBuilder
    training_set: TrainingSet
    split: dict
    evaluation: pd.DataFrame
    test_scores: pd.DataFrame
    test_features: pd.DataFrame | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    risk_tiers: dict | None = None
    selected: str = "lightgbm"
    validation: pd.DataFrame | None = None
    search: pd.DataFrame | None = None
    screening: pd.DataFrame | None = None
    value_model: dict | None = None
    data: dict | None = None
    next_as_of: pd.Timestamp | None = None
    reliability: dict | None = None
    run_id: str | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None

    @property
    def metadata(self) -> dict:
        return model_metadata(self)


def model_metadata(result: "TrainResult") -> dict:
    ts = result.training_set
    return {
        "label_definition": ts.label_definition,
        "feature_builder": result.builder.to_dict(),
        # with the typical test-period customer: what every reason is compared with
        "feature_dictionary": with_typical(result.builder.feature_dictionary(), result.test_features).to_dict(orient="records"),
        "split": {k: [str(c.date()) if hasattr(c, "date") else str(c) for c in v] for k, v in result.split.items()},
        "data_kind": "table" if ts.label_definition.get("rule") == "table" else "events",
        "evaluation": result.evaluation.to_dict(orient="index"),
        "risk_tiers": result.risk_tiers,
        "selected": result.selected,
        "value_model": result.value_model,
        # the data section it was trained on: scoring reads new data the same way
        "data": result.data,
        # what drift at scoring is measured against: the test period's features and scores,
        # the shipped model's |SHAP| shares on them and the features that age with time
        "reference_profile": training_reference(
            result.model, result.test_features, result.test_scores[result.selected].to_numpy(),
            as_of=max((c for c in result.split["test"] if isinstance(c, pd.Timestamp)), default=None),
            dictionary=result.builder.feature_dictionary()) if result.test_features is not None else None,
        "churnlab_version": __import__("churnlab").__version__,
    }


def fit_and_evaluate(cfg: TrainConfig, events: EventTables, *, progress=None) -> TrainResult:
    """Snapshots, split, candidates, selection and baselines of event data: a training run
    without MLflow (:func:`train` logs it; :func:`churnlab.workflows.backtest.backtest` repeats it per fold)."""
    configured = cfg.cutoffs.resolve()
    cutoffs, unobserved = observed_cutoffs(events, configured, cfg.label, observed_until=cfg.data.observed_until)
    try:
        split = time_split(cutoffs, cfg.label.horizon_days)
    except ValueError as exc:
        if not unobserved:
            raise
        raise ValueError(f"{exc}; left out before the split: {'; '.join(unobserved)}") from None
    if cfg.cutoffs.train_every_days:
        split = densify_training(split, cfg.label.horizon_days, cfg.cutoffs.train_every_days)
    lab = cfg.label
    label_kwargs = {"k": lab.k, "min_window_days": lab.min_window_days, "single_purchase": lab.single_purchase,
                    "observed_until": cfg.data.observed_until}
    ts = build_training_set(
        events, sorted(set(cutoffs) | set(split["train"])), lab.horizon_days, lab.rule, cfg.features, active_days=lab.active_days,
        progress=progress, **label_kwargs
    )
    f = ts.frame
    part = {k: f[f["cutoff"].isin(v)].reset_index(drop=True) for k, v in split.items()}
    for k, v in part.items():
        if v.empty or v["churned"].nunique() < 2:
            raise ValueError(f"the {k} period ({[str(c.date()) for c in split[k]]}) has no rows or a single class")
    names = ts.feature_names
    m = cfg.model
    groups = driver_groups(ts.builder)
    tr, va, te = part["train"], part["validation"], part["test"]
    # static attributes are named as the user knows them: the customers table's column
    shown = {n: n for n in names} | {feat: f"customers.{col}" for col, feat in ts.builder.static_features().items()}
    leak_notes = check_leakage(tr[names], tr["churned"], va[names], va["churned"], shown=shown, allow=cfg.allow_leaky,
                               remedy="leave {it} out of the data")
    # the shipped fit: refitted on every cutoff up to validation (labels end by the test cutoff), calibrated
    # on out-of-time predictions at the cutoffs of the last calibration_days (see docs/design.md)
    val_cut = split["validation"][0]
    refit_rows = f[f["cutoff"] <= val_cut] if m.refit else None
    cal_cuts = calibration_cutoffs(cutoffs, split, lab.horizon_days, m.calibration_days)
    stacked = stacked_calibration(f, names, cal_cuts, lab.horizon_days) if len(cal_cuts) > 1 else None
    cmp = fit_and_compare(make_candidates(m, cfg.seed, names), part["train"], part["validation"], part["test"], names, events,
                          horizon_days=lab.horizon_days, groups=groups, refit=refit_rows, calibration=stacked, progress=progress,
                          **selection_options(cfg))
    model = cmp.selection.model
    p_val = validation_probability(cmp.selection, cmp.selection.selected, va[names])
    reliability = reliability_tables(va["churned"], p_val, te["churned"], cmp.scores[cmp.selection.selected])
    refit_cuts = sorted(refit_rows["cutoff"].unique()) if refit_rows is not None else []
    ship_notes = shipped_notes(
        cmp.selection, reliability,
        refit=f"{len(refit_cuts)} cutoffs, {refit_cuts[0].date()} .. {val_cut.date()}, {len(refit_rows):,} rows" if refit_cuts else None,
        calibrated_on=f"{m.calibration} on out-of-time predictions at {len(cal_cuts)} cutoffs, {cal_cuts[0].date()} .. {cal_cuts[-1].date()}"
        if stacked is not None else f"{m.calibration} on the validation cutoff {val_cut.date()}")
    leak_notes += holdout_leakage_notes(tr[names], tr["churned"], te[names], te["churned"],
                                        float(cmp.selection.validation.loc[cmp.selection.selected, "roc_auc"]),
                                        shown=shown, skip=resolve_allowed(cfg.allow_leaky, shown))
    tiers = base_rate_thresholds(p_val, float(part["train"]["churned"].mean()))
    if m.explanation_cache_mb > 0:
        # the training rows' SHAP patterns travel with the model: scoring customers like
        # them (most are) then finds their explanations cached instead of computing them
        newest_first = f.sort_values("cutoff", ascending=False, kind="stable")
        model.cache_explanations(newest_first[names], m.explanation_cache_mb)
    test = part["test"]
    test_scores = pd.DataFrame({"customer_id": test["customer_id"], "churned": test["churned"], **cmp.scores})
    test_features = test.set_index("customer_id")[names]
    return TrainResult(model, ts.builder, ts, split, cmp.evaluation, test_scores, test_features=test_features,
                       notes=split_notes(cutoffs, split, f, lab.horizon_days) + unobserved + leak_notes + selection_notes(cmp.selection)
                       + ship_notes + holdout_notes(test["churned"], cmp.scores, cmp.selection.selected, cmp.selection.select_by, cfg.seed,
                                                    unranked=set(cmp.evaluation.index) - set(ranked_models(cmp.evaluation))),
                       risk_tiers=tiers, selected=cmp.selection.selected, validation=cmp.selection.validation,
                       search=cmp.selection.search, screening=cmp.selection.screening, reliability=reliability)


def observed_cutoffs(events: EventTables, cutoffs, label: LabelConfig, *, observed_until=None) -> tuple[list, list[str]]:
    """The cutoffs whose label windows are observed, and a note for each one left out.

    A window ``[cutoff, cutoff + w)`` is observed when it ends by the day after
    :func:`churnlab.labels.label_data_end` of the rule's own table (purchases, subscriptions
    or customers): later events in other tables do not count. ``w`` is ``horizon_days``, or
    for the adaptive rule its shortest window (``min_window_days``, default ``horizon_days``;
    longer per-customer windows that are not observed are excluded by the labels).

    Parameters
    ----------
    events : EventTables
    cutoffs : sequence of Timestamp
    label : LabelConfig
    observed_until : date-like, optional
        The date the data is complete to (``data.observed_until``).

    Returns
    -------
    (list of Timestamp, list of str)
        The observed cutoffs in order, and ``"cutoff 2024-10-01 not used: ..."`` for each other.

    Examples
    --------
    >>> import pandas as pd
    >>> from churnlab.config import LabelConfig
    >>> from churnlab.events import load_events
    >>> ev = load_events(pd.DataFrame({"customer_id": [1, 1], "ts": ["2024-01-02", "2024-05-30"], "amount": 1.0}))
    >>> kept, notes = observed_cutoffs(ev, pd.to_datetime(["2024-03-01", "2024-04-01"]), LabelConfig(horizon_days=90))
    >>> [str(c.date()) for c in kept]
    ['2024-03-01']
    >>> print(notes[0])
    cutoff 2024-04-01 not used: its 90-day label window ends 2024-06-30, after purchases are observed (until 2024-05-30; set data.observed_until if the data is complete to a later date)
    """
    from churnlab.labels import label_data_end, label_table

    source = label_table(events, label.rule)
    end = label_data_end(events, label.rule, observed_until=observed_until)
    days = float(label.min_window_days or label.horizon_days) if label.rule == "adaptive" else float(label.horizon_days)
    window = pd.Timedelta(days=days)
    why = "data.observed_until" if observed_until is not None else "set data.observed_until if the data is complete to a later date"
    kept, notes = [], []
    for c in cutoffs:
        if c + window <= end + pd.Timedelta(days=1):
            kept.append(c)
            continue
        notes.append(f"cutoff {c.date()} not used: its {days:g}-day label window ends {(c + window).date()}, after {source} "
                     f"are observed (until {end.date()}; {why})")
    return kept, notes


def selection_options(cfg: TrainConfig) -> dict:
    """:func:`churnlab.workflows.compare.select_model`'s keywords from a config."""
    m = cfg.model
    return {"select_by": m.select_by, "rule": m.select_rule, "search_trials": m.search.trials, "search_timeout_s": m.search.timeout_s,
            "screen": m.screen_features, "seed": cfg.seed}


def selection_notes(sel) -> list[str]:
    """What ``churnlab train`` prints about the selection."""
    v = sel.validation
    shown = ", ".join(f"{n} {row.select_score:.4f} (gap s.e. {row.se_of_gap_to_best:.4f})" for n, row in v.iterrows())
    how = "the simplest within one standard error of the best" if sel.rule == "one_se" else "the best"
    notes = [f"selected {sel.selected}: {how} by validation {sel.select_by}: {shown}"]
    if sel.screening is not None and not sel.screening["keep"].all():
        dropped = sel.screening.loc[~sel.screening["keep"], "feature"].tolist()
        notes.append(f"LightGBM refitted without {len(dropped)} feature(s) that do not hold on validation: "
                     f"{', '.join(dropped[:8])}{' ...' if len(dropped) > 8 else ''}")
    if sel.search is not None:
        notes.append(f"LightGBM search: {len(sel.search)} parameter sets on validation, best {sel.search['score'].max():.4f}")
    return notes


def holdout_notes(y_test, scores: dict, selected: str, metric: str, seed: int = 0, *, unranked=()) -> list[str]:
    """A warning for each printed model that beats the shipped one on the test period by more
    than one paired-bootstrap standard error of the gap in ``metric``: the selection is made
    on validation, and a later period that disagrees beyond noise is said, not hidden.
    Models named in ``unranked`` (a fit that did not converge) and models with constant
    scores are never compared."""
    from churnlab.models.evaluate import STATUS_OK, score_status, validation_metric
    from churnlab.workflows.compare import paired_bootstrap_se

    y = np.asarray(y_test, dtype=float)
    proba = {n: np.asarray(p, dtype=float) for n, p in scores.items() if np.isfinite(np.asarray(p, dtype=float)).all()
             and (n == selected or (n not in set(unranked) and score_status(p) == STATUS_OK))}
    if selected not in proba or len(np.unique(y)) < 2:
        return []
    score = {n: validation_metric(metric, y, p) for n, p in proba.items()}
    better = {n: proba[n] for n in proba if score[n] > score[selected]}
    if not better:
        return []
    se = paired_bootstrap_se(y, {selected: proba[selected], **better}, selected, metric, seed=seed)
    return [f"WARNING: on the test period {n} beats the shipped {selected} by more than one standard error "
            f"({metric} {score[n]:.4f} vs {score[selected]:.4f}, gap s.e. {se[n]:.4f}); validation chose "
            f"{selected}: check the periods with `churnlab backtest`"
            for n in better if score[n] - score[selected] > se[n]]


def split_notes(cutoffs, split: dict, frame: pd.DataFrame, horizon_days: float) -> list[str]:
    """What ``churnlab train`` prints about the split: cutoffs, rows and base rate per period,
    and every configured cutoff the split left out, with the reason."""
    notes = []
    for period in ("train", "validation", "test"):
        rows = frame[frame["cutoff"].isin(split[period])]
        cuts = split[period]
        dates = ", ".join(str(c.date()) for c in cuts) if len(cuts) <= 12 else f"{cuts[0].date()} .. {cuts[-1].date()}"
        notes.append(f"{period}: {len(split[period])} cutoff(s) ({dates}), {len(rows):,} rows, churn rate {rows['churned'].mean():.1%}")
    used = {c for v in split.values() for c in v}
    val, test = split["validation"][0], split["test"][0]
    h = pd.Timedelta(days=float(horizon_days))
    for c in sorted(set(cutoffs) - used):
        why = (f"its {horizon_days:g}-day label window ends after the validation cutoff {val.date()}" if c < val
               else f"its label window ends after the test cutoff {test.date()}")
        if c + h <= val:  # cannot happen with time_split's rules; named plainly if it ever does
            why = "not used by the split"
        notes.append(f"cutoff {c.date()} not used: {why}")
    return notes


def train(
    cfg: TrainConfig,
    events: EventTables | None = None,
    workdir: str | Path = "models",
    track: bool = True,
    *,
    progress=None,
) -> TrainResult:
    """Train, evaluate against baselines on the same time split, and log one MLflow run.

    The tracking store is checked before any work starts, so an unreachable server fails
    fast. With ``track=False`` nothing is logged.

    Parameters
    ----------
    cfg : TrainConfig
        E.g. :func:`churnlab.load_config`.
    events : EventTables, optional
        Default: what ``cfg.data`` points at.
    workdir : str or Path
        Holds the default tracking store, ``sqlite:///<workdir>/mlflow.db``.
    track : bool
    progress : churnlab.progress.Progress, optional
        Told of each stage (features per cutoff, search trials, candidates with their
        validation scores); default: silent.

    Returns
    -------
    TrainResult
        The model, builder, training set, split, ``evaluation`` (model and baselines on the same
        test rows), test scores and, when tracked, ``run_id`` and ``model_uri``.

    Examples
    --------
    >>> from churnlab.config import parse_config
    >>> cfg = parse_config({"data": {"source": "demo", "demo_customers": 600},
    ...                     "cutoffs": {"start": "2023-10-01", "end": "2024-10-01"},
    ...                     "label": {"horizon_days": 90, "active_days": 180}, "model": {"num_boost_round": 50}})
    >>> result = train(cfg, track=False)
    >>> list(result.evaluation.index)
    ['lightgbm', 'logistic_regression', 'rfm_logistic', 'recency_rule', 'bgnbd_p_alive', 'bgnbd_expected_purchases']
    >>> result.selected in ('lightgbm', 'logistic_regression')
    True
    """
    started = pd.Timestamp.now(tz="UTC")  # the run's start: its duration is the training's
    workdir = Path(workdir)
    tracking_uri = tracking_store(cfg.mlflow.tracking_uri, workdir) if track else None
    np.random.seed(cfg.seed)
    if cfg.data.source == "table":
        from churnlab.workflows.table import fit_table, load_table, table_fingerprint

        table = load_table(cfg.data)
        result = fit_table(cfg, table, progress=progress)
        fingerprint = table_fingerprint(table)
    else:
        fit_cfg, last = cfg, None
        if events is None and cfg.data.source == "sql":
            from churnlab.workflows.sql_training import read_training_events

            events, fit_cfg, last = read_training_events(cfg)
        events = events if events is not None else load_data(cfg.data)
        result = fit_and_evaluate(fit_cfg, events, progress=progress)
        fingerprint = events.fingerprint()
        result.next_as_of = max(events.date_range()[1], last or events.date_range()[1]).normalize() + pd.Timedelta(days=1)
        # for customer value at scoring, with the shipped model only (a backtest fold has no use for it)
        if events.purchases is not None:
            try:  # unsupervised, from purchases before the test cutoff (without amounts: BG/NBD only)
                result.value_model = fit_value_model(events, result.split["test"][0])
            except ValueError as exc:
                result.notes.append(f"customer value: no spend model ({exc})")
    result.data = cfg.data.model_dump(mode="json")
    if not track:
        return result
    exp_id = use_experiment(cfg.mlflow.experiment, tracking_uri, workdir)
    created = mlflow.MlflowClient().create_run(
        exp_id, start_time=int(started.timestamp() * 1000),
        run_name=cfg.mlflow.run_name or f"{cfg.name} {started:%Y-%m-%d %H:%M:%S}")
    run = mlflow.start_run(run_id=created.info.run_id)
    try:
        with run:
            _log_run(cfg, fingerprint, result)
            names = result.training_set.feature_names
            X_example = result.training_set.frame[names].head(5)
            info = log_churn_model(result.model, result.metadata, X_example, cfg.mlflow.register_name)
    except BaseException as exc:  # Ctrl-C, SIGTERM or an error mid-logging: no half-logged run left behind
        exc.churnlab_note = _discard_run(run.info.run_id)
        raise
    result.run_id = run.info.run_id
    result.model_uri = f"runs:/{run.info.run_id}/model"
    result.tracking_uri = tracking_uri
    result.logged_model_uri = info.model_uri
    return result


def _discard_run(run_id: str) -> str:
    """Delete an unfinished run; say what became of it (the message the CLI prints)."""
    try:
        mlflow.MlflowClient().delete_run(run_id)
    except Exception:  # the store itself may be what failed: name the run instead
        return f"the unfinished MLflow run {run_id} may hold partial artifacts"
    return f"the unfinished MLflow run {run_id} was deleted (mlflow gc removes its files)"


def _log_run(cfg: TrainConfig, fp: dict, result: TrainResult) -> None:
    cfg_dict = cfg.model_dump(mode="json")
    mlflow.log_params({k: str(v)[:500] for k, v in flatten(cfg_dict, "config.").items()})
    mlflow.log_param("selected", result.selected)
    mlflow.log_params({f"model.{k}": str(v)[:500] for k, v in result.model.describe_params().items()})
    mlflow.set_tags({f"data.{k}": str(v) for k, v in fp.items()})
    for i, note in enumerate(result.notes):
        mlflow.set_tag(f"note.{i}", note)
    mlflow.set_tags({f"label.{k}": str(v) for k, v in result.training_set.label_definition.items()})
    # the shipped model's headline under one prefix, so that runs compare in the MLflow UI
    shipped = result.evaluation.loc[result.selected]
    y_test, p_test = result.test_scores["churned"], result.test_scores[result.selected]
    mlflow.log_metrics({**{f"shipped.{k}": float(v) for k, v in shipped.items() if k != "status"},
                        "shipped.ece": expected_calibration_error(y_test, p_test),
                        "shipped.mean_predicted": float(np.mean(p_test)), "shipped.observed_rate": float(np.mean(y_test))})
    if result.reliability is not None:
        mlflow.log_metric("shipped.validation_ece", table_ece(result.reliability["validation"]))
        for part, table in result.reliability.items():
            log_frame_artifact(table, f"calibration/shipped_{part}.csv")
        log_png_artifacts({"reliability.png": reliability_tables_figure(
            {f"{result.selected}, {part}": table for part, table in result.reliability.items()})}, "plots")
    for name, row in result.evaluation.iterrows():
        # every row's metrics are logged; `status.<model>` says whether they rank anything
        mlflow.log_metrics({f"{name}.{k}": float(v) for k, v in row.items() if k != "status"})
        mlflow.set_tag(f"status.{name}", str(row.get("status", "ok")))
    log_dict_artifact(cfg_dict, "config.json")
    log_dict_artifact(fp, "data_fingerprint.json")
    log_dict_artifact(result.metadata["split"], "split.json")
    log_dict_artifact(result.training_set.label_definition, "label_definition.json")
    log_frame_artifact(result.builder.feature_dictionary(), "feature_dictionary.csv")
    log_frame_artifact(result.evaluation, "evaluation.csv")
    if result.validation is not None:
        log_frame_artifact(result.validation, "validation.csv")
        for name, row in result.validation.iterrows():
            mlflow.log_metrics({f"validation.{name}.{k}": float(v) for k, v in row.items() if k != "status"})
    if result.search is not None:
        log_frame_artifact(result.search, "lightgbm_search.csv")
    if result.screening is not None:
        log_frame_artifact(result.screening, "lightgbm_feature_screening.csv")
    y = result.test_scores["churned"]
    for name in result.evaluation.index:
        log_frame_artifact(calibration_table(y, result.test_scores[name]), f"calibration/{name}.csv")
    imp = result.model.feature_importance()
    log_frame_artifact(imp, "feature_importance.csv")
    figs = evaluation_figures(y, {n: result.test_scores[n].to_numpy() for n in result.evaluation.index})
    figs["feature_importance.png"] = importance_figure(imp.set_index("feature")["importance"], f"{result.selected} importance",
                                                       imp.attrs.get("measure", "importance"))
    log_png_artifacts(figs, "plots")
    _log_shap(result)
    excluded = result.training_set.excluded
    if "cutoff" in excluded.columns:
        log_frame_artifact(excluded.groupby(["cutoff", "reason"]).size().rename("n").reset_index(), "excluded_customers.csv")


def _log_shap(result: TrainResult, sample: int = 5000) -> None:
    """Global SHAP importance (per feature and per driver group) and plots, on the test rows."""
    test = result.test_features
    X = test.sample(n=min(sample, len(test)), random_state=0).sort_index()
    sv = shap_values(result.model, X)
    gd = global_drivers(sv, result.builder.feature_dictionary())
    per_feature = sv.drop(columns=EXPECTED).abs().mean().sort_values(ascending=False).rename("mean_abs_shap")
    log_frame_artifact(gd, "shap/global_drivers.csv")
    log_frame_artifact(per_feature.rename_axis("feature").reset_index(), "shap/feature_mean_abs_shap.csv")
    figs = {
        "global_drivers.png": importance_figure(gd.set_index("driver")["mean_abs_shap"], "Global drivers (mean |SHAP|)", "mean |SHAP|"),
        "beeswarm.png": shap_figure("beeswarm", sv, X),
    }
    log_png_artifacts(figs, "shap")
