import * as assert from "node:assert/strict";
import { parse } from "yaml";
import { ARGO_CD_CHART, ArgoCd, type ArgoCdArgs, IN_CLUSTER_SERVER, MODEL_PROJECT_NAME, MODEL_WORKLOAD_KINDS, oidcConfig } from "../../components/argoCd";
import { RESTRICTED_NAMESPACE_LABELS } from "../../components/security";
import { constructionFailure, findObject, findResource, ofType, promiseOf, type RecordedResource, runComponent } from "../harness";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject";
const NAMESPACE = "kubernetes:core/v1:Namespace";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const REPO = "https://github.com/example-org/mlops-platform.git";
const SSO = { issuer: "https://login.example.com/realms/platform", clientId: "argocd", clientSecretRef: { name: "argocd-oidc", key: "clientSecret" } };

const base: ArgoCdArgs = { host: "argocd.ml.example.com", clusterIssuer: "letsencrypt", modelsNamespace: "models" };

async function render(args: Partial<ArgoCdArgs> = {}, name = "argocd") {
    const run = await runComponent(() => {
        const argo = new ArgoCd(name, { ...base, ...args });
        return { url: argo.url, namespace: argo.namespace, appProjectName: argo.appProjectName };
    });
    const release = findResource(run.resources, RELEASE, name);
    const values = release.inputs["values"] as Record<string, any>;
    const project = findObject(run.resources, APP_PROJECT, MODEL_PROJECT_NAME);
    return { run, release, values, project };
}

/** The message a constructor throws, and whether it left any child behind. */
async function failure(args: Partial<ArgoCdArgs>): Promise<{ message: string; children: number }> {
    const { message, resources } = await constructionFailure(() => new ArgoCd("argocd", { ...base, ...args }));
    return { message, children: resources.filter((r) => r.type.startsWith("kubernetes:")).length };
}

