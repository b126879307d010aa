"""Models: the LightGBM churn model, the regularised logistic regression, its calibration, the baselines it is compared with
(recency rule, RFM logistic regression, BG/NBD), the Gamma-Gamma spend model, the time split
and the evaluation metrics."""

from churnlab.models.baselines import BGNBDAlive, RecencyRule, RFMLogistic
from churnlab.models.bgnbd import BGNBD, rfm_summary
from churnlab.models.calibration import Calibrator
from churnlab.models.evaluate import calibration_table, compare_models, evaluate_scores, gains_table
from churnlab.models.gamma_gamma import GammaGamma
from churnlab.models.lightgbm import ChurnModel, check_lightgbm_params
from churnlab.models.linear import LinearChurnModel
from churnlab.models.search import search_lightgbm
from churnlab.models.split import time_split

__all__ = [
    "BGNBD",
    "BGNBDAlive",
    "Calibrator",
    "ChurnModel",
    "GammaGamma",
    "LinearChurnModel",
    "MODEL_TYPES",
    "load_model_files",
    "RFMLogistic",
    "RecencyRule",
    "calibration_table",
    "check_lightgbm_params",
    "compare_models",
    "evaluate_scores",
    "gains_table",
    "rfm_summary",
    "search_lightgbm",
    "time_split",
]

#: what ``churnlab.json``'s ``model_type`` names (absent: lightgbm)
MODEL_TYPES = {cls.MODEL_TYPE: cls for cls in (ChurnModel, LinearChurnModel)}


def load_model_files(folder, meta_name: str = "churnlab.json"):
    """(model, metadata) from a folder holding ``churnlab.json`` and the model file its
    ``model_type`` names (``model.txt`` for LightGBM, ``linear_model.json`` for the logistic
    regression)."""
    from pathlib import Path

    from churnlab.models.files import read_metadata

    meta_path = Path(folder) / meta_name
    kind = read_metadata(meta_path).get("model_type", ChurnModel.MODEL_TYPE)  # ModelFileError if damaged
    if kind not in MODEL_TYPES:
        raise ValueError(f"{meta_path}: unknown model_type {kind!r} (known: {sorted(MODEL_TYPES)})")
    cls = MODEL_TYPES[kind]
    return cls.from_files(Path(folder) / cls.MODEL_FILE, meta_path)
