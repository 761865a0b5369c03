import assert from "node:assert/strict";
import {
    type CanaryAnalysisConfig,
    modelAutoscaler,
    modelCanaryAnalysis,
    modelDisruptionBudget,
    modelPromotionEvidence,
    modelVersionPinned,
    type PromotionEvidenceConfig,
} from "../../policies/promotion";
import { changed, type StackInput, stackViolationsOf, UNKNOWN, violationsOf } from "./analyzerArgs";
import { FRAUD, modelCanary, modelDeployment, modelHpa, modelPdb, promotionRecord, servingStack, T } from "./fixtures";

const deployment = (props: object = modelDeployment()) => ({ type: T.deployment, name: "fraud-detector-deployment", props });
const args = (d: any): string[] => d.spec.template.spec.containers[0].args;
const withAnnotation = (record: object) => changed(modelDeployment(), (d) => (d.metadata.annotations["mlops.dev/promotion"] = JSON.stringify(record)));
const replaceIn = (stack: StackInput[], type: string, props: object | undefined): StackInput[] =>
    props === undefined ? stack.filter((r) => r.type !== type) : stack.map((r) => (r.type === type ? { ...r, props } : r));

describe("model-version-pinned", () => {
    it("passes a Deployment serving the pinned version its label names, and its HPA, PDB and Canary", async () => {
        for (const resource of servingStack()) assert.deepEqual(await violationsOf(modelVersionPinned, resource), [], resource.type);
    });

    it("leaves objects without the model label alone (an Argo CD Application carries only the model's name)", async () => {
        const plainDeployment = changed(modelDeployment(), (d) => delete d.metadata.labels["mlops.dev/model"]);
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(plainDeployment)), []);
        const application = { metadata: { name: "fraud-detector", labels: { "mlops.dev/model": "fraud-detector" } }, spec: {} };
        assert.deepEqual(await violationsOf(modelVersionPinned, { type: "kubernetes:argoproj.io/v1alpha1:Application", name: "app", props: application }), []);
    });

    it('reports a "latest" version label', async () => {
        const props = changed(modelDeployment(), (d) => (d.metadata.labels["mlops.dev/model-version"] = "latest"));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            'label "mlops.dev/model-version" must be a pinned registry version (a positive integer), got "latest"',
        ]);
    });

    it("reports a missing version label, on a Canary too", async () => {
        const props = changed(modelCanary(), (c) => delete c.metadata.labels["mlops.dev/model-version"]);
        assert.deepEqual(await violationsOf(modelVersionPinned, { type: T.canary, name: "c", props }), [
            'label "mlops.dev/model-version" must be a pinned registry version (a positive integer), got nothing',
        ]);
    });

    it("reports a URI that serves an alias", async () => {
        const props = changed(modelDeployment(), (d) => (args(d)[3] = "models:/fraud_detector@champion"));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            'container "model-server" serves "models:/fraud_detector@champion": an alias moves without a commit; serve a pinned version, models:/fraud_detector/<version>',
        ]);
    });

    it("reports a URI that serves latest", async () => {
        const props = changed(modelDeployment(), (d) => (args(d)[3] = "models:/fraud_detector/latest"));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            'container "model-server" serves "models:/fraud_detector/latest": "latest" is not a pinned registry version (a positive integer)',
        ]);
    });

    it("reports a URI without a version", async () => {
        const props = changed(modelDeployment(), (d) => (args(d)[3] = "models:/fraud_detector"));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            'container "model-server" serves "models:/fraud_detector", which names no version; serve models:/fraud_detector/<version>',
        ]);
    });

    it("reports a URI whose version disagrees with the label", async () => {
        const props = changed(modelDeployment(), (d) => (args(d)[3] = "models:/fraud_detector/8"));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            'container "model-server" serves "models:/fraud_detector/8" but label "mlops.dev/model-version" says version "7"',
        ]);
    });

    it("finds the URI inside a shell command line as well", async () => {
        const props = changed(modelDeployment(), (d) => {
            const container = d.spec.template.spec.containers[0];
            container.command = ["sh", "-c"];
            container.args = ["exec mlflow models serve -m 'models:/fraud_detector/latest' --env-manager local"];
        });
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            'container "model-server" serves "models:/fraud_detector/latest": "latest" is not a pinned registry version (a positive integer)',
        ]);
    });

    it("reports a model Deployment that serves no models:/ URI", async () => {
        const props = changed(modelDeployment(), (d) => (args(d)[3] = "runs:/3f2a/model"));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(props)), [
            "serves no models:/<registered model>/<version> URI (expected in the model server's command or args)",
        ]);
    });

    it("reports a version label or args that are unknown during preview", async () => {
        const unknownLabel = changed(modelDeployment(), (d) => (d.metadata.labels["mlops.dev/model-version"] = UNKNOWN));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(unknownLabel)), [
            'label "mlops.dev/model-version" is unknown during preview, so the pinned version cannot be verified',
        ]);
        const unknownArgs = changed(modelDeployment(), (d) => (d.spec.template.spec.containers[0].args = UNKNOWN));
        assert.deepEqual(await violationsOf(modelVersionPinned, deployment(unknownArgs)), [
            "the containers' command, args or env are unknown during preview, so the served models:/ URI cannot be verified",
        ]);
    });
});

