import * as assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import { parse } from "yaml";
import { LABELS } from "../../components/labels";
import { EXPERIMENT_PROVIDERS, ModelServing, type ModelServingArgs, type ServedModel } from "../../components/modelServing";
import { validateManifest } from "../../offline/manifests";
import { constructionFailure, findObject, ofType, type RecordedResource, runComponent, testFlagger } from "../harness";

/**
 * A standing experiment as ModelServing renders it, per provider: the challenger's own objects, the
 * public host's route with its weights and header, and Flagger's route moved to the champion host.
 */

const T = {
    deployment: "kubernetes:apps/v1:Deployment",
    service: "kubernetes:core/v1:Service",
    hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    configMap: "kubernetes:core/v1:ConfigMap",
    canary: "kubernetes:flagger.app/v1beta1:Canary",
    virtualService: "kubernetes:networking.istio.io/v1beta1:VirtualService",
    httpRoute: "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    httpRouteBeta: "kubernetes:gateway.networking.k8s.io/v1beta1:HTTPRoute",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
} as const;

const GATEWAY = { name: "public", namespace: "gateways" };
const MODEL: ServedModel = {
    name: "fraud-detector",
    registeredModel: "fraud_detector",
    version: "7",
    replicas: { min: 2, max: 4 },
    resources: { cpu: "1", memory: "2Gi", gpu: 1 },
    experiment: { challenger: { version: "9" }, weight: 20 },
};

function argsFor(provider: string, model: ServedModel = MODEL, more: Partial<ModelServingArgs> = {}): ModelServingArgs {
    return {
        model,
        environment: "production",
        stack: "production",
        namespace: "models",
        trackingUri: "http://mlflow.mlflow.svc.cluster.local:5000",
        ingress: { domain: "ml.example.com", ...(provider !== "nginx" && { gateway: GATEWAY }) },
        flagger: testFlagger(provider),
        delivery: { mode: "direct" },
        ...more,
    };
}

async function render(args: ModelServingArgs): Promise<readonly RecordedResource[]> {
    const run = await runComponent(() => {
        const cluster = new k8s.Provider("cluster", {});
        new ModelServing("fraud-detector", args, { providers: { kubernetes: cluster } });
    });
    return run.resources;
}

const names = (resources: readonly RecordedResource[], type: string) => ofType(resources, type).map((r) => (r.inputs["metadata"] as { name: string }).name);

