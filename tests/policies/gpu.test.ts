import assert from "node:assert/strict";
import {
    type GpuBudgetConfig,
    tallyGpusAtMaxScale,
    gpuBudget,
    type GpuLimitConfig,
    gpuLimitPerContainer,
    gpuNodePlacement,
    type GpuPlacementConfig,
    type GpuRequestsConfig,
    gpuRequestsEqualLimits,
    podGpus,
} from "../../policies/gpu";
import { plain } from "../../policies/values";
import { analyzerProps, changed, type StackInput, stackViolationsOf, UNKNOWN, urnOf, violationsOf } from "./analyzerArgs";
import { FRAUD, modelCanary, modelDeployment, modelHpa, type ModelFixture, servingStack, T, TAGGER } from "./fixtures";

const GPU = "nvidia.com/gpu";
const tagger = () => ({ type: T.deployment, name: "tagger", props: modelDeployment(TAGGER) });
const container = (props: any) => props.spec.template.spec.containers[0];

describe("gpu-limit-per-container", () => {
    const config: GpuLimitConfig = { maxGpusPerContainer: 1, gpuResourceName: GPU };

    it("passes a GPU model server within the limit, and a model server without GPUs", async () => {
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, tagger(), config), []);
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { type: T.deployment, name: "fraud", props: modelDeployment(FRAUD) }, config), []);
    });

    it("reports a container asking for more GPUs than allowed", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.requests[GPU] = "2";
            container(d).resources.limits[GPU] = "2";
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, config), [
            'container "model-server" asks for 2 GPUs (nvidia.com/gpu), over the limit of 1 per container',
        ]);
    });

    it("takes the limit from the config", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.requests[GPU] = 2;
            container(d).resources.limits[GPU] = 2;
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, { ...config, maxGpusPerContainer: 2 }), []);
    });

    it("checks init containers too", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            d.spec.template.spec.initContainers = [{ name: "warm-up", image: "busybox:1.36", resources: { limits: { [GPU]: "4" } } }];
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, config), [
            'init container "warm-up" asks for 4 GPUs (nvidia.com/gpu), over the limit of 1 per container',
        ]);
    });

    it("reports a fractional GPU count", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.limits[GPU] = "0.5";
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, config), [
            'container "model-server": resources.limits["nvidia.com/gpu"] must be a whole number of GPUs, got "0.5"',
        ]);
    });

    it("reports a GPU count that is unknown during preview (counts come from config, never from another resource)", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.limits[GPU] = UNKNOWN;
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, config), [
            'container "model-server": resources.limits["nvidia.com/gpu"] is unknown during preview, so it cannot be checked',
        ]);
    });

    it("reports containers that are unknown during preview", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            d.spec.template.spec.containers = UNKNOWN;
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, config), [
            "the pod's containers are unknown during preview, so their nvidia.com/gpu cannot be checked",
        ]);
    });

    it("counts only the configured resource name", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.limits[GPU] = "8";
            container(d).resources.requests[GPU] = "8";
        });
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { ...tagger(), props }, { ...config, gpuResourceName: "amd.com/gpu" }), []);
    });

    it("reads the pod template of a CronJob and a bare Pod", async () => {
        const pod = { spec: { containers: [{ name: "train", image: "trainer:1.0", resources: { limits: { [GPU]: "3" } } }] } };
        const cronJob = { spec: { schedule: "@daily", jobTemplate: { spec: { template: pod } } } };
        const message = 'container "train" asks for 3 GPUs (nvidia.com/gpu), over the limit of 1 per container';
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { type: T.cronJob, name: "nightly", props: cronJob }, config), [message]);
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { type: T.pod, name: "debug", props: pod }, config), [message]);
    });

    it("leaves resources without pods alone", async () => {
        assert.deepEqual(await violationsOf(gpuLimitPerContainer, { type: T.hpa, name: "hpa", props: modelHpa() }, config), []);
    });
});

