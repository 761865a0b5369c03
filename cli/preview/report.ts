import * as path from "node:path";
import { LABELS } from "../../components/labels";
import { resolveCanary } from "../../components/modelServing/canary";
import { type QualitySignal, qualitySignals } from "../../components/modelServing/telemetry";
import { describeContribution, tallyGpusAtMaxScale, type GpuTally } from "../../policies/gpu";
import type { Environment } from "../../stacks";
import type { EnforcementLevel, PolicyDiagnostic } from "../../offline/analyzer";
import type { PipelineResult } from "../../offline/pipeline";
import { type RecordedResource, unwrapSecrets } from "../../offline/runtime";
import { type ClusterSummary, clusterSummaries } from "./clusters";
import { type ComponentNode, componentGroups, componentTree, type ResourceGroup } from "./components";

/**
 * What the offline preview found, as one plain value: the text, Markdown and JSON outputs are
 * renderings of it. `--json` prints it as is; its shape is the interfaces below, identified by
 * `format` (bumped whenever a field changes meaning or disappears; fields may be added).
 */

export const REPORT_FORMAT = "mlops-platform/preview@1";

export interface PreviewReport {
    readonly format: typeof REPORT_FORMAT;
    readonly stack: string;
    readonly environment: Environment;
    /** `clean`: exit 0. `failed`: a mandatory violation or an invalid manifest, exit 1. */
    readonly outcome: "clean" | "failed";
    readonly exitCode: 0 | 1;
    readonly inputs: {
        readonly stackFile: string;
        readonly policyConfigFile: string;
        readonly policyPack: { readonly name: string; readonly version: string; readonly policies: number };
        readonly registry: RegistryCrossCheck;
    };
    readonly resources: {
        /** Every registration, the stack resource included. */
        readonly total: number;
        /** Per top-level component (the stack first, for what the program creates directly); counts add up to `total`. */
        readonly byComponent: readonly ResourceGroup[];
        /** The component tree (component resources only), rooted at the stack. */
        readonly tree: ComponentNode;
    };
    readonly models: readonly ModelSummary[];
    /** Per declared cluster (`mlops-platform:clusters`), what it serves; absent for a stack that declares none. */
    readonly clusters?: readonly ClusterSummary[];
    readonly gpu: GpuSummary;
    readonly policies: {
        readonly counts: { readonly mandatory: number; readonly advisory: number };
        /** Violations per enforcement level, each sorted by policy, resource and message. */
        readonly mandatory: readonly PolicyViolation[];
        readonly advisory: readonly PolicyViolation[];
        readonly remediations: number;
        /** Names in the policy config that are no policy of the pack (the CLI ignores them silently). */
        readonly unknownPolicies: readonly string[];
    };
    readonly manifests: {
        readonly outDir: string;
        /** File names in `outDir`, in reading order. */
        readonly files: readonly string[];
        readonly invalid: readonly InvalidManifest[];
        /** Helm releases, packaged components and patches: installed objects this program does not spell out. */
        readonly releases: readonly ReleaseSummary[];
    };
    /** Where this preview had to differ from what `pulumi preview` would do, and why (each one line). */
    readonly warnings: readonly string[];
    /** Milliseconds per stage; they vary between runs. */
    readonly timingsMs: Readonly<Record<string, number>>;
}

export type RegistryCrossCheck =
    | { readonly checked: true; readonly uri: string; readonly source: RegistrySource; readonly enforcementLevel: string }
    | { readonly checked: false; readonly reason: string; readonly howToRun: string };

export type RegistrySource = "--registry" | "MLFLOW_TRACKING_URI";

