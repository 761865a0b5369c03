import { asList, asString, field, isRecord, isUnknown, showValue, type Value } from "./values";
import { containersOf, K8S, type KubeObject, podTemplateOf } from "./workloads";

/**
 * What marks a model workload, and what it declares: the label and annotation contract of
 * `components/labels.ts` (docs/architecture.md, "Labels and annotations"), restated here because the
 * pack ships on its own; a test keeps the two in step.
 */

export const MODEL_LABELS = {
    model: "mlops.dev/model",
    modelVersion: "mlops.dev/model-version",
    environment: "mlops.dev/environment",
    /** `challenger` on a standing experiment's challenger: measured beside the declared version, never promoted in place. */
    experimentRole: "mlops.dev/experiment-role",
} as const;

/**
 * Whether a model workload is an experiment's challenger. Promoting it is a commit that declares
 * its version (through the promotion gates); until then it carries no promotion evidence and no
 * Canary, and every other rule (pinning, GPUs, security, autoscaler, disruption budget) holds for it.
 */
export function isChallenger(workload: ModelWorkload): boolean {
    return field(workload.object.meta.labels, MODEL_LABELS.experimentRole) === "challenger";
}

export const PROMOTION_ANNOTATION = "mlops.dev/promotion";

/** A pinned registry version: a positive integer, never `latest`, a stage or an alias. */
export const PINNED_VERSION = /^[1-9][0-9]*$/;

export interface ModelWorkload {
    readonly object: KubeObject;
    /** The `mlops.dev/model` label. */
    readonly model: string;
    /** The `mlops.dev/model-version` label as found (possibly unknown or missing). */
    readonly versionLabel: Value | undefined;
}

/**
 * The model an object belongs to, by its `mlops.dev/model` label. Objects whose labels cannot be
 * known during preview are not treated as model workloads: nothing says they are one.
 */
export function modelOf(object: KubeObject): ModelWorkload | undefined {
    const model = field(object.meta.labels, MODEL_LABELS.model);
    if (typeof model !== "string") return undefined;
    return { object, model, versionLabel: field(object.meta.labels, MODEL_LABELS.modelVersion) };
}

/** The model Deployments of a stack: the objects the promotion rules are about. */
export function modelDeployments(objects: readonly KubeObject[]): ModelWorkload[] {
    return objects.filter((o) => o.type === K8S.deployment).flatMap((o) => modelOf(o) ?? []);
}

export interface ModelUri {
    readonly text: string;
    readonly registeredModel: string;
    /** The version segment of `models:/<name>/<version>`, pinned or not. */
    readonly version?: string;
    /** The alias of `models:/<name>@<alias>`. */
    readonly alias?: string;
}

