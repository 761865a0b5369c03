"""Unit tests of the telemetry's pure parts: artifact schema, windows, payload reading, settings, training helper.

Run by tests/telemetry/python.test.ts with the venv's Python: python -m unittest discover -s tests/telemetry/python
"""

import math
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "telemetry"))

from mlops_telemetry import payload, schema, training, windows  # noqa: E402
from mlops_telemetry.config import ConfigError, load_settings  # noqa: E402

BASE_ENV = {"POD_NAME": "clf-5d8f7b9c4-x2k4p", "POD_NAMESPACE": "models", "MLOPS_MODEL": "clf", "MLOPS_MODEL_VERSION": "3",
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}


def reference(kind="probabilities", classes=(0, 1, 2)):
    return schema.Reference.from_document({
        "schema": schema.REFERENCE_SCHEMA, "schema_version": 1, "rows": 100,
        "features": [
            {"name": "a", "edges": [0.0, 1.0], "expected": [0.25, 0.5, 0.25, 0.0]},
            {"name": "b", "edges": [10.0], "expected": [0.5, 0.5, 0.0]},
        ],
        "output": {"kind": kind, "classes": list(classes) if classes is not None else None},
    })


class SchemaTest(unittest.TestCase):
    def test_bins_are_bisect_right_with_a_missing_bin_last(self):
        edges = [0.0, 1.0]
        self.assertEqual([schema.bin_index(edges, v) for v in (-5, 0.0, 0.5, 1.0, 7, None, float("nan"), "x", "0.5", True)],
                         [0, 1, 1, 2, 2, 3, 3, 3, 1, 3])

    def test_labels_compare_across_json_types(self):
        self.assertEqual(schema.label_key(1), schema.label_key(1.0))
        self.assertEqual(schema.label_key(1), schema.label_key("1"))
        self.assertEqual(schema.label_key(True), "true")
        self.assertEqual(len(schema.label_key("x" * 500)), schema.MAX_LABEL_CHARS)

    def test_reference_errors_name_the_field(self):
        good = {"schema": schema.REFERENCE_SCHEMA, "schema_version": 1,
                "features": [{"name": "a", "edges": [1.0, 0.0], "expected": [0.5, 0.5, 0.0, 0.0]}],
                "output": {"kind": "labels", "classes": None}}
        with self.assertRaisesRegex(schema.SchemaError, r"features\[0\]\.edges must be strictly increasing"):
            schema.Reference.from_document(good)
        good["features"][0]["edges"] = [0.0, 1.0]
        good["schema_version"] = 2
        with self.assertRaisesRegex(schema.SchemaError, "schema_version 2 is not supported"):
            schema.Reference.from_document(good)
        good["schema_version"] = 1
        good["output"] = {"kind": "probabilities", "classes": None}
        with self.assertRaisesRegex(schema.SchemaError, "output.classes must list the classes"):
            schema.Reference.from_document(good)


class WindowsTest(unittest.TestCase):
    def test_drift_window_keeps_at_most_size_rows_and_its_counts_add_up(self):
        ref = reference()
        window = windows.DriftWindow(ref, 50)
        for i in range(1234):
            window.add([i % 4, i % 3])
        self.assertEqual(window.rows, 50)
        self.assertEqual(len(window._bins), 50 * 2)
        self.assertEqual([sum(c) for c in window.counts()], [50, 50])

    def test_psi_is_zero_for_the_reference_distribution_and_grows_with_a_shift(self):
        expected = [0.25, 0.5, 0.25, 0.0]
        self.assertEqual(windows.population_stability_index([250, 500, 250, 0], 1000, expected), 0.0)
        shifted = windows.population_stability_index([0, 250, 750, 0], 1000, expected)
        raw = sum((a - e) * math.log(a / e) for a, e in ((1e-4, 0.25), (0.25, 0.5), (0.75, 0.25)))
        self.assertAlmostEqual(shifted, raw - 2 / 1000, places=9)

    def test_drift_score_is_one_minus_exp_of_minus_psi(self):
        self.assertEqual(windows.drift_score(0.0), 0.0)
        self.assertAlmostEqual(windows.drift_score(0.1), 0.0952, places=4)
        self.assertAlmostEqual(windows.drift_score(-math.log(1 - 0.18)), 0.18, places=12)
        self.assertLess(windows.drift_score(1000.0), 1.0 + 1e-12)

    def test_labelled_window_slides(self):
        window = windows.LabelledWindow(4)
        for outcome in (True, True, False, False, False, False):
            window.add(outcome)
        self.assertEqual(len(window), 4)
        self.assertEqual(window.accuracy(), 0.0)

    def test_pending_predictions_evict_the_oldest_and_expire(self):
        now = [0.0]
        pending = windows.PendingPredictions(capacity=3, ttl_seconds=10, max_rows=2, clock=lambda: now[0])
        for i in range(5):
            pending.add(f"p{i}", ["a", "b", "c"])
        self.assertEqual(len(pending), 3)
        self.assertEqual(pending.evicted, 2)
        self.assertIsNone(pending.take("p0"))
        self.assertEqual(pending.take("p4"), ("a", "b"))
        self.assertIsNone(pending.take("p4"), "a prediction is labelled once")
        now[0] = 11.0
        self.assertIsNone(pending.take("p3"))
        self.assertEqual(len(pending), 0)
        self.assertEqual(pending.expired, 2)


