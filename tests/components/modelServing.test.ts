import * as assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { ANNOTATIONS, LABELS, modelLabels, type PromotionRecord } from "../../components/labels";
import {
    CANARY_DEFAULTS,
    DELIVERY_DEFAULTS,
    type GpuPlacement,
    modelGpusAtMaxScale,
    MODEL_SERVING_DEFAULTS,
    ModelServing,
    type ModelServingArgs,
    type ModelServingFlagger,
    type ServedModel,
} from "../../components/modelServing";
import { DEFAULT_UID } from "../../components/security";
import { MLFLOW_IMAGE } from "../../components/versions";
import { servedModel } from "../../infra/componentArgs";
import { parse } from "yaml";
import { ALERT_RULES_FILE, ALERT_RULES_LABEL, MONITORING_DEFAULTS } from "../../components/modelServing";
import { alertingRules } from "../../components/modelServing/monitoring";
import { TELEMETRY_PYTHONPATH, telemetryPackageFiles } from "../../components/modelServing/telemetry";
import {
    constructionFailure,
    descendantsOf,
    promiseOf,
    type RecordedResource,
    runComponent,
    RESTRICTED_CONTAINER_CONTEXT,
    shippedConfig,
    testFlagger,
} from "../harness";

const T = {
    component: "mlops:serving:ModelServing",
    serviceAccount: "kubernetes:core/v1:ServiceAccount",
    deployment: "kubernetes:apps/v1:Deployment",
    hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    configMap: "kubernetes:core/v1:ConfigMap",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    canary: "kubernetes:flagger.app/v1beta1:Canary",
    application: "kubernetes:argoproj.io/v1alpha1:Application",
    provider: "pulumi:providers:kubernetes",
} as const;

const FLAGGER: ModelServingFlagger = testFlagger("nginx");
const CPU_MODEL: ServedModel = {
    name: "fraud-detector",
    registeredModel: "fraud_detector",
    version: "7",
    replicas: { min: 3, max: 10 },
    resources: { cpu: "1", memory: "2Gi" },
};
const GPU_MODEL: ServedModel = {
    name: "product-image-tagger",
    registeredModel: "product_image_tagger",
    version: "3",
    replicas: { min: 1, max: 3 },
    resources: { cpu: "2", memory: "8Gi", gpu: 1 },
};
const GPU_NODES: GpuPlacement = {
    resourceName: "nvidia.com/gpu",
    nodeSelector: { "nvidia.com/gpu.present": "true" },
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
};
const GITOPS = {
    mode: "gitops",
    repoUrl: "https://github.com/example-org/mlops-platform.git",
    targetRevision: "main",
    path: "deploy",
    project: "models",
} as const;

function argsFor(model: ServedModel, overrides: Partial<ModelServingArgs> = {}): ModelServingArgs {
    return {
        model,
        environment: "production",
        stack: "production",
        namespace: "models",
        trackingUri: "http://mlflow.mlflow.svc.cluster.local:5000",
        artifactReaderRoleArn: "arn:aws:iam::123456789012:role/mlops-artifacts-reader",
        gpu: GPU_NODES,
        ingress: { className: "nginx", domain: "ml.example.com", clusterIssuer: "letsencrypt" },
        flagger: FLAGGER,
        delivery: { mode: "direct" },
        ...overrides,
    };
}

interface Rendered {
    readonly resources: readonly RecordedResource[];
    readonly outputs: Record<string, unknown>;
}

/** Runs one ModelServing per entry under the mocks, with `cluster` as their Kubernetes provider. */
async function render(entries: ReadonlyArray<readonly [string, ModelServingArgs]>): Promise<Rendered> {
    return runComponent(() => {
        const cluster = new k8s.Provider("cluster", {});
        const outputs: Record<string, pulumi.Input<unknown>> = {};
        for (const [name, args] of entries) {
            const serving = new ModelServing(name, args, { providers: { kubernetes: cluster } });
            Object.assign(outputs, {
                [`${name}.deploymentName`]: serving.deploymentName,
                [`${name}.canaryName`]: serving.canaryName,
                [`${name}.host`]: serving.host,
                [`${name}.url`]: serving.url,
                [`${name}.gpusAtMaxScale`]: serving.gpusAtMaxScale,
                [`${name}.renderedDirectory`]: serving.renderedDirectory ?? "(undefined)",
            });
        }
        return outputs;
    });
}
const renderOne = (args: ModelServingArgs, name = args.model.name) => render([[name, args]]);

function childrenOf(rendered: Rendered, name: string): RecordedResource[] {
    const component = rendered.resources.find((r) => r.type === T.component && r.name === name);
    if (component === undefined) throw new Error(`no ModelServing "${name}" was registered`);
    return descendantsOf(rendered.resources, component.urn);
}

function child(rendered: Rendered, name: string, type: string): Record<string, any> {
    const found = childrenOf(rendered, name).filter((r) => r.type === type);
    if (found.length !== 1) throw new Error(`expected one ${type} under ModelServing "${name}", found ${found.length}`);
    return (found[0] as RecordedResource).inputs;
}

function providerUrn(rendered: Rendered, name: string): string {
    const provider = rendered.resources.find((r) => r.type === T.provider && r.name === name);
    if (provider === undefined) throw new Error(`no provider "${name}"`);
    return provider.urn;
}

