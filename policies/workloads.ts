import type { ReportViolation, ResourceValidation, ResourceValidationArgs } from "@pulumi/policy";
import { asList, asString, field, isRecord, isUnknown, plain, UNKNOWN, type Unknown, type Value } from "./values";

/**
 * Typed access to the Kubernetes objects the program renders: which types carry a pod template and
 * where, the containers of a pod spec, and how an object is named in a violation message.
 */

export const K8S = {
    deployment: "kubernetes:apps/v1:Deployment",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    daemonSet: "kubernetes:apps/v1:DaemonSet",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    pod: "kubernetes:core/v1:Pod",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    canary: "kubernetes:flagger.app/v1beta1:Canary",
} as const;

/** Where each pod-bearing type keeps its pod template (`[]`: the object is the pod). */
const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
    [K8S.deployment]: ["spec", "template"],
    [K8S.statefulSet]: ["spec", "template"],
    [K8S.daemonSet]: ["spec", "template"],
    [K8S.job]: ["spec", "template"],
    [K8S.cronJob]: ["spec", "jobTemplate", "spec", "template"],
    [K8S.pod]: [],
};

export const POD_BEARING_TYPES: readonly string[] = Object.keys(POD_TEMPLATE_PATHS);

/** Both served versions of the HorizontalPodAutoscaler. */
export const HPA_TYPES: readonly string[] = [K8S.hpa, "kubernetes:autoscaling/v1:HorizontalPodAutoscaler"];

/** The minimum a policy needs of a resource in the stack (a `PolicyResource` is one). */
export interface StackResource {
    readonly type: string;
    readonly urn: string;
    readonly name: string;
    readonly props: unknown;
}

export interface PodTemplate {
    /** Labels of the pods (the template's metadata.labels). */
    readonly labels: Value | undefined;
    /** The pod spec; `UNKNOWN` when it cannot be known during preview, `undefined` when missing. */
    readonly spec: Value | undefined;
}

/** The pod template of a pod-bearing object; `undefined` for other types. */
export function podTemplateOf(type: string, props: Value): PodTemplate | undefined {
    const path = POD_TEMPLATE_PATHS[type];
    if (path === undefined) return undefined;
    const template = field(props, ...path);
    return { labels: field(template, "metadata", "labels"), spec: field(template, "spec") };
}

export interface ContainerRef {
    /** How a message names it: `container "server"`, `init container "migrate"`, `container #2`. */
    readonly label: string;
    readonly name: string | undefined;
    readonly init: boolean;
    /** An init container with `restartPolicy: Always` runs beside the app containers. */
    readonly sidecar: boolean;
    readonly spec: Value;
}

/** Every container and init container of a pod spec; `UNKNOWN` when the lists cannot be known during preview. */
export function containersOf(podSpec: Value | undefined): readonly ContainerRef[] | Unknown {
    if (isUnknown(podSpec)) return UNKNOWN;
    const lists: readonly { readonly value: Value | undefined; readonly init: boolean }[] = [
        { value: field(podSpec, "containers"), init: false },
        { value: field(podSpec, "initContainers"), init: true },
    ];
    const refs: ContainerRef[] = [];
    for (const list of lists) {
        if (isUnknown(list.value)) return UNKNOWN;
        (asList(list.value) ?? []).forEach((spec, index) => {
            const name = asString(field(spec, "name"));
            const kind = list.init ? "init container" : "container";
            refs.push({
                label: name === undefined ? `${kind} #${index + 1}` : `${kind} "${name}"`,
                name,
                init: list.init,
                sidecar: list.init && field(spec, "restartPolicy") === "Always",
                spec,
            });
        });
    }
    return refs;
}

/** The kind in a type token: `Deployment` of `kubernetes:apps/v1:Deployment`. */
export function kindOf(type: string): string {
    return type.slice(type.lastIndexOf(":") + 1);
}

export interface ObjectMeta {
    readonly name: string | Unknown | undefined;
    readonly namespace: string | Unknown | undefined;
    readonly labels: Value | undefined;
    readonly annotations: Value | undefined;
}

export function metadataOf(props: Value): ObjectMeta {
    const textOrUnknown = (value: Value | undefined) => (isUnknown(value) ? UNKNOWN : asString(value));
    return {
        name: textOrUnknown(field(props, "metadata", "name")),
        namespace: textOrUnknown(field(props, "metadata", "namespace")),
        labels: field(props, "metadata", "labels"),
        annotations: field(props, "metadata", "annotations"),
    };
}

