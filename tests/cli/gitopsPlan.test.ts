import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { criteriaOf, type EnvironmentCriteria } from "../../cli/gitops/criteria";
import { planPromotion, planRollback, type PromotionInputs, type PromotionRequest } from "../../cli/gitops/plan";
import { Refusal } from "../../cli/gitops/refusal";
import { StackText } from "../../cli/gitops/stackText";
import type { ModelVersion, Run } from "../../policies/mlflowRestClient";

const ROOT = path.resolve(__dirname, "..", "..");
const REGISTRY = "https://mlflow.ml.example.com";
const RUN_ID = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";
const CHAMPION_RUN_ID = "9f8e7d6c5b4a40312f1e0d9c8b7a6f5e";
const PROMOTED_AT = "2026-11-20T08:00:00Z";
/** When the candidate's staging rollout succeeded: 93 hours before PROMOTED_AT. */
const VALIDATED_AT = "2026-11-16T11:00:00Z";

const shippedText = (stack: string) => readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8");
const stackOf = (stack: string, text = shippedText(stack)) => StackText.parse({ stack, file: `Pulumi.${stack}.yaml`, text });
const shippedCriteria = (environment: string, change: (config: Record<string, Record<string, unknown>>) => void = () => {}): EnvironmentCriteria => {
    const config = JSON.parse(readFileSync(path.join(ROOT, "policies", "config", `${environment}.json`), "utf8")) as Record<string, Record<string, unknown>>;
    change(config);
    return criteriaOf(config, `policies/config/${environment}.json`);
};

// What the shipped stacks declare, so the tests follow the files rather than copies of their numbers.
const STAGING_VERSION = stackOf("staging").model("fraud-detector")?.version as string;
const PRODUCTION_VERSION = stackOf("production").model("fraud-detector")?.version as string;

const modelVersion = (overrides: Partial<ModelVersion> = {}): ModelVersion => ({
    name: "fraud_detector",
    version: STAGING_VERSION,
    status: "READY",
    runId: RUN_ID,
    source: `runs:/${RUN_ID}/model`,
    aliases: ["staging"],
    tags: { "mlops.promoted.staging": '{"promotedAt":"2026-11-16T10:05:00Z"}', "mlops.validated.staging": VALIDATED_AT },
    creationTimestamp: 1_700_000_000_000,
    ...overrides,
});
const run = (metrics: Record<string, number> = { accuracy: 0.96, f1: 0.93, training_loss: 0.2 }, runId = RUN_ID): Run => ({
    runId,
    status: "FINISHED",
    metrics,
    params: {},
    tags: {},
});
/** What production serves: its declared version, with the metrics its evidence declares. */
const champion = (metrics: Record<string, number> = { accuracy: 0.95, f1: 0.92, training_loss: 0.3 }) => ({
    modelVersion: modelVersion({ version: PRODUCTION_VERSION, runId: CHAMPION_RUN_ID, aliases: ["production"], tags: {} }),
    run: run(metrics, CHAMPION_RUN_ID),
});

const request = (overrides: Partial<PromotionRequest> = {}): PromotionRequest => ({
    model: "fraud-detector",
    version: STAGING_VERSION,
    stack: "production",
    approvedBy: ["ml-lead", "head-of-ml"],
    ...overrides,
});
const inputs = (overrides: Partial<PromotionInputs> = {}): PromotionInputs => ({
    request: request(),
    stacks: [stackOf("staging"), stackOf("production")],
    criteria: shippedCriteria("production"),
    registry: { url: REGISTRY, modelVersion: modelVersion(), run: run(), champion: champion() },
    promotedAt: PROMOTED_AT,
    ...overrides,
});

/** Asserts that `plan()` refuses with exactly this message and exit code. */
function refuses(plan: () => unknown, message: string, exitCode: number): void {
    assert.throws(plan, (err: unknown) => {
        assert.ok(err instanceof Refusal, `expected a Refusal, got ${String(err)}`);
        assert.equal(err.message, message);
        assert.equal(err.exitCode, exitCode);
        return true;
    });
}

