import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { LABELS } from "../labels";
import { restrictedContainerSecurityContext } from "../security";

/**
 * The model-quality telemetry beside each model's scoring server (telemetry/README.md, "In the
 * pod"): a proxy in front of `mlflow models serve` that publishes the gauges the Canary analysis and
 * the alerting rules read (MODEL_QUALITY_METRICS in components/flagger.ts). Its code is the Python
 * package in telemetry/mlops_telemetry, mounted from a ConfigMap into the platform's MLflow image
 * (which has Python and prometheus_client), so no image of its own has to be built and pinned.
 */

/** The package the telemetry container runs (`python -m mlops_telemetry`). */
export const TELEMETRY_PACKAGE_DIR = path.join(__dirname, "..", "..", "telemetry", "mlops_telemetry");
/** Where the package's directory is mounted; it is the telemetry container's PYTHONPATH. */
export const TELEMETRY_PYTHONPATH = "/opt/mlops-telemetry";

/** The telemetry proxy: the pod's serving port, the one the Services, Ingress and Flagger reach. */
export const PROXY_PORT = 8080;
/** `/metrics`, label feedback and the evaluation replay: in-cluster only, never behind the Ingress. */
export const TELEMETRY_PORT = 8090;
/** `mlflow models serve`, bound to loopback: only the proxy (and the exec probes) reach it. */
export const SCORING_PORT = 8081;

/** The header (and value) the platform's own test traffic carries: it counts in the request metrics, not in the quality windows. */
export const SYNTHETIC_TRAFFIC_HEADER = { name: "X-MLOps-Traffic", value: "synthetic" } as const;

/** What a model's `/invocations` answers: class probabilities (`predict_proba`) or labels only. */
export const MODEL_OUTPUTS = ["probabilities", "labels"] as const;
export type ModelOutputs = (typeof MODEL_OUTPUTS)[number];

/** The ConfigMap of a model's telemetry code. Flagger copies it to `<name>-primary` for the primary, so a new telemetry rolls out as a canary too. */
export function telemetryConfigMapName(model: string): string {
    return `${model}-telemetry`;
}

/**
 * The package's files, one ConfigMap key each (a ConfigMap volume cannot hold directories; the
 * package has none). Read in name order so the ConfigMap's content, and hence Flagger's checksum of
 * it, changes only when a file does.
 */
export function telemetryPackageFiles(directory = TELEMETRY_PACKAGE_DIR): Record<string, string> {
    const names = readdirSync(directory)
        .filter((file) => file.endsWith(".py"))
        .sort();
    if (!names.includes("__main__.py")) throw new Error(`${directory} holds no __main__.py: it is not the telemetry package`);
    return Object.fromEntries(names.map((file) => [file, readFileSync(path.join(directory, file), "utf8")]));
}

/** Pod annotations the `kubernetes-pods` job of Flagger's bundled Prometheus keeps (and many other Prometheus setups). */
export function scrapeAnnotations(): Record<string, string> {
    return { "prometheus.io/scrape": "true", "prometheus.io/port": String(TELEMETRY_PORT), "prometheus.io/path": "/metrics" };
}

/**
 * The PodMonitor for a Prometheus run by the Prometheus Operator. Its relabelling gives the
 * samples the target labels the bundled Prometheus's `kubernetes-pods` job gives them
 * (`kubernetes_namespace`, `kubernetes_pod_name`): Flagger's own request checks for the Gateway API
 * provider select on those. The exporter's `namespace`/`pod`/`model`/`model_version` labels are
 * kept as exposed (`honorLabels` is off, and no target label of that name exists).
 */
export function podMonitorSpec(model: string): Record<string, unknown> {
    return {
        selector: { matchLabels: { [LABELS.model]: model } },
        podMetricsEndpoints: [
            {
                port: "telemetry",
                path: "/metrics",
                interval: "15s",
                relabelings: [
                    { sourceLabels: ["__meta_kubernetes_namespace"], targetLabel: "kubernetes_namespace" },
                    { sourceLabels: ["__meta_kubernetes_pod_name"], targetLabel: "kubernetes_pod_name" },
                ],
            },
        ],
    };
}

/**
 * The load tester's command that replays the version's labelled evaluation sample against one
 * canary pod, so that the canary's accuracy is measured on known data. `-f` turns a failed replay
 * (no sample, registry unreachable) into a failed webhook, which Flagger counts against the canary.
 */
export function replayCommand(canaryTelemetryUrl: string, timeoutSeconds: number): string {
    return `curl -fsS --max-time ${timeoutSeconds} -X POST ${canaryTelemetryUrl}/mlops/replay`;
}

export interface TelemetryContainerInputs {
    readonly image: string;
    readonly registeredModel: string;
    readonly trackingUri: pulumi.Input<string>;
    readonly trackingCredentials?: { readonly secretName: pulumi.Input<string>; readonly usernameKey: string; readonly passwordKey: string };
    /** The pod's writable scratch volume, mounted at /tmp. */
    readonly scratchVolume: string;
    /** The volume of the package's ConfigMap. */
    readonly packageVolume: string;
}

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

