import * as assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { judgeModel } from "../../cli/monitor/judge";
import { PrometheusClient, PrometheusError } from "../../cli/monitor/prometheus";
import type { MonitoringSettings } from "../../components/modelServing/monitoring";
import { points, type RunningPrometheus, type SeriesSet, startPrometheus } from "../support/prometheus";

/**
 * The monitor's judgement of one serving version, read through the real Prometheus HTTP API from
 * backfilled series of known values, with the same PromQL the alerting rules evaluate.
 */

const SETTINGS: MonitoringSettings = {
    checkInterval: "5m",
    window: "30m",
    minSamples: 10,
    drift: { alert: 0.1, rollback: 0.18 },
    errorRate: { alert: 0.01, rollback: 0.05 },
};
// A fixed moment an hour ago, on a minute boundary; every series is written over the half hour before it.
const AT = Math.floor(Date.now() / 60_000) * 60 - 3600;
const FROM = AT - 30 * 60 + 30;
const identity = (model: string, version: string, pod: string) => ({ namespace: "models", model, model_version: version, pod });

function drift(model: string, version: string, value: number, count = 60, pod = `${model}-primary-5d9c7b-x2k4q`): SeriesSet {
    return { metric: "mlops_feature_drift_score", type: "gauge", points: points(identity(model, version, pod), FROM, count, 30, () => value) };
}

function requests(model: string, version: string, code: string, perStep: number): SeriesSet {
    return {
        metric: "mlops_requests_total",
        type: "counter",
        points: points({ ...identity(model, version, `${model}-primary-5d9c7b-x2k4q`), path: "/invocations", code }, FROM, 60, 30, (i) => i * perStep),
    };
}

describe("monitor: judging a serving version from a real Prometheus", function () {
    this.timeout(120_000);
    let prometheus: RunningPrometheus;
    let client: PrometheusClient;
    const at = new Date(AT * 1000);

    before(async () => {
        prometheus = await startPrometheus([
            drift("steady", "3", 0.04),
            drift("drifting", "5", 0.14),
            drift("gone", "7", 0.25),
            // The worst pod counts: one of two pods drifts past the rollback threshold.
            drift("split", "2", 0.02),
            drift("split", "2", 0.3, 60, "split-primary-5d9c7b-y7z8q"),
            // Three samples in the window: not enough to judge.
            drift("young", "1", 0.4, 3),
            // Another version of the same model drifts: only the declared one is judged.
            drift("steady", "2", 0.9),
            drift("failing", "4", 0.02),
            requests("failing", "4", "200", 90),
            requests("failing", "4", "500", 10),
        ]);
        client = new PrometheusClient({ url: prometheus.url });
    });
    after(async () => prometheus?.stop());

    const judge = (model: string, version: string) => judgeModel(client, { namespace: "models", model, version }, SETTINGS, at);

    it("a version inside every threshold is ok", async () => {
        const j = await judge("steady", "3");
        assert.equal(j.verdict, "cannot-judge", "the error rate has no series: it cannot be judged");
        assert.deepEqual(
            j.readings.map((r) => [r.signal, r.state, r.value === undefined ? undefined : Number(r.value.toFixed(3)), r.samples]),
            [
                ["drift", "ok", 0.04, 60],
                ["errorRate", "cannot-judge", undefined, 0],
            ],
        );
        const driftOnly = await judgeModel(client, { namespace: "models", model: "steady", version: "3" }, { ...SETTINGS, errorRate: undefined }, at);
        assert.equal(driftOnly.verdict, "ok");
        assert.equal(driftOnly.summary, "drift 0.040 (ok; alert above 0.1, 60 samples)");
    });

    it("drift between the alert and the rollback thresholds alerts", async () => {
        const j = await judgeModel(client, { namespace: "models", model: "drifting", version: "5" }, { ...SETTINGS, errorRate: undefined }, at);
        assert.equal(j.verdict, "alert");
        assert.equal(j.summary, "drift 0.140 (alert above 0.1, 60 samples)");
    });

    it("drift past the rollback threshold across the window rolls back; the worst pod counts", async () => {
        // Samples are counted over every pod of the version: two pods of 60 samples each are 120.
        for (const [model, version, value, samples] of [
            ["gone", "7", "0.250", 60],
            ["split", "2", "0.300", 120],
        ] as const) {
            const j = await judgeModel(client, { namespace: "models", model, version }, { ...SETTINGS, errorRate: undefined }, at);
            assert.equal(j.verdict, "rollback", model);
            assert.equal(j.summary, `drift ${value} (rollback above 0.18, ${samples} samples)`);
        }
    });

    it("a 10% share of 5xx rolls back on the error rate", async () => {
        const j = await judge("failing", "4");
        assert.equal(j.verdict, "rollback");
        assert.equal(j.summary, "drift 0.020 (ok; alert above 0.1, 60 samples); errorRate 0.100 (rollback above 0.05, 120 samples)");
    });

    it("too few samples, or no series at all, cannot be judged — never a rollback", async () => {
        const young = await judgeModel(client, { namespace: "models", model: "young", version: "1" }, { ...SETTINGS, errorRate: undefined }, at);
        assert.equal(young.verdict, "cannot-judge");
        assert.equal(young.summary, "drift: cannot judge (3 samples over 30m, fewer than 10)");
        const absent = await judgeModel(client, { namespace: "models", model: "steady", version: "9" }, { ...SETTINGS, errorRate: undefined }, at);
        assert.equal(absent.verdict, "cannot-judge");
        assert.equal(absent.summary, "drift: cannot judge (no drift series over 30m)");
    });

    describe("a Prometheus that fails is an error, never a verdict", () => {
        async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
            const server = http.createServer(handler);
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            const { port } = server.address() as AddressInfo;
            return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
        }
        const settings = { ...SETTINGS, errorRate: undefined };

        it("down", async () => {
            const dead = new PrometheusClient({ url: "http://127.0.0.1:9" });
            await assert.rejects(judgeModel(dead, { namespace: "models", model: "m", version: "1" }, settings, at), (err: unknown) => {
                assert.ok(err instanceof PrometheusError);
                assert.equal(err.kind, "unreachable");
                assert.match(err.message, /^Prometheus at http:\/\/127\.0\.0\.1:9 is unreachable: /);
                return true;
            });
        });

        it("HTTP 500, and a 200 with HTML", async () => {
            const failing = await serve((_req, res) => res.writeHead(500, { "content-type": "text/plain" }).end("internal error"));
            const garbage = await serve((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>"));
            try {
                await assert.rejects(judgeModel(new PrometheusClient({ url: failing.url }), { namespace: "models", model: "m", version: "1" }, settings, at), {
                    name: "PrometheusError",
                    message: `Prometheus at ${failing.url} answered HTTP 500 with something that is not JSON: internal error`,
                });
                await assert.rejects(judgeModel(new PrometheusClient({ url: garbage.url }), { namespace: "models", model: "m", version: "1" }, settings, at), {
                    name: "PrometheusError",
                    message: `Prometheus at ${garbage.url} answered HTTP 200 with something that is not JSON: <html>login</html>`,
                });
            } finally {
                await failing.close();
                await garbage.close();
            }
        });
    });
});
