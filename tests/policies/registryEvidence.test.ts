import assert from "node:assert/strict";
import { registryEvidenceMatches, type RegistryEvidenceConfig } from "../../policies/registryEvidence";
import { MlflowRestClient } from "../../policies/mlflowRestClient";
import { formatPromotionTag, promotionTagKey, validationTagKey } from "../../policies/registryContract";
import { startCannedServer, startSilentServer, unusedUrl, type FaultyServer } from "../support/faultyServers";
import { startMlflowServer, type MlflowServer } from "../support/mlflow";
import { changed, violationsOf } from "./analyzerArgs";
import { FRAUD, type ModelFixture, modelDeployment, promotionRecord, T } from "./fixtures";

/**
 * registry-evidence-matches against a real MLflow 3.17.2 on the local PostgreSQL, seeded through its
 * REST API the way a training pipeline and the promote tool would; and against local servers that
 * fail the way a registry can (nothing listening, no answer, an HTML page, a version not READY).
 */

/** Version 3 of the seeded registry, from the other run: the champion the evidence compares with. */
const CHAMPION = { version: "3", metrics: { accuracy: 0.93 } };

const deploymentOf = (m: ModelFixture, runId: string, change: (record: any) => void = () => undefined) => {
    const record = changed({ ...promotionRecord(m), runId, champion: CHAMPION }, change);
    return {
        type: T.deployment,
        name: `${m.name}-deployment`,
        props: changed(modelDeployment(m), (d) => (d.metadata.annotations["mlops.dev/promotion"] = JSON.stringify(record))),
    };
};

/** When the fixtures' evidence says the version's staging rollout succeeded. */
const VALIDATED_AT = promotionRecord(FRAUD).validatedAt as string;