describe("model-promotion-evidence", () => {
    const config: PromotionEvidenceConfig = {
        minMetrics: { accuracy: 0.9, f1: 0.85 },
        maxMetrics: {},
        requiredValidationEnvironment: "staging",
        minValidationSoakHours: 24,
        maxRegression: { accuracy: 0.01, f1: 0.01 },
        minApprovals: 2,
        allowedApprovers: ["ml-lead", "product-owner", "head-of-ml"],
    };
    const check = (props: object, c: PromotionEvidenceConfig = config) => violationsOf(modelPromotionEvidence, deployment(props), c);

    it("passes evidence that meets the thresholds, was validated in staging and has two allowed approvals", async () => {
        assert.deepEqual(await check(modelDeployment()), []);
    });

    it("checks only model Deployments", async () => {
        assert.deepEqual(
            await violationsOf(
                modelPromotionEvidence,
                { type: T.canary, name: "c", props: changed(modelCanary(), (c) => delete c.metadata.annotations) },
                config,
            ),
            [],
        );
    });

    it("asks an experiment's challenger for no evidence: it is measured beside the declared version, not promoted", async () => {
        const challenger = changed(modelDeployment(), (d) => {
            delete d.metadata.annotations;
            d.metadata.labels["mlops.dev/experiment-role"] = "challenger";
        });
        assert.deepEqual(await check(challenger), []);
        // Any other role value is no exemption.
        assert.equal((await check(changed(challenger, (d) => (d.metadata.labels["mlops.dev/experiment-role"] = "champion")))).length, 1);
    });

    it("reports a missing annotation", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => delete d.metadata.annotations)), [
            'annotation "mlops.dev/promotion" is missing: the model must declare its promotion evidence (registry run, metrics, validation, approvals)',
        ]);
    });

    it("reports an annotation that is not JSON, or not evidence", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => (d.metadata.annotations["mlops.dev/promotion"] = "approved!"))), [
            `annotation "mlops.dev/promotion" is not valid promotion evidence: not valid JSON (${jsonError("approved!")})`,
        ]);
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), metrics: { accuracy: "high" } })), [
            'annotation "mlops.dev/promotion" is not valid promotion evidence: metric "accuracy" must be a number, got "high"',
        ]);
    });

    it("reports an annotation that is unknown during preview", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => (d.metadata.annotations["mlops.dev/promotion"] = UNKNOWN))), [
            'annotation "mlops.dev/promotion" is unknown during preview, so the promotion evidence cannot be verified',
        ]);
    });

    it("reports a metric below its threshold", async () => {
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), metrics: { accuracy: 0.95, f1: 0.8 } })), [
            'metric "f1" is 0.8, below the required 0.85',
            // Two gates, two lines: the threshold, and the champion (0.91) it falls 0.11 short of.
            'metric "f1" is 0.8, 0.11 below the champion\'s 0.91 (version 6); at most 0.01 is tolerated',
        ]);
    });

    it("reports a required metric the evidence lacks", async () => {
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), metrics: { accuracy: 0.95 } })), [
            'the evidence lacks metric "f1" (at least 0.85 required)',
        ]);
    });

    it("takes the thresholds from the config, upper bounds included", async () => {
        const strict = { ...config, minMetrics: { accuracy: 0.96 }, maxMetrics: { log_loss: 0.3 }, maxRegression: {} };
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), metrics: { accuracy: 0.95, log_loss: 0.4 } }), strict), [
            'metric "accuracy" is 0.95, below the required 0.96',
            'metric "log_loss" is 0.4, above the allowed 0.3',
        ]);
    });

    it("reports evidence validated elsewhere than the config requires, or nowhere", async () => {
        const { validatedIn: _validatedIn, ...unvalidated } = promotionRecord(FRAUD);
        assert.deepEqual(await check(withAnnotation(unvalidated)), [
            'the evidence does not say where the version was validated; it must have been validated in "staging"',
        ]);
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), validatedIn: "production" })), [
            'the evidence says the version was validated in "production"; it must have been validated in "staging"',
        ]);
    });

    it("reports a version that did not run long enough where it was validated, measured from its successful rollout to its promotion", async () => {
        const soon = { ...promotionRecord(FRAUD), validatedAt: "2026-11-02T01:14:00Z" };
        assert.deepEqual(await check(withAnnotation(soon)), [
            'the version ran 8 hours in "staging" before its promotion (rollout succeeded 2026-11-02T01:14:00Z, promoted 2026-11-02T09:14:00Z); at least 24 hours are required',
        ]);
        const { validatedAt: _validatedAt, ...untimed } = promotionRecord(FRAUD);
        assert.deepEqual(await check(withAnnotation(untimed)), [
            'the evidence does not say when the version\'s rollout in "staging" succeeded (validatedAt); it must have run there 24 hours',
        ]);
        assert.deepEqual(await check(withAnnotation(soon), { ...config, minValidationSoakHours: 0 }), []);
    });

    it("reports a regression against the champion beyond the tolerance of each metric, in the metric's direction", async () => {
        const worse = { ...promotionRecord(FRAUD), champion: { version: "6", metrics: { accuracy: 0.97, f1: 0.925, log_loss: 0.2 } } };
        assert.deepEqual(await check(withAnnotation(worse)), [
            'metric "accuracy" is 0.95, 0.02 below the champion\'s 0.97 (version 6); at most 0.01 is tolerated',
        ]);
        const lossy = {
            ...promotionRecord(FRAUD),
            metrics: { accuracy: 0.95, f1: 0.92, log_loss: 0.25 },
            champion: { version: "6", metrics: { log_loss: 0.2 } },
        };
        assert.deepEqual(await check(withAnnotation(lossy), { ...config, maxMetrics: { log_loss: 0.5 }, maxRegression: { log_loss: 0.01 } }), [
            'metric "log_loss" is 0.25, 0.05 above the champion\'s 0.2 (version 6); at most 0.01 is tolerated',
        ]);
        // Exactly the tolerance, as written, passes.
        const edge = { ...promotionRecord(FRAUD), champion: { version: "6", metrics: { accuracy: 0.96, f1: 0.93 } } };
        assert.deepEqual(await check(withAnnotation(edge)), []);
    });

    it("asks for the champion comparison where the config compares, and takes `champion: {}` as 'no version served before'", async () => {
        const { champion: _champion, ...uncompared } = promotionRecord(FRAUD);
        assert.deepEqual(await check(withAnnotation(uncompared)), [
            "the evidence records no comparison with the champion (champion: the version served when this one was promoted, and its metrics)",
        ]);
        assert.deepEqual(await check(withAnnotation({ ...uncompared, champion: {} })), []);
        assert.deepEqual(await check(withAnnotation(uncompared), { ...config, maxRegression: {} }), []);
    });

    it("asks for no earlier validation when the config names no environment", async () => {
        const { validatedIn: _validatedIn, ...unvalidated } = promotionRecord(FRAUD);
        assert.deepEqual(await check(withAnnotation(unvalidated), { ...config, requiredValidationEnvironment: "" }), []);
    });

    it("reports too few approvals, counting each approver once", async () => {
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), approvedBy: ["ml-lead", "ml-lead"] })), [
            "the promotion needs 2 approvals from allowed approvers, got 1 (ml-lead)",
        ]);
    });

    it("reports approvers who are not allowed, and does not count them", async () => {
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), approvedBy: ["ml-lead", "intern"] })), [
            'approver "intern" is not an allowed approver (allowed: ml-lead, product-owner, head-of-ml)',
            "the promotion needs 2 approvals from allowed approvers, got 1 (ml-lead)",
        ]);
    });

    it("allows nobody when the config lists no approvers, so a pack without config fails closed", async () => {
        assert.deepEqual(await check(modelDeployment(), { ...config, allowedApprovers: [] }), [
            'approver "ml-lead" is not an allowed approver (allowed: nobody)',
            'approver "product-owner" is not an allowed approver (allowed: nobody)',
            "the promotion needs 2 approvals from allowed approvers, got 0",
        ]);
    });

    it("reports evidence for another version or another registered model than the one served", async () => {
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), version: "6" })), [
            'the evidence is for version "6" but the Deployment serves version "7" (label "mlops.dev/model-version")',
        ]);
        assert.deepEqual(await check(withAnnotation({ ...promotionRecord(FRAUD), registeredModel: "fraud_detector_v2" })), [
            'the evidence is for registered model "fraud_detector_v2" but container "model-server" serves "models:/fraud_detector/7"',
        ]);
    });

    it("reports evidence without a registry run", async () => {
        const { runId: _runId, ...withoutRun } = promotionRecord(FRAUD);
        assert.deepEqual(await check(withAnnotation(withoutRun)), ["the evidence names no registry run (runId)"]);
    });
});

