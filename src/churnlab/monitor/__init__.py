"""Trust over time: drift of the scored customers against the model's test period, and the
realized performance of past score files once their horizon has passed."""

from churnlab.monitor.drift import DriftCounter, feature_drift, psi, reference_profile
from churnlab.monitor.realized import realized_performance

__all__ = ["DriftCounter", "feature_drift", "psi", "realized_performance", "reference_profile"]
