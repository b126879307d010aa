"""SHAP values of a churn model's predictions, in log-odds or shares of the probability.

SHAP values are LightGBM's own TreeSHAP values (``pred_contrib=True``), in log-odds, computed
once per distinct decision pattern of each tree and cached on the model (see
:mod:`churnlab.explain.treeshap`; equal to ``pred_contrib`` up to summation order). When
the model carries a Platt calibration (``logit(p) = a * margin + b``) the values are scaled by
``a`` and the expected value becomes ``a * base + b``, so they add up exactly to the
calibrated log-odds the model returns. (An isotonic calibration is not linear; then the
values explain the uncalibrated margin.)

Log-odds to probability: a customer's probability moves from ``sigmoid(expected_value)`` to
``sigmoid(sum of all columns)``; :func:`probability_contributions` shares that change out in
proportion to each feature's log-odds contribution, so the shares add up to the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churnlab.models.lightgbm import ChurnModel

__all__ = ["EXPECTED", "probability_contributions", "shap_frame", "shap_values", "tidy_shap"]

EXPECTED = "expected_value"


def shap_values(model: "ChurnModel", features: pd.DataFrame) -> pd.DataFrame:
    """SHAP values (log-odds) per customer and feature, plus the ``expected_value`` column.

    Each row sums to the model's log-odds for that customer (calibrated, for a Platt
    calibration).

    Parameters
    ----------
    model : ChurnModel
    features : DataFrame
        The model's features, e.g. from :meth:`churnlab.ScoringModel.features`.

    Returns
    -------
    DataFrame
        Same index as ``features``; one column per feature and ``expected_value``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from churnlab.models import ChurnModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.exponential(30, 600), "orders": rng.poisson(3, 600).astype(float)})
    >>> y = (X["recency"] > 30).astype(int)
    >>> model = ChurnModel(num_boost_round=30).fit(X[:400], y[:400], validation=(X[400:], y[400:]))
    >>> sv = shap_values(model, X[:5])
    >>> p = model.churn_probability(X[:5])
    >>> bool(np.allclose(sv.sum(axis=1), np.log(p / (1 - p))))
    True
    """
    return shap_frame(model, model.contributions(features), features.index)


def shap_frame(model: "ChurnModel", contrib: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """:func:`shap_values`'s frame from the model's raw contributions (Platt scaling applied)."""
    values, base = contrib[:, :-1], contrib[:, -1]
    cal = model.calibrator_
    if cal is not None and cal.method == "platt":
        values = values * cal.coef_
        base = base * cal.coef_ + cal.intercept_
    out = pd.DataFrame(values, index=index, columns=model.feature_names_)
    out[EXPECTED] = base
    return out


def probability_contributions(shap_values: pd.DataFrame) -> pd.DataFrame:
    """Share each row's probability change (from the expected value) out over the features.

    Parameters
    ----------
    shap_values : DataFrame
        Output of :func:`shap_values`.

    Returns
    -------
    DataFrame
        Probability points per feature; each row adds up to the customer's probability
        minus ``sigmoid(expected_value)``.

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"a": [1.0], "b": [1.0], "expected_value": [0.0]})
    >>> probability_contributions(sv).round(4).iloc[0].tolist()  # sigmoid(2) - 0.5 = 0.3808, shared equally
    [0.1904, 0.1904]
    """
    feats = shap_values.drop(columns=EXPECTED)
    total = feats.sum(axis=1)
    p0 = 1 / (1 + np.exp(-shap_values[EXPECTED]))
    p = 1 / (1 + np.exp(-(shap_values[EXPECTED] + total)))
    scale = ((p - p0) / total.where(total != 0)).fillna(0.0)
    return feats.mul(scale, axis=0)


def tidy_shap(shap_values: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Long format: one row per customer and feature with ``value`` and ``shap``."""
    feats = shap_values.drop(columns=EXPECTED)
    long = feats.rename_axis(index="customer_id", columns="feature").stack().rename("shap").reset_index()
    vals = features[feats.columns].astype(object).rename_axis(index="customer_id", columns="feature")
    long["value"] = vals.stack(future_stack=True).reindex(pd.MultiIndex.from_frame(long[["customer_id", "feature"]])).to_numpy()
    return long[["customer_id", "feature", "value", "shap"]]
