import * as assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import {
    CANARY_POD_SELECTOR,
    Flagger,
    type FlaggerArgs,
    flaggerCrds,
    LOADTESTER_CHART,
    MODEL_QUALITY_METRICS,
    modelQualityQuery,
} from "../../components/flagger";
import { RESTRICTED_NAMESPACE_LABELS } from "../../components/security";
import {
    constructionFailure,
    findObject,
    findResource,
    ofType,
    promiseOf,
    type RecordedResource,
    runComponent,
    RESTRICTED_CONTAINER_CONTEXT,
} from "../harness";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const METRIC_TEMPLATE = "kubernetes:flagger.app/v1beta1:MetricTemplate";
const ALERT_PROVIDER = "kubernetes:flagger.app/v1beta1:AlertProvider";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition";
const PROMETHEUS = "http://prometheus-operated.monitoring.svc.cluster.local:9090";
const ALERTS = { type: "slack" as const, channel: "ml-deployments", secretName: "flagger-slack-webhook" };

const base: FlaggerArgs = { meshProvider: "nginx", workloadNamespace: "models" };

async function render(args: Partial<FlaggerArgs> = {}, name = "flagger") {
    const run = await runComponent(() => {
        const flagger = new Flagger(name, { ...base, ...args });
        return {
            namespace: flagger.namespace,
            meshProvider: flagger.meshProvider,
            loadTesterUrl: flagger.loadTesterUrl,
            metricTemplates: flagger.metricTemplates,
            // A stack output cannot be undefined; the absent provider is simply not returned.
            ...(flagger.alertProvider !== undefined && { alertProvider: flagger.alertProvider }),
            alertProviderIsUndefined: flagger.alertProvider === undefined,
        };
    });
    const release = findResource(run.resources, RELEASE, name);
    const loadTester = findResource(run.resources, RELEASE, `${name}-loadtester`);
    return { run, release, values: release.inputs["values"] as Record<string, any>, loadTester };
}

async function failure(args: Partial<FlaggerArgs>): Promise<{ message: string; children: number }> {
    const { message, resources } = await constructionFailure(() => new Flagger("flagger", { ...base, ...args }));
    return { message, children: resources.filter((r) => r.type.startsWith("kubernetes:")).length };
}

function assertRestricted(context: Record<string, any>, uid: number): void {
    assert.deepEqual(context, { ...RESTRICTED_CONTAINER_CONTEXT, runAsUser: uid });
}

