import * as path from "node:path";
import { Command } from "commander";
import { type AppliedChange, applyChange, describePlan, RegistryNotUpdated, requireBranch, requireCleanStackFile } from "./gitops/apply";
import {
    askRegistry,
    asRefusalAsync,
    type CommandIo,
    processIo,
    readStack,
    resolveProjectDir,
    runAsScript,
    runCommand,
    withProjectDir,
} from "./gitops/command";
import { GitRepository } from "./gitops/git";
import { withDeclarationLock } from "./gitops/lock";
import { planRollback, type RollbackInputs, rollbackSubject, short, type StackChangePlan } from "./gitops/plan";
import { registryFromEnv } from "./gitops/registryActions";
import { Refusal } from "./gitops/refusal";
import { oneLine, rollbacksInHistory, rollbacksInRegistry, type RolledBackVersion } from "./gitops/rollbacks";
import { StackText } from "./gitops/stackText";

/**
 * `npm run rollback -- <model> --stack <stack> [--reason <text>] [--dry-run]`
 *
 * Finds, in the stack file's git history, the most recent revision that declares another version of
 * the model than the current one — and not one that was itself rolled back — and puts that version
 * and its evidence back, byte for byte, as a new commit (history is never rewritten, other models and
 * keys are never touched) whose trailers record the rollback; then moves the environment's registry
 * alias back and tags the version rolled back (`mlops.rolled_back.<environment>`).
 */

export interface RollbackOptions {
    readonly projectDir: string;
    readonly dryRun: boolean;
    /** Why, for the commit and the registry's rollback record. */
    readonly reason: string | undefined;
    /** Lines the commit message carries as the incident record (the monitor's measured values and thresholds). */
    readonly incident?: readonly string[];
    /**
     * Compare-and-swap: roll back only while the stack file still declares this version, as re-read
     * under the declaration lock; otherwise refuse, changing nothing (someone else moved it first).
     */
    readonly expectedVersion?: string;
}

/** What a rollback did (or, in a dry run, would do). */
export interface RollbackOutcome {
    readonly plan: StackChangePlan;
    /** The revision whose declaration was restored. */
    readonly restoredFrom: string;
    /** Set unless a dry run: the commit and the registry writes made after it. */
    readonly applied?: AppliedChange;
    /** The commit stands, but the registry writes after it failed (`applied` lists none). */
    readonly registryNotUpdated?: RegistryNotUpdated;
}

export async function rollback(model: string, stack: string, options: RollbackOptions, io: CommandIo): Promise<number> {
    const outcome = await performRollback(model, stack, options, io);
    if (outcome.registryNotUpdated !== undefined) throw outcome.registryNotUpdated;
    const { plan, applied } = outcome;
    if (applied === undefined) {
        io.out(`dry run: would ${plan.subject}\n${describePlan(plan)}`);
        return 0;
    }
    io.out(
        `rolled back ${model} ${plan.fromVersion ?? "(none)"} → ${plan.toVersion} in ${stack} (as of ${short(outcome.restoredFrom)}): ` +
            `commit ${short(applied.commit)}; registry: ${applied.registryActions.join("; ")}`,
    );
    return 0;
}

/**
 * The one way a declaration is rolled back (by a person, the monitor, or wait-rollout after a failed
 * canary): under the declaration lock, the stack file is read, checked against `expectedVersion`,
 * and its previous declaration restored as one commit; then the registry follows. Throws a `Refusal`
 * (nothing changed) or `RegistryNotUpdated` (the commit stands).
 */
export async function performRollback(model: string, stack: string, options: RollbackOptions, io: CommandIo): Promise<RollbackOutcome> {
    const subject = rollbackSubject(model, stack);
    const { projectDir } = options;
    const repo = await asRefusalAsync(subject, () => GitRepository.open(projectDir, { onLockWait: io.err }));
    // A dry run changes nothing, so it needs no lock.
    if (options.dryRun) return rollbackUnlocked(model, stack, options, repo, io);
    return withDeclarationLock(repo, subject, () => rollbackUnlocked(model, stack, options, repo, io), { onWait: io.err });
}

