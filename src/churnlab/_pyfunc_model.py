"""MLflow "models from code" entry point: the churn pyfunc model is defined by code, not pickled.

``log_churn_model`` logs this file as the model; MLflow runs it at load time, with
churnlab's source attached to the model as a code path.
"""

import mlflow

from churnlab.tracking import ChurnPyfunc

mlflow.models.set_model(ChurnPyfunc())
