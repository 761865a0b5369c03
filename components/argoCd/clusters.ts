import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { platformLabels } from "../labels";
import { K8S_NAME } from "../names";
import type { ArgProblem } from "../validation";
import { show } from "../validation";

/**
 * The clusters Argo CD deploys model workloads to, beyond the one it runs in: each remote cluster
 * with credentials is registered the way Argo CD's declarative setup documents it, as a Secret in
 * Argo CD's namespace labelled `argocd.argoproj.io/secret-type: cluster` whose `config` holds the
 * credentials (bearerToken or awsAuthConfig, and tlsClientConfig.caData).
 */

/** What Argo CD's cluster Secrets are recognised by. */
export const CLUSTER_SECRET_LABEL = { "argocd.argoproj.io/secret-type": "cluster" } as const;

/** A target cluster by Argo CD's destination: its API server URL, or the name it is registered under. */
export type ClusterDestination = { readonly server: string } | { readonly name: string };

export type ClusterCredentials =
    | { readonly bearerToken: pulumi.Input<string>; readonly caData?: string }
    | { readonly awsAuth: { readonly clusterName: string; readonly roleArn: string }; readonly caData?: string };

export interface ArgoCdCluster {
    /** The cluster's name in Argo CD (and in the stack). */
    readonly name: string;
    readonly destination: ClusterDestination;
    /** Labels of its cluster Secret, for cluster generators and RBAC. @default {} */
    readonly labels?: Readonly<Record<string, string>>;
    /** How Argo CD reaches it; a Secret is created only with them. @default - none: the cluster Argo CD runs in, or one registered otherwise */
    readonly credentials?: ClusterCredentials;
}

export function validateArgoCdClusters(clusters: readonly ArgoCdCluster[]): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const seen = new Set<string>();
    clusters.forEach((cluster, i) => {
        if (!K8S_NAME.test(cluster.name)) problems.push({ arg: `clusters[${i}].name`, message: `must be a Kubernetes name, got ${show(cluster.name)}` });
        if (seen.has(cluster.name)) problems.push({ arg: `clusters[${i}].name`, message: `must be unique, got ${show(cluster.name)} twice` });
        seen.add(cluster.name);
        if (cluster.credentials !== undefined && !("server" in cluster.destination)) {
            problems.push({
                arg: `clusters[${i}].destination`,
                message: `must be an API server URL when credentials register the cluster, got ${show(cluster.destination)}`,
            });
        }
    });
    return problems;
}

/** The name of a cluster's Secret. */
export function clusterSecretName(cluster: string): string {
    return `cluster-${cluster}`;
}

/** Argo CD's cluster `config`, as JSON: one of its documented authentication shapes, TLS verified. */
export function clusterConfig(credentials: ClusterCredentials): pulumi.Output<string> {
    const tls = { insecure: false, ...(credentials.caData !== undefined && { caData: credentials.caData }) };
    if ("awsAuth" in credentials) {
        return pulumi.output(
            JSON.stringify({ awsAuthConfig: { clusterName: credentials.awsAuth.clusterName, roleARN: credentials.awsAuth.roleArn }, tlsClientConfig: tls }),
        );
    }
    return pulumi.secret(pulumi.output(credentials.bearerToken).apply((bearerToken) => JSON.stringify({ bearerToken, tlsClientConfig: tls })));
}

/** One Secret per cluster that has credentials, children of `parent`. */
export function registerClusters(
    name: string,
    clusters: readonly ArgoCdCluster[],
    namespace: pulumi.Input<string>,
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.Secret[] {
    return clusters.flatMap((cluster) => {
        if (cluster.credentials === undefined || !("server" in cluster.destination)) return [];
        return [
            new k8s.core.v1.Secret(
                `${name}-cluster-${cluster.name}`,
                {
                    metadata: {
                        name: clusterSecretName(cluster.name),
                        namespace,
                        labels: { ...cluster.labels, ...platformLabels(cluster.name, "argocd-cluster"), ...CLUSTER_SECRET_LABEL },
                    },
                    type: "Opaque",
                    stringData: { name: cluster.name, server: cluster.destination.server, config: clusterConfig(cluster.credentials) },
                },
                opts,
            ),
        ];
    });
}
