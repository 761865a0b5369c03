import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { type PromotionRecord, selectorLabels } from "../labels";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../security";
import type { CanarySettings } from "./canary";
import type { ExperimentSettings } from "./experiment";
import type { MonitoringSettings } from "./monitoring";
import { type ModelOutputs, SCORING_PORT, telemetryContainer } from "./telemetry";

/**
 * The model server's pod, as pure functions. Every fact about `mlflow models serve` here was seen
 * running MLflow 3.17.2 (see the comments where each is used).
 */

/** One model as ModelServing serves it: a pinned registry version and how to run and roll it out. */
export interface ServedModel {
    /** Names every object of the model's serving stack and its host (`<name>.<domain>`). */
    readonly name: string;
    /** Name in the MLflow model registry. */
    readonly registeredModel: string;
    /** Pinned registry version: `models:/<registeredModel>/<version>`. */
    readonly version: string;
    /** Image with MLflow and the model's dependencies. @default MLFLOW_IMAGE */
    readonly image?: string;
    /**
     * What `/invocations` answers: class probabilities, or labels only. A labels model has no
     * confidence: its confidence checks cannot be configured. @default "probabilities"
     */
    readonly outputs?: ModelOutputs;
    /** Autoscaling bounds of the primary. */
    readonly replicas: { readonly min: number; readonly max: number };
    /** Per pod: CPU and memory requests (memory is also the limit), GPUs (requests equal limits), an optional CPU limit. */
    readonly resources: { readonly cpu: string; readonly memory: string; readonly gpu?: number; readonly cpuLimit?: string };
    /** @default - CANARY_DEFAULTS */
    readonly canary?: CanarySettings;
    /**
     * A standing experiment: a challenger version served beside this one, with a share of the
     * public host's requests and a header that forces either side (modelServing/experiment.ts).
     * @default - none: the declared version serves every request
     */
    readonly experiment?: ExperimentSettings;
    /** How the version is watched after its rollout. @default - MONITORING_DEFAULTS */
    readonly monitoring?: MonitoringSettings;
    /** The declared evidence of this version, for the `mlops.dev/promotion` annotation. @default - none */
    readonly promotion?: {
        readonly evidence: {
            readonly runId: string;
            readonly metrics: Readonly<Record<string, number>>;
            readonly validatedIn?: string;
            readonly validatedAt?: string;
            readonly promotedAt?: string;
            readonly champion?: { readonly version?: string; readonly metrics?: Readonly<Record<string, number>> };
        };
        readonly approvedBy: readonly string[];
    };
}

/** Where GPU pods go: the extended resource they request, the nodes they select and the taints they tolerate. */
export interface GpuPlacement {
    readonly resourceName: string;
    readonly nodeSelector: Readonly<Record<string, string>>;
    readonly tolerations: ReadonlyArray<{
        readonly key: string;
        readonly operator: "Exists" | "Equal";
        readonly value?: string;
        readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
    }>;
}

/** NVIDIA's GPU operator: its resource, the node label its feature discovery sets, and the usual taint of GPU nodes. */
export const GPU_PLACEMENT_DEFAULTS: GpuPlacement = {
    resourceName: "nvidia.com/gpu",
    nodeSelector: { "nvidia.com/gpu.present": "true" },
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
};

/** The port of the Services Flagger creates (`<svc>`, `<svc>-primary`, `<svc>-canary`). */
export const SERVICE_PORT = 80;
/** The scoring server's liveness endpoint (`/health` answers the same). */
export const HEALTH_PATH = "/ping";
/** Where the pod may write: the model download, HOME and TMPDIR all live on this emptyDir. */
export const SCRATCH_PATH = "/tmp";

/**
 * GPUs a model can hold at most: the HPA's maximum for the primary and, because a Flagger analysis
 * runs the canary Deployment (with its own HPA, same bounds) beside the primary, as much again.
 */
