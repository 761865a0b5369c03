import assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import { FLOW_ANNOTATION, NetworkIsolation, validateNetworkIsolationArgs } from "../../components/networkPolicies";
import { CHARTS_IN_USE, FLOWS_READ_FROM } from "../../components/networkFlows";
import { networkIsolation, notDefaultDeny } from "../../policies/access";
import { findResource, runComponent, runStack } from "../harness";
import { plain } from "../../policies/values";
import type { RecordedResource } from "../../offline/runtime";
import { stackViolationsOf } from "../policies/analyzerArgs";
import { admits, cidrContains, type Cluster, type External, type Pod, selectorMatches } from "../support/networkPolicyEvaluator";

/**
 * The platform's network, proven over the objects the program renders: each documented flow is
 * admitted, and flows nobody documented (a model pod to the database, any namespace to MLflow or to
 * the load tester, which runs commands) are refused. Pods the program renders are read from its
 * Deployments, StatefulSets and Jobs; pods the charts render are written here with the labels their
 * templates give them (argo-cd 10.1.1, redis-ha 4.38.0, flagger 1.44.0, loadtester 0.38.0,
 * cert-manager v1.19.6), independently of components/networkFlows.ts.
 */

const NAMESPACE = "kubernetes:core/v1:Namespace";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const POD_TEMPLATES: Readonly<Record<string, string[]>> = {
    "kubernetes:apps/v1:Deployment": ["spec", "template"],
    "kubernetes:apps/v1:StatefulSet": ["spec", "template"],
    "kubernetes:batch/v1:Job": ["spec", "template"],
};

interface RenderedStack {
    readonly cluster: Cluster;
    readonly namespaces: string[];
    /** A pod of a rendered workload, by its object's metadata.name. */
    pod(name: string): Pod;
    readonly resources: readonly RecordedResource[];
}

async function rendered(stack: string): Promise<RenderedStack> {
    const { resources } = await runStack(stack);
    const objects = resources.map((r) => ({ type: r.type, object: r.inputs as any }));
    const namespaceLabels: Record<string, Record<string, string>> = {};
    for (const { object } of objects.filter((o) => o.type === NAMESPACE)) namespaceLabels[object.metadata.name] = object.metadata.labels ?? {};
    const pods = new Map<string, Pod>();
    for (const { type, object } of objects) {
        const path = POD_TEMPLATES[type];
        if (path === undefined) continue;
        const template = path.reduce((value, key) => value?.[key], object);
        const ports: Record<string, number> = {};
        for (const c of template.spec.containers) for (const p of c.ports ?? []) if (p.name !== undefined) ports[p.name] = p.containerPort;
        pods.set(object.metadata.name, { namespace: object.metadata.namespace, labels: template.metadata.labels, ports });
    }
    return {
        cluster: { policies: objects.filter((o) => o.type === NETWORK_POLICY).map((o) => o.object), namespaceLabels },
        namespaces: Object.keys(namespaceLabels),
        pod: (name) => {
            const found = pods.get(name);
            if (found === undefined) throw new Error(`no rendered workload named ${name} (have: ${[...pods.keys()].join(", ")})`);
            return found;
        },
        resources,
    };
}

