"""The model-quality state of one pod: drift, accuracy and confidence windows, and pending predictions.

One lock guards everything; each operation under it is O(features) or O(rows of one request),
never O(history).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from .config import Settings
from .schema import Reference, bin_index, label_key
from .windows import DriftWindow, LabelledWindow, MeanWindow, PendingPredictions, drift_score


@dataclass(frozen=True)
class FeedbackOutcome:
    matched: int  # labelled rows that joined a pending prediction
    unknown: bool  # the prediction id is not (or no longer) pending


@dataclass(frozen=True)
class QualitySnapshot:
    accuracy: float | None
    drift_score: float | None
    confidence: float | None
    psi: list[tuple[str, float]]
    drift_rows: int
    labelled: int
    confidences: int
    pending: int


class ModelQuality:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self.reference: Reference | None = None
        self._drift: DriftWindow | None = None
        self._accuracy = LabelledWindow(settings.accuracy_window)
        self._confidence = MeanWindow(settings.confidence_window)
        self._pending = PendingPredictions(settings.pending_max, settings.pending_ttl_seconds, settings.pending_max_rows)

    def set_reference(self, reference: Reference) -> None:
        with self._lock:
            self.reference = reference
            self._drift = DriftWindow(reference, self.settings.drift_window)

    def observe_inputs(self, rows: Sequence[Sequence[Any]]) -> None:
        """Live input rows (values in the reference's feature order) into the drift window."""
        reference = self.reference
        if reference is None:
            return
        edges = [feature.edges for feature in reference.features]
        binned = [[bin_index(e, value) for e, value in zip(edges, row)] for row in rows]
        with self._lock:
            if self._drift is not None and self._drift.reference is reference:
                for bins in binned:
                    self._drift.add(bins)

    def record_predictions(self, prediction_id: str, labels: Sequence[str], confidences: Sequence[float]) -> None:
        """A live prediction: its labels wait for feedback, its confidences enter the window."""
        with self._lock:
            self._pending.add(prediction_id, labels)
            for confidence in confidences:
                self._confidence.add(confidence)

    def record_labelled(self, predicted: Sequence[str], actual: Sequence[Any]) -> int:
        """Predictions whose labels are known at once (the evaluation replay); returns the correct count."""
        correct = 0
        with self._lock:
            for p, a in zip(predicted, actual):
                hit = p == label_key(a)
                correct += hit
                self._accuracy.add(hit)
        return correct

    def feedback(self, prediction_id: str, labels: Sequence[Any]) -> FeedbackOutcome:
        """True labels of a prediction's rows (None skips a row); each prediction is labelled once."""
        with self._lock:
            predicted = self._pending.take(prediction_id)
            if predicted is None:
                return FeedbackOutcome(0, True)
            matched = 0
            for p, a in zip(predicted, labels):
                if a is None:
                    continue
                self._accuracy.add(p == label_key(a))
                matched += 1
            return FeedbackOutcome(matched, False)

    def snapshot(self) -> QualitySnapshot:
        with self._lock:
            s = self.settings
            drift = self._drift
            psi = drift.psi_by_feature() if drift is not None and drift.rows >= s.drift_min_rows else []
            accuracy = self._accuracy.accuracy() if len(self._accuracy) >= s.accuracy_min_labels else None
            confidence = self._confidence.mean() if len(self._confidence) >= s.confidence_min_rows else None
            return QualitySnapshot(
                accuracy=None if accuracy is None or math.isnan(accuracy) else accuracy,
                drift_score=drift_score(max(p for _, p in psi)) if psi else None,
                confidence=None if confidence is None or math.isnan(confidence) else confidence,
                psi=psi,
                drift_rows=drift.rows if drift is not None else 0,
                labelled=len(self._accuracy),
                confidences=len(self._confidence),
                pending=len(self._pending),
            )

    def state(self) -> dict[str, Any]:
        """Sizes and bounds of every window, for /mlops/state (what tests and operators look at)."""
        snap = self.snapshot()
        with self._lock:
            s = self.settings
            drift = self._drift
            return {
                "reference_loaded": self.reference is not None,
                "features": self.reference.feature_names if self.reference is not None else [],
                "drift": {"rows": snap.drift_rows, "size": s.drift_window, "min_rows": s.drift_min_rows,
                          "counts": drift.counts() if drift is not None else [], "score": snap.drift_score,
                          "psi": dict(snap.psi)},
                "accuracy": {"labelled": snap.labelled, "size": self._accuracy.size, "min_labels": s.accuracy_min_labels,
                             "value": snap.accuracy},
                "confidence": {"rows": snap.confidences, "size": self._confidence.size, "min_rows": s.confidence_min_rows,
                               "value": snap.confidence},
                "pending": {"entries": snap.pending, "capacity": self._pending.capacity, "max_rows": self._pending.max_rows,
                            "evicted": self._pending.evicted, "expired": self._pending.expired,
                            "ttl_seconds": self._pending.ttl_seconds},
            }
