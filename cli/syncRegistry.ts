import * as path from "node:path";
import { Command } from "commander";
import { loadPlatformConfig } from "../infra/validation";
import { RegistryError, RegistryNotFoundError } from "../policies/mlflowRestClient";
import { rollbackTagKey } from "../policies/registryContract";
import { ConfigError, formatProblem, parseStackFile } from "../stacks";
import { askRegistry, type CommandIo, processIo, readStack, resolveProjectDir, runAsScript, runCommand, withProjectDir } from "./gitops/command";
import { GitRepository } from "./gitops/git";
import { messageOf, Refusal } from "./gitops/refusal";
import { describeAction, performActions, registryFromEnv } from "./gitops/registryActions";
import { type Answer, planSync, type SyncAnswers, type SyncContext } from "./gitops/registryState";
import { rollbacksInHistory } from "./gitops/rollbacks";
import type { StackText } from "./gitops/stackText";
import { KubectlError, kubectlReader, type ObjectReader } from "./rollout/kubectl";
import { CANARY_RESOURCE, decide, describe } from "./rollout/waiter";
import { WAIT_DEFAULTS } from "./waitForRollout";

/**
 * `npm run sync-registry -- --stack <stack> [--rolled-out] [--dry-run]`
 *
 * Points each model's environment alias at the version the stack declares, tags that version as
 * promoted there when it is not yet, and writes the rollback tags git's rollback commits record but
 * the registry lacks. With `--rolled-out` — what the deploy workflow passes after `wait-rollout` —
 * it also records each version the cluster serves as validated in the environment
 * (`mlops.validated.<environment>` = now), after reading the Canary and the primary itself: that
 * record is what a production promotion needs, so it is written only for a rollout that succeeded.
 * A promote or rollback whose registry step failed says to run it. Idempotent: a second run moves
 * nothing. Exit 1 when any model could not be synced.
 */

export interface SyncOptions {
    readonly projectDir: string;
    readonly stack: string;
    readonly dryRun: boolean;
    readonly rolledOut: boolean;
    /** kubeconfig context (`--context`); default the stack's `cluster.kubeContext`, else the current one. */
    readonly context?: string | undefined;
    readonly namespace: string;
}

export async function syncRegistry(options: SyncOptions, io: CommandIo, reader?: ObjectReader): Promise<number> {
    const subject = `sync the registry with ${options.stack}`;
    const stack = readStack(options.projectDir, options.stack, subject);
    const registry = registryFromEnv(subject, io.env);
    const answers = new Map<string, SyncAnswers>();
    for (const name of stack.modelNames) {
        const declared = stack.model(name);
        if (declared?.registeredModel === undefined || declared.version === undefined) continue;
        const { registeredModel, version } = declared;
        answers.set(`${registeredModel}/${version}`, {
            model: await answer(() => registry.getRegisteredModel(registeredModel)),
            version: await answer(() => registry.getModelVersion(registeredModel, version)),
        });
    }
    const repo = await openRepository(options.projectDir);
    const file = path.join(options.projectDir, stack.source.file);
    const context: SyncContext = {
        now: io
            .now()
            .toISOString()
            .replace(/\.\d{3}Z$/, "Z"),
        commit: repo === undefined ? undefined : (await repo.history(file))[0]?.sha,
        missingRollbackTags: repo === undefined ? [] : await missingRollbackTags(subject, stack, repo, file, registry),
        ...(options.rolledOut && { rollouts: await rollouts(subject, stack, options, reader) }),
    };
    const items = planSync(stack, answers, context);

    let failed = 0;
    for (const item of items) {
        const label = `${item.model} (${item.registeredModel ?? "?"} version ${item.declaredVersion ?? "?"})`;
        if (item.problem !== undefined) {
            failed++;
            io.err(`${label}: not synced: ${item.problem}`);
            continue;
        }
        const note = item.note === undefined ? "" : `; ${item.note}`;
        if (item.actions.length === 0) {
            io.out(`${label}: already in sync${note}`);
            continue;
        }
        const described = item.actions.map(describeAction).join("; ");
        if (options.dryRun) {
            io.out(`${label}: would set ${described}${note}`);
            continue;
        }
        try {
            await performActions(registry, item.actions);
            io.out(`${label}: set ${described}${note}`);
        } catch (err) {
            failed++;
            io.err(`${label}: not synced: ${messageOf(err)}`);
        }
    }
    return failed === 0 ? 0 : 1;
}

async function answer<T>(question: () => Promise<T>): Promise<Answer<T>> {
    try {
        return { kind: "found", value: await question() };
    } catch (err) {
        if (err instanceof RegistryNotFoundError) return { kind: "missing" };
        if (err instanceof RegistryError) return { kind: "error", message: err.message };
        throw err;
    }
}

