import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ArgoCdArgs, ArgoCdCluster } from "../components/argoCd";
import { LABELS } from "../components/labels";
import type { ArtifactStoreArgs } from "../components/artifactStore";
import type { CertManagerArgs } from "../components/certManager";
import type { FlaggerArgs } from "../components/flagger";
import type { IrsaSubject } from "../components/irsa";
import { MLFLOW_SERVER_DEFAULTS, type MlflowServerArgs } from "../components/mlflowServer";
import { GPU_PLACEMENT_DEFAULTS, type ModelDelivery, type ModelServingArgs, type ModelServingFlagger, type ServedModel } from "../components/modelServing";
import type { ObjectStoreArgs } from "../components/objectStore";
import type { PostgresArgs } from "../components/postgres";
import { type ModelConfig, type PlatformConfig, PROJECT } from "../stacks";

/**
 * The one place where a stack's configuration becomes component args. Each function returns the
 * args together with where they came from: `keys` maps an arg path (as a component's `ArgProblem`
 * names it) to the stack key it was read from, so that a component's refusal is reported under the
 * key the user wrote; `reads` names the stack sections the args depend on. `createPlatform` passes
 * what other components produce as `refs`; `infra/validation.ts` passes stand-ins for them.
 */

/** Component args, and the stack keys behind them. */
export interface Mapped<Args> {
    readonly args: Args;
    /** Arg path → stack key. The longest matching prefix of a problem's arg path wins; the rest of the path is appended. */
    readonly keys: Readonly<Record<string, string>>;
    /** Sections (`flagger`) and models (`models.fraud-detector`) the args are built from. */
    readonly reads: readonly string[];
}

/** The names of the platform's components: logical names in the stack, and the names their objects take. */
export const COMPONENT_NAMES = {
    artifacts: "artifacts",
    objectStore: "object-store",
    database: "mlflow-db",
    certManager: "cert-manager",
    mlflow: "mlflow",
    argocd: "argocd",
    flagger: "flagger",
    network: "network",
} as const;

/** Where model workloads run: one namespace for every model of the stack. */
export const MODELS_NAMESPACE = "models";

/**
 * The models namespace's labels beyond the platform's and the restricted pod security ones: with
 * Istio, sidecar injection, whose proxies report the request metrics Flagger's Istio checks read
 * (istio_requests_total). Istio's CNI node agent must be installed for injected pods to meet
 * "restricted" (no NET_ADMIN init container): see the README's real-cluster prerequisites.
 */
export function modelsNamespaceMeshLabels(config: PlatformConfig): Record<string, string> {
    return config.flagger.meshProvider === "istio" ? { "istio-injection": "enabled" } : {};
}

/** Rendered gitops workloads are written under the repository, at `<delivery.path>/<stack>/<model>`. */
export const REPOSITORY_ROOT = path.resolve(__dirname, "..");

/** `mlops-platform:<section>.<key>…`, as a stack file's reader sees the key. */
export function stackKey(section: string, ...keys: string[]): string {
    return [`${PROJECT}:${section}`, ...keys].join(".");
}

/** The MLflow server's identity: the read-write artifact role trusts exactly this service account. */
export const MLFLOW_IDENTITY: IrsaSubject = { namespace: MLFLOW_SERVER_DEFAULTS.namespace, name: MLFLOW_SERVER_DEFAULTS.serviceAccountName };

