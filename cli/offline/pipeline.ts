import * as fs from "node:fs";
import * as path from "node:path";
import main = require("../../infra");
import { parsePlatformConfig, type PlatformConfig, PROJECT, readStackFile, stackFilePath } from "../../stacks";
import { type AnalyzerInfo, analyzeResources, type ConfigureResult, launchPolicyPack, type PackLogLine, type PolicyAnalysis, type PolicyPackHandle } from "./analyzer";
import { kubernetesInventory, type ManifestProblem, validateManifests } from "./manifests";
import { type ProgramRun, runProgram } from "./runtime";

/**
 * What `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json` would
 * do for a stack, without a cloud or the Pulumi CLI: the program runs under the mocks while the real
 * policy pack starts as an analyzer plugin (its ts-node type check takes seconds, so the two overlap),
 * then every registration is analyzed over gRPC and every Kubernetes object validated against real
 * schemas. The offline preview CLI and the policy pack's integration tests both go through here.
 */

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
}

export type PipelineStage = "config" | "policy-pack" | "program" | "manifests" | "policies";

export interface PipelineResult {
    readonly config: PlatformConfig;
    readonly run: ProgramRun<Awaited<ReturnType<typeof main>>>;
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
}

/** Reads and validates the stack's configuration (throws `StackFileError` or `ConfigError`). */
export function loadStack(projectDir: string, stack: string): { values: Record<string, string>; secretKeys: string[]; config: PlatformConfig } {
    const { values, secretKeys } = readStackFile(stackFilePath(projectDir, stack));
    return { values, secretKeys, config: parsePlatformConfig(values, stack) };
}

/** The policy config file's content with the registry replaced, as the pack's Configure should get it. */
export function policyConfigFor(file: string, registryUri: string | undefined): unknown {
    const config = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    if (registryUri === undefined) return config;
    const current = config[REGISTRY_POLICY];
    const entry = typeof current === "object" && current !== null ? current : typeof current === "string" ? { enforcementLevel: current } : {};
    return { ...config, [REGISTRY_POLICY]: { ...entry, trackingUri: registryUri } };
}

/** Starts the real policy pack for a stack and configures it; the caller must `close()` it. */
export async function startPolicyPack(options: PipelineOptions, stackValues: Readonly<Record<string, string>>, secretKeys: readonly string[] = []): Promise<{ handle: PolicyPackHandle; configured: ConfigureResult }> {
    const packDir = options.policyPackDir ?? path.join(options.projectDir, "policies");
    const configFile = options.policyConfigFile ?? path.join(packDir, "config", `${options.stack}.json`);
    if (!fs.existsSync(configFile)) throw new Error(`${configFile}: no policy config for stack "${options.stack}"`);
    const handle = await launchPolicyPack(packDir, { stack: { stack: options.stack, project: PROJECT, dryRun: true, config: stackValues, configSecretKeys: secretKeys } });
    try {
        const configured = await handle.configure({ value: policyConfigFor(configFile, options.registryUri) });
        return { handle, configured };
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

    const { values, secretKeys, config } = await stage("config", () => loadStack(options.projectDir, options.stack));
    // The pack's start (seconds of ts-node type checking) overlaps the program's run.
    options.onStage?.("policy-pack");
    const packStartedAt = Date.now();
    const pack = startPolicyPack(options, values, secretKeys).finally(() => {
        timings["policy-pack"] = Date.now() - packStartedAt;
    });
    // A failed start is awaited below; until then, keep Node from reporting it as unhandled.
    pack.catch(() => undefined);

    try {
        const run = await stage("program", () => runProgram({ stack: options.stack, config: values, secretKeys }, main), `${config.models.length} models`);
        const inventory = kubernetesInventory(run.resources);
        const manifestProblems = await stage("manifests", () => validateManifests(inventory.manifests), `${inventory.manifests.length} objects`);
        const { handle, configured } = await pack;
        const analysis = await stage("policies", () => analyzeResources(handle, run.resources), `${run.resources.length} resources`);
        // Closing drains the pack's output, so the logs are complete after it.
        await handle.close();
        timings.total = Date.now() - startedAt;
        return {
            config,
            run,
            inventory,
            manifestProblems,
            policy: { ...analysis, info: handle.info(), configured, logs: handle.logs, startupMs: handle.startupMs },
            timings: timings as Record<PipelineStage | "total", number>,
        };
    } finally {
        // Reap the pack whatever happened; closing twice is harmless.
        await pack.then(({ handle }) => handle.close()).catch(() => undefined);
    }
}
