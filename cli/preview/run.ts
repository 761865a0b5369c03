import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, formatProblem, listStacks, StackFileError, stackFilePath } from "../../stacks";
import { PolicyPackConfigError, PolicyPackStartError } from "../../offline/analyzer";
import { SchemasFolderMissingError, writeManifests } from "../../offline/manifests";
import { loadStack, runPipeline } from "../../offline/pipeline";
import { renderMarkdown } from "./markdown";
import { type PreviewOptions, policyConfigFor, REPOSITORY_ROOT, UsageError } from "./options";
import type { Progress } from "./progress";
import { buildReport, type PreviewReport } from "./report";
import { renderText } from "./text";

/**
 * One offline preview: the stack's config, the program under mocks beside the real policy pack,
 * the manifests written and validated, the report rendered. Failures come back as an exit code
 * and the lines to print, never as a stack trace for something the user can fix.
 */

/**
 * Remediate+Analyze calls in flight at once. The Pulumi engine makes one at a time (its step
 * generator analyzes each registration before the next); every call sees one resource and the
 * pack's configuration only, so the diagnostics are the same, kept in registration order, and
 * the per-call round trip no longer adds up serially. Measured in bench/preview.ts.
 */
export const ANALYZE_CONCURRENCY = 16;

export const EXIT = {
    /** No mandatory violation, every manifest valid. */
    clean: 0,
    /** A mandatory policy violation or an invalid manifest. */
    failed: 1,
    /** Bad input: usage, stack file, stack configuration, policy config, or a component refusing its arguments. */
    badInput: 2,
    /** The preview itself could not run (the policy pack did not start, or a bug): reported with its stack trace. */
    internal: 3,
} as const;

export interface PreviewOutcome {
    readonly exitCode: number;
    /** For stdout: the report. */
    readonly output: string;
    /** For stderr: what went wrong. */
    readonly errors: readonly string[];
    readonly report?: PreviewReport;
}

export async function runPreview(options: PreviewOptions, progress: Progress, cwd: string = process.cwd()): Promise<PreviewOutcome> {
    let stage = "config";
    try {
        progress.stage("config");
        const loaded = loadStack(options.projectDir, options.stack);
        const policyConfigFile = policyConfigFor(options, loaded.config.environment);
        checkPolicyConfigJson(policyConfigFile);
        const result = await runPipeline({
            projectDir: options.projectDir,
            stack: options.stack,
            policyPackDir: path.join(REPOSITORY_ROOT, "policies"),
            policyConfigFile,
            // "" turns the cross-check off, whatever the policy config's own trackingUri says.
            registryUri: options.registry?.uri ?? "",
            loadedStack: loaded,
            analyzeConcurrency: options.analyzeConcurrency ?? ANALYZE_CONCURRENCY,
            onStage: (name, detail) => {
                if (name !== "policy-pack") stage = name;
                progress.stage(name, detail);
            },
            onProgress: (name, done, total) => progress.count(name, done, total),
        });
        stage = "write";
        progress.stage("write", `${result.inventory.manifests.length} objects`);
        const files = writeManifests(options.outDir, result.inventory.manifests);
        progress.stage("report");
        const report = buildReport(result, {
            stack: options.stack,
            stackFile: stackFilePath(options.projectDir, options.stack),
            policyConfigFile,
            outDir: options.outDir,
            files,
            registry: options.registry,
        });
        const output =
            options.format === "json"
                ? `${JSON.stringify(report, null, 2)}\n`
                : options.format === "markdown"
                  ? renderMarkdown(report, REPOSITORY_ROOT)
                  : renderText(report, cwd);
        return { exitCode: report.exitCode, output, errors: [], report };
    } catch (err) {
        return { exitCode: exitCodeOf(err, stage), output: "", errors: describeFailure(err, options.stack, stage, options.projectDir) };
    } finally {
        progress.done();
    }
}

/** The pack's Configure would get this file's content; a file that is not JSON is the user's to fix. */
function checkPolicyConfigJson(file: string): void {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new UsageError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    try {
        const value: unknown = JSON.parse(text);
        if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("expected an object of policy names to their config");
    } catch (err) {
        throw new UsageError(`${file}: malformed policy config: ${(err as Error).message}`);
    }
}

/** Errors a user causes and fixes: their message says it all. */
function isBadInput(err: unknown, stage: string): boolean {
    if (
        err instanceof UsageError ||
        err instanceof StackFileError ||
        err instanceof ConfigError ||
        err instanceof PolicyPackConfigError ||
        err instanceof SchemasFolderMissingError
    ) {
        return true;
    }
    // The program refusing the stack's values: a component's argument check (an Error naming the
    // component and the value), a RunError or a ResourceError. JavaScript's own errors are bugs.
    if (stage !== "program") return false;
    if (err instanceof pulumi.RunError || err instanceof pulumi.ResourceError) return true;
    return err instanceof Error && err.constructor === Error;
}

export function exitCodeOf(err: unknown, stage: string): number {
    return isBadInput(err, stage) ? EXIT.badInput : EXIT.internal;
}

/** For a stack file that is not there: which stacks are. */
function stacksHint(err: StackFileError, projectDir: string | undefined): string {
    if (projectDir === undefined || !err.message.endsWith("no such stack file")) return "";
    let stacks: string[];
    try {
        stacks = listStacks(projectDir);
    } catch {
        return "";
    }
    return stacks.length === 0 ? ` (${projectDir} has no Pulumi.<stack>.yaml files)` : ` (stacks there: ${stacks.join(", ")})`;
}

export function describeFailure(err: unknown, stack: string, stage: string, projectDir?: string): string[] {
    if (err instanceof UsageError) return [`error: ${err.message}`, ...err.details.map((d) => `  ${d}`)];
    if (err instanceof StackFileError) return [`error: ${err.message}${stacksHint(err, projectDir)}`];
    if (err instanceof SchemasFolderMissingError) return [`error: ${err.message}`];
    if (err instanceof ConfigError) {
        return [
            `error: ${err.source} has ${err.problems.length === 1 ? "1 problem" : `${err.problems.length} problems`}:`,
            ...err.problems.map((p) => `  - ${formatProblem(p)}`),
        ];
    }
    if (err instanceof PolicyPackConfigError) return err.errors.map((line) => `error: ${line}`);
    if (err instanceof PolicyPackStartError) {
        const stderr = err.stderr.trim().split("\n").slice(-20);
        return [`error: ${err.message}`, ...(stderr.length > 0 && stderr[0] !== "" ? ["the policy pack's output:", ...stderr.map((l) => `  ${l}`)] : [])];
    }
    if (isBadInput(err, stage)) return [`error: stack "${stack}": the program refused its configuration: ${(err as Error).message}`];
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    return [`error: the preview failed while ${stage === "config" ? "reading the configuration" : `in stage "${stage}"`} (a bug; please report it):`, detail];
}
