import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import {
    type DeclaredPromotion,
    MODEL_LABELS,
    modelDeployments,
    modelOf,
    modelUrisOf,
    type ModelWorkload,
    PINNED_VERSION,
    PROMOTION_ANNOTATION,
    promotionOf,
} from "./models";
import { configOf, type TypedConfigSchema } from "./policyConfig";
import { registryEvidenceMatches } from "./registryEvidence";
import { asList, field, isRecord, isUnknown, showValue, stringEntries, type Value } from "./values";
import {
    HPA_TYPES,
    K8S,
    type KubeObject,
    kubeObject,
    kubeObjects,
    POD_BEARING_TYPES,
    podTemplateOf,
    refersTo,
    sameNamespace,
    selectorMatches,
} from "./workloads";

/**
 * Promotion policies: model versions are pinned, production versions carry evidence that meets the
 * environment's bar, and production models roll out through a bounded Flagger analysis with an
 * autoscaler and a disruption budget. Which rules bind in which environment is the business of
 * `policies/config/<stack>.json` (enforcement levels and thresholds), not of this code.
 */

/** The objects that carry a model's version label (docs/architecture.md, "Labels and annotations"). */
const MODEL_WORKLOAD_TYPES: readonly string[] = [...POD_BEARING_TYPES, K8S.canary, K8S.pdb, ...HPA_TYPES];

// ---------------------------------------------------------------------------------------------
// Pinned versions

export const modelVersionPinned: ResourceValidationPolicy = {
    name: "model-version-pinned",
    description:
        "Model workloads serve a pinned registry version: the mlops.dev/model-version label and the models:/ URI agree on a positive integer, never latest or an alias.",
    validateResource: (args, report) => {
        if (!MODEL_WORKLOAD_TYPES.includes(args.type)) return;
        const workload = modelOf(kubeObject(args));
        if (workload === undefined) return;
        const labelKey = MODEL_LABELS.modelVersion;
        const label = workload.versionLabel;
        // A version nobody can read is not known to be pinned: reported, not assumed.
        if (isUnknown(label)) report(`label "${labelKey}" is unknown during preview, so the pinned version cannot be verified`);
        else if (typeof label !== "string" || !PINNED_VERSION.test(label)) {
            report(`label "${labelKey}" must be a pinned registry version (a positive integer), got ${showValue(label)}`);
        }
        if (!POD_BEARING_TYPES.includes(workload.object.type)) return;

        const { containers, unknown } = modelUrisOf(workload.object);
        for (const { container, uris } of containers) {
            for (const uri of uris) {
                if (uri.alias !== undefined) {
                    report(
                        `${container} serves "${uri.text}": an alias moves without a commit; serve a pinned version, models:/${uri.registeredModel}/<version>`,
                    );
                } else if (uri.version === undefined) {
                    report(`${container} serves "${uri.text}", which names no version; serve models:/${uri.registeredModel}/<version>`);
                } else if (!PINNED_VERSION.test(uri.version)) {
                    report(`${container} serves "${uri.text}": "${uri.version}" is not a pinned registry version (a positive integer)`);
                } else if (typeof label === "string" && PINNED_VERSION.test(label) && uri.version !== label) {
                    report(`${container} serves "${uri.text}" but label "${labelKey}" says version "${label}"`);
                }
            }
        }
        if (containers.length === 0 && workload.object.type === K8S.deployment) {
            if (unknown) report("the containers' command, args or env are unknown during preview, so the served models:/ URI cannot be verified");
            else report("serves no models:/<registered model>/<version> URI (expected in the model server's command or args)");
        }
    },
};

// ---------------------------------------------------------------------------------------------
// Evidence

