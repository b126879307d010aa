"""A regularised logistic regression on churnlab's features, with exact linear SHAP.

Preprocessing, learned on the training rows only:

- numbers: ``log1p`` when the column is never negative in training (counts, amounts, days),
  missing values imputed with the training median plus a missing-indicator column when the
  training rows hold any;
- categories: one column per level seen at least ``min_category_count`` times in training;
  rarer levels share one ``other`` column; missing or unseen levels are all zeros;
- every design column is standardised with its training mean and standard deviation.

``C`` (inverse L2 strength) is chosen from ``C_grid`` by ``metric`` on the validation rows;
the smallest ``C`` wins ties. With standardised columns the training mean of each design
column is 0, so the exact interventional SHAP value of a design column is ``coef * z`` and
the expected value is the intercept; a feature's SHAP value is the sum over its design
columns (value and missing indicator, or its levels). They add up to the log-odds.

The fitted model is plain numbers: :meth:`LinearChurnModel.to_files` writes JSON, never a
pickle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from churnlab.checks import binary_labels, check_feature_frame, check_fitted, is_text_dtype
from churnlab.models.evaluate import METRICS_HIGHER_IS_BETTER, validation_metric
from churnlab.models.files import ModelFileError, read_metadata, record_checksums, verify_files

__all__ = ["LinearChurnModel"]

OTHER = "other"


class LinearChurnModel(ClassifierMixin, BaseEstimator):
    """Regularised logistic regression on a feature frame, ``C`` chosen on a later period.

    Parameters
    ----------
    C_grid : tuple of float
        Inverse regularisation strengths tried; each is fitted on the training rows and scored
        on ``validation``.
    metric : str
        Validation metric that picks ``C`` (see :func:`churnlab.models.evaluate.validation_metric`).
    min_category_count : int
        Levels seen fewer times in training share the ``other`` column.
    columns : list of str, optional
        Use only these columns (e.g. recency, frequency and order value); the others get
        zero weight but stay part of the model's inputs.

    Attributes
    ----------
    classes_ : ndarray, ``[0, 1]``
    feature_names_ : list of str
    n_features_in_ : int
    C_ : float
    coef_ : ndarray
        One weight per design column (standardised scale).
    intercept_ : float
        Also the SHAP expected value (log-odds).
    spec_ : list of dict
        The preprocessing of each used feature.
    validation_scores_ : dict
        ``metric`` on validation per ``C``.
    calibrator_ : None
        Logistic regression returns probabilities; no calibration is applied.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.exponential(30, 600),
    ...                   "plan": pd.Categorical(rng.choice(["a", "b"], 600))})
    >>> y = (X["recency"] + rng.normal(0, 10, 600) > 35).astype(int)
    >>> model = LinearChurnModel().fit(X[:400], y[:400], validation=(X[400:], y[400:]))
    >>> model.predict_proba(X[:3]).shape
    (3, 2)
    >>> contrib = model.contributions(X[:3])  # exact: rows add up to the log-odds
    >>> p = model.churn_probability(X[:3])
    >>> bool(np.allclose(contrib.sum(axis=1), np.log(p / (1 - p))))
    True
    """

    MODEL_FILE = "linear_model.json"
    MODEL_TYPE = "logistic_regression"

    def __init__(self, C_grid=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0), metric: str = "pr_auc",
                 min_category_count: int = 30, columns: list[str] | None = None):
        self.C_grid = C_grid
        self.metric = metric
        self.min_category_count = min_category_count
        self.columns = columns

    # ---- preprocessing -------------------------------------------------------------
    def _learn_spec(self, X: pd.DataFrame) -> list[dict]:
        used = list(X.columns) if self.columns is None else list(self.columns)
        missing = [c for c in used if c not in X.columns]
        if missing:
            raise ValueError(f"`columns`: {missing[:5]} not in the features")
        spec = []
        for col in used:
            s = X[col]
            if is_text_dtype(s.dtype):
                counts = s.astype(object).dropna().astype(str).value_counts()
                levels = sorted(counts.index[counts >= self.min_category_count])
                spec.append({"feature": col, "kind": "category", "levels": levels,
                             "other": bool((counts < self.min_category_count).any())})
            else:
                v = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
                finite = v[np.isfinite(v)]
                log = bool(len(finite) and finite.min() >= 0)
                t = np.log1p(finite) if log else finite
                spec.append({"feature": col, "kind": "number", "log1p": log,
                             "median": float(np.median(t)) if len(t) else 0.0,
                             "indicator": bool(len(finite) < len(v))})
        return spec

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        """Design columns (before standardisation), in ``design_groups_`` order."""
        cols = []
        for s in self.spec_:
            x = X[s["feature"]]
            if s["kind"] == "number":
                v = pd.to_numeric(x, errors="coerce").astype(float).to_numpy()
                v = np.where(np.isfinite(v), v, np.nan)
                if s["log1p"]:
                    v = np.log1p(np.clip(v, 0.0, None))  # a negative value unseen in training counts as 0
                missing = np.isnan(v)
                cols.append(np.where(missing, s["median"], v))
                if s["indicator"]:
                    cols.append(missing.astype(float))
            else:
                text = x.astype(object).where(x.notna(), None).map(lambda v: None if v is None else str(v)).to_numpy()
                for level in s["levels"]:
                    cols.append((text == level).astype(float))
                if s["other"]:
                    known = np.isin(text, np.asarray(s["levels"], dtype=object)) | pd.isna(text)
                    cols.append((~known).astype(float))
        return np.column_stack(cols) if cols else np.zeros((len(X), 0))

    def _groups(self) -> np.ndarray:
        index = {f: i for i, f in enumerate(self.feature_names_)}
        groups = []
        for s in self.spec_:
            width = (1 + s["indicator"]) if s["kind"] == "number" else len(s["levels"]) + s["other"]
            groups += [index[s["feature"]]] * width
        return np.asarray(groups, dtype=int)

    def _set_inputs(self, names: list[str]) -> None:
        """The fitted attributes that describe the inputs and classes (fit and from_files)."""
        self.feature_names_ = list(names)
        self.feature_names_in_ = np.asarray(self.feature_names_, dtype=object)
        self.n_features_in_ = len(self.feature_names_)
        self.classes_ = np.array([0, 1])
        self.calibrator_ = None

    def _standardised(self, X: pd.DataFrame) -> np.ndarray:
        check_fitted(self, "coef_")
        check_feature_frame(self, X)
        return (self._design(X) - self.mean_) / self.scale_

    # ---- fit -----------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y, *, validation: tuple[pd.DataFrame, object] | None = None) -> "LinearChurnModel":
        """Fit one regression per ``C`` on ``(X, y)``; keep the best on ``validation=(X_val, y_val)``."""
        if validation is None or len(validation) != 2:
            raise TypeError("`validation` must be (X_val, y_val): C is chosen on a later period")
        grid = tuple(self.C_grid)
        if not grid or any(isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0 for c in grid):
            raise ValueError(f"`C_grid` must hold numbers > 0, got {self.C_grid!r}")
        if self.metric not in METRICS_HIGHER_IS_BETTER:
            raise ValueError(f"`metric` must be one of {sorted(METRICS_HIGHER_IS_BETTER)}, got {self.metric!r}")
        X_val, y_val = validation
        y = binary_labels(y, "y", len(X))
        y_val = binary_labels(y_val, "validation[1]", len(X_val))
        if len(np.unique(y)) < 2:
            raise ValueError("training labels hold a single class; churn cannot be learned")
        Z = self._learn_design(X)
        Z_val = (self._design(X_val) - self.mean_) / self.scale_
        best, self.validation_scores_ = None, {}
        for C in sorted(grid):
            lr = LogisticRegression(C=float(C), max_iter=5000).fit(Z, y)
            score = validation_metric(self.metric, y_val, lr.predict_proba(Z_val)[:, 1])
            self.validation_scores_[float(C)] = score
            if best is None or score > best[0]:
                best = (score, float(C), lr)
        _, self.C_, lr = best
        self.coef_ = lr.coef_[0].astype(float)
        self.intercept_ = float(lr.intercept_[0])
        self.refit_rows_ = None
        return self

    def _learn_design(self, X: pd.DataFrame) -> np.ndarray:
        """Learn the inputs, preprocessing and standardisation on ``X``; its standardised design."""
        self._set_inputs(list(X.columns))
        self.spec_ = self._learn_spec(X)
        D = self._design(X)
        self.mean_ = D.mean(axis=0)
        self.scale_ = np.where(D.std(axis=0) > 0, D.std(axis=0), 1.0)
        return (D - self.mean_) / self.scale_

    def refit(self, X: pd.DataFrame, y) -> "LinearChurnModel":
        """A new model of the same settings trained on ``(X, y)`` (e.g. the training and
        validation periods together) with the ``C`` validation chose (:attr:`C_`): the
        preprocessing is learned again on ``X``. ``refit_rows_`` holds ``len(X)``.

        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> X = pd.DataFrame({"recency": rng.exponential(30, 600)})
        >>> y = (X["recency"] + rng.normal(0, 10, 600) > 35).astype(int)
        >>> chosen = LinearChurnModel().fit(X[:400], y[:400], validation=(X[400:], y[400:]))
        >>> shipped = chosen.refit(X, y)
        >>> shipped.C_ == chosen.C_, shipped.refit_rows_
        (True, 600)
        """
        check_fitted(self, "coef_")
        if not isinstance(X, pd.DataFrame) or list(X.columns) != list(self.feature_names_):
            raise ValueError("`X` must be a DataFrame of the model's feature columns in its order")
        y = binary_labels(y, "y", len(X))
        if len(np.unique(y)) < 2:
            raise ValueError("training labels hold a single class; churn cannot be learned")
        new = type(self)(**self.get_params())
        Z = new._learn_design(X)
        lr = LogisticRegression(C=self.C_, max_iter=5000).fit(Z, y)
        new.C_, new.validation_scores_ = self.C_, dict(self.validation_scores_)
        new.coef_, new.intercept_ = lr.coef_[0].astype(float), float(lr.intercept_[0])
        new.refit_rows_ = int(len(X))
        return new

    # ---- predictions and explanations --------------------------------------------
    def _margin(self, Z: np.ndarray) -> np.ndarray:
        # column by column, not ``Z @ coef``: a matrix product's summation order depends on the
        # BLAS kernel and the number of rows, so one customer's probability would depend on the
        # batch it is scored in; elementwise products and sums give each row the same bits
        margin = np.full(len(Z), self.intercept_)
        for j, w in enumerate(self.coef_):
            margin += Z[:, j] * w
        return margin

    def churn_probability(self, X: pd.DataFrame) -> np.ndarray:
        """Churn probability per row, shape (n,)."""
        return 1.0 / (1.0 + np.exp(-self._margin(self._standardised(X))))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of ``classes_`` (stays, churns) per row, shape (n, 2)."""
        p = self.churn_probability(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (churns) where the churn probability is at least 0.5, else 0."""
        return (self.churn_probability(X) >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact linear SHAP values (log-odds) per feature, last column the expected value."""
        return self.churn_probability_and_contributions(X)[1]

    def churn_probability_and_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`churn_probability` and :meth:`contributions` of the same rows."""
        Z = self._standardised(X)
        per_design = Z * self.coef_
        contrib = np.zeros((len(Z), self.n_features_in_ + 1))
        np.add.at(contrib.T, self._groups(), per_design.T)
        contrib[:, -1] = self.intercept_
        return 1.0 / (1.0 + np.exp(-self._margin(Z))), contrib

    def warm_up(self) -> None:
        """Nothing to load: linear SHAP is a product."""

    def cache_explanations(self, X: pd.DataFrame, max_mb: float = 64.0) -> int:
        """Nothing to cache (see :meth:`warm_up`); returns 0."""
        return 0

    def feature_importance(self) -> pd.DataFrame:
        """Per feature: ``importance``, the sum of its design columns' absolute weights."""
        check_fitted(self, "coef_")
        imp = np.zeros(self.n_features_in_)
        np.add.at(imp, self._groups(), np.abs(self.coef_))
        out = (pd.DataFrame({"feature": self.feature_names_, "importance": imp})
               .sort_values(["importance", "feature"], ascending=[False, True]).reset_index(drop=True))
        out.attrs["measure"] = "sum of |standardised coefficients|"
        return out

    def describe_params(self) -> dict:
        """What a training run logs about the fitted model."""
        refit = getattr(self, "refit_rows_", None)
        return {"C": self.C_, "design_columns": len(self.coef_), "metric": self.metric, **({"refit_rows": refit} if refit is not None else {})}

    # ---- persistence: JSON, never a pickle -----------------------------------------
    def to_files(self, model_path, meta_path, extra: dict | None = None) -> None:
        check_fitted(self, "coef_")
        state = {"spec": self.spec_, "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                 "coef": self.coef_.tolist(), "intercept": self.intercept_, "C": self.C_}
        with open(model_path, "w") as fh:
            json.dump(state, fh, indent=1)
        meta = {"model_type": self.MODEL_TYPE, "feature_names": self.feature_names_,
                "init_params": self.get_params(), **(extra or {})}
        meta["init_params"]["C_grid"] = list(self.C_grid)
        with open(meta_path, "w") as fh:  # the metadata records the model file's size and sha256
            json.dump(record_checksums(meta, [model_path]), fh, indent=2, default=str, sort_keys=True)

    @classmethod
    def from_files(cls, model_path, meta_path) -> tuple["LinearChurnModel", dict]:
        meta = read_metadata(meta_path)
        verify_files(meta, Path(model_path).parent, required=[Path(model_path).name])
        try:
            with open(model_path) as fh:
                state = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelFileError(model_path, f"is not valid JSON (damaged or truncated: {exc})") from None
        model = cls(**{**meta["init_params"], "C_grid": tuple(meta["init_params"]["C_grid"])})
        model._set_inputs(meta["feature_names"])
        model.spec_ = state["spec"]
        model.mean_, model.scale_ = np.asarray(state["mean"]), np.asarray(state["scale"])
        model.coef_, model.intercept_, model.C_ = np.asarray(state["coef"]), float(state["intercept"]), float(state["C"])
        return model, meta
