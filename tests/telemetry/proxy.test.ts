/**
 * The telemetry in front of the real scoring server (`mlflow models serve` of a scikit-learn model trained
 * and registered here with the training helper): what passes through unchanged, what it adds, how it fails,
 * the evaluation replay from the registry, and that its state stays within its windows.
 */
import assert from "node:assert/strict";
import { freePort, startMlflowServer, type MlflowServer } from "../support/mlflow";
import {
    drawRows,
    invocation,
    serveModel,
    startTelemetry,
    trainAndRegister,
    waitForReference,
    type ScoringServer,
    type Telemetry,
    type TrainedModel,
} from "./support";

const NAMESPACE = "models-test";

interface Answer {
    readonly status: number;
    readonly contentType: string | null;
    readonly body: string;
    readonly predictionId: string | null;
}

async function call(url: string, init?: RequestInit): Promise<Answer> {
    const response = await fetch(url, init);
    return {
        status: response.status,
        contentType: response.headers.get("content-type"),
        body: await response.text(),
        predictionId: response.headers.get("x-prediction-id"),
    };
}

const post = (body: string, contentType = "application/json"): RequestInit => ({ method: "POST", headers: { "content-type": contentType }, body });

function countLines(logs: string, pattern: RegExp): number {
    return logs.split("\n").filter((line) => pattern.test(line)).length;
}

