import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ArgoCd } from "../components/argoCd";
import { ArtifactStore } from "../components/artifactStore";
import { CertManager } from "../components/certManager";
import { Flagger } from "../components/flagger";
import { LABELS, PART_OF, platformLabels } from "../components/labels";
import { MlflowServer } from "../components/mlflowServer";
import { ModelServing } from "../components/modelServing";
import { Postgres } from "../components/postgres";
import { RESTRICTED_NAMESPACE_LABELS } from "../components/security";
import type { PlatformConfig } from "../stacks";
import {
    argoCdArgs,
    artifactStoreArgs,
    certManagerArgs,
    COMPONENT_NAMES,
    flaggerArgs,
    MLFLOW_IDENTITY,
    mlflowServerArgs,
    MODELS_NAMESPACE,
    modelsNamespaceMeshLabels,
    modelServingArgs,
    postgresArgs,
} from "./componentArgs";

export { MODELS_NAMESPACE, REPOSITORY_ROOT } from "./componentArgs";

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

/**
 * Composes the platform's components from a stack's validated configuration (`loadPlatformConfig`):
 * what each component gets from the stack is `componentArgs.ts`'s to say; here, only the order and
 * what flows from one component to the next.
 */
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
    const names = COMPONENT_NAMES;

    const modelsNamespace = new k8s.core.v1.Namespace(
        MODELS_NAMESPACE,
        {
            metadata: {
                name: MODELS_NAMESPACE,
                labels: { ...platformLabels(MODELS_NAMESPACE, "model-serving"), ...RESTRICTED_NAMESPACE_LABELS, ...modelsNamespaceMeshLabels(config) },
            },
        },
        { provider: cluster },
    );

    const artifacts = new ArtifactStore(names.artifacts, artifactStoreArgs(config, { modelsNamespace: MODELS_NAMESPACE }).args, providers);
    const database = new Postgres(names.database, postgresArgs(config, { mlflowNamespace: MLFLOW_IDENTITY.namespace }).args, providers);
    const certManager = new CertManager(names.certManager, certManagerArgs(config).args, providers);
    const mlflow = new MlflowServer(
        names.mlflow,
        mlflowServerArgs(config, {
            backendStoreUri: database.connectionUri,
            artifactsDestination: artifacts.artifactsDestination,
            roleArn: artifacts.mlflowRoleArn,
            clusterIssuer: certManager.clusterIssuerName,
            // The Namespace's name rather than MODELS_NAMESPACE: the reader's Secret waits for the Namespace.
            modelsNamespace: modelsNamespace.metadata.name,
        }).args,
        providers,
    );
    const argocd = new ArgoCd(
        names.argocd,
        argoCdArgs(config, { clusterIssuer: certManager.clusterIssuerName, modelsNamespace: MODELS_NAMESPACE }).args,
        providers,
    );
    const flagger = new Flagger(names.flagger, flaggerArgs(config, { workloadNamespace: MODELS_NAMESPACE }).args, {
        ...providers,
        dependsOn: [modelsNamespace],
    });

    const models: PlatformOutputs["models"] = {};
    for (const model of config.models) {
        const serving = new ModelServing(
            model.name,
            modelServingArgs(config, model, {
                namespace: modelsNamespace.metadata.name,
                trackingUri: mlflow.internalUrl,
                artifactReaderRoleArn: artifacts.modelReaderRoleArn,
                clusterIssuer: certManager.clusterIssuerName,
                flagger: {
                    meshProvider: flagger.meshProvider,
                    loadTesterUrl: flagger.loadTesterUrl,
                    metricTemplates: flagger.metricTemplates,
                    alertProvider: flagger.alertProvider,
                },
                argo: { namespace: argocd.namespace, project: argocd.appProjectName },
                trackingCredentialsSecret: mlflow.registryReaderSecretName,
            }).args,
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
