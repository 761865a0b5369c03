/**
 * A real MLflow tracking server for tests: the MLflow of `.venv` (tests/mlflow/requirements.txt, installed by
 * tests/mlflow/setup-venv.sh) on a fresh database of the local PostgreSQL, with a temporary artifacts
 * directory served through the server (`--serve-artifacts`). Plus seeding helpers that go through MLflow's
 * REST API, the way a training pipeline's client would.
 *
 * Tests that need MLflow never skip: a missing `.venv` is an error that says how to install it.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const MLFLOW_VENV = path.join(REPO_ROOT, ".venv");
export const MLFLOW_REQUIREMENTS = path.join(REPO_ROOT, "tests", "mlflow", "requirements.txt");

/** The local PostgreSQL every test database lives on (trust auth). */
export const TEST_POSTGRES = { host: "127.0.0.1", port: 5432, user: "postgres" } as const;

const DATABASE_PREFIX = "mlflow_test_";
const LOG_TAIL_BYTES = 8 * 1024;

/** Path of an executable in `.venv/bin`; throws how to install the venv when it is missing. */
export function venvExecutable(name: "mlflow" | "python"): string {
    const executable = path.join(MLFLOW_VENV, "bin", name);
    if (!existsSync(executable)) {
        throw new Error(
            `MLflow test environment missing: ${executable} does not exist. ` +
                `Install it with: bash tests/mlflow/setup-venv.sh (creates ${MLFLOW_VENV} from tests/mlflow/requirements.txt)`,
        );
    }
    return executable;
}

/** What `command` gets to build the server's arguments from. */
export interface MlflowServerContext {
    /** `postgresql+psycopg2://postgres@127.0.0.1:5432/<fresh database>` */
    readonly backendStoreUri: string;
    /** A fresh temporary directory. */
    readonly artifactsDestination: string;
    readonly host: string;
    readonly port: number;
}

export interface MlflowServerOptions {
    /**
     * The arguments after `mlflow` — replaces the default command line entirely, e.g. to run the exact
     * command line a component generates with the test's database, directory and port put in.
     * @default - `server --backend-store-uri … --artifacts-destination … --serve-artifacts --host … --port … --workers 1`
     */
    readonly command?: (context: MlflowServerContext) => readonly string[];
    /**
     * Appended to the arguments.
     * @default []
     */
    readonly extraArgs?: readonly string[];
    /**
     * Added to the environment the server inherits from the test process (and may override the defaults).
     * @default - `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`: the registry needs no background job runner, and
     * leaving it out spares eight processes per server
     */
    readonly env?: Readonly<Record<string, string>>;
    /**
     * Runs after the database exists and before the server starts (e.g. `mlflow db upgrade`).
     * @default - nothing
     */
    readonly beforeStart?: (context: MlflowServerContext) => Promise<void>;
    /**
     * How long the server may take to answer `GET /health` with 200.
     * @default 90000
     */
    readonly startTimeoutMs?: number;
}

export interface MlflowServer {
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    readonly databaseName: string;
    readonly artifactsDir: string;
    /** Seeding through the REST API of this server. */
    readonly seed: MlflowSeed;
    /** What the server wrote to stdout and stderr so far (the last 8 KiB). */
    logs(): string;
    /** Kills the server's process group, drops the database and removes the artifacts directory. */
    stop(): Promise<void>;
}

const runningServers = new Set<ChildProcess>();
// A test process that dies without calling stop() must not leave servers behind; the databases of dead test
// processes are dropped by the next startMlflowServer().
process.on("exit", () => {
    for (const child of runningServers) killGroup(child, "SIGKILL");
});