describe("gpu-requests-equal-limits", () => {
    const config: GpuRequestsConfig = { gpuResourceName: GPU };

    it("passes equal requests and limits, and a limit alone (Kubernetes uses it as the request)", async () => {
        assert.deepEqual(await violationsOf(gpuRequestsEqualLimits, tagger(), config), []);
        const limitOnly = changed(modelDeployment(TAGGER), (d) => delete container(d).resources.requests[GPU]);
        assert.deepEqual(await violationsOf(gpuRequestsEqualLimits, { ...tagger(), props: limitOnly }, config), []);
    });

    it("reports a request that differs from the limit", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.limits[GPU] = "2";
        });
        assert.deepEqual(await violationsOf(gpuRequestsEqualLimits, { ...tagger(), props }, config), [
            'container "model-server": nvidia.com/gpu request (1) must equal its limit (2)',
        ]);
    });

    it("reports a request without a limit", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => delete container(d).resources.limits[GPU]);
        assert.deepEqual(await violationsOf(gpuRequestsEqualLimits, { ...tagger(), props }, config), [
            'container "model-server": requests 1 GPU (nvidia.com/gpu) without a limit; extended resources need a limit equal to the request',
        ]);
    });

    it("reports a request that is unknown during preview", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            container(d).resources.requests[GPU] = UNKNOWN;
        });
        assert.deepEqual(await violationsOf(gpuRequestsEqualLimits, { ...tagger(), props }, config), [
            'container "model-server": the nvidia.com/gpu request or limit is unknown during preview, so they cannot be compared',
        ]);
    });
});

describe("gpu-node-placement", () => {
    const config: GpuPlacementConfig = {
        gpuResourceName: GPU,
        gpuTaintKey: "nvidia.com/gpu",
        gpuTaintEffect: "NoSchedule",
        gpuNodeLabel: "nvidia.com/gpu.present",
        gpuNodeLabelValue: "true",
    };

    it("passes a GPU pod that tolerates the taint and selects GPU nodes, and a CPU pod that does neither", async () => {
        assert.deepEqual(await violationsOf(gpuNodePlacement, tagger(), config), []);
        assert.deepEqual(await violationsOf(gpuNodePlacement, { type: T.deployment, name: "fraud", props: modelDeployment(FRAUD) }, config), []);
    });

    it("reports a GPU pod without the GPU toleration", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => delete d.spec.template.spec.tolerations);
        assert.deepEqual(await violationsOf(gpuNodePlacement, { ...tagger(), props }, config), [
            'the pod uses 1 GPU (nvidia.com/gpu) but does not tolerate the GPU nodes\' taint "nvidia.com/gpu" (NoSchedule), got tolerations nothing',
        ]);
    });

    it("reports a toleration of the key with another effect", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            d.spec.template.spec.tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "PreferNoSchedule" }];
        });
        assert.deepEqual(await violationsOf(gpuNodePlacement, { ...tagger(), props }, config), [
            'the pod uses 1 GPU (nvidia.com/gpu) but does not tolerate the GPU nodes\' taint "nvidia.com/gpu" (NoSchedule), got tolerations [{"effect":"PreferNoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]',
        ]);
    });

    it("accepts a toleration of every taint (no key, Exists)", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            d.spec.template.spec.tolerations = [{ operator: "Exists" }];
        });
        assert.deepEqual(await violationsOf(gpuNodePlacement, { ...tagger(), props }, config), []);
    });

    it("reports a GPU pod that does not select GPU nodes", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => delete d.spec.template.spec.nodeSelector);
        assert.deepEqual(await violationsOf(gpuNodePlacement, { ...tagger(), props }, config), [
            'the pod uses 1 GPU (nvidia.com/gpu) but does not select GPU nodes: expected nodeSelector "nvidia.com/gpu.present": "true" (or a required node affinity on that label), got nodeSelector nothing',
        ]);
    });

    it("accepts a required node affinity on the GPU label instead of a nodeSelector", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            delete d.spec.template.spec.nodeSelector;
            d.spec.template.spec.affinity = {
                nodeAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: {
                        nodeSelectorTerms: [{ matchExpressions: [{ key: "nvidia.com/gpu.present", operator: "In", values: ["true"] }] }],
                    },
                },
            };
        });
        assert.deepEqual(await violationsOf(gpuNodePlacement, { ...tagger(), props }, config), []);
    });

    it("reads the taint and label from the config", async () => {
        const amd = { ...config, gpuTaintKey: "amd.com/gpu", gpuNodeLabel: "amd.com/gpu.present" };
        assert.deepEqual(await violationsOf(gpuNodePlacement, tagger(), amd), [
            'the pod uses 1 GPU (nvidia.com/gpu) but does not tolerate the GPU nodes\' taint "amd.com/gpu" (NoSchedule), got tolerations [{"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]',
            'the pod uses 1 GPU (nvidia.com/gpu) but does not select GPU nodes: expected nodeSelector "amd.com/gpu.present": "true" (or a required node affinity on that label), got nodeSelector {"nvidia.com/gpu.present":"true"}',
        ]);
    });

    it("reports tolerations that are unknown during preview", async () => {
        const props = changed(modelDeployment(TAGGER), (d) => {
            d.spec.template.spec.tolerations = UNKNOWN;
        });
        assert.deepEqual(await violationsOf(gpuNodePlacement, { ...tagger(), props }, config), [
            "the pod uses 1 GPU (nvidia.com/gpu) and its tolerations are unknown during preview, so they cannot be checked",
        ]);
    });
});

