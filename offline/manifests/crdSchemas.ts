import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { FLAGGER_CRD } from "../../components/flagger";
import { loadKubernetesYaml } from "../../components/kubernetesYaml";
import { isRecord } from "./collect";

export { indentQuotedContinuations, loadKubernetesYaml } from "../../components/kubernetesYaml";

/**
 * Validators built from the `openAPIV3Schema` of CustomResourceDefinitions, checked the way the API
 * server and `kubectl apply` (strict field validation) check a custom resource. The CRDs are the
 * project's pinned copies (`components/flagger/crd.yaml`); `MLOPS_SCHEMAS_DIR` may name another
 * folder of CRD files instead (every `*.yaml` in it), for trying a newer upstream release.
 */

export const SCHEMAS_DIR_ENV = "MLOPS_SCHEMAS_DIR";

/** The folder of the pinned CRDs inside the repository. */
export const PINNED_SCHEMAS_DIR = path.dirname(FLAGGER_CRD.file);

/** `MLOPS_SCHEMAS_DIR` names a folder that is not there: a set-up problem, said in one line. */
export class SchemasFolderMissingError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "SchemasFolderMissingError";
    }
}

/** The folder of CRD schemas: `$MLOPS_SCHEMAS_DIR` when set, else the pinned copies in the repository. */
export function schemasDir(): string {
    const fromEnv = process.env[SCHEMAS_DIR_ENV];
    if (fromEnv === undefined || fromEnv === "") return PINNED_SCHEMAS_DIR;
    const dir = path.resolve(fromEnv);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new SchemasFolderMissingError(
            `schemas folder not found: ${dir} (from ${SCHEMAS_DIR_ENV}=${fromEnv}); it holds the CRDs that custom resources are validated against. ` +
                `Unset ${SCHEMAS_DIR_ENV} to use the pinned copies in ${path.relative(process.cwd(), PINNED_SCHEMAS_DIR) || "."}.`,
        );
    }
    return dir;
}

/** One served version of one CRD kind. */
export interface CrdValidator {
    /** Validates everything but `metadata`, which the API server checks as ObjectMeta. */
    validate(object: unknown): readonly ErrorObject[];
}

const loaded = new Map<string, ReadonlyMap<string, CrdValidator>>();

/** Validators by `<group>/<version> <Kind>` for every CRD in the folder's `*.yaml` files. */
export function crdValidators(dir: string): ReadonlyMap<string, CrdValidator> {
    const cached = loaded.get(dir);
    if (cached !== undefined) return cached;
    const ajv = newAjv();
    const validators = new Map<string, CrdValidator>();
    for (const file of fs
        .readdirSync(dir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()) {
        const documents = loadKubernetesYaml(fs.readFileSync(path.join(dir, file), "utf8"), file);
        for (const crd of documents) {
            if (!isRecord(crd) || crd["kind"] !== "CustomResourceDefinition" || !isRecord(crd["spec"])) continue;
            const spec = crd["spec"];
            const group = String(spec["group"]);
            const kind = String(isRecord(spec["names"]) ? spec["names"]["kind"] : "");
            for (const version of Array.isArray(spec["versions"]) ? spec["versions"] : []) {
                if (!isRecord(version) || !isRecord(version["schema"]) || !isRecord(version["schema"]["openAPIV3Schema"])) continue;
                const key = `${group}/${String(version["name"])} ${kind}`;
                const source = `${file} (${String(isRecord(crd["metadata"]) ? crd["metadata"]["name"] : kind)}, ${String(version["name"])})`;
                let compiled: ValidateFunction;
                try {
                    compiled = ajv.compile(toStrictJsonSchema(version["schema"]["openAPIV3Schema"], true));
                } catch (err) {
                    throw new Error(`${source}: cannot compile the openAPIV3Schema: ${(err as Error).message}`, { cause: err });
                }
                validators.set(key, {
                    validate(object) {
                        return compiled(object) ? [] : [...(compiled.errors ?? [])];
                    },
                });
            }
        }
    }
    loaded.set(dir, validators);
    return validators;
}

// Formats the API server validates (JSONSchemaProps.format: "Unknown formats are ignored. The
// following formats are validated: ..."). A CRD using one we cannot check must fail loudly here,
// not pass silently.
const SERVER_VALIDATED_FORMATS = new Set([
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "date-time",
]);
// RFC 3339 date-time, as Go's time.Parse(time.RFC3339) accepts it.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function newAjv(): Ajv {
    const ajv = new Ajv({
        allErrors: true,
        // An unknown keyword in a CRD is a surprise worth failing on; the rest of strict mode is
        // about schema style that upstream CRDs do not follow.
        strictSchema: true,
        strictTypes: false,
        strictTuples: false,
        strictRequired: false,
        validateFormats: true,
        // Formats this module does not know throw at compile time instead of being ignored.
        formats: {},
    });
    ajv.addVocabulary([
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
        "example",
        "externalDocs",
    ]);
    // Go decodes these into int32/int64 fields: a value out of range fails in the controller.
    ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n <= 2 ** 31 - 1 });
    ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
    ajv.addFormat("date-time", { type: "string", validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) });
    ajv.addFormat("datetime", { type: "string", validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) });
    return ajv;
}

/**
 * Rewrites a structural schema into JSON Schema that ajv checks as the API server would, plus
 * kubectl's strict field validation:
 * - `properties` without `x-kubernetes-preserve-unknown-fields` → `additionalProperties: false`
 *   (the server prunes unknown fields silently; strict validation rejects them);
 * - `x-kubernetes-int-or-string` → `anyOf: [integer, string]` when the schema gives no type;
 * - `nullable: true` → null allowed;
 * - formats the server ignores (`url`, `string`, …) are dropped; `int32`/`int64` kept as range checks.
 * `metadata` at the root is left to the ObjectMeta schema, as the server does.
 */
export function toStrictJsonSchema(schema: Record<string, unknown>, root = false): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(schema)) {
        if (key === "description" || key === "nullable") continue;
        if (key === "properties" && isRecord(value)) {
            out[key] = Object.fromEntries(
                Object.entries(value).map(([name, sub]) => [name, root && name === "metadata" ? {} : isRecord(sub) ? toStrictJsonSchema(sub) : sub]),
            );
        } else if ((key === "items" || key === "additionalProperties") && isRecord(value)) {
            out[key] = toStrictJsonSchema(value);
        } else if (key === "format" && typeof value === "string") {
            if (["int32", "int64"].includes(value) || SERVER_VALIDATED_FORMATS.has(value)) out[key] = value;
        } else {
            // anyOf/oneOf/allOf/not only constrain values in a structural schema: kept as they are.
            out[key] = value;
        }
    }
    const preserveUnknown = schema["x-kubernetes-preserve-unknown-fields"] === true;
    if (isRecord(schema["properties"]) && schema["additionalProperties"] === undefined && !preserveUnknown) {
        out["additionalProperties"] = false;
    }
    if (schema["x-kubernetes-int-or-string"] === true && schema["type"] === undefined && schema["anyOf"] === undefined && schema["allOf"] === undefined) {
        out["anyOf"] = [{ type: "integer" }, { type: "string" }];
    }
    if (schema["nullable"] === true && typeof schema["type"] === "string") {
        out["type"] = [schema["type"], "null"];
    }
    return out;
}
