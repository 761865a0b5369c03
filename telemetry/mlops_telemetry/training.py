"""The training side: log what the telemetry of a served version needs, to the training run.

    import mlflow
    from mlops_telemetry import training

    with mlflow.start_run():
        model.fit(X_train, y_train)
        # A model served with probabilities: its pyfunc answers predict_proba, one column per class.
        mlflow.sklearn.log_model(model, name="model", pyfunc_predict_fn="predict_proba",
                                 registered_model_name="fraud_detector", input_example=X_train[:5])
        training.log_reference_statistics(X_train, outputs="probabilities", classes=model.classes_)
        training.log_evaluation_sample(X_test, y_test)

Both artifacts are JSON at fixed paths of the run (`mlops/reference.json`, `mlops/evaluation.json`,
formats in schema.py). The registered version's run id leads the telemetry to them. Features are a
pandas DataFrame (its column names are the feature names), a 2-D numpy array or a list of rows
(names from `feature_names`, else "0", "1", …); every feature must be numeric. Needs mlflow and
numpy (pandas only if you pass a DataFrame).
"""

from __future__ import annotations

import datetime
from typing import Any, Sequence

from .schema import (
    EVALUATION_ARTIFACT,
    EVALUATION_SCHEMA,
    MAX_EDGES,
    OUTPUT_KINDS,
    REFERENCE_ARTIFACT,
    REFERENCE_SCHEMA,
    SCHEMA_VERSION,
    EvaluationSample,
    Reference,
)

DEFAULT_BINS = 10
DEFAULT_EVALUATION_ROWS = 1000


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matrix(features: Any, feature_names: Sequence[str] | None) -> tuple[Any, list[str]]:
    """(float matrix rows x features with NaN for missing, names)."""
    import numpy as np

    columns = getattr(features, "columns", None)
    if columns is not None:  # a pandas DataFrame
        names = [str(c) for c in columns]
        if feature_names is not None and list(feature_names) != names:
            raise ValueError(f"feature_names {list(feature_names)} differ from the DataFrame's columns {names}")
        matrix = np.empty((len(features), len(names)), dtype=float)
        for i, name in enumerate(columns):
            try:
                matrix[:, i] = features[name].to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                raise ValueError(f"feature {str(name)!r} is not numeric (dtype {features[name].dtype}); the reference statistics cover numeric features only") from None
        return matrix, names
    try:
        matrix = np.asarray(features, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("features must be numeric: a DataFrame, a 2-D array or a list of rows of numbers") from None
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"features must be 2-D with at least one row and column, got shape {matrix.shape}")
    names = [str(n) for n in feature_names] if feature_names is not None else [str(i) for i in range(matrix.shape[1])]
    if len(names) != matrix.shape[1]:
        raise ValueError(f"feature_names has {len(names)} names for {matrix.shape[1]} features")
    return matrix, names


def reference_statistics(
    features: Any,
    *,
    outputs: str,
    classes: Sequence[Any] | None = None,
    feature_names: Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """The `mlops/reference.json` document of training features (not logged; see log_reference_statistics).

    outputs: "probabilities" when the served model answers one probability vector per row (ordered
    as `classes`, e.g. sklearn's `model.classes_`), "labels" when it answers one label per row.
    bins: quantile bins per feature (deciles by default); ties merge bins.
    """
    import numpy as np

    if outputs not in OUTPUT_KINDS:
        raise ValueError(f"outputs must be one of {', '.join(OUTPUT_KINDS)}, got {outputs!r}")
    if not 2 <= bins <= MAX_EDGES + 1:
        raise ValueError(f"bins must be between 2 and {MAX_EDGES + 1}, got {bins}")
    class_list = [_plain(c) for c in classes] if classes is not None else None
    if outputs == "probabilities" and (class_list is None or len(class_list) < 2):
        raise ValueError("classes (2 or more, in the order of the model's probability columns) are required when outputs='probabilities'")
    matrix, names = _matrix(features, feature_names)
    rows = matrix.shape[0]
    described = []
    for i, name in enumerate(names):
        column = matrix[:, i]
        present = column[~np.isnan(column)]
        if present.size == 0:
            raise ValueError(f"feature {name!r} has no values in the training data")
        edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
        expected = [float(c) / rows for c in counts] + [float(rows - present.size) / rows]
        described.append({"name": name, "edges": [float(e) for e in edges], "expected": expected})
    document = {
        "schema": REFERENCE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_at": _now(),
        "rows": int(rows),
        "features": described,
        "output": {"kind": outputs, "classes": class_list},
    }
    Reference.from_document(document)  # what the telemetry will accept
    return document


def evaluation_sample(
    features: Any,
    labels: Sequence[Any],
    *,
    feature_names: Sequence[str] | None = None,
    max_rows: int = DEFAULT_EVALUATION_ROWS,
    seed: int = 0,
) -> dict[str, Any]:
    """The `mlops/evaluation.json` document: up to `max_rows` labelled rows, drawn without replacement."""
    import numpy as np

    matrix, names = _matrix(features, feature_names)
    label_list = [_plain(v) for v in (labels.tolist() if hasattr(labels, "tolist") else list(labels))]
    if len(label_list) != matrix.shape[0]:
        raise ValueError(f"{len(label_list)} labels for {matrix.shape[0]} rows")
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    chosen = np.arange(matrix.shape[0])
    if len(chosen) > max_rows:
        chosen = np.sort(np.random.default_rng(seed).choice(len(chosen), size=max_rows, replace=False))
    document = {
        "schema": EVALUATION_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_at": _now(),
        "columns": names,
        "data": [[None if np.isnan(v) else float(v) for v in matrix[i]] for i in chosen],
        "labels": [label_list[i] for i in chosen],
    }
    EvaluationSample.from_document(document)
    return document


def log_reference_statistics(features: Any, *, run_id: str | None = None, **options: Any) -> dict[str, Any]:
    """Logs `mlops/reference.json` to `run_id` (default: the active run); options as reference_statistics."""
    import mlflow

    document = reference_statistics(features, **options)
    mlflow.log_dict(document, REFERENCE_ARTIFACT, run_id=run_id)
    return document


def log_evaluation_sample(features: Any, labels: Sequence[Any], *, run_id: str | None = None, **options: Any) -> dict[str, Any]:
    """Logs `mlops/evaluation.json` to `run_id` (default: the active run); options as evaluation_sample."""
    import mlflow

    document = evaluation_sample(features, labels, **options)
    mlflow.log_dict(document, EVALUATION_ARTIFACT, run_id=run_id)
    return document


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value
