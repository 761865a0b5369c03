import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as analyzerRpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import * as engineRpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as enginePb from "@pulumi/pulumi/proto/engine_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { parse as parseYaml } from "yaml";

/**
 * Starts a Node.js policy pack the way the Pulumi CLI does for `--policy-pack <dir>`
 * (pulumi/pulumi sdk/go/common/resource/plugin/analyzer_plugin.go `NewPolicyAnalyzer`, plugin.go
 * `newPlugin`/`execPlugin`/`dialPlugin`):
 * - it reads `<dir>/PulumiPolicy.yaml` (workspace.LoadPolicyPack);
 * - it runs the `pulumi-analyzer-policy` plugin (sdk/nodejs/dist/pulumi-analyzer-policy):
 *       #!/bin/sh
 *       PULUMI_RUN_SCRIPT_PATH=$(node -e "try { console.log(require.resolve('@pulumi/pulumi/cmd/run-policy-pack')) } catch (e) { console.error(e.message) }")
 *       if [ ! -z "$PULUMI_RUN_SCRIPT_PATH" ]; then
 *           node "$PULUMI_RUN_SCRIPT_PATH" $@
 *       fi
 *   with the pack directory as working directory (so `@pulumi/pulumi` resolves from the pack's
 *   node_modules, or any ancestor's) and the arguments `<engine address> .` plus one
 *   `-<key>=<value>` per PulumiPolicy.yaml runtime option. We resolve the same module from the
 *   same directory in-process and start `node` ourselves: same resolution, same process, no
 *   intermediate shell whose orphaned child would need reaping;
 * - the environment is the CLI's own plus `constructEnv`: PULUMI_CONFIG (stack config as JSON),
 *   PULUMI_NODEJS_{ORGANIZATION,PROJECT,STACK,DRY_RUN} and PULUMI_{ORGANIZATION,PROJECT,STACK,DRY_RUN};
 * - the first stdout line is the gRPC port (`@pulumi/policy` server.js `serve`); later stdout and
 *   stderr lines are the pack's output, which the CLI shows as info/infoerr diagnostics;
 * - the CLI dials 127.0.0.1:<port> and calls Handshake until the server answers (UNAVAILABLE is
 *   retried every 10 ms for up to `pluginRPCConnectionTimeout` = 10 s; UNIMPLEMENTED, which a
 *   Node pack answers, means "legacy plugin, proceed").
 * `run-policy-pack` drops the engine address (`argv._.shift()`), so a Node pack never calls the
 * Engine service: its `pulumi.log.*` calls print to stdout/stderr. The Engine server started here
 * answers anyway, as the CLI's does, and records any Log call it gets.
 */

export interface PolicyProject {
    readonly runtime: string;
    readonly options: Readonly<Record<string, unknown>>;
    readonly version?: string;
    readonly description?: string;
}

/** One line of output from the pack: its stdout/stderr, or an Engine `Log` call. */
export interface PackLogLine {
    readonly stream: "stdout" | "stderr" | "engine";
    readonly severity: "debug" | "info" | "warning" | "error";
    readonly message: string;
    readonly urn?: string;
}

/** What the CLI passes a policy pack about the stack (`plugin.PolicyAnalyzerOptions`). */
export interface StackInfo {
    readonly stack: string;
    readonly project: string;
    /** @default "" (no organization: the CLI then sets no PULUMI_ORGANIZATION) */
    readonly organization?: string;
    /** `pulumi preview` is a dry run. @default true */
    readonly dryRun?: boolean;
    /** The stack's config, `<namespace>:<key>` → value, as PULUMI_CONFIG carries it. @default {} */
    readonly config?: Readonly<Record<string, string>>;
    /** @default [] */
    readonly configSecretKeys?: readonly string[];
    /** The stack's tags. @default {} */
    readonly tags?: Readonly<Record<string, string>>;
}

/** A pack that could not be started; `message` is one line, `stderr` has the pack's own words. */
export class PolicyPackStartError extends Error {
    constructor(
        message: string,
        readonly packDir: string,
        readonly stderr: string = "",
    ) {
        super(message);
        this.name = "PolicyPackStartError";
    }
}

const PLUGIN_RPC_CONNECTION_TIMEOUT_MS = 10_000;
const MAX_RPC_MESSAGE_SIZE = 1024 * 1024 * 400;

