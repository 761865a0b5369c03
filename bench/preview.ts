import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import type { ChildMeasurement } from "./measureChild";
import { writeSyntheticStack } from "./syntheticStack";

/**
 * `npm run bench`: how the offline preview's cost grows with the number of models. For synthetic
 * stacks of 1, 10, 100 and 300 copies of a shipped CPU model it times the preview and, as the
 * floor, the bare program under the mocks; every measurement is a fresh process (so its peak
 * memory is its own), repeated, the median reported. A table on stdout, JSON in
 * bench/results/preview.json. The aim (issue 5): linear in models, at most 2× the floor at 100.
 */

const REPOSITORY_ROOT = path.resolve(__dirname, "..");
const CHILD = path.join(__dirname, "measureChild.ts");

export interface Stats {
    /** Median over the runs. */
    readonly wallMs: number;
    readonly runsWallMs: readonly number[];
    readonly maxRssMiB: number;
    /** Median of the child's own work time (modules loaded). */
    readonly workMs: number;
}

export interface SizeResult {
    readonly models: number;
    readonly resources: number;
    readonly preview: Stats & { readonly stagesMs: Readonly<Record<string, number>> };
    readonly floor: Stats;
    /** preview wall / floor wall. */
    readonly ratio: number;
    readonly msPerResource: number;
    /** Preview milliseconds per model added since the previous size. */
    readonly marginalMsPerModel?: number;
}

function parseCount(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("Expected an integer ≥ 1.");
    return n;
}

function parseSizes(value: string): number[] {
    return value.split(",").map((part) => parseCount(part.trim()));
}

function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Runs one child to its end; wall time is spawn to exit, what a user waits for. */
function runChild(args: readonly string[]): Promise<ChildMeasurement & { wallMs: number }> {
    return new Promise((resolve, reject) => {
        const started = performance.now();
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CHILD, ...args], {
            cwd: REPOSITORY_ROOT,
            env: { ...process.env, CI: "1" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
            const wallMs = performance.now() - started;
            const line = stdout.trim().split("\n").pop() ?? "";
            if (code !== 0 || line === "") return reject(new Error(`measurement ${args.join(" ")} exited with ${code}:\n${stderr}`));
            resolve({ ...(JSON.parse(line) as ChildMeasurement), wallMs });
        });
    });
}

function stats(runs: readonly (ChildMeasurement & { wallMs: number })[]): Stats {
    return {
        wallMs: Math.round(median(runs.map((r) => r.wallMs))),
        runsWallMs: runs.map((r) => Math.round(r.wallMs)),
        maxRssMiB: Math.round(Math.max(...runs.map((r) => r.maxRssKiB)) / 1024),
        workMs: Math.round(median(runs.map((r) => r.workMs))),
    };
}

async function benchmark(sizes: readonly number[], runs: number, concurrency: number | undefined, log: (line: string) => void): Promise<SizeResult[]> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-preview-bench-"));
    const results: SizeResult[] = [];
    try {
        for (const models of sizes) {
            const projectDir = path.join(workDir, `project-${models}`);
            const stack = writeSyntheticStack(projectDir, models, REPOSITORY_ROOT);
            const outDir = path.join(projectDir, "out");
            const preview: (ChildMeasurement & { wallMs: number })[] = [];
            const floor: (ChildMeasurement & { wallMs: number })[] = [];
            // Interleaved, so that a busy moment of the machine does not fall on one side only.
            for (let run = 1; run <= runs; run++) {
                floor.push(await runChild(["floor", projectDir, stack, outDir]));
                preview.push(await runChild(["preview", projectDir, stack, outDir, ...(concurrency === undefined ? [] : [String(concurrency)])]));
                log(
                    `  ${models} models, run ${run}/${runs}: preview ${Math.round(preview[preview.length - 1]?.wallMs ?? 0)} ms, floor ${Math.round(floor[floor.length - 1]?.wallMs ?? 0)} ms`,
                );
            }
            const first = preview[0] as ChildMeasurement;
            if (preview.some((p) => p.exitCode !== 0))
                throw new Error(`the preview of ${models} synthetic models is not clean (exit ${first.exitCode}): the benchmark measures a clean stack`);
            const p = stats(preview);
            const f = stats(floor);
            const previous = results[results.length - 1];
            const stagesMs: Record<string, number> = {};
            for (const key of Object.keys(first.stagesMs ?? {})) stagesMs[key] = Math.round(median(preview.map((r) => r.stagesMs?.[key] ?? 0)));
            results.push({
                models,
                resources: first.resources,
                preview: { ...p, stagesMs },
                floor: f,
                ratio: Number((p.wallMs / f.wallMs).toFixed(2)),
                msPerResource: Number((p.wallMs / first.resources).toFixed(2)),
                ...(previous !== undefined && { marginalMsPerModel: Math.round((p.wallMs - previous.preview.wallMs) / (models - previous.models)) }),
            });
        }
    } finally {
        fs.rmSync(workDir, { recursive: true, force: true });
    }
    return results;
}

