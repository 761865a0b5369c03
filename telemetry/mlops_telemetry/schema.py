"""The two artifacts a training run logs for the telemetry, and the binning both sides share.

Standard library only: the training helper (training.py) writes these documents, the telemetry
sidecar (server side) reads them, and both assign a value to a bin with `bin_index` so that the
expected proportions recorded at training time and the live counts are computed the same way.

`mlops/reference.json` (schema "mlops.dev/reference", schema_version 1)::

    {
      "schema": "mlops.dev/reference",
      "schema_version": 1,
      "created_at": "2026-01-01T00:00:00Z",
      "rows": 1200,                       # training rows the statistics were computed on
      "features": [                       # in the order the model takes them
        {"name": "x0",
         "edges": [-1.2, -0.6, 0.0],      # increasing interior cut points (training quantiles)
         "expected": [0.25, 0.25, 0.25, 0.25, 0.0]}   # len(edges) + 2 proportions, sum 1
      ],
      "output": {"kind": "probabilities", "classes": [0, 1, 2]}
    }

A value v of feature f falls in bin `bisect_right(edges, v)` (0 .. len(edges)); the last bin,
index len(edges) + 1, holds missing or non-numeric values. `output.kind` is "probabilities" when
the served model answers one probability vector per row, ordered as `classes`, or "labels" when it
answers one class label per row (`classes` may then be null).

`mlops/evaluation.json` (schema "mlops.dev/evaluation", schema_version 1)::

    {
      "schema": "mlops.dev/evaluation",
      "schema_version": 1,
      "created_at": "...",
      "columns": ["x0", "x1"],             # = the reference's feature names, in order
      "data": [[0.1, 2.3], [0.4, 1.0]],    # rows, as /invocations' dataframe_split takes them
      "labels": [1, 0]                     # the true class of each row
    }
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Sequence

REFERENCE_ARTIFACT = "mlops/reference.json"
EVALUATION_ARTIFACT = "mlops/evaluation.json"
REFERENCE_SCHEMA = "mlops.dev/reference"
EVALUATION_SCHEMA = "mlops.dev/evaluation"
SCHEMA_VERSION = 1
OUTPUT_KINDS = ("probabilities", "labels")
# A class label is compared by this many characters at most (bounded memory per pending row).
MAX_LABEL_CHARS = 64
# Bins are counted in one byte per row and feature: edges + 2 <= 256.
MAX_EDGES = 254


class SchemaError(ValueError):
    """An artifact that does not follow its documented format; the message names the field."""


def as_number(value: Any) -> float | None:
    """The float of a numeric value; None for missing, NaN, booleans and anything non-numeric."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def bin_index(edges: Sequence[float], value: Any) -> int:
    """The bin of `value` for these edges; len(edges) + 1 for missing or non-numeric values."""
    number = as_number(value)
    if number is None:
        return len(edges) + 1
    return bisect.bisect_right(edges, number)


def label_key(label: Any) -> str:
    """How class labels compare: 1, 1.0 and "1" are the same class; booleans are "true"/"false"."""
    if isinstance(label, bool):
        return "true" if label else "false"
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)[:MAX_LABEL_CHARS]


class FeatureReference:
    __slots__ = ("name", "edges", "expected")

    def __init__(self, name: str, edges: list[float], expected: list[float]):
        self.name = name
        self.edges = edges
        self.expected = expected

    @property
    def bins(self) -> int:
        return len(self.edges) + 2