/** `workspace.LoadPolicyPack`, with the CLI's wording for a missing or bad project file. */
export function loadPolicyProject(packDir: string): PolicyProject {
    const file = path.join(packDir, "PulumiPolicy.yaml");
    const fail = (reason: string): never => {
        throw new PolicyPackStartError(`failed to load Pulumi policy project located at ${JSON.stringify(packDir)}: ${reason}`, packDir);
    };
    let text = "";
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        fail(`open ${file}: ${code === "ENOENT" ? "no such file or directory" : code === "ENOTDIR" ? "not a directory" : String(err)}`);
    }
    let project: Record<string, unknown> = {};
    try {
        project = (parseYaml(text) ?? {}) as Record<string, unknown>;
    } catch (err) {
        fail(`could not parse ${file}: ${(err as Error).message.split("\n")[0] ?? ""}`);
    }
    const runtime = project["runtime"];
    const runtimeName = typeof runtime === "string" ? runtime : (runtime as { name?: unknown } | undefined)?.name;
    if (typeof runtimeName !== "string" || runtimeName === "") fail("project is missing a 'runtime' attribute");
    const options = typeof runtime === "object" && runtime !== null ? ((runtime as { options?: Record<string, unknown> }).options ?? {}) : {};
    return {
        runtime: runtimeName as string,
        options,
        ...(typeof project["version"] === "string" && { version: project["version"] }),
        ...(typeof project["description"] === "string" && { description: project["description"] }),
    };
}

/** `constructEnv`: values that are empty are not set. */
export function policyPackEnv(stack: StackInfo | undefined, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...base };
    const set = (key: string, value: string | undefined): void => {
        if (value !== undefined && value !== "") env[key] = value;
    };
    if (stack === undefined) return env;
    set("PULUMI_CONFIG", JSON.stringify(stack.config ?? {}));
    const dryRun = String(stack.dryRun ?? true);
    for (const prefix of ["PULUMI_NODEJS_", "PULUMI_"]) {
        set(`${prefix}ORGANIZATION`, stack.organization);
        set(`${prefix}PROJECT`, stack.project);
        set(`${prefix}STACK`, stack.stack);
        set(`${prefix}DRY_RUN`, dryRun);
    }
    return env;
}

/** The in-process stand-in for the CLI's Engine gRPC service. */
async function startEngineServer(onLog: (line: PackLogLine) => void): Promise<{ server: grpc.Server; address: string }> {
    const severities = {
        [enginePb.LogSeverity.DEBUG]: "debug",
        [enginePb.LogSeverity.INFO]: "info",
        [enginePb.LogSeverity.WARNING]: "warning",
        [enginePb.LogSeverity.ERROR]: "error",
    } as const;
    let rootUrn = "";
    const log: grpc.handleUnaryCall<enginePb.LogRequest, Empty> = (call, callback) => {
        const request = call.request;
        onLog({
            stream: "engine",
            severity: severities[request.getSeverity()],
            message: request.getMessage(),
            ...(request.getUrn() !== "" && { urn: request.getUrn() }),
        });
        callback(null, new Empty());
    };
    const getRootResource: grpc.handleUnaryCall<enginePb.GetRootResourceRequest, enginePb.GetRootResourceResponse> = (_call, callback) =>
        callback(null, new enginePb.GetRootResourceResponse().setUrn(rootUrn));
    const setRootResource: grpc.handleUnaryCall<enginePb.SetRootResourceRequest, enginePb.SetRootResourceResponse> = (call, callback) => {
        rootUrn = call.request.getUrn();
        callback(null, new enginePb.SetRootResourceResponse());
    };
    const startDebugging: grpc.handleUnaryCall<enginePb.StartDebuggingRequest, Empty> = (_call, callback) => callback(null, new Empty());
    const requirePulumiVersion: grpc.handleUnaryCall<enginePb.RequirePulumiVersionRequest, enginePb.RequirePulumiVersionResponse> = (_call, callback) =>
        callback(null, new enginePb.RequirePulumiVersionResponse());
    const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_RPC_MESSAGE_SIZE });
    server.addService(engineRpc.EngineService, { log, getRootResource, setRootResource, startDebugging, requirePulumiVersion });
    const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    return { server, address: `127.0.0.1:${port}` };
}

// Packs still running when this process exits (a crashed caller) are killed with it.
const running = new Set<ChildProcess>();
process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
});

export interface LaunchSettings {
    readonly packDir: string;
    readonly project: PolicyProject;
    readonly stack: StackInfo | undefined;
    readonly startupTimeoutMs: number;
    readonly env?: NodeJS.ProcessEnv;
}

/** A started pack: its process, the client connected to it, and its output so far. */
export class PackProcess {
    private closing: Promise<void> | undefined;
    private connection: analyzerRpc.AnalyzerClient | undefined;
    private constructor(
        readonly child: ChildProcess,
        private readonly exited: Promise<void>,
        private readonly engine: grpc.Server,
        private readonly output: PackOutput,
    ) {}

