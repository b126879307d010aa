"""LightGBM's hyperparameter search on the validation period, with Optuna.

Each trial fits the model on the training rows (early stopping on validation) and is scored by
the selection metric on the validation rows; the configured parameters are always trial 0, so
the search never returns something worse on validation than no search. Optuna's TPE sampler is
seeded and trials run one after another, so the same data, trials and seed give the same
parameters (a ``timeout_s`` makes the number of trials depend on the machine's speed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnlab.models.evaluate import validation_metric
from churnlab.progress import NoProgress

__all__ = ["SEARCH_SPACE", "search_lightgbm"]

#: name: (low, high, log scale, integer)
SEARCH_SPACE = {
    "num_leaves": (4, 64, True, True),
    "min_data_in_leaf": (20, 500, True, True),
    "learning_rate": (0.01, 0.1, True, False),
    "feature_fraction": (0.4, 1.0, False, False),
    "lambda_l2": (0.01, 100.0, True, False),
    "cat_smooth": (1.0, 100.0, True, False),
    "min_data_per_group": (20, 500, True, True),
}


def search_lightgbm(model, X: pd.DataFrame, y, X_val: pd.DataFrame, y_val, metric: str = "pr_auc",
                    trials: int = 20, timeout_s: float | None = None, seed: int = 0, *,
                    progress=None) -> tuple[dict, pd.DataFrame]:
    """The LightGBM parameters, among ``trials`` more sets, that score best on validation.

    Parameters
    ----------
    model : ChurnModel
        Unfitted; its ``params`` are trial 0 and the base every trial is merged over.
    X, y : DataFrame, array-like
        Training rows.
    X_val, y_val : DataFrame, array-like
        Validation rows (early stopping and the score).
    metric : str
        See :func:`churnlab.models.evaluate.validation_metric`.
    trials : int
        Parameter sets tried besides ``model.params``.
    timeout_s : float, optional
    seed : int
    progress : churnlab.progress.Progress, optional
        Told of each finished trial (stage ``search trials``).

    Returns
    -------
    (dict, DataFrame)
        The best ``params`` and one row per trial (parameters and ``score``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from churnlab.models import ChurnModel
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.exponential(30, 900), "orders": rng.poisson(3, 900).astype(float)})
    >>> y = (X["recency"] + rng.normal(0, 10, 900) > 35).astype(int)
    >>> params, trials = search_lightgbm(ChurnModel(num_boost_round=40), X[:600], y[:600], X[600:], y[600:], trials=3)
    >>> len(trials), bool(trials["score"].max() == trials.loc[trials["best"], "score"].iloc[0])
    (4, True)
    """
    import optuna
    from sklearn.base import clone

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 0:
        raise ValueError(f"`trials` must be an integer >= 0, got {trials!r}")
    base = dict(model.params or {})

    def objective(trial) -> float:
        params = dict(base)
        if trial.number > 0:
            for name, (low, high, log, integer) in SEARCH_SPACE.items():
                suggest = trial.suggest_int if integer else trial.suggest_float
                params[name] = suggest(name, low, high, log=log)
        trial.set_user_attr("params", params)
        fitted = clone(model).set_params(params=params).fit(X, y, validation=(X_val, y_val))
        return validation_metric(metric, np.asarray(y_val, dtype=float), fitted.churn_probability(X_val))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    with (progress or NoProgress()).stage("search trials", total=trials + 1) as stage:
        study.optimize(objective, n_trials=trials + 1, timeout=timeout_s, callbacks=[lambda _study, _trial: stage.advance()])
        stage.note(f"best validation {metric} {study.best_value:.4f} (trial {study.best_trial.number})")
    rows = [{**t.user_attrs["params"], "score": t.value} for t in study.trials if t.value is not None]
    table = pd.DataFrame(rows)
    table["best"] = [t.number == study.best_trial.number for t in study.trials if t.value is not None]
    return study.best_trial.user_attrs["params"], table
