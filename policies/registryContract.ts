/**
 * The registry contract: what the promote CLI writes into the MLflow model registry, and what the
 * policy pack (`registry-evidence-matches`) reads back to confirm a declared promotion. Both sides
 * import this module, so the names below are the only place the contract is spelled out.
 *
 * When a model version is promoted into an environment (a commit that declares it in
 * `Pulumi.<env>.yaml`, applied and rolled out), the promote tool, for that environment:
 *
 * 1. points the environment's alias at the version: `environmentAlias("staging")` is `staging`,
 *    so `models:/fraud_detector@staging` names what staging serves (for people and notebooks;
 *    the platform itself always serves a pinned `models:/<name>/<version>`);
 * 2. tags the version `promotionTagKey(env)`, i.e. `mlops.promoted.staging`, with a
 *    `PromotionTag` as JSON: when, from which commit, approved by whom.
 *
 * A version counts as validated in an environment when it carries that environment's promotion
 * tag. A production declaration says `validatedIn: staging`; the policy pack then requires the
 * version to carry `mlops.promoted.staging` in the registry. Tags are never removed by a
 * rollback: they record history, and the alias records the present.
 *
 * MLflow's rules, checked against MLflow 3.17.2 (`mlflow.utils.validation`): alias names are
 * letters, digits, `_` and `-`, and neither `latest` nor `v<digits>` (reserved); model version tag
 * keys may contain dots (at most 250 characters).
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

/** The model version tag that records a promotion into (and so validation in) an environment. */
export function promotionTagKey(environment: string): string {
    return `${PROMOTION_TAG_PREFIX}${checkedEnvironment(environment)}`;
}

/** The value of a promotion tag, stored as JSON. */
export interface PromotionTag {
    /** ISO-8601 time of the promotion. */
    readonly promotedAt: string;
    /** The git commit that declared the version in the environment. */
    readonly commit?: string;
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
