"""What the logged pyfunc model takes: its MLflow input schema.

The schema names the features the model reads, each with its type, every one required:
a request without one of them is refused by MLflow (400, "Model is missing inputs [...]")
before the model runs. Features the model was trained with but does not read (LightGBM's
screened-out features, the columns a linear model left out) are not in it; the pyfunc
model fills them in as missing, which changes no prediction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.types.schema import AnyType, ColSpec, DataType, Schema

__all__ = ["input_schema", "unused_features", "used_features"]


def used_features(model) -> list[str]:
    """The features ``model`` reads, in its training order.

    Parameters
    ----------
    model : ChurnModel or LinearChurnModel
        Fitted.

    Returns
    -------
    list of str
        LightGBM: every feature but ``ignore_features`` (emptied before fitting, so no tree
        splits on them); logistic regression: the columns of its design.

    Examples
    --------
    >>> from churnlab.models import ChurnModel
    >>> m = ChurnModel(ignore_features=["b"])
    >>> m.feature_names_ = ["a", "b", "c"]
    >>> used_features(m)
    ['a', 'c']
    """
    spec = getattr(model, "spec_", None)
    read = {s["feature"] for s in spec} if spec is not None else None
    ignored = set(getattr(model, "ignore_features", None) or [])
    return [f for f in model.feature_names_ if f not in ignored and (read is None or f in read)]


def unused_features(model) -> list[str]:
    """The features ``model`` was trained with but does not read (see :func:`used_features`)."""
    used = set(used_features(model))
    return [f for f in model.feature_names_ if f not in used]


def _column_type(dtype) -> DataType | AnyType:
    """MLflow's type of a feature column of dtype ``dtype``: numbers keep their width
    (MLflow refuses to narrow or to widen int64 to double); text and categories are Any,
    since MLflow's ``string`` refuses pandas categoricals, the feature builder's own output
    (the model maps text and categories to its training levels alike)."""
    if pd.api.types.is_bool_dtype(dtype):
        return DataType.boolean
    if pd.api.types.is_float_dtype(dtype):
        return DataType.float if np.dtype(dtype).itemsize <= 4 else DataType.double
    if pd.api.types.is_integer_dtype(dtype):
        return DataType.integer if np.dtype(dtype).itemsize <= 4 else DataType.long
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DataType.datetime
    return AnyType()


def input_schema(model, X: pd.DataFrame) -> Schema:
    """The model's input schema: one required column per used feature, typed from ``X``.

    Parameters
    ----------
    model : ChurnModel or LinearChurnModel
        Fitted.
    X : DataFrame
        Rows of the feature frame it was trained on (their dtypes give the types).

    Returns
    -------
    mlflow.types.Schema

    Examples
    --------
    >>> from churnlab.models import ChurnModel
    >>> m = ChurnModel(ignore_features=["b"])
    >>> m.feature_names_ = ["a", "b", "tier"]
    >>> X = pd.DataFrame({"a": [1.0], "b": [2.0], "tier": pd.Categorical(["gold"])})
    >>> [(c.name, repr(c.type), c.required) for c in input_schema(m, X).inputs]
    [('a', 'double', True), ('tier', 'Any', True)]
    """
    missing = [f for f in used_features(model) if f not in X.columns]
    if missing:
        raise ValueError(f"features: missing column(s) {missing[:10]} the model reads")
    return Schema([ColSpec(type=_column_type(X[f].dtype), name=f, required=True) for f in used_features(model)])