describe("podGpus", () => {
    const spec = (containers: object[], initContainers: object[] = []) => plain({ containers, initContainers });
    const gpus = (n: number, extra: object = {}) => ({ resources: { limits: { [GPU]: String(n) } }, ...extra });

    it("adds up the app containers", () => {
        assert.equal(podGpus(spec([gpus(1), gpus(2), {}]), GPU), 3);
    });

    it("counts a plain init container only when it takes more than the app containers, since it runs before them", () => {
        assert.equal(podGpus(spec([gpus(1)], [gpus(2)]), GPU), 2);
        assert.equal(podGpus(spec([gpus(2)], [gpus(1)]), GPU), 2);
    });

    it("adds a sidecar (an init container with restartPolicy Always) to the app containers", () => {
        assert.equal(podGpus(spec([gpus(1)], [gpus(1, { restartPolicy: "Always" })]), GPU), 2);
    });

    it("takes the request when a container has no limit", () => {
        assert.equal(podGpus(spec([{ resources: { requests: { [GPU]: "2" } } }]), GPU), 2);
    });
});

describe("tallyGpusAtMaxScale", () => {
    const resourcesOf = (inputs: readonly StackInput[]) =>
        inputs.map((i) => ({ type: i.type, urn: urnOf(i.type, i.name), name: i.name, props: analyzerProps(i.props) }));
    const withoutCanary = (m: ModelFixture, max: number) => servingStack(m, max).filter((r) => r.type !== T.canary);

    it("counts the HPA's maxReplicas twice where a Flagger Canary runs primary and canary side by side", () => {
        assert.deepEqual(tallyGpusAtMaxScale(resourcesOf(servingStack(TAGGER, 3)), GPU), {
            totalGpus: 6,
            contributions: [
                {
                    workload: 'Deployment "models/product-image-tagger"',
                    urn: urnOf(T.deployment, "product-image-tagger-deployment"),
                    gpusPerPod: 1,
                    pods: 6,
                    scale: 'HorizontalPodAutoscaler "models/product-image-tagger" maxReplicas 3, doubled: Canary "models/product-image-tagger" runs primary and canary side by side',
                    gpus: 6,
                },
            ],
            unbounded: [],
        });
    });

    it("counts maxReplicas once without a Canary, and leaves out workloads without GPUs", () => {
        const tally = tallyGpusAtMaxScale(resourcesOf([...withoutCanary(TAGGER, 3), ...servingStack(FRAUD, 10)]), GPU);
        assert.equal(tally.totalGpus, 3);
        assert.deepEqual(
            tally.contributions.map((c) => [c.workload, c.pods, c.scale]),
            [['Deployment "models/product-image-tagger"', 3, 'HorizontalPodAutoscaler "models/product-image-tagger" maxReplicas 3']],
        );
    });

    it("uses the primary's own maximum when the Canary sets primaryScalerReplicas", () => {
        const stack = servingStack(TAGGER, 3).map((r) =>
            r.type === T.canary
                ? { ...r, props: changed(modelCanary(TAGGER), (c) => (c.spec.autoscalerRef.primaryScalerReplicas = { minReplicas: 2, maxReplicas: 5 })) }
                : r,
        );
        const [contribution] = tallyGpusAtMaxScale(resourcesOf(stack), GPU).contributions;
        assert.equal(contribution?.pods, 8);
        assert.equal(
            contribution?.scale,
            'HorizontalPodAutoscaler "models/product-image-tagger" maxReplicas 3 for the canary + primaryScalerReplicas.maxReplicas 5 for the primary of Canary "models/product-image-tagger"',
        );
    });

    it("falls back to spec.replicas, then to 1, without an HPA", () => {
        const withReplicas = changed(modelDeployment(TAGGER), (d) => (d.spec.replicas = 4));
        const tally = tallyGpusAtMaxScale(
            resourcesOf([
                { type: T.deployment, name: "a", props: withReplicas },
                { type: T.deployment, name: "b", props: changed(modelDeployment({ ...TAGGER, name: "b" }), () => undefined) },
            ]),
            GPU,
        );
        assert.deepEqual(
            tally.contributions.map((c) => [c.pods, c.scale]),
            [
                [4, "spec.replicas 4"],
                [1, "spec.replicas not set: 1"],
            ],
        );
        assert.equal(tally.totalGpus, 5);
    });

    it("does not count an HPA of another namespace or another Deployment", () => {
        const otherNamespace = changed(modelHpa(TAGGER, 50), (h) => (h.metadata.namespace = "sandbox"));
        const otherTarget = changed(modelHpa(TAGGER, 50), (h) => (h.spec.scaleTargetRef.name = "someone-else"));
        const tally = tallyGpusAtMaxScale(
            resourcesOf([
                { type: T.deployment, name: "d", props: modelDeployment(TAGGER) },
                { type: T.hpa, name: "h1", props: otherNamespace },
                { type: T.hpa, name: "h2", props: otherTarget },
            ]),
            GPU,
        );
        assert.equal(tally.totalGpus, 1);
    });

    it("counts Jobs by parallelism, CronJobs by their job's parallelism, and a Pod once", () => {
        const pod = { spec: { containers: [{ name: "c", image: "x:1", resources: { limits: { [GPU]: "2" } } }] } };
        const tally = tallyGpusAtMaxScale(
            resourcesOf([
                { type: T.job, name: "train", props: { spec: { parallelism: 3, template: pod } } },
                { type: T.cronJob, name: "nightly", props: { spec: { jobTemplate: { spec: { template: pod } } } } },
                { type: T.pod, name: "debug", props: pod },
            ]),
            GPU,
        );
        assert.deepEqual(
            tally.contributions.map((c) => [c.workload, c.gpus, c.scale]),
            [
                ['Job "train"', 6, "spec.parallelism 3"],
                ['CronJob "nightly"', 2, "spec.jobTemplate.spec.parallelism not set: 1"],
                ['Pod "debug"', 2, "a single pod"],
            ],
        );
        assert.equal(tally.totalGpus, 10);
    });

    it("reports what it cannot bound instead of guessing: a DaemonSet, an unknown maxReplicas, unknown GPU counts", () => {
        const daemonSet = changed(modelDeployment(TAGGER), (d) => (d.metadata.name = "gpu-agent"));
        const unknownMax = changed(modelHpa(TAGGER, 3), (h) => (h.spec.maxReplicas = UNKNOWN));
        const unknownGpus = changed(modelDeployment({ ...TAGGER, name: "mystery" }), (d) => (container(d).resources.limits[GPU] = UNKNOWN));
        const tally = tallyGpusAtMaxScale(
            resourcesOf([
                { type: T.daemonSet, name: "agent", props: daemonSet },
                { type: T.deployment, name: "d", props: modelDeployment(TAGGER) },
                { type: T.hpa, name: "h", props: unknownMax },
                { type: T.deployment, name: "m", props: unknownGpus },
            ]),
            GPU,
        );
        assert.deepEqual(tally, {
            totalGpus: 0,
            contributions: [],
            unbounded: [
                {
                    workload: 'DaemonSet "models/gpu-agent"',
                    urn: urnOf(T.daemonSet, "agent"),
                    reason: "a DaemonSet runs one pod on every matching node, a number the stack does not bound",
                },
                {
                    workload: 'Deployment "models/product-image-tagger"',
                    urn: urnOf(T.deployment, "d"),
                    reason: 'HorizontalPodAutoscaler "models/product-image-tagger" maxReplicas is unknown during preview',
                },
                {
                    workload: 'Deployment "models/mystery"',
                    urn: urnOf(T.deployment, "m"),
                    reason: "its containers' nvidia.com/gpu are unknown during preview or not whole numbers",
                },
            ],
        });
    });
});

