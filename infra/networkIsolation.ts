import { CERT_MANAGER_DEFAULTS } from "../components/certManager";
import { DEFAULT_INGRESS_CONTROLLER_NAMESPACE } from "../components/ingress";
import { MODEL_POD_LABELS, modelServingFlows } from "../components/modelServing/networkPolicy";
import {
    acmeSolverFlow,
    argoCdFlows,
    certManagerFlows,
    FLAGGER_PORTS,
    flaggerFlows,
    flaggerPods,
    loadTesterPods,
    type MetricsScraper,
    mlflowFlows,
} from "../components/networkFlows";
import type { FlowSource, IsolatedNamespace, NetworkIsolationArgs } from "../components/networkPolicies";
import type { PlatformConfig } from "../stacks";
import { COMPONENT_NAMES, MLFLOW_IDENTITY, MODELS_NAMESPACE } from "./componentArgs";

/**
 * The platform's network: which namespaces it creates, and the flows between them. Every namespace
 * denies ingress; the flows below are the only ones admitted. Where a component already renders the
 * policy of a flow (the database's and the object store's from MLflow, Argo CD's server from the
 * ingress controller), it is not repeated here: `documentedFlows` lists those for the tests.
 */

/** The namespaces the stack creates, by what lives there; `undefined` when the stack switches that part off. */
export interface PlatformNamespaces {
    readonly models: string;
    readonly mlflow: string;
    readonly database: string | undefined;
    readonly objectStore: string | undefined;
    readonly argocd: string | undefined;
    readonly flagger: string | undefined;
    readonly certManager: string | undefined;
}

/** Which namespaces a stack's configuration creates. */
export function platformNamespaces(config: PlatformConfig): PlatformNamespaces {
    return {
        models: MODELS_NAMESPACE,
        mlflow: MLFLOW_IDENTITY.namespace,
        // The in-cluster database and store are created in a namespace of their component's name.
        database: config.postgres.mode === "in-cluster" ? COMPONENT_NAMES.database : undefined,
        objectStore: config.artifacts.mode === "in-cluster" ? COMPONENT_NAMES.objectStore : undefined,
        argocd: config.argocd.enabled ? COMPONENT_NAMES.argocd : undefined,
        flagger: config.flagger.install ? COMPONENT_NAMES.flagger : undefined,
        certManager: config.certManager.enabled ? CERT_MANAGER_DEFAULTS.namespace : undefined,
    };
}

/** Where the Prometheus that scrapes the platform runs: configured, or Flagger's bundled one. */
export function prometheusNamespace(config: PlatformConfig): string | undefined {
    if (config.prometheus.namespace !== undefined) return config.prometheus.namespace;
    return config.flagger.install && config.flagger.metricsServer === undefined ? COMPONENT_NAMES.flagger : undefined;
}

/** The traffic sources outside the platform: the ingress controller, the model Gateway, Prometheus. */
export function externalSources(config: PlatformConfig): { ingressController: FlowSource; modelRouter: FlowSource; metrics: MetricsScraper } {
    const ingressController = { namespace: config.cluster.ingressControllerNamespace ?? DEFAULT_INGRESS_CONTROLLER_NAMESPACE };
    const prometheus = prometheusNamespace(config);
    // istio and gatewayapi route model hosts through the Gateway's pods, nginx through the controller.
    const modelRouter =
        config.cluster.gateway !== undefined && config.flagger.meshProvider !== "nginx" ? { namespace: config.cluster.gateway.namespace } : ingressController;
    return { ingressController, modelRouter, metrics: prometheus === undefined ? undefined : { namespace: prometheus } };
}

/** The NetworkIsolation args of a stack: every namespace it creates, each with its admitted flows. */
export function networkIsolationArgs(config: PlatformConfig): NetworkIsolationArgs {
    const ns = platformNamespaces(config);
    const { ingressController, modelRouter, metrics } = externalSources(config);
    const acme = config.certManager.enabled && config.certManager.issuer !== "self-signed" ? [acmeSolverFlow(ingressController)] : [];
    const namespaces: IsolatedNamespace[] = [
        {
            namespace: ns.models,
            flows: [
                ...modelServingFlows({
                    router: modelRouter,
                    ...(ns.flagger !== undefined && { loadTester: { namespace: ns.models, pods: loadTesterPods() } }),
                    ...(metrics !== undefined && { metrics }),
                }),
                ...(ns.flagger !== undefined
                    ? [
                          {
                              name: `${COMPONENT_NAMES.flagger}-loadtester`,
                              description: "Flagger calls its load tester's webhooks (acceptance test, load test) during an analysis.",
                              pods: loadTesterPods(),
                              ports: [FLAGGER_PORTS.loadTester],
                              from: [{ namespace: ns.flagger, pods: flaggerPods(COMPONENT_NAMES.flagger) }],
                          },
                      ]
                    : []),
                ...acme,
            ],
        },
        {
            namespace: ns.mlflow,
            flows: [
                ...mlflowFlows(COMPONENT_NAMES.mlflow, {
                    namespace: ns.mlflow,
                    ingressController,
                    modelPods: { namespace: ns.models, pods: MODEL_POD_LABELS },
                }),
                ...acme,
            ],
        },
        // The database's and the store's only flow (from MLflow's namespace) is their component's policy.
        ...(ns.database !== undefined ? [{ namespace: ns.database, flows: [] }] : []),
        ...(ns.objectStore !== undefined ? [{ namespace: ns.objectStore, flows: [] }] : []),
        ...(ns.argocd !== undefined
            ? [{ namespace: ns.argocd, flows: [...argoCdFlows(COMPONENT_NAMES.argocd, { ha: config.argocd.ha, namespace: ns.argocd, metrics }), ...acme] }]
            : []),
        ...(ns.flagger !== undefined
            ? [
                  {
                      namespace: ns.flagger,
                      flows: flaggerFlows(COMPONENT_NAMES.flagger, {
                          namespace: ns.flagger,
                          bundledPrometheus: config.flagger.metricsServer === undefined,
                          metrics,
                      }),
                  },
              ]
            : []),
        ...(ns.certManager !== undefined ? [{ namespace: ns.certManager, flows: certManagerFlows(COMPONENT_NAMES.certManager, metrics) }] : []),
    ];
    return { namespaces };
}