    get logs(): readonly PackLogLine[] {
        return this.output.lines;
    }

    get client(): analyzerRpc.AnalyzerClient {
        if (this.connection === undefined || this.closing !== undefined) throw new Error("the policy pack is not running (closed, or never connected)");
        return this.connection;
    }

    static async start(settings: LaunchSettings): Promise<PackProcess> {
        const absDir = path.resolve(settings.packDir);
        const script = resolveRunPolicyPack(settings.packDir, absDir);
        const output = new PackOutput();
        const engine = await startEngineServer((line) => output.lines.push(line));
        const args = [script, engine.address, ".", ...runtimeOptionArgs(settings.project.options)];
        let child: ChildProcess;
        try {
            child = spawn(process.execPath, args, { cwd: absDir, env: policyPackEnv(settings.stack, settings.env), stdio: ["pipe", "pipe", "pipe"] });
        } catch (err) {
            // E2BIG (an environment over the kernel's limits) and the like throw here, before any
            // process exists: the engine server is all there is to stop, or it keeps Node alive.
            engine.server.forceShutdown();
            throw new PolicyPackStartError(`could not start policy pack ${JSON.stringify(absDir)}: ${(err as Error).message}`, absDir, "");
        }
        running.add(child);
        // 'close' fires once the process has exited and its stdout/stderr have drained.
        const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
        const pack = new PackProcess(child, exited, engine.server, output);
        try {
            const port = await output.readPort(child, absDir, settings.startupTimeoutMs);
            pack.connection = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
                "grpc.max_receive_message_length": MAX_RPC_MESSAGE_SIZE,
            });
            await pack.handshake(engine.address, absDir);
            return pack;
        } catch (err) {
            await pack.close();
            throw err;
        }
    }

    /** Handshake retried while UNAVAILABLE; UNIMPLEMENTED is a legacy plugin, which a Node pack is. */
    private async handshake(engineAddress: string, dir: string): Promise<void> {
        const deadline = Date.now() + PLUGIN_RPC_CONNECTION_TIMEOUT_MS;
        const request = new analyzerPb.AnalyzerHandshakeRequest().setEngineAddress(engineAddress).setRootDirectory(dir).setProgramDirectory(dir);
        for (;;) {
            try {
                await rpc((callback) => this.client.handshake(request, new grpc.Metadata(), { deadline }, callback));
                return;
            } catch (err) {
                const code = (err as grpc.ServiceError).code;
                if (code === grpc.status.UNIMPLEMENTED) return;
                if (code === grpc.status.UNAVAILABLE && Date.now() < deadline) {
                    await new Promise((resolve) => setTimeout(resolve, 10));
                    continue;
                }
                if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED) {
                    throw new PolicyPackStartError(`policy pack ${JSON.stringify(dir)} did not begin responding to RPC connections`, dir, this.output.stderr);
                }
                throw new PolicyPackStartError(
                    `failed to handshake with policy pack ${JSON.stringify(dir)}: ${(err as Error).message}`,
                    dir,
                    this.output.stderr,
                );
            }
        }
    }

    /** Kills the pack (SIGKILL, as the CLI's plugin.Close does) and waits for its output to drain. */
    close(): Promise<void> {
        this.closing ??= (async () => {
            this.connection?.close();
            if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
            await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
            running.delete(this.child);
            this.engine.forceShutdown();
        })();
        return this.closing;
    }
}

/** Collects the pack's stdout/stderr line by line; the first stdout line is its port. */
class PackOutput {
    readonly lines: PackLogLine[] = [];
    stderr = "";

