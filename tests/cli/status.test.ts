import assert from "node:assert/strict";
import { type Answer, formatStatusTable, planSync, type Served, statusRows, withServed } from "../../cli/gitops/registryState";
import { StackText } from "../../cli/gitops/stackText";
import type { ModelVersion, RegisteredModel } from "../../policies/mlflowRestClient";
import { unusedUrl } from "../support/faultyServers";
import { canaryObject, fakeCluster, primaryObject } from "../support/fakeCluster";
import { type CliResult, declaredModels, registrySnapshot, runCli, type SeededModel, useRegistryWorkbench } from "../support/gitRepo";

function assertExit(result: CliResult, code: number): void {
    assert.equal(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

const STACK =
    'config:\n  mlops-platform:environment: production\n  mlops-platform:models:\n    churn:\n      registeredModel: churn\n      version: "3"\n      promotion:\n        evidence: {runId: x, metrics: {}, promotedAt: "2026-11-01T00:00:00Z"}\n        approvedBy: [ml-lead]\n';
const stack = StackText.parse({ stack: "production", file: "Pulumi.production.yaml", text: STACK });
const registered = (aliases: Record<string, string>): RegisteredModel => ({
    name: "churn",
    description: "",
    aliases,
    tags: {},
    creationTimestamp: 0,
    lastUpdatedTimestamp: 0,
});
const version = (tags: Record<string, string>): ModelVersion => ({
    name: "churn",
    version: "3",
    status: "READY",
    runId: undefined,
    source: "s3://b/churn",
    aliases: [],
    tags,
    creationTimestamp: 0,
});

describe("gitops registry state (pure): status rows and sync plans", () => {
    it("shows per declared cluster which version it serves, and nothing of clusters for a stack without them", () => {
        const clustered = StackText.parse({
            stack: "production",
            file: "Pulumi.production.yaml",
            text: STACK.replace(
                "  mlops-platform:models:",
                "  mlops-platform:clusters:\n    - {name: eu-cloud, destination: {server: https://kubernetes.default.svc}}\n    - name: onprem-paris\n      destination: {name: paris}\n  mlops-platform:models:",
            ),
        });
        const answers = new Map([["churn", { kind: "found" as const, value: registered({ production: "3" }) }]]);
        const [row] = statusRows([clustered], answers);
        assert.deepEqual(row?.clusters, [
            { name: "eu-cloud", version: "3" },
            { name: "onprem-paris", version: "3" },
        ]);
        assert.deepEqual(
            formatStatusTable(statusRows([clustered], answers), "http://mlflow")
                .split("\n")
                .slice(-3),
            ["CLUSTER                  SERVES", "production/eu-cloud      churn 3", "production/onprem-paris  churn 3"],
        );
        const [plain] = statusRows([stack], answers);
        assert.equal(plain !== undefined && "clusters" in plain, false);
        assert.ok(!formatStatusTable(statusRows([stack], answers), "http://mlflow").includes("CLUSTER"));
    });

    it("shows a standing experiment's challenger beside the declared version, on every cluster too", () => {
        const experimenting = StackText.parse({
            stack: "production",
            file: "Pulumi.production.yaml",
            text: STACK.replace(
                '      version: "3"\n',
                '      version: "3"\n      experiment:\n        challenger: {version: "5"}\n        weight: 10\n',
            ).replace(
                "  mlops-platform:models:",
                "  mlops-platform:clusters:\n    - {name: eu-cloud, destination: {server: https://kubernetes.default.svc}}\n  mlops-platform:models:",
            ),
        });
        const answers = new Map([["churn", { kind: "found" as const, value: registered({ production: "3" }) }]]);
        const [row] = statusRows([experimenting], answers);
        assert.deepEqual([row?.declaredVersion, row?.challenger, row?.state], ["3", "5", "in-sync"]);
        const lines = formatStatusTable(statusRows([experimenting], answers), "http://mlflow").split("\n");
        assert.deepEqual(lines.slice(1, 3), [
            "MODEL  STACK       DECLARED          ALIAS        REGISTRY  STATE",
            "churn  production  3 (challenger 5)  @production  3         in sync",
        ]);
        assert.equal(lines.at(-1), "production/eu-cloud  churn 3 (challenger 5)");
        const [plain] = statusRows([stack], answers);
        assert.equal(plain !== undefined && "challenger" in plain, false);
    });

    const row = (answer: Parameters<typeof statusRows>[1] extends ReadonlyMap<string, infer A> ? A : never) => {
        const [only] = statusRows([stack], new Map([["churn", answer]]));
        return { state: only?.state, aliasVersion: only?.aliasVersion, detail: only?.detail };
    };

    it("tells in sync, drift, a missing alias, a missing registered model and an unanswered registry apart", () => {
        assert.deepEqual(row({ kind: "found", value: registered({ production: "3" }) }), { state: "in-sync", aliasVersion: "3", detail: "in sync" });
        assert.deepEqual(row({ kind: "found", value: registered({ production: "4" }) }), {
            state: "drift",
            aliasVersion: "4",
            detail: "alias churn@production → 4, but Pulumi.production.yaml declares 3",
        });
        assert.deepEqual(row({ kind: "found", value: registered({ staging: "3" }) }), {
            state: "alias-missing",
            aliasVersion: null,
            detail: "alias churn@production is not set; declared 3",
        });
        assert.deepEqual(row({ kind: "missing" }), {
            state: "model-missing",
            aliasVersion: null,
            detail: 'registered model "churn" does not exist in the registry',
        });
        assert.deepEqual(row({ kind: "error", message: "boom" }), { state: "unreachable", aliasVersion: null, detail: "registry cannot be asked: boom" });
    });

    it("adds the cluster's side: a primary serving another version than git declares is drift, whatever the registry says", () => {
        const inSync = statusRows([stack], new Map([["churn", { kind: "found", value: registered({ production: "3" }) }]]));
        const served = (answer: Answer<Served>) => {
            const [only] = withServed(inSync, new Map([["churn", answer]]));
            return { state: only?.state, servedVersion: only?.servedVersion, detail: only?.detail };
        };
        assert.deepEqual(served({ kind: "found", value: { version: "3", canaryPhase: "Succeeded" } }), {
            state: "in-sync",
            servedVersion: "3",
            detail: "in sync",
        });
        assert.deepEqual(served({ kind: "found", value: { version: "2", canaryPhase: "Failed" } }), {
            state: "drift",
            servedVersion: "2",
            detail: "the cluster's primary serves 2 (Canary Failed), but git declares 3",
        });
        assert.deepEqual(served({ kind: "missing" }), { state: "drift", servedVersion: null, detail: "the cluster has no churn-primary Deployment" });
        assert.deepEqual(served({ kind: "error", message: "cannot reach the cluster" }), {
            state: "unreachable",
            servedVersion: null,
            detail: "the cluster cannot be read: cannot reach the cluster",
        });
        const table = formatStatusTable(
            withServed(inSync, new Map([["churn", { kind: "found", value: { version: "2", canaryPhase: "Failed" } }]])),
            "http://r",
        );
        assert.match(table.split("\n")[1] as string, /^MODEL\s+STACK\s+DECLARED\s+ALIAS\s+REGISTRY\s+SERVED\s+STATE$/);
        assert.match(table.split("\n")[2] as string, /^churn\s+production\s+3\s+@production\s+3\s+2\s+drift: the cluster's primary serves 2/);
    });

    it("plans the alias move and the missing promotion tag, with the declared promotion's time and approvers, and nothing once both hold", () => {
        const sync = (aliases: Record<string, string>, tags: Record<string, string>) =>
            planSync(
                stack,
                new Map([["churn/3", { model: { kind: "found", value: registered(aliases) }, version: { kind: "found", value: version(tags) } }]]),
                { now: "2026-12-01T00:00:00Z", commit: "abc" },
            );
        assert.deepEqual(sync({ production: "4" }, {}), [
            {
                model: "churn",
                registeredModel: "churn",
                declaredVersion: "3",
                problem: undefined,
                actions: [
                    { kind: "set-alias", registeredModel: "churn", alias: "production", version: "3", previous: "4" },
                    {
                        kind: "set-tag",
                        registeredModel: "churn",
                        version: "3",
                        key: "mlops.promoted.production",
                        value: '{"promotedAt":"2026-11-01T00:00:00Z","commit":"abc","approvedBy":["ml-lead"]}',
                    },
                ],
            },
        ]);
        assert.deepEqual(sync({ production: "3" }, { "mlops.promoted.production": "{}" })[0]?.actions, []);
        assert.deepEqual(sync({}, { "mlops.promoted.production": "{}" })[0]?.actions, [
            { kind: "set-alias", registeredModel: "churn", alias: "production", version: "3", previous: null },
        ]);
    });

    it("records a rollout as validated only when told the cluster serves the version, and never twice", () => {
        const answers = (tags: Record<string, string>) =>
            new Map([
                [
                    "churn/3",
                    { model: { kind: "found" as const, value: registered({ production: "3" }) }, version: { kind: "found" as const, value: version(tags) } },
                ],
            ]);
        const serving = new Map([["churn", { serving: true, analysed: true, detail: "version 3 serves (Canary Succeeded)" }]]);
        const promoted = { "mlops.promoted.production": "{}" };
        const plan = (tags: Record<string, string>, rollouts?: typeof serving) =>
            planSync(stack, answers(tags), { now: "2026-12-01T00:00:00Z", commit: "abc", ...(rollouts !== undefined && { rollouts }) })[0];
        assert.deepEqual(plan(promoted, serving)?.actions, [
            { kind: "set-tag", registeredModel: "churn", version: "3", key: "mlops.validated.production", value: "2026-12-01T00:00:00Z" },
        ]);
        assert.deepEqual(plan(promoted)?.actions, [], "without --rolled-out nothing is recorded as validated");
        assert.deepEqual(plan({ ...promoted, "mlops.validated.production": "2026-11-01T00:00:00Z" }, serving)?.actions, []);
        assert.equal(
            plan(promoted, new Map([["churn", { serving: false, analysed: false, detail: "waiting: canary analysis in progress" }]]))?.problem,
            "version 3 is not serving in production, so its rollout is not recorded: waiting: canary analysis in progress",
        );
        // A first deploy serves without an analysis: the alias follows, the validation record does not.
        const initialized = plan(promoted, new Map([["churn", { serving: true, analysed: false, detail: "version 3 serves (Canary Initialized)" }]]));
        assert.deepEqual(initialized?.actions, []);
        assert.equal(initialized?.note, "not recorded as validated in production: version 3 serves (Canary Initialized), without a canary analysis");
    });

    it("writes the rollback tags git's rollback commits record and the registry lacks", () => {
        const [item] = planSync(
            stack,
            new Map([
                [
                    "churn/3",
                    {
                        model: { kind: "found", value: registered({ production: "3" }) },
                        version: { kind: "found", value: version({ "mlops.promoted.production": "{}" }) },
                    },
                ],
            ]),
            {
                now: "2026-12-01T00:00:00Z",
                commit: "abc",
                missingRollbackTags: [{ model: "churn", version: "4", tag: { rolledBackAt: "2026-11-30T08:00:00Z", reason: "latency", commit: "abc" } }],
            },
        );
        assert.deepEqual(item?.actions, [
            {
                kind: "set-tag",
                registeredModel: "churn",
                version: "4",
                key: "mlops.rolled_back.production",
                value: '{"rolledBackAt":"2026-11-30T08:00:00Z","reason":"latency","commit":"abc"}',
            },
        ]);
    });

    it("reports a model it cannot sync instead of guessing", () => {
        const problem = (answers: Parameters<typeof planSync>[1]) => planSync(stack, answers, { now: "2026-12-01T00:00:00Z", commit: undefined })[0]?.problem;
        assert.equal(
            problem(new Map([["churn/3", { model: { kind: "found", value: registered({}) }, version: { kind: "missing" } }]])),
            'version 3 of "churn" does not exist in the registry',
        );
        assert.equal(
            problem(new Map([["churn/3", { model: { kind: "missing" }, version: { kind: "missing" } }]])),
            'registered model "churn" does not exist in the registry',
        );
        assert.equal(
            problem(new Map([["churn/3", { model: { kind: "error", message: "down" }, version: { kind: "error", message: "down" } }]])),
            "registry cannot be asked: down",
        );
    });
});

describe("npm run status and npm run sync-registry (child processes, real MLflow registry)", () => {
    const bench = useRegistryWorkbench();
    /** `<registered model>@<environment>` → declared version. */
    let declared: Record<string, string>;

    /** `trackingUri` "" runs the command without MLFLOW_TRACKING_URI. */
    const cli = (command: "status" | "sync-registry", args: readonly string[], trackingUri = bench.server.url) =>
        runCli(command, args, { projectDir: bench.repo.dir, trackingUri });

    beforeEach(() => {
        declared = Object.fromEntries(declaredModels(bench.repo.dir).map((d) => [`${d.registeredModel}@${d.environment}`, d.version]));
    });

    /** Production's fraud_detector alias moved off the declared version, staging's product_image_tagger alias gone. */
    async function drift(): Promise<string> {
        const moved = (bench.seeded["fraud_detector"] as SeededModel).candidateVersion;
        await bench.registry.setAlias("fraud_detector", "production", moved);
        await bench.registry.deleteAlias("product_image_tagger", "staging");
        return moved;
    }

    it("reports per model and environment the declared version, the alias' version and the drift (--json)", async () => {
        const moved = await drift();
        const result = await cli("status", ["--json"]);
        assertExit(result, 0);
        const row = (model: string, registeredModel: string, environment: string, aliasVersion: string | null, state: string, detail: string) => ({
            stack: environment,
            environment,
            model,
            registeredModel,
            declaredVersion: declared[`${registeredModel}@${environment}`],
            alias: environment,
            aliasVersion,
            state,
            detail,
        });
        assert.deepEqual(JSON.parse(result.stdout), {
            registry: bench.server.url,
            unreadable: [],
            models: [
                row("fraud-detector", "fraud_detector", "staging", declared["fraud_detector@staging"] as string, "in-sync", "in sync"),
                row(
                    "fraud-detector",
                    "fraud_detector",
                    "production",
                    moved,
                    "drift",
                    `alias fraud_detector@production → ${moved}, but Pulumi.production.yaml declares ${declared["fraud_detector@production"]}`,
                ),
                row(
                    "product-image-tagger",
                    "product_image_tagger",
                    "staging",
                    null,
                    "alias-missing",
                    `alias product_image_tagger@staging is not set; declared ${declared["product_image_tagger@staging"]}`,
                ),
                row("product-image-tagger", "product_image_tagger", "production", declared["product_image_tagger@production"] as string, "in-sync", "in sync"),
            ],
        });
    });

    it("still reports every other stack when one stack file is an alias bomb, and names that file once", async () => {
        bench.repo.write(
            "Pulumi.qa.yaml",
            `${"a: &a [x, x, x, x, x, x, x, x, x]\n"}${"bcdefghi"
                .split("")
                .map((name, i) => `${name}: &${name} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(", ")}]\n`)
                .join("")}config: {mlops-platform:models: *i}\n`,
        );
        const bomb = "Pulumi.qa.yaml: refused: its aliases expand past the 100 alias references a stack file may use (a YAML alias bomb?)";
        const json = await cli("status", ["--json"]);
        assertExit(json, 0);
        const report = JSON.parse(json.stdout) as { models: Array<{ state: string }>; unreadable: unknown };
        assert.equal(report.models.length, 4);
        assert.deepEqual(
            report.models.map((row) => row.state),
            ["in-sync", "in-sync", "in-sync", "in-sync"],
        );
        assert.deepEqual(report.unreadable, [{ stack: "qa", file: "Pulumi.qa.yaml", problem: bomb }]);

        const table = await cli("status", []);
        assertExit(table, 0);
        assert.equal(table.stderr, `warning: not read: ${bomb}\n`);
        assert.equal(table.stdout.trimEnd().split("\n").length, 6);
    });

    it("prints the same as a table for people", async () => {
        const moved = await drift();
        const result = await cli("status", []);
        assertExit(result, 0);
        const lines = result.stdout.trimEnd().split("\n");
        assert.equal(lines[0], `registry: ${bench.server.url}`);
        assert.match(lines[1] as string, /^MODEL\s+STACK\s+DECLARED\s+ALIAS\s+REGISTRY\s+STATE$/);
        assert.match(
            lines[3] as string,
            new RegExp(
                `^fraud-detector\\s+production\\s+${declared["fraud_detector@production"]}\\s+@production\\s+${moved}\\s+drift: alias fraud_detector@production → ${moved}, but`,
            ),
        );
        assert.match(lines[4] as string, /^product-image-tagger\s+staging\s+\d+\s+@staging\s+-\s+alias-missing: /);
        assert.equal(lines.length, 6);
    });

    it("says per model that the registry cannot be reached, and still reports what git declares", async () => {
        const down = await unusedUrl();
        const result = await cli("status", ["--json"], down);
        assertExit(result, 0);
        const report = JSON.parse(result.stdout) as {
            registry: string;
            models: Array<{ model: string; declaredVersion: string; state: string; detail: string; registeredModel: string }>;
        };
        assert.equal(report.registry, down);
        assert.equal(report.models.length, 4);
        for (const row of report.models) {
            assert.equal(row.state, "unreachable");
            assert.equal(
                row.detail,
                `registry cannot be asked: MLflow registry ${down}: getRegisteredModel(${row.registeredModel}): unreachable (connect ECONNREFUSED 127.0.0.1:${new URL(down).port})`,
            );
        }
        assert.deepEqual(
            report.models.map((r) => r.declaredVersion),
            [
                declared["fraud_detector@staging"],
                declared["fraud_detector@production"],
                declared["product_image_tagger@staging"],
                declared["product_image_tagger@production"],
            ],
        );

        const unset = await cli("status", ["--json"], "");
        assertExit(unset, 0);
        const unsetReport = JSON.parse(unset.stdout) as { registry: null; models: Array<{ state: string; detail: string }> };
        assert.equal(unsetReport.registry, null);
        assert.deepEqual(
            new Set(unsetReport.models.map((r) => `${r.state}: ${r.detail}`)),
            new Set(["unreachable: registry cannot be asked: MLFLOW_TRACKING_URI is not set"]),
        );
    });

    it("sync-registry points each alias at the declared version, tags what is not yet tagged, and is idempotent", async () => {
        const moved = await drift();
        const before = await registrySnapshot(bench.server.url, bench.seeded);
        const dryRun = await cli("sync-registry", ["--stack", "production", "--dry-run"]);
        assertExit(dryRun, 0);
        assert.deepEqual(await registrySnapshot(bench.server.url, bench.seeded), before);
        const fraudVersion = declared["fraud_detector@production"] as string;
        const taggerVersion = declared["product_image_tagger@production"] as string;
        assert.equal(
            dryRun.stdout,
            `fraud-detector (fraud_detector version ${fraudVersion}): would set alias fraud_detector@production → version ${fraudVersion} (was ${moved}); tag mlops.promoted.production on fraud_detector version ${fraudVersion}\n` +
                `product-image-tagger (product_image_tagger version ${taggerVersion}): would set tag mlops.promoted.production on product_image_tagger version ${taggerVersion}\n`,
        );

        const first = await cli("sync-registry", ["--stack", "production"]);
        assertExit(first, 0);
        assert.equal(first.stdout, dryRun.stdout.replaceAll("would set", "set"));
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, fraudVersion);
        const tag = JSON.parse((await bench.registry.getModelVersion("fraud_detector", fraudVersion)).tags["mlops.promoted.production"] as string) as Record<
            string,
            unknown
        >;
        assert.equal(tag["commit"], bench.repo.head());

        const second = await cli("sync-registry", ["--stack", "production"]);
        assertExit(second, 0);
        assert.equal(
            second.stdout,
            `fraud-detector (fraud_detector version ${fraudVersion}): already in sync\nproduct-image-tagger (product_image_tagger version ${taggerVersion}): already in sync\n`,
        );

        const staging = await cli("sync-registry", ["--stack", "staging"]);
        assertExit(staging, 0);
        assert.equal((await bench.registry.getVersionByAlias("product_image_tagger", "staging"))?.version, declared["product_image_tagger@staging"]);
    });

    it("sync-registry --rolled-out reads the rollout from the cluster and records as validated only a version it serves", async () => {
        const candidate = (bench.seeded["fraud_detector"] as SeededModel).candidateVersion;
        assertExit(await runCli("promote", ["fraud-detector", candidate, "--to", "staging"], { projectDir: bench.repo.dir, trackingUri: bench.server.url }), 0);
        const taggerVersion = declared["product_image_tagger@staging"] as string;
        const cluster = fakeCluster();
        try {
            cluster.put("canaries.flagger.app", "models", "fraud-detector", canaryObject("fraud-detector", candidate, "Succeeded"));
            cluster.put("deployments.apps", "models", "fraud-detector-primary", primaryObject("fraud-detector", candidate));
            cluster.put("canaries.flagger.app", "models", "product-image-tagger", canaryObject("product-image-tagger", "99", "Progressing"));

            // Without --rolled-out nothing is recorded as validated, whatever the cluster does.
            assertExit(await cli("sync-registry", ["--stack", "staging"]), 0);
            assert.equal((await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.validated.staging"], undefined);

            const startedAt = Date.now() - 1000;
            const result = await runCli("sync-registry", ["--stack", "staging", "--rolled-out"], {
                projectDir: bench.repo.dir,
                trackingUri: bench.server.url,
                env: cluster.env,
            });
            assertExit(result, 1);
            const validatedAt = (await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.validated.staging"] as string;
            assert.match(validatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
            assert.ok(Date.parse(validatedAt) >= startedAt - 1000 && Date.parse(validatedAt) <= Date.now(), validatedAt);
            assert.equal(
                result.stdout,
                `fraud-detector (fraud_detector version ${candidate}): set tag mlops.validated.staging on fraud_detector version ${candidate}\n`,
            );
            assert.equal(
                result.stderr,
                `product-image-tagger (product_image_tagger version ${taggerVersion}): not synced: version ${taggerVersion} is not serving in staging, so its rollout is not recorded: ` +
                    "waiting: the Canary still declares version 99 (the new manifests have not been applied or synced yet)\n",
            );
        } finally {
            cluster.remove();
        }
    });

    it("sync-registry writes the rollback tag a rollback commit records when the rollback's own registry step did not", async () => {
        const candidate = (bench.seeded["fraud_detector"] as SeededModel).candidateVersion;
        const text = bench.repo.read("Pulumi.staging.yaml");
        const commit = bench.repo.commit(
            "Pulumi.staging.yaml",
            text.replace("# Staging:", "# Staging (rolled back by hand):"),
            `rollback fraud-detector ${candidate} → ${declared["fraud_detector@staging"]} in staging\n\nRolled-Back: fraud-detector version ${candidate}\nRollback-Reason: the registry was down`,
        );
        const result = await cli("sync-registry", ["--stack", "staging"]);
        assertExit(result, 0);
        assert.match(result.stdout, new RegExp(`set tag mlops\\.rolled_back\\.staging on fraud_detector version ${candidate}\n`));
        const tag = JSON.parse((await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.rolled_back.staging"] as string) as Record<
            string,
            string
        >;
        assert.deepEqual(tag, { rolledBackAt: tag["rolledBackAt"], reason: "the registry was down", commit });
        const again = await cli("sync-registry", ["--stack", "staging"]);
        assert.doesNotMatch(again.stdout, /rolled_back/);
    });

    it("sync-registry syncs what it can and exits 1 naming a model whose declared version the registry lacks", async () => {
        const text = bench.repo.read("Pulumi.staging.yaml");
        const start = text.indexOf("\n    product-image-tagger:\n");
        const edited = text.slice(0, start) + text.slice(start).replace(/version: "\d+"/, 'version: "42"');
        bench.repo.commit("Pulumi.staging.yaml", edited, "product-image-tagger: version 42");
        const result = await cli("sync-registry", ["--stack", "staging"]);
        assertExit(result, 1);
        assert.equal(
            result.stderr,
            'product-image-tagger (product_image_tagger version 42): not synced: version 42 of "product_image_tagger" does not exist in the registry\n',
        );
        assert.equal(result.stdout, `fraud-detector (fraud_detector version ${declared["fraud_detector@staging"]}): already in sync\n`);
    });
});
