import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    type PolicyDiagnostic,
    type PolicyPackHandle,
    PolicyPackConfigError,
    PolicyPackStartError,
    launchPolicyPack,
    runPolicyPack,
} from "../../offline/analyzer";
import { type PolicyConfigInfo, parsePolicyPackConfig, reconcilePolicyPackConfig } from "../../offline/analyzer/config";
import { ResourceIndex, analyzeRequest, goDurationSeconds, stackResource } from "../../offline/analyzer/wire";
import { type RecordedResource, SECRET_SIG } from "../../offline/runtime";

const FIXTURE = path.join(__dirname, "fixtures", "policy-pack");
const REPO_NODE_MODULES = path.resolve(__dirname, "..", "..", "node_modules");
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const MANAGED_BY = "app.kubernetes.io/managed-by";
const ROOT = "urn:pulumi:staging::fixture::pulumi:pulumi:Stack::fixture-staging";

function record(type: string, name: string, wireInputs: Record<string, unknown>, extra: Partial<RecordedResource> = {}): RecordedResource {
    // A URN's type part is the parent's type part, "$", then the resource's type.
    const parentType = extra.parent === undefined ? "pulumi:pulumi:Stack" : (extra.parent.split("::")[2] ?? "");
    return {
        urn: type === "pulumi:pulumi:Stack" ? ROOT : `urn:pulumi:staging::fixture::${parentType}$${type}::${name}`,
        type,
        name,
        custom: !type.startsWith("pulumi:pulumi:") && !type.startsWith("test:"),
        dependencies: [],
        propertyDependencies: {},
        inputs: wireInputs,
        wireInputs,
        options: { protect: false, retainOnDelete: false, ignoreChanges: [], deleteBeforeReplace: false, additionalSecretOutputs: [] },
        ...(type !== "pulumi:pulumi:Stack" && { parent: ROOT }),
        ...extra,
    };
}

function deployment(name: string, spec: { replicas: number; labels: Record<string, string> }, extra: Partial<RecordedResource> = {}): RecordedResource {
    return record(
        DEPLOYMENT,
        name,
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name, labels: spec.labels }, spec: { replicas: spec.replicas } },
        extra,
    );
}

const COMPLETE_LABELS = { "app.kubernetes.io/name": "web", [MANAGED_BY]: "pulumi" };
const compliant = deployment("web", { replicas: 3, labels: COMPLETE_LABELS });
const noncompliant = deployment("worker", { replicas: 1, labels: {} });

/** A stack whose Deployments sit in a component: one reaches its Namespace through a property, one does not. */
function stackOf(): RecordedResource[] {
    const stack = record("pulumi:pulumi:Stack", "fixture-staging", {});
    const platform = record("test:index:Platform", "platform", {});
    const namespace = record("kubernetes:core/v1:Namespace", "apps", { metadata: { name: "apps" } }, { parent: platform.urn });
    const settings = record("kubernetes:core/v1:ConfigMap", "settings", { metadata: { name: "settings" } }, { parent: platform.urn });
    const web = deployment(
        "web",
        { replicas: 3, labels: COMPLETE_LABELS },
        { parent: platform.urn, propertyDependencies: { metadata: [namespace.urn], spec: [] } },
    );
    const worker = deployment(
        "worker",
        { replicas: 1, labels: { "app.kubernetes.io/name": "worker" } },
        { parent: platform.urn, dependencies: [settings.urn] },
    );
    return [stack, platform, namespace, settings, web, worker];
}

function tempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A copy of the fixture pack whose index.ts gets `extraLine` appended, resolving modules from the repo. */
function brokenCopy(extraLine: string): { dir: string; line: number } {
    const dir = tempDir("analyzer-broken-pack-");
    for (const file of ["package.json", "PulumiPolicy.yaml"]) fs.copyFileSync(path.join(FIXTURE, file), path.join(dir, file));
    const source = fs.readFileSync(path.join(FIXTURE, "index.ts"), "utf8");
    fs.writeFileSync(path.join(dir, "index.ts"), `${source}${extraLine}\n`);
    fs.symlinkSync(REPO_NODE_MODULES, path.join(dir, "node_modules"), "dir");
    return { dir, line: source.split("\n").length };
}

