import type { ErrorObject } from "ajv";

/**
 * Renders ajv's validation errors as the Pulumi CLI prints them. The CLI validates policy config
 * with github.com/xeipuuv/gojsonschema v1.2.0 (pulumi/pulumi pkg/resource/analyzer/config.go,
 * `validatePolicyConfig`), whose messages come from its `DefaultLocale` (locales.go) in the form
 * `ErrorFormat` = `{{.field}}: {{.description}}`, and the CLI trims a leading "(root): ".
 * Exact for the keywords policy config schemas use (type, enum, const, required, min/max,
 * lengths, pattern, items, properties); for anyOf/oneOf gojsonschema also lists the errors of the
 * closest branch, which is not reproduced here.
 */
export function gojsonschemaMessages(errors: readonly ErrorObject[]): string[] {
    // gojsonschema's validateRecursive returns right after an InvalidTypeError: nothing else is
    // reported for that value (ajv, with allErrors, goes on to check enum/const on it).
    const typeFailures = new Set(errors.filter((e) => e.keyword === "type").map((e) => e.instancePath));
    const lines: string[] = [];
    const allOfFailures = new Set<string>();
    for (const error of errors) {
        if (error.keyword !== "type" && typeFailures.has(error.instancePath)) continue;
        if (isInsideBranch(error.schemaPath)) continue;
        const allOf = /^(.*\/allOf)\/\d+\//.exec(error.schemaPath);
        if (allOf?.[1] !== undefined) allOfFailures.add(`${error.instancePath}\u0000${allOf[1]}`);
        lines.push(line(fieldOf(error.instancePath), describe(error)));
    }
    for (const failure of allOfFailures) {
        const [instancePath = ""] = failure.split("\u0000");
        lines.push(line(fieldOf(instancePath), "Must validate all the schemas (allOf)"));
    }
    return lines;
}

function line(field: string, description: string): string {
    const text = `${field}: ${description}`;
    return text.startsWith("(root): ") ? text.slice("(root): ".length) : text;
}

// Errors raised inside an anyOf/oneOf/contains/propertyNames branch: gojsonschema reports the
// combinator itself (and at most the best branch), so the branch's own errors are left out.
function isInsideBranch(schemaPath: string): boolean {
    return /\/(anyOf|oneOf)\/\d+\/|\/(contains|propertyNames)\//.test(schemaPath);
}

/** gojsonschema's `Field()`: the JSON context without "(root).", path segments joined by ".". */
function fieldOf(instancePath: string): string {
    if (instancePath === "") return "(root)";
    return instancePath
        .split("/")
        .slice(1)
        .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"))
        .join(".");
}

function describe(error: ErrorObject): string {
    const params = error.params as Record<string, unknown>;
    const field = fieldOf(error.instancePath);
    switch (error.keyword) {
        case "required":
            return `${String(params["missingProperty"])} is required`;
        case "type":
            return `Invalid type. Expected: ${expectedTypes(error.parentSchema?.["type"])}, given: ${givenType(error.data)}`;
        case "enum":
            return `${field} must be one of the following: ${(error.schema as unknown[]).map(goJson).join(", ")}`;
        case "const":
            return `${field} does not match: ${goJson(error.schema)}`;
        case "minLength":
            return `String length must be greater than or equal to ${goNumber(params["limit"])}`;
        case "maxLength":
            return `String length must be less than or equal to ${goNumber(params["limit"])}`;
        case "pattern":
            return `Does not match pattern '${String(params["pattern"])}'`;
        case "format":
            return `Does not match format '${String(params["format"])}'`;
        case "minimum":
            return `Must be greater than or equal to ${goNumber(params["limit"])}`;
        case "exclusiveMinimum":
            return `Must be greater than ${goNumber(params["limit"])}`;
        case "maximum":
            return `Must be less than or equal to ${goNumber(params["limit"])}`;
        case "exclusiveMaximum":
            return `Must be less than ${goNumber(params["limit"])}`;
        case "multipleOf":
            return `Must be a multiple of ${goNumber(params["multipleOf"])}`;
        case "minItems":
            return `Array must have at least ${goNumber(params["limit"])} items`;
        case "maxItems":
            return `Array must have at most ${goNumber(params["limit"])} items`;
        case "uniqueItems": {
            const [first, second] = [Number(params["i"]), Number(params["j"])].sort((a, b) => a - b);
            return `array items[${first},${second}] must be unique`;
        }
        case "minProperties":
            return `Must have at least ${goNumber(params["limit"])} properties`;
        case "maxProperties":
            return `Must have at most ${goNumber(params["limit"])} properties`;
        case "additionalProperties":
            return `Additional property ${String(params["additionalProperty"])} is not allowed`;
        case "propertyNames":
            return `Property name of "${String(params["propertyName"])}" does not match`;
        case "dependencies":
        case "dependentRequired":
            return `Has a dependency on ${String(params["missingProperty"])}`;
        case "anyOf":
            return "Must validate at least one schema (anyOf)";
        case "oneOf":
            return "Must validate one and only one schema (oneOf)";
        case "not":
            return "Must not validate the schema (not)";
        case "if":
            return params["failingKeyword"] === "else" ? `Must validate "else" as "if" was not valid` : `Must validate "then" as "if" was valid`;
        case "contains":
            return "At least one of the items must match";
        case "additionalItems":
            return "No additional items allowed on array";
        case "false schema":
            return "False always fails validation";
        default:
            return error.message ?? error.keyword;
    }
}

/** gojsonschema's `jsonSchemaType.String()`: one type by name, several as `[a,b]`. */
function expectedTypes(type: unknown): string {
    const types = Array.isArray(type) ? type.map(String) : [String(type)];
    return types.length > 1 ? `[${types.join(",")}]` : (types[0] ?? "undefined");
}

/** The type gojsonschema names for a value: whole numbers are "integer". */
function givenType(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "array";
    if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
    return typeof value;
}

/** Go's `json.Marshal`: map keys sorted, `<`, `>` and `&` escaped. */
export function goJson(value: unknown): string {
    const sorted = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(sorted);
        if (v !== null && typeof v === "object") {
            return Object.fromEntries(
                Object.keys(v)
                    .sort()
                    .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
            );
        }
        return v;
    };
    return (JSON.stringify(sorted(value)) ?? "null").replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

/** big.Float's `%v` (`Text('g', 10)`) agrees with JavaScript's number formatting for limits people write. */
function goNumber(value: unknown): string {
    return String(value);
}