describe("ModelServing with a standing experiment", () => {
    it("serves with istio and Gateway API, not nginx (one canary Ingress per host, Flagger's)", () => {
        assert.deepEqual(EXPERIMENT_PROVIDERS, ["istio", "gatewayapi:v1", "gatewayapi:v1beta1"]);
    });

    for (const delivery of [
        { mode: "direct" } as const,
        { mode: "gitops", repoUrl: "https://example.com/r.git", project: "models", renderRoot: "/tmp/exp-render" } as const,
    ]) {
        describe(`the challenger (${delivery.mode} delivery)`, () => {
            it("is its own Deployment of the challenger version, labelled with its version and role, with the champion's pod and telemetry", async () => {
                const resources = await render(argsFor("istio", MODEL, { delivery }));
                assert.deepEqual(names(resources, T.deployment).sort(), ["fraud-detector", "fraud-detector-challenger"]);
                const champion = findObject(resources, T.deployment, "fraud-detector");
                const challenger = findObject(resources, T.deployment, "fraud-detector-challenger");
                assert.deepEqual(challenger["metadata"]["labels"], {
                    [LABELS.name]: "fraud-detector-challenger",
                    [LABELS.component]: "model-server",
                    [LABELS.partOf]: "mlops-platform",
                    [LABELS.managedBy]: "pulumi",
                    [LABELS.model]: "fraud-detector",
                    [LABELS.modelVersion]: "9",
                    [LABELS.environment]: "production",
                    [LABELS.experimentRole]: "challenger",
                });
                assert.equal(challenger["metadata"]["annotations"], undefined, "a challenger declares no promotion evidence");
                assert.deepEqual(challenger["spec"]["selector"], { matchLabels: { [LABELS.name]: "fraud-detector-challenger" } });
                assert.deepEqual(challenger["spec"]["template"]["metadata"]["labels"], challenger["metadata"]["labels"]);
                const pod = challenger["spec"]["template"]["spec"];
                const championPod = champion["spec"]["template"]["spec"];
                assert.deepEqual(pod.containers[0].args, [
                    "models",
                    "serve",
                    "-m",
                    "models:/fraud_detector/9",
                    "--env-manager",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "8081",
                ]);
                // The same pod otherwise: resources and GPU placement, security, the telemetry container (its code from its own ConfigMap).
                assert.deepEqual(pod.containers[0].resources, championPod.containers[0].resources);
                assert.deepEqual(pod.nodeSelector, championPod.nodeSelector);
                assert.deepEqual(pod.securityContext, championPod.securityContext);
                assert.deepEqual(pod.containers[1], championPod.containers[1]);
                assert.deepEqual(pod.volumes[1], { name: "telemetry", configMap: { name: "fraud-detector-challenger-telemetry", defaultMode: 0o444 } });
                assert.deepEqual(
                    findObject(resources, T.configMap, "fraud-detector-challenger-telemetry")["data"],
                    findObject(resources, T.configMap, "fraud-detector-telemetry")["data"],
                );
                assert.deepEqual(challenger["spec"]["strategy"], { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
            });

            it("has its Service, an HPA with the champion's bounds and a PDB, and no Canary", async () => {
                const resources = await render(argsFor("gatewayapi:v1", MODEL, { delivery }));
                assert.deepEqual(findObject(resources, T.service, "fraud-detector-challenger")["spec"], {
                    selector: { [LABELS.name]: "fraud-detector-challenger" },
                    ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
                });
                const hpa = findObject(resources, T.hpa, "fraud-detector-challenger")["spec"];
                assert.deepEqual([hpa.scaleTargetRef.name, hpa.minReplicas, hpa.maxReplicas], ["fraud-detector-challenger", 2, 4]);
                assert.deepEqual(findObject(resources, T.pdb, "fraud-detector-challenger")["spec"]["selector"], {
                    matchLabels: { [LABELS.name]: "fraud-detector-challenger" },
                });
                assert.deepEqual(names(resources, T.canary), ["fraud-detector"]);
            });
        });
    }

    it("istio: a VirtualService of the public host on the Gateway, header first, then the split; Flagger's route takes the champion host", async () => {
        const resources = await render(argsFor("istio"));
        assert.deepEqual(findObject(resources, T.virtualService, "fraud-detector-experiment")["spec"], {
            hosts: ["fraud-detector.ml.example.com"],
            gateways: ["gateways/public"],
            http: [
                {
                    name: "challenger-by-header",
                    match: [{ headers: { "x-deployment-context": { exact: "challenger" } } }],
                    route: [{ destination: { host: "fraud-detector-challenger", port: { number: 80 } } }],
                },
                {
                    name: "split",
                    route: [
                        { destination: { host: "fraud-detector", port: { number: 80 } }, weight: 80 },
                        { destination: { host: "fraud-detector-challenger", port: { number: 80 } }, weight: 20 },
                    ],
                },
            ],
        });
        const service = findObject(resources, T.canary, "fraud-detector")["spec"]["service"];
        assert.deepEqual([service.gateways, service.hosts], [["gateways/public", "mesh"], ["fraud-detector-champion.ml.example.com"]]);
    });

    it("every object of an experiment is valid against its schema, per provider (Istio's and Gateway API's own), and a misspelt route field is caught", async () => {
        for (const provider of EXPERIMENT_PROVIDERS) {
            const objects = (await render(argsFor(provider))).filter((r) => r.type.startsWith("kubernetes:") && typeof r.inputs["kind"] === "string");
            assert.ok(
                objects.some((r) => /:(VirtualService|HTTPRoute)$/.test(r.type)),
                `${provider} renders its route`,
            );
            for (const r of objects) {
                const object = r.inputs as Parameters<typeof validateManifest>[0];
                assert.deepEqual(await validateManifest(object), [], `${provider}: ${r.type} ${r.name}`);
            }
        }
        const virtualService = findObject(await render(argsFor("istio")), T.virtualService, "fraud-detector-experiment");
        const misspelt = { ...virtualService, spec: { ...virtualService["spec"], gateway: virtualService["spec"]["gateways"] } };
        assert.deepEqual(
            (await validateManifest(misspelt as unknown as Parameters<typeof validateManifest>[0])).map((p) => p.path),
            ["spec.gateway"],
        );
    });

    it("gatewayapi:v1: an HTTPRoute of the public host with the header rules and the weighted rule; the load test reaches Flagger's host", async () => {
        const model: ServedModel = {
            ...MODEL,
            experiment: { challenger: { version: "9" }, weight: 35, header: { name: "X-Variant", challenger: "b", champion: "a" } },
        };
        const resources = await render(argsFor("gatewayapi:v1", model));
        assert.deepEqual(findObject(resources, T.httpRoute, "fraud-detector-experiment")["spec"], {
            parentRefs: [GATEWAY],
            hostnames: ["fraud-detector.ml.example.com"],
            rules: [
                { matches: [{ headers: [{ type: "Exact", name: "X-Variant", value: "b" }] }], backendRefs: [{ name: "fraud-detector-challenger", port: 80 }] },
                { matches: [{ headers: [{ type: "Exact", name: "X-Variant", value: "a" }] }], backendRefs: [{ name: "fraud-detector", port: 80 }] },
                {
                    backendRefs: [
                        { name: "fraud-detector", port: 80, weight: 65 },
                        { name: "fraud-detector-challenger", port: 80, weight: 35 },
                    ],
                },
            ],
        });
        const canary = findObject(resources, T.canary, "fraud-detector")["spec"];
        assert.deepEqual(canary.service.hosts, ["fraud-detector-champion.ml.example.com"]);
        const loadTest = canary.analysis.webhooks.find((w: { name: string }) => w.name === "load-test");
        assert.match(loadTest.metadata.cmd, /https:\/\/fraud-detector-champion\.ml\.example\.com\/health$/);
    });

    it("gatewayapi:v1beta1 writes a v1beta1 HTTPRoute", async () => {
        const resources = await render(argsFor("gatewayapi:v1beta1"));
        assert.deepEqual(names(resources, T.httpRouteBeta), ["fraud-detector-experiment"]);
    });

    it("the alert rules carry the challenger's own group, at warning level only, beside the champion's", async () => {
        const rules = parse(findObject(await render(argsFor("istio")), T.configMap, "fraud-detector-alert-rules")["data"]["rules.yaml"]) as {
            groups: Array<{ name: string; rules: Array<{ alert: string; labels: Record<string, string> }> }>;
        };
        assert.deepEqual(
            rules.groups.map((g) => [g.name, [...new Set(g.rules.map((r) => `${r.labels["model_version"]} ${r.labels["severity"]}`))].sort()]),
            [
                ["mlops-fraud-detector", ["7 critical", "7 warning"]],
                ["mlops-fraud-detector-challenger", ["9 warning"]],
            ],
        );
    });

    it("without an experiment: no challenger, no experiment route, Flagger's route holds the public host", async () => {
        const { experiment: _, ...plain } = MODEL;
        for (const provider of ["istio", "gatewayapi:v1"]) {
            const resources = await render(argsFor(provider, plain));
            assert.deepEqual(names(resources, T.deployment), ["fraud-detector"]);
            assert.deepEqual([...names(resources, T.virtualService), ...names(resources, T.httpRoute), ...names(resources, T.service)], []);
            assert.deepEqual(findObject(resources, T.canary, "fraud-detector")["spec"]["service"]["hosts"], ["fraud-detector.ml.example.com"]);
        }
    });

    it("counts the challenger's GPUs at maximum scale once beside the champion's twice (primary and canary)", async () => {
        const run = await runComponent(() => {
            const cluster = new k8s.Provider("cluster", {});
            return { gpus: new ModelServing("fraud-detector", argsFor("istio"), { providers: { kubernetes: cluster } }).gpusAtMaxScale };
        });
        // replicas.max 4 × 1 GPU: 8 for the champion's primary and canary, 4 for the challenger.
        assert.equal(run.outputs.gpus, 12);
    });

    it("nginx: refused before anything is created, naming the arg and the value", async () => {
        const { message, resources } = await constructionFailure(() => new ModelServing("fraud-detector", argsFor("nginx")));
        assert.equal(
            message,
            'ModelServing "fraud-detector": model.experiment cannot run with the provider "nginx": ingress-nginx admits one canary Ingress per host and Flagger\'s "fraud-detector-canary" is it; use "istio", "gatewayapi:v1" or "gatewayapi:v1beta1", got {"challenger":{"version":"9"},"weight":20}',
        );
        assert.deepEqual(ofType(resources, T.deployment), []);
    });

    it("refuses a challenger equal to the champion and a weight outside 1–99", async () => {
        const bad: ServedModel = { ...MODEL, experiment: { challenger: { version: "7" }, weight: 0 } };
        const { message } = await constructionFailure(() => new ModelServing("fraud-detector", argsFor("istio", bad)));
        assert.equal(
            message,
            'ModelServing "fraud-detector": model.experiment.challenger.version must differ from the declared (champion) version "7": both would serve the same model, got "7"; ' +
                "model.experiment.weight must be an integer from 1 to 99 (percent of requests to the challenger), got 0",
        );
    });
});
