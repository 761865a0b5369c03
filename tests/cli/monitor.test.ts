import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type FaultyServer, startCannedServer, unusedUrl } from "../support/faultyServers";
import { canaryObject, fakeCluster, primaryObject } from "../support/fakeCluster";
import { DECLARATION_LOCK } from "../../cli/gitops/lock";
import { type CliResult, registrySnapshot, runCli, runCliUntil, type SeededModel, useRegistryWorkbench } from "../support/gitRepo";
import { points, type RunningPrometheus, type SeriesSet, startPrometheus } from "../support/prometheus";

/**
 * `npm run monitor` and `wait-rollout --rollback-failed` as child processes, on a temporary git
 * repository holding copies of the shipped stack files, against a real Prometheus holding backfilled
 * series, the tests' real MLflow registry and a local webhook receiver. Staging's monitoring is the
 * stack defaults': a 30m window, at least 10 samples, drift alert above 0.1, rollback above 0.18.
 */

const STAGING = "Pulumi.staging.yaml";
const MODEL = "fraud-detector";
const REGISTERED = "fraud_detector";
const OTHER = { model: "product-image-tagger", version: "4" };

// Three judged moments, an hour apart, each on a minute boundary, each window written separately.
const BASE = Math.floor(Date.now() / 60_000) * 60 - 4 * 3600;
const MOMENTS = { drifted: BASE, drifting: BASE + 3600, quiet: BASE + 7200 } as const;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function drift(model: string, version: string, at: number, value: number): SeriesSet {
    const labels = { namespace: "models", model, model_version: version, pod: `${model}-primary-5d9c7b-x2k4q` };
    return { metric: "mlops_feature_drift_score", type: "gauge", points: points(labels, at - 30 * 60 + 30, 60, 30, () => value) };
}