const names = (diagnostics: readonly PolicyDiagnostic[]): string[] => diagnostics.map((d) => d.policyName).sort();

describe("policy pack analyzer: the fixture pack as a running plugin", () => {
    let pack: PolicyPackHandle;
    const configDir = tempDir("analyzer-config-");
    const configFile = (content: unknown): string => {
        const file = path.join(configDir, `config-${Math.random().toString(36).slice(2)}.json`);
        fs.writeFileSync(file, JSON.stringify(content));
        return file;
    };

    before(async () => {
        pack = await launchPolicyPack(FIXTURE, { stack: { stack: "staging", project: "fixture", config: { "fixture:region": "eu-west-1" } } });
    });
    after(async () => {
        await pack.close();
        fs.rmSync(configDir, { recursive: true, force: true });
    });

    it("reads GetAnalyzerInfo as the CLI does: sorted policies, levels, schemas with enforcementLevel", () => {
        const info = pack.info();
        assert.equal(info.name, "analyzer-fixture");
        assert.equal(info.version, "0.3.1");
        // The pack sets no description, so the CLI falls back to PulumiPolicy.yaml's.
        assert.equal(info.description, "Fixture policy pack for the analyzer driver's tests.");
        assert.equal(info.supportsConfig, true);
        assert.deepEqual(
            info.policies.map((p) => [p.name, p.type, p.enforcementLevel, p.severity]),
            [
                ["managed-by-label", "resource", "advisory", undefined],
                ["namespaced-workloads", "stack", "mandatory", undefined],
                // No level of its own: the pack's "mandatory".
                ["replica-floor", "resource", "mandatory", "high"],
                ["required-labels", "resource", "advisory", undefined],
            ],
        );
        assert.deepEqual(info.policies.find((p) => p.name === "replica-floor")?.configSchema, {
            properties: {
                minReplicas: { type: "integer", minimum: 1, default: 2 },
                enforcementLevel: { type: "string", enum: ["advisory", "mandatory", "remediate", "disabled"] },
            },
            required: [],
        });
        assert.equal(pack.pluginVersion, "1.21.0");
        assert.ok(pack.startupMs > 0 && pack.startupMs < 60_000, `startup took ${pack.startupMs} ms`);
    });

    it("without a config file sends every policy its own level and its top-level schema defaults only", async () => {
        const { config, unknownPolicies } = await pack.configure();
        assert.deepEqual(Object.fromEntries(config), {
            "managed-by-label": { enforcementLevel: "advisory", properties: undefined },
            "namespaced-workloads": { enforcementLevel: "mandatory", properties: undefined },
            "replica-floor": { enforcementLevel: "mandatory", properties: { minReplicas: 2 } },
            // `matching.caseSensitive` has a default too, but the CLI only reads top-level defaults.
            "required-labels": { enforcementLevel: "advisory", properties: { labels: ["app.kubernetes.io/name"], matching: {} } },
        });
        assert.deepEqual(unknownPolicies, []);
    });

    it("delivers a schema default the config file does not set", async () => {
        await pack.configure({ file: configFile({ "required-labels": { labels: [] } }) });
        const [floor] = (await pack.analyze(noncompliant)).filter((d) => d.policyName === "replica-floor");
        assert.deepEqual(floor, {
            policyName: "replica-floor",
            policyPackName: "analyzer-fixture",
            policyPackVersion: "0.3.1",
            enforcementLevel: "mandatory",
            description: "Deployments run at least the configured number of replicas.",
            message: "Deployments run at least the configured number of replicas.\nworker runs 1 replica(s); minReplicas is 2",
            urn: noncompliant.urn,
            severity: "high",
        });
    });

    it("lets a config file value override the default", async () => {
        await pack.configure({ file: configFile({ "replica-floor": { minReplicas: 3 } }) });
        const two = deployment("pair", { replicas: 2, labels: COMPLETE_LABELS });
        const [floor] = await pack.analyze(two);
        assert.equal(floor?.message, "Deployments run at least the configured number of replicas.\npair runs 2 replica(s); minReplicas is 3");
        assert.deepEqual(await pack.analyze(compliant), []);
    });

    it("does not apply defaults nested inside an object property, and replaces the object whole", async () => {
        await pack.configure();
        const labels = (await pack.analyze(noncompliant)).find((d) => d.policyName === "required-labels");
        assert.match(labels?.message ?? "", /\(caseSensitive=undefined\)$/);
        await pack.configure({ text: JSON.stringify({ "required-labels": { matching: { caseSensitive: false } } }) });
        const configured = (await pack.analyze(noncompliant)).find((d) => d.policyName === "required-labels");
        assert.match(configured?.message ?? "", /lacks labels \[app\.kubernetes\.io\/name\] \(caseSensitive=false\)$/);
    });

    it(`silences every policy with "all": "disabled"`, async () => {
        await pack.configure({ value: { all: "disabled" } });
        assert.deepEqual(await pack.analyze(noncompliant), []);
        assert.deepEqual(await pack.analyzeStack(stackOf()), []);
    });

    it(`lets a policy's own level win over "all"`, async () => {
        const { config } = await pack.configure({ value: { all: "disabled", "replica-floor": "advisory" } });
        assert.deepEqual(config.get("all"), { enforcementLevel: "disabled", properties: undefined });
        const diagnostics = await pack.analyze(noncompliant);
        assert.deepEqual(
            diagnostics.map((d) => [d.policyName, d.enforcementLevel]),
            [["replica-floor", "advisory"]],
        );
    });

    it(`turns one policy off with "disabled" and leaves the others`, async () => {
        await pack.configure({ value: { "replica-floor": "disabled" } });
        assert.deepEqual(names(await pack.analyze(noncompliant)), ["managed-by-label", "required-labels"]);
    });

    it(`downgrades a mandatory stack policy with { "enforcementLevel": "advisory" }`, async () => {
        await pack.configure({ value: { "namespaced-workloads": { enforcementLevel: "advisory" } } });
        const diagnostics = await pack.analyzeStack(stackOf());
        assert.deepEqual(
            diagnostics.map((d) => [d.policyName, d.enforcementLevel]),
            [["namespaced-workloads", "advisory"]],
        );
    });

    it("rejects an invalid value with the CLI's exact message and sends nothing", async () => {
        await pack.configure({ value: { "replica-floor": "disabled" } });
        await assert.rejects(pack.configure({ file: configFile({ "replica-floor": { minReplicas: "two" } }) }), (err: unknown) => {
            assert.ok(err instanceof PolicyPackConfigError);
            assert.equal(
                err.message,
                "validating policy config: analyzer-fixture 0.3.1  replica-floor: minReplicas: Invalid type. Expected: integer, given: string",
            );
            return true;
        });
        await assert.rejects(pack.configure({ value: { "required-labels": { labels: "app" }, "replica-floor": { minReplicas: 0 } } }), {
            message: [
                "validating policy config: analyzer-fixture 0.3.1  replica-floor: minReplicas: Must be greater than or equal to 1",
                "validating policy config: analyzer-fixture 0.3.1  required-labels: labels: Invalid type. Expected: array, given: string",
            ].join("\n"),
        });
        // The pack still has the last accepted config: replica-floor stays off.
        assert.deepEqual(names(await pack.analyze(noncompliant)), ["managed-by-label", "required-labels"]);
    });

    it("rejects malformed entries as the CLI parses them", async () => {
        const cases: [unknown, string][] = [
            [{ "replica-floor": "warn" }, `parsing enforcement level for "replica-floor": "warn" is not a valid enforcement level`],
            [
                { "replica-floor": { enforcementLevel: 1 } },
                `parsing enforcement level for "replica-floor": 1 is not a valid enforcement level; must be a string`,
            ],
            [{ "replica-floor": 3 }, `parsing "replica-floor": 3 is not a valid value; must be a string or object`],
            [["replica-floor"], "json: cannot unmarshal array into Go value of type map[string]interface {}"],
        ];
        for (const [value, message] of cases) await assert.rejects(pack.configure({ value }), { name: "PolicyPackConfigError", message });
        const missing = path.join(configDir, "missing.json");
        await assert.rejects(pack.configure({ file: missing }), { message: `open ${missing}: no such file or directory` });
    });

    it("passes an unknown policy name on as the CLI does, unless it has properties but no level", async () => {
        const { config, unknownPolicies } = await pack.configure({ value: { "replica-flor": "advisory" } });
        assert.deepEqual(unknownPolicies, ["replica-flor"]);
        assert.deepEqual(config.get("replica-flor"), { enforcementLevel: "advisory", properties: undefined });
        await assert.rejects(pack.configure({ value: { "replica-flor": { minReplicas: 3 } } }), {
            message:
                `configuring policy pack "analyzer-fixture" at ${JSON.stringify(FIXTURE)}: invalid enforcement level ""` +
                ` ("replica-flor" is not a policy of the pack and sets no enforcementLevel)`,
        });
    });

    it("reports a violating resource and nothing for a compliant one", async () => {
        await pack.configure();
        const diagnostics = await pack.analyze(noncompliant);
        assert.deepEqual(
            diagnostics.map((d) => [d.policyName, d.enforcementLevel, d.urn, d.message.split("\n")[1]]),
            [
                ["replica-floor", "mandatory", noncompliant.urn, "worker runs 1 replica(s); minReplicas is 2"],
                ["required-labels", "advisory", noncompliant.urn, "worker lacks labels [app.kubernetes.io/name] (caseSensitive=undefined)"],
                ["managed-by-label", "advisory", noncompliant.urn, `worker has no ${MANAGED_BY} label`],
            ],
        );
        assert.deepEqual(await pack.analyze(compliant), []);
        assert.deepEqual(await pack.analyze(record("kubernetes:core/v1:ConfigMap", "settings", { data: { a: "b" } })), []);
    });

    it("remediates when configured to, and Analyze then sees the remediated properties", async () => {
        await pack.configure({ value: { "managed-by-label": "remediate" } });
        const [remediation, ...more] = await pack.remediate(noncompliant);
        assert.equal(more.length, 0);
        assert.equal(remediation?.policyName, "managed-by-label");
        const properties = remediation?.properties ?? {};
        assert.deepEqual((properties["metadata"] as { labels: Record<string, string> }).labels, { [MANAGED_BY]: "pulumi" });
        assert.deepEqual(names(await pack.analyze(noncompliant, [noncompliant], properties)), ["replica-floor", "required-labels"]);
    });

    it("gives AnalyzeStack each resource's parent, dependencies and property dependencies", async () => {
        await pack.configure();
        const resources = stackOf();
        const diagnostics = await pack.analyzeStack(resources);
        assert.deepEqual(diagnostics, [
            {
                policyName: "namespaced-workloads",
                policyPackName: "analyzer-fixture",
                policyPackVersion: "0.3.1",
                enforcementLevel: "mandatory",
                description: "Every Deployment depends on a Namespace of the stack.",
                message:
                    "Every Deployment depends on a Namespace of the stack.\nworker (parent test:index:Platform) depends on no Namespace; it depends on [settings]",
                urn: resources[5]?.urn,
            },
        ]);
    });

    it("files a stack policy's violation without a URN against the root stack", async () => {
        await pack.configure();
        const stack = record("pulumi:pulumi:Stack", "fixture-staging", {});
        const expected = [["namespaced-workloads", ROOT, "Every Deployment depends on a Namespace of the stack.\nthe stack has Deployments but no Namespace"]];
        const withStack = await pack.analyzeStack([stack, noncompliant]);
        assert.deepEqual(
            withStack.map((d) => [d.policyName, d.urn, d.message]),
            expected,
        );
        // Without a recorded stack resource the root URN comes from the stack the pack was launched for.
        const withoutStack = await pack.analyzeStack([noncompliant]);
        assert.deepEqual(
            withoutStack.map((d) => [d.policyName, d.urn, d.message]),
            expected,
        );
    });
});

