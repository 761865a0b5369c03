import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { platformLabels, selectorLabels } from "./labels";
import { DNS_SUBDOMAIN, isPinnedImage, K8S_NAME } from "./names";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./security";
import { type ArgProblem, assertValidArgs, show } from "./validation";

/**
 * The Versity S3 Gateway (github.com/versity/versitygw, Apache-2.0) v1.8.0, released 2026-09-04:
 * an S3 API over a POSIX directory, one static binary, actively maintained. Chosen for clusters
 * without a cloud account because it needs no cluster of its own (MinIO's community edition no
 * longer publishes images; SeaweedFS and Garage need several processes or a layout step before the
 * first bucket), and because the same release builds from the Go module proxy, so the tests run
 * MLflow against the very server this component deploys. The image is the project's release image
 * (docker.yml of versitygw: `ghcr.io/versity/versitygw:<tag>` on every published release).
 */
export const VERSITYGW_VERSION = "v1.8.0";
export const VERSITYGW_IMAGE = `ghcr.io/versity/versitygw:${VERSITYGW_VERSION}`;

/** The gateway's S3 port and its health path (`--port`, `--health`). */
export const OBJECT_STORE_PORT = 7070;
export const OBJECT_STORE_HEALTH_PATH = "/health";
/** The uid the gateway runs as (its Helm chart's securityContext.runAsUser). */
export const OBJECT_STORE_UID = 1000;

/** The volume: buckets are directories of `buckets/`; object metadata goes to `metadata/`, so the volume needs no xattrs. */
const DATA_DIR = "/data";

export interface ObjectStoreArgs {
    /** The namespace whose pods may reach the store (MLflow's: it proxies every artifact). */
    readonly clientNamespace: pulumi.Input<string>;
    /**
     * The bucket MLflow writes to; created when the store starts.
     * @default "mlflow"
     */
    readonly bucket?: string;
    /**
     * Key prefix of MLflow's artifacts in the bucket.
     * @default "artifacts"
     */
    readonly artifactPrefix?: string;
    /**
     * Size of the data volume, in GiB.
     * @default 20
     */
    readonly storageGb?: number;
    /**
     * StorageClass of the data volume.
     * @default - the cluster's default StorageClass
     */
    readonly storageClass?: string;
    /**
     * Namespace created for the store.
     * @default - the component's name
     */
    readonly namespace?: string;
    /** @default VERSITYGW_IMAGE */
    readonly image?: string;
    /**
     * The root credentials.
     * @default - generated (random provider), kept in the stack's state
     */
    readonly credentials?: { readonly accessKeyId: pulumi.Input<string>; readonly secretAccessKey: pulumi.Input<string> };
    /** @default "cluster.local" */
    readonly clusterDomain?: string;
}

export const OBJECT_STORE_DEFAULTS = {
    bucket: "mlflow",
    artifactPrefix: "artifacts",
    storageGb: 20,
    image: VERSITYGW_IMAGE,
    clusterDomain: "cluster.local",
} as const;

/** An S3 bucket name (S3's rules: 3–63 lower-case letters, digits, "-", starting and ending with a letter or digit). */
const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/** Every problem of the plain args, each naming the arg and its value. */
export function validateObjectStoreArgs(name: string, args: ObjectStoreArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!K8S_NAME.test(name)) problem("", `must be a Kubernetes name (it names the namespace and the server), got ${show(name)}`);
    if (typeof args.clientNamespace === "string" && !K8S_NAME.test(args.clientNamespace))
        problem("clientNamespace", `must be a namespace name, got ${show(args.clientNamespace)}`);
    if (args.bucket !== undefined && !BUCKET.test(args.bucket))
        problem("bucket", `must be an S3 bucket name (3-63 lower-case letters, digits and "-"), got ${show(args.bucket)}`);
    if (args.artifactPrefix !== undefined && !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(args.artifactPrefix)) {
        problem("artifactPrefix", `must be "/"-separated segments of letters, digits, ".", "_" and "-", got ${show(args.artifactPrefix)}`);
    }
    if (args.storageGb !== undefined && !(Number.isInteger(args.storageGb) && args.storageGb >= 1 && args.storageGb <= 65536)) {
        problem("storageGb", `must be a whole number from 1 to 65536, got ${show(args.storageGb)}`);
    }
    if (args.storageClass !== undefined && !DNS_SUBDOMAIN.test(args.storageClass))
        problem("storageClass", `must be the name of a StorageClass, got ${show(args.storageClass)}`);
    if (args.namespace !== undefined && !K8S_NAME.test(args.namespace)) problem("namespace", `must be a namespace name, got ${show(args.namespace)}`);
    if (args.image !== undefined && !isPinnedImage(args.image))
        problem("image", `must be pinned to a tag other than "latest" or to a digest, got ${show(args.image)}`);
    if (args.clusterDomain !== undefined && !DNS_SUBDOMAIN.test(args.clusterDomain))
        problem("clusterDomain", `must be a DNS domain such as "cluster.local", got ${show(args.clusterDomain)}`);
    return problems;
}

