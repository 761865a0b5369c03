import { readFileSync } from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { CLUSTER_ISSUER_ANNOTATION, DEFAULT_INGRESS_CLASS } from "./ingress";
import { platformLabels, selectorLabels } from "./labels";
import { DNS_NAME, DNS_SUBDOMAIN, isPinnedImage, K8S_NAME, RELEASE_NAME } from "./names";
import { isQuantity, parseQuantity } from "./quantity";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./security";
import { type ArgProblem, assertValidArgs, show } from "./validation";
import { MLFLOW_IMAGE } from "./versions";
import {
    AUTH_CONFIG_CHECKSUM_ANNOTATION,
    S3_CREDENTIALS_CHECKSUM_ANNOTATION,
    AUTH_CONFIG_DIR,
    AUTH_CONFIG_FILE,
    BACKEND_STORE_CHECKSUM_ANNOTATION,
    BACKEND_STORE_URI_ENV,
    basicAuthIni,
    HOME_DIR,
    MLFLOW_PORT,
    type MigrationStep,
    type MlflowPermission,
    mlflowAllowedHosts,
    mlflowMigrationSteps,
    mlflowServerCommand,
    migrationJobName,
    REGISTRY_READER_CHECKSUM_ANNOTATION,
    REGISTRY_READER_PROGRAM,
    REGISTRY_READER_PROGRAM_DIR,
    REGISTRY_READER_PROGRAM_FILE,
    secretDataChecksum,
} from "./mlflowServer/commandLine";

// The command line and its settings are part of this component's public surface.
export * from "./mlflowServer/commandLine";

export interface MlflowBasicAuthArgs {
    /** Turn on MLflow's `basic-auth` app (users and permissions kept in the backend database). */
    readonly enabled: boolean;
    /**
     * What a signed-in user may do with resources nobody granted them.
     * @default "READ"
     */
    readonly defaultPermission?: MlflowPermission;
    /**
     * The admin user created on first start; its generated password is in `adminSecretName`.
     * @default "admin"
     */
    readonly adminUsername?: string;
    /** The admin's password. @default - generated (random provider), kept in the stack's state */
    readonly adminPassword?: pulumi.Input<string>;
    /** Flask's secret key, the same in every worker and replica. @default - generated (random provider) */
    readonly flaskSecretKey?: pulumi.Input<string>;
}

export interface MlflowRegistryReaderArgs {
    /**
     * Namespace of the model servers: the reader's credentials Secret (keys `username`, `password`) is
     * created there. Pass the Namespace resource's `metadata.name`, so that the Secret waits for it.
     */
    readonly namespace: pulumi.Input<string>;
    /**
     * The MLflow user model servers sign in as; never the admin.
     * @default "model-server"
     */
    readonly username?: string;
    /** That user's password. @default - generated (random provider), kept in the stack's state */
    readonly password?: pulumi.Input<string>;
}

