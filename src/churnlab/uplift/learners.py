"""Meta-learners of the uplift ``P(churn | control) - P(churn | treated)`` with LightGBM.

* :class:`TLearner`: one churn model per arm (:class:`churnlab.models.ChurnModel`, early
  stopping and Platt calibration on the validation rows of the same arm); the uplift is the
  difference of their probabilities.
* :class:`XLearner` (Künzel et al. 2019): the T-learner's arm models impute each customer's
  effect from the other arm's model (contacted: ``p_control(x) - churned``; control:
  ``churned - p_treated(x)``), a LightGBM regression per arm learns it, and the two are
  blended by the share contacted (the propensity of a randomised campaign). Its
  ``p_churn_treated`` and ``p_churn_control`` are the arm models'; its ``uplift`` is the
  blend, which borrows strength across arms where one arm's model alone is noisy.

Both are saved as LightGBM text models plus JSON (never a pickle), with the size and
sha256 of every file recorded (:mod:`churnlab.models.files`).
"""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from churnlab.checks import binary_labels
from churnlab.models import ChurnModel
from churnlab.models.files import ModelFileError, read_metadata, record_checksums, verify_files
from churnlab.models.lightgbm import DEFAULT_PARAMS

__all__ = ["LEARNERS", "OUTPUT_COLUMNS", "TLearner", "XLearner", "load_learner"]

OUTPUT_COLUMNS = ("uplift", "p_churn_treated", "p_churn_control")
META_FILE = "uplift_learner.json"


def _check(X: pd.DataFrame, y, t, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"`{what}` features must be a DataFrame, got {type(X).__name__}")
    y = binary_labels(y, f"{what} churned", len(X))
    t = binary_labels(t, f"{what} treated", len(X))
    for arm in (0, 1):
        ys = y[t == arm]
        if len(ys) == 0 or ys.min() == ys.max():
            raise ValueError(f"the {what} rows with treated {arm} have {'no rows' if len(ys) == 0 else 'a single outcome'}: "
                             "churn cannot be learned in that arm")
    return y, t


