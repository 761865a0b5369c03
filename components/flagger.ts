import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type MeshProvider, MESH_PROVIDERS, ALERT_PROVIDER_TYPES, type PlatformConfig } from "../stacks";
import { platformLabels } from "./labels";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext } from "./security";

/** Flagger's chart; the CRD schemas in shared/schemas/flagger-crd.yaml are this release's. */
export const FLAGGER_CHART = { chart: "flagger", repo: "https://flagger.app", version: "1.44.0" } as const;

/** The load tester chart as it stands at Flagger's v1.44.0 tag (charts/loadtester, image 0.38.0). */
export const LOADTESTER_CHART = { chart: "loadtester", repo: "https://flagger.app", version: "0.38.0" } as const;

/**
 * The contract between the model-monitoring side (which publishes these series) and the Canary
 * analysis (which reads them through the MetricTemplates below). MLflow's scoring server exports no
 * Prometheus metrics, so whatever evaluates a model's live predictions publishes these gauges, one
 * series per serving pod, each labelled with:
 *  - `namespace`: the namespace of the serving pod,
 *  - `pod`: the serving pod's name (Flagger's canary pods are `<target>-<hash>-<id>`, the primary's
 *    `<target>-primary-<hash>-<id>`, which is how a query tells them apart),
 *  - `model`, `model_version`: the `mlops.dev/model` and `mlops.dev/model-version` labels of the pod.
 * Each query averages (or, for drift, takes the worst of) the canary pods over the analysis interval.
 */
export const MODEL_QUALITY_METRICS = {
    accuracy: {
        metric: "mlops_model_accuracy",
        description: "Online accuracy of the pod's predictions against labelled feedback, 0..1 (gauge).",
        aggregation: "avg",
        check: "thresholdRange.min (canary.quality.minAccuracy)",
    },
    driftScore: {
        metric: "mlops_feature_drift_score",
        description: "Drift of the pod's input features from the training distribution, 0 (none) ..1 (gauge).",
        aggregation: "max",
        check: "thresholdRange.max (canary.quality.maxDriftScore)",
    },
    confidence: {
        metric: "mlops_prediction_confidence",
        description: "Mean confidence of the pod's predictions, 0..1 (gauge).",
        aggregation: "avg",
        check: "thresholdRange.min (canary.quality.minConfidence)",
    },
} as const;
export type ModelQualityMetric = keyof typeof MODEL_QUALITY_METRICS;

/** Flagger's selector of a canary's pods (the one its built-in Prometheus checks use): excludes the primary. */
export const CANARY_POD_SELECTOR = 'namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"';

/** The PromQL of a model-quality MetricTemplate, with Flagger's template variables left for Flagger. */
export function modelQualityQuery(which: ModelQualityMetric): string {
    const { metric, aggregation } = MODEL_QUALITY_METRICS[which];
    return `${aggregation}(${aggregation}_over_time(${metric}{${CANARY_POD_SELECTOR}}[{{ interval }}]))`;
}

/** A Flagger object another component references by name. */
export interface FlaggerRef {
    readonly name: string;
    readonly namespace: string;
}

export type FlaggerAlerts = NonNullable<PlatformConfig["flagger"]["alerts"]>;

export interface FlaggerArgs {
    /** Service mesh or ingress controller Flagger shifts traffic with. */
    readonly meshProvider: MeshProvider;
    /**
     * Prometheus holding the request and model metrics.
     * @default - Flagger's bundled Prometheus is installed (`prometheus.install`) and used
     */
    readonly metricsServer?: string;
    /** Namespace of the model workloads (it exists already): the load tester and MetricTemplates live there. */
    readonly workloadNamespace: string;
    /**
     * Where Flagger reports canary progress: an AlertProvider reading the webhook address from the
     * `address` key of a Secret in the workload namespace.
     * @default - no AlertProvider
     */
    readonly alerts?: FlaggerAlerts;
    /**
     * flagger chart version.
     * @default FLAGGER_CHART.version ("1.44.0")
     */
    readonly chartVersion?: string;
    /**
     * loadtester chart version.
     * @default LOADTESTER_CHART.version ("0.38.0")
     */
    readonly loadTesterChartVersion?: string;
}

/** The args a stack's configuration implies; the workload namespace is the integrator's. */
export function flaggerArgsFromConfig(config: PlatformConfig, from: { readonly workloadNamespace: string }): FlaggerArgs {
    return {
        meshProvider: config.flagger.meshProvider,
        ...(config.flagger.metricsServer !== undefined && { metricsServer: config.flagger.metricsServer }),
        workloadNamespace: from.workloadNamespace,
        ...(config.flagger.alerts !== undefined && { alerts: config.flagger.alerts }),
    };
}

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const EXACT_VERSION = /^\d+\.\d+\.\d+$/;