/** The S3 artifact store's args; undefined when the stack keeps its artifacts in the cluster. */
export function artifactStoreArgs(config: PlatformConfig, refs: { readonly modelsNamespace: pulumi.Input<string> }): Mapped<ArtifactStoreArgs> | undefined {
    const artifacts = config.artifacts;
    if (artifacts.mode !== "s3") return undefined;
    return {
        args: {
            // The stack validation requires it with artifacts.mode s3; "" is refused by the component.
            oidcProviderArn: config.cluster.oidcProviderArn ?? "",
            mlflowServiceAccount: MLFLOW_IDENTITY,
            modelsNamespace: refs.modelsNamespace,
            retainOnDelete: artifacts.retainOnDelete,
            noncurrentVersionExpirationDays: artifacts.noncurrentVersionExpirationDays,
            ...(artifacts.abortIncompleteUploadDays !== undefined && { abortIncompleteUploadDays: artifacts.abortIncompleteUploadDays }),
        },
        keys: {
            oidcProviderArn: stackKey("cluster", "oidcProviderArn"),
            retainOnDelete: stackKey("artifacts", "retainOnDelete"),
            noncurrentVersionExpirationDays: stackKey("artifacts", "noncurrentVersionExpirationDays"),
            abortIncompleteUploadDays: stackKey("artifacts", "abortIncompleteUploadDays"),
        },
        reads: ["cluster", "artifacts", "environment"],
    };
}

/** The in-cluster S3-compatible store's args; undefined when the stack uses AWS S3. */
export function objectStoreArgs(config: PlatformConfig, refs: { readonly clientNamespace: pulumi.Input<string> }): Mapped<ObjectStoreArgs> | undefined {
    const artifacts = config.artifacts;
    if (artifacts.mode !== "in-cluster") return undefined;
    return {
        args: {
            clientNamespace: refs.clientNamespace,
            ...(config.credentials.objectStoreAccessKeyId !== undefined &&
                config.credentials.objectStoreSecretAccessKey !== undefined && {
                    credentials: {
                        accessKeyId: pulumi.secret(config.credentials.objectStoreAccessKeyId),
                        secretAccessKey: pulumi.secret(config.credentials.objectStoreSecretAccessKey),
                    },
                }),
            ...(artifacts.storageGb !== undefined && { storageGb: artifacts.storageGb }),
            ...(artifacts.storageClass !== undefined && { storageClass: artifacts.storageClass }),
            ...(config.images.objectStore !== undefined && { image: config.images.objectStore }),
        },
        keys: { storageGb: stackKey("artifacts", "storageGb"), storageClass: stackKey("artifacts", "storageClass"), image: stackKey("images", "objectStore") },
        reads: ["artifacts", "environment", "images"],
    };
}

export function postgresArgs(config: PlatformConfig, refs: { readonly mlflowNamespace: pulumi.Input<string> }): Mapped<PostgresArgs> {
    const pg = config.postgres;
    const args: PostgresArgs =
        pg.mode === "rds"
            ? {
                  mode: "rds",
                  instanceClass: pg.instanceClass,
                  allocatedStorageGb: pg.allocatedStorageGb,
                  multiAz: pg.multiAz,
                  deletionProtection: pg.deletionProtection,
                  backupRetentionDays: pg.backupRetentionDays,
                  network: pg.network,
              }
            : {
                  mode: "in-cluster",
                  allocatedStorageGb: pg.allocatedStorageGb,
                  ...(pg.storageClass !== undefined && { storageClass: pg.storageClass }),
                  mlflowNamespace: refs.mlflowNamespace,
                  ...(config.credentials.postgresPassword !== undefined && { password: pulumi.secret(config.credentials.postgresPassword) }),
                  ...(config.images.postgres !== undefined && { image: config.images.postgres }),
              };
    return {
        args,
        keys: {
            mode: stackKey("postgres", "mode"),
            instanceClass: stackKey("postgres", "instanceClass"),
            allocatedStorageGb: stackKey("postgres", "allocatedStorageGb"),
            multiAz: stackKey("postgres", "multiAz"),
            deletionProtection: stackKey("postgres", "deletionProtection"),
            backupRetentionDays: stackKey("postgres", "backupRetentionDays"),
            storageClass: stackKey("postgres", "storageClass"),
            "network.vpcId": stackKey("cluster", "vpcId"),
            "network.privateSubnetIds": stackKey("cluster", "privateSubnetIds"),
            "network.nodeSecurityGroupId": stackKey("cluster", "nodeSecurityGroupId"),
            image: stackKey("images", "postgres"),
        },
        reads: ["postgres", "cluster", "environment", "images"],
    };
}

