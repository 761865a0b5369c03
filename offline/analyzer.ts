import * as grpc from "@grpc/grpc-js";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import type { PluginInfo } from "@pulumi/pulumi/proto/plugin_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import {
    type PolicyConfig,
    PolicyPackConfigError,
    isEnforcementLevel,
    loadPolicyPackConfigFromFile,
    parsePolicyPackConfig,
    reconcilePolicyPackConfig,
} from "./analyzer/config";
import { PackProcess, type PackLogLine, PolicyPackStartError, type StackInfo, loadPolicyProject, rpc } from "./analyzer/process";
import {
    type AnalyzerInfo,
    type PolicyDiagnostic,
    type PolicyRemediation,
    ResourceIndex,
    analyzeRequest,
    analyzerInfoFromPb,
    configureRequest,
    diagnosticFromPb,
    remediationFromPb,
    stackResource,
} from "./analyzer/wire";
import { AnalysisQueue, type PolicyAnalysis } from "./analyzer/queue";
import type { RecordedResource } from "./runtime";

/**
 * Drives a CrossGuard policy pack as `pulumi preview --policy-pack <dir> [--policy-pack-config <file>]`
 * does: the pack runs as a real analyzer plugin (its own Node process, ts-node type-checking it
 * on load) and is spoken to over its gRPC protocol, in the engine's order (pulumi/pulumi
 * sdk/go/common/resource/plugin/analyzer_plugin.go `NewPolicyAnalyzer`, host.go `PolicyAnalyzer`,
 * pkg/engine/update.go `installAndLoadPolicyPlugins`, pkg/resource/deploy/step_generator.go):
 * Handshake → ConfigureStack → GetPluginInfo → GetAnalyzerInfo → Configure (the CLI's reconciled
 * config) → per registration Remediate then Analyze → AnalyzeStack once at the end → kill.
 */

export { PolicyPackConfigError, PolicyPackStartError };
export { AnalysisQueue, type PolicyAnalysis } from "./analyzer/queue";
export type { AnalyzerInfo, PackLogLine, PolicyConfig, PolicyDiagnostic, PolicyRemediation, StackInfo };
export type { EnforcementLevel } from "./analyzer/config";
export type { PolicyInfo, Severity } from "./analyzer/wire";

export interface LaunchOptions {
    /**
     * The stack being previewed. The CLI passes it in the pack's environment and with
     * ConfigureStack; without it (as for `pulumi policy publish`) neither happens.
     * @default - no stack information
     */
    readonly stack?: StackInfo;
    /** How long the pack may take to print its port (ts-node type-checks it first). @default 60000 */
    readonly startupTimeoutMs?: number;
    /** The environment the pack inherits, before the CLI's own variables are added. @default process.env */
    readonly env?: NodeJS.ProcessEnv;
}

/** The user's `--policy-pack-config`: a file, its text, or its parsed content. */
export type PolicyPackConfigSource = { readonly file: string } | { readonly text: string } | { readonly value: unknown };

export interface ConfigureResult {
    /** Exactly what was sent with Configure, per policy (and "all" and any other names the file had). */
    readonly config: ReadonlyMap<string, PolicyConfig>;
    /**
     * Names in the file that are neither "all" nor a policy of the pack. The CLI passes them on
     * without a word (a typo silently configures nothing); surfaced here so callers can warn.
     */
    readonly unknownPolicies: readonly string[];
}

/** A running policy pack. Always `close()` it, also when something failed. */
export class PolicyPackHandle {
    private constructor(
        readonly packDir: string,
        private readonly pack: PackProcess,
        private readonly analyzerInfo: AnalyzerInfo,
        /** Milliseconds from launch until GetAnalyzerInfo answered (ts-node's type check dominates). */
        readonly startupMs: number,
        /** GetPluginInfo's version: the @pulumi/policy SDK's. */
        readonly pluginVersion: string,
        private readonly stack: StackInfo | undefined,
    ) {}

    /** @internal */
    static async launch(packDir: string, options: LaunchOptions = {}): Promise<PolicyPackHandle> {
        const started = performance.now();
        const project = loadPolicyProject(packDir);
        if (project.runtime !== "nodejs") {
            throw new PolicyPackStartError(
                `policy pack ${JSON.stringify(packDir)} has runtime ${JSON.stringify(project.runtime)}; only nodejs packs can be run offline`,
                packDir,
            );
        }
        const pack = await PackProcess.start({
            packDir,
            project,
            stack: options.stack,
            startupTimeoutMs: options.startupTimeoutMs ?? 60_000,
            ...(options.env && { env: options.env }),
        });
        try {
            if (options.stack !== undefined) await configureStack(pack, options.stack);
            const pluginInfo = await rpc<PluginInfo>((cb) => pack.client.getPluginInfo(new Empty(), cb));
            const info = await rpc<analyzerPb.AnalyzerInfo>((cb) => pack.client.getAnalyzerInfo(new Empty(), cb));
            return new PolicyPackHandle(
                packDir,
                pack,
                analyzerInfoFromPb(info, project),
                Math.round(performance.now() - started),
                pluginInfo.getVersion(),
                options.stack,
            );
        } catch (err) {
            await pack.close();
            throw err;
        }
    }