describe("model-canary-analysis", () => {
    const config: CanaryAnalysisConfig = { maxStepWeight: 50, requiredMetrics: ["request-success-rate", "request-duration"] };
    const withCanary = (canary: object | undefined) => replaceIn(servingStack(), T.canary, canary);
    const analysisChanged = (change: (analysis: any) => void) => withCanary(changed(modelCanary(), (c) => change(c.spec.analysis)));

    it("passes a Canary with bounded ascending steps and success-rate and latency checks", async () => {
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, servingStack(), config), []);
    });

    it("reports a model Deployment without a Canary", async () => {
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, withCanary(undefined), config), [
            {
                message: 'Deployment "models/fraud-detector" has no Flagger Canary targeting it (spec.targetRef kind Deployment, name "fraud-detector")',
                resource: "fraud-detector-deployment",
            },
        ]);
    });

    it("asks an experiment's challenger for no Canary (Flagger's route holds the champion), every other model Deployment still", async () => {
        const challenger = changed(modelDeployment(), (d) => {
            d.metadata.name = "fraud-detector-challenger";
            d.metadata.labels["mlops.dev/experiment-role"] = "challenger";
        });
        const stack = [...servingStack(), { type: T.deployment, name: "fraud-detector-challenger-deployment", props: challenger }];
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, stack, config), []);
        const unlabelled = changed(challenger, (d) => delete d.metadata.labels["mlops.dev/experiment-role"]);
        assert.deepEqual(
            await stackViolationsOf(
                modelCanaryAnalysis,
                [...servingStack(), { type: T.deployment, name: "fraud-detector-challenger-deployment", props: unlabelled }],
                config,
            ),
            [
                {
                    message:
                        'Deployment "models/fraud-detector-challenger" has no Flagger Canary targeting it (spec.targetRef kind Deployment, name "fraud-detector-challenger")',
                    resource: "fraud-detector-challenger-deployment",
                },
            ],
        );
    });

    it("does not count a Canary in another namespace", async () => {
        const violations = await stackViolationsOf(modelCanaryAnalysis, withCanary(changed(modelCanary(), (c) => (c.metadata.namespace = "other"))), config);
        assert.deepEqual(
            violations.map((v) => v.resource),
            ["fraud-detector-deployment"],
        );
    });

    it("reports a step over the maximum step weight", async () => {
        assert.deepEqual(
            await stackViolationsOf(
                modelCanaryAnalysis,
                analysisChanged((a) => (a.stepWeights = [10, 50, 80])),
                config,
            ),
            [
                {
                    message: 'Canary "models/fraud-detector": analysis.stepWeights[2] is 80, over the maximum step weight of 50',
                    resource: "fraud-detector-canary",
                },
            ],
        );
    });

    it("takes the maximum step weight from the config", async () => {
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, servingStack(), { ...config, maxStepWeight: 25 }), [
            { message: 'Canary "models/fraud-detector": analysis.stepWeights[3] is 50, over the maximum step weight of 25', resource: "fraud-detector-canary" },
        ]);
    });

    it("reports steps that do not ascend", async () => {
        assert.deepEqual(
            await stackViolationsOf(
                modelCanaryAnalysis,
                analysisChanged((a) => (a.stepWeights = [5, 25, 25, 50])),
                config,
            ),
            [{ message: 'Canary "models/fraud-detector": analysis.stepWeights must ascend, got [5,25,25,50]', resource: "fraud-detector-canary" }],
        );
    });

    it("bounds linear steps by maxWeight, and accepts iterations (A/B testing) without weights", async () => {
        const linear = (maxWeight: number | undefined) =>
            analysisChanged((a) => {
                delete a.stepWeights;
                a.stepWeight = 10;
                if (maxWeight !== undefined) a.maxWeight = maxWeight;
            });
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, linear(50), config), []);
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, linear(80), config), [
            { message: 'Canary "models/fraud-detector": analysis.maxWeight is 80, over the maximum step weight of 50', resource: "fraud-detector-canary" },
        ]);
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, linear(undefined), config), [
            {
                message:
                    'Canary "models/fraud-detector": analysis.stepWeight 10 with analysis.maxWeight nothing does not bound the canary\'s traffic; set both, maxWeight at most 50',
                resource: "fraud-detector-canary",
            },
        ]);
        const abTesting = analysisChanged((a) => {
            delete a.stepWeights;
            a.iterations = 10;
            a.match = [{ headers: { "x-canary": { exact: "insider" } } }];
        });
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, abTesting, config), []);
    });

    it("reports an analysis without traffic steps", async () => {
        assert.deepEqual(
            await stackViolationsOf(
                modelCanaryAnalysis,
                analysisChanged((a) => delete a.stepWeights),
                config,
            ),
            [
                {
                    message: 'Canary "models/fraud-detector": analysis has no stepWeights (nor stepWeight with maxWeight, nor iterations)',
                    resource: "fraud-detector-canary",
                },
            ],
        );
    });

    it("reports a missing latency check", async () => {
        assert.deepEqual(
            await stackViolationsOf(
                modelCanaryAnalysis,
                analysisChanged((a) => a.metrics.splice(1, 1)),
                config,
            ),
            [{ message: 'Canary "models/fraud-detector": analysis has no "request-duration" check', resource: "fraud-detector-canary" }],
        );
    });

    it("reports a success-rate check without a threshold", async () => {
        assert.deepEqual(
            await stackViolationsOf(
                modelCanaryAnalysis,
                analysisChanged((a) => delete a.metrics[0].thresholdRange),
                config,
            ),
            [
                {
                    message: 'Canary "models/fraud-detector": check "request-success-rate" has no thresholdRange, so it can never fail',
                    resource: "fraud-detector-canary",
                },
            ],
        );
    });

    it("takes the required checks from the config", async () => {
        const withAccuracy = { ...config, requiredMetrics: [...config.requiredMetrics, "model-accuracy", "model-drift"] };
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, servingStack(), withAccuracy), [
            { message: 'Canary "models/fraud-detector": analysis has no "model-drift" check', resource: "fraud-detector-canary" },
        ]);
    });

    it("reports an analysis that is unknown during preview", async () => {
        assert.deepEqual(await stackViolationsOf(modelCanaryAnalysis, withCanary(changed(modelCanary(), (c) => (c.spec.analysis = UNKNOWN))), config), [
            { message: 'Canary "models/fraud-detector": spec.analysis is unknown during preview, so it cannot be checked', resource: "fraud-detector-canary" },
        ]);
    });
});