export function renderTable(results: readonly SizeResult[]): string {
    const header = [
        "models",
        "resources",
        "preview ms",
        "floor ms",
        "ratio",
        "ms/resource",
        "+ms/model",
        "preview MiB",
        "floor MiB",
        "program",
        "pack start",
        "policies",
    ];
    const rows = results.map((r) => [
        String(r.models),
        String(r.resources),
        String(r.preview.wallMs),
        String(r.floor.wallMs),
        `${r.ratio.toFixed(2)}×`,
        r.msPerResource.toFixed(1),
        r.marginalMsPerModel === undefined ? "-" : String(r.marginalMsPerModel),
        String(r.preview.maxRssMiB),
        String(r.floor.maxRssMiB),
        String(r.preview.stagesMs["program"] ?? "-"),
        String(r.preview.stagesMs["policy-pack"] ?? "-"),
        String(r.preview.stagesMs["policies"] ?? "-"),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
    const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(" | ")} |`;
    return [line(header), `|${widths.map((w) => "-".repeat(w + 1) + ":").join("|")}|`, ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
    const command = new Command("bench")
        .description("Time the offline preview against the bare program under mocks, for synthetic stacks of growing size.")
        .addOption(new Option("--sizes <list>", "model counts, comma-separated").default([1, 10, 100, 300], "1,10,100,300").argParser(parseSizes))
        .addOption(new Option("--runs <n>", "measurements per size and side (the median is reported)").default(3).argParser(parseCount))
        .addOption(new Option("--analyze-concurrency <n>", "Remediate+Analyze calls in flight (1 is the Pulumi engine's order)").argParser(parseCount))
        .addOption(
            new Option("--out <file>", "where the JSON goes").default(
                path.join(REPOSITORY_ROOT, "bench", "results", "preview.json"),
                "bench/results/preview.json",
            ),
        )
        .parse();
    const opts = command.opts<{ sizes: number[]; runs: number; analyzeConcurrency?: number; out: string }>();
    const log = (line: string) => process.stderr.write(`${line}\n`);
    log(`bench: ${opts.sizes.join(", ")} models, ${opts.runs} runs each, ${os.cpus().length} CPUs, node ${process.version}`);
    const results = await benchmark(opts.sizes, opts.runs, opts.analyzeConcurrency, log);

    const at100 = results.find((r) => r.models === 100);
    const marginals = results.filter((r) => r.marginalMsPerModel !== undefined && r.models >= 100).map((r) => r.marginalMsPerModel as number);
    const summary = {
        ratioAt100: at100?.ratio,
        withinTwiceFloorAt100: at100 === undefined ? undefined : at100.ratio <= 2,
        marginalMsPerModel: results.map((r) => ({ models: r.models, ms: r.marginalMsPerModel })),
        note:
            "wall = spawn to exit of a fresh process (boot, module loading, work), median of the runs; peak memory = that process's maxRSS " +
            "(the policy pack runs in its own process, not counted); stage columns are the preview's own timings (program and pack start overlap).",
    };
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    const report = {
        date: new Date().toISOString(),
        machine: {
            cpus: os.cpus().length,
            cpuModel: os.cpus()[0]?.model,
            node: process.version,
            platform: `${os.platform()} ${os.release()}`,
            loadAverage: os.loadavg(),
        },
        runs: opts.runs,
        analyzeConcurrency: opts.analyzeConcurrency ?? "default (cli/preview/run.ts ANALYZE_CONCURRENCY)",
        results,
        summary,
    };
    fs.writeFileSync(opts.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${renderTable(results)}\n\n`);
    if (at100 !== undefined) process.stdout.write(`preview / floor at 100 models: ${at100.ratio.toFixed(2)}× (aim: ≤ 2×)\n`);
    if (marginals.length > 0) process.stdout.write(`marginal preview cost per model from 100 up: ${marginals.join(", ")} ms\n`);
    process.stdout.write(`JSON: ${path.relative(process.cwd(), opts.out)}\n`);
}

if (require.main === module) {
    main().catch((err: unknown) => {
        process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = 1;
    });
}
