import { UnknownValueError } from "@pulumi/policy";

/**
 * Resource properties as policies read them.
 *
 * During `pulumi preview` a property computed from another resource's output is unknown. The
 * analyzer hands properties over wrapped in a proxy that throws `UnknownValueError` when such a
 * value is read, and an uncaught throw turns the whole policy into an advisory "can't run during
 * preview" note. Policies here copy the properties first (`plain`), so that every unknown becomes
 * `UNKNOWN`, and then decide check by check whether an unknown passes or is reported.
 */

export const UNKNOWN: unique symbol = Symbol("unknown during preview");
export type Unknown = typeof UNKNOWN;

export type Value = null | boolean | number | string | Unknown | readonly Value[] | ValueRecord;
export interface ValueRecord {
    readonly [key: string]: Value;
}

// The engine's sentinels for unknown values of each type (pulumi sdk/go/common/resource/plugin/rpc.go,
// mirrored by @pulumi/policy's proxy). Unproxied wire values still carry them as plain strings.
const UNKNOWN_SENTINELS: ReadonlySet<string> = new Set([
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", // bool
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421", // number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", // string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2", // array
    "030794c1-ac77-496b-92df-f27374a8bd58", // asset
    "e48ece36-62e2-4504-bad9-02848725956a", // archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff", // object
]);

// A secret on the wire: { [SIG_KEY]: SECRET_SIG, value }. The analyzer unwraps secrets before a
// policy runs; values recorded off the wire may still carry the wrapper.
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** A deep copy of resource properties as plain data, with `UNKNOWN` wherever the value is not known yet. */
export function plain(value: unknown): Value {
    return copy(value) ?? null;
}

function copy(value: unknown): Value | undefined {
    if (value === UNKNOWN) return UNKNOWN;
    if (value === undefined) return undefined;
    if (value === null) return null;
    if (typeof value === "boolean" || typeof value === "number") return value;
    if (typeof value === "string") return UNKNOWN_SENTINELS.has(value) ? UNKNOWN : value;
    if (typeof value !== "object") return undefined;
    if (Array.isArray(value)) {
        const items: Value[] = [];
        const length = read(value, "length");
        if (length === UNKNOWN) return UNKNOWN;
        for (let i = 0; i < (typeof length === "number" ? length : 0); i++) items.push(copy(read(value, i)) ?? null);
        return items;
    }
    if (read(value, SIG_KEY) === SECRET_SIG) return copy(read(value, "value"));
    const record: Record<string, Value> = {};
    for (const key of Object.keys(value)) {
        const item = copy(read(value, key));
        if (item !== undefined) record[key] = item;
    }
    return record;
}

function read(container: object, key: string | number): unknown {
    try {
        return (container as Record<string | number, unknown>)[key];
    } catch (err) {
        if (err instanceof UnknownValueError) return UNKNOWN;
        throw err;
    }
}

export function isUnknown(value: unknown): value is Unknown {
    return value === UNKNOWN;
}

export function isRecord(value: Value | undefined): value is ValueRecord {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at a path; `UNKNOWN` as soon as a step is unknown, `undefined` when a step is missing. */
export function field(value: Value | undefined, ...path: readonly (string | number)[]): Value | undefined {
    let current: Value | undefined = value;
    for (const step of path) {
        if (current === UNKNOWN) return UNKNOWN;
        if (Array.isArray(current) && typeof step === "number") current = (current as readonly Value[])[step];
        else if (isRecord(current) && typeof step === "string") current = Object.prototype.hasOwnProperty.call(current, step) ? current[step] : undefined;
        else return undefined;
    }
    return current;
}

export function asList(value: Value | undefined): readonly Value[] | undefined {
    return Array.isArray(value) ? (value as readonly Value[]) : undefined;
}

export function asString(value: Value | undefined): string | undefined {
    return typeof value === "string" ? value : undefined;
}

/** A number, or a string holding only a number (Kubernetes quantities and int-or-string fields arrive either way). */
export function asNumber(value: Value | undefined): number | undefined {
    if (typeof value === "number") return value;
    if (typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
    return undefined;
}

/** The string entries of a string map (labels, annotations, node selectors); unknown or odd entries are left out. */
export function stringEntries(value: Value | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    if (!isRecord(value)) return out;
    for (const [key, item] of Object.entries(value)) if (typeof item === "string") out[key] = item;
    return out;
}

/** Renders a value for a violation message: JSON for data, `nothing` when missing, cut at 80 characters. */
export function showValue(value: Value | undefined): string {
    if (value === undefined) return "nothing";
    if (value === UNKNOWN) return "a value unknown during preview";
    const text = JSON.stringify(value, (_key, item: unknown) => (item === UNKNOWN ? "<unknown>" : item)) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