export function telemetryContainer(i: TelemetryContainerInputs): k8s.types.input.core.v1.Container {
    const credentials = i.trackingCredentials;
    return {
        name: "telemetry",
        image: i.image,
        imagePullPolicy: "IfNotPresent",
        command: ["python", "-m", "mlops_telemetry"],
        env: [
            { name: "PYTHONPATH", value: TELEMETRY_PYTHONPATH },
            { name: "PYTHONDONTWRITEBYTECODE", value: "1" },
            { name: "PYTHONUNBUFFERED", value: "1" },
            { name: "HOME", value: "/tmp" },
            // From the pod itself, so the metric labels are the pod's labels by construction.
            fieldEnv("POD_NAME", "metadata.name"),
            fieldEnv("POD_NAMESPACE", "metadata.namespace"),
            fieldEnv("MLOPS_MODEL", `metadata.labels['${LABELS.model}']`),
            fieldEnv("MLOPS_MODEL_VERSION", `metadata.labels['${LABELS.modelVersion}']`),
            { name: "MLOPS_REGISTERED_MODEL", value: i.registeredModel },
            { name: "MLOPS_UPSTREAM_URL", value: `http://127.0.0.1:${SCORING_PORT}` },
            { name: "MLOPS_LISTEN_PORT", value: String(PROXY_PORT) },
            { name: "MLOPS_ADMIN_PORT", value: String(TELEMETRY_PORT) },
            { name: "MLFLOW_TRACKING_URI", value: i.trackingUri },
            ...(credentials === undefined
                ? []
                : [
                      { name: "MLFLOW_TRACKING_USERNAME", valueFrom: { secretKeyRef: { name: credentials.secretName, key: credentials.usernameKey } } },
                      { name: "MLFLOW_TRACKING_PASSWORD", valueFrom: { secretKeyRef: { name: credentials.secretName, key: credentials.passwordKey } } },
                  ]),
        ],
        ports: [
            { name: "http", containerPort: PROXY_PORT, protocol: "TCP" },
            { name: "telemetry", containerPort: TELEMETRY_PORT, protocol: "TCP" },
        ],
        // Ready once the scoring server answers through loopback: the pod takes traffic only then.
        readinessProbe: { httpGet: { path: "/mlops/ready", port: "telemetry" }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
        livenessProbe: { httpGet: { path: "/mlops/live", port: "telemetry" }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
        // Measured by bench/telemetry.ts: RSS stays near 40 MiB with the default windows, and a
        // request costs about 1 ms of CPU (0.1 CPU per 100 requests/s). Memory is the limit too.
        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
        securityContext: restrictedContainerSecurityContext(true),
        volumeMounts: [
            { name: i.packageVolume, mountPath: `${TELEMETRY_PYTHONPATH}/mlops_telemetry`, readOnly: true },
            { name: i.scratchVolume, mountPath: "/tmp" },
        ],
    };
}

/** Where one quality signal of a model comes from, and which checks read it (the preview's view). */
export interface QualitySignal {
    readonly signal: "accuracy" | "drift" | "confidence";
    readonly metric: string;
    /** False when the model cannot publish it (confidence of a labels model). */
    readonly published: boolean;
    /** Where the values come from, or why there are none. */
    readonly source: string;
    /** The Canary analysis's check, e.g. "≥ 0.9". @default - not checked during a rollout */
    readonly canaryCheck?: string;
    /** The alerting rules' thresholds after the rollout, e.g. "alert > 0.1, rollback > 0.18". @default - not watched */
    readonly watched?: string;
}

/** The quality signals of one model: what is published, from what, and which checks read it. */
export function qualitySignals(
    outputs: ModelOutputs,
    quality: { readonly minAccuracy?: number; readonly maxDriftScore?: number; readonly minConfidence?: number },
    watched: Readonly<Partial<Record<QualitySignal["signal"], { readonly alert: number; readonly rollback?: number }>>>,
): QualitySignal[] {
    const watchedText = (signal: QualitySignal["signal"], worse: "<" | ">") => {
        const t = watched[signal];
        return t === undefined ? {} : { watched: `alert ${worse} ${t.alert}${t.rollback === undefined ? "" : `, rollback ${worse} ${t.rollback}`}` };
    };
    const probabilities = outputs === "probabilities";
    return [
        {
            signal: "accuracy",
            metric: "mlops_model_accuracy",
            published: true,
            source:
                quality.minAccuracy !== undefined
                    ? "labels fed back to /mlops/feedback; during a rollout, the version's evaluation sample replayed against the canary"
                    : "labels fed back to /mlops/feedback",
            ...(quality.minAccuracy !== undefined && { canaryCheck: `≥ ${quality.minAccuracy}` }),
            ...watchedText("accuracy", "<"),
        },
        {
            signal: "drift",
            metric: "mlops_feature_drift_score",
            published: true,
            source: "live inputs against the training run's reference statistics (mlops/reference.json)",
            ...(quality.maxDriftScore !== undefined && { canaryCheck: `≤ ${quality.maxDriftScore}` }),
            ...watchedText("drift", ">"),
        },
        {
            signal: "confidence",
            metric: "mlops_prediction_confidence",
            published: probabilities,
            source: probabilities ? "the mean top-class probability of live answers" : 'not published: the model answers labels (outputs "labels")',
            ...(probabilities && quality.minConfidence !== undefined && { canaryCheck: `≥ ${quality.minConfidence}` }),
            ...(probabilities ? watchedText("confidence", "<") : {}),
        },
    ];
}
