"""Features whose effect does not hold on the validation period.

A tree model fits noise a little: a random attribute with 20 levels finds splits that help on
the training rows. Such a feature then shows up in global importance and in customers'
reasons although it predicts nothing. The check here is permutation importance on the
validation rows, which the trees were not fitted to: each feature's values are shuffled
``repeats`` times and the loss in validation log loss is recorded. A feature is kept only
when its mean loss exceeds ``z`` standard errors of the repeats (and a small floor), i.e.
when shuffling it hurts by more than chance; the others are dropped and the model refitted
without them (their SHAP values are then exactly 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.models.evaluate import validation_metric

__all__ = ["permutation_screen"]


def permutation_screen(model, X_val: pd.DataFrame, y_val, repeats: int = 5, z: float = 2.0,
                       min_importance: float = 1e-4, seed: int = 0) -> pd.DataFrame:
    """Permutation importance of each feature on validation, and whether it holds.

    Parameters
    ----------
    model : fitted estimator with ``churn_probability`` and ``feature_names_``
    X_val : DataFrame
        Validation rows (a later period than the training rows).
    y_val : array-like of 0/1
    repeats : int
        Shuffles per feature.
    z : float
        Standard errors the mean loss must exceed.
    min_importance : float
        Floor on the mean loss in log loss.
    seed : int

    Returns
    -------
    DataFrame
        ``feature``, ``importance`` (mean increase of validation log loss), ``se``, ``keep``;
        the model's feature order.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from churnlab.models import ChurnModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.exponential(30, 3000), "noise": rng.normal(size=3000)})
    >>> y = (X["recency"] + rng.normal(0, 10, 3000) > 35).astype(int)
    >>> m = ChurnModel(num_boost_round=60).fit(X[:2000], y[:2000], validation=(X[2000:], y[2000:]))
    >>> permutation_screen(m, X[2000:], y[2000:]).set_index("feature")["keep"].to_dict()
    {'recency': True, 'noise': False}
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"`repeats` must be an integer >= 2, got {repeats!r}")
    y = np.asarray(y_val, dtype=float)
    rng = np.random.default_rng(seed)
    base = -validation_metric("neg_log_loss", y, model.churn_probability(X_val))
    rows = []
    for col in model.feature_names_:
        losses = []
        for _ in range(repeats):
            shuffled = X_val.copy()
            shuffled[col] = X_val[col].to_numpy()[rng.permutation(len(X_val))]
            if isinstance(X_val[col].dtype, pd.CategoricalDtype):
                shuffled[col] = pd.Categorical(shuffled[col], categories=X_val[col].cat.categories)
            losses.append(-validation_metric("neg_log_loss", y, model.churn_probability(shuffled)) - base)
        mean, se = float(np.mean(losses)), float(np.std(losses, ddof=1) / np.sqrt(repeats))
        rows.append({"feature": col, "importance": mean, "se": se, "keep": bool(mean > max(z * se, min_importance))})
    return pd.DataFrame(rows)
