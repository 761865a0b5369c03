import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
    AUTH_CONFIG_DIR,
    AUTH_CONFIG_FILE,
    BACKEND_STORE_URI_ENV,
    basicAuthIni,
    MLFLOW_PORT,
    MLFLOW_SERVER_DEFAULTS,
    type MlflowPermission,
    MlflowServer,
    type MlflowServerArgs,
    mlflowAllowedHosts,
    mlflowMigrationSteps,
    mlflowServerCommand,
    REGISTRY_READER_PROGRAM_DIR,
} from "../../components/mlflowServer";
import { MlflowRestClient, RegistryHttpError } from "../../policies/mlflowRestClient";
import { findObject, findResource, type RecordedResource, runComponent } from "../harness";
import { type MlflowServer as RunningServer, MlflowSeed, runMlflowCommand, startMlflowServer, venvExecutable } from "../support/mlflow";

/**
 * The command lines MlflowServer ships, run for real: the component is rendered under the mocks, and what
 * its Deployment, migration Job and reader Job would run is run here against MLflow 3.17.2 (tests/mlflow,
 * `.venv`) on the local PostgreSQL, with three local substitutions only: the database (a fresh one instead
 * of RDS), the artifacts destination (a `file://` folder instead of S3) and the address (127.0.0.1 on a
 * free port instead of 0.0.0.0:5000, which the component's `127.0.0.1:*` already allows).
 */

const HOST = "mlflow.ml.example.com";
const S3_DESTINATION = "s3://mlflow-artifacts-1234/mlflow";
const COMPONENT_ARGS: MlflowServerArgs = {
    host: HOST,
    backendStoreUri: pulumi.secret("postgresql+psycopg2://mlflow:S3cr3t-pw@db.example.internal:5432/mlflow"),
    artifactsDestination: S3_DESTINATION,
    roleArn: "arn:aws:iam::123456789012:role/mlflow-artifacts-rw",
    clusterIssuer: "letsencrypt",
};
const ALLOWED_HOSTS = mlflowAllowedHosts({ host: HOST, serviceName: "mlflow", namespace: "mlflow", port: MLFLOW_PORT, clusterDomain: "cluster.local" });

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } };
type Container = { command: string[]; env: EnvVar[] };

/** The component's objects, as `pulumi up` would send them. */
async function renderComponent(args: Partial<MlflowServerArgs>) {
    const { resources } = await runComponent(() => {
        new MlflowServer("mlflow", { ...COMPONENT_ARGS, ...args });
    });
    const container = (type: string, name: string) => (findResource(resources, type, name).inputs as any).spec.template.spec.containers[0] as Container;
    return {
        resources,
        server: container("kubernetes:apps/v1:Deployment", "mlflow-server"),
        migration: findResource(resources, "kubernetes:batch/v1:Job", "mlflow-db-upgrade").inputs as any,
        readerJob: args.registryReader === undefined ? undefined : container("kubernetes:batch/v1:Job", "mlflow-registry-reader"),
    };
}

/** A container's environment with each secretKeyRef read from the component's own Secret; `overrides` replaces values. */
function resolveEnv(resources: readonly RecordedResource[], env: readonly EnvVar[], overrides: Readonly<Record<string, string>>): Record<string, string> {
    const resolved: Record<string, string> = {};
    for (const variable of env) {
        const ref = variable.valueFrom?.secretKeyRef;
        const value =
            overrides[variable.name] ?? (ref === undefined ? variable.value : findObject(resources, "kubernetes:core/v1:Secret", ref.name).stringData[ref.key]);
        assert.equal(typeof value, "string", `no value for ${variable.name}`);
        resolved[variable.name] = value as string;
    }
    return resolved;
}

/** Runs one migration step as the Job would, with the venv's `mlflow` and `python`. */
async function runMigrationStep(command: readonly string[]): Promise<void> {
    const [executable, ...args] = command;
    if (executable === "mlflow") {
        await runMlflowCommand(args);
    } else {
        assert.equal(executable, "python");
        await execFileText(venvExecutable("python"), args, {});
    }
}