describe("model-autoscaler", () => {
    it("passes a Deployment with an HPA that its Canary hands to Flagger", async () => {
        assert.deepEqual(await stackViolationsOf(modelAutoscaler, servingStack()), []);
    });

    it("reports a model Deployment without an HPA", async () => {
        assert.deepEqual(await stackViolationsOf(modelAutoscaler, replaceIn(servingStack(), T.hpa, undefined)), [
            {
                message:
                    'Deployment "models/fraud-detector" has no HorizontalPodAutoscaler targeting it (spec.scaleTargetRef kind Deployment, name "fraud-detector")',
                resource: "fraud-detector-deployment",
            },
        ]);
    });

    it("does not count an HPA that targets another Deployment", async () => {
        const other = changed(modelHpa(), (h) => (h.spec.scaleTargetRef.name = "fraud-detector-primary"));
        assert.deepEqual(
            (await stackViolationsOf(modelAutoscaler, replaceIn(servingStack(), T.hpa, other))).map((v) => v.resource),
            ["fraud-detector-deployment"],
        );
    });

    it("reports a Canary that does not hand the HPA to Flagger (the primary would not scale)", async () => {
        const canary = changed(modelCanary(), (c) => delete c.spec.autoscalerRef);
        assert.deepEqual(await stackViolationsOf(modelAutoscaler, replaceIn(servingStack(), T.canary, canary)), [
            {
                message:
                    'Canary "models/fraud-detector": spec.autoscalerRef must name the HorizontalPodAutoscaler "fraud-detector" so that Flagger scales the primary too, got nothing',
                resource: "fraud-detector-canary",
            },
        ]);
    });

    it("leaves Deployments without the model label alone", async () => {
        const mlflow = changed(modelDeployment(), (d) => delete d.metadata.labels["mlops.dev/model"]);
        assert.deepEqual(await stackViolationsOf(modelAutoscaler, [{ type: T.deployment, name: "mlflow", props: mlflow }]), []);
    });
});

