import { IN_CLUSTER_NAME, IN_CLUSTER_SERVER } from "../components/argoCd";
import type { ConfigProblem } from "./errors";
import { showValue } from "./errors";
import type { RawClusterCredential, RawStackConfig, RawTargetCluster } from "./schema";

/**
 * The clusters an environment serves its models on (`mlops-platform:clusters`), and how Argo CD
 * reaches the remote ones (`mlops-platform:clusterCredentials`, a config secret). A stack without
 * `clusters` serves on the one cluster Pulumi deploys to, exactly as before the key existed.
 */

export interface TargetClusterConfig {
    readonly name: string;
    /** Exactly one of server or name. */
    readonly destination: { readonly server: string } | { readonly name: string };
    readonly region?: string;
    readonly labels: Readonly<Record<string, string>>;
    /** Only the keys the cluster sets, over the stack's `gpu`. */
    readonly gpu: NonNullable<RawStackConfig["gpu"]>;
    readonly replicas: { readonly min?: number; readonly max?: number };
    /** How Argo CD reaches it; undefined for the cluster Argo CD runs in, or one registered otherwise. */
    readonly credentials?: RawClusterCredential;
}

/** Whether Argo CD reaches the cluster as the one it runs in (no cluster Secret, and the in-cluster MLflow URL works there). */
export function isArgoCdHome(cluster: Pick<TargetClusterConfig, "destination">): boolean {
    const d = cluster.destination;
    return "server" in d ? d.server === IN_CLUSTER_SERVER : d.name === IN_CLUSTER_NAME;
}

/**
 * Whether models are fanned out by an ApplicationSet: two clusters or more. One declared cluster
 * keeps the single Application and the `<path>/<stack>/<model>` layout of a stack without the key.
 */
export function fansOut(clusters: readonly TargetClusterConfig[]): boolean {
    return clusters.length > 1;
}

/** A model's replicas on a cluster: clamped into the cluster's bounds. */
export function clampReplicas(
    replicas: { readonly min: number; readonly max: number },
    bounds: TargetClusterConfig["replicas"],
): { readonly min: number; readonly max: number } {
    const clamp = (n: number) => Math.min(bounds.max ?? n, Math.max(bounds.min ?? n, n));
    return { min: clamp(replicas.min), max: clamp(replicas.max) };
}

export function resolveClusters(raw: Pick<RawStackConfig, "clusters" | "clusterCredentials">): TargetClusterConfig[] {
    return (raw.clusters ?? []).map((cluster: RawTargetCluster) => {
        const credentials = raw.clusterCredentials?.[cluster.name];
        return {
            name: cluster.name,
            destination: cluster.destination.server !== undefined ? { server: cluster.destination.server } : { name: cluster.destination.name as string },
            ...(cluster.region !== undefined && { region: cluster.region }),
            labels: cluster.labels ?? {},
            gpu: cluster.gpu ?? {},
            replicas: cluster.replicas ?? {},
            ...(credentials !== undefined && { credentials }),
        };
    });
}

/** Rules between `clusters`, `clusterCredentials` and `delivery`; each names the key the user wrote. */
export function clusterProblems(
    config: Pick<RawStackConfig, "clusters" | "clusterCredentials" | "delivery">,
    valid: (...sections: Array<keyof RawStackConfig>) => boolean,
    key: (...segments: PropertyKey[]) => string,
): Array<{ section: keyof RawStackConfig; problem: ConfigProblem }> {
    const problems: Array<{ section: keyof RawStackConfig; problem: ConfigProblem }> = [];
    const clusters = config.clusters;
    if (clusters === undefined || !valid("clusters")) return problems;
    if (valid("delivery") && clusters.length > 1 && config.delivery?.mode !== "gitops") {
        problems.push({
            section: "clusters",
            problem: {
                path: key("clusters"),
                message: `expected one cluster while delivery.mode is ${showValue(config.delivery?.mode ?? "direct")} (Argo CD fans models out to several), got ${clusters.length}`,
            },
        });
    }
    if (!valid("clusterCredentials")) return problems;
    const names = clusters.map((c) => c.name);
    for (const name of Object.keys(config.clusterCredentials ?? {})) {
        const index = names.indexOf(name);
        const cluster = clusters[index];
        if (cluster === undefined) {
            problems.push({
                section: "clusterCredentials",
                problem: {
                    path: key("clusterCredentials", name),
                    message: `expected the name of a declared cluster (${names.join(", ")}), got ${showValue(name)}`,
                },
            });
        } else if (cluster.destination.server === undefined || isArgoCdHome({ destination: { server: cluster.destination.server } })) {
            // A cluster Secret registers a server URL; the cluster Argo CD runs in needs none.
            problems.push({
                section: "clusters",
                problem: {
                    path: key("clusters", index, "destination", "server"),
                    message: `expected the URL of a remote API server (clusterCredentials.${name} registers it with Argo CD), got ${showValue(cluster.destination.server)}`,
                },
            });
        }
    }
    return problems;
}
