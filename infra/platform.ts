import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ArgoCd } from "../components/argoCd";
import { ModelApplicationSet } from "../components/argoCd/applicationSet";
import { ArtifactStore } from "../components/artifactStore";
import { CertManager } from "../components/certManager";
import { Flagger } from "../components/flagger";
import { LABELS, PART_OF, platformLabels } from "../components/labels";
import { MlflowServer } from "../components/mlflowServer";
import { ModelServing } from "../components/modelServing";
import { NetworkIsolation } from "../components/networkPolicies";
import { ObjectStore } from "../components/objectStore";
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
    type MlflowServerRefs,
    MODELS_NAMESPACE,
    modelsNamespaceMeshLabels,
    objectStoreArgs,
    postgresArgs,
} from "./componentArgs";
import { modelApplicationSetArgs, modelRenderings } from "./clusters";
import { networkIsolationArgs } from "./networkIsolation";

export { MODELS_NAMESPACE, REPOSITORY_ROOT } from "./componentArgs";

/** What a user needs after `pulumi up`: where things are, and the roles workloads assume (AWS only). */
export interface PlatformOutputs extends Record<string, unknown> {
    readonly environment: string;
    readonly mlflowUrl: pulumi.Output<string>;
    readonly mlflowInternalUrl: pulumi.Output<string>;
    /** The S3 bucket, or the in-cluster store's bucket. */
    readonly artifactBucketName: pulumi.Input<string>;
    readonly databaseEndpoint: pulumi.Output<string>;
    readonly models: Record<
        string,
        {
            readonly registeredModel: string;
            readonly version: string;
            readonly url: string;
            /** Over every cluster. */
            readonly gpusAtMaxScale: number;
            /** Per declared cluster (a stack with `clusters`). */
            readonly clusters?: Record<string, { readonly gpusAtMaxScale: number }>;
        }
    >;
    readonly artifactBucketArn?: pulumi.Output<string>;
    readonly artifactStoreEndpoint?: string;
    readonly argocdUrl?: pulumi.Output<string>;
    readonly mlflowRoleArn?: pulumi.Output<string>;
    readonly modelReaderRoleArn?: pulumi.Output<string>;
}

/** Whether the stack creates anything in AWS: an S3 artifact store or an RDS database. */
export function usesAws(config: PlatformConfig): boolean {
    return config.artifacts.mode === "s3" || config.postgres.mode === "rds";
}

/**
 * Composes the platform's components from a stack's validated configuration (`loadPlatformConfig`):
 * what each component gets from the stack is `componentArgs.ts`'s to say; here, only the order and
 * what flows from one component to the next. Optional parts (AWS, cert-manager, Argo CD, Flagger's
 * charts) are left out when the stack switches them off.
 */
export function createPlatform(config: PlatformConfig): PlatformOutputs {
    if (!config.cluster.awaitReadiness) skipAwaitEverywhere();
    const awsProvider = usesAws(config)
        ? new aws.Provider("aws", {
              region: config.awsRegion as aws.Region,
              // Every AWS resource says where it comes from, for cost reports and incident response.
              defaultTags: {
                  tags: { [LABELS.environment]: config.environment, [LABELS.partOf]: PART_OF, [LABELS.managedBy]: "pulumi", "pulumi:stack": config.stack },
              },
          })
        : undefined;
    const cluster = new k8s.Provider("cluster", {
        ...(config.cluster.kubeContext !== undefined && { context: config.cluster.kubeContext }),
        enableServerSideApply: true,
    });
    const providers = { providers: { kubernetes: cluster, ...(awsProvider !== undefined && { aws: awsProvider }) } };
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

    const artifacts = createArtifactStore(config, providers);
    const database = new Postgres(names.database, postgresArgs(config, { mlflowNamespace: MLFLOW_IDENTITY.namespace }).args, providers);
    const certManager = config.certManager.enabled ? new CertManager(names.certManager, certManagerArgs(config).args, providers) : undefined;
    const clusterIssuer = certManager?.clusterIssuerName;

    const mlflow = new MlflowServer(
        names.mlflow,
        mlflowServerArgs(config, {
            backendStoreUri: database.connectionUri,
            artifactsDestination: artifacts.destination,
            artifactAccess: artifacts.access,
            clusterIssuer,
            // The Namespace's name rather than MODELS_NAMESPACE: the reader's Secret waits for the Namespace.
            modelsNamespace: modelsNamespace.metadata.name,
        }).args,
        providers,
    );
    const argocd = config.argocd.enabled
        ? new ArgoCd(names.argocd, argoCdArgs(config, { clusterIssuer, modelsNamespace: MODELS_NAMESPACE }).args, providers)
        : undefined;
    const flagger = new Flagger(names.flagger, flaggerArgs(config, { workloadNamespace: MODELS_NAMESPACE }).args, {
        ...providers,
        dependsOn: [modelsNamespace],
    });

    // After the components that create the namespaces: a NetworkPolicy needs its namespace.
    new NetworkIsolation(names.network, networkIsolationArgs(config), {
        ...providers,
        dependsOn: [
            modelsNamespace,
            artifacts.component,
            database,
            mlflow,
            flagger,
            ...(certManager !== undefined ? [certManager] : []),
            ...(argocd !== undefined ? [argocd] : []),
        ],
    });

    const models: PlatformOutputs["models"] = {};
    for (const model of config.models) {
        const refs = {
            namespace: modelsNamespace.metadata.name,
            trackingUri: mlflow.internalUrl,
            artifactReaderRoleArn: artifacts.readerRoleArn,
            clusterIssuer,
            flagger: {
                meshProvider: flagger.meshProvider,
                loadTesterUrl: flagger.loadTesterUrl,
                metricTemplates: flagger.metricTemplates,
                alertProvider: flagger.alertProvider,
            },
            argo: argocd === undefined ? undefined : { namespace: argocd.namespace, project: argocd.appProjectName },
            trackingCredentialsSecret: mlflow.registryReaderSecretName,
        };
        const servings = modelRenderings(config, model, refs, { publicTrackingUri: mlflow.url }).map(
            (rendering) =>
                [
                    rendering.cluster?.name,
                    new ModelServing(rendering.name, rendering.mapped.args, {
                        ...providers,
                        dependsOn: [modelsNamespace, flagger, ...(argocd !== undefined ? [argocd] : [])],
                    }),
                ] as const,
        );
        const fanOut = modelApplicationSetArgs(config, model, { namespace: MODELS_NAMESPACE, argo: refs.argo });
        if (fanOut !== undefined) new ModelApplicationSet(model.name, fanOut, { ...providers, dependsOn: argocd !== undefined ? [argocd] : [] });
        const [first] = servings;
        if (first === undefined) continue;
        models[model.name] = {
            registeredModel: model.registeredModel,
            version: model.version,
            url: first[1].url,
            gpusAtMaxScale: servings.reduce((sum, [, serving]) => sum + serving.gpusAtMaxScale, 0),
            ...(config.clusters.length > 0 && {
                clusters: Object.fromEntries(servings.map(([cluster, serving]) => [cluster, { gpusAtMaxScale: serving.gpusAtMaxScale }])),
            }),
        };
    }

    return {
        environment: config.environment,
        mlflowUrl: mlflow.url,
        mlflowInternalUrl: mlflow.internalUrl,
        databaseEndpoint: pulumi.interpolate`${database.host}:${database.port}`,
        models,
        ...artifacts.outputs,
        ...(argocd !== undefined && { argocdUrl: argocd.url }),
    };
}

