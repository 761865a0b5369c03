import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startMlflowServer } from "../tests/support/mlflow";
import { drawRows, invocation, serveModel, startTelemetry, trainAndRegister } from "../tests/telemetry/support";

/**
 * `node -r ts-node/register/transpile-only bench/telemetry.ts`: what the telemetry sidecar costs.
 *
 * 1. Added latency: the same single-row /invocations requests at a fixed 200 requests/s (open loop: each
 *    request leaves at its scheduled time, whatever the previous ones do), first to the bare scoring
 *    server, then through the telemetry, alternating for ROUNDS rounds; p50/p99 of each, and the difference.
 * 2. Memory: the telemetry's RSS (/proc/<pid>/status VmRSS) before and after 100,000 requests through it
 *    (closed loop, 16 at a time), with checkpoints, and its window sizes at the end.
 * Everything runs locally (the tests' MLflow on the local PostgreSQL, the model trained as in the tests).
 * A table on stdout; JSON in bench/results/telemetry.json.
 */

const RATE = 200;
const SECONDS_PER_ROUND = 15;
const ROUNDS = 3;
const TOTAL_REQUESTS = 100_000;
const CONCURRENCY = 16;
const RESULTS = path.join(__dirname, "results", "telemetry.json");

function percentile(sorted: readonly number[], p: number): number {
    if (sorted.length === 0) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function openLoop(
    url: string,
    bodies: readonly string[],
    rate: number,
    seconds: number,
): Promise<{ latenciesMs: number[]; errors: Record<string, number>; lateMs: number }> {
    const total = rate * seconds;
    const latenciesMs: number[] = [];
    const errors: Record<string, number> = {};
    const fail = (why: string) => {
        errors[why] = (errors[why] ?? 0) + 1;
    };
    let lateMs = 0;
    const start = performance.now() + 50;
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        else lateMs = Math.max(lateMs, -wait);
        const sent = performance.now();
        inFlight.push(
            fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[i % bodies.length] ?? "" })
                .then(async (response) => {
                    await response.arrayBuffer();
                    if (response.status !== 200) fail(`HTTP ${response.status}`);
                    else latenciesMs.push(performance.now() - sent);
                })
                .catch((error: unknown) => {
                    fail(error instanceof Error ? error.message : String(error));
                }),
        );
    }
    await Promise.all(inFlight);
    return { latenciesMs, errors, lateMs };
}

/** Prometheus's histogram_quantile over one histogram's cumulative buckets in the text exposition. */
function histogramQuantile(exposition: string, metric: string, q: number): number {
    const buckets = [...exposition.matchAll(new RegExp(`^${metric}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`, "gm"))]
        .map((m) => ({ le: m[1] === "+Inf" ? Infinity : Number(m[1]), count: Number(m[2]) }))
        .sort((a, b) => a.le - b.le);
    const total = buckets.at(-1)?.count ?? 0;
    const rank = q * total;
    let previous = { le: 0, count: 0 };
    for (const bucket of buckets) {
        if (bucket.count >= rank) {
            if (bucket.le === Infinity) return previous.le;
            return previous.le + ((bucket.le - previous.le) * (rank - previous.count)) / Math.max(1, bucket.count - previous.count);
        }
        previous = bucket;
    }
    return NaN;
}

function rssKiB(pid: number): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] !== undefined ? Number(match[1]) : NaN;
}

