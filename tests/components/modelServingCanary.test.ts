import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import {
    acceptanceCommand,
    CANARY_DEFAULTS,
    canaryAnalysis,
    canaryProblems,
    flaggerDuration,
    loadTestCommand,
    metricInterval,
    resolveCanary,
    shellQuote,
} from "../../components/modelServing/canary";
import { MIRRORING_PROVIDERS } from "../../components/modelServing/routing";
import { describeArgProblem } from "../../components/validation";

/** Runs a command line with a real shell; resolves with its exit code and output. */
function shell(sh: "sh" | "bash", command: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(sh, ["-c", command], { timeout: 20_000 }, (err, stdout, stderr) => {
            const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1;
            resolve({ code, stdout, stderr });
        });
    });
}

interface Received {
    readonly method: string;
    readonly url: string;
    readonly contentType: string | undefined;
    readonly traffic: string | string[] | undefined;
    readonly body: string;
}

/** A local HTTP server standing in for the canary Service's address: it records what arrives. */
async function recordingServer(status: number): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
    const received: Received[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
        req.on("end", () => {
            received.push({
                method: req.method ?? "",
                url: req.url ?? "",
                contentType: req.headers["content-type"],
                traffic: req.headers["x-mlops-traffic"],
                body,
            });
            res.writeHead(status, { "content-type": "application/json" }).end('{"predictions": [1]}');
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const TRICKY_BODY = `{"dataframe_split": {"columns": ["note"], "data": [["it's $HOME \`x\` \\"q\\""]]}}`;

describe("ModelServing canary analysis", () => {
    describe("resolveCanary defaults", () => {
        const resolved = resolveCanary(undefined);
        it("step weights 1 → 5 → 25 → 50", () => {
            assert.deepEqual(CANARY_DEFAULTS.stepWeights, [1, 5, 25, 50]);
            assert.deepEqual(resolved.strategy, { kind: "progressive", stepWeights: [1, 5, 25, 50] });
        });
        it("interval 1m", () => assert.equal(resolved.interval, "1m"));
        it("threshold 5", () => assert.equal(resolved.threshold, 5));
        it("max latency 500 ms", () => assert.equal(resolved.maxLatencyMs, 500));
        it("min success rate 99 %", () => assert.equal(resolved.minSuccessRate, 99));
        it("a load test at 10 rps", () => assert.deepEqual(resolved.loadTest, { rps: 10 }));
        it("no mirroring, no quality checks, no acceptance request", () => {
            assert.equal(resolved.mirror, undefined);
            assert.deepEqual(resolved.quality, {});
            assert.equal(resolved.acceptanceRequest, undefined);
        });
        it("A/B testing on X-Deployment-Context: canary for 10 iterations", () => {
            assert.deepEqual(resolveCanary({ abTesting: {} }).strategy, { kind: "abTesting", header: "X-Deployment-Context", value: "canary", iterations: 10 });
        });
        it("mirroring all of the traffic", () => assert.deepEqual(resolveCanary({ mirror: true }).mirror, { weight: 100 }));
    });

    describe("resolveCanary with the user's values", () => {
        it("keeps what is declared and switches the load test off when asked", () => {
            const r = resolveCanary({
                stepWeights: [10, 50],
                interval: "30s",
                threshold: 3,
                maxLatencyMs: 1500,
                minSuccessRate: 98,
                loadTest: { enabled: false },
                quality: { maxDriftScore: 0.2 },
            });
            assert.deepEqual(r.strategy, { kind: "progressive", stepWeights: [10, 50] });
            assert.deepEqual([r.interval, r.threshold, r.maxLatencyMs, r.minSuccessRate, r.loadTest], ["30s", 3, 1500, 98, undefined]);
            assert.deepEqual(r.quality, { maxDriftScore: 0.2 });
        });
        it("writes hours as minutes, the only units of Flagger's CRD (^[0-9]+(m|s))", () => {
            assert.equal(resolveCanary({ interval: "2h" }).interval, "120m");
            assert.equal(flaggerDuration("45s"), "45s");
        });
        it("measures metrics over at least a minute", () => {
            assert.equal(metricInterval("30s"), "1m");
            assert.equal(metricInterval("2m"), "2m");
            const a = canaryAnalysis(resolveCanary({ interval: "30s" }), TARGETS);
            assert.deepEqual(
                (a["metrics"] as Array<{ interval: string }>).map((m) => m.interval),
                ["1m", "1m"],
            );
            assert.equal(a["interval"], "30s");
        });
    });

    describe("the acceptance test, run by a real bash", () => {
        it("posts the configured request as JSON to the canary's /invocations, whatever its quotes", async () => {
            const server = await recordingServer(200);
            try {
                const result = await shell("bash", acceptanceCommand(resolveCanary({ acceptanceRequest: TRICKY_BODY }), server.url));
                assert.equal(result.code, 0, result.stderr);
                // Marked as the platform's own traffic: the telemetry keeps it out of the drift and confidence windows.
                assert.deepEqual(server.received, [
                    { method: "POST", url: "/invocations", contentType: "application/json", traffic: "synthetic", body: TRICKY_BODY },
                ]);
            } finally {
                await server.close();
            }
        });
        it("checks /health when no request is configured", async () => {
            const server = await recordingServer(200);
            try {
                assert.equal((await shell("bash", acceptanceCommand(resolveCanary({}), server.url))).code, 0);
                assert.deepEqual(
                    server.received.map((r) => [r.method, r.url, r.traffic]),
                    [["GET", "/health", "synthetic"]],
                );
            } finally {
                await server.close();
            }
        });
        it("fails (so the webhook fails) when the model answers with an error", async () => {
            const server = await recordingServer(400);
            try {
                const result = await shell("bash", acceptanceCommand(resolveCanary({ acceptanceRequest: '{"inputs": [[1]]}' }), server.url));
                assert.notEqual(result.code, 0);
            } finally {
                await server.close();
            }
        });
    });

    describe("the evaluation replay, run by a real bash", () => {
        const webhooks = (quality: { minAccuracy?: number; maxDriftScore?: number }) =>
            canaryAnalysis(resolveCanary({ quality }), TARGETS)["webhooks"] as Array<{ name: string; type: string; metadata: { type: string; cmd: string } }>;

        it("runs before every metric check when accuracy is checked, and only then", () => {
            assert.deepEqual(
                webhooks({ minAccuracy: 0.9 }).map((w) => [w.name, w.type, w.metadata.type]),
                [
                    ["acceptance-test", "pre-rollout", "bash"],
                    // `rollout` webhooks run in order before the metric checks; `bash` blocks until the replay ends.
                    ["evaluation-replay", "rollout", "bash"],
                    ["load-test", "rollout", "cmd"],
                ],
            );
            assert.deepEqual(
                webhooks({ maxDriftScore: 0.2 }).map((w) => w.name),
                ["acceptance-test", "load-test"],
            );
        });
        it("posts to the canary's /mlops/replay, and fails the webhook when the replay fails", async () => {
            const replay = webhooks({ minAccuracy: 0.9 }).find((w) => w.name === "evaluation-replay");
            assert.ok(replay !== undefined);
            assert.match(replay.metadata.cmd, /^curl -fsS --max-time 110 -X POST http:\/\/m-canary\.models:8090\/mlops\/replay$/);
            for (const [status, succeeds] of [
                [200, true],
                [404, false],
                [502, false],
            ] as const) {
                const server = await recordingServer(status);
                try {
                    const result = await shell("bash", replay.metadata.cmd.replace("http://m-canary.models:8090", server.url));
                    assert.equal(result.code === 0, succeeds, `replay answered ${status}: exit ${result.code}`);
                    assert.deepEqual(
                        server.received.map((r) => [r.method, r.url]),
                        [["POST", "/mlops/replay"]],
                    );
                } finally {
                    await server.close();
                }
            }
        });
    });

    describe("the load test command, split by a real sh", () => {
        // The load tester runs `cmd` tasks with `sh -c`; `hey` is replaced by a function that prints its argv.
        const argv = async (command: string) => (await shell("sh", `hey() { printf '%s\\n' "$@"; }; ${command}`)).stdout.trimEnd().split("\n");

        it("sends the configured rate (rps split over two workers) of the request to the public host, marked as synthetic traffic", async () => {
            const command = loadTestCommand(resolveCanary({ acceptanceRequest: TRICKY_BODY, loadTest: { rps: 5 } }), TARGETS) as string;
            assert.deepEqual(await argv(command), [
                "-z",
                "1m",
                "-q",
                "2.5",
                "-c",
                "2",
                "-H",
                "X-MLOps-Traffic: synthetic",
                "-m",
                "POST",
                "-T",
                "application/json",
                "-d",
                TRICKY_BODY,
                "https://m.ml.example.com/invocations",
            ]);
        });
        it("carries the A/B header, so that the load reaches the canary", async () => {
            const command = loadTestCommand(
                resolveCanary({ abTesting: { header: "X-Cohort", value: "beta testers" }, loadTest: { rps: 1 } }),
                TARGETS,
            ) as string;
            assert.deepEqual(await argv(command), [
                "-z",
                "1m",
                "-q",
                "1",
                "-c",
                "1",
                "-H",
                "X-MLOps-Traffic: synthetic",
                "-H",
                "X-Cohort: beta testers",
                "https://m.ml.example.com/health",
            ]);
        });
        it("is absent when the load test is off", () => {
            assert.equal(loadTestCommand(resolveCanary({ loadTest: { enabled: false } }), TARGETS), undefined);
        });
        it("quotes for a POSIX shell", () => assert.equal(shellQuote("it's"), `'it'\\''s'`));
    });

    describe("canaryProblems: what a provider's router can do, and settings that exclude each other", () => {
        const problems = (provider: Parameters<typeof canaryProblems>[1], canary: Parameters<typeof canaryProblems>[0]) =>
            canaryProblems(canary, provider).map(describeArgProblem);

        it("mirrors only through Istio: Flagger's Gateway API routers do not mirror a weighted canary", () => {
            assert.deepEqual(MIRRORING_PROVIDERS, ["istio"]);
            assert.deepEqual(problems("istio", { mirror: true }), []);
            assert.deepEqual(problems("gatewayapi:v1", { mirror: true }), [
                'canary.mirror needs a provider that mirrors traffic ("istio"), and this one is "gatewayapi:v1", got true',
            ]);
            assert.deepEqual(problems("nginx", { mirror: true }), [
                'canary.mirror needs a provider that mirrors traffic ("istio"), and this one is "nginx", got true',
            ]);
        });
        it("takes mirrorWeight only with mirror", () => {
            assert.deepEqual(problems("istio", { mirrorWeight: 20 }), ["canary.mirrorWeight applies only when mirror is true, got 20"]);
            assert.deepEqual(problems("istio", { mirror: true, mirrorWeight: 20 }), []);
        });
        it("never mirrors an A/B test, and never shifts weights during one", () => {
            assert.deepEqual(problems("istio", { mirror: true, abTesting: {} }), ["canary.mirror cannot be combined with abTesting, got true"]);
            assert.deepEqual(problems("nginx", { abTesting: {}, stepWeights: [10] }), [
                "canary.stepWeights cannot be combined with abTesting, which routes by header instead of shifting weights: remove one, got [10]",
            ]);
            for (const provider of ["nginx", "istio", "gatewayapi:v1", "gatewayapi:v1beta1"] as const)
                assert.deepEqual(problems(provider, { abTesting: { iterations: 5 } }), [], provider);
        });
        it("wants step weights from 1 to 100, ascending, and a Flagger interval", () => {
            assert.deepEqual(problems("nginx", { stepWeights: [10, 10] }), [
                "canary.stepWeights[1] must be more than the step before (10): weights ascend, got [10,10]",
            ]);
            assert.deepEqual(problems("nginx", { stepWeights: [0, 10] }), ["canary.stepWeights[0] must be a whole percentage from 1 to 100, got 0"]);
            assert.deepEqual(problems("nginx", { interval: "1d" }), ['canary.interval must be a duration such as "30s", "1m" or "2h", got "1d"']);
            assert.deepEqual(problems("nginx", { stepWeights: [1, 5, 25, 50], interval: "2h" }), []);
        });
    });
});

const TARGETS = {
    provider: "nginx" as const,
    loadTesterUrl: "http://flagger-loadtester.flagger/",
    canaryServiceUrl: "http://m-canary.models:80",
    canaryTelemetryUrl: "http://m-canary.models:8090",
    publicUrl: "https://m.ml.example.com",
    metricTemplates: { accuracy: { name: "a", namespace: "f" }, driftScore: { name: "d", namespace: "f" }, confidence: { name: "c", namespace: "f" } },
    alertProvider: undefined,
};
