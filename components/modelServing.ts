import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import type { FlaggerRef } from "./flagger";
import { CLUSTER_ISSUER_ANNOTATION, DEFAULT_INGRESS_CLASS } from "./ingress";
import { ANNOTATIONS, LABELS, modelLabels, platformLabels, selectorLabels } from "./labels";
import { canaryAnalysis, canaryProblems, resolveCanary } from "./modelServing/canary";
import { createChallenger } from "./modelServing/challenger";
import { championHost, experimentProblems, gatewayExperimentRoute, istioExperimentRoute, resolveExperiment } from "./modelServing/experiment";
import { alertingRules, MONITORING_DEFAULTS, monitoringProblems } from "./modelServing/monitoring";
import { applicationSpec, DELIVERY_DEFAULTS, type ModelDelivery, repositoryPath } from "./modelServing/delivery";
import { GATEWAY_PROVIDERS, isServingProvider, quotedList, SERVING_PROVIDERS, type ServingProvider } from "./modelServing/routing";
import {
    MODEL_OUTPUTS,
    podMonitorSpec,
    PROXY_PORT,
    scrapeAnnotations,
    TELEMETRY_PORT,
    telemetryConfigMapName,
    telemetryPackageFiles,
} from "./modelServing/telemetry";
import {
    GPU_PLACEMENT_DEFAULTS,
    type GpuPlacement,
    modelGpusAtMaxScale,
    podSpec,
    promotionRecord,
    rollingUpdate,
    SERVICE_PORT,
    type ServedModel,
} from "./modelServing/workload";
import { DNS_NAME, isPinnedImage, K8S_NAME } from "./names";
import { parseQuantity } from "./quantity";
import { type ArgProblem, assertValidArgs, show } from "./validation";
import { MLFLOW_IMAGE } from "./versions";

export { CANARY_DEFAULTS, type CanarySettings, resolveCanary, type ResolvedCanary } from "./modelServing/canary";
export { type ArgoDestination, DELIVERY_DEFAULTS, type ModelDelivery } from "./modelServing/delivery";
export {
    challengerName,
    championHost,
    EXPERIMENT_DEFAULTS,
    EXPERIMENT_PROVIDERS,
    type ExperimentSettings,
    experimentRouteName,
    resolveExperiment,
    type ResolvedExperiment,
} from "./modelServing/experiment";
export { MONITORING_DEFAULTS, type MonitoringSettings } from "./modelServing/monitoring";
export { GATEWAY_PROVIDERS, MIRRORING_PROVIDERS, SERVING_PROVIDERS, type ServingProvider } from "./modelServing/routing";
export { MODEL_OUTPUTS, type ModelOutputs } from "./modelServing/telemetry";
export { GPU_PLACEMENT_DEFAULTS, type GpuPlacement, modelGpusAtMaxScale, promotionRecord, type ServedModel } from "./modelServing/workload";

/** What the platform's Flagger component provides to every model (components/flagger.ts). */
export interface ModelServingFlagger {
    /** The provider Flagger routes with; ModelServing sets up the routing of `SERVING_PROVIDERS`. */
    readonly meshProvider: string;
    /** URL of Flagger's load tester, which runs the acceptance and load-test webhooks. */
    readonly loadTesterUrl: pulumi.Input<string>;
    readonly metricTemplates: { readonly accuracy: FlaggerRef; readonly driftScore: FlaggerRef; readonly confidence: FlaggerRef };
    readonly alertProvider: FlaggerRef | undefined;
}

/** A Gateway (Istio `networking.istio.io` Gateway, or Gateway API `gateway.networking.k8s.io` Gateway) that serves model hosts. */
export interface GatewayRef {
    readonly name: string;
    readonly namespace: string;
}