class PayloadTest(unittest.TestCase):
    names = ["a", "b"]

    def rows(self, body, content_type="application/json", limit=100):
        return payload.request_rows(body.encode(), content_type, self.names, limit)

    def test_every_json_format_of_the_scoring_server(self):
        self.assertEqual(self.rows('{"dataframe_split": {"columns": ["b", "a"], "data": [[1, 2], [3, 4]]}}'), [[2, 1], [4, 3]])
        self.assertEqual(self.rows('{"dataframe_split": {"data": [[1, 2]]}}'), [[1, 2]])
        self.assertEqual(self.rows('{"dataframe_records": [{"a": 1, "b": 2}, {"b": 5}]}'), [[1, 2], [None, 5]])
        self.assertEqual(self.rows('{"instances": [[1, 2]]}'), [[1, 2]])
        self.assertEqual(self.rows('{"inputs": {"a": [1, 3], "b": [2, 4]}}'), [[1, 2], [3, 4]])
        self.assertEqual(self.rows("a,b\n1,2\n3,4\n", "text/csv; charset=utf-8"), [["1", "2"], ["3", "4"]])

    def test_only_the_last_limit_rows_are_read(self):
        self.assertEqual(self.rows('{"instances": [[1, 1], [2, 2], [3, 3]]}', limit=2), [[2, 2], [3, 3]])
        self.assertEqual(self.rows("a,b\n1,1\n2,2\n3,3\n", "text/csv", limit=2), [["2", "2"], ["3", "3"]])

    def test_unreadable_requests_say_why(self):
        for body, content_type, why in (
            ("{not json", "application/json", "not JSON"),
            ("[]", "application/json", "not an object"),
            ('{"foo": 1}', "application/json", "none of dataframe_split"),
            ('{"instances": [[1]]}', "application/json", "not a list of 2 values"),
            ("x", "application/octet-stream", "is not read"),
        ):
            with self.assertRaisesRegex(payload.Unreadable, why):
                self.rows(body, content_type)

    def test_probabilities_give_labels_and_confidences(self):
        predictions = payload.response_predictions(b'{"predictions": [[0.1, 0.7, 0.2], [0.05, 0.05, 0.9]]}', reference())
        self.assertEqual(predictions.labels, ["1", "2"])
        self.assertEqual(predictions.confidences, [0.7, 0.9])
        records = payload.response_predictions(b'{"predictions": [{"0": 0.6, "1": 0.3, "2": 0.1}]}', reference())
        self.assertEqual((records.labels, records.confidences), (["0"], [0.6]))

    def test_labels_give_no_confidence(self):
        predictions = payload.response_predictions(b'{"predictions": ["cat", "dog"]}', reference("labels", None))
        self.assertEqual((predictions.labels, predictions.confidences), (["cat", "dog"], []))

    def test_responses_that_do_not_fit_the_reference_are_unreadable(self):
        with self.assertRaisesRegex(payload.Unreadable, "outputs probabilities"):
            payload.response_predictions(b'{"predictions": [1]}', reference())
        with self.assertRaisesRegex(payload.Unreadable, "3 classes"):
            payload.response_predictions(b'{"predictions": [[0.5, 0.5]]}', reference())
        with self.assertRaisesRegex(payload.Unreadable, "outside 0..1"):
            payload.response_predictions(b'{"predictions": [[2.0, -1.0, 0.0]]}', reference())