// Pods the charts create, with the labels of their templates.
const argocd = (component: string): Pod => ({
    namespace: "argocd",
    labels: { "app.kubernetes.io/name": `argocd-${component}`, "app.kubernetes.io/instance": "argocd", "app.kubernetes.io/component": component },
});
const REDIS_HA: Pod = { namespace: "argocd", labels: { app: "redis-ha", release: "argocd" } };
const HAPROXY: Pod = { namespace: "argocd", labels: { app: "redis-ha-haproxy", release: "argocd", component: "haproxy" } };
const FLAGGER: Pod = { namespace: "flagger", labels: { "app.kubernetes.io/name": "flagger", "app.kubernetes.io/instance": "flagger" } };
const FLAGGER_PROMETHEUS: Pod = { namespace: "flagger", labels: { "app.kubernetes.io/name": "flagger-prometheus", "app.kubernetes.io/instance": "flagger" } };
const LOAD_TESTER: Pod = { namespace: "models", labels: { app: "loadtester", "app.kubernetes.io/name": "loadtester" } };
const CERT_MANAGER_WEBHOOK: Pod = {
    namespace: "cert-manager",
    labels: { "app.kubernetes.io/name": "webhook", "app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "webhook" },
};
const CERT_MANAGER_CONTROLLER: Pod = {
    namespace: "cert-manager",
    labels: { "app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "controller" },
};
const ACME_SOLVER = (namespace: string): Pod => ({ namespace, labels: { "acme.cert-manager.io/http01-solver": "true" } });
// Sources outside the platform.
const INGRESS_CONTROLLER: Pod = { namespace: "ingress-nginx", labels: { "app.kubernetes.io/name": "ingress-nginx" } };
const MONITORING_PROMETHEUS: Pod = { namespace: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" } };
const STRANGER: Pod = { namespace: "default", labels: { app: "curl" } };
const API_SERVER: External = { ip: "10.0.12.34" };

/** A Flagger primary pod: the template's labels with the name renamed. */
const primaryOf = (pod: Pod): Pod => ({ ...pod, labels: { ...pod.labels, "app.kubernetes.io/name": `${pod.labels["app.kubernetes.io/name"]}-primary` } });

type Flow = readonly [string, () => Pod | External, () => Pod, number];

function expectFlows(stack: () => RenderedStack, allowed: readonly Flow[], denied: readonly Flow[]): void {
    for (const [what, from, to, port] of allowed) {
        it(`admits ${what} (:${port})`, () => assert.ok(admits(stack().cluster, from(), to(), port), `${what} is refused`));
    }
    for (const [what, from, to, port] of denied) {
        it(`refuses ${what} (:${port})`, () => assert.ok(!admits(stack().cluster, from(), to(), port), `${what} is admitted`));
    }
}

describe("network isolation over the rendered staging stack", () => {
    let stack: RenderedStack;
    before(async () => {
        stack = await rendered("staging");
    });
    const s = () => stack;
    const model = () => stack.pod("fraud-detector");
    const mlflow = () => stack.pod("mlflow");
    const database = () => stack.pod("mlflow-db");
    const migration = () => {
        const job = [...stack.resources].find((r) => r.type === "kubernetes:batch/v1:Job" && r.name === "mlflow-db-upgrade");
        return stack.pod((job?.inputs as any).metadata.name);
    };

    it("gives every namespace the stack creates a default deny of ingress, which the policy pack finds", async () => {
        for (const namespace of stack.namespaces) {
            assert.ok(
                stack.cluster.policies.some((p) => p.metadata.namespace === namespace && notDefaultDeny(plain(p)) === undefined),
                `namespace ${namespace} has no default deny`,
            );
        }
        assert.deepEqual(stack.namespaces.sort(), ["argocd", "cert-manager", "flagger", "mlflow", "mlflow-db", "models"]);
        assert.deepEqual(
            await stackViolationsOf(
                networkIsolation,
                stack.resources.map((r) => ({ type: r.type, name: r.name, props: r.inputs })),
            ),
            [],
        );
    });

    expectFlows(
        s,
        [
            ["the ingress controller → MLflow", () => INGRESS_CONTROLLER, mlflow, 5000],
            ["the ingress controller → a model pod's predictions", () => INGRESS_CONTROLLER, model, 8080],
            ["the ingress controller → a primary model pod's predictions", () => INGRESS_CONTROLLER, () => primaryOf(model()), 8080],
            ["Flagger's load tester → a model pod's predictions", () => LOAD_TESTER, model, 8080],
            ["Prometheus (Flagger's bundled one) → a model pod's telemetry", () => FLAGGER_PROMETHEUS, model, 8090],
            ["Flagger's load tester → a model pod's telemetry (the evaluation replay)", () => LOAD_TESTER, model, 8090],
            ["Prometheus → Flagger's metrics", () => FLAGGER_PROMETHEUS, () => FLAGGER, 8080],
            ["Prometheus → cert-manager's metrics", () => FLAGGER_PROMETHEUS, () => CERT_MANAGER_CONTROLLER, 9402],
            ["Prometheus → Argo CD's controller metrics", () => FLAGGER_PROMETHEUS, () => argocd("application-controller"), 8082],
            ["a model pod → MLflow", model, mlflow, 5000],
            ["the registry-reader Job → MLflow", () => stack.pod("mlflow-registry-reader"), mlflow, 5000],
            ["MLflow → its database", mlflow, database, 5432],
            ["MLflow's schema migration → its database", migration, database, 5432],
            ["Flagger → its load tester's webhooks", () => FLAGGER, () => LOAD_TESTER, 8080],
            ["Flagger → its bundled Prometheus", () => FLAGGER, () => FLAGGER_PROMETHEUS, 9090],
            ["the ingress controller → Argo CD's server", () => INGRESS_CONTROLLER, () => argocd("server"), 8080],
            ["Argo CD's server → its repo server", () => argocd("server"), () => argocd("repo-server"), 8081],
            ["Argo CD's controller → its repo server", () => argocd("application-controller"), () => argocd("repo-server"), 8081],
            ["Argo CD's ApplicationSet controller → its repo server", () => argocd("applicationset-controller"), () => argocd("repo-server"), 8081],
            ["Argo CD's notifications controller → its repo server", () => argocd("notifications-controller"), () => argocd("repo-server"), 8081],
            ["Argo CD's server → Redis", () => argocd("server"), () => argocd("redis"), 6379],
            ["Argo CD's repo server → Redis", () => argocd("repo-server"), () => argocd("redis"), 6379],
            ["Argo CD's controller → Redis", () => argocd("application-controller"), () => argocd("redis"), 6379],
            ["the API server → cert-manager's webhook", () => API_SERVER, () => CERT_MANAGER_WEBHOOK, 10250],
            ["the ingress controller → an ACME HTTP-01 solver beside MLflow", () => INGRESS_CONTROLLER, () => ACME_SOLVER("mlflow"), 8089],
            ["the ingress controller → an ACME HTTP-01 solver beside the models", () => INGRESS_CONTROLLER, () => ACME_SOLVER("models"), 8089],
        ],
        [
            ["a model pod → MLflow's database", model, database, 5432],
            ["the ingress controller → MLflow's database", () => INGRESS_CONTROLLER, database, 5432],
            ["a pod of a random namespace → MLflow", () => STRANGER, mlflow, 5000],
            ["a pod of a random namespace → a model pod", () => STRANGER, model, 8080],
            ["a pod of a random namespace → the load tester (it runs commands)", () => STRANGER, () => LOAD_TESTER, 8080],
            ["a model pod → the load tester", model, () => LOAD_TESTER, 8080],
            ["the ingress controller → a model pod's telemetry", () => INGRESS_CONTROLLER, model, 8090],
            ["the ingress controller → the scoring server behind the proxy", () => INGRESS_CONTROLLER, model, 8081],
            ["a model pod → Argo CD's repo server", model, () => argocd("repo-server"), 8081],
            ["a model pod → Argo CD's Redis", model, () => argocd("redis"), 6379],
            ["a pod of a random namespace → Flagger's Prometheus", () => STRANGER, () => FLAGGER_PROMETHEUS, 9090],
            ["a pod of a random namespace → Argo CD's controller metrics", () => STRANGER, () => argocd("application-controller"), 8082],
            ["MLflow → a model pod", mlflow, model, 8080],
        ],
    );
});

describe("network isolation over the rendered production stack", () => {
    let stack: RenderedStack;
    before(async () => {
        stack = await rendered("production");
    });
    const s = () => stack;
    const model = () => stack.pod("fraud-detector");

    it("isolates every namespace it creates (no in-cluster database: RDS)", () => {
        assert.deepEqual(stack.namespaces.sort(), ["argocd", "cert-manager", "flagger", "mlflow", "models"]);
        for (const namespace of stack.namespaces) {
            assert.ok(
                stack.cluster.policies.some((p) => p.metadata.namespace === namespace && notDefaultDeny(plain(p)) === undefined),
                namespace,
            );
        }
    });

    expectFlows(
        s,
        [
            ["Prometheus in `monitoring` (flagger.metricsServer's namespace) → a model pod's telemetry", () => MONITORING_PROMETHEUS, model, 8090],
            ["Flagger's load tester → a model pod's telemetry (the evaluation replay)", () => LOAD_TESTER, model, 8090],
            ["Argo CD's server → Redis through HAProxy (redis-ha)", () => argocd("server"), () => HAPROXY, 6379],
            ["Argo CD's controller → HAProxy", () => argocd("application-controller"), () => HAPROXY, 6379],
            ["HAProxy → Redis", () => HAPROXY, () => REDIS_HA, 6379],
            ["Redis → Redis (replication)", () => REDIS_HA, () => REDIS_HA, 6379],
            ["Sentinel → Sentinel", () => REDIS_HA, () => REDIS_HA, 26379],
            ["a model pod → MLflow", model, () => stack.pod("mlflow"), 5000],
        ],
        [
            ["Flagger's namespace → a model pod's telemetry (no Prometheus there in production)", () => FLAGGER_PROMETHEUS, model, 8090],
            ["a model pod → Redis", model, () => REDIS_HA, 6379],
            ["a pod of a random namespace → HAProxy", () => STRANGER, () => HAPROXY, 6379],
        ],
    );
});

describe("the NetworkPolicy evaluator the tests rely on", () => {
    const ns = "app";
    const pod: Pod = { namespace: ns, labels: { app: "web" }, ports: { http: 8080 } };
    const policy = (spec: object) => ({ metadata: { name: "p", namespace: ns }, spec });

    it("admits everything to a pod no policy selects, nothing once a default deny selects it", () => {
        assert.ok(admits({ policies: [] }, STRANGER, pod, 8080));
        assert.ok(!admits({ policies: [policy({ podSelector: {}, policyTypes: ["Ingress"] })] }, STRANGER, pod, 8080));
        assert.ok(
            admits({ policies: [policy({ podSelector: {}, policyTypes: ["Egress"] })] }, STRANGER, pod, 8080),
            "an egress-only policy does not isolate ingress",
        );
    });

    it("matches a namespaceSelector and podSelector together, a podSelector alone in the policy's own namespace", () => {
        const both = policy({
            podSelector: {},
            ingress: [
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "edge" } }, podSelector: { matchLabels: { role: "lb" } } }] },
            ],
        });
        assert.ok(admits({ policies: [both] }, { namespace: "edge", labels: { role: "lb" } }, pod, 8080));
        assert.ok(!admits({ policies: [both] }, { namespace: "edge", labels: { role: "other" } }, pod, 8080));
        assert.ok(!admits({ policies: [both] }, { namespace: "other", labels: { role: "lb" } }, pod, 8080));
        const podsOnly = policy({ podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { role: "lb" } } }] }] });
        assert.ok(admits({ policies: [podsOnly] }, { namespace: ns, labels: { role: "lb" } }, pod, 8080));
        assert.ok(!admits({ policies: [podsOnly] }, { namespace: "edge", labels: { role: "lb" } }, pod, 8080));
    });

    it("resolves named ports against the destination's containers, and refuses other ports", () => {
        const named = policy({ podSelector: {}, ingress: [{ ports: [{ port: "http" }] }] });
        assert.ok(admits({ policies: [named] }, STRANGER, pod, 8080));
        assert.ok(!admits({ policies: [named] }, STRANGER, pod, 9090));
        assert.ok(!admits({ policies: [named] }, STRANGER, { ...pod, ports: {} }, 8080));
    });

    it("matches expressions and CIDRs", () => {
        assert.ok(selectorMatches({ matchExpressions: [{ key: "app", operator: "Exists" }] }, { app: "x" }));
        assert.ok(!selectorMatches({ matchExpressions: [{ key: "app", operator: "In", values: ["y"] }] }, { app: "x" }));
        assert.ok(cidrContains("10.0.0.0/8", "10.1.2.3") && !cidrContains("10.0.0.0/8", "11.0.0.1") && cidrContains("0.0.0.0/0", "192.168.1.1"));
    });
});

