"""What the telemetry reads from the scoring server's traffic, never changing it.

Requests: the input rows of `/invocations` in the formats MLflow's scoring server takes
(application/json with `dataframe_split`, `dataframe_records`, `instances` or `inputs`; text/csv
with a header row), as lists of values in the reference's feature order. Parquet and anything else
is not read (the request is still forwarded).

Responses: `{"predictions": [...]}` (or a bare list), one entry per input row: a class label, a
probability vector ordered as the reference's classes, or a record (a DataFrame output) whose keys
are the classes. Each row gives its predicted label and, for probabilities, its confidence (the
top-class probability).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from .schema import Reference, as_number, label_key

JSON_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class Unreadable(ValueError):
    """Why a payload could not be read; the message is one short phrase for the log line."""


def mime_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def request_rows(body: bytes, content_type: str | None, feature_names: list[str], limit: int) -> list[list[Any]]:
    """The last `limit` input rows, each a list of values in `feature_names` order (None when absent)."""
    kind = mime_type(content_type)
    if kind == "text/csv":
        return _csv_rows(body, feature_names, limit)
    if kind != "application/json":
        raise Unreadable(f"content type {kind or '(none)'} is not read")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise Unreadable(f"request body is not JSON ({error.__class__.__name__})") from None
    if not isinstance(document, dict):
        raise Unreadable("request JSON is not an object")
    key = next((k for k in JSON_KEYS if k in document), None)
    if key is None:
        raise Unreadable(f"request JSON has none of {', '.join(JSON_KEYS)}")
    value = document[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise Unreadable("dataframe_split has no data list")
        columns = value.get("columns")
        data = value["data"][-limit:]
        if columns is None:
            return [_positional(row, feature_names) for row in data]
        if not isinstance(columns, list):
            raise Unreadable("dataframe_split.columns is not a list")
        return [_by_columns(row, columns, feature_names) for row in data]
    if isinstance(value, dict):
        # Columnar: {"x0": [..], "x1": [..]}
        columns = [value.get(name) for name in feature_names]
        lengths = {len(c) for c in columns if isinstance(c, list)}
        if len(lengths) != 1 or any(c is not None and not isinstance(c, list) for c in columns):
            raise Unreadable(f"{key} columns are not lists of one length")
        (n,) = lengths
        start = max(0, n - limit)
        return [[c[i] if isinstance(c, list) else None for c in columns] for i in range(start, n)]
    if not isinstance(value, list):
        raise Unreadable(f"{key} is neither a list nor an object")
    rows = value[-limit:]
    return [_record(row, feature_names) if isinstance(row, dict) else _positional(row, feature_names) for row in rows]


def _csv_rows(body: bytes, feature_names: list[str], limit: int) -> list[list[Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("CSV body is not UTF-8") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise Unreadable("CSV body has no header row")
    rows: list[list[Any]] = []
    for row in reader:
        if row:
            rows.append(_by_columns(row, header, feature_names))
            if len(rows) > limit:
                del rows[0]
    return rows


def _positional(row: Any, feature_names: list[str]) -> list[Any]:
    if not isinstance(row, list) or len(row) != len(feature_names):
        raise Unreadable(f"a row is not a list of {len(feature_names)} values")
    return row


def _by_columns(row: Any, columns: list[Any], feature_names: list[str]) -> list[Any]:
    if not isinstance(row, list) or len(row) != len(columns):
        raise Unreadable(f"a row does not hold {len(columns)} values")
    by_name = {str(column): value for column, value in zip(columns, row)}
    return [by_name.get(name) for name in feature_names]


def _record(row: dict, feature_names: list[str]) -> list[Any]:
    return [row.get(name) for name in feature_names]


# ---- responses ----------------------------------------------------------------------------------

class Predictions:
    __slots__ = ("labels", "confidences")

    def __init__(self, labels: list[str], confidences: list[float]):
        self.labels = labels
        self.confidences = confidences


def response_predictions(body: bytes, reference: Reference | None) -> Predictions:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Unreadable("response body is not JSON") from None
    rows = document.get("predictions") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise Unreadable("response has no predictions list")
    classes = reference.classes if reference is not None else None
    wants_probabilities = reference is not None and reference.output_kind == "probabilities"
    labels: list[str] = []
    confidences: list[float] = []
    for row in rows:
        if isinstance(row, dict):
            row = _record_prediction(row, classes)
        if isinstance(row, list):
            if reference is not None and not wants_probabilities:
                raise Unreadable("a prediction is a list, but the reference says the model outputs labels")
            label, confidence = _from_probabilities(row, classes)
            labels.append(label)
            confidences.append(confidence)
        elif isinstance(row, (str, int, float, bool)):
            if wants_probabilities:
                raise Unreadable("a prediction is a single value, but the reference says the model outputs probabilities")
            labels.append(label_key(row))
        else:
            raise Unreadable(f"a prediction is a {type(row).__name__}")
    return Predictions(labels, confidences)


def _record_prediction(row: dict, classes: list[Any] | None) -> Any:
    if classes is not None:
        keys = [label_key(c) for c in classes]
        by_key = {label_key(k): v for k, v in row.items()}
        if all(k in by_key for k in keys):
            return [by_key[k] for k in keys]
    if len(row) == 1:
        return next(iter(row.values()))
    raise Unreadable("a prediction record has neither one value nor one key per class")


def _from_probabilities(row: list, classes: list[Any] | None) -> tuple[str, float]:
    numbers = [as_number(p) for p in row]
    if not numbers or any(p is None or p < -1e-9 or p > 1 + 1e-9 for p in numbers):
        raise Unreadable("a probability vector holds values outside 0..1")
    if classes is not None and len(numbers) != len(classes):
        raise Unreadable(f"a probability vector has {len(numbers)} values for {len(classes)} classes")
    best = max(range(len(numbers)), key=lambda i: numbers[i])  # type: ignore[arg-type, return-value]
    confidence = float(numbers[best])  # type: ignore[arg-type]
    if math.isnan(confidence):
        raise Unreadable("a probability is NaN")
    label = label_key(classes[best]) if classes is not None else str(best)
    return label, min(1.0, max(0.0, confidence))