    readPort(child: ChildProcess, dir: string, timeoutMs: number): Promise<number> {
        const deadline = Date.now() + timeoutMs;
        return new Promise<number>((resolve, reject) => {
            let portLine: string | undefined;
            const timer = setTimeout(
                () => {
                    const summary = summarizeStderr(this.stderr);
                    reject(
                        new PolicyPackStartError(
                            `policy pack ${JSON.stringify(dir)} did not report its port within ${timeoutMs / 1000}s${summary === undefined ? "" : `: ${summary}`}`,
                            dir,
                            this.stderr,
                        ),
                    );
                    child.kill("SIGKILL");
                },
                Math.max(0, deadline - Date.now()),
            );
            splitLines(child.stdout, (line) => {
                if (portLine !== undefined) {
                    if (line.trim() !== "") this.lines.push({ stream: "stdout", severity: "info", message: line });
                    return;
                }
                portLine = line;
                clearTimeout(timer);
                const port = parsePort(line);
                if (port === undefined) {
                    child.kill("SIGKILL");
                    reject(
                        new PolicyPackStartError(
                            `policy pack ${JSON.stringify(dir)} wrote an invalid port to stdout: ${JSON.stringify(line.trim())} (a pack must print nothing before its gRPC server's port)`,
                            dir,
                            this.stderr,
                        ),
                    );
                } else {
                    resolve(port);
                }
            });
            splitLines(child.stderr, (line) => {
                this.stderr += `${line}\n`;
                if (line.trim() !== "") this.lines.push({ stream: "stderr", severity: "info", message: line });
            });
            child.once("error", (err) => {
                clearTimeout(timer);
                reject(new PolicyPackStartError(`policy pack ${JSON.stringify(dir)} failed to start: ${err.message}`, dir, this.stderr));
            });
            // 'close' fires once the process has exited and its stdio has drained: all of stderr is in.
            child.once("close", (code, signal) => {
                clearTimeout(timer);
                if (portLine === undefined) {
                    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`;
                    reject(
                        new PolicyPackStartError(
                            `policy pack ${JSON.stringify(dir)} failed to start: ${summarizeStderr(this.stderr) ?? `it ${how} before reporting its port`}`,
                            dir,
                            this.stderr,
                        ),
                    );
                }
            });
        });
    }
}

function splitLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
    if (stream === null) return;
    let buffer = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
        buffer += chunk;
        for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
            onLine(buffer.slice(0, newline));
            buffer = buffer.slice(newline + 1);
        }
    });
    // The CLI also shows a last line that lacks its newline.
    stream.on("end", () => {
        if (buffer !== "") onLine(buffer);
        buffer = "";
    });
}

/** `parsePort`: trimmed, a decimal integer in 1..65535. */
function parsePort(line: string): number | undefined {
    const text = line.trim();
    if (!/^[+-]?\d+$/.test(text)) return undefined;
    const port = Number(text);
    return port > 0 && port <= 65535 ? port : undefined;
}

/**
 * One line that says why the pack died: the first TypeScript diagnostic (ts-node type-checks the
 * pack on load), a missing module, or the first error line of an unhandled exception.
 */
export function summarizeStderr(stderr: string): string | undefined {
    const lines = stderr
        .split("\n")
        .map((l) => l.replace(/^(error|warning|info): \[runtime\] /, "").trim())
        .filter((l) => l !== "");
    const tsErrors = lines.filter((l) => /\berror TS\d+:/.test(l));
    if (tsErrors.length > 0) {
        const more = tsErrors.length > 1 ? ` (and ${tsErrors.length - 1} more TypeScript error${tsErrors.length > 2 ? "s" : ""})` : "";
        return `TypeScript error: ${tsErrors[0] ?? ""}${more}`;
    }
    const missing = lines.find((l) => l.startsWith("Cannot find module") || l.includes("Error: Cannot find module"));
    if (missing !== undefined) return missing.replace(/^.*?(Cannot find module)/, "$1");
    const thrown = lines.find((l) => /^(\w*Error|Error)\b.*?:/.test(l) || /^\w+Error: /.test(l));
    if (thrown !== undefined) return thrown;
    return lines.find((l) => !l.startsWith("Running program") && !l.startsWith("at ")) ?? lines[0];
}

/**
 * The script's `require.resolve('@pulumi/pulumi/cmd/run-policy-pack')`, from the pack directory.
 * When that fails the CLI says the pack's dependencies are not installed (errRunPolicyModuleNotFound).
 */
function resolveRunPolicyPack(packDir: string, absDir: string): string {
    try {
        return require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [absDir] });
    } catch (err) {
        throw new PolicyPackStartError(
            `it looks like the policy pack's dependencies are not installed; try running npm install or yarn install in ${JSON.stringify(packDir)}`,
            packDir,
            `${(err as Error).message}\n`,
        );
    }
}

/** `-<key>=<value>` per PulumiPolicy.yaml runtime option with a non-empty value (sorted: Go's map order is random). */
function runtimeOptionArgs(options: Readonly<Record<string, unknown>>): string[] {
    return Object.keys(options)
        .sort()
        .map((key) => [key, String(options[key] ?? "")] as const)
        .filter(([, value]) => value !== "")
        .map(([key, value]) => `-${key}=${value}`);
}

/** Promisifies one unary call. */
export function rpc<T>(invoke: (callback: (error: grpc.ServiceError | null, response: T) => void) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        invoke((error, response) => (error ? reject(error) : resolve(response)));
    });
}
