import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Policy } from "@pulumi/policy";
import Ajv from "ajv";
import * as ts from "typescript";
import { ANNOTATIONS, LABELS } from "../../components/labels";
import { ALL_POLICIES } from "../../policies/catalog";
import { MODEL_LABELS, PROMOTION_ANNOTATION } from "../../policies/models";
import { RATIO_METRICS as POLICY_RATIO_METRICS } from "../../policies/promotion";
import { parsePlatformConfig, RATIO_METRICS as STACK_RATIO_METRICS, readStackFile, stackFilePath } from "../../stacks";

const ROOT = path.resolve(__dirname, "..", "..");
const ENVIRONMENTS = ["staging", "production"] as const;
const ENFORCEMENT_LEVELS = ["advisory", "mandatory", "remediate", "disabled"];

/** Each configurable policy and the typed interface that documents its config. */
const CONFIG_INTERFACES: Readonly<Record<string, { readonly file: string; readonly configInterface: string }>> = {
    "gpu-limit-per-container": { file: "policies/gpu.ts", configInterface: "GpuLimitConfig" },
    "gpu-requests-equal-limits": { file: "policies/gpu.ts", configInterface: "GpuRequestsConfig" },
    "gpu-node-placement": { file: "policies/gpu.ts", configInterface: "GpuPlacementConfig" },
    "gpu-budget": { file: "policies/gpu.ts", configInterface: "GpuBudgetConfig" },
    "gpu-budget-per-cluster": { file: "policies/clusterGpu.ts", configInterface: "ClusterGpuBudgetConfig" },
    "model-promotion-evidence": { file: "policies/promotion.ts", configInterface: "PromotionEvidenceConfig" },
    "registry-evidence-matches": { file: "policies/registryEvidence.ts", configInterface: "RegistryEvidenceConfig" },
    "model-canary-analysis": { file: "policies/promotion.ts", configInterface: "CanaryAnalysisConfig" },
    "rds-resilience": { file: "policies/security.ts", configInterface: "RdsResilienceConfig" },
    "pod-security-restricted": { file: "policies/security.ts", configInterface: "PodSecurityConfig" },
    "no-plaintext-secrets": { file: "policies/security.ts", configInterface: "PlaintextSecretsConfig" },
    "mlflow-authentication": { file: "policies/access.ts", configInterface: "MlflowAuthenticationConfig" },
    "images-pinned": { file: "policies/security.ts", configInterface: "ImagesPinnedConfig" },
};

interface DocumentedProperty {
    readonly optional: boolean;
    /** The JSDoc `@default`, parsed as JSON; `undefined` when the property documents none. */
    readonly documentedDefault: unknown;
    readonly defaultText: string | undefined;
}

/** The properties of an exported interface, with their JSDoc `@default`s, read with the TypeScript compiler. */
function documentedProperties(file: string, name: string): Map<string, DocumentedProperty> {
    const source = ts.createSourceFile(file, readFileSync(path.join(ROOT, file), "utf8"), ts.ScriptTarget.Latest, true);
    const declaration = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
    if (declaration === undefined) throw new Error(`${file} declares no interface ${name}`);
    const properties = new Map<string, DocumentedProperty>();
    for (const member of declaration.members) {
        if (!ts.isPropertySignature(member)) continue;
        const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === "default");
        const defaultText = tag === undefined ? undefined : ts.getTextOfJSDocComment(tag.comment)?.trim();
        properties.set(member.name.getText(source), {
            optional: member.questionToken !== undefined,
            documentedDefault: defaultText === undefined ? undefined : (JSON.parse(defaultText) as unknown),
            defaultText,
        });
    }
    return properties;
}

/** The JSON schema the CLI validates a policy's config with (`{type: object, properties, required}`), closed to unknown keys. */
function closedSchema(policy: Policy): object {
    return { type: "object", properties: policy.configSchema?.properties ?? {}, required: policy.configSchema?.required ?? [], additionalProperties: false };
}

function readConfigFile(environment: string): Record<string, unknown> {
    return JSON.parse(readFileSync(path.join(ROOT, "policies", "config", `${environment}.json`), "utf8")) as Record<string, unknown>;
}

/** What a config file sets for one policy, split the way the CLI splits it. */
function entryOf(value: unknown): { enforcementLevel: string | undefined; properties: Record<string, unknown> } {
    if (typeof value === "string") return { enforcementLevel: value, properties: {} };
    const { enforcementLevel, ...properties } = value as Record<string, unknown>;
    return { enforcementLevel: enforcementLevel as string | undefined, properties };
}

