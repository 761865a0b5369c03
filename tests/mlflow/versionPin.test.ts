import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { MLFLOW_IMAGE, MLFLOW_VERSION } from "../../components/versions";
import { MLFLOW_REQUIREMENTS, MLFLOW_VENV, venvExecutable } from "../support/mlflow";

/** `name[extras]==version` lines of a requirements file, by lower-case name. */
function pins(requirements: string): Map<string, string> {
    const result = new Map<string, string>();
    for (const line of requirements.split("\n")) {
        const match = /^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s#;]+)/.exec(line);
        if (match?.[1] !== undefined && match[2] !== undefined) result.set(match[1].toLowerCase(), match[2]);
    }
    return result;
}

describe("the MLflow the tests run is the MLflow the platform runs", () => {
    const requirements = readFileSync(MLFLOW_REQUIREMENTS, "utf8");

    it("tests/mlflow/requirements.txt pins mlflow to MLFLOW_VERSION", () => {
        assert.equal(pins(requirements).get("mlflow"), MLFLOW_VERSION);
        assert.equal(MLFLOW_IMAGE, `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}-full`);
    });

    it("every requirement is pinned to an exact version", () => {
        const lines = requirements.split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
        assert.deepEqual(
            lines.filter((line) => !/==/.test(line)),
            [],
        );
        assert.equal(pins(requirements).get("psycopg2-binary"), "2.9.13");
    });

    it("the installed .venv/bin/mlflow reports MLFLOW_VERSION", async () => {
        const { stdout } = await promisify(execFile)(venvExecutable("mlflow"), ["--version"], { timeout: 60_000 });
        assert.equal(stdout.trim(), `mlflow, version ${MLFLOW_VERSION}`);
    });

    it(".venv was installed from the current requirements.txt", () => {
        venvExecutable("python");
        const stamp = readFileSync(path.join(MLFLOW_VENV, ".requirements.sha256"), "utf8").trim();
        assert.equal(
            stamp,
            createHash("sha256").update(requirements).digest("hex"),
            "requirements.txt changed since .venv was installed: run bash tests/mlflow/setup-venv.sh",
        );
    });
});
