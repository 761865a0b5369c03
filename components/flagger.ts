import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { chartImage, definedOnly, imageProblems } from "./images";
import { loadKubernetesYaml } from "./kubernetesYaml";
import { platformLabels } from "./labels";
import { EXACT_CHART_VERSION, HTTP_URL, K8S_NAME } from "./names";
import { RESTRICTED_NAMESPACE_LABELS, restrictedContainerSecurityContext } from "./security";
import { type ArgProblem, assertValidArgs, show } from "./validation";

/** Flagger's chart; `FLAGGER_CRD` is this release's CRD file. */
export const FLAGGER_CHART = { chart: "flagger", repo: "https://flagger.app", version: "1.44.0" } as const;

/** The load tester chart as it stands at Flagger's v1.44.0 tag (charts/loadtester, image 0.38.0). */
export const LOADTESTER_CHART = { chart: "loadtester", repo: "https://flagger.app", version: "0.38.0" } as const;

/**
 * The images of the flagger 1.44.0 and loadtester 0.38.0 charts (their values.yaml: `image`, and
 * flagger's `prometheus.image` for the bundled Prometheus). Set explicitly, so that a stack can pin
 * each by digest and the policy pack can see each.
 */
export const FLAGGER_IMAGES = {
    flagger: "ghcr.io/fluxcd/flagger:1.44.0",
    prometheus: "docker.io/prom/prometheus:v2.41.0",
    loadTester: "ghcr.io/fluxcd/flagger-loadtester:0.38.0",
} as const;
export type FlaggerImages = { readonly [K in keyof typeof FLAGGER_IMAGES]?: string };

/**
 * Flagger's CustomResourceDefinitions, pinned in the repository (see components/flagger/README.md):
 * upstream's `artifacts/flagger/crd.yaml` at the chart's tag, byte for byte.
 */
export const FLAGGER_CRD = {
    file: path.join(__dirname, "flagger", "crd.yaml"),
    tag: "v1.44.0",
    sha256: "8d7ad05c2d1d242c0cd4c25c5fb3ad0f75f10706da588aeeb950fe2858134630",
} as const;

/** The providers Flagger's Canary accepts (`spec.provider` in FLAGGER_CRD), with its `gatewayapi:` versions. */
export const FLAGGER_MESH_PROVIDERS = [
    "nginx",
    "istio",
    "linkerd",
    "contour",
    "gloo",
    "skipper",
    "traefik",
    "apisix",
    "kuma",
    "osm",
    "appmesh",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
] as const;
export type MeshProvider = (typeof FLAGGER_MESH_PROVIDERS)[number];

/** Chat services Flagger's AlertProvider posts to. */
export const ALERT_PROVIDER_TYPES = ["slack", "msteams", "discord", "rocket", "gchat"] as const;
export type AlertProviderType = (typeof ALERT_PROVIDER_TYPES)[number];

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

/** A Flagger object (MetricTemplate, AlertProvider) that another component references by name. */
export interface FlaggerRef {
    readonly name: string;
    readonly namespace: pulumi.Input<string>;
}

/** Where Flagger reports canary progress: an AlertProvider reading the webhook URL from a Secret. */
export interface FlaggerAlerts {
    /** Chat service Flagger posts to. */
    readonly type: AlertProviderType;
    /** @default - the webhook's own channel */
    readonly channel?: string;
    /** Secret in the workload namespace with an `address` key (the webhook URL). */
    readonly secretName: string;
}

export interface FlaggerArgs {
    /**
     * Service mesh or ingress controller Flagger shifts traffic with.
     * @default FLAGGER_DEFAULTS.meshProvider ("nginx")
     */
    readonly meshProvider?: MeshProvider;
    /**
     * Prometheus holding the request and model metrics.
     * @default - Flagger's bundled Prometheus is installed (`prometheus.install`) and used
     */
    readonly metricsServer?: string;
    /** Namespace of the model workloads (it exists already): the load tester and MetricTemplates live there. */
    readonly workloadNamespace: pulumi.Input<string>;
    /**
     * Where Flagger reports canary progress.
     * @default - no AlertProvider
     */
    readonly alerts?: FlaggerAlerts;
    /**
     * flagger chart version.
     * @default FLAGGER_CHART.version ("1.44.0")
     */
    readonly chartVersion?: string;
    /**
     * Install Flagger and its load tester from their charts. Without them (a cluster that reaches no
     * chart repository, or runs its own Flagger), the CRDs and MetricTemplates are still applied, so
     * Canaries are accepted and wait for a Flagger.
     * @default true
     */
    readonly install?: boolean;
    /**
     * Apply Flagger's CRDs (from FLAGGER_CRD). CRDs are cluster-wide: when two platforms share a
     * cluster, exactly one of them manages them.
     * @default true
     */
    readonly manageCrds?: boolean;
    /**
     * loadtester chart version.
     * @default LOADTESTER_CHART.version ("0.38.0")
     */
    readonly loadTesterChartVersion?: string;
    /**
     * Images, each `repository:tag` or `repository:tag@sha256:…`.
     * @default FLAGGER_IMAGES (the charts' own)
     */
    readonly images?: FlaggerImages;
}