/** The lines that differ between two texts of the same length, as [before, after] pairs. */
function changedLines(before: string, after: string): Array<[string, string]> {
    const a = before.split("\n");
    const b = after.split("\n");
    assert.equal(b.length, a.length, "the edit added or removed lines");
    return a.flatMap((line, i): Array<[string, string]> => (line === b[i] ? [] : [[line, b[i] as string]]));
}

describe("gitops plan: promotion", () => {
    const subject = `promote fraud-detector version ${STAGING_VERSION} to production`;

    it("plans staging → production: only the version and evidence lines change, with the registry's run, metrics, rollout time and champion", () => {
        const plan = planPromotion(inputs());
        const before = stackOf("production").model("fraud-detector");
        const evidence = (
            before?.promotion as {
                evidence: {
                    runId: string;
                    metrics: Record<string, number>;
                    validatedAt: string;
                    promotedAt: string;
                    champion: { version: string; metrics: Record<string, number> };
                };
            }
        ).evidence;
        assert.deepEqual(changedLines(shippedText("production"), plan.after), [
            [`      version: "${PRODUCTION_VERSION}"`, `      version: "${STAGING_VERSION}"`],
            [`          runId: ${evidence.runId}`, `          runId: ${RUN_ID}`],
            [`            accuracy: ${evidence.metrics["accuracy"]}`, "            accuracy: 0.96"],
            [`            f1: ${evidence.metrics["f1"]}`, "            f1: 0.93"],
            [`          validatedAt: "${evidence.validatedAt}"`, `          validatedAt: "${VALIDATED_AT}"`],
            [`          promotedAt: "${evidence.promotedAt}"`, `          promotedAt: "${PROMOTED_AT}"`],
            [`            version: "${evidence.champion.version}"`, `            version: "${PRODUCTION_VERSION}"`],
            [`              accuracy: ${evidence.champion.metrics["accuracy"]}`, "              accuracy: 0.95"],
            [`              f1: ${evidence.champion.metrics["f1"]}`, "              f1: 0.92"],
            ["        approvedBy: [ml-lead, product-owner]", "        approvedBy: [ml-lead, head-of-ml]"],
        ]);
        assert.equal(plan.before, shippedText("production"));
        assert.deepEqual(
            {
                stack: plan.stack,
                file: plan.file,
                model: plan.model,
                registeredModel: plan.registeredModel,
                environment: plan.environment,
                fromVersion: plan.fromVersion,
                toVersion: plan.toVersion,
            },
            {
                stack: "production",
                file: "Pulumi.production.yaml",
                model: "fraud-detector",
                registeredModel: "fraud_detector",
                environment: "production",
                fromVersion: PRODUCTION_VERSION,
                toVersion: STAGING_VERSION,
            },
        );
        assert.deepEqual(plan.warnings, []);
    });

    it("names model, versions, environment, metrics, the staging rollout and soak, the champion comparison and the approvers asked in the commit message", () => {
        assert.equal(
            planPromotion(inputs()).commitMessage,
            [
                `promote fraud-detector ${PRODUCTION_VERSION} → ${STAGING_VERSION} in production`,
                "",
                "Model:       fraud-detector (registered model fraud_detector)",
                `Version:     ${PRODUCTION_VERSION} → ${STAGING_VERSION}`,
                "Environment: production (Pulumi.production.yaml), validated in staging",
                `Run:         ${RUN_ID}`,
                "Metrics:     accuracy=0.96, f1=0.93",
                `Validated:   in staging, rollout succeeded ${VALIDATED_AT}: 93 hours before this promotion (at least 24 required)`,
                `Champion:    version ${PRODUCTION_VERSION} (production's alias): accuracy 0.95 → 0.96 (+0.01), f1 0.92 → 0.93 (+0.01); regression tolerated: accuracy 0.01, f1 0.01`,
                "Approvers:   ml-lead, head-of-ml (approval: their approving reviews of the pull request; --approved-by only asks for them)",
                "Criteria:    policies/config/production.json (mandatory): met",
            ].join("\n"),
        );
    });

    it("goes through a pull request in production: no registry write until the merge has rolled out, and the evidence table as its body", () => {
        const plan = planPromotion(inputs());
        assert.deepEqual(plan.registryActions("c0ffee"), []);
        assert.equal(plan.pullRequest?.title, `promote fraud-detector ${PRODUCTION_VERSION} → ${STAGING_VERSION} in production`);
        assert.deepEqual(plan.pullRequest?.body.split("\n").slice(0, 7), [
            `Promotes **fraud-detector** (registered model \`fraud_detector\`) from version ${PRODUCTION_VERSION} to **version ${STAGING_VERSION}** in \`production\` (\`Pulumi.production.yaml\`).`,
            "",
            `| metric | version ${STAGING_VERSION} | champion (version ${PRODUCTION_VERSION}) | required |`,
            "|---|---|---|---|",
            "| accuracy | 0.96 | 0.95 | ≥ 0.9, regression ≤ 0.01 |",
            "| f1 | 0.93 | 0.92 | ≥ 0.85, regression ≤ 0.01 |",
            "",
        ]);
        assert.match(plan.pullRequest?.body ?? "", new RegExp(`\\| validated in \\| staging, rollout succeeded ${VALIDATED_AT} \\|`));
        assert.match(plan.pullRequest?.body ?? "", /approved on its last commit by 2 of ml-lead, product-owner, head-of-ml/);
        assert.deepEqual(plan.approvers, ["ml-lead", "head-of-ml"]);
    });

    it("records a staging promotion in the registry after the commit: the environment's alias and the contract's tag", () => {
        const next = String(Number(STAGING_VERSION) + 1);
        const plan = planPromotion(
            inputs({
                request: request({ version: next, stack: "staging", approvedBy: [] }),
                criteria: shippedCriteria("staging"),
                registry: { url: REGISTRY, modelVersion: modelVersion({ version: next, tags: {} }), run: run() },
            }),
        );
        assert.equal(plan.pullRequest, undefined);
        assert.deepEqual(plan.registryActions("c0ffee"), [
            { kind: "set-alias", registeredModel: "fraud_detector", alias: "staging", version: next },
            {
                kind: "set-tag",
                registeredModel: "fraud_detector",
                version: next,
                key: "mlops.promoted.staging",
                value: `{"promotedAt":"${PROMOTED_AT}","commit":"c0ffee","approvedBy":[]}`,
            },
        ]);
    });

    it("declares the metrics the criteria judge and those the stack already declares, not every metric of the run", () => {
        const plan = planPromotion(
            inputs({
                registry: {
                    url: REGISTRY,
                    champion: champion(),
                    modelVersion: modelVersion(),
                    run: run({ accuracy: 0.96, f1: 0.93, auc: 0.99, training_loss: 0.2 }),
                },
            }),
        );
        assert.deepEqual(
            (
                StackText.parse({ stack: "production", file: "Pulumi.production.yaml", text: plan.after }).model("fraud-detector")?.promotion as {
                    evidence: unknown;
                }
            ).evidence,
            {
                runId: RUN_ID,
                metrics: { accuracy: 0.96, f1: 0.93 },
                validatedIn: "staging",
                validatedAt: VALIDATED_AT,
                promotedAt: PROMOTED_AT,
                champion: { version: PRODUCTION_VERSION, metrics: { accuracy: 0.95, f1: 0.92 } },
            },
        );
    });

    it("refuses a version below the production thresholds (exit 1)", () => {
        refuses(
            () =>
                planPromotion(
                    inputs({ registry: { url: REGISTRY, champion: champion(), modelVersion: modelVersion(), run: run({ accuracy: 0.85, f1: 0.93 }) } }),
                ),
            `refused to ${subject}: metric "accuracy" is 0.85, below the required 0.9; ` +
                `metric "accuracy" is 0.85, 0.1 below the champion's 0.95 (version ${PRODUCTION_VERSION}); at most 0.01 is tolerated`,
            1,
        );
    });

    it("refuses a run without a judged metric, and a metric that is not a number (exit 1)", () => {
        refuses(
            () =>
                planPromotion(inputs({ registry: { url: REGISTRY, champion: champion(), modelVersion: modelVersion(), run: run({ accuracy: Number.NaN }) } })),
            `refused to ${subject}: metric "accuracy" is NaN, below the required 0.9; the evidence lacks metric "f1" (at least 0.85 required); run ${RUN_ID} recorded accuracy = NaN, which cannot be declared as evidence`,
            1,
        );
    });

    it("refuses too few approvals and approvers who may not approve (exit 1)", () => {
        refuses(
            () => planPromotion(inputs({ request: request({ approvedBy: ["ml-lead"] }) })),
            `refused to ${subject}: the promotion needs 2 approvals from allowed approvers, got 1 (ml-lead)`,
            1,
        );
        refuses(
            () => planPromotion(inputs({ request: request({ approvedBy: ["ml-lead", "intern"] }) })),
            `refused to ${subject}: approver "intern" is not an allowed approver (allowed: ml-lead, product-owner, head-of-ml); the promotion needs 2 approvals from allowed approvers, got 1 (ml-lead)`,
            1,
        );
        refuses(
            () => planPromotion(inputs({ request: request({ approvedBy: [] }) })),
            `refused to ${subject}: the promotion needs 2 approvals from allowed approvers, got 0`,
            1,
        );
    });

    it("refuses a version that skips staging (not declared there), and one the registry records no staging promotion for (exit 1)", () => {
        const next = String(Number(STAGING_VERSION) + 1);
        refuses(
            () =>
                planPromotion(
                    inputs({
                        request: request({ version: next }),
                        registry: { url: REGISTRY, modelVersion: modelVersion({ version: next }), run: run(), champion: champion() },
                    }),
                ),
            `refused to promote fraud-detector version ${next} to production: version ${next} skips staging: Pulumi.staging.yaml declares version ${STAGING_VERSION}; promote it to staging first`,
            1,
        );
        refuses(
            () =>
                planPromotion(
                    inputs({
                        registry: { url: REGISTRY, champion: champion(), modelVersion: modelVersion({ tags: { "mlops.promoted.staging": "{}" } }), run: run() },
                    }),
                ),
            `refused to ${subject}: the registry records no successful rollout of version ${STAGING_VERSION} in staging (no "mlops.validated.staging" tag): ` +
                "the deploy workflow writes it (npm run sync-registry -- --stack staging --rolled-out) once staging serves the version",
            1,
        );
    });

    it("refuses a version that has not run long enough in staging since its rollout succeeded (exit 1)", () => {
        refuses(
            () => planPromotion(inputs({ promotedAt: "2026-11-17T05:00:00Z" })),
            `refused to ${subject}: the version ran 18 hours in "staging" before its promotion (rollout succeeded ${VALIDATED_AT}, promoted 2026-11-17T05:00:00Z); at least 24 hours are required`,
            1,
        );
    });

    it("refuses a regression against the champion beyond the tolerance, and a production without a champion alias (exit 1)", () => {
        refuses(
            () =>
                planPromotion(
                    inputs({ registry: { url: REGISTRY, modelVersion: modelVersion(), run: run(), champion: champion({ accuracy: 0.99, f1: 0.93 }) } }),
                ),
            `refused to ${subject}: metric "accuracy" is 0.96, 0.03 below the champion's 0.99 (version ${PRODUCTION_VERSION}); at most 0.01 is tolerated`,
            1,
        );
        refuses(
            () => planPromotion(inputs({ registry: { url: REGISTRY, modelVersion: modelVersion(), run: run() } })),
            `refused to ${subject}: the registry has no "production" alias for "fraud_detector", so there is no champion to compare version ${STAGING_VERSION} with; ` +
                "run npm run sync-registry -- --stack production once production serves its declared version",
            1,
        );
    });

    it("refuses a version rolled back before unless a reason is given, which the commit then carries as a trailer", () => {
        const rolledBack = [{ version: STAGING_VERSION, environment: "production", said: 'rolled back in production at 2026-11-18T07:00:00Z ("latency")' }];
        refuses(
            () => planPromotion(inputs({ rolledBack })),
            `refused to ${subject}: version ${STAGING_VERSION} was rolled back in production at 2026-11-18T07:00:00Z ("latency"); promote it again only with --allow-rolled-back "<why it is safe now>"`,
            1,
        );
        const plan = planPromotion(inputs({ rolledBack, request: request({ allowRolledBack: "cache fixed" }) }));
        assert.deepEqual(plan.commitMessage.split("\n").slice(-3), [
            `Rolled back: version ${STAGING_VERSION} was rolled back in production at 2026-11-18T07:00:00Z ("latency"); promoted again because: cache fixed`,
            "",
            "Allow-Rolled-Back: cache fixed",
        ]);
    });

    it("refuses a version that is not READY or has no run to judge it by (exit 1)", () => {
        refuses(
            () =>
                planPromotion(
                    inputs({ registry: { url: REGISTRY, champion: champion(), modelVersion: modelVersion({ status: "PENDING_REGISTRATION" }), run: run() } }),
                ),
            `refused to ${subject}: version ${STAGING_VERSION} of "fraud_detector" is PENDING_REGISTRATION in the registry, not READY`,
            1,
        );
        refuses(
            () => planPromotion(inputs({ registry: { url: REGISTRY, modelVersion: modelVersion({ runId: undefined }), run: undefined } })),
            `refused to ${subject}: version ${STAGING_VERSION} of "fraud_detector" was registered from no run, so there are no metrics to judge it by`,
            1,
        );
    });

    it("refuses an unknown stack, model or version, a version that is not a number, and one already declared (exit 2)", () => {
        refuses(
            () => planPromotion(inputs({ request: request({ stack: "qa" }) })),
            `refused to promote fraud-detector version ${STAGING_VERSION} to qa: there is no stack "qa" (stacks: staging, production)`,
            2,
        );
        refuses(
            () => planPromotion(inputs({ request: request({ model: "spam-filter" }) })),
            `refused to promote spam-filter version ${STAGING_VERSION} to production: Pulumi.production.yaml declares no model "spam-filter" (declared: fraud-detector, product-image-tagger)`,
            2,
        );
        refuses(
            () => planPromotion(inputs({ registry: { url: REGISTRY, modelVersion: undefined, run: undefined } })),
            `refused to ${subject}: version ${STAGING_VERSION} of registered model "fraud_detector" does not exist in the registry at ${REGISTRY}`,
            2,
        );
        refuses(
            () => planPromotion(inputs({ request: request({ version: "latest" }) })),
            'refused to promote fraud-detector version latest to production: "latest" is not a registry version number (a pinned positive integer, never an alias or "latest")',
            2,
        );
        refuses(
            () => planPromotion(inputs({ request: request({ version: PRODUCTION_VERSION }) })),
            `refused to promote fraud-detector version ${PRODUCTION_VERSION} to production: Pulumi.production.yaml already declares version ${PRODUCTION_VERSION}; nothing to promote`,
            2,
        );
    });

    it("refuses an edit that would make the stack file invalid (exit 2)", () => {
        refuses(
            () =>
                planPromotion(
                    inputs({
                        request: request({ approvedBy: ["ml-lead", "no such person"] }),
                        criteria: shippedCriteria(
                            "production",
                            (c) =>
                                ((c["model-promotion-evidence"] as Record<string, unknown>)["allowedApprovers"] = ["ml-lead", "head-of-ml", "no such person"]),
                        ),
                    }),
                ),
            `refused to ${subject}: the edited Pulumi.production.yaml would be invalid: mlops-platform:models.fraud-detector.promotion.approvedBy[1]: expected an approver name, got "no such person"`,
            2,
        );
    });

    it("refuses a version below staging's thresholds (the seeds' accuracy ≥ 0.85, f1 ≥ 0.80: mandatory), and promotes one that meets them without validatedIn or champion", () => {
        const next = String(Number(STAGING_VERSION) + 1);
        const toStaging = (metrics: Record<string, number>) =>
            planPromotion(
                inputs({
                    request: request({ version: next, stack: "staging", approvedBy: [] }),
                    criteria: shippedCriteria("staging"),
                    registry: { url: REGISTRY, modelVersion: modelVersion({ version: next, tags: {} }), run: run(metrics) },
                }),
            );
        refuses(
            () => toStaging({ accuracy: 0.41, f1: 0.3 }),
            `refused to promote fraud-detector version ${next} to staging: metric "accuracy" is 0.41, below the required 0.85; metric "f1" is 0.3, below the required 0.8`,
            1,
        );
        const plan = toStaging({ accuracy: 0.85, f1: 0.8 });
        assert.deepEqual(plan.warnings, []);
        assert.equal(plan.commitMessage.split("\n").at(-1), "Criteria:    policies/config/staging.json (mandatory): met");
        const evidence = (
            StackText.parse({ stack: "staging", file: "Pulumi.staging.yaml", text: plan.after }).model("fraud-detector")?.promotion as {
                evidence: Record<string, unknown>;
            }
        ).evidence;
        assert.deepEqual(Object.keys(evidence), ["runId", "metrics", "promotedAt"]);
        assert.equal(plan.environment, "staging");
    });

    it("reports problems as warnings under an advisory policy, and still commits", () => {
        const next = String(Number(STAGING_VERSION) + 1);
        const plan = planPromotion(
            inputs({
                request: request({ version: next, stack: "staging", approvedBy: [] }),
                criteria: shippedCriteria("staging", (c) => ((c["model-promotion-evidence"] as Record<string, unknown>)["enforcementLevel"] = "advisory")),
                registry: { url: REGISTRY, modelVersion: modelVersion({ version: next, tags: {} }), run: run({ accuracy: 0.8, f1: 0.93 }) },
            }),
        );
        assert.deepEqual(plan.warnings, ['metric "accuracy" is 0.8, below the required 0.85']);
        assert.equal(
            plan.commitMessage.split("\n").at(-1),
            'Criteria:    policies/config/staging.json (advisory): not met: metric "accuracy" is 0.8, below the required 0.85',
        );
    });
});

