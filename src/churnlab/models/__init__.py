"""Models: the LightGBM churn model, its calibration, the baselines it is compared with
(recency rule, RFM logistic regression, BG/NBD), the Gamma-Gamma spend model, the time split
and the evaluation metrics."""

from churnlab.models.baselines import BGNBDAlive, RecencyRule, RFMLogistic
from churnlab.models.bgnbd import BGNBD, rfm_summary
from churnlab.models.calibration import Calibrator
from churnlab.models.evaluate import calibration_table, compare_models, evaluate_scores, gains_table
from churnlab.models.gamma_gamma import GammaGamma
from churnlab.models.lightgbm import ChurnModel, check_lightgbm_params
from churnlab.models.split import time_split

__all__ = [
    "BGNBD",
    "BGNBDAlive",
    "Calibrator",
    "ChurnModel",
    "GammaGamma",
    "RFMLogistic",
    "RecencyRule",
    "calibration_table",
    "check_lightgbm_params",
    "compare_models",
    "evaluate_scores",
    "gains_table",
    "rfm_summary",
    "time_split",
]