export interface PromotionEvidenceConfig {
    /** Lowest acceptable value of each evaluation metric the evidence must carry. @default {"accuracy": 0.9, "f1": 0.85} */
    readonly minMetrics: Readonly<Record<string, number>>;
    /** Highest acceptable value of each metric where lower is better (loss, error rate). @default {} */
    readonly maxMetrics: Readonly<Record<string, number>>;
    /** Environment a version must have been validated in before it is declared here; none when empty. @default "staging" */
    readonly requiredValidationEnvironment: string;
    /** Hours a version must have run in that environment, from its successful rollout there (validatedAt) to its promotion (promotedAt). @default 24 */
    readonly minValidationSoakHours: number;
    /**
     * Largest regression tolerated per metric against the champion, the version the environment served
     * when this one was promoted (lower for metrics in minMetrics or unlisted, higher for those in maxMetrics).
     * None compared when empty. @default {"accuracy": 0.01, "f1": 0.01}
     */
    readonly maxRegression: Readonly<Record<string, number>>;
    /** Approvals a promotion needs, from distinct allowed approvers. @default 2 */
    readonly minApprovals: number;
    /** Who may approve a promotion; nobody when empty, so a pack run without configuration fails closed. @default [] */
    readonly allowedApprovers: readonly string[];
}

/** Metrics that are ratios (0..1) whatever the model; the stack schema's RATIO_METRICS, restated (the pack stands alone). */
export const RATIO_METRICS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "roc_auc", "pr_auc"] as const;

const metricBounds = (description: string, defaults: Record<string, number>) => ({
    type: "object" as const,
    // A threshold of 2 for accuracy can never be met (or is a percentage): refused with its range.
    properties: Object.fromEntries(RATIO_METRICS.map((metric) => [metric, { type: "number" as const, minimum: 0, maximum: 1 }])),
    additionalProperties: { type: "number" as const },
    default: defaults,
    description,
});

const promotionEvidenceSchema: TypedConfigSchema<PromotionEvidenceConfig> = {
    properties: {
        minMetrics: metricBounds("Lowest acceptable value of each evaluation metric the evidence must carry.", { accuracy: 0.9, f1: 0.85 }),
        maxMetrics: metricBounds("Highest acceptable value of each metric where lower is better.", {}),
        requiredValidationEnvironment: {
            type: "string",
            default: "staging",
            description: "Environment a version must have been validated in first; none when empty.",
        },
        minValidationSoakHours: {
            type: "number",
            minimum: 0,
            default: 24,
            description: "Hours a version must have run in the validation environment, from its successful rollout there to its promotion.",
        },
        maxRegression: {
            type: "object",
            additionalProperties: { type: "number", minimum: 0 },
            default: { accuracy: 0.01, f1: 0.01 },
            description:
                "Largest regression tolerated per metric against the champion (the version served when this one was promoted); none compared when empty.",
        },
        minApprovals: { type: "integer", minimum: 0, default: 2, description: "Approvals a promotion needs, from distinct allowed approvers." },
        allowedApprovers: {
            type: "array",
            items: { type: "string", minLength: 1 },
            uniqueItems: true,
            default: [],
            description: "Who may approve a promotion.",
        },
    },
};

/** An environment's promotion criteria from its policy config section, with the schema's defaults (as the CLI applies them). */
export function promotionEvidenceConfig(settings: Partial<PromotionEvidenceConfig>): PromotionEvidenceConfig {
    return configOf({ getConfig: <U extends object>() => settings as U }, promotionEvidenceSchema);
}

/** The evidence the criteria judge. */
export type JudgedEvidence = Pick<DeclaredPromotion, "metrics" | "validatedIn" | "validatedAt" | "promotedAt" | "champion" | "approvedBy">;

/**
 * What keeps evidence from meeting an environment's bar: metric thresholds, where and how long it was
 * validated, no regression against the champion, approvals. The policy reports these; the promote CLI
 * refuses on them (one source of truth). `skip` leaves out where and how long it was validated, or
 * the champion comparison, for a caller that has already said why it cannot tell.
 */
