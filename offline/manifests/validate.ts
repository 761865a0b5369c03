import type { ErrorObject } from "ajv";
import { LABELS } from "../../components/labels";
import { apiGroup, type FieldPath, isBuiltInGroup, isRecord, type KubernetesObject, type Manifest, objectLabel } from "./collect";
import { crdValidators, schemasDir } from "./crdSchemas";
import { trackFieldReads } from "./fieldTracking";

/**
 * Validates objects against real schemas, never hand-written rules:
 * - core Kubernetes kinds: `kubernetes-models`;
 * - Argo CD kinds: `@kubernetes-models/argo-cd`; cert-manager kinds: `@kubernetes-models/cert-manager`;
 *   Prometheus Operator kinds (PrometheusRule, PodMonitor): `@kubernetes-models/prometheus-operator`;
 *   Gateway API kinds (an experiment's HTTPRoute): `@kubernetes-models/gateway-api`;
 *   Istio kinds (an experiment's VirtualService): `@kubernetes-models/istio`;
 * - any other group (Flagger): the CRDs in the schemas folder (see `crdSchemas.ts`).
 * Unknown fields are problems everywhere, as with `kubectl apply` (strict field validation).
 */

export interface ManifestProblem {
    /** `Deployment models/fraud-detector`. */
    readonly object: string;
    readonly urn?: string;
    /** JSON path of the bad field, `spec.template.spec.containers[0].ports[0].containerPort`; empty for the object as a whole. */
    readonly path: string;
    readonly message: string;
    /** The problem in one readable line: `<object>: <path>: <message>`. */
    readonly line: string;
}

/** Where the schema of an API group lives; `undefined` when this module has none. */
function packageFor(group: string): string | undefined {
    // Before the built-in groups: Gateway API's group ends in .k8s.io but is a CRD of its own project.
    if (group === "gateway.networking.k8s.io") return "@kubernetes-models/gateway-api";
    if (isBuiltInGroup(group)) return "kubernetes-models";
    if (group === "argoproj.io") return "@kubernetes-models/argo-cd";
    if (group === "cert-manager.io" || group.endsWith(".cert-manager.io") || group === "trust-manager.io") return "@kubernetes-models/cert-manager";
    if (group === "monitoring.coreos.com") return "@kubernetes-models/prometheus-operator";
    if (group === "networking.istio.io") return "@kubernetes-models/istio";
    return undefined;
}

type ModelClass = { readonly apiVersion?: string; readonly kind?: string; readonly prototype: { validate(this: unknown): void } };
type SchemaCheck = (object: KubernetesObject) => Promise<RawProblem[]>;
interface RawProblem {
    readonly path: FieldPath;
    readonly message: string;
}

const checks = new Map<string, Promise<SchemaCheck | undefined>>();

export async function validateManifest(manifest: Manifest | KubernetesObject): Promise<ManifestProblem[]> {
    const { object, urn }: { object: KubernetesObject; urn: string | undefined } = isManifest(manifest) ? manifest : { object: manifest, urn: undefined };
    const label = objectLabel(object);
    const problem = (path: FieldPath, message: string): ManifestProblem => {
        const jsonPath = formatPath(path);
        return {
            object: label,
            ...(urn !== undefined && { urn }),
            path: jsonPath,
            message,
            line: `${label}: ${jsonPath === "" ? "" : `${jsonPath}: `}${message}`,
        };
    };
    if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
        return [problem([], "apiVersion and kind must be strings")];
    }
    const check = await schemaCheckFor(object.apiVersion, object.kind);
    if (check === undefined) return [problem([], `no schema for ${object.apiVersion} ${object.kind}`)];
    return (await check(object)).map((p) => problem(p.path, p.message));
}

/**
 * Problems of every manifest, in order, plus objects declared twice. Whether applied by Pulumi or
 * synced by Argo CD, both land in the same cluster (the stack's, or the one named by the object's
 * `mlops.dev/cluster` label), where two owners of an object fight.
 */
export async function validateManifests(manifests: readonly Manifest[]): Promise<ManifestProblem[]> {
    const problems: ManifestProblem[] = [];
    const seen = new Map<string, Manifest>();
    for (const manifest of manifests) {
        problems.push(...(await validateManifest(manifest)));
        const { apiVersion, kind, metadata } = manifest.object;
        // Objects rendered once per target cluster carry its name: the same object on two clusters is two objects.
        const cluster = metadata.labels?.[LABELS.cluster] ?? "";
        const identity = `${cluster} ${apiGroup(apiVersion)} ${kind} ${metadata.namespace ?? ""}/${metadata.name ?? ""}`;
        const first = seen.get(identity);
        if (first !== undefined) {
            const label = objectLabel(manifest.object);
            const message = `declared twice: also by ${first.urn}`;
            problems.push({ object: label, urn: manifest.urn, path: "", message, line: `${label}: ${message}` });
        } else {
            seen.set(identity, manifest);
        }
    }
    return problems;
}

