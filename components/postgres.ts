import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { namespaceNameProblem } from "./irsa";
import { platformLabels, selectorLabels } from "./labels";
import { COMPONENT_NAME, DNS_SUBDOMAIN } from "./names";
import { parseQuantity } from "./quantity";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./security";
import { imageProblems } from "./images";
import { type ArgProblem, assertValidArgs, show } from "./validation";

/**
 * The PostgreSQL major both modes run. RDS is pinned to the major only, with automatic minor
 * upgrades: the provider then accepts whatever minor RDS has moved to (`engineVersionActual`), so a
 * maintenance-window patch never shows up as drift, and a major upgrade stays a reviewed change
 * here. Pinning "17.x" instead would make every minor upgrade RDS applies look like a downgrade on
 * the next `pulumi up`; pinning it without automatic upgrades would leave security fixes to whoever
 * remembers to bump it.
 */
export const POSTGRES_MAJOR_VERSION = "17";
/** The official image, Debian (trixie) variant: its `postgres` user and group are 999:999. */
export const POSTGRES_IMAGE = "postgres:17.11-trixie";
export const POSTGRES_UID = 999;
export const POSTGRES_PORT = 5432;
export const DATABASE_NAME = "mlflow";
export const DATABASE_USER = "mlflow";

export interface RdsNetworkArgs {
    readonly vpcId: pulumi.Input<string>;
    /** Private subnets in at least two availability zones. */
    readonly privateSubnetIds: readonly pulumi.Input<string>[];
    /** The cluster nodes' security group: the only source allowed to reach port 5432. */
    readonly nodeSecurityGroupId: pulumi.Input<string>;
}

/** An AWS RDS instance (`PostgresConfig` with `mode: "rds"`). */
export interface RdsPostgresArgs {
    readonly mode: "rds";
    /** RDS instance class such as "db.t4g.medium". */
    readonly instanceClass: string;
    /** Storage allocated at creation, in GiB (20–65536). */
    readonly allocatedStorageGb: number;
    /**
     * Ceiling of RDS storage autoscaling, in GiB.
     * @default - twice allocatedStorageGb, at most 65536
     */
    readonly maxAllocatedStorageGb?: number;
    /**
     * Run a synchronous standby in another availability zone.
     * @default true
     */
    readonly multiAz?: boolean;
    /**
     * Refuse to delete the instance (through Pulumi or the console) until this is turned off.
     * @default true
     */
    readonly deletionProtection?: boolean;
    /**
     * Days of automated backups and point-in-time recovery (1–35).
     * @default 7
     */
    readonly backupRetentionDays?: number;
    readonly network: RdsNetworkArgs;
    /**
     * Days between RDS's rotations of the managed master password (1–365). When set, a
     * `SecretRotation` takes over the schedule of the RDS-managed secret.
     * @default - RDS's own schedule: every 7 days
     */
    readonly masterPasswordRotationDays?: number;
}

/** A StatefulSet in the cluster (`PostgresConfig` with `mode: "in-cluster"`). */
export interface InClusterPostgresArgs {
    readonly mode: "in-cluster";
    /** Size of the data volume, in GiB. */
    readonly allocatedStorageGb: number;
    /**
     * StorageClass of the data volume.
     * @default - the cluster's default StorageClass
     */
    readonly storageClass?: string;
    /** MLflow's namespace: the only one whose pods may connect. */
    readonly mlflowNamespace: pulumi.Input<string>;
    /**
     * Password of the database user, kept as a secret.
     * @default - generated (random provider), kept in the stack's state
     */
    readonly password?: pulumi.Input<string>;
    /**
     * The namespace this component creates for the database.
     * @default - the component's name
     */
    readonly namespace?: string;
    /**
     * CPU and memory requested by the database (memory is also its limit).
     * @default { cpu: "250m", memory: "512Mi" }
     */
    readonly resources?: { readonly cpu: string; readonly memory: string };
    /**
     * The cluster's DNS domain, for the Service's fully qualified name.
     * @default "cluster.local"
     */
    readonly clusterDomain?: string;
    /**
     * The official `postgres` image (Debian variant: its user is 999), `repository:tag` or `repository:tag@sha256:…`.
     * @default POSTGRES_IMAGE
     */
    readonly image?: string;
}

export type PostgresArgs = RdsPostgresArgs | InClusterPostgresArgs;

export const POSTGRES_DEFAULTS = {
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 7,
    maxAllocatedStorageFactor: 2,
    resources: { cpu: "250m", memory: "512Mi" },
    clusterDomain: "cluster.local",
} as const;

