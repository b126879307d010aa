"""Splitting snapshot cutoffs by time into training, validation and test periods."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["calibration_cutoffs", "densify_training", "time_split"]


def time_split(cutoffs: Sequence[pd.Timestamp], horizon_days: float) -> dict[str, list[pd.Timestamp]]:
    """Split cutoffs by time: train < validation < test, with no label window overlap.

    The test cutoff is the last one. The validation cutoff is the latest one whose label
    window ends by the test cutoff; training cutoffs are those whose label windows end by
    the validation cutoff. So no training label is observed after validation features start,
    and no validation label after test features start.

    Parameters
    ----------
    cutoffs : sequence of date-like
        At least 3.
    horizon_days : float
        The label window.

    Returns
    -------
    dict
        ``{"train": [...], "validation": [cutoff], "test": [cutoff]}``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = time_split(pd.date_range("2024-01-01", "2024-12-01", freq="MS"), horizon_days=90)
    >>> {k: [str(c.date()) for c in v] for k, v in s.items() if k != "train"}, str(s["train"][-1].date())
    ({'validation': ['2024-09-01'], 'test': ['2024-12-01']}, '2024-06-01')
    """
    cuts = sorted(pd.Timestamp(c) for c in cutoffs)
    h = pd.Timedelta(days=float(horizon_days))
    if len(cuts) < 3:
        raise ValueError(f"need at least 3 cutoffs for a train/validation/test split, got {len(cuts)}")
    test = cuts[-1]
    val_options = [c for c in cuts[:-1] if c + h <= test]
    if not val_options:
        raise ValueError(
            f"no validation cutoff has its {horizon_days}-day label window end by the test cutoff {test.date()}; "
            "add earlier cutoffs or shorten horizon_days"
        )
    val = val_options[-1]
    train = [c for c in cuts if c + h <= val]
    if not train:
        raise ValueError(
            f"no training cutoff has its label window end by the validation cutoff {val.date()}; add earlier cutoffs"
        )
    return {"train": train, "validation": [val], "test": [test]}


def densify_training(split: dict, horizon_days: float, every_days: int) -> dict:
    """Add training cutoffs every ``every_days`` days, from the first training cutoff to the last
    date whose label window still ends by the validation cutoff: more snapshots from the same
    period when monthly cutoffs are few. Validation and test stay as they are.

    Parameters
    ----------
    split : dict
        Output of :func:`time_split`.
    horizon_days : float
        The label window.
    every_days : int
        Days between the added cutoffs (> 0), e.g. 7 or 14.

    Returns
    -------
    dict
        The split with the denser ``train`` list (the original training cutoffs kept).

    Examples
    --------
    >>> import pandas as pd
    >>> s = time_split(pd.date_range("2024-01-01", "2024-08-01", freq="MS"), horizon_days=60)
    >>> [str(c.date()) for c in s["train"]]
    ['2024-01-01', '2024-02-01', '2024-03-01', '2024-04-01']
    >>> dense = densify_training(s, 60, 14)
    >>> [str(c.date()) for c in dense["train"]][:4], str(dense["train"][-1].date()), dense["validation"] == s["validation"]
    (['2024-01-01', '2024-01-15', '2024-01-29', '2024-02-01'], '2024-04-01', True)
    """
    if isinstance(every_days, bool) or not isinstance(every_days, int) or every_days <= 0:
        raise ValueError(f"`every_days` must be an integer > 0, got {every_days!r}")
    last = split["validation"][0] - pd.Timedelta(days=float(horizon_days))
    extra = pd.date_range(split["train"][0], last, freq=pd.Timedelta(days=every_days))
    return {**split, "train": sorted(set(split["train"]) | set(extra))}


def calibration_cutoffs(cutoffs: Sequence[pd.Timestamp], split: dict, horizon_days: float, window_days: float) -> list[pd.Timestamp]:
    """The cutoffs a stacked calibration scores out of time: every cutoff of ``cutoffs`` in the
    ``window_days`` up to and including the validation cutoff that has a training cutoff
    whose label window ends by it. ``window_days=0``: the validation cutoff alone.

    A year (365) covers each season once, so that a seasonal churn rate averages out instead
    of one season's rate being carried to the next period.

    Examples
    --------
    >>> import pandas as pd
    >>> cuts = pd.date_range("2024-01-01", "2024-12-01", freq="MS")
    >>> s = time_split(cuts, horizon_days=90)
    >>> [str(c.date()) for c in calibration_cutoffs(cuts, s, 90, 120)]
    ['2024-06-01', '2024-07-01', '2024-08-01', '2024-09-01']
    >>> str(calibration_cutoffs(cuts, s, 90, 365)[0].date())  # the first with a training cutoff 90 days before
    '2024-04-01'
    >>> [str(c.date()) for c in calibration_cutoffs(cuts, s, 90, 0)]
    ['2024-09-01']
    """
    if isinstance(window_days, bool) or not window_days >= 0:
        raise ValueError(f"`window_days` must be >= 0, got {window_days!r}")
    val = split["validation"][0]
    first = min(split["train"]) + pd.Timedelta(days=float(horizon_days))
    since = val - pd.Timedelta(days=float(window_days))
    return sorted({pd.Timestamp(c) for c in cutoffs if since <= pd.Timestamp(c) <= val and pd.Timestamp(c) >= first} | {val})