function schemaCheckFor(apiVersion: string, kind: string): Promise<SchemaCheck | undefined> {
    const [group, version] = apiVersion.includes("/") ? (apiVersion.split("/", 2) as [string, string]) : ["", apiVersion];
    // These name a module path below: only what an API group, version and kind can look like.
    if (!/^([a-z0-9]([a-z0-9.-]*[a-z0-9])?)?$/.test(group) || !/^v[a-z0-9]+$/.test(version) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
        return Promise.resolve(undefined);
    const pkg = packageFor(group);
    // CRD schemas depend on the folder in use (which may change between calls); package ones do not.
    const key = pkg !== undefined ? `${pkg} ${apiVersion} ${kind}` : `${schemasDir()} ${apiVersion} ${kind}`;
    let check = checks.get(key);
    if (check === undefined) {
        check = pkg !== undefined ? packageCheck(pkg, group, version, kind) : crdCheck(apiVersion, kind);
        checks.set(key, check);
    }
    return check;
}

async function packageCheck(pkg: string, group: string, version: string, kind: string): Promise<SchemaCheck | undefined> {
    const model = await importModel(`${pkg}/${group === "" ? "" : `${group}/`}${version}/${kind}`, kind);
    // A module of that name may be a type rather than a kind (`apps/v1/DeploymentSpec`).
    if (model === undefined || model.apiVersion !== (group === "" ? version : `${group}/${version}`) || model.kind !== kind) return undefined;
    return async (object) => runModelValidator(model, object);
}

async function crdCheck(apiVersion: string, kind: string): Promise<SchemaCheck | undefined> {
    const crd = crdValidators(schemasDir()).get(`${apiVersion} ${kind}`);
    if (crd === undefined) return undefined;
    const objectMeta = await importModel("@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta", "ObjectMeta");
    if (objectMeta === undefined) throw new Error("@kubernetes-models/apimachinery has no ObjectMeta: the kubernetes-models install is broken");
    // The CRD schema leaves `metadata` to the API server, which checks it as ObjectMeta.
    return async (object) => [
        ...runModelValidator(objectMeta, object.metadata).map((p) => ({ path: ["metadata", ...p.path], message: p.message })),
        ...rawProblems(crd.validate(object), object),
    ];
}

async function importModel(specifier: string, kind: string): Promise<ModelClass | undefined> {
    let module: Record<string, unknown>;
    try {
        module = (await import(specifier)) as Record<string, unknown>;
    } catch (err) {
        const code = (err as { code?: string }).code;
        // Only "this kind has no model"; a broken install (a dependency missing) must surface.
        const modulePath = specifier.split("/").slice(-3).join("/");
        if ((code === "ERR_MODULE_NOT_FOUND" || code === "ERR_PACKAGE_PATH_NOT_EXPORTED") && String((err as Error).message).includes(modulePath))
            return undefined;
        throw err;
    }
    const model = module[kind];
    return typeof model === "function" ? (model as unknown as ModelClass) : undefined;
}

/** Runs a `kubernetes-models` validator, reporting its errors and the fields it did not know. */
function runModelValidator(model: ModelClass, value: unknown): RawProblem[] {
    const tracker = trackFieldReads(value);
    let errors: ErrorObject[] = [];
    try {
        model.prototype.validate.call(tracker.observed);
    } catch (err) {
        const reported = (err as { errors?: unknown }).errors;
        if (!Array.isArray(reported)) throw err;
        errors = reported as ErrorObject[];
    }
    return [...rawProblems(errors, value), ...tracker.unknownFields().map((u) => ({ path: u.path, message: "unknown field (not in the schema)" }))];
}

/** ajv errors as problems, with the alternatives of `oneOf`/`anyOf` folded into one line. */
function rawProblems(errors: readonly ErrorObject[], data: unknown): RawProblem[] {
    const folded = new Set<ErrorObject>();
    const problems: RawProblem[] = [];
    for (const error of errors) {
        if (error.keyword !== "oneOf" && error.keyword !== "anyOf") continue;
        // Branch errors: under this keyword's schema path (one compiled function), or, where the
        // generated code split the branches into functions of their own, type errors at the same spot.
        const branches = errors.filter(
            (e) =>
                e !== error &&
                !folded.has(e) &&
                (e.instancePath === error.instancePath || e.instancePath.startsWith(`${error.instancePath}/`)) &&
                (e.schemaPath.startsWith(`${error.schemaPath}/`) ||
                    (e.instancePath === error.instancePath && e.keyword === "type" && e.schemaPath === "#/type")),
        );
        branches.forEach((e) => folded.add(e));
        folded.add(error);
        problems.push({ path: pointerToPath(error.instancePath, data), message: describeAlternatives(error, branches, data) });
    }
    for (const error of errors) {
        if (folded.has(error)) continue;
        problems.push(describe(error, data));
    }
    return problems;
}

function describe(error: ErrorObject, data: unknown): RawProblem {
    const path = pointerToPath(error.instancePath, data);
    const value = valueAt(data, path);
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
        case "required":
            return { path: [...path, String(params["missingProperty"])], message: "required field is missing" };
        case "additionalProperties":
            return { path: [...path, String(params["additionalProperty"])], message: "unknown field (not in the schema)" };
        case "type":
            return { path, message: `must be ${String(params["type"])}, got ${show(value)}` };
        case "enum":
            return { path, message: `must be one of ${(params["allowedValues"] as unknown[]).map((v) => JSON.stringify(v)).join(", ")}, got ${show(value)}` };
        case "format":
            return { path, message: `must be a valid ${String(params["format"])}, got ${show(value)}` };
        case "pattern":
            return { path, message: `must match ${String(params["pattern"])}, got ${show(value)}` };
        default:
            return { path, message: `${error.message ?? error.keyword}, got ${show(value)}` };
    }
}

