import { ARGO_CD_CHART } from "./argoCd";
import { CERT_MANAGER_CHART_VERSION } from "./certManager";
import { FLAGGER_CHART, LOADTESTER_CHART } from "./flagger";
import { selectorLabels } from "./labels";
import { MLFLOW_PORT } from "./mlflowServer/commandLine";
import type { FlowSource, IngressFlow } from "./networkPolicies";

/**
 * The flows into each platform component's pods, with the pod labels and ports of the charts and
 * components that run them. Who the sources are (the ingress controller's namespace, Prometheus's)
 * is the caller's to say. Versions are named where a chart's templates were read.
 */

/** Prometheus, where the platform knows one: its namespace (every pod in it may scrape). */
export type MetricsScraper = FlowSource | undefined;

const scrapedBy = (scraper: MetricsScraper, name: string, what: string, pods: Record<string, string>, ports: number[]): IngressFlow[] =>
    scraper === undefined ? [] : [{ name, description: `Prometheus scrapes ${what}.`, pods, ports, from: [scraper] }];

/**
 * cert-manager's HTTP-01 solver: a pod cert-manager starts, for the length of a challenge, in the
 * namespace of the Ingress being certified; the ingress controller routes the ACME server's request
 * to it (acmesolver listens on 8089, label `acme.cert-manager.io/http01-solver: "true"`).
 */
export const ACME_HTTP01_SOLVER = { pods: { "acme.cert-manager.io/http01-solver": "true" }, port: 8089 } as const;

export function acmeSolverFlow(ingressController: FlowSource): IngressFlow {
    return {
        name: "acme-http01-solver",
        description: "The ingress controller passes ACME HTTP-01 challenges to cert-manager's solver pods.",
        pods: { ...ACME_HTTP01_SOLVER.pods },
        ports: [ACME_HTTP01_SOLVER.port],
        from: [ingressController],
    };
}

/** The MLflow tracking server (MlflowServer named `release`) and the Job that creates the model servers' user. */
export function mlflowFlows(
    release: string,
    options: { readonly namespace: string; readonly ingressController: FlowSource; readonly modelPods: FlowSource },
): IngressFlow[] {
    const server = selectorLabels(release);
    return [
        {
            name: "tracking-server-from-ingress",
            description: "People and CI reach the tracking server's UI and API through the ingress controller.",
            pods: server,
            ports: [MLFLOW_PORT],
            from: [options.ingressController],
        },
        {
            name: "tracking-server-from-models",
            description: "Model pods load models:/<name>/<version> from the registry (artifacts proxied by the server).",
            pods: server,
            ports: [MLFLOW_PORT],
            from: [options.modelPods],
        },
        {
            name: "tracking-server-from-reader-job",
            description: "The registry-reader Job signs in as admin to create the model servers' read-only user.",
            pods: server,
            ports: [MLFLOW_PORT],
            from: [{ namespace: options.namespace, pods: selectorLabels(`${release}-registry-reader`) }],
        },
    ];
}

/** Argo CD's pods as the argo-cd chart names them: `app.kubernetes.io/name: argocd-<component>`, instance = release. */
export const ARGO_CD_COMPONENTS = {
    server: "server",
    repoServer: "repo-server",
    controller: "application-controller",
    applicationSet: "applicationset-controller",
    notifications: "notifications-controller",
    redis: "redis",
} as const;

/** Container ports of argo-cd 10.1.1's values.yaml (`<component>.containerPorts`). */
export const ARGO_CD_PORTS = {
    repoServer: 8081,
    redis: 6379,
    sentinel: 26379,
    metrics: { controller: 8082, server: 8083, repoServer: 8084, applicationSet: 8080, notifications: 9001 },
} as const;

/**
 * Argo CD's internal flows, as the argo-cd chart's own NetworkPolicies document them (argo-cd
 * 10.1.1, templates/<component>/networkpolicy.yaml): the repo server from the server, controller,
 * ApplicationSet and notifications controllers; Redis from the server, repo server and controller.
 * With HA the chart's Redis policy is not rendered; the redis-ha subchart (4.38.0) runs HAProxy
 * (`app: redis-ha-haproxy`) in front of Redis and Sentinel (`app: redis-ha`), which talk to each other.
 * Metrics are admitted from Prometheus only (the chart admits every namespace). The server's own
 * policy (from the ingress controller) is ArgoCd's (serverNetworkPolicySpec).
 */