export interface MlflowServerArgs {
    /** Public host of the UI and API: the Ingress rule, its certificate and an allowed Host header. */
    readonly host: string;
    /** SQLAlchemy URI of the PostgreSQL backend store, `postgresql+psycopg2://…` (a secret Output of the Postgres component). */
    readonly backendStoreUri: pulumi.Input<string>;
    /** `s3://<bucket>/<prefix>` the server proxies artifacts to (the ArtifactStore's `artifactsDestination`). */
    readonly artifactsDestination: pulumi.Input<string>;
    /**
     * IAM role the server assumes through IRSA, for AWS S3: the ArtifactStore's read-write role.
     * Exactly one of `roleArn` and `s3Endpoint` is given.
     * @default - none: `s3Endpoint` says how the store is reached
     */
    readonly roleArn?: pulumi.Input<string>;
    /**
     * An S3-compatible store other than AWS S3 (the ObjectStore component), reached at `url` with
     * static credentials, which the server gets from a Secret.
     * @default - none: AWS S3 through `roleArn`
     */
    readonly s3Endpoint?: {
        readonly url: pulumi.Input<string>;
        readonly accessKeyId: pulumi.Input<string>;
        readonly secretAccessKey: pulumi.Input<string>;
    };
    /**
     * ClusterIssuer that signs the Ingress certificate (the CertManager's `clusterIssuerName`).
     * @default - no certificate is requested: the Ingress's TLS Secret (`<name>-tls`) is provided by whoever runs the cluster
     */
    readonly clusterIssuer?: pulumi.Input<string>;
    /**
     * Namespace created for the server.
     * @default "mlflow"
     */
    readonly namespace?: string;
    /**
     * Service account of the server pods; the ArtifactStore's read-write role trusts exactly this name.
     * @default "mlflow"
     */
    readonly serviceAccountName?: string;
    /**
     * Server image; it must carry psycopg2 and boto3.
     * @default MLFLOW_IMAGE (ghcr.io/mlflow/mlflow:v3.17.2-full)
     */
    readonly image?: string;
    /**
     * Server replicas.
     * @default 1
     */
    readonly replicas?: number;
    /**
     * Worker processes per replica (`--workers`).
     * @default 2
     */
    readonly workers?: number;
    /**
     * CPU and memory requested per replica; memory is also the limit.
     * @default { cpu: "250m", memory: "1Gi" }
     */
    readonly resources?: { readonly cpu: string; readonly memory: string };
    /**
     * IngressClass of the Ingress and of the certificate's HTTP-01 challenge.
     * @default "nginx"
     */
    readonly ingressClass?: string;
    /**
     * Cluster DNS domain, for the in-cluster URL and its allowed Host headers.
     * @default "cluster.local"
     */
    readonly clusterDomain?: string;
    /**
     * MLflow authentication. On unless switched off: an open tracking server behind a public Ingress
     * lets anyone move registry aliases and write artifacts.
     * @default { enabled: true }
     */
    readonly basicAuth?: MlflowBasicAuthArgs;
    /**
     * A read-only MLflow user for model servers, created by a Job once the server is ready. With basic
     * auth only (an open server needs no credentials). It holds READ on every experiment and registered
     * model: it reads versions, runs and artifacts, whatever `defaultPermission`, and cannot change what
     * exists. Two limits are MLflow's: any signed-in user may create new experiments and registered
     * models (and manage those), and a `defaultPermission` above READ applies to this user too.
     * @default - none
     */
    readonly registryReader?: MlflowRegistryReaderArgs;
}

export const MLFLOW_SERVER_DEFAULTS = {
    namespace: "mlflow",
    serviceAccountName: "mlflow",
    image: MLFLOW_IMAGE,
    replicas: 1,
    workers: 2,
    resources: { cpu: "250m", memory: "1Gi" },
    ingressClass: DEFAULT_INGRESS_CLASS,
    clusterDomain: "cluster.local",
    defaultPermission: "READ",
    adminUsername: "admin",
    registryReaderUsername: "model-server",
    basicAuth: true,
} as const;

const S3_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const POSTGRES_SCHEME = /^postgresql(\+psycopg2?)?$/;
const BASIC_AUTH_USER = /^[^\s:]+$/;

