"""The real CDNOW transaction log shipped with churnlab."""

from __future__ import annotations

import gzip
from importlib import resources

import pandas as pd

from churnlab.events import EventTables, load_events

__all__ = ["CDNOW_ATTRIBUTION", "load_cdnow"]

CDNOW_ATTRIBUTION = (
    "CDNOW transaction log: 69,659 purchases of 23,570 customers who first bought in Q1 1997, observed "
    "to 1998-06-30. From Fader, Hardie & Lee (2005), 'Counting your customers the easy way: an "
    "alternative to the Pareto/NBD model', Marketing Science 24(2); distributed under the MIT licence "
    "in the `lifetimes` package (lifetimes/datasets/CDNOW_master.txt)."
)

#: The signals the demo generator plants, as feature-name prefixes a model should rank high.


def load_cdnow(merge_same_day: bool = True) -> EventTables:
    """The real CDNOW transaction log as churnlab purchases.

    Columns: ``customer_id`` (int), ``ts`` (purchase date), ``amount`` (dollar value),
    ``quantity`` (number of CDs). See :data:`CDNOW_ATTRIBUTION` for the source.

    Parameters
    ----------
    merge_same_day : bool
        Merge purchases of one customer on one day into one transaction (as the BG/NBD
        literature does), summing amount and quantity. With ``False`` the raw lines are
        kept, including 215 identical same-day lines that are separate orders.

    Returns
    -------
    EventTables
        Purchases only.

    Examples
    --------
    >>> ev = load_cdnow()
    >>> len(ev.purchases), ev.purchases["customer_id"].nunique()
    (67591, 23570)
    """
    ref = resources.files("churnlab.datasets") / "data" / "CDNOW_master.txt.gz"
    with ref.open("rb") as fh, gzip.open(fh, "rt") as text:
        raw = pd.read_csv(text, sep=r"\s+", dtype={"customer_id": "int64", "date": str})
    df = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype(float),
            "quantity": raw["number_of_cds"].astype(float),
        }
    )
    if merge_same_day:
        df = df.groupby(["customer_id", "ts"], as_index=False)[["amount", "quantity"]].sum()
    # The log has date-only timestamps, so identical same-day lines are separate orders.
    return load_events(df, on_duplicates="raise" if merge_same_day else "keep")
