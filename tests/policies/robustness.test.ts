import assert from "node:assert/strict";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import fc from "fast-check";
import { ALL_POLICIES } from "../../policies/catalog";
import { plain, UNKNOWN as UNKNOWN_VALUE } from "../../policies/values";
import { analyzerProps, changed, stackViolationsOf, UNKNOWN, violationsOf } from "./analyzerArgs";
import { modelCanary, modelDeployment, modelHpa, modelPdb, T, TAGGER } from "./fixtures";

/**
 * Values may be missing, of the wrong shape or unknown during a real preview: no policy may crash on
 * them (a crash fails the whole `pulumi preview`). Each run takes a compliant object and replaces
 * random parts of it with random values, unknowns among them.
 */

type Path = readonly (string | number)[];

function pathsOf(value: unknown, prefix: Path = []): Path[] {
    if (typeof value !== "object" || value === null) return [prefix];
    const entries = Array.isArray(value) ? value.map((item, i) => [i, item] as const) : Object.entries(value);
    return [prefix, ...entries.flatMap(([key, item]) => pathsOf(item, [...prefix, key]))];
}

function replaced(fixture: object, path: Path, value: unknown): object {
    if (path.length === 0) return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
    return changed(fixture, (copy) => {
        let parent = copy;
        for (const key of path.slice(0, -1)) parent = parent[key];
        parent[path[path.length - 1] as string | number] = value;
    });
}

const leaf = fc.oneof(
    fc.constant(UNKNOWN),
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -3, max: 100 }),
    fc.string({ maxLength: 12 }),
    fc.constantFrom("latest", "Always", "0.5", "models:/x@y", "ALL"),
);
const anyValue = fc.oneof(
    leaf,
    fc.array(leaf, { maxLength: 3 }),
    fc.dictionary(fc.constantFrom("name", "key", "value", "limits", "operator", "hosts"), leaf, { maxKeys: 3 }),
);

function mutations(fixture: object) {
    const paths = pathsOf(fixture);
    return fc.array(fc.tuple(fc.nat({ max: paths.length - 1 }), anyValue), { minLength: 1, maxLength: 4 }).map((changes) =>
        changes.reduce<object>((current, [index, value]) => {
            const path = paths[index] as Path;
            // A path may no longer exist after an earlier change: then the change is skipped.
            try {
                return replaced(current, path, value);
            } catch {
                return current;
            }
        }, fixture),
    );
}

const resourcePolicies = ALL_POLICIES.filter((p): p is ResourceValidationPolicy => "validateResource" in p);
const stackPolicies = ALL_POLICIES.filter((p): p is StackValidationPolicy => "validateStack" in p);
// Registry checks need a server; without a tracking URI the policy stops before any request.
const configFor = (name: string) => (name === "registry-evidence-matches" ? { trackingUri: "" } : {});

describe("every policy on malformed and unknown values", () => {
    const fixtures: readonly [string, object][] = [
        [T.deployment, modelDeployment(TAGGER)],
        [T.canary, modelCanary(TAGGER)],
        [T.hpa, modelHpa(TAGGER)],
        [T.pdb, modelPdb(TAGGER)],
        [T.ingress, { spec: { tls: [{ hosts: ["a.example.com"] }], rules: [{ host: "a.example.com" }] } }],
        [T.rds, { storageEncrypted: true, publiclyAccessible: false, backupRetentionPeriod: 7 }],
    ];

    for (const [type, fixture] of fixtures) {
        it(`resource policies report or pass, never throw, on a mutated ${type}`, async () => {
            await fc.assert(
                fc.asyncProperty(mutations(fixture), async (props) => {
                    for (const policy of resourcePolicies) {
                        const messages = await violationsOf(policy, { type, name: "fuzzed", props }, configFor(policy.name));
                        assert.ok(messages.every((m) => typeof m === "string" && m.length > 0));
                    }
                }),
                { numRuns: 150, seed: 20261123 },
            );
        });
    }

    it("stack policies report or pass, never throw, on a mutated serving stack and bucket", async () => {
        const stack = (deployment: object, canary: object) => [
            { type: T.deployment, name: "d", props: deployment },
            { type: T.canary, name: "c", props: canary },
            { type: T.hpa, name: "h", props: modelHpa(TAGGER) },
            { type: T.pdb, name: "p", props: modelPdb(TAGGER) },
            { type: T.bucket, name: "b", props: { bucket: UNKNOWN } },
            { type: T.sse, name: "e", props: canary, propertyDependencies: { bucket: ["b"] } },
            { type: T.bucketPolicy, name: "bp", props: deployment, propertyDependencies: { bucket: ["b"] } },
        ];
        await fc.assert(
            fc.asyncProperty(mutations(modelDeployment(TAGGER)), mutations(modelCanary(TAGGER)), async (deployment, canary) => {
                for (const policy of stackPolicies) await stackViolationsOf(policy, stack(deployment, canary), configFor(policy.name));
            }),
            { numRuns: 150, seed: 7 },
        );
    });
});

describe("plain", () => {
    it("turns the analyzer's unknowns into UNKNOWN, at any depth, through the SDK's proxy", () => {
        const props = analyzerProps({ a: UNKNOWN, b: [1, UNKNOWN, { c: UNKNOWN }], d: { e: "x" } });
        assert.deepEqual(plain(props), { a: UNKNOWN_VALUE, b: [1, UNKNOWN_VALUE, { c: UNKNOWN_VALUE }], d: { e: "x" } });
    });

    it("reads unproxied wire values too: unknown sentinels, and secrets still in their wrapper", () => {
        const secret = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "s3cr3t" };
        assert.deepEqual(plain({ a: "3eeb2bf0-c639-47a8-9e75-3b44932eb421", s: secret, list: [secret] }), { a: UNKNOWN_VALUE, s: "s3cr3t", list: ["s3cr3t"] });
    });
});
