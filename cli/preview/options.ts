import * as fs from "node:fs";
import * as path from "node:path";
import type { Environment } from "../../stacks";
import type { RegistrySource } from "./report";

/**
 * The preview's inputs, resolved: which stack, where its file and policy config are, where the
 * manifests go, and which registry (if any) the evidence is cross-checked against.
 */

/** This repository: the program (`infra/`) and the policy pack (`policies/`) always come from here. */
export const REPOSITORY_ROOT = path.resolve(__dirname, "..", "..");

/** Bad input: printed as one line (or a few, for a config with several problems), exit 2. */
export class UsageError extends Error {
    constructor(
        message: string,
        /** Lines printed after the first, indented (e.g. one per config problem). */
        readonly details: readonly string[] = [],
    ) {
        super(message);
        this.name = "UsageError";
    }
}

// Pulumi's own rule (sdk/go/common/tokens, `validateStackName`): no slashes, so no paths.
const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Why Pulumi (or this CLI) would refuse a stack name; undefined when it is fine. */
export function stackNameProblem(name: string): string | undefined {
    if (!STACK_NAME.test(name)) return "stack names may only contain letters, digits, hyphens, underscores and periods (at most 100 characters)";
    // Pulumi takes these, but `out/<stack>` would then leave out/.
    if (/^\.+$/.test(name)) return "a stack name must not consist of periods only";
    return undefined;
}

/** The `--stack` value as Pulumi accepts it; throws a one-line reason otherwise. */
export function checkStackName(name: string): string {
    const problem = stackNameProblem(name);
    if (problem !== undefined) throw new UsageError(`invalid stack name ${JSON.stringify(name)}: ${problem}`);
    return name;
}

export interface CliFlags {
    readonly stack: string;
    readonly json?: boolean;
    readonly markdown?: boolean;
    readonly out?: string;
    readonly projectDir?: string;
    readonly policyConfig?: string;
    readonly registry?: string;
}

export type OutputFormat = "text" | "json" | "markdown";

export interface PreviewOptions {
    readonly stack: string;
    readonly format: OutputFormat;
    /** Absolute. */
    readonly projectDir: string;
    /** Absolute. */
    readonly outDir: string;
    /** As given with `--policy-config` (absolute), or undefined to pick the stack's or environment's file. */
    readonly policyConfigFile: string | undefined;
    readonly registry: { readonly uri: string; readonly source: RegistrySource } | undefined;
    /** Remediate+Analyze calls in flight (no flag: the benchmark compares with the engine's one at a time). @default ANALYZE_CONCURRENCY (run.ts) */
    readonly analyzeConcurrency?: number;
}

/**
 * Resolves flags against the working directory and environment. Relative paths are taken from
 * `cwd`; the defaults are the repository's (`out/<stack>`, the repository root).
 */
export function resolveOptions(flags: CliFlags, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): PreviewOptions {
    const stack = checkStackName(flags.stack);
    const projectDir = flags.projectDir === undefined ? REPOSITORY_ROOT : path.resolve(cwd, flags.projectDir);
    if (!isDirectory(projectDir)) throw new UsageError(`--project-dir ${JSON.stringify(flags.projectDir)}: no such directory`);
    const policyConfigFile = flags.policyConfig === undefined ? undefined : path.resolve(cwd, flags.policyConfig);
    if (policyConfigFile !== undefined && !fs.existsSync(policyConfigFile))
        throw new UsageError(`--policy-config ${JSON.stringify(flags.policyConfig)}: no such file`);
    const outDir = flags.out === undefined ? path.join(REPOSITORY_ROOT, "out", stack) : path.resolve(cwd, flags.out);
    // Found now rather than after the program ran: the manifests go into a directory, never over a file.
    const outKind = fs.statSync(outDir, { throwIfNoEntry: false });
    if (outKind !== undefined && !outKind.isDirectory()) {
        const named = flags.out === undefined ? path.relative(REPOSITORY_ROOT, outDir) : JSON.stringify(flags.out);
        throw new UsageError(`--out ${named}: is a file, not a directory; name a directory for the manifests (it is created when missing)`);
    }
    return {
        stack,
        format: flags.json === true ? "json" : flags.markdown === true ? "markdown" : "text",
        projectDir,
        outDir,
        policyConfigFile,
        registry: resolveRegistry(flags.registry, env),
    };
}

/** `--registry`, else `$MLFLOW_TRACKING_URI`, else none; an empty value means none. */
export function resolveRegistry(flag: string | undefined, env: NodeJS.ProcessEnv): PreviewOptions["registry"] {
    const [uri, source]: [string | undefined, RegistrySource] = flag !== undefined ? [flag, "--registry"] : [env["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"];
    if (uri === undefined || uri === "") return undefined;
    // The registry policy's config schema takes http(s) URLs only; say so before the pack refuses it.
    if (!/^https?:\/\/[^\s/]+/.test(uri))
        throw new UsageError(`${source} ${JSON.stringify(uri)}: expected an http(s) URL of the MLflow tracking server, such as "https://mlflow.example.com"`);
    return { uri, source };
}

/**
 * The policy config for a stack: the one named, else `policies/config/<stack>.json`, else the
 * environment's `policies/config/<environment>.json` (so `production-eu` gets production's).
 */
export function policyConfigFor(
    options: Pick<PreviewOptions, "stack" | "policyConfigFile">,
    environment: Environment,
    repositoryRoot: string = REPOSITORY_ROOT,
): string {
    if (options.policyConfigFile !== undefined) return options.policyConfigFile;
    const dir = path.join(repositoryRoot, "policies", "config");
    const candidates = [path.join(dir, `${options.stack}.json`), path.join(dir, `${environment}.json`)];
    const found = candidates.find((file) => fs.existsSync(file));
    if (found === undefined) {
        throw new UsageError(
            `no policy config for stack "${options.stack}": neither ${candidates.map((c) => path.relative(repositoryRoot, c)).join(" nor ")} exists; pass --policy-config <file>`,
        );
    }
    return found;
}

function isDirectory(dir: string): boolean {
    try {
        return fs.statSync(dir).isDirectory();
    } catch {
        return false;
    }
}
