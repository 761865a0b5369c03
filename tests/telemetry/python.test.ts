import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, venvExecutable } from "../support/mlflow";

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
});
