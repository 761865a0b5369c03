import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { chartImage, definedOnly, imageProblems } from "./images";
import { CLUSTER_ISSUER_ANNOTATION, DEFAULT_INGRESS_CLASS, DEFAULT_INGRESS_CONTROLLER_NAMESPACE } from "./ingress";
import { platformLabels } from "./labels";
import { DNS_NAME, EXACT_CHART_VERSION, K8S_NAME } from "./names";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext } from "./security";
import { type ArgoCdCluster, registerClusters, validateArgoCdClusters } from "./argoCd/clusters";
import { type ArgProblem, assertValidArgs, show } from "./validation";

export { type ArgoCdCluster, CLUSTER_SECRET_LABEL, type ClusterCredentials, type ClusterDestination, clusterSecretName } from "./argoCd/clusters";

/**
 * argo-helm's `argo-cd` chart 10.1.1 (Argo CD v3.4.4): published in argo-helm's index (gh-pages
 * index.yaml, entry argo-cd 10.1.1, digest a677dfa6…20e5) and tagged `argo-cd-10.1.1`; every values
 * key set below was read in that tag's values.yaml and templates.
 */
export const ARGO_CD_CHART = { chart: "argo-cd", repo: "https://argoproj.github.io/argo-helm", version: "10.1.1" } as const;

/**
 * The images argo-cd 10.1.1 runs, as its values.yaml names them: Argo CD itself (global.image, tag
 * the chart's appVersion), Redis (redis.image, and argo-cd's override of redis-ha.image), and the
 * redis-ha 4.38.0 subchart's HAProxy (argo-cd overrides its repository only; the tag is redis-ha's).
 * Set explicitly, so that a stack can pin each by digest and the policy pack can see each.
 */
export const ARGO_CD_IMAGES = {
    argocd: "quay.io/argoproj/argocd:v3.4.4",
    redis: "ecr-public.aws.com/docker/library/redis:8.2.3-alpine",
    haproxy: "ecr-public.aws.com/docker/library/haproxy:3.3.10-alpine",
} as const;
export type ArgoCdImages = { readonly [K in keyof typeof ARGO_CD_IMAGES]?: string };

/** How Argo CD names the cluster it runs in. */
export const IN_CLUSTER_SERVER = "https://kubernetes.default.svc";
/** And the name it registers that cluster under. */
export const IN_CLUSTER_NAME = "in-cluster";

/** The AppProject every model Application belongs to. */
export const MODEL_PROJECT_NAME = "models";

/** Exactly the kinds the model serving stack renders; anything else in the delivery repo is refused. */
export const MODEL_WORKLOAD_KINDS: ReadonlyArray<{ readonly group: string; readonly kind: string }> = [
    { group: "apps", kind: "Deployment" },
    { group: "autoscaling", kind: "HorizontalPodAutoscaler" },
    { group: "policy", kind: "PodDisruptionBudget" },
    { group: "flagger.app", kind: "Canary" },
    { group: "", kind: "ServiceAccount" },
    { group: "networking.k8s.io", kind: "Ingress" },
    { group: "", kind: "ConfigMap" },
    { group: "monitoring.coreos.com", kind: "PrometheusRule" },
    { group: "monitoring.coreos.com", kind: "PodMonitor" },
];

/** Single sign-on through an OIDC provider. */
export interface ArgoCdSso {
    /** OIDC issuer URL (https). */
    readonly issuer: string;
    readonly clientId: string;
    /** Secret in Argo CD's namespace holding the client secret; its value never passes through Pulumi. */
    readonly clientSecretRef: { readonly name: string; readonly key: string };
}

