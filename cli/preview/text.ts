import * as path from "node:path";
import { foldGroups } from "./components";
import { clusterLines } from "./clusters";
import type { QualitySignal } from "../../components/modelServing/telemetry";
import type { ModelSummary, PolicyViolation, PreviewReport } from "./report";

/** The report for a person at a terminal: what would be created, then what the policies think of it. */

/** Components of one type beyond this many are summed into one row (a stack of 300 models stays readable). */
export const FOLD_LIMIT = 8;

export function renderText(report: PreviewReport, cwd: string = process.cwd()): string {
    const out: string[] = [];
    const show = (file: string) => displayPath(file, cwd);
    const { inputs } = report;

    out.push(`Offline preview of stack "${report.stack}" (environment ${report.environment}): no cloud, no Pulumi CLI`);
    out.push(
        ...table([
            ["  stack file", show(inputs.stackFile)],
            [
                "  policy pack",
                `${inputs.policyPack.name} ${inputs.policyPack.version} (${inputs.policyPack.policies} policies), config ${show(inputs.policyConfigFile)}`,
            ],
            [
                "  registry",
                inputs.registry.checked
                    ? `evidence cross-checked against ${inputs.registry.uri} (from ${inputs.registry.source}, ${inputs.registry.enforcementLevel})`
                    : `not cross-checked (${inputs.registry.reason}); to cross-check, ${inputs.registry.howToRun}`,
            ],
        ]),
    );
    for (const warning of report.warnings) out.push(`  warning: ${warning}`);
    if (report.policies.unknownPolicies.length > 0) {
        out.push(
            `  warning: the policy config names ${report.policies.unknownPolicies.map((p) => `"${p}"`).join(", ")}, which the pack does not have; they configure nothing`,
        );
    }

    out.push("", `Resources: ${report.resources.total}, by component and type`);
    const rows: string[][] = [];
    for (const group of foldGroups(report.resources.byComponent, FOLD_LIMIT)) {
        const name = group.range === undefined ? group.component.name : `× ${group.folded} (${group.range[0]} … ${group.range[1]})`;
        rows.push([`  ${shortType(group.component.type)} ${name}`, String(group.resources)]);
        for (const { type, count } of group.byType) rows.push([`      ${type}`, String(count)]);
    }
    out.push(...table(rows, [false, true]));

    out.push("", `Models: ${report.models.length}`);
    for (const model of report.models) out.push(...modelLines(model));
    if (report.models.length === 0) out.push("  (none declared)");
    if (report.clusters !== undefined) out.push("", ...clusterLines(report.clusters));

    const gpu = report.gpu;
    const over = gpu.withinBudget ? "" : gpu.unbounded.length > 0 ? ", some workloads unbounded" : ", OVER BUDGET";
    out.push("", `GPUs at maximum scale: ${gpu.totalAtMaxScale} of ${gpu.budget} ${gpu.resourceName} (gpu-budget, ${gpu.enforcementLevel}${over})`);
    for (const c of gpu.contributions) out.push(`  ${c.line}`);
    for (const u of gpu.unbounded) out.push(`  ${u.workload}: cannot be bounded: ${u.reason}`);

    const { counts } = report.policies;
    out.push("", `Policy results: ${counts.mandatory} mandatory, ${counts.advisory} advisory`);
    out.push(...violationLines("mandatory", report.policies.mandatory), ...violationLines("advisory", report.policies.advisory));

    const m = report.manifests;
    out.push(
        "",
        `Manifests: ${m.files.length} files in ${show(m.outDir)}, ${m.invalid.length === 0 ? "all valid against their schemas" : `${m.invalid.length} invalid`}`,
    );
    for (const problem of m.invalid) out.push(`  invalid: ${problem.line}`);
    if (m.releases.length > 0) {
        out.push("  installed by releases and packages (their objects are not rendered here):");
        for (const r of m.releases) out.push(`    ${releaseText(r)}`);
    }

    out.push("", resultLine(report));
    return `${out.join("\n")}\n`;
}

export function resultLine(report: PreviewReport): string {
    if (report.outcome === "clean") return `Result: clean (exit 0)`;
    const parts = [
        report.policies.counts.mandatory > 0 ? plural(report.policies.counts.mandatory, "mandatory policy violation") : "",
        report.manifests.invalid.length > 0 ? plural(report.manifests.invalid.length, "invalid manifest") : "",
    ].filter((p) => p !== "");
    return `Result: FAILED: ${parts.join(", ")} (exit 1)`;
}

