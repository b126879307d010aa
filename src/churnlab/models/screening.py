"""Features whose effect does not hold on the validation period.

A tree model fits noise a little: a random attribute with 20 levels finds splits that help on
the training rows. Such a feature then shows up in global importance and in customers'
reasons although it predicts nothing. The check here is permutation importance on the
validation rows, which the trees were not fitted to: each feature's values are shuffled
``repeats`` times and each customer's log loss is compared with the unshuffled one. A
feature is kept only when the mean increase exceeds ``z`` standard errors of that mean over
the validation customers (and a small floor): when the feature helps on customers it was not
fitted to by more than the validation sample's own noise. The others are dropped and the
model refitted without them (their SHAP values are then exactly 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


__all__ = ["permutation_screen"]


def permutation_screen(model, X_val: pd.DataFrame, y_val, repeats: int = 5, z: float = 1.0,
                       min_importance: float = 1e-4, seed: int = 0, groups: dict | None = None) -> pd.DataFrame:
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
        Standard errors the mean increase must exceed.
    min_importance : float
        Floor on the mean loss in log loss.
    seed : int
    groups : dict, optional
        Feature -> driver group (the feature dictionary's ``group``): a group's features are
        shuffled together, with one permutation, and kept or dropped together, so that
        features that stand in for each other (counts over several windows) are judged as
        one. Default: each feature alone.

    Returns
    -------
    DataFrame
        ``feature``, ``group``, ``importance`` (mean increase of the validation customers' log
        loss when its group is shuffled), ``se`` (its standard error over the customers),
        ``keep``; the model's feature order.

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

    def row_loss(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-15, 1 - 1e-15)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    base = row_loss(model.churn_probability(X_val))
    names = list(model.feature_names_)
    group_of = {f: (groups or {}).get(f, f) for f in names}
    by_group: dict = {}
    for f in names:
        by_group.setdefault(group_of[f], []).append(f)
    verdict = {}
    for group, cols in by_group.items():
        added = np.zeros(len(y))
        for _ in range(repeats):
            order = rng.permutation(len(X_val))
            shuffled = X_val.copy()
            for col in cols:
                shuffled[col] = X_val[col].to_numpy()[order]
                if isinstance(X_val[col].dtype, pd.CategoricalDtype):
                    shuffled[col] = pd.Categorical(shuffled[col], categories=X_val[col].cat.categories)
            added += row_loss(model.churn_probability(shuffled)) - base
        d = added / repeats  # per customer: how much worse the prediction gets without the group
        mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
        verdict[group] = (mean, se, bool(mean > max(z * se, min_importance)))
    return pd.DataFrame([{"feature": f, "group": group_of[f], "importance": verdict[group_of[f]][0],
                          "se": verdict[group_of[f]][1], "keep": verdict[group_of[f]][2]} for f in names])