async function main(): Promise<void> {
    const mlflow = await startMlflowServer();
    const stopAll: (() => Promise<void>)[] = [() => mlflow.stop()];
    try {
        const model = await trainAndRegister(mlflow, "bench_telemetry_clf");
        const scoring = await serveModel(mlflow, model);
        stopAll.unshift(() => scoring.stop());
        const telemetry = await startTelemetry({
            pod: "clf-7d9f8b6c5d-bench",
            namespace: "bench",
            model: "clf",
            version: model.version,
            registeredModel: model.name,
            upstreamPort: scoring.port,
            mlflowUrl: mlflow.url,
        });
        stopAll.unshift(() => telemetry.stop());
        const bodies = drawRows(21, 1000).map((r) => invocation([r.features]));

        // Warm both paths (connections, the model's first calls).
        await openLoop(`${scoring.url}/invocations`, bodies, RATE, 2);
        await openLoop(`${telemetry.proxyUrl}/invocations`, bodies, RATE, 2);

        const bare: number[] = [];
        const proxied: number[] = [];
        const errors: Record<string, number> = {};
        let lateMs = 0;
        for (let round = 0; round < ROUNDS; round++) {
            for (const [url, into] of [
                [`${scoring.url}/invocations`, bare],
                [`${telemetry.proxyUrl}/invocations`, proxied],
            ] as const) {
                const result = await openLoop(url, bodies, RATE, SECONDS_PER_ROUND);
                into.push(...result.latenciesMs);
                for (const [why, n] of Object.entries(result.errors)) errors[why] = (errors[why] ?? 0) + n;
                lateMs = Math.max(lateMs, result.lateMs);
            }
        }
        bare.sort((a, b) => a - b);
        proxied.sort((a, b) => a - b);
        const exposition = await (await fetch(`${telemetry.adminUrl}/metrics`)).text();
        const overheadMs = {
            p50: histogramQuantile(exposition, "mlops_proxy_overhead_seconds", 0.5) * 1000,
            p99: histogramQuantile(exposition, "mlops_proxy_overhead_seconds", 0.99) * 1000,
        };
        const latency = {
            rate: RATE,
            answered: { bare: bare.length, telemetry: proxied.length },
            loadAverage: (await import("node:os")).loadavg(),
            errors,
            schedulerLateMaxMs: Number(lateMs.toFixed(2)),
            bareMs: { p50: percentile(bare, 50), p99: percentile(bare, 99) },
            telemetryMs: { p50: percentile(proxied, 50), p99: percentile(proxied, 99) },
            addedMs: { p50: percentile(proxied, 50) - percentile(bare, 50), p99: percentile(proxied, 99) - percentile(bare, 99) },
            // The telemetry's own measure: its whole time on a request less the scoring server's (histogram estimate).
            proxyOverheadMs: overheadMs,
        };

        const checkpoints: { requests: number; rssMiB: number }[] = [{ requests: 0, rssMiB: rssKiB(telemetry.pid) / 1024 }];
        const marks = new Set([1_000, 10_000, 25_000, 50_000, 75_000, TOTAL_REQUESTS]);
        let sent = 0;
        let done = 0;
        let failures = 0;
        const started = performance.now();
        const worker = async () => {
            while (sent < TOTAL_REQUESTS) {
                const i = sent++;
                const response = await fetch(`${telemetry.proxyUrl}/invocations`, {
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body: bodies[i % bodies.length] ?? "",
                });
                await response.arrayBuffer();
                if (response.status !== 200) failures++;
                done++;
                if (marks.has(done)) checkpoints.push({ requests: done, rssMiB: rssKiB(telemetry.pid) / 1024 });
            }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        const soakSeconds = (performance.now() - started) / 1000;
        const state = (await (await fetch(`${telemetry.adminUrl}/mlops/state`)).json()) as {
            drift: { rows: number; size: number };
            confidence: { rows: number; size: number };
            pending: { entries: number; capacity: number; evicted: number };
        };
        const memory = {
            requests: TOTAL_REQUESTS,
            failures,
            seconds: Number(soakSeconds.toFixed(1)),
            requestsPerSecond: Math.round(TOTAL_REQUESTS / soakSeconds),
            checkpoints: checkpoints.map((c) => ({ requests: c.requests, rssMiB: Number(c.rssMiB.toFixed(1)) })),
            windows: {
                driftRows: `${state.drift.rows}/${state.drift.size}`,
                confidenceRows: `${state.confidence.rows}/${state.confidence.size}`,
                pending: `${state.pending.entries}/${state.pending.capacity} (evicted ${state.pending.evicted})`,
            },
        };

        const fmt = (n: number) => n.toFixed(2).padStart(8);
        console.log(
            `\nAdded latency at ${RATE} requests/s (single-row /invocations, ${bare.length}/${proxied.length} answered bare/through the telemetry, errors ${JSON.stringify(errors)})`,
        );
        console.log(
            `load average at the end: ${(await import("node:os"))
                .loadavg()
                .map((l) => l.toFixed(2))
                .join(" ")} (other work on this machine skews the tail)`,
        );
        console.log("path                 p50 ms   p99 ms");
        console.log(`bare scoring server ${fmt(latency.bareMs.p50)} ${fmt(latency.bareMs.p99)}`);
        console.log(`through telemetry   ${fmt(latency.telemetryMs.p50)} ${fmt(latency.telemetryMs.p99)}`);
        console.log(`added (difference)  ${fmt(latency.addedMs.p50)} ${fmt(latency.addedMs.p99)}`);
        console.log(`proxy's own time    ${fmt(overheadMs.p50)} ${fmt(overheadMs.p99)}   (mlops_proxy_overhead_seconds, interpolated)`);
        console.log(`\nTelemetry RSS over ${TOTAL_REQUESTS} requests (${memory.requestsPerSecond} requests/s, ${failures} failures)`);
        console.log("requests   RSS MiB");
        for (const c of memory.checkpoints) console.log(`${String(c.requests).padStart(8)} ${c.rssMiB.toFixed(1).padStart(9)}`);
        console.log(`windows at the end: drift ${memory.windows.driftRows}, confidence ${memory.windows.confidenceRows}, pending ${memory.windows.pending}`);

        mkdirSync(path.dirname(RESULTS), { recursive: true });
        writeFileSync(
            RESULTS,
            JSON.stringify({ date: new Date().toISOString(), machine: { cpus: (await import("node:os")).cpus().length }, latency, memory }, null, 2) + "\n",
        );
        console.log(`\nwritten to ${path.relative(process.cwd(), RESULTS)}`);
    } finally {
        for (const stop of stopAll) await stop();
    }
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
});
