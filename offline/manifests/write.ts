import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { apiGroup, type FieldPath, isBuiltInGroup, isRecord, type KubernetesObject, type Manifest } from "./collect";

/**
 * Writes manifests for people to read: one YAML file per object, named so that a directory
 * listing reads in apply order, and the same name for the same object on every run (so a pull
 * request's diff shows what changed, not what moved).
 */

export const REDACTED = "<redacted>";
const SOURCE_PREFIX = "# Source: ";
const FILE_NAME = /^\d{2}-[a-z0-9.-]+\.yaml$/;

// Reading order: what others live in, then what workloads mount, the workloads, how they are
// reached, what governs them, then custom resources (which reference all of the above).
const KIND_RANK: Readonly<Record<string, number>> = {
    Namespace: 0,
    CustomResourceDefinition: 1,
    ServiceAccount: 10,
    Secret: 11,
    ConfigMap: 12,
    PersistentVolumeClaim: 13,
    ClusterRole: 14,
    Role: 15,
    ClusterRoleBinding: 16,
    RoleBinding: 17,
    StatefulSet: 20,
    Deployment: 21,
    DaemonSet: 22,
    Job: 23,
    CronJob: 24,
    Service: 30,
    Ingress: 31,
    HorizontalPodAutoscaler: 40,
    PodDisruptionBudget: 41,
    NetworkPolicy: 42,
    ResourceQuota: 43,
    LimitRange: 44,
    ClusterIssuer: 50,
    Issuer: 51,
    Certificate: 52,
    AppProject: 60,
    Application: 61,
    MetricTemplate: 70,
    AlertProvider: 71,
    Canary: 72,
};
const OTHER_CORE_RANK = 39;
const OTHER_CUSTOM_RANK = 90;

/** Two-digit prefix that orders a file; Kubernetes kinds not listed sort after Services, custom ones last. */
export function kindRank(object: Pick<KubernetesObject, "apiVersion" | "kind">): number {
    const listed = KIND_RANK[object.kind];
    if (listed !== undefined) return listed;
    return isBuiltInGroup(apiGroup(object.apiVersion)) ? OTHER_CORE_RANK : OTHER_CUSTOM_RANK;
}

/** `21-deployment-models-fraud-detector.yaml`; cluster-scoped objects have no namespace part. */
export function manifestFileName(object: KubernetesObject): string {
    const parts = [object.kind, object.metadata.namespace, object.metadata.name ?? "unnamed"].filter((p): p is string => typeof p === "string" && p !== "");
    return `${String(kindRank(object)).padStart(2, "0")}-${parts.map(fileSafe).join("-")}.yaml`;
}

/**
 * Writes one file per manifest into `dir` and returns their paths in reading order. Files this
 * function wrote before (recognised by name and first line) are removed first; nothing else is.
 */
export function writeManifests(dir: string, manifests: readonly Manifest[]): string[] {
    fs.mkdirSync(dir, { recursive: true });
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isFile() && FILE_NAME.test(entry.name) && firstLine(path.join(dir, entry.name)).startsWith(SOURCE_PREFIX)) {
            fs.unlinkSync(path.join(dir, entry.name));
        }
    }
    const named = manifests.map((manifest) => ({ manifest, name: manifestFileName(manifest.object) }));
    // Same kind, namespace and name twice (two targets, or two groups with one kind name):
    // a stable suffix from the source keeps both.
    const counts = new Map<string, number>();
    for (const { name } of named) counts.set(name, (counts.get(name) ?? 0) + 1);
    const files = named.map(({ manifest, name }) => ({
        manifest,
        name:
            (counts.get(name) ?? 0) > 1
                ? name.replace(/\.yaml$/, `-${createHash("sha256").update(`${manifest.object.apiVersion} ${manifest.urn}`).digest("hex").slice(0, 6)}.yaml`)
                : name,
    }));
    files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return files.map(({ manifest, name }) => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, renderManifest(manifest));
        return file;
    });
}

/** The text of one manifest file: where it comes from, how it is delivered, the object. */
export function renderManifest(manifest: Manifest): string {
    const delivery =
        manifest.delivery.mode === "gitops"
            ? `# Rendered for Argo CD into ${manifest.delivery.directory} (provider ${manifest.delivery.providerUrn})`
            : "# Applied directly by Pulumi";
    const body = yaml.dump(redacted(manifest), { noRefs: true, lineWidth: -1 });
    return `${SOURCE_PREFIX}${manifest.urn}\n${delivery}\n${body}`;
}

/** The object with Secret data and every value that was a Pulumi secret replaced by `<redacted>`. */
export function redacted(manifest: Manifest): KubernetesObject {
    const object = structuredClone(manifest.object) as Record<string, unknown>;
    const isSecret = manifest.object.kind === "Secret" && manifest.object.apiVersion === "v1";
    const secretFields = ["data", "stringData"];
    if (isSecret) {
        // Keys stay visible (what the Secret holds), values never (they come from state).
        for (const field of secretFields) {
            const values = object[field];
            if (isRecord(values)) object[field] = Object.fromEntries(Object.keys(values).map((key) => [key, REDACTED]));
        }
    }
    for (const secretPath of manifest.secretPaths) {
        if (isSecret && secretFields.includes(String(secretPath[0]))) continue;
        replaceAt(object, secretPath);
    }
    return object as KubernetesObject;
}

/** Replaces the value at a non-empty path, in place; a path that is not there is left alone. */
function replaceAt(root: Record<string, unknown>, at: FieldPath): void {
    let node: unknown = root;
    for (const [i, segment] of at.entries()) {
        const last = i === at.length - 1;
        if (Array.isArray(node) && typeof segment === "number" && segment < node.length) {
            if (last) node[segment] = REDACTED;
            else node = node[segment];
        } else if (isRecord(node) && Object.prototype.hasOwnProperty.call(node, segment)) {
            if (last) node[String(segment)] = REDACTED;
            else node = node[String(segment)];
        } else {
            return;
        }
    }
}

function fileSafe(part: string): string {
    return part.toLowerCase().replace(/[^a-z0-9.-]+/g, "-");
}

function firstLine(file: string): string {
    const fd = fs.openSync(file, "r");
    try {
        const buffer = Buffer.alloc(SOURCE_PREFIX.length);
        const read = fs.readSync(fd, buffer, 0, buffer.length, 0);
        return buffer.subarray(0, read).toString("utf8");
    } finally {
        fs.closeSync(fd);
    }
}
