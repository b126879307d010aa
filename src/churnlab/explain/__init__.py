"""Explanations: exact SHAP values and readable reasons.

- :mod:`~churnlab.explain.treeshap` (with :mod:`~churnlab.explain.kernels`): the SHAP
  engine, LightGBM's TreeSHAP evaluated once per decision pattern of each tree;
- :mod:`~churnlab.explain.shap`: SHAP values of a model's predictions, in log-odds or in
  shares of the probability;
- :mod:`~churnlab.explain.reasons`: per-customer drivers with reason texts, global and
  per-segment drivers;
- :mod:`~churnlab.explain.wording`: how each feature reads as a reason, with the comparison
  that makes it a risk (:mod:`~churnlab.explain.formatting` formats the texts).
"""

from churnlab.explain.reasons import driver_arrays, global_drivers, segment_drivers, top_drivers, with_typical
from churnlab.explain.shap import EXPECTED, probability_contributions, shap_frame, shap_values, tidy_shap

__all__ = [
    "EXPECTED",
    "driver_arrays",
    "global_drivers",
    "probability_contributions",
    "segment_drivers",
    "shap_frame",
    "shap_values",
    "tidy_shap",
    "top_drivers",
    "with_typical",
]
