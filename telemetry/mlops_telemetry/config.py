"""The telemetry's settings, all from environment variables (see README.md for the pod spec).

Every problem is reported at once, each naming the variable and its value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    pod: str
    namespace: str
    model: str
    model_version: str
    registered_model: str
    listen_host: str
    listen_port: int
    admin_port: int
    upstream_url: str
    tracking_uri: str | None
    tracking_username: str | None
    tracking_password: str | None
    tracking_token: str | None
    reference_file: str | None
    drift_window: int
    drift_min_rows: int
    accuracy_window: int
    accuracy_min_labels: int
    confidence_window: int
    confidence_min_rows: int
    pending_max: int
    pending_ttl_seconds: float
    pending_max_rows: int
    max_body_bytes: int
    max_connections: int
    upstream_timeout_seconds: float
    replay_batch_rows: int
    replay_max_rows: int
    log_level: str

    @property
    def upstream_host(self) -> str:
        return urlsplit(self.upstream_url).hostname or "127.0.0.1"

    @property
    def upstream_port(self) -> int:
        return urlsplit(self.upstream_url).port or 80


# name -> (default, minimum) of the integer settings
INTEGERS = {
    "MLOPS_LISTEN_PORT": (8080, 1),
    "MLOPS_ADMIN_PORT": (8090, 1),
    "MLOPS_DRIFT_WINDOW": (1000, 10),
    "MLOPS_DRIFT_MIN_ROWS": (500, 1),
    "MLOPS_ACCURACY_WINDOW": (1000, 1),
    "MLOPS_ACCURACY_MIN_LABELS": (20, 1),
    "MLOPS_CONFIDENCE_WINDOW": (1000, 1),
    "MLOPS_CONFIDENCE_MIN_ROWS": (20, 1),
    "MLOPS_PENDING_MAX": (10000, 1),
    "MLOPS_PENDING_MAX_ROWS": (100, 1),
    "MLOPS_MAX_BODY_BYTES": (16 * 1024 * 1024, 1024),
    "MLOPS_MAX_CONNECTIONS": (256, 1),
    "MLOPS_REPLAY_BATCH_ROWS": (100, 1),
    "MLOPS_REPLAY_MAX_ROWS": (10000, 1),
}
FLOATS = {
    "MLOPS_PENDING_TTL_SECONDS": (86400.0, 1.0),
    # MLflow's scoring server gives up on a request after MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT (60 s).
    "MLOPS_UPSTREAM_TIMEOUT_SECONDS": (65.0, 0.1),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def load_settings(env: Mapping[str, str] = os.environ) -> Settings:
    problems: list[str] = []

    def text(name: str, default: str | None = None, required: bool = False) -> str | None:
        value = env.get(name, "").strip()
        if value:
            return value
        if required:
            problems.append(f"{name} must be set{_hint(name)}")
        return default

    def integer(name: str) -> int:
        default, minimum = INTEGERS[name]
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name} must be an integer, got {raw!r}")
            return default
        if value < minimum:
            problems.append(f"{name} must be at least {minimum}, got {value}")
        return value

    def number(name: str) -> float:
        default, minimum = FLOATS[name]
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"{name} must be a number, got {raw!r}")
            return default
        if not value >= minimum:
            problems.append(f"{name} must be at least {minimum}, got {value}")
        return value

    pod = text("POD_NAME", required=True) or ""
    namespace = text("POD_NAMESPACE", required=True) or ""
    model = text("MLOPS_MODEL", required=True) or ""
    model_version = text("MLOPS_MODEL_VERSION", required=True) or ""
    for name, value in (("MLOPS_MODEL", model), ("MLOPS_MODEL_VERSION", model_version)):
        if value and not LABEL_VALUE.match(value):
            problems.append(f"{name} must be a Kubernetes label value, got {value!r}")
    registered_model = text("MLOPS_REGISTERED_MODEL", default=model) or model
    upstream_url = text("MLOPS_UPSTREAM_URL", default="http://127.0.0.1:8081") or ""
    parts = urlsplit(upstream_url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        problems.append(f"MLOPS_UPSTREAM_URL must be http://<host>:<port> of the scoring server, got {upstream_url!r}")
    tracking_uri = text("MLFLOW_TRACKING_URI")
    if tracking_uri is not None and urlsplit(tracking_uri).scheme not in ("http", "https"):
        problems.append(f"MLFLOW_TRACKING_URI must be the http(s) URL of the MLflow server, got {tracking_uri!r}")
    reference_file = text("MLOPS_REFERENCE_FILE")
    if tracking_uri is None and reference_file is None:
        problems.append("MLFLOW_TRACKING_URI must be set (the reference statistics and evaluation sample come from the registry), "
                        "or MLOPS_REFERENCE_FILE for a local reference")
    log_level = (text("MLOPS_LOG_LEVEL", default="INFO") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"MLOPS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    settings = Settings(
        pod=pod,
        namespace=namespace,
        model=model,
        model_version=model_version,
        registered_model=registered_model,
        listen_host=text("MLOPS_LISTEN_HOST", default="0.0.0.0") or "0.0.0.0",
        listen_port=integer("MLOPS_LISTEN_PORT"),
        admin_port=integer("MLOPS_ADMIN_PORT"),
        upstream_url=upstream_url.rstrip("/"),
        tracking_uri=tracking_uri.rstrip("/") if tracking_uri else None,
        tracking_username=text("MLFLOW_TRACKING_USERNAME"),
        tracking_password=text("MLFLOW_TRACKING_PASSWORD"),
        tracking_token=text("MLFLOW_TRACKING_TOKEN"),
        reference_file=reference_file,
        drift_window=integer("MLOPS_DRIFT_WINDOW"),
        drift_min_rows=integer("MLOPS_DRIFT_MIN_ROWS"),
        accuracy_window=integer("MLOPS_ACCURACY_WINDOW"),
        accuracy_min_labels=integer("MLOPS_ACCURACY_MIN_LABELS"),
        confidence_window=integer("MLOPS_CONFIDENCE_WINDOW"),
        confidence_min_rows=integer("MLOPS_CONFIDENCE_MIN_ROWS"),
        pending_max=integer("MLOPS_PENDING_MAX"),
        pending_ttl_seconds=number("MLOPS_PENDING_TTL_SECONDS"),
        pending_max_rows=integer("MLOPS_PENDING_MAX_ROWS"),
        max_body_bytes=integer("MLOPS_MAX_BODY_BYTES"),
        max_connections=integer("MLOPS_MAX_CONNECTIONS"),
        upstream_timeout_seconds=number("MLOPS_UPSTREAM_TIMEOUT_SECONDS"),
        replay_batch_rows=integer("MLOPS_REPLAY_BATCH_ROWS"),
        replay_max_rows=integer("MLOPS_REPLAY_MAX_ROWS"),
        log_level=log_level,
    )
    for window, minimum in (
        ("MLOPS_DRIFT_WINDOW", "MLOPS_DRIFT_MIN_ROWS"),
        ("MLOPS_ACCURACY_WINDOW", "MLOPS_ACCURACY_MIN_LABELS"),
        ("MLOPS_CONFIDENCE_WINDOW", "MLOPS_CONFIDENCE_MIN_ROWS"),
    ):
        w, m = integer(window), integer(minimum)
        if m > w >= INTEGERS[window][1]:  # an invalid window is reported once, above
            problems.append(f"{minimum} ({m}) must not exceed {window} ({w})")
    if settings.listen_port == settings.admin_port:
        problems.append(f"MLOPS_LISTEN_PORT and MLOPS_ADMIN_PORT must differ, both are {settings.listen_port}")
    if (settings.tracking_username is None) != (settings.tracking_password is None):
        problems.append("MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD must be set together")
    if problems:
        raise ConfigError("; ".join(dict.fromkeys(problems)))
    return settings


def _hint(name: str) -> str:
    return {
        "POD_NAME": " (downward API: fieldRef metadata.name)",
        "POD_NAMESPACE": " (downward API: fieldRef metadata.namespace)",
        "MLOPS_MODEL": " (downward API: fieldRef metadata.labels['mlops.dev/model'])",
        "MLOPS_MODEL_VERSION": " (downward API: fieldRef metadata.labels['mlops.dev/model-version'])",
    }.get(name, "")
