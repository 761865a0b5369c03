import * as fs from "node:fs";
import Ajv, { type ValidateFunction } from "ajv";
import { gojsonschemaMessages, goJson } from "./schemaErrors";

/**
 * The policy-pack config rules of the Pulumi CLI, mirrored from pulumi/pulumi
 * pkg/resource/analyzer/config.go (`LoadPolicyPackConfigFromFile`, `parsePolicyPackConfig`,
 * `extractEnforcementLevel`, `createConfigWithDefaults`, `applyConfig`,
 * `ReconcilePolicyPackConfig`, `validatePolicyPackConfig`) and its caller
 * pkg/engine/update.go `installAndLoadPolicyPlugins`. Pure functions: the analyzer handle sends
 * their result with `Configure`.
 */

export const ENFORCEMENT_LEVELS = ["advisory", "mandatory", "remediate", "disabled"] as const;
export type EnforcementLevel = (typeof ENFORCEMENT_LEVELS)[number];

/** One policy's config as the CLI holds it: `""` is the CLI's "no level given". */
export interface PolicyConfig {
    readonly enforcementLevel: EnforcementLevel | "";
    readonly properties: Readonly<Record<string, unknown>> | undefined;
}

export type JsonSchema = Readonly<Record<string, unknown>>;

/** What reconciliation needs to know of a policy (from `GetAnalyzerInfo`). */
export interface PolicyConfigInfo {
    readonly name: string;
    readonly enforcementLevel: EnforcementLevel;
    /** With `enforcementLevel` already injected, as `analyzer.GetAnalyzerInfo` does when the pack supports config. */
    readonly configSchema?: { readonly properties: Readonly<Record<string, JsonSchema>>; readonly required: readonly string[] };
}

/** A config the CLI refuses; `errors` are the lines the CLI prints, one per problem. */
export class PolicyPackConfigError extends Error {
    constructor(readonly errors: readonly string[]) {
        super(errors.join("\n"));
        this.name = "PolicyPackConfigError";
    }
}

export function isEnforcementLevel(value: unknown): value is EnforcementLevel {
    return typeof value === "string" && (ENFORCEMENT_LEVELS as readonly string[]).includes(value);
}

/** `LoadPolicyPackConfigFromFile`: read errors surface as Go's `os.ReadFile` would word them. */
export function loadPolicyPackConfigFromFile(file: string): Map<string, PolicyConfig> | undefined {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const reason = code === "ENOENT" ? "no such file or directory" : code === "EISDIR" ? "is a directory" : String(err);
        throw new PolicyPackConfigError([`open ${file}: ${reason}`]);
    }
    return parsePolicyPackConfig(text);
}

/**
 * `parsePolicyPackConfig`: a JSON object of `policy name (or "all") → enforcement level string`
 * or `→ { enforcementLevel?, ...properties }`. Empty content means no config; empty entries are dropped.
 */
export function parsePolicyPackConfig(text: string): Map<string, PolicyConfig> | undefined {
    if (text.trim() === "") return undefined;
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (err) {
        // Go's encoding/json words syntax errors differently; the position is what helps.
        throw new PolicyPackConfigError([`invalid JSON in policy pack config: ${(err as Error).message}`]);
    }
    const result = new Map<string, PolicyConfig>();
    if (parsed === null) return result;
    if (typeof parsed !== "object" || Array.isArray(parsed)) {
        const kind = Array.isArray(parsed) ? "array" : typeof parsed === "boolean" ? "bool" : typeof parsed;
        throw new PolicyPackConfigError([`json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`]);
    }
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
        let enforcementLevel: EnforcementLevel | "";
        let properties: Record<string, unknown> | undefined;
        if (typeof value === "string") {
            if (!isEnforcementLevel(value)) {
                throw new PolicyPackConfigError([`parsing enforcement level for ${goQuote(key)}: ${goQuote(value)} is not a valid enforcement level`]);
            }
            enforcementLevel = value;
        } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
            const props = { ...(value as Record<string, unknown>) };
            try {
                enforcementLevel = extractEnforcementLevel(props);
            } catch (err) {
                throw new PolicyPackConfigError([`parsing enforcement level for ${goQuote(key)}: ${(err as Error).message}`]);
            }
            if (Object.keys(props).length > 0) properties = props;
        } else {
            throw new PolicyPackConfigError([`parsing ${goQuote(key)}: ${goValue(value)} is not a valid value; must be a string or object`]);
        }
        if (enforcementLevel === "" && properties === undefined) continue;
        result.set(key, { enforcementLevel, properties });
    }
    return result;
}

/** `extractEnforcementLevel`: validates and removes `enforcementLevel` from `props` (mutates, as Go does). */
export function extractEnforcementLevel(props: Record<string, unknown>): EnforcementLevel | "" {
    if (!Object.prototype.hasOwnProperty.call(props, "enforcementLevel")) return "";
    const level = props["enforcementLevel"];
    if (typeof level !== "string") throw new Error(`${goValue(level)} is not a valid enforcement level; must be a string`);
    if (!isEnforcementLevel(level)) throw new Error(`${goQuote(level)} is not a valid enforcement level`);
    delete props["enforcementLevel"];
    return level;
}