/** The gateway's command line: the S3 API over the POSIX backend, object metadata in a sidecar directory. */
export function objectStoreCommand(options: { readonly dataDir?: string; readonly listen?: string } = {}): string[] {
    const dataDir = options.dataDir ?? DATA_DIR;
    return [
        "/usr/local/bin/versitygw",
        "--port",
        options.listen ?? `:${OBJECT_STORE_PORT}`,
        "--health",
        OBJECT_STORE_HEALTH_PATH,
        "posix",
        "--sidecar",
        `${dataDir}/metadata`,
        `${dataDir}/buckets`,
    ];
}

/** What the init container runs before the gateway: the bucket is a directory of the POSIX backend. */
export function bucketInitCommand(bucket: string, dataDir: string = DATA_DIR): string[] {
    return ["/bin/sh", "-c", `mkdir -p ${dataDir}/buckets/${bucket} ${dataDir}/metadata`];
}

/**
 * An S3-compatible object store inside the cluster, for MLflow's artifacts where there is no cloud
 * account: a restricted StatefulSet of the Versity S3 Gateway on a volume, generated root
 * credentials (kept in state as secrets), a Service, and a NetworkPolicy that admits the client
 * namespace only. It replaces the ArtifactStore's S3 bucket, KMS key and IRSA roles.
 */
export class ObjectStore extends pulumi.ComponentResource {
    /** `http://<name>.<namespace>.svc.<domain>:7070`: MLflow's `MLFLOW_S3_ENDPOINT_URL`. */
    public readonly endpointUrl: string;
    public readonly bucket: string;
    /** `s3://<bucket>/<prefix>`: MLflow's `--artifacts-destination`. */
    public readonly artifactsDestination: string;
    /** The root credentials, secret Outputs (an S3 client's access key id and secret key). */
    public readonly accessKeyId: pulumi.Output<string>;
    public readonly secretAccessKey: pulumi.Output<string>;
    public readonly namespace: string;