export function modelGpusAtMaxScale(replicasMax: number, gpusPerPod: number, canaryAnalysis = true): number {
    return replicasMax * gpusPerPod * (canaryAnalysis ? 2 : 1);
}

/** The declared evidence of the served version, for the `mlops.dev/promotion` annotation. */
/**
 * How a model Deployment rolls its pods: a GPU one replaces them in place (no surge past its GPU
 * budget; the primary can, because Flagger routes all traffic to the canary while it rolls), a CPU
 * one surges a quarter and never drops below its size.
 */
export function rollingUpdate(gpusPerPod: number): k8s.types.input.apps.v1.DeploymentStrategy {
    return gpusPerPod > 0
        ? { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } }
        : { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } };
}

export function promotionRecord(model: ServedModel): PromotionRecord {
    const evidence = model.promotion?.evidence;
    return {
        registeredModel: model.registeredModel,
        version: model.version,
        ...(evidence !== undefined && {
            runId: evidence.runId,
            metrics: { ...evidence.metrics },
            validatedIn: evidence.validatedIn,
            ...(evidence.validatedAt !== undefined && { validatedAt: evidence.validatedAt }),
            ...(evidence.promotedAt !== undefined && { promotedAt: evidence.promotedAt }),
            ...(evidence.champion !== undefined && { champion: structuredClone(evidence.champion) }),
        }),
        approvedBy: [...(model.promotion?.approvedBy ?? [])],
    };
}

/**
 * `mlflow models serve` of exactly the declared registry version, on loopback: requests reach it
 * through the telemetry proxy only.
 */
export function serveArgs(model: Pick<ServedModel, "registeredModel" | "version">): string[] {
    // --env-manager local: the image already holds the model's dependencies; the default
    // (virtualenv) would build an environment at start-up, which a read-only pod cannot.
    return [
        "models",
        "serve",
        "-m",
        `models:/${model.registeredModel}/${model.version}`,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        String(SCORING_PORT),
    ];
}

export interface Probes {
    readonly startupProbe: k8s.types.input.core.v1.Probe;
    readonly livenessProbe: k8s.types.input.core.v1.Probe;
}

/**
 * `mlflow models serve` downloads the model, then starts uvicorn, whose app loads the model before
 * it binds the port; `/ping` therefore answers 200 exactly when the model is loaded (nothing
 * listens before). The startup probe allows `startupSeconds` for the download and load; after it,
 * inference runs in a worker thread, so `/ping` stays quick under load. The kubelet cannot reach
 * loopback, so the probes run in the container (which has Python, not curl). Readiness is the
 * telemetry's: it is ready when this server answers through loopback.
 */
export function probes(startupSeconds: number): Probes {
    const ping = `import urllib.request as u; u.urlopen('http://127.0.0.1:${SCORING_PORT}${HEALTH_PATH}', timeout=4)`;
    const exec = { exec: { command: ["python", "-c", ping] } };
    return {
        startupProbe: { ...exec, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: Math.ceil(startupSeconds / 10) },
        livenessProbe: { ...exec, periodSeconds: 20, timeoutSeconds: 10, failureThreshold: 3 },
    };
}

export interface ResourcesAndPlacement {
    readonly resources: { requests: Record<string, string>; limits: Record<string, string> };
    readonly nodeSelector?: Record<string, string>;
    readonly tolerations?: k8s.types.input.core.v1.Toleration[];
}

