import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { configOf, type TypedConfigSchema } from "./policyConfig";
import { asList, asString, field, isUnknown, showValue, stringEntries, UNKNOWN, type Unknown, type Value } from "./values";
import {
    clusterOf,
    containersOf,
    HPA_TYPES,
    K8S,
    type KubeObject,
    kubeObjects,
    podTemplateOf,
    POD_BEARING_TYPES,
    refersTo,
    type StackResource,
    validatePodTemplates,
} from "./workloads";

/**
 * GPU policies: what one container may take, that GPU pods land on GPU nodes, and that the whole
 * stack at its maximum scale stays within the environment's GPU budget.
 */

const gpuResourceNameSchema = {
    type: "string",
    minLength: 1,
    default: "nvidia.com/gpu",
    description: "Extended resource name GPUs are requested as.",
} as const;

// ---------------------------------------------------------------------------------------------
// Reading GPU amounts

/** A container's GPUs under `resources.limits` or `resources.requests`. */
export type GpuAmount =
    | { readonly state: "none" }
    | { readonly state: "unknown" }
    | { readonly state: "invalid"; readonly value: Value }
    | { readonly state: "count"; readonly count: number };

export function gpuAmount(container: Value, section: "limits" | "requests", gpuResourceName: string): GpuAmount {
    const value = field(container, "resources", section, gpuResourceName);
    if (value === undefined || value === null) return { state: "none" };
    if (isUnknown(value)) return { state: "unknown" };
    // Extended resources are whole numbers: "1" and 1 are the same request, "0.5" is refused by the API server.
    const count = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
    return Number.isInteger(count) && count >= 0 ? { state: "count", count } : { state: "invalid", value };
}

/** The GPUs a container holds: its limit, or its request when it has no limit. */
function containerGpus(container: Value, gpuResourceName: string): number | Unknown {
    const limit = gpuAmount(container, "limits", gpuResourceName);
    const amount = limit.state === "none" ? gpuAmount(container, "requests", gpuResourceName) : limit;
    if (amount.state === "unknown" || amount.state === "invalid") return UNKNOWN;
    return amount.state === "count" ? amount.count : 0;
}

/**
 * The GPUs one pod holds at once: app containers and sidecars run together, plain init containers
 * one at a time before them (the scheduler's effective request).
 */
export function podGpus(podSpec: Value | undefined, gpuResourceName: string): number | Unknown {
    const containers = containersOf(podSpec);
    if (isUnknown(containers)) return UNKNOWN;
    let running = 0;
    let initPeak = 0;
    for (const container of containers) {
        const gpus = containerGpus(container.spec, gpuResourceName);
        if (isUnknown(gpus)) return UNKNOWN;
        if (container.init && !container.sidecar) initPeak = Math.max(initPeak, gpus);
        else running += gpus;
    }
    return Math.max(running, initPeak);
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? "" : "s"}`;

// ---------------------------------------------------------------------------------------------
// Per container

export interface GpuLimitConfig {
    /** Most GPUs one container may ask for. @default 1 */
    readonly maxGpusPerContainer: number;
    /** Extended resource name GPUs are requested as. @default "nvidia.com/gpu" */
    readonly gpuResourceName: string;
}

const gpuLimitSchema: TypedConfigSchema<GpuLimitConfig> = {
    properties: {
        maxGpusPerContainer: { type: "integer", minimum: 0, default: 1, description: "Most GPUs one container may ask for." },
        gpuResourceName: gpuResourceNameSchema,
    },
};

export const gpuLimitPerContainer: ResourceValidationPolicy = {
    name: "gpu-limit-per-container",
    description: "No container asks for more GPUs than the environment allows per container.",
    configSchema: gpuLimitSchema,
    validateResource: validatePodTemplates((template, _object, args, report) => {
        const { maxGpusPerContainer, gpuResourceName } = configOf(args, gpuLimitSchema);
        const containers = containersOf(template.spec);
        // GPU counts come from configuration, never from another resource: an unknown one is reported.
        if (isUnknown(containers)) return report(`the pod's containers are unknown during preview, so their ${gpuResourceName} cannot be checked`);
        for (const container of containers) {
            let readable = true;
            for (const section of ["limits", "requests"] as const) {
                const amount = gpuAmount(container.spec, section, gpuResourceName);
                const key = `resources.${section}["${gpuResourceName}"]`;
                if (amount.state === "unknown") report(`${container.label}: ${key} is unknown during preview, so it cannot be checked`);
                if (amount.state === "invalid") report(`${container.label}: ${key} must be a whole number of GPUs, got ${showValue(amount.value)}`);
                readable &&= amount.state === "none" || amount.state === "count";
            }
            const gpus = containerGpus(container.spec, gpuResourceName);
            if (readable && !isUnknown(gpus) && gpus > maxGpusPerContainer) {
                report(`${container.label} asks for ${plural(gpus, "GPU")} (${gpuResourceName}), over the limit of ${maxGpusPerContainer} per container`);
            }
        }
    }),
};