/** Every problem of the plain args, each naming the arg and its value. */
export function validateMlflowServerArgs(name: string, args: MlflowServerArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!RELEASE_NAME.test(name)) {
        problem(
            "",
            `must be lower-case letters, digits and "-", starting with a letter, at most 40 characters (it names the Service and the migration Job), got ${show(name)}`,
        );
    }
    if (!DNS_NAME.test(args.host)) problem("host", `must be a DNS name such as "mlflow.ml.example.com", got ${show(args.host)}`);
    if (args.namespace !== undefined && !K8S_NAME.test(args.namespace)) {
        problem("namespace", `must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got ${show(args.namespace)}`);
    }
    if (args.serviceAccountName !== undefined && !K8S_NAME.test(args.serviceAccountName)) {
        problem(
            "serviceAccountName",
            `must be a Kubernetes object name (lower-case letters, digits and "-", at most 63 characters), got ${show(args.serviceAccountName)}`,
        );
    }
    for (const [arg, value] of [
        ["replicas", args.replicas],
        ["workers", args.workers],
    ] as const) {
        if (value !== undefined && !(Number.isInteger(value) && value >= 1)) problem(arg, `must be a whole number ≥ 1, got ${value}`);
    }
    if (args.image !== undefined && !isPinnedImage(args.image))
        problem("image", `must be pinned to a tag or digest other than "latest", got ${show(args.image)}`);
    if (args.resources !== undefined) {
        for (const [key, example] of [
            ["cpu", '"500m" or "1"'],
            ["memory", '"1Gi"'],
        ] as const) {
            const quantity = args.resources[key];
            if (!isQuantity(quantity) || (parseQuantity(quantity) ?? 0) <= 0)
                problem(`resources.${key}`, `must be a positive quantity such as ${example}, got ${show(quantity)}`);
        }
    }
    if (args.ingressClass !== undefined && !K8S_NAME.test(args.ingressClass))
        problem("ingressClass", `must be the name of an IngressClass, got ${show(args.ingressClass)}`);
    if (args.clusterDomain !== undefined && !DNS_SUBDOMAIN.test(args.clusterDomain)) {
        problem("clusterDomain", `must be a DNS domain such as "cluster.local", got ${show(args.clusterDomain)}`);
    }
    if (typeof args.artifactsDestination === "string" && !S3_URI.test(args.artifactsDestination)) {
        problem("artifactsDestination", `must be an S3 URI such as "s3://bucket/mlflow", got ${show(args.artifactsDestination)}`);
    }
    if ((args.roleArn === undefined) === (args.s3Endpoint === undefined)) {
        problem(
            "roleArn",
            `or s3Endpoint must say how the artifact store is reached (exactly one: IRSA for AWS S3, or an S3-compatible endpoint), got ${args.roleArn === undefined ? "neither" : "both"}`,
        );
    }
    if (typeof args.s3Endpoint?.url === "string" && !/^https?:\/\/[^\s/]+/.test(args.s3Endpoint.url)) {
        problem("s3Endpoint.url", `must be an http(s) URL of an S3-compatible store, got ${show(args.s3Endpoint.url)}`);
    }
    if (typeof args.roleArn === "string" && !ROLE_ARN.test(args.roleArn)) {
        problem("roleArn", `must be an IAM role ARN such as "arn:aws:iam::123456789012:role/mlflow", got ${show(args.roleArn)}`);
    }
    const adminUsername = args.basicAuth?.adminUsername;
    if (adminUsername !== undefined && !BASIC_AUTH_USER.test(adminUsername)) {
        problem("basicAuth.adminUsername", `must be non-empty, without ":" or whitespace (HTTP basic auth), got ${show(adminUsername)}`);
    }
    const reader = args.registryReader;
    if (reader !== undefined) {
        if (typeof reader.namespace === "string" && !K8S_NAME.test(reader.namespace)) {
            problem(
                "registryReader.namespace",
                `must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got ${show(reader.namespace)}`,
            );
        }
        if (reader.username !== undefined && !BASIC_AUTH_USER.test(reader.username)) {
            problem("registryReader.username", `must be non-empty, without ":" or whitespace (HTTP basic auth), got ${show(reader.username)}`);
        }
        const admin = adminUsername ?? MLFLOW_SERVER_DEFAULTS.adminUsername;
        if ((reader.username ?? MLFLOW_SERVER_DEFAULTS.registryReaderUsername) === admin) {
            problem("registryReader.username", `must not be the admin user ${show(admin)}: model servers never get the admin's credentials`);
        }
    }
    return problems;
}

/** A credential given by the caller (kept secret), or one generated and kept in the stack's state. */
function generatedOr(given: pulumi.Input<string> | undefined, name: string, length: number, parent: pulumi.Resource): pulumi.Output<string> {
    return given !== undefined ? pulumi.secret(given) : new random.RandomPassword(name, { length, special: false }, { parent }).result;
}