/** Requests and limits from the config; a GPU model also gets the GPU nodes' selector and tolerations. */
export function resourcesAndPlacement(resources: ServedModel["resources"], gpu: GpuPlacement): ResourcesAndPlacement {
    const requests: Record<string, string> = { cpu: resources.cpu, memory: resources.memory };
    // Memory is the limit too: a model that grows past its request is killed rather than starving
    // its neighbours. CPU is limited only when asked, to avoid throttling inference.
    const limits: Record<string, string> = { memory: resources.memory, ...(resources.cpuLimit !== undefined && { cpu: resources.cpuLimit }) };
    const gpus = resources.gpu ?? 0;
    if (gpus === 0) return { resources: { requests, limits } };
    // Extended resources cannot be overcommitted: requests must equal limits.
    const gpuName = gpu.resourceName;
    requests[gpuName] = String(gpus);
    limits[gpuName] = String(gpus);
    return {
        resources: { requests, limits },
        nodeSelector: { ...gpu.nodeSelector },
        tolerations: gpu.tolerations.map((t) => ({
            key: t.key,
            operator: t.operator,
            ...(t.value !== undefined && { value: t.value }),
            ...(t.effect !== undefined && { effect: t.effect }),
        })),
    };
}

export interface PodSpecInputs {
    readonly model: ServedModel;
    readonly image: string;
    readonly trackingUri: pulumi.Input<string>;
    readonly serviceAccountName: pulumi.Input<string>;
    readonly gpu: GpuPlacement;
    readonly startupSeconds: number;
    readonly trackingCredentials?: { readonly secretName: pulumi.Input<string>; readonly usernameKey: string; readonly passwordKey: string };
    /** The telemetry container's image and the ConfigMap of its code. */
    readonly telemetry: { readonly image: string; readonly configMapName: pulumi.Input<string> };
}

export function podSpec(i: PodSpecInputs): k8s.types.input.core.v1.PodSpec {
    const { resources, nodeSelector, tolerations } = resourcesAndPlacement(i.model.resources, i.gpu);
    const credentials = i.trackingCredentials;
    return {
        serviceAccountName: i.serviceAccountName,
        // The server never calls the Kubernetes API; IRSA mounts its own projected token.
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: restrictedPodSecurityContext(),
        ...(nodeSelector !== undefined && { nodeSelector }),
        ...(tolerations !== undefined && { tolerations }),
        // Spread replicas over zones; Flagger rewrites this selector to `<name>-primary` on the primary.
        topologySpreadConstraints: [
            {
                maxSkew: 1,
                topologyKey: "topology.kubernetes.io/zone",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: selectorLabels(i.model.name) },
            },
        ],
        containers: [
            {
                name: "model-server",
                image: i.image,
                imagePullPolicy: "IfNotPresent",
                command: ["mlflow"],
                args: serveArgs(i.model),
                env: [
                    { name: "MLFLOW_TRACKING_URI", value: i.trackingUri },
                    // Seen with MLflow 3.17.2 as uid 10001 without a passwd entry and a read-only
                    // root: the download needs a writable temporary directory, nothing else.
                    { name: "HOME", value: SCRATCH_PATH },
                    { name: "TMPDIR", value: SCRATCH_PATH },
                    ...(credentials === undefined
                        ? []
                        : [
                              { name: "MLFLOW_TRACKING_USERNAME", valueFrom: { secretKeyRef: { name: credentials.secretName, key: credentials.usernameKey } } },
                              { name: "MLFLOW_TRACKING_PASSWORD", valueFrom: { secretKeyRef: { name: credentials.secretName, key: credentials.passwordKey } } },
                          ]),
                ],
                ...probes(i.startupSeconds),
                resources,
                securityContext: restrictedContainerSecurityContext(true),
                volumeMounts: [{ name: "scratch", mountPath: SCRATCH_PATH }],
            },
            telemetryContainer({
                image: i.telemetry.image,
                registeredModel: i.model.registeredModel,
                trackingUri: i.trackingUri,
                ...(credentials !== undefined && { trackingCredentials: credentials }),
                scratchVolume: "scratch",
                packageVolume: "telemetry",
            }),
        ],
        volumes: [
            { name: "scratch", emptyDir: {} },
            { name: "telemetry", configMap: { name: i.telemetry.configMapName, defaultMode: 0o444 } },
        ],
    };
}
