"""The reference statistics of the served version, loaded in the background.

From `mlops/reference.json` of the version's training run in the registry (or MLOPS_REFERENCE_FILE),
retried with a growing delay (1 s .. 60 s) while MLflow does not answer or the artifact is missing;
until it is loaded no drift is measured and predictions are read without class names.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from .config import Settings
from .quality import ModelQuality
from .registry import Registry, RegistryError
from .schema import REFERENCE_ARTIFACT, Reference, SchemaError

log = logging.getLogger("mlops_telemetry")


class ReferenceLoader:
    def __init__(self, settings: Settings, quality: ModelQuality):
        self.settings = settings
        self.quality = quality
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._last_problem: str | None = None

    def ensure(self) -> Reference:
        """The loaded reference, loading it now if need be; raises RegistryError or SchemaError."""
        with self._lock:
            if self.quality.reference is not None:
                return self.quality.reference
            reference = Reference.from_document(self._document())
            self.quality.set_reference(reference)
            s = self.settings
            log.info("reference statistics of %s/%s loaded: %d features (%s), output %s%s",
                     s.registered_model, s.model_version, len(reference.features), ", ".join(reference.feature_names),
                     reference.output_kind, f" of classes {reference.classes}" if reference.classes else "")
            return reference

    def _document(self) -> Any:
        s = self.settings
        if s.reference_file is not None:
            try:
                with open(s.reference_file, encoding="utf-8") as f:
                    return json.load(f)
            except (OSError, ValueError) as error:
                raise RegistryError(f"MLOPS_REFERENCE_FILE {s.reference_file}: {error}", 503) from None
        registry = Registry(s)
        run_id = registry.run_id(s.registered_model, s.model_version)
        return registry.artifact_json(run_id, REFERENCE_ARTIFACT)

    def run_in_background(self) -> None:
        threading.Thread(target=self._loop, name="reference-loader", daemon=True).start()

    def _loop(self) -> None:
        delay = 1.0
        while not self._stopped.is_set():
            try:
                self.ensure()
                return
            except (RegistryError, SchemaError) as error:
                problem = str(error)
                if problem != self._last_problem:
                    log.warning("reference statistics not loaded (drift is not measured until they are; retrying up to every 60 s): %s", problem)
                    self._last_problem = problem
            self._stopped.wait(delay)
            delay = min(delay * 2, 60.0)

    def stop(self) -> None:
        self._stopped.set()
