import { type RecordedResource, SECRET_SIG } from "../runtime";

/**
 * Turns the engine's record of a run into the Kubernetes objects it would apply (or render for
 * Argo CD), and lists separately what installs objects this program does not spell out.
 */

/** A Kubernetes object as the API server receives it. */
export interface KubernetesObject {
    readonly apiVersion: string;
    readonly kind: string;
    readonly metadata: ObjectMetadata;
    readonly [field: string]: unknown;
}

export interface ObjectMetadata {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly [field: string]: unknown;
}

/** How an object reaches the cluster. */
export type ManifestDelivery =
    | { readonly mode: "direct" }
    /** Written by a provider with `renderYamlToDirectory` into a directory that Argo CD syncs. */
    | { readonly mode: "gitops"; readonly directory: string; readonly providerUrn: string };

/** A field path inside an object, as keys and array indices. */
export type FieldPath = readonly (string | number)[];

export interface Manifest {
    readonly object: KubernetesObject;
    /** URN of the resource that registered the object. */
    readonly urn: string;
    readonly delivery: ManifestDelivery;
    /** Fields whose values were Pulumi secrets: never written out in clear. */
    readonly secretPaths: readonly FieldPath[];
}

/** A Kubernetes resource that is not one object applied as declared. */
export interface KubernetesRelease {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    /**
     * `helm-release`: a Helm release the provider installs (its objects come from the chart);
     * `component`: a package such as `kubernetes-cert-manager:index:CertManager`, or a Helm chart /
     * YAML / kustomize group; `patch`: a server-side patch of an object that exists already.
     */
    readonly what: "helm-release" | "component" | "patch";
    readonly chart?: string;
    readonly version?: string;
    readonly namespace?: string;
    readonly repository?: string;
    readonly delivery: ManifestDelivery;
}

export interface KubernetesProviderRecord {
    readonly urn: string;
    readonly name: string;
    /** Set for a gitops provider: objects are written there instead of applied. */
    readonly renderYamlToDirectory?: string;
}

export interface KubernetesInventory {
    readonly manifests: Manifest[];
    readonly releases: KubernetesRelease[];
    readonly providers: KubernetesProviderRecord[];
}

// `kubernetes:<group>/<version>:<Kind>` and the core group's `kubernetes:core/v1:<Kind>`.
const OBJECT_TYPE = /^kubernetes:([a-z0-9.-]+\/[a-z0-9]+|v1):([A-Za-z0-9]+)$/;
// Packages that install or group objects rather than being one (their children, where the SDK
// registers them, are objects of their own and are collected as such).
const PACKAGE_TYPES = /^(kubernetes:(helm\.sh\/v\d+:Chart|yaml(\/v\d+)?:\w+|kustomize(\/v\d+)?:\w+)|kubernetes-cert-manager:index:CertManager)$/;

/** Every Kubernetes object the run registered, in registration order. */
export function toManifests(resources: readonly RecordedResource[]): Manifest[] {
    return kubernetesInventory(resources).manifests;
}

/** Helm releases, packaged components and patches: listed by the preview, not validated as objects. */
export function toReleases(resources: readonly RecordedResource[]): KubernetesRelease[] {
    return kubernetesInventory(resources).releases;
}