const MODEL_URI = /models:\/[^\s"'`;,)]+/g;

export function parseModelUri(text: string): ModelUri {
    const rest = text.slice("models:/".length);
    const at = rest.indexOf("@");
    if (at >= 0) return { text, registeredModel: rest.slice(0, at), alias: rest.slice(at + 1) };
    const [registeredModel = "", version] = rest.split("/");
    return version === undefined || version === "" ? { text, registeredModel } : { text, registeredModel, version };
}

export interface ContainerModelUris {
    readonly container: string;
    readonly uris: readonly ModelUri[];
}

/**
 * Every `models:/` URI a pod template's containers name in their command, args or env values.
 * `unknown` is set when a command, args or env list cannot be known during preview, so a URI
 * may be hiding there.
 */
export function modelUrisOf(object: KubeObject): { readonly containers: readonly ContainerModelUris[]; readonly unknown: boolean } {
    const template = podTemplateOf(object.type, object.props);
    const containers = containersOf(template?.spec);
    if (isUnknown(containers)) return { containers: [], unknown: true };
    let unknown = false;
    const found: ContainerModelUris[] = [];
    for (const container of containers) {
        const texts: string[] = [];
        for (const key of ["command", "args"]) {
            const list = field(container.spec, key);
            if (isUnknown(list)) unknown = true;
            for (const item of asList(list) ?? []) if (typeof item === "string") texts.push(item);
        }
        const env = field(container.spec, "env");
        if (isUnknown(env)) unknown = true;
        for (const variable of asList(env) ?? []) {
            const value = field(variable, "value");
            if (typeof value === "string") texts.push(value);
        }
        const uris = texts.flatMap((text) => (text.match(MODEL_URI) ?? []).map(parseModelUri));
        if (uris.length > 0) found.push({ container: container.label, uris });
    }
    return { containers: found, unknown };
}

/** What `mlops.dev/promotion` declares (`PromotionRecord` of components/labels.ts). */
export interface DeclaredPromotion {
    readonly registeredModel?: string;
    readonly version?: string;
    readonly runId?: string;
    readonly metrics: Readonly<Record<string, number>>;
    readonly validatedIn?: string;
    /** When the version's rollout in `validatedIn` succeeded (the registry's `mlops.validated.<environment>`). */
    readonly validatedAt?: string;
    readonly promotedAt?: string;
    /** The version the environment served when this one was promoted, and its metrics; no version when there was none. */
    readonly champion?: { readonly version?: string; readonly metrics: Readonly<Record<string, number>> };
    readonly approvedBy: readonly string[];
}

export type PromotionAnnotation =
    | { readonly state: "missing" }
    | { readonly state: "unknown" }
    | { readonly state: "invalid"; readonly problem: string }
    | { readonly state: "declared"; readonly record: DeclaredPromotion };

/** The promotion evidence an object declares in its `mlops.dev/promotion` annotation. */
export function promotionOf(object: KubeObject): PromotionAnnotation {
    const text = field(object.meta.annotations, PROMOTION_ANNOTATION);
    if (isUnknown(text)) return { state: "unknown" };
    if (text === undefined || text === null) return { state: "missing" };
    if (typeof text !== "string") return { state: "invalid", problem: `expected JSON text, got ${showValue(text)}` };
    return parsePromotion(text);
}

export function parsePromotion(text: string): PromotionAnnotation {
    let data: unknown;
    try {
        data = JSON.parse(text);
    } catch (err) {
        return { state: "invalid", problem: `not valid JSON (${(err as Error).message})` };
    }
    if (!isRecord(data as Value)) return { state: "invalid", problem: `expected a JSON object, got ${showValue(data as Value)}` };
    const record = data as Record<string, Value>;
    const optionalText = (key: string): string | undefined | { problem: string } => {
        const value = record[key];
        if (value === undefined) return undefined;
        return typeof value === "string" ? value : { problem: `${key} must be a string, got ${showValue(value)}` };
    };
    const texts: Record<string, string | undefined> = {};
    for (const key of ["registeredModel", "version", "runId", "validatedIn", "validatedAt", "promotedAt"]) {
        const value = optionalText(key);
        if (typeof value === "object") return { state: "invalid", problem: value.problem };
        texts[key] = value;
    }
    const metrics = metricsOf(record["metrics"], "");
    if ("problem" in metrics) return { state: "invalid", problem: metrics.problem };
    let champion: DeclaredPromotion["champion"];
    const rawChampion = record["champion"];
    if (rawChampion !== undefined) {
        if (!isRecord(rawChampion)) return { state: "invalid", problem: `champion must be an object (version and metrics), got ${showValue(rawChampion)}` };
        const version = rawChampion["version"];
        if (version !== undefined && typeof version !== "string")
            return { state: "invalid", problem: `champion.version must be a string, got ${showValue(version)}` };
        const championMetrics = metricsOf(rawChampion["metrics"], "champion's ");
        if ("problem" in championMetrics) return { state: "invalid", problem: championMetrics.problem };
        champion = { ...(version !== undefined && { version }), metrics: championMetrics.metrics };
    }
    const rawApprovers = record["approvedBy"] ?? [];
    const approvers = asList(rawApprovers);
    if (approvers === undefined || approvers.some((a) => typeof a !== "string")) {
        return { state: "invalid", problem: `approvedBy must be a list of names, got ${showValue(rawApprovers)}` };
    }
    const declared: DeclaredPromotion = {
        ...(texts["registeredModel"] !== undefined && { registeredModel: texts["registeredModel"] }),
        ...(texts["version"] !== undefined && { version: texts["version"] }),
        ...(texts["runId"] !== undefined && { runId: texts["runId"] }),
        ...(texts["validatedIn"] !== undefined && { validatedIn: texts["validatedIn"] }),
        ...(texts["validatedAt"] !== undefined && { validatedAt: texts["validatedAt"] }),
        ...(texts["promotedAt"] !== undefined && { promotedAt: texts["promotedAt"] }),
        ...(champion !== undefined && { champion }),
        metrics: metrics.metrics,
        approvedBy: approvers.map((a) => asString(a) as string),
    };
    return { state: "declared", record: declared };
}

function metricsOf(raw: Value | undefined, whose: string): { readonly metrics: Record<string, number> } | { readonly problem: string } {
    const metrics: Record<string, number> = {};
    if (raw === undefined) return { metrics };
    if (!isRecord(raw)) return { problem: `${whose === "" ? "metrics" : `${whose}metrics`} must be an object of numbers, got ${showValue(raw)}` };
    for (const [name, value] of Object.entries(raw)) {
        if (typeof value !== "number") return { problem: `${whose}metric "${name}" must be a number, got ${showValue(value)}` };
        metrics[name] = value;
    }
    return { metrics };
}
