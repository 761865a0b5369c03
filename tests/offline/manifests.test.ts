import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as certmanager from "@pulumi/kubernetes-cert-manager";
import {
    type Manifest,
    kubernetesInventory,
    REDACTED,
    SCHEMAS_DIR_ENV,
    schemasDir,
    toManifests,
    validateManifest,
    validateManifests,
    writeManifests,
} from "../../offline/manifests";
import { indentQuotedContinuations, loadKubernetesYaml } from "../../offline/manifests/crdSchemas";
import { VALIDATOR_BLIND_SPOTS } from "../../offline/manifests/fieldTracking";
import { type RecordedResource, runComponent } from "../harness";

const FIXTURES = path.join(__dirname, "fixtures");
const GITOPS_DIR = "rendered/models";

type Args = Record<string, any>;

/** Args of one realistic object of each kind the platform creates; each test changes one thing. */
function validArgs() {
    const labels = { "app.kubernetes.io/name": "fraud-detector", "app.kubernetes.io/part-of": "mlops-platform" };
    return {
        namespace: { metadata: { name: "models", labels: { "pod-security.kubernetes.io/enforce": "restricted" } } } as Args,
        deployment: {
            metadata: { name: "fraud-detector", namespace: "models", labels },
            spec: {
                replicas: 3,
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    spec: {
                        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [
                            {
                                name: "server",
                                image: "ghcr.io/mlflow/mlflow:v3.17.2-full",
                                args: ["mlflow", "models", "serve", "-m", "models:/fraud_detector/7", "--env-manager", "local"],
                                ports: [{ name: "http", containerPort: 8080 }],
                                readinessProbe: { httpGet: { path: "/health", port: "http" } },
                                resources: { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } },
                                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                            },
                        ],
                    },
                },
            },
        } as Args,
        service: {
            metadata: { name: "mlflow", namespace: "models", labels },
            spec: { selector: labels, ports: [{ name: "http", port: 80, targetPort: "http" }] },
        } as Args,
        canary: {
            apiVersion: "flagger.app/v1beta1",
            kind: "Canary",
            metadata: { name: "fraud-detector", namespace: "models", labels },
            spec: {
                targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "fraud-detector" },
                autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "fraud-detector" },
                service: { port: 80, targetPort: 8080 },
                analysis: {
                    interval: "1m",
                    threshold: 5,
                    stepWeights: [1, 5, 25, 50],
                    metrics: [
                        { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } },
                        {
                            name: "model-error-rate",
                            interval: "1m",
                            templateRef: { name: "model-error-rate", namespace: "models" },
                            thresholdRange: { max: 1 },
                        },
                    ],
                    webhooks: [
                        {
                            name: "load-test",
                            url: "http://flagger-loadtester.flagger/",
                            timeout: "5s",
                            metadata: { cmd: "hey -z 1m http://fraud-detector-canary.models/" },
                        },
                    ],
                },
            },
        } as Args,
        metricTemplate: {
            apiVersion: "flagger.app/v1beta1",
            kind: "MetricTemplate",
            metadata: { name: "model-error-rate", namespace: "models" },
            spec: { provider: { type: "prometheus", address: "http://prometheus.monitoring:9090" }, query: "sum(rate(errors[{{ interval }}]))" },
        } as Args,
        application: {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "Application",
            metadata: { name: "models", namespace: "argocd" },
            spec: {
                project: "models",
                source: { repoURL: "https://github.com/example/ml-gitops.git", targetRevision: "main", path: GITOPS_DIR },
                destination: { server: "https://kubernetes.default.svc", namespace: "models" },
                syncPolicy: { automated: { prune: true, selfHeal: true } },
                ignoreDifferences: [{ group: "apps", kind: "Deployment", jsonPointers: ["/spec/replicas"] }],
            },
        } as Args,
        clusterIssuer: {
            apiVersion: "cert-manager.io/v1",
            kind: "ClusterIssuer",
            metadata: { name: "letsencrypt" },
            spec: {
                acme: {
                    server: "https://acme-v02.api.letsencrypt.org/directory",
                    email: "platform@example.com",
                    privateKeySecretRef: { name: "letsencrypt-account-key" },
                    solvers: [{ http01: { ingress: { ingressClassName: "nginx" } } }],
                },
            },
        } as Args,
    };
}
type Fixture = ReturnType<typeof validArgs>;