export interface ModelServingArgs {
    /** The model and its pinned registry version. */
    readonly model: ServedModel;
    /** The `mlops.dev/environment` label of the model's objects (a label value such as "production"). */
    readonly environment: string;
    /** The stack name; part of the gitops path and of the Argo CD Application's name. */
    readonly stack: string;
    /** The models namespace (created by the platform, with the restricted pod security labels). */
    readonly namespace: pulumi.Input<string>;
    /** The platform's in-cluster MLflow URL. */
    readonly trackingUri: pulumi.Input<string>;
    /**
     * The read-only IRSA role for model artifacts on AWS S3.
     * @default - none: artifacts reach the server through the tracking server's proxy (`--serve-artifacts`) only
     */
    readonly artifactReaderRoleArn?: pulumi.Input<string>;
    /**
     * Where GPU pods are scheduled.
     * @default GPU_PLACEMENT_DEFAULTS (NVIDIA's resource, node label and taint)
     */
    readonly gpu?: GpuPlacement;
    readonly ingress: {
        /**
         * IngressClass of the model's Ingress (NGINX).
         * @default DEFAULT_INGRESS_CLASS ("nginx")
         */
        readonly className?: string;
        /** The model is served at `<model>.<domain>`. */
        readonly domain: string;
        /** cert-manager ClusterIssuer of the Ingress certificate (NGINX). @default - none: the Ingress's TLS Secret (`<model>-tls`) is provided otherwise */
        readonly clusterIssuer?: pulumi.Input<string>;
        /** The Gateway the host is served through; TLS terminates there. @default - none; required by istio and gatewayapi */
        readonly gateway?: GatewayRef;
    };
    readonly flagger: ModelServingFlagger;
    readonly delivery: ModelDelivery;
    /** Secret (in the models namespace) with MLflow credentials, for a tracking server with basic auth. @default - none (unauthenticated tracking server) */
    readonly trackingCredentials?: {
        readonly secretName: pulumi.Input<string>;
        /** @default "username" */
        readonly usernameKey?: string;
        /** @default "password" */
        readonly passwordKey?: string;
    };
    /** Seconds a pod may take to download and load the model before it is restarted. @default 900 */
    readonly startupTimeoutSeconds?: number;
    /** Average CPU utilisation (percent of the request) the HPA keeps. @default 70 */
    readonly targetCpuUtilizationPercent?: number;
    /**
     * Image of the telemetry container (Python with prometheus_client; its code comes from a ConfigMap).
     * @default MLFLOW_IMAGE
     */
    readonly telemetryImage?: string;
    /**
     * How the cluster's Prometheus finds the model: with the operator, a PodMonitor and a
     * PrometheusRule carrying `resourceLabels`; otherwise the pods' `prometheus.io/*` scrape
     * annotations and a ConfigMap labelled ALERT_RULES_LABEL with the rule file.
     * @default { operator: false, resourceLabels: {} }
     */
    readonly prometheus?: { readonly operator: boolean; readonly resourceLabels: Readonly<Record<string, string>> };
}

/** The label of ConfigMaps that hold a model's rule file, for a Prometheus outside the operator. */
export const ALERT_RULES_LABEL = "mlops.dev/prometheus-rules";
/** The key of the rule file in those ConfigMaps. */
export const ALERT_RULES_FILE = "rules.yaml";

export const MODEL_SERVING_DEFAULTS = {
    startupTimeoutSeconds: 900,
    targetCpuUtilizationPercent: 70,
    usernameKey: "username",
    passwordKey: "password",
    ingressClassName: DEFAULT_INGRESS_CLASS,
    gpu: GPU_PLACEMENT_DEFAULTS,
    prometheus: { operator: false, resourceLabels: {} },
} as const;

/** A model's name: a DNS-1035 label of at most 40 characters, so that `<name>-primary-<hash>-<id>` pod names stay valid. */
export const MODEL_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;

/** A cluster a model is fanned out to: a directory, a label value and part of the generated Application's name. */
const FAN_OUT_CLUSTER = /^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$/;

/** The Argo CD Application of a model in a stack. */
export function applicationName(stack: string, model: string): string {
    return `${stack}-${model}`;
}

