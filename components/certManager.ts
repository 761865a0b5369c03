import * as k8s from "@pulumi/kubernetes";
import * as certmanager from "@pulumi/kubernetes-cert-manager";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_INGRESS_CLASS } from "./ingress";
import { platformLabels } from "./labels";
import { EMAIL, EXACT_CHART_VERSION, K8S_NAME, RELEASE_NAME } from "./names";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./security";
import { type ArgProblem, assertValidArgs, show } from "./validation";
import { definedOnly, imageProblems } from "./images";
import { parseImage } from "./names";

export const CLUSTER_ISSUER_KINDS = ["letsencrypt", "letsencrypt-staging", "self-signed"] as const;
export type ClusterIssuerKind = (typeof CLUSTER_ISSUER_KINDS)[number];

export interface CertManagerArgs {
    /** What signs the platform's certificates: Let's Encrypt (production or staging ACME server) or a self-signed issuer. */
    readonly issuer: ClusterIssuerKind;
    /** ACME account e-mail; required by the letsencrypt issuers, ignored by self-signed. */
    readonly acmeEmail?: string;
    /**
     * IngressClass that serves the ACME HTTP-01 challenges.
     * @default "nginx"
     */
    readonly ingressClass?: string;
    /**
     * Replicated controller, webhook and CA injector, with a disruption budget for the controller.
     * @default false
     */
    readonly ha?: boolean;
    /**
     * Namespace created for cert-manager.
     * @default "cert-manager"
     */
    readonly namespace?: string;
    /**
     * Name of the ClusterIssuer that Ingresses reference (`cert-manager.io/cluster-issuer`).
     * @default the issuer kind: "letsencrypt", "letsencrypt-staging" or "self-signed"
     */
    readonly clusterIssuerName?: string;
    /**
     * jetstack `cert-manager` chart version.
     * @default CERT_MANAGER_CHART_VERSION
     */
    readonly chartVersion?: string;
    /**
     * Images, each `repository:tag` or `repository:tag@sha256:…`.
     * @default certManagerImages(chartVersion): the chart's own, quay.io/jetstack/cert-manager-<component>:<chart version>
     */
    readonly images?: CertManagerImages;
}

/** The components whose images the cert-manager chart runs. */
export const CERT_MANAGER_COMPONENTS = ["controller", "webhook", "cainjector", "acmesolver", "startupapicheck"] as const;
export type CertManagerImages = { readonly [K in (typeof CERT_MANAGER_COMPONENTS)[number]]?: string };

/** The chart's images (its appVersion is its version): what a release of `chartVersion` runs unless told otherwise. */
export function certManagerImages(chartVersion: string = CERT_MANAGER_CHART_VERSION): { readonly [K in (typeof CERT_MANAGER_COMPONENTS)[number]]: string } {
    const image = (component: string) => `quay.io/jetstack/cert-manager-${component}:${chartVersion}`;
    return {
        controller: image("controller"),
        webhook: image("webhook"),
        cainjector: image("cainjector"),
        acmesolver: image("acmesolver"),
        startupapicheck: image("startupapicheck"),
    };
}

/** The chart's image value (`repository`, `tag`, `digest`; with a digest the chart pulls `repository@digest`). */
export function certManagerImageValue(image: string): { repository: string; tag: string; digest?: string } {
    const parsed = parseImage(image);
    if (parsed?.tag === undefined) throw new Error(`${JSON.stringify(image)} is not an image reference with a tag`);
    return { repository: parsed.repository, tag: parsed.tag, ...(parsed.digest !== undefined && { digest: parsed.digest }) };
}

/**
 * cert-manager v1.19.6 (charts.jetstack.io), the newest patch of the 1.19 line (tag v1.19.6 of
 * cert-manager/cert-manager, 2026-06-25): it fixes GHSA-8rvj-mm4h-c258 (HIGH: the
 * `cert-manager-edit` role no longer lets namespace users create Challenges or Orders) and Go CVEs.
 * The 1.19 line reached end of life on 2026-07-08 (cert-manager's supported releases page); 1.20
 * and 1.21 carry the same fix — moving there is a minor upgrade, to read its notes for first.
 */
export const CERT_MANAGER_CHART_VERSION = "v1.19.6";

