import { readFileSync } from "node:fs";
import * as path from "node:path";

/**
 * checkov's findings over the preview's manifests, judged against the reviewed list of accepted
 * ones (.ci/checkov-accepted.json). `.ci/checkov.sh` runs checkov and then this; the judging is
 * here so that it is tested without checkov.
 *
 * Usage: checkovFindings <accepted.json> <stack>=<checkov report.json>...
 * Exit: 0 when every failed check is accepted, 1 when one is not, 2 on bad input.
 */

/** A failed check as checkov reports it (`--output json`, results.failed_checks[]). */
export interface Finding {
    readonly check: string;
    readonly name: string;
    /** `Kind.namespace.name` (checkov's resource id for a Kubernetes object). */
    readonly resource: string;
    readonly file: string;
}

/** One reviewed finding: a check on resources matching a pattern (`*` for any run of characters). */
export interface Accepted {
    readonly check: string;
    readonly resource: string;
    /** Stacks the acceptance holds in. @default every stack */
    readonly stacks?: readonly string[];
    /** Why the finding is accepted: what the platform does instead, or why it does not apply. */
    readonly reason: string;
}

export class FindingsInputError extends Error {}

/** The failed checks of one checkov JSON report (one framework: an object; several: a list). */
export function findingsOf(report: unknown): Finding[] {
    const runs = Array.isArray(report) ? report : [report];
    const findings: Finding[] = [];
    for (const run of runs) {
        const failed = (run as { results?: { failed_checks?: unknown } } | null)?.results?.failed_checks;
        if (run !== null && typeof run === "object" && "summary" in run && failed === undefined) continue;
        if (!Array.isArray(failed)) throw new FindingsInputError("not a checkov JSON report: no results.failed_checks");
        for (const f of failed as Record<string, unknown>[]) {
            findings.push({
                check: String(f["check_id"]),
                name: String(f["check_name"] ?? ""),
                resource: String(f["resource"]),
                file: path.basename(String(f["file_path"] ?? "")),
            });
        }
    }
    return findings;
}

/** The accepted list, each entry checked: a check id, a resource pattern and a reason. */
export function acceptedList(document: unknown): Accepted[] {
    const list = (document as { accepted?: unknown } | null)?.accepted;
    if (!Array.isArray(list)) throw new FindingsInputError('expected {"accepted": [...]}');
    return list.map((entry: Record<string, unknown>, i) => {
        const at = `accepted[${i}]`;
        if (typeof entry["check"] !== "string" || !/^CKV\d?_[A-Z0-9_]+$/.test(entry["check"]))
            throw new FindingsInputError(`${at}.check: expected a checkov check id such as "CKV_K8S_43", got ${JSON.stringify(entry["check"])}`);
        if (typeof entry["resource"] !== "string" || entry["resource"] === "")
            throw new FindingsInputError(`${at}.resource: expected a resource pattern such as "Deployment.models.*", got ${JSON.stringify(entry["resource"])}`);
        if (typeof entry["reason"] !== "string" || entry["reason"].trim().length < 20)
            throw new FindingsInputError(`${at}.reason: expected the reason it is accepted (a sentence), got ${JSON.stringify(entry["reason"])}`);
        const stacks = entry["stacks"];
        if (stacks !== undefined && !(Array.isArray(stacks) && stacks.every((s) => typeof s === "string")))
            throw new FindingsInputError(`${at}.stacks: expected a list of stack names`);
        return { check: entry["check"], resource: entry["resource"], reason: entry["reason"], ...(stacks !== undefined && { stacks: stacks as string[] }) };
    });
}

function matches(pattern: string, value: string): boolean {
    const regex = new RegExp(
        `^${pattern
            .split("*")
            .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
            .join(".*")}$`,
    );
    return regex.test(value);
}

export function isAccepted(finding: Finding, stack: string, accepted: readonly Accepted[]): boolean {
    return accepted.some((a) => a.check === finding.check && matches(a.resource, finding.resource) && (a.stacks === undefined || a.stacks.includes(stack)));
}

export interface Judgement {
    /** Findings nobody reviewed: each fails the check. */
    readonly unaccepted: readonly (Finding & { readonly stack: string })[];
    /** Accepted entries no finding needs any more: to be removed from the list. */
    readonly unused: readonly Accepted[];
}

export function judge(reports: readonly { readonly stack: string; readonly findings: readonly Finding[] }[], accepted: readonly Accepted[]): Judgement {
    const unaccepted = reports.flatMap(({ stack, findings }) => findings.filter((f) => !isAccepted(f, stack, accepted)).map((f) => ({ ...f, stack })));
    const unused = accepted.filter(
        (a) =>
            !reports.some(({ stack, findings }) =>
                findings.some((f) => a.check === f.check && matches(a.resource, f.resource) && (a.stacks === undefined || a.stacks.includes(stack))),
            ),
    );
    return { unaccepted, unused };
}

export function main(argv: readonly string[], out: (line: string) => void): number {
    try {
        const [acceptedFile, ...reportArgs] = argv;
        if (acceptedFile === undefined || reportArgs.length === 0)
            throw new FindingsInputError("usage: checkovFindings <accepted.json> <stack>=<report.json>...");
        const accepted = acceptedList(JSON.parse(readFileSync(acceptedFile, "utf8")));
        const reports = reportArgs.map((arg) => {
            const at = arg.indexOf("=");
            if (at < 1) throw new FindingsInputError(`expected <stack>=<report.json>, got ${JSON.stringify(arg)}`);
            return { stack: arg.slice(0, at), findings: findingsOf(JSON.parse(readFileSync(arg.slice(at + 1), "utf8"))) };
        });
        const { unaccepted, unused } = judge(reports, accepted);
        for (const r of reports)
            out(
                `checkov: ${r.stack}: ${r.findings.length} failed checks, ${r.findings.filter((f) => isAccepted(f, r.stack, accepted)).length} of them accepted`,
            );
        for (const a of unused) out(`checkov: accepted but no longer found (remove it from ${acceptedFile}): ${a.check} ${a.resource}`);
        for (const f of unaccepted)
            out(
                `checkov: new finding in ${f.stack}: ${f.check} ${f.name} — ${f.resource} (${f.file}); fix it, or accept it in ${acceptedFile} with its reason`,
            );
        return unaccepted.length === 0 ? 0 : 1;
    } catch (err) {
        if (err instanceof FindingsInputError || err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === "ENOENT") {
            out(`checkov: ${(err as Error).message}`);
            return 2;
        }
        throw err;
    }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2), (line) => console.log(line));