describe("ArgoCd", () => {
    describe("release", () => {
        it("installs argo-helm's argo-cd chart at the pinned version, named after the component", async () => {
            const { release } = await render();
            assert.equal(release.inputs["chart"], "argo-cd");
            assert.deepEqual(release.inputs["repositoryOpts"], { repo: "https://argoproj.github.io/argo-helm" });
            assert.equal(release.inputs["version"], "10.1.1");
            assert.equal(ARGO_CD_CHART.version, "10.1.1");
            assert.equal(release.inputs["name"], "argocd");
            assert.equal(release.inputs["namespace"], "argocd");
            assert.equal(release.inputs["createNamespace"], false);
            assert.equal(release.inputs["atomic"], true);
        });

        it("uses chartVersion when given", async () => {
            const { release } = await render({ chartVersion: "9.5.17" });
            assert.equal(release.inputs["version"], "9.5.17");
        });

        it("turns every chart NetworkPolicy off: the platform renders Argo CD's flows where a preview sees them (networkFlows.ts)", async () => {
            const { values } = await render();
            assert.deepEqual(values["global"].networkPolicy, { create: false });
            for (const component of ["controller", "server", "repoServer", "applicationSet", "notifications", "redis", "dex"]) {
                assert.equal(values[component]?.networkPolicy, undefined, component);
            }
        });

        it("admits the server's HTTP port from the ingress controller's namespace only", async () => {
            const { run } = await render();
            const policy = findObject(run.resources, NETWORK_POLICY, "argocd-server");
            assert.equal(policy["metadata"].namespace, "argocd");
            assert.deepEqual(policy["spec"], {
                podSelector: { matchLabels: { "app.kubernetes.io/name": "argocd-server", "app.kubernetes.io/instance": "argocd" } },
                policyTypes: ["Ingress"],
                ingress: [
                    {
                        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }],
                        ports: [{ protocol: "TCP", port: 8080 }],
                    },
                ],
            });
            const other = await render({ ingressControllerNamespace: "edge" });
            const spec = findObject(other.run.resources, NETWORK_POLICY, "argocd-server")["spec"];
            assert.deepEqual(spec.ingress[0].from, [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "edge" } } }]);
        });

        it("creates its own namespace, enforcing the restricted pod security standard", async () => {
            const { run, release } = await render();
            const ns = findObject(run.resources, NAMESPACE, "argocd");
            assert.deepEqual(ns["metadata"].labels, {
                "app.kubernetes.io/name": "argocd",
                "app.kubernetes.io/component": "gitops",
                "app.kubernetes.io/part-of": "mlops-platform",
                "app.kubernetes.io/managed-by": "pulumi",
                ...RESTRICTED_NAMESPACE_LABELS,
            });
            assert.ok(release.dependencies.includes(findResource(run.resources, NAMESPACE, "argocd-ns").urn));
        });

        it("declares restricted pod contexts for the chart's pods and the redis-ha subchart", async () => {
            const { values } = await render({ ha: true });
            assert.deepEqual(values["global"].securityContext, { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
            for (const context of [values["redis-ha"].containerSecurityContext, values["redis-ha"].haproxy.containerSecurityContext]) {
                assert.equal(context.runAsNonRoot, true);
                assert.equal(context.allowPrivilegeEscalation, false);
                assert.deepEqual(context.capabilities, { drop: ["ALL"] });
                assert.deepEqual(context.seccompProfile, { type: "RuntimeDefault" });
            }
        });

        it("requests resources for every component", async () => {
            const { values } = await render({ ha: true });
            for (const component of ["controller", "server", "repoServer", "applicationSet", "notifications", "redis"]) {
                assert.ok(values[component].resources.requests.cpu, `${component} requests cpu`);
                assert.ok(values[component].resources.requests.memory, `${component} requests memory`);
            }
            for (const part of ["redis", "sentinel", "haproxy"]) assert.ok(values["redis-ha"][part].resources.requests.memory, part);
        });

        it("installs the Argo CD CRDs and keeps them when the release goes", async () => {
            const { values } = await render();
            assert.deepEqual(values["crds"], { install: true, keep: true });
        });
    });

    describe("high availability", () => {
        it("is off by default: single replicas, plain Redis, no PDBs", async () => {
            const { values } = await render();
            assert.equal(values["redis-ha"].enabled, false);
            for (const component of ["server", "repoServer", "applicationSet"]) {
                assert.equal(values[component].replicas, 1, component);
                assert.deepEqual(values[component].pdb, { enabled: false }, component);
            }
            assert.equal(values["controller"].replicas, 1);
        });

        it("with ha: Redis HA, two server, repo-server and ApplicationSet replicas with PDBs, one controller", async () => {
            const { values } = await render({ ha: true });
            assert.equal(values["redis-ha"].enabled, true);
            for (const component of ["server", "repoServer", "applicationSet"]) {
                assert.equal(values[component].replicas, 2, component);
                assert.deepEqual(values[component].pdb, { enabled: true, minAvailable: 1 }, component);
            }
            assert.equal(values["controller"].replicas, 1);
        });
    });

    describe("ingress", () => {
        it("exposes the server on its host with TLS from the cluster issuer", async () => {
            const { values } = await render({ clusterIssuer: "letsencrypt-staging" });
            assert.deepEqual(values["server"].ingress, {
                enabled: true,
                controller: "generic",
                ingressClassName: "nginx",
                hostname: "argocd.ml.example.com",
                path: "/",
                pathType: "Prefix",
                tls: true,
                annotations: { "cert-manager.io/cluster-issuer": "letsencrypt-staging" },
            });
            assert.equal(values["global"].domain, "argocd.ml.example.com");
        });

        it("defaults the ingress class to nginx and takes the one given", async () => {
            assert.equal((await render()).values["server"].ingress.ingressClassName, "nginx");
            assert.equal((await render({ ingressClass: "traefik" })).values["server"].ingress.ingressClassName, "traefik");
        });

        it("serves plain HTTP behind the TLS-terminating ingress", async () => {
            const { values } = await render();
            assert.equal(values["configs"].params["server.insecure"], true);
        });
    });

    describe("single sign-on", () => {
        it("without sso: the local admin login stays on and there is no OIDC config", async () => {
            const { values } = await render();
            assert.equal(values["configs"].cm["admin.enabled"], "true");
            assert.equal(values["configs"].cm["oidc.config"], undefined);
            assert.equal(values["configs"].rbac, undefined);
        });

        it("with sso: OIDC with a $secret:key client secret, admin login off, Dex off", async () => {
            const { values } = await render({ sso: SSO });
            const cm = values["configs"].cm;
            assert.equal(cm["admin.enabled"], "false");
            assert.deepEqual(parse(cm["oidc.config"]), {
                name: "SSO",
                issuer: "https://login.example.com/realms/platform",
                clientID: "argocd",
                clientSecret: "$argocd-oidc:clientSecret",
                requestedScopes: ["openid", "profile", "email", "groups"],
            });
            assert.deepEqual(values["dex"], { enabled: false });
            assert.deepEqual(values["configs"].rbac, { "policy.default": "role:readonly" });
        });

        it("never carries a client secret value: only the reference, no Secret object, nothing secret on the wire", async () => {
            const { run } = await render({ sso: SSO });
            assert.equal(ofType(run.resources, "kubernetes:core/v1:Secret").length, 0);
            const wire = JSON.stringify(run.resources.map((r) => r.wireInputs));
            assert.equal(wire.match(/clientSecret:/g)?.length, 1);
            assert.ok(wire.includes("clientSecret: $argocd-oidc:clientSecret"));
            assert.ok(!wire.includes("4dabf18193072939515e22adb298388d"), "no secret-wrapped value was needed");
        });

        it("renders the reference from any secret name and key", () => {
            const config = parse(oidcConfig({ ...SSO, clientSecretRef: { name: "idp", key: "oidc.secret" } }));
            assert.equal(config.clientSecret, "$idp:oidc.secret");
        });
    });

    it("ignores replica drift on Deployments, which Flagger and the HPA own", async () => {
        const { values } = await render();
        assert.deepEqual(parse(values["configs"].cm["resource.customizations.ignoreDifferences.apps_Deployment"]), { jsonPointers: ["/spec/replicas"] });
    });

    describe("AppProject", () => {
        it("limits sources, destination and kinds to the model serving stack", async () => {
            const { project } = await render({ sourceRepos: [REPO] });
            assert.equal(project["metadata"].namespace, "argocd");
            assert.deepEqual(project["spec"].sourceRepos, [REPO]);
            assert.deepEqual(project["spec"].destinations, [{ server: "https://kubernetes.default.svc", namespace: "models" }]);
            assert.equal(IN_CLUSTER_SERVER, "https://kubernetes.default.svc");
            assert.deepEqual(project["spec"].clusterResourceWhitelist, []);
            assert.deepEqual(project["spec"].namespaceResourceWhitelist, [
                { group: "apps", kind: "Deployment" },
                { group: "autoscaling", kind: "HorizontalPodAutoscaler" },
                { group: "policy", kind: "PodDisruptionBudget" },
                { group: "flagger.app", kind: "Canary" },
                { group: "", kind: "ServiceAccount" },
                { group: "networking.k8s.io", kind: "Ingress" },
                { group: "", kind: "ConfigMap" },
                { group: "monitoring.coreos.com", kind: "PrometheusRule" },
                { group: "monitoring.coreos.com", kind: "PodMonitor" },
            ]);
            assert.equal(MODEL_WORKLOAD_KINDS.length, 9);
            assert.equal(project["spec"].orphanedResources.warn, true);
        });

        it("admits no source at all by default (direct delivery)", async () => {
            const { project } = await render();
            assert.deepEqual(project["spec"].sourceRepos, []);
        });

        it("is a valid Argo CD AppProject", async () => {
            const { project } = await render({ sourceRepos: [REPO] });
            const { AppProject } = await import("@kubernetes-models/argo-cd/argoproj.io/v1alpha1/AppProject");
            assert.doesNotThrow(() => new AppProject(project as any).validate());
            assert.throws(() => new AppProject({ ...project, spec: { ...project["spec"], sourceRepos: REPO } } as any).validate(), /sourceRepos must be array/);
        });

        it("waits for the release that brings its CRD", async () => {
            const { run, release } = await render();
            const projectResource = findResource(run.resources, APP_PROJECT, "argocd-models-project");
            assert.ok(projectResource.dependencies.includes(release.urn));
        });
    });

    it("outputs the URL, its namespace and the AppProject's name", async () => {
        const { run } = await render();
        assert.equal(await promiseOf(run.outputs.url), "https://argocd.ml.example.com");
        assert.equal(await promiseOf(run.outputs.namespace), "argocd");
        assert.equal(await promiseOf(run.outputs.appProjectName), "models");
    });

    it("parents every child on the component and names it after the component", async () => {
        const { run } = await render();
        const component = findResource(run.resources, "mlops:gitops:ArgoCd", "argocd");
        const children = run.resources.filter((r) => r.parent === component.urn);
        assert.deepEqual(children.map((r) => r.name).sort(), ["argocd", "argocd-models-project", "argocd-ns", "argocd-server-netpol"]);
    });

    it("two instances never collide", async () => {
        const run = await runComponent(() => {
            new ArgoCd("argocd-a", base);
            new ArgoCd("argocd-b", base);
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
        const cases: Array<[string, Partial<ArgoCdArgs>, string]> = [
            ["host", { host: "argo cd" }, 'ArgoCd "argocd": host must be a DNS name such as "argocd.example.com", got "argo cd"'],
            ["ingressClass", { ingressClass: "Nginx" }, 'ArgoCd "argocd": ingressClass must be the name of an IngressClass, got "Nginx"'],
            ["chartVersion", { chartVersion: "^9.6" }, 'ArgoCd "argocd": chartVersion must be an exact chart version such as "10.1.1", got "^9.6"'],
            ["sourceRepos", { sourceRepos: ["*"] }, 'ArgoCd "argocd": sourceRepos[0] must name a repository exactly, without wildcards, got "*"'],
            [
                "sso.issuer",
                { sso: { ...SSO, issuer: "http://login.example.com" } },
                'ArgoCd "argocd": sso.issuer must be an https URL, got "http://login.example.com"',
            ],
            [
                "sso.clientSecretRef.name",
                { sso: { ...SSO, clientSecretRef: { name: "Argo_OIDC", key: "k" } } },
                'ArgoCd "argocd": sso.clientSecretRef.name must be the name of a Secret, got "Argo_OIDC"',
            ],
        ];
        for (const [arg, args, message] of cases) {
            it(arg, async () => {
                assert.deepEqual(await failure(args), { message, children: 0 });
            });
        }
    });
});