/**
 * `createConfigWithDefaults`: every policy gets an entry with its own enforcement level (the SDK
 * already folded the pack's level in) and the `default` of each TOP-LEVEL schema property.
 * Defaults inside nested object schemas are not applied: the CLI reads only
 * `ConfigSchema.Properties[k]["default"]`, and the @pulumi/policy SDK applies none at all.
 */
export function createConfigWithDefaults(policies: readonly PolicyConfigInfo[]): Map<string, PolicyConfig> {
    const result = new Map<string, PolicyConfig>();
    for (const policy of policies) {
        let properties: Record<string, unknown> | undefined;
        for (const [key, schema] of Object.entries(policy.configSchema?.properties ?? {})) {
            if (Object.prototype.hasOwnProperty.call(schema, "default")) {
                properties ??= {};
                properties[key] = structuredClone(schema["default"]);
            }
        }
        result.set(policy.name, { enforcementLevel: policy.enforcementLevel, properties });
    }
    return result;
}

/**
 * `applyConfig`: a valid `"all"` level first overrides every entry present, then each given entry
 * (including `"all"` itself and names the pack does not have) takes its level if valid and has its
 * properties merged in key by key (shallow: a given object replaces the default object whole).
 */
export function applyConfig(result: Map<string, PolicyConfig>, toApply: ReadonlyMap<string, PolicyConfig>): Map<string, PolicyConfig> {
    const all = toApply.get("all");
    if (all !== undefined && isEnforcementLevel(all.enforcementLevel)) {
        for (const [name, config] of result) result.set(name, { enforcementLevel: all.enforcementLevel, properties: config.properties });
    }
    for (const [name, given] of toApply) {
        const current = result.get(name);
        const enforcementLevel = isEnforcementLevel(given.enforcementLevel) ? given.enforcementLevel : (current?.enforcementLevel ?? "");
        let properties = current?.properties === undefined ? undefined : { ...current.properties };
        if (given.properties !== undefined && Object.keys(given.properties).length > 0) {
            properties = { ...(properties ?? {}), ...structuredClone(given.properties) };
        }
        result.set(name, { enforcementLevel, properties });
    }
    return result;
}

export type ReconcileResult =
    | { readonly config: Map<string, PolicyConfig>; readonly validationErrors?: undefined }
    | { readonly config?: undefined; readonly validationErrors: readonly string[] };

/** `ReconcilePolicyPackConfig`: defaults, then the pack's initial config, then the file; then validation. */
export function reconcilePolicyPackConfig(
    policies: readonly PolicyConfigInfo[],
    initialConfig: ReadonlyMap<string, PolicyConfig> | undefined,
    config: ReadonlyMap<string, PolicyConfig> | undefined,
): ReconcileResult {
    let result = createConfigWithDefaults(policies);
    if (initialConfig !== undefined) result = applyConfig(result, initialConfig);
    if (config !== undefined) result = applyConfig(result, config);
    const validationErrors = validatePolicyPackConfig(policies, result);
    return validationErrors.length > 0 ? { validationErrors } : { config: result };
}

/**
 * `validatePolicyPackConfig`: each policy with a schema is validated as
 * `{ type: object, properties, required }` (no `additionalProperties`: unknown keys pass);
 * each problem reads `<policy>: <gojsonschema message>`. Throws on an unusable schema.
 */
export function validatePolicyPackConfig(policies: readonly PolicyConfigInfo[], config: ReadonlyMap<string, PolicyConfig>): string[] {
    const errors: string[] = [];
    for (const policy of policies) {
        if (policy.configSchema === undefined) continue;
        const validate = compile(policy.configSchema);
        const props = config.get(policy.name)?.properties ?? {};
        if (!validate(props)) {
            for (const message of gojsonschemaMessages(validate.errors ?? [])) errors.push(`${policy.name}: ${message}`);
        }
    }
    return errors;
}

// One validator instance: compiled schemas are cached by ajv per schema object, ours by content.
const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, validateFormats: false, logger: false });
const compiled = new Map<string, ValidateFunction>();

function compile(schema: NonNullable<PolicyConfigInfo["configSchema"]>): ValidateFunction {
    // `convertSchema`: properties and required only when non-empty.
    const objectSchema: Record<string, unknown> = { type: "object" };
    if (Object.keys(schema.properties).length > 0) objectSchema["properties"] = schema.properties;
    if (schema.required.length > 0) objectSchema["required"] = schema.required;
    const key = JSON.stringify(objectSchema);
    let validate = compiled.get(key);
    if (validate === undefined) {
        validate = ajv.compile(objectSchema);
        compiled.set(key, validate);
    }
    return validate;
}

/** Go's `%q` for the strings config keys and levels are. */
function goQuote(value: string): string {
    return JSON.stringify(value);
}

/** Go's `%v` of a decoded JSON value. */
function goValue(value: unknown): string {
    if (value === null || value === undefined) return "<nil>";
    if (Array.isArray(value)) return `[${value.map(goValue).join(" ")}]`;
    if (typeof value === "object") {
        const entries = Object.keys(value)
            .sort()
            .map((k) => `${k}:${goValue((value as Record<string, unknown>)[k])}`);
        return `map[${entries.join(" ")}]`;
    }
    return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : goJson(value);
}
