import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
    authFromEnv,
    MlflowRestClient,
    RegistryError,
    RegistryHttpError,
    RegistryMalformedResponseError,
    RegistryNotFoundError,
    RegistryTimeoutError,
    RegistryUnreachableError,
} from "../../policies/mlflowRestClient";
import { startCannedServer, startSilentServer, startStallingBodyServer, unusedUrl, type CannedAnswer, type FaultyServer } from "../support/faultyServers";
import { MlflowSeed, startMlflowServer, type MlflowServer } from "../support/mlflow";

/** Asserts that `promise` rejects with exactly this class and message, and returns the error. */
async function rejectsWith<E extends RegistryError>(
    promise: Promise<unknown>,
    errorClass: abstract new (...args: never[]) => E,
    message: string | RegExp,
): Promise<E> {
    let caught: unknown;
    await promise.then(
        (value) => assert.fail(`expected ${errorClass.name}, got the value ${JSON.stringify(value)}`),
        (error: unknown) => {
            caught = error;
        },
    );
    assert.ok(caught instanceof errorClass, `expected ${errorClass.name}, got ${String(caught)}`);
    if (typeof message === "string") assert.equal(caught.message, message);
    else assert.match(caught.message, message);
    return caught;
}

describe("MlflowRestClient against a real MLflow 3.17.2 server on PostgreSQL", () => {
    let server: MlflowServer;
    let registry: MlflowRestClient;
    let trainingRunId: string;
    let retrainingRunId: string;
    let seededAfter: number;
    let seededBefore: number;

    before(async () => {
        server = await startMlflowServer();
        registry = new MlflowRestClient({ trackingUri: server.url });
        const { seed } = server;
        seededAfter = Date.now();
        ({ runId: trainingRunId } = await seed.createRun({
            experimentName: "fraud-detection",
            runName: "train-2024-06",
            metrics: { accuracy: [0.9, 0.95], f1: 0.92 },
            params: { learning_rate: "0.01", max_depth: "6" },
            tags: { "mlops.dev/validated-in": "staging" },
        }));
        ({ runId: retrainingRunId } = await seed.createRun({
            experimentName: "fraud-detection",
            runName: "train-2024-07",
            metrics: { accuracy: 0.97 },
            status: "FAILED",
        }));
        await seed.createRegisteredModel("fraud_detector", { team: "risk" });
        assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId: trainingRunId, tags: { framework: "xgboost" } }), "1");
        assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId: retrainingRunId }), "2");
        assert.equal(await seed.createModelVersion({ model: "fraud_detector", source: "s3://models/fraud_detector/imported" }), "3");
        seededBefore = Date.now();
    });

    after(async () => {
        await server?.stop();
    });

    it("getModelVersion returns a version registered from a run, READY at once", async () => {
        const { creationTimestamp, ...version } = await registry.getModelVersion("fraud_detector", "1");
        assert.deepEqual(version, {
            name: "fraud_detector",
            version: "1",
            status: "READY",
            runId: trainingRunId,
            source: `runs:/${trainingRunId}/model`,
            aliases: [],
            tags: { framework: "xgboost" },
        });
        assert.ok(creationTimestamp >= seededAfter && creationTimestamp <= seededBefore, `creationTimestamp ${creationTimestamp}`);
    });

    it("getModelVersion reports no runId for a version registered from a plain URI", async () => {
        const version = await registry.getModelVersion("fraud_detector", "3");
        assert.equal(version.runId, undefined);
        assert.equal(version.source, "s3://models/fraud_detector/imported");
    });

    it("getModelVersion of a missing version or model is RegistryNotFoundError", async () => {
        await rejectsWith(
            registry.getModelVersion("fraud_detector", "99"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: getModelVersion(fraud_detector, 99): not found (RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud_detector, version=99) not found)`,
        );
        await rejectsWith(
            registry.getModelVersion("no_such_model", "1"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: getModelVersion(no_such_model, 1): not found (RESOURCE_DOES_NOT_EXIST: Model Version (name=no_such_model, version=1) not found)`,
        );
    });

    it("getModelVersion of a non-numeric version is the server's 400 as RegistryHttpError", async () => {
        const error = await rejectsWith(
            registry.getModelVersion("fraud_detector", "latest"),
            RegistryHttpError,
            `MLflow registry ${server.url}: getModelVersion(fraud_detector, latest): HTTP 400 (INVALID_PARAMETER_VALUE: Parameter 'version' must be an integer, got 'latest'.)`,
        );
        assert.equal(error.status, 400);
        assert.equal(error.errorCode, "INVALID_PARAMETER_VALUE");
    });

    it("getRun returns the latest value of each metric, params and tags", async () => {
        assert.deepEqual(await registry.getRun(trainingRunId), {
            runId: trainingRunId,
            status: "FINISHED",
            metrics: { accuracy: 0.95, f1: 0.92 },
            params: { learning_rate: "0.01", max_depth: "6" },
            tags: { "mlflow.runName": "train-2024-06", "mlops.dev/validated-in": "staging" },
        });
        const retraining = await registry.getRun(retrainingRunId);
        assert.equal(retraining.status, "FAILED");
        assert.deepEqual(retraining.params, {});
    });

    it("getRun of a missing run is RegistryNotFoundError", async () => {
        await rejectsWith(
            registry.getRun("0123456789abcdef0123456789abcdef"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: getRun(0123456789abcdef0123456789abcdef): not found (RESOURCE_DOES_NOT_EXIST: Run with id=0123456789abcdef0123456789abcdef not found)`,
        );
    });

    it("getRegisteredModel returns the model with its tags and aliases", async () => {
        await registry.setAlias("fraud_detector", "imported", "3");
        const model = await registry.getRegisteredModel("fraud_detector");
        assert.equal(model.name, "fraud_detector");
        assert.equal(model.description, "");
        assert.deepEqual(model.tags, { team: "risk" });
        assert.equal(model.aliases["imported"], "3");
        assert.ok(model.lastUpdatedTimestamp >= model.creationTimestamp);
        await registry.deleteAlias("fraud_detector", "imported");
    });

    it("getRegisteredModel of a missing model is RegistryNotFoundError", async () => {
        await rejectsWith(
            registry.getRegisteredModel("no_such_model"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: getRegisteredModel(no_such_model): not found (RESOURCE_DOES_NOT_EXIST: Registered Model with name=no_such_model not found)`,
        );
    });

    it("setAlias moves an alias from v1 to v2, and every read-back agrees", async () => {
        await registry.setAlias("fraud_detector", "champion", "1");
        assert.equal((await registry.getVersionByAlias("fraud_detector", "champion"))?.version, "1");
        assert.deepEqual((await registry.getModelVersion("fraud_detector", "1")).aliases, ["champion"]);

        await registry.setAlias("fraud_detector", "champion", "2");
        const champion = await registry.getVersionByAlias("fraud_detector", "champion");
        assert.equal(champion?.version, "2");
        assert.equal(champion?.runId, retrainingRunId);
        assert.deepEqual(champion?.aliases, ["champion"]);
        assert.deepEqual((await registry.getModelVersion("fraud_detector", "1")).aliases, []);
        assert.deepEqual((await registry.getRegisteredModel("fraud_detector")).aliases, { champion: "2" });
    });

    it("getVersionByAlias is undefined for an alias the model does not have", async () => {
        assert.equal(await registry.getVersionByAlias("fraud_detector", "never-set"), undefined);
    });

    it("getVersionByAlias of a missing model is RegistryNotFoundError", async () => {
        await rejectsWith(
            registry.getVersionByAlias("no_such_model", "champion"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: getVersionByAlias(no_such_model, champion): not found (RESOURCE_DOES_NOT_EXIST: Registered Model with name=no_such_model not found)`,
        );
    });

    it("deleteAlias removes the alias, and removing a missing alias succeeds", async () => {
        await registry.setAlias("fraud_detector", "challenger", "2");
        await registry.deleteAlias("fraud_detector", "challenger");
        assert.equal(await registry.getVersionByAlias("fraud_detector", "challenger"), undefined);
        assert.equal((await registry.getRegisteredModel("fraud_detector")).aliases["challenger"], undefined);
        await registry.deleteAlias("fraud_detector", "challenger");
    });

    it("setAlias to a missing version is RegistryNotFoundError", async () => {
        await rejectsWith(
            registry.setAlias("fraud_detector", "champion", "99"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: setAlias(fraud_detector, champion, 99): not found (RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud_detector, version=99) not found)`,
        );
    });

    it("setAlias with a reserved alias name is the server's 400 as RegistryHttpError", async () => {
        await rejectsWith(
            registry.setAlias("fraud_detector", "latest", "1"),
            RegistryHttpError,
            `MLflow registry ${server.url}: setAlias(fraud_detector, latest, 1): HTTP 400 (INVALID_PARAMETER_VALUE: 'latest' alias name (case insensitive) is reserved.)`,
        );
    });

    it("setModelVersionTag sets and overwrites a tag that getModelVersion reads back", async () => {
        await registry.setModelVersionTag("fraud_detector", "2", "mlops.dev/promoted-to", "staging");
        await registry.setModelVersionTag("fraud_detector", "2", "mlops.dev/promoted-to", "production");
        assert.deepEqual((await registry.getModelVersion("fraud_detector", "2")).tags, { "mlops.dev/promoted-to": "production" });
    });

    it("setModelVersionTag on a missing version is RegistryNotFoundError", async () => {
        await rejectsWith(
            registry.setModelVersionTag("fraud_detector", "99", "k", "v"),
            RegistryNotFoundError,
            `MLflow registry ${server.url}: setModelVersionTag(fraud_detector, 99, k): not found (RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud_detector, version=99) not found)`,
        );
    });
});

