import * as pulumi from "@pulumi/pulumi";

/** One thing wrong with a stack's configuration, located by its full key path. */
export interface ConfigProblem {
    /** Full key path as a user would write it: `mlops-platform:postgres.allocatedStorageGb`, `...models.fraud-detector.canary.stepWeights[2]`. */
    readonly path: string;
    /** What was expected and what was found: `expected an integer ≥ 20, got "lots"`. */
    readonly message: string;
}

/**
 * Every problem of a stack's configuration at once. It extends `RunError` so that `pulumi up`
 * prints the message without a stack trace: bad input is the user's to fix, not a crash.
 */
export class ConfigError extends pulumi.RunError {
    constructor(
        readonly problems: readonly ConfigProblem[],
        readonly source = "stack configuration",
    ) {
        super(`${source} has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n` + problems.map((p) => `  - ${formatProblem(p)}`).join("\n"));
        this.name = "ConfigError";
    }
}

export function formatProblem(problem: ConfigProblem): string {
    return `${problem.path}: ${problem.message}`;
}

/** Renders a user's value for an error message: JSON for data, `nothing` for a missing value, cut at 80 characters. */
export function showValue(value: unknown): string {
    if (value === undefined) return "nothing";
    // As YAML spells them; JSON would say null.
    if (typeof value === "number" && !Number.isFinite(value)) return Number.isNaN(value) ? ".nan" : value > 0 ? ".inf" : "-.inf";
    let text: string;
    try {
        text = JSON.stringify(value) ?? String(value);
    } catch {
        text = String(value);
    }
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Joins a key path the way users read it: dots between keys, `[i]` for list items. */
export function joinPath(root: string, segments: readonly PropertyKey[]): string {
    let path = root;
    for (const segment of segments) {
        if (typeof segment === "number") path += `[${segment}]`;
        else path += `.${String(segment)}`;
    }
    return path;
}
