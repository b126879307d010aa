"""The churn model: LightGBM with early stopping on a later cutoff, optional calibration.

Class imbalance: with ``imbalance="balanced"`` positive rows are weighted by
``n_negative / n_positive`` (LightGBM's ``scale_pos_weight``) so the trees pay attention to
the minority class; the raw scores are then no longer probabilities, which is why the
default also fits a Platt (logistic) calibration on later rows than it trained on (the
validation cutoff, or several cutoffs' out-of-time predictions: :meth:`ChurnModel.calibrate`). Early stopping
watches ROC-AUC, which weighting does not distort. ``imbalance="none"`` trains on the
plain log loss.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import os
import re
import sys
import warnings
import zipfile
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from churnlab.checks import binary_labels, check_feature_frame, check_fitted
from churnlab.explain.treeshap import PatternTreeSHAP, lightgbm_matrix
from churnlab.models.calibration import Calibrator
from churnlab.models.files import ModelFileError, read_metadata, record_checksums, verify_files

__all__ = ["ChurnModel", "DEFAULT_PARAMS", "PATTERNS_FILE", "check_lightgbm_params"]

PATTERNS_FILE = "shap_patterns.npz"  # beside the booster: SHAP values cached at training time

DEFAULT_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    # categorical splits regularised beyond LightGBM's defaults (100 / 10 / 10): a level needs
    # more rows and is shrunk harder toward the mean before it can drive a split
    "min_data_per_group": 200,
    "cat_smooth": 20.0,
    "cat_l2": 20.0,
    "verbose": -1,
}


def _lightgbm_names() -> set[str] | None:
    """Every LightGBM parameter name and alias (None if this LightGBM cannot list them)."""
    try:
        table = lgb.basic._ConfigAliases._get_all_param_aliases()
    except AttributeError:
        return None
    return {name for main, aliases in table.items() for name in (main, *aliases)}


@contextlib.contextmanager
def _quiet_stderr():
    """LightGBM writes its fatal errors to the C stderr before raising them: keep them off the
    terminal while churnlab turns them into its own one-line error."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_booster_text(path: Path) -> None:
    """A LightGBM text model saved without a checksum: refuse one that does not end as LightGBM
    writes it (a truncated file can crash LightGBM's parser)."""
    text = path.read_bytes()
    if not text.startswith(b"tree\n") or b"\nend of trees" not in text:
        raise ModelFileError(path, "is not a complete LightGBM text model (truncated or damaged)")