export interface ModelSummary {
    readonly name: string;
    readonly registeredModel: string;
    /** The declared (pinned) registry version. */
    readonly version: string;
    readonly replicas: { readonly min: number; readonly max: number };
    readonly resources: { readonly cpu: string; readonly memory: string; readonly gpu: number };
    /** The rollout as `resolveCanary` makes it: the component's defaults filled in. */
    readonly canary: {
        readonly strategy: "progressive" | "abTesting";
        /** Traffic weights (percent) of a progressive rollout; empty for A/B testing. */
        readonly stepWeights: readonly number[];
        readonly abTesting?: { readonly header: string; readonly value: string; readonly iterations: number };
        readonly interval: string;
        readonly threshold: number;
        readonly maxLatencyMs: number;
        readonly minSuccessRate: number;
        readonly mirrorWeight?: number;
        readonly quality: { readonly minAccuracy?: number; readonly maxDriftScore?: number; readonly minConfidence?: number };
        readonly loadTestRps?: number;
    };
    readonly promotion?: { readonly runId: string; readonly validatedIn?: string; readonly approvedBy: readonly string[] };
    /** The model-quality telemetry of its pods: what it publishes, how Prometheus finds it, and which checks read each signal. */
    readonly telemetry: {
        readonly outputs: "probabilities" | "labels";
        /** `PodMonitor` (Prometheus Operator) or `annotations` (`prometheus.io/scrape`, e.g. Flagger's bundled Prometheus). */
        readonly scrapedBy: "PodMonitor" | "annotations";
        readonly signals: readonly QualitySignal[];
    };
    /** This model's GPUs with every workload at its maximum scale (as the gpu-budget policy counts them). */
    readonly gpusAtMaxScale: number;
}

export interface GpuSummary {
    readonly resourceName: string;
    /** The environment's budget from the policy config (gpu-budget), defaults applied. */
    readonly budget: number;
    readonly enforcementLevel: string;
    readonly totalAtMaxScale: number;
    readonly withinBudget: boolean;
    /** One line per GPU workload: `Deployment "models/x": 1 GPU per pod × 4 pods (...) = 4 GPUs`. */
    readonly contributions: readonly { readonly workload: string; readonly gpus: number; readonly line: string }[];
    /** GPU workloads whose scale cannot be bounded: while any exist, the total is a lower bound. */
    readonly unbounded: readonly { readonly workload: string; readonly reason: string }[];
}

export interface ResourceRef {
    readonly urn: string;
    /** The resource's logical name (the URN's last part). */
    readonly name: string;
    readonly type: string;
}

export interface PolicyViolation {
    readonly policy: string;
    readonly enforcementLevel: EnforcementLevel;
    readonly severity?: string;
    readonly resource: ResourceRef;
    /** The violation alone, without the policy's description (which `description` holds). */
    readonly message: string;
    readonly description: string;
}

export interface InvalidManifest {
    /** `Deployment models/fraud-detector` */
    readonly object: string;
    readonly urn?: string;
    /** `<object>: <field path>: <problem>` */
    readonly line: string;
}

export interface ReleaseSummary {
    readonly name: string;
    readonly type: string;
    readonly what: string;
    readonly chart?: string;
    readonly version?: string;
    readonly repository?: string;
    readonly namespace?: string;
}

export interface ReportContext {
    readonly stack: string;
    readonly stackFile: string;
    readonly policyConfigFile: string;
    readonly outDir: string;
    /** Paths of the written manifests, in reading order. */
    readonly files: readonly string[];
    readonly registry: { readonly uri: string; readonly source: RegistrySource } | undefined;
}