export function certManagerArgs(config: PlatformConfig): Mapped<CertManagerArgs> {
    return {
        args: {
            issuer: config.certManager.issuer,
            ...(config.certManager.acmeEmail !== undefined && { acmeEmail: config.certManager.acmeEmail }),
            ...(config.cluster.ingressClass !== undefined && { ingressClass: config.cluster.ingressClass }),
            ha: config.environment === "production",
            ...(config.images.certManager !== undefined && { images: config.images.certManager }),
        },
        keys: {
            issuer: stackKey("certManager", "issuer"),
            acmeEmail: stackKey("certManager", "acmeEmail"),
            ingressClass: stackKey("cluster", "ingressClass"),
            ha: stackKey("environment"),
            images: stackKey("images", "certManager"),
        },
        reads: ["certManager", "cluster", "environment", "images"],
    };
}

export interface MlflowServerRefs {
    readonly backendStoreUri: pulumi.Input<string>;
    readonly artifactsDestination: pulumi.Input<string>;
    /** How the server reaches the artifact store: IRSA for AWS S3, or an S3-compatible endpoint. */
    readonly artifactAccess: { readonly roleArn: pulumi.Input<string> } | { readonly s3Endpoint: NonNullable<MlflowServerArgs["s3Endpoint"]> };
    readonly clusterIssuer: pulumi.Input<string> | undefined;
    /** The models namespace, where the registry reader's Secret goes. */
    readonly modelsNamespace: pulumi.Input<string>;
}

export function mlflowServerArgs(config: PlatformConfig, refs: MlflowServerRefs): Mapped<MlflowServerArgs> {
    const credentials = config.credentials;
    return {
        args: {
            host: config.mlflow.host,
            backendStoreUri: refs.backendStoreUri,
            artifactsDestination: refs.artifactsDestination,
            ...refs.artifactAccess,
            ...(refs.clusterIssuer !== undefined && { clusterIssuer: refs.clusterIssuer }),
            namespace: MLFLOW_IDENTITY.namespace,
            serviceAccountName: MLFLOW_IDENTITY.name,
            replicas: config.mlflow.replicas,
            resources: config.mlflow.resources,
            ...(config.cluster.ingressClass !== undefined && { ingressClass: config.cluster.ingressClass }),
            basicAuth: {
                enabled: config.mlflow.basicAuth,
                ...(credentials.mlflowAdminPassword !== undefined && { adminPassword: pulumi.secret(credentials.mlflowAdminPassword) }),
                ...(credentials.mlflowFlaskSecretKey !== undefined && { flaskSecretKey: pulumi.secret(credentials.mlflowFlaskSecretKey) }),
            },
            registryReader: {
                namespace: refs.modelsNamespace,
                ...(credentials.registryReaderPassword !== undefined && { password: pulumi.secret(credentials.registryReaderPassword) }),
            },
            ...(config.mlflow.workers !== undefined && { workers: config.mlflow.workers }),
            ...(config.images.mlflow !== undefined && { image: config.images.mlflow }),
        },
        keys: {
            roleArn: stackKey("artifacts", "mode"),
            host: stackKey("mlflow", "host"),
            replicas: stackKey("mlflow", "replicas"),
            resources: stackKey("mlflow", "resources"),
            ingressClass: stackKey("cluster", "ingressClass"),
            basicAuth: stackKey("mlflow", "basicAuth"),
            workers: stackKey("mlflow", "workers"),
            image: stackKey("images", "mlflow"),
        },
        reads: ["mlflow", "cluster", "environment", "images"],
    };
}