describe("policy pack analyzer: runPolicyPack, as pulumi preview runs a pack", () => {
    it("remediates, analyzes each resource, then the stack, and captures the pack's log lines", async () => {
        const dir = tempDir("analyzer-run-");
        const configFile = path.join(dir, "staging.json");
        fs.writeFileSync(configFile, JSON.stringify({ "managed-by-label": "remediate", "required-labels": { labels: [] } }));
        try {
            const resources = stackOf();
            const run = await runPolicyPack({ packDir: FIXTURE, configFile, stack: "staging", project: "fixture", resources });
            const worker = resources[5]?.urn;
            assert.equal(run.info.name, "analyzer-fixture");
            assert.deepEqual(
                run.remediations.map((r) => [r.policyName, r.urn]),
                [["managed-by-label", worker]],
            );
            assert.deepEqual(
                run.diagnostics.map((d) => [d.policyName, d.enforcementLevel, d.urn]),
                [
                    ["replica-floor", "mandatory", worker],
                    ["namespaced-workloads", "mandatory", worker],
                ],
            );
            assert.deepEqual(
                run.logs.map((l) => [l.stream, l.message]),
                [
                    ["stdout", "info: [runtime] namespaced-workloads saw 6 resources"],
                    ["stderr", "warning: [runtime] namespaced-workloads: worker has no Namespace dependency"],
                ],
            );
            assert.ok(run.startupMs > 0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("policy pack analyzer: launch failures and shutdown", () => {
    const cleanup: string[] = [];
    after(() => {
        for (const dir of cleanup) fs.rmSync(dir, { recursive: true, force: true });
    });

    async function startFailure(dir: string): Promise<PolicyPackStartError> {
        try {
            const handle = await launchPolicyPack(dir, { startupTimeoutMs: 60_000 });
            await handle.close();
        } catch (err) {
            assert.ok(err instanceof PolicyPackStartError, String(err));
            assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
            return err;
        }
        assert.fail(`the pack in ${dir} started`);
    }

    it("names the first TypeScript error of a pack with a syntax error", async () => {
        const { dir, line } = brokenCopy("const broken: number = ;");
        cleanup.push(dir);
        const err = await startFailure(dir);
        assert.equal(
            err.message,
            `policy pack ${JSON.stringify(dir)} failed to start: TypeScript error: index.ts(${line},24): error TS1109: Expression expected.`,
        );
        assert.match(err.stderr, /Unable to compile TypeScript/);
    });

    it("names a type error: ts-node type-checks the pack as the CLI's run-policy-pack does", async () => {
        const { dir, line } = brokenCopy(`export const replicas: number = "two";`);
        cleanup.push(dir);
        const err = await startFailure(dir);
        assert.equal(
            err.message,
            `policy pack ${JSON.stringify(dir)} failed to start: TypeScript error: index.ts(${line},14): error TS2322: Type 'string' is not assignable to type 'number'.`,
        );
    });

    it("says where PulumiPolicy.yaml is missing", async () => {
        const dir = path.join(os.tmpdir(), "analyzer-no-such-pack");
        const err = await startFailure(dir);
        assert.equal(
            err.message,
            `failed to load Pulumi policy project located at ${JSON.stringify(dir)}: open ${dir}/PulumiPolicy.yaml: no such file or directory`,
        );
    });

    it("says the dependencies are not installed when @pulumi/pulumi cannot be resolved from the pack", async () => {
        const dir = tempDir("analyzer-no-deps-");
        cleanup.push(dir);
        for (const file of ["package.json", "PulumiPolicy.yaml", "index.ts"]) fs.copyFileSync(path.join(FIXTURE, file), path.join(dir, file));
        const err = await startFailure(dir);
        assert.equal(
            err.message,
            `it looks like the policy pack's dependencies are not installed; try running npm install or yarn install in ${JSON.stringify(dir)}`,
        );
    });

    it("says why a pack could not even be spawned (an environment over the kernel's limit), and leaves nothing running", async () => {
        const huge = { ...process.env, HUGE_CONFIG: "x".repeat(200 * 1024) };
        await assert.rejects(launchPolicyPack(FIXTURE, { env: huge }), (err: unknown) => {
            assert.ok(err instanceof PolicyPackStartError);
            assert.equal(err.message, `could not start policy pack ${JSON.stringify(FIXTURE)}: spawn E2BIG`);
            return true;
        });
        // The engine server was shut down: nothing but this test's own handles keeps the event loop alive.
        const servers = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => h?.constructor?.name === "Http2Server");
        assert.deepEqual(
            servers.map((h) => (h as { address(): unknown }).address()).filter((a) => a !== null),
            [],
        );
    });

    it("close() kills the pack process and can be called again", async () => {
        const handle = await launchPolicyPack(FIXTURE);
        const pid = handle.pid;
        assert.ok(pid !== undefined);
        process.kill(pid, 0); // alive
        await handle.close();
        assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
        await handle.close();
        await assert.rejects(handle.analyze(compliant), { message: "the policy pack is not running (closed, or never connected)" });
    });
});

describe("policy pack analyzer: the CLI's config rules (pure)", () => {
    const policy = (
        name: string,
        enforcementLevel: PolicyConfigInfo["enforcementLevel"],
        properties: Record<string, Record<string, unknown>> = {},
        required: string[] = [],
    ): PolicyConfigInfo => ({
        name,
        enforcementLevel,
        configSchema: {
            properties: { ...properties, enforcementLevel: { type: "string", enum: ["advisory", "mandatory", "remediate", "disabled"] } },
            required,
        },
    });

    // Cases and expected messages from pulumi/pulumi pkg/resource/analyzer/config_test.go.
    it("reports schema problems in gojsonschema's words", () => {
        const cases: [PolicyConfigInfo, Record<string, unknown> | undefined, string[]][] = [
            [policy("foo-policy", "advisory", { foo: { type: "string" } }, ["foo"]), undefined, ["foo-policy: foo is required"]],
            [
                policy("foo-policy", "advisory", { foo: { type: "string", default: 1 } }),
                undefined,
                ["foo-policy: foo: Invalid type. Expected: string, given: integer"],
            ],
            [
                policy("foo-policy", "advisory", { foo: { type: "string", maxLength: 3, default: "this value is too long" } }),
                undefined,
                ["foo-policy: foo: String length must be less than or equal to 3"],
            ],
            [
                policy("foo-policy", "advisory", { foo: { type: "string", enum: ["bar", "baz"] } }),
                { foo: "blah" },
                [`foo-policy: foo: foo must be one of the following: "bar", "baz"`],
            ],
            [policy("foo-policy", "advisory", { foo: { const: "bar" } }), { foo: "blah" }, [`foo-policy: foo: foo does not match: "bar"`]],
            // gojsonschema stops at a type mismatch: no enum complaint on top.
            [
                policy("foo-policy", "advisory", { foo: { type: "string", enum: ["bar", "baz"] } }),
                { foo: 1 },
                ["foo-policy: foo: Invalid type. Expected: string, given: integer"],
            ],
            [
                policy("foo-policy", "advisory", { foo: { type: ["string", "null"] } }),
                { foo: true },
                ["foo-policy: foo: Invalid type. Expected: [string,null], given: boolean"],
            ],
            [
                policy("foo-policy", "advisory", { foo: { type: "object", properties: { bar: { type: "integer" } }, required: ["baz"] } }),
                { foo: { bar: "x" } },
                ["foo-policy: foo.bar: Invalid type. Expected: integer, given: string", "foo-policy: foo: baz is required"],
            ],
            [
                policy("foo-policy", "advisory", { foo: { type: "string", maxLength: 3 }, bar: { type: "integer" } }),
                { foo: "this is too long", bar: 3.14 },
                ["foo-policy: bar: Invalid type. Expected: integer, given: number", "foo-policy: foo: String length must be less than or equal to 3"],
            ],
        ];
        for (const [info, properties, expected] of cases) {
            const given = properties === undefined ? undefined : new Map([[info.name, { enforcementLevel: "advisory" as const, properties }]]);
            const result = reconcilePolicyPackConfig([info], undefined, given);
            assert.deepEqual([...(result.validationErrors ?? [])].sort(), expected);
        }
    });

    it(`applies "all" before each policy's own entry, whatever the order in the file`, () => {
        const policies = [policy("policy-one", "advisory"), policy("policy-two", "mandatory"), policy("policy-three", "advisory")];
        const result = reconcilePolicyPackConfig(policies, undefined, parsePolicyPackConfig(`{"policy-three": "advisory", "all": "mandatory"}`));
        assert.deepEqual(
            [...(result.config ?? [])].map(([name, config]) => [name, config.enforcementLevel]),
            [
                ["policy-one", "mandatory"],
                ["policy-two", "mandatory"],
                ["policy-three", "advisory"],
                ["all", "mandatory"],
            ],
        );
    });

    it("treats empty content as no config and drops empty entries", () => {
        assert.equal(parsePolicyPackConfig(" \n\t"), undefined);
        assert.deepEqual(parsePolicyPackConfig(`{"foo": {}}`), new Map());
    });
});

describe("policy pack analyzer: what goes on the wire", () => {
    const provider = record("pulumi:providers:kubernetes", "cluster", {
        kubeconfig: { [SECRET_SIG.key]: SECRET_SIG.secret, value: "apiVersion: v1" },
        __internal: true,
    });
    const workload = deployment(
        "web",
        { replicas: 3, labels: COMPLETE_LABELS },
        {
            provider: `${provider.urn}::04da6b54-80e4-46f7-96ec-b56ff0331ba9`,
            propertyDependencies: { metadata: ["urn:pulumi:staging::fixture::kubernetes:core/v1:Namespace::apps"], spec: [] },
            options: {
                protect: true,
                retainOnDelete: false,
                ignoreChanges: ["spec.replicas"],
                deleteBeforeReplace: false,
                additionalSecretOutputs: [],
                customTimeouts: { create: "5m", update: "1h30m" },
            },
        },
    );

    it("resolves the provider from the provider reference and sends options as the engine does", () => {
        const request = analyzeRequest(workload, new ResourceIndex([provider, workload]));
        assert.equal(request.getName(), "web");
        assert.deepEqual(request.getProvider()?.toObject().urn, provider.urn);
        assert.equal(request.getProvider()?.getType(), "pulumi:providers:kubernetes");
        assert.equal(request.getProvider()?.getName(), "cluster");
        // Secrets keep their wire form; internal `__` keys are skipped.
        assert.deepEqual(request.getProvider()?.getProperties()?.toJavaScript(), {
            kubeconfig: { [SECRET_SIG.key]: SECRET_SIG.secret, value: "apiVersion: v1" },
        });
        const options = request.getOptions();
        assert.equal(options?.getParent(), ROOT);
        assert.equal(options?.getProtect(), true);
        assert.deepEqual(options?.getIgnorechangesList(), ["spec.replicas"]);
        assert.deepEqual(
            [options?.getCustomtimeouts()?.getCreate(), options?.getCustomtimeouts()?.getUpdate(), options?.getCustomtimeouts()?.getDelete()],
            [300, 5400, 0],
        );
    });

    it("gives AnalyzeStack the parent in its own field and only non-empty property dependencies", () => {
        const message = stackResource(workload, new ResourceIndex([provider, workload]));
        assert.equal(message.getParent(), ROOT);
        assert.equal(message.getOptions()?.getParent(), "");
        assert.deepEqual(
            [...message.getPropertydependenciesMap().entries()].map(([key, deps]) => [key, deps.getUrnsList()]),
            [["metadata", ["urn:pulumi:staging::fixture::kubernetes:core/v1:Namespace::apps"]]],
        );
    });

    it("reads custom timeouts as Go durations", () => {
        assert.deepEqual(["", "90s", "1.5m", "1h30m", "250ms"].map(goDurationSeconds), [0, 90, 90, 5400, 0.25]);
        assert.throws(() => goDurationSeconds("5 minutes"), { message: `time: invalid duration "5 minutes"` });
    });
});
