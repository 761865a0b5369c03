import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    AUTH_CONFIG_CHECKSUM_ANNOTATION,
    BACKEND_STORE_CHECKSUM_ANNOTATION,
    backendStoreUriProblem,
    basicAuthIni,
    MLFLOW_SERVER_DEFAULTS,
    MlflowServer,
    type MlflowServerArgs,
    migrationJobName,
    mlflowAllowedHosts,
    mlflowMigrationSteps,
    mlflowServerCommand,
    REGISTRY_READER_CHECKSUM_ANNOTATION,
    REGISTRY_READER_PROGRAM,
    secretDataChecksum,
} from "../../components/mlflowServer";
import { RESTRICTED_NAMESPACE_LABELS } from "../../components/security";
import { MLFLOW_IMAGE } from "../../components/versions";
import { SECRET_SIG } from "../../offline/runtime";
import { findObject, findResource, ofType, promiseOf, type RecordedResource, runComponent, RESTRICTED_CONTAINER_CONTEXT } from "../harness";

const PASSWORD = "S3cr3t%2Fpw-7f1c";
const URI = `postgresql+psycopg2://mlflow:${PASSWORD}@db.example.internal:5432/mlflow`;
const ROLE_ARN = "arn:aws:iam::123456789012:role/mlflow-artifacts-rw";
const ARGS: MlflowServerArgs = {
    host: "mlflow.ml.example.com",
    backendStoreUri: pulumi.secret(URI),
    artifactsDestination: "s3://mlflow-artifacts-1234/mlflow",
    roleArn: ROLE_ARN,
    clusterIssuer: "letsencrypt",
};

const T = {
    ns: "kubernetes:core/v1:Namespace",
    sa: "kubernetes:core/v1:ServiceAccount",
    secret: "kubernetes:core/v1:Secret",
    job: "kubernetes:batch/v1:Job",
    deployment: "kubernetes:apps/v1:Deployment",
    service: "kubernetes:core/v1:Service",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    configMap: "kubernetes:core/v1:ConfigMap",
    password: "random:index/randomPassword:RandomPassword",
};

function run(args: Partial<MlflowServerArgs> = {}, name = "mlflow") {
    return runComponent(() => {
        const server = new MlflowServer(name, { ...ARGS, ...args });
        return {
            url: server.url,
            internalUrl: server.internalUrl,
            namespace: server.namespace,
            serviceName: server.serviceName,
            serviceAccountName: server.serviceAccountName,
            // Pulumi warns about undefined stack outputs, so the switched-off ones are left out.
            ...(server.adminSecretName !== undefined && { adminSecretName: server.adminSecretName }),
            ...(server.registryReaderSecretName !== undefined && { registryReaderSecretName: server.registryReaderSecretName }),
        } as Record<string, pulumi.Output<string>> & { adminSecretName?: pulumi.Output<string>; registryReaderSecretName?: pulumi.Output<string> };
    });
}

const deploymentOf = (resources: readonly RecordedResource[]) => findResource(resources, T.deployment, "mlflow-server").inputs as any;
const jobOf = (resources: readonly RecordedResource[]) => findResource(resources, T.job, "mlflow-db-upgrade").inputs as any;
const serverContainer = (resources: readonly RecordedResource[]) => deploymentOf(resources).spec.template.spec.containers[0];
const jobContainers = (resources: readonly RecordedResource[]) => {
    const spec = jobOf(resources).spec.template.spec;
    return [...(spec.initContainers ?? []), ...spec.containers];
};