function assertExit(result: CliResult, code: number): void {
    assert.equal(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

interface Message {
    readonly text: string;
    readonly blocks: unknown[];
}
const messages = (server: FaultyServer): Message[] => server.requests.map((r) => JSON.parse(r.body) as Message);

describe("npm run monitor (child processes, real Prometheus, real MLflow registry, temporary git repository)", function () {
    this.timeout(240_000);
    const bench = useRegistryWorkbench();
    let prometheus: RunningPrometheus;
    let empty: RunningPrometheus;
    let webhook: FaultyServer;
    let candidate: string;
    let previous: string;
    let original: string;

    before(async () => {
        candidate = (bench.seeded[REGISTERED] as SeededModel).candidateVersion;
        prometheus = await startPrometheus([
            // The candidate drifts past the rollback threshold across the whole window…
            drift(MODEL, candidate, MOMENTS.drifted, 0.25),
            // …an hour later, between the alert and the rollback thresholds…
            drift(MODEL, candidate, MOMENTS.drifting, 0.14),
            // …and the other model stays well inside at every moment.
            ...Object.values(MOMENTS).map((at) => drift(OTHER.model, OTHER.version, at, 0.02)),
        ]);
        empty = await startPrometheus([]);
    });
    after(async () => {
        await prometheus?.stop();
        await empty?.stop();
    });
    beforeEach(async () => {
        webhook = await startCannedServer({ status: 200, contentType: "text/plain", body: "ok" });
        previous = (await bench.registry.getVersionByAlias(REGISTERED, "staging"))?.version as string;
        original = bench.repo.read(STAGING);
        // The candidate is promoted into staging: one commit, the staging alias moved to it.
        const promoted = await runCli("promote", [MODEL, candidate, "--to", "staging"], { projectDir: bench.repo.dir, trackingUri: bench.server.url });
        assertExit(promoted, 0);
    });
    afterEach(async () => webhook.close());

    const monitor = (args: readonly string[], options: { prometheusUrl?: string; env?: NodeJS.ProcessEnv } = {}) =>
        runCli("monitor", ["--stack", "staging", "--prometheus", options.prometheusUrl ?? prometheus.url, "--webhook", webhook.url, ...args], {
            projectDir: bench.repo.dir,
            trackingUri: bench.server.url,
            ...(options.env !== undefined && { env: options.env }),
        });
    const aliasVersion = async () => (await bench.registry.getVersionByAlias(REGISTERED, "staging"))?.version;

    it("drift past the rollback threshold across the window: one rollback commit restoring the file byte for byte, the alias moved back, one webhook call", async () => {
        const head = bench.repo.head();
        const result = await monitor(["--at", iso(MOMENTS.drifted)]);
        assertExit(result, 3);
        const commit = bench.repo.head();
        assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head, "exactly one commit");
        assert.equal(bench.repo.read(STAGING), original, "the stack file is the previous declaration, byte for byte");
        assert.equal(bench.repo.git("status", "--porcelain"), "");
        assert.equal(
            result.stdout,
            `${MODEL} ${candidate}: rollback — drift 0.250 (rollback above 0.18, 60 samples); rolled back ${candidate} → ${previous}: commit ${commit.slice(0, 12)}; notified\n` +
                `${OTHER.model} ${OTHER.version}: ok — drift 0.020 (ok; alert above 0.1, 60 samples)\n`,
        );

        // The commit is the incident record: measured values, thresholds, the window, and the trailers.
        const message = bench.repo.git("log", "-1", "--format=%B");
        assert.match(message, new RegExp(`^rollback ${MODEL} ${candidate} → ${previous} in staging\n`));
        assert.ok(message.includes("Reason:      monitor: drift 0.250 above the rollback threshold 0.18 (alert 0.1; 60 samples)\n"), message);
        assert.ok(message.includes("Measured:    drift 0.250 (rollback above 0.18, 60 samples)\n"), message);
        assert.ok(message.includes("Watched:     over 30m, at least 10 samples, checked every 5m\n"), message);
        assert.equal(
            bench.repo.git("log", "-1", "--format=%(trailers:only,unfold)").trim(),
            `Rolled-Back: ${MODEL} version ${candidate}\nRollback-Reason: monitor: drift 0.250 above the rollback threshold 0.18 (alert 0.1; 60 samples)`,
        );

        assert.equal(await aliasVersion(), previous);
        const tag = JSON.parse((await bench.registry.getModelVersion(REGISTERED, candidate)).tags["mlops.rolled_back.staging"] as string) as Record<
            string,
            string
        >;
        assert.equal(tag["commit"], commit);
        assert.equal(tag["restoredVersion"], previous);
        assert.equal(tag["reason"], "monitor: drift 0.250 above the rollback threshold 0.18 (alert 0.1; 60 samples)");

        const sent = messages(webhook);
        assert.equal(sent.length, 1, "one message per decision, and only the rollback is one");
        assert.equal(webhook.requests[0]?.headers["content-type"], "application/json");
        const text = sent[0]?.text ?? "";
        assert.equal(text.split("\n")[0], `staging: ${MODEL} rolled back ${candidate} → ${previous}`);
        assert.ok(text.includes("Measured: drift 0.250 (rollback above 0.18, 60 samples)"), text);
        assert.ok(text.includes(`Commit: ${commit}`), text);
        assert.ok(Array.isArray(sent[0]?.blocks) && (sent[0]?.blocks.length ?? 0) > 0);

        // The next run judges what git now declares: the previous version, which has no series here, is not rolled back again.
        const again = await monitor(["--at", iso(MOMENTS.drifted)]);
        assertExit(again, 1);
        assert.equal(bench.repo.head(), commit);
        assert.match(again.stdout, new RegExp(`^${MODEL} ${previous}: alert — drift: cannot judge \\(no drift series over 30m\\)`, "m"));
    });

    it("drift between the alert and the rollback thresholds: one notification, no commit, the alias unchanged", async () => {
        const head = bench.repo.head();
        const before = await registrySnapshot(bench.server.url, bench.seeded);
        const result = await monitor(["--at", iso(MOMENTS.drifting), "--json"]);
        assertExit(result, 1);
        const report = JSON.parse(result.stdout) as { exitCode: number; models: Array<{ model: string; decision: string; summary: string }> };
        assert.equal(report.exitCode, 1);
        assert.deepEqual(
            report.models.map((m) => [m.model, m.decision, m.summary]),
            [
                [MODEL, "alert", "drift 0.140 (alert above 0.1, 60 samples)"],
                [OTHER.model, "ok", "drift 0.020 (ok; alert above 0.1, 60 samples)"],
            ],
        );
        assert.equal(bench.repo.head(), head);
        assert.deepEqual(await registrySnapshot(bench.server.url, bench.seeded), before);
        const sent = messages(webhook);
        assert.equal(sent.length, 1);
        assert.equal(sent[0]?.text, `staging: ${MODEL} version ${candidate} — alert (nothing changed)\ndrift 0.140 (alert above 0.1, 60 samples)`);
    });

    describe("missing data never rolls back: no commit, no registry change, a clear message, exit 1", () => {
        const cases: Array<[string, () => Promise<{ url: string; close?: () => Promise<void> }>, RegExp]> = [
            ["Prometheus down", async () => ({ url: await unusedUrl() }), /cannot judge: Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable: /],
            ["Prometheus holding no series", async () => ({ url: empty.url }), /drift: cannot judge \(no drift series over 30m\)/],
            [
                "Prometheus answering HTTP 500",
                () => startCannedServer({ status: 500, contentType: "text/plain", body: "internal error" }),
                /cannot judge: Prometheus at http:\/\/127\.0\.0\.1:\d+ answered HTTP 500 with something that is not JSON: internal error/,
            ],
            [
                "Prometheus answering a login page",
                () => startCannedServer({ status: 200, contentType: "text/html", body: "<html>login</html>" }),
                /cannot judge: Prometheus at http:\/\/127\.0\.0\.1:\d+ answered HTTP 200 with something that is not JSON: <html>login<\/html>/,
            ],
            ["a window with too few samples", async () => ({ url: prometheus.url }), /drift: cannot judge \(\d+ samples over 30m, fewer than 10\)/],
        ];
        for (const [name, serve, said] of cases) {
            it(name, async () => {
                const server = await serve();
                try {
                    const head = bench.repo.head();
                    const before = await registrySnapshot(bench.server.url, bench.seeded);
                    // Too few samples: 26 minutes after the drifted window ended, the window holds its last 4 minutes (8 samples).
                    const at = name === "a window with too few samples" ? iso(MOMENTS.drifted + 26 * 60) : iso(MOMENTS.drifted);
                    const result = await monitor(["--at", at], { prometheusUrl: server.url });
                    assertExit(result, 1);
                    const line = result.stdout.split("\n").find((l) => l.startsWith(`${MODEL} ${candidate}: `)) ?? "";
                    assert.match(line, /: alert — /, result.stdout);
                    assert.match(line, said);
                    assert.equal(bench.repo.head(), head);
                    assert.equal(bench.repo.git("status", "--porcelain"), "");
                    assert.deepEqual(await registrySnapshot(bench.server.url, bench.seeded), before);
                    assert.equal(await aliasVersion(), candidate);
                    assert.ok(
                        messages(webhook).some((m) => m.text.startsWith(`staging: ${MODEL} version ${candidate} — cannot judge, alert (nothing changed)`)),
                    );
                } finally {
                    await server.close?.();
                }
            });
        }
    });

    it("two monitors started together: exactly one rollback commit; the other finds the declaration moved and changes nothing", async () => {
        const head = bench.repo.head();
        // The race made certain: this test holds the declaration lock (as a running command would)
        // until both monitors have judged version 10 and wait for it; only then may one of them commit.
        const lock = path.join(bench.repo.dir, ".git", DECLARATION_LOCK);
        fs.writeFileSync(lock, `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() })}\n`, { flag: "wx" });
        let waiting = 0;
        let release: () => void = () => undefined;
        const bothWaiting = new Promise<void>((resolve) => (release = resolve));
        const racer = () =>
            runCliUntil("monitor", ["--stack", "staging", "--prometheus", prometheus.url, "--webhook", webhook.url, "--at", iso(MOMENTS.drifted)], {
                projectDir: bench.repo.dir,
                trackingUri: bench.server.url,
                onStderr: (text) => {
                    if (text.includes(`waiting: another command holds ${lock}`) && ++waiting === 2) release();
                },
            });
        const running = Promise.all([racer(), racer()]);
        await bothWaiting;
        assert.equal(bench.repo.head(), head, "nothing committed while the lock is held");
        fs.rmSync(lock);
        const results = await running;
        assert.deepEqual(results.map((r) => r.code).sort(), [1, 3], results.map((r) => `${r.code}: ${r.stdout}${r.stderr}`).join("\n"));
        assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head, "exactly one commit");
        assert.equal(bench.repo.read(STAGING), original);
        assert.equal(await aliasVersion(), previous);
        const loser = results.find((r) => r.code === 1) as CliResult;
        assert.match(
            loser.stdout,
            new RegExp(
                `not rolled back: refused to roll back ${MODEL} in staging: ${STAGING} now declares version ${previous} of "${MODEL}", not ${candidate}`,
            ),
        );
    });

    it("--dry-run decides and shows the rollback, changing nothing and notifying nobody (exit 1)", async () => {
        const head = bench.repo.head();
        const result = await monitor(["--at", iso(MOMENTS.drifted), "--dry-run"]);
        assertExit(result, 1);
        assert.match(result.stdout, new RegExp(`^${MODEL} ${candidate}: alert — drift 0\\.250 .*; dry run: would roll back ${candidate} → ${previous} `, "m"));
        assert.equal(bench.repo.head(), head);
        assert.equal(await aliasVersion(), candidate);
        assert.equal(webhook.requests.length, 0);
    });

    it("a webhook that fails does not undo the rollback, and is reported: exit 4", async () => {
        const failing = await startCannedServer({ status: 500, contentType: "text/plain", body: "no_service" });
        try {
            const head = bench.repo.head();
            const result = await runCli(
                "monitor",
                ["--stack", "staging", "--prometheus", prometheus.url, "--webhook", failing.url, "--at", iso(MOMENTS.drifted)],
                { projectDir: bench.repo.dir, trackingUri: bench.server.url },
            );
            assertExit(result, 4);
            assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head);
            assert.equal(bench.repo.read(STAGING), original);
            assert.match(result.stdout, /; NOT notified: the webhook at 127\.0\.0\.1:\d+ answered HTTP 500: no_service$/m);
            assert.equal(failing.requests.length, 1, "one attempt, never a second message");
        } finally {
            await failing.close();
        }
    });

    it("bad arguments exit 2 with one line naming the flag and value", async () => {
        for (const [args, said] of [
            [["--stack", "staging", "--at", "yesterday"], /^error: option '--at <time>' argument 'yesterday' is invalid\. expected an ISO-8601 time/],
            [["--stack", "staging", "--prometheus", "prometheus:9090"], /^error: option '--prometheus <url>' argument 'prometheus:9090' is invalid\./],
            [["--stack", "nope", "--prometheus", prometheus.url], /^refused to monitor nope: /],
            [["--prometheus", prometheus.url], /^error: required option '--stack <stack>' not specified/],
        ] as const) {
            const result = await runCli("monitor", args, { projectDir: bench.repo.dir, trackingUri: bench.server.url });
            assertExit(result, 2);
            assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
            assert.match(result.stderr, said);
        }
    });

    describe("Flagger's verdict comes back to git: a Canary whose phase is Failed", () => {
        const FLAGGER_MESSAGE = "Canary analysis failed, Deployment scaled to zero.";
        let cluster: ReturnType<typeof fakeCluster>;
        beforeEach(() => {
            cluster = fakeCluster();
            const failedCanary = canaryObject(MODEL, candidate, "Failed", iso(MOMENTS.quiet));
            const status = failedCanary["status"] as { failedChecks: number; conditions: Array<{ message: string }> };
            status.failedChecks = 5;
            (status.conditions[0] as { message: string }).message = FLAGGER_MESSAGE;
            cluster.put("canaries.flagger.app", "models", MODEL, failedCanary);
            cluster.put("deployments.apps", "models", `${MODEL}-primary`, primaryObject(MODEL, previous));
            cluster.put("canaries.flagger.app", "models", OTHER.model, canaryObject(OTHER.model, OTHER.version, "Succeeded", iso(MOMENTS.quiet)));
            cluster.put("deployments.apps", "models", `${OTHER.model}-primary`, primaryObject(OTHER.model, OTHER.version));
        });
        afterEach(() => cluster.remove());

        const assertRolledBackByCanary = async (head: string) => {
            assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head, "exactly one commit");
            assert.equal(bench.repo.read(STAGING), original);
            assert.equal(await aliasVersion(), previous);
            assert.equal(
                bench.repo.git("log", "-1", "--format=%(trailers:only,unfold)").trim(),
                `Rolled-Back: ${MODEL} version ${candidate}\nRollback-Reason: canary failed: ${FLAGGER_MESSAGE}`,
            );
        };

        const status = async () => {
            const result = await runCli("status", ["--stack", "staging", "--cluster", "kubectl", "--json"], {
                projectDir: bench.repo.dir,
                trackingUri: bench.server.url,
                env: cluster.env,
            });
            assertExit(result, 0);
            const report = JSON.parse(result.stdout) as {
                models: Array<{ model: string; declaredVersion: string; aliasVersion: string; servedVersion: string; state: string; detail: string }>;
            };
            return report.models.map((m) => [m.model, m.declaredVersion, m.aliasVersion, m.servedVersion, m.state, m.detail]);
        };

        it("wait-rollout --rollback-failed rolls the declaration back, then fails (exit 1); status shows git, registry and cluster disagree before, agree after", async () => {
            assert.deepEqual(await status(), [
                [MODEL, candidate, candidate, previous, "drift", `the cluster's primary serves ${previous} (Canary Failed), but git declares ${candidate}`],
                [OTHER.model, OTHER.version, OTHER.version, OTHER.version, "in-sync", "in sync"],
            ]);
            const head = bench.repo.head();
            const result = await runCli(
                "wait-rollout",
                ["--stack", "staging", "--rollback-failed", "--since", iso(MOMENTS.quiet - 60), "--timeout", "30s", "--interval", "1s"],
                {
                    projectDir: bench.repo.dir,
                    trackingUri: bench.server.url,
                    env: cluster.env,
                },
            );
            assertExit(result, 1);
            await assertRolledBackByCanary(head);
            assert.match(
                result.stdout,
                new RegExp(
                    `^rolled back ${MODEL} ${candidate} → ${previous} in staging \\(canary failed: ${FLAGGER_MESSAGE}\\): commit ${bench.repo.head().slice(0, 12)}; registry: `,
                    "m",
                ),
            );
            assert.deepEqual(await status(), [
                [MODEL, previous, previous, previous, "in-sync", "in sync"],
                [OTHER.model, OTHER.version, OTHER.version, OTHER.version, "in-sync", "in sync"],
            ]);
        });

        it("the monitor reads it with --canary-status kubectl, even with no quality series: the same rollback commit", async () => {
            const head = bench.repo.head();
            const result = await monitor(["--at", iso(MOMENTS.quiet), "--canary-status", "kubectl"], { env: cluster.env });
            assertExit(result, 3);
            await assertRolledBackByCanary(head);
            assert.equal(messages(webhook).length, 1);
            assert.match(
                messages(webhook)[0]?.text ?? "",
                new RegExp(`^staging: ${MODEL} rolled back ${candidate} → ${previous}\nReason: canary failed: ${FLAGGER_MESSAGE}\n`),
            );
        });

        it("and from a file of kubectl's JSON output (--canary-status <file>)", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "canary-status-"));
            try {
                const file = path.join(dir, "canaries.json");
                const failed = canaryObject(MODEL, candidate, "Failed", iso(MOMENTS.quiet));
                ((failed["status"] as { conditions: Array<{ message: string }> }).conditions[0] as { message: string }).message = FLAGGER_MESSAGE;
                fs.writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: [failed, primaryObject(MODEL, previous)] }));
                const head = bench.repo.head();
                const result = await monitor(["--at", iso(MOMENTS.quiet), "--canary-status", file]);
                assertExit(result, 3);
                await assertRolledBackByCanary(head);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });
});