/** Throws for the first plain arg that cannot work; messages name the component, the arg and its value. */
export function validateFlaggerArgs(name: string, args: FlaggerArgs): void {
    const fail = (message: string): never => {
        throw new Error(`Flagger "${name}": ${message}`);
    };
    if (!(MESH_PROVIDERS as readonly string[]).includes(args.meshProvider)) {
        fail(`meshProvider must be one of ${MESH_PROVIDERS.join(", ")}, got ${JSON.stringify(args.meshProvider)}`);
    }
    if (args.metricsServer !== undefined && !/^https?:\/\/[^\s/]+/.test(args.metricsServer)) {
        fail(`metricsServer must be an http(s) URL of a Prometheus server, got ${JSON.stringify(args.metricsServer)}`);
    }
    if (!K8S_NAME.test(args.workloadNamespace)) fail(`workloadNamespace must be a namespace name, got ${JSON.stringify(args.workloadNamespace)}`);
    if (args.chartVersion !== undefined && !EXACT_VERSION.test(args.chartVersion)) {
        fail(`chartVersion must be an exact chart version such as "${FLAGGER_CHART.version}", got ${JSON.stringify(args.chartVersion)}`);
    }
    if (args.loadTesterChartVersion !== undefined && !EXACT_VERSION.test(args.loadTesterChartVersion)) {
        fail(`loadTesterChartVersion must be an exact chart version such as "${LOADTESTER_CHART.version}", got ${JSON.stringify(args.loadTesterChartVersion)}`);
    }
    if (args.alerts !== undefined) {
        if (!(ALERT_PROVIDER_TYPES as readonly string[]).includes(args.alerts.type)) {
            fail(`alerts.type must be one of ${ALERT_PROVIDER_TYPES.join(", ")}, got ${JSON.stringify(args.alerts.type)}`);
        }
        if (!K8S_NAME.test(args.alerts.secretName)) fail(`alerts.secretName must be the name of a Secret, got ${JSON.stringify(args.alerts.secretName)}`);
    }
}

/**
 * Flagger's images name their user (`USER flagger`, `USER app`: Alpine system users, uid 100) and
 * prom/prometheus runs as `nobody` (65534); runAsNonRoot cannot check a name, so the uid is given.
 */
const restrictedAs = (uid: number) => ({ ...restrictedContainerSecurityContext(), runAsUser: uid });

/** Helm values of the flagger chart. */
export function flaggerValues(name: string, args: FlaggerArgs): Record<string, unknown> {
    return {
        fullnameOverride: name,
        meshProvider: args.meshProvider,
        // Helm 3 installs the chart's crds/ directory itself (the Release does not skip CRDs);
        // crd.create would template the same CRDs a second time.
        crd: { create: false },
        // Only the workload namespace's Canaries are this Flagger's, so two platforms in one cluster
        // never act on each other's canaries.
        namespace: args.workloadNamespace,
        securityContext: { enabled: true, context: restrictedAs(10001) },
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "512Mi" } },
        ...(args.metricsServer !== undefined
            ? { metricsServer: args.metricsServer, prometheus: { install: false } }
            : { prometheus: { install: true, securityContext: { enabled: true, context: restrictedAs(65534) } } }),
    };
}

/** Helm values of the loadtester chart. */
export function loadTesterValues(fullname: string): Record<string, unknown> {
    return {
        fullnameOverride: fullname,
        securityContext: { enabled: true, context: restrictedAs(100) },
        resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    };
}

/** Where Flagger reaches Prometheus: the configured server, or the bundled one (`<fullname>-prometheus:9090`). */
export function metricsAddress(name: string, args: Pick<FlaggerArgs, "metricsServer">): string {
    return args.metricsServer ?? `http://${name}-prometheus.${name}:9090`;
}

/**
 * Flagger and its load tester, plus the MetricTemplates every model's Canary shares and, when
 * configured, an AlertProvider.
 */
export class Flagger extends pulumi.ComponentResource {
    /** Flagger's own namespace. */
    public readonly namespace: string;
    public readonly meshProvider: MeshProvider;
    /** What Canary webhooks call, e.g. `http://flagger-loadtester.models/`. */
    public readonly loadTesterUrl: string;
    public readonly metricTemplates: { readonly accuracy: FlaggerRef; readonly driftScore: FlaggerRef; readonly confidence: FlaggerRef };
    public readonly alertProvider: FlaggerRef | undefined;