export interface GpuRequestsConfig {
    /** Extended resource name GPUs are requested as. @default "nvidia.com/gpu" */
    readonly gpuResourceName: string;
}

const gpuRequestsSchema: TypedConfigSchema<GpuRequestsConfig> = { properties: { gpuResourceName: gpuResourceNameSchema } };

export const gpuRequestsEqualLimits: ResourceValidationPolicy = {
    name: "gpu-requests-equal-limits",
    description: "A container's GPU request equals its GPU limit.",
    configSchema: gpuRequestsSchema,
    validateResource: validatePodTemplates((template, _object, args, report) => {
        const { gpuResourceName } = configOf(args, gpuRequestsSchema);
        const containers = containersOf(template.spec);
        if (isUnknown(containers)) return report(`the pod's containers are unknown during preview, so their ${gpuResourceName} cannot be checked`);
        for (const container of containers) {
            const request = gpuAmount(container.spec, "requests", gpuResourceName);
            const limit = gpuAmount(container.spec, "limits", gpuResourceName);
            // Unknown amounts cannot be compared, and GPU amounts are always written literally: reported.
            if (request.state === "unknown" || limit.state === "unknown") {
                report(`${container.label}: the ${gpuResourceName} request or limit is unknown during preview, so they cannot be compared`);
            } else if (request.state === "count" && limit.state === "none") {
                report(
                    `${container.label}: requests ${plural(request.count, "GPU")} (${gpuResourceName}) without a limit; extended resources need a limit equal to the request`,
                );
            } else if (request.state === "count" && limit.state === "count" && request.count !== limit.count) {
                report(`${container.label}: ${gpuResourceName} request (${request.count}) must equal its limit (${limit.count})`);
            }
            // A limit alone is fine: Kubernetes uses it as the request.
        }
    }),
};

// ---------------------------------------------------------------------------------------------
// Per pod: GPU pods go to GPU nodes

export interface GpuPlacementConfig {
    /** Extended resource name GPUs are requested as. @default "nvidia.com/gpu" */
    readonly gpuResourceName: string;
    /** Key of the taint that keeps other pods off GPU nodes. @default "nvidia.com/gpu" */
    readonly gpuTaintKey: string;
    /** Effect of that taint. @default "NoSchedule" */
    readonly gpuTaintEffect: string;
    /** Node label that marks GPU nodes. @default "nvidia.com/gpu.present" */
    readonly gpuNodeLabel: string;
    /** Value of that label on GPU nodes. @default "true" */
    readonly gpuNodeLabelValue: string;
}

const gpuPlacementSchema: TypedConfigSchema<GpuPlacementConfig> = {
    properties: {
        gpuResourceName: gpuResourceNameSchema,
        gpuTaintKey: { type: "string", minLength: 1, default: "nvidia.com/gpu", description: "Key of the taint that keeps other pods off GPU nodes." },
        gpuTaintEffect: { type: "string", enum: ["NoSchedule", "PreferNoSchedule", "NoExecute"], default: "NoSchedule", description: "Effect of that taint." },
        gpuNodeLabel: { type: "string", minLength: 1, default: "nvidia.com/gpu.present", description: "Node label that marks GPU nodes." },
        gpuNodeLabelValue: { type: "string", default: "true", description: "Value of that label on GPU nodes." },
    },
};

