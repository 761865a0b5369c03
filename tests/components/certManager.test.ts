import assert from "node:assert/strict";
import {
    ACME_SERVERS,
    CERT_MANAGER_CHART_VERSION,
    CertManager,
    type CertManagerArgs,
    certManagerReplicas,
    clusterIssuerManifest,
} from "../../components/certManager";
import { RESTRICTED_NAMESPACE_LABELS } from "../../components/security";
import { findObject, findResource, ofType, promiseOf, type RecordedResource, runComponent } from "../harness";

const T = {
    ns: "kubernetes:core/v1:Namespace",
    release: "kubernetes-cert-manager:index:CertManager",
    issuer: "kubernetes:cert-manager.io/v1:ClusterIssuer",
};
const ARGS: CertManagerArgs = { issuer: "letsencrypt", acmeEmail: "platform@example.com" };

function run(args: Partial<CertManagerArgs> = {}, name = "cert-manager") {
    return runComponent(() => {
        const certManager = new CertManager(name, { ...ARGS, ...args } as CertManagerArgs);
        return { clusterIssuerName: certManager.clusterIssuerName, namespace: certManager.namespace };
    });
}
const releaseOf = (resources: readonly RecordedResource[], name = "cert-manager-release") => findResource(resources, T.release, name).inputs as any;

type Validatable = new (data: unknown) => { validate(): void };
async function validateClusterIssuer(object: unknown): Promise<void> {
    const { ClusterIssuer } = (await import("@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer")) as unknown as { ClusterIssuer: Validatable };
    new ClusterIssuer(object).validate();
}

describe("CertManager pure helpers", () => {
    it("renders an ACME production issuer with account key and HTTP-01 solver that the schema accepts", async () => {
        const issuer = clusterIssuerManifest({ name: "letsencrypt", issuer: "letsencrypt", acmeEmail: "ops@example.com", ingressClass: "nginx" });
        assert.deepEqual(issuer, {
            apiVersion: "cert-manager.io/v1",
            kind: "ClusterIssuer",
            metadata: { name: "letsencrypt", labels: {} },
            spec: {
                acme: {
                    server: "https://acme-v02.api.letsencrypt.org/directory",
                    email: "ops@example.com",
                    privateKeySecretRef: { name: "letsencrypt-account-key" },
                    solvers: [{ http01: { ingress: { ingressClassName: "nginx" } } }],
                },
            },
        });
        await validateClusterIssuer(issuer);
    });

    it("points the staging issuer at Let's Encrypt's staging server", async () => {
        const issuer = clusterIssuerManifest({ name: "le-staging", issuer: "letsencrypt-staging", acmeEmail: "ops@example.com", ingressClass: "traefik" });
        assert.equal((issuer.spec["acme"] as any).server, "https://acme-staging-v02.api.letsencrypt.org/directory");
        assert.equal(ACME_SERVERS["letsencrypt-staging"], "https://acme-staging-v02.api.letsencrypt.org/directory");
        assert.deepEqual((issuer.spec["acme"] as any).solvers, [{ http01: { ingress: { ingressClassName: "traefik" } } }]);
        assert.deepEqual((issuer.spec["acme"] as any).privateKeySecretRef, { name: "le-staging-account-key" });
        await validateClusterIssuer(issuer);
    });

    it("renders a self-signed issuer without ACME", async () => {
        const issuer = clusterIssuerManifest({ name: "self-signed", issuer: "self-signed", ingressClass: "nginx" });
        assert.deepEqual(issuer.spec, { selfSigned: {} });
        await validateClusterIssuer(issuer);
    });

    it("refuses an ACME issuer without an e-mail", () => {
        assert.throws(() => clusterIssuerManifest({ name: "le", issuer: "letsencrypt", ingressClass: "nginx" }), {
            message: 'acmeEmail is required by the "letsencrypt" issuer, got nothing',
        });
    });

    it("replicates every deployment in HA, the webhook three times", () => {
        assert.deepEqual(certManagerReplicas(false), { controller: 1, webhook: 1, cainjector: 1 });
        assert.deepEqual(certManagerReplicas(true), { controller: 2, webhook: 3, cainjector: 2 });
    });
});