const MAX_STORAGE_GB = 65536;
const INSTANCE_CLASS = /^db\.[a-z0-9-]+\.[a-z0-9]+$/;

/**
 * MLflow's backend store: an encrypted, private RDS instance with an RDS-managed master password, or
 * a hardened StatefulSet in the cluster. Either way `connectionUri` is a secret Output that MLflow
 * receives through a Kubernetes Secret, never as a plain value.
 *
 * RDS rotates a managed master password on its own schedule (every 7 days unless
 * `masterPasswordRotationDays` says otherwise). `connectionUri` is read from the secret's current
 * version on each `pulumi up`, so after a rotation the URI that MLflow holds is stale — new
 * connections fail — until the next `pulumi up` refreshes the Secret and MLflow restarts. Run
 * `pulumi up` on a schedule shorter than the rotation period, or sync the RDS secret into the
 * cluster with a controller (External Secrets) for a rotation-proof setup.
 */
export class Postgres extends pulumi.ComponentResource {
    public readonly mode: PostgresArgs["mode"];
    /**
     * `postgresql+psycopg2://…/mlflow`, a secret: MLflow's `--backend-store-uri`. With RDS it is
     * rebuilt from the managed secret's current version on every `pulumi up` (see the class comment
     * on rotation).
     */
    public readonly connectionUri: pulumi.Output<string>;
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    public readonly databaseName: string;
    public readonly username: string;
    /** The RDS instance's ARN; undefined in-cluster. */
    public readonly instanceArn: pulumi.Output<string> | undefined;
    /** The Secrets Manager secret RDS keeps the master password in; undefined in-cluster. */
    public readonly masterUserSecretArn: pulumi.Output<string> | undefined;
    /** The namespace of the in-cluster database; undefined for RDS. */
    public readonly namespace: string | undefined;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("Postgres", name, validatePostgresArgs(name, args));
        super("mlops:database:Postgres", name, {}, opts);

        const created = args.mode === "rds" ? createRds(this, name, args) : createInCluster(this, name, args);
        this.mode = args.mode;
        this.connectionUri = pulumi.secret(created.connectionUri);
        this.host = created.host;
        this.port = created.port;
        this.databaseName = DATABASE_NAME;
        this.username = DATABASE_USER;
        this.instanceArn = created.instanceArn;
        this.masterUserSecretArn = created.masterUserSecretArn;
        this.namespace = created.namespace;
        this.registerOutputs({
            mode: this.mode,
            connectionUri: this.connectionUri,
            host: this.host,
            port: this.port,
            databaseName: this.databaseName,
            username: this.username,
            namespace: this.namespace,
            instanceArn: this.instanceArn,
            masterUserSecretArn: this.masterUserSecretArn,
        });
    }
}

interface Created {
    readonly connectionUri: pulumi.Output<string>;
    readonly host: pulumi.Output<string>;
    readonly port: pulumi.Output<number>;
    readonly instanceArn?: pulumi.Output<string>;
    readonly masterUserSecretArn?: pulumi.Output<string>;
    readonly namespace?: string;
}

/** The SQLAlchemy URI MLflow connects with; user and password are percent-encoded. */
export function postgresConnectionUri(parts: { username: string; password: string; host: string; port: number; database: string; sslmode?: string }): string {
    const query = parts.sslmode === undefined ? "" : `?sslmode=${parts.sslmode}`;
    return `postgresql+psycopg2://${encodeURIComponent(parts.username)}:${encodeURIComponent(parts.password)}@${parts.host}:${parts.port}/${parts.database}${query}`;
}

/** A final snapshot name unique to this component and stack (RDS: letters, digits, single "-"). */
export function finalSnapshotIdentifier(name: string, stack: string): string {
    const stackPart = stack
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
    return [name, stackPart, "final"].filter((part) => part.length > 0).join("-");
}

