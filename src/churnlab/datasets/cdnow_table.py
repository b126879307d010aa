"""A labelled customer table derived from the real CDNOW log: one row per customer, the
customer's purchase history as of a cutoff and whether they bought again in the horizon.

The table is public data churnlab ships (see :data:`churnlab.datasets.CDNOW_ATTRIBUTION`),
shaped like the labelled churn tables users bring (``data.source: table``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.checks import to_timestamp
from churnlab.datasets.cdnow import load_cdnow

__all__ = ["load_cdnow_table"]


def load_cdnow_table(as_of="1997-10-01", horizon_days: int = 91) -> pd.DataFrame:
    """CDNOW as a labelled table: the 23,570 customers' history before ``as_of`` and their label.

    Parameters
    ----------
    as_of : date-like
        The cutoff: attributes use purchases strictly before it. After 1997-03-31 (every
        customer has bought by then) and at least ``horizon_days`` before 1998-07-01.
    horizon_days : int
        ``churned`` is 1 when the customer makes no purchase in ``[as_of, as_of + horizon_days)``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``tenure_days`` (since the first purchase), ``recency_days`` (since the
        last), ``purchases``, ``purchases_90d``, ``purchases_180d``, ``spend``, ``spend_90d``,
        ``cds``, ``mean_order_value``, ``mean_days_between`` (empty for one purchase) and
        ``churned`` (0/1), one row per customer.

    Examples
    --------
    >>> t = load_cdnow_table()
    >>> len(t), round(float(t["churned"].mean()), 3)
    (23570, 0.822)
    >>> t = load_cdnow_table("1997-06-01", horizon_days=30)
    >>> int(t["recency_days"].min()) >= 1
    True
    """
    t = to_timestamp(as_of, "as_of")
    if t <= pd.Timestamp("1997-03-31") or t + pd.Timedelta(days=horizon_days) > pd.Timestamp("1998-07-01"):
        raise ValueError(f"`as_of` must be after 1997-03-31 and its {horizon_days}-day window end by 1998-07-01, got {t.date()}")
    p = load_cdnow().purchases
    before, after = p[p["ts"] < t], p[(p["ts"] >= t) & (p["ts"] < t + pd.Timedelta(days=horizon_days))]
    days = (t - before["ts"]).dt.days
    g = before.assign(days=days, recent90=days <= 90, recent180=days <= 180).groupby("customer_id")
    out = pd.DataFrame({
        "tenure_days": g["days"].max(),
        "recency_days": g["days"].min(),
        "purchases": g.size(),
        "purchases_90d": g["recent90"].sum(),
        "purchases_180d": g["recent180"].sum(),
        "spend": g["amount"].sum(),
        "spend_90d": before.assign(a=before["amount"].where(days <= 90, 0.0)).groupby("customer_id")["a"].sum(),
        "cds": g["quantity"].sum(),
    })
    out["mean_order_value"] = out["spend"] / out["purchases"]
    out["mean_days_between"] = ((out["tenure_days"] - out["recency_days"]) / (out["purchases"] - 1)).where(out["purchases"] > 1, np.nan)
    out["churned"] = (~out.index.isin(after["customer_id"].unique())).astype(int)
    return out.rename_axis("customer_id").reset_index()
