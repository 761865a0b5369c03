import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { MlflowRestClient } from "../../policies/mlflowRestClient";
import { unifiedDiff } from "./diff";
import type { GitRepository } from "./git";
import type { StackChangePlan } from "./plan";
import { describeAction, performActions } from "./registryActions";
import { messageOf, Refusal } from "./refusal";

/**
 * The effects of a plan, in the one order that keeps every failure recoverable: the stack file is
 * written atomically; the commit is made only after the write (and when it fails the file gets its
 * old bytes back); the registry is touched only after the commit (and when that fails, the commit
 * stands and the message says the one command that finishes the job).
 */

/** The commit exists but the registry does not yet say so. */
export class RegistryNotUpdated extends Error {
    readonly exitCode = 1;

    constructor(
        message: string,
        /** The commit that stands. */
        readonly commit: string,
    ) {
        super(message);
    }
}

export interface AppliedChange {
    readonly commit: string;
    readonly registryActions: readonly string[];
}

/**
 * Checks that HEAD is on a branch: a commit on a detached HEAD belongs to no branch, so the registry
 * would record a change that main never sees. Returns the branch.
 */
export async function requireBranch(repo: GitRepository, subject: string): Promise<string> {
    const branch = await repo.currentBranch();
    if (branch !== undefined) return branch;
    const head = await repo.head();
    throw Refusal.of(
        subject,
        "input",
        `HEAD is detached at ${head.slice(0, 12)}, so a commit would be on no branch; check out the branch the stack files live on (git switch main) first`,
    );
}

/** Checks that a stack file is tracked and has no uncommitted changes, so the commit holds exactly this change. */
export async function requireCleanStackFile(repo: GitRepository, subject: string, file: string, shown: string): Promise<void> {
    if (!(await repo.isTracked(file))) throw Refusal.of(subject, "input", `${shown} is not tracked by git; commit it first`);
    const changes = await repo.changes(file);
    if (changes.length > 0) throw Refusal.of(subject, "input", `${shown} has uncommitted changes (${changes.join(", ").trim()}); commit or discard them first`);
}

export async function applyChange(
    plan: StackChangePlan,
    options: { readonly projectDir: string; readonly repo: GitRepository; readonly registry: MlflowRestClient },
): Promise<AppliedChange> {
    const file = path.join(options.projectDir, plan.file);
    // The plan was made from the text read at the start: anything written since would be overwritten.
    if (fs.readFileSync(file, "utf8") !== plan.before) throw Refusal.of(plan.subject, "input", `${plan.file} changed while the command ran; run it again`);
    try {
        writeFileAtomic(file, plan.after);
    } catch (err) {
        throw Refusal.of(plan.subject, "failure", `could not write ${plan.file} (${messageOf(err)}); nothing changed`);
    }
    let commit: string;
    try {
        commit = await options.repo.commitFile(file, plan.commitMessage);
    } catch (err) {
        writeFileAtomic(file, plan.before);
        throw Refusal.of(plan.subject, "failure", `${messageOf(err)}; ${plan.file} is restored and nothing changed`);
    }
    const actions = plan.registryActions(commit);
    try {
        await performActions(options.registry, actions);
    } catch (err) {
        throw new RegistryNotUpdated(
            `${plan.subject}: committed ${commit.slice(0, 12)}, but the registry was not updated (${messageOf(err)}); ` +
                `rerun: npm run sync-registry -- --stack ${plan.stack}`,
            commit,
        );
    }
    return { commit, registryActions: actions.map(describeAction) };
}

/** What `--dry-run` prints: the diff, the commit message and the registry writes that would follow. */
export function describePlan(plan: StackChangePlan): string {
    return [
        unifiedDiff(plan.file, plan.before, plan.after),
        "",
        "commit message:",
        ...plan.commitMessage.split("\n").map((line) => `  ${line}`.trimEnd()),
        "",
        "then in the registry:",
        ...plan.registryActions("<commit>").map((action) => `  ${describeAction(action)}`),
    ].join("\n");
}

/** Writes through a temporary file in the same directory and a rename, so a reader sees the old bytes or the new, never part. */
export function writeFileAtomic(file: string, text: string): void {
    const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    const mode = fs.statSync(file, { throwIfNoEntry: false })?.mode ?? 0o644;
    let descriptor: number | undefined;
    try {
        descriptor = fs.openSync(temporary, "wx", mode & 0o777);
        fs.writeFileSync(descriptor, text, "utf8");
        fs.fsyncSync(descriptor);
        fs.closeSync(descriptor);
        descriptor = undefined;
        fs.renameSync(temporary, file);
    } catch (err) {
        if (descriptor !== undefined) fs.closeSync(descriptor);
        fs.rmSync(temporary, { force: true });
        throw err;
    }
}