export function buildReport(result: PipelineResult, context: ReportContext): PreviewReport {
    const resources = result.run.resources;
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const info = result.policy.info;
    const configured = result.policy.configured.config;

    const mandatory = violations(result.policy.diagnostics, "mandatory", byUrn);
    const advisory = violations(result.policy.diagnostics, "advisory", byUrn);
    const invalid = result.manifestProblems.map((p): InvalidManifest => ({ object: p.object, ...(p.urn !== undefined && { urn: p.urn }), line: p.line }));
    const failed = mandatory.length > 0 || invalid.length > 0;

    const gpu = gpuSummary(result);
    const registryLevel = configured.get("registry-evidence-matches")?.enforcementLevel ?? "advisory";
    const registry: RegistryCrossCheck =
        context.registry === undefined
            ? {
                  checked: false,
                  reason: "no registry given, so the declared evidence was checked on its own",
                  howToRun: "pass --registry <url> or set MLFLOW_TRACKING_URI",
              }
            : { checked: true, uri: context.registry.uri, source: context.registry.source, enforcementLevel: registryLevel };

    const clusters = clusterSummaries(result, gpu.tally);
    return {
        format: REPORT_FORMAT,
        stack: context.stack,
        environment: result.config.environment,
        outcome: failed ? "failed" : "clean",
        exitCode: failed ? 1 : 0,
        inputs: {
            stackFile: context.stackFile,
            policyConfigFile: context.policyConfigFile,
            policyPack: { name: info.name, version: info.version, policies: info.policies.length },
            registry,
        },
        resources: { total: resources.length, byComponent: componentGroups(resources), tree: componentTree(resources) },
        models: modelSummaries(result, gpu.tally),
        ...(clusters !== undefined && { clusters }),
        gpu: gpu.summary,
        policies: {
            counts: { mandatory: mandatory.length, advisory: advisory.length },
            mandatory,
            advisory,
            remediations: result.policy.remediations.filter((r) => r.properties !== undefined).length,
            unknownPolicies: [...result.policy.configured.unknownPolicies],
        },
        manifests: {
            outDir: context.outDir,
            files: context.files.map((file) => path.basename(file)),
            invalid,
            releases: result.inventory.releases.map((r) => ({
                name: r.name,
                type: r.type,
                what: r.what,
                ...(r.chart !== undefined && { chart: r.chart }),
                ...(r.version !== undefined && { version: r.version }),
                ...(r.repository !== undefined && { repository: r.repository }),
                ...(r.namespace !== undefined && { namespace: r.namespace }),
            })),
        },
        warnings: [...result.warnings],
        timingsMs: { ...result.timings },
    };
}

/** `<description>\n<violation>` is how the pack words a message; the description is kept apart. */
export function violationText(diagnostic: Pick<PolicyDiagnostic, "description" | "message">): string {
    const { description, message } = diagnostic;
    if (description !== "" && message.startsWith(`${description}\n`)) return message.slice(description.length + 1);
    return message === description ? "" : message;
}

/** The last part of a URN: the resource's logical name. */
function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}