function createRds(parent: Postgres, name: string, args: RdsPostgresArgs): Created {
    const opts = { parent };
    const multiAz = args.multiAz ?? POSTGRES_DEFAULTS.multiAz;
    const deletionProtection = args.deletionProtection ?? POSTGRES_DEFAULTS.deletionProtection;
    const backupRetentionDays = args.backupRetentionDays ?? POSTGRES_DEFAULTS.backupRetentionDays;
    const maxAllocatedStorageGb = args.maxAllocatedStorageGb ?? Math.min(args.allocatedStorageGb * POSTGRES_DEFAULTS.maxAllocatedStorageFactor, MAX_STORAGE_GB);

    const subnetGroup = new aws.rds.SubnetGroup(
        `${name}-subnets`,
        {
            description: `MLflow backend database ${name}: private subnets`,
            subnetIds: [...args.network.privateSubnetIds],
        },
        opts,
    );
    // No inline rules: the provider then removes AWS's default allow-all egress, and the database
    // never opens connections itself.
    const securityGroup = new aws.ec2.SecurityGroup(
        `${name}-sg`,
        {
            vpcId: args.network.vpcId,
            description: `MLflow backend database ${name}: Postgres from the cluster nodes only`,
        },
        opts,
    );
    new aws.vpc.SecurityGroupIngressRule(
        `${name}-from-nodes`,
        {
            securityGroupId: securityGroup.id,
            referencedSecurityGroupId: args.network.nodeSecurityGroupId,
            ipProtocol: "tcp",
            fromPort: POSTGRES_PORT,
            toPort: POSTGRES_PORT,
            description: "Postgres from the cluster nodes",
        },
        opts,
    );
    const parameterGroup = new aws.rds.ParameterGroup(
        `${name}-params`,
        {
            family: `postgres${POSTGRES_MAJOR_VERSION}`,
            description: `MLflow backend database ${name}: TLS required`,
            parameters: [{ name: "rds.force_ssl", value: "1" }],
        },
        opts,
    );

    const instance = new aws.rds.Instance(
        `${name}-db`,
        {
            engine: "postgres",
            engineVersion: POSTGRES_MAJOR_VERSION,
            autoMinorVersionUpgrade: true,
            allowMajorVersionUpgrade: false,
            instanceClass: args.instanceClass,
            allocatedStorage: args.allocatedStorageGb,
            ...(maxAllocatedStorageGb > args.allocatedStorageGb && { maxAllocatedStorage: maxAllocatedStorageGb }),
            storageType: "gp3",
            storageEncrypted: true,
            dbName: DATABASE_NAME,
            username: DATABASE_USER,
            manageMasterUserPassword: true,
            port: POSTGRES_PORT,
            dbSubnetGroupName: subnetGroup.name,
            vpcSecurityGroupIds: [securityGroup.id],
            parameterGroupName: parameterGroup.name,
            publiclyAccessible: false,
            multiAz,
            deletionProtection,
            backupRetentionPeriod: backupRetentionDays,
            // Automated backups outlive the instance for their retention period: a deleted database
            // can still be restored to any point in time.
            deleteAutomatedBackups: false,
            skipFinalSnapshot: false,
            finalSnapshotIdentifier: finalSnapshotIdentifier(name, pulumi.getStack()),
            copyTagsToSnapshot: true,
        },
        opts,
    );

    const masterUserSecretArn = instance.masterUserSecrets.apply((secrets) => {
        const arn = secrets[0]?.secretArn;
        if (arn === undefined || arn === "") {
            throw new pulumi.ResourceError(`Postgres "${name}": RDS reported no managed master user secret for the instance`, parent);
        }
        return arn;
    });
    if (args.masterPasswordRotationDays !== undefined) {
        new aws.secretsmanager.SecretRotation(
            `${name}-password-rotation`,
            {
                secretId: masterUserSecretArn,
                rotationRules: { automaticallyAfterDays: args.masterPasswordRotationDays },
                // A rotation right now would invalidate the URI this very update hands to MLflow.
                rotateImmediately: false,
            },
            opts,
        );
    }

    const secretVersion = aws.secretsmanager.getSecretVersionOutput({ secretId: masterUserSecretArn }, { parent });
    const connectionUri = pulumi.all([secretVersion.secretString, instance.address, instance.port]).apply(([secretString, host, port]) => {
        const credentials = JSON.parse(secretString) as { username?: string; password?: string };
        if (typeof credentials.password !== "string") {
            throw new pulumi.ResourceError(`Postgres "${name}": the managed master user secret has no password`, parent);
        }
        return postgresConnectionUri({
            username: credentials.username ?? DATABASE_USER,
            password: credentials.password,
            host,
            port,
            database: DATABASE_NAME,
            sslmode: "require",
        });
    });

    return { connectionUri, host: instance.address, port: instance.port, instanceArn: instance.arn, masterUserSecretArn };
}

