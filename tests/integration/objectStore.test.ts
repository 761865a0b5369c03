import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
    BACKEND_STORE_URI_ENV,
    MLFLOW_PORT,
    MLFLOW_SERVER_DEFAULTS,
    mlflowAllowedHosts,
    mlflowMigrationSteps,
    mlflowServerCommand,
} from "../../components/mlflowServer";
import { findObject, runStack } from "../harness";
import { type MlflowServer as RunningServer, runMlflowCommand, startMlflowServer } from "../support/mlflow";
import { ensureVersitygw, removeDir, type RunningGateway, startVersitygw } from "../support/versitygw";

/**
 * The local stack's artifact path, run for real: the rendered ObjectStore's command line and init
 * step (Versity S3 Gateway, built from the Go module proxy) and the rendered MLflow server's command
 * line and S3 environment, with the credentials each reads from its own rendered Secret. What MLflow
 * proxies must land in the gateway's bucket, and come back.
 */

type Container = {
    command: string[];
    args?: string[];
    env: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }>;
};

async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
        server.on("error", reject);
    });
}

describe("the local stack's object store behind MLflow, for real (Versity S3 Gateway + MLflow 3.17.2)", function () {
    this.timeout(900_000);
    let gateway: RunningGateway;
    let mlflow: RunningServer;
    let dataDir: string;
    let bucket: string;

    before(async () => {
        await ensureVersitygw();
        const { resources } = await runStack("local");
        const secretData = (name: string) => findObject(resources, "kubernetes:core/v1:Secret", name)["stringData"] as Record<string, string>;
        const env = (container: Container, overrides: Record<string, string>) =>
            Object.fromEntries(
                container.env.map((e) => [
                    e.name,
                    overrides[e.name] ?? e.value ?? secretData(e.valueFrom?.secretKeyRef.name ?? "")[e.valueFrom?.secretKeyRef.key ?? ""],
                ]),
            ) as Record<string, string>;

        // The store, as its StatefulSet runs it: the init container makes the bucket, then the gateway starts.
        const store = findObject(resources, "kubernetes:apps/v1:StatefulSet", "object-store")["spec"].template.spec;
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "object-store-"));
        const local = (command: readonly string[]) => command.map((part) => part.replaceAll("/data", dataDir));
        const init = local(store.initContainers[0].command);
        assert.deepEqual(init.slice(0, 2), ["/bin/sh", "-c"]);
        execFileSync("/bin/sh", ["-c", init[2] as string]);
        bucket = fs.readdirSync(path.join(dataDir, "buckets"))[0] as string;
        const port = await freePort();
        const storeCommand = local(store.containers[0].command).map((part) => (part === ":7070" ? `127.0.0.1:${port}` : part));
        gateway = await startVersitygw(storeCommand, env(store.containers[0], {}), `http://127.0.0.1:${port}`, dataDir);

        // MLflow, as its Deployment runs it, pointed at the local gateway instead of the in-cluster Service.
        const server = findObject(resources, "kubernetes:apps/v1:Deployment", "mlflow")["spec"].template.spec.containers[0] as Container;
        const destination = server.command[server.command.indexOf("--artifacts-destination") + 1] as string;
        assert.equal(destination, `s3://${bucket}/artifacts`);
        const podEnv: Record<string, string> = {};
        mlflow = await startMlflowServer({
            beforeStart: async (context) => {
                for (const step of mlflowMigrationSteps({ basicAuth: false, backendStoreUri: context.backendStoreUri })) {
                    const [program, ...args] = step.command;
                    if (program === "mlflow") await runMlflowCommand(args);
                }
                Object.assign(podEnv, env(server, { [BACKEND_STORE_URI_ENV]: context.backendStoreUri, MLFLOW_S3_ENDPOINT_URL: gateway.url, HOME: dataDir }));
            },
            command: (context) => {
                const allowedHosts = mlflowAllowedHosts({
                    host: "mlflow.ml.localhost",
                    serviceName: "mlflow",
                    namespace: "mlflow",
                    port: MLFLOW_PORT,
                    clusterDomain: "cluster.local",
                });
                const [, ...args] = mlflowServerCommand({
                    artifactsDestination: destination,
                    allowedHosts,
                    port: context.port,
                    bindAddress: context.host,
                    workers: MLFLOW_SERVER_DEFAULTS.workers,
                    basicAuth: false,
                });
                return args;
            },
            env: podEnv,
        });
    });

    after(async () => {
        await mlflow?.stop();
        await gateway?.stop();
        if (dataDir !== undefined) removeDir(dataDir);
    });

    it("MLflow's S3 credentials are the store's root credentials, each from its own Secret", async () => {
        const { resources } = await runStack("local");
        const store = findObject(resources, "kubernetes:core/v1:Secret", "object-store-credentials")["stringData"];
        const mlflowCopy = findObject(resources, "kubernetes:core/v1:Secret", "mlflow-s3-credentials")["stringData"];
        assert.deepEqual(mlflowCopy, store);
    });

    it("stores what MLflow proxies in the gateway's bucket, and serves it back", async () => {
        const { experimentId, runId } = await mlflow.seed.createRun({ experimentName: "local-artifacts" });
        const artifactPath = `${experimentId}/${runId}/artifacts/model/MLmodel`;
        const put = await fetch(`${mlflow.url}/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`, { method: "PUT", body: "flavors: {}\n" });
        assert.equal(put.status, 200, await put.text());
        // On the gateway's volume: buckets/<bucket>/artifacts/<path>, exactly where the destination says.
        assert.equal(fs.readFileSync(path.join(dataDir, "buckets", bucket, "artifacts", artifactPath), "utf8"), "flavors: {}\n");
        const get = await fetch(`${mlflow.url}/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`);
        assert.equal(get.status, 200);
        assert.equal(await get.text(), "flavors: {}\n");
    });

    it("refuses a request signed with other credentials (the gateway is not open)", async () => {
        const response = await fetch(`${gateway.url}/${bucket}/`, {
            headers: { authorization: "AWS4-HMAC-SHA256 Credential=WRONG/20261204/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00" },
        });
        assert.equal(response.status, 403);
        assert.equal((await fetch(`${gateway.url}/${bucket}/`)).status, 403, "anonymous");
    });
});
