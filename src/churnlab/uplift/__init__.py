"""Uplift models from campaign logs: whom a retention offer changes, and the incremental
profit of contacting them.

- :mod:`~churnlab.uplift.data`: the ``treatments`` table and the uplift rows (churn label
  from each treatment's ``ts``, features from events strictly before it);
- :mod:`~churnlab.uplift.learners`: the T-learner and X-learner on LightGBM;
- :mod:`~churnlab.uplift.metrics`: Qini and uplift curves, Qini coefficient, AUUC, uplift
  per decile, incremental profit curve;
- :mod:`~churnlab.uplift.model`: the shipped model and its MLflow pyfunc form;
- :mod:`~churnlab.uplift.train`: :func:`train_uplift`.
"""

from churnlab.uplift.data import UpliftRows, load_treatments, uplift_rows, validate_treatments
from churnlab.uplift.learners import TLearner, XLearner, load_learner
from churnlab.uplift.metrics import auuc, best_fraction, profit_curve, qini_coefficient, qini_curve, uplift_by_decile, uplift_curve
from churnlab.uplift.model import UpliftModel, load_uplift_model
from churnlab.uplift.train import UpliftResult, train_uplift

__all__ = [
    "TLearner",
    "UpliftModel",
    "UpliftResult",
    "UpliftRows",
    "XLearner",
    "auuc",
    "best_fraction",
    "load_learner",
    "load_treatments",
    "load_uplift_model",
    "profit_curve",
    "qini_coefficient",
    "qini_curve",
    "train_uplift",
    "uplift_by_decile",
    "uplift_curve",
    "uplift_rows",
    "validate_treatments",
]