export interface ArgoCdArgs {
    /** Public host of the Argo CD UI and API. */
    readonly host: string;
    /**
     * High availability: Redis HA, two server, repo-server and ApplicationSet replicas, PDBs.
     * @default false
     */
    readonly ha?: boolean;
    /**
     * IngressClass of the server's Ingress.
     * @default "nginx"
     */
    readonly ingressClass?: string;
    /**
     * Namespace of the ingress controller's pods: the only source the Argo CD server admits.
     * @default DEFAULT_INGRESS_CONTROLLER_NAMESPACE ("ingress-nginx")
     */
    readonly ingressControllerNamespace?: string;
    /**
     * cert-manager ClusterIssuer that signs the server's certificate.
     * @default - no certificate is requested: the Ingress's TLS Secret (`argocd-server-tls`) is provided otherwise
     */
    readonly clusterIssuer?: pulumi.Input<string>;
    /**
     * Single sign-on through an OIDC provider; turns the local admin login off.
     * @default - no SSO: the local admin login stays on
     */
    readonly sso?: ArgoCdSso;
    /** Namespace model workloads are synced into: the AppProject's only destination. */
    readonly modelsNamespace: pulumi.Input<string>;
    /**
     * Git repositories model Applications may sync from (the delivery repo). Empty when delivery is
     * direct: Pulumi applies model workloads itself, so the project admits no source at all.
     * @default []
     */
    readonly sourceRepos?: readonly string[];
    /**
     * The clusters model Applications deploy to: each is a destination of the models AppProject, and
     * each with credentials is registered as a cluster Secret.
     * @default - the cluster Argo CD runs in only
     */
    readonly clusters?: readonly ArgoCdCluster[];
    /**
     * argo-cd chart version.
     * @default ARGO_CD_CHART.version ("10.1.1")
     */
    readonly chartVersion?: string;
    /**
     * Images, each `repository:tag` or `repository:tag@sha256:…`.
     * @default ARGO_CD_IMAGES (the chart's own)
     */
    readonly images?: ArgoCdImages;
}

export const ARGO_CD_DEFAULTS = {
    ha: false,
    ingressClass: DEFAULT_INGRESS_CLASS,
    ingressControllerNamespace: DEFAULT_INGRESS_CONTROLLER_NAMESPACE,
    sourceRepos: [] as readonly string[],
    chartVersion: ARGO_CD_CHART.version,
} as const;

/** Every problem of the plain args, each naming the arg and its value. */
export function validateArgoCdArgs(name: string, args: ArgoCdArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!K8S_NAME.test(name)) problem("", `must be a Kubernetes name (it names the namespace and the Helm release), got ${show(name)}`);
    if (!DNS_NAME.test(args.host)) problem("host", `must be a DNS name such as "argocd.example.com", got ${show(args.host)}`);
    if (args.ingressClass !== undefined && !K8S_NAME.test(args.ingressClass))
        problem("ingressClass", `must be the name of an IngressClass, got ${show(args.ingressClass)}`);
    if (args.chartVersion !== undefined && !EXACT_CHART_VERSION.test(args.chartVersion)) {
        problem("chartVersion", `must be an exact chart version such as "${ARGO_CD_CHART.version}", got ${show(args.chartVersion)}`);
    }
    for (const [i, repo] of (args.sourceRepos ?? []).entries()) {
        if (repo.trim() === "" || /[*?[\]]/.test(repo)) problem(`sourceRepos[${i}]`, `must name a repository exactly, without wildcards, got ${show(repo)}`);
    }
    problems.push(...validateArgoCdClusters(args.clusters ?? []));
    problems.push(...imageProblems("images", args.images));
    if (args.sso !== undefined) {
        if (!/^https:\/\/\S+$/.test(args.sso.issuer)) problem("sso.issuer", `must be an https URL, got ${show(args.sso.issuer)}`);
        if (!K8S_NAME.test(args.sso.clientSecretRef.name))
            problem("sso.clientSecretRef.name", `must be the name of a Secret, got ${show(args.sso.clientSecretRef.name)}`);
    }
    return problems;
}

/**
 * The `oidc.config` of argocd-cm. The client secret is Argo CD's `$<secret>:<key>` reference, resolved
 * by Argo CD itself from a Secret in its namespace, so the value never passes through Pulumi; that
 * Secret must carry the label `app.kubernetes.io/part-of: argocd` or Argo CD keeps the literal string.
 */
export function oidcConfig(sso: ArgoCdSso): string {
    return stringify({
        name: "SSO",
        issuer: sso.issuer,
        clientID: sso.clientId,
        clientSecret: `$${sso.clientSecretRef.name}:${sso.clientSecretRef.key}`,
        requestedScopes: ["openid", "profile", "email", "groups"],
    });
}

export interface ResolvedArgoCd {
    readonly host: string;
    readonly ha: boolean;
    readonly ingressClass: string;
    readonly clusterIssuer: pulumi.Input<string> | undefined;
    readonly sso?: ArgoCdSso;
    readonly images: { readonly [K in keyof typeof ARGO_CD_IMAGES]: string };
}

const requests = (cpu: string, memory: string) => ({ requests: { cpu, memory } });
/** Replicated components keep one pod through voluntary disruptions (drains, upgrades). */
const scaled = (ha: boolean) => ({ replicas: ha ? 2 : 1, pdb: ha ? { enabled: true, minAvailable: 1 } : { enabled: false } });
const restricted = { ...restrictedContainerSecurityContext(), readOnlyRootFilesystem: true };

