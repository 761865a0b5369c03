import * as path from "node:path";
import { Command } from "commander";
import { RegistryError, RegistryNotFoundError } from "../policies/mlflowRestClient";
import { type CommandIo, processIo, readStack, resolveProjectDir, runAsScript, runCommand, withProjectDir } from "./gitops/command";
import { GitRepository } from "./gitops/git";
import { messageOf } from "./gitops/refusal";
import { describeAction, performActions, registryFromEnv } from "./gitops/registryActions";
import { type Answer, planSync, type SyncAnswers } from "./gitops/registryState";

/**
 * `npm run sync-registry -- --stack <stack> [--dry-run]`
 *
 * Points each model's environment alias at the version the stack declares, and tags that version as
 * promoted there when it is not yet. The deploy workflow runs it after a successful `pulumi up`, so
 * the alias means "running there"; a promote or rollback whose registry step failed says to run it.
 * Idempotent: a second run moves nothing. Exit 1 when any model could not be synced.
 */

export async function syncRegistry(options: { readonly projectDir: string; readonly stack: string; readonly dryRun: boolean }, io: CommandIo): Promise<number> {
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
    const items = planSync(stack, answers, {
        now: io
            .now()
            .toISOString()
            .replace(/\.\d{3}Z$/, "Z"),
        commit: await lastCommit(options.projectDir, stack.source.file),
    });

    let failed = 0;
    for (const item of items) {
        const label = `${item.model} (${item.registeredModel ?? "?"} version ${item.declaredVersion ?? "?"})`;
        if (item.problem !== undefined) {
            failed++;
            io.err(`${label}: not synced: ${item.problem}`);
            continue;
        }
        if (item.actions.length === 0) {
            io.out(`${label}: already in sync`);
            continue;
        }
        const described = item.actions.map(describeAction).join("; ");
        if (options.dryRun) {
            io.out(`${label}: would set ${described}`);
            continue;
        }
        try {
            await performActions(registry, item.actions);
            io.out(`${label}: set ${described}`);
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

/** The commit that last changed the stack file, for the promotion tag; none outside a git repository. */
async function lastCommit(projectDir: string, file: string): Promise<string | undefined> {
    try {
        const repo = await GitRepository.open(projectDir);
        return (await repo.history(path.join(projectDir, file)))[0]?.sha;
    } catch {
        return undefined;
    }
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode = 0;
    const command = withProjectDir(new Command("sync-registry"))
        .description("Point each model's environment alias in the MLflow registry (MLFLOW_TRACKING_URI) at the version the stack declares; idempotent.")
        .requiredOption("--stack <stack>", "the stack whose declarations the registry should reflect")
        .option("--dry-run", "show what would be set; change nothing", false)
        .action(async (opts: { stack: string; dryRun: boolean; projectDir: string }) => {
            exitCode = await syncRegistry({ projectDir: resolveProjectDir(io, opts.projectDir), stack: opts.stack, dryRun: opts.dryRun }, io);
        });
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