describe("CertManager argument validation", () => {
    const cases: [string, Partial<CertManagerArgs>, string][] = [
        ["missing e-mail (letsencrypt)", { issuer: "letsencrypt", acmeEmail: undefined }, 'acmeEmail is required by the "letsencrypt" issuer, got nothing'],
        [
            "missing e-mail (letsencrypt-staging)",
            { issuer: "letsencrypt-staging", acmeEmail: undefined },
            'acmeEmail is required by the "letsencrypt-staging" issuer, got nothing',
        ],
        ["e-mail", { acmeEmail: "platform-at-example.com" }, 'acmeEmail must be an e-mail address, got "platform-at-example.com"'],
        ["issuer", { issuer: "vault" as CertManagerArgs["issuer"] }, 'issuer must be "letsencrypt", "letsencrypt-staging" or "self-signed", got "vault"'],
        ["ingressClass", { ingressClass: "NGINX" }, 'ingressClass must be the name of an IngressClass, got "NGINX"'],
        [
            "namespace",
            { namespace: "cert_manager" },
            'namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "cert_manager"',
        ],
        [
            "clusterIssuerName",
            { clusterIssuerName: "Lets.Encrypt" },
            'clusterIssuerName must be a Kubernetes object name (lower-case letters, digits and "-", at most 63 characters), got "Lets.Encrypt"',
        ],
        ["chartVersion", { chartVersion: "latest" }, 'chartVersion must be an exact chart version such as "v1.19.6", got "latest"'],
    ];
    for (const [what, args, message] of cases) {
        it(`rejects a bad ${what} before creating anything`, () => {
            assert.throws(() => new CertManager("cert-manager", { ...ARGS, ...args } as CertManagerArgs), {
                message: `CertManager "cert-manager": ${message}`,
            });
        });
    }

    it("rejects a name that cannot name the Helm release", () => {
        assert.throws(() => new CertManager("Cert_Manager", ARGS), {
            message:
                'CertManager "Cert_Manager": the name must be lower-case letters, digits and "-", starting with a letter, at most 40 characters (it names the Helm release), got "Cert_Manager"',
        });
    });

    it("needs no e-mail for the self-signed issuer", async () => {
        const { resources } = await run({ issuer: "self-signed", acmeEmail: undefined });
        assert.deepEqual(findObject(resources, T.issuer, "self-signed").spec, { selfSigned: {} });
    });
});

describe("CertManager defaults", () => {
    it('installs into the restricted namespace "cert-manager"', async () => {
        const { resources, outputs } = await run();
        const ns = findObject(resources, T.ns, "cert-manager");
        for (const [key, value] of Object.entries(RESTRICTED_NAMESPACE_LABELS)) assert.equal(ns.metadata.labels[key], value);
        assert.equal(releaseOf(resources).helmOptions.namespace, "cert-manager");
        assert.equal(await promiseOf(outputs.namespace), "cert-manager");
    });

    it("pins the chart to CERT_MANAGER_CHART_VERSION", async () => {
        const { resources } = await run();
        assert.equal(CERT_MANAGER_CHART_VERSION, "v1.19.6");
        assert.equal(releaseOf(resources).helmOptions.version, "v1.19.6");
        const pinned = await run({ chartVersion: "v1.18.6" });
        assert.equal(releaseOf(pinned.resources).helmOptions.version, "v1.18.6");
    });

    it("solves HTTP-01 challenges on the nginx IngressClass", async () => {
        const { resources } = await run();
        assert.deepEqual(findObject(resources, T.issuer, "letsencrypt").spec.acme.solvers, [{ http01: { ingress: { ingressClassName: "nginx" } } }]);
    });

    it("runs one replica of everything and no disruption budget outside HA", async () => {
        const { resources } = await run();
        const release = releaseOf(resources);
        assert.deepEqual([release.replicaCount, release.webhook.replicaCount, release.cainjector.replicaCount], [1, 1, 1]);
        assert.deepEqual(release.helmOptions.values, {
            crds: { enabled: true, keep: true },
            acmesolver: { image: { repository: "quay.io/jetstack/cert-manager-acmesolver", tag: "v1.19.6" } },
        });
    });

    it("sets each image from the chart's repository and its version, or from images (a digest as the chart's digest value)", async () => {
        const defaults = releaseOf((await run()).resources);
        assert.deepEqual(defaults.image, { repository: "quay.io/jetstack/cert-manager-controller", tag: "v1.19.6" });
        assert.deepEqual(defaults.webhook.image, { repository: "quay.io/jetstack/cert-manager-webhook", tag: "v1.19.6" });
        const digest = `sha256:${"c".repeat(64)}`;
        const pinned = releaseOf((await run({ images: { webhook: `registry.example.com/cm/webhook:v1.19.6@${digest}` } })).resources);
        assert.deepEqual(pinned.webhook.image, { repository: "registry.example.com/cm/webhook", tag: "v1.19.6", digest });
        assert.deepEqual(pinned.cainjector.image, { repository: "quay.io/jetstack/cert-manager-cainjector", tag: "v1.19.6" });
    });

    it("names the ClusterIssuer after the issuer kind", async () => {
        for (const issuer of ["letsencrypt", "letsencrypt-staging", "self-signed"] as const) {
            const { outputs } = await run({ issuer });
            assert.equal(await promiseOf(outputs.clusterIssuerName), issuer);
        }
        const named = await run({ clusterIssuerName: "platform-tls" });
        assert.equal(await promiseOf(named.outputs.clusterIssuerName), "platform-tls");
    });
});

