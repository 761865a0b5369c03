"""The two HTTP servers of the telemetry sidecar.

Proxy (MLOPS_LISTEN_PORT, 8080; the pod's "http" port): every request is forwarded unchanged to the
scoring server (MLOPS_UPSTREAM_URL, http://127.0.0.1:8081) and its answer returned unchanged
(status, body, headers but the hop-by-hop ones), plus `X-Prediction-Id` on each live `/invocations`
answer. After the answer is sent, the request's input rows enter the drift window. The platform's
own test traffic (`X-MLOps-Traffic: synthetic`) is forwarded and counted like any request but
enters no quality window.

Admin (MLOPS_ADMIN_PORT, 8090; never exposed through the model's Ingress):
  GET  /metrics          Prometheus text format
  POST /mlops/feedback   true labels of earlier predictions, by prediction id
  POST /mlops/replay     replays the version's evaluation sample through the scoring server
  GET  /mlops/ready      200 when the scoring server answers /ping
  GET  /mlops/live       200 while the process serves
  GET  /mlops/state      window sizes and bounds (JSON)
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .config import Settings
from .loader import ReferenceLoader
from .metrics import TelemetryMetrics
from .payload import Unreadable, request_rows, response_predictions
from .quality import ModelQuality
from .replay import EvaluationReplay, ReplayError
from .upstream import Upstream, UpstreamError, forwardable

log = logging.getLogger("mlops_telemetry")

PREDICTION_ID_HEADER = "X-Prediction-Id"
# Requests the platform sends itself (Flagger's acceptance and load tests) carry this header with the
# value "synthetic": they count in the request metrics (success rate and latency are what they test)
# but stay out of the quality windows, where one repeated test row would read as total drift.
TRAFFIC_HEADER = "X-MLOps-Traffic"
MAX_FEEDBACK_ITEMS = 10000
# Idle keep-alive connections are closed after this long, so they cannot hold every slot.
IDLE_SECONDS = 60


class RateLimitedLog:
    """One line per event kind at most every `interval` seconds, with the count of lines held back."""

    def __init__(self, interval: float = 10.0):
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, level: int, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -self.interval) < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        log.log(level, message + (f" ({held} similar since the last line)" if held else ""))


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once; past that, 503 and close."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: "Telemetry", max_connections: int):
        self.app = app
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.app.limited_log(logging.WARNING, "connections", f"more than {self.app.settings.max_connections} connections at once: answering 503")
            body = b'{"error_code": "TOO_MANY_CONNECTIONS", "message": "the telemetry proxy is at its connection limit"}'
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("unexpected error on a connection from %s (the server goes on)", client_address[0] if client_address else "?")


class Telemetry:
    """Everything one sidecar holds; the handlers reach it through their server."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.quality = ModelQuality(settings)
        self.metrics = TelemetryMetrics(settings, self.quality)
        self.upstream = Upstream(settings.upstream_host, settings.upstream_port, settings.upstream_timeout_seconds)
        self.limited_log = RateLimitedLog()
        self.loader = ReferenceLoader(settings, self.quality)
        self.replay = EvaluationReplay(settings, self.quality, self.loader.ensure)