describe("gpu-budget", () => {
    const config: GpuBudgetConfig = { gpuBudget: 6, gpuResourceName: GPU };
    const second: ModelFixture = { ...TAGGER, name: "speech-to-text", registeredModel: "speech_to_text", gpus: 2 };

    it("passes a stack within the budget", async () => {
        assert.deepEqual(await stackViolationsOf(gpuBudget, [...servingStack(TAGGER, 3), ...servingStack(FRAUD)], config), []);
    });

    it("reports a stack over the budget, with each workload's contribution", async () => {
        const stack = [...servingStack(TAGGER, 3), ...servingStack(second, 2), ...servingStack(FRAUD)];
        assert.deepEqual(await stackViolationsOf(gpuBudget, stack, config), [
            {
                message:
                    "GPUs at maximum scale: 14, over the budget of 6:\n" +
                    '  - Deployment "models/product-image-tagger": 1 GPU per pod × 6 pods (HorizontalPodAutoscaler "models/product-image-tagger" maxReplicas 3, doubled: Canary "models/product-image-tagger" runs primary and canary side by side) = 6 GPUs\n' +
                    '  - Deployment "models/speech-to-text": 2 GPUs per pod × 4 pods (HorizontalPodAutoscaler "models/speech-to-text" maxReplicas 2, doubled: Canary "models/speech-to-text" runs primary and canary side by side) = 8 GPUs',
            },
        ]);
    });

    it("takes the budget from the config", async () => {
        const stack = [...servingStack(TAGGER, 3), ...servingStack(second, 2)];
        assert.deepEqual(await stackViolationsOf(gpuBudget, stack, { ...config, gpuBudget: 14 }), []);
    });

    it("reports a GPU workload whose maximum scale cannot be bounded, against that workload", async () => {
        const stack = servingStack(TAGGER, 3).map((r) =>
            r.type === T.hpa ? { ...r, props: changed(modelHpa(TAGGER, 3), (h) => (h.spec.maxReplicas = UNKNOWN)) } : r,
        );
        assert.deepEqual(await stackViolationsOf(gpuBudget, stack, config), [
            {
                message:
                    'Deployment "models/product-image-tagger" uses nvidia.com/gpu but its maximum scale cannot be bounded: HorizontalPodAutoscaler "models/product-image-tagger" maxReplicas is unknown during preview',
                resource: "product-image-tagger-deployment",
            },
        ]);
    });
});
