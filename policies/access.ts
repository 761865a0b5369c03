import type { StackValidationPolicy } from "@pulumi/policy";
import { configOf, type TypedConfigSchema } from "./policyConfig";
import { asList, asString, field, isRecord, isUnknown, plain, stringEntries, type Value } from "./values";
import { containersOf, K8S, podTemplateOf, type StackResource } from "./workloads";

/**
 * Access policies: who can reach what. The tracking server never answers an Ingress without
 * authentication, and every namespace the stack creates denies ingress unless a NetworkPolicy
 * admits a flow.
 */

export const K8S_NETWORK = {
    namespace: "kubernetes:core/v1:Namespace",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    service: "kubernetes:core/v1:Service",
} as const;

// ---------------------------------------------------------------------------------------------
// MLflow authentication

/**
 * The annotation of ingress-nginx's external authentication (oauth2-proxy and the like): every
 * request is authorised by that URL before it reaches the backend.
 */
export const EXTERNAL_AUTH_ANNOTATION = "nginx.ingress.kubernetes.io/auth-url";

export interface MlflowAuthenticationConfig {
    /**
     * Let a tracking server without authentication sit behind an Ingress. Only for a staging
     * cluster that nothing outside a private network reaches; production never sets it.
     * @default false
     */
    readonly allowUnauthenticated: boolean;
}

const mlflowAuthenticationSchema: TypedConfigSchema<MlflowAuthenticationConfig> = {
    properties: {
        allowUnauthenticated: {
            type: "boolean",
            default: false,
            description: "Let a tracking server without authentication sit behind an Ingress (staging on a private network only; never production).",
        },
    },
};

/** How a container runs the tracking server, and whether MLflow's own authentication is on. */
type TrackingServer = { readonly authenticated: boolean } | undefined;

/**
 * Whether a container is an `mlflow server` and, if so, whether it runs the basic-auth app. When the
 * command cannot be known during preview (it names the artifact bucket), the environment tells: only
 * the tracking server reads `MLFLOW_BACKEND_STORE_URI` without a known command, and only with the
 * basic-auth app is `MLFLOW_AUTH_CONFIG_PATH` set.
 */
export function trackingServerOf(container: Value): TrackingServer {
    const command = [...(asList(field(container, "command")) ?? []), ...(asList(field(container, "args")) ?? [])];
    const envNames = (asList(field(container, "env")) ?? []).map((e) => asString(field(e, "name")));
    const commandKnown = !isUnknown(field(container, "command")) && !isUnknown(field(container, "args")) && !command.some(isUnknown);
    if (commandKnown) {
        const words = command.map((c) => (typeof c === "string" ? c : ""));
        const at = words.findIndex((w, i) => /(^|\/)mlflow$/.test(w) && words[i + 1] === "server");
        if (at < 0) return undefined;
        const app = words.indexOf("--app-name");
        return { authenticated: app > at && words[app + 1] === "basic-auth" };
    }
    if (!envNames.includes("MLFLOW_BACKEND_STORE_URI")) return undefined;
    return { authenticated: envNames.includes("MLFLOW_AUTH_CONFIG_PATH") };
}

interface PlainResource {
    readonly type: string;
    readonly name: string;
    readonly urn: string;
    readonly value: Value;
}

const namespaceOf = (props: Value) => field(props, "metadata", "namespace");
const sameNamespace = (a: Value | undefined, b: Value | undefined) => isUnknown(a) || isUnknown(b) || (a ?? "default") === (b ?? "default");

/** Whether a Service's selector picks pods with these labels. */
function selects(selector: Value | undefined, labels: Record<string, string>): boolean {
    if (isUnknown(selector)) return true;
    const wanted = stringEntries(selector);
    const keys = Object.keys(wanted);
    return keys.length > 0 && keys.every((k) => labels[k] === wanted[k]);
}

/** The Service names an Ingress routes to (an unknown name is `undefined`: it may be any). */
function ingressBackends(ingress: Value): (string | undefined)[] {
    const spec = field(ingress, "spec");
    const backends: (Value | undefined)[] = [field(spec, "defaultBackend")];
    for (const rule of asList(field(spec, "rules")) ?? []) {
        for (const path of asList(field(rule, "http", "paths")) ?? []) backends.push(field(path, "backend"));
    }
    return backends.filter((b): b is Value => b !== undefined).map((b) => asString(field(b, "service", "name")));
}