/** The artifact store the stack declares, and what MLflow, the model servers and the outputs need of it. */
interface CreatedArtifactStore {
    readonly component: pulumi.Resource;
    readonly destination: pulumi.Input<string>;
    readonly access: MlflowServerRefs["artifactAccess"];
    readonly readerRoleArn: pulumi.Output<string> | undefined;
    readonly outputs: Pick<PlatformOutputs, "artifactBucketName" | "artifactBucketArn" | "artifactStoreEndpoint" | "mlflowRoleArn" | "modelReaderRoleArn">;
}

/** AWS S3 with IRSA roles, or the in-cluster S3-compatible store (artifacts.mode). */
function createArtifactStore(config: PlatformConfig, providers: pulumi.ComponentResourceOptions): CreatedArtifactStore {
    const s3Args = artifactStoreArgs(config, { modelsNamespace: MODELS_NAMESPACE });
    if (s3Args !== undefined) {
        const s3 = new ArtifactStore(COMPONENT_NAMES.artifacts, s3Args.args, providers);
        return {
            component: s3,
            destination: s3.artifactsDestination,
            access: { roleArn: s3.mlflowRoleArn },
            readerRoleArn: s3.modelReaderRoleArn,
            outputs: {
                artifactBucketName: s3.bucketName,
                artifactBucketArn: s3.bucketArn,
                mlflowRoleArn: s3.mlflowRoleArn,
                modelReaderRoleArn: s3.modelReaderRoleArn,
            },
        };
    }
    const storeArgs = objectStoreArgs(config, { clientNamespace: MLFLOW_IDENTITY.namespace });
    if (storeArgs === undefined) throw new Error(`artifacts.mode "${config.artifacts.mode}" has no artifact store`);
    const store = new ObjectStore(COMPONENT_NAMES.objectStore, storeArgs.args, providers);
    return {
        component: store,
        destination: store.artifactsDestination,
        access: { s3Endpoint: { url: store.endpointUrl, accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey } },
        readerRoleArn: undefined,
        outputs: { artifactBucketName: store.bucket, artifactStoreEndpoint: store.endpointUrl },
    };
}

/**
 * `pulumi.com/skipAwait` on every Kubernetes object (pulumi-kubernetes' documented annotation):
 * Pulumi then applies objects without waiting for them to become ready. Only for a cluster where
 * nothing is scheduled (`cluster.awaitReadiness: false`, the local stack in CI): there, pods stay
 * Pending and a wait would only time out.
 */
function skipAwaitEverywhere(): void {
    pulumi.runtime.registerStackTransformation((resource) => {
        if (!resource.type.startsWith("kubernetes:") || resource.type.startsWith("kubernetes:helm.sh/") || !("metadata" in resource.props)) return undefined;
        const metadata = pulumi.output(resource.props["metadata"] as pulumi.Input<Record<string, unknown>>).apply((m) => ({
            ...m,
            annotations: { ...(m["annotations"] as Record<string, string> | undefined), "pulumi.com/skipAwait": "true" },
        }));
        return { props: { ...resource.props, metadata }, opts: resource.opts };
    });
}
