import assert from "node:assert/strict";
import { EXTERNAL_AUTH_ANNOTATION, mlflowAuthentication, networkIsolation } from "../../policies/access";
import { changed, type StackInput, stackViolationsOf, UNKNOWN } from "./analyzerArgs";
import { MLFLOW_IMAGE, T } from "./fixtures";

// ---------------------------------------------------------------------------------------------
// mlflow-authentication: the tracking server, its Service and Ingress, as MlflowServer renders them.

const SERVICE = "kubernetes:core/v1:Service";
const serverCommand = (auth: boolean) => [
    "mlflow",
    "server",
    "--serve-artifacts",
    "--artifacts-destination",
    "s3://mlops-artifacts/mlflow",
    "--host",
    "0.0.0.0",
    "--port",
    "5000",
    ...(auth ? ["--app-name", "basic-auth"] : []),
];

interface TrackingStack {
    deployment: any;
    service: any;
    ingress: any;
}

const trackingStack = (auth: boolean): TrackingStack => ({
    deployment: {
        metadata: { name: "mlflow", namespace: "mlflow" },
        spec: {
            template: {
                metadata: { labels: { "app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server" } },
                spec: {
                    containers: [
                        {
                            name: "mlflow",
                            image: MLFLOW_IMAGE,
                            command: serverCommand(auth),
                            env: [
                                { name: "MLFLOW_BACKEND_STORE_URI", valueFrom: { secretKeyRef: { name: "mlflow-backend-store", key: "uri" } } },
                                ...(auth ? [{ name: "MLFLOW_AUTH_CONFIG_PATH", value: "/etc/mlflow-auth/basic_auth.ini" }] : []),
                            ],
                        },
                    ],
                },
            },
        },
    },
    service: { metadata: { name: "mlflow", namespace: "mlflow" }, spec: { selector: { "app.kubernetes.io/name": "mlflow" } } },
    ingress: {
        metadata: { name: "mlflow", namespace: "mlflow", annotations: {} },
        spec: {
            tls: [{ hosts: ["mlflow.ml.example.com"], secretName: "mlflow-tls" }],
            rules: [
                {
                    host: "mlflow.ml.example.com",
                    http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "mlflow", port: { name: "http" } } } }] },
                },
            ],
        },
    },
});

const inputs = (s: TrackingStack, withIngress = true): StackInput[] => [
    { type: T.deployment, name: "mlflow-server", props: s.deployment },
    { type: SERVICE, name: "mlflow-service", props: s.service },
    ...(withIngress ? [{ type: T.ingress, name: "mlflow-ingress", props: s.ingress }] : []),
];

const OPEN_SERVER =
    'MLflow tracking server "mlflow-server" (container "mlflow") runs without authentication behind Ingress "mlflow-ingress" (mlflow.ml.example.com): anyone who reaches it can move registry aliases and write artifacts; turn on mlops-platform:mlflow.basicAuth, or authenticate at the Ingress (nginx.ingress.kubernetes.io/auth-url)';

describe("policy mlflow-authentication", () => {
    it("passes a tracking server that runs MLflow's basic-auth app", async () => {
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(trackingStack(true))), []);
    });

    it("refuses a tracking server without authentication behind an Ingress", async () => {
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(trackingStack(false))), [{ message: OPEN_SERVER, resource: "mlflow-server" }]);
    });

    it("passes an open tracking server that no Ingress reaches (in-cluster clients only)", async () => {
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(trackingStack(false), false)), []);
    });

    it("passes an open tracking server whose Ingress authenticates every request (oauth2-proxy through auth-url)", async () => {
        const proxied = changed(
            trackingStack(false),
            (s) => (s.ingress.metadata.annotations[EXTERNAL_AUTH_ANNOTATION] = "http://oauth2-proxy.auth.svc/oauth2/auth"),
        );
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(proxied)), []);
    });

    it("passes an open server when the documented opt-out (allowUnauthenticated) is set, and only then", async () => {
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(trackingStack(false)), { allowUnauthenticated: true }), []);
        assert.equal((await stackViolationsOf(mlflowAuthentication, inputs(trackingStack(false)), { allowUnauthenticated: false })).length, 1);
    });

    it("tells the tracking server by its environment when a preview cannot know the command (it names the bucket)", async () => {
        const unknownCommand = (auth: boolean) => changed(trackingStack(auth), (s) => (s.deployment.spec.template.spec.containers[0].command = UNKNOWN));
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(unknownCommand(true))), []);
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(unknownCommand(false))), [{ message: OPEN_SERVER, resource: "mlflow-server" }]);
    });

    it("ignores an Ingress in front of another Service", async () => {
        const elsewhere = changed(trackingStack(false), (s) => (s.ingress.spec.rules[0].http.paths[0].backend.service.name = "argocd-server"));
        assert.deepEqual(await stackViolationsOf(mlflowAuthentication, inputs(elsewhere)), []);
    });
});

// ---------------------------------------------------------------------------------------------
// network-isolation

const NAMESPACE = "kubernetes:core/v1:Namespace";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const DENY = { metadata: { name: "default-deny-ingress", namespace: "models" }, spec: { podSelector: {}, policyTypes: ["Ingress"] } };
const ALLOW = {
    metadata: { name: "model-predictions", namespace: "models" },
    spec: {
        podSelector: { matchLabels: { app: "model" } },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 8080 }] }],
    },
};
const isolated = (...policies: object[]): StackInput[] => [
    { type: NAMESPACE, name: "models", props: { metadata: { name: "models" } } },
    ...policies.map((props, i) => ({ type: NETWORK_POLICY, name: `policy-${i}`, props })),
];
const NO_DENY =
    'Namespace "models" has no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no ingress rules): every pod in it is reachable from anywhere in the cluster';

describe("policy network-isolation", () => {
    it("passes a namespace with a default deny beside its allows", async () => {
        assert.deepEqual(await stackViolationsOf(networkIsolation, isolated(DENY, ALLOW)), []);
    });

    it("refuses a namespace with no NetworkPolicy, or with allows only", async () => {
        assert.deepEqual(await stackViolationsOf(networkIsolation, isolated()), [{ message: NO_DENY, resource: "models" }]);
        assert.deepEqual(await stackViolationsOf(networkIsolation, isolated(ALLOW)), [{ message: NO_DENY, resource: "models" }]);
    });

    it("does not take a deny of egress only, one that selects some pods, one in another namespace or one that admits something for a default deny", async () => {
        for (const change of [
            (p: any) => (p.spec.policyTypes = ["Egress"]),
            (p: any) => (p.spec.podSelector = { matchLabels: { app: "model" } }),
            (p: any) => (p.metadata.namespace = "mlflow"),
            (p: any) => (p.spec.ingress = [{}]),
        ]) {
            assert.deepEqual(await stackViolationsOf(networkIsolation, isolated(changed(DENY, change))), [{ message: NO_DENY, resource: "models" }]);
        }
    });
});