/** Helm values of the argo-cd chart (keys as in its 10.1.1 values.yaml). */
export function argoCdValues(r: ResolvedArgoCd): Record<string, unknown> {
    return {
        global: {
            domain: r.host,
            image: chartImage(r.images.argocd),
            // The chart's containers already meet "restricted" (non-root, no escalation, ALL dropped,
            // RuntimeDefault seccomp); the pod level says so too, for the namespace's admission check.
            securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
            // The chart's policies stay off: argocd-server's admits all ingress from anywhere (its
            // template hard-codes `ingress: [{}]`) and the others admit metrics from every namespace.
            // The server's policy is this component's (serverNetworkPolicySpec); the rest, with the
            // namespace's default deny, are the platform's (components/networkFlows.ts argoCdFlows),
            // rendered where a preview and the policy pack can see them.
            networkPolicy: { create: false },
        },
        crds: { install: true, keep: true },
        configs: {
            cm: {
                "admin.enabled": r.sso === undefined ? "true" : "false",
                "exec.enabled": "false",
                ...(r.sso !== undefined && { "oidc.config": oidcConfig(r.sso) }),
                // Flagger scales the target Deployment (to zero after promotion) and the HPA scales the
                // rest: Argo CD must not report, nor undo, those replica counts. (Flagger's Canary
                // health needs nothing here: argo-cd ships resource_customizations/flagger.app/Canary/health.lua.)
                "resource.customizations.ignoreDifferences.apps_Deployment": stringify({ jsonPointers: ["/spec/replicas"] }),
            },
            // The Ingress terminates TLS; argocd-server then serves plain HTTP behind it, which works
            // with any ingress controller (no controller-specific backend-protocol annotation). The
            // chart points the Ingress at the http port when this is true. CLI: `argocd login --grpc-web`.
            params: { "server.insecure": true },
            // With SSO every signed-in user may look; write access is granted by group in policy.csv.
            ...(r.sso !== undefined && { rbac: { "policy.default": "role:readonly" } }),
        },
        // OIDC goes straight to the provider (oidc.config), so the bundled Dex is not needed.
        dex: { enabled: false },
        // One controller: extra replicas only shard clusters, and this Argo CD manages one.
        controller: { replicas: 1, resources: requests("250m", "512Mi") },
        server: {
            ...scaled(r.ha),
            resources: requests("50m", "128Mi"),
            ingress: {
                enabled: true,
                controller: "generic",
                ingressClassName: r.ingressClass,
                hostname: r.host,
                path: "/",
                pathType: "Prefix",
                // cert-manager's ingress-shim issues the certificate into argocd-server-tls, the
                // secret the chart names in the Ingress's tls section.
                tls: true,
                ...(r.clusterIssuer !== undefined && { annotations: { [CLUSTER_ISSUER_ANNOTATION]: r.clusterIssuer } }),
            },
        },
        repoServer: { ...scaled(r.ha), resources: requests("100m", "256Mi") },
        applicationSet: { ...scaled(r.ha), resources: requests("50m", "128Mi") },
        notifications: { resources: requests("20m", "64Mi") },
        redis: { image: chartImage(r.images.redis), resources: requests("50m", "64Mi") },
        "redis-ha": {
            enabled: r.ha,
            image: chartImage(r.images.redis),
            // Merged over the redis-ha chart's own non-root contexts, so that pods meet "restricted"
            // whatever that chart's defaults become.
            containerSecurityContext: restricted,
            haproxy: { image: chartImage(r.images.haproxy), containerSecurityContext: restricted, resources: requests("50m", "64Mi") },
            redis: { resources: requests("100m", "128Mi") },
            sentinel: { resources: requests("20m", "32Mi") },
        },
    };
}

/**
 * The Argo CD server's NetworkPolicy: its HTTP port (8080, `server.containerPorts.server`, which the
 * Ingress targets with `server.insecure`) from the ingress controller's namespace, nothing else. The
 * selector is the chart's (`argo-cd.selectorLabels`: name `argocd-server`, instance = release).
 */
export function serverNetworkPolicySpec(release: string, ingressControllerNamespace: string): k8s.types.input.networking.v1.NetworkPolicySpec {
    return {
        podSelector: { matchLabels: { "app.kubernetes.io/name": "argocd-server", "app.kubernetes.io/instance": release } },
        policyTypes: ["Ingress"],
        ingress: [
            {
                from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ingressControllerNamespace } } }],
                ports: [{ protocol: "TCP", port: 8080 }],
            },
        ],
    };
}