export function promotionCriteriaProblems(
    evidence: JudgedEvidence,
    config: PromotionEvidenceConfig,
    skip: { readonly validation?: boolean; readonly champion?: boolean } = {},
): string[] {
    const problems: string[] = [];
    for (const [metric, min] of Object.entries(config.minMetrics)) {
        const value = evidence.metrics[metric];
        if (value === undefined) problems.push(`the evidence lacks metric "${metric}" (at least ${min} required)`);
        // Negated so that NaN fails too.
        else if (!(value >= min)) problems.push(`metric "${metric}" is ${value}, below the required ${min}`);
    }
    for (const [metric, max] of Object.entries(config.maxMetrics)) {
        const value = evidence.metrics[metric];
        if (value === undefined) problems.push(`the evidence lacks metric "${metric}" (at most ${max} allowed)`);
        else if (!(value <= max)) problems.push(`metric "${metric}" is ${value}, above the allowed ${max}`);
    }

    const required = config.requiredValidationEnvironment;
    if (required === "" || skip.validation === true) {
        // The first environment a version reaches has nowhere it could have been validated before.
    } else if (evidence.validatedIn === undefined)
        problems.push(`the evidence does not say where the version was validated; it must have been validated in "${required}"`);
    else if (evidence.validatedIn !== required)
        problems.push(`the evidence says the version was validated in "${evidence.validatedIn}"; it must have been validated in "${required}"`);
    else problems.push(...soakProblems(evidence, required, config.minValidationSoakHours));

    if (skip.champion !== true) problems.push(...championProblems(evidence, config));

    const approvers = [...new Set(evidence.approvedBy)];
    const allowed = approvers.filter((a) => config.allowedApprovers.includes(a));
    for (const approver of approvers.filter((a) => !config.allowedApprovers.includes(a))) {
        problems.push(`approver "${approver}" is not an allowed approver (allowed: ${config.allowedApprovers.join(", ") || "nobody"})`);
    }
    if (allowed.length < config.minApprovals) {
        problems.push(
            `the promotion needs ${config.minApprovals} approvals from allowed approvers, got ${allowed.length}${allowed.length > 0 ? ` (${allowed.join(", ")})` : ""}`,
        );
    }
    return problems;
}

/** The version must have run long enough where it was validated: from its successful rollout there to its promotion. */
function soakProblems(evidence: JudgedEvidence, environment: string, minHours: number): string[] {
    if (minHours <= 0) return [];
    if (evidence.validatedAt === undefined)
        return [`the evidence does not say when the version's rollout in "${environment}" succeeded (validatedAt); it must have run there ${minHours} hours`];
    const validated = Date.parse(evidence.validatedAt);
    const promoted = evidence.promotedAt === undefined ? NaN : Date.parse(evidence.promotedAt);
    if (Number.isNaN(validated)) return [`validatedAt ${JSON.stringify(evidence.validatedAt)} is not an ISO-8601 time`];
    if (Number.isNaN(promoted))
        return [`the evidence does not say when the version was promoted (promotedAt), so its time in "${environment}" cannot be measured`];
    const hours = (promoted - validated) / 3_600_000;
    // Negated so that NaN fails too.
    if (!(hours >= minHours)) {
        return [
            `the version ran ${formatHours(hours)} in "${environment}" before its promotion (rollout succeeded ${evidence.validatedAt}, promoted ${evidence.promotedAt}); at least ${formatHours(minHours)} are required`,
        ];
    }
    return [];
}

/**
 * No regression against the champion larger than the tolerance of each compared metric. A champion
 * without a version (`champion: {}`) says the environment served no version of the model before.
 */
export function championProblems(
    evidence: Pick<JudgedEvidence, "metrics" | "champion">,
    config: Pick<PromotionEvidenceConfig, "maxRegression" | "minMetrics" | "maxMetrics">,
): string[] {
    const compared = Object.entries(config.maxRegression);
    if (compared.length === 0) return [];
    const champion = evidence.champion;
    if (champion === undefined)
        return ["the evidence records no comparison with the champion (champion: the version served when this one was promoted, and its metrics)"];
    if (champion.version === undefined) return [];
    const problems: string[] = [];
    for (const [metric, tolerance] of compared) {
        const theirs = champion.metrics[metric];
        if (theirs === undefined) continue;
        const ours = evidence.metrics[metric];
        if (ours === undefined || !Number.isFinite(ours)) {
            // A metric the thresholds judge is already reported, missing or not a number, by them.
            if (config.minMetrics[metric] === undefined && config.maxMetrics[metric] === undefined) {
                problems.push(
                    ours === undefined
                        ? `the evidence lacks metric "${metric}" to compare with the champion's ${theirs} (version ${champion.version})`
                        : `metric "${metric}" is ${ours}, which cannot be compared with the champion's ${theirs} (version ${champion.version})`,
                );
            }
            continue;
        }
        const lowerIsBetter = config.maxMetrics[metric] !== undefined;
        const regression = lowerIsBetter ? ours - theirs : theirs - ours;
        // The tolerance is a decimal written by a person: a difference equal to it on paper passes.
        if (!(regression <= tolerance + 1e-9)) {
            problems.push(
                `metric "${metric}" is ${ours}, ${round(regression)} ${lowerIsBetter ? "above" : "below"} the champion's ${theirs} (version ${champion.version}); at most ${tolerance} is tolerated`,
            );
        }
    }
    return problems;
}

