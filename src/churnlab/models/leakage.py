"""The leakage guard: features that separate the labels on their own, before any model is fitted.

A feature that alone separates the validation labels almost perfectly is, on churn data,
nearly always the label itself or something known only after it (a churn date, a CRM status
exported at the end, a score computed from the label). Training on it ships a model that is
perfect on paper and useless in production, so training stops and names it.

How one feature is measured (:func:`single_feature_auc`):

- a number: the ROC-AUC of its values on the evaluated rows, in either direction
  (``max(auc, 1 - auc)``); a missing value counts as its own lowest value;
- text or categories: each level's churn rate on the TRAINING rows (missing as a level of
  its own, a level unseen in training at the training rows' churn rate), applied to the
  evaluated rows, and the ROC-AUC of that (target encoding fitted on training only, so a
  high-cardinality identifier scores about 0.5, not 1).

Rules:

- stop (:class:`LeakageError`, exit 2 from the CLI): a feature whose validation ROC-AUC is
  at least :data:`LEAKY_AUC`, or that is a copy of the label (two values, none missing, each
  with one label, on the training and validation rows together);
- warn (a ``WARNING:`` note of the run): a feature whose single-feature ROC-AUC on the TEST
  rows is at least :data:`TEST_MIN_AUC` and above the shipped model's validation ROC-AUC by
  more than :data:`TEST_MARGIN`: the label leaks into the last period only (an export made
  at its end);
- ``allow_leaky`` (the config's top-level list) keeps the named features and says so in the
  run's notes. A name there that is no feature of the run is refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

__all__ = ["LEAKY_AUC", "TEST_MARGIN", "TEST_MIN_AUC", "LeakageError", "check_leakage", "holdout_leakage_notes", "is_label_copy",
           "resolve_allowed", "single_feature_auc"]

#: a feature with at least this validation ROC-AUC on its own stops training
LEAKY_AUC = 0.98
#: a feature is named in a warning when its test ROC-AUC beats the model's validation ROC-AUC by more than this ...
TEST_MARGIN = 0.05
#: ... and is at least this
TEST_MIN_AUC = 0.9

_MISSING = "\x00missing"


class LeakageError(ValueError):
    """A feature separates the labels on its own; the CLI exits 2 with its one-line message."""


def _is_text(x: pd.Series) -> bool:
    return isinstance(x.dtype, pd.CategoricalDtype) or x.dtype == object or pd.api.types.is_string_dtype(x.dtype)


def _levels(x: pd.Series) -> pd.Series:
    return x.astype(object).astype(str).where(x.notna().to_numpy(), _MISSING)


def _score(x_fit: pd.Series, y_fit: np.ndarray, x_eval: pd.Series) -> np.ndarray:
    """The evaluated rows' values as one number each (see the module's docstring)."""
    if _is_text(x_fit) or _is_text(x_eval):
        rates = pd.Series(y_fit, dtype=float).groupby(_levels(x_fit).to_numpy()).mean()
        return _levels(x_eval).map(rates).fillna(float(np.mean(y_fit))).to_numpy(dtype=float)
    # ranks keep the order, handle infinities, and put a missing value below every other
    return pd.Series(pd.to_numeric(x_eval, errors="coerce"), dtype=float).rank(method="average", na_option="top").to_numpy()


def single_feature_auc(x_fit, y_fit, x_eval, y_eval) -> float:
    """The ROC-AUC one feature reaches on its own on the evaluated rows, in either direction.

    Parameters
    ----------
    x_fit, y_fit : array-like
        The training rows' values and 0/1 labels (used for text and categories only: each
        level's churn rate).
    x_eval, y_eval : array-like
        The rows the AUC is measured on (validation or test).

    Returns
    -------
    float
        ``max(auc, 1 - auc)``; NaN when ``y_eval`` holds one class.

    Examples
    --------
    >>> single_feature_auc([1, 2], [0, 1], [5.0, None, 1.0, 7.0], [1, 0, 0, 1])
    1.0
    >>> single_feature_auc(["a", "b", "a"], [1, 0, 1], ["b", "a", "c"], [0, 1, 0])
    1.0
    """
    y_eval = np.asarray(y_eval, dtype=float)
    if len(np.unique(y_eval)) < 2:
        return float("nan")
    s = _score(pd.Series(x_fit).reset_index(drop=True), np.asarray(y_fit, dtype=float), pd.Series(x_eval).reset_index(drop=True))
    auc = float(roc_auc_score(y_eval, s))
    return max(auc, 1.0 - auc)


def is_label_copy(x, y) -> bool:
    """Whether ``x`` is the label under another name: two values, none missing, each always
    with the same label (either way round).

    >>> is_label_copy(["Yes", "No", "Yes"], [1, 0, 1]), is_label_copy([0, 1, 1], [1, 0, 0]), is_label_copy([1, 2, 3], [0, 1, 1])
    (True, True, False)
    """
    x = pd.Series(x).reset_index(drop=True)
    if x.isna().any():
        return False
    key = x.astype(object).astype(str)
    if key.nunique() != 2:
        return False
    pairs = pd.DataFrame({"x": key, "y": np.asarray(y)}).drop_duplicates()
    return len(pairs) == 2 and pairs["y"].nunique() == 2


def resolve_allowed(allow: list[str], shown: dict[str, str]) -> dict[str, str]:
    """Feature name -> how the user named it, for each ``allow_leaky`` entry (by the name
    ``shown`` gives it or the feature name); a name that is neither is refused (:class:`LeakageError`)."""
    by_name = {**{f: f for f in shown}, **{v: f for f, v in shown.items()}}
    unknown = [a for a in allow if a not in by_name]
    if unknown:
        raise LeakageError(f"allow_leaky: not a feature of this run: {', '.join(map(repr, unknown))} "
                           f"(give the column as the run names it, e.g. {next(iter(shown.values()))!r})")
    return {by_name[a]: a for a in allow}


def check_leakage(X_train: pd.DataFrame, y_train, X_val: pd.DataFrame, y_val, *, shown: dict[str, str] | None = None,
                  allow: list[str] | tuple = (), remedy: str = "leave {it} out") -> list[str]:
    """Stop on a feature that separates the validation labels on its own; the run's notes otherwise.

    Parameters
    ----------
    X_train, y_train : DataFrame, array-like
        The training rows (they fit the text levels' churn rates).
    X_val, y_val : DataFrame, array-like
        The validation rows, on which each feature's ROC-AUC is measured.
    shown : dict, optional
        Feature name -> the name the user knows it by (``customers.crm_status``, a table
        column); default: the feature name.
    allow : list of str
        ``allow_leaky``: features (by either name) kept whatever their AUC.
    remedy : str
        How to leave a feature out, in the message, ``{it}`` standing for it or them
        (e.g. ``leave {it} out (data.exclude)``).

    Returns
    -------
    list of str
        One note per allowed feature, with its validation ROC-AUC.

    Raises
    ------
    LeakageError
        One line naming every feature at or above :data:`LEAKY_AUC` (or a copy of the label)
        with its validation ROC-AUC; or naming ``allow_leaky`` entries that are no feature.

    Examples
    --------
    >>> X = pd.DataFrame({"spend": [1.0, 2, 3, 4, 5, 6], "status": ["gone", "ok", "gone", "ok", "ok", "gone"]})
    >>> try:
    ...     check_leakage(X, 1 - (X["status"] == "ok").to_numpy(), X, 1 - (X["status"] == "ok").to_numpy())
    ... except LeakageError as exc:
    ...     print(exc)
    leakage: 'status' is a copy of the label (validation ROC-AUC 1.000); leave it out or list it in allow_leaky
    """
    names = list(X_train.columns)
    shown = {f: (shown or {}).get(f, f) for f in names}
    allowed = resolve_allowed(list(allow), shown)
    y_train, y_val = np.asarray(y_train), np.asarray(y_val)
    both_y = np.concatenate([y_train, y_val])
    found, notes = [], []
    for f in names:
        auc = single_feature_auc(X_train[f], y_train, X_val[f], y_val)
        copy = is_label_copy(pd.concat([X_train[f], X_val[f]], ignore_index=True), both_y)
        if f in allowed:
            notes.append(f"allow_leaky: {allowed[f]} (validation ROC-AUC {auc:.3f}{', a copy of the label' if copy else ''}) kept as asked")
        elif copy or auc >= LEAKY_AUC:
            found.append((shown[f], auc, copy))
    if len(found) == 1:
        name, auc, copy = found[0]
        what = (f"{name!r} is a copy of the label (validation ROC-AUC {auc:.3f})" if copy
                else f"{name!r} alone separates the validation labels (ROC-AUC {auc:.3f}, at least {LEAKY_AUC:g})")
        raise LeakageError(f"leakage: {what}; {remedy.format(it='it')} or list it in allow_leaky")
    if found:
        each = ", ".join(f"{name!r} ({auc:.3f}{', a copy of the label' if copy else ''})" for name, auc, copy in found)
        raise LeakageError(f"leakage: {len(found)} features alone separate the validation labels (ROC-AUC at least "
                           f"{LEAKY_AUC:g}, or a copy of the label): {each}; {remedy.format(it='them')} or list them in allow_leaky")
    return notes


def holdout_leakage_notes(X_train: pd.DataFrame, y_train, X_test: pd.DataFrame, y_test, model_validation_auc: float, *,
                         shown: dict[str, str] | None = None, skip=()) -> list[str]:
    """A ``WARNING:`` note for each feature that alone separates the test labels far better
    than the shipped model separates the validation labels (ROC-AUC at least
    :data:`TEST_MIN_AUC` and more than :data:`TEST_MARGIN` above the model's).

    ``skip``: features not to judge (those ``allow_leaky`` kept, already named in the notes).

    >>> X = pd.DataFrame({"late": [0.0, 1, 0, 1]})
    >>> holdout_leakage_notes(X, [0, 1, 1, 0], X, [0, 1, 0, 1], 0.8)[0][:62]
    "WARNING: 'late' alone separates the test labels (ROC-AUC 1.000"
    """
    shown = shown or {}
    notes = []
    for f in X_train.columns:
        if f in skip:
            continue
        auc = single_feature_auc(X_train[f], y_train, X_test[f], y_test)
        if auc >= TEST_MIN_AUC and auc > model_validation_auc + TEST_MARGIN:
            notes.append(f"WARNING: {shown.get(f, f)!r} alone separates the test labels (ROC-AUC {auc:.3f}), far better than "
                         f"the shipped model does on validation ({model_validation_auc:.3f}): it may be known only after the "
                         f"label in the last period (an export made at its end?); check it, then leave it out or list it in allow_leaky")
    return notes
