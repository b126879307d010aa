"""Realized performance of a past score file: once its horizon has passed, label the scored
customers with the definition stored in the model and compare with what was predicted."""

from __future__ import annotations

import dataclasses

import pandas as pd

from churnlab.events import EventTables

__all__ = ["RealizedPerformance", "realized_performance"]

_LABEL_KEYS = ("rule", "horizon_days", "k", "min_window_days", "single_purchase", "active_days")


@dataclasses.dataclass
class RealizedPerformance:
    """What a past score file achieved.

    Attributes
    ----------
    as_of : Timestamp
    metrics : dict
        :func:`churnlab.models.evaluate_scores` of the scored customers' probabilities
        against their realized labels.
    tiers : DataFrame
        Per risk tier: ``customers``, ``churned``, ``churn_rate``, ``lift`` (rate / base rate).
    calibration : DataFrame
        :func:`churnlab.models.calibration_table`.
    labelled, unlabelled : int
        Scored customers with a realized label, and those the label rule leaves out.
    """

    as_of: pd.Timestamp
    metrics: dict
    tiers: pd.DataFrame
    calibration: pd.DataFrame
    labelled: int
    unlabelled: int


def realized_performance(model, scores: pd.DataFrame, events: EventTables, *, observed_until=None) -> RealizedPerformance:
    """Label the customers of a past score file and measure how its predictions held.

    Parameters
    ----------
    model : ScoringModel
        The model that wrote ``scores`` (its ``version`` must equal the file's
        ``model_version``); its stored label definition labels the customers.
    scores : DataFrame
        Output of ``churnlab score`` / :func:`churnlab.score_customers`, one ``as_of``.
    events : EventTables
        Events reaching past ``as_of + horizon_days`` in the table the label is defined by
        (see :func:`churnlab.labels.label_data_end`); other tables do not count.
    observed_until : date-like, optional
        The date the events are complete to, when later than the label table's last event.

    Returns
    -------
    RealizedPerformance

    Raises
    ------
    ValueError
        The file lacks columns or ``as_of``, comes from another model, or its horizon has not
        passed in the label table (the message names the date until which that table is
        observed and the date from which it can be measured).

    Examples
    --------
    >>> past = pd.read_parquet("scores-2024-09-01.parquet")                    # doctest: +SKIP
    >>> realized_performance(ScoringModel.load(uri), past, events).metrics     # doctest: +SKIP
    """
    from churnlab.labels import churn_labels, label_data_end, label_table
    from churnlab.models import calibration_table, evaluate_scores

    need = ["customer_id", "as_of", "churn_probability", "risk_tier", "status", "model_version"]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing}; give a file written by churnlab score")
    versions = scores["model_version"].dropna().unique()
    if len(versions) != 1 or versions[0] != model.version:
        raise ValueError(f"scores.model_version: {sorted(map(str, versions))[:3]} is not this model ({model.version!r}); "
                         "give the model URI the file was scored with")
    stamps = pd.to_datetime(scores["as_of"]).dropna().unique()
    if len(stamps) != 1:
        raise ValueError(f"scores.as_of: need one scoring date, got {len(stamps)}")
    t = pd.Timestamp(stamps[0])
    definition = model.label_definition
    if definition.get("rule") == "table":
        raise ValueError("realized performance needs events: this model was trained on a labelled table")
    horizon = float(definition["horizon_days"])
    ready = t + pd.Timedelta(days=horizon)
    rule = definition.get("rule", "fixed")
    source = label_table(events, rule)
    last = label_data_end(events, rule, observed_until=observed_until)
    if ready > last.normalize() + pd.Timedelta(days=1):
        raise ValueError(f"scores as of {t.date()}: the {horizon:g}-day horizon ends {ready.date()}, and {source} (the table "
                         f"the label is defined by) are observed until {last.date()}; measure it once {source} up to "
                         f"{ready.date()} are in, or give observed_until (--observed-until) if the events are complete to a later date")
    kwargs = {k: definition[k] for k in _LABEL_KEYS if definition.get(k) is not None}
    labels = churn_labels(events, t, observed_until=observed_until, **kwargs).labels["churned"]
    scored = scores[scores["status"] == "scored"].set_index("customer_id")
    both = scored.join(labels.rename("churned"), how="inner")
    if both.empty or both["churned"].nunique() < 2:
        raise ValueError(f"scores as of {t.date()}: {len(both)} scored customers have a realized label, "
                         "with a single class; nothing to measure")
    y = both["churned"].to_numpy(dtype=float)
    p = both["churn_probability"].to_numpy(dtype=float)
    base = y.mean()
    tiers = (both.groupby("risk_tier", sort=False)["churned"].agg(customers="size", churned="sum")
             .assign(churn_rate=lambda d: d["churned"] / d["customers"]))
    tiers["lift"] = tiers["churn_rate"] / base
    order = [x for x in ("high", "medium", "low") if x in tiers.index] + [x for x in tiers.index if x not in ("high", "medium", "low")]
    return RealizedPerformance(t, evaluate_scores(y, p), tiers.loc[order], calibration_table(y, p),
                               labelled=int(len(both)), unlabelled=int(len(scored) - len(both)))