function round(value: number): number {
    return Number.isFinite(value) ? Number(value.toPrecision(6)) : value;
}

function formatHours(hours: number): string {
    if (!Number.isFinite(hours)) return `${hours} hours`;
    const rounded = Math.round(hours * 10) / 10;
    return `${rounded} hour${rounded === 1 ? "" : "s"}`;
}

export const modelPromotionEvidence: ResourceValidationPolicy = {
    name: "model-promotion-evidence",
    description:
        "A model Deployment declares promotion evidence (mlops.dev/promotion) that meets the environment's metric thresholds, was validated first and long enough, does not regress against the champion, and names its approvers.",
    configSchema: promotionEvidenceSchema,
    validateResource: (args, report) => {
        if (args.type !== K8S.deployment) return;
        const workload = modelOf(kubeObject(args));
        if (workload === undefined) return;
        const config = configOf(args, promotionEvidenceSchema);
        const annotation = promotionOf(workload.object);
        const key = `annotation "${PROMOTION_ANNOTATION}"`;
        switch (annotation.state) {
            case "missing":
                return report(`${key} is missing: the model must declare its promotion evidence (registry run, metrics, validation, approvals)`);
            case "unknown":
                // The annotation is JSON of the stack's configuration, known at every preview: unknown evidence is no evidence.
                return report(`${key} is unknown during preview, so the promotion evidence cannot be verified`);
            case "invalid":
                return report(`${key} is not valid promotion evidence: ${annotation.problem}`);
        }
        const record = annotation.record;
        const label = workload.versionLabel;
        if (record.version === undefined) report("the evidence names no version");
        else if (typeof label === "string" && record.version !== label) {
            report(`the evidence is for version "${record.version}" but the Deployment serves version "${label}" (label "${MODEL_LABELS.modelVersion}")`);
        }
        if (record.registeredModel === undefined) report("the evidence names no registered model");
        for (const { container, uris } of modelUrisOf(workload.object).containers) {
            for (const uri of uris) {
                if (record.registeredModel !== undefined && uri.registeredModel !== record.registeredModel) {
                    report(`the evidence is for registered model "${record.registeredModel}" but ${container} serves "${uri.text}"`);
                }
            }
        }
        if (record.runId === undefined) report("the evidence names no registry run (runId)");

        for (const problem of promotionCriteriaProblems(record, config)) report(problem);
    },
};

// ---------------------------------------------------------------------------------------------
// Progressive delivery: Canary, autoscaler, disruption budget

const targetsOf = (objects: readonly KubeObject[], types: readonly string[], refPath: readonly string[], deployment: KubeObject) =>
    objects.filter((o) => types.includes(o.type) && refersTo(field(o.props, ...refPath), o.meta, deployment));

const deploymentName = (workload: ModelWorkload) => (typeof workload.object.meta.name === "string" ? workload.object.meta.name : workload.object.resource.name);

export interface CanaryAnalysisConfig {
    /** Highest share of traffic, in percent, any analysis step may send to the canary. @default 50 */
    readonly maxStepWeight: number;
    /** Analysis checks every Canary must run, each with a threshold. @default ["request-success-rate", "request-duration"] */
    readonly requiredMetrics: readonly string[];
}

