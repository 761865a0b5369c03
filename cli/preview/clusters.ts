import { LABELS } from "../../components/labels";
import type { GpuTally } from "../../policies/gpu";
import type { PipelineResult } from "../../offline/pipeline";

/**
 * What the preview says of a stack's declared clusters (`mlops-platform:clusters`): per cluster,
 * where Argo CD deploys to, and which version of each model it serves, read from the rendered
 * Deployments themselves (their `mlops.dev/model-version` label), with its GPUs against the
 * cluster's budget (`gpu-budget-per-cluster`).
 */

export interface ClusterSummary {
    readonly name: string;
    /** `server https://…` or `name paris`. */
    readonly destination: string;
    readonly region?: string;
    /** Whether a cluster Secret registers it with Argo CD (credentials given). */
    readonly registered: boolean;
    readonly models: ReadonlyArray<{ readonly name: string; readonly version: string; readonly replicas: { readonly min: number; readonly max: number } }>;
    readonly gpusAtMaxScale: number;
    readonly gpuBudget: number;
}

/** Undefined for a stack that declares no clusters (its one cluster is the whole preview). */
export function clusterSummaries(result: PipelineResult, tally: GpuTally): ClusterSummary[] | undefined {
    const clusters = result.config.clusters;
    if (clusters.length === 0) return undefined;
    const properties = result.policy.configured.config.get("gpu-budget-per-cluster")?.properties ?? {};
    const defaultBudget = typeof properties["clusterGpuBudget"] === "number" ? properties["clusterGpuBudget"] : 0;
    const budgets = (
        typeof properties["clusterGpuBudgets"] === "object" && properties["clusterGpuBudgets"] !== null ? properties["clusterGpuBudgets"] : {}
    ) as Record<string, unknown>;
    const fannedOut = clusters.length > 1;
    const objects = result.inventory.manifests.map(
        (m) => m.object as { kind: string; metadata: { name?: string; labels?: Record<string, string> }; spec?: any },
    );
    const onCluster = (labels: Record<string, string> | undefined, cluster: string) => !fannedOut || labels?.[LABELS.cluster] === cluster;
    return clusters.map((cluster) => {
        const models = objects
            .filter((o) => o.kind === "Deployment" && o.metadata.labels?.[LABELS.model] !== undefined && onCluster(o.metadata.labels, cluster.name))
            .map((deployment) => {
                const name = deployment.metadata.labels?.[LABELS.model] ?? "";
                const hpa = objects.find(
                    (o) => o.kind === "HorizontalPodAutoscaler" && o.metadata.name === deployment.metadata.name && onCluster(o.metadata.labels, cluster.name),
                );
                return {
                    name,
                    version: deployment.metadata.labels?.[LABELS.modelVersion] ?? "",
                    replicas: { min: Number(hpa?.spec?.minReplicas ?? 1), max: Number(hpa?.spec?.maxReplicas ?? 1) },
                };
            })
            .sort((a, b) => a.name.localeCompare(b.name));
        const gpus = tally.contributions.filter((c) => !fannedOut || c.cluster === cluster.name).reduce((sum, c) => sum + c.gpus, 0);
        const budget = budgets[cluster.name];
        return {
            name: cluster.name,
            destination: "server" in cluster.destination ? `server ${cluster.destination.server}` : `name ${cluster.destination.name}`,
            ...(cluster.region !== undefined && { region: cluster.region }),
            registered: cluster.credentials !== undefined,
            models,
            gpusAtMaxScale: gpus,
            gpuBudget: typeof budget === "number" ? budget : defaultBudget,
        };
    });
}

/** The text report's lines. */
export function clusterLines(clusters: readonly ClusterSummary[]): string[] {
    const out = [`Clusters: ${clusters.length}`];
    for (const c of clusters) {
        const where = [
            c.destination,
            ...(c.region !== undefined ? [`region ${c.region}`] : []),
            c.registered ? "registered by a cluster Secret" : undefined,
        ].filter((part): part is string => part !== undefined);
        out.push(`  ${c.name}: ${where.join(", ")}; GPUs at maximum scale ${c.gpusAtMaxScale} of ${c.gpuBudget}`);
        for (const m of c.models) out.push(`      ${m.name}: version ${m.version}, replicas ${m.replicas.min}–${m.replicas.max}`);
    }
    return out;
}

/** The Markdown report's section: one row per cluster and model. */
export function clusterMarkdown(clusters: readonly ClusterSummary[]): string[] {
    const out = [
        `### Clusters: ${clusters.length}`,
        "",
        "| Cluster | Argo CD destination | Region | GPUs at max scale | Model | Version | Replicas |",
        "|---|---|---|---|---|---|---|",
    ];
    for (const c of clusters) {
        const head = `| \`${c.name}\` | ${c.destination}${c.registered ? " (cluster Secret)" : ""} | ${c.region ?? ""} | ${c.gpusAtMaxScale} of ${c.gpuBudget}`;
        if (c.models.length === 0) out.push(`${head} | | | |`);
        for (const [i, m] of c.models.entries())
            out.push(`${i === 0 ? head : "| | | |"} | \`${m.name}\` | ${m.version} | ${m.replicas.min}–${m.replicas.max} |`);
    }
    out.push("");
    return out;
}