describe("registry-evidence-matches", function () {
    this.timeout(180_000);
    let server: MlflowServer;
    let config: RegistryEvidenceConfig;
    let trainingRun: string;
    let otherRun: string;
    const savedCredentials: Record<string, string | undefined> = {};

    before(async () => {
        // The client reads credentials from MLflow's environment variables; this server needs none.
        for (const key of ["MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"]) {
            savedCredentials[key] = process.env[key];
            delete process.env[key];
        }
        server = await startMlflowServer();
        config = { trackingUri: server.url, timeoutMs: 5000, metricTolerance: 0.000001 };
        const { seed } = server;
        ({ runId: trainingRun } = await seed.createRun({ experimentName: "fraud-detection", metrics: { accuracy: [0.9, 0.95], f1: 0.92 } }));
        ({ runId: otherRun } = await seed.createRun({ experimentName: "fraud-detection", metrics: { accuracy: 0.93 } }));
        await seed.createRegisteredModel("fraud_detector");
        const staged = formatPromotionTag({ promotedAt: "2026-10-30T10:00:00Z", commit: "4b825dc6", approvedBy: ["ml-lead"] });
        // Rolled out in staging when the fixtures' evidence says (validatedAt).
        const rolledOut = { [promotionTagKey("staging")]: staged, [validationTagKey("staging")]: VALIDATED_AT };
        // 1: validated in staging; 2: promoted to staging, never rolled out there; 3: from another run, validated.
        assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId: trainingRun, tags: rolledOut }), "1");
        assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId: trainingRun, tags: { [promotionTagKey("staging")]: staged } }), "2");
        assert.equal(await seed.createModelVersion({ model: "fraud_detector", runId: otherRun, tags: rolledOut }), "3");
    });

    after(async () => {
        await server?.stop();
        for (const [key, value] of Object.entries(savedCredentials)) if (value !== undefined) process.env[key] = value;
    });

    const v = (version: string): ModelFixture => ({ ...FRAUD, version });

    it("passes a READY version whose run, metrics and staging validation match the declared evidence", async () => {
        assert.deepEqual(await violationsOf(registryEvidenceMatches, deploymentOf(v("1"), trainingRun), config), []);
    });

    it("compares metrics with the run's latest values, within the configured tolerance", async () => {
        const close = deploymentOf(v("1"), trainingRun, (r) => (r.metrics = { accuracy: 0.9500004, f1: 0.92 }));
        assert.deepEqual(await violationsOf(registryEvidenceMatches, close, config), []);
        assert.deepEqual(await violationsOf(registryEvidenceMatches, close, { ...config, metricTolerance: 0 }), [
            `the evidence declares accuracy = 0.9500004, but run ${trainingRun} recorded accuracy = 0.95`,
        ]);
    });

    it("checks nothing when no registry is configured (model-promotion-evidence checks the evidence on its own)", async () => {
        assert.deepEqual(await violationsOf(registryEvidenceMatches, deploymentOf(v("99"), trainingRun), { ...config, trackingUri: "" }), []);
    });

    it("reports a version that does not exist", async () => {
        assert.deepEqual(await violationsOf(registryEvidenceMatches, deploymentOf(v("99"), trainingRun), config), [
            `version 99 of registered model "fraud_detector" does not exist in the registry at ${server.url}`,
        ]);
    });

    it("reports evidence that names another run than the version's", async () => {
        assert.deepEqual(
            await violationsOf(
                registryEvidenceMatches,
                deploymentOf(v("3"), trainingRun, (r) => (r.metrics = { accuracy: 0.93 })),
                config,
            ),
            [`the evidence names run ${trainingRun}, but version 3 of registered model "fraud_detector" was registered from run ${otherRun}`],
        );
    });

    it("reports declared metrics the run does not hold, or holds with another value", async () => {
        assert.deepEqual(
            await violationsOf(
                registryEvidenceMatches,
                deploymentOf(v("1"), trainingRun, (r) => (r.metrics = { accuracy: 0.97, f1: 0.92, auc: 0.99 })),
                config,
            ),
            [
                `the evidence declares accuracy = 0.97, but run ${trainingRun} recorded accuracy = 0.95`,
                `the evidence declares auc = 0.99, but run ${trainingRun} recorded no "auc" metric`,
            ],
        );
    });

    it("reports a staging validation the registry does not record: a promotion to staging is not a rollout there", async () => {
        assert.deepEqual(await violationsOf(registryEvidenceMatches, deploymentOf(v("2"), trainingRun), config), [
            'the evidence says version 2 of registered model "fraud_detector" was validated in "staging", but the registry records no successful rollout there (no "mlops.validated.staging" tag on the version)',
        ]);
    });

    it("reports a rollout time other than the registry's, since the soak is measured from it", async () => {
        assert.deepEqual(
            await violationsOf(
                registryEvidenceMatches,
                deploymentOf(v("1"), trainingRun, (r) => (r.validatedAt = "2026-10-01T00:00:00Z")),
                config,
            ),
            [
                `the evidence says the rollout of version 1 of registered model "fraud_detector" in "staging" succeeded at 2026-10-01T00:00:00Z, but the registry records ${VALIDATED_AT}`,
            ],
        );
    });

    it("reports a champion that does not exist, or whose run holds other metrics than declared", async () => {
        assert.deepEqual(
            await violationsOf(
                registryEvidenceMatches,
                deploymentOf(v("1"), trainingRun, (r) => (r.champion = { version: "3", metrics: { accuracy: 0.99 } })),
                config,
            ),
            [`the evidence says the champion, version 3 of "fraud_detector", recorded accuracy = 0.99, but its run ${otherRun} recorded accuracy = 0.93`],
        );
        assert.deepEqual(
            await violationsOf(
                registryEvidenceMatches,
                deploymentOf(v("1"), trainingRun, (r) => (r.champion = { version: "42", metrics: {} })),
                config,
            ),
            [
                'the evidence compares version 1 of registered model "fraud_detector" with the champion, version 42 of "fraud_detector", which does not exist in the registry',
            ],
        );
    });

    it("takes `champion: {}` (no version served before) only while the environment's alias points at no other version", async () => {
        const first = deploymentOf(v("1"), trainingRun, (r) => (r.champion = {}));
        assert.deepEqual(await violationsOf(registryEvidenceMatches, first, config), []);
        await server.seed.setAlias("fraud_detector", "production", "3");
        try {
            assert.deepEqual(await violationsOf(registryEvidenceMatches, first, config), [
                'the evidence says "production" served no version of "fraud_detector" before 1, but the registry\'s "production" alias points at version 3',
            ]);
        } finally {
            await new MlflowRestClient({ trackingUri: server.url }).deleteAlias("fraud_detector", "production");
        }
    });

    it("checks only that the version exists and is READY when the Deployment declares no evidence", async () => {
        const bare = changed(deploymentOf(v("2"), trainingRun), (d) => delete d.props.metadata.annotations);
        assert.deepEqual(await violationsOf(registryEvidenceMatches, bare, config), []);
    });

    it("leaves Deployments without the model label, and other types, alone", async () => {
        const unlabelled = changed(deploymentOf(v("99"), trainingRun), (d) => delete d.props.metadata.labels["mlops.dev/model"]);
        assert.deepEqual(await violationsOf(registryEvidenceMatches, unlabelled, config), []);
        assert.deepEqual(await violationsOf(registryEvidenceMatches, { ...deploymentOf(v("99"), trainingRun), type: T.canary }, config), []);
    });

    describe("when the registry cannot answer (production fails closed: each is a violation)", () => {
        let faulty: FaultyServer | undefined;
        afterEach(async () => {
            await faulty?.close();
            faulty = undefined;
        });
        const unconfirmed = 'version 1 of registered model "fraud_detector" could not be confirmed by the registry, so its promotion is not proven: ';

        it("reports an unreachable registry", async () => {
            const url = await unusedUrl();
            const port = new URL(url).port;
            assert.deepEqual(await violationsOf(registryEvidenceMatches, deploymentOf(v("1"), trainingRun), { ...config, trackingUri: url }), [
                `${unconfirmed}MLflow registry ${url}: getModelVersion(fraud_detector, 1): unreachable (connect ECONNREFUSED 127.0.0.1:${port})`,
            ]);
        });

        it("reports a registry that does not answer in time, within a bounded time", async () => {
            faulty = await startSilentServer();
            const started = Date.now();
            assert.deepEqual(
                await violationsOf(registryEvidenceMatches, deploymentOf(v("1"), trainingRun), { ...config, trackingUri: faulty.url, timeoutMs: 300 }),
                [`${unconfirmed}MLflow registry ${faulty.url}: getModelVersion(fraud_detector, 1): no complete answer within 300 ms`],
            );
            assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
        });

        it("reports an answer that is not the registry's (an HTML login page)", async () => {
            faulty = await startCannedServer({ status: 200, contentType: "text/html", body: "<html><body>Sign in</body></html>" });
            assert.deepEqual(await violationsOf(registryEvidenceMatches, deploymentOf(v("1"), trainingRun), { ...config, trackingUri: faulty.url }), [
                `${unconfirmed}MLflow registry ${faulty.url}: getModelVersion(fraud_detector, 1): malformed response (not JSON: <html><body>Sign in</body></html>)`,
            ]);
        });

        it("reports a version that is not READY", async () => {
            const pending = {
                model_version: {
                    name: "fraud_detector",
                    version: "1",
                    status: "PENDING_REGISTRATION",
                    run_id: trainingRun,
                    source: `runs:/${trainingRun}/model`,
                    creation_timestamp: 1767225600000,
                },
            };
            faulty = await startCannedServer({ status: 200, body: JSON.stringify(pending) });
            const bare = changed(deploymentOf(v("1"), trainingRun), (d) => delete d.props.metadata.annotations);
            assert.deepEqual(await violationsOf(registryEvidenceMatches, bare, { ...config, trackingUri: faulty.url }), [
                `version 1 of registered model "fraud_detector" is PENDING_REGISTRATION in the registry at ${faulty.url}, not READY`,
            ]);
        });
    });
});