describe("Flagger", () => {
    describe("flagger release", () => {
        it("installs the flagger chart 1.44.0 from flagger.app into its own namespace, without the chart's CRDs", async () => {
            const { release } = await render();
            assert.equal(release.inputs["chart"], "flagger");
            assert.deepEqual(release.inputs["repositoryOpts"], { repo: "https://flagger.app" });
            assert.equal(release.inputs["version"], "1.44.0");
            assert.equal(release.inputs["name"], "flagger");
            assert.equal(release.inputs["namespace"], "flagger");
            assert.equal(release.inputs["skipCrds"], true);
        });

        it("applies Flagger's CRDs from the pinned file as its own resources, before the release", async () => {
            const { run, release } = await render();
            const crds = ofType(run.resources, CRD);
            assert.deepEqual(crds.map((c) => (c.inputs["metadata"] as { name: string }).name).sort(), [
                "alertproviders.flagger.app",
                "canaries.flagger.app",
                "metrictemplates.flagger.app",
            ]);
            const pinned = flaggerCrds();
            for (const crd of crds) {
                const expected = pinned.find((p) => p["metadata"].name === (crd.inputs["metadata"] as { name: string }).name);
                // The pinned spec, unchanged; the platform's labels added to upstream's metadata.
                assert.deepEqual(crd.inputs["spec"], expected?.["spec"]);
                assert.equal((crd.inputs["metadata"] as { labels: Record<string, string> }).labels["app.kubernetes.io/part-of"], "mlops-platform");
                assert.ok(release.dependencies.includes(crd.urn), crd.name);
            }
        });

        it("uses chartVersion when given", async () => {
            assert.equal((await render({ chartVersion: "1.44.1" })).release.inputs["version"], "1.44.1");
        });

        it("creates its namespace enforcing the restricted standard, before the release", async () => {
            const { run, release } = await render();
            const ns = findObject(run.resources, NAMESPACE, "flagger");
            assert.deepEqual(ns["metadata"].labels, {
                "app.kubernetes.io/name": "flagger",
                "app.kubernetes.io/component": "progressive-delivery",
                "app.kubernetes.io/part-of": "mlops-platform",
                "app.kubernetes.io/managed-by": "pulumi",
                ...RESTRICTED_NAMESPACE_LABELS,
            });
            assert.ok(release.dependencies.includes(findResource(run.resources, NAMESPACE, "flagger-ns").urn));
        });

        it("leaves the cluster-wide CRDs to another platform when manageCrds is false", async () => {
            const { run, release } = await render({ manageCrds: false });
            assert.deepEqual(ofType(run.resources, CRD), []);
            assert.equal(release.inputs["skipCrds"], true);
        });

        it("sets the chart's values: mesh provider, no templated CRDs, one watched namespace, restricted context, resources", async () => {
            const { values } = await render({ meshProvider: "istio", metricsServer: PROMETHEUS });
            assert.equal(values["fullnameOverride"], "flagger");
            assert.equal(values["meshProvider"], "istio");
            assert.deepEqual(values["crd"], { create: false });
            assert.equal(values["namespace"], "models");
            assert.equal(values["securityContext"].enabled, true);
            assertRestricted(values["securityContext"].context, 10001);
            // Every key of the chart's default resources is set, so what Helm renders is exactly this.
            assert.deepEqual(values["resources"], { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "1", memory: "512Mi" } });
        });

        it("uses the given metrics server and installs no Prometheus", async () => {
            const { values } = await render({ metricsServer: PROMETHEUS });
            assert.equal(values["metricsServer"], PROMETHEUS);
            assert.deepEqual(values["prometheus"], { install: false });
        });

        it("installs the bundled Prometheus, restricted, when no metrics server is given", async () => {
            const { values } = await render();
            assert.equal(values["metricsServer"], undefined);
            assert.equal(values["prometheus"].install, true);
            assert.equal(values["prometheus"].securityContext.enabled, true);
            assertRestricted(values["prometheus"].securityContext.context, 65534);
        });
    });

    describe("load tester", () => {
        it("installs the loadtester chart released with Flagger 1.44.0 into the workload namespace", async () => {
            const { loadTester } = await render();
            assert.equal(loadTester.inputs["chart"], "loadtester");
            assert.deepEqual(loadTester.inputs["repositoryOpts"], { repo: "https://flagger.app" });
            assert.equal(loadTester.inputs["version"], "0.38.0");
            assert.equal(LOADTESTER_CHART.version, "0.38.0");
            assert.equal(loadTester.inputs["namespace"], "models");
            assert.equal(loadTester.inputs["name"], "flagger-loadtester");
        });

        it("names its Service after the component and runs restricted", async () => {
            const { loadTester } = await render();
            const values = loadTester.inputs["values"] as Record<string, any>;
            assert.equal(values["fullnameOverride"], "flagger-loadtester");
            assert.equal(values["securityContext"].enabled, true);
            assertRestricted(values["securityContext"].context, 100);
            assert.ok(values["resources"].requests.cpu);
        });

        it("uses loadTesterChartVersion when given", async () => {
            assert.equal((await render({ loadTesterChartVersion: "0.39.0" })).loadTester.inputs["version"], "0.39.0");
        });

        it("outputs the URL Canary webhooks call", async () => {
            assert.equal(await promiseOf((await render()).run.outputs.loadTesterUrl), "http://flagger-loadtester.models/");
            assert.equal(await promiseOf((await render({ workloadNamespace: "serving" }, "fl")).run.outputs.loadTesterUrl), "http://fl-loadtester.serving/");
        });
    });

    describe("model-quality MetricTemplates", () => {
        it("reads the documented metrics of the canary's pods, with Flagger's template variables", async () => {
            const { run } = await render({ metricsServer: PROMETHEUS });
            const expected = {
                "flagger-model-accuracy":
                    'avg(avg_over_time(mlops_model_accuracy{namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}]))',
                "flagger-model-drift-score":
                    'max(max_over_time(mlops_feature_drift_score{namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}]))',
                "flagger-model-confidence":
                    'avg(avg_over_time(mlops_prediction_confidence{namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}]))',
            };
            for (const [name, query] of Object.entries(expected)) {
                const template = findObject(run.resources, METRIC_TEMPLATE, name);
                assert.equal(template["apiVersion"], "flagger.app/v1beta1");
                assert.equal(template["metadata"].namespace, "models");
                assert.deepEqual(template["spec"], { provider: { type: "prometheus", address: PROMETHEUS }, query });
            }
            assert.equal(ofType(run.resources, METRIC_TEMPLATE).length, 3);
        });

        it("point at the bundled Prometheus when no metrics server is given", async () => {
            const { run } = await render();
            for (const template of ofType(run.resources, METRIC_TEMPLATE)) {
                assert.equal((template.inputs["spec"] as any).provider.address, "http://flagger-prometheus.flagger:9090");
            }
        });

        it("the metric-name contract is one constant, and the canary selector excludes the primary", () => {
            assert.deepEqual(
                Object.values(MODEL_QUALITY_METRICS).map((m) => m.metric),
                ["mlops_model_accuracy", "mlops_feature_drift_score", "mlops_prediction_confidence"],
            );
            assert.ok(modelQualityQuery("accuracy").includes(CANARY_POD_SELECTOR));
            const podPattern = /^fraud-detector-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/;
            assert.ok(podPattern.test("fraud-detector-7d9c4f6b8-xk2lp"), "a canary pod");
            assert.ok(!podPattern.test("fraud-detector-primary-7d9c4f6b8-xk2lp"), "a primary pod");
        });

        it("outputs references the model-serving component consumes", async () => {
            const { run } = await render();
            assert.deepEqual(run.outputs.metricTemplates, {
                accuracy: { name: "flagger-model-accuracy", namespace: "models" },
                driftScore: { name: "flagger-model-drift-score", namespace: "models" },
                confidence: { name: "flagger-model-confidence", namespace: "models" },
            });
        });
    });

    describe("AlertProvider", () => {
        it("is absent by default", async () => {
            const { run } = await render();
            assert.equal(ofType(run.resources, ALERT_PROVIDER).length, 0);
            assert.equal(run.outputs.alertProviderIsUndefined, true);
        });

        it("reads the webhook address from the configured Secret when alerts are set", async () => {
            const { run } = await render({ alerts: ALERTS });
            const provider = findObject(run.resources, ALERT_PROVIDER, "flagger-slack");
            assert.equal(provider["metadata"].namespace, "models");
            assert.deepEqual(provider["spec"], {
                type: "slack",
                channel: "ml-deployments",
                username: "flagger",
                secretRef: { name: "flagger-slack-webhook" },
            });
            assert.deepEqual(run.outputs.alertProvider, { name: "flagger-slack", namespace: "models" });
        });

        it("leaves the channel out when none is configured", async () => {
            const { run } = await render({ alerts: { type: "msteams", secretName: "teams-hook" } });
            assert.deepEqual(findObject(run.resources, ALERT_PROVIDER, "flagger-msteams")["spec"], {
                type: "msteams",
                username: "flagger",
                secretRef: { name: "teams-hook" },
            });
        });
    });

    describe("dependencies", () => {
        it("every custom resource waits for Flagger's CRDs", async () => {
            const { run } = await render({ alerts: ALERTS });
            const crds = ofType(run.resources, CRD).map((c) => c.urn);
            const customResources = run.resources.filter((r) => r.type.startsWith("kubernetes:flagger.app/"));
            assert.equal(customResources.length, 4);
            for (const resource of customResources) for (const crd of crds) assert.ok(resource.dependencies.includes(crd), resource.name);
        });

        it("what lives in the workload namespace also waits for what the component depends on", async () => {
            const run = await runComponent(() => {
                const models = new k8s.core.v1.Namespace("models", { metadata: { name: "models" } });
                new Flagger("flagger", { ...base, alerts: ALERTS }, { dependsOn: [models] });
            });
            const models = findResource(run.resources, NAMESPACE, "models");
            const inWorkloadNamespace = run.resources.filter((r) => r.type.startsWith("kubernetes:flagger.app/") || r.name === "flagger-loadtester");
            assert.equal(inWorkloadNamespace.length, 5);
            for (const resource of inWorkloadNamespace) assert.ok(resource.dependencies.includes(models.urn), resource.name);
        });
    });

    it("outputs its namespace and mesh provider", async () => {
        const { run } = await render({ meshProvider: "gatewayapi:v1" });
        assert.equal(run.outputs.namespace, "flagger");
        assert.equal(run.outputs.meshProvider, "gatewayapi:v1");
    });

    it("two instances never collide", async () => {
        const run = await runComponent(() => {
            new Flagger("flagger-a", { ...base, alerts: ALERTS });
            // The CRDs are cluster-wide: one of the two platforms manages them.
            new Flagger("flagger-b", { ...base, alerts: ALERTS, manageCrds: false });
        });
        const k8sResources = run.resources.filter((r: RecordedResource) => r.type.startsWith("kubernetes:"));
        assert.equal(new Set(k8sResources.map((r) => r.urn)).size, k8sResources.length);
        const identities = k8sResources.map((r) => {
            const metadata = (r.inputs["metadata"] ?? {}) as { name?: string; namespace?: string };
            return `${r.type}/${metadata.namespace ?? r.inputs["namespace"] ?? ""}/${metadata.name ?? r.inputs["name"]}`;
        });
        assert.equal(new Set(identities).size, identities.length, identities.join("\n"));
    });

    describe("errors (thrown before any child exists)", () => {
        const cases: Array<[string, Partial<FlaggerArgs>, string]> = [
            [
                "meshProvider",
                { meshProvider: "envoy" as FlaggerArgs["meshProvider"] },
                'Flagger "flagger": meshProvider must be one of nginx, istio, linkerd, contour, gloo, skipper, traefik, apisix, kuma, osm, appmesh, gatewayapi:v1, gatewayapi:v1beta1, got "envoy"',
            ],
            [
                "metricsServer",
                { metricsServer: "prometheus:9090" },
                'Flagger "flagger": metricsServer must be an http(s) URL of a Prometheus server, got "prometheus:9090"',
            ],
            ["workloadNamespace", { workloadNamespace: "Models" }, 'Flagger "flagger": workloadNamespace must be a namespace name, got "Models"'],
            ["chartVersion", { chartVersion: "1.44" }, 'Flagger "flagger": chartVersion must be an exact chart version such as "1.44.0", got "1.44"'],
            [
                "loadTesterChartVersion",
                { loadTesterChartVersion: "latest" },
                'Flagger "flagger": loadTesterChartVersion must be an exact chart version such as "0.38.0", got "latest"',
            ],
            [
                "alerts.type",
                { alerts: { ...ALERTS, type: "pagerduty" as "slack" } },
                'Flagger "flagger": alerts.type must be one of slack, msteams, discord, rocket, gchat, got "pagerduty"',
            ],
            [
                "alerts.secretName",
                { alerts: { ...ALERTS, secretName: "Slack Hook" } },
                'Flagger "flagger": alerts.secretName must be the name of a Secret, got "Slack Hook"',
            ],
        ];
        for (const [arg, args, message] of cases) {
            it(arg, async () => {
                assert.deepEqual(await failure(args), { message, children: 0 });
            });
        }
    });
});
