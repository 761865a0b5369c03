import { isDeepStrictEqual } from "node:util";
import type { GitRepository } from "./git";
import { TRAILERS } from "./rollbacks";
import { StackFileProblem, StackText } from "./stackText";

/**
 * Whether a commit is a rollback as `rollback` (and the monitor, and wait-rollout) make them, proven
 * from git alone: a single-parent commit that changes only the stack file, whose `Rolled-Back:`
 * trailer names the version it moves away from, and whose new text is exactly its parent's with one
 * model's `version` and `promotion` put back as an earlier revision of the file declared them. Such
 * a commit returns production to a declaration it already went through the gates with, so
 * `check-approvals` lets it deploy without a new review — and refuses a commit that only claims to be one.
 */

export type RollbackCommitVerdict =
    | { readonly kind: "not-a-rollback" }
    | { readonly kind: "rollback"; readonly model: string; readonly fromVersion: string; readonly toVersion: string; readonly restoredFrom: string }
    | { readonly kind: "forged"; readonly problem: string };

export async function verifyRollbackCommit(repo: GitRepository, commit: string, stackFile: string, stack: string): Promise<RollbackCommitVerdict> {
    const claims = (await repo.commitTrailers(commit))
        .filter(([key]) => key === TRAILERS.rolledBack)
        .map(([, value]) => /^(\S+) version (\S+)$/.exec(value))
        .filter((match): match is RegExpExecArray => match !== null);
    if (claims.length === 0) return { kind: "not-a-rollback" };
    const forged = (problem: string): RollbackCommitVerdict => ({
        kind: "forged",
        problem: `commit ${commit.slice(0, 12)} says it is a rollback, but ${problem}`,
    });
    if (claims.length > 1) return forged("it claims more than one (a rollback restores one model)");
    const [, model = "", fromVersion = ""] = claims[0] as RegExpExecArray;

    const parents = await repo.parents(commit);
    if (parents.length !== 1) return forged(`it has ${parents.length} parents (a rollback is a single commit on the branch)`);
    const parent = parents[0] as string;
    const file = repo.relative(stackFile);
    const changed = await repo.changedFiles(commit);
    if (changed.length !== 1 || changed[0] !== file) return forged(`it changes ${changed.join(", ") || "nothing"}, not ${file} alone`);

    const read = async (rev: string): Promise<StackText | undefined> => {
        const text = await repo.show(rev, stackFile);
        if (text === undefined) return undefined;
        try {
            return StackText.parse({ stack, file, text });
        } catch (err) {
            if (err instanceof StackFileProblem) return undefined;
            throw err;
        }
    };
    const [before, after] = [await read(parent), await read(commit)];
    if (before === undefined || after === undefined) return forged(`${file} cannot be read before or after it`);
    if (before.model(model)?.version !== fromVersion)
        return forged(`${file} declared version ${before.model(model)?.version ?? "(none)"} of "${model}" before it, not ${fromVersion}`);
    const restored = after.model(model);
    if (restored?.version === undefined) return forged(`${file} declares no version of "${model}" after it`);
    let expected: string;
    try {
        expected = before.withDeclarationOf(model, after);
    } catch (err) {
        if (err instanceof StackFileProblem) return forged(err.message);
        throw err;
    }
    if (expected !== after.text) return forged(`it changes more of ${file} than the version and evidence of "${model}"`);

    for (const earlier of await repo.history(stackFile, parent)) {
        const then = (await read(earlier.sha))?.model(model);
        if (then !== undefined && then.version === restored.version && isDeepStrictEqual(then.promotion, restored.promotion)) {
            return { kind: "rollback", model, fromVersion, toVersion: restored.version, restoredFrom: earlier.sha };
        }
    }
    return forged(`no earlier revision of ${file} declares version ${restored.version} of "${model}" with the evidence it restores`);
}
