import * as k8s from "@pulumi/kubernetes";
import * as certmanager from "@pulumi/kubernetes-cert-manager";
import * as pulumi from "@pulumi/pulumi";
import { PATTERNS } from "../stacks/fields";
import { platformLabels } from "./labels";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./security";

export type ClusterIssuerKind = "letsencrypt" | "letsencrypt-staging" | "self-signed";

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
}

/** cert-manager v1.19.4 (charts.jetstack.io), a patch release fixing CVE-2026-24051 and CVE-2025-68121. */
export const CERT_MANAGER_CHART_VERSION = "v1.19.4";

export const CERT_MANAGER_DEFAULTS = {
    ingressClass: "nginx",
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

const NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
const CHART_VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

export function validateCertManagerArgs(name: string, args: CertManagerArgs): void {
    const fail = (message: string): never => {
        throw new Error(`CertManager "${name}": ${message}`);
    };
    const show = JSON.stringify;
    // The name is also the Helm release's, which prefixes cluster-wide RBAC objects.
    if (!NAME.test(name)) fail(`the name must be lower-case letters, digits and "-", starting with a letter, at most 40 characters (it names the Helm release), got ${show(name)}`);
    if (!["letsencrypt", "letsencrypt-staging", "self-signed"].includes(args.issuer)) {
        fail(`issuer must be "letsencrypt", "letsencrypt-staging" or "self-signed", got ${show(args.issuer)}`);
    }
    if (args.issuer !== "self-signed" && args.acmeEmail === undefined) fail(`acmeEmail is required by the "${args.issuer}" issuer, got nothing`);
    if (args.acmeEmail !== undefined && !PATTERNS.email.test(args.acmeEmail)) fail(`acmeEmail must be an e-mail address, got ${show(args.acmeEmail)}`);
    if (args.ingressClass !== undefined && !PATTERNS.k8sName.test(args.ingressClass)) fail(`ingressClass must be the name of an IngressClass, got ${show(args.ingressClass)}`);
    if (args.namespace !== undefined && !PATTERNS.k8sName.test(args.namespace)) {
        fail(`namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got ${show(args.namespace)}`);
    }
    if (args.clusterIssuerName !== undefined && !PATTERNS.k8sName.test(args.clusterIssuerName)) {
        fail(`clusterIssuerName must be a Kubernetes object name (lower-case letters, digits and "-", at most 63 characters), got ${show(args.clusterIssuerName)}`);
    }
    if (args.chartVersion !== undefined && !CHART_VERSION.test(args.chartVersion)) fail(`chartVersion must be an exact chart version such as "v1.19.4", got ${show(args.chartVersion)}`);
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
        validateCertManagerArgs(name, args);
        super("mlops:tls:CertManager", name, {}, opts);

        const d = CERT_MANAGER_DEFAULTS;
        const ha = args.ha ?? d.ha;
        const replicas = certManagerReplicas(ha);
        const namespaceName = args.namespace ?? d.namespace;
        const issuerName = args.clusterIssuerName ?? args.issuer;
        const labels = platformLabels(name, "cert-manager");

        const ns = new k8s.core.v1.Namespace(`${name}-ns`, {
            metadata: { name: namespaceName, labels: { ...platformLabels(namespaceName, "namespace"), ...RESTRICTED_NAMESPACE_LABELS } },
        }, { parent: this });

        const podSecurityContext = restrictedPodSecurityContext(CERT_MANAGER_UID);
        const containerSecurityContext = restrictedContainerSecurityContext(true);
        const requests = (cpu: string, memory: string) => ({ requests: { cpu, memory } });
        // No podLabels: the chart's pod templates carry app.kubernetes.io/name as their selector, and
        // ours would collide with it.
        const release = new certmanager.CertManager(`${name}-release`, {
            installCRDs: true,
            replicaCount: replicas.controller,
            securityContext: podSecurityContext,
            containerSecurityContext,
            resources: requests("50m", "128Mi"),
            webhook: {
                replicaCount: replicas.webhook,
                securityContext: podSecurityContext,
                containerSecurityContext,
                resources: requests("10m", "64Mi"),
            },
            // The chart reads the CA injector's pod context from `cainjector.securityContext`, which
            // this API cannot set (its `podSecurityContext` is not a chart value); the chart's default
            // there is already restricted (runAsNonRoot, RuntimeDefault seccomp).
            cainjector: {
                replicaCount: replicas.cainjector,
                containerSecurityContext,
                resources: requests("50m", "128Mi"),
            },
            startupapicheck: { securityContext: podSecurityContext },
            helmOptions: {
                name,
                namespace: ns.metadata.name,
                version: args.chartVersion ?? d.chartVersion,
                // A chart value with no typed counterpart in this API.
                ...(ha && { values: { podDisruptionBudget: { enabled: true, minAvailable: 1 } } }),
            },
        }, { parent: this, dependsOn: [ns] });

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
