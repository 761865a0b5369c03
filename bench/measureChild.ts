import { Writable } from "node:stream";

/* eslint-disable @typescript-eslint/no-require-imports -- modules load inside the measurement, and only the mode's own */

/**
 * One measurement, in a fresh process (started by bench/preview.ts), so that its peak memory is
 * its own: `node -r ts-node/register/transpile-only bench/measureChild.ts <mode> <projectDir> <stack> <outDir> [analyzeConcurrency]`.
 * - `preview`: the CLI's own run (`runPreview`, report rendered as JSON), as `npm run preview` does;
 * - `floor`: the bare program under the mocks (`runProgram` with the stack's config, nothing else).
 * Modules are loaded inside the measurement, as a user's command loads them. Prints one JSON line.
 */

export interface ChildMeasurement {
    readonly mode: "preview" | "floor";
    /** From this process's start (performance.timeOrigin) until the work was done: boot, module loading, work. */
    readonly processMs: number;
    /** The work alone, modules already loaded. */
    readonly workMs: number;
    /** `process.resourceUsage().maxRSS`, in KiB: this process only (the policy pack runs in its own). */
    readonly maxRssKiB: number;
    readonly resources: number;
    readonly exitCode: number;
    /** The pipeline's own stage timings (preview only). */
    readonly stagesMs?: Readonly<Record<string, number>>;
}

async function measure(mode: string, projectDir: string, stack: string, outDir: string, concurrency: number | undefined): Promise<ChildMeasurement> {
    if (mode === "floor") {
        const { readStackFile, stackFilePath } = require("../stacks") as typeof import("../stacks");
        const { runProgram } = require("../offline/runtime") as typeof import("../offline/runtime");
        // infra/index.ts is `export = main`.
        const program = require("../infra") as () => Promise<Record<string, unknown>>;
        const started = performance.now();
        const { values, secretKeys } = readStackFile(stackFilePath(projectDir, stack));
        const run = await runProgram({ stack, config: values, secretKeys }, program);
        const done = performance.now();
        return { mode, processMs: done, workMs: done - started, maxRssKiB: process.resourceUsage().maxRSS, resources: run.resources.length, exitCode: 0 };
    }
    if (mode === "preview") {
        const { resolveOptions } = require("../cli/preview/options") as typeof import("../cli/preview/options");
        const { Progress } = require("../cli/preview/progress") as typeof import("../cli/preview/progress");
        const { runPreview } = require("../cli/preview/run") as typeof import("../cli/preview/run");
        const started = performance.now();
        const options = {
            ...resolveOptions({ stack, projectDir, out: outDir, json: true }, {}),
            ...(concurrency !== undefined && { analyzeConcurrency: concurrency }),
        };
        const outcome = await runPreview(options, new Progress(new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream, false));
        const done = performance.now();
        if (outcome.report === undefined) throw new Error(`preview of ${stack} failed: ${outcome.errors.join("\n")}`);
        return {
            mode,
            processMs: done,
            workMs: done - started,
            maxRssKiB: process.resourceUsage().maxRSS,
            resources: outcome.report.resources.total,
            exitCode: outcome.exitCode,
            stagesMs: outcome.report.timingsMs,
        };
    }
    throw new Error(`mode must be "preview" or "floor", got ${JSON.stringify(mode)}`);
}

if (require.main === module) {
    const [mode = "", projectDir = "", stack = "", outDir = "", concurrency] = process.argv.slice(2);
    measure(mode, projectDir, stack, outDir, concurrency === undefined ? undefined : Number(concurrency)).then(
        (result) => {
            // Exit at once: the parent times spawn to exit, and a leaked handle must not count.
            process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
        },
        (err: unknown) => {
            process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`, () => process.exit(1));
        },
    );
}
