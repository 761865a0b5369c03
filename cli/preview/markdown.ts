import { clusterMarkdown } from "./clusters";
import { type ComponentNode, foldGroups } from "./components";
import type { PolicyViolation, PreviewReport } from "./report";
import { canaryText, displayPath, FOLD_LIMIT, plural, qualityText, resultLine, shortType } from "./text";

/**
 * The report as a pull-request comment (GitHub-flavoured Markdown): the verdict first, then the
 * policy results, models, GPU budget, a Mermaid flowchart of the component tree, and the details
 * folded away.
 */

/** Siblings of one type beyond this many are drawn as one node, so a stack of 300 models stays readable. */
export const MERMAID_SIBLING_LIMIT = 8;

export function renderMarkdown(report: PreviewReport, repositoryRoot: string): string {
    const show = (file: string) => displayPath(file, repositoryRoot);
    const out: string[] = [];
    const icon = report.outcome === "clean" ? "✅" : "❌";
    out.push(`## ${icon} Offline preview of \`${report.stack}\``, "");
    out.push(
        `**${resultLine(report).replace(/^Result: /, "")}** · environment \`${report.environment}\` · ${report.resources.total} resources · ` +
            `${report.manifests.files.length} manifests · policy pack \`${report.inputs.policyPack.name}\` ${report.inputs.policyPack.version} ` +
            `with \`${show(report.inputs.policyConfigFile)}\``,
        "",
    );
    const registry = report.inputs.registry;
    out.push(
        registry.checked
            ? `> Declared evidence cross-checked against the MLflow registry at ${registry.uri} (${registry.enforcementLevel}).`
            : `> **Registry cross-check did not run:** ${escapeHtml(registry.reason)}. To cross-check, pass \`--registry <url>\` or set \`MLFLOW_TRACKING_URI\`.`,
        "",
    );
    for (const warning of report.warnings) out.push(`> **Warning:** ${escapeHtml(warning)}`, "");
    if (report.policies.unknownPolicies.length > 0) {
        out.push(
            `> **Warning:** the policy config names ${report.policies.unknownPolicies.map((p) => `\`${p}\``).join(", ")}, which the pack does not have.`,
            "",
        );
    }

    const { counts } = report.policies;
    out.push(`### Policy results: ${counts.mandatory} mandatory, ${counts.advisory} advisory`, "");
    const all = [...report.policies.mandatory, ...report.policies.advisory];
    if (all.length === 0) {
        out.push("No policy violations.", "");
    } else {
        out.push("| Level | Policy | Resource | Violation |", "|---|---|---|---|");
        for (const v of all)
            out.push(`| ${v.enforcementLevel} | \`${v.policy}\` | ${resourceCell(v)} | ${cell(v.message === "" ? v.description : v.message)} |`);
        out.push("");
    }

    if (report.manifests.invalid.length > 0) {
        out.push(`### Invalid manifests: ${report.manifests.invalid.length}`, "");
        for (const problem of report.manifests.invalid) out.push(`- ${inlineCode(problem.line)}`);
        out.push("");
    }

    out.push(`### Models: ${report.models.length}`, "");
    if (report.models.length > 0) {
        out.push(
            "| Model | Registered model | Version | Replicas | Per pod | GPUs at max scale | Canary | Live quality |",
            "|---|---|---|---|---|---|---|---|",
        );
        for (const m of report.models) {
            const perPod = `${m.resources.cpu} CPU, ${m.resources.memory}${m.resources.gpu > 0 ? `, ${m.resources.gpu} GPU` : ""}`;
            const quality = [`${m.telemetry.outputs}, scraped by ${m.telemetry.scrapedBy}`, ...m.telemetry.signals.map(qualityText)].join("\n");
            out.push(
                `| \`${m.name}\` | \`${m.registeredModel}\` | ${m.version} | ${m.replicas.min}–${m.replicas.max} | ${perPod} | ${m.gpusAtMaxScale} | ${cell(canaryText(m.canary))} | ${cell(quality)} |`,
            );
        }
        out.push("");
    }

    if (report.clusters !== undefined) out.push(...clusterMarkdown(report.clusters));

    const gpu = report.gpu;
    out.push(`### GPUs at maximum scale: ${gpu.totalAtMaxScale} of ${gpu.budget}`, "");
    out.push(`\`${gpu.resourceName}\`, budget from \`gpu-budget\` (${gpu.enforcementLevel}); a Flagger analysis runs primary and canary side by side.`, "");
    for (const c of gpu.contributions) out.push(`- ${cell(c.line)}`);
    for (const u of gpu.unbounded) out.push(`- ${cell(`${u.workload}: cannot be bounded: ${u.reason}`)}`);
    if (gpu.contributions.length + gpu.unbounded.length > 0) out.push("");

    out.push("### Component tree", "", "```mermaid", ...mermaidFlowchart(report.resources.tree), "```", "");

    out.push(`<details><summary>Resources by component and type (${report.resources.total})</summary>`, "");
    out.push("| Component | Type | Count |", "|---|---|---:|");
    for (const group of foldGroups(report.resources.byComponent, FOLD_LIMIT)) {
        const name = `${shortType(group.component.type)} ${group.range === undefined ? `\`${group.component.name}\`` : `× ${group.folded} (\`${group.range[0]}\` … \`${group.range[1]}\`)`}`;
        group.byType.forEach(({ type, count }, i) => out.push(`| ${i === 0 ? name : ""} | \`${type}\` | ${count} |`));
    }
    out.push("", "</details>", "");

    out.push(`<details><summary>Manifests: ${report.manifests.files.length} files in <code>${escapeHtml(show(report.manifests.outDir))}</code></summary>`, "");
    for (const file of report.manifests.files) out.push(`- \`${file}\``);
    if (report.manifests.releases.length > 0) {
        out.push("", "Installed by releases and packages (not rendered):", "");
        for (const r of report.manifests.releases) out.push(`- \`${r.name}\` (${r.what}${r.chart === undefined ? "" : `: ${r.chart} ${r.version ?? ""}`})`);
    }
    out.push("", "</details>", "");
    return out.join("\n");
}

