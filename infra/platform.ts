import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ArgoCd, argoCdArgsFromConfig } from "../components/argoCd";
import { ArtifactStore } from "../components/artifactStore";
import { CertManager } from "../components/certManager";
import { Flagger, flaggerArgsFromConfig } from "../components/flagger";
import { LABELS, PART_OF, platformLabels } from "../components/labels";
import { MLFLOW_SERVER_DEFAULTS, MlflowServer } from "../components/mlflowServer";
import { ModelServing } from "../components/modelServing";
import type { ModelDelivery } from "../components/modelServing/delivery";
import { Postgres } from "../components/postgres";
import { RESTRICTED_NAMESPACE_LABELS } from "../components/security";
import type { PlatformConfig } from "../stacks";

/** Where model workloads run: one namespace for every model of the stack. */
export const MODELS_NAMESPACE = "models";

/** Rendered gitops workloads are written under the repository, at `<delivery.path>/<stack>/<model>`. */
export const REPOSITORY_ROOT = path.resolve(__dirname, "..");

/** What a user needs after `pulumi up`: where things are, and the roles workloads assume. */
export interface PlatformOutputs extends Record<string, unknown> {
    readonly environment: string;
    readonly mlflowUrl: pulumi.Output<string>;
    readonly mlflowInternalUrl: pulumi.Output<string>;
    readonly artifactBucketName: pulumi.Output<string>;
    readonly artifactBucketArn: pulumi.Output<string>;
    readonly databaseEndpoint: pulumi.Output<string>;
    readonly argocdUrl: pulumi.Output<string>;
    readonly mlflowRoleArn: pulumi.Output<string>;
    readonly modelReaderRoleArn: pulumi.Output<string>;
    readonly models: Record<string, { readonly registeredModel: string; readonly version: string; readonly url: string; readonly gpusAtMaxScale: number }>;
}