export const FLAGGER_DEFAULTS = {
    meshProvider: "nginx",
    install: true,
    manageCrds: true,
    chartVersion: FLAGGER_CHART.version,
    loadTesterChartVersion: LOADTESTER_CHART.version,
} as const satisfies { meshProvider: MeshProvider; install: boolean; manageCrds: boolean; chartVersion: string; loadTesterChartVersion: string };

/** The provider a Flagger built from these args routes with. */
export function meshProviderOf(args: Pick<FlaggerArgs, "meshProvider">): MeshProvider {
    return args.meshProvider ?? FLAGGER_DEFAULTS.meshProvider;
}

/** Every problem of the plain args, each naming the arg and its value. */
export function validateFlaggerArgs(name: string, args: FlaggerArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!K8S_NAME.test(name)) problem("", `must be a Kubernetes name (it names the namespace and the Helm release), got ${show(name)}`);
    if (args.meshProvider !== undefined && !(FLAGGER_MESH_PROVIDERS as readonly string[]).includes(args.meshProvider)) {
        problem("meshProvider", `must be one of ${FLAGGER_MESH_PROVIDERS.join(", ")}, got ${show(args.meshProvider)}`);
    }
    if (args.metricsServer !== undefined && !HTTP_URL.test(args.metricsServer)) {
        problem("metricsServer", `must be an http(s) URL of a Prometheus server, got ${show(args.metricsServer)}`);
    }
    if (typeof args.workloadNamespace === "string" && !K8S_NAME.test(args.workloadNamespace)) {
        problem("workloadNamespace", `must be a namespace name, got ${show(args.workloadNamespace)}`);
    }
    if (args.chartVersion !== undefined && !EXACT_CHART_VERSION.test(args.chartVersion)) {
        problem("chartVersion", `must be an exact chart version such as "${FLAGGER_CHART.version}", got ${show(args.chartVersion)}`);
    }
    if (args.loadTesterChartVersion !== undefined && !EXACT_CHART_VERSION.test(args.loadTesterChartVersion)) {
        problem("loadTesterChartVersion", `must be an exact chart version such as "${LOADTESTER_CHART.version}", got ${show(args.loadTesterChartVersion)}`);
    }
    problems.push(...imageProblems("images", args.images));
    if (args.alerts !== undefined) {
        if (!(ALERT_PROVIDER_TYPES as readonly string[]).includes(args.alerts.type)) {
            problem("alerts.type", `must be one of ${ALERT_PROVIDER_TYPES.join(", ")}, got ${show(args.alerts.type)}`);
        }
        if (!K8S_NAME.test(args.alerts.secretName)) problem("alerts.secretName", `must be the name of a Secret, got ${show(args.alerts.secretName)}`);
    }
    return problems;
}

/**
 * Flagger's images name their user (`USER flagger`, `USER app`: Alpine system users, uid 100) and
 * prom/prometheus runs as `nobody` (65534); runAsNonRoot cannot check a name, so the uid is given.
 */
const restrictedAs = (uid: number) => ({ ...restrictedContainerSecurityContext(), runAsUser: uid });

/** Helm values of the flagger chart (keys as in its 1.44.0 values.yaml). */
export function flaggerValues(name: string, args: FlaggerArgs): Record<string, unknown> {
    const images = flaggerImages(args);
    return {
        fullnameOverride: name,
        image: chartImage(images.flagger),
        meshProvider: meshProviderOf(args),
        // The CRDs are this component's own resources (from FLAGGER_CRD), applied on every `up`:
        // neither the chart's crds/ (skipCrds) nor its templated copy (crd.create) installs them.
        crd: { create: false },
        // Only the workload namespace's Canaries are this Flagger's, so two platforms in one cluster
        // never act on each other's canaries.
        namespace: args.workloadNamespace,
        securityContext: { enabled: true, context: restrictedAs(10001) },
        // Helm merges these over the chart's defaults key by key, so every key the chart sets is
        // written out: the controller's one-core ceiling is meant here, not inherited.
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "1", memory: "512Mi" } },
        ...(args.metricsServer !== undefined
            ? { metricsServer: args.metricsServer, prometheus: { install: false } }
            : { prometheus: { install: true, image: images.prometheus, securityContext: { enabled: true, context: restrictedAs(65534) } } }),
    };
}

/** Helm values of the loadtester chart. */
export function loadTesterValues(fullname: string, image: string = FLAGGER_IMAGES.loadTester): Record<string, unknown> {
    return {
        fullnameOverride: fullname,
        image: chartImage(image),
        securityContext: { enabled: true, context: restrictedAs(100) },
        resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    };
}

/** The images a Flagger built from these args runs. */
export function flaggerImages(args: Pick<FlaggerArgs, "images">): { readonly [K in keyof typeof FLAGGER_IMAGES]: string } {
    return { ...FLAGGER_IMAGES, ...definedOnly(args.images) };
}

