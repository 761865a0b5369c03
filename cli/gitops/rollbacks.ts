import type { ModelVersion } from "../../policies/mlflowRestClient";
import { type RollbackTag, rolledBackEnvironments } from "../../policies/registryContract";
import type { GitRepository } from "./git";

/**
 * What marks a version as rolled back, in git and in the registry. A rollback commit ends with the
 * trailers below (so git alone knows, whatever happened to the registry after it), and the
 * registry's `mlops.rolled_back.<env>` tag says the same to everyone who reads the registry.
 * `rollback` never returns to such a version; `promote` refuses it unless `--allow-rolled-back`
 * gives a reason, which its commit then carries.
 */

export const TRAILERS = {
    /** `Rolled-Back: <model> version <version>`, on a rollback commit. */
    rolledBack: "Rolled-Back",
    /** `Rollback-Reason: <text>`, on a rollback commit given `--reason`. */
    reason: "Rollback-Reason",
    /** `Allow-Rolled-Back: <text>`, on a promotion of a rolled-back version. */
    allowRolledBack: "Allow-Rolled-Back",
} as const;

/** A version that was rolled back, and one phrase that says where, when and why. */
export interface RolledBackVersion {
    readonly version: string;
    /** Where it was rolled back, when the registry says (git's record is of one stack file). */
    readonly environment?: string;
    readonly said: string;
    /** What git recorded, as the registry's rollback tag would say it (git's records only). */
    readonly record?: RollbackTag;
}

export function rolledBackTrailer(model: string, version: string): string {
    return `${TRAILERS.rolledBack}: ${model} version ${version}`;
}

/** A trailer value is one line. */
export function oneLine(text: string): string {
    return text.replace(/\s+/g, " ").trim();
}

/** The versions of `model` the rollback commits in the file's history moved away from, newest first. */
export async function rollbacksInHistory(repo: GitRepository, file: string, model: string): Promise<RolledBackVersion[]> {
    const found: RolledBackVersion[] = [];
    for (const commit of await repo.trailers(file)) {
        const reason = commit.trailers.find(([key]) => key === TRAILERS.reason)?.[1];
        for (const [key, value] of commit.trailers) {
            const match = key === TRAILERS.rolledBack ? /^(\S+) version (\S+)$/.exec(value) : null;
            if (match === null || match[1] !== model) continue;
            found.push({
                version: match[2] as string,
                said: `rolled back by commit ${commit.sha.slice(0, 12)} at ${commit.committedAt}${reason !== undefined ? ` (${JSON.stringify(reason)})` : ""}`,
                record: {
                    rolledBackAt: new Date(commit.committedAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
                    ...(reason !== undefined && { reason }),
                    commit: commit.sha,
                },
            });
        }
    }
    return found;
}

/** What a version's registry tags say of its rollbacks, one phrase per environment. */
export function rollbacksInRegistry(modelVersion: ModelVersion): RolledBackVersion[] {
    return rolledBackEnvironments(modelVersion.tags).map(({ environment, tag }) => ({
        version: modelVersion.version,
        environment,
        said:
            `rolled back in ${environment}` +
            `${tag === undefined ? "" : ` at ${tag.rolledBackAt}`}${tag?.reason !== undefined ? ` (${JSON.stringify(tag.reason)})` : ""}`,
    }));
}