class SettingsTest(unittest.TestCase):
    def test_defaults(self):
        s = load_settings(BASE_ENV)
        self.assertEqual((s.listen_port, s.admin_port, s.upstream_url), (8080, 8090, "http://127.0.0.1:8081"))
        self.assertEqual((s.drift_window, s.drift_min_rows, s.accuracy_window, s.pending_max), (1000, 500, 1000, 10000))
        self.assertEqual(s.registered_model, "clf")

    def test_every_problem_is_reported_at_once_naming_the_variable(self):
        with self.assertRaises(ConfigError) as raised:
            load_settings({"MLOPS_DRIFT_WINDOW": "ten", "MLOPS_ADMIN_PORT": "8080", "MLOPS_UPSTREAM_URL": "https://x:1/y"})
        message = str(raised.exception)
        for expected in ("POD_NAME must be set (downward API: fieldRef metadata.name)", "MLOPS_DRIFT_WINDOW must be an integer, got 'ten'",
                         "MLOPS_LISTEN_PORT and MLOPS_ADMIN_PORT must differ, both are 8080",
                         "MLOPS_UPSTREAM_URL must be http://<host>:<port> of the scoring server, got 'https://x:1/y'",
                         "MLFLOW_TRACKING_URI must be set"):
            self.assertIn(expected, message)

    def test_a_minimum_above_its_window_is_refused(self):
        with self.assertRaisesRegex(ConfigError, r"MLOPS_DRIFT_MIN_ROWS \(500\) must not exceed MLOPS_DRIFT_WINDOW \(100\)"):
            load_settings({**BASE_ENV, "MLOPS_DRIFT_WINDOW": "100"})


class TrainingHelperTest(unittest.TestCase):
    def test_expected_proportions_are_what_the_telemetry_counts_on_the_same_data(self):
        import numpy as np

        rng = np.random.default_rng(7)
        data = np.column_stack([rng.normal(size=500), rng.integers(0, 3, size=500).astype(float)])
        data[:25, 0] = np.nan
        document = training.reference_statistics(data, outputs="labels", feature_names=["x", "k"], bins=10)
        ref = schema.Reference.from_document(document)
        self.assertEqual(len(ref.features[0].edges), 9)
        self.assertEqual(ref.features[1].edges, [0.0, 1.0, 2.0], "ties merge the deciles of three values")
        window = windows.DriftWindow(ref, 500)
        for row in data.tolist():
            window.add([schema.bin_index(f.edges, v) for f, v in zip(ref.features, row)])
        for f, feature in enumerate(ref.features):
            self.assertEqual([c / 500 for c in window.counts()[f]], feature.expected)
        self.assertAlmostEqual(ref.features[0].expected[-1], 0.05)
        self.assertEqual([p for _, p in window.psi_by_feature()], [0.0, 0.0])

    def test_evaluation_sample_is_bounded_and_json_clean(self):
        import numpy as np

        features = np.arange(30, dtype=float).reshape(15, 2)
        features[0, 0] = np.nan
        document = training.evaluation_sample(features, np.arange(15), feature_names=["a", "b"], max_rows=5)
        self.assertEqual(len(document["data"]), 5)
        self.assertTrue(all(isinstance(label, int) for label in document["labels"]))
        full = training.evaluation_sample(features, list(range(15)), feature_names=["a", "b"], max_rows=100)
        self.assertIsNone(full["data"][0][0])

    def test_helper_errors(self):
        with self.assertRaisesRegex(ValueError, "classes .* are required when outputs='probabilities'"):
            training.reference_statistics([[1.0]], outputs="probabilities")
        with self.assertRaisesRegex(ValueError, "outputs must be one of probabilities, labels"):
            training.reference_statistics([[1.0]], outputs="scores")
        with self.assertRaisesRegex(ValueError, "3 labels for 2 rows"):
            training.evaluation_sample([[1.0], [2.0]], [0, 1, 2])


class ShippingTest(unittest.TestCase):
    package = os.path.join(os.path.dirname(__file__), "..", "..", "..", "telemetry", "mlops_telemetry")

    def test_the_sidecar_imports_only_the_standard_library_and_prometheus_client(self):
        import ast

        for name in sorted(os.listdir(self.package)):
            if not name.endswith(".py") or name == "training.py":
                continue
            with open(os.path.join(self.package, name), encoding="utf-8") as f:
                tree = ast.parse(f.read(), name)
            for node in ast.walk(tree):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                for module in modules:
                    top = module.split(".")[0]
                    self.assertTrue(top in sys.stdlib_module_names or top == "prometheus_client", f"{name} imports {module}")

    def test_the_package_fits_a_configmap(self):
        import re

        names = [n for n in os.listdir(self.package) if n.endswith(".py")]
        total = sum(os.path.getsize(os.path.join(self.package, n)) for n in names)
        self.assertLess(total, 1024 * 1024)
        for name in names:
            self.assertRegex(name, re.compile(r"^[-._a-zA-Z0-9]+$"), "a ConfigMap key")


if __name__ == "__main__":
    unittest.main()
