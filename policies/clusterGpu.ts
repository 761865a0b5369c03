import type { StackValidationPolicy } from "@pulumi/policy";
import { describeContribution, tallyGpusAtMaxScale } from "./gpu";
import { configOf, type TypedConfigSchema } from "./policyConfig";

/**
 * The GPU budget of each target cluster. A stack that serves its models on several clusters
 * renders each model once per cluster (labelled `mlops.dev/cluster`); `gpu-budget` holds the
 * environment's total, this policy what each cluster's GPU nodes can hold. A stack with one cluster
 * labels nothing: there the total is that cluster's, and gpu-budget alone judges it (one violation,
 * not the same one twice).
 */

export interface ClusterGpuBudgetConfig {
    /** GPUs one cluster may hold at once, every workload on it at its maximum scale. @default 8 */
    readonly clusterGpuBudget: number;
    /** Budgets of named clusters, instead of clusterGpuBudget. @default {} */
    readonly clusterGpuBudgets: Readonly<Record<string, number>>;
    /** Extended resource name GPUs are requested as. @default "nvidia.com/gpu" */
    readonly gpuResourceName: string;
}

const clusterGpuBudgetSchema: TypedConfigSchema<ClusterGpuBudgetConfig> = {
    properties: {
        clusterGpuBudget: {
            type: "integer",
            minimum: 0,
            default: 8,
            description: "GPUs one cluster may hold at once, every workload on it at its maximum scale.",
        },
        clusterGpuBudgets: {
            type: "object",
            additionalProperties: { type: "integer", minimum: 0 },
            default: {},
            description: "Budgets of named clusters (mlops.dev/cluster), instead of clusterGpuBudget.",
        },
        gpuResourceName: { type: "string", minLength: 1, default: "nvidia.com/gpu", description: "Extended resource name GPUs are requested as." },
    },
};

export const gpuBudgetPerCluster: StackValidationPolicy = {
    name: "gpu-budget-per-cluster",
    description: "Each target cluster's GPUs at maximum scale (HPA maxReplicas, Flagger primary and canary side by side) fit that cluster's GPU budget.",
    configSchema: clusterGpuBudgetSchema,
    validateStack: (args, report) => {
        const config = configOf(args, clusterGpuBudgetSchema);
        // Unbounded workloads are reported by gpu-budget; here only what can be counted is summed.
        const tally = tallyGpusAtMaxScale(args.resources, config.gpuResourceName);
        const clusters = [...new Set(tally.contributions.flatMap((c) => (c.cluster === undefined ? [] : [c.cluster])))].sort();
        for (const cluster of clusters) {
            const contributions = tally.contributions.filter((c) => c.cluster === cluster);
            const total = contributions.reduce((sum, c) => sum + c.gpus, 0);
            const budget = config.clusterGpuBudgets[cluster] ?? config.clusterGpuBudget;
            if (total > budget) {
                report(
                    `GPUs at maximum scale on cluster "${cluster}": ${total}, over its budget of ${budget}:\n` +
                        contributions.map((c) => `  - ${describeContribution(c)}`).join("\n"),
                );
            }
        }
    },
};