/** `flowchart LR` of the stack's components; runs of more than `MERMAID_SIBLING_LIMIT` siblings of one type are folded into one node. */
export function mermaidFlowchart(tree: ComponentNode): string[] {
    const lines = ["flowchart LR"];
    let next = 0;
    const node = (...label: string[]): string => {
        const id = `n${next++}`;
        lines.push(`    ${id}["${label.map(mermaidText).join("<br/>")}"]`);
        return id;
    };
    const visit = (component: ComponentNode, id: string): void => {
        const byType = new Map<string, ComponentNode[]>();
        for (const child of component.children) {
            const list = byType.get(child.type) ?? [];
            list.push(child);
            byType.set(child.type, list);
        }
        for (const [type, siblings] of byType) {
            if (siblings.length > MERMAID_SIBLING_LIMIT) {
                const total = siblings.reduce((sum, s) => sum + s.resources, 0);
                const folded = node(
                    `${shortType(type)} × ${siblings.length}`,
                    `${siblings[0]?.name} … ${siblings[siblings.length - 1]?.name}`,
                    plural(total, "resource"),
                );
                lines.push(`    ${id} --> ${folded}`);
                continue;
            }
            for (const child of siblings) {
                const childId = node(shortType(child.type), child.name, plural(child.resources, "resource"));
                lines.push(`    ${id} --> ${childId}`);
                visit(child, childId);
            }
        }
    };
    visit(tree, node("Stack", tree.name, plural(tree.resources, "resource")));
    return lines;
}

/** Mermaid labels take entity codes for the characters that would end or confuse them. */
function mermaidText(text: string): string {
    return text.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
}

function resourceCell(v: PolicyViolation): string {
    return `\`${v.resource.name}\` (\`${v.resource.type}\`)`;
}

/** Text for a table cell: pipes escaped, lines joined with <br>. */
function cell(text: string): string {
    return escapeHtml(text).replace(/\|/g, "\\|").replace(/\n/g, "<br>");
}

function inlineCode(text: string): string {
    const ticks = text.includes("`") ? "``" : "`";
    return `${ticks}${text}${ticks}`;
}

function escapeHtml(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