export function argoCdArgs(
    config: PlatformConfig,
    refs: { readonly clusterIssuer: pulumi.Input<string> | undefined; readonly modelsNamespace: pulumi.Input<string> },
): Mapped<ArgoCdArgs> {
    return {
        args: {
            host: config.argocd.host,
            ha: config.argocd.ha,
            ...(config.cluster.ingressClass !== undefined && { ingressClass: config.cluster.ingressClass }),
            ...(config.cluster.ingressControllerNamespace !== undefined && { ingressControllerNamespace: config.cluster.ingressControllerNamespace }),
            ...(refs.clusterIssuer !== undefined && { clusterIssuer: refs.clusterIssuer }),
            ...(config.argocd.sso !== undefined && { sso: config.argocd.sso }),
            modelsNamespace: refs.modelsNamespace,
            sourceRepos: config.delivery.mode === "gitops" ? [config.delivery.repoUrl] : [],
            ...(config.clusters.length > 0 && { clusters: argoCdClusters(config) }),
            ...(config.images.argocd !== undefined && { images: config.images.argocd }),
        },
        keys: {
            host: stackKey("argocd", "host"),
            ha: stackKey("argocd", "ha"),
            ingressClass: stackKey("cluster", "ingressClass"),
            ingressControllerNamespace: stackKey("cluster", "ingressControllerNamespace"),
            sso: stackKey("argocd", "sso"),
            "sourceRepos[0]": stackKey("delivery", "repoUrl"),
            clusters: stackKey("clusters"),
            images: stackKey("images", "argocd"),
        },
        reads: ["argocd", "cluster", "delivery", "environment", "clusters", "clusterCredentials", "images"],
    };
}

/** The clusters the Argo CD component registers and admits as destinations; undefined: only its own. */
export function argoCdClusters(config: PlatformConfig): ArgoCdCluster[] | undefined {
    if (config.clusters.length === 0) return undefined;
    return config.clusters.map((cluster) => ({
        name: cluster.name,
        destination: cluster.destination,
        labels: { ...cluster.labels, ...(cluster.region !== undefined && { [LABELS.region]: cluster.region }) },
        ...(cluster.credentials !== undefined && {
            credentials:
                cluster.credentials.awsAuth !== undefined
                    ? { awsAuth: cluster.credentials.awsAuth, ...(cluster.credentials.caData !== undefined && { caData: cluster.credentials.caData }) }
                    : {
                          bearerToken: cluster.credentials.bearerToken as string,
                          ...(cluster.credentials.caData !== undefined && { caData: cluster.credentials.caData }),
                      },
        }),
    }));
}

export function flaggerArgs(config: PlatformConfig, refs: { readonly workloadNamespace: pulumi.Input<string> }): Mapped<FlaggerArgs> {
    return {
        args: {
            install: config.flagger.install,
            ...(config.flagger.meshProvider !== undefined && { meshProvider: config.flagger.meshProvider }),
            ...(config.flagger.metricsServer !== undefined && { metricsServer: config.flagger.metricsServer }),
            workloadNamespace: refs.workloadNamespace,
            ...(config.flagger.alerts !== undefined && { alerts: config.flagger.alerts }),
            ...(config.images.flagger !== undefined && { images: config.images.flagger }),
        },
        keys: {
            meshProvider: stackKey("flagger", "meshProvider"),
            metricsServer: stackKey("flagger", "metricsServer"),
            alerts: stackKey("flagger", "alerts"),
            images: stackKey("images", "flagger"),
        },
        reads: ["flagger", "environment", "images"],
    };
}

/** What a model's serving stack gets from the rest of the platform. */
export interface ModelServingRefs {
    readonly namespace: pulumi.Input<string>;
    readonly trackingUri: pulumi.Input<string>;
    /** The read-only IRSA role of AWS S3 artifacts; undefined for an in-cluster store. */
    readonly artifactReaderRoleArn: pulumi.Input<string> | undefined;
    readonly clusterIssuer: pulumi.Input<string> | undefined;
    readonly flagger: ModelServingFlagger;
    /** Argo CD's namespace and the models AppProject; undefined when the stack runs no Argo CD (then delivery is direct). */
    readonly argo: { readonly namespace: pulumi.Input<string>; readonly project: pulumi.Input<string> } | undefined;
    /** Secret of MLflow's read-only user, when the tracking server has basic auth. */
    readonly trackingCredentialsSecret: pulumi.Input<string> | undefined;
}