export const CERT_MANAGER_DEFAULTS = {
    ingressClass: DEFAULT_INGRESS_CLASS,
    ha: false,
    namespace: "cert-manager",
    chartVersion: CERT_MANAGER_CHART_VERSION,
} as const;

export const ACME_SERVERS: Readonly<Record<Exclude<ClusterIssuerKind, "self-signed">, string>> = {
    letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};

/** cert-manager's images run as this user (USER 1000 in its Containerfiles). */
const CERT_MANAGER_UID = 1000;

/** A ClusterIssuer object (`cert-manager.io/v1`) for the chosen kind: what the cluster stores and schema tests validate. */
export function clusterIssuerManifest(options: {
    readonly name: string;
    readonly issuer: ClusterIssuerKind;
    readonly acmeEmail?: string;
    readonly ingressClass: string;
    readonly labels?: Readonly<Record<string, string>>;
}): { apiVersion: "cert-manager.io/v1"; kind: "ClusterIssuer"; metadata: { name: string; labels: Record<string, string> }; spec: Record<string, unknown> } {
    const metadata = { name: options.name, labels: { ...options.labels } };
    if (options.issuer === "self-signed") {
        return { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata, spec: { selfSigned: {} } };
    }
    if (options.acmeEmail === undefined) throw new Error(`acmeEmail is required by the "${options.issuer}" issuer, got nothing`);
    return {
        apiVersion: "cert-manager.io/v1",
        kind: "ClusterIssuer",
        metadata,
        spec: {
            acme: {
                server: ACME_SERVERS[options.issuer],
                email: options.acmeEmail,
                // The ACME account's key; cert-manager generates it into this Secret on first use.
                privateKeySecretRef: { name: `${options.name}-account-key` },
                solvers: [{ http01: { ingress: { ingressClassName: options.ingressClass } } }],
            },
        },
    };
}

/** Replicas per cert-manager deployment. The webhook gets three in HA: every API write of a cert-manager resource goes through it. */
export function certManagerReplicas(ha: boolean): { controller: number; webhook: number; cainjector: number } {
    return ha ? { controller: 2, webhook: 3, cainjector: 2 } : { controller: 1, webhook: 1, cainjector: 1 };
}

/** Every problem of the plain args, each naming the arg and its value. */
export function validateCertManagerArgs(name: string, args: CertManagerArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    // The name is also the Helm release's, which prefixes cluster-wide RBAC objects.
    if (!RELEASE_NAME.test(name))
        problem("", `must be lower-case letters, digits and "-", starting with a letter, at most 40 characters (it names the Helm release), got ${show(name)}`);
    if (!(CLUSTER_ISSUER_KINDS as readonly string[]).includes(args.issuer)) {
        problem("issuer", `must be "letsencrypt", "letsencrypt-staging" or "self-signed", got ${show(args.issuer)}`);
    } else if (args.issuer !== "self-signed" && args.acmeEmail === undefined) {
        problem("acmeEmail", `is required by the "${args.issuer}" issuer, got nothing`);
    }
    if (args.acmeEmail !== undefined && !EMAIL.test(args.acmeEmail)) problem("acmeEmail", `must be an e-mail address, got ${show(args.acmeEmail)}`);
    if (args.ingressClass !== undefined && !K8S_NAME.test(args.ingressClass))
        problem("ingressClass", `must be the name of an IngressClass, got ${show(args.ingressClass)}`);
    if (args.namespace !== undefined && !K8S_NAME.test(args.namespace)) {
        problem("namespace", `must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got ${show(args.namespace)}`);
    }
    problems.push(...imageProblems("images", args.images));
    if (args.clusterIssuerName !== undefined && !K8S_NAME.test(args.clusterIssuerName)) {
        problem(
            "clusterIssuerName",
            `must be a Kubernetes object name (lower-case letters, digits and "-", at most 63 characters), got ${show(args.clusterIssuerName)}`,
        );
    }
    if (args.chartVersion !== undefined && !EXACT_CHART_VERSION.test(args.chartVersion)) {
        problem("chartVersion", `must be an exact chart version such as "${CERT_MANAGER_CHART_VERSION}", got ${show(args.chartVersion)}`);
    }
    return problems;
}