describe("telemetry proxy in front of the real scoring server", function () {
    this.timeout(600_000);
    let mlflow: MlflowServer;
    let model: TrainedModel;
    let scoring: ScoringServer;
    const sidecars: Telemetry[] = [];

    const sidecar = async (pod: string, env: Record<string, string> = {}, upstreamPort = scoring.port, registeredModel = model.name) => {
        const telemetry = await startTelemetry({
            pod,
            namespace: NAMESPACE,
            model: "clf",
            version: model.version,
            registeredModel,
            upstreamPort,
            mlflowUrl: mlflow.url,
            env,
        });
        sidecars.push(telemetry);
        return telemetry;
    };

    before(async () => {
        mlflow = await startMlflowServer();
        model = await trainAndRegister(mlflow, "telemetry_proxy_clf");
        scoring = await serveModel(mlflow, model);
    });

    after(async () => {
        await Promise.all(sidecars.map((s) => s.stop()));
        await scoring?.stop();
        await mlflow?.stop();
    });

    it("forwards predictions unchanged and adds a prediction id", async () => {
        const telemetry = await sidecar("clf-7d9f8b6c5d-pass1");
        await waitForReference(telemetry);
        const body = invocation(drawRows(1, 3).map((r) => r.features));
        const bare = await call(`${scoring.url}/invocations`, post(body));
        const proxied = await call(`${telemetry.proxyUrl}/invocations`, post(body));
        assert.equal(bare.status, 200, bare.body);
        assert.deepEqual({ ...proxied, predictionId: null }, { ...bare, predictionId: null });
        assert.match(proxied.predictionId ?? "", /^[0-9a-f]{32}$/);
        const predictions = (JSON.parse(proxied.body) as { predictions: number[][] }).predictions;
        assert.equal(predictions.length, 3);
        assert.equal(predictions[0]?.length, 3, "the model answers one probability per class");

        for (const path of ["/ping", "/health", "/version"]) {
            const direct = await call(`${scoring.url}${path}`);
            assert.deepEqual(await call(`${telemetry.proxyUrl}${path}`), direct, path);
        }
        const csv = "x0,x1,x2,x3\n0,0,0,0\n4,4,0,0\n";
        assert.deepEqual(
            { ...(await call(`${telemetry.proxyUrl}/invocations`, post(csv, "text/csv"))), predictionId: null },
            { ...(await call(`${scoring.url}/invocations`, post(csv, "text/csv"))), predictionId: null },
        );
    });

    it("passes the scoring server's errors through for malformed input, logs one line per kind of error, and keeps serving", async () => {
        const telemetry = await sidecar("clf-7d9f8b6c5d-bad01");
        await waitForReference(telemetry);
        const cases: [string, string][] = [
            ["{not json", "application/json"],
            [JSON.stringify({ dataframe_split: { columns: ["nope"], data: [["a"]] } }), "application/json"],
            ["x0,x1\n1,2\n", "application/octet-stream"],
        ];
        for (const [body, contentType] of cases) {
            const bare = await call(`${scoring.url}/invocations`, post(body, contentType));
            const proxied = await call(`${telemetry.proxyUrl}/invocations`, post(body, contentType));
            assert.ok(bare.status >= 400 && bare.status < 500, `the scoring server refuses ${body}: ${bare.status}`);
            assert.deepEqual({ ...proxied, predictionId: null }, { ...bare, predictionId: null }, body);
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
        const logs = telemetry.logs();
        assert.equal(countLines(logs, /POST \/invocations answered 400 by the scoring server/), 1, logs);
        assert.equal(countLines(logs, /POST \/invocations answered 415 by the scoring server/), 1, logs);
        assert.doesNotMatch(logs, /Traceback/);
        assert.ok(telemetry.alive());
        const ok = await call(`${telemetry.proxyUrl}/invocations`, post(invocation([[0, 0, 0, 0]])));
        assert.equal(ok.status, 200);
    });

    it("answers 502 with a JSON error and one log line when the scoring server is down, and keeps serving", async () => {
        const nothing = await freePort();
        const telemetry = await sidecar("clf-7d9f8b6c5d-down1", {}, nothing);
        for (let i = 0; i < 3; i++) {
            const answer = await call(`${telemetry.proxyUrl}/invocations`, post(invocation([[0, 0, 0, 0]])));
            assert.equal(answer.status, 502);
            assert.equal(answer.contentType, "application/json");
            const error = JSON.parse(answer.body) as { error_code: string; message: string };
            assert.equal(error.error_code, "SCORING_SERVER_UNAVAILABLE");
            assert.match(error.message, new RegExp(`the scoring server at 127\\.0\\.0\\.1:${nothing} is unreachable for POST /invocations`));
        }
        assert.equal((await call(`${telemetry.proxyUrl}/ping`)).status, 502);
        assert.equal((await call(`${telemetry.adminUrl}/mlops/ready`)).status, 503);
        assert.equal((await call(`${telemetry.adminUrl}/mlops/live`)).status, 200);
        const logs = telemetry.logs();
        // Rate-limited: the first failure of a kind is one line, repeats within 10 s are counted into the next.
        assert.equal(countLines(logs, /POST \/invocations: the scoring server at .* is unreachable/), 1, logs);
        assert.doesNotMatch(logs, /Traceback/);
        assert.ok(telemetry.alive());
    });

    it("replays the version's evaluation sample from the registry: accuracy on known labels", async () => {
        const telemetry = await sidecar("clf-7d9f8b6c5d-rep01");
        const answer = await call(`${telemetry.adminUrl}/mlops/replay`, { method: "POST" });
        assert.equal(answer.status, 200, answer.body);
        const summary = JSON.parse(answer.body) as { run_id: string; rows: number; correct: number; accuracy: number; version: string };
        assert.equal(summary.run_id, model.runId);
        assert.equal(summary.version, model.version);
        assert.equal(summary.rows, model.evaluationRows);
        assert.ok(summary.accuracy >= 0.9, `accuracy ${summary.accuracy}`);
        const state = JSON.parse((await call(`${telemetry.adminUrl}/mlops/state`)).body) as {
            accuracy: { labelled: number; value: number };
            drift: { rows: number };
            confidence: { rows: number };
        };
        assert.equal(state.accuracy.labelled, model.evaluationRows);
        assert.equal(state.accuracy.value, summary.accuracy);
        assert.equal(state.drift.rows, 0, "replayed rows are not live traffic: no drift");
        assert.equal(state.confidence.rows, 0, "nor confidence");
        const metrics = (await call(`${telemetry.adminUrl}/metrics`)).body;
        assert.match(metrics, new RegExp(`mlops_evaluation_replayed_rows_total\\{[^}]*\\} ${model.evaluationRows}\\.0`));
    });

    it("answers the registry's 404 when the version has no such model, with one log line", async () => {
        const telemetry = await sidecar("clf-7d9f8b6c5d-rep02", {}, scoring.port, "no_such_model");
        const answer = await call(`${telemetry.adminUrl}/mlops/replay`, { method: "POST" });
        assert.equal(answer.status, 404, answer.body);
        assert.match((JSON.parse(answer.body) as { message: string }).message, /MLflow answered 404 for model version no_such_model\//);
        assert.equal(countLines(telemetry.logs(), /evaluation replay failed/), 1);
    });

    it("keeps its state within the configured windows however many requests it sees", async () => {
        const windows = {
            MLOPS_DRIFT_WINDOW: "50",
            MLOPS_DRIFT_MIN_ROWS: "10",
            MLOPS_ACCURACY_WINDOW: "30",
            MLOPS_ACCURACY_MIN_LABELS: "5",
            MLOPS_CONFIDENCE_WINDOW: "40",
            MLOPS_CONFIDENCE_MIN_ROWS: "5",
            MLOPS_PENDING_MAX: "20",
            MLOPS_PENDING_MAX_ROWS: "2",
        };
        const telemetry = await sidecar("clf-7d9f8b6c5d-bnd01", windows);
        await waitForReference(telemetry);
        const rows = drawRows(3, 400).map((r) => r.features);
        const ids: string[] = [];
        for (let i = 0; i < rows.length; i += 4) {
            const answer = await call(`${telemetry.proxyUrl}/invocations`, post(invocation(rows.slice(i, i + 4))));
            assert.equal(answer.status, 200);
            ids.push(answer.predictionId ?? "");
        }
        // Labels for the newest 10 predictions (still pending) and for the oldest 10 (evicted long ago).
        const feedback = [...ids.slice(-10), ...ids.slice(0, 10)].map((id) => ({ prediction_id: id, labels: [0, 1, 2, 0] }));
        const fed = JSON.parse((await call(`${telemetry.adminUrl}/mlops/feedback`, post(JSON.stringify(feedback)))).body) as {
            matched: number;
            unknown: number;
        };
        assert.deepEqual(fed, { ...fed, matched: 20, unknown: 10 }, "two rows kept per pending prediction (MLOPS_PENDING_MAX_ROWS)");
        const state = JSON.parse((await call(`${telemetry.adminUrl}/mlops/state`)).body) as {
            drift: { rows: number; size: number; counts: number[][] };
            accuracy: { labelled: number; size: number };
            confidence: { rows: number; size: number };
            pending: { entries: number; capacity: number; evicted: number };
        };
        assert.equal(state.drift.rows, 50);
        assert.equal(state.drift.size, 50);
        assert.deepEqual(
            state.drift.counts.map((c) => c.reduce((a, b) => a + b, 0)),
            [50, 50, 50, 50],
        );
        assert.equal(state.confidence.rows, 40);
        assert.equal(state.accuracy.labelled, 20);
        assert.equal(state.pending.entries, 10, "20 kept, 10 of them labelled (a prediction is labelled once)");
        assert.equal(state.pending.capacity, 20);
        assert.equal(state.pending.evicted, 100 - 20);
    });
});
