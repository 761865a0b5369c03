import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { PROJECT } from "./config";

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
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new StackFileError(code === "ENOENT" ? `${file}: no such stack file` : `${file}: cannot be read (${code ?? String(err)})`);
    }
    return parseStackFile(text, file);
}

export function parseStackFile(text: string, file: string): StackConfigValues {
    // js-yaml 5 refuses an input without a document; Pulumi treats such a stack file as empty.
    if (text.split("\n").every((line) => /^\s*(#.*)?$/.test(line))) return { values: {}, secretKeys: [] };
    let document: unknown;
    try {
        document = yaml.load(text, { filename: file });
    } catch (err) {
        const reason = err instanceof yaml.YAMLException ? err.reason : String(err);
        const mark = err instanceof yaml.YAMLException ? err.mark : undefined;
        const where = mark ? ` at line ${mark.line + 1}, column ${mark.column + 1}` : "";
        throw new StackFileError(`${file}: malformed YAML${where}: ${reason}`);
    }
    if (document === undefined || document === null) return { values: {}, secretKeys: [] };
    if (!isMapping(document)) throw new StackFileError(`${file}: expected a mapping at the top level, got ${typeof document}`);
    const config = document["config"];
    if (config === undefined || config === null) return { values: {}, secretKeys: [] };
    if (!isMapping(config)) throw new StackFileError(`${file}: expected "config" to be a mapping of keys to values`);

    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [rawKey, value] of Object.entries(config)) {
        const key = rawKey.includes(":") ? rawKey : `${PROJECT}:${rawKey}`;
        if (isMapping(value) && Object.keys(value).length === 1 && typeof value["secure"] === "string") {
            secretKeys.push(key);
            values[key] = "[secret]";
        } else if (typeof value === "string") {
            values[key] = value;
        } else {
            values[key] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
        }
    }
    return { values, secretKeys };
}

function isMapping(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
