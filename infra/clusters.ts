import type { ModelApplicationSetArgs } from "../components/argoCd/applicationSet";
import type { ModelServingArgs } from "../components/modelServing";
import { clampReplicas, fansOut, isArgoCdHome, type ModelConfig, type PlatformConfig, type TargetClusterConfig } from "../stacks";
import { type Mapped, type ModelServingRefs, modelServingArgs, stackKey } from "./componentArgs";

/**
 * How a stack's declared clusters (`mlops-platform:clusters`) shape the platform: the clusters Argo
 * CD knows, and each model's serving stack once per cluster. A stack without the key, or with one
 * cluster, renders each model once, as it always did.
 */

/** What the platform gives a model on a cluster other than the one MLflow runs in. */
export interface RemoteClusterRefs {
    /** MLflow's public URL: the in-cluster Service is not reachable from another cluster. */
    readonly publicTrackingUri: ModelServingRefs["trackingUri"];
}

/** One rendering of a model: on which cluster (none: the stack's only one), under which component name. */
export interface ModelRendering {
    readonly cluster: TargetClusterConfig | undefined;
    /** ModelServing's name: the model's, or `<model>-<cluster>` when fanned out. */
    readonly name: string;
    readonly mapped: Mapped<ModelServingArgs>;
}

/** A model's serving stacks: one per cluster when fanned out, else one. */
export function modelRenderings(config: PlatformConfig, model: ModelConfig, refs: ModelServingRefs, remote: RemoteClusterRefs): ModelRendering[] {
    if (config.clusters.length === 0) return [{ cluster: undefined, name: model.name, mapped: modelServingArgs(config, model, refs) }];
    const fanOut = fansOut(config.clusters);
    return config.clusters.map((cluster, index) => {
        const onCluster: ModelConfig = { ...model, replicas: clampReplicas(model.replicas, cluster.replicas) };
        const clusterConfig: PlatformConfig = { ...config, gpu: { ...config.gpu, ...cluster.gpu } };
        const home = isArgoCdHome(cluster);
        const clusterRefs: ModelServingRefs = home ? refs : { ...refs, trackingUri: remote.publicTrackingUri, artifactReaderRoleArn: undefined };
        const mapped = modelServingArgs(clusterConfig, onCluster, clusterRefs);
        const delivery: ModelServingArgs["delivery"] =
            mapped.args.delivery.mode === "gitops"
                ? { ...mapped.args.delivery, destination: cluster.destination, ...(fanOut && { fanOutCluster: cluster.name }) }
                : mapped.args.delivery;
        const at = (...keys: string[]) => stackKey("clusters", ...keys).replace(`clusters.`, `clusters[${index}].`);
        return {
            cluster,
            name: fanOut ? `${model.name}-${cluster.name}` : model.name,
            mapped: {
                args: { ...mapped.args, delivery },
                keys: {
                    ...mapped.keys,
                    ...(Object.keys(cluster.gpu).length > 0 && { gpu: at("gpu") }),
                    "delivery.fanOutCluster": at("name"),
                },
                reads: [...mapped.reads, "clusters"],
            },
        };
    });
}

/** The ApplicationSet that fans a model out; undefined unless the stack declares two clusters or more with gitops delivery. */
export function modelApplicationSetArgs(
    config: PlatformConfig,
    model: ModelConfig,
    refs: { readonly namespace: ModelApplicationSetArgs["namespace"]; readonly argo: ModelServingRefs["argo"] },
): ModelApplicationSetArgs | undefined {
    if (!fansOut(config.clusters) || config.delivery.mode !== "gitops" || refs.argo === undefined) return undefined;
    return {
        model: model.name,
        environment: config.environment,
        stack: config.stack,
        argoNamespace: refs.argo.namespace,
        project: refs.argo.project,
        repoUrl: config.delivery.repoUrl,
        ...(config.delivery.targetRevision !== undefined && { targetRevision: config.delivery.targetRevision }),
        ...(config.delivery.path !== undefined && { path: config.delivery.path }),
        namespace: refs.namespace,
        clusters: config.clusters.map((c) => ({ name: c.name, destination: c.destination, ...(c.region !== undefined && { region: c.region }) })),
    };
}