describe("gitops plan: criteria from the policy config", () => {
    it("reads the shipped production criteria: mandatory, thresholds, validation in staging with a day's soak, no regression, two of three approvers", () => {
        assert.deepEqual(shippedCriteria("production"), {
            file: "policies/config/production.json",
            enforcementLevel: "mandatory",
            config: {
                minMetrics: { accuracy: 0.9, f1: 0.85 },
                maxMetrics: {},
                requiredValidationEnvironment: "staging",
                minValidationSoakHours: 24,
                maxRegression: { accuracy: 0.01, f1: 0.01 },
                minApprovals: 2,
                allowedApprovers: ["ml-lead", "product-owner", "head-of-ml"],
            },
        });
    });

    it("applies the policy schema's defaults, the pack-wide level and a bare level as the CLI does", () => {
        assert.deepEqual(criteriaOf({}, "c.json"), {
            file: "c.json",
            enforcementLevel: "mandatory",
            config: {
                minMetrics: { accuracy: 0.9, f1: 0.85 },
                maxMetrics: {},
                requiredValidationEnvironment: "staging",
                minValidationSoakHours: 24,
                maxRegression: { accuracy: 0.01, f1: 0.01 },
                minApprovals: 2,
                allowedApprovers: [],
            },
        });
        assert.equal(criteriaOf({ all: "advisory" }, "c.json").enforcementLevel, "advisory");
        assert.equal(
            criteriaOf({ all: { enforcementLevel: "advisory" }, "model-promotion-evidence": { minApprovals: 1 } }, "c.json").enforcementLevel,
            "advisory",
        );
        assert.equal(criteriaOf({ "model-promotion-evidence": "disabled" }, "c.json").enforcementLevel, "disabled");
    });

    it("refuses a config the pack would refuse, naming the file", () => {
        assert.throws(() => criteriaOf({ "model-promotion-evidence": { enforcementLevel: "strict" } }, "c.json"), {
            message: 'c.json: "model-promotion-evidence" has enforcement level "strict"; expected one of advisory, mandatory, remediate, disabled',
        });
        assert.throws(() => criteriaOf({ "model-promotion-evidence": { minApprovals: "two" } }, "c.json"), {
            message: 'c.json: "model-promotion-evidence"/minApprovals must be integer',
        });
        assert.throws(() => criteriaOf([], "c.json"), { message: "c.json must be a JSON object of policy names to settings" });
    });

    it("skips every check when the policy is disabled", () => {
        const plan = planPromotion(
            inputs({
                request: request({ approvedBy: [] }),
                criteria: shippedCriteria("production", (c) => (c["model-promotion-evidence"] = "disabled" as never)),
                registry: { url: REGISTRY, modelVersion: modelVersion({ tags: {} }), run: run({ accuracy: 0.1, f1: 0.1 }) },
            }),
        );
        assert.deepEqual(plan.warnings, []);
    });
});

