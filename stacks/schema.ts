import { z } from "zod";
import { CLUSTER_ISSUER_KINDS } from "../components/certManager";
import { ALERT_PROVIDER_TYPES } from "../components/flagger";
import { MODEL_OUTPUTS, SERVING_PROVIDERS } from "../components/modelServing";
import { showValue } from "./errors";
import { bool, decimal, dictionary, expected, integer, list, mapping, oneOf, PATTERNS, pinnedImage, quantity, taggedImage, text } from "./fields";

/**
 * What a user may write under `mlops-platform:` in `Pulumi.<stack>.yaml`. Optional keys are
 * filled in by `defaults.ts` where they differ per environment, and by the components otherwise;
 * the descriptions here are the configuration reference (the README's tables and
 * `stacks/stack-file.schema.json` are generated from them). Where a value is what a component
 * supports (mesh providers, issuers, alert services), the component's own list is offered.
 */

export const ENVIRONMENTS = ["staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The mesh providers a stack may name: those whose routing ModelServing sets up end to end. */
export const MESH_PROVIDERS = SERVING_PROVIDERS;
export type MeshProvider = (typeof MESH_PROVIDERS)[number];

// Bounded by the largest machines a pod can be scheduled on (hundreds of cores, tens of TiB), so a
// stray exponent ("999999999Ei") is refused here rather than left Pending forever.
const cpu = () => quantity('a CPU quantity such as "500m" or "2"', { value: 1024, text: '"1024" (cores)' });
const memory = () => quantity('a memory quantity such as "512Mi" or "2Gi"', { value: 32 * 2 ** 40, text: '"32Ti"' });

const cluster = mapping({
    oidcProviderArn: text(PATTERNS.oidcProviderArn, "the ARN of the cluster's IAM OIDC provider")
        .optional()
        .describe("ARN of the cluster's IAM OIDC provider; every workload gets AWS access through IRSA roles trusted by it (needed by artifacts.mode s3)."),
    // At most 200 characters, so that every host under it (`<model>.<domain>`, `mlflow.<domain>`) is a DNS name too.
    domain: text(PATTERNS.dnsName, 'a DNS name such as "ml.example.com"')
        .max(200, { error: expected('a DNS name of at most 200 characters such as "ml.example.com"') })
        .describe("DNS zone under which the platform's hosts live (mlflow.<domain>, argocd.<domain>, <model>.<domain>)."),
    ingressClass: text(PATTERNS.k8sName, "the name of an IngressClass").optional().describe("IngressClass of every Ingress."),
    ingressControllerNamespace: text(PATTERNS.k8sName, "a namespace name")
        .optional()
        .describe("Namespace of the ingress controller's pods: the only source the platform's web servers admit."),
    gateway: mapping({
        name: text(PATTERNS.k8sName, "the name of a Gateway").describe("Gateway name."),
        namespace: text(PATTERNS.k8sName, "a namespace name").describe("Namespace of the Gateway."),
    })
        .optional()
        .describe(
            "Existing Gateway that serves model hosts (<model>.<domain>) and terminates their TLS: an Istio Gateway (flagger.meshProvider istio) or a Gateway API Gateway (gatewayapi:v1, gatewayapi:v1beta1).",
        ),
    awaitReadiness: bool()
        .optional()
        .describe(
            "Wait for workloads to become ready during pulumi up. false (pulumi.com/skipAwait on every object) only for clusters where nothing is scheduled, such as a CI control plane without nodes.",
        ),
    kubeContext: z
        .string({ error: expected("a kubeconfig context name") })
        .min(1)
        .optional()
        .describe("kubeconfig context to deploy to."),
    vpcId: text(PATTERNS.vpcId, 'a VPC id such as "vpc-0a1b2c3d"').optional().describe("VPC of the cluster (needed by postgres.mode rds)."),
    privateSubnetIds: list(text(PATTERNS.subnetId, 'a subnet id such as "subnet-0a1b2c3d"'), "a list of private subnet ids", 2)
        .optional()
        .describe("Private subnets, in at least two availability zones, for the database (needed by postgres.mode rds)."),
    nodeSecurityGroupId: text(PATTERNS.securityGroupId, 'a security group id such as "sg-0a1b2c3d"')
        .optional()
        .describe("Security group of the cluster's nodes: the only source allowed to reach the database (needed by postgres.mode rds)."),
});

const artifacts = mapping({
    mode: oneOf(["s3", "in-cluster"])
        .optional()
        .describe(
            "s3: an AWS S3 bucket with IRSA roles; in-cluster: an S3-compatible store (Versity S3 Gateway) in the cluster, for clusters without a cloud account.",
        ),
    storageGb: integer(1, 65536).optional().describe("Size of the in-cluster store's volume, in GiB (in-cluster only)."),
    storageClass: text(PATTERNS.k8sName, "the name of a StorageClass").optional().describe("StorageClass of the in-cluster store's volume (in-cluster only)."),
    noncurrentVersionExpirationDays: integer(1, 3650).optional().describe("Days an overwritten or deleted artifact version is kept."),
    abortIncompleteUploadDays: integer(1, 365).optional().describe("Days after which an unfinished multipart upload is aborted."),
    retainOnDelete: bool().optional().describe("Keep the bucket and its key when the stack is destroyed."),
});

const postgres = mapping({
    mode: oneOf(["rds", "in-cluster"]).optional().describe("rds: an AWS RDS instance; in-cluster: a StatefulSet with a volume."),
    instanceClass: text(PATTERNS.rdsInstanceClass, 'an RDS instance class such as "db.t4g.medium"').optional().describe("RDS instance class (rds only)."),
    allocatedStorageGb: integer(20, 65536).optional().describe("Storage in GiB (the RDS allocation, or the volume's size in-cluster)."),
    multiAz: bool().optional().describe("Run a standby in another availability zone (rds only)."),
    deletionProtection: bool().optional().describe("Refuse to delete the database (rds only)."),
    backupRetentionDays: integer(1, 35).optional().describe("Days of automated backups (rds only)."),
    storageClass: text(PATTERNS.k8sName, "the name of a StorageClass").optional().describe("StorageClass of the volume (in-cluster only)."),
});

const mlflow = mapping({
    host: text(PATTERNS.dnsName, 'a DNS name such as "mlflow.ml.example.com"').optional().describe("Public host of the tracking server."),
    replicas: integer(1, 20).optional().describe("Tracking server replicas."),
    workers: integer(1, 32).optional().describe("Server worker processes per replica."),
    resources: mapping({ cpu: cpu().describe("CPU requested per replica."), memory: memory().describe("Memory requested per replica, and its limit.") })
        .optional()
        .describe("CPU and memory per replica."),
    basicAuth: bool()
        .optional()
        .describe(
            "MLflow's built-in authentication (basic-auth app, users kept in the backend database). false only behind another authenticating proxy (see the README's MLflow authentication), and the policy pack must be told (mlflow-authentication).",
        ),
});

const certManager = mapping({
    enabled: bool()
        .optional()
        .describe("Install cert-manager and its ClusterIssuer; when false, Ingress TLS Secrets (<name>-tls) are provided by whoever runs the cluster."),
    issuer: oneOf(CLUSTER_ISSUER_KINDS).optional().describe("ClusterIssuer that signs every Ingress certificate."),
    acmeEmail: text(PATTERNS.email, "an e-mail address").optional().describe("ACME account e-mail (letsencrypt issuers)."),
});

const argocd = mapping({
    enabled: bool().optional().describe("Install Argo CD (needed by delivery.mode gitops)."),
    host: text(PATTERNS.dnsName, 'a DNS name such as "argocd.ml.example.com"').optional().describe("Public host of the Argo CD UI and API."),
    ha: bool().optional().describe("High-availability install: replicated server, repo server and Redis HA."),
    sso: mapping({
        issuer: text(PATTERNS.httpsUrl, "an https URL of an OIDC issuer").describe("OIDC issuer URL."),
        clientId: z
            .string({ error: expected("an OIDC client id") })
            .min(1, { error: expected("an OIDC client id") })
            .describe("OIDC client id."),
        clientSecretRef: mapping({
            name: text(PATTERNS.k8sName, "the name of a Secret in the argocd namespace").describe("Secret name (labelled app.kubernetes.io/part-of: argocd)."),
            key: text(/^[-._a-zA-Z0-9]+$/, "a key of that Secret").describe("Key of the client secret in it."),
        }).describe("Secret (in the argocd namespace) holding the OIDC client secret; its value never passes through Pulumi."),
    })
        .optional()
        .describe("Single sign-on through OIDC; when set, the local admin login is turned off."),
});

const flagger = mapping({
    install: bool()
        .optional()
        .describe(
            "Install Flagger and its load tester from their charts; when false, Flagger's CRDs and MetricTemplates are still applied, so Canaries wait for a Flagger.",
        ),
    meshProvider: oneOf(MESH_PROVIDERS)
        .optional()
        .describe("Service mesh or ingress controller Flagger shifts traffic with (istio and gatewayapi need cluster.gateway)."),
    metricsServer: text(PATTERNS.httpUrl, "an http(s) URL of a Prometheus server").optional().describe("Prometheus that holds the request and model metrics."),
    alerts: mapping({
        type: oneOf(ALERT_PROVIDER_TYPES).describe("Chat service Flagger posts to."),
        channel: z
            .string({ error: expected("a channel name") })
            .min(1)
            .optional()
            .describe("Channel to post in."),
        secretName: text(PATTERNS.k8sName, "the name of a Secret holding the webhook address").describe(
            "Secret in the models namespace with an `address` key (the webhook URL).",
        ),
    })
        .optional()
        .describe("Where Flagger reports canary progress and rollbacks."),
});

const prometheus = mapping({
    operator: bool()
        .optional()
        .describe(
            "The cluster runs the Prometheus Operator: model pods are found through PodMonitors and alerting rules are PrometheusRules; otherwise scrape annotations and rule-file ConfigMaps.",
        ),
    resourceLabels: dictionary(text(PATTERNS.labelKey, "a label key"), text(PATTERNS.labelValue, "a label value"), "a mapping of labels")
        .optional()
        .describe("Labels the operator's Prometheus selects PodMonitors and PrometheusRules by (its podMonitorSelector and ruleSelector)."),
    namespace: text(PATTERNS.k8sName, "a namespace name")
        .optional()
        .describe(
            "Namespace of the Prometheus pods that scrape the platform: the only source NetworkPolicies admit to metrics ports (required when flagger.metricsServer is not an in-cluster address http://<service>.<namespace>.svc…).",
        ),
});

const toleration = mapping({
    key: text(PATTERNS.labelKey, "a taint key").describe("Taint key."),
    operator: oneOf(["Exists", "Equal"]).describe("Exists, or Equal to value."),
    value: text(PATTERNS.labelValue, "a taint value").optional().describe("Taint value (operator Equal)."),
    effect: oneOf(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("Taint effect tolerated."),
});

const gpu = mapping({
    resourceName: text(PATTERNS.resourceName, 'an extended resource name such as "nvidia.com/gpu"')
        .optional()
        .describe("Extended resource GPUs are requested as."),
    nodeSelector: dictionary(text(PATTERNS.labelKey, "a node label key"), text(PATTERNS.labelValue, "a node label value"), "a mapping of node labels")
        .optional()
        .describe("Node labels a GPU pod must be scheduled on."),
    tolerations: list(toleration, "a list of tolerations").optional().describe("Tolerations of the GPU nodes' taints."),
});

// Several target clusters per environment (issue 15): the rules between keys are in clusters.ts.
const targetCluster = mapping({
    name: text(PATTERNS.clusterName, "a cluster name: lower-case letters, digits and -, starting with a letter, at most 20 characters").describe(
        "The cluster's name: its directory under <delivery.path>/<stack>/, its Argo CD cluster name and its mlops.dev/cluster label.",
    ),
    destination: mapping({
        server: text(PATTERNS.httpsUrl, 'the https URL of a Kubernetes API server such as "https://kubernetes.default.svc"')
            .optional()
            .describe("API server URL Argo CD deploys to (https://kubernetes.default.svc is the cluster Argo CD runs in)."),
        name: text(PATTERNS.k8sName, "the name of a cluster registered in Argo CD")
            .optional()
            .describe("Or: the name of a cluster already registered in Argo CD."),
    })
        .refine((d) => (d.server === undefined) !== (d.name === undefined), { error: expected("exactly one of server or name") })
        .describe("Where Argo CD deploys this cluster's workloads: exactly one of server or name."),
    region: text(PATTERNS.labelValue, 'a region such as "eu-west-1" or "on-prem-paris"')
        .optional()
        .describe("Where the cluster is (shown by the preview and status)."),
    labels: dictionary(text(PATTERNS.labelKey, "a label key"), text(PATTERNS.labelValue, "a label value"), "a mapping of labels")
        .optional()
        .describe("Labels of the cluster's Argo CD cluster Secret (for cluster generators and RBAC)."),
    gpu: gpu.optional().describe("GPU placement on this cluster, over the stack's gpu keys."),
    replicas: mapping({
        min: integer(1, 100).optional().describe("No model runs fewer pods on this cluster."),
        max: integer(1, 100).optional().describe("No model runs more pods on this cluster."),
    })
        .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, { error: expected("min at most max") })
        .optional()
        .describe("Bounds every model's replicas are clamped into on this cluster (a small on-premises cluster, say)."),
});

const clusterCredential = mapping({
    bearerToken: z
        .string({ error: expected("a bearer token") })
        .min(1, { error: expected("a bearer token") })
        .optional()
        .describe("Token of a service account Argo CD deploys with."),
    caData: text(/^[A-Za-z0-9+/]+={0,2}$/, "the base64 of the API server's CA certificate (PEM)")
        .optional()
        .describe("Base64 of the API server's CA certificate (PEM)."),
    awsAuth: mapping({
        clusterName: text(PATTERNS.k8sName, "an EKS cluster name").describe("EKS cluster name."),
        roleArn: text(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, "an IAM role ARN").describe("Role Argo CD assumes to reach the cluster."),
    })
        .optional()
        .describe("Or: reach an EKS cluster through an IAM role (Argo CD's awsAuthConfig)."),
}).refine((c) => (c.bearerToken === undefined) !== (c.awsAuth === undefined), {
    // Never the value: it holds a token.
    error: (issue) => {
        const given = typeof issue.input === "object" && issue.input !== null ? issue.input : {};
        return `expected exactly one of bearerToken or awsAuth, got ${"bearerToken" in given && "awsAuth" in given ? "both" : "neither"}`;
    },
});

const delivery = mapping({
    mode: oneOf(["direct", "gitops"]).optional().describe("direct: Pulumi applies model workloads; gitops: Pulumi renders them for Argo CD to sync."),
    repoUrl: text(PATTERNS.gitUrl, "a git URL (https://, ssh:// or git@)")
        .optional()
        .describe("Git repository Argo CD syncs rendered workloads from (gitops)."),
    targetRevision: z
        .string({ error: expected("a branch, tag or commit") })
        .min(1)
        .optional()
        .describe("Revision Argo CD tracks (gitops)."),
    path: text(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a relative directory such as "deploy"')
        .optional()
        .describe("Directory of the rendered workloads in the repository: <path>/<stack>/<model> (gitops)."),
});

const canary = mapping({
    stepWeights: list(integer(1, 100), "a list of traffic weights in percent", 1)
        .optional()
        .describe("Traffic the canary gets at each step, ascending, in percent."),
    interval: text(PATTERNS.duration, 'a duration such as "30s", "1m" or "2h"').optional().describe("Time between analysis runs."),
    threshold: integer(1, 100).optional().describe("Failed checks before Flagger rolls back."),
    maxLatencyMs: integer(1, 600000).optional().describe("Highest acceptable p99 request duration, in milliseconds."),
    minSuccessRate: decimal(0, 100).optional().describe("Lowest acceptable non-5xx request rate, in percent."),
    quality: mapping({
        minAccuracy: decimal(0, 1).optional().describe("Lowest acceptable online accuracy."),
        maxDriftScore: decimal(0, 1).optional().describe("Highest acceptable feature drift score."),
        minConfidence: decimal(0, 1).optional().describe("Lowest acceptable mean prediction confidence."),
    })
        .optional()
        .describe("Model-quality checks, through the platform's MetricTemplates."),
    acceptanceRequest: z
        .string({ error: expected("a JSON request body for /invocations") })
        .refine(isJsonObject, { error: expected("a JSON object for /invocations") })
        .optional()
        .describe('Body the pre-rollout acceptance test posts to /invocations, e.g. {"inputs": [[0.1, 0.2]]}.'),
    loadTest: mapping({
        rps: integer(1, 10000).optional().describe("Requests per second during the analysis."),
        enabled: bool().optional().describe("Send load during the analysis."),
    })
        .optional()
        .describe("Traffic Flagger's load tester sends to the canary during the analysis."),
    abTesting: mapping({
        header: text(PATTERNS.headerName, "an HTTP header name").optional().describe("Header that routes a request to the canary."),
        value: z
            .string({ error: expected("a header value") })
            .min(1)
            .optional()
            .describe("Header value that routes to the canary."),
        iterations: integer(1, 1000).optional().describe("Analysis runs before promotion."),
    })
        .optional()
        .describe("A/B testing: route requests carrying the header to the canary instead of shifting weights."),
    mirror: bool().optional().describe("Shadow testing: mirror primary traffic to the canary for one analysis run before shifting weights (istio only)."),
    mirrorWeight: integer(1, 100).optional().describe("Percent of the primary's traffic mirrored to the canary (mirror only)."),
});

const monitoringDuration = () => text(/^[1-9][0-9]*(m|h)$/, 'a duration in minutes or hours such as "5m" or "1h"');
const threshold = (what: string, worse: "above" | "below") =>
    mapping({
        alert: decimal(0, 1).describe(`Alert when ${what} is ${worse} this.`),
        rollback: decimal(0, 1).optional().describe(`Roll the declared version back when ${what} is ${worse} this (worse than alert).`),
    });

const monitoring = mapping({
    checkInterval: monitoringDuration().optional().describe("How often the rules are evaluated and the scheduled monitor runs."),
    window: monitoringDuration().optional().describe("The window each signal is averaged over."),
    minSamples: integer(1, 100000).optional().describe("Samples a signal needs in the window before it is judged (fewer: cannot judge, never a rollback)."),
    drift: threshold("the feature drift score (0..1)", "above").optional().describe("Feature drift thresholds."),
    accuracy: threshold("live accuracy (0..1)", "below").optional().describe("Live accuracy floors."),
    confidence: threshold("mean prediction confidence (0..1)", "below").optional().describe("Mean confidence floors."),
    errorRate: threshold("the share of /invocations answered 5xx (0..1)", "above").optional().describe("Error rate ceilings."),
});

/**
 * Metrics that are ratios whatever the model: a value outside 0..1 is a typo (accuracy 2 for 0.2),
 * or a percentage, which the thresholds (0..1) would then compare against wrongly.
 */
export const RATIO_METRICS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "roc_auc", "pr_auc"] as const;

const metrics = () =>
    dictionary(text(PATTERNS.metricName, "a metric name"), z.number({ error: expected("a number") }), "a mapping of metric names to numbers").superRefine(
        (values, ctx) => {
            for (const name of RATIO_METRICS) {
                const value = values[name];
                if (value !== undefined && !(value >= 0 && value <= 1)) {
                    ctx.addIssue({ code: "custom", path: [name], message: `expected a number from 0 to 1 (${name} is a ratio), got ${showValue(value)}` });
                }
            }
        },
    );

const evidence = mapping({
    runId: text(PATTERNS.runId, "an MLflow run id (32 hexadecimal characters)").describe("Run that produced the model version."),
    metrics: metrics().describe("The run's evaluation metrics, as the registry holds them."),
    validatedIn: oneOf(ENVIRONMENTS).optional().describe("Environment where this version was validated before (none for a first environment)."),
    validatedAt: z.iso
        .datetime({ error: expected("an ISO-8601 date-time") })
        .optional()
        .describe("When the version's rollout in validatedIn succeeded: the registry's mlops.validated.<environment> tag."),
    promotedAt: z.iso
        .datetime({ error: expected("an ISO-8601 date-time") })
        .optional()
        .describe("When the promotion was made."),
    champion: mapping({
        version: text(PATTERNS.registryVersion, 'a pinned registry version such as "7"')
            .optional()
            .describe("The version served when this one was promoted (none: the environment served no version of the model)."),
        metrics: metrics().optional().describe("The champion's metrics, as the registry holds them."),
    })
        .optional()
        .describe(
            "What this version was compared with: the version the environment served, and its metrics (no regression beyond the policy's maxRegression).",
        ),
});

/** A value of an experiment's header: a token any router matches exactly. */
const experimentHeaderValue = () => text(/^[A-Za-z0-9._~-]{1,64}$/, "a header value of 1–64 letters, digits or . _ ~ -");

const experiment = mapping({
    challenger: mapping({
        version: text(PATTERNS.registryVersion, 'a pinned registry version such as "9" (never "latest" or an alias)').describe(
            "Pinned registry version served beside the declared (champion) version.",
        ),
    }).describe("The challenger version."),
    weight: integer(1, 99).describe("Percent of the model's requests the challenger serves (1–99); the champion serves the rest."),
    header: mapping({
        name: text(PATTERNS.headerName, "an HTTP header name").optional().describe("Header that forces a side (default X-Deployment-Context)."),
        challenger: experimentHeaderValue().optional().describe('Header value that routes to the challenger (default "challenger").'),
        champion: experimentHeaderValue().optional().describe("Header value that routes to the champion (default: none)."),
    })
        .optional()
        .describe("The header that forces a request to one side, whatever the weight."),
});

export const modelSchema = mapping({
    registeredModel: text(PATTERNS.registeredModel, "a registered model name (letters, digits, _ . -)").describe("Name in the MLflow model registry."),
    version: text(PATTERNS.registryVersion, 'a pinned registry version such as "7" (never "latest" or an alias)').describe(
        "Pinned registry version served in this environment.",
    ),
    image: pinnedImage("a container image pinned to a tag (not latest) or a digest")
        .optional()
        .describe("Image with MLflow and the model's dependencies (pyfunc flavour, --env-manager local)."),
    outputs: oneOf(MODEL_OUTPUTS)
        .optional()
        .describe('What /invocations answers: "probabilities" (predict_proba; the default) or "labels" (then no confidence is published or checked).'),
    replicas: mapping({
        min: integer(1, 100).describe("Fewest serving pods."),
        max: integer(1, 100).describe("Most serving pods; a canary analysis runs as many again."),
    })
        .optional()
        .describe("Autoscaling bounds of the primary."),
    resources: mapping({
        cpu: cpu().describe("CPU requested per pod."),
        memory: memory().describe("Memory requested per pod, and its limit."),
        gpu: integer(0, 16).optional().describe("GPUs per pod (requests equal limits)."),
        cpuLimit: cpu().optional().describe("CPU limit (inference is not throttled unless asked)."),
    }).describe("Resources per pod."),
    canary: canary.optional().describe("How Flagger rolls out a new version."),
    monitoring: monitoring.optional().describe("How the serving version's live quality is watched after its rollout: alerting rules, and npm run monitor."),
    promotion: mapping({
        evidence,
        approvedBy: list(text(PATTERNS.approver, "an approver name"), "a list of approvers").describe("Who approved the promotion."),
    })
        .optional()
        .describe("Evidence of the declared version (required in production by the policy pack)."),
    experiment: experiment
        .optional()
        .describe(
            "A standing experiment: a challenger version served beside this one with a share of the requests and a header route (istio and gatewayapi; ended by a commit that promotes or deletes it).",
        ),
}).superRefine(refuseChallengerAsChampion);

const images = mapping({
    mlflow: taggedImage().optional().describe("MLflow (with psycopg2 and boto3): the tracking server, its Jobs, and every model without models.<name>.image."),
    postgres: taggedImage().optional().describe("The official postgres image, Debian variant (postgres.mode in-cluster)."),
    objectStore: taggedImage().optional().describe("Versity S3 Gateway (artifacts.mode in-cluster)."),
    argocd: mapping({
        argocd: taggedImage().optional().describe("Argo CD (every Argo CD component)."),
        redis: taggedImage().optional().describe("Redis (and redis-ha's Redis in HA)."),
        haproxy: taggedImage().optional().describe("redis-ha's HAProxy (HA only)."),
    })
        .optional()
        .describe("Images of the argo-cd chart."),
    flagger: mapping({
        flagger: taggedImage().optional().describe("Flagger."),
        prometheus: taggedImage().optional().describe("Flagger's bundled Prometheus (without flagger.metricsServer)."),
        loadTester: taggedImage().optional().describe("Flagger's load tester."),
    })
        .optional()
        .describe("Images of the flagger and loadtester charts."),
    certManager: mapping({
        controller: taggedImage().optional().describe("cert-manager's controller."),
        webhook: taggedImage().optional().describe("cert-manager's webhook."),
        cainjector: taggedImage().optional().describe("cert-manager's CA injector."),
        acmesolver: taggedImage().optional().describe("cert-manager's ACME HTTP-01 solver."),
        startupapicheck: taggedImage().optional().describe("cert-manager's startup API check."),
    })
        .optional()
        .describe("Images of the cert-manager chart."),
});

/** A secret value: its errors say what is wrong without repeating it. */
const credential = (what: string) => {
    const wanted = `${what} of at least 16 letters and digits`;
    const got = (issue: { input?: unknown }) =>
        `expected ${wanted}, got ${typeof issue.input === "string" ? `a value of ${issue.input.length} characters (not shown)` : showValue(issue.input)}`;
    return z
        .string({ error: got })
        .min(16, { error: got })
        .regex(/^[A-Za-z0-9]+$/, { error: got });
};

/** Credentials a team provides instead of having Pulumi generate them (the random provider); each a config secret. */
const credentials = mapping({
    postgresPassword: credential("a password").optional().describe("Password of the in-cluster database's mlflow user."),
    mlflowAdminPassword: credential("a password").optional().describe("Password of MLflow's admin user (basic auth)."),
    mlflowFlaskSecretKey: credential("a secret key").optional().describe("MLflow's Flask secret key, shared by every worker and replica (basic auth)."),
    registryReaderPassword: credential("a password").optional().describe("Password of MLflow's read-only user for model servers (basic auth)."),
    objectStoreAccessKeyId: credential("an access key id").optional().describe("Root access key id of the in-cluster object store."),
    objectStoreSecretAccessKey: credential("a secret key").optional().describe("Root secret key of the in-cluster object store."),
});

/** The keys under `mlops-platform:`; each value already decoded from the stack file. */
export const stackSchema = mapping({
    environment: oneOf(ENVIRONMENTS).describe("Which environment this stack is; selects its defaults and policy config."),
    cluster: cluster.describe("The existing Kubernetes cluster and AWS network the platform runs in."),
    artifacts: artifacts.optional().describe("The S3 artifact store."),
    postgres: postgres.optional().describe("MLflow's backend database."),
    mlflow: mlflow.optional().describe("The MLflow tracking server and model registry."),
    certManager: certManager.optional().describe("cert-manager and the ClusterIssuer of every Ingress certificate."),
    argocd: argocd.optional().describe("Argo CD."),
    flagger: flagger.optional().describe("Flagger and its load tester."),
    gpu: gpu.optional().describe("Where GPU workloads are scheduled."),
    prometheus: prometheus.optional().describe("How the cluster's Prometheus finds model pods and alerting rules."),
    delivery: delivery.optional().describe("How model workloads reach the cluster."),
    clusters: list(targetCluster, "a list of clusters", 1)
        .superRefine(refuseDuplicateClusterNames)
        .optional()
        .describe("The clusters this environment serves its models on; more than one needs delivery.mode gitops (an ApplicationSet per model fans it out)."),
    clusterCredentials: dictionary(text(PATTERNS.clusterName, "the name of a declared cluster"), clusterCredential, "a mapping of cluster names to credentials")
        .optional()
        .describe(
            "How Argo CD reaches each remote cluster, one config secret: `pulumi config set --secret --path 'mlops-platform:clusterCredentials.<cluster>.bearerToken' <token>`.",
        ),
    images: images
        .optional()
        .describe(
            "Every image the platform runs or sets in chart values, as repository:tag or repository:tag@sha256:<digest> (see the README's Images by digest).",
        ),
    credentials: credentials
        .optional()
        .describe(
            "Credentials set with `pulumi config set --secret --path 'mlops-platform:credentials.<key>' <value>` instead of generated ones; a stack that sets every credential it uses needs no random provider (air-gapped clusters).",
        ),
    models: dictionary(
        text(PATTERNS.modelName, "a model name: lower-case letters, digits and -, starting with a letter, at most 40 characters"),
        modelSchema,
        "a mapping of model names to model settings",
    )
        .optional()
        .describe("The models this environment serves, each with its pinned registry version."),
});

export type RawStackConfig = z.infer<typeof stackSchema>;
export type RawModelConfig = z.infer<typeof modelSchema>;
export type RawTargetCluster = z.infer<typeof targetCluster>;
export type RawClusterCredential = z.infer<typeof clusterCredential>;

function refuseDuplicateClusterNames(clusters: ReadonlyArray<{ readonly name: string }>, ctx: z.RefinementCtx): void {
    const first = new Map<string, number>();
    clusters.forEach((cluster, i) => {
        const earlier = first.get(cluster.name);
        if (earlier === undefined) first.set(cluster.name, i);
        else
            ctx.addIssue({
                code: "custom",
                path: [i, "name"],
                message: `expected a name no other cluster has, got ${showValue(cluster.name)} (also clusters[${earlier}].name)`,
            });
    });
}

/** A challenger equal to the champion would serve one version twice and compare nothing. */
function refuseChallengerAsChampion(
    model: { readonly version: string; readonly experiment?: { readonly challenger: { readonly version: string } } },
    ctx: z.RefinementCtx,
): void {
    const challenger = model.experiment?.challenger.version;
    if (challenger !== undefined && challenger === model.version) {
        ctx.addIssue({
            code: "custom",
            path: ["experiment", "challenger", "version"],
            message: `expected a version other than the declared (champion) version "${model.version}", got ${showValue(challenger)}`,
        });
    }
}

function isJsonObject(body: string): boolean {
    try {
        const parsed: unknown = JSON.parse(body);
        return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
    } catch {
        return false;
    }
}