describe("MlflowServer pure helpers", () => {
    it("builds the server command line with every flag, the backend store URI left to the environment", () => {
        assert.deepEqual(
            mlflowServerCommand({
                artifactsDestination: "s3://b/mlflow",
                allowedHosts: ["a.example.com", "localhost:*"],
                port: 5000,
                workers: 3,
                basicAuth: false,
            }),
            [
                "mlflow",
                "server",
                "--serve-artifacts",
                "--artifacts-destination",
                "s3://b/mlflow",
                "--host",
                "0.0.0.0",
                "--port",
                "5000",
                "--workers",
                "3",
                "--allowed-hosts",
                "a.example.com,localhost:*",
            ],
        );
    });

    it("adds the basic-auth app and honours a bind address for local runs", () => {
        const command = mlflowServerCommand({
            artifactsDestination: "file:///tmp/a",
            allowedHosts: ["localhost:*"],
            port: 5999,
            workers: 1,
            basicAuth: true,
            bindAddress: "127.0.0.1",
        });
        assert.deepEqual(command.slice(5, 7), ["--host", "127.0.0.1"]);
        assert.deepEqual(command.slice(-2), ["--app-name", "basic-auth"]);
    });

    it("migrates through Kubernetes' $(VAR) expansion by default, and with a given URI for local runs", () => {
        assert.deepEqual(mlflowMigrationSteps({ basicAuth: false }), [
            { name: "tracking-db-upgrade", command: ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"] },
        ]);
        assert.deepEqual(mlflowMigrationSteps({ basicAuth: true, backendStoreUri: "postgresql+psycopg2://postgres@127.0.0.1:5432/x" }), [
            { name: "tracking-db-upgrade", command: ["mlflow", "db", "upgrade", "postgresql+psycopg2://postgres@127.0.0.1:5432/x"] },
            {
                name: "auth-db-upgrade",
                command: ["python", "-m", "mlflow.server.auth", "db", "upgrade", "--url", "postgresql+psycopg2://postgres@127.0.0.1:5432/x"],
            },
        ]);
    });

    it("allows the public host, every in-cluster name of the Service with its port, and localhost", () => {
        assert.deepEqual(mlflowAllowedHosts({ host: "m.example.com", serviceName: "mlflow", namespace: "ml", port: 5000, clusterDomain: "cluster.local" }), [
            "m.example.com",
            "mlflow.ml.svc.cluster.local:5000",
            "mlflow.ml.svc:5000",
            "mlflow.ml:5000",
            "mlflow:5000",
            "localhost:*",
            "127.0.0.1:*",
        ]);
    });

    it("names the migration Job after the image's version, digest or a hash when too long", () => {
        assert.equal(migrationJobName("mlflow", MLFLOW_IMAGE), "mlflow-db-upgrade-v3-17-2-full");
        assert.equal(migrationJobName("mlflow", "ghcr.io/mlflow/mlflow:v3.18.0-full"), "mlflow-db-upgrade-v3-18-0-full");
        assert.equal(migrationJobName("mlflow", `ghcr.io/mlflow/mlflow@sha256:${"ab12".repeat(16)}`), "mlflow-db-upgrade-ab12ab12ab12");
        const long = migrationJobName("a".repeat(40), "registry.example.com:5000/team/mlflow:v3.17.2-full-with-extra-drivers");
        assert.match(long, new RegExp(`^${"a".repeat(40)}-db-upgrade-[0-9a-f]{10}$`));
        assert.ok(long.length <= 63);
    });

    it("escapes % in the basic-auth config, which configparser would interpolate", () => {
        assert.equal(
            basicAuthIni({ databaseUri: "postgresql+psycopg2://u:p%40ss@h:5432/db", defaultPermission: "READ" }),
            "[mlflow]\ndefault_permission = READ\ndatabase_uri = postgresql+psycopg2://u:p%%40ss@h:5432/db\n",
        );
    });

    it("accepts PostgreSQL URIs and names only the scheme of anything else", () => {
        for (const uri of ["postgresql://u:p@h/db", "postgresql+psycopg2://u:p@h/db", "postgresql+psycopg://u:p@h/db"])
            assert.equal(backendStoreUriProblem(uri), undefined);
        assert.equal(
            backendStoreUriProblem("mysql+pymysql://u:hunter2@h/db"),
            'backendStoreUri must be a PostgreSQL URI (postgresql+psycopg2://user:password@host:5432/db), got one with scheme "mysql+pymysql"',
        );
        assert.equal(
            backendStoreUriProblem("hunter2"),
            'backendStoreUri must be a PostgreSQL URI (postgresql+psycopg2://user:password@host:5432/db), got one with scheme ""',
        );
    });
});

describe("MlflowServer argument validation", () => {
    const cases: [string, Partial<MlflowServerArgs>, string][] = [
        ["host", { host: "not a host" }, 'host must be a DNS name such as "mlflow.ml.example.com", got "not a host"'],
        ["host without a domain", { host: "mlflow" }, 'host must be a DNS name such as "mlflow.ml.example.com", got "mlflow"'],
        [
            "namespace",
            { namespace: "ML_flow" },
            'namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "ML_flow"',
        ],
        [
            "serviceAccountName",
            { serviceAccountName: "-sa" },
            'serviceAccountName must be a Kubernetes object name (lower-case letters, digits and "-", at most 63 characters), got "-sa"',
        ],
        ["replicas < 1", { replicas: 0 }, "replicas must be a whole number ≥ 1, got 0"],
        ["fractional replicas", { replicas: 1.5 }, "replicas must be a whole number ≥ 1, got 1.5"],
        ["workers < 1", { workers: 0 }, "workers must be a whole number ≥ 1, got 0"],
        [
            "image latest",
            { image: "ghcr.io/mlflow/mlflow:latest" },
            'image must be pinned to a tag or digest other than "latest", got "ghcr.io/mlflow/mlflow:latest"',
        ],
        [
            "untagged image",
            { image: "registry.example.com:5000/mlflow" },
            'image must be pinned to a tag or digest other than "latest", got "registry.example.com:5000/mlflow"',
        ],
        ["resources.cpu", { resources: { cpu: "lots", memory: "1Gi" } }, 'resources.cpu must be a positive quantity such as "500m" or "1", got "lots"'],
        ["resources.memory", { resources: { cpu: "1", memory: "0" } }, 'resources.memory must be a positive quantity such as "1Gi", got "0"'],
        ["ingressClass", { ingressClass: "Nginx" }, 'ingressClass must be the name of an IngressClass, got "Nginx"'],
        ["clusterDomain", { clusterDomain: "Cluster_Local" }, 'clusterDomain must be a DNS domain such as "cluster.local", got "Cluster_Local"'],
        [
            "artifactsDestination",
            { artifactsDestination: "/var/mlartifacts" },
            'artifactsDestination must be an S3 URI such as "s3://bucket/mlflow", got "/var/mlartifacts"',
        ],
        ["roleArn", { roleArn: "mlflow-role" }, 'roleArn must be an IAM role ARN such as "arn:aws:iam::123456789012:role/mlflow", got "mlflow-role"'],
        [
            "basicAuth.adminUsername",
            { basicAuth: { enabled: true, adminUsername: "ad:min" } },
            'basicAuth.adminUsername must be non-empty, without ":" or whitespace (HTTP basic auth), got "ad:min"',
        ],
        [
            "registryReader.namespace",
            { registryReader: { namespace: "Models" } },
            'registryReader.namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "Models"',
        ],
        [
            "registryReader.username",
            { registryReader: { namespace: "models", username: "model server" } },
            'registryReader.username must be non-empty, without ":" or whitespace (HTTP basic auth), got "model server"',
        ],
        [
            "registryReader.username equal to the default admin",
            { basicAuth: { enabled: true }, registryReader: { namespace: "models", username: "admin" } },
            'registryReader.username must not be the admin user "admin": model servers never get the admin\'s credentials',
        ],
        [
            "registryReader.username equal to a custom admin",
            { basicAuth: { enabled: true, adminUsername: "model-server" }, registryReader: { namespace: "models" } },
            'registryReader.username must not be the admin user "model-server": model servers never get the admin\'s credentials',
        ],
    ];
    for (const [what, args, message] of cases) {
        it(`rejects a bad ${what} before creating anything`, () => {
            assert.throws(() => new MlflowServer("mlflow", { ...ARGS, ...args }), { message: `MlflowServer "mlflow": ${message}` });
        });
    }

    it("rejects a name that cannot name a Service", () => {
        assert.throws(() => new MlflowServer("MLflow", ARGS), {
            message:
                'MlflowServer "MLflow": the name must be lower-case letters, digits and "-", starting with a letter, at most 40 characters (it names the Service and the migration Job), got "MLflow"',
        });
    });

    it("rejects a backend store URI that is not PostgreSQL once it is known, without printing it", async () => {
        await assert.rejects(run({ backendStoreUri: pulumi.secret("mysql+pymysql://mlflow:hunter2@db/mlflow") }), (err: Error) => {
            assert.match(
                err.message,
                /MlflowServer "mlflow": backendStoreUri must be a PostgreSQL URI \(postgresql\+psycopg2:\/\/user:password@host:5432\/db\), got one with scheme "mysql\+pymysql"/,
            );
            assert.doesNotMatch(err.message, /hunter2/);
            return true;
        });
    });

    it("rejects an artifacts destination Output that is not an S3 URI", async () => {
        await assert.rejects(
            run({ artifactsDestination: pulumi.output("file:///tmp/artifacts") }),
            /MlflowServer "mlflow": artifactsDestination must be an S3 URI such as "s3:\/\/bucket\/mlflow", got "file:\/\/\/tmp\/artifacts"/,
        );
    });
});

describe("MlflowServer defaults", () => {
    it('creates the restricted namespace "mlflow" and puts every object in it', async () => {
        const { resources } = await run();
        const ns = findObject(resources, T.ns, MLFLOW_SERVER_DEFAULTS.namespace);
        for (const [key, value] of Object.entries(RESTRICTED_NAMESPACE_LABELS)) assert.equal(ns.metadata.labels[key], value);
        for (const r of resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== T.ns)) {
            assert.equal((r.inputs as any).metadata.namespace, "mlflow", r.name);
        }
    });

    it('uses the service account "mlflow", the one the ArtifactStore\'s role trusts', async () => {
        const { resources, outputs } = await run();
        findObject(resources, T.sa, "mlflow");
        assert.equal(deploymentOf(resources).spec.template.spec.serviceAccountName, "mlflow");
        assert.equal(await promiseOf(outputs.serviceAccountName), "mlflow");
    });

    it("runs MLFLOW_IMAGE in the server and in the migration", async () => {
        const { resources } = await run();
        assert.equal(serverContainer(resources).image, MLFLOW_IMAGE);
        for (const c of jobContainers(resources)) assert.equal(c.image, MLFLOW_IMAGE);
    });

    it("runs one replica with two workers", async () => {
        const { resources } = await run();
        assert.equal(deploymentOf(resources).spec.replicas, 1);
        const command: string[] = serverContainer(resources).command;
        assert.equal(command[command.indexOf("--workers") + 1], "2");
    });

    it("requests 250m CPU and 1Gi memory, memory also the limit", async () => {
        const { resources } = await run();
        assert.deepEqual(serverContainer(resources).resources, { requests: { cpu: "250m", memory: "1Gi" }, limits: { memory: "1Gi" } });
        const custom = await run({ resources: { cpu: "1", memory: "2Gi" } });
        assert.deepEqual(serverContainer(custom.resources).resources, { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } });
    });

    it("uses the nginx IngressClass", async () => {
        const { resources } = await run();
        assert.equal(findObject(resources, T.ingress, "mlflow").spec.ingressClassName, "nginx");
    });

    it("addresses the Service in the cluster.local domain", async () => {
        const { outputs } = await run();
        assert.equal(await promiseOf(outputs.internalUrl), "http://mlflow.mlflow.svc.cluster.local:5000");
        const other = await run({ clusterDomain: "k8s.internal", namespace: "tracking" });
        assert.equal(await promiseOf(other.outputs.internalUrl), "http://mlflow.tracking.svc.k8s.internal:5000");
    });

    it("turns MLflow's basic-auth app on when basicAuth is not given", async () => {
        const { resources, outputs } = await run();
        assert.equal(MLFLOW_SERVER_DEFAULTS.basicAuth, true);
        assert.deepEqual(serverContainer(resources).command.slice(-2), ["--app-name", "basic-auth"]);
        assert.ok("adminSecretName" in outputs, "adminSecretName must be set with basic auth");
        assert.deepEqual(
            jobContainers(resources).map((c) => c.name),
            ["tracking-db-upgrade", "auth-db-upgrade"],
        );
    });

    it("leaves authentication off only when switched off: no passwords, no auth Secrets, no basic-auth app", async () => {
        const { resources, outputs } = await run({ basicAuth: { enabled: false } });
        assert.equal(ofType(resources, T.password).length, 0);
        assert.deepEqual(
            ofType(resources, T.secret).map((r) => (r.inputs as any).metadata.name),
            ["mlflow-backend-store"],
        );
        assert.ok(!("adminSecretName" in outputs), "adminSecretName must be undefined without basic auth");
        assert.ok(!serverContainer(resources).command.includes("--app-name"));
        assert.deepEqual(
            jobContainers(resources).map((c) => c.name),
            ["tracking-db-upgrade"],
        );
    });
});