class Reference:
    """A validated `mlops/reference.json`."""

    def __init__(self, features: list[FeatureReference], output_kind: str, classes: list[Any] | None, rows: int):
        self.features = features
        self.output_kind = output_kind
        self.classes = classes
        self.rows = rows
        self.feature_names = [feature.name for feature in features]
        self.index_of = {name: i for i, name in enumerate(self.feature_names)}

    @classmethod
    def from_document(cls, document: Any) -> "Reference":
        if not isinstance(document, dict):
            raise SchemaError(f"{REFERENCE_ARTIFACT}: expected a JSON object, got {type(document).__name__}")
        _check_header(document, REFERENCE_SCHEMA, REFERENCE_ARTIFACT)
        features_doc = document.get("features")
        if not isinstance(features_doc, list) or not features_doc:
            raise SchemaError(f"{REFERENCE_ARTIFACT}: 'features' must be a non-empty list")
        features: list[FeatureReference] = []
        seen: set[str] = set()
        for i, feature in enumerate(features_doc):
            where = f"{REFERENCE_ARTIFACT}: features[{i}]"
            if not isinstance(feature, dict):
                raise SchemaError(f"{where} must be an object")
            name = feature.get("name")
            if not isinstance(name, str) or not name:
                raise SchemaError(f"{where}.name must be a non-empty string, got {name!r}")
            if name in seen:
                raise SchemaError(f"{where}.name {name!r} appears twice")
            seen.add(name)
            edges = feature.get("edges")
            if not isinstance(edges, list) or any(as_number(e) is None for e in edges):
                raise SchemaError(f"{where}.edges must be a list of numbers")
            edges_f = [float(e) for e in edges]
            if any(b <= a for a, b in zip(edges_f, edges_f[1:])):
                raise SchemaError(f"{where}.edges must be strictly increasing, got {edges_f}")
            if len(edges_f) > MAX_EDGES:
                raise SchemaError(f"{where}.edges holds {len(edges_f)} cut points, at most {MAX_EDGES} are supported")
            expected = feature.get("expected")
            if not isinstance(expected, list) or len(expected) != len(edges_f) + 2:
                raise SchemaError(f"{where}.expected must hold len(edges) + 2 = {len(edges_f) + 2} proportions")
            expected_f = [as_number(p) for p in expected]
            if any(p is None or p < 0 for p in expected_f):
                raise SchemaError(f"{where}.expected must be non-negative numbers")
            total = sum(p for p in expected_f if p is not None)
            if abs(total - 1.0) > 1e-6:
                raise SchemaError(f"{where}.expected must sum to 1, got {total}")
            features.append(FeatureReference(name, edges_f, [float(p) for p in expected_f if p is not None]))
        output = document.get("output")
        if not isinstance(output, dict) or output.get("kind") not in OUTPUT_KINDS:
            raise SchemaError(f"{REFERENCE_ARTIFACT}: output.kind must be one of {', '.join(OUTPUT_KINDS)}")
        classes = output.get("classes")
        if output["kind"] == "probabilities" and (not isinstance(classes, list) or len(classes) < 2):
            raise SchemaError(f"{REFERENCE_ARTIFACT}: output.classes must list the classes (2 or more) of a model that outputs probabilities")
        if classes is not None and not isinstance(classes, list):
            raise SchemaError(f"{REFERENCE_ARTIFACT}: output.classes must be a list or null")
        rows = document.get("rows")
        return cls(features, output["kind"], classes, rows if isinstance(rows, int) else 0)


class EvaluationSample:
    """A validated `mlops/evaluation.json`."""

    def __init__(self, columns: list[str], data: list[list[Any]], labels: list[Any]):
        self.columns = columns
        self.data = data
        self.labels = labels

    @classmethod
    def from_document(cls, document: Any) -> "EvaluationSample":
        if not isinstance(document, dict):
            raise SchemaError(f"{EVALUATION_ARTIFACT}: expected a JSON object, got {type(document).__name__}")
        _check_header(document, EVALUATION_SCHEMA, EVALUATION_ARTIFACT)
        columns, data, labels = document.get("columns"), document.get("data"), document.get("labels")
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise SchemaError(f"{EVALUATION_ARTIFACT}: 'columns' must be a non-empty list of names")
        if not isinstance(data, list) or not data:
            raise SchemaError(f"{EVALUATION_ARTIFACT}: 'data' must be a non-empty list of rows")
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise SchemaError(f"{EVALUATION_ARTIFACT}: data[{i}] must be a list of {len(columns)} values")
        if not isinstance(labels, list) or len(labels) != len(data):
            raise SchemaError(f"{EVALUATION_ARTIFACT}: 'labels' must hold one label per row ({len(data)})")
        return cls(columns, data, labels)


def _check_header(document: dict, schema: str, artifact: str) -> None:
    if document.get("schema") != schema:
        raise SchemaError(f"{artifact}: 'schema' must be {schema!r}, got {document.get('schema')!r}")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(
            f"{artifact}: schema_version {document.get('schema_version')!r} is not supported (this telemetry reads {SCHEMA_VERSION})"
        )
