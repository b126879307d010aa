"""Training from a SQL database: only the rows up to the last label window's end are read.

The filter runs in the database (:func:`churnlab.events.sql.read_sql_events`); what the
rows after it would have told training (until when the label table is observed, the next
scoring cutoff) comes from the database's latest timestamps, so that a run reads the same
as the whole table would: the same cutoffs, features, labels and model.
"""

from __future__ import annotations

import pandas as pd

from churnlab.config import TrainConfig
from churnlab.events import EventTables

__all__ = ["read_training_events", "training_bound"]


def training_bound(cfg: TrainConfig) -> pd.Timestamp | None:
    """The end of the last label window: rows at or after it never reach features or labels.

    None for the adaptive rule (its windows are as long as each customer's purchase gaps)
    and for configs without cutoffs: then every row is read.

    Examples
    --------
    >>> from churnlab.config import parse_config
    >>> cfg = parse_config({"cutoffs": {"start": "2024-01-01", "end": "2024-06-01"}, "label": {"horizon_days": 30}})
    >>> str(training_bound(cfg).date())
    '2024-07-01'
    """
    if cfg.cutoffs is None or cfg.label.rule == "adaptive":
        return None
    return max(cfg.cutoffs.resolve()) + pd.Timedelta(days=float(cfg.label.horizon_days))


def read_training_events(cfg: TrainConfig) -> tuple[EventTables, TrainConfig, pd.Timestamp | None]:
    """The events a ``data.source: sql`` training run reads, the config to fit with, and the
    latest timestamp in the database.

    Parameters
    ----------
    cfg : TrainConfig

    Returns
    -------
    (EventTables, TrainConfig, Timestamp or None)
        The rows before :func:`training_bound`; ``cfg``, or when the label table goes on past
        the bound a copy whose ``data.observed_until`` is the day of its last event (what the
        whole table says); the latest event timestamp of the filtered tables (None: none).
    """
    from churnlab.events.sql import read_sql_events
    from churnlab.labels import label_data_end, label_table

    bound = training_bound(cfg)
    read = read_sql_events(cfg.data, before=bound)
    events, fit_cfg = read.events, cfg
    label = label_table(events, cfg.label.rule)
    if cfg.data.observed_until is None and label in read.latest:
        end = max(read.latest[label].get(c, pd.NaT) for c in ("ts", "start_ts", "end_ts") if c in read.latest[label])
        end = end.normalize()
        if end != label_data_end(events, cfg.label.rule):
            fit_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"observed_until": end.date()})})
    last = max((t for cols in read.latest.values() for t in cols.values()), default=None)
    return events, fit_cfg, last
