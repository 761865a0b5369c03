"""The evaluation replay: the served version's labelled evaluation sample through its scoring server.

`POST /mlops/replay` (the load tester's webhook) runs one replay and answers when it is done: the
sample (`mlops/evaluation.json` of the version's training run, read from the registry each time)
goes to the scoring server in `dataframe_split` batches of MLOPS_REPLAY_BATCH_ROWS rows, straight
to MLOPS_UPSTREAM_URL (not through the proxy: replayed rows are not live traffic, so they enter
neither the drift nor the confidence window), and each prediction is compared with its label in
the accuracy window. One replay runs at a time; a second request waits for the first to end.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from .config import Settings
from .payload import Unreadable, response_predictions
from .quality import ModelQuality
from .registry import Registry, RegistryError
from .schema import EVALUATION_ARTIFACT, EvaluationSample, Reference, SchemaError
from .upstream import Upstream, UpstreamError


class ReplayError(RuntimeError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class EvaluationReplay:
    def __init__(self, settings: Settings, quality: ModelQuality, ensure_reference: Callable[[], Reference]):
        self.settings = settings
        self.quality = quality
        # Predictions are read with the reference (probabilities and their classes): it is loaded first.
        self.ensure_reference = ensure_reference
        self._lock = threading.Lock()
        self._run_id: str | None = None

    def run_id(self, registry: Registry) -> str:
        if self._run_id is None:
            self._run_id = registry.run_id(self.settings.registered_model, self.settings.model_version)
        return self._run_id

    def run(self) -> dict[str, Any]:
        s = self.settings
        with self._lock:
            started = time.monotonic()
            try:
                reference = self.ensure_reference()
                registry = Registry(s)
                run_id = self.run_id(registry)
                sample = EvaluationSample.from_document(registry.artifact_json(run_id, EVALUATION_ARTIFACT))
            except RegistryError as error:
                raise ReplayError(str(error), error.status) from None
            except SchemaError as error:
                raise ReplayError(str(error), 422) from None
            if sample.columns != reference.feature_names:
                raise ReplayError(f"{EVALUATION_ARTIFACT} has columns {sample.columns}, the reference's features are {reference.feature_names}", 422)
            upstream = Upstream(s.upstream_host, s.upstream_port, s.upstream_timeout_seconds)
            rows = sample.data[: s.replay_max_rows]
            labels = sample.labels[: s.replay_max_rows]
            correct = 0
            for start in range(0, len(rows), s.replay_batch_rows):
                batch = rows[start : start + s.replay_batch_rows]
                body = json.dumps({"dataframe_split": {"columns": sample.columns, "data": batch}}).encode()
                try:
                    answer = upstream.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                except UpstreamError as error:
                    raise ReplayError(f"rows {start}..{start + len(batch) - 1}: {error}", error.status) from None
                if answer.status != 200:
                    detail = answer.body[:300].decode("utf-8", "replace").replace("\n", " ")
                    raise ReplayError(f"the scoring server answered {answer.status} to rows {start}..{start + len(batch) - 1}: {detail}", 502)
                try:
                    predictions = response_predictions(answer.body, reference)
                except Unreadable as error:
                    raise ReplayError(f"the scoring server's answer to rows {start}..{start + len(batch) - 1} was not read: {error}", 502) from None
                if len(predictions.labels) != len(batch):
                    raise ReplayError(f"the scoring server answered {len(predictions.labels)} predictions for {len(batch)} rows", 502)
                correct += self.quality.record_labelled(predictions.labels, labels[start : start + len(batch)])
            return {
                "registered_model": s.registered_model,
                "version": s.model_version,
                "run_id": run_id,
                "rows": len(rows),
                "correct": correct,
                "accuracy": correct / len(rows) if rows else 0.0,
                "seconds": round(time.monotonic() - started, 3),
            }
