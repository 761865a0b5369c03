import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { SECRET_SIG } from "../../offline/runtime";
import {
    type InClusterPostgresArgs,
    POSTGRES_DEFAULTS,
    POSTGRES_IMAGE,
    POSTGRES_MAJOR_VERSION,
    Postgres,
    type PostgresArgs,
    type RdsPostgresArgs,
    finalSnapshotIdentifier,
    postgresConnectionUri,
} from "../../components/postgres";
import { RESTRICTED_NAMESPACE_LABELS } from "../../components/security";
import {
    constructionFailure,
    descendantsOf,
    findObject,
    findResource,
    ofType,
    promiseOf,
    type RecordedResource,
    runComponent,
    RESTRICTED_CONTAINER_CONTEXT,
} from "../harness";

const RDS: RdsPostgresArgs = {
    mode: "rds",
    instanceClass: "db.r6g.large",
    allocatedStorageGb: 100,
    network: {
        vpcId: "vpc-0a1b2c3d4e5f60718",
        privateSubnetIds: ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        nodeSecurityGroupId: "sg-0a1b2c3d4e5f60719",
    },
};
const IN_CLUSTER: InClusterPostgresArgs = { mode: "in-cluster", allocatedStorageGb: 20, mlflowNamespace: "mlflow" };

const T = {
    instance: "aws:rds/instance:Instance",
    subnetGroup: "aws:rds/subnetGroup:SubnetGroup",
    parameterGroup: "aws:rds/parameterGroup:ParameterGroup",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    rotation: "aws:secretsmanager/secretRotation:SecretRotation",
    namespace: "kubernetes:core/v1:Namespace",
    secret: "kubernetes:core/v1:Secret",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    service: "kubernetes:core/v1:Service",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    password: "random:index/randomPassword:RandomPassword",
} as const;

function run(args: PostgresArgs, name = "mlflow-db") {
    return runComponent(() => {
        const db = new Postgres(name, args);
        return {
            mode: db.mode,
            databaseName: db.databaseName,
            namespace: db.namespace ?? "(none)",
            connectionUri: db.connectionUri,
            host: db.host,
            port: db.port,
            // Stack outputs drop undefined values (with a warning): absent outputs stay absent.
            ...(db.instanceArn !== undefined && { instanceArn: db.instanceArn }),
            ...(db.masterUserSecretArn !== undefined && { masterUserSecretArn: db.masterUserSecretArn }),
        };
    });
}

function only(resources: readonly RecordedResource[], type: string): RecordedResource {
    const found = ofType(resources, type);
    assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
    return found[0] as RecordedResource;
}

/** Constructs the component and reports the error it throws ("" when none). */
async function attempt(name: string, args: PostgresArgs) {
    const { message, resources } = await constructionFailure(() => new Postgres(name, args));
    return { outputs: { error: message }, resources };
}

const isAws = (r: RecordedResource) => r.type.startsWith("aws:");
const isKubernetes = (r: RecordedResource) => r.type.startsWith("kubernetes:") || r.type.startsWith("random:");

