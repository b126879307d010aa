"""Features whose effect does not hold on the validation period.

A tree model fits noise a little: a random attribute with 20 levels finds splits that help on
the training rows. Such a feature then shows up in global importance and in customers'
reasons although it predicts nothing. The check here is permutation importance on the
validation rows, which the model was not fitted to: each driver group's values are shuffled
``repeats`` times and each customer's log loss is compared with the unshuffled one.

A group is kept only when its mean increase is significantly above 0 among all the groups
judged at once: each group's one-sided p-value (its mean over the standard error of that mean
over the validation customers) goes through the Benjamini-Hochberg procedure at ``alpha``,
so that in expectation at most a share ``alpha`` of the kept groups have no effect. A single
test per group at one standard error lets each pure-noise group through about one time in
six. Measured on the demo (4,000 customers, seed 0): the planted
``noise_segment`` had 1.0 standard errors and was kept; it then was the 10th global driver
and named in 4.6% of the scored customers' reason slots. Benjamini-Hochberg at 5% drops it,
and the unplanted ``acquisition_channel`` (1.9), and keeps every planted driver, the weak
``tier`` (2.5) included, which a Bonferroni cut (2.8 for 22 groups) would drop. A smaller
sample holds less: on 2,500 demo customers the planted NPS group has 1.25 standard errors in
LightGBM and is dropped, the price of keeping noise out. The dropped groups leave the model,
which is refitted without them (their SHAP values are then exactly 0).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd


__all__ = ["benjamini_hochberg", "permutation_screen"]


def permutation_screen(model, X_val: pd.DataFrame, y_val, repeats: int = 5, z: float | None = None,
                       min_importance: float = 1e-4, seed: int = 0, groups: dict | None = None,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Permutation importance of each feature on validation, and whether it holds.

    Parameters
    ----------
    model : fitted estimator with ``churn_probability`` and ``feature_names_``
    X_val : DataFrame
        Validation rows (a later period than the training rows).
    y_val : array-like of 0/1
    repeats : int
        Shuffles per feature.
    z : float, optional
        Instead of Benjamini-Hochberg: a fixed number of standard errors the mean increase
        must exceed.
    min_importance : float
        Floor on the mean loss in log loss.
    seed : int
    groups : dict, optional
        Feature -> driver group (the feature dictionary's ``group``): a group's features are
        shuffled together, with one permutation, and kept or dropped together, so that
        features that stand in for each other (counts over several windows) are judged as
        one. Default: each feature alone.
    alpha : float
        False discovery rate of the Benjamini-Hochberg procedure (when ``z`` is not given).

    Returns
    -------
    DataFrame
        ``feature``, ``group``, ``importance`` (mean increase of the validation customers' log
        loss when its group is shuffled), ``se`` (its standard error over the customers),
        ``p_value`` (one-sided, normal), ``keep``; the model's feature order.

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
    if z is None and not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
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
        p = (0.0 if mean > 0 else 1.0) if se == 0 else 1.0 - NormalDist().cdf(mean / se)
        verdict[group] = [mean, se, p, bool(mean > max((z or 0.0) * se, min_importance))]
    if z is None:
        for group, ok in benjamini_hochberg({g: v[2] for g, v in verdict.items()}, alpha).items():
            verdict[group][3] = verdict[group][3] and ok
    return pd.DataFrame([{"feature": f, "group": group_of[f], "importance": verdict[group_of[f]][0],
                          "se": verdict[group_of[f]][1], "p_value": verdict[group_of[f]][2],
                          "keep": verdict[group_of[f]][3]} for f in names])


def benjamini_hochberg(p_values: dict, alpha: float = 0.05) -> dict:
    """Which hypotheses the Benjamini-Hochberg step-up procedure rejects at false discovery rate
    ``alpha``: those with the ``i`` smallest p-values, for the largest ``i`` with
    ``p_(i) <= i / m * alpha``.

    >>> benjamini_hochberg({"a": 0.001, "b": 0.0064, "c": 0.027, "d": 0.157}, 0.05)
    {'a': True, 'b': True, 'c': True, 'd': False}
    """
    order = sorted(p_values, key=lambda k: (p_values[k], str(k)))
    m = len(order)
    passed = [i for i, k in enumerate(order, start=1) if p_values[k] <= i / m * alpha]
    last = max(passed, default=0)
    return {k: k in order[:last] for k in p_values}
