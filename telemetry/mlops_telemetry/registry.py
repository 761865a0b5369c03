"""The MLflow registry, read over its REST API with the standard library.

The model version's run id comes from `GET /api/2.0/mlflow/model-versions/get`; its artifacts from
`GET /get-artifact?run_id=…&path=…`, which the tracking server answers for any artifact store it
can reach (the platform's server runs with --serve-artifacts). Credentials as MLflow's own client
takes them: MLFLOW_TRACKING_USERNAME/PASSWORD (basic auth) or MLFLOW_TRACKING_TOKEN (bearer).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .config import Settings

MAX_ARTIFACT_BYTES = 64 * 1024 * 1024


class RegistryError(RuntimeError):
    """The registry could not give what was asked; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.status = status


class Registry:
    def __init__(self, settings: Settings, timeout_seconds: float = 30.0):
        if settings.tracking_uri is None:
            raise RegistryError("MLFLOW_TRACKING_URI is not set", 503)
        self.base = settings.tracking_uri
        self.timeout = timeout_seconds
        self.headers = {"User-Agent": "mlops-telemetry"}
        if settings.tracking_token:
            self.headers["Authorization"] = f"Bearer {settings.tracking_token}"
        elif settings.tracking_username and settings.tracking_password:
            pair = f"{settings.tracking_username}:{settings.tracking_password}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def run_id(self, model: str, version: str) -> str:
        answer = json.loads(self._get("/api/2.0/mlflow/model-versions/get", {"name": model, "version": version}, f"model version {model}/{version}"))
        run_id = (answer.get("model_version") or {}).get("run_id") if isinstance(answer, dict) else None
        if not run_id:
            raise RegistryError(f"model version {model}/{version} has no run id, so it has no logged reference statistics or evaluation sample", 404)
        return str(run_id)

    def artifact_json(self, run_id: str, path: str) -> Any:
        body = self._get("/get-artifact", {"run_id": run_id, "path": path}, f"artifact {path} of run {run_id}")
        try:
            return json.loads(body)
        except ValueError:
            raise RegistryError(f"artifact {path} of run {run_id} is not JSON", 502) from None

    def _get(self, path: str, query: dict[str, str], what: str) -> bytes:
        url = f"{self.base}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers=self.headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read(MAX_ARTIFACT_BYTES + 1)
        except urllib.error.HTTPError as error:
            detail = error.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
            status = 404 if error.code == 404 else 502
            raise RegistryError(f"MLflow answered {error.code} for {what} ({self.base}{path}): {detail}", status) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"MLflow at {self.base} is unreachable while reading {what}: {reason}", 502) from None
        if len(body) > MAX_ARTIFACT_BYTES:
            raise RegistryError(f"{what} is larger than {MAX_ARTIFACT_BYTES} bytes", 502)
        return body