    /** GetAnalyzerInfo, as the CLI reads it (cached: the CLI asks once). */
    info(): AnalyzerInfo {
        return this.analyzerInfo;
    }

    /** The pack's output so far: stdout/stderr lines after the port line, and any Engine Log calls. */
    get logs(): readonly PackLogLine[] {
        return this.pack.logs;
    }

    get pid(): number | undefined {
        return this.pack.child.pid;
    }

    /** ConfigureStack; `launchPolicyPack({ stack })` already sent it, as the CLI does at load. */
    async configureStack(stack: StackInfo): Promise<void> {
        await configureStack(this.pack, stack);
    }

    /**
     * Applies `--policy-pack-config` with the CLI's rules (schema defaults, "all", per-policy
     * levels, validation) and sends the result with Configure. Without a source the pack still
     * gets every policy's defaults, as with no `--policy-pack-config`. A config the CLI would
     * refuse throws a `PolicyPackConfigError` whose lines are the CLI's, and nothing is sent.
     */
    async configure(source?: PolicyPackConfigSource): Promise<ConfigureResult> {
        const info = this.analyzerInfo;
        const given = readConfigSource(source);
        if (!info.supportsConfig) {
            if (source !== undefined)
                throw new PolicyPackConfigError([`policy pack ${JSON.stringify(info.name)} at ${JSON.stringify(this.packDir)} does not support config`]);
            return { config: new Map(), unknownPolicies: [] };
        }
        let reconciled;
        try {
            reconciled = reconcilePolicyPackConfig(info.policies, info.initialConfig, given);
        } catch (err) {
            throw new PolicyPackConfigError([
                `reconciling policy config for ${JSON.stringify(info.name)} at ${JSON.stringify(this.packDir)}: ${(err as Error).message}`,
            ]);
        }
        if (reconciled.validationErrors !== undefined) {
            // installAndLoadPolicyPlugins: one line per problem, sorted, then "validating policy config".
            const lines = reconciled.validationErrors.map((e) => `validating policy config: ${info.name} ${info.version}  ${e}`).sort();
            throw new PolicyPackConfigError(lines);
        }
        const config = reconciled.config;
        const known = new Set(info.policies.map((p) => p.name));
        const unknownPolicies = [...(given?.keys() ?? [])].filter((name) => name !== "all" && !known.has(name));
        // analyzer.Configure: nothing is sent for an empty config; a level-less entry (a name the pack
        // does not have, given only properties) is refused.
        if (config.size === 0) return { config, unknownPolicies };
        for (const [name, policyConfig] of config) {
            if (!isEnforcementLevel(policyConfig.enforcementLevel)) {
                throw new PolicyPackConfigError([
                    // The CLI's words, then which entry it was (the CLI does not say).
                    `configuring policy pack ${JSON.stringify(info.name)} at ${JSON.stringify(this.packDir)}: invalid enforcement level ${JSON.stringify(policyConfig.enforcementLevel)}` +
                        ` (${JSON.stringify(name)} is not a policy of the pack and sets no enforcementLevel)`,
                ]);
            }
        }
        await rpc((cb) => this.pack.client.configure(configureRequest(config), cb));
        return { config, unknownPolicies };
    }

    /**
     * Remediate, as the engine calls it for every registration before Analyze. `resources` is
     * where the provider reference is looked up.
     */
    async remediate(
        resource: RecordedResource,
        resources: readonly RecordedResource[] = [resource],
        properties = resource.wireInputs,
    ): Promise<PolicyRemediation[]> {
        const request = analyzeRequest(resource, new ResourceIndex(resources), properties);
        const response = await rpc<analyzerPb.RemediateResponse>((cb) => this.pack.client.remediate(request, cb));
        return response.getRemediationsList().map((r) => remediationFromPb(r, this.analyzerInfo, resource.urn));
    }

    /**
     * Analyze one registration (its wire inputs, or the remediated properties). The engine reports
     * every diagnostic against this resource's URN and turns "remediate" into "mandatory".
     */
    async analyze(
        resource: RecordedResource,
        resources: readonly RecordedResource[] = [resource],
        properties = resource.wireInputs,
    ): Promise<PolicyDiagnostic[]> {
        const request = analyzeRequest(resource, new ResourceIndex(resources), properties);
        const response = await rpc<analyzerPb.AnalyzeResponse>((cb) => this.pack.client.analyze(request, cb));
        return response.getDiagnosticsList().map((d) => {
            const diagnostic = diagnosticFromPb(d, this.analyzerInfo, resource.urn);
            return diagnostic.enforcementLevel === "remediate" ? { ...diagnostic, enforcementLevel: "mandatory" } : diagnostic;
        });
    }