function execFileText(file: string, args: readonly string[], env: Readonly<Record<string, string>>): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        execFile(file, args, { env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
            if (error !== null && typeof error.code !== "number") reject(error);
            else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
        });
    });
}

/** A request with any Host header (fetch forbids setting it), to 127.0.0.1:<port>. */
function requestWithHost(url: string, pathAndQuery: string, host: string): Promise<{ status: number; body: string }> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
        const request = http.request({ host: hostname, port, path: pathAndQuery, method: "GET", headers: { host }, timeout: 30_000 }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        });
        request.on("error", reject);
        request.end();
    });
}

const basic = (username: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` });

/** Runs the reader Job's command (its program from the component's ConfigMap), with its environment made local. */
async function runReaderProgram(
    rendered: Awaited<ReturnType<typeof renderComponent>>,
    serverUrl: string,
    scratch: string,
    overrides: Readonly<Record<string, string>> = {},
) {
    const job = rendered.readerJob as Container;
    const programMap = findObject(rendered.resources, "kubernetes:core/v1:ConfigMap", "mlflow-registry-reader-program");
    const programDir = mkdtempSync(path.join(scratch, "program-"));
    for (const [file, content] of Object.entries(programMap.data as Record<string, string>)) writeFileSync(path.join(programDir, file), content);
    const [executable, script, ...rest] = job.command;
    assert.equal(executable, "python");
    assert.deepEqual(rest, []);
    const local = (script as string).replace(REGISTRY_READER_PROGRAM_DIR, programDir);
    return execFileText(venvExecutable("python"), [local], resolveEnv(rendered.resources, job.env, { MLFLOW_TRACKING_URI: serverUrl, ...overrides }));
}

/** Starts what the component's Deployment runs, after its migration steps, with the pod's environment made local. */
async function startShippedServer(
    rendered: Awaited<ReturnType<typeof renderComponent>>,
    basicAuth: boolean,
    scratch: string,
    defaultPermission: MlflowPermission = "READ",
): Promise<RunningServer> {
    // The component's own command line, rebuilt from the helper, must be what the Deployment carries.
    const shipped = {
        artifactsDestination: S3_DESTINATION,
        allowedHosts: ALLOWED_HOSTS,
        port: MLFLOW_PORT,
        workers: MLFLOW_SERVER_DEFAULTS.workers,
        basicAuth,
    };
    assert.deepEqual(rendered.server.command, mlflowServerCommand(shipped));
    const migrationSpec = rendered.migration.spec.template.spec;
    assert.deepEqual(
        [...(migrationSpec.initContainers ?? []), ...migrationSpec.containers].map((c: Container) => c.command),
        mlflowMigrationSteps({ basicAuth }).map((s) => s.command),
    );

    const authConfig = path.join(scratch, AUTH_CONFIG_FILE);
    // Filled in beforeStart, once the fresh database's URI is known; the fixture reads it when it spawns the server.
    const podEnv: Record<string, string> = {};
    return startMlflowServer({
        beforeStart: async (context) => {
            const backendStoreUri = context.backendStoreUri;
            for (const step of mlflowMigrationSteps({ basicAuth, backendStoreUri })) await runMigrationStep(step.command);
            if (basicAuth) writeFileSync(authConfig, basicAuthIni({ databaseUri: backendStoreUri, defaultPermission }));
            Object.assign(
                podEnv,
                resolveEnv(rendered.resources, rendered.server.env, {
                    [BACKEND_STORE_URI_ENV]: backendStoreUri,
                    HOME: scratch,
                    ...(basicAuth && { MLFLOW_AUTH_CONFIG_PATH: authConfig }),
                }),
            );
        },
        command: (context) => {
            const [program, ...args] = mlflowServerCommand({
                ...shipped,
                artifactsDestination: `file://${context.artifactsDestination}`,
                port: context.port,
                bindAddress: context.host,
            });
            assert.equal(program, "mlflow");
            return args;
        },
        env: podEnv,
    });
}

