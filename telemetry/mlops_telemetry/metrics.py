"""The Prometheus exposition (prometheus_client, which the mlflow -full image ships).

The contract of components/flagger.ts (MODEL_QUALITY_METRICS): three gauges, each labelled
exactly `namespace`, `pod`, `model`, `model_version`, present only while their window holds enough
data (an absent gauge is "no data", never a made-up 0). The other series carry the same identity
labels, plus a bounded second label where they have one.
"""

from __future__ import annotations

from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector

from .config import Settings
from .quality import ModelQuality

IDENTITY = ("namespace", "pod", "model", "model_version")
ACCURACY = "mlops_model_accuracy"
DRIFT = "mlops_feature_drift_score"
CONFIDENCE = "mlops_prediction_confidence"
# Paths counted by name; anything else the scoring server is asked is counted as "other".
PATHS = ("/invocations", "/ping", "/health", "/version")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class QualityCollector:
    """A custom collector (prometheus_client calls `collect` at every scrape)."""

    def __init__(self, quality: ModelQuality, identity: tuple[str, str, str, str]):
        self.quality = quality
        self.identity = list(identity)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        snap = self.quality.snapshot()
        for name, doc, value in (
            (ACCURACY, "Accuracy of this pod's predictions over the window of labelled predictions (feedback and evaluation replay), 0..1.", snap.accuracy),
            (DRIFT, "Drift of this pod's live input features from the training reference: 1 - exp(-max per-feature PSI) over the sliding window, 0..1.", snap.drift_score),
            (CONFIDENCE, "Mean top-class probability of this pod's live predictions over the window, 0..1.", snap.confidence),
        ):
            family = GaugeMetricFamily(name, doc, labels=IDENTITY)
            if value is not None:
                family.add_metric(self.identity, value)
                yield family
        psi = GaugeMetricFamily("mlops_feature_psi", "Population stability index of one input feature over the drift window (small-sample corrected).",
                                labels=[*IDENTITY, "feature"])
        for feature, value in snap.psi:
            psi.add_metric([*self.identity, feature], value)
        yield psi
        for name, doc, value in (
            ("mlops_drift_window_rows", "Input rows in the drift window (at most MLOPS_DRIFT_WINDOW).", snap.drift_rows),
            ("mlops_accuracy_window_labels", "Labelled predictions in the accuracy window (at most MLOPS_ACCURACY_WINDOW).", snap.labelled),
            ("mlops_confidence_window_rows", "Predictions in the confidence window (at most MLOPS_CONFIDENCE_WINDOW).", snap.confidences),
            ("mlops_pending_predictions", "Predictions waiting for feedback (at most MLOPS_PENDING_MAX).", snap.pending),
        ):
            family = GaugeMetricFamily(name, doc, labels=IDENTITY)
            family.add_metric(self.identity, value)
            yield family
        reference = GaugeMetricFamily("mlops_reference_loaded", "1 once the reference statistics of the served version are loaded.", labels=IDENTITY)
        reference.add_metric(self.identity, 1.0 if self.quality.reference is not None else 0.0)
        yield reference


class TelemetryMetrics:
    def __init__(self, settings: Settings, quality: ModelQuality):
        identity = (settings.namespace, settings.pod, settings.model, settings.model_version)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(QualityCollector(quality, identity))
        ProcessCollector(namespace="mlops_telemetry", registry=self.registry)
        requests = Counter("mlops_requests", "Requests the proxy answered, by scoring-server path and HTTP status.",
                           [*IDENTITY, "path", "code"], registry=self.registry)
        duration = Histogram("mlops_request_duration_seconds", "Time from a request's arrival at the proxy to its answer, by path.",
                             [*IDENTITY, "path"], buckets=LATENCY_BUCKETS, registry=self.registry)
        # The series Flagger's own request checks read for the Gateway API provider (its HttpObserver,
        # fluxcd/flagger pkg/metrics/observers/http.go at v1.44.0: `http_request_duration_seconds`
        # with a `status` label, selected by the kubernetes_namespace/kubernetes_pod_name target labels).
        flagger = Histogram("http_request_duration_seconds", "Time from a request's arrival at the proxy to its answer, by HTTP status (Flagger's request checks).",
                            [*IDENTITY, "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        overhead = Histogram("mlops_proxy_overhead_seconds", "Time the proxy added to an answered /invocations request (its whole time less the scoring server's).",
                             IDENTITY, buckets=OVERHEAD_BUCKETS, registry=self.registry)
        unread = Counter("mlops_unread_payloads", "Requests or responses of /invocations the telemetry could not read (forwarded unchanged), by what.",
                         [*IDENTITY, "what"], registry=self.registry)
        feedback = Counter("mlops_feedback_labels", "Feedback received, by outcome (matched rows, or an unknown or expired prediction id).",
                           [*IDENTITY, "outcome"], registry=self.registry)
        replays = Counter("mlops_evaluation_replays", "Evaluation replays, by outcome.", [*IDENTITY, "outcome"], registry=self.registry)
        replayed = Counter("mlops_evaluation_replayed_rows", "Evaluation rows replayed through the scoring server and labelled.",
                           IDENTITY, registry=self.registry)
        self._requests = requests
        self._duration = {path: duration.labels(*identity, path) for path in (*PATHS, "other")}
        self._flagger = flagger
        self._identity = identity
        self.overhead = overhead.labels(*identity)
        self.unread = {what: unread.labels(*identity, what) for what in ("request", "response")}
        self.feedback = {outcome: feedback.labels(*identity, outcome) for outcome in ("matched", "unknown")}
        self.replays = {outcome: replays.labels(*identity, outcome) for outcome in ("succeeded", "failed")}
        self.replayed_rows = replayed.labels(*identity)

    @staticmethod
    def path_label(path: str) -> str:
        return path if path in PATHS else "other"

    def observe_request(self, path: str, code: int, seconds: float) -> None:
        label = self.path_label(path)
        # The code label is bounded: HTTP statuses are three digits.
        self._requests.labels(*self._identity, label, str(code)).inc()
        self._duration[label].observe(seconds)
        self._flagger.labels(*self._identity, str(code)).observe(seconds)