async function rollbackUnlocked(model: string, stack: string, options: RollbackOptions, repo: GitRepository, io: CommandIo): Promise<RollbackOutcome> {
    const subject = rollbackSubject(model, stack);
    const { projectDir } = options;
    const current = readStack(projectDir, stack, subject);
    const file = path.join(projectDir, current.source.file);
    const declared = current.model(model);
    if (declared === undefined)
        throw Refusal.of(subject, "input", `${current.source.file} declares no model "${model}" (declared: ${current.modelNames.join(", ") || "none"})`);
    if (options.expectedVersion !== undefined && declared.version !== options.expectedVersion) {
        throw Refusal.of(
            subject,
            "failure",
            `${current.source.file} now declares version ${declared.version ?? "(none)"} of "${model}", not ${options.expectedVersion} as when the decision was made ` +
                "(another command changed it first); nothing was changed",
        );
    }
    await asRefusalAsync(subject, () => requireBranch(repo, subject));
    await requireCleanStackFile(repo, subject, file, current.source.file);

    const registry = registryFromEnv(subject, io.env);
    // A version rolled back before is never returned to: git's rollback commits and the registry's tags say which.
    const inGit = await asRefusalAsync(subject, () => rollbacksInHistory(repo, file, model));
    const rolledBack = async (version: string): Promise<RolledBackVersion | undefined> => {
        const fromGit = inGit.find((r) => r.version === version);
        if (fromGit !== undefined) return fromGit;
        if (declared.registeredModel === undefined) return undefined;
        const registeredModel = declared.registeredModel;
        const answer = await askRegistry(subject, () => registry.getModelVersion(registeredModel, version));
        // Rolled back here: a rollback elsewhere (staging) does not bar this environment's way back.
        return answer === undefined ? undefined : rollbacksInRegistry(answer).find((r) => r.environment === current.environment);
    };
    const walk = await asRefusalAsync(subject, () => previousDeclaration(repo, file, current, model, rolledBack));
    if (walk.previous === undefined) {
        const passedOver = walk.passedOver.map((r) => `version ${r.version} was ${r.said}`).join("; ");
        throw Refusal.of(
            subject,
            "input",
            `no earlier revision of ${current.source.file} declares another version of "${model}" than ${declared.version ?? "(none)"}` +
                (passedOver === "" ? "" : ` that was not itself rolled back (${passedOver})`),
        );
    }
    const previous = walk.previous;
    const restored = previous.stack.model(model);
    const modelVersion =
        restored?.registeredModel === undefined || restored.version === undefined
            ? undefined
            : await askRegistry(subject, () => registry.getModelVersion(restored.registeredModel as string, restored.version as string));
    const plan = planRollback({
        model,
        current,
        previous,
        registry: { url: registry.registryUrl, modelVersion },
        reason: options.reason,
        ...(options.incident !== undefined && { incident: options.incident }),
        rolledBackAt: io
            .now()
            .toISOString()
            .replace(/\.\d{3}Z$/, "Z"),
    });
    if (options.dryRun) return { plan, restoredFrom: previous.commit };
    try {
        return { plan, restoredFrom: previous.commit, applied: await applyChange(plan, { projectDir, repo, registry }) };
    } catch (err) {
        if (!(err instanceof RegistryNotUpdated)) throw err;
        return { plan, restoredFrom: previous.commit, applied: { commit: err.commit, registryActions: [] }, registryNotUpdated: err };
    }
}

/**
 * Walks the file's history, newest first, to the first revision whose declared version of the model
 * differs from the current one and was not itself rolled back (such revisions are passed over, and
 * named). A revision that cannot be read is passed over; one without the model ends the walk
 * (before it, the model was not served here, so there is nothing to roll back to).
 */
export async function previousDeclaration(
    repo: GitRepository,
    file: string,
    current: StackText,
    model: string,
    rolledBack: (version: string) => Promise<RolledBackVersion | undefined> = async () => undefined,
): Promise<{ readonly previous: RollbackInputs["previous"] | undefined; readonly passedOver: readonly RolledBackVersion[] }> {
    const currentVersion = current.model(model)?.version;
    const passedOver: RolledBackVersion[] = [];
    for (const commit of await repo.history(file)) {
        const text = await repo.show(commit.sha, file);
        if (text === undefined) break;
        let older: StackText;
        try {
            older = StackText.parse({ ...current.source, text });
        } catch {
            continue;
        }
        const version = older.model(model)?.version;
        if (version === undefined) break;
        if (version === currentVersion || passedOver.some((r) => r.version === version)) continue;
        const wasRolledBack = await rolledBack(version);
        if (wasRolledBack !== undefined) {
            passedOver.push(wasRolledBack);
            continue;
        }
        return { previous: { commit: commit.sha, subject: commit.subject, stack: older }, passedOver };
    }
    return { previous: undefined, passedOver };
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode = 0;
    const command = withProjectDir(new Command("rollback"))
        .description(
            "Restore the previous version of a model in a stack, with its evidence, as a new git commit of Pulumi.<stack>.yaml; " +
                "then move the environment's alias in the MLflow registry back (MLFLOW_TRACKING_URI).",
        )
        .argument("<model>", "the model, as named under mlops-platform:models")
        .requiredOption("--stack <stack>", "the stack to roll back (Pulumi.<stack>.yaml)")
        .option("--reason <text>", "why: recorded in the commit and in the registry's mlops.rolled_back.<environment> tag of the version rolled back")
        .option("--dry-run", "show the diff, commit message and registry writes; change nothing", false)
        .action(async (model: string, opts: { stack: string; dryRun: boolean; projectDir: string; reason?: string }) => {
            const reason = opts.reason === undefined ? undefined : oneLine(opts.reason);
            if (reason === "") throw Refusal.of(rollbackSubject(model, opts.stack), "input", "--reason is empty; say why, or leave the option out");
            exitCode = await rollback(model, opts.stack, { projectDir: resolveProjectDir(io, opts.projectDir), dryRun: opts.dryRun, reason }, io);
        });
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