describe("MlflowServer's command line against a real MLflow 3.17.2 on PostgreSQL", () => {
    let rendered: Awaited<ReturnType<typeof renderComponent>>;
    let server: RunningServer;
    let scratch: string;

    before(async () => {
        scratch = mkdtempSync(path.join(os.tmpdir(), "mlflow-server-test-"));
        rendered = await renderComponent({ basicAuth: { enabled: false } });
        server = await startShippedServer(rendered, false, scratch);
    });

    after(async () => {
        await server?.stop();
        rmSync(scratch, { recursive: true, force: true });
    });

    it("migrates, starts and answers GET /health with 200", async () => {
        const response = await fetch(`${server.url}/health`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "OK");
    });

    it("answers API calls whose Host header is on the component's allowed list", async () => {
        const port = new URL(server.url).port;
        for (const host of [HOST, "mlflow.mlflow.svc.cluster.local:5000", "mlflow.mlflow.svc:5000", "mlflow:5000", `localhost:${port}`, `127.0.0.1:${port}`]) {
            const { status, body } = await requestWithHost(server.url, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", host);
            assert.equal(status, 200, `Host: ${host} → ${status} ${body}`);
            assert.equal(JSON.parse(body).experiment.experiment_id, "0");
        }
    });

    it("refuses with 403 a Host header outside the list (DNS rebinding), and still answers /health to it", async () => {
        for (const host of ["attacker.example", `${HOST}.attacker.example`, `${HOST}:8443`, "mlflow.mlflow.svc.cluster.local"]) {
            const { status } = await requestWithHost(server.url, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", host);
            assert.equal(status, 403, `Host: ${host}`);
        }
        assert.equal((await requestWithHost(server.url, "/health", "10.0.3.17:5000")).status, 200, "kubelet probes the pod IP");
    });

    it("proxies artifacts to the --artifacts-destination folder (--serve-artifacts)", async () => {
        const { experimentId, runId } = await server.seed.createRun({ experimentName: "artifacts-proxy" });
        const got = (await (await fetch(`${server.url}/api/2.0/mlflow/runs/get?run_id=${runId}`)).json()) as { run: { info: { artifact_uri: string } } };
        assert.equal(got.run.info.artifact_uri, `mlflow-artifacts:/${experimentId}/${runId}/artifacts`);
        // What MlflowClient.log_artifact sends for a run whose artifact URI is mlflow-artifacts:/…
        const artifactPath = `${experimentId}/${runId}/artifacts/model/MLmodel`;
        const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`, { method: "PUT", body: "flavors: {}\n" });
        assert.equal(put.status, 200, await put.text());
        assert.equal(readFileSync(path.join(server.artifactsDir, artifactPath), "utf8"), "flavors: {}\n");
        const back = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`);
        assert.equal(await back.text(), "flavors: {}\n");
    });
});

describe("MlflowServer's command line with basic auth, and the registry reader program, against a real MLflow 3.17.2", () => {
    let rendered: Awaited<ReturnType<typeof renderComponent>>;
    let server: RunningServer;
    let scratch: string;
    let admin: { username: string; password: string };
    let reader: { username: string; password: string };

    const runProgram = (overrides: Readonly<Record<string, string>> = {}) => runReaderProgram(rendered, server.url, scratch, overrides);

    before(async () => {
        scratch = mkdtempSync(path.join(os.tmpdir(), "mlflow-server-auth-test-"));
        rendered = await renderComponent({ basicAuth: { enabled: true }, registryReader: { namespace: "models" } });
        const secret = (name: string) => findObject(rendered.resources, "kubernetes:core/v1:Secret", name).stringData as { username: string; password: string };
        admin = secret("mlflow-admin");
        reader = secret("mlflow-registry-reader");
        // The rendered config is the helper's, so the local one below differs from the shipped one by the URI only.
        assert.equal(
            findObject(rendered.resources, "kubernetes:core/v1:Secret", "mlflow-auth").stringData[AUTH_CONFIG_FILE],
            basicAuthIni({ databaseUri: "postgresql+psycopg2://mlflow:S3cr3t-pw@db.example.internal:5432/mlflow", defaultPermission: "READ" }),
        );
        assert.ok(rendered.server.env.some((e) => e.name === "MLFLOW_AUTH_CONFIG_PATH" && e.value === `${AUTH_CONFIG_DIR}/${AUTH_CONFIG_FILE}`));
        server = await startShippedServer(rendered, true, scratch);
    });

    after(async () => {
        await server?.stop();
        rmSync(scratch, { recursive: true, force: true });
    });

    it("answers /health without a login", async () => {
        assert.equal((await fetch(`${server.url}/health`)).status, 200);
    });

    it("refuses anonymous API requests and wrong passwords (401), and accepts the bootstrapped admin", async () => {
        const endpoint = `${server.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default`;
        const anonymous = await fetch(endpoint);
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get("www-authenticate"), 'Basic realm="mlflow"');
        assert.equal((await fetch(endpoint, { headers: basic(admin.username, `${admin.password}x`) })).status, 401);
        const signedIn = await fetch(endpoint, { headers: basic(admin.username, admin.password) });
        assert.equal(signedIn.status, 200, await signedIn.text());
    });

    it("fails with a clear message and no password when the admin credentials are wrong", async () => {
        const result = await runProgram({ MLFLOW_ADMIN_PASSWORD: "not-the-admin-password" });
        assert.equal(result.code, 1);
        assert.match(result.stderr, /registry reader: the admin credentials were refused \(HTTP 401\)/);
        assert.ok(!`${result.stdout}${result.stderr}`.includes("not-the-admin-password"));
        assert.equal(
            (await fetch(`${server.url}/api/2.0/mlflow/users/current`, { headers: basic(reader.username, reader.password) })).status,
            401,
            "no user was created",
        );
    });

    describe("the registry reader program, run twice", () => {
        const newPassword = "rotated-by-pulumi-0123456789";
        let first: Awaited<ReturnType<typeof runProgram>>;
        let second: Awaited<ReturnType<typeof runProgram>>;
        let seed: MlflowSeed;
        let runId: string;
        let experimentId: string;

        before(async () => {
            first = await runProgram();
            // What the Job does after Pulumi generated a new password: the same program, the new value.
            second = await runProgram({ READER_PASSWORD: newPassword });
            seed = new MlflowSeed(server.url, basic(admin.username, admin.password));
            ({ runId, experimentId } = await seed.createRun({ experimentName: "fraud-detection", metrics: { accuracy: 0.97 } }));
            const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model/MLmodel`, {
                method: "PUT",
                headers: basic(admin.username, admin.password),
                body: "flavors: {}\n",
            });
            assert.equal(put.status, 200);
            await seed.createRegisteredModel("fraud_detector");
            assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId }), "1");
        });

        it("creates the user with READ on every experiment and registered model the first time", () => {
            assert.equal(first.code, 0, first.stderr);
            assert.equal(
                first.stdout,
                'registry reader "model-server": created\nREAD on every experiment: granted\nREAD on every registered_model: granted\nregistry reader "model-server": signs in, not an admin\n',
            );
        });

        it("succeeds again on an existing user, setting the new password and keeping the grants", async () => {
            assert.equal(second.code, 0, second.stderr);
            assert.equal(
                second.stdout,
                'registry reader "model-server": existed, password set\nREAD on every experiment: already granted\nREAD on every registered_model: already granted\nregistry reader "model-server": signs in, not an admin\n',
            );
            const current = `${server.url}/api/2.0/mlflow/users/current`;
            assert.equal((await fetch(current, { headers: basic(reader.username, reader.password) })).status, 401, "the old password no longer works");
            const signedIn = await fetch(current, { headers: basic(reader.username, newPassword) });
            assert.deepEqual(((await signedIn.json()) as { user: unknown }).user, { id: 2, username: "model-server", is_admin: false });
        });

        it("never prints a password", () => {
            for (const output of [first, second].flatMap((r) => [r.stdout, r.stderr])) {
                for (const secret of [admin.password, reader.password, newPassword]) assert.ok(!output.includes(secret));
            }
        });

        it("lets the reader read the registered model, its version, the run and the model's artifacts", async () => {
            const registry = new MlflowRestClient({ trackingUri: server.url, auth: { kind: "basic", username: "model-server", password: newPassword } });
            assert.equal((await registry.getRegisteredModel("fraud_detector")).name, "fraud_detector");
            const version = await registry.getModelVersion("fraud_detector", "1");
            assert.equal(version.runId, runId);
            assert.equal((await registry.getRun(runId)).metrics["accuracy"], 0.97);
            const artifact = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model/MLmodel`, {
                headers: basic("model-server", newPassword),
            });
            assert.equal(await artifact.text(), "flavors: {}\n");
        });

        it("refuses (403) the reader's attempts to register a version, move an alias, upload an artifact or create a user", async () => {
            const asReader = basic("model-server", newPassword);
            const create = await fetch(`${server.url}/api/2.0/mlflow/model-versions/create`, {
                method: "POST",
                headers: { ...asReader, "content-type": "application/json" },
                body: JSON.stringify({ name: "fraud_detector", source: `runs:/${runId}/model`, run_id: runId }),
            });
            assert.equal(create.status, 403, await create.text());
            const registry = new MlflowRestClient({ trackingUri: server.url, auth: { kind: "basic", username: "model-server", password: newPassword } });
            await assert.rejects(
                registry.setAlias("fraud_detector", "champion", "1"),
                (error: unknown) => error instanceof RegistryHttpError && error.status === 403,
            );
            const upload = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model/evil.pkl`, {
                method: "PUT",
                headers: asReader,
                body: "x",
            });
            assert.equal(upload.status, 403);
            const user = await fetch(`${server.url}/api/2.0/mlflow/users/create`, {
                method: "POST",
                headers: { ...asReader, "content-type": "application/json" },
                body: JSON.stringify({ username: "intruder", password: "intruder-password-1" }),
            });
            assert.equal(user.status, 403);
            assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId }), "2", "the admin still can");
        });
    });
});

describe("the registry reader program on a server whose default permission is NO_PERMISSIONS", () => {
    let rendered: Awaited<ReturnType<typeof renderComponent>>;
    let server: RunningServer;
    let scratch: string;
    let admin: { username: string; password: string };
    let reader: { username: string; password: string };

    before(async () => {
        scratch = mkdtempSync(path.join(os.tmpdir(), "mlflow-server-strict-test-"));
        rendered = await renderComponent({ basicAuth: { enabled: true, defaultPermission: "NO_PERMISSIONS" }, registryReader: { namespace: "models" } });
        const secret = (name: string) => findObject(rendered.resources, "kubernetes:core/v1:Secret", name).stringData as { username: string; password: string };
        admin = secret("mlflow-admin");
        reader = secret("mlflow-registry-reader");
        server = await startShippedServer(rendered, true, scratch, "NO_PERMISSIONS");
    });

    after(async () => {
        await server?.stop();
        rmSync(scratch, { recursive: true, force: true });
    });

    it("grants the reader what model servers need, which a user without the grants lacks", async () => {
        const seed = new MlflowSeed(server.url, basic(admin.username, admin.password));
        const { runId } = await seed.createRun({ experimentName: "fraud-detection" });
        await seed.createRegisteredModel("fraud_detector");
        await seed.createModelVersion({ model: "fraud_detector", runId });
        const result = await runReaderProgram(rendered, server.url, scratch);
        assert.equal(result.code, 0, result.stderr);

        const asReader = new MlflowRestClient({ trackingUri: server.url, auth: { kind: "basic", ...reader } });
        assert.equal((await asReader.getModelVersion("fraud_detector", "1")).runId, runId);
        assert.equal((await asReader.getRun(runId)).runId, runId);

        const plain = { username: "no-grants", password: "no-grants-password-1" };
        const created = await fetch(`${server.url}/api/2.0/mlflow/users/create`, {
            method: "POST",
            headers: { ...basic(admin.username, admin.password), "content-type": "application/json" },
            body: JSON.stringify(plain),
        });
        assert.equal(created.status, 200);
        const withoutGrants = new MlflowRestClient({ trackingUri: server.url, auth: { kind: "basic", ...plain } });
        await assert.rejects(
            withoutGrants.getModelVersion("fraud_detector", "1"),
            (error: unknown) => error instanceof RegistryHttpError && error.status === 403,
        );
    });
});