/** The URI's scheme only: the rest holds the password and must never reach a message. */
export function backendStoreUriProblem(uri: string): string | undefined {
    const scheme = /^([a-z0-9+.-]*):\/\//i.exec(uri)?.[1];
    if (scheme !== undefined && POSTGRES_SCHEME.test(scheme)) return undefined;
    return `backendStoreUri must be a PostgreSQL URI (postgresql+psycopg2://user:password@host:5432/db), got one with scheme ${JSON.stringify(scheme ?? "")}`;
}

/**
 * The MLflow tracking server and model registry: Postgres backend store, artifacts proxied to S3
 * with IRSA credentials, the schema migrated by a Job before the server rolls, TLS at the Ingress,
 * and optionally MLflow's basic-auth app.
 */
export class MlflowServer extends pulumi.ComponentResource {
    /** `https://<host>`: the UI and the tracking URI of people and CI. */
    public readonly url: pulumi.Output<string>;
    /** `http://<service>.<namespace>.svc.<domain>:5000`: MLFLOW_TRACKING_URI of in-cluster clients (model servers). */
    public readonly internalUrl: pulumi.Output<string>;
    public readonly namespace: pulumi.Output<string>;
    public readonly serviceName: pulumi.Output<string>;
    public readonly serviceAccountName: pulumi.Output<string>;
    /**
     * Secret (keys `username`, `password`) with the admin credentials MLflow bootstraps on first start;
     * a password later changed through MLflow's API is not written back. Undefined without basic auth.
     */
    public readonly adminSecretName: pulumi.Output<string> | undefined;
    /**
     * Secret in `registryReader.namespace` (keys `username`, `password`) of the read-only user, for the
     * model servers' `trackingCredentials`; it resolves once the Job has created the user. Undefined
     * without basic auth or without `registryReader`.
     */
    public readonly registryReaderSecretName: pulumi.Output<string> | undefined;

