import assert from "node:assert/strict";
import { type ClusterGpuBudgetConfig, gpuBudgetPerCluster } from "../../policies/clusterGpu";
import { gpuBudget, type GpuBudgetConfig } from "../../policies/gpu";
import { type StackInput, stackViolationsOf } from "./analyzerArgs";
import { servingStack, TAGGER } from "./fixtures";

const GPU = "nvidia.com/gpu";

/** A model's serving stack as rendered for one target cluster: every object labelled with it, names unchanged. */
function onCluster(cluster: string, maxReplicas: number): StackInput[] {
    return servingStack(TAGGER, maxReplicas).map((r) => {
        const props = structuredClone(r.props) as { metadata: { labels?: Record<string, string> } };
        props.metadata.labels = { ...props.metadata.labels, "mlops.dev/cluster": cluster };
        return { ...r, name: `${r.name}-${cluster}`, props };
    });
}

// TAGGER: 1 GPU per pod; maxReplicas n, doubled for the canary analysis.
const TWO_CLUSTERS = [...onCluster("eu-cloud", 2), ...onCluster("onprem-paris", 1)]; // 4 + 2 GPUs

describe("gpu-budget-per-cluster", () => {
    const config: ClusterGpuBudgetConfig = { clusterGpuBudget: 4, clusterGpuBudgets: {}, gpuResourceName: GPU };

    it("passes clusters that each fit their budget", async () => {
        assert.deepEqual(await stackViolationsOf(gpuBudgetPerCluster, TWO_CLUSTERS, config), []);
    });

    it("refuses a budget exceeded in one cluster only, naming that cluster and its workloads (the total fits gpu-budget)", async () => {
        const perCluster = { ...config, clusterGpuBudgets: { "onprem-paris": 1 } };
        assert.deepEqual(await stackViolationsOf(gpuBudgetPerCluster, TWO_CLUSTERS, perCluster), [
            {
                message:
                    'GPUs at maximum scale on cluster "onprem-paris": 2, over its budget of 1:\n' +
                    '  - Deployment "models/product-image-tagger" on cluster "onprem-paris": 1 GPU per pod × 2 pods (HorizontalPodAutoscaler "models/product-image-tagger" on cluster "onprem-paris" maxReplicas 1, doubled: Canary "models/product-image-tagger" on cluster "onprem-paris" runs primary and canary side by side) = 2 GPUs',
            },
        ]);
        const total: GpuBudgetConfig = { gpuBudget: 6, gpuResourceName: GPU };
        assert.deepEqual(await stackViolationsOf(gpuBudget, TWO_CLUSTERS, total), []);
    });

    it("gpu-budget refuses a budget exceeded only in total, while every cluster fits its own", async () => {
        assert.deepEqual(await stackViolationsOf(gpuBudgetPerCluster, TWO_CLUSTERS, config), []);
        const [violation, ...rest] = await stackViolationsOf(gpuBudget, TWO_CLUSTERS, { gpuBudget: 5, gpuResourceName: GPU });
        assert.deepEqual(rest, []);
        assert.match(violation?.message ?? "", /^GPUs at maximum scale: 6, over the budget of 5:\n/);
    });

    it("matches each HPA and Canary to the Deployment of its own cluster, though their names are the same", async () => {
        // Were the eu-cloud HPA (maxReplicas 2) taken for onprem-paris, that cluster would count 4.
        assert.deepEqual(await stackViolationsOf(gpuBudgetPerCluster, TWO_CLUSTERS, { ...config, clusterGpuBudgets: { "onprem-paris": 2 } }), []);
    });

    it("leaves a stack with one cluster (nothing labelled) to gpu-budget, which reports it once", async () => {
        assert.deepEqual(await stackViolationsOf(gpuBudgetPerCluster, servingStack(TAGGER, 3), config), []);
        assert.equal((await stackViolationsOf(gpuBudget, servingStack(TAGGER, 3), { gpuBudget: 4, gpuResourceName: GPU })).length, 1);
    });

    it("takes the default budget from the config", async () => {
        assert.equal((await stackViolationsOf(gpuBudgetPerCluster, TWO_CLUSTERS, { ...config, clusterGpuBudget: 3 })).length, 1);
        assert.deepEqual(await stackViolationsOf(gpuBudgetPerCluster, TWO_CLUSTERS, { ...config, clusterGpuBudget: 4 }), []);
    });
});
