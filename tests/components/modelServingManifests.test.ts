import * as assert from "node:assert/strict";
import { toManifests } from "../../offline/manifests/collect";
import { validateManifest } from "../../offline/manifests/validate";
import { GPU_PLACEMENT_DEFAULTS, ModelServing, type ModelServingArgs, type ServedModel, type ServingProvider } from "../../components/modelServing";
import { modelServingArgs } from "../../infra/componentArgs";
import { runComponent, shippedConfig } from "../harness";

/**
 * Every object ModelServing renders, validated against the real schemas: Kubernetes kinds with
 * kubernetes-models, the Application with @kubernetes-models/argo-cd, the Canary with Flagger's
 * CRD (components/flagger/crd.yaml), strictly (unknown fields are errors).
 */

const FLAGGER_REFS = {
    loadTesterUrl: "http://flagger-loadtester.flagger/",
    metricTemplates: {
        accuracy: { name: "model-accuracy", namespace: "flagger" },
        driftScore: { name: "feature-drift-score", namespace: "flagger" },
        confidence: { name: "prediction-confidence", namespace: "flagger" },
    },
    alertProvider: { name: "slack", namespace: "flagger" },
};

async function problemsOf(
    models: readonly ServedModel[],
    stack: string,
    meshProvider: ServingProvider,
    gpu: ModelServingArgs["gpu"],
): Promise<{ kinds: string[]; problems: string[] }> {
    const run = await runComponent(() => {
        for (const model of models) {
            new ModelServing(model.name, {
                model,
                environment: stack === "production" ? "production" : "staging",
                stack,
                namespace: "models",
                trackingUri: "http://mlflow.mlflow.svc.cluster.local:5000",
                artifactReaderRoleArn: "arn:aws:iam::123456789012:role/mlops-artifacts-reader",
                gpu,
                ingress: {
                    className: "nginx",
                    domain: "ml.example.com",
                    clusterIssuer: "letsencrypt",
                    ...(meshProvider !== "nginx" && { gateway: { name: "public", namespace: "gateways" } }),
                },
                flagger: { meshProvider, ...FLAGGER_REFS },
                delivery: {
                    mode: "gitops",
                    repoUrl: "https://github.com/example-org/mlops-platform.git",
                    targetRevision: "main",
                    path: "deploy",
                    project: "models",
                },
                trackingCredentials: { secretName: "mlflow-model-reader" },
            });
        }
    });
    const manifests = toManifests(run.resources);
    const problems: string[] = [];
    for (const manifest of manifests) problems.push(...(await validateManifest(manifest)).map((p) => p.line));
    return { kinds: [...new Set(manifests.map((m) => m.object.kind))].sort(), problems };
}

describe("ModelServing manifests against their schemas", () => {
    for (const stack of ["staging", "production"]) {
        it(`${stack}: every object of the shipped models is valid (nginx)`, async () => {
            const config = shippedConfig(stack);
            const refs = {
                namespace: "models",
                trackingUri: "",
                artifactReaderRoleArn: "",
                clusterIssuer: "",
                flagger: { meshProvider: "nginx", ...FLAGGER_REFS },
                argo: { namespace: "argocd", project: "models" },
                trackingCredentialsSecret: undefined,
            };
            const args = config.models.map((m) => modelServingArgs(config, m, refs).args);
            const { kinds, problems } = await problemsOf(
                args.map((a) => a.model),
                stack,
                "nginx",
                args[0]?.gpu,
            );
            assert.deepEqual(kinds, [
                "Application",
                "Canary",
                "ConfigMap",
                "Deployment",
                "HorizontalPodAutoscaler",
                "Ingress",
                "PodDisruptionBudget",
                "ServiceAccount",
            ]);
            assert.deepEqual(problems, []);
        });
    }

    it("A/B testing, mirroring, hour-long intervals and every provider render valid Canaries", async () => {
        const base: ServedModel = { name: "m", registeredModel: "m", version: "1", replicas: { min: 1, max: 2 }, resources: { cpu: "1", memory: "1Gi" } };
        const variants: Array<[ServingProvider, ServedModel["canary"]]> = [
            ["nginx", { abTesting: { header: "X-Cohort", value: "beta", iterations: 5 }, interval: "2h" }],
            ["istio", { mirror: true, mirrorWeight: 25, quality: { minAccuracy: 0.9, maxDriftScore: 0.1, minConfidence: 0.5 } }],
            ["gatewayapi:v1", { stepWeights: [5, 50], loadTest: { enabled: false } }],
            ["gatewayapi:v1beta1", { abTesting: {} }],
        ];
        for (const [provider, canary] of variants) {
            const { problems } = await problemsOf([{ ...base, ...(canary !== undefined && { canary }) }], "staging", provider, GPU_PLACEMENT_DEFAULTS);
            assert.deepEqual(problems, [], provider);
        }
    });

    it("catches a Canary the CRD rejects (the check can fail)", async () => {
        const [problem] = await validateManifest({
            apiVersion: "flagger.app/v1beta1",
            kind: "Canary",
            metadata: { name: "m", namespace: "models" },
            spec: {
                targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "m" },
                service: { port: 80 },
                analysis: { interval: "2h", threshold: 5, stepWeights: [1] },
            },
        });
        assert.equal(problem?.line, 'Canary models/m: spec.analysis.interval: must match ^[0-9]+(m|s), got string "2h"');
    });
});
