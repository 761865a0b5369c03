import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { platformLabels } from "./labels";
import { K8S_NAME } from "./names";
import { type ArgProblem, assertValidArgs, show } from "./validation";

/**
 * Network isolation of the platform's namespaces: each denies all ingress, and one NetworkPolicy per
 * flow admits exactly that flow (its source pods or namespace, its destination pods and ports).
 * Egress stays open: the platform's pods call the cluster's DNS, the API server, S3, the registry
 * and the git host, whose addresses a NetworkPolicy cannot name reliably.
 */

/** The label every namespace carries (Kubernetes sets it since 1.21): how a policy names a namespace. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** Where a flow comes from. */
export type FlowSource =
    /** Pods in a namespace: every pod of it, or those with these labels. */
    | { readonly namespace: string; readonly pods?: Readonly<Record<string, string>> }
    /** Addresses outside the pod network (the API server calling a webhook). */
    | { readonly cidr: string };

/** One flow into a namespace, admitted by a NetworkPolicy of its own. */
export interface IngressFlow {
    /** The NetworkPolicy's name: what the flow is, e.g. `tracking-server-from-models`. */
    readonly name: string;
    /** Why the flow exists, in words (the `mlops.dev/flow` annotation). */
    readonly description: string;
    /** Labels of the destination pods. */
    readonly pods: Readonly<Record<string, string>>;
    /** TCP ports of the destination pods: numbers, or container port names. */
    readonly ports: readonly (number | string)[];
    readonly from: readonly FlowSource[];
}

/** A namespace that denies ingress except for its flows. */
export interface IsolatedNamespace {
    /** Its name; the namespace itself is created elsewhere, and the component is told to wait for it (`dependsOn`). */
    readonly namespace: string;
    readonly flows: readonly IngressFlow[];
}

export interface NetworkIsolationArgs {
    readonly namespaces: readonly IsolatedNamespace[];
}

/** The name of every namespace's default-deny policy. */
export const DEFAULT_DENY_POLICY = "default-deny-ingress";
export const FLOW_ANNOTATION = "mlops.dev/flow";

const IANA_PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/;
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-f:]+\/\d{1,3})$/i;

/** Every problem of the plain args, each naming the arg and its value. */
export function validateNetworkIsolationArgs(name: string, args: NetworkIsolationArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!K8S_NAME.test(name)) problem("", `must be a Kubernetes name (it prefixes the policies' logical names), got ${show(name)}`);
    args.namespaces.forEach((ns, i) => {
        const at = `namespaces[${i}]`;
        if (!K8S_NAME.test(ns.namespace)) problem(`${at}.namespace`, `must be a namespace name, got ${show(ns.namespace)}`);
        if (args.namespaces.findIndex((other) => other.namespace === ns.namespace) !== i)
            problem(`${at}.namespace`, `must be listed once, got ${show(ns.namespace)} again`);
        const seen = new Set<string>([DEFAULT_DENY_POLICY]);
        ns.flows.forEach((flow, j) => {
            const fat = `${at}.flows[${j}]`;
            if (!K8S_NAME.test(flow.name) || seen.has(flow.name)) {
                problem(`${fat}.name`, `must be a Kubernetes name, unique in its namespace and not ${show(DEFAULT_DENY_POLICY)}, got ${show(flow.name)}`);
            }
            seen.add(flow.name);
            if (flow.ports.length === 0) problem(`${fat}.ports`, "must name at least one port, got none");
            for (const port of flow.ports) {
                const valid = typeof port === "number" ? Number.isInteger(port) && port >= 1 && port <= 65535 : IANA_PORT_NAME.test(port);
                if (!valid) problem(`${fat}.ports`, `must be port numbers (1-65535) or container port names, got ${show(port)}`);
            }
            if (flow.from.length === 0) problem(`${fat}.from`, "must name at least one source (an empty list would admit everyone), got none");
            for (const source of flow.from) {
                if ("cidr" in source && !CIDR.test(source.cidr)) problem(`${fat}.from`, `must be a CIDR such as "10.0.0.0/8", got ${show(source.cidr)}`);
            }
        });
    });
    return problems;
}

/** The `from` entry of a source. */
export function flowPeer(source: FlowSource): k8s.types.input.networking.v1.NetworkPolicyPeer {
    if ("cidr" in source) return { ipBlock: { cidr: source.cidr } };
    return {
        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: source.namespace } },
        ...(source.pods !== undefined && { podSelector: { matchLabels: { ...source.pods } } }),
    };
}

/** Selects every pod and admits nothing: the namespace's baseline. */
export function defaultDenySpec(): k8s.types.input.networking.v1.NetworkPolicySpec {
    return { podSelector: {}, policyTypes: ["Ingress"] };
}

export function flowSpec(flow: IngressFlow): k8s.types.input.networking.v1.NetworkPolicySpec {
    return {
        podSelector: { matchLabels: { ...flow.pods } },
        policyTypes: ["Ingress"],
        ingress: [{ from: flow.from.map(flowPeer), ports: flow.ports.map((port) => ({ protocol: "TCP", port })) }],
    };
}

/** Default-deny ingress in each namespace, plus one NetworkPolicy per admitted flow. */
export class NetworkIsolation extends pulumi.ComponentResource {
    /** The namespaces isolated. */
    public readonly namespaces: readonly string[];

    constructor(name: string, args: NetworkIsolationArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("NetworkIsolation", name, validateNetworkIsolationArgs(name, args));
        super("mlops:network:NetworkIsolation", name, {}, opts);

        const labels = platformLabels(name, "network-policy");
        // A component's dependsOn does not reach its children: each policy waits for what the component was told to.
        const after = pulumi.output(opts?.dependsOn ?? []).apply((deps) => (Array.isArray(deps) ? deps : [deps]));
        const policy = (namespace: string, policyName: string, spec: k8s.types.input.networking.v1.NetworkPolicySpec, description: string) =>
            new k8s.networking.v1.NetworkPolicy(
                `${name}-${namespace}-${policyName}`,
                {
                    metadata: {
                        name: policyName,
                        namespace,
                        labels,
                        annotations: { [FLOW_ANNOTATION]: description },
                    },
                    spec,
                },
                { parent: this, dependsOn: after },
            );
        for (const ns of args.namespaces) {
            policy(ns.namespace, DEFAULT_DENY_POLICY, defaultDenySpec(), "Nothing reaches this namespace's pods unless another policy admits it.");
            for (const flow of ns.flows) policy(ns.namespace, flow.name, flowSpec(flow), flow.description);
        }
        this.namespaces = args.namespaces.map((ns) => ns.namespace);
        this.registerOutputs({ namespaces: this.namespaces });
    }
}