export async function startMlflowServer(options: MlflowServerOptions = {}): Promise<MlflowServer> {
    const mlflow = venvExecutable("mlflow");
    const databaseName = `${DATABASE_PREFIX}${process.pid}_${randomBytes(4).toString("hex")}`;
    await postgresAdmin("create", databaseName);
    const artifactsDir = mkdtempSync(path.join(os.tmpdir(), "mlflow-artifacts-"));
    const host = "127.0.0.1";
    const port = await freePort();
    const context: MlflowServerContext = {
        backendStoreUri: `postgresql+psycopg2://${TEST_POSTGRES.user}@${TEST_POSTGRES.host}:${TEST_POSTGRES.port}/${databaseName}`,
        artifactsDestination: artifactsDir,
        host,
        port,
    };
    const cleanUp = async (child?: ChildProcess) => {
        if (child !== undefined) await stopProcess(child);
        await postgresAdmin("drop", databaseName);
        rmSync(artifactsDir, { recursive: true, force: true });
    };

    try {
        await options.beforeStart?.(context);
    } catch (error) {
        await cleanUp();
        throw error;
    }

    const args = [
        ...(options.command?.(context) ?? [
            "server",
            "--backend-store-uri",
            context.backendStoreUri,
            "--artifacts-destination",
            artifactsDir,
            "--serve-artifacts",
            "--host",
            host,
            "--port",
            String(port),
            // One worker starts in a third of the time of the default four on a two-core machine.
            "--workers",
            "1",
        ]),
        ...(options.extraArgs ?? []),
    ];
    // Its own process group, so that stop() also reaches the uvicorn workers it forks.
    const child = spawn(mlflow, args, {
        cwd: artifactsDir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PYTHONUNBUFFERED: "1", MLFLOW_SERVER_ENABLE_JOB_EXECUTION: "false", ...options.env },
    });
    runningServers.add(child);
    let logTail = "";
    const collect = (chunk: Buffer) => {
        logTail = (logTail + chunk.toString("utf8")).slice(-LOG_TAIL_BYTES);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);

    const url = `http://${host}:${port}`;
    try {
        await waitForHealth(url, child, options.startTimeoutMs ?? 90_000);
    } catch (error) {
        await cleanUp(child);
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`MLflow server (mlflow ${args.join(" ")}) did not become healthy: ${reason}\n--- server output ---\n${logTail}`, { cause: error });
    }

    let stopped: Promise<void> | undefined;
    return {
        url,
        databaseName,
        artifactsDir,
        seed: new MlflowSeed(url),
        logs: () => logTail,
        stop: () => (stopped ??= cleanUp(child)),
    };
}

/** Runs `mlflow <args>` from `.venv` to completion (e.g. `db upgrade <uri>`); rejects with its output on failure. */
export function runMlflowCommand(
    args: readonly string[],
    options: { readonly env?: Readonly<Record<string, string>>; readonly timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
    return execFileBounded(venvExecutable("mlflow"), args, options.timeoutMs ?? 120_000, options.env);
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exit: string | undefined;
    child.once("exit", (code, signal) => {
        exit = `the process exited (${signal ?? `code ${code}`})`;
    });
    let lastProblem = "no answer yet";
    while (Date.now() < deadline) {
        if (exit !== undefined) throw new Error(exit);
        try {
            const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
            const body = await response.text();
            if (response.status === 200) return;
            lastProblem = `GET /health answered ${response.status}: ${body.slice(0, 200)}`;
        } catch (error) {
            lastProblem = `GET /health failed: ${error instanceof Error ? error.message : String(error)}`;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`no 200 from GET ${url}/health within ${timeoutMs} ms (last: ${lastProblem})`);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
        process.kill(-child.pid, signal);
    } catch {
        // The group is already gone.
    }
}

async function stopProcess(child: ChildProcess): Promise<void> {
    const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once("exit", () => resolve());
    });
    killGroup(child, "SIGTERM");
    const graceful = await Promise.race([exited.then(() => true), delay(10_000).then(() => false)]);
    if (!graceful) {
        killGroup(child, "SIGKILL");
        await exited;
    }
    // The workers may outlive the parent by a moment; make sure nothing of the group is left.
    if (child.pid !== undefined) {
        try {
            process.kill(-child.pid, "SIGKILL");
        } catch {
            // Nothing left.
        }
    }
    runningServers.delete(child);
}

