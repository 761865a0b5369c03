import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as fc from "fast-check";
import * as yaml from "js-yaml";
import { platformConfigProblems } from "../../infra/validation";

/**
 * Property: take a shipped stack file, break it in ways a person does (a value of the wrong type, a
 * required key deleted, a misspelt key added), and the parser rejects it with a problem that names
 * exactly the broken key path — never a crash, never "undefined" or "[object Object]" in a message.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

const PROJECT_DIR = path.resolve(__dirname, "..", "..");

function shippedConfig(stack: string): Record<string, Json> {
    const document = yaml.load(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, Json> };
    return document.config;
}

/** Mappings whose keys are the user's (model names, label keys, metric names), not a fixed set. */
const DICTIONARIES = new Set([
    "mlops-platform:models",
    "models.*.promotion.evidence.metrics",
    "models.*.promotion.evidence.champion.metrics",
    "gpu.nodeSelector",
]);

/** Keys that must be present (as patterns over the path, `*` for any model). */
const REQUIRED = [
    "mlops-platform:environment",
    "mlops-platform:cluster",
    "mlops-platform:cluster.oidcProviderArn",
    "mlops-platform:cluster.domain",
    "mlops-platform:models.*.registeredModel",
    "mlops-platform:models.*.version",
    "mlops-platform:models.*.resources",
    "mlops-platform:models.*.resources.cpu",
    "mlops-platform:models.*.resources.memory",
    "mlops-platform:models.*.promotion.evidence",
    "mlops-platform:models.*.promotion.evidence.runId",
    "mlops-platform:models.*.promotion.approvedBy",
    "aws:region",
];

/** The path as users read it: `mlops-platform:models.fraud-detector.canary.stepWeights[2]`. */
function display(p: Path): string {
    let out = String(p[0]);
    for (const segment of p.slice(1)) out += typeof segment === "number" ? `[${segment}]` : `.${segment}`;
    return out;
}

function pattern(p: Path): string {
    // models.<name>.x → models.*.x, so that the required/dictionary tables match any model.
    const segments = p.map((s, i) => (i === 1 && p[0] === "mlops-platform:models" ? "*" : s));
    return display(segments);
}

function isDictionary(p: Path): boolean {
    const text = pattern(p);
    return [...DICTIONARIES].some((d) => text === d || text.endsWith(`:${d}`) || text.endsWith(`.${d}`) || text === `mlops-platform:${d}`);
}

/** Every node of the config (except inside other namespaces than ours and aws:region), with its path. */
function nodes(config: Record<string, Json>): Array<{ path: Path; value: Json }> {
    const out: Array<{ path: Path; value: Json }> = [];
    const walk = (value: Json, p: Path) => {
        out.push({ path: p, value });
        if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...p, i]));
        else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, [...p, k]);
    };
    for (const [key, value] of Object.entries(config)) {
        if (key.startsWith("mlops-platform:") || key === "aws:region") walk(value, [key]);
    }
    return out;
}