function describeAlternatives(error: ErrorObject, branches: readonly ErrorObject[], data: unknown): string {
    const path = pointerToPath(error.instancePath, data);
    const value = valueAt(data, path);
    const passing = (error.params as { passingSchemas?: unknown }).passingSchemas;
    if (Array.isArray(passing))
        return `must match exactly one of the schema's alternatives, matches ${passing.length} (${passing.map((i) => `#${Number(i) + 1}`).join(", ")})`;
    if (branches.length > 0 && branches.every((b) => b.keyword === "type" && b.instancePath === error.instancePath)) {
        return `must be ${branches.map((b) => String((b.params as { type: unknown }).type)).join(" or ")}, got ${show(value)}`;
    }
    // One description per alternative, numbered as in the schema.
    const byBranch = new Map<string, ErrorObject[]>();
    for (const branch of branches) {
        const index = branch.schemaPath.slice(error.schemaPath.length + 1).split("/")[0] ?? "?";
        byBranch.set(index, [...(byBranch.get(index) ?? []), branch]);
    }
    const alternatives = [...byBranch.entries()].map(([index, errs]) => {
        const described = errs.map((e) => ({ keyword: e.keyword, ...describe(e, data) }));
        const relative = (p: FieldPath): string => formatPath(p.slice(path.length));
        if (described.every((d) => d.keyword === "required")) return `#${Number(index) + 1} needs ${described.map((d) => relative(d.path)).join(", ")}`;
        return `#${Number(index) + 1}: ${described.map((d) => `${relative(d.path)} ${d.message}`.trim()).join(", ")}`;
    });
    const which = error.keyword === "oneOf" ? "exactly one" : "at least one";
    return `must match ${which} of the schema's alternatives, matches none${alternatives.length > 0 ? ` (${alternatives.join("; ")})` : ""}`;
}

/** A JSON pointer (`/spec/ports/0`) as keys and indices, reading the data to tell indices from keys. */
function pointerToPath(pointer: string, data: unknown): FieldPath {
    if (pointer === "") return [];
    const path: (string | number)[] = [];
    let node: unknown = data;
    for (const raw of pointer.slice(1).split("/")) {
        const segment = raw.replace(/~1/g, "/").replace(/~0/g, "~");
        if (Array.isArray(node) && /^\d+$/.test(segment)) {
            path.push(Number(segment));
            node = node[Number(segment)];
        } else {
            path.push(segment);
            node = isRecord(node) ? node[segment] : undefined;
        }
    }
    return path;
}

function valueAt(data: unknown, path: FieldPath): unknown {
    let node = data;
    for (const segment of path) {
        node = Array.isArray(node) && typeof segment === "number" ? node[segment] : isRecord(node) ? node[String(segment)] : undefined;
    }
    return node;
}

/** `spec.containers[0].ports[0]`, `metadata.labels["app.kubernetes.io/name"]`. */
export function formatPath(path: FieldPath): string {
    let out = "";
    for (const segment of path) {
        if (typeof segment === "number") out += `[${segment}]`;
        else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
        else out += `[${JSON.stringify(segment)}]`;
    }
    return out;
}

function show(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "an array";
    if (typeof value === "object") return "an object";
    if (value === undefined) return "nothing";
    return `${typeof value} ${JSON.stringify(value)}`;
}

function isManifest(value: Manifest | KubernetesObject): value is Manifest {
    return isRecord(value["object"]) && typeof value["urn"] === "string" && isRecord(value["delivery"]);
}