describe("NetworkIsolation args", () => {
    it("refuses a flow that would admit everyone, a bad port and a repeated namespace, naming each", () => {
        const flow = { name: "web", description: "x", pods: { app: "web" }, ports: [8080], from: [{ namespace: "edge" }] };
        assert.deepEqual(
            validateNetworkIsolationArgs("network", {
                namespaces: [
                    {
                        namespace: "app",
                        flows: [
                            { ...flow, from: [] },
                            { ...flow, name: "web-2", ports: [70000] },
                        ],
                    },
                    { namespace: "app", flows: [] },
                ],
            }),
            [
                { arg: "namespaces[0].flows[0].from", message: "must name at least one source (an empty list would admit everyone), got none" },
                { arg: "namespaces[0].flows[1].ports", message: "must be port numbers (1-65535) or container port names, got 70000" },
                { arg: "namespaces[1].namespace", message: 'must be listed once, got "app" again' },
            ],
        );
    });

    it("reads the charts whose templates the flows were taken from", () => {
        assert.deepEqual(CHARTS_IN_USE, FLOWS_READ_FROM);
    });
});

describe("NetworkIsolation", () => {
    it("renders a default deny and one policy per flow, named after namespace and flow, each waiting for what the component waits for", async () => {
        const { resources } = await runComponent(() => {
            const ns = new k8s.core.v1.Namespace("app-ns", { metadata: { name: "app" } });
            new NetworkIsolation(
                "network",
                {
                    namespaces: [
                        {
                            namespace: "app",
                            flows: [
                                {
                                    name: "web",
                                    description: "The edge reaches the web pods.",
                                    pods: { app: "web" },
                                    ports: [8080],
                                    from: [{ namespace: "edge" }],
                                },
                            ],
                        },
                    ],
                },
                { dependsOn: [ns] },
            );
        });
        const ns = findResource(resources, "kubernetes:core/v1:Namespace", "app-ns");
        const deny = findResource(resources, NETWORK_POLICY, "network-app-default-deny-ingress");
        const web = findResource(resources, NETWORK_POLICY, "network-app-web");
        assert.deepEqual((deny.inputs as any).spec, { podSelector: {}, policyTypes: ["Ingress"] });
        assert.deepEqual((web.inputs as any).spec, {
            podSelector: { matchLabels: { app: "web" } },
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "edge" } } }], ports: [{ protocol: "TCP", port: 8080 }] }],
        });
        assert.equal((web.inputs as any).metadata.annotations[FLOW_ANNOTATION], "The edge reaches the web pods.");
        for (const policy of [deny, web]) assert.ok(policy.dependencies.includes(ns.urn), `${policy.name} does not wait for the namespace`);
    });
});