def check_lightgbm_params(params: dict) -> None:
    """Raise ValueError unless every key is a LightGBM parameter (or alias) and LightGBM
    accepts every value, e.g. "`nonexistent_param` is not a LightGBM parameter (got 3)".

    >>> check_lightgbm_params({"num_leaves": 15, "min_child_samples": 40})
    >>> check_lightgbm_params({"num_leave": 15})
    Traceback (most recent call last):
    ...
    ValueError: `num_leave` is not a LightGBM parameter or alias (got 15); did you mean 'num_leaves'?
    """
    if not isinstance(params, dict):
        raise TypeError(f"`params` must be a dict of LightGBM parameters, got {type(params).__name__}")
    names = _lightgbm_names()
    for key, value in params.items():
        if names is not None and key not in names:
            close = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"`{key}` is not a LightGBM parameter or alias (got {value!r}){hint}")
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.arange(20) % 2
    try:
        with _quiet_stderr():
            lgb.train({**DEFAULT_PARAMS, **params, "verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), num_boost_round=1)
    except lgb.basic.LightGBMError as exc:
        message = " ".join(str(exc).split())
        message = re.sub(r" at \S+config\S*, line \d+ ?\.?", "", message)
        raise ValueError(f"LightGBM refuses them: {message}") from None


class ChurnModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier for churn, a scikit-learn estimator.

    Early stopping and calibration need a later period than the training rows: ``fit``
    takes it as ``validation=(X_val, y_val)`` (with rolling snapshots, the validation
    cutoff; see :func:`churnlab.models.time_split`).

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters merged over churnlab's defaults.
    num_boost_round : int
        Upper bound on trees; early stopping on the validation set picks the number.
    early_stopping_rounds : int
    imbalance : {"balanced", "none"}
    calibration : {"platt", "isotonic", None}
        Fitted on the validation set's predictions.
    seed : int
    num_threads : int
        Fixed so results do not depend on the machine's core count.
    ignore_features : list of str, optional
        Features kept as inputs but emptied for training, so no tree uses them (their SHAP
        values are 0); e.g. those :func:`churnlab.models.screening.permutation_screen` drops.
    min_category_rows : int
        Levels of a categorical feature seen in fewer training rows are pooled with missing
        values (training and prediction alike): too rare to learn from.

    Attributes
    ----------
    booster_ : lightgbm.Booster
    classes_ : ndarray, ``[0, 1]`` (1 = churned)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    feature_names_ : list of str
    categories_ : dict
        Categories of each categorical feature, applied again at prediction time.
    best_iteration_ : int
    calibrator_ : Calibrator or None
    refit_rows_ : int or None
        Rows of the :meth:`refit` that made this model (None: fitted with early stopping).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.exponential(30, 600), "orders": rng.poisson(3, 600).astype(float)})
    >>> y = (X["recency"] + rng.normal(0, 10, 600) > 35).astype(int)
    >>> model = ChurnModel(num_boost_round=50).fit(X[:400], y[:400], validation=(X[400:], y[400:]))
    >>> model.predict_proba(X[:3]).shape, model.classes_.tolist()
    ((3, 2), [0, 1])
    """

    MODEL_FILE = "model.txt"  # LightGBM's own text format
    MODEL_TYPE = "lightgbm"

    def __init__(
        self,
        params: dict | None = None,
        num_boost_round: int = 1000,
        early_stopping_rounds: int = 50,
        imbalance: str = "balanced",
        calibration: str | None = "platt",
        seed: int = 0,
        num_threads: int = 2,
        ignore_features: list[str] | None = None,
        min_category_rows: int = 30,
    ):
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.imbalance = imbalance
        self.calibration = calibration
        self.seed = seed
        self.num_threads = num_threads
        self.ignore_features = ignore_features
        self.min_category_rows = min_category_rows

    def _blank_ignored(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with the ignored features emptied (missing): no tree can split on them."""
        unknown = [c for c in self.ignore_features or [] if c not in X.columns]
        if unknown:
            raise ValueError(f"`ignore_features`: {unknown[:5]} not in the features")
        if not self.ignore_features:
            return X
        X = X.copy()
        for col in self.ignore_features:
            s = X[col]
            X[col] = pd.Categorical([None] * len(s), categories=s.cat.categories) \
                if isinstance(s.dtype, pd.CategoricalDtype) else np.full(len(s), np.nan)
        return X

    def _lgb_params(self, y: np.ndarray) -> dict:
        if self.imbalance not in ("balanced", "none"):
            raise ValueError(f"`imbalance` must be 'balanced' or 'none', got {self.imbalance!r}")
        if self.calibration not in ("platt", "isotonic", None):
            raise ValueError(f"`calibration` must be 'platt', 'isotonic' or None, got {self.calibration!r}")
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        pos = float(np.sum(y == 1))
        if pos == 0 or pos == len(y):
            raise ValueError("training labels hold a single class; churn cannot be learned")
        params.update(
            {
                "seed": self.seed,
                "deterministic": True,
                "force_col_wise": True,
                "num_threads": self.num_threads,
                "metric": ["auc", "binary_logloss"],
                "first_metric_only": True,
            }
        )
        if self.imbalance == "balanced":
            params["scale_pos_weight"] = (len(y) - pos) / pos
        return params

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        check_feature_frame(self, X)
        X = X[self.feature_names_].copy()
        for col, cats in self.categories_.items():
            s = X[col]
            if isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == list(cats):
                continue  # already coded as in training (the feature builder's output)
            X[col] = pd.Categorical(s.astype(object), categories=cats)
        return X

    def fit(self, X: pd.DataFrame, y, *, validation: tuple[pd.DataFrame, object] | None = None) -> "ChurnModel":
        """Train on ``(X, y)``; early-stop and calibrate on ``validation=(X_val, y_val)``."""
        if validation is None or len(validation) != 2:
            raise TypeError("`validation` must be (X_val, y_val): early stopping and calibration need a later period")
        X_val, y_val = validation
        for name, frame in (("X", X), ("validation[0]", X_val)):
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"`{name}` must be a DataFrame, got {type(frame).__name__}")
        y = binary_labels(y, "y", len(X))
        y_val = binary_labels(y_val, "validation[1]", len(X_val))
        self._learn_inputs(X)
        params = self._lgb_params(y)
        train = self._dataset(X, y)
        valid = lgb.Dataset(self._blank_ignored(self._prepare(X_val)), y_val, reference=train)
        self.booster_ = lgb.train(
            params,
            train,
            num_boost_round=self.num_boost_round,
            valid_sets=[valid],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.lgb_params_ = params
        self.refit_rows_ = None
        self.calibrator_ = None
        if self.calibration is not None:
            self.calibrator_ = Calibrator(self.calibration).fit(self.predict_raw(X_val), y_val)
        return self

    def _learn_inputs(self, X: pd.DataFrame) -> None:
        """The fitted attributes that describe the inputs: names, classes and the categories kept."""
        self.feature_names_ = list(X.columns)
        self.feature_names_in_ = np.asarray(self.feature_names_, dtype=object)
        self.n_features_in_ = len(self.feature_names_)
        self.classes_ = np.array([0, 1])
        if isinstance(self.min_category_rows, bool) or not isinstance(self.min_category_rows, int) or self.min_category_rows < 0:
            raise ValueError(f"`min_category_rows` must be an integer >= 0, got {self.min_category_rows!r}")
        self.categories_ = {}
        for c in X.columns:
            if isinstance(X[c].dtype, pd.CategoricalDtype):
                counts = X[c].value_counts()
                self.categories_[c] = [v for v in X[c].cat.categories if counts.get(v, 0) >= self.min_category_rows]

    def _dataset(self, X: pd.DataFrame, y: np.ndarray) -> lgb.Dataset:
        return lgb.Dataset(self._blank_ignored(self._prepare(X)), y, categorical_feature=list(self.categories_) or "auto",
                           free_raw_data=True)

    def refit(self, X: pd.DataFrame, y, *, calibrator: Calibrator | None | str = "keep") -> "ChurnModel":
        """A new model of the same parameters and ignored features trained on ``(X, y)`` (the
        model's columns) for exactly :attr:`best_iteration_` rounds, without early stopping: e.g.
        on the training and validation periods once validation has chosen the model. Its
        calibration is ``calibrator``: this model's (``"keep"``), one fitted elsewhere, or None
        (see :meth:`calibrate`). ``refit_rows_`` holds ``len(X)``.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"recency": rng.exponential(30, 600), "orders": rng.poisson(3, 600).astype(float)})
        >>> y = (X["recency"] + rng.normal(0, 10, 600) > 35).astype(int)
        >>> chosen = ChurnModel(num_boost_round=200).fit(X[:400], y[:400], validation=(X[400:], y[400:]))
        >>> shipped = chosen.refit(X, y)
        >>> shipped.booster_.current_iteration() == chosen.best_iteration_, shipped.refit_rows_
        (True, 600)
        """
        check_fitted(self, "booster_")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"`X` must be a DataFrame, got {type(X).__name__}")
        if list(X.columns) != list(self.feature_names_):
            raise ValueError("`X` must hold the model's feature columns in its order")
        new = clone(self)
        y = binary_labels(y, "y", len(X))
        new._learn_inputs(X)
        new.lgb_params_ = new._lgb_params(y)
        new.booster_ = lgb.train(new.lgb_params_, new._dataset(X, y), num_boost_round=self.best_iteration_)
        new.best_iteration_ = self.best_iteration_
        new.refit_rows_ = int(len(X))
        new.calibrator_ = self.calibrator_ if isinstance(calibrator, str) and calibrator == "keep" else calibrator
        return new

    def calibrate(self, raw_scores, y) -> "ChurnModel":
        """Fit this model's calibration (``calibration``: Platt or isotonic) on raw scores and
        labels from rows it did not train on, e.g. stacked out-of-time predictions
        (:func:`churnlab.models.calibration.out_of_time_scores`); without ``calibration``,
        nothing is fitted. Returns the model."""
        check_fitted(self, "booster_")
        self.calibrator_ = None if self.calibration is None else Calibrator(self.calibration).fit(raw_scores, binary_labels(y, "y", len(raw_scores)))
        return self

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """What the booster reads: the training columns, categories as training codes."""
        return lightgbm_matrix(self._prepare(X))

    def _sigmoid_scale(self) -> float | None:
        """``S`` of LightGBM's ``binary sigmoid:S`` objective, None for any other objective."""
        objective = str(self.booster_.dump_model(num_iteration=1).get("objective", ""))
        m = re.fullmatch(r"binary sigmoid:([0-9.eE+-]+)", objective)
        return float(m.group(1)) if m else None

    def _raw_from_margin(self, A: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
        """Probability before calibration from the raw margin (LightGBM's sum of leaf values).

        Every path computes it here, with numpy's ``exp``: the margin is the same bits on any
        CPU, but ``exp`` implementations differ in the last bit between libraries and CPUs
        (numpy's AVX-512 kernel vs the C library's), so the one conversion keeps batch scoring,
        ``churn_probability`` and the pyfunc model bit-identical to each other on one machine.
        """
        scale = self._sigmoid_scale()
        if scale is None:  # another objective: LightGBM's own conversion
            return self.booster_.predict(A, num_iteration=self.best_iteration_)
        if margin is None:
            margin = self.booster_.predict(A, num_iteration=self.best_iteration_, raw_score=True)
        return 1.0 / (1.0 + np.exp(-scale * margin))

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's probability before calibration (equal to ``booster_.predict`` to 1e-15
        relative; the margin is LightGBM's own, the sigmoid numpy's)."""
        return self._raw_from_margin(self._matrix(X))

    def churn_probability(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability per row, shape (n,)."""
        raw = self.predict_raw(X)
        return self.calibrator_.transform(raw) if self.calibrator_ is not None else raw

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of ``classes_`` (stays, churns) per row, shape (n, 2)."""
        p = self.churn_probability(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (churns) where the churn probability is at least 0.5, else 0."""
        return (self.churn_probability(X) >= 0.5).astype(int)

    def warm_up(self) -> None:
        """Load the SHAP engine (numba kernels and the training patterns saved with the model)
        so that the first explanation does not pay for it; e.g. while features are built."""
        self._engine().load_kernels()

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """LightGBM's TreeSHAP values (log-odds), last column the expected value.

        The values are LightGBM's own ``pred_contrib`` ones, evaluated once per distinct
        decision pattern of each tree and cached on the model (``churnlab.explain.treeshap``): equal
        to ``pred_contrib=True`` up to summation order (~1e-14), tens of times faster on
        customer bases where many customers share a tree's branch pattern.
        """
        return self._engine().contributions(self._matrix(X))

    def churn_probability_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`churn_probability` and :meth:`contributions` of the same rows from one pass.

        The probability comes from the SHAP engine's margin (the cached patterns' leaf values
        added in tree order, LightGBM's raw score to the bit) through the same sigmoid as
        :meth:`churn_probability`, so the two are bit-identical on one machine; batch scoring uses this
        so that each tree is walked once per customer rather than twice.
        """
        engine = self._engine()
        A = self._matrix(X)
        contrib, margin = engine.contributions_and_margin(A)
        raw = self._raw_from_margin(A, margin)
        return (self.calibrator_.transform(raw) if self.calibrator_ is not None else raw), contrib

    def _engine(self) -> PatternTreeSHAP:
        engine = getattr(self, "_treeshap", None)
        if engine is None or engine.booster is not self.booster_ or engine.num_iteration != self.best_iteration_:
            engine = self._treeshap = PatternTreeSHAP(self.booster_, self.best_iteration_)
            saved = getattr(self, "_patterns_file", None)
            # the named file's bytes, read at loading when the model's folder was a temporary
            # download; without a file name the model has no patterns to import
            held = getattr(self, "_patterns_data", None)
            if saved is not None and (held is not None or Path(saved).is_file()):
                # a file the metadata records was verified by from_files; an unrecorded one
                # (beside a model saved without it) is only a cache: unreadable, it is not used
                try:
                    with np.load(io.BytesIO(held) if held is not None else saved, allow_pickle=False) as data:
                        if not engine.import_patterns(data):
                            warnings.warn(f"{saved}: SHAP patterns of another model, not used", stacklevel=2)
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                    warnings.warn(f"{saved}: unreadable SHAP patterns, not used ({exc})", stacklevel=2)
        return engine

    def cache_explanations(self, X: pd.DataFrame, max_mb: float = 64.0) -> int:
        """Compute the SHAP values of the decision patterns of ``X``'s rows (e.g. the training
        rows, newest first) and keep them with the model: :meth:`to_files` saves them, so
        that explaining and scoring in a fresh process start with them cached. Rows are taken
        in order, in blocks, until the cache holds about ``max_mb`` MiB. Returns how many
        (tree, pattern) values are cached. Explanations are the same with or without."""
        if max_mb < 0:
            raise ValueError(f"`max_mb` must be >= 0, got {max_mb}")
        engine = self._engine()
        if not engine.kernels_available():
            return 0  # LightGBM's own pred_contrib serves: nothing to cache
        for lo in range(0, len(X), 50_000):
            if engine.cached_patterns * engine.store.shape[1] * 8 >= max_mb * 2**20:
                break
            self.contributions(X.iloc[lo : lo + 50_000])
        return engine.cached_patterns

    def __getstate__(self):
        # the SHAP pattern cache is rebuilt on demand; do not ship it (e.g. to Spark executors)
        state = dict(super().__getstate__())  # a copy: the base class may hand back __dict__ itself
        state.pop("_treeshap", None)
        return state

    def feature_importance(self) -> pd.DataFrame:
        """Per feature: ``importance`` (= ``gain``, LightGBM's total gain) and ``split`` counts."""
        gain = self.booster_.feature_importance("gain", iteration=self.best_iteration_)
        split = self.booster_.feature_importance("split", iteration=self.best_iteration_)
        out = (
            pd.DataFrame({"feature": self.feature_names_, "importance": gain, "gain": gain, "split": split})
            .sort_values(["gain", "feature"], ascending=[False, True])
            .reset_index(drop=True)
        )
        out.attrs["measure"] = "total gain"
        return out

    def describe_params(self) -> dict:
        """What a training run logs about the fitted model: LightGBM's parameters and the trees kept."""
        check_fitted(self, "booster_")
        refit = getattr(self, "refit_rows_", None)
        return {**{f"lgbm.{k}": v for k, v in self.lgb_params_.items()}, "best_iteration": self.best_iteration_,
                **({"refit_rows": refit} if refit is not None else {})}

    # --- persistence in LightGBM's own text format plus JSON, never a pickle ---------
    def to_files(self, booster_path, meta_path, extra: dict | None = None) -> None:
        self.booster_.save_model(str(booster_path), num_iteration=self.best_iteration_)
        meta = {
            "model_type": self.MODEL_TYPE,
            "feature_names": self.feature_names_,
            "categories": {k: [str(c) for c in v] for k, v in self.categories_.items()},
            "best_iteration": self.best_iteration_,
            "calibration": self.calibrator_.to_dict() if self.calibrator_ is not None else None,
            "init_params": {
                "params": self.params,
                "num_boost_round": self.num_boost_round,
                "early_stopping_rounds": self.early_stopping_rounds,
                "imbalance": self.imbalance,
                "calibration": self.calibration,
                "seed": self.seed,
                "num_threads": self.num_threads,
                "ignore_features": self.ignore_features,
                "min_category_rows": self.min_category_rows,
            },
            **(extra or {}),
        }
        engine = getattr(self, "_treeshap", None)
        patterns = Path(booster_path).with_name(PATTERNS_FILE)
        saved = [Path(booster_path)]
        if engine is not None and engine.cached_patterns:
            with open(patterns, "wb") as fh:  # np.savez would add ".npz" to a name without it
                np.savez_compressed(fh, **engine.export_patterns())
            saved.append(patterns)
        elif patterns.exists():  # never leave another model's patterns beside this one
            patterns.unlink()
        # the metadata last: it records the size and sha256 of every file written above
        with open(meta_path, "w") as fh:
            json.dump(record_checksums(meta, saved), fh, indent=2, default=str, sort_keys=True)

    @classmethod
    def from_files(cls, booster_path, meta_path) -> tuple["ChurnModel", dict]:
        meta = read_metadata(meta_path)
        # every recorded file (the booster, the SHAP patterns) is checked before LightGBM or
        # numpy parses it: a damaged model.txt can crash the process inside LightGBM
        verified = verify_files(meta, Path(booster_path).parent, required=[Path(booster_path).name])
        if Path(booster_path).name not in verified:  # saved without checksums: its end at least
            _check_booster_text(Path(booster_path))
        model = cls(**meta["init_params"])
        try:
            with _quiet_stderr():
                model.booster_ = lgb.Booster(model_file=str(booster_path))
        except lgb.basic.LightGBMError as exc:
            raise ModelFileError(booster_path, f"is not a LightGBM model LightGBM can read ({' '.join(str(exc).split())})") from None
        model.feature_names_ = meta["feature_names"]
        model.feature_names_in_ = np.asarray(model.feature_names_, dtype=object)
        model.n_features_in_ = len(model.feature_names_)
        model.classes_ = np.array([0, 1])
        model.categories_ = meta["categories"]
        model.best_iteration_ = meta["best_iteration"]
        model.calibrator_ = Calibrator.from_dict(meta["calibration"]) if meta["calibration"] else None
        # SHAP values cached at training time, read when first needed (see cache_explanations)
        model._patterns_file = str(Path(booster_path).with_name(PATTERNS_FILE))
        return model, meta
