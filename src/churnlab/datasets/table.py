"""A synthetic labelled customer table, shaped like the public telecom churn tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["make_demo_table"]


def make_demo_table(n_customers: int = 3000, random_state: int = 0, snapshots: int = 0) -> pd.DataFrame:
    """One row per customer with its own churn label (``Churn``: Yes/No).

    Planted effects on the log-odds of churning: month-to-month contracts (+1.6 against two
    years), short tenure (-0.04 a month), high monthly charges (+0.02 a unit), electronic
    check payment (+0.5), support calls (+0.35 each). ``noise_level`` (20 levels) and
    ``noise_number`` have no effect at all.

    Parameters
    ----------
    n_customers : int
    random_state : int
    snapshots : int
        0: one row per customer, no time column. Otherwise that many monthly snapshot dates
        (``snapshot``), each customer at each date, labels drawn afresh.

    Returns
    -------
    DataFrame
        ``customerID, tenure, Contract, MonthlyCharges, PaymentMethod, SupportCalls,
        SeniorCitizen, noise_level, noise_number, Churn`` (and ``snapshot``).

    Examples
    --------
    >>> t = make_demo_table(500, random_state=1)
    >>> t.shape, sorted(t["Churn"].unique())
    ((500, 10), ['No', 'Yes'])
    """
    if n_customers <= 0:
        raise ValueError(f"`n_customers` must be > 0, got {n_customers}")
    rng = np.random.default_rng(random_state)
    n = n_customers
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.25, 0.2])
    base = pd.DataFrame(
        {
            "customerID": [f"C{i:06d}" for i in range(n)],
            "tenure": rng.integers(0, 72, n),
            "Contract": contract,
            "MonthlyCharges": np.round(rng.uniform(18, 118, n), 2),
            "PaymentMethod": rng.choice(["Electronic check", "Mailed check", "Bank transfer", "Credit card"], n),
            "SeniorCitizen": rng.integers(0, 2, n),
            "noise_level": rng.choice([f"L{j:02d}" for j in range(20)], n),
            "noise_number": np.round(rng.normal(0, 1, n), 3),
        }
    )
    frames = []
    for s in range(max(snapshots, 1)):
        t = base.copy()
        t["tenure"] = t["tenure"] + s
        t["SupportCalls"] = rng.poisson(1.0, n)
        logit = (
            -1.2
            + 1.6 * (t["Contract"] == "Month-to-month") + 0.6 * (t["Contract"] == "One year")
            - 0.04 * t["tenure"] + 0.02 * (t["MonthlyCharges"] - 65)
            + 0.5 * (t["PaymentMethod"] == "Electronic check") + 0.35 * t["SupportCalls"]
        )
        t["Churn"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
        if snapshots:
            t.insert(1, "snapshot", pd.Timestamp("2024-01-01") + pd.DateOffset(months=s))
        frames.append(t)
    cols = ["customerID", *(["snapshot"] if snapshots else []), "tenure", "Contract", "MonthlyCharges", "PaymentMethod",
            "SupportCalls", "SeniorCitizen", "noise_level", "noise_number", "Churn"]
    return pd.concat(frames, ignore_index=True)[cols]