describe("MlflowServer security", () => {
    it("never puts the backend store URI in the Deployment or the Job, plain or on the wire", async () => {
        const { resources } = await run({ basicAuth: { enabled: true } });
        for (const r of [findResource(resources, T.deployment, "mlflow-server"), findResource(resources, T.job, "mlflow-db-upgrade")]) {
            for (const view of [r.inputs, r.wireInputs]) {
                const text = JSON.stringify(view);
                assert.ok(!text.includes(PASSWORD) && !text.includes("db.example.internal"), `${r.name} holds the URI`);
            }
        }
        // Only the two Secrets hold it (the auth config with configparser's %% escaping).
        const holders = resources
            .filter((r) => JSON.stringify(r.inputs).includes("@db.example.internal:5432"))
            .map((r) => r.name)
            .sort();
        assert.deepEqual(holders, ["mlflow-auth", "mlflow-backend-store"]);
        for (const name of holders) assert.equal((findResource(resources, T.secret, name).wireInputs["stringData"] as any)[SECRET_SIG.key], SECRET_SIG.secret);
    });

    it("keeps the URI in a Secret that is secret on the wire, read through secretKeyRef and $(VAR) expansion", async () => {
        const { resources } = await run();
        const secret = findResource(resources, T.secret, "mlflow-backend-store");
        assert.equal((secret.inputs as any).stringData.uri, URI);
        assert.equal((secret.wireInputs["stringData"] as any)[SECRET_SIG.key], SECRET_SIG.secret, "the URI must travel as a secret");
        const fromSecret = { name: "MLFLOW_BACKEND_STORE_URI", valueFrom: { secretKeyRef: { name: "mlflow-backend-store", key: "uri" } } };
        assert.deepEqual(serverContainer(resources).env[0], fromSecret);
        for (const c of jobContainers(resources)) {
            assert.deepEqual(c.env[0], fromSecret);
            assert.equal(c.command.at(-1), "$(MLFLOW_BACKEND_STORE_URI)");
        }
        for (const c of [serverContainer(resources), ...jobContainers(resources)]) {
            for (const e of c.env)
                assert.ok(e.value === undefined || !/postgres|password|secret/i.test(e.value), `${e.name} has a plain value that looks secret`);
        }
    });

    it("runs every container restricted, read-only root, with emptyDirs where MLflow writes", async () => {
        const { resources } = await run();
        for (const pod of [deploymentOf(resources).spec.template.spec, jobOf(resources).spec.template.spec]) {
            assert.equal(pod.automountServiceAccountToken, false);
            assert.deepEqual(pod.securityContext, {
                runAsNonRoot: true,
                runAsUser: 10001,
                runAsGroup: 10001,
                fsGroup: 10001,
                seccompProfile: { type: "RuntimeDefault" },
            });
            assert.deepEqual(pod.volumes.slice(0, 2), [
                { name: "tmp", emptyDir: {} },
                { name: "home", emptyDir: {} },
            ]);
            for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
                assert.deepEqual(c.securityContext, RESTRICTED_CONTAINER_CONTEXT);
                assert.deepEqual(c.volumeMounts.slice(0, 2), [
                    { name: "tmp", mountPath: "/tmp" },
                    { name: "home", mountPath: "/home/mlflow" },
                ]);
                assert.ok(c.env.some((e: any) => e.name === "HOME" && e.value === "/home/mlflow"));
                assert.ok(c.resources.requests.cpu !== undefined && c.resources.requests.memory !== undefined);
            }
        }
    });

    it("gets AWS access through IRSA only: the role annotation, no static keys", async () => {
        const { resources } = await run();
        assert.equal(findObject(resources, T.sa, "mlflow").metadata.annotations["eks.amazonaws.com/role-arn"], ROLE_ARN);
        const everything = JSON.stringify(resources.map((r) => r.inputs));
        assert.doesNotMatch(everything, /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY/);
    });

    it("serves TLS at the Ingress with a cert-manager certificate and nginx settings for large uploads", async () => {
        const { resources } = await run({ clusterIssuer: "letsencrypt-staging", ingressClass: "nginx-public" });
        const ingress = findObject(resources, T.ingress, "mlflow");
        assert.equal(ingress.apiVersion, "networking.k8s.io/v1");
        assert.equal(ingress.spec.ingressClassName, "nginx-public");
        assert.deepEqual(ingress.spec.tls, [{ hosts: ["mlflow.ml.example.com"], secretName: "mlflow-tls" }]);
        assert.equal(ingress.metadata.annotations["cert-manager.io/cluster-issuer"], "letsencrypt-staging");
        assert.equal(ingress.metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"], "0");
        assert.equal(ingress.metadata.annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"], "off");
        assert.deepEqual(ingress.spec.rules, [
            {
                host: "mlflow.ml.example.com",
                http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "mlflow", port: { name: "http" } } } }] },
            },
        ]);
    });

    it("accepts only its own Host headers and probes /health, which MLflow exempts from that check", async () => {
        const { resources } = await run();
        const container = serverContainer(resources);
        const command: string[] = container.command;
        assert.deepEqual(command.slice(0, 5), ["mlflow", "server", "--serve-artifacts", "--artifacts-destination", "s3://mlflow-artifacts-1234/mlflow"]);
        assert.equal(command[command.indexOf("--host") + 1], "0.0.0.0");
        assert.equal(command[command.indexOf("--port") + 1], "5000");
        const allowedHosts = String(command[command.indexOf("--allowed-hosts") + 1]).split(",");
        assert.equal(allowedHosts[0], "mlflow.ml.example.com");
        assert.ok(allowedHosts.includes("mlflow.mlflow.svc.cluster.local:5000"));
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) assert.deepEqual(container[probe].httpGet, { path: "/health", port: "http" });
        assert.deepEqual(container.ports, [{ name: "http", containerPort: 5000, protocol: "TCP" }]);
    });
});