function createInCluster(parent: Postgres, name: string, args: InClusterPostgresArgs): Created {
    const opts = { parent };
    const namespaceName = args.namespace ?? name;
    const resources = args.resources ?? POSTGRES_DEFAULTS.resources;
    const clusterDomain = args.clusterDomain ?? POSTGRES_DEFAULTS.clusterDomain;
    const labels = platformLabels(name, "database");
    const credentialsName = `${name}-credentials`;
    const dataDir = "/var/lib/postgresql/data";

    // Named `-ns` like every component's namespace; the alias keeps the one created as `-namespace`.
    const namespace = new k8s.core.v1.Namespace(
        `${name}-ns`,
        {
            metadata: { name: namespaceName, labels: { ...labels, ...RESTRICTED_NAMESPACE_LABELS } },
        },
        { ...opts, aliases: [{ name: `${name}-namespace` }] },
    );
    const inNamespace = { parent, dependsOn: [namespace] };

    // Letters and digits only: nothing to escape in the URI, in libpq or in the entrypoint's shell.
    const password =
        args.password !== undefined ? pulumi.secret(args.password) : new random.RandomPassword(`${name}-password`, { length: 32, special: false }, opts).result;
    const credentials = new k8s.core.v1.Secret(
        `${name}-credentials`,
        {
            metadata: { name: credentialsName, namespace: namespaceName, labels },
            type: "kubernetes.io/basic-auth",
            stringData: { username: DATABASE_USER, password },
        },
        inNamespace,
    );

    const statefulSet = new k8s.apps.v1.StatefulSet(
        `${name}-statefulset`,
        {
            metadata: { name, namespace: namespaceName, labels },
            spec: {
                serviceName: name,
                replicas: 1,
                selector: { matchLabels: selectorLabels(name) },
                // The volume outlives the StatefulSet: deleting or scaling it never deletes the data.
                persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                template: {
                    metadata: { labels },
                    spec: {
                        automountServiceAccountToken: false,
                        enableServiceLinks: false,
                        // Postgres stops on SIGINT (fast shutdown) and needs time to checkpoint.
                        terminationGracePeriodSeconds: 60,
                        securityContext: restrictedPodSecurityContext(POSTGRES_UID, POSTGRES_UID),
                        containers: [
                            {
                                name: "postgres",
                                image: args.image ?? POSTGRES_IMAGE,
                                ports: [{ name: "postgres", containerPort: POSTGRES_PORT, protocol: "TCP" }],
                                env: [
                                    { name: "POSTGRES_USER", value: DATABASE_USER },
                                    { name: "POSTGRES_DB", value: DATABASE_NAME },
                                    // The entrypoint reads the password from the mounted Secret (`file_env`).
                                    { name: "POSTGRES_PASSWORD_FILE", value: "/etc/postgres-credentials/password" },
                                    { name: "POSTGRES_INITDB_ARGS", value: "--data-checksums" },
                                    // The volume's root holds lost+found; initdb wants an empty directory.
                                    { name: "PGDATA", value: `${dataDir}/pgdata` },
                                ],
                                securityContext: restrictedContainerSecurityContext(true),
                                resources: { requests: { cpu: resources.cpu, memory: resources.memory }, limits: { memory: resources.memory } },
                                // TCP on 127.0.0.1: the entrypoint's initdb server listens on the socket only,
                                // so the pod is not ready before the real server starts.
                                startupProbe: { exec: { command: pgIsReady() }, periodSeconds: 10, failureThreshold: 30, timeoutSeconds: 5 },
                                readinessProbe: { exec: { command: pgIsReady() }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 5 },
                                livenessProbe: { exec: { command: pgIsReady() }, periodSeconds: 20, failureThreshold: 6, timeoutSeconds: 5 },
                                volumeMounts: [
                                    { name: "data", mountPath: dataDir },
                                    { name: "credentials", mountPath: "/etc/postgres-credentials", readOnly: true },
                                    // The only paths the server writes outside PGDATA (socket and lock, temp
                                    // files, shared memory), so the root filesystem stays read-only.
                                    { name: "run", mountPath: "/var/run/postgresql" },
                                    { name: "tmp", mountPath: "/tmp" },
                                    { name: "shm", mountPath: "/dev/shm" },
                                ],
                            },
                        ],
                        volumes: [
                            {
                                name: "credentials",
                                secret: { secretName: credentialsName, defaultMode: 0o440, items: [{ key: "password", path: "password" }] },
                            },
                            { name: "run", emptyDir: {} },
                            { name: "tmp", emptyDir: {} },
                            { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "256Mi" } },
                        ],
                    },
                },
                volumeClaimTemplates: [
                    {
                        metadata: { name: "data", labels },
                        spec: {
                            accessModes: ["ReadWriteOnce"],
                            resources: { requests: { storage: `${args.allocatedStorageGb}Gi` } },
                            ...(args.storageClass !== undefined && { storageClassName: args.storageClass }),
                        },
                    },
                ],
            },
        },
        { parent, dependsOn: [namespace, credentials] },
    );

    const service = new k8s.core.v1.Service(
        `${name}-service`,
        {
            metadata: { name, namespace: namespaceName, labels },
            spec: {
                type: "ClusterIP",
                selector: selectorLabels(name),
                ports: [{ name: "postgres", port: POSTGRES_PORT, targetPort: "postgres", protocol: "TCP" }],
            },
        },
        inNamespace,
    );

    new k8s.networking.v1.NetworkPolicy(
        `${name}-network-policy`,
        {
            metadata: { name, namespace: namespaceName, labels },
            spec: {
                podSelector: { matchLabels: selectorLabels(name) },
                // No egress rule at all: the database never opens connections.
                policyTypes: ["Ingress", "Egress"],
                ingress: [
                    {
                        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": args.mlflowNamespace } } }],
                        ports: [{ protocol: "TCP", port: POSTGRES_PORT }],
                    },
                ],
                egress: [],
            },
        },
        inNamespace,
    );

    const host = `${name}.${namespaceName}.svc.${clusterDomain}`;
    // The official image has no server certificate: in-cluster traffic is confined by the
    // NetworkPolicy instead. The URI depends on the Service and the StatefulSet, so whatever
    // consumes it (MLflow's migration) waits until the database is ready.
    const connectionUri = pulumi
        .all([password, service.metadata.name, statefulSet.metadata.name])
        .apply(([secret]) => postgresConnectionUri({ username: DATABASE_USER, password: secret, host, port: POSTGRES_PORT, database: DATABASE_NAME }));
    return { connectionUri, host: pulumi.output(host), port: pulumi.output(POSTGRES_PORT), namespace: namespaceName };
}

