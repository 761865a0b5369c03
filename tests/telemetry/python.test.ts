import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, venvExecutable } from "../support/mlflow";
import { TELEMETRY_DIR } from "./support";

describe("telemetry: Python unit tests (tests/telemetry/python, the venv's Python)", () => {
    it("pass: schema, windows, payload reading, settings, training helper, a labels-only model", async () => {
        const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
            execFile(
                venvExecutable("python"),
                ["-m", "unittest", "discover", "-s", path.join("tests", "telemetry", "python"), "-v"],
                { cwd: REPO_ROOT, timeout: 120_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } },
                (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, output: stdout + stderr }),
            );
        });
        assert.equal(code, 0, output);
        const ran = /Ran (\d+) tests?/.exec(output);
        assert.ok(ran !== null && Number(ran[1]) >= 20, `expected the unit tests to run:\n${output}`);
        assert.match(output, /\nOK\s*$/);
    });

    it("python -m mlops_telemetry with a bad environment exits 2 with one line naming every variable", async () => {
        const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
            execFile(
                venvExecutable("python"),
                ["-m", "mlops_telemetry"],
                {
                    timeout: 30_000,
                    // Only what the test sets: none of the variables the sidecar reads comes from the test's environment.
                    env: {
                        PATH: process.env.PATH ?? "",
                        PYTHONPATH: TELEMETRY_DIR,
                        PYTHONDONTWRITEBYTECODE: "1",
                        POD_NAME: "clf-5d8f7b9c4-x2k4p",
                        MLOPS_DRIFT_WINDOW: "-1",
                    },
                },
                (error, _stdout, err) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stderr: err }),
            );
        });
        assert.equal(code, 2);
        assert.equal(
            stderr,
            "mlops-telemetry: configuration error: POD_NAMESPACE must be set (downward API: fieldRef metadata.namespace); " +
                "MLOPS_MODEL must be set (downward API: fieldRef metadata.labels['mlops.dev/model']); " +
                "MLOPS_MODEL_VERSION must be set (downward API: fieldRef metadata.labels['mlops.dev/model-version']); " +
                "MLFLOW_TRACKING_URI must be set (the reference statistics and evaluation sample come from the registry), or MLOPS_REFERENCE_FILE for a local reference; " +
                "MLOPS_DRIFT_WINDOW must be at least 10, got -1\n",
        );
    });
});
