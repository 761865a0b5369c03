/**
 * A small evaluator of Kubernetes NetworkPolicy ingress semantics (networking.k8s.io/v1), for tests:
 * whether a connection from a source to a pod's port is admitted by the policies of the
 * destination's namespace. What it models: pod isolation (a pod selected by any Ingress policy admits
 * only what one of them allows), peers (namespaceSelector, podSelector, both, ipBlock), matchLabels and
 * matchExpressions, numeric and named ports, TCP. ipBlock is matched conservatively: a CIDR that holds
 * every address also matches pods (many CNIs do), so it never hides a flow.
 */

export interface Pod {
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
    /** Named container ports, for policies that name a port. */
    readonly ports?: Readonly<Record<string, number>>;
    /** The pod's address, for ipBlock peers. @default "10.244.0.10" */
    readonly ip?: string;
}

/** A connection from outside the pod network (the API server, a load balancer). */
export interface External {
    readonly ip: string;
}

export interface NetworkPolicyObject {
    readonly metadata: { readonly name?: string; readonly namespace?: string };
    readonly spec: any;
}

export interface Cluster {
    readonly policies: readonly NetworkPolicyObject[];
    /** Labels of each namespace; `kubernetes.io/metadata.name` is added for every namespace. */
    readonly namespaceLabels?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

interface LabelSelector {
    readonly matchLabels?: Readonly<Record<string, string>>;
    readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
    if (selector === undefined) return true;
    for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
    for (const e of selector.matchExpressions ?? []) {
        const has = e.key in labels;
        const value = labels[e.key];
        const ok =
            e.operator === "Exists"
                ? has
                : e.operator === "DoesNotExist"
                  ? !has
                  : e.operator === "In"
                    ? has && (e.values ?? []).includes(value as string)
                    : e.operator === "NotIn"
                      ? !has || !(e.values ?? []).includes(value as string)
                      : false;
        if (!ok) return false;
    }
    return true;
}

function ipv4(ip: string): number | undefined {
    const parts = ip.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
    return parts.reduce((n, p) => n * 256 + p, 0);
}

export function cidrContains(cidr: string, ip: string): boolean {
    const [base = "", bitsText = ""] = cidr.split("/");
    const bits = Number(bitsText);
    if (base.includes(":") || ip.includes(":")) return base.includes(":") && ip.includes(":") && bits === 0;
    const network = ipv4(base);
    const address = ipv4(ip);
    if (network === undefined || address === undefined) return false;
    const size = 2 ** (32 - bits);
    return Math.floor(network / size) === Math.floor(address / size);
}

function namespaceLabelsOf(cluster: Cluster, namespace: string): Record<string, string> {
    return { ...cluster.namespaceLabels?.[namespace], "kubernetes.io/metadata.name": namespace };
}

function peerMatches(cluster: Cluster, peer: any, policyNamespace: string, source: Pod | External): boolean {
    if (peer.ipBlock !== undefined) {
        const ip = "namespace" in source ? (source.ip ?? "10.244.0.10") : source.ip;
        return cidrContains(peer.ipBlock.cidr, ip) && !(peer.ipBlock.except ?? []).some((c: string) => cidrContains(c, ip));
    }
    if (!("namespace" in source)) return false;
    const namespaceOk =
        peer.namespaceSelector !== undefined
            ? selectorMatches(peer.namespaceSelector, namespaceLabelsOf(cluster, source.namespace))
            : source.namespace === policyNamespace;
    return namespaceOk && selectorMatches(peer.podSelector, source.labels);
}

function portMatches(rulePort: any, destination: Pod, port: number): boolean {
    if ((rulePort.protocol ?? "TCP") !== "TCP") return false;
    if (rulePort.port === undefined) return true;
    const resolved = typeof rulePort.port === "number" ? rulePort.port : destination.ports?.[rulePort.port];
    if (resolved === undefined) return false;
    return rulePort.endPort !== undefined ? port >= resolved && port <= rulePort.endPort : port === resolved;
}

const appliesToIngress = (spec: any) => (spec.policyTypes ?? ["Ingress"]).includes("Ingress");

/** Whether a TCP connection from `source` to `destination`'s `port` is admitted. */
export function admits(cluster: Cluster, source: Pod | External, destination: Pod, port: number): boolean {
    const selecting = cluster.policies.filter(
        (p) =>
            (p.metadata.namespace ?? "default") === destination.namespace &&
            appliesToIngress(p.spec) &&
            selectorMatches(p.spec.podSelector, destination.labels),
    );
    if (selecting.length === 0) return true;
    return selecting.some((p) =>
        (p.spec.ingress ?? []).some(
            (rule: any) =>
                ((rule.ports ?? []).length === 0 || rule.ports.some((rp: any) => portMatches(rp, destination, port))) &&
                ((rule.from ?? []).length === 0 || rule.from.some((peer: any) => peerMatches(cluster, peer, destination.namespace, source))),
        ),
    );
}