/** Every problem of the plain args, each naming the arg path and its value; nothing is created. */
export function validateModelServingArgs(name: string, args: ModelServingArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    const { model, flagger } = args;
    if (!K8S_NAME.test(name)) problem("", `must be a Kubernetes name (it prefixes the names of the component's children), got ${show(name)}`);
    if (!MODEL_NAME.test(model.name))
        problem("model.name", `must be lower-case letters, digits and "-", starting with a letter, at most 40 characters, got ${show(model.name)}`);
    const provider = flagger.meshProvider;
    if (!isServingProvider(provider)) {
        problem(
            "flagger.meshProvider",
            `must be one of ${quotedList(SERVING_PROVIDERS)} (the providers whose routing ModelServing sets up), got ${show(provider)}`,
        );
    } else {
        if (GATEWAY_PROVIDERS.includes(provider) && args.ingress.gateway === undefined) {
            problem(
                "ingress.gateway",
                `is required with the provider "${provider}" (the Gateway that serves ${model.name}.${args.ingress.domain}), got nothing`,
            );
        }
        if (provider === "nginx" && args.ingress.gateway !== undefined) {
            problem(
                "ingress.gateway",
                `applies only to a Gateway provider (${quotedList(GATEWAY_PROVIDERS)}); with "nginx" the host is served by an Ingress, got ${show(args.ingress.gateway)}`,
            );
        }
        problems.push(...canaryProblems(model.canary, provider).map((p) => ({ ...p, arg: `model.${p.arg}` })));
        if (model.monitoring !== undefined) problems.push(...monitoringProblems(model.monitoring).map((p) => ({ ...p, arg: `model.${p.arg}` })));
        if (model.experiment !== undefined) {
            problems.push(
                ...experimentProblems(model.experiment, model.version, provider, args.ingress.domain, model.name).map((p) => ({
                    ...p,
                    arg: p.arg === "" ? "model.experiment" : `model.experiment.${p.arg}`,
                })),
            );
        }
    }
    const gateway = args.ingress.gateway;
    if (gateway !== undefined) {
        if (!K8S_NAME.test(gateway.name)) problem("ingress.gateway.name", `must be the name of a Gateway, got ${show(gateway.name)}`);
        if (!K8S_NAME.test(gateway.namespace)) problem("ingress.gateway.namespace", `must be a namespace name, got ${show(gateway.namespace)}`);
    }
    if (!DNS_NAME.test(`${model.name}.${args.ingress.domain}`))
        problem("ingress.domain", `must be a DNS name under which ${model.name}.<domain> is a host, got ${show(args.ingress.domain)}`);
    if (args.ingress.className !== undefined && !K8S_NAME.test(args.ingress.className))
        problem("ingress.className", `must be the name of an IngressClass, got ${show(args.ingress.className)}`);
    if (model.replicas.max < model.replicas.min)
        problem("model.replicas.max", `must be at least the minimum (${model.replicas.min}), got ${model.replicas.max}`);
    const { cpu, cpuLimit } = model.resources;
    if (cpuLimit !== undefined && (parseQuantity(cpuLimit) ?? 0) < (parseQuantity(cpu) ?? 0)) {
        problem("model.resources.cpuLimit", `must be at least the CPU request (${cpu}), got ${show(cpuLimit)}`);
    }
    if (model.image !== undefined && !isPinnedImage(model.image))
        problem("model.image", `must be pinned to a tag other than "latest" or to a digest, got ${show(model.image)}`);
    if (args.telemetryImage !== undefined && !isPinnedImage(args.telemetryImage))
        problem("telemetryImage", `must be pinned to a tag other than "latest" or to a digest, got ${show(args.telemetryImage)}`);
    if (model.outputs !== undefined && !MODEL_OUTPUTS.includes(model.outputs))
        problem("model.outputs", `must be one of ${quotedList(MODEL_OUTPUTS)}, got ${show(model.outputs)}`);
    if (model.outputs === "labels") {
        // A model that answers labels publishes no confidence: a check on it would never find a value.
        const why = 'cannot be checked: the model answers labels (outputs "labels"), so no prediction confidence is published';
        if (model.canary?.quality?.minConfidence !== undefined)
            problem("model.canary.quality.minConfidence", `${why}, got ${model.canary.quality.minConfidence}`);
        if (model.monitoring?.confidence !== undefined) problem("model.monitoring.confidence", `${why}, got ${show(model.monitoring.confidence)}`);
    }
    if (!K8S_NAME.test(args.environment)) problem("environment", `must be a label value such as "production", got ${show(args.environment)}`);
    const startup = args.startupTimeoutSeconds;
    if (startup !== undefined && (!Number.isInteger(startup) || startup < 60)) problem("startupTimeoutSeconds", `must be an integer ≥ 60, got ${startup}`);
    const cpuTarget = args.targetCpuUtilizationPercent;
    if (cpuTarget !== undefined && (!Number.isInteger(cpuTarget) || cpuTarget < 1 || cpuTarget > 100)) {
        problem("targetCpuUtilizationPercent", `must be an integer from 1 to 100, got ${cpuTarget}`);
    }
    if (args.delivery.mode === "gitops") {
        const app = applicationName(args.stack, model.name);
        if (!K8S_NAME.test(app))
            problem("stack", `${show(args.stack)} makes the Argo CD Application name "${app}", which is not a DNS label of at most 63 characters`);
        const cluster = args.delivery.fanOutCluster;
        if (cluster !== undefined && !FAN_OUT_CLUSTER.test(cluster))
            problem("delivery.fanOutCluster", `must be a DNS label of at most 20 characters (a directory and a label value), got ${show(cluster)}`);
        const deliveryPath = args.delivery.path;
        if (deliveryPath !== undefined && (path.posix.isAbsolute(deliveryPath) || deliveryPath.split("/").includes(".."))) {
            problem("delivery.path", `must be a relative directory inside the repository, got "${deliveryPath}"`);
        }
    }
    return problems;
}