export function appProjectSpec(
    modelsNamespace: pulumi.Input<string>,
    sourceRepos: readonly string[],
    clusters: readonly ArgoCdCluster[] = [],
): Record<string, unknown> {
    const destinations = clusters.length === 0 ? [{ server: IN_CLUSTER_SERVER }] : clusters.map((c) => c.destination);
    return {
        description: "Model serving workloads, synced from the delivery repository.",
        sourceRepos: [...sourceRepos],
        destinations: destinations.map((d) => ({ ...d, namespace: modelsNamespace })),
        // An empty whitelist admits no cluster-scoped kind.
        clusterResourceWhitelist: [],
        namespaceResourceWhitelist: MODEL_WORKLOAD_KINDS.map((k) => ({ ...k })),
        orphanedResources: {
            warn: true,
            // What Kubernetes creates in every namespace, and what Pulumi's Flagger component puts in
            // the models namespace, is expected there; Flagger's own objects carry owner references.
            ignore: [
                { group: "", kind: "ConfigMap", name: "kube-root-ca.crt" },
                { group: "", kind: "ServiceAccount", name: "default" },
                { group: "flagger.app", kind: "MetricTemplate" },
                { group: "flagger.app", kind: "AlertProvider" },
            ],
        },
    };
}

/** Argo CD from argo-helm, in a namespace of its own, with the AppProject that model Applications use. */
export class ArgoCd extends pulumi.ComponentResource {
    /** `https://<host>`. */
    public readonly url: pulumi.Output<string>;
    public readonly namespace: pulumi.Output<string>;
    public readonly appProjectName: pulumi.Output<string>;

    constructor(name: string, args: ArgoCdArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("ArgoCd", name, validateArgoCdArgs(name, args));
        super("mlops:gitops:ArgoCd", name, {}, opts);

        const resolved: ResolvedArgoCd = {
            host: args.host,
            ha: args.ha ?? ARGO_CD_DEFAULTS.ha,
            ingressClass: args.ingressClass ?? ARGO_CD_DEFAULTS.ingressClass,
            clusterIssuer: args.clusterIssuer,
            ...(args.sso !== undefined && { sso: args.sso }),
            images: { ...ARGO_CD_IMAGES, ...definedOnly(args.images) },
        };
        const labels = platformLabels(name, "gitops");

        // Every pod the chart renders (and its redis-ha subchart, with the contexts set in the values)
        // meets the restricted standard, so the namespace enforces it.
        const namespace = new k8s.core.v1.Namespace(
            `${name}-ns`,
            { metadata: { name, labels: { ...labels, ...RESTRICTED_NAMESPACE_LABELS } } },
            { parent: this },
        );

        const release = new k8s.helm.v3.Release(
            name,
            {
                name,
                chart: ARGO_CD_CHART.chart,
                version: args.chartVersion ?? ARGO_CD_DEFAULTS.chartVersion,
                repositoryOpts: { repo: ARGO_CD_CHART.repo },
                namespace: namespace.metadata.name,
                createNamespace: false,
                atomic: true,
                cleanupOnFail: true,
                timeout: 900,
                values: argoCdValues(resolved),
            },
            { parent: this },
        );

        new k8s.networking.v1.NetworkPolicy(
            `${name}-server-netpol`,
            {
                metadata: { name: `${name}-server`, namespace: namespace.metadata.name, labels },
                spec: serverNetworkPolicySpec(name, args.ingressControllerNamespace ?? ARGO_CD_DEFAULTS.ingressControllerNamespace),
            },
            { parent: this },
        );

        const project = new k8s.apiextensions.CustomResource(
            `${name}-models-project`,
            {
                apiVersion: "argoproj.io/v1alpha1",
                kind: "AppProject",
                metadata: { name: MODEL_PROJECT_NAME, namespace: namespace.metadata.name, labels },
                spec: appProjectSpec(args.modelsNamespace, args.sourceRepos ?? ARGO_CD_DEFAULTS.sourceRepos, args.clusters),
            },
            // The AppProject CRD comes with the release.
            { parent: this, dependsOn: [release] },
        );
        registerClusters(name, args.clusters ?? [], namespace.metadata.name, { parent: this, dependsOn: [release] });

        this.url = pulumi.output(`https://${args.host}`);
        this.namespace = namespace.metadata.name;
        this.appProjectName = project.metadata.name;
        this.registerOutputs({ url: this.url, namespace: this.namespace, appProjectName: this.appProjectName });
    }
}
