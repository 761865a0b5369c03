"""The sidecar's servers in-process, in front of a stand-in scoring server that answers class labels only
(the real scoring server, with probabilities, is in tests/telemetry/*.test.ts)."""

import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "telemetry"))

from mlops_telemetry import schema  # noqa: E402
from mlops_telemetry.config import load_settings  # noqa: E402
from mlops_telemetry.server import AdminHandler, BoundedServer, ProxyHandler, Telemetry  # noqa: E402


class LabelsOnlyScoringServer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rows = body["dataframe_split"]["data"]
        answer = json.dumps({"predictions": ["big" if row[0] > 0 else "small" for row in rows]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabelsOnlyModelTest(unittest.TestCase):
    def setUp(self):
        self.upstream = ThreadingHTTPServer(("127.0.0.1", 0), LabelsOnlyScoringServer)
        threading.Thread(target=self.upstream.serve_forever, daemon=True).start()
        self.reference = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"schema": schema.REFERENCE_SCHEMA, "schema_version": 1, "rows": 4,
                   "features": [{"name": "a", "edges": [0.0], "expected": [0.5, 0.5, 0.0]}],
                   "output": {"kind": "labels", "classes": ["big", "small"]}}, self.reference)
        self.reference.close()
        self.proxy_port, self.admin_port = free_port(), free_port()
        settings = load_settings({
            "POD_NAME": "sizer-6c9d8f7b5-k2j4h", "POD_NAMESPACE": "models", "MLOPS_MODEL": "sizer", "MLOPS_MODEL_VERSION": "1",
            "MLOPS_REFERENCE_FILE": self.reference.name, "MLOPS_LISTEN_HOST": "127.0.0.1",
            "MLOPS_LISTEN_PORT": str(self.proxy_port), "MLOPS_ADMIN_PORT": str(self.admin_port),
            "MLOPS_UPSTREAM_URL": f"http://127.0.0.1:{self.upstream.server_address[1]}",
            "MLOPS_ACCURACY_MIN_LABELS": "1", "MLOPS_CONFIDENCE_MIN_ROWS": "1", "MLOPS_DRIFT_MIN_ROWS": "1",
        })
        self.app = Telemetry(settings)
        self.app.loader.ensure()
        self.servers = [BoundedServer(("127.0.0.1", self.proxy_port), ProxyHandler, self.app, 8),
                        BoundedServer(("127.0.0.1", self.admin_port), AdminHandler, self.app, 4)]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def tearDown(self):
        for server in [*self.servers, self.upstream]:
            server.shutdown()
            server.server_close()
        os.unlink(self.reference.name)

    def call(self, port, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response, data

    def test_labels_give_accuracy_and_drift_but_no_confidence_gauge(self):
        response, data = self.call(self.proxy_port, "POST", "/invocations", {"dataframe_split": {"columns": ["a"], "data": [[1.0], [-1.0]]}})
        self.assertEqual(response.status, 200)
        self.assertEqual(json.loads(data), {"predictions": ["big", "small"]})
        prediction_id = response.getheader("X-Prediction-Id")
        self.assertRegex(prediction_id, r"^[0-9a-f]{32}$")
        response, data = self.call(self.admin_port, "POST", "/mlops/feedback", {"prediction_id": prediction_id, "labels": ["big", "big"]})
        self.assertEqual((response.status, json.loads(data)["matched"]), (200, 2))
        _, again = self.call(self.admin_port, "POST", "/mlops/feedback", {"prediction_id": prediction_id, "labels": ["big", "big"]})
        self.assertEqual(json.loads(again)["unknown"], 1, "a prediction is labelled once")
        _, metrics = self.call(self.admin_port, "GET", "/metrics")
        text = metrics.decode()
        identity = 'model="sizer",model_version="1",namespace="models",pod="sizer-6c9d8f7b5-k2j4h"'
        self.assertIn(f"mlops_model_accuracy{{{identity}}} 0.5", text)
        self.assertIn(f"mlops_feature_drift_score{{{identity}}}", text)
        self.assertNotIn("mlops_prediction_confidence{", text)

    def test_synthetic_traffic_is_answered_and_counted_but_enters_no_quality_window(self):
        request = {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}
        for _ in range(5):
            response, data = self.call(self.proxy_port, "POST", "/invocations", request, {"X-MLOps-Traffic": "synthetic"})
            self.assertEqual((response.status, json.loads(data)), (200, {"predictions": ["big"]}))
            self.assertIsNone(response.getheader("X-Prediction-Id"), "test traffic cannot be labelled")
        _, state = self.call(self.admin_port, "GET", "/mlops/state")
        state = json.loads(state)
        self.assertEqual((state["drift"]["rows"], state["confidence"]["rows"], state["pending"]["entries"]), (0, 0, 0))
        response, _ = self.call(self.proxy_port, "POST", "/invocations", request)
        self.assertRegex(response.getheader("X-Prediction-Id"), r"^[0-9a-f]{32}$")
        _, state = self.call(self.admin_port, "GET", "/mlops/state")
        self.assertEqual(json.loads(state)["drift"]["rows"], 1, "live traffic does")
        _, metrics = self.call(self.admin_port, "GET", "/metrics")
        text = metrics.decode()
        identity = 'model="sizer",model_version="1",namespace="models",pod="sizer-6c9d8f7b5-k2j4h"'
        self.assertIn('mlops_requests_total{code="200",model="sizer",model_version="1",namespace="models",path="/invocations",pod="sizer-6c9d8f7b5-k2j4h"} 6.0', text)
        # Flagger's request checks for the Gateway API provider read this series (status label).
        self.assertIn(f'http_request_duration_seconds_count{{{identity},status="200"}} 6.0', text)

    def test_invalid_feedback_is_a_400_naming_the_problem(self):
        response, data = self.call(self.admin_port, "POST", "/mlops/feedback", {"label": 1})
        self.assertEqual(response.status, 400)
        self.assertEqual(json.loads(data)["message"], "the feedback has no prediction_id string")
        response, data = self.call(self.admin_port, "POST", "/mlops/feedback", [{"prediction_id": "x", "labels": "big"}])
        self.assertEqual(json.loads(data)["message"], "item 0: labels must be a list (one per row of the request)")


if __name__ == "__main__":
    unittest.main()