/**
 * One declared model, served: a ServiceAccount with read-only artifact access, the Deployment of
 * the declared registry version, its HPA and PDB, the Ingress of its host (NGINX), and the Flagger
 * Canary that rolls each new version out. With gitops delivery the same objects are rendered to
 * the delivery repository and an Argo CD Application syncs them.
 */
export class ModelServing extends pulumi.ComponentResource {
    /** The Deployment Flagger targets; the pods that serve belong to `<deploymentName>-primary`. */
    public readonly deploymentName: pulumi.Output<string>;
    public readonly canaryName: pulumi.Output<string>;
    /** `<model>.<domain>`. */
    public readonly host: string;
    /** `https://<host>`. */
    public readonly url: string;
    /** GPUs the model can hold at once: HPA max × GPUs per pod × 2 (primary and canary during an analysis), plus its challenger's HPA max × GPUs per pod. */
    public readonly gpusAtMaxScale: number;
    /** Where the YAML is written (gitops), as given to the render provider. */
    public readonly renderedDirectory: string | undefined;

    constructor(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("ModelServing", name, validateModelServingArgs(name, args));
        super("mlops:serving:ModelServing", name, {}, opts);

        // Defaults: component defaults, then the user's args.
        const { model, environment, namespace, flagger } = args;
        const provider = flagger.meshProvider as ServingProvider;
        const gpu = args.gpu ?? MODEL_SERVING_DEFAULTS.gpu;
        const canary = resolveCanary(model.canary);
        const startupSeconds = args.startupTimeoutSeconds ?? MODEL_SERVING_DEFAULTS.startupTimeoutSeconds;
        const cpuTarget = args.targetCpuUtilizationPercent ?? MODEL_SERVING_DEFAULTS.targetCpuUtilizationPercent;
        const gpusPerPod = model.resources.gpu ?? 0;
        const host = `${model.name}.${args.ingress.domain}`;
        const experiment = model.experiment === undefined ? undefined : resolveExperiment(model.experiment);
        // With an experiment its route holds the public host; Flagger's route serves the champion host
        // (modelServing/experiment.ts says why the two never share a host).
        const flaggerHost = experiment === undefined ? host : championHost(model.name, args.ingress.domain);
        const objectName = model.name;
        // Flagger fails a rollout whose canary is not ready within its progress deadline: leave the
        // startup probe its full budget and some room to schedule (a GPU node may have to be added).
        const progressDeadlineSeconds = startupSeconds + 300;

        // Objects rendered once per cluster say which: the policy pack budgets GPUs per cluster by it.
        const fanOutCluster = args.delivery.mode === "gitops" ? args.delivery.fanOutCluster : undefined;
        const clusterLabel: Record<string, string> = fanOutCluster === undefined ? {} : { [LABELS.cluster]: fanOutCluster };
        const workloadLabels = { ...modelLabels(model, environment), ...clusterLabel };
        // Supporting objects carry no version label: a promotion leaves them untouched.
        const supportLabels = { ...platformLabels(model.name, "model-server"), [LABELS.model]: model.name, [LABELS.environment]: environment, ...clusterLabel };
        const promotion = { [ANNOTATIONS.promotion]: JSON.stringify(promotionRecord(model)) };

        let renderedDirectory: string | undefined;
        let workloadOpts: pulumi.CustomResourceOptions = { parent: this };
        let delivery: { readonly spec: Record<string, unknown>; readonly argoNamespace: pulumi.Input<string> } | undefined;
        if (args.delivery.mode === "gitops") {
            const repoPath = repositoryPath(args.delivery.path ?? DELIVERY_DEFAULTS.path, args.stack, model.name, fanOutCluster);
            renderedDirectory = path.join(args.delivery.renderRoot ?? DELIVERY_DEFAULTS.renderRoot, repoPath);
            const render = new k8s.Provider(`${name}-render`, { renderYamlToDirectory: renderedDirectory }, { parent: this });
            workloadOpts = { parent: this, provider: render };
            delivery = {
                argoNamespace: args.delivery.argoNamespace ?? DELIVERY_DEFAULTS.argoNamespace,
                spec: applicationSpec({
                    project: args.delivery.project,
                    repoUrl: args.delivery.repoUrl,
                    targetRevision: args.delivery.targetRevision ?? DELIVERY_DEFAULTS.targetRevision,
                    path: repoPath,
                    namespace,
                    ...(args.delivery.destination !== undefined && { destination: args.delivery.destination }),
                }),
            };
        }

        const serviceAccount = new k8s.core.v1.ServiceAccount(
            `${name}-sa`,
            {
                metadata: {
                    name: objectName,
                    namespace,
                    labels: supportLabels,
                    ...(args.artifactReaderRoleArn !== undefined && { annotations: { "eks.amazonaws.com/role-arn": args.artifactReaderRoleArn } }),
                },
                automountServiceAccountToken: false,
            },
            workloadOpts,
        );

        // The telemetry's code, referenced by the pods: Flagger tracks it (a change rolls out as a
        // canary) and gives the primary its own copy, `<name>-primary`, updated only on promotion.
        const telemetryCode = new k8s.core.v1.ConfigMap(
            `${name}-telemetry`,
            { metadata: { name: telemetryConfigMapName(objectName), namespace, labels: supportLabels }, data: telemetryPackageFiles() },
            workloadOpts,
        );

        const telemetryImage = args.telemetryImage ?? MLFLOW_IMAGE;
        const trackingCredentials =
            args.trackingCredentials === undefined
                ? undefined
                : {
                      secretName: args.trackingCredentials.secretName,
                      usernameKey: args.trackingCredentials.usernameKey ?? MODEL_SERVING_DEFAULTS.usernameKey,
                      passwordKey: args.trackingCredentials.passwordKey ?? MODEL_SERVING_DEFAULTS.passwordKey,
                  };
        const pod = {
            image: model.image ?? MLFLOW_IMAGE,
            trackingUri: args.trackingUri,
            serviceAccountName: serviceAccount.metadata.name,
            gpu,
            startupSeconds,
            ...(trackingCredentials !== undefined && { trackingCredentials }),
        };

        const deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: { name: objectName, namespace, labels: workloadLabels, annotations: promotion },
                spec: {
                    // No `replicas`: the HPA sizes this Deployment, and once Flagger has bootstrapped it
                    // scales it to zero between analyses and serves from `<name>-primary`. A replica
                    // count here would fight both on every update.
                    selector: { matchLabels: selectorLabels(model.name) },
                    progressDeadlineSeconds,
                    strategy: rollingUpdate(gpusPerPod),
                    template: {
                        metadata: { labels: workloadLabels, annotations: scrapeAnnotations() },
                        spec: podSpec({ ...pod, model, telemetry: { image: telemetryImage, configMapName: telemetryCode.metadata.name } }),
                    },
                },
            },
            workloadOpts,
        );

        const hpa = new k8s.autoscaling.v2.HorizontalPodAutoscaler(
            `${name}-hpa`,
            {
                metadata: { name: objectName, namespace, labels: workloadLabels },
                spec: {
                    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
                    minReplicas: model.replicas.min,
                    maxReplicas: model.replicas.max,
                    metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: cpuTarget } } }],
                },
            },
            workloadOpts,
        );

        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            {
                metadata: { name: objectName, namespace, labels: workloadLabels },
                spec: {
                    // The pods that serve are the primary's: Flagger copies the template with the first
                    // of its selector labels (app, name, app.kubernetes.io/name) set to
                    // `<value>-primary` (fluxcd/flagger pkg/canary/deployment_controller.go).
                    selector: { matchLabels: { [LABELS.name]: `${model.name}-primary` } },
                    maxUnavailable: 1,
                    unhealthyPodEvictionPolicy: "AlwaysAllow",
                },
            },
            workloadOpts,
        );

        // How the host reaches the Services Flagger creates: NGINX through an Ingress Flagger clones,
        // Istio and Gateway API through routes Flagger writes for the given Gateway.
        let ingressRef: Record<string, unknown> | undefined;
        let serviceRouting: Record<string, unknown> = {};
        if (provider === "nginx") {
            const ingress = new k8s.networking.v1.Ingress(
                `${name}-ingress`,
                {
                    metadata: {
                        name: objectName,
                        namespace,
                        labels: supportLabels,
                        ...(args.ingress.clusterIssuer !== undefined && { annotations: { [CLUSTER_ISSUER_ANNOTATION]: args.ingress.clusterIssuer } }),
                    },
                    spec: {
                        ingressClassName: args.ingress.className ?? MODEL_SERVING_DEFAULTS.ingressClassName,
                        tls: [{ hosts: [host], secretName: `${model.name}-tls` }],
                        // Flagger's NGINX router needs a backend named after the apex Service (`<svc>`,
                        // which it creates) and clones this Ingress as `<name>-canary`.
                        rules: [
                            {
                                host,
                                http: {
                                    paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: objectName, port: { number: SERVICE_PORT } } } }],
                                },
                            },
                        ],
                    },
                },
                workloadOpts,
            );
            ingressRef = { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: ingress.metadata.name };
        } else {
            const gateway = args.ingress.gateway as GatewayRef;
            serviceRouting =
                provider === "istio"
                    ? { gateways: [`${gateway.namespace}/${gateway.name}`, "mesh"], hosts: [flaggerHost] }
                    : { gatewayRefs: [{ name: gateway.name, namespace: gateway.namespace }], hosts: [flaggerHost] };
            if (experiment !== undefined) {
                const inputs = { model: model.name, namespace, host, gateway, experiment, labels: supportLabels };
                const route =
                    provider === "istio"
                        ? istioExperimentRoute(inputs)
                        : gatewayExperimentRoute({ ...inputs, apiVersion: `gateway.networking.k8s.io/${provider === "gatewayapi:v1" ? "v1" : "v1beta1"}` });
                new k8s.apiextensions.CustomResource(`${name}-experiment-route`, route, workloadOpts);
                createChallenger(
                    {
                        name,
                        model,
                        experiment,
                        environment,
                        namespace,
                        clusterLabel,
                        supportLabels,
                        pod: { ...pod, telemetryImage },
                        progressDeadlineSeconds,
                        cpuTarget,
                    },
                    workloadOpts,
                );
            }
        }

        const analysis = pulumi
            .output({ ns: namespace, loadTesterUrl: flagger.loadTesterUrl, metricTemplates: flagger.metricTemplates, alertProvider: flagger.alertProvider })
            .apply(({ ns, loadTesterUrl, metricTemplates, alertProvider }) =>
                canaryAnalysis(canary, {
                    provider,
                    loadTesterUrl,
                    canaryServiceUrl: `http://${model.name}-canary.${ns}:${SERVICE_PORT}`,
                    canaryTelemetryUrl: `http://${model.name}-canary.${ns}:${TELEMETRY_PORT}`,
                    // The host Flagger routes: the load test of an edge-measured provider must reach its canary.
                    publicUrl: `https://${flaggerHost}`,
                    metricTemplates,
                    alertProvider,
                }),
            );
        const canaryResource = new k8s.apiextensions.CustomResource(
            `${name}-canary`,
            {
                apiVersion: "flagger.app/v1beta1",
                kind: "Canary",
                metadata: { name: objectName, namespace, labels: workloadLabels, annotations: promotion },
                spec: {
                    provider,
                    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
                    autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: hpa.metadata.name },
                    ...(ingressRef !== undefined && { ingressRef }),
                    progressDeadlineSeconds,
                    // Flagger creates `<name>`, `<name>-primary` and `<name>-canary` from this; port
                    // discovery adds the pods' other port (`telemetry`) to them, which the evaluation
                    // replay reaches through `<name>-canary`.
                    service: { name: objectName, port: SERVICE_PORT, targetPort: PROXY_PORT, portDiscovery: true, ...serviceRouting },
                    analysis,
                },
            },
            workloadOpts,
        );

        // What watches the version after its rollout: its alerting rules, for the cluster's Prometheus
        // (a PrometheusRule the operator loads, or a rule file in a ConfigMap for any other Prometheus).
        const monitoring = model.monitoring ?? MONITORING_DEFAULTS;
        // A standing experiment's challenger gets its own group, at warning level only (monitoring.ts says why).
        const rules = pulumi.output(namespace).apply((ns) => {
            const champion = alertingRules({ namespace: ns, model: model.name, version: model.version }, environment, monitoring);
            if (experiment === undefined) return champion;
            const challenger = alertingRules(
                { namespace: ns, model: model.name, version: experiment.challengerVersion },
                environment,
                monitoring,
                "challenger",
            );
            return { groups: [...champion.groups, ...challenger.groups] };
        });
        const prometheus = args.prometheus ?? MODEL_SERVING_DEFAULTS.prometheus;
        if (prometheus.operator) {
            new k8s.apiextensions.CustomResource(
                `${name}-pod-monitor`,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "PodMonitor",
                    metadata: { name: objectName, namespace, labels: { ...supportLabels, ...prometheus.resourceLabels } },
                    spec: podMonitorSpec(model.name),
                },
                workloadOpts,
            );
            new k8s.apiextensions.CustomResource(
                `${name}-alert-rules`,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "PrometheusRule",
                    metadata: { name: objectName, namespace, labels: { ...workloadLabels, ...prometheus.resourceLabels } },
                    spec: rules,
                },
                workloadOpts,
            );
        } else {
            new k8s.core.v1.ConfigMap(
                `${name}-alert-rules`,
                {
                    metadata: { name: `${objectName}-alert-rules`, namespace, labels: { ...workloadLabels, [ALERT_RULES_LABEL]: "true" } },
                    data: { [ALERT_RULES_FILE]: rules.apply((r) => stringify(r)) },
                },
                workloadOpts,
            );
        }

        if (delivery !== undefined && fanOutCluster === undefined) {
            // Through the component's own (cluster) provider: Argo CD must see it, not the YAML.
            new k8s.apiextensions.CustomResource(
                `${name}-application`,
                {
                    apiVersion: "argoproj.io/v1alpha1",
                    kind: "Application",
                    metadata: {
                        name: applicationName(args.stack, model.name),
                        namespace: delivery.argoNamespace,
                        labels: { ...platformLabels(model.name, "model-delivery"), [LABELS.model]: model.name, [LABELS.environment]: environment },
                        // Deleting the Application (a model removed from the stack) deletes its workloads.
                        finalizers: ["resources-finalizer.argocd.argoproj.io"],
                    },
                    spec: delivery.spec,
                },
                { parent: this },
            );
        }

        this.deploymentName = deployment.metadata.name;
        this.canaryName = canaryResource.metadata.name;
        this.host = host;
        this.url = `https://${host}`;
        // A challenger has no Canary: its HPA's maximum (the champion's bounds) counts once.
        this.gpusAtMaxScale =
            modelGpusAtMaxScale(model.replicas.max, gpusPerPod) + (experiment !== undefined ? modelGpusAtMaxScale(model.replicas.max, gpusPerPod, false) : 0);
        this.renderedDirectory = renderedDirectory;
        this.registerOutputs({
            deploymentName: this.deploymentName,
            canaryName: this.canaryName,
            host: this.host,
            url: this.url,
            gpusAtMaxScale: this.gpusAtMaxScale,
            renderedDirectory: this.renderedDirectory,
        });
    }
}