describe("gitops plan: rollback", () => {
    const promoted = () => planPromotion(inputs()).after;
    const previous = { commit: "1111111111111111111111111111111111111111", subject: "Initial stacks", stack: stackOf("production") };

    it("restores the previous declaration byte for byte, and moves the alias back after the commit", () => {
        const plan = planRollback({
            model: "fraud-detector",
            current: stackOf("production", promoted()),
            previous,
            registry: { url: REGISTRY, modelVersion: modelVersion({ version: PRODUCTION_VERSION }) },
            reason: "p99 latency doubled",
            rolledBackAt: "2026-11-21T07:00:00Z",
        });
        assert.equal(plan.after, shippedText("production"));
        assert.deepEqual(plan.registryActions("c0ffee"), [
            { kind: "set-alias", registeredModel: "fraud_detector", alias: "production", version: PRODUCTION_VERSION },
            {
                kind: "set-tag",
                registeredModel: "fraud_detector",
                version: STAGING_VERSION,
                key: "mlops.rolled_back.production",
                value: `{"rolledBackAt":"2026-11-21T07:00:00Z","reason":"p99 latency doubled","commit":"c0ffee","restoredVersion":"${PRODUCTION_VERSION}"}`,
            },
        ]);
        const evidence = (stackOf("production").model("fraud-detector")?.promotion as { evidence: { runId: string; metrics: Record<string, number> } })
            .evidence;
        assert.equal(
            plan.commitMessage,
            [
                `rollback fraud-detector ${STAGING_VERSION} → ${PRODUCTION_VERSION} in production`,
                "",
                "Restores the declaration of fraud-detector in Pulumi.production.yaml as of 111111111111 (Initial stacks):",
                `version ${PRODUCTION_VERSION} and its evidence, exactly as they were.`,
                "",
                "Model:       fraud-detector (registered model fraud_detector)",
                `Version:     ${STAGING_VERSION} → ${PRODUCTION_VERSION}`,
                "Environment: production (Pulumi.production.yaml)",
                `Run:         ${evidence.runId}`,
                `Metrics:     accuracy=${evidence.metrics["accuracy"]}, f1=${evidence.metrics["f1"]}`,
                "Approved by: ml-lead, product-owner (of the restored promotion)",
                "Reason:      p99 latency doubled",
                "",
                `Rolled-Back: fraud-detector version ${STAGING_VERSION}`,
                "Rollback-Reason: p99 latency doubled",
            ].join("\n"),
        );
    });

    it("refuses to restore a version the registry no longer has (exit 1) or a model the old revision does not declare (exit 2)", () => {
        refuses(
            () =>
                planRollback({
                    model: "fraud-detector",
                    current: stackOf("production", promoted()),
                    previous,
                    registry: { url: REGISTRY, modelVersion: undefined },
                    rolledBackAt: "2026-11-21T07:00:00Z",
                }),
            `refused to roll back fraud-detector in production: version ${PRODUCTION_VERSION} of registered model "fraud_detector" no longer exists in the registry at ${REGISTRY}`,
            1,
        );
        const withoutModel = {
            ...previous,
            stack: stackOf("production", shippedText("production").replace("    fraud-detector:\n", "    fraud-detector-old:\n")),
        };
        refuses(
            () =>
                planRollback({
                    model: "fraud-detector",
                    current: stackOf("production", promoted()),
                    previous: withoutModel,
                    registry: { url: REGISTRY, modelVersion: modelVersion() },
                    rolledBackAt: "2026-11-21T07:00:00Z",
                }),
            'refused to roll back fraud-detector in production: Pulumi.production.yaml at 111111111111 declares no version of "fraud-detector" to restore',
            2,
        );
    });
});

