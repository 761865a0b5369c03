/**
 * How the GitOps commands say no. A refusal is one line for a person (what was asked, and why not),
 * and an exit code for a pipeline: 2 when the request itself cannot be carried out as asked (an
 * unknown stack, model or version, a dirty stack file, a malformed file), 1 when the request is
 * well-formed but the promotion is not allowed or not proven (criteria, a skipped stage, a registry
 * that cannot be asked) or an effect failed.
 */

export type RefusalKind = "input" | "criteria" | "failure";

export const EXIT_CODES: Readonly<Record<RefusalKind, number>> = { input: 2, criteria: 1, failure: 1 };

export interface RefusalReason {
    readonly kind: RefusalKind;
    readonly message: string;
}

export class Refusal extends Error {
    readonly exitCode: number;

    /** @param subject what was asked, e.g. `promote fraud-detector version 9 to production` */
    constructor(
        readonly subject: string,
        readonly reasons: readonly RefusalReason[],
    ) {
        super(`refused to ${subject}: ${reasons.map((r) => r.message).join("; ")}`);
        this.name = "Refusal";
        // Bad input outranks unmet criteria: fixing the input comes first.
        this.exitCode = Math.max(...reasons.map((r) => EXIT_CODES[r.kind]));
    }

    static of(subject: string, kind: RefusalKind, message: string): Refusal {
        return new Refusal(subject, [{ kind, message }]);
    }
}

/** An error's message without a stack trace. */
export function messageOf(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}