class TLearner:
    """Two churn models, one per arm.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters over churnlab's defaults.
    num_boost_round, early_stopping_rounds : int
    seed, num_threads : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.random(1000)}); t = rng.integers(0, 2, 1000)
    >>> y = (rng.random(1000) < 0.5 - 0.3 * t * (X["x"] > 0.5)).astype(int)
    >>> m = TLearner(num_boost_round=20).fit(X[:600], y[:600], t[:600], validation=(X[600:], y[600:], t[600:]))
    >>> out = m.predict(pd.DataFrame({"x": [0.2, 0.8]}))
    >>> list(out.columns), bool(out["uplift"].iloc[1] > out["uplift"].iloc[0])
    (['uplift', 'p_churn_treated', 'p_churn_control'], True)
    """

    KIND = "t_learner"

    def __init__(self, params: dict | None = None, num_boost_round: int = 300, early_stopping_rounds: int = 30,
                 seed: int = 0, num_threads: int = 2):
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed
        self.num_threads = num_threads

    def _arm_model(self) -> ChurnModel:
        return ChurnModel(params=self.params, num_boost_round=self.num_boost_round, early_stopping_rounds=self.early_stopping_rounds,
                          imbalance="none", calibration="platt", seed=self.seed, num_threads=self.num_threads)

    def fit(self, X: pd.DataFrame, y, treated, *, validation) -> "TLearner":
        """Fit each arm's churn model on ``(X, y)`` rows of that arm; ``validation=(X, y, treated)``
        of a later period early-stops and calibrates them."""
        y, t = _check(X, y, treated, "training")
        Xv, yv, tv = validation
        yv, tv = _check(Xv, yv, tv, "validation")
        self.feature_names_ = list(X.columns)
        self.models_ = {arm: self._arm_model().fit(X[t == arm], y[t == arm], validation=(Xv[tv == arm], yv[tv == arm]))
                        for arm in (0, 1)}
        self.treated_share_ = float(t.mean())
        return self

    def arm_probabilities(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(P(churn | treated), P(churn | control)) per row."""
        if not hasattr(self, "models_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first")
        return self.models_[1].churn_probability(X), self.models_[0].churn_probability(X)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``uplift``, ``p_churn_treated``, ``p_churn_control`` per row (index kept)."""
        p1, p0 = self.arm_probabilities(X)
        return pd.DataFrame({"uplift": p0 - p1, "p_churn_treated": p1, "p_churn_control": p0}, index=X.index)

    def _state(self) -> dict:
        return {"kind": self.KIND, "feature_names": self.feature_names_, "treated_share": self.treated_share_,
                "init": {"params": self.params, "num_boost_round": self.num_boost_round,
                         "early_stopping_rounds": self.early_stopping_rounds, "seed": self.seed, "num_threads": self.num_threads}}

    def _extra_files(self, folder: Path) -> list[Path]:
        return []

    def save(self, folder, extra: dict | None = None) -> Path:
        """Write the learner into ``folder`` (created): each arm's model (``control.txt`` and
        ``control.json``, ``treated.txt`` and ``treated.json``), any further boosters, and
        ``uplift_learner.json`` recording every file's size and sha256."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for arm, name in ((0, "control"), (1, "treated")):
            self.models_[arm].to_files(folder / f"{name}.txt", folder / f"{name}.json")
            files += [folder / f"{name}.txt", folder / f"{name}.json"]
        files += self._extra_files(folder)
        meta = record_checksums({**self._state(), **(extra or {})}, files)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        return folder

    def _load_parts(self, folder: Path, meta: dict) -> None:
        self.models_ = {arm: ChurnModel.from_files(folder / f"{name}.txt", folder / f"{name}.json")[0]
                        for arm, name in ((0, "control"), (1, "treated"))}
        self.feature_names_ = list(meta["feature_names"])
        self.treated_share_ = float(meta["treated_share"])


class XLearner(TLearner):
    """The X-learner: the T-learner's arm models, then one LightGBM regression per arm on
    the imputed individual effects, blended by the share contacted.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.random(1000)}); t = rng.integers(0, 2, 1000)
    >>> y = (rng.random(1000) < 0.5 - 0.3 * t * (X["x"] > 0.5)).astype(int)
    >>> m = XLearner(num_boost_round=20).fit(X[:600], y[:600], t[:600], validation=(X[600:], y[600:], t[600:]))
    >>> u = m.predict(pd.DataFrame({"x": [0.2, 0.8]}))["uplift"]
    >>> bool(u.iloc[1] > u.iloc[0])
    True
    """

    KIND = "x_learner"

    def _regression_params(self) -> dict:
        base = {k: v for k, v in DEFAULT_PARAMS.items() if k != "objective"}
        return {**base, **(self.params or {}), "objective": "regression", "metric": "l2", "seed": self.seed,
                "deterministic": True, "force_col_wise": True, "num_threads": self.num_threads, "verbose": -1}

    def fit(self, X: pd.DataFrame, y, treated, *, validation) -> "XLearner":
        super().fit(X, y, treated, validation=validation)
        y, t = _check(X, y, treated, "training")
        Xv, yv, tv = validation
        yv, tv = _check(Xv, yv, tv, "validation")
        self.categories_ = {c: [str(v) for v in X[c].cat.categories] for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}
        p1, p0 = self.arm_probabilities(X)
        p1v, p0v = self.arm_probabilities(Xv)
        # imputed effect, in the uplift's direction (churn avoided by the contact)
        d, dv = np.where(t == 1, p0 - y, y - p1), np.where(tv == 1, p0v - yv, yv - p1v)
        self.effects_ = {}
        for arm in (0, 1):
            train = lgb.Dataset(X[t == arm], d[t == arm], free_raw_data=True)
            valid = lgb.Dataset(Xv[tv == arm], dv[tv == arm], reference=train)
            self.effects_[arm] = lgb.train(
                self._regression_params(), train, num_boost_round=self.num_boost_round, valid_sets=[valid],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
        return self

    def as_t_learner(self) -> TLearner:
        """The T-learner made of this learner's arm models (the same fit, not refitted)."""
        t = TLearner(self.params, self.num_boost_round, self.early_stopping_rounds, self.seed, self.num_threads)
        t.models_, t.feature_names_, t.treated_share_ = self.models_, self.feature_names_, self.treated_share_
        return t

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        p1, p0 = self.arm_probabilities(X)
        g = self.treated_share_
        A = self._coded(X)
        tau = {arm: b.predict(A, num_iteration=b.best_iteration or None) for arm, b in self.effects_.items()}
        # each arm's regression is weighted by the other arm's share (Künzel et al.'s g(x) = share contacted)
        uplift = g * tau[0] + (1 - g) * tau[1]
        return pd.DataFrame({"uplift": uplift, "p_churn_treated": p1, "p_churn_control": p0}, index=X.index)

    def _coded(self, X: pd.DataFrame) -> pd.DataFrame:
        """The training columns, categorical ones coded with the training categories (text
        values, e.g. from a served JSON frame, included; unseen ones become missing)."""
        A = X[self.feature_names_].copy()
        for col, cats in self.categories_.items():
            s = A[col]
            if not (isinstance(s.dtype, pd.CategoricalDtype) and [str(c) for c in s.cat.categories] == cats):
                A[col] = pd.Categorical(s.astype(object).where(s.isna(), s.astype(str)), categories=cats)
        return A

    def _state(self) -> dict:
        return {**super()._state(), "categories": self.categories_}

    def _extra_files(self, folder: Path) -> list[Path]:
        out = []
        for arm, name in ((0, "effect_control.txt"), (1, "effect_treated.txt")):
            b = self.effects_[arm]
            b.save_model(str(folder / name), num_iteration=b.best_iteration or None)
            out.append(folder / name)
        return out

    def _load_parts(self, folder: Path, meta: dict) -> None:
        super()._load_parts(folder, meta)
        self.categories_ = {k: list(v) for k, v in meta.get("categories", {}).items()}
        self.effects_ = {}
        for arm, name in ((0, "effect_control.txt"), (1, "effect_treated.txt")):
            try:
                self.effects_[arm] = lgb.Booster(model_file=str(folder / name))
            except lgb.basic.LightGBMError as exc:
                raise ModelFileError(folder / name, f"is not a LightGBM model LightGBM can read ({' '.join(str(exc).split())})") from None


LEARNERS = {cls.KIND: cls for cls in (TLearner, XLearner)}


def load_learner(folder) -> tuple[TLearner, dict]:
    """(learner, metadata) from a folder :meth:`TLearner.save` wrote; every file is checked
    against its recorded size and sha256 before it is parsed.

    Raises
    ------
    ModelFileError
        A missing, truncated or changed file, naming it.
    """
    folder = Path(folder)
    meta = read_metadata(folder / META_FILE)
    verify_files(meta, folder, required=["control.txt", "treated.txt"])
    kind = meta.get("kind")
    if kind not in LEARNERS:
        raise ModelFileError(folder / META_FILE, f"names an unknown uplift learner {kind!r} (known: {sorted(LEARNERS)})")
    learner = LEARNERS[kind](**meta["init"])
    learner._load_parts(folder, meta)
    return learner, meta
