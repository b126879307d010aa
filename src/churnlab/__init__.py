"""churnlab: point-in-time correct customer churn prediction."""
__version__ = "0.1.0"