    constructor(name: string, args: FlaggerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlops:delivery:Flagger", name, {}, opts);
        validateFlaggerArgs(name, args);

        const labels = platformLabels(name, "progressive-delivery");
        // The chart's containers run with the restricted contexts set in flaggerValues.
        const namespace = new k8s.core.v1.Namespace(
            `${name}-ns`,
            { metadata: { name, labels: { ...labels, ...RESTRICTED_NAMESPACE_LABELS } } },
            { parent: this },
        );
        const release = new k8s.helm.v3.Release(
            name,
            {
                name,
                chart: FLAGGER_CHART.chart,
                version: args.chartVersion ?? FLAGGER_CHART.version,
                repositoryOpts: { repo: FLAGGER_CHART.repo },
                namespace: namespace.metadata.name,
                createNamespace: false,
                skipCrds: false,
                atomic: true,
                cleanupOnFail: true,
                values: flaggerValues(name, args),
            },
            { parent: this },
        );

        // The workload namespace belongs to the integrator; what this component puts there waits for
        // whatever this component was told to wait for (a component's dependsOn does not reach its children).
        const inWorkloadNamespace = (...more: pulumi.Resource[]): pulumi.Input<pulumi.Input<pulumi.Resource>[]> =>
            pulumi.output(opts?.dependsOn ?? []).apply((deps) => [...(Array.isArray(deps) ? deps : [deps]), ...more]);
        const workloadNamespace = args.workloadNamespace;

        const loadTesterName = `${name}-loadtester`;
        new k8s.helm.v3.Release(
            loadTesterName,
            {
                name: loadTesterName,
                chart: LOADTESTER_CHART.chart,
                version: args.loadTesterChartVersion ?? LOADTESTER_CHART.version,
                repositoryOpts: { repo: LOADTESTER_CHART.repo },
                namespace: workloadNamespace,
                createNamespace: false,
                atomic: true,
                cleanupOnFail: true,
                values: loadTesterValues(loadTesterName),
            },
            { parent: this, dependsOn: inWorkloadNamespace() },
        );

        const address = metricsAddress(name, args);
        const metricTemplate = (which: ModelQualityMetric, suffix: string): FlaggerRef => {
            const ref = { name: `${name}-${suffix}`, namespace: workloadNamespace };
            new k8s.apiextensions.CustomResource(
                `${name}-${suffix}`,
                {
                    apiVersion: "flagger.app/v1beta1",
                    kind: "MetricTemplate",
                    metadata: { ...ref, labels },
                    spec: { provider: { type: "prometheus", address }, query: modelQualityQuery(which) },
                },
                { parent: this, dependsOn: inWorkloadNamespace(release) },
            );
            return ref;
        };
        const metricTemplates = {
            accuracy: metricTemplate("accuracy", "model-accuracy"),
            driftScore: metricTemplate("driftScore", "model-drift-score"),
            confidence: metricTemplate("confidence", "model-confidence"),
        };

        let alertProvider: FlaggerRef | undefined;
        if (args.alerts !== undefined) {
            alertProvider = { name: `${name}-${args.alerts.type}`, namespace: workloadNamespace };
            new k8s.apiextensions.CustomResource(
                `${name}-alerts`,
                {
                    apiVersion: "flagger.app/v1beta1",
                    kind: "AlertProvider",
                    metadata: { ...alertProvider, labels },
                    // The webhook URL stays in the Secret (key `address`); the CRD takes either an
                    // address or a secretRef, never both.
                    spec: {
                        type: args.alerts.type,
                        ...(args.alerts.channel !== undefined && { channel: args.alerts.channel }),
                        username: "flagger",
                        secretRef: { name: args.alerts.secretName },
                    },
                },
                { parent: this, dependsOn: inWorkloadNamespace(release) },
            );
        }

        this.namespace = name;
        this.meshProvider = args.meshProvider;
        this.loadTesterUrl = `http://${loadTesterName}.${workloadNamespace}/`;
        this.metricTemplates = metricTemplates;
        this.alertProvider = alertProvider;
        this.registerOutputs({
            namespace: this.namespace,
            meshProvider: this.meshProvider,
            loadTesterUrl: this.loadTesterUrl,
            metricTemplates: this.metricTemplates,
            alertProvider: this.alertProvider,
        });
    }
}