function toleratesTaint(tolerations: readonly Value[], key: string, effect: string): boolean {
    return tolerations.some((toleration) => {
        const tolerationKey = asString(field(toleration, "key")) ?? "";
        const operator = asString(field(toleration, "operator")) ?? "Equal";
        const tolerationEffect = asString(field(toleration, "effect")) ?? "";
        const keyMatches = tolerationKey === key || (tolerationKey === "" && operator === "Exists");
        // The taint's value is not known to the pack, so an Equal toleration of the key counts.
        return keyMatches && (operator === "Exists" || operator === "Equal") && (tolerationEffect === "" || tolerationEffect === effect);
    });
}

/** Every required node-affinity term pins the label (terms are alternatives, so each must). */
function affinityRequiresLabel(podSpec: Value | undefined, label: string, value: string): boolean {
    const terms = asList(field(podSpec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")) ?? [];
    return (
        terms.length > 0 &&
        terms.every((term) =>
            (asList(field(term, "matchExpressions")) ?? []).some((expression) => {
                if (field(expression, "key") !== label) return false;
                const operator = field(expression, "operator");
                return operator === "Exists" || (operator === "In" && (asList(field(expression, "values")) ?? []).every((v) => v === value));
            }),
        )
    );
}

export const gpuNodePlacement: ResourceValidationPolicy = {
    name: "gpu-node-placement",
    description: "Pods that use GPUs tolerate the GPU nodes' taint and select GPU nodes.",
    configSchema: gpuPlacementSchema,
    validateResource: validatePodTemplates((template, _object, args, report) => {
        const config = configOf(args, gpuPlacementSchema);
        const gpus = podGpus(template.spec, config.gpuResourceName);
        // An unknown GPU count is reported by gpu-limit-per-container; here only GPU pods matter.
        if (isUnknown(gpus) || gpus === 0) return;
        const asking = `the pod uses ${plural(gpus, "GPU")} (${config.gpuResourceName})`;
        const tolerations = field(template.spec, "tolerations");
        // Placement comes from the stack's gpu settings, never from another resource: unknown is reported.
        if (isUnknown(tolerations)) {
            report(`${asking} and its tolerations are unknown during preview, so they cannot be checked`);
        } else if (!toleratesTaint(asList(tolerations) ?? [], config.gpuTaintKey, config.gpuTaintEffect)) {
            report(
                `${asking} but does not tolerate the GPU nodes' taint "${config.gpuTaintKey}" (${config.gpuTaintEffect}), got tolerations ${showValue(tolerations)}`,
            );
        }
        const nodeSelector = field(template.spec, "nodeSelector");
        if (isUnknown(nodeSelector)) {
            report(`${asking} and its nodeSelector is unknown during preview, so it cannot be checked`);
        } else if (
            stringEntries(nodeSelector)[config.gpuNodeLabel] !== config.gpuNodeLabelValue &&
            !affinityRequiresLabel(template.spec, config.gpuNodeLabel, config.gpuNodeLabelValue)
        ) {
            report(
                `${asking} but does not select GPU nodes: expected nodeSelector "${config.gpuNodeLabel}": "${config.gpuNodeLabelValue}" ` +
                    `(or a required node affinity on that label), got nodeSelector ${showValue(nodeSelector)}`,
            );
        }
    }),
};

// ---------------------------------------------------------------------------------------------
// The stack: GPUs at maximum scale against the budget

export interface GpuContribution {
    /** `Deployment "models/product-image-tagger"` */
    readonly workload: string;
    /** The target cluster (`mlops.dev/cluster`); absent for the stack's own. */
    readonly cluster?: string;
    readonly urn: string;
    readonly gpusPerPod: number;
    /** Pods at maximum scale, both Flagger copies included. */
    readonly pods: number;
    /** Where `pods` comes from: `HPA "models/x" maxReplicas 3, doubled: ...`. */
    readonly scale: string;
    readonly gpus: number;
}

export interface UnboundedGpuWorkload {
    readonly workload: string;
    /** As in GpuContribution. */
    readonly cluster?: string;
    readonly urn: string;
    readonly reason: string;
}

export interface GpuTally {
    readonly totalGpus: number;
    readonly contributions: readonly GpuContribution[];
    /** GPU workloads whose maximum scale cannot be known: the total is a lower bound while any exist. */
    readonly unbounded: readonly UnboundedGpuWorkload[];
}

type Scale = { readonly pods: number; readonly scale: string } | { readonly unbounded: string };

function replicasScale(workload: KubeObject, hpas: readonly KubeObject[]): Scale {
    const targeting = hpas.filter((hpa) => refersTo(field(hpa.props, "spec", "scaleTargetRef"), hpa.meta, workload));
    if (targeting.length > 0) {
        let best: { pods: number; scale: string } | undefined;
        for (const hpa of targeting) {
            const max = field(hpa.props, "spec", "maxReplicas");
            if (typeof max !== "number")
                return { unbounded: `${hpa.display} maxReplicas is ${isUnknown(max) ? "unknown during preview" : `not a number (${showValue(max)})`}` };
            if (best === undefined || max > best.pods) best = { pods: max, scale: `${hpa.display} maxReplicas ${max}` };
        }
        return best as { pods: number; scale: string };
    }
    const replicas = field(workload.props, "spec", "replicas");
    if (replicas === undefined || replicas === null) return { pods: 1, scale: "spec.replicas not set: 1" };
    if (typeof replicas !== "number")
        return { unbounded: `spec.replicas is ${isUnknown(replicas) ? "unknown during preview" : `not a number (${showValue(replicas)})`}` };
    return { pods: replicas, scale: `spec.replicas ${replicas}` };
}

function parallelismScale(value: Value | undefined, path: string): Scale {
    if (value === undefined || value === null) return { pods: 1, scale: `${path} not set: 1` };
    if (typeof value !== "number") return { unbounded: `${path} is ${isUnknown(value) ? "unknown during preview" : `not a number (${showValue(value)})`}` };
    return { pods: value, scale: `${path} ${value}` };
}

/** A Flagger Canary runs the primary beside the canary: the target's scale twice, or the primary's own bounds. */
function withCanary(base: Scale, workload: KubeObject, canaries: readonly KubeObject[]): Scale {
    if ("unbounded" in base) return base;
    const canary = canaries.find((c) => refersTo(field(c.props, "spec", "targetRef"), c.meta, workload));
    if (canary === undefined) return base;
    const primaryMax = field(canary.props, "spec", "autoscalerRef", "primaryScalerReplicas", "maxReplicas");
    if (typeof primaryMax === "number") {
        return {
            pods: base.pods + primaryMax,
            scale: `${base.scale} for the canary + primaryScalerReplicas.maxReplicas ${primaryMax} for the primary of ${canary.display}`,
        };
    }
    if (isUnknown(primaryMax)) return { unbounded: `${canary.display} primaryScalerReplicas.maxReplicas is unknown during preview` };
    return { pods: base.pods * 2, scale: `${base.scale}, doubled: ${canary.display} runs primary and canary side by side` };
}

/**
 * The GPUs every workload of the stack holds at its maximum scale. Replicas come from the
 * HorizontalPodAutoscaler that targets a workload (its maxReplicas), else the workload's own
 * replicas, else 1; a Deployment that a Flagger Canary targets counts twice, because during an
 * analysis the primary and the canary run side by side.
 */
export function tallyGpusAtMaxScale(resources: readonly StackResource[], gpuResourceName: string): GpuTally {
    const objects = kubeObjects(resources);
    const hpas = objects.filter((o) => HPA_TYPES.includes(o.type));
    const canaries = objects.filter((o) => o.type === K8S.canary);
    const contributions: GpuContribution[] = [];
    const unbounded: UnboundedGpuWorkload[] = [];
    for (const workload of objects.filter((o) => POD_BEARING_TYPES.includes(o.type))) {
        const template = podTemplateOf(workload.type, workload.props);
        const gpusPerPod = podGpus(template?.spec, gpuResourceName);
        const urn = workload.resource.urn;
        const labelled = clusterOf(workload.meta);
        const cluster = labelled === "" ? {} : { cluster: labelled };
        if (isUnknown(gpusPerPod)) {
            unbounded.push({
                workload: workload.display,
                ...cluster,
                urn,
                reason: `its containers' ${gpuResourceName} are unknown during preview or not whole numbers`,
            });
            continue;
        }
        if (gpusPerPod === 0) continue;
        let scale: Scale;
        switch (workload.type) {
            case K8S.deployment:
            case K8S.statefulSet:
                scale = withCanary(replicasScale(workload, hpas), workload, canaries);
                break;
            case K8S.job:
                scale = parallelismScale(field(workload.props, "spec", "parallelism"), "spec.parallelism");
                break;
            case K8S.cronJob:
                scale = parallelismScale(field(workload.props, "spec", "jobTemplate", "spec", "parallelism"), "spec.jobTemplate.spec.parallelism");
                break;
            case K8S.pod:
                scale = { pods: 1, scale: "a single pod" };
                break;
            default:
                scale = { unbounded: "a DaemonSet runs one pod on every matching node, a number the stack does not bound" };
        }
        if ("unbounded" in scale) {
            unbounded.push({ workload: workload.display, ...cluster, urn, reason: scale.unbounded });
            continue;
        }
        contributions.push({ workload: workload.display, ...cluster, urn, gpusPerPod, pods: scale.pods, scale: scale.scale, gpus: gpusPerPod * scale.pods });
    }
    return { totalGpus: contributions.reduce((sum, c) => sum + c.gpus, 0), contributions, unbounded };
}

export function describeContribution(c: GpuContribution): string {
    return `${c.workload}: ${plural(c.gpusPerPod, "GPU")} per pod × ${plural(c.pods, "pod")} (${c.scale}) = ${plural(c.gpus, "GPU")}`;
}

export interface GpuBudgetConfig {
    /** GPUs the environment may hold at once, every workload at its maximum scale. @default 8 */
    readonly gpuBudget: number;
    /** Extended resource name GPUs are requested as. @default "nvidia.com/gpu" */
    readonly gpuResourceName: string;
}

const gpuBudgetSchema: TypedConfigSchema<GpuBudgetConfig> = {
    properties: {
        gpuBudget: { type: "integer", minimum: 0, default: 8, description: "GPUs the environment may hold at once, every workload at its maximum scale." },
        gpuResourceName: gpuResourceNameSchema,
    },
};

export const gpuBudget: StackValidationPolicy = {
    name: "gpu-budget",
    description: "The stack's GPUs at maximum scale (HPA maxReplicas, Flagger primary and canary side by side) fit the environment's GPU budget.",
    configSchema: gpuBudgetSchema,
    validateStack: (args, report) => {
        const config = configOf(args, gpuBudgetSchema);
        const tally = tallyGpusAtMaxScale(args.resources, config.gpuResourceName);
        // A workload whose scale cannot be known could take any number of GPUs: reported, never assumed small.
        for (const workload of tally.unbounded) {
            report(`${workload.workload} uses ${config.gpuResourceName} but its maximum scale cannot be bounded: ${workload.reason}`, workload.urn);
        }
        if (tally.totalGpus > config.gpuBudget) {
            report(
                `GPUs at maximum scale: ${tally.totalGpus}, over the budget of ${config.gpuBudget}:\n` +
                    tally.contributions.map((c) => `  - ${describeContribution(c)}`).join("\n"),
            );
        }
    },
};

export const gpuPolicies = [gpuLimitPerContainer, gpuRequestsEqualLimits, gpuNodePlacement, gpuBudget];