    constructor(name: string, args: ObjectStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("ObjectStore", name, validateObjectStoreArgs(name, args));
        super("mlops:storage:ObjectStore", name, {}, opts);

        const d = OBJECT_STORE_DEFAULTS;
        const namespaceName = args.namespace ?? name;
        const bucket = args.bucket ?? d.bucket;
        const labels = platformLabels(name, "object-store");
        const inNamespace = (objectName: string) => ({ name: objectName, namespace: namespaceName, labels });

        const namespace = new k8s.core.v1.Namespace(
            `${name}-ns`,
            { metadata: { name: namespaceName, labels: { ...labels, ...RESTRICTED_NAMESPACE_LABELS } } },
            { parent: this },
        );
        const after = { parent: this, dependsOn: [namespace] };

        // Letters and digits only, as S3 clients read them from environment variables.
        const accessKey =
            args.credentials?.accessKeyId ??
            new random.RandomPassword(`${name}-access-key`, { length: 20, special: false, lower: false }, { parent: this }).result;
        const secretKey =
            args.credentials?.secretAccessKey ?? new random.RandomPassword(`${name}-secret-key`, { length: 40, special: false }, { parent: this }).result;
        const credentials = new k8s.core.v1.Secret(
            `${name}-credentials`,
            {
                metadata: inNamespace(`${name}-credentials`),
                type: "Opaque",
                stringData: { accessKeyId: pulumi.secret(accessKey), secretAccessKey: pulumi.secret(secretKey) },
            },
            after,
        );
        const fromCredentials = (env: string, key: string): k8s.types.input.core.v1.EnvVar => ({
            name: env,
            valueFrom: { secretKeyRef: { name: credentials.metadata.name, key } },
        });

        const probe = (periodSeconds: number, failureThreshold: number) => ({
            httpGet: { path: OBJECT_STORE_HEALTH_PATH, port: "s3" },
            periodSeconds,
            failureThreshold,
            timeoutSeconds: 5,
        });
        const container = {
            image: args.image ?? d.image,
            securityContext: restrictedContainerSecurityContext(true),
            volumeMounts: [{ name: "data", mountPath: DATA_DIR }],
        };
        new k8s.apps.v1.StatefulSet(
            `${name}-statefulset`,
            {
                metadata: inNamespace(name),
                spec: {
                    serviceName: name,
                    replicas: 1,
                    selector: { matchLabels: selectorLabels(name) },
                    persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                    template: {
                        metadata: { labels },
                        spec: {
                            automountServiceAccountToken: false,
                            enableServiceLinks: false,
                            securityContext: restrictedPodSecurityContext(OBJECT_STORE_UID),
                            initContainers: [{ ...container, name: "bucket", command: bucketInitCommand(bucket) }],
                            containers: [
                                {
                                    ...container,
                                    name: "versitygw",
                                    command: objectStoreCommand(),
                                    env: [fromCredentials("ROOT_ACCESS_KEY_ID", "accessKeyId"), fromCredentials("ROOT_SECRET_ACCESS_KEY", "secretAccessKey")],
                                    ports: [{ name: "s3", containerPort: OBJECT_STORE_PORT, protocol: "TCP" }],
                                    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
                                    startupProbe: probe(5, 60),
                                    readinessProbe: probe(10, 3),
                                    livenessProbe: probe(20, 3),
                                },
                            ],
                        },
                    },
                    volumeClaimTemplates: [
                        {
                            metadata: { name: "data", labels },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                resources: { requests: { storage: `${args.storageGb ?? d.storageGb}Gi` } },
                                ...(args.storageClass !== undefined && { storageClassName: args.storageClass }),
                            },
                        },
                    ],
                },
            },
            { parent: this, dependsOn: [namespace, credentials] },
        );

        new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: inNamespace(name),
                spec: {
                    type: "ClusterIP",
                    selector: selectorLabels(name),
                    ports: [{ name: "s3", port: OBJECT_STORE_PORT, targetPort: "s3", protocol: "TCP" }],
                },
            },
            after,
        );

        // Only the client namespace reaches the S3 port; everything else in the cluster is refused.
        new k8s.networking.v1.NetworkPolicy(
            `${name}-network-policy`,
            {
                metadata: inNamespace(name),
                spec: {
                    podSelector: { matchLabels: selectorLabels(name) },
                    policyTypes: ["Ingress"],
                    ingress: [
                        {
                            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": args.clientNamespace } } }],
                            ports: [{ protocol: "TCP", port: OBJECT_STORE_PORT }],
                        },
                    ],
                },
            },
            after,
        );

        this.namespace = namespaceName;
        this.bucket = bucket;
        this.endpointUrl = `http://${name}.${namespaceName}.svc.${args.clusterDomain ?? d.clusterDomain}:${OBJECT_STORE_PORT}`;
        this.artifactsDestination = `s3://${bucket}/${args.artifactPrefix ?? d.artifactPrefix}`;
        this.accessKeyId = pulumi.secret(accessKey);
        this.secretAccessKey = pulumi.secret(secretKey);
        this.registerOutputs({
            endpointUrl: this.endpointUrl,
            bucket: this.bucket,
            artifactsDestination: this.artifactsDestination,
            accessKeyId: this.accessKeyId,
            secretAccessKey: this.secretAccessKey,
            namespace: this.namespace,
        });
    }
}