function violations(diagnostics: readonly PolicyDiagnostic[], level: EnforcementLevel, byUrn: ReadonlyMap<string, RecordedResource>): PolicyViolation[] {
    const list = diagnostics
        .filter((d) => d.enforcementLevel === level)
        .map((d): PolicyViolation => {
            const urn = d.urn ?? "";
            const resource = byUrn.get(urn);
            return {
                policy: d.policyName,
                enforcementLevel: d.enforcementLevel,
                ...(d.severity !== undefined && { severity: d.severity }),
                resource: { urn, name: resource?.name ?? urnName(urn), type: resource?.type ?? urn.split("::")[2]?.split("$").pop() ?? "" },
                message: violationText(d),
                description: d.description,
            };
        });
    const key = (v: PolicyViolation) => [v.policy, v.resource.name, v.resource.type, v.message];
    return list.sort((a, b) => compareKeys(key(a), key(b)));
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
    for (let i = 0; i < a.length; i++) {
        const x = a[i] ?? "";
        const y = b[i] ?? "";
        if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
}

/** The gpu-budget policy's own tally (`tallyGpusAtMaxScale`) over what the pack analyzed, with its configured budget. */
function gpuSummary(result: PipelineResult): { summary: GpuSummary; tally: GpuTally } {
    const policy = result.policy.configured.config.get("gpu-budget");
    const properties = policy?.properties ?? {};
    const resourceName = typeof properties["gpuResourceName"] === "string" ? properties["gpuResourceName"] : "nvidia.com/gpu";
    const budget = typeof properties["gpuBudget"] === "number" ? properties["gpuBudget"] : 0;
    // The pack saw remediated properties where a remediation ran; so does this tally.
    const remediated = new Map(result.policy.remediations.filter((r) => r.properties !== undefined).map((r) => [r.urn, r.properties]));
    const stackResources = result.run.resources.map((r) => ({
        type: r.type,
        urn: r.urn,
        name: r.name,
        props: remediated.has(r.urn) ? unwrapSecrets(remediated.get(r.urn)) : r.inputs,
    }));
    const tally = tallyGpusAtMaxScale(stackResources, resourceName);
    const summary: GpuSummary = {
        resourceName,
        budget,
        enforcementLevel: policy?.enforcementLevel || "advisory",
        totalAtMaxScale: tally.totalGpus,
        withinBudget: tally.totalGpus <= budget && tally.unbounded.length === 0,
        contributions: tally.contributions.map((c) => ({ workload: c.workload, gpus: c.gpus, line: describeContribution(c) })),
        unbounded: tally.unbounded.map((u) => ({ workload: u.workload, reason: u.reason })),
    };
    return { summary, tally };
}

function modelSummaries(result: PipelineResult, tally: GpuTally): ModelSummary[] {
    // A model's GPU workloads are the ones carrying its label.
    const byUrn = new Map(result.run.resources.map((r) => [r.urn, r]));
    const gpusByModel = new Map<string, number>();
    for (const c of tally.contributions) {
        const model = modelLabelOf(byUrn.get(c.urn));
        if (model !== undefined) gpusByModel.set(model, (gpusByModel.get(model) ?? 0) + c.gpus);
    }
    return result.config.models.map((model): ModelSummary => {
        const canary = resolveCanary(model.canary);
        const evidence = model.promotion?.evidence;
        return {
            name: model.name,
            registeredModel: model.registeredModel,
            version: model.version,
            replicas: { min: model.replicas.min, max: model.replicas.max },
            resources: { cpu: model.resources.cpu, memory: model.resources.memory, gpu: model.resources.gpu ?? 0 },
            canary: {
                strategy: canary.strategy.kind,
                stepWeights: canary.strategy.kind === "progressive" ? [...canary.strategy.stepWeights] : [],
                ...(canary.strategy.kind === "abTesting" && {
                    abTesting: { header: canary.strategy.header, value: canary.strategy.value, iterations: canary.strategy.iterations },
                }),
                interval: canary.interval,
                threshold: canary.threshold,
                maxLatencyMs: canary.maxLatencyMs,
                minSuccessRate: canary.minSuccessRate,
                ...(canary.mirror !== undefined && { mirrorWeight: canary.mirror.weight }),
                quality: { ...canary.quality },
                ...(canary.loadTest !== undefined && { loadTestRps: canary.loadTest.rps }),
            },
            telemetry: {
                outputs: model.outputs ?? "probabilities",
                scrapedBy: result.config.prometheus.operator ? "PodMonitor" : "annotations",
                signals: qualitySignals(model.outputs ?? "probabilities", canary.quality, {
                    drift: model.monitoring.drift,
                    ...(model.monitoring.accuracy !== undefined && { accuracy: model.monitoring.accuracy }),
                    ...(model.monitoring.confidence !== undefined && { confidence: model.monitoring.confidence }),
                }),
            },
            ...(evidence !== undefined && {
                promotion: {
                    runId: evidence.runId,
                    ...(evidence.validatedIn !== undefined && { validatedIn: evidence.validatedIn }),
                    approvedBy: [...(model.promotion?.approvedBy ?? [])],
                },
            }),
            gpusAtMaxScale: gpusByModel.get(model.name) ?? 0,
        };
    });
}

function modelLabelOf(resource: RecordedResource | undefined): string | undefined {
    const metadata = resource?.inputs["metadata"];
    const labels = typeof metadata === "object" && metadata !== null ? (metadata as { labels?: unknown }).labels : undefined;
    const model = typeof labels === "object" && labels !== null ? (labels as Record<string, unknown>)[LABELS.model] : undefined;
    return typeof model === "string" ? model : undefined;
}
