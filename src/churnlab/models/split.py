"""Splitting snapshot cutoffs by time into training, validation and test periods."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["time_split"]


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