describe("model-disruption-budget", () => {
    it("passes a PDB that selects the primary pods Flagger runs", async () => {
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, servingStack()), []);
    });

    it("passes a PDB that selects the Deployment's own pods, by labels or expressions", async () => {
        const own = changed(modelPdb(), (p) => (p.spec.selector = { matchLabels: { "app.kubernetes.io/name": "fraud-detector" } }));
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, replaceIn(servingStack(), T.pdb, own)), []);
        const expression = changed(
            modelPdb(),
            (p) => (p.spec.selector = { matchExpressions: [{ key: "mlops.dev/model", operator: "In", values: ["fraud-detector"] }] }),
        );
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, replaceIn(servingStack(), T.pdb, expression)), []);
    });

    const missing = {
        message:
            'Deployment "models/fraud-detector" has no PodDisruptionBudget in its namespace that selects its pods {"app.kubernetes.io/name":"fraud-detector"} ' +
            'or the primary pods Flagger runs for it {"app.kubernetes.io/name":"fraud-detector-primary"}',
        resource: "fraud-detector-deployment",
    };

    it("reports a model Deployment without a PDB", async () => {
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, replaceIn(servingStack(), T.pdb, undefined)), [missing]);
    });

    it("reports a PDB that selects other pods, or lives in another namespace", async () => {
        const otherPods = changed(modelPdb(), (p) => (p.spec.selector.matchLabels["app.kubernetes.io/name"] = "fraud-detector-canary"));
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, replaceIn(servingStack(), T.pdb, otherPods)), [missing]);
        const otherNamespace = changed(modelPdb(), (p) => (p.metadata.namespace = "default"));
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, replaceIn(servingStack(), T.pdb, otherNamespace)), [missing]);
    });

    it("reports a PDB whose selector is unknown during preview (an unknown selector selects nothing known)", async () => {
        const unknown = changed(modelPdb(), (p) => (p.spec.selector = UNKNOWN));
        assert.deepEqual(await stackViolationsOf(modelDisruptionBudget, replaceIn(servingStack(), T.pdb, unknown)), [missing]);
    });
});

function jsonError(text: string): string {
    try {
        JSON.parse(text);
    } catch (err) {
        return (err as Error).message;
    }
    throw new Error("expected invalid JSON");
}