export const mlflowAuthentication: StackValidationPolicy = {
    name: "mlflow-authentication",
    description:
        "A tracking server reached through an Ingress authenticates every request: MLflow's basic-auth app, or external authentication at the Ingress (auth-url, e.g. oauth2-proxy).",
    configSchema: mlflowAuthenticationSchema,
    validateStack: (args, report) => {
        if (configOf(args, mlflowAuthenticationSchema).allowUnauthenticated) return;
        const resources = args.resources.map((r: StackResource): PlainResource => ({ type: r.type, name: r.name, urn: r.urn, value: plain(r.props) }));
        const ingresses = resources.filter((r) => r.type === K8S.ingress);
        const services = resources.filter((r) => r.type === K8S_NETWORK.service);
        for (const workload of resources) {
            const template = podTemplateOf(workload.type, workload.value);
            if (template === undefined) continue;
            const containers = containersOf(template.spec);
            if (isUnknown(containers)) continue;
            const open = containers.filter((c) => trackingServerOf(c.spec)?.authenticated === false);
            if (open.length === 0) continue;
            const labels = stringEntries(template.labels);
            const namespace = namespaceOf(workload.value);
            const serviceNames = services
                .filter((s) => sameNamespace(namespaceOf(s.value), namespace) && selects(field(s.value, "spec", "selector"), labels))
                .map((s) => asString(field(s.value, "metadata", "name")));
            const exposing = ingresses.filter(
                (i) =>
                    sameNamespace(namespaceOf(i.value), namespace) &&
                    ingressBackends(i.value).some((backend) => backend === undefined || serviceNames.includes(backend)),
            );
            for (const ingress of exposing) {
                if (stringEntries(field(ingress.value, "metadata", "annotations"))[EXTERNAL_AUTH_ANNOTATION] !== undefined) continue;
                const host = asString(field(asList(field(ingress.value, "spec", "rules"))?.[0] ?? null, "host"));
                report(
                    `MLflow tracking server "${workload.name}" (${open.map((c) => c.label).join(", ")}) runs without authentication behind Ingress "${ingress.name}"${host === undefined ? "" : ` (${host})`}: anyone who reaches it can move registry aliases and write artifacts; turn on mlops-platform:mlflow.basicAuth, or authenticate at the Ingress (${EXTERNAL_AUTH_ANNOTATION})`,
                    workload.urn,
                );
            }
        }
    },
};

// ---------------------------------------------------------------------------------------------
// Network isolation

/** Why a NetworkPolicy is not a namespace's default deny of ingress; undefined when it is one. */
export function notDefaultDeny(policy: Value): string | undefined {
    const spec = field(policy, "spec");
    if (isUnknown(spec)) return "its spec is unknown during preview";
    const selector = field(spec, "podSelector");
    const selectsAll =
        selector !== undefined &&
        isRecord(selector) &&
        Object.keys(stringEntries(field(selector, "matchLabels"))).length === 0 &&
        (asList(field(selector, "matchExpressions")) ?? []).length === 0;
    if (!selectsAll) return "its podSelector is not {} (every pod)";
    if (!(asList(field(spec, "policyTypes")) ?? []).includes("Ingress")) return 'its policyTypes do not include "Ingress"';
    if ((asList(field(spec, "ingress")) ?? []).length > 0) return "it admits ingress";
    return undefined;
}

export const networkIsolation: StackValidationPolicy = {
    name: "network-isolation",
    description:
        "Every namespace the stack creates has a default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no rules), so only flows a NetworkPolicy admits reach its pods.",
    validateStack: (args, report) => {
        const policies = args.resources.filter((r) => r.type === K8S_NETWORK.networkPolicy).map((r) => plain(r.props));
        for (const namespace of args.resources.filter((r) => r.type === K8S_NETWORK.namespace)) {
            const name = field(plain(namespace.props), "metadata", "name");
            // A namespace named by another resource's output is matched by anything a preview cannot know.
            const inNamespace = policies.filter((p) => isUnknown(name) || sameNamespace(namespaceOf(p), name));
            if (inNamespace.some((p) => notDefaultDeny(p) === undefined)) continue;
            report(
                `Namespace ${typeof name === "string" ? `"${name}"` : `"${namespace.name}"`} has no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no ingress rules): every pod in it is reachable from anywhere in the cluster`,
                namespace.urn,
            );
        }
    },
};

export const accessPolicies = [mlflowAuthentication, networkIsolation];
