/**
 * Real processes for the telemetry tests: a model trained and registered with the training helper in the
 * tests' MLflow, `mlflow models serve` of it, telemetry sidecars in front, and Prometheus scraping them.
 * Everything listens on 127.0.0.1 only, on free ports; every process is stopped by its own handle.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, REPO_ROOT, venvExecutable, type MlflowServer } from "../support/mlflow";

export const TELEMETRY_DIR = path.join(REPO_ROOT, "telemetry");
const LOG_TAIL = 32 * 1024;

/** Three well separated classes in four features; the telemetry tests draw their traffic from these. */
export const CLASS_CENTRES: readonly (readonly number[])[] = [
    [0, 0, 0, 0],
    [4, 4, 0, 0],
    [0, 4, 4, 0],
];
export const SIGMA = 1;
export const FEATURES = ["x0", "x1", "x2", "x3"] as const;

export interface TrainedModel {
    readonly name: string;
    readonly runId: string;
    readonly version: string;
    readonly accuracy: number;
    readonly evaluationRows: number;
}

/** Trains, logs (model, reference statistics, evaluation sample) and registers `name` through `mlflow`. */
export async function trainAndRegister(mlflow: MlflowServer, name: string): Promise<TrainedModel> {
    const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
            venvExecutable("python"),
            [path.join(__dirname, "fixtures", "train_model.py"), name, JSON.stringify(CLASS_CENTRES), String(SIGMA)],
            { env: { ...process.env, MLFLOW_TRACKING_URI: mlflow.url, PYTHONPATH: TELEMETRY_DIR, GIT_PYTHON_REFRESH: "quiet" }, timeout: 180_000 },
            (error, out, err) => (error ? reject(new Error(`train_model.py failed: ${error.message}\n${err}`)) : resolve(out)),
        );
    });
    const line = stdout.split("\n").find((l) => l.startsWith("TRAINED "));
    if (line === undefined) throw new Error(`train_model.py printed no TRAINED line:\n${stdout}`);
    const parsed = JSON.parse(line.slice("TRAINED ".length)) as { run_id: string; version: string; accuracy: number; evaluation_rows: number };
    return { name, runId: parsed.run_id, version: parsed.version, accuracy: parsed.accuracy, evaluationRows: parsed.evaluation_rows };
}

export interface Process {
    readonly pid: number;
    logs(): string;
    alive(): boolean;
    stop(): Promise<void>;
}

