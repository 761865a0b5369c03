import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import {
    type JudgedEvidence,
    modelPromotionEvidence,
    type PromotionEvidenceConfig,
    promotionCriteriaProblems,
    promotionEvidenceConfig,
} from "../../policies/promotion";

/**
 * An environment's promotion criteria, read from the same place the policy pack reads them — the
 * `model-promotion-evidence` section of `policies/config/<stack>.json` — and judged by the policy's
 * own function, so the promote command and `pulumi preview` can never disagree on the bar.
 */

export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";
const ENFORCEMENT_LEVELS: readonly string[] = ["advisory", "mandatory", "remediate", "disabled"];

export interface EnvironmentCriteria {
    /** The policy config file, relative to the project directory. */
    readonly file: string;
    /** As in the pack: mandatory (and remediate) blocks, advisory warns, disabled skips. */
    readonly enforcementLevel: EnforcementLevel;
    readonly config: PromotionEvidenceConfig;
}

export class CriteriaProblem extends Error {}

/** `policies/config/<stack>.json`, else `policies/config/<environment>.json`: the `--policy-pack-config` of the stack. */
export function criteriaFile(projectDir: string, stack: string, environment: string | undefined): string {
    const candidates = [stack, ...(environment !== undefined && environment !== stack ? [environment] : [])].map((name) =>
        path.join("policies", "config", `${name}.json`),
    );
    const found = candidates.find((file) => fs.existsSync(path.join(projectDir, file)));
    if (found === undefined) throw new CriteriaProblem(`no policy config for stack "${stack}" (looked for ${candidates.join(", ")})`);
    return found;
}

export function loadCriteria(projectDir: string, stack: string, environment: string | undefined): EnvironmentCriteria {
    const file = criteriaFile(projectDir, stack, environment);
    let data: unknown;
    try {
        data = JSON.parse(fs.readFileSync(path.join(projectDir, file), "utf8"));
    } catch (err) {
        throw new CriteriaProblem(`${file} is not readable JSON (${(err as Error).message})`);
    }
    return criteriaOf(data, file);
}

/** The criteria a policy config file sets, with the policy schema's defaults and the CLI's enforcement-level rules. */
export function criteriaOf(policyConfig: unknown, file: string): EnvironmentCriteria {
    if (!isRecord(policyConfig)) throw new CriteriaProblem(`${file} must be a JSON object of policy names to settings`);
    const name = modelPromotionEvidence.name;
    const entry = policyConfig[name];
    const all = policyConfig["all"];
    const defaultLevel = typeof all === "string" ? all : isRecord(all) ? all["enforcementLevel"] : undefined;
    let level: unknown = defaultLevel ?? "mandatory";
    let settings: Record<string, unknown> = {};
    if (typeof entry === "string") level = entry;
    else if (isRecord(entry)) {
        const { enforcementLevel, ...rest } = entry;
        if (enforcementLevel !== undefined) level = enforcementLevel;
        settings = rest;
    } else if (entry !== undefined) throw new CriteriaProblem(`${file}: "${name}" must be an enforcement level or an object of settings`);
    if (typeof level !== "string" || !ENFORCEMENT_LEVELS.includes(level)) {
        throw new CriteriaProblem(`${file}: "${name}" has enforcement level ${JSON.stringify(level)}; expected one of ${ENFORCEMENT_LEVELS.join(", ")}`);
    }
    // The policy's own schema: what `pulumi preview --policy-pack-config` would accept.
    const validate = new Ajv({ allErrors: true, strict: false }).compile({ type: "object", properties: modelPromotionEvidence.configSchema?.properties ?? {} });
    if (!validate(settings)) {
        const first = validate.errors?.[0];
        throw new CriteriaProblem(`${file}: "${name}"${first?.instancePath ?? ""} ${first?.message ?? "is invalid"}`);
    }
    return { file, enforcementLevel: level as EnforcementLevel, config: promotionEvidenceConfig(settings as Partial<PromotionEvidenceConfig>) };
}

export interface CriteriaVerdict {
    /** Problems that block the promotion. */
    readonly blocking: readonly string[];
    /** Problems reported but not blocking (an advisory policy). */
    readonly warnings: readonly string[];
}

/**
 * Judges evidence by the policy's own rules, at the policy's enforcement level. `skip` leaves out the
 * checks whose missing input the caller has already reported in its own terms.
 */
export function judge(
    criteria: EnvironmentCriteria,
    evidence: JudgedEvidence,
    skip: { readonly validation?: boolean; readonly champion?: boolean } = {},
): CriteriaVerdict {
    if (criteria.enforcementLevel === "disabled") return { blocking: [], warnings: [] };
    const problems = promotionCriteriaProblems(evidence, criteria.config, skip);
    return criteria.enforcementLevel === "advisory" ? { blocking: [], warnings: problems } : { blocking: problems, warnings: [] };
}

/** The metrics an environment judges a version by, in the order its config names them. */
export function judgedMetrics(config: PromotionEvidenceConfig): string[] {
    return [...new Set([...Object.keys(config.minMetrics), ...Object.keys(config.maxMetrics)])];
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