/**
 * Creates or drops a database with the venv's psycopg2 (one dependency, no psql needed). Creating also drops
 * the databases of test processes that no longer exist, so a crashed run leaves nothing behind for long.
 */
async function postgresAdmin(action: "create" | "drop", databaseName: string): Promise<void> {
    const script = `
import os, re, sys, psycopg2
from psycopg2 import sql
action, name, host, port, user, prefix = sys.argv[1:7]
connection = psycopg2.connect(host=host, port=int(port), user=user, dbname="postgres", connect_timeout=10)
connection.autocommit = True
with connection.cursor() as cursor:
    if action == "create":
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
        for (stale,) in cursor.fetchall():
            match = re.fullmatch(re.escape(prefix) + r"(\\d+)_[0-9a-f]+", stale)
            if match is None:
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(stale)))
            except PermissionError:
                pass
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    else:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
connection.close()
`;
    await execFileBounded(
        venvExecutable("python"),
        ["-c", script, action, databaseName, TEST_POSTGRES.host, String(TEST_POSTGRES.port), TEST_POSTGRES.user, DATABASE_PREFIX],
        30_000,
    );
}

function execFileBounded(
    file: string,
    args: readonly string[],
    timeoutMs: number,
    env?: Readonly<Record<string, string>>,
): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const options = { timeout: timeoutMs, killSignal: "SIGKILL" as const, env: { ...process.env, ...env } };
        execFile(file, args, options, (error, stdout, stderr) => {
            if (error) {
                // An inline script would drown the message; its arguments say what it was doing.
                const shown = args[0] === "-c" ? ["-c", "<script>", ...args.slice(2)] : args;
                const how = error.killed ? `killed after ${timeoutMs} ms` : `exit ${error.code}`;
                reject(new Error(`${path.basename(file)} ${shown.join(" ")} failed (${how}): ${stderr.trim() || stdout.trim()}`));
            } else {
                resolve({ stdout, stderr });
            }
        });
    });
}

/** A port on 127.0.0.1 that nothing listened on a moment ago. */
export async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
    });
    const address = server.address();
    await new Promise((resolve) => server.close(resolve));
    if (address === null || typeof address === "string") throw new Error("freePort: no TCP address");
    return address.port;
}

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- seeding through the REST API ------------------------------------------------------------------------

export interface SeededRun {
    readonly experimentId: string;
    readonly runId: string;
}

export interface SeedRunOptions {
    readonly experimentName: string;
    /** @default - a name MLflow makes up */
    readonly runName?: string;
    /** Metric key → value, or → values logged at steps 0, 1, … (the last one is the latest). */
    readonly metrics?: Readonly<Record<string, number | readonly number[]>>;
    readonly params?: Readonly<Record<string, string>>;
    readonly tags?: Readonly<Record<string, string>>;
    /** @default "FINISHED" */
    readonly status?: "RUNNING" | "FINISHED" | "FAILED" | "KILLED";
}

export interface SeedModelVersionOptions {
    readonly model: string;
    readonly runId?: string;
    /**
     * Where the model lives. With a run, MLflow 3.17 accepts `runs:/<runId>/<path>` (it must name that run) or an
     * artifact URI; without one, a remote URI such as `s3://…` (a local path is refused).
     * @default - `runs:/<runId>/model`, or `s3://mlops-test-artifacts/<model>` without a run
     */
    readonly source?: string;
    readonly tags?: Readonly<Record<string, string>>;
}

/**
 * Seeds a server through MLflow's REST API. Each call throws with the endpoint, status and body when the
 * server refuses it. A model version created this way is READY at once (no artifact copy is involved).
 */