/** Registers the fixture's objects with `@pulumi/kubernetes` under the mocks, after one change. */
async function register(change: (fixture: Fixture) => void = () => undefined, extra: () => void = () => undefined): Promise<readonly RecordedResource[]> {
    const fixture = validArgs();
    change(fixture);
    const run = await runComponent(() => {
        const gitops = new k8s.Provider("gitops", { renderYamlToDirectory: GITOPS_DIR });
        new k8s.core.v1.Namespace("models", fixture.namespace);
        new k8s.apps.v1.Deployment("fraud-detector", fixture.deployment as k8s.apps.v1.DeploymentArgs, { provider: gitops });
        new k8s.core.v1.Service("mlflow", fixture.service as k8s.core.v1.ServiceArgs);
        new k8s.apiextensions.CustomResource("fraud-detector-canary", fixture.canary as k8s.apiextensions.CustomResourceArgs, { provider: gitops });
        new k8s.apiextensions.CustomResource("model-error-rate", fixture.metricTemplate as k8s.apiextensions.CustomResourceArgs, { provider: gitops });
        new k8s.apiextensions.CustomResource("models-app", fixture.application as k8s.apiextensions.CustomResourceArgs);
        new k8s.apiextensions.CustomResource("letsencrypt", fixture.clusterIssuer as k8s.apiextensions.CustomResourceArgs);
        new k8s.helm.v3.Release("argocd", {
            name: "argocd",
            chart: "argo-cd",
            version: "7.7.11",
            namespace: "argocd",
            repositoryOpts: { repo: "https://argoproj.github.io/argo-helm" },
        });
        new certmanager.CertManager("cert-manager", { installCRDs: true, helmOptions: { namespace: "cert-manager" } });
        extra();
    });
    return run.resources;
}

/** Problems of the objects of `kind` after one change (other kinds are covered by the all-valid test). */
async function problemLines(kind: string | readonly string[], change: (fixture: Fixture) => void): Promise<string[]> {
    const kinds: readonly string[] = typeof kind === "string" ? [kind] : kind;
    const changed = toManifests(await register(change)).filter((m) => kinds.includes(m.object.kind));
    return (await validateManifests(changed)).map((p) => p.line);
}

function byKind(manifests: readonly Manifest[], kind: string): Manifest {
    const found = manifests.filter((m) => m.object.kind === kind);
    assert.equal(found.length, 1, `one ${kind} expected, found ${found.length}`);
    return found[0] as Manifest;
}

function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? (entry.name === "node_modules" ? [] : filesUnder(full)) : [full];
    });
}