/** A declared model, as ModelServing serves it; `defaultImage` (images.mlflow) serves a model that names no image. */
export function servedModel(model: ModelConfig, defaultImage?: string): ServedModel {
    return {
        name: model.name,
        registeredModel: model.registeredModel,
        version: model.version,
        ...((model.image ?? defaultImage) !== undefined && { image: model.image ?? defaultImage }),
        ...(model.outputs !== undefined && { outputs: model.outputs }),
        replicas: model.replicas,
        resources: model.resources,
        ...(model.canary !== undefined && { canary: model.canary }),
        monitoring: model.monitoring,
        ...(model.promotion !== undefined && { promotion: model.promotion }),
    };
}

export function modelServingArgs(config: PlatformConfig, model: ModelConfig, refs: ModelServingRefs): Mapped<ModelServingArgs> {
    if (config.delivery.mode === "gitops" && refs.argo === undefined)
        throw new Error("gitops delivery needs Argo CD (the stack validation refuses argocd.enabled: false with it)");
    const delivery: ModelDelivery =
        config.delivery.mode === "gitops" && refs.argo !== undefined
            ? {
                  mode: "gitops",
                  repoUrl: config.delivery.repoUrl,
                  ...(config.delivery.targetRevision !== undefined && { targetRevision: config.delivery.targetRevision }),
                  ...(config.delivery.path !== undefined && { path: config.delivery.path }),
                  renderRoot: REPOSITORY_ROOT,
                  argoNamespace: refs.argo.namespace,
                  project: refs.argo.project,
              }
            : { mode: "direct" };
    return {
        args: {
            model: servedModel(model, config.images.mlflow),
            environment: config.environment,
            stack: config.stack,
            namespace: refs.namespace,
            trackingUri: refs.trackingUri,
            ...(refs.artifactReaderRoleArn !== undefined && { artifactReaderRoleArn: refs.artifactReaderRoleArn }),
            gpu: gpuPlacement(config.gpu),
            ingress: {
                ...(config.cluster.ingressClass !== undefined && { className: config.cluster.ingressClass }),
                domain: config.cluster.domain,
                ...(refs.clusterIssuer !== undefined && { clusterIssuer: refs.clusterIssuer }),
                ...(config.cluster.gateway !== undefined && { gateway: config.cluster.gateway }),
            },
            flagger: refs.flagger,
            delivery,
            prometheus: config.prometheus,
            // The telemetry runs on the platform's MLflow image (Python and prometheus_client), pinned as images.mlflow pins it.
            ...(config.images.mlflow !== undefined && { telemetryImage: config.images.mlflow }),
            // With basic auth the model servers sign in as MLflow's read-only user (never the admin).
            ...(refs.trackingCredentialsSecret !== undefined && { trackingCredentials: { secretName: refs.trackingCredentialsSecret } }),
        },
        keys: {
            model: stackKey("models", model.name),
            "model.name": stackKey("models", model.name),
            environment: stackKey("environment"),
            gpu: stackKey("gpu"),
            "ingress.className": stackKey("cluster", "ingressClass"),
            "ingress.domain": stackKey("cluster", "domain"),
            "ingress.gateway": stackKey("cluster", "gateway"),
            "flagger.meshProvider": stackKey("flagger", "meshProvider"),
            "delivery.path": stackKey("delivery", "path"),
            prometheus: stackKey("prometheus"),
            telemetryImage: stackKey("images", "mlflow"),
        },
        reads: [`models.${model.name}`, "models", "flagger", "cluster", "gpu", "delivery", "prometheus", "environment", "images"],
    };
}

/** The GPU placement keys the stack sets, over ModelServing's defaults (a stack sets all, some or none). */
export function gpuPlacement(gpu: PlatformConfig["gpu"]): NonNullable<ModelServingArgs["gpu"]> {
    return {
        ...GPU_PLACEMENT_DEFAULTS,
        ...(gpu.resourceName !== undefined && { resourceName: gpu.resourceName }),
        ...(gpu.nodeSelector !== undefined && { nodeSelector: gpu.nodeSelector }),
        ...(gpu.tolerations !== undefined && { tolerations: gpu.tolerations }),
    };
}