/**
 * cert-manager (CRDs included) in its own restricted namespace, and the ClusterIssuer every Ingress
 * of the platform names in its `cert-manager.io/cluster-issuer` annotation.
 */
export class CertManager extends pulumi.ComponentResource {
    /** The ClusterIssuer's name, available once cert-manager runs and the issuer exists. */
    public readonly clusterIssuerName: pulumi.Output<string>;
    public readonly namespace: pulumi.Output<string>;

    constructor(name: string, args: CertManagerArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("CertManager", name, validateCertManagerArgs(name, args));
        super("mlops:tls:CertManager", name, {}, opts);

        const d = CERT_MANAGER_DEFAULTS;
        const ha = args.ha ?? d.ha;
        const replicas = certManagerReplicas(ha);
        const namespaceName = args.namespace ?? d.namespace;
        const issuerName = args.clusterIssuerName ?? args.issuer;
        const labels = platformLabels(name, "cert-manager");

        const ns = new k8s.core.v1.Namespace(
            `${name}-ns`,
            {
                metadata: { name: namespaceName, labels: { ...platformLabels(namespaceName, "namespace"), ...RESTRICTED_NAMESPACE_LABELS } },
            },
            { parent: this },
        );

        const images = { ...certManagerImages(args.chartVersion ?? d.chartVersion), ...definedOnly(args.images) };
        const podSecurityContext = restrictedPodSecurityContext(CERT_MANAGER_UID);
        const containerSecurityContext = restrictedContainerSecurityContext(true);
        const requests = (cpu: string, memory: string) => ({ requests: { cpu, memory } });
        // No podLabels: the chart's pod templates carry app.kubernetes.io/name as their selector, and
        // ours would collide with it.
        const release = new certmanager.CertManager(
            `${name}-release`,
            {
                replicaCount: replicas.controller,
                image: certManagerImageValue(images.controller),
                securityContext: podSecurityContext,
                containerSecurityContext,
                resources: requests("50m", "128Mi"),
                webhook: {
                    replicaCount: replicas.webhook,
                    image: certManagerImageValue(images.webhook),
                    securityContext: podSecurityContext,
                    containerSecurityContext,
                    resources: requests("10m", "64Mi"),
                },
                // The chart reads the CA injector's pod context from `cainjector.securityContext`, which
                // this API cannot set (its `podSecurityContext` is not a chart value); the chart's default
                // there is already restricted (runAsNonRoot, RuntimeDefault seccomp).
                cainjector: {
                    replicaCount: replicas.cainjector,
                    image: certManagerImageValue(images.cainjector),
                    containerSecurityContext,
                    resources: requests("50m", "128Mi"),
                },
                startupapicheck: { image: certManagerImageValue(images.startupapicheck), securityContext: podSecurityContext },
                helmOptions: {
                    name,
                    namespace: ns.metadata.name,
                    version: args.chartVersion ?? d.chartVersion,
                    // Chart values with no typed counterpart in this API (a typed top-level key would
                    // overwrite a value of the same name). `crds` replaces the deprecated `installCRDs`
                    // (cert-manager v1.19.6 values.yaml); the CRDs are kept when the release goes.
                    values: {
                        crds: { enabled: true, keep: true },
                        // The ACME solver has no typed counterpart: the controller starts it per challenge.
                        acmesolver: { image: certManagerImageValue(images.acmesolver) },
                        ...(ha && { podDisruptionBudget: { enabled: true, minAvailable: 1 } }),
                    },
                },
            },
            { parent: this, dependsOn: [ns] },
        );

        const manifest = clusterIssuerManifest({
            name: issuerName,
            issuer: args.issuer,
            ...(args.acmeEmail !== undefined && { acmeEmail: args.acmeEmail }),
            ingressClass: args.ingressClass ?? d.ingressClass,
            labels,
        });
        // The ClusterIssuer's CRD and admission webhook come with the release: it waits for them.
        const clusterIssuer = new k8s.apiextensions.CustomResource(`${name}-cluster-issuer`, manifest, { parent: this, dependsOn: [release] });

        this.clusterIssuerName = clusterIssuer.metadata.name;
        this.namespace = ns.metadata.name;
        this.registerOutputs({ clusterIssuerName: this.clusterIssuerName, namespace: this.namespace });
    }
}
