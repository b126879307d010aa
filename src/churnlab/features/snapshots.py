"""Training snapshots: features at each cutoff stacked with the label observed after it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnlab.checks import to_timestamp
from churnlab.events import EventTables
from churnlab.features.builder import FeatureBuilder
from churnlab.features.config import FeatureConfig
from churnlab.labels import churn_labels
from churnlab.progress import NoProgress

__all__ = ["TrainingSet", "build_training_set", "make_cutoffs"]


def cutoff_offset(freq: str):
    """``freq`` as a pandas offset that steps forward; ValueError naming it otherwise.

    Examples
    --------
    >>> cutoff_offset("MS").n
    1
    """
    from pandas.tseries.frequencies import to_offset

    try:
        offset = to_offset(freq)
    except (TypeError, ValueError):
        raise ValueError(f"`freq` is not a pandas frequency: {freq!r}") from None
    if offset.n <= 0:
        raise ValueError(f"`freq` must step forward in time, got {freq!r}")
    return offset


def count_cutoffs(start, end, freq: str = "MS", *, exact_up_to: int = 1000) -> tuple[int, bool]:
    """How many cutoffs :func:`make_cutoffs` makes, without making them.

    Fixed frequencies (days, hours, minutes, ...) are counted exactly by arithmetic; calendar
    ones (month starts, business days, ...) exactly up to ``exact_up_to`` or a year's worth,
    and beyond that estimated from the first year (or the first ``exact_up_to``).

    Parameters
    ----------
    start, end : date-like
    freq : str
        A pandas frequency.
    exact_up_to : int
        Calendar frequencies are counted exactly when there are at most this many.

    Returns
    -------
    count : int
    exact : bool
        False when ``count`` is an estimate (always above ``exact_up_to``).

    Examples
    --------
    >>> count_cutoffs("2024-01-01", "2024-12-31", "MS"), count_cutoffs("2024-01-01", "2024-12-31", "min")
    ((12, True), (525601, True))
    """
    t0, t1 = to_timestamp(start, "start"), to_timestamp(end, "end")
    offset = cutoff_offset(freq)
    if t1 < t0:
        return 0, True
    try:
        step = pd.Timedelta(offset)
    except (TypeError, ValueError):
        step = None
    if step is not None:  # in integer nanoseconds: spans of centuries overflow a Timedelta's
        return _nanoseconds(t1 - t0) // _nanoseconds(step) + 1, True
    probe = pd.date_range(t0, periods=max(int(exact_up_to), 1) + 1, freq=offset)
    if probe[-1] > t1:
        return int((probe <= t1).sum()), True
    # more than exact_up_to: scale the count of at least a year's cutoffs (weekends, holidays
    # and month lengths averaged out) to the whole range
    until = min(t1, max(probe[-1], t0 + pd.Timedelta(days=366)))
    sample = len(pd.date_range(t0, until, freq=offset))
    if until == t1:
        return sample, True
    return round(sample * ((t1 - t0) / (until - t0))), False


def _nanoseconds(td: pd.Timedelta) -> int:
    return ((td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds) * 1_000 + td.nanoseconds


def make_cutoffs(start, end, freq: str = "MS", *, max_cutoffs: int | None = None) -> list[pd.Timestamp]:
    """Regular cutoffs from ``start`` to ``end`` inclusive.

    Parameters
    ----------
    start, end : date-like
    freq : str
        A pandas frequency; default month starts.
    max_cutoffs : int, optional
        Refuse, before making any, more cutoffs than this.

    Returns
    -------
    list of Timestamp

    Raises
    ------
    ValueError
        ``end`` before ``start``, ``freq`` not a forward pandas frequency, no cutoff in the
        range, or more than ``max_cutoffs``.

    Examples
    --------
    >>> [str(c.date()) for c in make_cutoffs("2024-01-01", "2024-03-01")]
    ['2024-01-01', '2024-02-01', '2024-03-01']
    >>> make_cutoffs("2024-01-01", "2024-12-31", "min", max_cutoffs=100)
    Traceback (most recent call last):
    ...
    ValueError: `freq` 'min' makes 525,601 cutoffs from 2024-01-01 to 2024-12-31, more than `max_cutoffs` (100)
    """
    t0, t1 = to_timestamp(start, "start"), to_timestamp(end, "end")
    if t1 < t0:
        raise ValueError(f"`end` ({t1}) must not be before `start` ({t0})")
    offset = cutoff_offset(freq)
    if max_cutoffs is not None:
        n, exact = count_cutoffs(t0, t1, freq, exact_up_to=max_cutoffs)
        if n > max_cutoffs:
            raise ValueError(
                f"`freq` {freq!r} makes {'' if exact else 'about '}{n:,} cutoffs from {t0.date()} to {t1.date()}, "
                f"more than `max_cutoffs` ({max_cutoffs})"
            )
    out = list(pd.date_range(t0, t1, freq=offset))
    if not out:
        raise ValueError(f"no cutoff between {t0} and {t1} at freq={freq!r}")
    return [to_timestamp(c) for c in out]


@dataclasses.dataclass
class TrainingSet:
    """Stacked snapshots: features at each cutoff with the label observed after it.

    Attributes
    ----------
    frame : DataFrame
        Columns ``customer_id``, ``cutoff``, the features, and ``churned``.
    excluded : DataFrame
        ``customer_id``, ``cutoff``, ``reason`` for every customer not labelled at a cutoff.
    builder : FeatureBuilder
        Fitted at the first cutoff; reuse it to build features for scoring.
    label_definition : dict
    """

    frame: pd.DataFrame
    excluded: pd.DataFrame
    builder: FeatureBuilder
    label_definition: dict

    @property
    def feature_names(self) -> list[str]:
        return list(self.builder.feature_names_)


def build_training_set(
    events: EventTables,
    cutoffs: Sequence,
    horizon_days: int = 90,
    label_rule: str = "fixed",
    config: FeatureConfig | None = None,
    active_days: int | None = 365,
    *,
    progress=None,
    **label_kwargs,
) -> TrainingSet:
    """Stack (features at cutoff, label after cutoff) over several cutoffs.

    Customers who already churned before a cutoff (no purchase in the ``active_days`` before
    it) are excluded at that cutoff with reason ``inactive``; ``active_days=None`` keeps
    everyone who ever bought. The builder is fitted at the earliest cutoff, so category
    lists never depend on later data.

    Parameters
    ----------
    events : EventTables
    cutoffs : list of date-like
        Distinct snapshot dates.
    horizon_days : int
        Label window (see :func:`churnlab.churn_labels`).
    label_rule : {"fixed", "adaptive", "contractual"}
    config : FeatureConfig, optional
    active_days : int or None
    progress : churnlab.progress.Progress, optional
        Told of each cutoff as its features are built (stage ``features per cutoff``).
    **label_kwargs
        More :func:`churnlab.churn_labels` arguments (``k``, ``min_window_days``, ...).

    Returns
    -------
    TrainingSet

    Examples
    --------
    >>> from churnlab.datasets import make_demo_events
    >>> ts = build_training_set(make_demo_events(300, random_state=0), ["2024-01-01", "2024-04-01"], horizon_days=60)
    >>> sorted(ts.frame["cutoff"].dt.strftime("%Y-%m-%d").unique()), set(ts.frame["churned"]) <= {0, 1}
    (['2024-01-01', '2024-04-01'], True)
    """
    if isinstance(cutoffs, (str, pd.Timestamp)) or not isinstance(cutoffs, Sequence | pd.Index | np.ndarray):
        raise TypeError(f"`cutoffs` must be a list of dates, got {cutoffs!r}")
    if not len(cutoffs):
        raise ValueError("`cutoffs` must name at least one cutoff, got []")
    cuts = sorted(to_timestamp(c, "cutoffs") for c in cutoffs)
    if len(set(cuts)) != len(cuts):
        raise ValueError(f"`cutoffs` must be distinct, got duplicates in {[str(c.date()) for c in cuts]}")
    builder = FeatureBuilder(config).fit(events, cuts[0])
    frames, excluded, definition = [], [], {}
    with (progress or NoProgress()).stage("features per cutoff", total=len(cuts)) as stage:
        for cut in cuts:
            res = churn_labels(events, cut, horizon_days=horizon_days, rule=label_rule, active_days=active_days, **label_kwargs)
            definition = res.definition
            X = builder.transform(events, cut, customer_ids=res.labels.index)
            lab = res.labels["churned"]
            no_features = lab.index.difference(X.index)
            if len(no_features):  # labelled customers always have a purchase before cut, so this is a bug guard
                raise RuntimeError(f"{len(no_features)} labelled customers got no features at {cut}")
            snap = X.assign(churned=lab.reindex(X.index).to_numpy(), cutoff=cut).reset_index()
            frames.append(snap)
            excluded.append(res.excluded.reset_index().assign(cutoff=cut))
            stage.advance()
    frame = pd.concat(frames, ignore_index=True)
    cols = ["customer_id", "cutoff", *builder.feature_names_, "churned"]
    exc = pd.concat(excluded, ignore_index=True)[["customer_id", "cutoff", "reason"]]
    return TrainingSet(frame[cols], exc, builder, definition)