/** The repository the stack file is in; none outside a git repository (then git records nothing). */
async function openRepository(projectDir: string): Promise<GitRepository | undefined> {
    try {
        return await GitRepository.open(projectDir);
    } catch {
        return undefined;
    }
}

/** The rollbacks this stack file's history records (commit trailers) that the registry has no tag for yet. */
async function missingRollbackTags(
    subject: string,
    stack: StackText,
    repo: GitRepository,
    file: string,
    registry: ReturnType<typeof registryFromEnv>,
): Promise<NonNullable<SyncContext["missingRollbackTags"]>> {
    const environment = stack.environment;
    if (environment === undefined) return [];
    const missing: Array<NonNullable<SyncContext["missingRollbackTags"]>[number]> = [];
    for (const model of stack.modelNames) {
        const registeredModel = stack.model(model)?.registeredModel;
        if (registeredModel === undefined) continue;
        for (const rolledBack of await rollbacksInHistory(repo, file, model)) {
            if (rolledBack.record === undefined || missing.some((m) => m.model === model && m.version === rolledBack.version)) continue;
            const version = await askRegistry(subject, () => registry.getModelVersion(registeredModel, rolledBack.version));
            if (version !== undefined && version.tags[rollbackTagKey(environment)] === undefined) {
                missing.push({ model, version: rolledBack.version, tag: rolledBack.record });
            }
        }
    }
    return missing;
}

/** What the cluster says of each declared model's rollout, read once (the same decision as wait-rollout). */
async function rollouts(
    subject: string,
    stack: StackText,
    options: SyncOptions,
    reader: ObjectReader | undefined,
): Promise<NonNullable<SyncContext["rollouts"]>> {
    let kubeContext = options.context;
    if (kubeContext === undefined && reader === undefined) {
        try {
            kubeContext = loadPlatformConfig(parseStackFile(stack.text, stack.source.file).values, stack.source.stack).cluster.kubeContext;
        } catch (err) {
            if (err instanceof ConfigError)
                throw Refusal.of(subject, "input", `${stack.source.file} is not a valid stack configuration: ${err.problems.map(formatProblem).join("; ")}`);
            throw err;
        }
    }
    const cluster = reader ?? kubectlReader(kubeContext !== undefined ? { context: kubeContext } : {});
    const found = new Map<string, { serving: boolean; analysed: boolean; detail: string }>();
    for (const name of stack.modelNames) {
        const version = stack.model(name)?.version;
        if (version === undefined) continue;
        try {
            const outcome = await decide({ name, version }, cluster, { namespace: options.namespace });
            const serving = outcome.decision.state === "serving";
            // Serving after Flagger's analysis succeeded, not merely initialized (a first deploy runs no analysis).
            const phase = serving ? canaryPhase(await cluster.get(CANARY_RESOURCE, name, options.namespace)) : undefined;
            found.set(name, {
                serving,
                analysed: phase === "Succeeded",
                detail: serving ? `version ${version} serves (Canary ${phase ?? "phase unknown"})` : describe(outcome.decision),
            });
        } catch (err) {
            if (err instanceof KubectlError) throw Refusal.of(subject, "failure", `the rollout cannot be confirmed, so nothing was recorded: ${err.message}`);
            throw err;
        }
    }
    return found;
}

function canaryPhase(canary: unknown): string | undefined {
    const status = typeof canary === "object" && canary !== null ? (canary as { status?: { phase?: unknown } }).status : undefined;
    return typeof status?.phase === "string" ? status.phase : undefined;
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode = 0;
    const command = withProjectDir(new Command("sync-registry"))
        .description(
            "Point each model's environment alias in the MLflow registry (MLFLOW_TRACKING_URI) at the version the stack declares, with the promotion " +
                "and rollback tags git records; with --rolled-out, record each version the cluster serves as validated there. Idempotent.",
        )
        .requiredOption("--stack <stack>", "the stack whose declarations the registry should reflect")
        .option(
            "--rolled-out",
            "the rollout succeeded (the deploy workflow passes this after wait-rollout): confirm with the cluster (kubectl) that each declared version " +
                "is served, and record it as validated in the environment (mlops.validated.<environment>)",
            false,
        )
        .option("--context <name>", "kubeconfig context for --rolled-out (default: the stack's cluster.kubeContext, else the current context)")
        .option("--namespace <namespace>", "the namespace of the model workloads, for --rolled-out", WAIT_DEFAULTS.namespace)
        .option("--dry-run", "show what would be set; change nothing", false)
        .action(async (opts: { stack: string; dryRun: boolean; projectDir: string; rolledOut: boolean; context?: string; namespace: string }) => {
            exitCode = await syncRegistry(
                {
                    projectDir: resolveProjectDir(io, opts.projectDir),
                    stack: opts.stack,
                    dryRun: opts.dryRun,
                    rolledOut: opts.rolledOut,
                    context: opts.context,
                    namespace: opts.namespace,
                },
                io,
            );
        });
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