export function canaryText(canary: ModelSummary["canary"]): string {
    const rollout =
        canary.strategy === "abTesting" && canary.abTesting !== undefined
            ? `A/B on ${canary.abTesting.header}: ${canary.abTesting.value}, ${canary.abTesting.iterations} runs`
            : `steps ${canary.stepWeights.map((w) => `${w}%`).join(" → ")}`;
    const checks = [
        `every ${canary.interval}`,
        `success ≥ ${canary.minSuccessRate}%`,
        `p99 ≤ ${canary.maxLatencyMs} ms`,
        ...(canary.quality.minAccuracy !== undefined ? [`accuracy ≥ ${canary.quality.minAccuracy}`] : []),
        ...(canary.quality.maxDriftScore !== undefined ? [`drift ≤ ${canary.quality.maxDriftScore}`] : []),
        ...(canary.quality.minConfidence !== undefined ? [`confidence ≥ ${canary.quality.minConfidence}`] : []),
        `rollback after ${canary.threshold} failed checks`,
        ...(canary.mirrorWeight !== undefined ? [`mirroring ${canary.mirrorWeight}%`] : []),
        canary.loadTestRps !== undefined ? `load test ${canary.loadTestRps} rps` : "no load test",
    ];
    return `${rollout}, ${checks.join(", ")}`;
}

/** One quality signal: which checks read it, and where its values come from (or why there are none). */
export function qualityText(signal: QualitySignal): string {
    if (!signal.published) return `${signal.signal}: ${signal.source}`;
    const checks = [
        signal.canaryCheck !== undefined ? `rollout ${signal.canaryCheck}` : "not checked in rollouts",
        signal.watched !== undefined ? `after rollout ${signal.watched}` : "not watched after rollout",
    ];
    return `${signal.signal}: ${checks.join("; ")}; from ${signal.source}`;
}

function modelLines(model: ModelSummary): string[] {
    const r = model.resources;
    const lines = [
        `  ${model.name}: ${model.registeredModel} version ${model.version}, replicas ${model.replicas.min}–${model.replicas.max}, cpu ${r.cpu}, memory ${r.memory}, gpu ${r.gpu}` +
            (model.gpusAtMaxScale > 0 ? ` (${model.gpusAtMaxScale} at max scale)` : ""),
        `      canary: ${canaryText(model.canary)}`,
        `      quality (${model.telemetry.outputs}, scraped by ${model.telemetry.scrapedBy === "PodMonitor" ? "a PodMonitor" : "prometheus.io annotations"}):`,
        ...model.telemetry.signals.map((signal) => `        ${qualityText(signal)}`),
    ];
    const p = model.promotion;
    if (p !== undefined) {
        const approvals = p.approvedBy.length === 0 ? "no approvals" : `approved by ${p.approvedBy.join(", ")}`;
        lines.push(`      evidence: run ${p.runId}${p.validatedIn === undefined ? "" : `, validated in ${p.validatedIn}`}, ${approvals}`);
    } else {
        lines.push("      evidence: none declared");
    }
    return lines;
}

function violationLines(level: string, violations: readonly PolicyViolation[]): string[] {
    if (violations.length === 0) return [`  ${level}: none`];
    const lines = [`  ${level}:`];
    for (const v of violations) {
        lines.push(`    ${v.policy}: ${v.resource.name} (${v.resource.type})`);
        for (const line of (v.message === "" ? v.description : v.message).split("\n")) lines.push(`        ${line}`);
    }
    return lines;
}

function releaseText(r: PreviewReport["manifests"]["releases"][number]): string {
    if (r.what === "helm-release")
        return `Helm release ${r.name}: chart ${r.chart ?? "?"} ${r.version ?? ""}${r.repository === undefined ? "" : ` from ${r.repository}`}${r.namespace === undefined ? "" : ` in ${r.namespace}`}`;
    return `${r.what === "patch" ? "patch" : "package"} ${r.name} (${r.type})`;
}

/** `mlops:serving:ModelServing` → `ModelServing`. */
export function shortType(type: string): string {
    return type.split(":").pop() ?? type;
}

export function plural(count: number, noun: string): string {
    return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** Relative to the working directory when inside it, else absolute. */
export function displayPath(file: string, cwd: string): string {
    const relative = path.relative(cwd, file);
    return relative === "" ? "." : relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

/** Left-aligned columns; `numeric[i]` right-aligns column i. */
function table(rows: readonly (readonly string[])[], numeric: readonly boolean[] = []): string[] {
    const widths: number[] = [];
    for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
    return rows.map((row) =>
        row
            .map((cell, i) => {
                const pad = " ".repeat((widths[i] ?? 0) - [...cell].length);
                if (i === row.length - 1 && numeric[i] !== true) return cell;
                return numeric[i] === true ? pad + cell : cell + pad;
            })
            .join("  ")
            .trimEnd(),
    );
}
