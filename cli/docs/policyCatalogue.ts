import * as fs from "node:fs";
import * as path from "node:path";
import type { Policies, PolicyConfigSchema } from "@pulumi/policy";
import { gpuBudgetPerCluster } from "../../policies/clusterGpu";
import { accessPolicies } from "../../policies/access";
import { gpuPolicies } from "../../policies/gpu";
import { promotionPolicies } from "../../policies/promotion";
import { securityPolicies } from "../../policies/security";

/**
 * The policy catalogue of the README, generated from the pack's own policies and the per-environment
 * `--policy-pack-config` files, so that a level or threshold is written down in exactly one place.
 */

const DOMAINS: ReadonlyArray<readonly [string, Policies]> = [
    ["GPU", [...gpuPolicies, gpuBudgetPerCluster]],
    ["Promotion", promotionPolicies],
    ["Security", securityPolicies],
    ["Access", accessPolicies],
];

/** The pack's own default level (policies/index.ts): a policy no config file names is mandatory. */
const PACK_LEVEL = "mandatory";

export interface CatalogueRow {
    readonly domain: string;
    readonly name: string;
    readonly description: string;
    readonly levels: Readonly<Record<string, string>>;
    /** Config keys with their value in each environment (the file's, else the schema default the CLI applies). */
    readonly configKeys: ReadonlyArray<{ readonly key: string; readonly values: Readonly<Record<string, unknown>> }>;
}

function levelIn(config: Record<string, unknown>, policy: string): string {
    const entry = config[policy] ?? config["all"];
    if (typeof entry === "string") return entry;
    if (typeof entry === "object" && entry !== null && typeof (entry as { enforcementLevel?: unknown }).enforcementLevel === "string") {
        return (entry as { enforcementLevel: string }).enforcementLevel;
    }
    return PACK_LEVEL;
}

function valueIn(config: Record<string, unknown>, policy: string, key: string): unknown {
    const entry = config[policy];
    return typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>)[key] : undefined;
}

export function catalogueRows(policyConfigDir: string, environments: readonly string[]): CatalogueRow[] {
    const configs = Object.fromEntries(
        environments.map((env) => [env, JSON.parse(fs.readFileSync(path.join(policyConfigDir, `${env}.json`), "utf8")) as Record<string, unknown>]),
    );
    return DOMAINS.flatMap(([domain, policies]) =>
        policies.map((policy) => {
            const schema: PolicyConfigSchema | undefined = policy.configSchema;
            return {
                domain,
                name: policy.name,
                description: policy.description,
                levels: Object.fromEntries(environments.map((env) => [env, levelIn(configs[env] ?? {}, policy.name)])),
                configKeys: Object.entries(schema?.properties ?? {}).map(([key, property]) => ({
                    key,
                    values: Object.fromEntries(
                        environments.map((env) => [env, valueIn(configs[env] ?? {}, policy.name, key) ?? (property as { default?: unknown }).default]),
                    ),
                })),
            };
        }),
    );
}

export function policyCatalogueMarkdown(policyConfigDir: string, environments: readonly string[]): string {
    const rows = catalogueRows(policyConfigDir, environments);
    const escape = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
    const lines = [
        `| domain | policy | what it checks | ${environments.join(" | ")} | config: ${environments.join(" / ")} |`,
        `|---|---|---|${environments.map(() => "---|").join("")}---|`,
    ];
    const show = (value: unknown) => `\`${JSON.stringify(value)}\``;
    for (const r of rows) {
        const keys =
            r.configKeys
                .map((k) => {
                    const values = environments.map((env) => k.values[env]);
                    const same = values.every((v) => JSON.stringify(v) === JSON.stringify(values[0]));
                    return `\`${k.key}\` ${same ? show(values[0]) : values.map(show).join(" / ")}`;
                })
                .join("<br>") || "—";
        lines.push(`| ${r.domain} | \`${r.name}\` | ${escape(r.description)} | ${environments.map((env) => r.levels[env]).join(" | ")} | ${escape(keys)} |`);
    }
    return lines.join("\n") + "\n";
}