describe("offline manifests", () => {
    let resources: readonly RecordedResource[];
    let manifests: Manifest[];
    before(async () => {
        resources = await register();
        manifests = toManifests(resources);
    });

    describe("toManifests", () => {
        it("builds one manifest per Kubernetes object, apiVersion and kind from the registered inputs", () => {
            assert.deepEqual(
                manifests.map((m) => `${m.object.apiVersion} ${m.object.kind} ${m.object.metadata.name}`).sort(),
                [
                    "v1 Namespace models",
                    "apps/v1 Deployment fraud-detector",
                    "v1 Service mlflow",
                    "flagger.app/v1beta1 Canary fraud-detector",
                    "flagger.app/v1beta1 MetricTemplate model-error-rate",
                    "argoproj.io/v1alpha1 Application models",
                    "cert-manager.io/v1 ClusterIssuer letsencrypt",
                ].sort(),
            );
        });

        it("keeps the object as registered, apiVersion, kind and metadata first", () => {
            const deployment = byKind(manifests, "Deployment");
            assert.deepEqual(Object.keys(deployment.object), ["apiVersion", "kind", "metadata", "spec"]);
            assert.deepEqual(deployment.object["spec"], validArgs().deployment["spec"]);
        });

        it("points each manifest at the resource that registered it", () => {
            const canary = byKind(manifests, "Canary");
            const source = resources.find((r) => r.urn === canary.urn);
            assert.equal(source?.type, "kubernetes:flagger.app/v1beta1:Canary");
            assert.equal(source?.name, "fraud-detector-canary");
        });

        it("marks objects rendered through a renderYamlToDirectory provider as gitops, the rest as applied directly", () => {
            const gitopsProvider = resources.find((r) => r.type === "pulumi:providers:kubernetes" && r.name === "gitops");
            assert.ok(gitopsProvider);
            const delivery = Object.fromEntries(manifests.map((m) => [m.object.kind, m.delivery]));
            const gitops = { mode: "gitops", directory: GITOPS_DIR, providerUrn: gitopsProvider.urn };
            assert.deepEqual(delivery, {
                Namespace: { mode: "direct" },
                Deployment: gitops,
                Service: { mode: "direct" },
                Canary: gitops,
                MetricTemplate: gitops,
                Application: { mode: "direct" },
                ClusterIssuer: { mode: "direct" },
            });
        });

        it("lists the Helm release and the cert-manager component apart, and makes no manifest of them or of providers", () => {
            const inventory = kubernetesInventory(resources);
            const notObjects = resources.filter(
                (r) =>
                    r.type === "kubernetes:helm.sh/v3:Release" ||
                    r.type.startsWith("pulumi:providers:") ||
                    r.type === "kubernetes-cert-manager:index:CertManager",
            );
            assert.equal(notObjects.length, 3);
            for (const r of notObjects) assert.ok(!manifests.some((m) => m.urn === r.urn), `${r.type} became a manifest`);
            assert.deepEqual(
                inventory.releases.map(({ urn: _urn, ...release }) => release).sort((a, b) => a.name.localeCompare(b.name)),
                [
                    {
                        type: "kubernetes:helm.sh/v3:Release",
                        name: "argocd",
                        what: "helm-release",
                        chart: "argo-cd",
                        version: "7.7.11",
                        namespace: "argocd",
                        repository: "https://argoproj.github.io/argo-helm",
                        delivery: { mode: "direct" },
                    },
                    { type: "kubernetes-cert-manager:index:CertManager", name: "cert-manager", what: "component", delivery: { mode: "direct" } },
                ],
            );
            assert.deepEqual(
                inventory.providers.map(({ urn: _urn, ...p }) => p),
                [{ name: "gitops", renderYamlToDirectory: GITOPS_DIR }],
            );
        });

        it("lists a patch of an existing object apart: it is not a whole object", async () => {
            const withPatch = await register(undefined, () => {
                new k8s.apps.v1.DeploymentPatch("scale", { metadata: { name: "coredns", namespace: "kube-system" }, spec: { replicas: 3 } });
            });
            const inventory = kubernetesInventory(withPatch);
            assert.ok(!inventory.manifests.some((m) => m.object.metadata.name === "coredns"));
            assert.deepEqual(
                inventory.releases.filter((r) => r.what === "patch").map((r) => r.type),
                ["kubernetes:apps/v1:DeploymentPatch"],
            );
        });

        it("records which fields were Pulumi secrets", async () => {
            const withSecrets = toManifests(
                await register(undefined, () => {
                    new k8s.core.v1.Secret("db", {
                        metadata: { name: "mlflow-db", namespace: "models" },
                        stringData: { uri: "postgresql://mlflow:pw@db:5432/mlflow" },
                    });
                    new k8s.core.v1.ConfigMap("settings", {
                        metadata: { name: "settings", namespace: "models" },
                        data: { plain: "visible", token: pulumi.secret("s3cr3t") },
                    });
                }),
            );
            // @pulumi/kubernetes makes a Secret's data and stringData secrets as a whole.
            assert.deepEqual(byKind(withSecrets, "Secret").secretPaths, [["stringData"]]);
            assert.deepEqual(byKind(withSecrets, "ConfigMap").secretPaths, [["data", "token"]]);
            assert.deepEqual(byKind(withSecrets, "Deployment").secretPaths, []);
        });
    });

    describe("validateManifest (core, Argo CD and cert-manager kinds)", () => {
        it("passes the valid objects", async () => {
            for (const kind of ["Namespace", "Deployment", "Service", "Application", "ClusterIssuer"]) {
                assert.deepEqual(await validateManifest(byKind(manifests, kind)), [], kind);
            }
        });

        it("reports a string containerPort", async () => {
            const lines = await problemLines("Deployment", (f) => {
                f.deployment["spec"].template.spec.containers[0].ports[0].containerPort = "8080";
            });
            assert.deepEqual(lines, [
                'Deployment models/fraud-detector: spec.template.spec.containers[0].ports[0].containerPort: must be integer, got string "8080"',
            ]);
        });

        it("reports a Deployment without a selector", async () => {
            const lines = await problemLines("Deployment", (f) => {
                delete f.deployment["spec"].selector;
            });
            assert.deepEqual(lines, ["Deployment models/fraud-detector: spec.selector: required field is missing"]);
        });

        it("reports an unknown field of a core kind (the kubernetes-models validators accept it)", async () => {
            const lines = await problemLines(["Deployment", "Namespace"], (f) => {
                f.deployment["spec"].template.spec.containers[0].resource = { requests: { cpu: "1" } };
                f.namespace["metadata"].label = { team: "ml" };
            });
            assert.deepEqual(lines.sort(), [
                "Deployment models/fraud-detector: spec.template.spec.containers[0].resource: unknown field (not in the schema)",
                "Namespace models: metadata.label: unknown field (not in the schema)",
            ]);
        });

        it("reports an Application without a destination", async () => {
            const lines = await problemLines("Application", (f) => {
                delete f.application["spec"].destination;
            });
            assert.deepEqual(lines, ["Application argocd/models: spec.destination: required field is missing"]);
        });

        it("reports a ClusterIssuer with an unknown issuer type", async () => {
            const lines = await problemLines("ClusterIssuer", (f) => {
                f.clusterIssuer["spec"] = { letsencrypt: f.clusterIssuer["spec"].acme };
            });
            assert.deepEqual(lines, ["ClusterIssuer letsencrypt: spec.letsencrypt: unknown field (not in the schema)"]);
        });

        it("reports a kind that is a type, not an object, of a known package", async () => {
            const problems = await validateManifest({ apiVersion: "apps/v1", kind: "DeploymentSpec", metadata: { name: "x" } });
            assert.deepEqual(
                problems.map((p) => p.line),
                ["DeploymentSpec x: no schema for apps/v1 DeploymentSpec"],
            );
        });

        it("names the object, the field path and the problem apart as well as in one line", async () => {
            const changed = toManifests(
                await register((f) => {
                    f.service["spec"].ports[0].port = "80";
                }),
            );
            const problems = await validateManifest(byKind(changed, "Service"));
            assert.equal(problems.length, 1);
            const [problem] = problems;
            assert.deepEqual(
                { ...problem },
                {
                    object: "Service models/mlflow",
                    urn: byKind(manifests, "Service").urn,
                    path: "spec.ports[0].port",
                    message: 'must be integer, got string "80"',
                    line: 'Service models/mlflow: spec.ports[0].port: must be integer, got string "80"',
                },
            );
        });

        it("reports an object declared twice for the same target", async () => {
            const twice = toManifests(
                await register(undefined, () => {
                    new k8s.core.v1.Namespace("models-again", { metadata: { name: "models", labels: { "pod-security.kubernetes.io/enforce": "restricted" } } });
                }),
            );
            const [first] = twice.filter((m) => m.object.kind === "Namespace");
            const lines = (await validateManifests(twice.filter((m) => m.object.kind === "Namespace"))).map((p) => p.line);
            assert.deepEqual(lines, [`Namespace models: declared twice: also by ${first?.urn}`]);
        });
    });

    describe("unknown fields of kubernetes-models kinds", () => {
        it("never flags a field a type declares: the blind spots of the packages' validators are all known", () => {
            // Every model class's declared properties (its .d.ts interface) against what its compiled
            // validator reads (`data.x` / `data["x"]`): a declared name no validator reads would be
            // reported as unknown, so it must be in VALIDATOR_BLIND_SPOTS, and nothing else may be.
            const blind = new Set<string>();
            let audited = 0;
            for (const pkg of ["kubernetes-models", "@kubernetes-models/argo-cd", "@kubernetes-models/cert-manager", "@kubernetes-models/apimachinery"]) {
                const root = path.dirname(require.resolve(`${pkg}/package.json`));
                for (const model of filesUnder(root).filter(
                    (f) => f.endsWith(".js") && !f.endsWith("index.js") && !f.includes(`${path.sep}_schemas${path.sep}`),
                )) {
                    const schema = /import\{validate\}from"([^"]+)"/.exec(fs.readFileSync(model, "utf8"))?.[1];
                    const declaration = model.replace(/\.js$/, ".d.ts");
                    if (schema === undefined || !fs.existsSync(declaration)) continue;
                    const body = /export interface I\w+ \{([\s\S]*?)\n\}/.exec(fs.readFileSync(declaration, "utf8"))?.[1] ?? "";
                    const validator = fs.readFileSync(path.resolve(path.dirname(model), schema), "utf8");
                    audited++;
                    for (const [, name = ""] of body.matchAll(/^ {4}"([^"]+)"\??:/gm)) {
                        if (name !== "apiVersion" && name !== "kind" && !validator.includes(`data.${name}`) && !validator.includes(`data["${name}"]`))
                            blind.add(name);
                    }
                }
            }
            assert.ok(audited > 900, `audited only ${audited} model classes`);
            assert.deepEqual([...blind].sort(), [...VALIDATOR_BLIND_SPOTS].sort());
        });

        it("accepts a declared field its validator does not read", async () => {
            const project = {
                apiVersion: "argoproj.io/v1alpha1",
                kind: "AppProject",
                metadata: { name: "models", namespace: "argocd" },
                spec: { description: "model workloads", sourceRepos: ["*"] },
            };
            assert.deepEqual(await validateManifest(project), []);
        });
    });

    describe("validateManifest (Flagger kinds, from the pinned CRDs)", () => {
        it("passes every valid object, Flagger's included", async () => {
            assert.deepEqual(await validateManifests(manifests), []);
        });

        it("reports a misspelt Canary field, which the API server would drop silently", async () => {
            const lines = await problemLines("Canary", (f) => {
                const analysis = f.canary["spec"].analysis;
                analysis.stepWeigths = analysis.stepWeights;
                delete analysis.stepWeights;
            });
            assert.deepEqual(lines, [
                "Canary models/fraud-detector: spec.analysis: must match exactly one of the schema's alternatives, matches none (#1 needs iterations; #2 needs stepWeight; #3 needs stepWeights)",
                "Canary models/fraud-detector: spec.analysis.stepWeigths: unknown field (not in the schema)",
            ]);
        });

        it("reports a Canary threshold given as a string", async () => {
            const lines = await problemLines("Canary", (f) => {
                f.canary["spec"].analysis.threshold = "5";
            });
            assert.deepEqual(lines, ['Canary models/fraud-detector: spec.analysis.threshold: must be number, got string "5"']);
        });

        it("checks a custom resource's metadata as ObjectMeta", async () => {
            const lines = await problemLines("MetricTemplate", (f) => {
                f.metricTemplate["metadata"].labels = { tier: 1 };
                f.metricTemplate["metadata"].nmespace = "models";
            });
            assert.deepEqual(lines, [
                "MetricTemplate models/model-error-rate: metadata.labels.tier: must be string, got number 1",
                "MetricTemplate models/model-error-rate: metadata.nmespace: unknown field (not in the schema)",
            ]);
        });

        it("reports a MetricTemplate provider outside the CRD's enum", async () => {
            const lines = await problemLines("MetricTemplate", (f) => {
                f.metricTemplate["spec"].provider.type = "prom";
            });
            assert.equal(lines.length, 1);
            assert.match(
                lines[0] ?? "",
                /^MetricTemplate models\/model-error-rate: spec\.provider\.type: must be one of "prometheus", "influxdb", .*, got string "prom"$/,
            );
        });
    });

    describe("CRD schema extensions (a fixture CRD through MLOPS_SCHEMAS_DIR)", () => {
        const saved = process.env[SCHEMAS_DIR_ENV];
        before(() => {
            process.env[SCHEMAS_DIR_ENV] = path.join(FIXTURES, "crds");
        });
        after(() => {
            if (saved === undefined) delete process.env[SCHEMAS_DIR_ENV];
            else process.env[SCHEMAS_DIR_ENV] = saved;
        });
        const widget = (spec: Record<string, unknown>) => ({
            apiVersion: "example.com/v1",
            kind: "Widget",
            metadata: { name: "w", namespace: "models" },
            spec,
        });
        const lines = async (spec: Record<string, unknown>) => (await validateManifest(widget(spec))).map((p) => p.line);

        it("takes the schemas folder from MLOPS_SCHEMAS_DIR", () => {
            assert.equal(schemasDir(), path.join(FIXTURES, "crds"));
        });

        it("accepts an integer or a string where x-kubernetes-int-or-string, nothing else", async () => {
            assert.deepEqual(await lines({ port: 8080 }), []);
            assert.deepEqual(await lines({ port: "http" }), []);
            assert.deepEqual(await lines({ port: true }), ["Widget models/w: spec.port: must be integer or string, got boolean true"]);
        });

        it("keeps unknown fields where x-kubernetes-preserve-unknown-fields, but still checks the fields it declares", async () => {
            assert.deepEqual(await lines({ port: 1, values: { anything: { nested: [1] } }, settings: { mode: "fast", extra: true } }), []);
            assert.deepEqual(await lines({ port: 1, settings: { mode: "quick" } }), [
                'Widget models/w: spec.settings.mode: must be one of "fast", "safe", got string "quick"',
            ]);
        });

        it("rejects unknown fields everywhere else, maps excepted", async () => {
            assert.deepEqual(await lines({ port: 1, labels: { any: "thing" } }), []);
            assert.deepEqual(await lines({ port: 1, replica: 2 }), ["Widget models/w: spec.replica: unknown field (not in the schema)"]);
        });

        it("checks format int32 as a range, ignores formats the API server ignores, honours nullable", async () => {
            assert.deepEqual(await lines({ port: 1, replicas: 2 ** 31 }), ["Widget models/w: spec.replicas: must be a valid int32, got number 2147483648"]);
            assert.deepEqual(await lines({ port: 1, replicas: 3, callback: "http://loadtester/", note: null }), []);
        });

        it("reports a kind that no package and no CRD in the folder describes, never passing it", async () => {
            const problems = await validateManifest({ apiVersion: "example.com/v1", kind: "Foo", metadata: { name: "x", namespace: "models" } });
            assert.deepEqual(
                problems.map((p) => p.line),
                ["Foo models/x: no schema for example.com/v1 Foo"],
            );
        });

        it("reports a required field", async () => {
            assert.deepEqual(await lines({}), ["Widget models/w: spec.port: required field is missing"]);
        });
    });

    describe("schemasDir", () => {
        const saved = process.env[SCHEMAS_DIR_ENV];
        afterEach(() => {
            if (saved === undefined) delete process.env[SCHEMAS_DIR_ENV];
            else process.env[SCHEMAS_DIR_ENV] = saved;
        });

        it("is the pinned copies inside the repository unless MLOPS_SCHEMAS_DIR says otherwise", () => {
            delete process.env[SCHEMAS_DIR_ENV];
            assert.equal(schemasDir(), path.resolve(__dirname, "..", "..", "components", "flagger"));
            process.env[SCHEMAS_DIR_ENV] = "";
            assert.equal(schemasDir(), path.resolve(__dirname, "..", "..", "components", "flagger"));
        });

        it("throws a clear error when MLOPS_SCHEMAS_DIR names a missing folder", () => {
            const missing = path.join(os.tmpdir(), "no-such-schemas-folder");
            process.env[SCHEMAS_DIR_ENV] = missing;
            assert.throws(() => schemasDir(), {
                message: `schemas folder not found: ${missing} (from ${SCHEMAS_DIR_ENV}=${missing}); it holds the CRDs that custom resources are validated against. Unset ${SCHEMAS_DIR_ENV} to use the pinned copies in components/flagger.`,
            });
        });

        it("fails validating a Flagger kind while it is missing, rather than passing it", async () => {
            process.env[SCHEMAS_DIR_ENV] = path.join(os.tmpdir(), "no-such-schemas-folder");
            await assert.rejects(validateManifest(byKind(manifests, "Canary")), /^SchemasFolderMissingError: schemas folder not found/);
        });
    });

    describe("loadKubernetesYaml", () => {
        it("reads quoted scalars continued at their key's indentation, as kubectl does, to the same values", () => {
            const text = "a:\n  description: 'one\n  two ''quoted''\n  three'\n  type: string\n";
            assert.deepEqual(loadKubernetesYaml(text, "t.yaml"), [{ a: { description: "one two 'quoted' three", type: "string" } }]);
        });

        it("leaves block scalars and valid YAML alone", () => {
            const text = "a: |\n  b: 'not a key\n  c\nd: 'x\n   y'\n";
            assert.equal(indentQuotedContinuations(text), text);
            assert.deepEqual(loadKubernetesYaml(text, "t.yaml"), [{ a: "b: 'not a key\nc\n", d: "x y" }]);
        });

        it("still reports YAML that is broken beyond that", () => {
            assert.throws(() => loadKubernetesYaml("a: [1,\n", "broken.yaml"), /^Error: broken\.yaml: not valid YAML: /);
        });
    });

    describe("writeManifests", () => {
        let dir: string;
        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifests-"));
        });
        afterEach(() => {
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it("writes one file per object, named by kind, namespace and name, in reading order", () => {
            const files = writeManifests(dir, manifests);
            assert.deepEqual(
                files.map((f) => path.relative(dir, f)),
                [
                    "00-namespace-models.yaml",
                    "21-deployment-models-fraud-detector.yaml",
                    "30-service-models-mlflow.yaml",
                    "50-clusterissuer-letsencrypt.yaml",
                    "61-application-argocd-models.yaml",
                    "70-metrictemplate-models-model-error-rate.yaml",
                    "72-canary-models-fraud-detector.yaml",
                ],
            );
            assert.deepEqual(
                fs.readdirSync(dir).sort(),
                files.map((f) => path.basename(f)),
            );
        });

        it("starts each file with its source URN and delivery, then the object as YAML", () => {
            const files = writeManifests(dir, manifests);
            const canary = byKind(manifests, "Canary");
            const gitops = canary.delivery.mode === "gitops" ? canary.delivery : assert.fail("the Canary is rendered for Argo CD");
            const text = fs.readFileSync(files.find((f) => f.endsWith("72-canary-models-fraud-detector.yaml")) ?? "", "utf8");
            const [source, delivery, ...body] = text.split("\n");
            assert.equal(source, `# Source: ${canary.urn}`);
            assert.equal(delivery, `# Rendered for Argo CD into ${GITOPS_DIR} (provider ${gitops.providerUrn})`);
            assert.deepEqual(loadKubernetesYaml(body.join("\n"), "canary"), [canary.object]);
            assert.match(
                fs.readFileSync(files[0] ?? "", "utf8"),
                /^# Source: urn:pulumi:.*::models\n# Applied directly by Pulumi\napiVersion: v1\nkind: Namespace\n/,
            );
        });

        it("redacts Secret data and every value that was a Pulumi secret", async () => {
            const withSecrets = toManifests(
                await register(undefined, () => {
                    new k8s.core.v1.Secret("db", {
                        metadata: { name: "mlflow-db", namespace: "models" },
                        data: { password: Buffer.from("hunter2").toString("base64") },
                        stringData: { uri: pulumi.secret("postgresql://mlflow:hunter2@db:5432/mlflow") },
                    });
                    new k8s.core.v1.ConfigMap("settings", {
                        metadata: { name: "settings", namespace: "models" },
                        data: { plain: "visible", token: pulumi.secret("s3cr3t") },
                    });
                }),
            );
            const files = writeManifests(dir, withSecrets);
            const read = (name: string) => fs.readFileSync(files.find((f) => path.basename(f) === name) ?? assert.fail(`${name} not written`), "utf8");
            const secret = read("11-secret-models-mlflow-db.yaml");
            const configMap = read("12-configmap-models-settings.yaml");
            assert.deepEqual((loadKubernetesYaml(secret, "s")[0] as Record<string, unknown>)["data"], { password: REDACTED });
            assert.deepEqual((loadKubernetesYaml(secret, "s")[0] as Record<string, unknown>)["stringData"], { uri: REDACTED });
            assert.deepEqual((loadKubernetesYaml(configMap, "c")[0] as Record<string, unknown>)["data"], { plain: "visible", token: REDACTED });
            for (const text of [secret, configMap]) assert.doesNotMatch(text, /hunter2|aHVudGVyMg|s3cr3t/);
            // The manifests themselves keep the values: validation sees what the cluster would.
            assert.deepEqual(byKind(withSecrets, "ConfigMap").object["data"], { plain: "visible", token: "s3cr3t" });
        });

        it("replaces the files it wrote before and leaves every other file alone", () => {
            fs.writeFileSync(path.join(dir, "README.md"), "notes\n");
            fs.writeFileSync(path.join(dir, "99-hand-written.yaml"), "apiVersion: v1\nkind: ConfigMap\n");
            fs.mkdirSync(path.join(dir, "21-sub.yaml"));
            writeManifests(dir, manifests);
            const second = writeManifests(
                dir,
                manifests.filter((m) => m.object.kind !== "Service"),
            );
            assert.ok(!second.some((f) => f.includes("service")));
            assert.deepEqual(fs.readdirSync(dir).sort(), [...second.map((f) => path.basename(f)), "21-sub.yaml", "99-hand-written.yaml", "README.md"].sort());
            assert.equal(fs.readFileSync(path.join(dir, "99-hand-written.yaml"), "utf8"), "apiVersion: v1\nkind: ConfigMap\n");
        });

        it("gives the same names on every run and keeps two objects that would share one", async () => {
            const twice = toManifests(
                await register(undefined, () => {
                    new k8s.core.v1.Namespace("models-again", { metadata: { name: "models" } });
                }),
            );
            const first = writeManifests(dir, twice).map((f) => path.basename(f));
            const again = writeManifests(dir, twice).map((f) => path.basename(f));
            assert.deepEqual(again, first);
            const namespaces = first.filter((f) => f.startsWith("00-namespace-models"));
            assert.equal(namespaces.length, 2);
            for (const name of namespaces) assert.match(name, /^00-namespace-models-[0-9a-f]{6}\.yaml$/);
        });
    });
});
