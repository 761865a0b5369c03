/**
 * The label and annotation contract between components, the policy pack and the CLI
 * (docs/architecture.md, "Labels and annotations"). Policies find model workloads by these keys, so
 * they are written once, here.
 */

export const PART_OF = "mlops-platform";

export const LABELS = {
    name: "app.kubernetes.io/name",
    component: "app.kubernetes.io/component",
    partOf: "app.kubernetes.io/part-of",
    managedBy: "app.kubernetes.io/managed-by",
    model: "mlops.dev/model",
    modelVersion: "mlops.dev/model-version",
    environment: "mlops.dev/environment",
    /** The target cluster of an object rendered once per cluster (a stack with several clusters only). */
    cluster: "mlops.dev/cluster",
    /** Where a target cluster is, on its Argo CD cluster Secret. */
    region: "mlops.dev/region",
} as const;

export const ANNOTATIONS = {
    /** JSON of the declared promotion evidence (`PromotionRecord`), on the model Deployment and Canary. */
    promotion: "mlops.dev/promotion",
} as const;

/** Labels of every Kubernetes object the platform creates. */
export function platformLabels(name: string, component: string): Record<string, string> {
    return {
        [LABELS.name]: name,
        [LABELS.component]: component,
        [LABELS.partOf]: PART_OF,
        [LABELS.managedBy]: "pulumi",
    };
}

/** Labels of a model's workload objects (Deployment, Canary, HPA, PDB). */
export function modelLabels(model: { readonly name: string; readonly version: string }, environment: string): Record<string, string> {
    return {
        ...platformLabels(model.name, "model-server"),
        [LABELS.model]: model.name,
        [LABELS.modelVersion]: model.version,
        [LABELS.environment]: environment,
    };
}

/**
 * The selector of a workload's pods: only the stable name, never the version, because a
 * Deployment's selector cannot change and Flagger selects primary pods by this label.
 */
export function selectorLabels(name: string): Record<string, string> {
    return { [LABELS.name]: name };
}

/** What `mlops.dev/promotion` holds: the evidence a version was declared with. */
export interface PromotionRecord {
    readonly registeredModel: string;
    readonly version: string;
    readonly runId?: string;
    readonly metrics?: Readonly<Record<string, number>>;
    readonly validatedIn?: string;
    readonly validatedAt?: string;
    readonly promotedAt?: string;
    readonly champion?: { readonly version?: string; readonly metrics?: Readonly<Record<string, number>> };
    readonly approvedBy: readonly string[];
}