export class MlflowSeed {
    /** @param headers sent with every request, e.g. `authorization` for a server behind basic-auth */
    constructor(
        readonly url: string,
        private readonly headers: Readonly<Record<string, string>> = {},
    ) {}

    async createExperiment(name: string): Promise<string> {
        const body = await this.post("experiments/create", { name });
        return stringField(body, "experiment_id");
    }

    /** The id of the experiment called `name`, created when it does not exist. */
    async experiment(name: string): Promise<string> {
        const query = new URLSearchParams({ experiment_name: name });
        const response = await fetch(`${this.url}/api/2.0/mlflow/experiments/get-by-name?${query}`, {
            headers: this.headers,
            signal: AbortSignal.timeout(30_000),
        });
        if (response.status === 404) return this.createExperiment(name);
        const body = await readJson(response, "experiments/get-by-name");
        return stringField((body as { experiment?: unknown }).experiment, "experiment_id");
    }

    async createRun(options: SeedRunOptions): Promise<SeededRun> {
        const experimentId = await this.experiment(options.experimentName);
        const startTime = Date.now();
        const created = await this.post("runs/create", {
            experiment_id: experimentId,
            start_time: startTime,
            ...(options.runName !== undefined ? { run_name: options.runName } : {}),
        });
        const runId = stringField((created as { run?: { info?: unknown } }).run?.info, "run_id");
        const metrics = Object.entries(options.metrics ?? {}).flatMap(([key, values]) =>
            (typeof values === "number" ? [values] : values).map((value, step) => ({ key, value, timestamp: startTime + step, step })),
        );
        await this.post("runs/log-batch", {
            run_id: runId,
            metrics,
            params: Object.entries(options.params ?? {}).map(([key, value]) => ({ key, value })),
            tags: Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value })),
        });
        const status = options.status ?? "FINISHED";
        if (status !== "RUNNING") await this.post("runs/update", { run_id: runId, status, end_time: Date.now() });
        return { experimentId, runId };
    }

    async createRegisteredModel(name: string, tags: Readonly<Record<string, string>> = {}): Promise<void> {
        await this.post("registered-models/create", { name, tags: Object.entries(tags).map(([key, value]) => ({ key, value })) });
    }

    /** Registers a new version of `model` and returns its version number. */
    async createModelVersion(options: SeedModelVersionOptions): Promise<string> {
        const source = options.source ?? (options.runId !== undefined ? `runs:/${options.runId}/model` : `s3://mlops-test-artifacts/${options.model}`);
        const body = await this.post("model-versions/create", {
            name: options.model,
            source,
            ...(options.runId !== undefined ? { run_id: options.runId } : {}),
            tags: Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value })),
        });
        return stringField((body as { model_version?: unknown }).model_version, "version");
    }

    async setAlias(model: string, alias: string, version: string): Promise<void> {
        await this.post("registered-models/alias", { name: model, alias, version });
    }

    async setModelVersionTag(model: string, version: string, key: string, value: string): Promise<void> {
        await this.post("model-versions/set-tag", { name: model, version, key, value });
    }

    private async post(endpoint: string, payload: unknown): Promise<unknown> {
        const response = await fetch(`${this.url}/api/2.0/mlflow/${endpoint}`, {
            method: "POST",
            headers: { ...this.headers, "content-type": "application/json" },
            body: JSON.stringify(payload),
            signal: AbortSignal.timeout(30_000),
        });
        return readJson(response, endpoint);
    }
}

async function readJson(response: Response, endpoint: string): Promise<unknown> {
    const text = await response.text();
    if (!response.ok) throw new Error(`MLflow seed ${endpoint}: HTTP ${response.status}: ${text}`);
    return JSON.parse(text) as unknown;
}

function stringField(object: unknown, key: string): string {
    const value = typeof object === "object" && object !== null ? (object as Record<string, unknown>)[key] : undefined;
    if (typeof value !== "string") throw new Error(`MLflow seed: expected a string ${key} in ${JSON.stringify(object)}`);
    return value;
}