/** A Kubernetes object of the stack, its properties copied once as plain data. */
export interface KubeObject {
    readonly resource: StackResource;
    readonly type: string;
    readonly kind: string;
    readonly props: Value;
    readonly meta: ObjectMeta;
    /** `Deployment "models/fraud-detector"`, for messages. */
    readonly display: string;
}

export function kubeObject(resource: StackResource): KubeObject {
    const props = plain(resource.props);
    const meta = metadataOf(props);
    const kind = kindOf(resource.type);
    const cluster = clusterOf(meta);
    const where = cluster === "" ? "" : ` on cluster "${cluster}"`;
    return { resource, type: resource.type, kind, props, meta, display: `${kind} "${displayName(meta, resource.name)}"${where}` };
}

/** The label of objects the program renders once per target cluster (components/labels.ts LABELS.cluster). */
export const CLUSTER_LABEL = "mlops.dev/cluster";

/** The target cluster an object is rendered for; "" for the stack's own (a stack with one cluster). */
export function clusterOf(meta: ObjectMeta): string {
    const cluster = field(meta.labels, CLUSTER_LABEL);
    return typeof cluster === "string" ? cluster : "";
}

export function kubeObjects(resources: readonly StackResource[], types?: readonly string[]): KubeObject[] {
    return resources.filter((r) => r.type.startsWith("kubernetes:") && (types === undefined || types.includes(r.type))).map(kubeObject);
}

function displayName(meta: ObjectMeta, pulumiName: string): string {
    const name = typeof meta.name === "string" ? meta.name : pulumiName;
    return typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name;
}

/**
 * Whether two objects live in the same namespace. An unknown namespace cannot tell them apart, so
 * it matches; a missing one is the provider's default namespace and matches only another missing one.
 */
export function sameNamespace(a: ObjectMeta, b: ObjectMeta): boolean {
    if (isUnknown(a.namespace) || isUnknown(b.namespace)) return true;
    return (a.namespace ?? "") === (b.namespace ?? "");
}

/**
 * Whether a reference (`scaleTargetRef`, `targetRef`: `{ kind, name }`) points at an object. Names
 * must be known on both sides: an unknown name never matches, so a check that needs the relation
 * reports it rather than guessing.
 */
export function refersTo(ref: Value | undefined, from: ObjectMeta, target: KubeObject): boolean {
    const kind = field(ref, "kind");
    const name = field(ref, "name");
    // The same names recur on every target cluster: a reference stays within its own.
    return (
        kind === target.kind &&
        typeof name === "string" &&
        name === target.meta.name &&
        sameNamespace(from, target.meta) &&
        clusterOf(from) === clusterOf(target.meta)
    );
}

/**
 * Whether a label selector (`matchLabels` and `matchExpressions`) selects pods with these labels.
 * An empty selector selects every pod (policy/v1 semantics); an unknown part never matches.
 */
export function selectorMatches(selector: Value | undefined, labels: Readonly<Record<string, string>>): boolean {
    if (selector === undefined || selector === null) return false;
    if (!isRecord(selector)) return false;
    const matchLabels = field(selector, "matchLabels");
    if (isUnknown(matchLabels)) return false;
    for (const [key, value] of Object.entries(isRecord(matchLabels) ? matchLabels : {})) {
        if (labels[key] !== value) return false;
    }
    const expressions = field(selector, "matchExpressions");
    if (isUnknown(expressions)) return false;
    for (const expression of asList(expressions) ?? []) {
        const key = asString(field(expression, "key"));
        const operator = field(expression, "operator");
        const values = (asList(field(expression, "values")) ?? []).filter((v): v is string => typeof v === "string");
        if (key === undefined) return false;
        const present = Object.prototype.hasOwnProperty.call(labels, key);
        const value = labels[key];
        if (operator === "In" && !(value !== undefined && values.includes(value))) return false;
        if (operator === "NotIn" && value !== undefined && values.includes(value)) return false;
        if (operator === "Exists" && !present) return false;
        if (operator === "DoesNotExist" && present) return false;
        if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(String(operator))) return false;
    }
    return true;
}

/**
 * A resource validation that runs on every pod-bearing object (Deployment, StatefulSet, DaemonSet,
 * Job, CronJob, Pod) with its pod template; other resources are left alone.
 */
export function validatePodTemplates(
    check: (template: PodTemplate, object: KubeObject, args: ResourceValidationArgs, report: ReportViolation) => void,
): ResourceValidation {
    return (args, report) => {
        if (!POD_BEARING_TYPES.includes(args.type)) return;
        const object = kubeObject(args);
        const template = podTemplateOf(object.type, object.props);
        if (template !== undefined) check(template, object, args, report);
    };
}
