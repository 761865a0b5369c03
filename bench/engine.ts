import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, Option } from "commander";
import { startControlPlane } from "../e2e/controlPlane";
import { cacheRoot, ensureEngine } from "../e2e/engine";

/**
 * `npm run bench:engine`: what the real engine costs. The cold build time of each binary is the one
 * recorded when it was built (ensureEngine writes `<cache>/timings.json`); the warm start of
 * `ensureEngine()`, the control plane's start and the local stack's end-to-end run are measured now.
 */

const REPOSITORY_ROOT = path.resolve(__dirname, "..");

interface Timings {
    readonly components: ReadonlyArray<{ component: string; version: string; status: string; coldSeconds?: number }>;
}

function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
    const opts = new Command("bench:engine")
        .addOption(new Option("--runs <n>", "measurements of the warm start and the control plane (median reported)").default(3).argParser(Number))
        .addOption(new Option("--skip-e2e", "do not time the local stack's end-to-end run"))
        .addOption(new Option("--out <file>", "where the JSON goes").default(path.join(REPOSITORY_ROOT, "bench", "results", "engine.json")))
        .parse()
        .opts<{ runs: number; skipE2e?: boolean; out: string }>();

    const engine = ensureEngine();
    const warm: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
        const started = process.hrtime.bigint();
        ensureEngine();
        warm.push(Number(process.hrtime.bigint() - started) / 1e9);
    }
    const controlPlane: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
        const cp = await startControlPlane({ engine });
        controlPlane.push(cp.startSeconds);
        await cp.stop();
    }
    let e2eSeconds: number | undefined;
    if (opts.skipE2e !== true) {
        const started = Date.now();
        const run = spawnSync(process.execPath, [require.resolve("mocha/bin/mocha.js"), "--timeout", "3600000", "e2e/localStack.test.ts"], {
            cwd: REPOSITORY_ROOT,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
        if (run.status !== 0) throw new Error(`e2e/localStack.test.ts failed:\n${run.stdout}\n${run.stderr}`);
        e2eSeconds = (Date.now() - started) / 1000;
    }

    const timings = JSON.parse(fs.readFileSync(path.join(cacheRoot(), "timings.json"), "utf8")) as Timings;
    const rows = timings.components.map((c) => [c.component, c.version, c.status, c.coldSeconds === undefined ? "-" : c.coldSeconds.toFixed(1)]);
    const total = timings.components.reduce((sum, c) => sum + (c.coldSeconds ?? 0), 0);
    const table = [
        ["binary", "version", "status", "cold build s"],
        ...rows,
        ["all binaries", "", "", total.toFixed(1)],
        ["warm ensureEngine()", "", "", median(warm).toFixed(3)],
        ["control plane start", "etcd + apiserver + controller-manager", "", median(controlPlane).toFixed(2)],
        ...(e2eSeconds === undefined ? [] : [["local stack e2e", "e2e/localStack.test.ts", "", e2eSeconds.toFixed(1)]]),
    ];
    const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? [];
    for (const row of table) console.log(`| ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`);

    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(
        opts.out,
        `${JSON.stringify(
            {
                machine: { cpus: os.cpus().length, node: process.version },
                cold: timings.components,
                coldTotalSeconds: total,
                warmEnsureEngineSeconds: { median: median(warm), runs: warm },
                controlPlaneStartSeconds: { median: median(controlPlane), runs: controlPlane },
                localStackE2eSeconds: e2eSeconds,
            },
            null,
            2,
        )}\n`,
    );
    console.error(`bench:engine: wrote ${path.relative(REPOSITORY_ROOT, opts.out)}`);
}

main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
});