export function kubernetesInventory(resources: readonly RecordedResource[]): KubernetesInventory {
    const providers = resources
        .filter((r) => r.type === "pulumi:providers:kubernetes")
        .map((r): KubernetesProviderRecord => {
            const directory = r.inputs["renderYamlToDirectory"];
            return { urn: r.urn, name: r.name, ...(typeof directory === "string" && directory !== "" && { renderYamlToDirectory: directory }) };
        });
    const providerByUrn = new Map(providers.map((p) => [p.urn, p]));
    const deliveryOf = (r: RecordedResource): ManifestDelivery => {
        const provider = r.provider === undefined ? undefined : providerByUrn.get(providerUrn(r.provider));
        return provider?.renderYamlToDirectory === undefined
            ? { mode: "direct" }
            : { mode: "gitops", directory: provider.renderYamlToDirectory, providerUrn: provider.urn };
    };

    const manifests: Manifest[] = [];
    const releases: KubernetesRelease[] = [];
    for (const r of resources) {
        if (r.type === "kubernetes:helm.sh/v3:Release") {
            releases.push(helmRelease(r, deliveryOf(r)));
            continue;
        }
        if (PACKAGE_TYPES.test(r.type)) {
            releases.push({ urn: r.urn, type: r.type, name: r.name, what: "component", delivery: deliveryOf(r) });
            continue;
        }
        const match = OBJECT_TYPE.exec(r.type);
        if (match === null || !r.custom) continue;
        const [, typeApiVersion, typeKind] = match as unknown as [string, string, string];
        const apiVersion = stringOr(r.inputs["apiVersion"], typeApiVersion === "core/v1" ? "v1" : typeApiVersion);
        const kind = stringOr(r.inputs["kind"], typeKind);
        if (kind !== typeKind) {
            // `DeploymentPatch` and friends send `kind: Deployment`: a partial object applied over one
            // that exists, which no full-object schema describes.
            releases.push({ urn: r.urn, type: r.type, name: r.name, what: "patch", delivery: deliveryOf(r) });
            continue;
        }
        const { apiVersion: _a, kind: _k, metadata, ...rest } = r.inputs;
        manifests.push({
            object: { apiVersion, kind, metadata: (isRecord(metadata) ? metadata : {}) as ObjectMetadata, ...rest },
            urn: r.urn,
            delivery: deliveryOf(r),
            secretPaths: secretPathsOf(r.wireInputs),
        });
    }
    return { manifests, releases, providers };
}

/** `RecordedResource.provider` is `<provider urn>::<provider id>`; URNs themselves contain `::`. */
function providerUrn(reference: string): string {
    const cut = reference.lastIndexOf("::");
    return cut < 0 ? reference : reference.slice(0, cut);
}

function helmRelease(r: RecordedResource, delivery: ManifestDelivery): KubernetesRelease {
    const inputs = r.inputs;
    const repositoryOpts = isRecord(inputs["repositoryOpts"]) ? inputs["repositoryOpts"] : {};
    const chart = optionalString(inputs["chart"]);
    const version = optionalString(inputs["version"]);
    const namespace = optionalString(inputs["namespace"]);
    const repository = optionalString(repositoryOpts["repo"]);
    return {
        urn: r.urn,
        type: r.type,
        name: optionalString(inputs["name"]) ?? r.name,
        what: "helm-release",
        ...(chart !== undefined && { chart }),
        ...(version !== undefined && { version }),
        ...(namespace !== undefined && { namespace }),
        ...(repository !== undefined && { repository }),
        delivery,
    };
}

/** Paths of the values that travelled as secrets (wrapped in the SDK's secret signature). */
export function secretPathsOf(wire: unknown, at: FieldPath = []): FieldPath[] {
    if (Array.isArray(wire)) return wire.flatMap((item, i) => secretPathsOf(item, [...at, i]));
    if (!isRecord(wire)) return [];
    if (wire[SECRET_SIG.key] === SECRET_SIG.secret) return [at];
    return Object.entries(wire).flatMap(([key, value]) => secretPathsOf(value, [...at, key]));
}

/** `Deployment models/fraud-detector`, `Namespace models`: how problems and listings name an object. */
export function objectLabel(object: { readonly kind?: unknown; readonly metadata?: unknown }): string {
    const metadata = isRecord(object.metadata) ? object.metadata : {};
    const name = typeof metadata["name"] === "string" && metadata["name"] !== "" ? metadata["name"] : "<unnamed>";
    const namespace = typeof metadata["namespace"] === "string" && metadata["namespace"] !== "" ? `${metadata["namespace"]}/` : "";
    return `${typeof object.kind === "string" ? object.kind : "<no kind>"} ${namespace}${name}`;
}

/** The API group of an apiVersion: `apps` for `apps/v1`, `""` for the core group's `v1`. */
export function apiGroup(apiVersion: string): string {
    return apiVersion.includes("/") ? (apiVersion.split("/")[0] ?? "") : "";
}

/** Groups served by Kubernetes itself (as opposed to those of CRDs). */
export function isBuiltInGroup(group: string): boolean {
    return group === "" || group.endsWith(".k8s.io") || ["apps", "batch", "autoscaling", "policy", "extensions"].includes(group);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringOr(value: unknown, fallback: string): string {
    return typeof value === "string" && value !== "" ? value : fallback;
}

function optionalString(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}