/** What the constructor threw, and how many Kubernetes objects or providers existed by then. */
async function failure(args: ModelServingArgs): Promise<{ message: string; created: number }> {
    const { message, resources } = await constructionFailure(() => new ModelServing("serving", args));
    return { message, created: resources.filter((r) => r.type.startsWith("kubernetes:") || r.type === T.provider).length };
}

function configMapNamed(rendered: Rendered, name: string): Record<string, any> {
    const maps = rendered.resources.filter((r) => r.type === T.configMap && (r.inputs["metadata"] as { name?: string } | undefined)?.name === name);
    if (maps.length !== 1) throw new Error(`expected one ConfigMap "${name}", found ${maps.length}`);
    return (maps[0] as RecordedResource).inputs;
}

const container = (rendered: Rendered, name: string) => child(rendered, name, T.deployment)["spec"]["template"]["spec"]["containers"][0];

describe("ModelServing", () => {
    describe("the Deployment", () => {
        it("serves exactly the declared registry version with mlflow models serve, from the in-cluster MLflow", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const c = container(rendered, "fraud-detector");
            assert.deepEqual(c.command, ["mlflow"]);
            // On loopback: every request reaches it through the telemetry proxy, which owns the pod's ports.
            assert.deepEqual(c.args, ["models", "serve", "-m", "models:/fraud_detector/7", "--env-manager", "local", "--host", "127.0.0.1", "--port", "8081"]);
            assert.deepEqual(c.env, [
                { name: "MLFLOW_TRACKING_URI", value: "http://mlflow.mlflow.svc.cluster.local:5000" },
                { name: "HOME", value: "/tmp" },
                { name: "TMPDIR", value: "/tmp" },
            ]);
            assert.equal("ports" in c, false);
        });

        it("runs restricted: non-root, read-only root filesystem, writes only to an emptyDir at /tmp", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const pod = child(rendered, "fraud-detector", T.deployment)["spec"]["template"]["spec"];
            assert.deepEqual(pod.securityContext, {
                runAsNonRoot: true,
                runAsUser: DEFAULT_UID,
                runAsGroup: DEFAULT_UID,
                fsGroup: DEFAULT_UID,
                seccompProfile: { type: "RuntimeDefault" },
            });
            assert.deepEqual(
                pod.containers.map((c: any) => c.name),
                ["model-server", "telemetry"],
            );
            for (const c of pod.containers) assert.deepEqual(c.securityContext, RESTRICTED_CONTAINER_CONTEXT, c.name);
            assert.deepEqual(pod.containers[0].volumeMounts, [{ name: "scratch", mountPath: "/tmp" }]);
            assert.deepEqual(pod.volumes, [
                { name: "scratch", emptyDir: {} },
                { name: "telemetry", configMap: { name: "fraud-detector-telemetry", defaultMode: 0o444 } },
            ]);
            assert.equal(pod.automountServiceAccountToken, false);
            assert.equal(pod.serviceAccountName, "fraud-detector");
        });

        it("probes /ping on loopback from inside the container, and gives the download 900 s by default", async () => {
            const c = container(await renderOne(argsFor(CPU_MODEL)), "fraud-detector");
            // The kubelet cannot reach 127.0.0.1 of the pod, and the image has Python but no curl.
            const ping = { exec: { command: ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8081/ping', timeout=4)"] } };
            assert.equal(MODEL_SERVING_DEFAULTS.startupTimeoutSeconds, 900);
            assert.deepEqual(c.startupProbe, { ...ping, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 90 });
            assert.deepEqual(c.livenessProbe, { ...ping, periodSeconds: 20, timeoutSeconds: 10, failureThreshold: 3 });
            // Readiness is the telemetry's, which is ready only when the scoring server answers it.
            assert.equal("readinessProbe" in c, false);
        });

        it("stretches the startup probe and both progress deadlines with startupTimeoutSeconds", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL, { startupTimeoutSeconds: 1800 }));
            assert.equal(container(rendered, "fraud-detector").startupProbe.failureThreshold, 180);
            assert.equal(child(rendered, "fraud-detector", T.deployment)["spec"]["progressDeadlineSeconds"], 2100);
            assert.equal(child(rendered, "fraud-detector", T.canary)["spec"]["progressDeadlineSeconds"], 2100);
        });

        it("defaults to the platform's MLflow image and takes the model's own image when declared", async () => {
            assert.equal(container(await renderOne(argsFor(CPU_MODEL)), "fraud-detector").image, MLFLOW_IMAGE);
            const own = { ...CPU_MODEL, image: "ghcr.io/example-org/fraud-detector:1.4.0" };
            assert.equal(container(await renderOne(argsFor(own)), "fraud-detector").image, "ghcr.io/example-org/fraud-detector:1.4.0");
        });

        it("has no replica count, so that neither the HPA nor Flagger is fought", async () => {
            const spec = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.deployment)["spec"];
            assert.equal("replicas" in spec, false);
        });

        it("reads MLflow credentials from a Secret, with the keys username and password by default", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL, { trackingCredentials: { secretName: "mlflow-model-reader" } }));
            const env = container(rendered, "fraud-detector").env as Array<Record<string, unknown>>;
            assert.deepEqual(env.slice(3), [
                { name: "MLFLOW_TRACKING_USERNAME", valueFrom: { secretKeyRef: { name: "mlflow-model-reader", key: "username" } } },
                { name: "MLFLOW_TRACKING_PASSWORD", valueFrom: { secretKeyRef: { name: "mlflow-model-reader", key: "password" } } },
            ]);
            const custom = await renderOne(argsFor(CPU_MODEL, { trackingCredentials: { secretName: "s", usernameKey: "user", passwordKey: "pass" } }));
            const keys = (container(custom, "fraud-detector").env as Array<any>).slice(3).map((e) => e.valueFrom.secretKeyRef.key);
            assert.deepEqual(keys, ["user", "pass"]);
        });

        it("annotates the IRSA read-only role on the ServiceAccount", async () => {
            const sa = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.serviceAccount);
            assert.equal(sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"], "arn:aws:iam::123456789012:role/mlops-artifacts-reader");
        });
    });

    describe("a GPU model beside a CPU model", () => {
        let rendered: Rendered;
        before(async () => {
            rendered = await render([
                ["fraud-detector", argsFor({ ...CPU_MODEL, resources: { ...CPU_MODEL.resources, cpuLimit: "2" } })],
                ["product-image-tagger", argsFor(GPU_MODEL)],
            ]);
        });

        it("requests GPUs with requests equal to limits, on the GPU nodes only", async () => {
            const pod = child(rendered, "product-image-tagger", T.deployment)["spec"]["template"]["spec"];
            assert.deepEqual(pod.containers[0].resources, {
                requests: { cpu: "2", memory: "8Gi", "nvidia.com/gpu": "1" },
                limits: { memory: "8Gi", "nvidia.com/gpu": "1" },
            });
            assert.deepEqual(pod.nodeSelector, { "nvidia.com/gpu.present": "true" });
            assert.deepEqual(pod.tolerations, [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
        });

        it("requests GPUs under the stack's GPU resource name, with its own selector and tolerations", async () => {
            const alone = await renderOne(
                argsFor(GPU_MODEL, { gpu: { resourceName: "amd.com/gpu", nodeSelector: { pool: "gpu" }, tolerations: [{ key: "gpu", operator: "Exists" }] } }),
            );
            const pod = child(alone, "product-image-tagger", T.deployment)["spec"]["template"]["spec"];
            assert.deepEqual(pod.containers[0].resources.limits, { memory: "8Gi", "amd.com/gpu": "1" });
            assert.deepEqual(pod.nodeSelector, { pool: "gpu" });
            assert.deepEqual(pod.tolerations, [{ key: "gpu", operator: "Exists" }]);
        });

        it("gives the CPU model neither a GPU, a node selector nor tolerations, and its CPU limit when declared", async () => {
            const pod = child(rendered, "fraud-detector", T.deployment)["spec"]["template"]["spec"];
            assert.deepEqual(pod.containers[0].resources, { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi", cpu: "2" } });
            assert.equal("nodeSelector" in pod, false);
            assert.equal("tolerations" in pod, false);
        });

        it("rolls a GPU primary in place (no surge past its GPUs) and a CPU primary with surge and no loss", async () => {
            assert.deepEqual(child(rendered, "product-image-tagger", T.deployment)["spec"]["strategy"], {
                type: "RollingUpdate",
                rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
            });
            assert.deepEqual(child(rendered, "fraud-detector", T.deployment)["spec"]["strategy"], {
                type: "RollingUpdate",
                rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 },
            });
        });

        it("reports GPUs at maximum scale as HPA max × GPUs × 2, and 0 for the CPU model", async () => {
            assert.equal(rendered.outputs["product-image-tagger.gpusAtMaxScale"], 6);
            assert.equal(rendered.outputs["fraud-detector.gpusAtMaxScale"], 0);
            assert.equal(modelGpusAtMaxScale(3, 2), 12);
            assert.equal(modelGpusAtMaxScale(3, 2, false), 6);
        });

        it("never collides: logical names and Kubernetes names are all distinct", async () => {
            const children = [...childrenOf(rendered, "fraud-detector"), ...childrenOf(rendered, "product-image-tagger")];
            const logical = children.map((r) => `${r.type} ${r.name}`);
            assert.equal(new Set(logical).size, logical.length);
            const objects = children.map((r) => {
                const metadata = (r.inputs["metadata"] ?? {}) as { namespace?: string; name?: string };
                return `${r.type} ${metadata.namespace}/${metadata.name}`;
            });
            assert.equal(new Set(objects).size, objects.length);
            assert.ok(childrenOf(rendered, "fraud-detector").every((r) => r.name.startsWith("fraud-detector-")));
        });

        it("labels the workloads with the model labels and selects pods by the stable name only", async () => {
            for (const [name, model] of [
                ["fraud-detector", CPU_MODEL],
                ["product-image-tagger", GPU_MODEL],
            ] as const) {
                const labels = modelLabels(model, "production");
                for (const type of [T.deployment, T.canary, T.hpa, T.pdb]) assert.deepEqual(child(rendered, name, type)["metadata"]["labels"], labels, type);
                const deployment = child(rendered, name, T.deployment);
                assert.deepEqual(deployment["spec"]["template"]["metadata"]["labels"], labels);
                assert.deepEqual(deployment["spec"]["selector"], { matchLabels: { [LABELS.name]: model.name } });
            }
        });
    });

    describe("the telemetry", () => {
        const telemetry = (rendered: Rendered) =>
            child(rendered, "fraud-detector", T.deployment)["spec"]["template"]["spec"]["containers"].find((c: any) => c.name === "telemetry");

        it("fronts the scoring server on the pod's serving port, labelled by the pod itself through the downward API", async () => {
            const c = telemetry(await renderOne(argsFor(CPU_MODEL, { trackingCredentials: { secretName: "mlflow-model-reader" } })));
            assert.equal(c.image, MLFLOW_IMAGE);
            assert.deepEqual(c.command, ["python", "-m", "mlops_telemetry"]);
            const env = Object.fromEntries((c.env as Array<any>).map((e) => [e.name, e.value ?? e.valueFrom]));
            assert.deepEqual(env["POD_NAME"], { fieldRef: { fieldPath: "metadata.name" } });
            assert.deepEqual(env["POD_NAMESPACE"], { fieldRef: { fieldPath: "metadata.namespace" } });
            // The labels the gauges carry are the pod's labels, so they cannot disagree with the selectors.
            assert.deepEqual(env["MLOPS_MODEL"], { fieldRef: { fieldPath: `metadata.labels['${LABELS.model}']` } });
            assert.deepEqual(env["MLOPS_MODEL_VERSION"], { fieldRef: { fieldPath: `metadata.labels['${LABELS.modelVersion}']` } });
            assert.equal(env["MLOPS_UPSTREAM_URL"], "http://127.0.0.1:8081");
            assert.equal(env["MLOPS_REGISTERED_MODEL"], "fraud_detector");
            assert.equal(env["MLFLOW_TRACKING_URI"], "http://mlflow.mlflow.svc.cluster.local:5000");
            assert.deepEqual(env["MLFLOW_TRACKING_PASSWORD"], { secretKeyRef: { name: "mlflow-model-reader", key: "password" } });
            assert.equal(env["PYTHONPATH"], TELEMETRY_PYTHONPATH);
            assert.deepEqual(c.ports, [
                { name: "http", containerPort: 8080, protocol: "TCP" },
                { name: "telemetry", containerPort: 8090, protocol: "TCP" },
            ]);
            assert.deepEqual(c.readinessProbe.httpGet, { path: "/mlops/ready", port: "telemetry" });
            assert.deepEqual(c.livenessProbe.httpGet, { path: "/mlops/live", port: "telemetry" });
            assert.deepEqual(c.resources, { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } });
        });

        it("runs its code from the model's ConfigMap, read-only, which Flagger copies for the primary", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const map = configMapNamed(rendered, "fraud-detector-telemetry");
            assert.deepEqual(map["data"], telemetryPackageFiles());
            assert.ok("__main__.py" in map["data"] && "server.py" in map["data"]);
            assert.equal(map["metadata"]["namespace"], "models");
            assert.deepEqual(telemetry(rendered).volumeMounts, [
                { name: "telemetry", mountPath: `${TELEMETRY_PYTHONPATH}/mlops_telemetry`, readOnly: true },
                { name: "scratch", mountPath: "/tmp" },
            ]);
        });

        it("takes its own pinned image, and refuses an unpinned one", async () => {
            const own = await renderOne(argsFor(CPU_MODEL, { telemetryImage: "ghcr.io/example-org/python-telemetry:3.11.9" }));
            assert.equal(telemetry(own).image, "ghcr.io/example-org/python-telemetry:3.11.9");
            const { message } = await failure(argsFor(CPU_MODEL, { telemetryImage: "python:latest" }));
            assert.equal(message, 'ModelServing "serving": telemetryImage must be pinned to a tag other than "latest" or to a digest, got "python:latest"');
        });

        it("is scraped by the bundled Prometheus through pod annotations on its metrics port", async () => {
            const template = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.deployment)["spec"]["template"]["metadata"];
            assert.deepEqual(template.annotations, { "prometheus.io/scrape": "true", "prometheus.io/port": "8090", "prometheus.io/path": "/metrics" });
        });

        it("is found by an Operator's Prometheus through a PodMonitor over both the primary's and the canary's pods", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL, { prometheus: { operator: true, resourceLabels: { release: "kube-prometheus-stack" } } }));
            const monitor = child(rendered, "fraud-detector", "kubernetes:monitoring.coreos.com/v1:PodMonitor");
            assert.equal(monitor["metadata"]["name"], "fraud-detector");
            assert.equal(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
            // The model label, not the name label: Flagger renames the primary's name label to <name>-primary.
            assert.deepEqual(monitor["spec"]["selector"], { matchLabels: { [LABELS.model]: "fraud-detector" } });
            assert.equal(monitor["spec"]["podMetricsEndpoints"][0].port, "telemetry");
            const plain = await renderOne(argsFor(CPU_MODEL));
            assert.equal(childrenOf(plain, "fraud-detector").filter((r) => r.type === "kubernetes:monitoring.coreos.com/v1:PodMonitor").length, 0);
        });

        it("refuses a confidence check for a model that answers labels, and an unknown output kind", async () => {
            const labels = { ...CPU_MODEL, outputs: "labels" as const };
            assert.equal(
                (await failure(argsFor({ ...labels, canary: { quality: { minConfidence: 0.7 } } }))).message,
                'ModelServing "serving": model.canary.quality.minConfidence cannot be checked: the model answers labels (outputs "labels"), so no prediction confidence is published, got 0.7',
            );
            assert.match(
                (await failure(argsFor({ ...CPU_MODEL, outputs: "scores" as never }))).message,
                /model\.outputs must be one of "probabilities" or "labels", got "scores"/,
            );
            // Accuracy and drift are still checked for it.
            const a = child(await renderOne(argsFor({ ...labels, canary: { quality: { minAccuracy: 0.9 } } })), "fraud-detector", T.canary)["spec"]["analysis"];
            assert.deepEqual(
                a.metrics.map((m: any) => m.name),
                ["request-success-rate", "request-duration", "model-accuracy"],
            );
        });
    });

    describe("the HPA and the PDB", () => {
        it("scales between the declared bounds on 70 % CPU by default", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const spec = child(rendered, "fraud-detector", T.hpa)["spec"];
            assert.equal(MODEL_SERVING_DEFAULTS.targetCpuUtilizationPercent, 70);
            assert.deepEqual(spec, {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "fraud-detector" },
                minReplicas: 3,
                maxReplicas: 10,
                metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
            });
            const tuned = await renderOne(argsFor(CPU_MODEL, { targetCpuUtilizationPercent: 50 }));
            assert.equal(child(tuned, "fraud-detector", T.hpa)["spec"]["metrics"][0].resource.target.averageUtilization, 50);
        });

        it("protects the pods that serve: the primary's, whose name label Flagger suffixes with -primary", async () => {
            const spec = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.pdb)["spec"];
            assert.deepEqual(spec, {
                selector: { matchLabels: { "app.kubernetes.io/name": "fraud-detector-primary" } },
                maxUnavailable: 1,
                unhealthyPodEvictionPolicy: "AlwaysAllow",
            });
        });
    });

    describe("routing and outputs", () => {
        it("creates a TLS Ingress for <model>.<domain> whose backend is the apex Service Flagger creates", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const ingress = child(rendered, "fraud-detector", T.ingress);
            assert.equal(ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"], "letsencrypt");
            assert.deepEqual(ingress["spec"], {
                ingressClassName: "nginx",
                tls: [{ hosts: ["fraud-detector.ml.example.com"], secretName: "fraud-detector-tls" }],
                rules: [
                    {
                        host: "fraud-detector.ml.example.com",
                        http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "fraud-detector", port: { number: 80 } } } }] },
                    },
                ],
            });
            const spec = child(rendered, "fraud-detector", T.canary)["spec"];
            assert.deepEqual(spec.ingressRef, { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "fraud-detector" });
            assert.deepEqual(spec.service, { name: "fraud-detector", port: 80, targetPort: 8080, portDiscovery: true });
            assert.equal(rendered.outputs["fraud-detector.host"], "fraud-detector.ml.example.com");
            assert.equal(rendered.outputs["fraud-detector.url"], "https://fraud-detector.ml.example.com");
            assert.equal(await promiseOf(rendered.outputs["fraud-detector.deploymentName"] as pulumi.Output<string>), "fraud-detector");
            assert.equal(await promiseOf(rendered.outputs["fraud-detector.canaryName"] as pulumi.Output<string>), "fraud-detector");
        });

        it("routes through the given Istio Gateway and the mesh, with no Ingress", async () => {
            const rendered = await renderOne(
                argsFor(CPU_MODEL, {
                    flagger: { ...FLAGGER, meshProvider: "istio" },
                    ingress: { className: "nginx", domain: "ml.example.com", clusterIssuer: "x", gateway: { name: "public", namespace: "istio-ingress" } },
                }),
            );
            const spec = child(rendered, "fraud-detector", T.canary)["spec"];
            assert.deepEqual(spec.service, {
                name: "fraud-detector",
                port: 80,
                targetPort: 8080,
                portDiscovery: true,
                gateways: ["istio-ingress/public", "mesh"],
                hosts: ["fraud-detector.ml.example.com"],
            });
            assert.equal("ingressRef" in spec, false);
            assert.equal(childrenOf(rendered, "fraud-detector").filter((r) => r.type === T.ingress).length, 0);
        });

        it("attaches to the given Gateway API Gateway", async () => {
            const rendered = await renderOne(
                argsFor(CPU_MODEL, {
                    flagger: { ...FLAGGER, meshProvider: "gatewayapi:v1" },
                    ingress: { className: "nginx", domain: "ml.example.com", clusterIssuer: "x", gateway: { name: "public", namespace: "gateways" } },
                }),
            );
            const service = child(rendered, "fraud-detector", T.canary)["spec"]["service"];
            assert.deepEqual(service, {
                name: "fraud-detector",
                port: 80,
                targetPort: 8080,
                portDiscovery: true,
                gatewayRefs: [{ name: "public", namespace: "gateways" }],
                hosts: ["fraud-detector.ml.example.com"],
            });
        });

        it("creates no Service: Flagger creates <svc>, <svc>-primary and <svc>-canary", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL, { delivery: GITOPS }));
            assert.deepEqual(
                rendered.resources.filter((r) => r.type === "kubernetes:core/v1:Service"),
                [],
            );
        });
    });

    describe("the promotion annotation", () => {
        it("puts the declared evidence as JSON on the Deployment and the Canary", async () => {
            const promoted: ServedModel = {
                ...CPU_MODEL,
                promotion: {
                    evidence: {
                        runId: "3f2a9c4e8b7d41f09a6c5e2d1b0f8a73",
                        metrics: { accuracy: 0.95, f1: 0.92 },
                        validatedIn: "staging",
                        promotedAt: "2026-11-02T09:14:00Z",
                    },
                    approvedBy: ["ml-lead", "product-owner"],
                },
            };
            const rendered = await renderOne(argsFor(promoted));
            const expected: PromotionRecord = {
                registeredModel: "fraud_detector",
                version: "7",
                runId: "3f2a9c4e8b7d41f09a6c5e2d1b0f8a73",
                metrics: { accuracy: 0.95, f1: 0.92 },
                validatedIn: "staging",
                promotedAt: "2026-11-02T09:14:00Z",
                approvedBy: ["ml-lead", "product-owner"],
            };
            for (const type of [T.deployment, T.canary]) {
                assert.deepEqual(JSON.parse(child(rendered, "fraud-detector", type)["metadata"]["annotations"][ANNOTATIONS.promotion]), expected, type);
            }
            // Not on the pod template: a promotion record alone must not restart pods.
            const template = child(rendered, "fraud-detector", T.deployment)["spec"]["template"]["metadata"];
            assert.equal(ANNOTATIONS.promotion in template.annotations, false);
        });

        it("records only the version and no approvers when no evidence is declared", async () => {
            const annotation = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.canary)["metadata"]["annotations"][ANNOTATIONS.promotion];
            assert.deepEqual(JSON.parse(annotation), { registeredModel: "fraud_detector", version: "7", approvedBy: [] });
        });
    });

    describe("delivery", () => {
        it("direct: every object goes through the component's (cluster) provider and nothing is rendered", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const cluster = providerUrn(rendered, "cluster");
            const children = childrenOf(rendered, "fraud-detector");
            assert.ok(children.length > 0);
            for (const r of children) assert.ok(r.provider?.startsWith(`${cluster}::`), `${r.type} ${r.name}: ${r.provider}`);
            assert.equal(rendered.outputs["fraud-detector.renderedDirectory"], "(undefined)");
            assert.equal(children.filter((r) => r.type === T.application || r.type === T.provider).length, 0);
        });

        it("gitops: workloads go through a render provider to <renderRoot>/<path>/<stack>/<model>, the Application through the cluster", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL, { delivery: { ...GITOPS, renderRoot: "/repo" } }));
            const render = rendered.resources.find((r) => r.type === T.provider && r.name === "fraud-detector-render");
            assert.equal(render?.inputs["renderYamlToDirectory"], "/repo/deploy/production/fraud-detector");
            assert.equal(rendered.outputs["fraud-detector.renderedDirectory"], "/repo/deploy/production/fraud-detector");
            const workloads = childrenOf(rendered, "fraud-detector").filter((r) => r.type !== T.application && r.type !== T.provider);
            assert.deepEqual(
                workloads.map((r) => r.type).sort(),
                [T.deployment, T.canary, T.hpa, T.ingress, T.pdb, T.serviceAccount, T.configMap, T.configMap].sort(),
            );
            for (const r of workloads) assert.ok(r.provider?.startsWith(`${render?.urn}::`), `${r.type}: ${r.provider}`);
            const application = childrenOf(rendered, "fraud-detector").find((r) => r.type === T.application);
            assert.ok(application?.provider?.startsWith(`${providerUrn(rendered, "cluster")}::`));
        });

        it("gitops: the Application syncs the model's path, ignores replica counts and never creates the namespace", async () => {
            const app = child(await renderOne(argsFor(CPU_MODEL, { delivery: GITOPS })), "fraud-detector", T.application);
            assert.equal(app["metadata"]["name"], "production-fraud-detector");
            assert.equal(app["metadata"]["namespace"], "argocd");
            assert.deepEqual(app["metadata"]["finalizers"], ["resources-finalizer.argocd.argoproj.io"]);
            assert.deepEqual(app["spec"], {
                project: "models",
                source: {
                    repoURL: "https://github.com/example-org/mlops-platform.git",
                    targetRevision: "main",
                    path: "deploy/production/fraud-detector",
                    directory: { recurse: true },
                },
                destination: { server: "https://kubernetes.default.svc", namespace: "models" },
                syncPolicy: {
                    automated: { prune: true, selfHeal: true },
                    syncOptions: ["CreateNamespace=false", "RespectIgnoreDifferences=true", "PruneLast=true"],
                },
                ignoreDifferences: [{ group: "apps", kind: "Deployment", jsonPointers: ["/spec/replicas"] }],
            });
        });

        it("gitops defaults: revision HEAD, path deploy, render root the project directory, Argo CD in argocd", async () => {
            assert.deepEqual(DELIVERY_DEFAULTS, { targetRevision: "HEAD", path: "deploy", renderRoot: ".", argoNamespace: "argocd" });
            const rendered = await renderOne(
                argsFor(CPU_MODEL, { stack: "staging", delivery: { mode: "gitops", repoUrl: "https://git.example.com/ml.git", project: "models" } }),
            );
            const app = child(rendered, "fraud-detector", T.application);
            assert.equal(app["spec"]["source"]["targetRevision"], "HEAD");
            assert.equal(app["spec"]["source"]["path"], "deploy/staging/fraud-detector");
            assert.equal(app["metadata"]["namespace"], "argocd");
            assert.equal(rendered.outputs["fraud-detector.renderedDirectory"], "deploy/staging/fraud-detector");
        });

        it("adds at most eleven resources per model (eleven with gitops, nine direct, one more with the Prometheus Operator)", async () => {
            const byType = (r: Rendered) => {
                const counts: Record<string, number> = {};
                for (const c of childrenOf(r, "fraud-detector")) counts[c.type] = (counts[c.type] ?? 0) + 1;
                return counts;
            };
            const gitops = await renderOne(argsFor(CPU_MODEL, { delivery: GITOPS }));
            assert.deepEqual(byType(gitops), {
                [T.provider]: 1,
                [T.serviceAccount]: 1,
                [T.deployment]: 1,
                [T.hpa]: 1,
                [T.pdb]: 1,
                [T.ingress]: 1,
                [T.canary]: 1,
                [T.configMap]: 2,
                [T.application]: 1,
            });
            // The component itself counts too.
            assert.equal(childrenOf(gitops, "fraud-detector").length + 1, 11);
            const direct = await renderOne(argsFor(CPU_MODEL));
            assert.equal(childrenOf(direct, "fraud-detector").length + 1, 9);
            // The rule file's ConfigMap becomes a PrometheusRule, and a PodMonitor is added.
            const operator = await renderOne(argsFor(CPU_MODEL, { prometheus: { operator: true, resourceLabels: {} } }));
            assert.equal(childrenOf(operator, "fraud-detector").length + 1, 10);
        });
    });

    describe("alerting rules of the serving version", () => {
        it("go into a ConfigMap rule file by default, labelled for any Prometheus that loads them", async () => {
            const rendered = await renderOne(argsFor(CPU_MODEL));
            const map = configMapNamed(rendered, "fraud-detector-alert-rules");
            assert.equal(map["metadata"].labels[ALERT_RULES_LABEL], "true");
            assert.equal(map["metadata"].labels["mlops.dev/model-version"], "7");
            const file = parse(map["data"][ALERT_RULES_FILE]);
            assert.deepEqual(file, alertingRules({ namespace: "models", model: "fraud-detector", version: "7" }, "production", MONITORING_DEFAULTS));
        });

        it("become a PrometheusRule with the operator's selector labels, and follow the model's own settings", async () => {
            const monitoring = { ...MONITORING_DEFAULTS, window: "2h", accuracy: { alert: 0.9 } };
            const rendered = await renderOne(
                argsFor({ ...CPU_MODEL, monitoring }, { prometheus: { operator: true, resourceLabels: { release: "kube-prometheus-stack" } } }),
            );
            const rule = child(rendered, "fraud-detector", "kubernetes:monitoring.coreos.com/v1:PrometheusRule");
            assert.equal(rule["metadata"].labels["release"], "kube-prometheus-stack");
            assert.deepEqual(rule["spec"], alertingRules({ namespace: "models", model: "fraud-detector", version: "7" }, "production", monitoring));
            const maps = childrenOf(rendered, "fraud-detector").filter((r) => r.type === T.configMap);
            assert.deepEqual(
                maps.map((m) => (m.inputs["metadata"] as { name: string }).name),
                ["fraud-detector-telemetry"],
            );
        });
    });

    describe("the Canary", () => {
        it("targets the Deployment and its HPA, and takes the shipped production analysis from the stack file", async () => {
            const declared = shippedConfig("production").models.find((m) => m.name === "fraud-detector");
            assert.ok(declared !== undefined);
            const model = servedModel(declared);
            const rendered = await renderOne(argsFor(model, { flagger: { ...FLAGGER, alertProvider: { name: "slack", namespace: "flagger" } } }));
            const spec = child(rendered, "fraud-detector", T.canary)["spec"];
            assert.deepEqual(spec.targetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "fraud-detector" });
            assert.deepEqual(spec.autoscalerRef, { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "fraud-detector" });
            assert.equal(spec.provider, "nginx");
            const a = spec.analysis;
            assert.deepEqual([a.interval, a.threshold, a.stepWeights], ["1m", 5, [1, 5, 25, 50]]);
            assert.deepEqual(
                a.metrics.map((m: any) => [m.name, m.templateRef?.name ?? null, m.thresholdRange]),
                [
                    ["request-success-rate", null, { min: 99 }],
                    ["request-duration", null, { max: 500 }],
                    ["model-accuracy", "model-accuracy", { min: 0.9 }],
                    ["feature-drift-score", "feature-drift-score", { max: 0.2 }],
                    ["prediction-confidence", "prediction-confidence", { min: 0.7 }],
                ],
            );
            assert.deepEqual(
                a.webhooks.map((w: any) => [w.name, w.type, w.url, w.metadata.type]),
                [
                    ["acceptance-test", "pre-rollout", "http://flagger-loadtester.flagger/", "bash"],
                    // Production checks accuracy: the version's evaluation sample is replayed against the canary.
                    ["evaluation-replay", "rollout", "http://flagger-loadtester.flagger/", "bash"],
                    ["load-test", "rollout", "http://flagger-loadtester.flagger/", "cmd"],
                ],
            );
            assert.match(a.webhooks[0].metadata.cmd, /http:\/\/fraud-detector-canary\.models:80\/invocations$/);
            assert.match(a.webhooks[1].metadata.cmd, / http:\/\/fraud-detector-canary\.models:8090\/mlops\/replay$/);
            assert.match(
                a.webhooks[2].metadata.cmd,
                /^hey -z 1m -q 10 -c 2 -H 'X-MLOps-Traffic: synthetic' -m POST -T application\/json -d '.*' https:\/\/fraud-detector\.ml\.example\.com\/invocations$/,
            );
            assert.deepEqual(a.alerts, [{ name: "model-rollout", severity: "info", providerRef: { name: "slack", namespace: "flagger" } }]);
        });

        it("has no alerts without an AlertProvider, and no quality metrics unless configured", async () => {
            const a = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.canary)["spec"]["analysis"];
            assert.equal("alerts" in a, false);
            assert.deepEqual(
                a.metrics.map((m: any) => m.name),
                ["request-success-rate", "request-duration"],
            );
            assert.deepEqual(a.stepWeights, [...CANARY_DEFAULTS.stepWeights]);
        });

        it("routes by header for A/B testing: iterations and an exact match instead of step weights", async () => {
            const model = { ...CPU_MODEL, canary: { abTesting: { iterations: 20 } } };
            const a = child(await renderOne(argsFor(model)), "fraud-detector", T.canary)["spec"]["analysis"];
            assert.equal(a.iterations, 20);
            assert.deepEqual(a.match, [{ headers: { "x-deployment-context": { exact: "canary" } } }]);
            assert.equal("stepWeights" in a, false);
            assert.match(a.webhooks[1].metadata.cmd, / -H 'X-Deployment-Context: canary' /);
        });

        it("mirrors traffic on Istio with the configured weight, loading the canary Service directly", async () => {
            const model = { ...CPU_MODEL, canary: { mirror: true, mirrorWeight: 30 } };
            const args = argsFor(model, {
                flagger: { ...FLAGGER, meshProvider: "istio" },
                ingress: { className: "nginx", domain: "ml.example.com", clusterIssuer: "x", gateway: { name: "public", namespace: "istio-ingress" } },
            });
            const a = child(await renderOne(args), "fraud-detector", T.canary)["spec"]["analysis"];
            assert.deepEqual([a.mirror, a.mirrorWeight, a.stepWeights], [true, 30, [1, 5, 25, 50]]);
            assert.equal(a.webhooks[1].metadata.cmd, "hey -z 1m -q 5 -c 2 -H 'X-MLOps-Traffic: synthetic' http://fraud-detector-canary.models:80/health");
            const plain = child(await renderOne(argsFor(CPU_MODEL)), "fraud-detector", T.canary)["spec"]["analysis"];
            assert.equal("mirror" in plain, false);
        });

        it("leaves out the load test when it is switched off", async () => {
            const model = { ...CPU_MODEL, canary: { loadTest: { enabled: false } } };
            const a = child(await renderOne(argsFor(model)), "fraud-detector", T.canary)["spec"]["analysis"];
            assert.deepEqual(
                a.webhooks.map((w: any) => w.name),
                ["acceptance-test"],
            );
        });
    });

    describe("errors", () => {
        const cases: Array<[string, ModelServingArgs, string]> = [
            [
                "an unsupported mesh provider",
                argsFor(CPU_MODEL, { flagger: { ...FLAGGER, meshProvider: "linkerd" } }),
                'ModelServing "serving": flagger.meshProvider must be one of "nginx", "istio", "gatewayapi:v1" or "gatewayapi:v1beta1" (the providers whose routing ModelServing sets up), got "linkerd"',
            ],
            [
                "Istio without a gateway",
                argsFor(CPU_MODEL, { flagger: { ...FLAGGER, meshProvider: "istio" } }),
                'ModelServing "serving": ingress.gateway is required with the provider "istio" (the Gateway that serves fraud-detector.ml.example.com), got nothing',
            ],
            [
                "replicas.max below replicas.min",
                argsFor({ ...CPU_MODEL, replicas: { min: 3, max: 2 } }),
                'ModelServing "serving": model.replicas.max must be at least the minimum (3), got 2',
            ],
            [
                "a short startup budget",
                argsFor(CPU_MODEL, { startupTimeoutSeconds: 30 }),
                'ModelServing "serving": startupTimeoutSeconds must be an integer ≥ 60, got 30',
            ],
            [
                "a CPU target of 0",
                argsFor(CPU_MODEL, { targetCpuUtilizationPercent: 0 }),
                'ModelServing "serving": targetCpuUtilizationPercent must be an integer from 1 to 100, got 0',
            ],
            [
                "an Application name past 63 characters",
                argsFor(CPU_MODEL, { stack: "a-very-long-stack-name-for-the-production-platform", delivery: GITOPS }),
                'ModelServing "serving": stack "a-very-long-stack-name-for-the-production-platform" makes the Argo CD Application name "a-very-long-stack-name-for-the-production-platform-fraud-detector", which is not a DNS label of at most 63 characters',
            ],
            [
                "a delivery path outside the repository",
                argsFor(CPU_MODEL, { delivery: { ...GITOPS, path: "../elsewhere" } }),
                'ModelServing "serving": delivery.path must be a relative directory inside the repository, got "../elsewhere"',
            ],
        ];
        for (const [what, args, message] of cases) {
            it(`rejects ${what} before creating anything`, async () => {
                assert.deepEqual(await failure(args), { message, created: 0 });
            });
        }
    });
});
