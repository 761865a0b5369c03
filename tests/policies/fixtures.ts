import type { PromotionRecord } from "../../components/labels";
import type { StackInput } from "./analyzerArgs";

/**
 * Compliant resources, shaped the way the program renders them (docs/architecture.md tables,
 * components/labels.ts, components/security.ts). Each test changes one thing.
 */

export const T = {
    deployment: "kubernetes:apps/v1:Deployment",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    daemonSet: "kubernetes:apps/v1:DaemonSet",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    pod: "kubernetes:core/v1:Pod",
    hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    canary: "kubernetes:flagger.app/v1beta1:Canary",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    bucket: "aws:s3/bucket:Bucket",
    sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    rds: "aws:rds/instance:Instance",
} as const;

export const MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.17.2-full";

export const restrictedPod = () => ({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } });
export const restrictedContainer = () => ({
    allowPrivilegeEscalation: false,
    privileged: false,
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
});

export interface ModelFixture {
    readonly name: string;
    readonly registeredModel: string;
    readonly version: string;
    readonly environment: string;
    readonly gpus: number;
    readonly namespace: string;
}

export const FRAUD: ModelFixture = {
    name: "fraud-detector",
    registeredModel: "fraud_detector",
    version: "7",
    environment: "production",
    gpus: 0,
    namespace: "models",
};
export const TAGGER: ModelFixture = {
    name: "product-image-tagger",
    registeredModel: "product_image_tagger",
    version: "3",
    environment: "production",
    gpus: 1,
    namespace: "models",
};

export function modelLabels(m: ModelFixture): Record<string, string> {
    return {
        "app.kubernetes.io/name": m.name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "mlops-platform",
        "app.kubernetes.io/managed-by": "pulumi",
        "mlops.dev/model": m.name,
        "mlops.dev/model-version": m.version,
        "mlops.dev/environment": m.environment,
    };
}

export const RUN_ID = "3f2a9c4e8b7d41f09a6c5e2d1b0f8a73";

export function promotionRecord(m: ModelFixture): PromotionRecord {
    return {
        registeredModel: m.registeredModel,
        version: m.version,
        runId: RUN_ID,
        metrics: { accuracy: 0.95, f1: 0.92 },
        validatedIn: "staging",
        validatedAt: "2026-10-31T16:20:00Z",
        promotedAt: "2026-11-02T09:14:00Z",
        champion: { version: String(Number(m.version) - 1), metrics: { accuracy: 0.94, f1: 0.91 } },
        approvedBy: ["ml-lead", "product-owner"],
    };
}

/** The model server Deployment of components/modelServing (pod spec of modelServing/workload.ts). */
export function modelDeployment(m: ModelFixture = FRAUD) {
    const resources: { requests: Record<string, string>; limits: Record<string, string> } = {
        requests: { cpu: "1", memory: "2Gi" },
        limits: { memory: "2Gi" },
    };
    const placement: Record<string, unknown> = {};
    if (m.gpus > 0) {
        resources.requests["nvidia.com/gpu"] = String(m.gpus);
        resources.limits["nvidia.com/gpu"] = String(m.gpus);
        placement["nodeSelector"] = { "nvidia.com/gpu.present": "true" };
        placement["tolerations"] = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
    }
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: {
            name: m.name,
            namespace: m.namespace,
            labels: modelLabels(m),
            annotations: { "mlops.dev/promotion": JSON.stringify(promotionRecord(m)) },
        },
        spec: {
            selector: { matchLabels: { "app.kubernetes.io/name": m.name } },
            template: {
                metadata: { labels: modelLabels(m) },
                spec: {
                    serviceAccountName: `${m.name}-server`,
                    automountServiceAccountToken: false,
                    securityContext: restrictedPod(),
                    ...placement,
                    containers: [
                        {
                            name: "model-server",
                            image: MLFLOW_IMAGE,
                            command: ["mlflow"],
                            args: [
                                "models",
                                "serve",
                                "-m",
                                `models:/${m.registeredModel}/${m.version}`,
                                "--env-manager",
                                "local",
                                "--host",
                                "0.0.0.0",
                                "--port",
                                "8080",
                            ],
                            env: [
                                { name: "MLFLOW_TRACKING_URI", value: "http://mlflow.mlflow.svc.cluster.local:5000" },
                                { name: "HOME", value: "/tmp" },
                                { name: "MLFLOW_TRACKING_PASSWORD", valueFrom: { secretKeyRef: { name: "mlflow-model-reader", key: "password" } } },
                            ],
                            resources,
                            securityContext: restrictedContainer(),
                            volumeMounts: [{ name: "scratch", mountPath: "/tmp" }],
                        },
                    ],
                    volumes: [{ name: "scratch", emptyDir: {} }],
                },
            },
        },
    };
}

export function modelHpa(m: ModelFixture = FRAUD, maxReplicas = 10) {
    return {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name: m.name, namespace: m.namespace, labels: modelLabels(m) },
        spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: m.name },
            minReplicas: 3,
            maxReplicas,
            metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
        },
    };
}

/** Selects the primary pods: Flagger appends "-primary" to the selector label's value. */
export function modelPdb(m: ModelFixture = FRAUD) {
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: m.name, namespace: m.namespace, labels: modelLabels(m) },
        spec: { selector: { matchLabels: { "app.kubernetes.io/name": `${m.name}-primary` } }, maxUnavailable: 1 },
    };
}

export function modelCanary(m: ModelFixture = FRAUD) {
    return {
        apiVersion: "flagger.app/v1beta1",
        kind: "Canary",
        metadata: { name: m.name, namespace: m.namespace, labels: modelLabels(m), annotations: { "mlops.dev/promotion": JSON.stringify(promotionRecord(m)) } },
        spec: {
            provider: "nginx",
            targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: m.name },
            autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: m.name },
            ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: m.name },
            service: { port: 80, targetPort: 8080 },
            analysis: {
                interval: "1m",
                threshold: 5,
                stepWeights: [1, 5, 25, 50],
                metrics: [
                    { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } },
                    { name: "request-duration", interval: "1m", thresholdRange: { max: 500 } },
                    {
                        name: "model-accuracy",
                        templateRef: { name: "model-accuracy", namespace: "flagger-system" },
                        interval: "1m",
                        thresholdRange: { min: 0.9 },
                    },
                ],
            },
        },
    };
}

/** A model's serving stack as the analyzer sees it at the end of a preview. */
export function servingStack(m: ModelFixture = FRAUD, maxReplicas = 10): StackInput[] {
    return [
        { type: T.deployment, name: `${m.name}-deployment`, props: modelDeployment(m) },
        { type: T.hpa, name: `${m.name}-hpa`, props: modelHpa(m, maxReplicas) },
        { type: T.pdb, name: `${m.name}-pdb`, props: modelPdb(m) },
        { type: T.canary, name: `${m.name}-canary`, props: modelCanary(m) },
    ];
}
