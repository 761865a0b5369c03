"""mlops-telemetry: the model-quality sidecar of a model pod, and the training helper that feeds it.

- `python -m mlops_telemetry` runs the sidecar (app.py; settings in config.py).
- `mlops_telemetry.training` logs what the sidecar needs to the active MLflow run.
- `mlops_telemetry.schema` documents both artifacts.

The sidecar needs the standard library and prometheus_client only (both in
ghcr.io/mlflow/mlflow:v3.17.2-full); the training helper needs mlflow and numpy.
"""

__version__ = "1.0.0"
