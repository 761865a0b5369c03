import * as assert from "node:assert/strict";
import * as path from "node:path";
import { loadPlatformConfig } from "../../infra/validation";
import { type PipelineResult, runPipeline } from "../../offline/pipeline";
import { readStackFile, stackFilePath } from "../../stacks";
import { findObject, PROJECT_DIR } from "../harness";

/**
 * Every mesh provider the stack schema accepts, end to end through the offline preview: the real
 * program, the real policy pack (no mandatory violation) and every rendered object valid against
 * its schema (the Canary against Flagger's CRD). Routing is Flagger's to write (an Ingress clone, a
 * VirtualService or an HTTPRoute); what the platform renders is the Canary's provider and service.
 */

const GATEWAY = { name: "public", namespace: "istio-ingress" };

/** Pulumi.staging.yaml with these sections replaced (decoded values). */
function stagingWith(sections: Record<string, unknown>): Record<string, string> {
    const { values } = readStackFile(stackFilePath(PROJECT_DIR, "staging"));
    const config = { ...values };
    for (const [section, value] of Object.entries(sections)) config[`mlops-platform:${section}`] = JSON.stringify(value);
    return config;
}

function withCluster(more: Record<string, unknown>): Record<string, unknown> {
    const { values } = readStackFile(stackFilePath(PROJECT_DIR, "staging"));
    return { ...(JSON.parse(values["mlops-platform:cluster"] as string) as Record<string, unknown>), ...more };
}

/** The staging models, each with these canary settings on top of its own. */
function modelsWith(canary: Record<string, unknown>, drop: readonly string[] = []): Record<string, unknown> {
    const { values } = readStackFile(stackFilePath(PROJECT_DIR, "staging"));
    const models = JSON.parse(values["mlops-platform:models"] as string) as Record<string, { canary?: Record<string, unknown> }>;
    return Object.fromEntries(
        Object.entries(models).map(([name, model]) => {
            const own = Object.fromEntries(Object.entries(model.canary ?? {}).filter(([key]) => !drop.includes(key)));
            return [name, { ...model, canary: { ...own, ...canary } }];
        }),
    );
}

async function preview(values: Record<string, string>): Promise<PipelineResult> {
    const config = loadPlatformConfig(values, "staging");
    return runPipeline({
        projectDir: PROJECT_DIR,
        stack: "staging",
        policyConfigFile: path.join(PROJECT_DIR, "policies", "config", "staging.json"),
        // Offline, as `npm run preview` without a registry: the config's registry is not reachable from here.
        registryUri: "",
        loadedStack: { values, secretKeys: [], config },
    });
}

function assertClean(result: PipelineResult): void {
    assert.deepEqual(
        result.manifestProblems.map((p) => p.line),
        [],
    );
    const mandatory = result.policy.diagnostics.filter((d) => d.enforcementLevel === "mandatory");
    assert.deepEqual(
        mandatory.map((d) => `${d.policyName}: ${d.message}`),
        [],
    );
}

const canaryOf = (result: PipelineResult, model: string) => findObject(result.run.resources, "kubernetes:flagger.app/v1beta1:Canary", model);

describe("every mesh provider the stack accepts previews cleanly, with valid manifests", function () {
    this.timeout(120_000);

    it("istio with a Gateway: a VirtualService's gateways and hosts, sidecar injection in the models namespace", async () => {
        const result = await preview(stagingWith({ flagger: { meshProvider: "istio" }, cluster: withCluster({ gateway: GATEWAY }) }));
        assertClean(result);
        const canary = canaryOf(result, "fraud-detector");
        assert.equal(canary["spec"].provider, "istio");
        assert.deepEqual(canary["spec"].service.gateways, ["istio-ingress/public", "mesh"]);
        assert.deepEqual(canary["spec"].service.hosts, ["fraud-detector.staging.ml.example.com"]);
        assert.equal(canary["spec"].ingressRef, undefined);
        const models = findObject(result.run.resources, "kubernetes:core/v1:Namespace", "models");
        assert.equal(models["metadata"].labels["istio-injection"], "enabled");
        assert.equal(models["metadata"].labels["pod-security.kubernetes.io/enforce"], "restricted");
        // No Ingress of the platform's for a model: the Gateway serves the host.
        assert.throws(() => findObject(result.run.resources, "kubernetes:networking.k8s.io/v1:Ingress", "fraud-detector"));
    });

    it("istio with shadow testing: the canary is mirrored before weights shift", async () => {
        const result = await preview(
            stagingWith({
                flagger: { meshProvider: "istio" },
                cluster: withCluster({ gateway: GATEWAY }),
                models: modelsWith({ mirror: true, mirrorWeight: 50 }),
            }),
        );
        assertClean(result);
        const analysis = canaryOf(result, "fraud-detector")["spec"].analysis;
        assert.equal(analysis.mirror, true);
        assert.equal(analysis.mirrorWeight, 50);
    });

    for (const provider of ["gatewayapi:v1", "gatewayapi:v1beta1"]) {
        it(`${provider} with a Gateway: an HTTPRoute's parent Gateway and hosts`, async () => {
            const result = await preview(stagingWith({ flagger: { meshProvider: provider }, cluster: withCluster({ gateway: GATEWAY }) }));
            assertClean(result);
            const canary = canaryOf(result, "fraud-detector");
            assert.equal(canary["spec"].provider, provider);
            assert.deepEqual(canary["spec"].service.gatewayRefs, [GATEWAY]);
            assert.deepEqual(canary["spec"].service.hosts, ["fraud-detector.staging.ml.example.com"]);
            const models = findObject(result.run.resources, "kubernetes:core/v1:Namespace", "models");
            assert.equal(models["metadata"].labels["istio-injection"], undefined);
        });
    }

    it("A/B testing by header through a Gateway API route", async () => {
        const models = modelsWith({ abTesting: { header: "X-Deployment-Context", value: "canary", iterations: 5 } }, ["stepWeights"]);
        const result = await preview(stagingWith({ flagger: { meshProvider: "gatewayapi:v1" }, cluster: withCluster({ gateway: GATEWAY }), models }));
        assertClean(result);
        const analysis = canaryOf(result, "fraud-detector")["spec"].analysis;
        assert.deepEqual(analysis.match, [{ headers: { "x-deployment-context": { exact: "canary" } } }]);
        assert.equal(analysis.iterations, 5);
        assert.equal(analysis.stepWeights, undefined);
    });

    it("nginx (the shipped stacks' provider): the model's own Ingress, which Flagger clones", async () => {
        const result = await preview(stagingWith({ models: modelsWith({ abTesting: {} }, ["stepWeights"]) }));
        assertClean(result);
        const canary = canaryOf(result, "fraud-detector");
        assert.deepEqual(canary["spec"].ingressRef, { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "fraud-detector" });
        assert.deepEqual(canary["spec"].analysis.match, [{ headers: { "x-deployment-context": { exact: "canary" } } }]);
    });
});