describe("gitops plan: a standing experiment", () => {
    // Production routed by Istio (an experiment cannot run with NGINX), with or without an experiment on fraud-detector.
    const istio = (text: string) =>
        text
            .replace("    meshProvider: nginx\n", "    meshProvider: istio\n")
            .replace("    domain: ml.example.com\n", "    domain: ml.example.com\n    gateway: { name: public, namespace: istio-ingress }\n");
    const EXPERIMENT = (challenger: string) => `      experiment:\n        challenger:\n          version: "${challenger}"\n        weight: 20\n`;
    const withExperiment = (challenger: string, text = istio(shippedText("production"))) =>
        text.replace(`      version: "${PRODUCTION_VERSION}"\n`, `      version: "${PRODUCTION_VERSION}"\n${EXPERIMENT(challenger)}`);
    const promote = (production: string) => planPromotion(inputs({ stacks: [stackOf("staging"), stackOf("production", production)] }));

    it("the stack files under test declare what they should", () => {
        assert.equal(stackOf("production", withExperiment(STAGING_VERSION)).model("fraud-detector")?.challenger, STAGING_VERSION);
        assert.equal(stackOf("production", istio(shippedText("production"))).model("fraud-detector")?.challenger, undefined);
    });

    it("promoting the challenger ends the experiment in the same commit: the experiment key goes, the rest is the plain promotion", () => {
        const plan = promote(withExperiment(STAGING_VERSION));
        assert.equal(plan.after, promote(istio(shippedText("production"))).after);
        assert.equal(stackOf("production", plan.after).model("fraud-detector")?.challenger, undefined);
        assert.ok(
            plan.commitMessage.includes(`\nExperiment:  ended: challenger ${STAGING_VERSION} becomes the champion (models.fraud-detector.experiment removed)`),
            plan.commitMessage,
        );
    });

    it("promoting another version keeps the experiment as written, and says nothing of it", () => {
        const plan = promote(withExperiment("99"));
        assert.ok(plan.after.includes(EXPERIMENT("99")), plan.after);
        assert.equal(stackOf("production", plan.after).model("fraud-detector")?.challenger, "99");
        assert.ok(!plan.commitMessage.includes("Experiment:"), plan.commitMessage);
    });

    it("a rollback to the challenger's version ends the experiment too, so the restored file stays valid", () => {
        const previous = {
            commit: "1111111111111111111111111111111111111111",
            subject: "Initial stacks",
            stack: stackOf("production", istio(shippedText("production"))),
        };
        // Promoted to the staging version, then an experiment challenging it with the version it replaced.
        const promoted = promote(istio(shippedText("production"))).after.replace(
            `      version: "${STAGING_VERSION}"\n`,
            `      version: "${STAGING_VERSION}"\n${EXPERIMENT(PRODUCTION_VERSION)}`,
        );
        assert.equal(stackOf("production", promoted).model("fraud-detector")?.challenger, PRODUCTION_VERSION);
        const plan = planRollback({
            model: "fraud-detector",
            current: stackOf("production", promoted),
            previous,
            registry: { url: REGISTRY, modelVersion: modelVersion({ version: PRODUCTION_VERSION }) },
            reason: "p99 latency doubled",
            rolledBackAt: "2026-11-21T07:00:00Z",
        });
        assert.equal(plan.after, istio(shippedText("production")));
    });
});

describe("gitops refusals", () => {
    it("exit 2 when any reason is bad input, else 1", () => {
        assert.equal(
            new Refusal("x", [
                { kind: "criteria", message: "a" },
                { kind: "input", message: "b" },
            ]).exitCode,
            2,
        );
        assert.equal(
            new Refusal("x", [
                { kind: "criteria", message: "a" },
                { kind: "failure", message: "b" },
            ]).exitCode,
            1,
        );
        assert.equal(
            new Refusal("do x", [
                { kind: "criteria", message: "a" },
                { kind: "failure", message: "b" },
            ]).message,
            "refused to do x: a; b",
        );
    });
});