/** Composes the platform's components from a stack's validated configuration. */
export function createPlatform(config: PlatformConfig): PlatformOutputs {
    const awsProvider = new aws.Provider("aws", {
        region: config.awsRegion as aws.Region,
        // Every AWS resource says where it comes from, for cost reports and incident response.
        defaultTags: {
            tags: { [LABELS.environment]: config.environment, [LABELS.partOf]: PART_OF, [LABELS.managedBy]: "pulumi", "pulumi:stack": config.stack },
        },
    });
    const cluster = new k8s.Provider("cluster", {
        ...(config.cluster.kubeContext !== undefined && { context: config.cluster.kubeContext }),
        enableServerSideApply: true,
    });
    const providers = { providers: { aws: awsProvider, kubernetes: cluster } };

    const modelsNamespace = new k8s.core.v1.Namespace(
        MODELS_NAMESPACE,
        { metadata: { name: MODELS_NAMESPACE, labels: { ...platformLabels(MODELS_NAMESPACE, "model-serving"), ...RESTRICTED_NAMESPACE_LABELS } } },
        { provider: cluster },
    );

    const mlflowIdentity = { namespace: MLFLOW_SERVER_DEFAULTS.namespace, name: MLFLOW_SERVER_DEFAULTS.serviceAccountName };
    const artifacts = new ArtifactStore(
        "artifacts",
        {
            oidcProviderArn: config.cluster.oidcProviderArn,
            mlflowServiceAccount: mlflowIdentity,
            modelsNamespace: MODELS_NAMESPACE,
            retainOnDelete: config.artifacts.retainOnDelete,
            noncurrentVersionExpirationDays: config.artifacts.noncurrentVersionExpirationDays,
            ...(config.artifacts.abortIncompleteUploadDays !== undefined && { abortIncompleteUploadDays: config.artifacts.abortIncompleteUploadDays }),
        },
        providers,
    );

    const database = new Postgres(
        "mlflow-db",
        config.postgres.mode === "rds" ? config.postgres : { ...config.postgres, mlflowNamespace: mlflowIdentity.namespace },
        providers,
    );

    const certManager = new CertManager(
        "cert-manager",
        {
            issuer: config.certManager.issuer,
            ...(config.certManager.acmeEmail !== undefined && { acmeEmail: config.certManager.acmeEmail }),
            ingressClass: config.cluster.ingressClass,
            ha: config.environment === "production",
        },
        providers,
    );

    const mlflow = new MlflowServer(
        "mlflow",
        {
            host: config.mlflow.host,
            backendStoreUri: database.connectionUri,
            artifactsDestination: artifacts.artifactsDestination,
            roleArn: artifacts.mlflowRoleArn,
            clusterIssuer: certManager.clusterIssuerName,
            namespace: mlflowIdentity.namespace,
            serviceAccountName: mlflowIdentity.name,
            replicas: config.mlflow.replicas,
            resources: config.mlflow.resources,
            ingressClass: config.cluster.ingressClass,
            basicAuth: { enabled: config.mlflow.basicAuth },
            // The Namespace's name rather than MODELS_NAMESPACE: the reader's Secret waits for the Namespace.
            registryReader: { namespace: modelsNamespace.metadata.name },
            ...(config.mlflow.workers !== undefined && { workers: config.mlflow.workers }),
        },
        providers,
    );

    const argocd = new ArgoCd("argocd", argoCdArgsFromConfig(config, { clusterIssuer: certManager.clusterIssuerName, modelsNamespace: MODELS_NAMESPACE }), providers);

    const flagger = new Flagger("flagger", flaggerArgsFromConfig(config, { workloadNamespace: MODELS_NAMESPACE }), { ...providers, dependsOn: [modelsNamespace] });

    const delivery: ModelDelivery =
        config.delivery.mode === "gitops"
            ? {
                  mode: "gitops",
                  repoUrl: config.delivery.repoUrl,
                  ...(config.delivery.targetRevision !== undefined && { targetRevision: config.delivery.targetRevision }),
                  ...(config.delivery.path !== undefined && { path: config.delivery.path }),
                  renderRoot: REPOSITORY_ROOT,
                  argoNamespace: argocd.namespace,
                  project: argocd.appProjectName,
              }
            : { mode: "direct" };

    const models: PlatformOutputs["models"] = {};
    for (const model of config.models) {
        const serving = new ModelServing(
            model.name,
            {
                model,
                environment: config.environment,
                stack: config.stack,
                namespace: modelsNamespace.metadata.name,
                trackingUri: mlflow.internalUrl,
                artifactReaderRoleArn: artifacts.modelReaderRoleArn,
                gpu: config.gpu,
                ingress: { className: config.cluster.ingressClass, domain: config.cluster.domain, clusterIssuer: certManager.clusterIssuerName },
                flagger: {
                    meshProvider: flagger.meshProvider,
                    loadTesterUrl: flagger.loadTesterUrl,
                    metricTemplates: flagger.metricTemplates,
                    alertProvider: flagger.alertProvider,
                },
                delivery,
                // With basic auth the model servers sign in as MLflow's read-only user (never the admin).
                ...(mlflow.registryReaderSecretName !== undefined && { trackingCredentials: { secretName: mlflow.registryReaderSecretName } }),
            },
            { ...providers, dependsOn: [modelsNamespace, flagger, argocd] },
        );
        models[model.name] = { registeredModel: model.registeredModel, version: model.version, url: serving.url, gpusAtMaxScale: serving.gpusAtMaxScale };
    }

    return {
        environment: config.environment,
        mlflowUrl: mlflow.url,
        mlflowInternalUrl: mlflow.internalUrl,
        artifactBucketName: artifacts.bucketName,
        artifactBucketArn: artifacts.bucketArn,
        databaseEndpoint: pulumi.interpolate`${database.host}:${database.port}`,
        argocdUrl: argocd.url,
        mlflowRoleArn: artifacts.mlflowRoleArn,
        modelReaderRoleArn: artifacts.modelReaderRoleArn,
        models,
    };
}