/** A value that is wrong for the node's type whatever its constraints (a string where a number goes, …). */
function wrongValueFor(value: Json): fc.Arbitrary<Json> {
    if (typeof value === "string")
        return fc.oneof<fc.Arbitrary<Json>[]>(fc.integer(), fc.boolean(), fc.constant<Json>([]), fc.constant<Json>({ unexpected: true }));
    if (typeof value === "number") return fc.oneof<fc.Arbitrary<Json>[]>(fc.string(), fc.boolean(), fc.constant<Json>(null), fc.constant<Json>([1]));
    if (typeof value === "boolean") return fc.oneof(fc.constantFrom("yes", "true", "on"), fc.integer(), fc.constant({}));
    if (Array.isArray(value)) return fc.oneof(fc.string(), fc.integer(), fc.constant({ first: 1 }));
    return fc.oneof<fc.Arbitrary<Json>[]>(
        fc.string({ minLength: 1 }).filter((s) => !/^\s*[[{]/.test(s)),
        fc.integer(),
        fc.constant<Json>([1, 2]),
    );
}

type Mutation = { kind: "wrong-type" | "delete" | "unknown-key"; path: Path; value?: Json };

function clone<T>(value: T): T {
    return JSON.parse(JSON.stringify(value)) as T;
}

function apply(config: Record<string, Json>, mutation: Mutation): { config: Record<string, Json>; expectedPath: string } {
    const copy = clone(config);
    const [head, ...rest] = mutation.path as [string, ...(string | number)[]];
    if (mutation.kind === "unknown-key") {
        const target = rest.reduce<Json>((node, key) => (node as Record<string, Json>)[key as string] as Json, copy[head] as Json) as Record<string, Json>;
        target["unexpectedKey"] = 1;
        return { config: copy, expectedPath: `${display(mutation.path)}.unexpectedKey` };
    }
    if (rest.length === 0) {
        if (mutation.kind === "delete") delete copy[head];
        else copy[head] = mutation.value as Json;
        return { config: copy, expectedPath: display(mutation.path) };
    }
    const parent = rest.slice(0, -1).reduce<Json>((node, key) => (node as Record<string, Json>)[key as string] as Json, copy[head] as Json) as Record<
        string | number,
        Json
    >;
    const last = rest[rest.length - 1] as string | number;
    if (mutation.kind === "delete") delete parent[last];
    else parent[last] = mutation.value as Json;
    return { config: copy, expectedPath: display(mutation.path) };
}

/** What the Pulumi CLI hands the program: scalars as text, structured values as JSON text. */
function encode(config: Record<string, Json>): Record<string, string> {
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

function mutationsOf(config: Record<string, Json>): fc.Arbitrary<Mutation> {
    const all = nodes(config);
    const typed = all.filter((n) => !(n.path.length === 1 && n.path[0] === "aws:region")).map((n) => n);
    const wrongType = fc.constantFrom(...typed).chain((n) => wrongValueFor(n.value).map((value): Mutation => ({ kind: "wrong-type", path: n.path, value })));
    const deletable = all.filter((n) => REQUIRED.includes(pattern(n.path)));
    const deletion = fc.constantFrom(...deletable).map((n): Mutation => ({ kind: "delete", path: n.path }));
    const mappings = all.filter((n) => n.value !== null && typeof n.value === "object" && !Array.isArray(n.value) && !isDictionary(n.path));
    const unknownKey = fc.constantFrom(...mappings).map((n): Mutation => ({ kind: "unknown-key", path: n.path }));
    return fc.oneof(wrongType, deletion, unknownKey);
}

/** Two mutations that do not touch the same subtree, so both must be reported. */
function disjoint(a: Mutation, b: Mutation): boolean {
    const prefix = (x: Path, y: Path) => x.length <= y.length && x.every((s, i) => s === y[i]);
    return !prefix(a.path, b.path) && !prefix(b.path, a.path);
}

const BAD_TEXT = /\bundefined\b|\[object Object\]|\bNaN\b/;

for (const stack of ["staging", "production"]) {
    describe(`malformed variants of Pulumi.${stack}.yaml`, () => {
        const config = shippedConfig(stack);

        it("the shipped file itself is valid", () => {
            assert.deepEqual(platformConfigProblems(encode(config), stack).problems, []);
        });

        it("each single mistake is reported at its key path, with a readable message", () => {
            fc.assert(
                fc.property(mutationsOf(config), (mutation) => {
                    const { config: broken, expectedPath } = apply(config, mutation);
                    const { problems } = platformConfigProblems(encode(broken), stack);
                    const paths = problems.map((p) => p.path);
                    assert.ok(paths.includes(expectedPath), `${mutation.kind} at ${expectedPath}: reported ${JSON.stringify(problems)}`);
                    for (const p of problems) {
                        assert.ok(!BAD_TEXT.test(`${p.path}: ${p.message}`), `unreadable problem: ${p.path}: ${p.message}`);
                    }
                }),
                { numRuns: 400, seed: 20261123 },
            );
        });

        it("two mistakes in different places are both reported", () => {
            const pairs = fc.tuple(mutationsOf(config), mutationsOf(config)).filter(([a, b]) => disjoint(a, b));
            fc.assert(
                fc.property(pairs, ([first, second]) => {
                    const once = apply(config, first);
                    const twice = apply(once.config, second);
                    const paths = platformConfigProblems(encode(twice.config), stack).problems.map((p) => p.path);
                    assert.ok(paths.includes(once.expectedPath), `missing ${once.expectedPath} in ${JSON.stringify(paths)}`);
                    assert.ok(paths.includes(twice.expectedPath), `missing ${twice.expectedPath} in ${JSON.stringify(paths)}`);
                }),
                { numRuns: 200, seed: 7 },
            );
        });
    });
}

describe("arbitrary junk as a stack's values", () => {
    it("never crashes and never says undefined", () => {
        const junk = fc.dictionary(
            fc.oneof(
                fc.constantFrom(
                    "mlops-platform:environment",
                    "mlops-platform:cluster",
                    "mlops-platform:models",
                    "mlops-platform:postgres",
                    "mlops-platform:gpu",
                    "aws:region",
                ),
                fc.string(),
            ),
            fc.oneof(fc.string(), fc.json()),
        );
        fc.assert(
            fc.property(junk, (values) => {
                const { problems } = platformConfigProblems(values, "junk");
                for (const p of problems) assert.ok(!BAD_TEXT.test(`${p.path}: ${p.message}`), `unreadable problem: ${p.path}: ${p.message}`);
            }),
            { numRuns: 500, seed: 42 },
        );
    });
});

describe("bad input that used to get through (issue 11)", () => {
    const staging = () => structuredClone(shippedConfig("staging"));
    const problemsOf = (config: Record<string, Json>) => platformConfigProblems(encode(config), "staging").problems.map((p) => `${p.path}: ${p.message}`);
    const models = (config: Record<string, Json>) => config["mlops-platform:models"] as Record<string, Record<string, Json>>;
    const renamed = (config: Record<string, Json>, from: string, to: string) => {
        const all = models(config);
        all[to] = all[from] as Record<string, Json>;
        delete all[from];
        return config;
    };

    for (const [name, owner] of [
        ["mlflow", "tracking server (host mlflow.<domain>)"],
        ["argocd", "Argo CD (host argocd.<domain>)"],
        ["flagger-loadtester", "Flagger load tester (Deployment and Service in the models namespace)"],
    ]) {
        it(`refuses a model named "${name}", a platform object's name`, () => {
            assert.deepEqual(problemsOf(renamed(staging(), "fraud-detector", name as string)), [
                `mlops-platform:models.${name}: is reserved: the platform's ${owner} already has this name; choose another model name`,
            ]);
        });
    }

    for (const [suffix, what] of [
        ["-primary", "the Flagger primary Deployment and Service"],
        ["-canary", "the Flagger canary Service"],
        ["-telemetry", "the telemetry Service"],
        ["-telemetry-primary", "the primary's telemetry Service"],
        ["-alert-rules", "the alerting rules"],
        ["-pod-monitor", "the PodMonitor"],
    ]) {
        it(`refuses a model named after another model's "${suffix}" object`, () => {
            const name = `fraud-detector${suffix}`;
            assert.deepEqual(problemsOf(renamed(staging(), "product-image-tagger", name)), [
                `mlops-platform:models.${name}: collides with ${what} of model "fraud-detector" ("${name}"); choose another model name`,
            ]);
        });
    }

    it("refuses memory beyond any node, with the valid range", () => {
        const config = staging();
        (models(config)["fraud-detector"]?.["resources"] as Record<string, Json>)["memory"] = "999999999Ei";
        assert.deepEqual(problemsOf(config), [
            'mlops-platform:models.fraud-detector.resources.memory: expected a memory quantity such as "512Mi" or "2Gi", more than 0 and at most "32Ti", got "999999999Ei"',
        ]);
    });

    it("refuses an accuracy of 2 in the evidence, and in the champion's, with the valid range", () => {
        const config = staging();
        const evidence = (models(config)["fraud-detector"]?.["promotion"] as any).evidence;
        evidence.metrics.accuracy = 2;
        evidence.champion = { version: "7", metrics: { f1: -0.1 } };
        assert.deepEqual(problemsOf(config), [
            "mlops-platform:models.fraud-detector.promotion.evidence.metrics.accuracy: expected a number from 0 to 1 (accuracy is a ratio), got 2",
            "mlops-platform:models.fraud-detector.promotion.evidence.champion.metrics.f1: expected a number from 0 to 1 (f1 is a ratio), got -0.1",
        ]);
    });

    it('reports a key written with no value as null, not as the string "null"', () => {
        const values = { ...encode(staging()), "mlops-platform:postgres": "null" };
        assert.deepEqual(
            platformConfigProblems(values, "staging").problems.map((p) => `${p.path}: ${p.message}`),
            ["mlops-platform:postgres: expected a mapping, got null"],
        );
    });
});
