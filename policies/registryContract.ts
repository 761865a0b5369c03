/**
 * The registry contract: what the GitOps tools write into the MLflow model registry, and what the
 * policy pack (`registry-evidence-matches`) and the next promotion read back. Both sides import this
 * module, so the names below are the only place the contract is spelled out.
 *
 * There is one registry for every environment (hosted by the production stack); each environment has
 * its own alias and its own tags on the same model versions:
 *
 * 1. `environmentAlias(env)`, i.e. `staging` or `production`: the version the environment serves
 *    (`models:/fraud_detector@production`, for people, notebooks and the champion comparison of a
 *    production promotion; the platform itself always serves a pinned `models:/<name>/<version>`).
 * 2. `promotionTagKey(env)`, i.e. `mlops.promoted.staging`: a commit declared the version in the
 *    environment (`PromotionTag` as JSON: when, which commit, who was asked to approve). Written by
 *    `promote` (staging) and by `sync-registry` from the declaration. It says nothing about the rollout.
 * 3. `validationTagKey(env)`, i.e. `mlops.validated.staging`: the version rolled out there
 *    successfully — its Flagger Canary Succeeded (an analysis ran and passed) and the primary serves
 *    it — as the ISO-8601 time that was established. Written only by `sync-registry --rolled-out`, which the deploy
 *    workflow runs after `wait-rollout`, and which re-reads the cluster itself; never by `promote`.
 *    A production declaration says `validatedIn: staging` and `validatedAt: <that time>`; promotion
 *    needs the tag and a soak time after it, and the policy pack checks the same tag.
 * 4. `rollbackTagKey(env)`, i.e. `mlops.rolled_back.production`: the version was rolled back in that
 *    environment (`RollbackTag` as JSON: when, why, by which commit, to which version). Written by
 *    `rollback`; `rollback` never returns to such a version and `promote` refuses it without
 *    `--allow-rolled-back "<reason>"`.
 *
 * Tags are never removed: they record history, and the aliases record the present.
 *
 * MLflow's rules, checked against MLflow 3.17.2 (`mlflow.utils.validation`): alias names are
 * letters, digits, `_` and `-`, and neither `latest` nor `v<digits>` (reserved); model version tag
 * keys may contain dots and underscores (at most 250 characters).
 */

/** Prefix of the tag that records a promotion into an environment. */
export const PROMOTION_TAG_PREFIX = "mlops.promoted.";

const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]*$/;

function checkedEnvironment(environment: string): string {
    if (!ENVIRONMENT_NAME.test(environment) || environment === "latest" || /^v\d+$/.test(environment)) {
        throw new Error(
            `registry contract: an environment name must be lower-case letters, digits and "-" (and not "latest" or "v<digits>"), got "${environment}"`,
        );
    }
    return environment;
}

/** The alias that points at the version an environment serves: the environment's name. */
export function environmentAlias(environment: string): string {
    return checkedEnvironment(environment);
}

/** The model version tag that records that a commit declared the version in an environment (not that it rolled out). */
export function promotionTagKey(environment: string): string {
    return `${PROMOTION_TAG_PREFIX}${checkedEnvironment(environment)}`;
}

/** The value of a promotion tag, stored as JSON. */
export interface PromotionTag {
    /** ISO-8601 time of the promotion. */
    readonly promotedAt: string;
    /** The git commit that declared the version in the environment. */
    readonly commit?: string;
    /** The approvers the declaration names (in production, those whose pull-request reviews approve it). */
    readonly approvedBy?: readonly string[];
}

export function formatPromotionTag(tag: PromotionTag): string {
    return JSON.stringify(tag);
}

/** A promotion tag's value, or `undefined` when it is not one (the tag's presence still records the promotion). */
export function parsePromotionTag(value: string): PromotionTag | undefined {
    try {
        const data = JSON.parse(value) as unknown;
        if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
        const record = data as Record<string, unknown>;
        if (typeof record["promotedAt"] !== "string") return undefined;
        const approvedBy = record["approvedBy"];
        return {
            promotedAt: record["promotedAt"],
            ...(typeof record["commit"] === "string" && { commit: record["commit"] }),
            ...(Array.isArray(approvedBy) && approvedBy.every((a) => typeof a === "string") && { approvedBy: approvedBy as string[] }),
        };
    } catch {
        return undefined;
    }
}

/** The environments a version's tags record promotions into, in tag order. */
export function promotedEnvironments(tags: Readonly<Record<string, string>>): string[] {
    return Object.keys(tags)
        .filter((key) => key.startsWith(PROMOTION_TAG_PREFIX))
        .map((key) => key.slice(PROMOTION_TAG_PREFIX.length));
}

/** Prefix of the tag that records a successful rollout in an environment. */
export const VALIDATION_TAG_PREFIX = "mlops.validated.";

/** The model version tag that records a successful rollout in (and so validation in) an environment. */
export function validationTagKey(environment: string): string {
    return `${VALIDATION_TAG_PREFIX}${checkedEnvironment(environment)}`;
}

/** A validation tag's value: the ISO-8601 time the rollout was established, to the second. */
export function formatValidationTag(at: Date): string {
    return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** When a validation tag says the rollout succeeded; `undefined` for a value that is no ISO-8601 time. */
export function parseValidationTag(value: string): Date | undefined {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
    const time = Date.parse(value);
    return Number.isNaN(time) ? undefined : new Date(time);
}

/** Prefix of the tag that records a rollback away from a version in an environment. */
export const ROLLBACK_TAG_PREFIX = "mlops.rolled_back.";

/** The model version tag that records that the version was rolled back in an environment. */
export function rollbackTagKey(environment: string): string {
    return `${ROLLBACK_TAG_PREFIX}${checkedEnvironment(environment)}`;
}

/** The value of a rollback tag, stored as JSON. */
export interface RollbackTag {
    /** ISO-8601 time of the rollback commit. */
    readonly rolledBackAt: string;
    /** Why, as given to `npm run rollback -- --reason`. */
    readonly reason?: string;
    /** The rollback commit. */
    readonly commit?: string;
    /** The version the environment went back to. */
    readonly restoredVersion?: string;
}

export function formatRollbackTag(tag: RollbackTag): string {
    return JSON.stringify(tag);
}

/** A rollback tag's value, or `undefined` when it is not one (the tag's presence still records the rollback). */
export function parseRollbackTag(value: string): RollbackTag | undefined {
    try {
        const data = JSON.parse(value) as unknown;
        if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
        const record = data as Record<string, unknown>;
        if (typeof record["rolledBackAt"] !== "string") return undefined;
        const text = (key: string) => (typeof record[key] === "string" ? { [key]: record[key] as string } : {});
        return { rolledBackAt: record["rolledBackAt"], ...text("reason"), ...text("commit"), ...text("restoredVersion") };
    } catch {
        return undefined;
    }
}

/** The environments a version's tags say it was rolled back in, with what each tag says. */
export function rolledBackEnvironments(tags: Readonly<Record<string, string>>): Array<{ readonly environment: string; readonly tag: RollbackTag | undefined }> {
    return Object.entries(tags)
        .filter(([key]) => key.startsWith(ROLLBACK_TAG_PREFIX))
        .map(([key, value]) => ({ environment: key.slice(ROLLBACK_TAG_PREFIX.length), tag: parseRollbackTag(value) }));
}
