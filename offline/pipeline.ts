import * as fs from "node:fs";
import * as path from "node:path";
import { loadPlatformConfig } from "../infra/validation";
import { type PlatformConfig, PROJECT, readStackFile, stackFilePath } from "../stacks";
import {
    AnalysisQueue,
    type AnalyzerInfo,
    type ConfigureResult,
    launchPolicyPack,
    type PackLogLine,
    type PolicyAnalysis,
    type PolicyPackHandle,
} from "./analyzer";
import { kubernetesInventory, type ManifestProblem, schemasDir, validateManifests } from "./manifests";
import { type ProgramRun, runProgram } from "./runtime";

/**
 * What `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json` would
 * do for a stack, without a cloud or the Pulumi CLI: the program runs under the mocks while the real
 * policy pack starts as an analyzer plugin (its ts-node type check takes seconds, so the two overlap);
 * as with the engine, each registration is analyzed over gRPC as it arrives once the pack answers,
 * then the stack as a whole, and every Kubernetes object is validated against real schemas. The
 * offline preview CLI and the policy pack's integration tests both go through here.
 */

/** The program (`infra/`). Loaded when a run starts, so that a caller can start the policy pack first. */
type Program = typeof import("../infra");
function loadProgram(): Program {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("../infra") as Program;
}

/** The policy that cross-checks declared evidence against the MLflow registry, and its config key. */
export const REGISTRY_POLICY = "registry-evidence-matches";

export interface PipelineOptions {
    readonly projectDir: string;
    readonly stack: string;
    /** @default <projectDir>/policies */
    readonly policyPackDir?: string;
    /** `--policy-pack-config`. @default <policyPackDir>/config/<stack>.json */
    readonly policyConfigFile?: string;
    /**
     * The MLflow registry the evidence is cross-checked against, replacing the `trackingUri` of the
     * policy config; `""` checks the evidence on its own.
     * @default - the policy config's own trackingUri
     */
    readonly registryUri?: string;
    /** Called as each stage starts, for a progress line. */
    readonly onStage?: (stage: PipelineStage, detail?: string) => void;
    /** Called as the resources of the "policies" stage are analyzed, for a progress line. */
    readonly onProgress?: (stage: PipelineStage, done: number, total: number) => void;
    /** The stack as `loadStack` read it, for a caller that needed it first (e.g. for its environment). @default - read here */
    readonly loadedStack?: LoadedStack;
    /**
     * How many resources may be in Remediate+Analyze at once. The engine analyzes one registration
     * at a time; more than one gives the same diagnostics (each call sees one resource and the
     * pack's configuration only, and results are kept in registration order) in less time.
     * @default 1
     */
    readonly analyzeConcurrency?: number;
}

export type PipelineStage = "config" | "policy-pack" | "program" | "manifests" | "policies";

export interface PipelineResult {
    readonly config: PlatformConfig;
    readonly run: ProgramRun<Awaited<ReturnType<Program>>>;
    readonly inventory: ReturnType<typeof kubernetesInventory>;
    readonly manifestProblems: readonly ManifestProblem[];
    readonly policy: PolicyAnalysis & {
        readonly info: AnalyzerInfo;
        readonly configured: ConfigureResult;
        readonly logs: readonly PackLogLine[];
        readonly startupMs: number;
    };
    /** Milliseconds per stage, and in all. */
    readonly timings: Readonly<Record<PipelineStage | "total", number>>;
    /** Where this run had to differ from what the Pulumi CLI would do, and why. */
    readonly warnings: readonly string[];
}

export interface StartedPolicyPack {
    readonly handle: PolicyPackHandle;
    readonly configured: ConfigureResult;
    readonly warnings: readonly string[];
}

export interface LoadedStack {
    readonly values: Record<string, string>;
    readonly secretKeys: string[];
    readonly config: PlatformConfig;
}

/** Reads and validates the stack's configuration (throws `StackFileError` or `ConfigError`). */
export function loadStack(projectDir: string, stack: string): LoadedStack {
    const { values, secretKeys } = readStackFile(stackFilePath(projectDir, stack));
    return { values, secretKeys, config: loadPlatformConfig(values, stack, secretKeys) };
}

/** The policy config file's content with the registry replaced, as the pack's Configure should get it. */
export function policyConfigFor(file: string, registryUri: string | undefined): unknown {
    const config = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    if (registryUri === undefined) return config;
    const current = config[REGISTRY_POLICY];
    const entry = typeof current === "object" && current !== null ? current : typeof current === "string" ? { enforcementLevel: current } : {};
    return { ...config, [REGISTRY_POLICY]: { ...entry, trackingUri: registryUri } };
}

/** Linux's limit on one environment string (MAX_ARG_STRLEN, 32 pages): over it, exec fails with E2BIG. */
export const MAX_ENV_STRING_BYTES = 128 * 1024;

