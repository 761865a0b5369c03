/**
 * Temporary git repositories holding copies of the shipped stack files and policy configs, for the
 * GitOps commands (promote, rollback, status, sync-registry) to work on; the commands run as real
 * child processes, the way `npm run promote` runs them; and a registry seeded to match the stacks.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { MlflowRestClient } from "../../policies/mlflowRestClient";
import { type MlflowSeed, type MlflowServer, REPO_ROOT, startMlflowServer } from "./mlflow";

/** The files a stack repository starts with, copied from this repository. */
const SHIPPED_FILES = ["Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"];

export interface StackRepo {
    readonly dir: string;
    /** A bare repository, the working repository's remote `origin` (main pushed there). */
    readonly remote: string;
    /** Runs git in the bare remote and returns its stdout. */
    remoteGit(...args: string[]): string;
    /** Runs git in the repository and returns its stdout. */
    git(...args: string[]): string;
    head(): string;
    read(file: string): string;
    write(file: string, text: string): void;
    /** Writes the file and commits it alone. */
    commit(file: string, text: string, message: string): string;
    /** Commit count reachable from HEAD. */
    commitCount(): number;
    remove(): void;
}

export function createStackRepo(): StackRepo {
    const dir = mkdtempSync(path.join(os.tmpdir(), "mlops-gitops-"));
    for (const file of SHIPPED_FILES) cpSync(path.join(REPO_ROOT, file), path.join(dir, file));
    mkdirSync(path.join(dir, "policies", "config"), { recursive: true });
    for (const file of readdirSync(path.join(REPO_ROOT, "policies", "config"))) {
        cpSync(path.join(REPO_ROOT, "policies", "config", file), path.join(dir, "policies", "config", file));
    }
    const git = (...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", env: gitEnv(), stdio: ["ignore", "pipe", "pipe"] });
    git("init", "--quiet", "--initial-branch=main");
    git("config", "user.name", "Test Promoter");
    git("config", "user.email", "promoter@example.com");
    git("config", "commit.gpgsign", "false");
    git("add", "--all");
    git("commit", "--quiet", "-m", "Initial stacks");
    const remote = mkdtempSync(path.join(os.tmpdir(), "mlops-remote-"));
    const remoteGit = (...args: string[]) =>
        execFileSync("git", ["--git-dir", remote, ...args], { encoding: "utf8", env: gitEnv(), stdio: ["ignore", "pipe", "pipe"] });
    remoteGit("init", "--quiet", "--bare", "--initial-branch=main");
    git("remote", "add", "origin", remote);
    git("push", "--quiet", "origin", "main");
    const repo: StackRepo = {
        dir,
        remote,
        remoteGit,
        git,
        head: () => git("rev-parse", "HEAD").trim(),
        read: (file) => readFileSync(path.join(dir, file), "utf8"),
        write: (file, text) => writeFileSync(path.join(dir, file), text),
        commit: (file, text, message) => {
            repo.write(file, text);
            git("add", "--", file);
            git("commit", "--quiet", "-m", message, "--", file);
            return repo.head();
        },
        commitCount: () => Number(git("rev-list", "--count", "HEAD").trim()),
        remove: () => {
            rmSync(dir, { recursive: true, force: true });
            rmSync(remote, { recursive: true, force: true });
        },
    };
    return repo;
}

/** Git without the machine's global and system configuration, so a developer's hooks or signing cannot interfere. */
function gitEnv(): NodeJS.ProcessEnv {
    return { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" };
}

export interface CliResult {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

export type GitopsCommand = "promote" | "rollback" | "status" | "sync-registry" | "monitor" | "wait-rollout";
const ENTRY_POINTS: Readonly<Record<GitopsCommand, string>> = {
    promote: "cli/promote.ts",
    rollback: "cli/rollback.ts",
    status: "cli/status.ts",
    "sync-registry": "cli/syncRegistry.ts",
    monitor: "cli/monitor.ts",
    "wait-rollout": "cli/waitForRollout.ts",
};

/**
 * Runs a command as `npm run <command>` does (`node -r ts-node/register/transpile-only cli/<entry>.ts`),
 * in a child process, on the repository `projectDir`, with `MLFLOW_TRACKING_URI` set to `trackingUri`
 * (unset when it is absent or empty), none of MLflow's credential variables nor GitHub's, and `env` on top.
 */
export function runCli(
    command: GitopsCommand,
    args: readonly string[],
    options: { readonly projectDir: string; readonly trackingUri?: string; readonly env?: NodeJS.ProcessEnv },
): Promise<CliResult> {
    const env: NodeJS.ProcessEnv = { ...gitEnv(), MLFLOW_TRACKING_URI: options.trackingUri ?? "" };
    // Nothing of the machine's own registry or GitHub (a CI runner sets GITHUB_REPOSITORY and GITHUB_API_URL) leaks in.
    for (const name of ["MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"])
        delete env[name];
    Object.assign(env, options.env);
    return new Promise((resolve, reject) => {
        execFile(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", ENTRY_POINTS[command], "--project-dir", options.projectDir, ...args],
            { cwd: REPO_ROOT, env, timeout: 60_000, encoding: "utf8" },
            (error, stdout, stderr) => {
                if (error && typeof error.code !== "number") reject(new Error(`${command} did not run: ${error.message}\n${stderr}`));
                else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
            },
        );
    });
}

/** As `runCli`, with the child's stderr handed to `onStderr` as it arrives (to act while the command runs). */
export function runCliUntil(
    command: GitopsCommand,
    args: readonly string[],
    options: { readonly projectDir: string; readonly trackingUri?: string; readonly onStderr: (text: string) => void },
): Promise<CliResult> {
    const env: NodeJS.ProcessEnv = { ...gitEnv(), MLFLOW_TRACKING_URI: options.trackingUri ?? "" };
    for (const name of ["MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"])
        delete env[name];
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", ENTRY_POINTS[command], "--project-dir", options.projectDir, ...args], {
            cwd: REPO_ROOT,
            env,
            timeout: 60_000,
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => {
            stderr += chunk.toString();
            options.onStderr(stderr);
        });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

// ---- a registry that matches the shipped stacks ---------------------------------------------------------

export interface SeededModel {
    readonly registeredModel: string;
    /** Version → the run it was registered from. */
    readonly runs: Readonly<Record<string, string>>;
    /** Version → its metrics. */
    readonly metrics: Readonly<Record<string, Readonly<Record<string, number>>>>;
    /** One version past every declared one: meets staging's thresholds, not production's; rolled out in staging days ago. */
    readonly weakVersion: string;
    /** One more, with good metrics, that no stack declares and that never rolled out anywhere. */
    readonly candidateVersion: string;
    /** One more: meets production's thresholds, but regresses against what production serves; rolled out in staging days ago. */
    readonly regressingVersion: string;
    /** One more, far below every threshold (accuracy 0.41, f1 0.30). */
    readonly poorVersion: string;
    /** Version → the `mlops.*` tags the seed gave it (the registry's records a test starts from). */
    readonly tags: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export const GOOD_METRICS = { accuracy: 0.97, f1: 0.94 } as const;
export const WEAK_METRICS = { accuracy: 0.85, f1: 0.8 } as const;
export const REGRESSING_METRICS = { accuracy: 0.92, f1: 0.9 } as const;
export const POOR_METRICS = { accuracy: 0.41, f1: 0.3 } as const;

/** Long enough ago for any soak time a policy config asks (production's is a day). */
export const LONG_AGO = new Date(Date.now() - 3 * 24 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

interface Declared {
    readonly registeredModel: string;
    readonly version: string;
    readonly environment: string;
    readonly metrics: Record<string, number> | undefined;
    readonly validatedAt: string | undefined;
    readonly champion: { readonly version?: string; readonly metrics?: Record<string, number> } | undefined;
}

/** What every stack file of `dir` declares, read plainly (the tests' own reading, independent of the CLI's). */
export function declaredModels(dir: string): Declared[] {
    return readdirSync(dir)
        .filter((file) => /^Pulumi\.[^.]+\.yaml$/.test(file))
        .flatMap((file) => {
            const config = (parseYaml(readFileSync(path.join(dir, file), "utf8")) as { config: Record<string, unknown> }).config;
            const environment = config["mlops-platform:environment"] as string;
            const models = config["mlops-platform:models"] as Record<
                string,
                {
                    registeredModel: string;
                    version: string;
                    promotion?: { evidence: { metrics: Record<string, number>; validatedAt?: string; champion?: Declared["champion"] } };
                }
            >;
            return Object.values(models).map((m) => ({
                registeredModel: m.registeredModel,
                version: m.version,
                environment,
                metrics: m.promotion?.evidence.metrics,
                validatedAt: m.promotion?.evidence.validatedAt,
                champion: m.promotion?.evidence.champion,
            }));
        });
}

/**
 * Registers, for every registered model the stacks name, versions 1 … N+4 (N the highest declared),
 * each from its own run: declared versions with their declared metrics, the champions the production
 * evidence names with the champion's metrics, N+1 weak, N+2 good, N+3 regressing, N+4 poor. Each
 * environment's alias points at what that environment declares. The registry's records are what the
 * deploy workflow and promote would have left: versions declared in staging were promoted there and
 * rolled out days ago (`mlops.promoted.staging`, `mlops.validated.staging`); versions declared in
 * production were rolled out in staging at their declared `validatedAt`.
 */
export async function seedRegistryFromStacks(seed: MlflowSeed, dir: string): Promise<Record<string, SeededModel>> {
    const declared = declaredModels(dir);
    const seeded: Record<string, SeededModel> = {};
    for (const registeredModel of [...new Set(declared.map((d) => d.registeredModel))]) {
        const mine = declared.filter((d) => d.registeredModel === registeredModel);
        const highest = Math.max(...mine.map((d) => Number(d.version)));
        const special: Record<string, Record<string, number>> = {
            [String(highest + 1)]: { ...WEAK_METRICS },
            [String(highest + 2)]: { ...GOOD_METRICS },
            [String(highest + 3)]: { ...REGRESSING_METRICS },
            [String(highest + 4)]: { ...POOR_METRICS },
        };
        await seed.createRegisteredModel(registeredModel);
        const runs: Record<string, string> = {};
        const metrics: Record<string, Record<string, number>> = {};
        for (let n = 1; n <= highest + 4; n++) {
            const version = String(n);
            const declaredMetrics = mine.find((d) => d.version === version)?.metrics;
            const championMetrics = mine.find((d) => d.champion?.version === version)?.champion?.metrics;
            const values = special[version] ?? { ...(declaredMetrics ?? championMetrics ?? GOOD_METRICS) };
            const { runId } = await seed.createRun({
                experimentName: registeredModel,
                runName: `${registeredModel}-v${n}`,
                metrics: { ...values, training_loss: [0.9, 0.4, 0.2] },
            });
            const created = await seed.createModelVersion({ model: registeredModel, runId });
            if (created !== version) throw new Error(`seeding ${registeredModel}: expected version ${version}, MLflow registered ${created}`);
            runs[version] = runId;
            metrics[version] = values;
        }
        const tags: Record<string, Record<string, string>> = {};
        const tag = (version: string, key: string, value: string) => ((tags[version] ??= {})[key] = value);
        for (const d of mine) {
            if (d.environment === "staging") {
                tag(d.version, "mlops.promoted.staging", JSON.stringify({ promotedAt: LONG_AGO }));
                tag(d.version, "mlops.validated.staging", LONG_AGO);
            } else if (d.validatedAt !== undefined) tag(d.version, "mlops.validated.staging", d.validatedAt);
        }
        for (const version of [String(highest + 1), String(highest + 3)]) {
            tag(version, "mlops.promoted.staging", JSON.stringify({ promotedAt: LONG_AGO }));
            tag(version, "mlops.validated.staging", LONG_AGO);
        }
        for (const d of mine) await seed.setAlias(registeredModel, d.environment, d.version);
        for (const [version, values] of Object.entries(tags)) {
            for (const [key, value] of Object.entries(values)) await seed.setModelVersionTag(registeredModel, version, key, value);
        }
        seeded[registeredModel] = {
            registeredModel,
            runs,
            metrics,
            weakVersion: String(highest + 1),
            candidateVersion: String(highest + 2),
            regressingVersion: String(highest + 3),
            poorVersion: String(highest + 4),
            tags,
        };
    }
    return seeded;
}

/**
 * Puts the registry back to what `seedRegistryFromStacks` made for the stacks of `dir`: each
 * environment's alias at the declared version and no other alias, and of the `mlops.*` tags exactly
 * the seeded ones. Lets tests that promote, roll back and sync share one server.
 */
export async function resetRegistryToStacks(url: string, dir: string, seeded: Readonly<Record<string, SeededModel>>): Promise<void> {
    const declared = declaredModels(dir);
    for (const model of Object.values(seeded)) {
        const name = model.registeredModel;
        const registered = (await restCall(url, "GET", "registered-models/get", { name })) as { registered_model: { aliases?: { alias: string }[] } };
        for (const { alias } of registered.registered_model.aliases ?? []) await restCall(url, "DELETE", "registered-models/alias", { name, alias });
        for (const d of declared.filter((d) => d.registeredModel === name))
            await restCall(url, "POST", "registered-models/alias", { name, alias: d.environment, version: d.version });
        for (const version of Object.keys(model.runs)) {
            const wanted = model.tags[version] ?? {};
            const got = (await restCall(url, "GET", "model-versions/get", { name, version })) as { model_version: { tags?: { key: string; value: string }[] } };
            const present = new Map((got.model_version.tags ?? []).map(({ key, value }) => [key, value]));
            for (const key of present.keys()) {
                if (key.startsWith("mlops.") && wanted[key] === undefined) await restCall(url, "DELETE", "model-versions/delete-tag", { name, version, key });
            }
            for (const [key, value] of Object.entries(wanted)) {
                if (present.get(key) !== value) await restCall(url, "POST", "model-versions/set-tag", { name, version, key, value });
            }
        }
    }
}

/** Everything a promotion may change in the registry: each model's aliases and each version's tags. */
export async function registrySnapshot(url: string, seeded: Readonly<Record<string, SeededModel>>): Promise<unknown> {
    const snapshot: Record<string, unknown> = {};
    for (const model of Object.values(seeded)) {
        const name = model.registeredModel;
        const registered = (await restCall(url, "GET", "registered-models/get", { name })) as { registered_model: { aliases?: unknown[] } };
        const versions: Record<string, unknown> = {};
        for (const version of Object.keys(model.runs)) {
            versions[version] =
                ((await restCall(url, "GET", "model-versions/get", { name, version })) as { model_version: { tags?: unknown[] } }).model_version.tags ?? [];
        }
        snapshot[name] = { aliases: registered.registered_model.aliases ?? [], versions };
    }
    return snapshot;
}

async function restCall(url: string, method: "GET" | "POST" | "DELETE", endpoint: string, parameters: Record<string, string>): Promise<unknown> {
    const target = new URL(`${url}/api/2.0/mlflow/${endpoint}`);
    if (method === "GET") for (const [key, value] of Object.entries(parameters)) target.searchParams.set(key, value);
    const response = await fetch(target, {
        method,
        headers: { "content-type": "application/json" },
        ...(method === "GET" ? {} : { body: JSON.stringify(parameters) }),
        signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`MLflow ${method} ${endpoint}: HTTP ${response.status}: ${text}`);
    return JSON.parse(text) as unknown;
}

/** A real MLflow registry seeded from the shipped stacks, and a fresh stack repository for each test. */
export interface RegistryWorkbench {
    readonly server: MlflowServer;
    readonly registry: MlflowRestClient;
    /** What `seedRegistryFromStacks` created, per registered model. */
    readonly seeded: Record<string, SeededModel>;
    /** This test's repository; the registry was reset to match its stack files before the test. */
    readonly repo: StackRepo;
}

/**
 * Registers the mocha hooks of a describe block that runs GitOps commands against a real registry:
 * one MLflow server (fresh database) seeded once, and per test a new repository with the registry
 * reset to its declarations. Read the fields inside tests and hooks; they exist once `before` ran.
 */
export function useRegistryWorkbench(): RegistryWorkbench {
    let server: MlflowServer | undefined;
    let registry: MlflowRestClient | undefined;
    let seeded: Record<string, SeededModel> | undefined;
    let repo: StackRepo | undefined;

    before(async () => {
        server = await startMlflowServer();
        registry = new MlflowRestClient({ trackingUri: server.url });
        const seedRepo = createStackRepo();
        try {
            seeded = await seedRegistryFromStacks(server.seed, seedRepo.dir);
        } finally {
            seedRepo.remove();
        }
    });
    after(async () => {
        await server?.stop();
    });
    beforeEach(async () => {
        repo = createStackRepo();
        await resetRegistryToStacks(ready(server).url, repo.dir, ready(seeded));
    });
    afterEach(() => {
        repo?.remove();
    });

    return {
        get server() {
            return ready(server);
        },
        get registry() {
            return ready(registry);
        },
        get seeded() {
            return ready(seeded);
        },
        get repo() {
            return ready(repo);
        },
    };
}

function ready<T>(value: T | undefined): T {
    if (value === undefined) throw new Error("the registry workbench is read before its before/beforeEach hooks ran");
    return value;
}
