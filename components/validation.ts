/**
 * How a component says what is wrong with its args. Each component exports a `validate<Name>Args`
 * that returns every problem of its plain args without creating anything; its constructor throws
 * them before `super()`, and the program's stack validation (`infra/validation.ts`) runs the same
 * functions to report them under the stack keys the args came from, before any resource exists.
 */

/** One thing wrong with a component's args. */
export interface ArgProblem {
    /** The arg's path below the args object (`alerts.secretName`, `model.canary.mirror`); "" for the component's name. */
    readonly arg: string;
    /** What is wrong, naming the bad value: `must be one of "nginx", "istio", got "linkerd"`. */
    readonly message: string;
}

/** The sentence a user of the component reads: `meshProvider must be …`, or `the name must be …`. */
export function describeArgProblem(problem: ArgProblem): string {
    return `${problem.arg === "" ? "the name" : problem.arg} ${problem.message}`;
}

/** A component's refusal of its args: every problem, each naming the arg and its value. */
export class ComponentArgsError extends Error {
    constructor(
        readonly component: string,
        readonly resourceName: string,
        readonly problems: readonly ArgProblem[],
    ) {
        super(`${component} "${resourceName}": ${problems.map(describeArgProblem).join("; ")}`);
        this.name = "ComponentArgsError";
    }
}

/** Throws every problem at once, before the component registers anything. */
export function assertValidArgs(component: string, name: string, problems: readonly ArgProblem[]): void {
    if (problems.length > 0) throw new ComponentArgsError(component, name, problems);
}

/** A JSON rendering of a user's value for a message, cut at 80 characters. */
export function show(value: unknown): string {
    if (value === undefined) return "nothing";
    let text: string;
    try {
        text = JSON.stringify(value) ?? String(value);
    } catch {
        text = String(value);
    }
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