def _json(handler: BaseHTTPRequestHandler, status: int, document: Any, extra: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
    body = json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in extra:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlops-telemetry"
    timeout = IDLE_SECONDS
    server: BoundedServer

    @property
    def app(self) -> Telemetry:
        return self.server.app

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle's algorithm the body would wait for the
        # client's delayed ACK (~40 ms on Linux) on every keep-alive answer.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # The access log would be a line per request; errors are logged where they are understood.
        pass

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413/400 (the connection is then closed)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            _json(self, 411, {"error_code": "LENGTH_REQUIRED", "message": "send the body with a Content-Length"})
            return None
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else 0
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            _json(self, 400, {"error_code": "BAD_REQUEST", "message": f"invalid Content-Length {raw!r}"})
            return None
        if length > self.app.settings.max_body_bytes:
            self.close_connection = True
            self.app.limited_log(logging.WARNING, "too-large", f"{self.command} {self.path}: body of {length} bytes exceeds MLOPS_MAX_BODY_BYTES ({self.app.settings.max_body_bytes}): answering 413")
            _json(self, 413, {"error_code": "PAYLOAD_TOO_LARGE", "message": f"the body exceeds {self.app.settings.max_body_bytes} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a bug must cost one request, never the process
            self.close_connection = True
            log.exception("%s %s failed inside the telemetry: %s", self.command, self.path, error)
            try:
                _json(self, 500, {"error_code": "INTERNAL_ERROR", "message": "the telemetry failed on this request; see its log"})
            except OSError:
                pass


class ProxyHandler(_Handler):
    def do_GET(self) -> None:
        self._guarded(self._proxy)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _proxy(self) -> None:
        app = self.app
        started = time.perf_counter()
        path_only = self.path.split("?", 1)[0]
        body = self._read_body()
        if body is None:
            app.metrics.observe_request(path_only, 400, time.perf_counter() - started)
            return
        # The body is already read (and 100 Continue answered), so Expect is not passed on.
        headers = dict(forwardable(list(self.headers.items()), frozenset({"expect"})))
        try:
            answer = app.upstream.request(self.command, self.path, body if body or self.command in ("POST", "PUT", "PATCH") else None, headers)
        except UpstreamError as error:
            app.limited_log(logging.ERROR, f"upstream-{error.status}", f"{self.command} {self.path}: {error}: answering {error.status}")
            _json(self, error.status, {"error_code": "SCORING_SERVER_UNAVAILABLE" if error.status == 502 else "SCORING_SERVER_TIMEOUT", "message": str(error)})
            app.metrics.observe_request(path_only, error.status, time.perf_counter() - started)
            return

        invocation = path_only == "/invocations" and self.command == "POST"
        # Only live traffic enters the quality windows (and gets a prediction id to label).
        live = invocation and self.headers.get(TRAFFIC_HEADER, "").strip().lower() != "synthetic"
        prediction_id = uuid.uuid4().hex if live else None
        succeeded = 200 <= answer.status < 300
        if live and succeeded:
            try:
                predictions = response_predictions(answer.body, app.quality.reference)
                # Recorded before the answer leaves, so feedback sent on receipt always finds it.
                app.quality.record_predictions(prediction_id, predictions.labels, predictions.confidences)  # type: ignore[arg-type]
            except Unreadable as error:
                app.metrics.unread["response"].inc()
                app.limited_log(logging.WARNING, "unread-response", f"POST /invocations: the scoring server's answer was forwarded but not read: {error}")
        elif invocation and not succeeded:
            detail = answer.body[:300].decode("utf-8", "replace").replace("\n", " ")
            app.limited_log(logging.WARNING, f"invocation-{answer.status}", f"POST /invocations answered {answer.status} by the scoring server (forwarded): {detail}")

        self.send_response(answer.status)
        for name, value in forwardable(answer.headers, frozenset({"server", "date"})):
            self.send_header(name, value)
        if prediction_id is not None:
            self.send_header(PREDICTION_ID_HEADER, prediction_id)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.wfile.flush()
        total = time.perf_counter() - started
        app.metrics.observe_request(path_only, answer.status, total)
        if invocation and succeeded:
            app.metrics.overhead.observe(max(0.0, total - answer.seconds))
        if live and succeeded:
            self._observe_inputs(body)

    def _observe_inputs(self, body: bytes) -> None:
        app = self.app
        reference = app.quality.reference
        if reference is None:
            return
        try:
            rows = request_rows(body, self.headers.get("Content-Type"), reference.feature_names, app.settings.drift_window)
        except Unreadable as error:
            app.metrics.unread["request"].inc()
            app.limited_log(logging.WARNING, "unread-request", f"POST /invocations: input rows not read for drift: {error}")
            return
        app.quality.observe_inputs(rows)


class AdminHandler(_Handler):
    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _get(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = generate_latest(self.app.metrics.registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/mlops/live":
            _json(self, 200, {"status": "live"})
        elif path == "/mlops/ready":
            self._ready()
        elif path == "/mlops/state":
            _json(self, 200, self.app.quality.state())
        else:
            _json(self, 404, {"error_code": "NOT_FOUND", "message": f"no {path} here; see GET /metrics, POST /mlops/feedback, POST /mlops/replay"})

    def _ready(self) -> None:
        app = self.app
        probe = Upstream(app.settings.upstream_host, app.settings.upstream_port, 2.0)
        try:
            answer = probe.request("GET", "/ping", None, {})
        except UpstreamError as error:
            _json(self, 503, {"status": "not ready", "reason": str(error)})
            return
        finally:
            connection = getattr(probe._local, "connection", None)
            if connection is not None:
                connection.close()
        if answer.status != 200:
            _json(self, 503, {"status": "not ready", "reason": f"the scoring server answered {answer.status} to /ping"})
        else:
            _json(self, 200, {"status": "ready", "reference_loaded": app.quality.reference is not None})

    def _post(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        if body is None:
            return
        if path == "/mlops/feedback":
            self._feedback(body)
        elif path == "/mlops/replay":
            self._replay()
        else:
            _json(self, 404, {"error_code": "NOT_FOUND", "message": f"no POST {path} here"})

    def _feedback(self, body: bytes) -> None:
        app = self.app
        try:
            items = parse_feedback(body)
        except ValueError as error:
            app.limited_log(logging.WARNING, "feedback-invalid", f"POST /mlops/feedback: {error}: answering 400")
            _json(self, 400, {"error_code": "INVALID_FEEDBACK", "message": str(error)})
            return
        matched = 0
        unknown: list[str] = []
        for prediction_id, labels in items:
            outcome = app.quality.feedback(prediction_id, labels)
            if outcome.unknown:
                unknown.append(prediction_id)
            matched += outcome.matched
        if matched:
            app.metrics.feedback["matched"].inc(matched)
        if unknown:
            app.metrics.feedback["unknown"].inc(len(unknown))
        _json(self, 200, {"matched": matched, "unknown": len(unknown), "unknown_ids": unknown[:100]})

    def _replay(self) -> None:
        app = self.app
        try:
            summary = app.replay.run()
        except ReplayError as error:
            app.metrics.replays["failed"].inc()
            log.error("evaluation replay failed: %s: answering %d", error, error.status)
            _json(self, error.status, {"error_code": "REPLAY_FAILED", "message": str(error)})
            return
        app.metrics.replays["succeeded"].inc()
        app.metrics.replayed_rows.inc(summary["rows"])
        log.info("evaluation replay of %s/%s (run %s): %d rows, %d correct (%.4f) in %.1f s",
                 summary["registered_model"], summary["version"], summary["run_id"], summary["rows"], summary["correct"],
                 summary["accuracy"], summary["seconds"])
        _json(self, 200, summary)


def parse_feedback(body: bytes) -> list[tuple[str, list[Any]]]:
    """`{"prediction_id", "label"}`, `{"prediction_id", "labels": [...]}`, or a list of those."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not JSON") from None
    items = document if isinstance(document, list) else [document]
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise ValueError(f"at most {MAX_FEEDBACK_ITEMS} feedback items per request, got {len(items)}")
    parsed: list[tuple[str, list[Any]]] = []
    for i, item in enumerate(items):
        where = f"item {i}" if isinstance(document, list) else "the feedback"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not an object")
        prediction_id = item.get("prediction_id")
        if not isinstance(prediction_id, str) or not prediction_id:
            raise ValueError(f"{where} has no prediction_id string")
        if "labels" in item:
            labels = item["labels"]
            if not isinstance(labels, list):
                raise ValueError(f"{where}: labels must be a list (one per row of the request)")
        elif "label" in item:
            labels = [item["label"]]
        else:
            raise ValueError(f"{where} has neither label nor labels")
        if any(isinstance(label, (dict, list)) for label in labels):
            raise ValueError(f"{where}: a label must be a string, number or boolean (null skips a row)")
        parsed.append((prediction_id, labels))
    return parsed
