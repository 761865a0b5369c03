/**
 * The model pod exactly as ModelServing renders it, run for real: the model server's command, args,
 * environment and exec probe, and the telemetry container's command and environment with its code
 * taken from the rendered ConfigMap (not from telemetry/), its labels from the pod's metadata as the
 * downward API gives them, scraped where the pod's scrape annotations point, and the Canary's own
 * evaluation-replay webhook run by bash against it. What a process on this machine cannot have is
 * replaced, and only that: container paths become temporary directories, the pod's ports become free
 * ports (the scoring port 8081, the proxy's 8080 and the telemetry's 8090), `python` and `mlflow` are
 * the test venv's.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { ModelServing, type ModelServingArgs } from "../../components/modelServing";
import { PROXY_PORT, SCORING_PORT, TELEMETRY_PORT } from "../../components/modelServing/telemetry";
import { findObject, runComponent, type RecordedResource, testFlagger } from "../harness";
import { freePort, startMlflowServer, venvExecutable, type MlflowServer } from "../support/mlflow";
import { drawRows, invocation, launch, trainAndRegister, waitFor, waitForReference, type Process, type Telemetry, type TrainedModel } from "./support";

const NAMESPACE = "models";
const POD = "fraud-detector-5d8f7c9b4-x2k7q";

interface RenderedPod {
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
    readonly containers: Record<string, any>[];
    readonly telemetryCode: Record<string, string>;
    readonly replayCommand: string;
}

async function renderPod(mlflow: MlflowServer, model: TrainedModel): Promise<RenderedPod> {
    const args: ModelServingArgs = {
        model: {
            name: "fraud-detector",
            registeredModel: model.name,
            version: model.version,
            replicas: { min: 1, max: 2 },
            resources: { cpu: "1", memory: "2Gi" },
            canary: { quality: { minAccuracy: 0.8, maxDriftScore: 0.2 } },
        },
        environment: "production",
        stack: "production",
        namespace: NAMESPACE,
        trackingUri: mlflow.url,
        artifactReaderRoleArn: "arn:aws:iam::123456789012:role/reader",
        gpu: { resourceName: "nvidia.com/gpu", nodeSelector: {}, tolerations: [] },
        ingress: { className: "nginx", domain: "ml.example.com", clusterIssuer: "letsencrypt" },
        flagger: testFlagger("nginx"),
        delivery: { mode: "direct" },
    };
    const { resources } = await runComponent(() => {
        new ModelServing("fraud-detector", args, { providers: { kubernetes: new k8s.Provider("cluster", {}) } });
    });
    const all = resources as readonly RecordedResource[];
    const template = findObject(all, "kubernetes:apps/v1:Deployment", "fraud-detector")["spec"]["template"];
    const configMapName = template.spec.volumes.find((v: any) => v.name === "telemetry").configMap.name;
    const webhooks = findObject(all, "kubernetes:flagger.app/v1beta1:Canary", "fraud-detector")["spec"]["analysis"]["webhooks"];
    return {
        labels: template.metadata.labels,
        annotations: template.metadata.annotations,
        containers: template.spec.containers,
        telemetryCode: findObject(all, "kubernetes:core/v1:ConfigMap", configMapName)["data"],
        replayCommand: webhooks.find((w: any) => w.name === "evaluation-replay").metadata.cmd,
    };
}

/** The pod's ports on this machine. */
interface Ports {
    readonly scoring: number;
    readonly proxy: number;
    readonly telemetry: number;
}

function localPort(port: number, ports: Ports): number {
    const mapped = { [SCORING_PORT]: ports.scoring, [PROXY_PORT]: ports.proxy, [TELEMETRY_PORT]: ports.telemetry }[port];
    if (mapped === undefined) throw new Error(`the pod uses port ${port}, which this test does not map`);
    return mapped;
}

/** A rendered string with the pod's loopback addresses and port arguments moved to this machine's ports. */
function onThisMachine(value: string, ports: Ports): string {
    return value.replace(/127\.0\.0\.1:(80[89][01])\b/g, (_, port: string) => `127.0.0.1:${localPort(Number(port), ports)}`);
}

/** The container's environment as the kubelet gives it: fieldRefs resolved from the pod's metadata. */
function containerEnv(container: Record<string, any>, pod: { name: string; namespace: string; labels: Record<string, string> }, ports: Ports) {
    const env: Record<string, string> = {};
    for (const e of container.env as Array<{ name: string; value?: string; valueFrom?: any }>) {
        if (e.value !== undefined) {
            env[e.name] = onThisMachine(e.value, ports);
            continue;
        }
        const fieldPath: string | undefined = e.valueFrom?.fieldRef?.fieldPath;
        const label = fieldPath?.match(/^metadata\.labels\['(.+)'\]$/);
        if (fieldPath === "metadata.name") env[e.name] = pod.name;
        else if (fieldPath === "metadata.namespace") env[e.name] = pod.namespace;
        else if (label) {
            const value = pod.labels[label[1] as string];
            if (value === undefined) throw new Error(`${e.name} reads the pod label ${label[1]}, which the pod does not carry`);
            env[e.name] = value;
        } else throw new Error(`${e.name}: a source this test cannot resolve: ${JSON.stringify(e.valueFrom)}`);
    }
    return env;
}