const canaryAnalysisSchema: TypedConfigSchema<CanaryAnalysisConfig> = {
    properties: {
        maxStepWeight: {
            type: "integer",
            minimum: 1,
            maximum: 100,
            default: 50,
            description: "Highest share of traffic, in percent, any analysis step may send to the canary.",
        },
        requiredMetrics: {
            type: "array",
            items: { type: "string", minLength: 1 },
            uniqueItems: true,
            default: ["request-success-rate", "request-duration"],
            description: "Analysis checks every Canary must run, each with a threshold.",
        },
    },
};

/** What is wrong with a Canary's traffic steps, if anything. */
export function stepWeightProblems(analysis: Value, maxStepWeight: number): string[] {
    const stepWeights = field(analysis, "stepWeights");
    if (isUnknown(stepWeights)) return ["analysis.stepWeights is unknown during preview, so it cannot be checked"];
    if (stepWeights !== undefined) {
        const weights = asList(stepWeights);
        if (weights === undefined || weights.length === 0 || weights.some((w) => typeof w !== "number"))
            return [`analysis.stepWeights must be a list of percentages, got ${showValue(stepWeights)}`];
        const problems: string[] = [];
        weights.forEach((weight, i) => {
            if ((weight as number) > maxStepWeight)
                problems.push(`analysis.stepWeights[${i}] is ${weight as number}, over the maximum step weight of ${maxStepWeight}`);
        });
        if (weights.some((weight, i) => i > 0 && (weight as number) <= (weights[i - 1] as number)))
            problems.push(`analysis.stepWeights must ascend, got ${showValue(stepWeights)}`);
        return problems;
    }
    const stepWeight = field(analysis, "stepWeight");
    if (stepWeight !== undefined) {
        const maxWeight = field(analysis, "maxWeight");
        if (typeof stepWeight !== "number" || typeof maxWeight !== "number") {
            return [
                `analysis.stepWeight ${showValue(stepWeight)} with analysis.maxWeight ${showValue(maxWeight)} does not bound the canary's traffic; set both, maxWeight at most ${maxStepWeight}`,
            ];
        }
        return maxWeight > maxStepWeight ? [`analysis.maxWeight is ${maxWeight}, over the maximum step weight of ${maxStepWeight}`] : [];
    }
    // A/B testing and blue/green run a number of iterations instead of shifting weights.
    if (typeof field(analysis, "iterations") === "number") return [];
    return ["analysis has no stepWeights (nor stepWeight with maxWeight, nor iterations)"];
}

/** Which required checks a Canary's analysis lacks or runs without a threshold. */
export function metricCheckProblems(analysis: Value, requiredMetrics: readonly string[]): string[] {
    const metrics = field(analysis, "metrics");
    if (isUnknown(metrics)) return ["analysis.metrics is unknown during preview, so its checks cannot be verified"];
    const list = asList(metrics) ?? [];
    return requiredMetrics.flatMap((name) => {
        const metric = list.find((m) => field(m, "name") === name);
        if (metric === undefined) return [`analysis has no "${name}" check`];
        const range = field(metric, "thresholdRange");
        const bounded = typeof field(range, "min") === "number" || typeof field(range, "max") === "number" || typeof field(metric, "threshold") === "number";
        return bounded ? [] : [`check "${name}" has no thresholdRange, so it can never fail`];
    });
}

export const modelCanaryAnalysis: StackValidationPolicy = {
    name: "model-canary-analysis",
    description: "Every model Deployment is rolled out by a Flagger Canary with bounded, ascending step weights and at least success-rate and latency checks.",
    configSchema: canaryAnalysisSchema,
    validateStack: (args, report) => {
        const config = configOf(args, canaryAnalysisSchema);
        const objects = kubeObjects(args.resources);
        for (const workload of modelDeployments(objects)) {
            const canaries = targetsOf(objects, [K8S.canary], ["spec", "targetRef"], workload.object);
            if (canaries.length === 0) {
                report(
                    `${workload.object.display} has no Flagger Canary targeting it (spec.targetRef kind Deployment, name "${deploymentName(workload)}")`,
                    workload.object.resource.urn,
                );
            }
            for (const canary of canaries) {
                const analysis = field(canary.props, "spec", "analysis");
                const urn = canary.resource.urn;
                // The analysis is written from configuration: an unknown one is reported, never assumed bounded.
                if (isUnknown(analysis)) {
                    report(`${canary.display}: spec.analysis is unknown during preview, so it cannot be checked`, urn);
                } else if (!isRecord(analysis)) {
                    report(`${canary.display} has no spec.analysis`, urn);
                } else {
                    for (const problem of [...stepWeightProblems(analysis, config.maxStepWeight), ...metricCheckProblems(analysis, config.requiredMetrics)]) {
                        report(`${canary.display}: ${problem}`, urn);
                    }
                }
            }
        }
    },
};