function pgIsReady(): string[] {
    return ["pg_isready", "--host=127.0.0.1", `--port=${POSTGRES_PORT}`, `--username=${DATABASE_USER}`, `--dbname=${DATABASE_NAME}`];
}

/** Every problem of the plain args, each naming the arg and its value. */
export function validatePostgresArgs(name: string, args: PostgresArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!COMPONENT_NAME.test(name)) {
        problem(
            "",
            `must be lower-case letters, digits and single "-", starting with a letter, at most 32 characters (it names the database's resources), got ${show(name)}`,
        );
    }
    const wholeInRange = (arg: string, value: number | undefined, min: number, max: number) => {
        if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max))
            problem(arg, `must be a whole number from ${min} to ${max}, got ${value}`);
    };
    const positiveQuantity = (arg: string, value: string, example: string) => {
        if (!((parseQuantity(value) ?? 0) > 0))
            problem(arg, `must be a ${arg.endsWith("cpu") ? "CPU" : "memory"} quantity such as ${example}, got ${show(value)}`);
    };
    if (args.mode === "rds") {
        if (!INSTANCE_CLASS.test(args.instanceClass))
            problem("instanceClass", `must be an RDS instance class such as "db.t4g.medium", got ${show(args.instanceClass)}`);
        wholeInRange("allocatedStorageGb", args.allocatedStorageGb, 20, MAX_STORAGE_GB);
        wholeInRange("maxAllocatedStorageGb", args.maxAllocatedStorageGb, args.allocatedStorageGb + 1, MAX_STORAGE_GB);
        wholeInRange("backupRetentionDays", args.backupRetentionDays, 1, 35);
        wholeInRange("masterPasswordRotationDays", args.masterPasswordRotationDays, 1, 365);
        if (args.network.privateSubnetIds.length < 2) {
            problem("network.privateSubnetIds", `must list subnets in at least two availability zones, got ${args.network.privateSubnetIds.length}`);
        }
        return problems;
    }
    wholeInRange("allocatedStorageGb", args.allocatedStorageGb, 1, MAX_STORAGE_GB);
    for (const [arg, value] of [
        ["mlflowNamespace", args.mlflowNamespace],
        ["namespace", args.namespace],
    ] as const) {
        const nsProblem = typeof value === "string" ? namespaceNameProblem(value, arg) : undefined;
        if (nsProblem !== undefined) problems.push(nsProblem);
    }
    if (args.storageClass !== undefined && !DNS_SUBDOMAIN.test(args.storageClass))
        problem("storageClass", `must be the name of a StorageClass, got ${show(args.storageClass)}`);
    if (args.clusterDomain !== undefined && !DNS_SUBDOMAIN.test(args.clusterDomain))
        problem("clusterDomain", `must be a DNS domain such as "cluster.local", got ${show(args.clusterDomain)}`);
    if (args.resources !== undefined) {
        positiveQuantity("resources.cpu", args.resources.cpu, '"250m"');
        positiveQuantity("resources.memory", args.resources.memory, '"512Mi"');
    }
    problems.push(...imageProblems("", { image: args.image }));
    return problems;
}