/** Whether `PULUMI_CONFIG=<the stack's config as JSON>` is too long to start a process with, on this platform. */
export function configTooLargeForEnv(stackValues: Readonly<Record<string, string>>, platform: NodeJS.Platform = process.platform): boolean {
    return platform === "linux" && Buffer.byteLength(`PULUMI_CONFIG=${JSON.stringify(stackValues)}`) + 1 > MAX_ENV_STRING_BYTES;
}

/** Starts the real policy pack for a stack and configures it; the caller must `close()` it. */
export async function startPolicyPack(
    options: PipelineOptions,
    stackValues: Readonly<Record<string, string>>,
    secretKeys: readonly string[] = [],
): Promise<StartedPolicyPack> {
    const packDir = options.policyPackDir ?? path.join(options.projectDir, "policies");
    const configFile = options.policyConfigFile ?? path.join(packDir, "config", `${options.stack}.json`);
    if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no policy config for stack "${options.stack}"`);
    const stack = { stack: options.stack, project: PROJECT, dryRun: true, config: stackValues, configSecretKeys: secretKeys };
    const warnings: string[] = [];
    // The CLI hands the pack the whole stack config in PULUMI_CONFIG; past Linux's limit for one
    // environment string the pack cannot start at all (pulumi/pulumi#20402; the program's language
    // host has the same limit, #8680). The pack then gets the config over ConfigureStack only.
    const oversized = configTooLargeForEnv(stackValues);
    if (oversized) {
        const kib = Math.ceil(Buffer.byteLength(JSON.stringify(stackValues)) / 1024);
        warnings.push(
            `the stack's configuration is ${kib} KiB as PULUMI_CONFIG, over Linux's ${MAX_ENV_STRING_BYTES / 1024} KiB limit for one environment variable: ` +
                "`pulumi preview` on Linux cannot start the program or the policy pack with it (pulumi/pulumi#8680, #20402); " +
                "this preview gave the pack the configuration over ConfigureStack only",
        );
    }
    const handle = await launchPolicyPack(packDir, { stack: oversized ? { ...stack, config: {} } : stack });
    try {
        if (oversized) await handle.configureStack(stack);
        const configured = await handle.configure({ value: policyConfigFor(configFile, options.registryUri) });
        return { handle, configured, warnings };
    } catch (err) {
        await handle.close();
        throw err;
    }
}

export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
    const startedAt = Date.now();
    const timings: Partial<Record<PipelineStage | "total", number>> = {};
    const stage = async <T>(name: PipelineStage, work: () => Promise<T> | T, detail?: string): Promise<T> => {
        options.onStage?.(name, detail);
        const t = Date.now();
        try {
            return await work();
        } finally {
            timings[name] = Date.now() - t;
        }
    };

    const { values, secretKeys, config } = await stage("config", () => {
        // A CRD folder named by MLOPS_SCHEMAS_DIR that is not there: say so before any work starts.
        schemasDir();
        return options.loadedStack ?? loadStack(options.projectDir, options.stack);
    });
    // The pack's start (seconds of ts-node type checking) overlaps the program's run.
    options.onStage?.("policy-pack");
    const packStartedAt = Date.now();
    const pack = startPolicyPack(options, values, secretKeys).finally(() => {
        timings["policy-pack"] = Date.now() - packStartedAt;
    });
    let packReady = false;
    // A failed start is awaited below; until then, keep Node from reporting it as unhandled.
    pack.then(
        () => (packReady = true),
        () => undefined,
    );

    // As the engine does, each registration is analyzed as it arrives (once the pack answers),
    // while the program goes on registering.
    const analysis = new AnalysisQueue(options.analyzeConcurrency ?? 1, (done, known) => options.onProgress?.("policies", done, known));
    pack.then(
        ({ handle }) => analysis.start(handle),
        () => undefined,
    );

    try {
        const program = loadProgram();
        const run = await stage(
            "program",
            () => runProgram({ stack: options.stack, config: values, secretKeys, onRegistered: (resource) => analysis.add(resource) }, program),
            `${config.models.length} models`,
        );
        const inventory = kubernetesInventory(run.resources);
        // Validation runs here while the pack works through what is left to analyze.
        const validated = stage("manifests", () => validateManifests(inventory.manifests), `${inventory.manifests.length} objects`);
        validated.catch(() => undefined);
        if (!packReady) options.onStage?.("policy-pack", "waiting for it to answer");
        const { handle, configured, warnings } = await pack;
        const [manifestProblems, policyAnalysis] = await Promise.all([
            validated,
            stage("policies", () => analysis.finish(handle, run.resources), `${run.resources.length} resources`),
        ]);
        // Closing drains the pack's output, so the logs are complete after it.
        await handle.close();
        timings.total = Date.now() - startedAt;
        return {
            config,
            run,
            inventory,
            manifestProblems,
            policy: { ...policyAnalysis, info: handle.info(), configured, logs: handle.logs, startupMs: handle.startupMs },
            timings: timings as Record<PipelineStage | "total", number>,
            warnings,
        };
    } finally {
        // Reap the pack whatever happened; closing twice is harmless.
        await pack.then(({ handle }) => handle.close()).catch(() => undefined);
    }
}
