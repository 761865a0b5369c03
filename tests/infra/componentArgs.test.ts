import * as assert from "node:assert/strict";
import { argoCdArgs, flaggerArgs, modelServingArgs, stackKey } from "../../infra/componentArgs";
import { shippedConfig } from "../harness";

const REPO = "https://github.com/example-org/mlops-platform.git";
const SSO = { issuer: "https://login.example.com/realms/platform", clientId: "argocd", clientSecretRef: { name: "argocd-oidc", key: "clientSecret" } };

describe("infra/componentArgs: the stack configuration as component args", () => {
    describe("ArgoCd", () => {
        it("production: HA, SSO, the delivery repo, the cluster's ingress class", () => {
            const { args } = argoCdArgs(shippedConfig("production"), { clusterIssuer: "letsencrypt", modelsNamespace: "models" });
            assert.equal(args.host, "argocd.ml.example.com");
            assert.equal(args.ha, true);
            assert.equal(args.ingressClass, "nginx");
            assert.deepEqual(args.sso, SSO);
            assert.deepEqual(args.sourceRepos, [REPO]);
        });

        it("staging: no HA, no SSO", () => {
            const { args } = argoCdArgs(shippedConfig("staging"), { clusterIssuer: "letsencrypt-staging", modelsNamespace: "models" });
            assert.equal(args.host, "argocd.staging.ml.example.com");
            assert.equal(args.ha, false);
            assert.equal(args.sso, undefined);
        });

        it("direct delivery admits no source repository", () => {
            const config = { ...shippedConfig("staging"), delivery: { mode: "direct" as const } };
            assert.deepEqual(argoCdArgs(config, { clusterIssuer: "x", modelsNamespace: "models" }).args.sourceRepos, []);
        });
    });

    describe("Flagger", () => {
        it("production: an external Prometheus and Slack alerts", () => {
            assert.deepEqual(flaggerArgs(shippedConfig("production"), { workloadNamespace: "models" }).args, {
                install: true,
                meshProvider: "nginx",
                metricsServer: "http://prometheus-operated.monitoring.svc.cluster.local:9090",
                workloadNamespace: "models",
                alerts: { type: "slack", channel: "ml-deployments", secretName: "flagger-slack-webhook" },
            });
        });

        it("staging: the bundled Prometheus, no alerts", () => {
            assert.deepEqual(flaggerArgs(shippedConfig("staging"), { workloadNamespace: "models" }).args, {
                install: true,
                meshProvider: "nginx",
                workloadNamespace: "models",
            });
        });

        it("leaves the provider to the component when the stack does not name one", () => {
            const config = shippedConfig("staging");
            assert.deepEqual(flaggerArgs({ ...config, flagger: { install: true } }, { workloadNamespace: "models" }).args, {
                install: true,
                workloadNamespace: "models",
            });
        });
    });

    describe("ModelServing", () => {
        const config = shippedConfig("staging");
        const model = config.models[0];
        const refs = {
            namespace: "models",
            trackingUri: "http://mlflow",
            artifactReaderRoleArn: "arn",
            clusterIssuer: "issuer",
            flagger: {
                meshProvider: "nginx",
                loadTesterUrl: "http://lt/",
                metricTemplates: {
                    accuracy: { name: "a", namespace: "models" },
                    driftScore: { name: "d", namespace: "models" },
                    confidence: { name: "c", namespace: "models" },
                },
                alertProvider: undefined,
            },
            argo: { namespace: "argocd", project: "models" },
            trackingCredentialsSecret: undefined,
        };

        it("maps the model's args to its key under mlops-platform:models, and the shared ones to their sections", () => {
            assert.ok(model !== undefined);
            const { keys } = modelServingArgs(config, model, refs);
            assert.equal(keys["model"], `mlops-platform:models.${model.name}`);
            assert.equal(keys["ingress.gateway"], "mlops-platform:cluster.gateway");
            assert.equal(keys["flagger.meshProvider"], "mlops-platform:flagger.meshProvider");
            assert.equal(stackKey("cluster", "gateway"), "mlops-platform:cluster.gateway");
        });

        it("fills the GPU placement keys the stack leaves out from ModelServing's defaults", () => {
            assert.ok(model !== undefined);
            const partial = { ...config, gpu: { resourceName: "amd.com/gpu" } };
            assert.deepEqual(modelServingArgs(partial, model, refs).args.gpu, {
                resourceName: "amd.com/gpu",
                nodeSelector: { "nvidia.com/gpu.present": "true" },
                tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            });
        });

        it("serves through the stack's Gateway when it names one", () => {
            assert.ok(model !== undefined);
            const gateway = { name: "public", namespace: "istio-ingress" };
            const withGateway = { ...config, cluster: { ...config.cluster, gateway } };
            assert.deepEqual(modelServingArgs(withGateway, model, refs).args.ingress.gateway, gateway);
            assert.equal(modelServingArgs(config, model, refs).args.ingress.gateway, undefined);
        });
    });
});
