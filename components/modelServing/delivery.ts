import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { IN_CLUSTER_SERVER } from "../argoCd";

/** How a model's workload objects reach the cluster. */
export type ModelDelivery =
    /** Pulumi applies the objects through the component's (the cluster's) Kubernetes provider. */
    | { readonly mode: "direct" }
    /** Pulumi renders the objects to YAML in git; an Argo CD Application syncs them. */
    | {
          readonly mode: "gitops";
          /** Git repository Argo CD syncs from. */
          readonly repoUrl: pulumi.Input<string>;
          /** @default "HEAD" */
          readonly targetRevision?: pulumi.Input<string>;
          /** Directory of the rendered workloads in the repository: `<path>/<stack>/<model>`. @default "deploy" */
          readonly path?: string;
          /** Local checkout of that repository, where the YAML is written. @default "." (Pulumi runs a program in its project directory) */
          readonly renderRoot?: string;
          /** Namespace Argo CD watches for Applications. @default "argocd" */
          readonly argoNamespace?: pulumi.Input<string>;
          /** The platform's AppProject for model workloads. */
          readonly project: pulumi.Input<string>;
          /** Where the Application deploys to: Argo CD's server URL or registered cluster name. @default { server: IN_CLUSTER_SERVER } */
          readonly destination?: ArgoDestination;
          /**
           * This rendering's cluster, when an ApplicationSet fans the model out to several: the objects
           * go to `<path>/<stack>/<cluster>/<model>` with the `mlops.dev/cluster` label, and no
           * Application is created (the ApplicationSet generates one per cluster).
           * @default - none: one cluster, one Application
           */
          readonly fanOutCluster?: string;
      };

/** An Argo CD destination cluster: by API server URL, or by the name it is registered under. */
export type ArgoDestination = { readonly server: string } | { readonly name: string };

export const DELIVERY_DEFAULTS = { targetRevision: "HEAD", path: "deploy", renderRoot: ".", argoNamespace: "argocd" } as const;

/** The repository path of one model's workloads in one stack. */
export function repositoryPath(deliveryPath: string, stack: string, model: string, cluster?: string): string {
    return cluster === undefined ? path.posix.join(deliveryPath, stack, model) : path.posix.join(deliveryPath, stack, cluster, model);
}

export interface ApplicationSpecInputs {
    readonly project: pulumi.Input<string>;
    readonly repoUrl: pulumi.Input<string>;
    readonly targetRevision: pulumi.Input<string>;
    readonly path: string;
    readonly namespace: pulumi.Input<string>;
    /** @default { server: IN_CLUSTER_SERVER } */
    readonly destination?: ArgoDestination;
}

/**
 * The Application of one model. Flagger and the HPAs own the replica counts (Flagger scales the
 * target Deployment to zero once its primary serves), so Argo CD must neither report that as drift
 * nor undo it: `ignoreDifferences` on `/spec/replicas`, honoured at sync by `RespectIgnoreDifferences`.
 */
export function applicationSpec(i: ApplicationSpecInputs): Record<string, unknown> {
    return {
        project: i.project,
        // Pulumi's render mode writes into `0-crd/` and `1-manifest/` below the directory it is given.
        source: { repoURL: i.repoUrl, targetRevision: i.targetRevision, path: i.path, directory: { recurse: true } },
        destination: { ...(i.destination ?? { server: IN_CLUSTER_SERVER }), namespace: i.namespace },
        syncPolicy: {
            automated: { prune: true, selfHeal: true },
            // The models namespace is the platform's (restricted labels and all), never Argo CD's to create.
            syncOptions: ["CreateNamespace=false", "RespectIgnoreDifferences=true", "PruneLast=true"],
        },
        ignoreDifferences: [{ group: "apps", kind: "Deployment", jsonPointers: ["/spec/replicas"] }],
    };
}