export function launch(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): { child: ChildProcess; process: Process } {
    const child = spawn(command, args, { env, cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const collect = (chunk: Buffer) => {
        tail = (tail + chunk.toString("utf8")).slice(-LOG_TAIL);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    let stopped: Promise<void> | undefined;
    const stop = async () => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        try {
            process.kill(-child.pid, "SIGTERM");
        } catch {
            return;
        }
        const timer = setTimeout(() => {
            try {
                process.kill(-(child.pid as number), "SIGKILL");
            } catch {
                // gone
            }
        }, 10_000);
        await exited;
        clearTimeout(timer);
    };
    running.add(child);
    child.once("exit", () => running.delete(child));
    return {
        child,
        process: {
            pid: child.pid ?? -1,
            logs: () => tail,
            alive: () => child.exitCode === null && child.signalCode === null,
            stop: () => (stopped ??= stop()),
        },
    };
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
    for (const child of running) {
        try {
            if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
            // gone
        }
    }
});

export async function waitFor(what: string, url: string, proc: Process, timeoutMs: number, ok: (status: number) => boolean = (s) => s === 200): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer yet";
    while (Date.now() < deadline) {
        if (!proc.alive()) throw new Error(`${what} exited before answering ${url}\n--- output ---\n${proc.logs()}`);
        try {
            const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
            await response.arrayBuffer();
            if (ok(response.status)) return;
            last = `HTTP ${response.status}`;
        } catch (error) {
            last = error instanceof Error ? error.message : String(error);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms (last: ${last})\n--- output ---\n${proc.logs()}`);
}

export interface ScoringServer extends Process {
    readonly url: string;
    readonly port: number;
}

/** `mlflow models serve -m models:/<name>/<version> --env-manager local` from the venv, on 127.0.0.1. */
export async function serveModel(mlflow: MlflowServer, model: TrainedModel, port?: number): Promise<ScoringServer> {
    const chosen = port ?? (await freePort());
    const scratch = mkdtempSync(path.join(os.tmpdir(), "scoring-"));
    const { process: proc } = launch(
        venvExecutable("mlflow"),
        ["models", "serve", "-m", `models:/${model.name}/${model.version}`, "--env-manager", "local", "--host", "127.0.0.1", "--port", String(chosen)],
        // The scoring server execs `uvicorn` by name: the venv's bin comes first on PATH, as the image's does.
        {
            ...process.env,
            PATH: `${path.dirname(venvExecutable("mlflow"))}${path.delimiter}${process.env.PATH ?? ""}`,
            MLFLOW_TRACKING_URI: mlflow.url,
            PYTHONUNBUFFERED: "1",
            HOME: scratch,
            TMPDIR: scratch,
            GIT_PYTHON_REFRESH: "quiet",
        },
        scratch,
    );
    const url = `http://127.0.0.1:${chosen}`;
    const server: ScoringServer = {
        ...proc,
        url,
        port: chosen,
        stop: async () => {
            await proc.stop();
            rmSync(scratch, { recursive: true, force: true });
        },
    };
    try {
        await waitFor("mlflow models serve", `${url}/ping`, proc, 180_000);
    } catch (error) {
        await server.stop();
        throw error;
    }
    return server;
}

export interface TelemetryOptions {
    readonly pod: string;
    readonly namespace: string;
    /** The `mlops.dev/model` label (metric label `model`). */
    readonly model: string;
    readonly version: string;
    readonly registeredModel: string;
    readonly upstreamPort: number;
    readonly mlflowUrl: string;
    readonly env?: Readonly<Record<string, string>>;
}

export interface Telemetry extends Process {
    readonly proxyUrl: string;
    readonly adminUrl: string;
    readonly adminPort: number;
    readonly proxyPort: number;
}

/** `python -m mlops_telemetry` with the pod's environment, as the sidecar container runs it. */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
    const proxyPort = await freePort();
    const adminPort = await freePort();
    const { process: proc } = launch(venvExecutable("python"), ["-m", "mlops_telemetry"], {
        ...process.env,
        PYTHONPATH: TELEMETRY_DIR,
        PYTHONUNBUFFERED: "1",
        PYTHONDONTWRITEBYTECODE: "1",
        POD_NAME: options.pod,
        POD_NAMESPACE: options.namespace,
        MLOPS_MODEL: options.model,
        MLOPS_MODEL_VERSION: options.version,
        MLOPS_REGISTERED_MODEL: options.registeredModel,
        MLOPS_LISTEN_HOST: "127.0.0.1",
        MLOPS_LISTEN_PORT: String(proxyPort),
        MLOPS_ADMIN_PORT: String(adminPort),
        MLOPS_UPSTREAM_URL: `http://127.0.0.1:${options.upstreamPort}`,
        MLFLOW_TRACKING_URI: options.mlflowUrl,
        ...options.env,
    });
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const telemetry: Telemetry = { ...proc, proxyUrl: `http://127.0.0.1:${proxyPort}`, adminUrl, adminPort, proxyPort };
    try {
        await waitFor("mlops_telemetry", `${adminUrl}/mlops/live`, proc, 30_000);
    } catch (error) {
        await proc.stop();
        throw error;
    }
    return telemetry;
}

/** Polls /mlops/state until the reference statistics are loaded. */
export async function waitForReference(telemetry: Telemetry, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        const state = (await (await fetch(`${telemetry.adminUrl}/mlops/state`)).json()) as { reference_loaded: boolean };
        if (state.reference_loaded) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the telemetry did not load its reference within ${timeoutMs} ms\n${telemetry.logs()}`);
}

// ---- Prometheus ---------------------------------------------------------------------------------

export interface FileSdGroup {
    readonly targets: readonly string[];
    readonly labels: Readonly<Record<string, string>>;
}

export interface Prometheus extends Process {
    readonly url: string;
    /** An instant query through the HTTP API (`/api/v1/query`), as Flagger's Prometheus provider sends it. */
    query(promql: string): Promise<PromSample[]>;
}

export interface PromSample {
    readonly metric: Record<string, string>;
    readonly value: [number, string];
}

/** `prometheus` (Debian's package, .ci/prometheus.sh) with the given scrape config and a file_sd targets file. */
export async function startPrometheus(scrapeConfig: (fileSdPath: string) => unknown, groups: readonly FileSdGroup[]): Promise<Prometheus> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "prometheus-"));
    const targetsFile = path.join(dir, "targets.json");
    writeFileSync(targetsFile, JSON.stringify(groups, null, 2));
    const configFile = path.join(dir, "prometheus.yml");
    // JSON is YAML: the config is written as JSON so that nothing is lost in quoting.
    writeFileSync(configFile, JSON.stringify(scrapeConfig(targetsFile), null, 2));
    const port = await freePort();
    const binary = "prometheus";
    const { process: proc } = launch(
        binary,
        [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
        { ...process.env },
        dir,
    );
    const url = `http://127.0.0.1:${port}`;
    const stop = async () => {
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
    };
    try {
        await waitFor("prometheus", `${url}/-/ready`, proc, 30_000);
    } catch (error) {
        await stop();
        throw new Error(`${error instanceof Error ? error.message : String(error)}\n(is Prometheus installed? bash .ci/prometheus.sh)`, { cause: error });
    }
    return {
        ...proc,
        url,
        stop,
        query: async (promql: string) => {
            const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
            const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
            if (body.status !== "success" || body.data === undefined) throw new Error(`Prometheus refused ${promql}: ${body.error ?? JSON.stringify(body)}`);
            return body.data.result;
        },
    };
}

// ---- traffic ------------------------------------------------------------------------------------

/** A seeded PRNG (mulberry32) and normal draws, so every run sends the same traffic. */
export function random(seed: number): { uniform(): number; normal(mean: number, sd: number): number } {
    let state = seed >>> 0;
    const uniform = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return {
        uniform,
        normal: (mean, sd) => mean + sd * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
    };
}

export interface LabelledRow {
    readonly features: number[];
    readonly label: number;
}

/** `count` rows drawn around the class centres (optionally shifted), labelled with their class. */
export function drawRows(seed: number, count: number, shift: readonly number[] = [0, 0, 0, 0]): LabelledRow[] {
    const rng = random(seed);
    return Array.from({ length: count }, (_, i) => {
        const label = i % CLASS_CENTRES.length;
        const centre = CLASS_CENTRES[label] ?? [];
        return { features: centre.map((mean, f) => rng.normal(mean + (shift[f] ?? 0), SIGMA)), label };
    });
}

/** Rows at the middle of the three class centres: the model cannot tell the classes apart there. */
export function ambiguousRows(seed: number, count: number): number[][] {
    const rng = random(seed);
    const middle = FEATURES.map((_, f) => CLASS_CENTRES.reduce((sum, c) => sum + (c[f] ?? 0), 0) / CLASS_CENTRES.length);
    return Array.from({ length: count }, () => middle.map((m) => rng.normal(m, 0.15)));
}

export function invocation(rows: readonly (readonly number[])[]): string {
    return JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } });
}

/** POSTs each row as its own /invocations request and, when `label` gives one, its feedback. */
export async function sendTraffic(
    telemetry: Telemetry,
    rows: readonly (readonly number[])[],
    label?: (index: number) => number,
    concurrency = 4,
): Promise<void> {
    let next = 0;
    const worker = async () => {
        while (next < rows.length) {
            const index = next++;
            const row = rows[index] as readonly number[];
            const response = await fetch(`${telemetry.proxyUrl}/invocations`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: invocation([row]),
            });
            await response.arrayBuffer();
            if (response.status !== 200) throw new Error(`/invocations answered ${response.status}\n${telemetry.logs()}`);
            const id = response.headers.get("x-prediction-id");
            if (label !== undefined && id !== null) {
                const feedback = await fetch(`${telemetry.adminUrl}/mlops/feedback`, {
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body: JSON.stringify({ prediction_id: id, label: label(index) }),
                });
                await feedback.arrayBuffer();
                if (feedback.status !== 200) throw new Error(`/mlops/feedback answered ${feedback.status}`);
            }
        }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
}
