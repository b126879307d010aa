"""Campaign economics on a scored list: value at risk, expected profit of a contact, targets.

For a customer with churn probability ``p`` and value ``v`` (:func:`customer_value`), a
contact costing ``f`` that offers an incentive costing ``d``, accepted by a churner with
probability ``g`` (the mean of ``campaign.acceptance``)::

    value_at_risk   = p * v
    expected_profit = p * g * (v - d)  -  (1 - p) * d  -  f

The first term is the value kept from churners who accept, net of their incentive; the
second the incentives given to non-churners, who take it (as in the EMP measures of
Verbraken et al. 2013, after Neslin et al. 2006); the last the contact. ``target`` marks
the customers with a positive expected profit, taken in descending order of it, at most
``campaign.budget`` of them. The profit is per contact over the value horizon, in the unit
of the amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from churnlab.config import CampaignConfig
from churnlab.scoring.tiers import target_tiers

__all__ = ["CAMPAIGN_COLUMNS", "add_campaign", "campaign_values", "value_source", "expected_profit", "mark_targets"]

CAMPAIGN_COLUMNS = ["customer_value", "value_at_risk", "expected_profit", "target"]


def expected_profit(proba, value, campaign: CampaignConfig) -> np.ndarray:
    """Expected profit of contacting each customer (NaN where probability or value is unknown).

    Parameters
    ----------
    proba : array-like of float
        Churn probabilities.
    value : array-like of float
        Customer values over the campaign's horizon.
    campaign : CampaignConfig

    Returns
    -------
    ndarray

    Examples
    --------
    >>> from churnlab.config import CampaignConfig
    >>> c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance=0.3)
    >>> expected_profit([0.5, 0.1], [200.0, 200.0], c).round(2).tolist()  # 0.5*0.3*190 - 0.5*10 - 1
    [22.5, -4.3]
    """
    p = np.asarray(proba, dtype=float)
    v = np.asarray(value, dtype=float)
    d, f, g = campaign.incentive_cost, campaign.contact_cost, campaign.mean_acceptance
    return p * g * (v - d) - (1.0 - p) * d - f


def campaign_values(campaign: CampaignConfig, events=None, as_of=None, table: pd.DataFrame | None = None,
                    id_column: str | None = None, value_model: dict | None = None) -> pd.Series:
    """Customer values for a campaign: from the events at ``as_of`` (``campaign.value_method``;
    ``value_model``: the spend and purchase models stored with the churn model), or, for a
    customer table, its ``campaign.value_column``."""
    if table is not None:
        col = campaign.value_column
        if col is None:
            raise ValueError("campaign.value_column: required to score a customer table with a campaign "
                             "(the table's column holding each customer's value)")
        if col not in table.columns:
            raise ValueError(f"campaign.value_column: {col!r} is not a column of the table")
        v = pd.to_numeric(table[col], errors="coerce")
        bad = table[col].notna() & v.isna() | (v < 0)
        if bad.any():
            raise ValueError(f"table.{col}: customer values must be numbers >= 0, got {table[col][bad].iloc[0]!r}")
        # a table without an id column: its rows' numbers, as TableFeatures.ids gives them
        ids = table[id_column].to_numpy() if id_column is not None else (
            table.index.to_numpy() if pd.api.types.is_integer_dtype(table.index.dtype) else np.arange(len(table)))
        return pd.Series(v.to_numpy(dtype=float), index=ids).groupby(level=0).last()
    from churnlab.scoring.value import customer_value

    bgnbd = campaign.value_method == "bgnbd_gg"
    return customer_value(events, as_of, campaign.horizon_days, campaign.value_method, campaign.margin, campaign.discount_rate,
                          value_model=value_model if bgnbd else None, order_value=campaign.order_value if bgnbd else None)


def value_source(campaign: CampaignConfig, events, as_of, value_model: dict | None = None):
    """Where a scored list's customer values come from: ``(per_chunk, values)``, one of them None.

    With ``value_method: bgnbd_gg`` and a stored value model (a churn model trained on
    purchases; without amounts it needs ``campaign.order_value``), ``per_chunk`` is a :class:`~churnlab.scoring.value.StoredValue`
    for :func:`churnlab.scoring.score_customers`'s ``value``: each chunk computes its own
    customers' values beside their features. Otherwise ``values`` holds the whole list's,
    from :func:`campaign_values`. Either goes to :func:`add_campaign`.

    Parameters
    ----------
    campaign : CampaignConfig
    events : EventTables
    as_of : date-like
        Values use purchases strictly before it.
    value_model : dict, optional
        The churn model's stored value model (:attr:`ScoringModel.value_model`).

    Returns
    -------
    (StoredValue or None, Series or None)

    Examples
    --------
    >>> from churnlab.config import CampaignConfig
    >>> from churnlab.datasets import make_demo_events
    >>> c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance=0.3)
    >>> per_chunk, values = value_source(c, make_demo_events(300, random_state=0), "2024-07-01")
    >>> per_chunk is None, len(values) > 0
    (True, True)
    """
    from churnlab.scoring.value import StoredValue, check_value_inputs

    if campaign.value_method == "bgnbd_gg" and value_model is not None:
        check_value_inputs(events, campaign.value_method, campaign.order_value)
        if value_model.get("gamma_gamma") is None and campaign.order_value is None:
            raise ValueError("campaign.order_value: required to value customers with this model "
                             "(trained on purchases without amounts, so without a spend model)")
        return StoredValue(value_model, campaign.horizon_days, campaign.margin, campaign.discount_rate, campaign.order_value), None
    return None, campaign_values(campaign, events, as_of, value_model=value_model)


def mark_targets(profit: np.ndarray, budget: int | None) -> np.ndarray:
    """True for the customers to contact: positive expected profit, highest first, at most
    ``budget`` (ties at the budget's edge go to the earlier row).

    >>> mark_targets(np.array([5.0, -1.0, 9.0, np.nan, 5.0]), budget=2).tolist()
    [True, False, True, False, False]
    """
    profit = np.asarray(profit, dtype=float)
    positive = np.nan_to_num(profit, nan=-np.inf) > 0
    if budget is None or positive.sum() <= budget:
        return positive
    order = np.argsort(-np.where(positive, profit, -np.inf), kind="stable")
    out = np.zeros(len(profit), dtype=bool)
    out[order[:budget]] = True
    return out


def _target_tiers(frame: pd.DataFrame) -> pd.DataFrame:
    """A target's risk tier is at least "medium" (:func:`churnlab.scoring.tiers.target_tiers`)."""
    if "risk_tier" not in frame.columns:
        return frame
    tiers = target_tiers(frame["risk_tier"].to_numpy(dtype=object), frame["target"].to_numpy(dtype=bool))
    return frame.assign(risk_tier=pd.Series(tiers, index=frame.index).astype(frame["risk_tier"].dtype))


def add_campaign(chunks: Iterable[pd.DataFrame], values: pd.Series | None, campaign: CampaignConfig,
                 sort: bool = False) -> Iterator[pd.DataFrame]:
    """The scored chunks with :data:`CAMPAIGN_COLUMNS` added.

    Without a budget each chunk is completed as it comes; with a budget the targets are
    chosen over the whole list, so every chunk is held until the last one is scored. With
    ``sort`` one frame is returned, sorted by expected profit, highest first.

    Parameters
    ----------
    chunks : iterable of DataFrame
        From :func:`churnlab.scoring.score_customers` or ``score_table``.
    values : Series or None
        Customer value by customer_id (:func:`churnlab.scoring.value.customer_value`);
        customers without one get NaN value and profit, and are not targeted. None: the
        chunks' own ``customer_value`` column (scored with :func:`value_source`'s ``per_chunk``).
    campaign : CampaignConfig
    sort : bool

    Returns
    -------
    iterator of DataFrame

    Examples
    --------
    >>> from churnlab.config import CampaignConfig
    >>> c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance=0.3, budget=1)
    >>> scored = pd.DataFrame({"customer_id": [1, 2, 3], "churn_probability": [0.5, 0.6, np.nan]})
    >>> out = next(add_campaign([scored], pd.Series([200.0, 100.0, 50.0], index=[1, 2, 3]), c))
    >>> out[["customer_id", "expected_profit", "target"]].round(2).values.tolist()
    [[1, 22.5, True], [2, 11.2, False], [3, nan, False]]
    """

    def complete(frame: pd.DataFrame) -> pd.DataFrame:
        if values is None:
            if "customer_value" not in frame.columns:
                raise ValueError("add_campaign: no `values` given and the scored chunks have no customer_value column")
            v = frame["customer_value"].to_numpy(dtype=float)
        else:
            v = values.reindex(frame["customer_id"].to_numpy()).to_numpy(dtype=float)
        p = frame["churn_probability"].to_numpy(dtype=float)
        return frame.assign(customer_value=v, value_at_risk=p * v, expected_profit=expected_profit(p, v, campaign))

    if campaign.budget is None and not sort:
        for chunk in chunks:
            out = complete(chunk)
            out["target"] = mark_targets(out["expected_profit"].to_numpy(), None)
            yield _target_tiers(out)
        return
    # the budget ranks the whole list: every chunk's profits first, then the targets
    done = [complete(chunk) for chunk in chunks]
    if not done:
        return
    profit = np.concatenate([d["expected_profit"].to_numpy() for d in done])
    targets = np.split(mark_targets(profit, campaign.budget), np.cumsum([len(d) for d in done])[:-1])
    done = [_target_tiers(d.assign(target=t)) for d, t in zip(done, targets)]
    if not sort:
        yield from done
        return
    whole = pd.concat(done, ignore_index=True)
    yield whole.sort_values("expected_profit", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