    constructor(name: string, args: MlflowServerArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("MlflowServer", name, validateMlflowServerArgs(name, args));
        super("mlops:tracking:MlflowServer", name, {}, opts);

        const d = MLFLOW_SERVER_DEFAULTS;
        const namespaceName = args.namespace ?? d.namespace;
        const image = args.image ?? d.image;
        const replicas = args.replicas ?? d.replicas;
        const workers = args.workers ?? d.workers;
        const resources = args.resources ?? d.resources;
        const clusterDomain = args.clusterDomain ?? d.clusterDomain;
        const basicAuth = args.basicAuth?.enabled ?? d.basicAuth;
        const labels = platformLabels(name, "tracking-server");
        const checkedUri = pulumi.secret(
            pulumi.output(args.backendStoreUri).apply((uri) => {
                const problem = backendStoreUriProblem(uri);
                if (problem !== undefined) throw new pulumi.ResourceError(`MlflowServer "${name}": ${problem}`, this);
                return uri;
            }),
        );
        const artifactsDestination = pulumi.output(args.artifactsDestination).apply((dest) => {
            if (!S3_URI.test(dest))
                throw new pulumi.ResourceError(
                    `MlflowServer "${name}": artifactsDestination must be an S3 URI such as "s3://bucket/mlflow", got ${JSON.stringify(dest)}`,
                    this,
                );
            return dest;
        });

        const ns = new k8s.core.v1.Namespace(
            `${name}-ns`,
            {
                metadata: { name: namespaceName, labels: { ...platformLabels(namespaceName, "namespace"), ...RESTRICTED_NAMESPACE_LABELS } },
            },
            { parent: this },
        );
        const namespace = ns.metadata.name;
        const inNamespace = (objectName: string, objectLabels = labels) => ({ name: objectName, namespace, labels: objectLabels });

        const serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-sa`,
            {
                metadata: {
                    ...inNamespace(args.serviceAccountName ?? d.serviceAccountName),
                    ...(args.roleArn !== undefined && { annotations: { "eks.amazonaws.com/role-arn": args.roleArn } }),
                },
                automountServiceAccountToken: false,
            },
            { parent: this },
        );

        const backendSecret = new k8s.core.v1.Secret(
            `${name}-backend-store`,
            {
                metadata: inNamespace(`${name}-backend-store`),
                type: "Opaque",
                stringData: { uri: checkedUri },
            },
            { parent: this },
        );
        const secretEnv = (envName: string, secretName: pulumi.Input<string>, key: string): k8s.types.input.core.v1.EnvVar => ({
            name: envName,
            valueFrom: { secretKeyRef: { name: secretName, key } },
        });
        // What every MLflow process here needs: the database, and writable HOME and /tmp under a read-only root.
        const baseEnv: k8s.types.input.core.v1.EnvVar[] = [
            secretEnv(BACKEND_STORE_URI_ENV, backendSecret.metadata.name, "uri"),
            { name: "HOME", value: HOME_DIR },
        ];
        const baseVolumes: k8s.types.input.core.v1.Volume[] = [
            // Proxied uploads are spooled to a temporary file before they go to S3: /tmp must hold the largest artifact.
            { name: "tmp", emptyDir: {} },
            { name: "home", emptyDir: {} },
        ];
        const baseMounts: k8s.types.input.core.v1.VolumeMount[] = [
            { name: "tmp", mountPath: "/tmp" },
            { name: "home", mountPath: HOME_DIR },
        ];
        const env = [...baseEnv];
        const volumes = [...baseVolumes];
        const mounts = [...baseMounts];

        const podAnnotations: Record<string, pulumi.Input<string>> = {
            // The digest of a secret is not secret: unsecret, so that a preview shows why the pods roll.
            [BACKEND_STORE_CHECKSUM_ANNOTATION]: pulumi.unsecret(checkedUri.apply((uri) => secretDataChecksum({ uri }))),
        };
        if (args.s3Endpoint !== undefined) {
            // A store outside AWS has no IRSA: its static credentials reach the server through a Secret.
            const s3 = args.s3Endpoint;
            const s3Credentials = { accessKeyId: pulumi.secret(s3.accessKeyId), secretAccessKey: pulumi.secret(s3.secretAccessKey) };
            const s3Secret = new k8s.core.v1.Secret(
                `${name}-s3-credentials`,
                { metadata: inNamespace(`${name}-s3-credentials`), type: "Opaque", stringData: s3Credentials },
                { parent: this },
            );
            env.push(
                { name: "MLFLOW_S3_ENDPOINT_URL", value: s3.url },
                secretEnv("AWS_ACCESS_KEY_ID", s3Secret.metadata.name, "accessKeyId"),
                secretEnv("AWS_SECRET_ACCESS_KEY", s3Secret.metadata.name, "secretAccessKey"),
            );
            podAnnotations[S3_CREDENTIALS_CHECKSUM_ANNOTATION] = pulumi.unsecret(
                pulumi
                    .all([s3Credentials.accessKeyId, s3Credentials.secretAccessKey])
                    .apply(([id, key]) => secretDataChecksum({ accessKeyId: id, secretAccessKey: key })),
            );
        }
        let adminSecret: k8s.core.v1.Secret | undefined;
        if (basicAuth) {
            const adminPassword = generatedOr(args.basicAuth?.adminPassword, `${name}-admin-password`, 32, this);
            const flaskSecretKey = generatedOr(args.basicAuth?.flaskSecretKey, `${name}-flask-secret-key`, 64, this);
            adminSecret = new k8s.core.v1.Secret(
                `${name}-admin`,
                {
                    metadata: inNamespace(`${name}-admin`),
                    type: "Opaque",
                    stringData: { username: args.basicAuth?.adminUsername ?? d.adminUsername, password: adminPassword },
                },
                { parent: this },
            );
            const authIni = checkedUri.apply((uri) =>
                basicAuthIni({ databaseUri: uri, defaultPermission: args.basicAuth?.defaultPermission ?? d.defaultPermission }),
            );
            const authSecret = new k8s.core.v1.Secret(
                `${name}-auth`,
                {
                    metadata: inNamespace(`${name}-auth`),
                    type: "Opaque",
                    stringData: { [AUTH_CONFIG_FILE]: authIni, "flask-secret-key": flaskSecretKey },
                },
                { parent: this },
            );
            // MLflow reads the config once, at start: a changed default permission or URI needs new pods.
            podAnnotations[AUTH_CONFIG_CHECKSUM_ANNOTATION] = pulumi.unsecret(
                pulumi.all([authIni, flaskSecretKey]).apply(([ini, key]) => secretDataChecksum({ [AUTH_CONFIG_FILE]: ini, "flask-secret-key": key })),
            );
            env.push(
                { name: "MLFLOW_AUTH_CONFIG_PATH", value: `${AUTH_CONFIG_DIR}/${AUTH_CONFIG_FILE}` },
                secretEnv("MLFLOW_AUTH_ADMIN_USERNAME", adminSecret.metadata.name, "username"),
                secretEnv("MLFLOW_AUTH_ADMIN_PASSWORD", adminSecret.metadata.name, "password"),
                // Must be the same in every worker and replica, or CSRF tokens fail across them.
                secretEnv("MLFLOW_FLASK_SERVER_SECRET_KEY", authSecret.metadata.name, "flask-secret-key"),
            );
            volumes.push({
                name: "auth-config",
                secret: { secretName: authSecret.metadata.name, items: [{ key: AUTH_CONFIG_FILE, path: AUTH_CONFIG_FILE }], defaultMode: 0o440 },
            });
            mounts.push({ name: "auth-config", mountPath: AUTH_CONFIG_DIR, readOnly: true });
        }

        const container = (
            containerName: string,
            command: pulumi.Input<pulumi.Input<string>[]>,
            containerEnv: k8s.types.input.core.v1.EnvVar[],
            volumeMounts: k8s.types.input.core.v1.VolumeMount[],
        ) => ({
            name: containerName,
            image,
            command,
            env: containerEnv,
            volumeMounts,
            resources: { requests: { cpu: resources.cpu, memory: resources.memory }, limits: { memory: resources.memory } },
            securityContext: restrictedContainerSecurityContext(true),
        });

        // A Job rather than an init container: it runs once per MLflow version instead of in every
        // pod start (replicas would race on the same migration), Pulumi waits for it to succeed, and
        // the Deployment depends on it, so a failed migration stops the rollout before any new pod
        // serves against a half-migrated schema. No ttlSecondsAfterFinished: a Job that deleted
        // itself would be recreated, and the migration re-run, by the next `pulumi up`.
        const steps = mlflowMigrationSteps({ basicAuth });
        // The migration needs the database and nothing else: no admin password, no auth config.
        const migrationStep = (step: MigrationStep) => container(step.name, step.command, baseEnv, baseMounts);
        const jobLabels = platformLabels(`${name}-db-upgrade`, "schema-migration");
        const lastStep = steps[steps.length - 1] as MigrationStep;
        const migration = new k8s.batch.v1.Job(
            `${name}-db-upgrade`,
            {
                metadata: inNamespace(migrationJobName(name, image), jobLabels),
                spec: {
                    backoffLimit: 3,
                    activeDeadlineSeconds: 3600,
                    template: {
                        metadata: { labels: jobLabels },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurityContext(),
                            volumes: baseVolumes,
                            restartPolicy: "Never",
                            // Init containers run one after another, each to success: the steps' order.
                            initContainers: steps.slice(0, -1).map(migrationStep),
                            containers: [migrationStep(lastStep)],
                        },
                    },
                },
            },
            { parent: this, deleteBeforeReplace: true },
        );

        const serviceName = name;
        const allowedHosts = mlflowAllowedHosts({ host: args.host, serviceName, namespace: namespaceName, port: MLFLOW_PORT, clusterDomain });
        const command = artifactsDestination.apply((dest) =>
            mlflowServerCommand({ artifactsDestination: dest, allowedHosts, port: MLFLOW_PORT, workers, basicAuth }),
        );
        const probe = (periodSeconds: number, failureThreshold: number) => ({
            httpGet: { path: "/health", port: "http" },
            periodSeconds,
            failureThreshold,
            timeoutSeconds: 5,
        });
        const selector = selectorLabels(name);
        const deployment = new k8s.apps.v1.Deployment(
            `${name}-server`,
            {
                metadata: inNamespace(name),
                spec: {
                    replicas,
                    selector: { matchLabels: selector },
                    // A new pod must be ready before an old one goes: never below the available replicas.
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
                    template: {
                        metadata: { labels, annotations: podAnnotations },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurityContext(),
                            volumes,
                            serviceAccountName: serviceAccount.metadata.name,
                            topologySpreadConstraints: [
                                {
                                    maxSkew: 1,
                                    topologyKey: "kubernetes.io/hostname",
                                    whenUnsatisfiable: "ScheduleAnyway",
                                    labelSelector: { matchLabels: selector },
                                },
                            ],
                            containers: [
                                {
                                    ...container("mlflow", command, env, mounts),
                                    ports: [{ name: "http", containerPort: MLFLOW_PORT, protocol: "TCP" }],
                                    // The first start against a large database can take minutes; liveness waits for it.
                                    startupProbe: probe(5, 60),
                                    readinessProbe: probe(10, 3),
                                    livenessProbe: probe(20, 3),
                                },
                            ],
                        },
                    },
                },
            },
            { parent: this, dependsOn: [migration] },
        );

        // After the Deployment: Pulumi waits for a Service's endpoints, which exist only once pods are ready.
        const service = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: inNamespace(serviceName),
                spec: { type: "ClusterIP", selector, ports: [{ name: "http", port: MLFLOW_PORT, targetPort: "http", protocol: "TCP" }] },
            },
            { parent: this, dependsOn: [deployment] },
        );

        new k8s.networking.v1.Ingress(
            `${name}-ingress`,
            {
                metadata: {
                    ...inNamespace(name),
                    annotations: {
                        ...(args.clusterIssuer !== undefined && { [CLUSTER_ISSUER_ANNOTATION]: args.clusterIssuer }),
                        // Artifacts are uploaded through the server: no body limit (nginx's default is 1m),
                        // streamed rather than buffered, and time for slow multi-gigabyte models.
                        "nginx.ingress.kubernetes.io/proxy-body-size": "0",
                        "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                        "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
                        "nginx.ingress.kubernetes.io/proxy-send-timeout": "600",
                    },
                },
                spec: {
                    ingressClassName: args.ingressClass ?? d.ingressClass,
                    tls: [{ hosts: [args.host], secretName: `${name}-tls` }],
                    rules: [
                        {
                            host: args.host,
                            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service.metadata.name, port: { name: "http" } } } }] },
                        },
                    ],
                },
            },
            { parent: this },
        );

        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            {
                metadata: inNamespace(name),
                spec: {
                    // One at a time: a single replica can always be drained, two or more keep one serving.
                    maxUnavailable: 1,
                    // A crash-looping pod must not hold a node drain hostage.
                    unhealthyPodEvictionPolicy: "AlwaysAllow",
                    selector: { matchLabels: selector },
                },
            },
            { parent: this },
        );

        const internalUrl = pulumi.interpolate`http://${service.metadata.name}.${namespace}.svc.${clusterDomain}:${MLFLOW_PORT}`;
        let registryReaderSecretName: pulumi.Output<string> | undefined;
        if (adminSecret !== undefined && args.registryReader !== undefined) {
            const readerName = `${name}-registry-reader`;
            const readerUsername = args.registryReader.username ?? d.registryReaderUsername;
            const readerPassword = generatedOr(args.registryReader.password, `${readerName}-password`, 32, this);
            const credentials = { username: readerUsername, password: readerPassword };
            const readerLabels = platformLabels(readerName, "registry-reader");
            // What the model servers mount, in their namespace (a secretKeyRef cannot cross namespaces)...
            const modelsSecret = new k8s.core.v1.Secret(
                readerName,
                {
                    metadata: { name: readerName, namespace: args.registryReader.namespace, labels: readerLabels },
                    type: "Opaque",
                    stringData: credentials,
                },
                { parent: this },
            );
            // ...and the Job's copy beside the server, under its own name so that both may share a namespace.
            const jobSecret = new k8s.core.v1.Secret(
                `${readerName}-job`,
                {
                    metadata: inNamespace(`${readerName}-job`, readerLabels),
                    type: "Opaque",
                    stringData: credentials,
                },
                { parent: this },
            );
            const program = readFileSync(REGISTRY_READER_PROGRAM, "utf8");
            const programMap = new k8s.core.v1.ConfigMap(
                `${readerName}-program`,
                {
                    metadata: inNamespace(`${readerName}-program`, readerLabels),
                    data: { [REGISTRY_READER_PROGRAM_FILE]: program },
                },
                { parent: this },
            );
            const readerJob = new k8s.batch.v1.Job(
                readerName,
                {
                    metadata: inNamespace(readerName, readerLabels),
                    spec: {
                        backoffLimit: 3,
                        activeDeadlineSeconds: 900,
                        template: {
                            metadata: {
                                labels: readerLabels,
                                // A Job runs once; its template changing makes Pulumi replace it, which runs it again.
                                annotations: {
                                    [REGISTRY_READER_CHECKSUM_ANNOTATION]: pulumi.unsecret(
                                        readerPassword.apply((password) => secretDataChecksum({ username: readerUsername, password, program })),
                                    ),
                                },
                            },
                            spec: {
                                automountServiceAccountToken: false,
                                securityContext: restrictedPodSecurityContext(),
                                restartPolicy: "Never",
                                volumes: [{ name: "program", configMap: { name: programMap.metadata.name, defaultMode: 0o444 } }],
                                containers: [
                                    {
                                        name: "registry-reader",
                                        image,
                                        command: ["python", `${REGISTRY_READER_PROGRAM_DIR}/${REGISTRY_READER_PROGRAM_FILE}`],
                                        env: [
                                            { name: "MLFLOW_TRACKING_URI", value: internalUrl },
                                            secretEnv("MLFLOW_ADMIN_USERNAME", adminSecret.metadata.name, "username"),
                                            secretEnv("MLFLOW_ADMIN_PASSWORD", adminSecret.metadata.name, "password"),
                                            secretEnv("READER_USERNAME", jobSecret.metadata.name, "username"),
                                            secretEnv("READER_PASSWORD", jobSecret.metadata.name, "password"),
                                            { name: "PYTHONDONTWRITEBYTECODE", value: "1" },
                                        ],
                                        volumeMounts: [{ name: "program", mountPath: REGISTRY_READER_PROGRAM_DIR, readOnly: true }],
                                        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "128Mi" } },
                                        securityContext: restrictedContainerSecurityContext(true),
                                    },
                                ],
                            },
                        },
                    },
                    // The server must be ready and reachable: Pulumi waits for the Deployment's rollout and the Service's endpoints.
                },
                { parent: this, dependsOn: [deployment, service], deleteBeforeReplace: true },
            );
            // Through the Job: a model server that starts with these credentials finds its user in MLflow.
            registryReaderSecretName = pulumi.all([modelsSecret.metadata.name, readerJob.metadata.name]).apply(([secretName]) => secretName);
        }

        this.namespace = namespace;
        this.serviceName = service.metadata.name;
        this.serviceAccountName = serviceAccount.metadata.name;
        this.url = pulumi.output(`https://${args.host}`);
        this.internalUrl = internalUrl;
        this.adminSecretName = adminSecret?.metadata.name;
        this.registryReaderSecretName = registryReaderSecretName;
        this.registerOutputs({
            url: this.url,
            internalUrl: this.internalUrl,
            namespace: this.namespace,
            serviceName: this.serviceName,
            serviceAccountName: this.serviceAccountName,
            adminSecretName: this.adminSecretName,
            registryReaderSecretName: this.registryReaderSecretName,
        });
    }
}