export function argoCdFlows(release: string, options: { readonly ha: boolean; readonly namespace: string; readonly metrics: MetricsScraper }): IngressFlow[] {
    const pods = (component: string) => ({ "app.kubernetes.io/name": `argocd-${component}`, "app.kubernetes.io/instance": release });
    const from = (...components: string[]): FlowSource[] => components.map((c) => ({ namespace: options.namespace, pods: pods(c) }));
    const c = ARGO_CD_COMPONENTS;
    const redisClients = from(c.server, c.repoServer, c.controller);
    const redisHa = { app: "redis-ha", release };
    const haproxy = { app: "redis-ha-haproxy", release };
    const redis: IngressFlow[] = options.ha
        ? [
              {
                  name: `${release}-redis-ha-haproxy`,
                  description: "The server, repo server and controller reach Redis through HAProxy (redis-ha).",
                  pods: haproxy,
                  ports: [ARGO_CD_PORTS.redis],
                  from: redisClients,
              },
              {
                  name: `${release}-redis-ha`,
                  description: "HAProxy reaches the Redis master; Redis replicas and Sentinels reach each other (redis-ha).",
                  pods: redisHa,
                  ports: [ARGO_CD_PORTS.redis, ARGO_CD_PORTS.sentinel],
                  from: [
                      { namespace: options.namespace, pods: haproxy },
                      { namespace: options.namespace, pods: redisHa },
                  ],
              },
          ]
        : [
              {
                  name: `${release}-redis`,
                  description: "The server, repo server and controller use Redis as their cache.",
                  pods: pods(c.redis),
                  ports: [ARGO_CD_PORTS.redis],
                  from: redisClients,
              },
          ];
    const m = ARGO_CD_PORTS.metrics;
    return [
        {
            name: `${release}-repo-server`,
            description: "The server, controller, ApplicationSet and notifications controllers render manifests through the repo server.",
            pods: pods(c.repoServer),
            ports: [ARGO_CD_PORTS.repoServer],
            from: from(c.server, c.controller, c.applicationSet, c.notifications),
        },
        ...redis,
        ...scrapedBy(options.metrics, `${release}-controller-metrics`, "the application controller", pods(c.controller), [m.controller]),
        ...scrapedBy(options.metrics, `${release}-server-metrics`, "the server", pods(c.server), [m.server]),
        ...scrapedBy(options.metrics, `${release}-repo-server-metrics`, "the repo server", pods(c.repoServer), [m.repoServer]),
        ...scrapedBy(options.metrics, `${release}-applicationset-metrics`, "the ApplicationSet controller", pods(c.applicationSet), [m.applicationSet]),
        ...scrapedBy(options.metrics, `${release}-notifications-metrics`, "the notifications controller", pods(c.notifications), [m.notifications]),
    ];
}

/** cert-manager's webhook port (chart v1.19: `webhook.securePort`, 10250) and controller metrics (9402). */
export const CERT_MANAGER_PORTS = { webhook: 10250, metrics: 9402 } as const;

/**
 * Every address: the API server calls admission webhooks from the control plane, whose addresses
 * (on EKS, ENIs in the cluster's VPC) no pod or namespace selector names. Only the webhook's port
 * is open to them.
 */
export const ANY_ADDRESS: readonly FlowSource[] = [{ cidr: "0.0.0.0/0" }, { cidr: "::/0" }];

/** cert-manager's pods as its chart (CERT_MANAGER_CHART_VERSION) labels them, release `release`. */
export function certManagerFlows(release: string, metrics: MetricsScraper): IngressFlow[] {
    return [
        {
            name: `${release}-webhook`,
            description: `The API server calls cert-manager's admission and conversion webhook (chart ${CERT_MANAGER_CHART_VERSION}, webhook.securePort).`,
            pods: { "app.kubernetes.io/name": "webhook", "app.kubernetes.io/instance": release, "app.kubernetes.io/component": "webhook" },
            ports: [CERT_MANAGER_PORTS.webhook],
            from: ANY_ADDRESS,
        },
        ...scrapedBy(
            metrics,
            `${release}-controller-metrics`,
            "cert-manager's controller",
            { "app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": release, "app.kubernetes.io/component": "controller" },
            [CERT_MANAGER_PORTS.metrics],
        ),
    ];
}

/** Flagger's pods (chart FLAGGER_CHART, `fullnameOverride` = release): the controller and its bundled Prometheus. */
export const FLAGGER_PORTS = { controller: 8080, prometheus: 9090, loadTester: 8080 } as const;

export function flaggerPods(release: string): Record<string, string> {
    return { "app.kubernetes.io/name": FLAGGER_CHART.chart, "app.kubernetes.io/instance": release };
}

/** The load tester's pods (chart LOADTESTER_CHART): `app.kubernetes.io/name: loadtester`. */
export function loadTesterPods(): Record<string, string> {
    return { "app.kubernetes.io/name": LOADTESTER_CHART.chart };
}

/** Flagger's namespace: its bundled Prometheus (when installed) answers Flagger's queries. */
export function flaggerFlows(
    release: string,
    options: { readonly namespace: string; readonly bundledPrometheus: boolean; readonly metrics: MetricsScraper },
): IngressFlow[] {
    return [
        ...(options.bundledPrometheus
            ? [
                  {
                      name: `${release}-prometheus`,
                      description: "Flagger queries its bundled Prometheus during each canary analysis.",
                      pods: { "app.kubernetes.io/name": `${FLAGGER_CHART.chart}-prometheus`, "app.kubernetes.io/instance": release },
                      ports: [FLAGGER_PORTS.prometheus],
                      from: [{ namespace: options.namespace, pods: flaggerPods(release) }],
                  },
              ]
            : []),
        ...scrapedBy(options.metrics, `${release}-metrics`, "Flagger's controller", flaggerPods(release), [FLAGGER_PORTS.controller]),
    ];
}

/** The chart versions whose templates these flows were read from; a test keeps them in step with the components'. */
export const FLOWS_READ_FROM = { argoCd: "10.1.1", certManager: "v1.19.6", flagger: "1.44.0", loadTester: "0.38.0" } as const;
export const CHARTS_IN_USE = {
    argoCd: ARGO_CD_CHART.version,
    certManager: CERT_MANAGER_CHART_VERSION,
    flagger: FLAGGER_CHART.version,
    loadTester: LOADTESTER_CHART.version,
};