/** Where Flagger reaches Prometheus: the configured server, or the bundled one (`<fullname>-prometheus:9090`). */
export function metricsAddress(name: string, args: Pick<FlaggerArgs, "metricsServer">): string {
    return args.metricsServer ?? `http://${name}-prometheus.${name}:9090`;
}

/** The CustomResourceDefinitions of FLAGGER_CRD, as the API server stores them. */
export function flaggerCrds(): Record<string, any>[] {
    const documents = loadKubernetesYaml(readFileSync(FLAGGER_CRD.file, "utf8"), FLAGGER_CRD.file);
    return documents.filter(
        (d): d is Record<string, any> => typeof d === "object" && d !== null && (d as { kind?: unknown }).kind === "CustomResourceDefinition",
    );
}

/**
 * Flagger and its load tester, Flagger's CRDs, the MetricTemplates every model's Canary shares and,
 * when configured, an AlertProvider.
 */
export class Flagger extends pulumi.ComponentResource {
    /** Flagger's own namespace. */
    public readonly namespace: string;
    public readonly meshProvider: MeshProvider;
    /** What Canary webhooks call, e.g. `http://flagger-loadtester.models/`. */
    public readonly loadTesterUrl: pulumi.Output<string>;
    public readonly metricTemplates: { readonly accuracy: FlaggerRef; readonly driftScore: FlaggerRef; readonly confidence: FlaggerRef };
    public readonly alertProvider: FlaggerRef | undefined;

    constructor(name: string, args: FlaggerArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("Flagger", name, validateFlaggerArgs(name, args));
        super("mlops:delivery:Flagger", name, {}, opts);

        const meshProvider = meshProviderOf(args);
        const labels = platformLabels(name, "progressive-delivery");

        // Helm installs a chart's crds/ on first install only: applied here, the CRDs follow the
        // pinned file on every `pulumi up`, so a chart upgrade never leaves old schemas behind.
        const manageCrds = args.manageCrds ?? FLAGGER_DEFAULTS.manageCrds;
        const crds = (manageCrds ? flaggerCrds() : []).map(
            (crd) =>
                new k8s.apiextensions.v1.CustomResourceDefinition(
                    `${name}-crd-${String(crd["metadata"].name)}`,
                    {
                        ...crd,
                        metadata: { ...crd["metadata"], labels: { ...crd["metadata"].labels, ...labels } },
                    } as k8s.apiextensions.v1.CustomResourceDefinitionArgs,
                    { parent: this },
                ),
        );

        // The workload namespace belongs to the integrator; what this component puts there waits for
        // whatever this component was told to wait for (a component's dependsOn does not reach its children).
        const inWorkloadNamespace = (...more: pulumi.Resource[]): pulumi.Input<pulumi.Input<pulumi.Resource>[]> =>
            pulumi.output(opts?.dependsOn ?? []).apply((deps) => [...(Array.isArray(deps) ? deps : [deps]), ...more]);
        const workloadNamespace = args.workloadNamespace;

        const loadTesterName = `${name}-loadtester`;
        if (args.install ?? FLAGGER_DEFAULTS.install) {
            // The chart's containers run with the restricted contexts set in flaggerValues.
            const namespace = new k8s.core.v1.Namespace(
                `${name}-ns`,
                { metadata: { name, labels: { ...labels, ...RESTRICTED_NAMESPACE_LABELS } } },
                { parent: this },
            );
            new k8s.helm.v3.Release(
                name,
                {
                    name,
                    chart: FLAGGER_CHART.chart,
                    version: args.chartVersion ?? FLAGGER_DEFAULTS.chartVersion,
                    repositoryOpts: { repo: FLAGGER_CHART.repo },
                    namespace: namespace.metadata.name,
                    createNamespace: false,
                    skipCrds: true,
                    atomic: true,
                    cleanupOnFail: true,
                    values: flaggerValues(name, args),
                },
                { parent: this, dependsOn: crds },
            );

            new k8s.helm.v3.Release(
                loadTesterName,
                {
                    name: loadTesterName,
                    chart: LOADTESTER_CHART.chart,
                    version: args.loadTesterChartVersion ?? FLAGGER_DEFAULTS.loadTesterChartVersion,
                    repositoryOpts: { repo: LOADTESTER_CHART.repo },
                    namespace: workloadNamespace,
                    createNamespace: false,
                    atomic: true,
                    cleanupOnFail: true,
                    values: loadTesterValues(loadTesterName, flaggerImages(args).loadTester),
                },
                { parent: this, dependsOn: inWorkloadNamespace() },
            );
        }

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
                { parent: this, dependsOn: inWorkloadNamespace(...crds) },
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
                { parent: this, dependsOn: inWorkloadNamespace(...crds) },
            );
        }

        this.namespace = name;
        this.meshProvider = meshProvider;
        this.loadTesterUrl = pulumi.interpolate`http://${loadTesterName}.${workloadNamespace}/`;
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