describe("CertManager release", () => {
    it("installs the CRDs through crds.enabled (installCRDs is deprecated), kept on uninstall, with the release named after the component", async () => {
        const { resources } = await run();
        const release = releaseOf(resources);
        assert.equal(release.installCRDs, undefined);
        assert.deepEqual(release.helmOptions.values.crds, { enabled: true, keep: true });
        assert.equal(release.helmOptions.name, "cert-manager");
    });

    it("runs every cert-manager pod with restricted security contexts", async () => {
        const { resources } = await run();
        const release = releaseOf(resources);
        const pod = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } };
        const container = {
            allowPrivilegeEscalation: false,
            privileged: false,
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
            seccompProfile: { type: "RuntimeDefault" },
        };
        assert.deepEqual(release.securityContext, pod);
        assert.deepEqual(release.webhook.securityContext, pod);
        assert.deepEqual(release.startupapicheck.securityContext, pod);
        for (const part of [release, release.webhook, release.cainjector]) {
            assert.deepEqual(part.containerSecurityContext, container);
            assert.ok(part.resources.requests.cpu !== undefined && part.resources.requests.memory !== undefined);
        }
    });

    it("replicates controller, webhook and CA injector in HA, with a controller PDB", async () => {
        const { resources } = await run({ ha: true });
        const release = releaseOf(resources);
        assert.deepEqual([release.replicaCount, release.webhook.replicaCount, release.cainjector.replicaCount], [2, 3, 2]);
        assert.deepEqual(release.helmOptions.values, {
            crds: { enabled: true, keep: true },
            acmesolver: { image: { repository: "quay.io/jetstack/cert-manager-acmesolver", tag: "v1.19.6" } },
            podDisruptionBudget: { enabled: true, minAvailable: 1 },
        });
    });

    it("creates the namespace before the release and the ClusterIssuer after it", async () => {
        const { resources } = await run();
        const ns = findResource(resources, T.ns, "cert-manager-ns");
        const release = findResource(resources, T.release, "cert-manager-release");
        const issuer = findResource(resources, T.issuer, "cert-manager-cluster-issuer");
        assert.ok(release.dependencies.includes(ns.urn));
        assert.ok(issuer.dependencies.includes(release.urn));
    });

    it("renders the ClusterIssuer as cert-manager.io/v1, valid against cert-manager's schema", async () => {
        for (const args of [
            {},
            { issuer: "letsencrypt-staging" as const, ingressClass: "nginx-public" },
            { issuer: "self-signed" as const, acmeEmail: undefined },
        ]) {
            const { resources } = await run(args);
            const [issuer] = ofType(resources, T.issuer);
            assert.ok(issuer !== undefined);
            assert.equal((issuer.inputs as any).apiVersion, "cert-manager.io/v1");
            await validateClusterIssuer(issuer.inputs);
        }
        const staging = await run({ issuer: "letsencrypt-staging", ingressClass: "nginx-public" });
        const spec = findObject(staging.resources, T.issuer, "letsencrypt-staging").spec;
        assert.equal(spec.acme.server, ACME_SERVERS["letsencrypt-staging"]);
        assert.equal(spec.acme.email, "platform@example.com");
        assert.deepEqual(spec.acme.solvers, [{ http01: { ingress: { ingressClassName: "nginx-public" } } }]);
    });

    it("lets two instances live side by side without a name collision", async () => {
        const { resources } = await runComponent(() => {
            new CertManager("cm-a", { ...ARGS, namespace: "cm-a", clusterIssuerName: "issuer-a" });
            new CertManager("cm-b", { ...ARGS, issuer: "self-signed", namespace: "cm-b", clusterIssuerName: "issuer-b" });
        });
        const urns = resources.map((r) => r.urn);
        assert.equal(new Set(urns).size, urns.length);
        assert.deepEqual(
            ofType(resources, T.release)
                .map((r) => (r.inputs as any).helmOptions.name)
                .sort(),
            ["cm-a", "cm-b"],
        );
        assert.deepEqual(
            ofType(resources, T.issuer)
                .map((r) => (r.inputs as any).metadata.name)
                .sort(),
            ["issuer-a", "issuer-b"],
        );
    });
});