/** The container's absolute paths (HOME, TMPDIR, PYTHONPATH) under `root`, where this test mounts its volumes. */
const under = (root: string, env: Record<string, string>) =>
    Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.startsWith("/") ? path.join(root, v) : v]));

function exec(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
        execFile(command, args, { env, timeout: 150_000 }, (error, stdout) =>
            resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout }),
        );
    });
}

describe("the rendered model pod, run as rendered", function () {
    this.timeout(600_000);
    let mlflow: MlflowServer;
    let model: TrainedModel;
    let pod: RenderedPod;
    let ports: Ports;
    let root: string;
    const processes: Process[] = [];
    let proxyUrl: string;
    let adminUrl: string;

    before(async () => {
        mlflow = await startMlflowServer();
        model = await trainAndRegister(mlflow, "fraud_detector");
        pod = await renderPod(mlflow, model);
        ports = { scoring: await freePort(), proxy: await freePort(), telemetry: await freePort() };
        root = mkdtempSync(path.join(os.tmpdir(), "rendered-pod-"));
        const metadata = { name: POD, namespace: NAMESPACE, labels: pod.labels };
        const venvBin = path.dirname(venvExecutable("python"));
        const [server, telemetry] = ["model-server", "telemetry"].map((name) => {
            const c = pod.containers.find((x) => x.name === name);
            assert.ok(c !== undefined, `the pod has no ${name} container`);
            return c;
        }) as [Record<string, any>, Record<string, any>];

        // The pod's one writable volume, and the telemetry ConfigMap's files where the container mounts them.
        mkdirSync(path.join(root, "tmp"));
        const codeMount = telemetry.volumeMounts.find((m: any) => m.name === "telemetry").mountPath as string;
        mkdirSync(path.join(root, codeMount), { recursive: true });
        for (const [file, text] of Object.entries(pod.telemetryCode)) writeFileSync(path.join(root, codeMount, file), text);

        const serverEnv = under(root, containerEnv(server, metadata, ports));
        const serverArgs = (server.args as string[]).map((a, i, all) => (all[i - 1] === "--port" ? String(localPort(Number(a), ports)) : a));
        assert.equal(serverArgs[serverArgs.indexOf("--host") + 1], "127.0.0.1", "the scoring server must listen on loopback only");
        processes.push(
            launch(path.join(venvBin, server.command[0]), serverArgs, { PATH: `${venvBin}:/usr/bin:/bin`, GIT_PYTHON_REFRESH: "quiet", ...serverEnv }, root)
                .process,
        );

        const telemetryEnv = containerEnv(telemetry, metadata, ports);
        const env: Record<string, string> = {
            ...under(root, telemetryEnv),
            // The container's ports, which the rendered environment names, moved to this machine's.
            MLOPS_LISTEN_PORT: String(localPort(Number(telemetryEnv["MLOPS_LISTEN_PORT"]), ports)),
            MLOPS_ADMIN_PORT: String(localPort(Number(telemetryEnv["MLOPS_ADMIN_PORT"]), ports)),
            PATH: "/usr/bin:/bin",
        };
        // The code is the ConfigMap's: PYTHONPATH is the container's mount, mapped here.
        assert.equal(env["PYTHONPATH"], path.join(root, path.posix.dirname(codeMount)));
        const proc = launch(venvExecutable("python"), (telemetry.command as string[]).slice(1), env, root).process;
        processes.push(proc);
        proxyUrl = `http://127.0.0.1:${ports.proxy}`;
        adminUrl = `http://127.0.0.1:${ports.telemetry}`;
        // The rendered readiness probe: ready only once the scoring server answers through loopback.
        const readiness = telemetry.readinessProbe.httpGet;
        const readinessPort = telemetry.ports.find((p: any) => p.name === readiness.port).containerPort as number;
        await waitFor("the telemetry container", `http://127.0.0.1:${localPort(readinessPort, ports)}${readiness.path}`, proc, 240_000);
        await waitForReference({ adminUrl } as Telemetry);
    });

    after(async () => {
        await Promise.all(processes.map((p) => p.stop()));
        if (root !== undefined) rmSync(root, { recursive: true, force: true });
        await mlflow?.stop();
    });

    it("passes the model server's rendered exec probe only while the scoring server answers", async () => {
        const server = pod.containers.find((c) => c.name === "model-server") as Record<string, any>;
        const [command, ...args] = (server.livenessProbe.exec.command as string[]).map((a) => onThisMachine(a, ports));
        assert.equal(command, "python");
        assert.equal((await exec(venvExecutable("python"), args, {})).code, 0);
        // The same probe against a port nothing listens on fails, so a passing probe means something.
        const dead = { ...ports, scoring: await freePort() };
        const [, ...deadArgs] = (server.livenessProbe.exec.command as string[]).map((a) => onThisMachine(a, dead));
        assert.notEqual((await exec(venvExecutable("python"), deadArgs, {})).code, 0);
    });

    it("answers predictions through the proxy as the scoring server does, with a prediction id", async () => {
        const body = invocation(drawRows(7, 5).map((r) => r.features));
        const post = (url: string) => fetch(`${url}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body });
        const [proxied, direct] = await Promise.all([post(proxyUrl), post(`http://127.0.0.1:${ports.scoring}`)]);
        assert.equal(proxied.status, 200);
        assert.deepEqual(await proxied.json(), await direct.json());
        assert.match(proxied.headers.get("x-prediction-id") ?? "", /^[0-9a-f-]{16,}$/);
    });

    it("publishes the quality gauges with the pod's own labels where its scrape annotations point", async () => {
        // Enough rows for the drift window's minimum (MLOPS_DRIFT_MIN_ROWS, 500): a batch as well as single rows.
        const batches = [...drawRows(11, 30).map((row) => [row.features]), drawRows(12, 500).map((row) => row.features)];
        for (const [index, rows] of batches.entries()) {
            const response = await fetch(`${proxyUrl}/invocations`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: invocation(rows),
            });
            assert.equal(response.status, 200, `request ${index}`);
            await response.arrayBuffer();
        }
        assert.equal(pod.annotations["prometheus.io/scrape"], "true");
        const scrapePort = localPort(Number(pod.annotations["prometheus.io/port"]), ports);
        const scrape = async () => (await fetch(`http://127.0.0.1:${scrapePort}${pod.annotations["prometheus.io/path"]}`)).text();
        // A request's rows enter the drift window after its answer is sent (telemetry/mlops_telemetry/server.py):
        // scrape once the window holds every row sent, or after 10 s with whatever it holds.
        const sent = batches.reduce((sum, rows) => sum + rows.length, 0);
        const windowRows = (metrics: string) => Number(/^mlops_drift_window_rows\{[^}]*\} (\S+)$/m.exec(metrics)?.[1] ?? 0);
        let text = await scrape();
        for (const deadline = Date.now() + 10_000; windowRows(text) < sent && Date.now() < deadline; text = await scrape())
            await new Promise((resolve) => setTimeout(resolve, 100));
        const labels = `model="fraud-detector",model_version="${model.version}",namespace="${NAMESPACE}",pod="${POD}"`;
        for (const gauge of ["mlops_prediction_confidence", "mlops_feature_drift_score"]) {
            const line = text.split("\n").find((l) => l.startsWith(`${gauge}{`));
            assert.ok(line !== undefined, `${gauge} is not published:\n${text.slice(0, 2000)}`);
            assert.equal(line.slice(gauge.length + 1, line.indexOf("}")), labels);
            assert.ok(Number.isFinite(Number(line.split(" ").at(-1))), line);
        }
    });

    it("measures accuracy on the version's evaluation sample when the Canary's own replay webhook runs", async () => {
        const command = pod.replayCommand.replace(`http://fraud-detector-canary.${NAMESPACE}:${TELEMETRY_PORT}`, adminUrl);
        assert.notEqual(command, pod.replayCommand, "the webhook does not target the canary's telemetry port");
        const replay = await exec("bash", ["-c", command], process.env);
        assert.equal(replay.code, 0);
        const summary = JSON.parse(replay.stdout) as { run_id: string; rows: number; accuracy: number };
        assert.deepEqual([summary.run_id, summary.rows], [model.runId, model.evaluationRows]);
        const text = await (await fetch(`${adminUrl}/metrics`)).text();
        const line = text.split("\n").find((l) => l.startsWith("mlops_model_accuracy{"));
        assert.ok(line !== undefined, `no accuracy after the replay:\n${text.slice(0, 2000)}`);
        // No live request had a label fed back, so the gauge is the replayed sample's accuracy, above the canary's floor.
        assert.equal(Number(line.split(" ").at(-1)), summary.accuracy);
        assert.ok(summary.accuracy >= 0.8, `accuracy ${summary.accuracy}`);
    });
});
