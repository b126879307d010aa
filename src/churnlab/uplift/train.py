"""Training an uplift model: treatments -> uplift rows -> split -> meta-learners selected by
the Qini coefficient on validation -> test evaluation against targeting baselines -> MLflow.

Periods: with at least three campaign dates (distinct ``ts``) the rows are split by time as
churn training splits cutoffs (:func:`churnlab.models.time_split`: train, then validation,
then test, no label window reaching into the next period). With one or two dates the
campaign's customers are split at random (seeded) into train, validation and test customers.

Baselines, scored on the same test rows:

* ``random``: a seeded random order;
* ``churn_risk``: the churn probability without contact (the T-learner's control-arm model:
  a churn model of uncontacted customers, the list churnlab ranks today);
* ``churn_risk_x_value``: that probability times the customer's value.

The Qini coefficient and AUUC rank by each scorer's score (a learner's uplift). In the
incremental-profit curve a learner targets by its expected incremental profit per customer,
``uplift x margin x value - contact cost - incentive_cost x P(stay | contacted)``, the
baselines by their own score. Each scorer's fraction is chosen on validation: a learner's
is the share of validation customers with a positive expected incremental profit (whom it
would contact), a baseline's the best of its validation profit curve. The profit at that
fraction is measured on test.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.config import ConfigError, TrainConfig
from churnlab.events import EventTables
from churnlab.uplift.data import UpliftRows, load_treatments, uplift_rows, validate_treatments
from churnlab.uplift.learners import LEARNERS
from churnlab.uplift.metrics import auuc, best_fraction, profit_curve, qini_coefficient, qini_curve, uplift_by_decile
from churnlab.uplift.model import UpliftModel, save_pyfunc

__all__ = ["BASELINES", "UpliftResult", "split_rows", "train_uplift"]

BASELINES = ("random", "churn_risk", "churn_risk_x_value")


@dataclasses.dataclass
class UpliftResult:
    """What :func:`train_uplift` produced.

    Attributes
    ----------
    model : UpliftModel
        The selected learner and its feature builder (the model logged).
    selected : str
        ``t_learner`` or ``x_learner``.
    evaluation : DataFrame
        One row per learner and baseline, the same test rows for each: ``qini``, ``auuc``,
        ``validation_qini``, ``chosen_fraction`` (chosen on validation: a learner's share of
        customers with a positive expected incremental profit, a baseline's best fraction),
        ``profit_at_chosen`` (test profit at that fraction), ``best_fraction`` and
        ``max_profit`` (the test curve's own best).
    deciles : DataFrame
        The selected learner's observed uplift per test decile with bootstrap intervals.
    curves : dict of DataFrame
        ``qini`` and ``profit``: per scorer, the test curves (long format, column ``model``).
    test_scores : DataFrame
        The test rows (``customer_id``, ``ts``, ``treated``, ``churned``, ``value``), each
        scorer's score and each learner's ``<learner>_expected_profit``.
    rows : UpliftRows
    split : dict
        ``how`` (``time`` or ``customers``) and the campaign dates or row counts per period.
    notes : list of str
    run_id, model_uri, tracking_uri : str or None
        Set when the run was tracked.
    """

    model: UpliftModel
    selected: str
    evaluation: pd.DataFrame
    deciles: pd.DataFrame
    curves: dict
    test_scores: pd.DataFrame
    rows: UpliftRows
    split: dict
    notes: list = dataclasses.field(default_factory=list)
    run_id: str | None = None
    model_uri: str | None = None
    tracking_uri: str | None = None


def split_rows(frame: pd.DataFrame, horizon_days: float, *, validation_size: float = 0.25, test_size: float = 0.25,
               seed: int = 0) -> tuple[dict[str, pd.DataFrame], dict]:
    """Train, validation and test rows: by campaign date when there are three or more,
    else by customer (seeded).

    Returns
    -------
    (parts, split) : dict of DataFrame, and a description of the split

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": range(8), "ts": pd.to_datetime(["2024-01-01"] * 8), "treated": [0, 1] * 4})
    >>> parts, how = split_rows(f, 60, validation_size=0.25, test_size=0.25)
    >>> how["how"], how["why"], [len(parts[k]) for k in ("train", "validation", "test")]
    ('customers', '1 campaign date(s)', [4, 2, 2])
    """
    from churnlab.models import time_split

    dates = sorted(frame["ts"].unique())
    if len(dates) >= 3:
        try:
            s = time_split(dates, horizon_days)
        except ValueError as exc:
            s, why = None, f"campaign dates too close for a time split ({exc})"
        if s is not None:
            parts = {k: frame[frame["ts"].isin(v)].reset_index(drop=True) for k, v in s.items()}
            return parts, {"how": "time", **{k: [str(pd.Timestamp(c)) for c in v] for k, v in s.items()}}
    else:
        why = f"{len(dates)} campaign date(s)"
    ids = np.sort(frame["customer_id"].unique())
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test, n_val = int(round(test_size * len(ids))), int(round(validation_size * len(ids)))
    part_of = pd.Series("train", index=ids[order])
    part_of.iloc[:n_test] = "test"
    part_of.iloc[n_test:n_test + n_val] = "validation"
    where = part_of.reindex(frame["customer_id"]).to_numpy()
    parts = {k: frame[where == k].reset_index(drop=True) for k in ("train", "validation", "test")}
    return parts, {"how": "customers", "why": why, **{k: int(len(v)) for k, v in parts.items()}}


def _contact_cost(part: pd.DataFrame, u) -> float:
    """Cost of one contact: the mean recorded ``cost`` of the contacted rows, else ``uplift.contact_cost``."""
    recorded = part.loc[part["treated"] == 1, "cost"]
    return float(recorded.mean()) if len(recorded) and recorded.notna().all() else float(u.contact_cost)


def _scores(learners: dict, part: pd.DataFrame, names: list[str], seed: int, u) -> tuple[dict, dict]:
    """Each scorer's ranking score, and the learners' expected incremental profit per customer
    (``uplift x margin x value - contact cost - incentive x P(stay | contacted)``), by which
    they target in the profit curve."""
    predicted = {name: m.predict(part[names]) for name, m in learners.items()}
    out = {name: p["uplift"].to_numpy() for name, p in predicted.items()}
    value, contact = part["value"].to_numpy(), _contact_cost(part, u)
    profit = {name: (p["uplift"].to_numpy() * u.margin * value - contact - u.incentive_cost * (1 - p["p_churn_treated"].to_numpy()))
              for name, p in predicted.items()}
    risk = predicted["t_learner"]["p_churn_control"].to_numpy()
    out["random"] = np.random.default_rng(seed).random(len(part))
    out["churn_risk"] = risk
    out["churn_risk_x_value"] = risk * value
    return out, profit


def _profit(part: pd.DataFrame, score: np.ndarray, u) -> pd.DataFrame:
    y, t = 1 - part["churned"].to_numpy(), part["treated"].to_numpy()
    # recorded contact costs (the treatments table's `cost`) replace uplift.contact_cost
    cost = part["cost"].to_numpy() if part["cost"].notna().all() else None
    return profit_curve(y, score, t, part["value"].to_numpy(), margin=u.margin, contact_cost=u.contact_cost,
                        incentive_cost=u.incentive_cost, cost=cost)


def _check_parts(parts: dict[str, pd.DataFrame]) -> None:
    for k, v in parts.items():
        for arm in (0, 1):
            ys = v.loc[v["treated"] == arm, "churned"]
            if ys.nunique() < 2:
                raise ValueError(f"the {k} rows with treated {arm} ({len(ys)} row(s)) have {'no rows' if ys.empty else 'a single outcome'}: "
                                 "an uplift model needs both outcomes in both arms of every period")


def fit_uplift(cfg: TrainConfig, rows: UpliftRows) -> UpliftResult:
    """Split, fit the configured learners, select by validation Qini, evaluate on test (no MLflow)."""
    u = cfg.uplift
    parts, split = split_rows(rows.frame, cfg.label.horizon_days, validation_size=u.validation_size, test_size=u.test_size,
                              seed=cfg.seed)
    _check_parts(parts)
    names = rows.feature_names
    tr, va, te = parts["train"], parts["validation"], parts["test"]
    options = {"params": u.params, "num_boost_round": u.num_boost_round, "early_stopping_rounds": u.early_stopping_rounds,
               "seed": cfg.seed, "num_threads": cfg.model.num_threads}
    learners = {}
    for name in [n for n in ("x_learner",) if n in u.learners] or ["t_learner"]:
        learners[name] = LEARNERS[name](**options).fit(tr[names], tr["churned"], tr["treated"],
                                                        validation=(va[names], va["churned"], va["treated"]))
    if "t_learner" not in learners:  # the X-learner's arm models are the T-learner's (churn_risk comes from them)
        learners["t_learner"] = learners["x_learner"].as_t_learner()
    learners = {n: learners[n] for n in ["t_learner", *[c for c in u.learners if c != "t_learner"]]}
    (val_scores, val_profit_scores), (test_scores, test_profit_scores) = (
        _scores(learners, va, names, cfg.seed, u), _scores(learners, te, names, cfg.seed + 1, u))
    candidates = list(u.learners)
    yv, tv, yt, tt = 1 - va["churned"], va["treated"], 1 - te["churned"], te["treated"]
    val_qini = {n: qini_coefficient(yv, s, tv) for n, s in val_scores.items()}
    selected = max(candidates, key=lambda n: (val_qini[n], -candidates.index(n)))
    rows_out, qini_long, profit_long = [], [], []
    for name, score in test_scores.items():
        profit = _profit(te, test_profit_scores.get(name, score), u)
        val_profit = _profit(va, val_profit_scores.get(name, val_scores[name]), u)
        x, q = qini_curve(1 - te["churned"].to_numpy(), score, te["treated"].to_numpy())
        if name in val_profit_scores:  # a learner contacts whom it expects to bring a profit
            chosen = round(float(np.mean(val_profit_scores[name] > 0)) * 100) / 100
        else:  # a baseline has no profit model: the best of its validation curve
            chosen, _ = best_fraction(val_profit)
        best, best_profit = best_fraction(profit)
        at = profit.loc[np.isclose(profit["fraction"], chosen), "profit"]
        rows_out.append({"model": name, "qini": qini_coefficient(yt, score, tt), "auuc": auuc(yt, score, tt),
                         "validation_qini": val_qini[name], "chosen_fraction": chosen,
                         "profit_at_chosen": float(at.iloc[0]) if len(at) else np.nan,
                         "best_fraction": best, "max_profit": best_profit})
        qini_long.append(pd.DataFrame({"model": name, "n_targeted": x, "fraction": x / len(te), "qini": q}))
        profit_long.append(profit.assign(model=name))
    evaluation = pd.DataFrame(rows_out).set_index("model")
    deciles = uplift_by_decile(yt, test_scores[selected], tt, n_boot=u.bootstrap, seed=cfg.seed)
    scores = te[["customer_id", "ts", "treated", "churned", "value"]].assign(
        **test_scores, **{f"{n}_expected_profit": v for n, v in test_profit_scores.items()})
    model = UpliftModel(learners[selected], rows.builder, {
        "label_definition": rows.label_definition, "selected": selected, "split": split,
        "evaluation": evaluation.to_dict(orient="index"), "churnlab_version": __import__("churnlab").__version__,
    })
    notes = [f"selected {selected} by validation Qini coefficient: "
             + ", ".join(f"{n} {val_qini[n]:.4f}" for n in candidates)]
    if split["how"] == "time":
        notes.append("periods by campaign date: " + "; ".join(f"{k} {', '.join(d[:10] for d in split[k])}" for k in ("train", "validation", "test")))
    else:
        notes.append(f"{split['why']}: customers split at random (seed {cfg.seed}): "
                     + ", ".join(f"{k} {split[k]:,} rows" for k in ("train", "validation", "test")))
    if len(rows.excluded):
        counts = rows.excluded["reason"].value_counts()
        notes.append(f"{len(rows.excluded):,} treatment row(s) not labelled: " + ", ".join(f"{r} {c:,}" for r, c in counts.items()))
    return UpliftResult(model, selected, evaluation, deciles, {"qini": pd.concat(qini_long, ignore_index=True),
                        "profit": pd.concat(profit_long, ignore_index=True)}, scores, rows, split, notes)


def _load(cfg: TrainConfig, events: EventTables | None, treatments) -> tuple[EventTables, pd.DataFrame]:
    u = cfg.uplift
    if u.source == "simulation":
        from churnlab.datasets.uplift_sim import make_uplift_campaign

        if events is not None or treatments is not None:
            raise ValueError("uplift.source is 'simulation': pass neither `events` nor `treatments`")
        sim = make_uplift_campaign(u.sim_customers, horizon_days=int(cfg.label.horizon_days), random_state=u.sim_seed)
        return sim.events, sim.treatments
    if events is None:
        from churnlab.workflows.training import load_data

        events = load_data(cfg.data)
    if treatments is None:
        if u.treatments is None:
            raise ConfigError("uplift.treatments: no treatments table given (a .csv or .parquet file: customer_id, ts, treated)")
        return events, load_treatments(u.treatments, mapping=u.mapping)
    return events, validate_treatments(treatments, mapping=u.mapping)


def train_uplift(
    config: TrainConfig, events: EventTables | None = None, *, treatments: pd.DataFrame | None = None,
    workdir: str | Path = "models", track: bool = True,
) -> UpliftResult:
    """Train uplift models on a randomised campaign, select one by the Qini coefficient on
    validation, compare it with targeting baselines on the test rows, and log it to MLflow
    as one pyfunc model returning ``uplift``, ``p_churn_treated``, ``p_churn_control``.

    Parameters
    ----------
    config : TrainConfig
        Its ``uplift`` section (required), ``label`` (the outcome: the churn label from each
        treatment's ``ts`` over ``horizon_days``), ``features``, ``seed``, ``mlflow``.
    events : EventTables, optional
        Default: what ``config.data`` points at (or the simulation's).
    treatments : DataFrame, optional
        Default: ``config.uplift.treatments`` (or the simulation's).
    workdir : str or Path
        Holds the default tracking store, ``sqlite:///<workdir>/mlflow.db``.
    track : bool
        Log to MLflow (the store is checked before any work).

    Returns
    -------
    UpliftResult
        ``.model_uri``, ``.evaluation``, ``.selected`` and the curves, deciles and test scores.

    Raises
    ------
    ConfigError
        Without an ``uplift`` section.
    EventValidationError
        A bad treatments table, naming the column, row and value.

    Examples
    --------
    >>> from churnlab.config import parse_config
    >>> cfg = parse_config({"cutoffs": {"dates": ["2024-01-01"]}, "label": {"horizon_days": 60},
    ...                     "uplift": {"source": "simulation", "sim_customers": 800, "learners": ["t_learner"],
    ...                                "num_boost_round": 20, "bootstrap": 10}})
    >>> result = train_uplift(cfg, track=False)
    >>> result.selected, list(result.evaluation.index)
    ('t_learner', ['t_learner', 'random', 'churn_risk', 'churn_risk_x_value'])
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig (see churnlab.load_config), got {type(config).__name__}")
    if config.uplift is None:
        raise ConfigError("uplift: the config has no uplift section (treatments, learners, costs); add one to train an uplift model")
    from churnlab.tracking import tracking_store

    workdir = Path(workdir)
    tracking_uri = tracking_store(config.mlflow.tracking_uri, workdir) if track else None
    events, treatments = _load(config, events, treatments)
    lab, u = config.label, config.uplift
    rows = uplift_rows(events, treatments, horizon_days=lab.horizon_days, rule=lab.rule, features=config.features,
                       value_days=u.value_days, observed_until=config.data.observed_until, k=lab.k,
                       min_window_days=lab.min_window_days, single_purchase=lab.single_purchase, active_days=lab.active_days)
    result = fit_uplift(config, rows)
    if track:
        _log(config, result, tracking_uri, workdir)
    return result


def _log(cfg: TrainConfig, result: UpliftResult, tracking_uri: str, workdir: Path) -> None:
    """One MLflow run through an explicit client: parameters, metrics, tables and the pyfunc model."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    from churnlab.tracking import flatten

    client = MlflowClient(tracking_uri=tracking_uri)
    name = f"{cfg.mlflow.experiment}"
    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = None if tracking_uri.startswith(("http://", "https://")) else (workdir.resolve() / "mlartifacts").as_uri()
        try:
            exp_id = client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by another process
            exp_id = client.get_experiment_by_name(name).experiment_id
    else:
        exp_id = exp.experiment_id
    started = pd.Timestamp.now(tz="UTC")
    run = client.create_run(exp_id, run_name=cfg.mlflow.run_name or f"{cfg.name} uplift {started:%Y-%m-%d %H:%M:%S}",
                            tags={"churnlab.kind": "uplift", "selected": result.selected})
    run_id = run.info.run_id
    try:
        params = {k: str(v)[:500] for k, v in flatten(cfg.model_dump(mode="json", include={"uplift", "label", "seed"}), "config.").items()}
        params["selected"] = result.selected
        now = int(started.timestamp() * 1000)
        metrics = [Metric(f"{m}.{k}", float(v), now, 0) for m, row in result.evaluation.iterrows() for k, v in row.items()
                   if np.isfinite(float(v))]
        client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], metrics=metrics)
        for i, note in enumerate(result.notes):
            client.set_tag(run_id, f"note.{i}", note[:5000])
        client.log_text(run_id, result.evaluation.to_csv(), "uplift/evaluation.csv")
        client.log_text(run_id, result.deciles.to_csv(index=False), "uplift/deciles.csv")
        for kind, frame in result.curves.items():
            client.log_text(run_id, frame.to_csv(index=False), f"uplift/{kind}_curves.csv")
        with tempfile.TemporaryDirectory() as tmp:
            X_example = result.rows.frame[result.rows.feature_names].head(5)
            save_pyfunc(result.model, Path(tmp) / "model", X_example)
            client.log_artifacts(run_id, str(Path(tmp) / "model"), "model")
        client.set_terminated(run_id)
    except BaseException:
        try:
            client.delete_run(run_id)
        except Exception:  # the store itself may be what failed
            pass
        raise
    result.run_id = run_id
    result.model_uri = f"runs:/{run_id}/model"
    result.tracking_uri = tracking_uri