describe("MlflowServer rollout and availability", () => {
    it("migrates the schema in a Job the Deployment depends on, named after the MLflow version", async () => {
        const { resources } = await run();
        const job = findResource(resources, T.job, "mlflow-db-upgrade");
        assert.equal((job.inputs as any).metadata.name, "mlflow-db-upgrade-v3-17-2-full");
        assert.equal((job.inputs as any).spec.template.spec.restartPolicy, "Never");
        assert.equal((job.inputs as any).spec.ttlSecondsAfterFinished, undefined);
        assert.ok(job.options.deleteBeforeReplace);
        assert.ok(findResource(resources, T.deployment, "mlflow-server").dependencies.includes(job.urn));
        const upgraded = await run({ image: "ghcr.io/mlflow/mlflow:v3.18.0-full" });
        assert.equal(jobOf(upgraded.resources).metadata.name, "mlflow-db-upgrade-v3-18-0-full");
    });

    it("never rolls below the available replicas", async () => {
        const { resources } = await run({ replicas: 3 });
        assert.equal(deploymentOf(resources).spec.replicas, 3);
        assert.deepEqual(deploymentOf(resources).spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    });

    it("has a PDB that lets a single replica drain and keeps one of two serving", async () => {
        for (const replicas of [1, 2]) {
            const { resources } = await run({ replicas });
            const pdb = findObject(resources, T.pdb, "mlflow");
            assert.equal(pdb.spec.maxUnavailable, 1);
            assert.equal(pdb.spec.minAvailable, undefined);
            assert.equal(pdb.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
            assert.deepEqual(pdb.spec.selector.matchLabels, deploymentOf(resources).spec.selector.matchLabels);
        }
    });

    it("selects only server pods: the Service and PDB do not match the migration's pods", async () => {
        const { resources } = await run();
        const selector = findObject(resources, T.service, "mlflow").spec.selector as Record<string, string>;
        const podLabels = deploymentOf(resources).spec.template.metadata.labels;
        const jobLabels = jobOf(resources).spec.template.metadata.labels;
        assert.ok(Object.entries(selector).every(([k, v]) => podLabels[k] === v));
        assert.ok(!Object.entries(selector).every(([k, v]) => jobLabels[k] === v));
    });
});

describe("MlflowServer basic auth", () => {
    it("generates the admin password, keeps it in a Secret and hands it to MLflow through secretKeyRef", async () => {
        const { resources, outputs } = await run({ basicAuth: { enabled: true } });
        const password = findResource(resources, T.password, "mlflow-admin-password");
        assert.ok((password.inputs["length"] as number) >= 12, "MLflow refuses admin passwords under 12 characters");
        const admin = findObject(resources, T.secret, "mlflow-admin");
        assert.equal(admin.stringData.username, "admin");
        assert.equal(admin.stringData.password.length, 32);
        assert.notEqual(admin.stringData.password, "password1234", "MLflow's former default admin password");
        assert.equal(await promiseOf(outputs.adminSecretName as pulumi.Output<string>), "mlflow-admin");
        const env = serverContainer(resources).env as any[];
        assert.deepEqual(
            env.find((e) => e.name === "MLFLOW_AUTH_ADMIN_PASSWORD"),
            { name: "MLFLOW_AUTH_ADMIN_PASSWORD", valueFrom: { secretKeyRef: { name: "mlflow-admin", key: "password" } } },
        );
        assert.deepEqual(
            env.find((e) => e.name === "MLFLOW_AUTH_ADMIN_USERNAME"),
            { name: "MLFLOW_AUTH_ADMIN_USERNAME", valueFrom: { secretKeyRef: { name: "mlflow-admin", key: "username" } } },
        );
        assert.deepEqual(
            env.find((e) => e.name === "MLFLOW_FLASK_SERVER_SECRET_KEY"),
            { name: "MLFLOW_FLASK_SERVER_SECRET_KEY", valueFrom: { secretKeyRef: { name: "mlflow-auth", key: "flask-secret-key" } } },
        );
    });

    it("keeps users in the backend database through a mounted config, and runs the basic-auth app", async () => {
        const { resources } = await run({ basicAuth: { enabled: true, defaultPermission: "NO_PERMISSIONS", adminUsername: "platform-admin" } });
        const auth = findObject(resources, T.secret, "mlflow-auth");
        assert.equal(auth.stringData["basic_auth.ini"], `[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = ${URI.replace(/%/g, "%%")}\n`);
        assert.equal(findObject(resources, T.secret, "mlflow-admin").stringData.username, "platform-admin");
        const container = serverContainer(resources);
        assert.deepEqual(container.command.slice(-2), ["--app-name", "basic-auth"]);
        assert.ok(container.env.some((e: any) => e.name === "MLFLOW_AUTH_CONFIG_PATH" && e.value === "/etc/mlflow/auth/basic_auth.ini"));
        assert.deepEqual(container.volumeMounts.at(-1), { name: "auth-config", mountPath: "/etc/mlflow/auth", readOnly: true });
        assert.equal(deploymentOf(resources).spec.template.spec.volumes.at(-1).secret.secretName, "mlflow-auth");
    });

    it('uses READ as the default permission and "admin" as the admin user', async () => {
        const { resources } = await run({ basicAuth: { enabled: true } });
        assert.match(findObject(resources, T.secret, "mlflow-auth").stringData["basic_auth.ini"], /^default_permission = READ$/m);
        assert.equal(findObject(resources, T.secret, "mlflow-admin").stringData.username, "admin");
    });

    it("migrates the auth tables after the tracking tables, without the admin credentials", async () => {
        const { resources } = await run({ basicAuth: { enabled: true } });
        const spec = jobOf(resources).spec.template.spec;
        assert.deepEqual(
            spec.initContainers.map((c: any) => c.name),
            ["tracking-db-upgrade"],
        );
        assert.deepEqual(
            spec.containers.map((c: any) => c.command),
            [["python", "-m", "mlflow.server.auth", "db", "upgrade", "--url", "$(MLFLOW_BACKEND_STORE_URI)"]],
        );
        for (const c of jobContainers(resources))
            assert.deepEqual(
                c.env.map((e: any) => e.name),
                ["MLFLOW_BACKEND_STORE_URI", "HOME"],
            );
        assert.ok(!JSON.stringify(spec.volumes).includes("mlflow-auth"));
    });
});

describe("MlflowServer pod restarts on changed Secrets", () => {
    const annotationsOf = (resources: readonly RecordedResource[]) => deploymentOf(resources).spec.template.metadata.annotations as Record<string, string>;

    it("annotates the server pods with the sha256 of the backend-store Secret's data, and only that", async () => {
        const { resources } = await run({ basicAuth: { enabled: false } });
        const secret = findObject(resources, T.secret, "mlflow-backend-store");
        const checksum = annotationsOf(resources)[BACKEND_STORE_CHECKSUM_ANNOTATION];
        assert.match(String(checksum), /^[0-9a-f]{64}$/);
        assert.equal(checksum, secretDataChecksum(secret.stringData));
        assert.deepEqual(Object.keys(annotationsOf(resources)), [BACKEND_STORE_CHECKSUM_ANNOTATION]);
    });

    it("changes the checksum, and so rolls the pods, when the URI changes (a rotated RDS password)", async () => {
        const before = annotationsOf((await run()).resources)[BACKEND_STORE_CHECKSUM_ANNOTATION];
        const rotated = annotationsOf((await run({ backendStoreUri: pulumi.secret(URI.replace(PASSWORD, "rotated-Pa55word")) })).resources);
        assert.notEqual(rotated[BACKEND_STORE_CHECKSUM_ANNOTATION], before);
        assert.equal(rotated[BACKEND_STORE_CHECKSUM_ANNOTATION], secretDataChecksum({ uri: URI.replace(PASSWORD, "rotated-Pa55word") }));
    });

    it("keeps the checksum free of the Secret's values, plain and on the wire", async () => {
        const deployment = findResource((await run({ basicAuth: { enabled: true } })).resources, T.deployment, "mlflow-server");
        const wire = (deployment.wireInputs["spec"] as any).template.metadata.annotations;
        assert.match(String(wire[BACKEND_STORE_CHECKSUM_ANNOTATION]), /^[0-9a-f]{64}$/, "a digest, sent in the clear so a preview shows it changing");
        for (const view of [deployment.inputs, deployment.wireInputs]) assert.ok(!JSON.stringify(view).includes(PASSWORD));
    });

    it("with basic auth, also rolls the pods when the auth config changes (MLflow reads it once, at start)", async () => {
        const { resources } = await run({ basicAuth: { enabled: true } });
        const auth = findObject(resources, T.secret, "mlflow-auth");
        assert.equal(annotationsOf(resources)[AUTH_CONFIG_CHECKSUM_ANNOTATION], secretDataChecksum(auth.stringData));
        const stricter = await run({ basicAuth: { enabled: true, defaultPermission: "NO_PERMISSIONS" } });
        assert.notEqual(annotationsOf(stricter.resources)[AUTH_CONFIG_CHECKSUM_ANNOTATION], annotationsOf(resources)[AUTH_CONFIG_CHECKSUM_ANNOTATION]);
        assert.equal(annotationsOf(stricter.resources)[BACKEND_STORE_CHECKSUM_ANNOTATION], annotationsOf(resources)[BACKEND_STORE_CHECKSUM_ANNOTATION]);
    });

    it("hashes a Secret's data independently of key order, and differently for any changed value", () => {
        assert.equal(secretDataChecksum({ a: "1", b: "2" }), secretDataChecksum({ b: "2", a: "1" }));
        assert.notEqual(secretDataChecksum({ a: "1", b: "2" }), secretDataChecksum({ a: "1", b: "3" }));
        assert.notEqual(secretDataChecksum({ a: "1", b: "2" }), secretDataChecksum({ a: "12" }));
    });
});

describe("MlflowServer registry reader", () => {
    const READER: Partial<MlflowServerArgs> = { basicAuth: { enabled: true }, registryReader: { namespace: "models" } };
    const readerJob = (resources: readonly RecordedResource[]) => findResource(resources, T.job, "mlflow-registry-reader");
    const readerPod = (resources: readonly RecordedResource[]) => (readerJob(resources).inputs as any).spec.template;

    it("creates no reader without basic auth, or without registryReader", async () => {
        for (const args of [{ basicAuth: { enabled: false }, registryReader: { namespace: "models" } }, { basicAuth: { enabled: true } }]) {
            const { resources, outputs } = await run(args);
            assert.ok(!("registryReaderSecretName" in outputs), "registryReaderSecretName must be undefined");
            assert.equal(ofType(resources, T.configMap).length, 0);
            assert.deepEqual(
                ofType(resources, T.job).map((r) => r.name),
                ["mlflow-db-upgrade"],
            );
            assert.ok(!resources.some((r) => r.name.includes("registry-reader")));
        }
    });

    it('keeps a generated password for the user "model-server" in a Secret in the model servers\' namespace, and outputs its name', async () => {
        const { resources, outputs } = await run(READER);
        const password = findResource(resources, T.password, "mlflow-registry-reader-password");
        assert.equal(password.inputs["length"], 32, "MLflow refuses passwords under 12 characters");
        const secret = findResource(resources, T.secret, "mlflow-registry-reader");
        assert.equal((secret.inputs as any).metadata.namespace, "models");
        assert.equal((secret.inputs as any).metadata.name, "mlflow-registry-reader");
        assert.equal((secret.inputs as any).stringData.username, "model-server");
        assert.equal((secret.inputs as any).stringData.password.length, 32);
        assert.notEqual((secret.inputs as any).stringData.password, findObject(resources, T.secret, "mlflow-admin").stringData.password);
        assert.equal((secret.wireInputs["stringData"] as any)[SECRET_SIG.key], SECRET_SIG.secret, "the password must travel as a secret");
        assert.equal(await promiseOf(outputs.registryReaderSecretName as pulumi.Output<string>), "mlflow-registry-reader");
        const custom = await run({ ...READER, registryReader: { namespace: "serving", username: "inference" } });
        assert.equal(findObject(custom.resources, T.secret, "mlflow-registry-reader").stringData.username, "inference");
        assert.equal(findObject(custom.resources, T.secret, "mlflow-registry-reader").metadata.namespace, "serving");
    });

    it("gives the Job its own copy of the credentials beside the server (a secretKeyRef cannot cross namespaces)", async () => {
        const { resources } = await run(READER);
        const copy = findObject(resources, T.secret, "mlflow-registry-reader-job");
        assert.equal(copy.metadata.namespace, "mlflow");
        assert.deepEqual(copy.stringData, findObject(resources, T.secret, "mlflow-registry-reader").stringData);
    });

    it("runs the Job after the server Deployment is ready and its Service has endpoints, and never the other way round", async () => {
        const { resources } = await run(READER);
        const job = readerJob(resources);
        const deployment = findResource(resources, T.deployment, "mlflow-server");
        const service = findResource(resources, T.service, "mlflow-service");
        assert.ok(job.dependencies.includes(deployment.urn), "the Job depends on the Deployment");
        assert.ok(job.dependencies.includes(service.urn), "the Job depends on the Service");
        assert.ok(!deployment.dependencies.includes(job.urn));
        assert.equal((job.inputs as any).metadata.namespace, "mlflow");
        assert.equal(readerPod(resources).spec.restartPolicy, "Never");
        assert.equal((job.inputs as any).spec.ttlSecondsAfterFinished, undefined);
        assert.ok(job.options.deleteBeforeReplace);
    });

    it("hands the Job the admin's and the reader's credentials through secretKeyRef env only, nothing in args", async () => {
        const { resources } = await run(READER);
        const [container, ...others] = readerPod(resources).spec.containers;
        assert.equal(others.length, 0);
        assert.deepEqual(container.command, ["python", "/opt/mlflow-registry-reader/registry_reader.py"]);
        assert.equal(container.args, undefined);
        assert.deepEqual(container.env, [
            { name: "MLFLOW_TRACKING_URI", value: "http://mlflow.mlflow.svc.cluster.local:5000" },
            { name: "MLFLOW_ADMIN_USERNAME", valueFrom: { secretKeyRef: { name: "mlflow-admin", key: "username" } } },
            { name: "MLFLOW_ADMIN_PASSWORD", valueFrom: { secretKeyRef: { name: "mlflow-admin", key: "password" } } },
            { name: "READER_USERNAME", valueFrom: { secretKeyRef: { name: "mlflow-registry-reader-job", key: "username" } } },
            { name: "READER_PASSWORD", valueFrom: { secretKeyRef: { name: "mlflow-registry-reader-job", key: "password" } } },
            { name: "PYTHONDONTWRITEBYTECODE", value: "1" },
        ]);
        const passwords = [
            findObject(resources, T.secret, "mlflow-admin").stringData.password,
            findObject(resources, T.secret, "mlflow-registry-reader").stringData.password,
        ];
        for (const r of [readerJob(resources), findResource(resources, T.configMap, "mlflow-registry-reader-program")]) {
            for (const view of [r.inputs, r.wireInputs]) {
                for (const password of passwords) assert.ok(!JSON.stringify(view).includes(password), `${r.name} holds a password`);
            }
        }
    });

    it("ships registry_reader.py unchanged, mounted read-only from a ConfigMap, in the MLflow image", async () => {
        const { resources } = await run({ ...READER, image: "ghcr.io/mlflow/mlflow:v3.17.2-full@sha256:" + "0".repeat(64) });
        const program = findObject(resources, T.configMap, "mlflow-registry-reader-program");
        assert.deepEqual(program.data, { "registry_reader.py": readFileSync(REGISTRY_READER_PROGRAM, "utf8") });
        const pod = readerPod(resources).spec;
        assert.deepEqual(pod.volumes, [{ name: "program", configMap: { name: "mlflow-registry-reader-program", defaultMode: 0o444 } }]);
        assert.deepEqual(pod.containers[0].volumeMounts, [{ name: "program", mountPath: "/opt/mlflow-registry-reader", readOnly: true }]);
        assert.equal(pod.containers[0].image, "ghcr.io/mlflow/mlflow:v3.17.2-full@sha256:" + "0".repeat(64));
    });

    it("reruns the Job when the password, the user or the program changes: their checksum is on the pod template", async () => {
        const { resources } = await run(READER);
        const credentials = findObject(resources, T.secret, "mlflow-registry-reader").stringData;
        const program = readFileSync(REGISTRY_READER_PROGRAM, "utf8");
        const checksum = readerPod(resources).metadata.annotations[REGISTRY_READER_CHECKSUM_ANNOTATION];
        assert.equal(checksum, secretDataChecksum({ ...credentials, program }));
        assert.notEqual(checksum, secretDataChecksum({ ...credentials, password: `${credentials.password}x`, program }), "a new password changes it");
        const renamed = await run({ ...READER, registryReader: { namespace: "models", username: "inference" } });
        assert.notEqual(readerPod(renamed.resources).metadata.annotations[REGISTRY_READER_CHECKSUM_ANNOTATION], checksum);
        assert.ok(!JSON.stringify(readerPod(resources).metadata).includes(credentials.password));
    });

    it("runs the Job restricted, with small requests and no service account token", async () => {
        const { resources } = await run(READER);
        const pod = readerPod(resources).spec;
        assert.equal(pod.automountServiceAccountToken, false);
        assert.deepEqual(pod.securityContext, {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            fsGroup: 10001,
            seccompProfile: { type: "RuntimeDefault" },
        });
        assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
        assert.deepEqual(pod.containers[0].resources, { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "128Mi" } });
        const selector = findObject(resources, T.service, "mlflow").spec.selector as Record<string, string>;
        assert.ok(!Object.entries(selector).every(([k, v]) => readerPod(resources).metadata.labels[k] === v), "the Service must not select the Job's pod");
    });

    it("resolves the Secret's name only once the Job has run, so model servers wait for their user", async () => {
        const { resources } = await runComponent(() => {
            const server = new MlflowServer("mlflow", { ...ARGS, ...READER });
            new k8s.core.v1.ConfigMap("consumer", {
                metadata: { name: "consumer", namespace: "models" },
                data: { secret: server.registryReaderSecretName as pulumi.Output<string> },
            });
        });
        const consumer = findResource(resources, T.configMap, "consumer");
        assert.ok(consumer.dependencies.includes(readerJob(resources).urn));
        assert.equal((consumer.inputs as any).data.secret, "mlflow-registry-reader");
    });
});

describe("MlflowServer outputs and instances", () => {
    it("exports the public and in-cluster URLs, namespace, Service and service account", async () => {
        const { outputs } = await run({ namespace: "tracking", serviceAccountName: "tracking-server" }, "registry");
        assert.equal(await promiseOf(outputs.url), "https://mlflow.ml.example.com");
        assert.equal(await promiseOf(outputs.internalUrl), "http://registry.tracking.svc.cluster.local:5000");
        assert.equal(await promiseOf(outputs.namespace), "tracking");
        assert.equal(await promiseOf(outputs.serviceName), "registry");
        assert.equal(await promiseOf(outputs.serviceAccountName), "tracking-server");
    });

    it("renders objects the Kubernetes schemas accept", async () => {
        const { resources } = await run({ basicAuth: { enabled: true }, registryReader: { namespace: "models" }, replicas: 2 });
        const models: [string, string][] = [
            [T.deployment, "kubernetes-models/apps/v1/Deployment"],
            [T.job, "kubernetes-models/batch/v1/Job"],
            [T.service, "kubernetes-models/v1/Service"],
            [T.ingress, "kubernetes-models/networking.k8s.io/v1/Ingress"],
            [T.pdb, "kubernetes-models/policy/v1/PodDisruptionBudget"],
            [T.ns, "kubernetes-models/v1/Namespace"],
            [T.sa, "kubernetes-models/v1/ServiceAccount"],
            [T.secret, "kubernetes-models/v1/Secret"],
            [T.configMap, "kubernetes-models/v1/ConfigMap"],
        ];
        for (const [type, module] of models) {
            const kind = module.split("/").pop() as string;
            const Model = ((await import(module)) as Record<string, new (data: unknown) => { validate(): void }>)[kind] as new (data: unknown) => {
                validate(): void;
            };
            const objects = ofType(resources, type);
            assert.ok(objects.length > 0, type);
            for (const r of objects) new Model(r.inputs).validate();
        }
    });

    it("lets two instances live side by side without a name collision", async () => {
        const { resources } = await runComponent(() => {
            new MlflowServer("mlflow-a", { ...ARGS, namespace: "team-a", basicAuth: { enabled: true }, registryReader: { namespace: "models" } });
            new MlflowServer("mlflow-b", {
                ...ARGS,
                host: "mlflow-b.ml.example.com",
                namespace: "team-b",
                basicAuth: { enabled: true },
                registryReader: { namespace: "models" },
            });
        });
        const urns = resources.map((r) => r.urn);
        assert.equal(new Set(urns).size, urns.length);
        const objects = resources
            .filter((r) => r.type.startsWith("kubernetes:"))
            .map((r) => `${r.type}/${(r.inputs as any).metadata.namespace ?? ""}/${(r.inputs as any).metadata.name}`);
        assert.equal(new Set(objects).size, objects.length);
        assert.equal(ofType(resources, T.deployment).length, 2);
    });
});