/** A policy's config as the CLI hands it over: the schema's defaults, then the file's values (shallowly). */
function effectiveConfig(policy: Policy, environment: string): Record<string, unknown> {
    const defaults = Object.fromEntries(
        Object.entries(policy.configSchema?.properties ?? {}).flatMap(([key, p]) => (p.default === undefined ? [] : [[key, p.default]])),
    );
    return { ...defaults, ...entryOf(readConfigFile(environment)[policy.name]).properties };
}

const policyNamed = (name: string) => {
    const policy = ALL_POLICIES.find((p) => p.name === name);
    if (policy === undefined) throw new Error(`no policy named ${name}`);
    return policy;
};

describe("the policy pack", () => {
    it("names every policy once, in kebab-case, and never 'all' (reserved by the CLI)", () => {
        const names = ALL_POLICIES.map((p) => p.name);
        assert.equal(new Set(names).size, names.length, `duplicate names in ${names.join(", ")}`);
        for (const name of names) assert.match(name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
        assert.ok(!names.includes("all"));
    });

    it("gives every policy a description and no configSchema property called enforcementLevel (the server refuses one)", () => {
        for (const policy of ALL_POLICIES) {
            assert.ok(policy.description.length > 20, policy.name);
            assert.ok(!("enforcementLevel" in (policy.configSchema?.properties ?? {})), policy.name);
        }
    });

    it("lists every configurable policy here, with the interface that documents its config", () => {
        const configurable = ALL_POLICIES.filter((p) => p.configSchema !== undefined).map((p) => p.name);
        assert.deepEqual(configurable.sort(), Object.keys(CONFIG_INTERFACES).sort());
    });

    for (const [name, { file, configInterface }] of Object.entries(CONFIG_INTERFACES)) {
        it(`${name}: the configSchema has exactly the keys of ${configInterface}, and its defaults are the documented @defaults`, () => {
            const schema = policyNamed(name).configSchema?.properties ?? {};
            const documented = documentedProperties(file, configInterface);
            assert.deepEqual(Object.keys(schema).sort(), [...documented.keys()].sort());
            for (const [key, property] of documented) {
                assert.ok(property.defaultText !== undefined || property.optional, `${configInterface}.${key} is required but documents no @default`);
                assert.deepEqual(schema[key]?.default, property.documentedDefault, `${name}.${key}: schema default vs @default ${property.defaultText}`);
            }
        });

        it(`${name}: each default satisfies its own schema`, () => {
            const ajv = new Ajv({ strict: true });
            for (const [key, property] of Object.entries(policyNamed(name).configSchema?.properties ?? {})) {
                if (typeof property === "boolean" || property.default === undefined) continue;
                const { default: value, ...rest } = property;
                assert.ok(ajv.validate(rest, value), `${name}.${key}: ${ajv.errorsText()}`);
            }
        });
    }

    it("refuses a ratio metric threshold outside 0..1 (accuracy: 2), and keeps the stack schema's list of ratio metrics", () => {
        const ajv = new Ajv({ strict: true });
        const schema = closedSchema(policyNamed("model-promotion-evidence"));
        assert.ok(!ajv.validate(schema, { minMetrics: { accuracy: 2 } }));
        assert.match(ajv.errorsText(), /minMetrics\/accuracy must be <= 1/);
        assert.ok(ajv.validate(schema, { minMetrics: { accuracy: 0.9, rmse: 12 } }), ajv.errorsText());
        assert.deepEqual(POLICY_RATIO_METRICS, STACK_RATIO_METRICS);
    });

    it("restates the label and annotation contract of components/labels.ts exactly", () => {
        assert.deepEqual(MODEL_LABELS, { model: LABELS.model, modelVersion: LABELS.modelVersion, environment: LABELS.environment });
        assert.equal(PROMOTION_ANNOTATION, ANNOTATIONS.promotion);
    });
});

for (const environment of ENVIRONMENTS) {
    describe(`policies/config/${environment}.json`, () => {
        const config = readConfigFile(environment);

        it("names every policy of the pack, and only those", () => {
            assert.deepEqual(Object.keys(config).sort(), ALL_POLICIES.map((p) => p.name).sort());
        });

        it("gives each policy a valid enforcement level", () => {
            for (const [name, value] of Object.entries(config)) {
                const level = entryOf(value).enforcementLevel;
                assert.ok(level !== undefined && ENFORCEMENT_LEVELS.includes(level), `${name}: ${String(level)}`);
            }
        });

        it("validates against each policy's schema, with no unknown keys", () => {
            const ajv = new Ajv({ strict: true, allErrors: true });
            for (const policy of ALL_POLICIES) {
                const { properties } = entryOf(config[policy.name]);
                assert.ok(ajv.validate(closedSchema(policy), properties), `${policy.name}: ${ajv.errorsText()}`);
                assert.ok(ajv.validate(closedSchema(policy), effectiveConfig(policy, environment)), `${policy.name} with defaults: ${ajv.errorsText()}`);
            }
        });
    });
}

describe("the environments' policy configs", () => {
    const level = (environment: string, name: string) => entryOf(readConfigFile(environment)[name]).enforcementLevel;

    it("make every policy mandatory in production", () => {
        for (const policy of ALL_POLICIES) assert.equal(level("production", policy.name), "mandatory", policy.name);
    });

    it("give staging the smaller GPU budget", () => {
        const budget = (environment: string) => effectiveConfig(policyNamed("gpu-budget"), environment)["gpuBudget"] as number;
        assert.ok(budget("staging") < budget("production"), `staging ${budget("staging")}, production ${budget("production")}`);
    });

    it("enforce staging's promotion gate (the seeds' accuracy ≥ 0.85, f1 ≥ 0.80) and its registry cross-check, keep its rollout rules advisory, and switch the production-only database rules off there", () => {
        for (const name of ["model-promotion-evidence", "registry-evidence-matches"]) assert.equal(level("staging", name), "mandatory", name);
        assert.deepEqual(effectiveConfig(policyNamed("model-promotion-evidence"), "staging")["minMetrics"], { accuracy: 0.85, f1: 0.8 });
        assert.deepEqual(effectiveConfig(policyNamed("model-promotion-evidence"), "production")["minMetrics"], { accuracy: 0.9, f1: 0.85 });
        for (const name of ["model-canary-analysis", "model-autoscaler", "model-disruption-budget"]) assert.equal(level("staging", name), "advisory", name);
        assert.equal(level("staging", "rds-resilience"), "disabled");
    });

    it("name one registry for both environments (hosted by production), so both gates read the same records, failing closed", () => {
        const staging = effectiveConfig(policyNamed("registry-evidence-matches"), "staging")["trackingUri"];
        const production = effectiveConfig(policyNamed("registry-evidence-matches"), "production")["trackingUri"];
        assert.match(production as string, /^https:\/\//);
        assert.equal(staging, production);
    });

    it("ask production for a soak in staging and no regression against the champion", () => {
        const production = effectiveConfig(policyNamed("model-promotion-evidence"), "production");
        assert.equal(production["minValidationSoakHours"], 24);
        assert.deepEqual(production["maxRegression"], { accuracy: 0.01, f1: 0.01 });
        const staging = effectiveConfig(policyNamed("model-promotion-evidence"), "staging");
        assert.equal(staging["minValidationSoakHours"], 0);
        assert.deepEqual(staging["maxRegression"], {});
    });
});

describe("the shipped stacks against their policy configs", () => {
    for (const environment of ENVIRONMENTS) {
        const platform = () => {
            const { values } = readStackFile(stackFilePath(ROOT, environment));
            return parsePlatformConfig(values, environment);
        };

        it(`${environment}: declared canary steps stay within maxStepWeight`, () => {
            const max = effectiveConfig(policyNamed("model-canary-analysis"), environment)["maxStepWeight"] as number;
            for (const model of platform().models) {
                for (const weight of model.canary?.stepWeights ?? []) assert.ok(weight <= max, `${model.name}: step ${weight} over ${max}`);
            }
        });

        it(`${environment}: GPUs at maximum scale (canary doubling included) fit the GPU budget`, () => {
            const budget = effectiveConfig(policyNamed("gpu-budget"), environment)["gpuBudget"] as number;
            const total = platform().models.reduce((sum, m) => sum + (m.resources.gpu ?? 0) * m.replicas.max * 2, 0);
            assert.ok(total <= budget, `${total} GPUs over the budget of ${budget}`);
        });
    }

    it("production: the declared evidence meets the production thresholds and approvals", () => {
        const evidenceConfig = effectiveConfig(policyNamed("model-promotion-evidence"), "production");
        const minMetrics = evidenceConfig["minMetrics"] as Record<string, number>;
        const allowed = evidenceConfig["allowedApprovers"] as string[];
        const { values } = readStackFile(stackFilePath(ROOT, "production"));
        for (const model of parsePlatformConfig(values, "production").models) {
            const promotion = model.promotion;
            assert.ok(promotion !== undefined, `${model.name} declares no promotion`);
            for (const [metric, min] of Object.entries(minMetrics))
                assert.ok((promotion.evidence.metrics[metric] ?? -Infinity) >= min, `${model.name}: ${metric}`);
            assert.equal(promotion.evidence.validatedIn, evidenceConfig["requiredValidationEnvironment"]);
            assert.ok(promotion.approvedBy.filter((a) => allowed.includes(a)).length >= (evidenceConfig["minApprovals"] as number), `${model.name}: approvals`);
        }
    });
});
