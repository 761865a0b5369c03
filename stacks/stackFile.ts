import * as fs from "node:fs";
import * as path from "node:path";
import { type Document, LineCounter, parseDocument } from "yaml";
import { PROJECT } from "./config";
import { joinPath } from "./errors";

/** A stack file that cannot be read, with one line that says which file and why. */
export class StackFileError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StackFileError";
    }
}

/** The values of a stack file, in the form the Pulumi CLI hands a program. */
export interface StackConfigValues {
    /** `namespace:key` → value: scalars as text, mappings and lists as JSON text. */
    readonly values: Record<string, string>;
    /** Keys whose value is `secure:` in the file; they cannot be decrypted offline. */
    readonly secretKeys: string[];
}

/**
 * What one stack file may cost to read. A stack file is a few kilobytes; these bounds stop a file
 * that is not one — a YAML "billion laughs" of 446 bytes expands to gigabytes — before it is
 * expanded: a byte cap on the text, and a cap on alias references (the `yaml` package's
 * `maxAliasCount`, which counts each alias by the aliases it expands in turn).
 */
export const STACK_FILE_LIMITS = { maxBytes: 1024 * 1024, maxAliasCount: 100 } as const;

/** The project's stack names are the `Pulumi.<stack>.yaml` files next to `Pulumi.yaml`. */
export function stackFilePath(projectDir: string, stack: string): string {
    return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

export function listStacks(projectDir: string): string[] {
    return fs
        .readdirSync(projectDir)
        .map((file) => /^Pulumi\.([^.]+)\.yaml$/.exec(file)?.[1])
        .filter((stack): stack is string => stack !== undefined)
        .sort();
}

/**
 * Reads `Pulumi.<stack>.yaml` the way `pulumi up` does before it starts the program: keys without a
 * namespace belong to the project, scalars become text, mappings and lists become JSON text.
 */
export function readStackFile(file: string): StackConfigValues {
    let text: string;
    try {
        // The size is checked before the bytes are read: a stack file is never large.
        const size = fs.statSync(file).size;
        if (size > STACK_FILE_LIMITS.maxBytes) throw new StackFileError(stackFileTooLarge(file, size));
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        if (err instanceof StackFileError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        throw new StackFileError(code === "ENOENT" ? `${file}: no such stack file` : `${file}: cannot be read (${code ?? String(err)})`);
    }
    return parseStackFile(text, file);
}

/**
 * A stack file's text as a YAML document (with source ranges, for the GitOps editor) and as data,
 * within `STACK_FILE_LIMITS`. Every reader of stack files goes through here; each failure is one
 * `StackFileError` line naming the file.
 */
export function loadStackYaml(text: string, file: string): { readonly document: Document.Parsed; readonly data: unknown } {
    const size = Buffer.byteLength(text, "utf8");
    if (size > STACK_FILE_LIMITS.maxBytes) throw new StackFileError(stackFileTooLarge(file, size));
    const lineCounter = new LineCounter();
    // `merge`: Pulumi's YAML reader (go-yaml) honours `<<: *defaults`, so a stack file may use it.
    const document = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
    const error = document.errors[0];
    if (error !== undefined) {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        throw new StackFileError(`${file}: malformed YAML at line ${line}, column ${col}: ${error.message.split("\n")[0] ?? ""}`);
    }
    let data: unknown;
    try {
        data = document.toJS({ maxAliasCount: STACK_FILE_LIMITS.maxAliasCount });
    } catch (err) {
        if (err instanceof ReferenceError && /alias/i.test(err.message)) {
            throw new StackFileError(
                `${file}: refused: its aliases expand past the ${STACK_FILE_LIMITS.maxAliasCount} alias references a stack file may use (a YAML alias bomb?)`,
            );
        }
        throw new StackFileError(`${file}: malformed YAML: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { document, data };
}

export function parseStackFile(text: string, file: string): StackConfigValues {
    return stackValuesOf(loadStackYaml(text, file).data, file);
}

/** The config values of a stack file's data (`loadStackYaml`); a document without config has none, as with Pulumi. */
export function stackValuesOf(document: unknown, file: string): StackConfigValues {
    if (document === undefined || document === null) return { values: {}, secretKeys: [] };
    if (!isMapping(document)) throw new StackFileError(`${file}: expected a mapping at the top level, got ${kindOf(document)}`);
    const config = document["config"];
    if (config === undefined || config === null) return { values: {}, secretKeys: [] };
    if (!isMapping(config)) throw new StackFileError(`${file}: expected "config" to be a mapping of keys to values, got ${kindOf(config)}`);

    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    const notFinite: string[] = [];
    for (const [rawKey, value] of Object.entries(config)) {
        const key = rawKey.includes(":") ? rawKey : `${PROJECT}:${rawKey}`;
        notFinite.push(...nonFiniteNumbers(value, key, []));
        if (isSecure(value)) {
            secretKeys.push(key);
            values[key] = SECRET_PLACEHOLDER;
        } else if (hasSecureLeaf(value)) {
            // What `pulumi config set --secret --path` writes: the key is a secret, and each encrypted
            // leaf, which only the CLI can decrypt, stands in as the placeholder.
            secretKeys.push(key);
            values[key] = JSON.stringify(withPlaceholders(value));
        } else if (typeof value === "string") {
            values[key] = value;
        } else {
            values[key] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
        }
    }
    // JSON (the form Pulumi hands structured values over in) has no NaN or infinity: they would reach
    // the schema as null, and its message would name a value nobody wrote.
    if (notFinite.length > 0) throw new StackFileError(`${file}: ${notFinite.join("; ")}`);
    return { values, secretKeys };
}

/** What an encrypted value reads as offline, where nothing can decrypt it. */
export const SECRET_PLACEHOLDER = "[secret]";

function isSecure(value: unknown): boolean {
    return isMapping(value) && Object.keys(value).length === 1 && typeof value["secure"] === "string";
}

function hasSecureLeaf(value: unknown): boolean {
    if (isSecure(value)) return true;
    if (Array.isArray(value)) return value.some(hasSecureLeaf);
    return isMapping(value) && Object.values(value).some(hasSecureLeaf);
}

function withPlaceholders(value: unknown): unknown {
    if (isSecure(value)) return SECRET_PLACEHOLDER;
    if (Array.isArray(value)) return value.map(withPlaceholders);
    if (isMapping(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPlaceholders(v)]));
    return value;
}

/** `<key path>: got .nan, …` for each NaN or infinity in a value, as YAML spells them. */
function nonFiniteNumbers(value: unknown, root: string, at: readonly (string | number)[]): string[] {
    if (typeof value === "number" && !Number.isFinite(value)) {
        const spelled = Number.isNaN(value) ? ".nan" : value > 0 ? ".inf" : "-.inf";
        return [`${joinPath(root, at)}: got ${spelled}, a number a stack value cannot hold; write a finite number`];
    }
    if (Array.isArray(value)) return value.flatMap((item: unknown, index) => nonFiniteNumbers(item, root, [...at, index]));
    if (isMapping(value)) return Object.entries(value).flatMap(([key, item]) => nonFiniteNumbers(item, root, [...at, key]));
    return [];
}

/** Why a stack file of `size` bytes is not read. */
export function stackFileTooLarge(file: string, size: number): string {
    return `${file}: refused: ${size} bytes, more than the ${STACK_FILE_LIMITS.maxBytes} bytes a stack file may have`;
}

/** What a value is, for a message: "a list", "a string", … */
function kindOf(value: unknown): string {
    if (Array.isArray(value)) return "a list";
    if (value === null) return "null";
    return typeof value === "object" ? "a mapping" : `a ${typeof value}`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