describe("MlflowRestClient with Basic auth against a real MLflow basic-auth server", () => {
    // MLflow refuses to bootstrap an admin whose password is shorter than 12 characters.
    const adminPassword = "test-admin-password-1";
    let server: MlflowServer;
    let authDir: string;

    before(async () => {
        authDir = mkdtempSync(path.join(os.tmpdir(), "mlflow-auth-"));
        const configPath = path.join(authDir, "basic_auth.ini");
        writeFileSync(
            configPath,
            [
                "[mlflow]",
                "default_permission = READ",
                `database_uri = sqlite:///${path.join(authDir, "basic_auth.db")}`,
                "admin_username = admin",
                `admin_password = ${adminPassword}`,
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
                "",
            ].join("\n"),
        );
        // The basic-auth app refuses to start without a static CSRF secret.
        server = await startMlflowServer({
            extraArgs: ["--app-name", "basic-auth"],
            env: { MLFLOW_AUTH_CONFIG_PATH: configPath, MLFLOW_FLASK_SERVER_SECRET_KEY: "test-csrf-secret" },
        });
        const seed = new MlflowSeed(server.url, { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString("base64")}` });
        await seed.createRegisteredModel("fraud_detector");
    });

    after(async () => {
        await server?.stop();
        if (authDir !== undefined) rmSync(authDir, { recursive: true, force: true });
    });

    it("fromEnv sends MLFLOW_TRACKING_USERNAME/PASSWORD as Basic credentials the server accepts", async () => {
        const registry = MlflowRestClient.fromEnv(
            {},
            { MLFLOW_TRACKING_URI: server.url, MLFLOW_TRACKING_USERNAME: "admin", MLFLOW_TRACKING_PASSWORD: adminPassword },
        );
        assert.equal((await registry.getRegisteredModel("fraud_detector")).name, "fraud_detector");
    });

    it("wrong credentials are the server's 401 as RegistryHttpError", async () => {
        const registry = new MlflowRestClient({ trackingUri: server.url, auth: { kind: "basic", username: "admin", password: "wrong" } });
        const error = await rejectsWith(
            registry.getRegisteredModel("fraud_detector"),
            RegistryHttpError,
            `MLflow registry ${server.url}: getRegisteredModel(fraud_detector): HTTP 401 (You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.)`,
        );
        assert.equal(error.status, 401);
    });
});

describe("MlflowRestClient when the registry misbehaves", () => {
    const servers: FaultyServer[] = [];
    async function canned(answer: CannedAnswer): Promise<MlflowRestClient> {
        const server = await startCannedServer(answer);
        servers.push(server);
        return new MlflowRestClient({ trackingUri: server.url, timeoutMs: 2000 });
    }

    afterEach(async () => {
        await Promise.all(servers.splice(0).map((server) => server.close()));
    });

    it("a port with nothing listening is RegistryUnreachableError", async () => {
        const url = await unusedUrl();
        const port = new URL(url).port;
        await rejectsWith(
            new MlflowRestClient({ trackingUri: url }).getModelVersion("fraud_detector", "7"),
            RegistryUnreachableError,
            `MLflow registry ${url}: getModelVersion(fraud_detector, 7): unreachable (connect ECONNREFUSED 127.0.0.1:${port})`,
        );
    });

    it("a host name that does not resolve is RegistryUnreachableError", async () => {
        await rejectsWith(
            new MlflowRestClient({ trackingUri: "http://mlflow.registry.invalid" }).getRun("abc"),
            RegistryUnreachableError,
            /^MLflow registry http:\/\/mlflow\.registry\.invalid: getRun\(abc\): unreachable \(getaddrinfo (ENOTFOUND|EAI_AGAIN) mlflow\.registry\.invalid\)$/,
        );
    });

    it("a server that accepts the connection and never answers is RegistryTimeoutError within the bound", async () => {
        const server = await startSilentServer();
        servers.push(server);
        const started = Date.now();
        const error = await rejectsWith(
            new MlflowRestClient({ trackingUri: server.url, timeoutMs: 300 }).getModelVersion("fraud_detector", "7"),
            RegistryTimeoutError,
            `MLflow registry ${server.url}: getModelVersion(fraud_detector, 7): no complete answer within 300 ms`,
        );
        assert.equal(error.timeoutMs, 300);
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    it("a server that sends headers and then stalls the body is RegistryTimeoutError within the bound", async () => {
        const server = await startStallingBodyServer();
        servers.push(server);
        const started = Date.now();
        await rejectsWith(
            new MlflowRestClient({ trackingUri: server.url, timeoutMs: 300 }).getModelVersion("fraud_detector", "7"),
            RegistryTimeoutError,
            `MLflow registry ${server.url}: getModelVersion(fraud_detector, 7): no complete answer within 300 ms`,
        );
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    it("a 500 with an MLflow error JSON is RegistryHttpError with the error code and message", async () => {
        const registry = await canned({
            status: 500,
            body: JSON.stringify({ error_code: "INTERNAL_ERROR", message: "(psycopg2.OperationalError) connection to server\nfailed" }),
        });
        const error = await rejectsWith(
            registry.getRun("abc"),
            RegistryHttpError,
            `MLflow registry ${registry.registryUrl}: getRun(abc): HTTP 500 (INTERNAL_ERROR: (psycopg2.OperationalError) connection to server failed)`,
        );
        assert.equal(error.status, 500);
        assert.equal(error.errorCode, "INTERNAL_ERROR");
    });

    it("a 502 page from a proxy is RegistryHttpError with an excerpt of the body", async () => {
        const registry = await canned({ status: 502, contentType: "text/html", body: `<html><body>${"Bad gateway ".repeat(30)}</body></html>` });
        const error = await rejectsWith(
            registry.getRegisteredModel("fraud_detector"),
            RegistryHttpError,
            `MLflow registry ${registry.registryUrl}: getRegisteredModel(fraud_detector): HTTP 502 (<html><body>${"Bad gateway ".repeat(30).slice(0, 188)}…)`,
        );
        assert.equal(error.errorCode, undefined);
    });

    it("a redirect is reported, not followed", async () => {
        const registry = await canned({ status: 302, contentType: "text/html", body: "", headers: { location: "https://sso.example.com/login" } });
        await rejectsWith(
            registry.getRegisteredModel("fraud_detector"),
            RegistryHttpError,
            `MLflow registry ${registry.registryUrl}: getRegisteredModel(fraud_detector): HTTP 302 (redirect to https://sso.example.com/login)`,
        );
    });

    it("a 200 with an HTML page is RegistryMalformedResponseError", async () => {
        const registry = await canned({ status: 200, contentType: "text/html", body: "<html><body>Sign in</body></html>" });
        await rejectsWith(
            registry.getModelVersion("fraud_detector", "7"),
            RegistryMalformedResponseError,
            `MLflow registry ${registry.registryUrl}: getModelVersion(fraud_detector, 7): malformed response (not JSON: <html><body>Sign in</body></html>)`,
        );
        await rejectsWith(
            registry.setAlias("fraud_detector", "champion", "7"),
            RegistryMalformedResponseError,
            `MLflow registry ${registry.registryUrl}: setAlias(fraud_detector, champion, 7): malformed response (not JSON: <html><body>Sign in</body></html>)`,
        );
    });

    it("JSON of the wrong shape is RegistryMalformedResponseError naming the field", async () => {
        const missingVersion = await canned({ status: 200, body: JSON.stringify({ model_version: { name: "fraud_detector" } }) });
        await rejectsWith(
            missingVersion.getModelVersion("fraud_detector", "7"),
            RegistryMalformedResponseError,
            `MLflow registry ${missingVersion.registryUrl}: getModelVersion(fraud_detector, 7): malformed response (model_version.version: expected a string, got nothing)`,
        );
        const array = await canned({ status: 200, body: "[]" });
        await rejectsWith(
            array.getRun("abc"),
            RegistryMalformedResponseError,
            `MLflow registry ${array.registryUrl}: getRun(abc): malformed response (expected a JSON object, got an array)`,
        );
        const unknownStatus = await canned({
            status: 200,
            body: JSON.stringify({
                model_version: { name: "fraud_detector", version: "7", status: "DONE", source: "s3://m", creation_timestamp: 1 },
            }),
        });
        await rejectsWith(
            unknownStatus.getModelVersion("fraud_detector", "7"),
            RegistryMalformedResponseError,
            `MLflow registry ${unknownStatus.registryUrl}: getModelVersion(fraud_detector, 7): malformed response (model_version.status: expected one of PENDING_REGISTRATION, FAILED_REGISTRATION, READY, got "DONE")`,
        );
        const badMetric = await canned({
            status: 200,
            body: JSON.stringify({ run: { info: { run_id: "abc", status: "FINISHED" }, data: { metrics: [{ key: "accuracy", value: "high" }] } } }),
        });
        await rejectsWith(
            badMetric.getRun("abc"),
            RegistryMalformedResponseError,
            `MLflow registry ${badMetric.registryUrl}: getRun(abc): malformed response (run.data.metrics[0].value: expected a number, got "high")`,
        );
    });

    it("reads proto3 JSON's non-finite metric values and absent repeated fields", async () => {
        const registry = await canned({
            status: 200,
            body: JSON.stringify({
                run: {
                    info: { run_id: "abc", status: "RUNNING" },
                    data: {
                        metrics: [
                            { key: "loss", value: "NaN" },
                            { key: "max", value: "Infinity" },
                            { key: "min", value: "-Infinity" },
                        ],
                    },
                },
            }),
        });
        assert.deepEqual(await registry.getRun("abc"), {
            runId: "abc",
            status: "RUNNING",
            metrics: { loss: Number.NaN, max: Number.POSITIVE_INFINITY, min: Number.NEGATIVE_INFINITY },
            params: {},
            tags: {},
        });
    });
});

describe("MlflowRestClient requests and configuration", () => {
    let server: FaultyServer;

    beforeEach(async () => {
        server = await startCannedServer({ status: 200, body: "{}" });
    });

    afterEach(async () => {
        await server.close();
    });

    it("keeps a path prefix of the tracking URI and sends GET parameters in the query string", async () => {
        const registry = new MlflowRestClient({ trackingUri: `${server.url}/mlflow/` });
        assert.equal(registry.registryUrl, `${server.url}/mlflow`);
        await rejectsWith(registry.getModelVersion("fraud detector", "7"), RegistryMalformedResponseError, /model_version: expected an object, got nothing/);
        assert.equal(server.requests[0]?.method, "GET");
        assert.equal(server.requests[0]?.url, "/mlflow/api/2.0/mlflow/model-versions/get?name=fraud+detector&version=7");
    });

    it("sends POST and DELETE parameters as a JSON body", async () => {
        const registry = new MlflowRestClient({ trackingUri: server.url });
        await registry.setAlias("fraud_detector", "champion", "7");
        await registry.deleteAlias("fraud_detector", "champion");
        await registry.setModelVersionTag("fraud_detector", "7", "stage", "prod");
        assert.deepEqual(
            server.requests.map(({ method, url, headers, body }) => ({ method, url, contentType: headers["content-type"], body: JSON.parse(body) as unknown })),
            [
                {
                    method: "POST",
                    url: "/api/2.0/mlflow/registered-models/alias",
                    contentType: "application/json",
                    body: { name: "fraud_detector", alias: "champion", version: "7" },
                },
                {
                    method: "DELETE",
                    url: "/api/2.0/mlflow/registered-models/alias",
                    contentType: "application/json",
                    body: { name: "fraud_detector", alias: "champion" },
                },
                {
                    method: "POST",
                    url: "/api/2.0/mlflow/model-versions/set-tag",
                    contentType: "application/json",
                    body: { name: "fraud_detector", version: "7", key: "stage", value: "prod" },
                },
            ],
        );
    });

    it("sends MLFLOW_TRACKING_TOKEN as a Bearer token, and no Authorization header without credentials", async () => {
        await MlflowRestClient.fromEnv({ trackingUri: server.url }, { MLFLOW_TRACKING_TOKEN: "t0ken" }).setAlias("m", "a", "1");
        await new MlflowRestClient({ trackingUri: server.url }).setAlias("m", "a", "1");
        assert.equal(server.requests[0]?.headers.authorization, "Bearer t0ken");
        assert.equal(server.requests[1]?.headers.authorization, undefined);
    });

    it("authFromEnv prefers username/password over a token, as MLflow's client does", () => {
        assert.deepEqual(authFromEnv({ MLFLOW_TRACKING_USERNAME: "u", MLFLOW_TRACKING_PASSWORD: "p", MLFLOW_TRACKING_TOKEN: "t" }), {
            kind: "basic",
            username: "u",
            password: "p",
        });
        assert.deepEqual(authFromEnv({ MLFLOW_TRACKING_USERNAME: "u", MLFLOW_TRACKING_TOKEN: "t" }), { kind: "bearer", token: "t" });
        assert.equal(authFromEnv({}), undefined);
    });

    it("fromEnv reads MLFLOW_TRACKING_URI and needs one", () => {
        assert.equal(MlflowRestClient.fromEnv({}, { MLFLOW_TRACKING_URI: "https://mlflow.example.com/" }).registryUrl, "https://mlflow.example.com");
        assert.throws(() => MlflowRestClient.fromEnv({}, {}), {
            message: "MlflowRestClient.fromEnv: no trackingUri given and MLFLOW_TRACKING_URI is not set",
        });
    });

    it("timeoutMs defaults to 5000", () => {
        assert.equal(new MlflowRestClient({ trackingUri: server.url }).timeoutMs, 5000);
    });

    it("rejects a tracking URI that is not http(s), carries credentials, or a bad timeout", () => {
        assert.throws(() => new MlflowRestClient({ trackingUri: "databricks" }), {
            message: 'MlflowRestClient: trackingUri must be an http(s) URL, got "databricks"',
        });
        assert.throws(() => new MlflowRestClient({ trackingUri: "file:///tmp/mlruns" }), {
            message: 'MlflowRestClient: trackingUri must be an http(s) URL, got "file:///tmp/mlruns"',
        });
        assert.throws(() => new MlflowRestClient({ trackingUri: "https://user:secret@mlflow.example.com" }), {
            message: "MlflowRestClient: trackingUri must not carry credentials; use MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN",
        });
        assert.throws(() => new MlflowRestClient({ trackingUri: server.url, timeoutMs: 0 }), {
            message: "MlflowRestClient: timeoutMs must be a positive integer, got 0",
        });
        assert.throws(() => new MlflowRestClient({ trackingUri: server.url, auth: { kind: "bearer", token: "line\nbreak" } }), {
            message: "MlflowRestClient: the auth token must be non-empty printable ASCII without spaces",
        });
    });
});