describe("Postgres", () => {
    describe("mode rds", () => {
        it("creates an encrypted, private, gp3 instance of the pinned major with automatic minor upgrades", async () => {
            const { resources } = await run(RDS);
            const instance = findResource(resources, T.instance, "mlflow-db-db").inputs;
            assert.equal(instance["engine"], "postgres");
            assert.equal(instance["engineVersion"], POSTGRES_MAJOR_VERSION);
            assert.equal(instance["autoMinorVersionUpgrade"], true);
            assert.equal(instance["allowMajorVersionUpgrade"], false);
            assert.equal(instance["storageEncrypted"], true);
            assert.equal(instance["publiclyAccessible"], false);
            assert.equal(instance["storageType"], "gp3");
            assert.equal(instance["instanceClass"], "db.r6g.large");
            assert.equal(instance["allocatedStorage"], 100);
            assert.equal(instance["dbName"], "mlflow");
            assert.equal(instance["username"], "mlflow");
            assert.equal(instance["manageMasterUserPassword"], true);
            assert.equal(instance["password"], undefined);
            assert.equal(instance["port"], 5432);
        });

        it("takes a final snapshot on delete and copies tags to snapshots", async () => {
            const { resources } = await run(RDS);
            const instance = findResource(resources, T.instance, "mlflow-db-db").inputs;
            assert.equal(instance["skipFinalSnapshot"], false);
            assert.equal(instance["finalSnapshotIdentifier"], "mlflow-db-test-final");
            assert.equal(instance["copyTagsToSnapshot"], true);
            assert.equal(instance["deleteAutomatedBackups"], false);
        });

        it("takes Multi-AZ, deletion protection, backups and the autoscaling ceiling from its args", async () => {
            const { resources } = await run({ ...RDS, multiAz: false, deletionProtection: false, backupRetentionDays: 14, maxAllocatedStorageGb: 500 });
            const instance = findResource(resources, T.instance, "mlflow-db-db").inputs;
            assert.equal(instance["multiAz"], false);
            assert.equal(instance["deletionProtection"], false);
            assert.equal(instance["backupRetentionPeriod"], 14);
            assert.equal(instance["maxAllocatedStorage"], 500);
        });

        it("places the instance in a subnet group over the private subnets", async () => {
            const { resources } = await run(RDS);
            const subnetGroup = only(resources, T.subnetGroup);
            assert.deepEqual(subnetGroup.inputs["subnetIds"], ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]);
            assert.match(String(findResource(resources, T.instance, "mlflow-db-db").inputs["dbSubnetGroupName"]), /^mlflow-db-subnets-[0-9a-f]{7}$/);
        });

        it("opens port 5432 to the cluster nodes' security group only, with no egress", async () => {
            const { resources } = await run(RDS);
            const group = only(resources, T.securityGroup);
            assert.equal(group.inputs["vpcId"], "vpc-0a1b2c3d4e5f60718");
            assert.equal(group.inputs["ingress"], undefined);
            assert.equal(group.inputs["egress"], undefined);
            assert.equal(ofType(resources, T.egress).length, 0);
            const ingress = only(resources, T.ingress).inputs;
            assert.equal(ingress["referencedSecurityGroupId"], "sg-0a1b2c3d4e5f60719");
            assert.equal(ingress["ipProtocol"], "tcp");
            assert.equal(ingress["fromPort"], 5432);
            assert.equal(ingress["toPort"], 5432);
            assert.equal(ingress["cidrIpv4"], undefined);
            assert.equal(ingress["cidrIpv6"], undefined);
            assert.equal(ingress["prefixListId"], undefined);
            const groupId = (findResource(resources, T.instance, "mlflow-db-db").inputs["vpcSecurityGroupIds"] as string[])[0];
            assert.match(String(groupId), /^sg-[0-9a-f]{17}$/);
            assert.equal(ingress["securityGroupId"], groupId);
        });

        it("forces TLS through a parameter group of the same major", async () => {
            const { resources } = await run(RDS);
            const params = only(resources, T.parameterGroup).inputs;
            assert.equal(params["family"], `postgres${POSTGRES_MAJOR_VERSION}`);
            assert.deepEqual(params["parameters"], [{ name: "rds.force_ssl", value: "1" }]);
            assert.match(String(findResource(resources, T.instance, "mlflow-db-db").inputs["parameterGroupName"]), /^mlflow-db-params-[0-9a-f]{7}$/);
        });

        it("builds a secret connection URI from the managed secret, with sslmode=require", async () => {
            const { outputs } = await run(RDS);
            assert.equal(await pulumi.isSecret(outputs.connectionUri), true);
            const uri = await promiseOf(outputs.connectionUri);
            const host = await promiseOf(outputs.host);
            assert.match(host, /^mlflow-db-db-[0-9a-f]{7}\.c9akciq32xyz\.eu-west-1\.rds\.amazonaws\.com$/);
            assert.match(uri, new RegExp(`^postgresql\\+psycopg2://mlflow:[0-9a-f]{32}@${host.replace(/\./g, "\\.")}:5432/mlflow\\?sslmode=require$`));
            assert.equal(await promiseOf(outputs.port), 5432);
        });

        it("exposes the instance and master secret ARNs", async () => {
            const { outputs } = await run(RDS);
            assert.match(
                String(await promiseOf(outputs.instanceArn as pulumi.Output<string>)),
                /^arn:aws:rds:eu-west-1:123456789012:db:mlflow-db-db-[0-9a-f]{7}$/,
            );
            assert.match(
                String(await promiseOf(outputs.masterUserSecretArn as pulumi.Output<string>)),
                /^arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-/,
            );
            assert.equal(outputs.mode, "rds");
            assert.equal(outputs.databaseName, "mlflow");
            assert.equal(outputs.namespace, "(none)");
        });

        it("creates no Kubernetes objects and no generated password", async () => {
            const { resources } = await run(RDS);
            assert.deepEqual(
                resources.filter(isKubernetes).map((r) => r.type),
                [],
            );
        });

        it("leaves the rotation schedule to RDS unless masterPasswordRotationDays is set", async () => {
            assert.equal(ofType((await run(RDS)).resources, T.rotation).length, 0);
            const { resources, outputs } = await run({ ...RDS, masterPasswordRotationDays: 30 });
            const rotation = only(resources, T.rotation).inputs;
            assert.equal(rotation["secretId"], await promiseOf(outputs.masterUserSecretArn as pulumi.Output<string>));
            assert.deepEqual(rotation["rotationRules"], { automaticallyAfterDays: 30 });
            assert.equal(rotation["rotateImmediately"], false);
            assert.equal(rotation["rotationLambdaArn"], undefined);
        });

        describe("defaults", () => {
            it("is Multi-AZ", async () => {
                assert.equal(findResource((await run(RDS)).resources, T.instance, "mlflow-db-db").inputs["multiAz"], POSTGRES_DEFAULTS.multiAz);
                assert.equal(POSTGRES_DEFAULTS.multiAz, true);
            });
            it("is deletion-protected", async () => {
                assert.equal(findResource((await run(RDS)).resources, T.instance, "mlflow-db-db").inputs["deletionProtection"], true);
            });
            it("keeps 7 days of backups", async () => {
                assert.equal(findResource((await run(RDS)).resources, T.instance, "mlflow-db-db").inputs["backupRetentionPeriod"], 7);
            });
            it("autoscales storage up to twice the allocation, at most 65536 GiB", async () => {
                assert.equal(findResource((await run(RDS)).resources, T.instance, "mlflow-db-db").inputs["maxAllocatedStorage"], 200);
                const huge = findResource((await run({ ...RDS, allocatedStorageGb: 40000 })).resources, T.instance, "mlflow-db-db").inputs;
                assert.equal(huge["maxAllocatedStorage"], 65536);
                const full = findResource((await run({ ...RDS, allocatedStorageGb: 65536 })).resources, T.instance, "mlflow-db-db").inputs;
                assert.equal(full["maxAllocatedStorage"], undefined);
            });
        });
    });

    describe("mode in-cluster", () => {
        it("creates its own namespace under the restricted Pod Security Standard", async () => {
            const { resources, outputs } = await run(IN_CLUSTER);
            const namespace = findObject(resources, T.namespace, "mlflow-db");
            for (const [label, value] of Object.entries(RESTRICTED_NAMESPACE_LABELS)) assert.equal(namespace["metadata"].labels[label], value, label);
            assert.equal(namespace["metadata"].labels["app.kubernetes.io/part-of"], "mlops-platform");
            assert.equal(outputs.namespace, "mlflow-db");
        });

        it("keeps a generated password in state and hands it to postgres through a mounted Secret", async () => {
            const { resources } = await run(IN_CLUSTER);
            const password = only(resources, T.password);
            assert.equal(password.inputs["length"], 32);
            assert.equal(password.inputs["special"], false);
            const secret = findObject(resources, T.secret, "mlflow-db-credentials");
            assert.equal(secret["metadata"].namespace, "mlflow-db");
            assert.equal(secret["type"], "kubernetes.io/basic-auth");
            assert.equal(secret["stringData"].username, "mlflow");
            assert.match(secret["stringData"].password, /^[A-Za-z0-9]{32}$/);
            const wire = findResource(resources, T.secret, "mlflow-db-credentials").wireInputs["stringData"] as Record<string, unknown>;
            assert.equal(wire[SECRET_SIG.key], SECRET_SIG.secret);

            const container = findObject(resources, T.statefulSet, "mlflow-db")["spec"].template.spec.containers[0];
            assert.deepEqual(
                container.env.find((e: { name: string }) => e.name === "POSTGRES_PASSWORD_FILE"),
                { name: "POSTGRES_PASSWORD_FILE", value: "/etc/postgres-credentials/password" },
            );
            assert.equal(
                container.env.some((e: { name: string }) => e.name === "POSTGRES_PASSWORD"),
                false,
            );
            assert.ok(container.env.every((e: { value?: string }) => !String(e.value ?? "").includes(secret["stringData"].password)));
            const volume = findObject(resources, T.statefulSet, "mlflow-db")["spec"].template.spec.volumes.find(
                (v: { name: string }) => v.name === "credentials",
            );
            assert.deepEqual(volume.secret, { secretName: "mlflow-db-credentials", defaultMode: 0o440, items: [{ key: "password", path: "password" }] });
        });

        it("runs the official postgres image pinned to a release tag", async () => {
            const { resources } = await run(IN_CLUSTER);
            const container = findObject(resources, T.statefulSet, "mlflow-db")["spec"].template.spec.containers[0];
            assert.equal(container.image, POSTGRES_IMAGE);
            assert.match(container.image, /^postgres:\d+\.\d+-[a-z]+$/);
            // Both modes run the same major.
            assert.equal(POSTGRES_IMAGE.split(":")[1]?.split(".")[0], POSTGRES_MAJOR_VERSION);
        });

        it("runs as the image's postgres user (999) under the restricted security contexts", async () => {
            const { resources } = await run(IN_CLUSTER);
            const pod = findObject(resources, T.statefulSet, "mlflow-db")["spec"].template.spec;
            assert.deepEqual(pod.securityContext, {
                runAsNonRoot: true,
                runAsUser: 999,
                runAsGroup: 999,
                fsGroup: 999,
                seccompProfile: { type: "RuntimeDefault" },
            });
            assert.equal(pod.automountServiceAccountToken, false);
            const container = pod.containers[0];
            assert.deepEqual(container.securityContext, RESTRICTED_CONTAINER_CONTEXT);
        });

        it("gives the read-only root filesystem writable emptyDirs where postgres writes", async () => {
            const { resources } = await run(IN_CLUSTER);
            const pod = findObject(resources, T.statefulSet, "mlflow-db")["spec"].template.spec;
            const mounts = Object.fromEntries(pod.containers[0].volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
            assert.equal(mounts["/var/run/postgresql"], "run");
            assert.equal(mounts["/tmp"], "tmp");
            assert.equal(mounts["/dev/shm"], "shm");
            for (const name of ["run", "tmp", "shm"]) {
                assert.ok(pod.volumes.find((v: { name: string }) => v.name === name).emptyDir, name);
            }
        });

        it("keeps PGDATA in a subdirectory of the volume, sized from allocatedStorageGb", async () => {
            const { resources } = await run({ ...IN_CLUSTER, allocatedStorageGb: 50, storageClass: "gp3-encrypted" });
            const spec = findObject(resources, T.statefulSet, "mlflow-db")["spec"];
            const container = spec.template.spec.containers[0];
            assert.deepEqual(
                container.env.find((e: { name: string }) => e.name === "PGDATA"),
                { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
            );
            assert.deepEqual(
                container.volumeMounts.find((m: { name: string }) => m.name === "data"),
                { name: "data", mountPath: "/var/lib/postgresql/data" },
            );
            assert.equal(spec.volumeClaimTemplates.length, 1);
            assert.equal(spec.volumeClaimTemplates[0].metadata.name, "data");
            assert.deepEqual(spec.volumeClaimTemplates[0].spec.resources, { requests: { storage: "50Gi" } });
            assert.deepEqual(spec.volumeClaimTemplates[0].spec.accessModes, ["ReadWriteOnce"]);
            assert.equal(spec.volumeClaimTemplates[0].spec.storageClassName, "gp3-encrypted");
            assert.deepEqual(spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
        });

        it("probes with pg_isready over TCP and requests resources", async () => {
            const { resources } = await run({ ...IN_CLUSTER, resources: { cpu: "1", memory: "2Gi" } });
            const container = findObject(resources, T.statefulSet, "mlflow-db")["spec"].template.spec.containers[0];
            const command = ["pg_isready", "--host=127.0.0.1", "--port=5432", "--username=mlflow", "--dbname=mlflow"];
            for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) assert.deepEqual(container[probe].exec.command, command, probe);
            assert.deepEqual(container.resources, { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } });
        });

        it("serves through a ClusterIP Service selecting its pods", async () => {
            const { resources } = await run(IN_CLUSTER);
            const service = findObject(resources, T.service, "mlflow-db");
            const statefulSet = findObject(resources, T.statefulSet, "mlflow-db");
            assert.equal(service["spec"].type, "ClusterIP");
            assert.deepEqual(service["spec"].ports, [{ name: "postgres", port: 5432, targetPort: "postgres", protocol: "TCP" }]);
            assert.deepEqual(service["spec"].selector, statefulSet["spec"].selector.matchLabels);
            for (const [k, v] of Object.entries(service["spec"].selector)) assert.equal(statefulSet["spec"].template.metadata.labels[k], v);
            assert.equal(statefulSet["spec"].serviceName, "mlflow-db");
        });

        it("admits port 5432 only from the MLflow namespace, and no egress", async () => {
            const { resources } = await run({ ...IN_CLUSTER, mlflowNamespace: "tracking" });
            const policy = findObject(resources, T.networkPolicy, "mlflow-db");
            const statefulSet = findObject(resources, T.statefulSet, "mlflow-db");
            assert.equal(policy["metadata"].namespace, "mlflow-db");
            assert.deepEqual(policy["spec"].podSelector, { matchLabels: statefulSet["spec"].selector.matchLabels });
            assert.deepEqual(policy["spec"].policyTypes, ["Ingress", "Egress"]);
            assert.deepEqual(policy["spec"].ingress, [
                {
                    from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tracking" } } }],
                    ports: [{ protocol: "TCP", port: 5432 }],
                },
            ]);
            assert.deepEqual(policy["spec"].egress, []);
        });

        it("builds a secret connection URI to the Service's DNS name with the generated password", async () => {
            const { resources, outputs } = await run(IN_CLUSTER);
            assert.equal(await pulumi.isSecret(outputs.connectionUri), true);
            const password = findObject(resources, T.secret, "mlflow-db-credentials")["stringData"].password;
            assert.equal(await promiseOf(outputs.connectionUri), `postgresql+psycopg2://mlflow:${password}@mlflow-db.mlflow-db.svc.cluster.local:5432/mlflow`);
            assert.equal(await promiseOf(outputs.host), "mlflow-db.mlflow-db.svc.cluster.local");
            assert.equal(await promiseOf(outputs.port), 5432);
        });

        it("renders objects that the Kubernetes schemas accept", async () => {
            const { resources } = await run({ ...IN_CLUSTER, storageClass: "gp3" });
            const [{ Namespace }, { Secret }, { Service }, { StatefulSet }, { NetworkPolicy }] = await Promise.all([
                import("kubernetes-models/v1/Namespace"),
                import("kubernetes-models/v1/Secret"),
                import("kubernetes-models/v1/Service"),
                import("kubernetes-models/apps/v1/StatefulSet"),
                import("kubernetes-models/networking.k8s.io/v1/NetworkPolicy"),
            ]);
            const models: Record<string, (object: any) => { validate(): void }> = {
                [T.namespace]: (o) => new Namespace(o),
                [T.secret]: (o) => new Secret(o),
                [T.service]: (o) => new Service(o),
                [T.statefulSet]: (o) => new StatefulSet(o),
                [T.networkPolicy]: (o) => new NetworkPolicy(o),
            };
            const objects = resources.filter((r) => r.type.startsWith("kubernetes:"));
            assert.deepEqual(objects.map((r) => r.type).sort(), Object.keys(models).sort());
            for (const object of objects) {
                const model = models[object.type];
                assert.ok(model, object.type);
                assert.doesNotThrow(() => model(object.inputs).validate(), object.type);
            }
        });

        it("creates no AWS resources and has no RDS outputs", async () => {
            const { resources, outputs } = await run(IN_CLUSTER);
            assert.deepEqual(
                resources.filter(isAws).map((r) => r.type),
                [],
            );
            assert.equal("instanceArn" in outputs, false);
            assert.equal("masterUserSecretArn" in outputs, false);
            assert.equal(outputs.mode, "in-cluster");
        });

        describe("defaults", () => {
            it("names the namespace after the component", async () => {
                const { resources } = await run(IN_CLUSTER, "backend");
                assert.equal(findObject(resources, T.statefulSet, "backend")["metadata"].namespace, "backend");
                const custom = await run({ ...IN_CLUSTER, namespace: "databases" }, "backend");
                for (const type of [T.statefulSet, T.service, T.networkPolicy])
                    assert.equal(findObject(custom.resources, type, "backend")["metadata"].namespace, "databases");
            });
            it("requests 250m CPU and 512Mi memory", async () => {
                const container = findObject((await run(IN_CLUSTER)).resources, T.statefulSet, "mlflow-db")["spec"].template.spec.containers[0];
                assert.deepEqual(container.resources, { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "512Mi" } });
            });
            it("uses the cluster's default StorageClass", async () => {
                const spec = findObject((await run(IN_CLUSTER)).resources, T.statefulSet, "mlflow-db")["spec"];
                assert.equal("storageClassName" in spec.volumeClaimTemplates[0].spec, false);
            });
            it("uses the cluster.local DNS domain", async () => {
                assert.equal(await promiseOf((await run(IN_CLUSTER)).outputs.host), "mlflow-db.mlflow-db.svc.cluster.local");
                assert.equal(
                    await promiseOf((await run({ ...IN_CLUSTER, clusterDomain: "k8s.internal" })).outputs.host),
                    "mlflow-db.mlflow-db.svc.k8s.internal",
                );
            });
        });
    });

    describe("helpers", () => {
        it("postgresConnectionUri percent-encodes the user and password", () => {
            assert.equal(
                postgresConnectionUri({
                    username: "ml flow",
                    password: "p@ss:w/rd%#?",
                    host: "db.example.com",
                    port: 5432,
                    database: "mlflow",
                    sslmode: "require",
                }),
                "postgresql+psycopg2://ml%20flow:p%40ss%3Aw%2Frd%25%23%3F@db.example.com:5432/mlflow?sslmode=require",
            );
        });
        it("finalSnapshotIdentifier stays a valid RDS identifier for any stack name", () => {
            assert.equal(finalSnapshotIdentifier("db", "production"), "db-production-final");
            assert.equal(finalSnapshotIdentifier("db", "Team_A.prod--1"), "db-team-a-prod-1-final");
            assert.equal(finalSnapshotIdentifier("db", "__"), "db-final");
        });
    });

    describe("validation", () => {
        const rdsCases: [Partial<RdsPostgresArgs>, string][] = [
            [{ instanceClass: "r6g.large" }, 'Postgres "mlflow-db": instanceClass must be an RDS instance class such as "db.t4g.medium", got "r6g.large"'],
            [{ allocatedStorageGb: 10 }, 'Postgres "mlflow-db": allocatedStorageGb must be a whole number from 20 to 65536, got 10'],
            [{ maxAllocatedStorageGb: 100 }, 'Postgres "mlflow-db": maxAllocatedStorageGb must be a whole number from 101 to 65536, got 100'],
            [{ backupRetentionDays: 0 }, 'Postgres "mlflow-db": backupRetentionDays must be a whole number from 1 to 35, got 0'],
            [{ backupRetentionDays: 36 }, 'Postgres "mlflow-db": backupRetentionDays must be a whole number from 1 to 35, got 36'],
            [{ masterPasswordRotationDays: 400 }, 'Postgres "mlflow-db": masterPasswordRotationDays must be a whole number from 1 to 365, got 400'],
            [
                { network: { ...RDS.network, privateSubnetIds: ["subnet-0a1b2c3d4e5f60001"] } },
                'Postgres "mlflow-db": network.privateSubnetIds must list subnets in at least two availability zones, got 1',
            ],
        ];
        const inClusterCases: [Partial<InClusterPostgresArgs>, string][] = [
            [{ allocatedStorageGb: 0 }, 'Postgres "mlflow-db": allocatedStorageGb must be a whole number from 1 to 65536, got 0'],
            [
                { mlflowNamespace: "ML" },
                'Postgres "mlflow-db": mlflowNamespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "ML"',
            ],
            [
                { namespace: "db_ns" },
                'Postgres "mlflow-db": namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "db_ns"',
            ],
            [{ storageClass: "Fast SSD" }, 'Postgres "mlflow-db": storageClass must be the name of a StorageClass, got "Fast SSD"'],
            [{ clusterDomain: "cluster.local." }, 'Postgres "mlflow-db": clusterDomain must be a DNS domain such as "cluster.local", got "cluster.local."'],
            [{ resources: { cpu: "a lot", memory: "1Gi" } }, 'Postgres "mlflow-db": resources.cpu must be a CPU quantity such as "250m", got "a lot"'],
            [{ resources: { cpu: "1", memory: "0" } }, 'Postgres "mlflow-db": resources.memory must be a memory quantity such as "512Mi", got "0"'],
        ];
        const cases: [PostgresArgs, string][] = [
            ...rdsCases.map(([args, message]): [PostgresArgs, string] => [{ ...RDS, ...args }, message]),
            ...inClusterCases.map(([args, message]): [PostgresArgs, string] => [{ ...IN_CLUSTER, ...args }, message]),
        ];
        for (const [args, message] of cases) {
            it(`throws before any child exists: ${message}`, async () => {
                const { outputs, resources } = await attempt("mlflow-db", args);
                assert.equal(outputs.error, message);
                assert.deepEqual(
                    resources.filter((r) => r.type !== "pulumi:pulumi:Stack"),
                    [],
                );
            });
        }

        it("refuses a name that cannot name the database's resources", async () => {
            for (const mode of [RDS, IN_CLUSTER]) {
                const { outputs } = await attempt("MLflow_DB", mode);
                assert.equal(
                    outputs.error,
                    'Postgres "MLflow_DB": the name must be lower-case letters, digits and single "-", starting with a letter, at most 32 characters (it names the database\'s resources), got "MLflow_DB"',
                );
            }
        });
    });

    describe("two instances", () => {
        for (const [mode, args] of [
            ["rds", RDS],
            ["in-cluster", IN_CLUSTER],
        ] as const) {
            it(`never collide in logical or Kubernetes names (${mode})`, async () => {
                const { resources } = await runComponent(() => {
                    new Postgres("db-a", args);
                    new Postgres("db-b", args);
                });
                const children = resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
                assert.ok(children.length > 0);
                assert.equal(new Set(children.map((r) => `${r.type}::${r.name}`)).size, children.length);
                const objectKeys = children
                    .filter((r) => r.type.startsWith("kubernetes:"))
                    .map((r) => {
                        const metadata = r.inputs["metadata"] as { name: string; namespace?: string };
                        return `${r.type}::${metadata.namespace ?? ""}/${metadata.name}`;
                    });
                assert.equal(new Set(objectKeys).size, objectKeys.length);
                const snapshots = ofType(children, T.instance).map((r) => r.inputs["finalSnapshotIdentifier"]);
                assert.equal(new Set(snapshots).size, snapshots.length);
                for (const name of ["db-a", "db-b"]) {
                    const own = descendantsOf(resources, findResource(resources, "mlops:database:Postgres", name).urn);
                    assert.ok(own.length > 0 && own.every((r) => r.name.startsWith(`${name}-`)), name);
                }
            });
        }
    });
});
