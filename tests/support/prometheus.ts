import { type ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A real Prometheus (Debian's package: `.ci/prometheus.sh` installs it) holding exactly the series a
 * test writes: they are backfilled with `promtool tsdb create-blocks-from openmetrics` into a fresh
 * TSDB, so a test can judge a window of known values at a known time.
 */

export interface SeriesPoint {
    readonly labels: Readonly<Record<string, string>>;
    /** Seconds since the epoch. */
    readonly at: number;
    readonly value: number;
}

export interface SeriesSet {
    readonly metric: string;
    readonly type: "gauge" | "counter";
    readonly points: readonly SeriesPoint[];
}

export interface RunningPrometheus {
    readonly url: string;
    stop(): Promise<void>;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
        server.on("error", reject);
    });
}

/** OpenMetrics text of the sets: one family each, samples in time order. */
export function openMetrics(sets: readonly SeriesSet[]): string {
    const lines: string[] = [];
    for (const set of sets) {
        const family = set.type === "counter" ? set.metric.replace(/_total$/, "") : set.metric;
        lines.push(`# TYPE ${family} ${set.type}`);
        for (const point of [...set.points].sort((a, b) => a.at - b.at)) {
            const labels = Object.entries(point.labels)
                .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
                .join(",");
            lines.push(`${set.metric}{${labels}} ${point.value} ${point.at}`);
        }
    }
    return `${lines.join("\n")}\n# EOF\n`;
}

function run(file: string, args: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) =>
        execFile(file, [...args], { timeout: 120_000 }, (error, stdout, stderr) =>
            error === null ? resolve() : reject(new Error(`${file} ${args.join(" ")}: ${stderr || stdout}`)),
        ),
    );
}

export async function startPrometheus(sets: readonly SeriesSet[]): Promise<RunningPrometheus> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prometheus-"));
    const data = path.join(dir, "tsdb");
    if (sets.length > 0) {
        fs.writeFileSync(path.join(dir, "series.om"), openMetrics(sets));
        await run("promtool", ["tsdb", "create-blocks-from", "openmetrics", path.join(dir, "series.om"), data]);
    }
    fs.writeFileSync(path.join(dir, "prometheus.yml"), "global:\n  scrape_interval: 15s\n");
    const port = await freePort();
    const child: ChildProcess = spawn(
        "prometheus",
        [
            `--config.file=${path.join(dir, "prometheus.yml")}`,
            `--storage.tsdb.path=${data}`,
            // Backfilled blocks are as old as their samples: keep them.
            "--storage.tsdb.retention.time=100y",
            `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${log}`);
        try {
            if ((await fetch(`${url}/-/ready`)).ok) break;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`prometheus was not ready within 30 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    return {
        url,
        stop: () =>
            new Promise((resolve) => {
                const done = () => {
                    fs.rmSync(dir, { recursive: true, force: true });
                    resolve();
                };
                if (child.exitCode !== null) return done();
                child.once("exit", done);
                child.kill("SIGTERM");
            }),
    };
}

/** Points every `stepSeconds` from `from` for `count` steps, valued by `value(i)`. */
export function points(
    labels: Readonly<Record<string, string>>,
    from: number,
    count: number,
    stepSeconds: number,
    value: (i: number) => number,
): SeriesPoint[] {
    return Array.from({ length: count }, (_, i) => ({ labels, at: from + i * stepSeconds, value: value(i) }));
}
