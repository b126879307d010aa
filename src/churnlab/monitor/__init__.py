"""Trust over time: drift of the scored customers against the model's test period, a
label-free estimate of the scored list's performance, and the realized performance of past
score files once their horizon has passed."""

from churnlab.monitor.drift import (
    DriftCounter,
    ageing_features,
    drift_verdict,
    feature_drift,
    importance_shares,
    model_drift_counter,
    psi,
    reference_profile,
    training_reference,
)
from churnlab.monitor.estimate import estimate_performance, expected_pr_auc, expected_roc_auc
from churnlab.monitor.realized import realized_performance

__all__ = ["DriftCounter", "ageing_features", "drift_verdict", "estimate_performance", "expected_pr_auc", "expected_roc_auc",
           "feature_drift", "importance_shares", "model_drift_counter", "psi", "realized_performance", "reference_profile",
           "training_reference"]