    /**
     * AnalyzeStack over all registrations. A diagnostic's URN is kept when it names a resource of
     * the stack, otherwise it is the root stack's (step_generator.go `AnalyzeResources`).
     * The engine sends each resource's outputs here; offline there are only the inputs (what a
     * preview's outputs mostly are, minus provider-computed values). `properties` overrides a
     * resource's wire inputs (e.g. after remediation).
     */
    async analyzeStack(
        resources: readonly RecordedResource[],
        properties: ReadonlyMap<string, Record<string, unknown>> = new Map(),
    ): Promise<PolicyDiagnostic[]> {
        const index = new ResourceIndex(resources);
        const request = new analyzerPb.AnalyzeStackRequest();
        request.setResourcesList(resources.map((r) => stackResource(r, index, properties.get(r.urn) ?? r.wireInputs)));
        const response = await rpc<analyzerPb.AnalyzeResponse>((cb) => this.pack.client.analyzeStack(request, cb));
        const rootUrn = index.rootStackUrn() ?? (this.stack === undefined ? undefined : defaultRootStackUrn(this.stack));
        return response.getDiagnosticsList().map((d) => diagnosticFromPb(d, this.analyzerInfo, index.has(d.getUrn()) ? d.getUrn() : rootUrn));
    }

    /** Kills the pack and waits until its output has drained; safe to call more than once. */
    close(): Promise<void> {
        return this.pack.close();
    }
}

/**
 * Starts the pack in `packDir` as the CLI does and reads its GetAnalyzerInfo. Startup takes a few
 * seconds (ts-node type-checks the pack), so callers start it early and run the program meanwhile.
 */
export function launchPolicyPack(packDir: string, options?: LaunchOptions): Promise<PolicyPackHandle> {
    return PolicyPackHandle.launch(packDir, options);
}

/**
 * What a preview does with the registrations once the pack is configured: per resource Remediate
 * (its new properties replace the inputs from then on) then Analyze; then AnalyzeStack.
 * @param concurrency Remediate+Analyze calls in flight; the engine makes one at a time. @default 1
 */
export function analyzeResources(handle: PolicyPackHandle, resources: readonly RecordedResource[], concurrency = 1): Promise<PolicyAnalysis> {
    return new AnalysisQueue(concurrency).finish(handle, resources);
}

export interface RunPolicyPackOptions {
    readonly packDir: string;
    /** `--policy-pack-config`. @default - none: every policy gets its defaults */
    readonly configFile?: string;
    readonly stack: string;
    readonly project: string;
    readonly resources: readonly RecordedResource[];
    /** @default "" */
    readonly organization?: string;
    /** The stack's config as PULUMI_CONFIG / ConfigureStack carry it. @default {} */
    readonly stackConfig?: Readonly<Record<string, string>>;
    /** @default 60000 */
    readonly startupTimeoutMs?: number;
}

export interface PolicyPackRun extends PolicyAnalysis {
    readonly info: AnalyzerInfo;
    readonly logs: readonly PackLogLine[];
    readonly startupMs: number;
}

/** Launch, configure, analyze every resource and the stack, and always kill the pack. */
export async function runPolicyPack(options: RunPolicyPackOptions): Promise<PolicyPackRun> {
    const handle = await launchPolicyPack(options.packDir, {
        stack: {
            stack: options.stack,
            project: options.project,
            dryRun: true,
            ...(options.organization !== undefined && { organization: options.organization }),
            config: options.stackConfig ?? {},
        },
        ...(options.startupTimeoutMs !== undefined && { startupTimeoutMs: options.startupTimeoutMs }),
    });
    let analysis: PolicyAnalysis;
    try {
        await handle.configure(options.configFile === undefined ? undefined : { file: options.configFile });
        analysis = await analyzeResources(handle, options.resources);
    } finally {
        // Also drains the pack's stdout/stderr, so `logs` is complete below.
        await handle.close();
    }
    return { info: handle.info(), ...analysis, logs: handle.logs, startupMs: handle.startupMs };
}

/** `resource.DefaultRootStackURN`: where the engine files stack-level violations. */
function defaultRootStackUrn(stack: StackInfo): string {
    return `urn:pulumi:${stack.stack}::${stack.project}::pulumi:pulumi:Stack::${stack.project}-${stack.stack}`;
}

async function configureStack(pack: PackProcess, stack: StackInfo): Promise<void> {
    const request = new analyzerPb.AnalyzerStackConfigureRequest()
        .setStack(stack.stack)
        .setProject(stack.project)
        .setOrganization(stack.organization ?? "")
        .setDryRun(stack.dryRun ?? true)
        .setConfigSecretKeysList([...(stack.configSecretKeys ?? [])]);
    for (const [key, value] of Object.entries(stack.config ?? {})) request.getConfigMap().set(key, value);
    for (const [key, value] of Object.entries(stack.tags ?? {})) request.getTagsMap().set(key, value);
    try {
        await rpc((cb) => pack.client.configureStack(request, cb));
    } catch (err) {
        // An analyzer without ConfigureStack is fine.
        if ((err as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED) throw err;
    }
}

function readConfigSource(source: PolicyPackConfigSource | undefined): Map<string, PolicyConfig> | undefined {
    if (source === undefined) return undefined;
    if ("file" in source) return loadPolicyPackConfigFromFile(source.file);
    if ("text" in source) return parsePolicyPackConfig(source.text);
    return parsePolicyPackConfig(JSON.stringify(source.value));
}