export const modelAutoscaler: StackValidationPolicy = {
    name: "model-autoscaler",
    description: "Every model Deployment has a HorizontalPodAutoscaler, and its Canary hands that autoscaler to Flagger so the primary scales too.",
    validateStack: (args, report) => {
        const objects = kubeObjects(args.resources);
        for (const workload of modelDeployments(objects)) {
            const hpas = targetsOf(objects, HPA_TYPES, ["spec", "scaleTargetRef"], workload.object);
            if (hpas.length === 0) {
                report(
                    `${workload.object.display} has no HorizontalPodAutoscaler targeting it (spec.scaleTargetRef kind Deployment, name "${deploymentName(workload)}")`,
                    workload.object.resource.urn,
                );
                continue;
            }
            // Without autoscalerRef Flagger creates no "<name>-primary" autoscaler: the pods that serve run unscaled.
            for (const canary of targetsOf(objects, [K8S.canary], ["spec", "targetRef"], workload.object)) {
                const ref = field(canary.props, "spec", "autoscalerRef");
                if (!hpas.some((hpa) => refersTo(ref, canary.meta, hpa))) {
                    const names = hpas.map((hpa) => `"${String(hpa.meta.name)}"`).join(" or ");
                    report(
                        `${canary.display}: spec.autoscalerRef must name the HorizontalPodAutoscaler ${names} so that Flagger scales the primary too, got ${showValue(ref)}`,
                        canary.resource.urn,
                    );
                }
            }
        }
    },
};

/**
 * The label sets a PDB may select a model's pods by: the Deployment's own pod labels, and the
 * primary's, where Flagger appends "-primary" to the value of the label the Deployment selects by.
 */
export function servingPodLabels(deployment: KubeObject): Record<string, string>[] {
    const labels = stringEntries(podTemplateOf(deployment.type, deployment.props)?.labels);
    const selectorKeys = Object.keys(stringEntries(field(deployment.props, "spec", "selector", "matchLabels")));
    const primaries = selectorKeys.filter((key) => labels[key] !== undefined).map((key) => ({ ...labels, [key]: `${labels[key]}-primary` }));
    return [labels, ...primaries];
}

export const modelDisruptionBudget: StackValidationPolicy = {
    name: "model-disruption-budget",
    description: "Every model Deployment's pods (or the primary pods Flagger runs for it) are covered by a PodDisruptionBudget.",
    validateStack: (args, report) => {
        const objects = kubeObjects(args.resources);
        const pdbs = objects.filter((o) => o.type === K8S.pdb);
        for (const workload of modelDeployments(objects)) {
            const podLabels = servingPodLabels(workload.object);
            const covered = pdbs.some(
                (pdb) =>
                    sameNamespace(pdb.meta, workload.object.meta) && podLabels.some((labels) => selectorMatches(field(pdb.props, "spec", "selector"), labels)),
            );
            if (!covered) {
                const selector = stringEntries(field(workload.object.props, "spec", "selector", "matchLabels"));
                const primary = Object.fromEntries(Object.entries(selector).map(([key, value]) => [key, `${value}-primary`]));
                report(
                    `${workload.object.display} has no PodDisruptionBudget in its namespace that selects its pods ${showValue(selector)} ` +
                        `or the primary pods Flagger runs for it ${showValue(primary)}`,
                    workload.object.resource.urn,
                );
            }
        }
    },
};

export { registryEvidenceMatches };

export const promotionPolicies = [
    modelVersionPinned,
    modelPromotionEvidence,
    registryEvidenceMatches,
    modelCanaryAnalysis,
    modelAutoscaler,
    modelDisruptionBudget,
];
