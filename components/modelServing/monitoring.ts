import { type ArgProblem, show } from "../validation";

/**
 * How a serving model's live quality is watched after its rollout: the PromQL of each signal over
 * the model's window (read by the alerting rules the cluster evaluates and by `npm run monitor`,
 * from the series of MODEL_QUALITY_METRICS and the telemetry's request counter), the thresholds
 * that alert and those that roll the declared version back, and the alerting rules themselves.
 */

/** An alert threshold, and optionally a worse one past which the version is rolled back. */
export interface Threshold {
    readonly alert: number;
    readonly rollback?: number;
}

export interface MonitoringSettings {
    /** How often the rules are evaluated and the scheduled monitor runs: `<n>m` or `<n>h`. */
    readonly checkInterval: string;
    /** The window each signal is averaged over: `<n>m` or `<n>h`. */
    readonly window: string;
    /** Samples a signal needs in the window before it is judged; fewer is "cannot judge", never a rollback. */
    readonly minSamples: number;
    /** Feature drift (0..1): alert above, roll back above. */
    readonly drift: Threshold;
    /** Live accuracy (0..1): alert below, roll back below. @default - not watched */
    readonly accuracy?: Threshold;
    /** Mean confidence (0..1): alert below, roll back below. @default - not watched */
    readonly confidence?: Threshold;
    /** Share of /invocations answered 5xx (0..1): alert above, roll back above. @default - not watched */
    readonly errorRate?: Threshold;
}

/** The seeds' drift_config: checked every 5 minutes over an hour; alert at 0.1, roll back at 0.18. */
export const MONITORING_DEFAULTS: MonitoringSettings = {
    checkInterval: "5m",
    window: "1h",
    minSamples: 10,
    drift: { alert: 0.1, rollback: 0.18 },
};

export type Signal = "drift" | "accuracy" | "confidence" | "errorRate";
export const SIGNALS: readonly Signal[] = ["drift", "accuracy", "confidence", "errorRate"];

/** Whether a value is worse when higher (drift, error rate) or when lower (accuracy, confidence). */
export const WORSE_WHEN: Readonly<Record<Signal, "above" | "below">> = { drift: "above", errorRate: "above", accuracy: "below", confidence: "below" };

/** The series one model version's signals are read from (the label contract of MODEL_QUALITY_METRICS). */
export interface MonitoredVersion {
    readonly namespace: string;
    readonly model: string;
    readonly version: string;
}

const DURATION = /^[1-9][0-9]*(m|h)$/;

function selector(v: MonitoredVersion, more = ""): string {
    return `namespace=${JSON.stringify(v.namespace)}, model=${JSON.stringify(v.model)}, model_version=${JSON.stringify(v.version)}${more}`;
}

/**
 * The PromQL of one signal of one version over `window`: one value (or none, when no series exists).
 * Drift is the worst pod's window average; accuracy and confidence average the pods; the error rate
 * is the share of 5xx among /invocations answered by the telemetry.
 */
export function signalQuery(signal: Signal, v: MonitoredVersion, window: string): string {
    const by = "by (model, model_version)";
    switch (signal) {
        case "drift":
            return `max ${by} (avg_over_time(mlops_feature_drift_score{${selector(v)}}[${window}]))`;
        case "accuracy":
            return `avg ${by} (avg_over_time(mlops_model_accuracy{${selector(v)}}[${window}]))`;
        case "confidence":
            return `avg ${by} (avg_over_time(mlops_prediction_confidence{${selector(v)}}[${window}]))`;
        case "errorRate":
            return (
                `sum ${by} (rate(mlops_requests_total{${selector(v, ', path="/invocations", code=~"5.."')}}[${window}]))` +
                ` / sum ${by} (rate(mlops_requests_total{${selector(v, ', path="/invocations"')}}[${window}]))`
            );
    }
}

/** How many samples of the signal's own series the window holds, summed over the pods. */
export function sampleQuery(signal: Signal, v: MonitoredVersion, window: string): string {
    const metric = {
        drift: "mlops_feature_drift_score",
        accuracy: "mlops_model_accuracy",
        confidence: "mlops_prediction_confidence",
        errorRate: 'mlops_requests_total{path="/invocations"}',
    }[signal];
    const series = metric.includes("{") ? metric.replace("{", `{${selector(v)}, `) : `${metric}{${selector(v)}}`;
    return `sum by (model, model_version) (count_over_time(${series}[${window}]))`;
}

/** The thresholds a signal is watched with, when it is. */
export function thresholdsOf(settings: MonitoringSettings, signal: Signal): Threshold | undefined {
    return signal === "drift" ? settings.drift : settings[signal];
}

/** Every problem of a model's monitoring settings, with arg paths below `monitoring`. */
export function monitoringProblems(settings: MonitoringSettings): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg: `monitoring.${arg}`, message });
    for (const key of ["checkInterval", "window"] as const) {
        if (!DURATION.test(settings[key])) problem(key, `must be a duration in minutes or hours such as "5m" or "1h", got ${show(settings[key])}`);
    }
    if (!Number.isInteger(settings.minSamples) || settings.minSamples < 1)
        problem("minSamples", `must be a whole number ≥ 1, got ${show(settings.minSamples)}`);
    for (const signal of SIGNALS) {
        const t = thresholdsOf(settings, signal);
        if (t === undefined || t.rollback === undefined) continue;
        const worse = WORSE_WHEN[signal] === "above" ? t.rollback > t.alert : t.rollback < t.alert;
        if (!worse) {
            problem(
                `${signal}.rollback`,
                `must be ${WORSE_WHEN[signal] === "above" ? "above" : "below"} the alert threshold (${t.alert}): a rollback is worse than an alert, got ${t.rollback}`,
            );
        }
    }
    return problems;
}

/** One Prometheus alerting rule. */
export interface AlertingRule {
    readonly alert: string;
    readonly expr: string;
    readonly for: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
}

const ALERT_NAMES: Readonly<Record<Signal, string>> = {
    drift: "MlopsModelDrift",
    accuracy: "MlopsModelAccuracyLow",
    confidence: "MlopsModelConfidenceLow",
    errorRate: "MlopsModelErrorRateHigh",
};

/**
 * The alerting rules of one model version: per watched signal a warning at the alert threshold and
 * a critical alert at the rollback threshold (what `npm run monitor` acts on), each only while the
 * window holds `minSamples`; and a warning when the version publishes no quality series at all.
 * Labels name the model, version and environment, so a route can page per model.
 */
export function alertingRules(
    v: MonitoredVersion,
    environment: string,
    settings: MonitoringSettings,
    role: "champion" | "challenger" = "champion",
): { groups: Array<{ name: string; interval: string; rules: AlertingRule[] }> } {
    const challenger = role === "challenger";
    const labels = { namespace: v.namespace, model: v.model, model_version: v.version, environment, ...(challenger && { experiment_role: role }) };
    const rules: AlertingRule[] = [];
    for (const signal of SIGNALS) {
        const t = thresholdsOf(settings, signal);
        if (t === undefined) continue;
        const op = WORSE_WHEN[signal] === "above" ? ">" : "<";
        const enough = `on (model, model_version) (${sampleQuery(signal, v, settings.window)} >= ${settings.minSamples})`;
        const levels: Array<[string, number, string]> = [["warning", t.alert, "alert"]];
        // A standing experiment's challenger is measured, never rolled back: it is not what git
        // declares, and ending its experiment is a person's commit. So its rules stop at warnings.
        if (t.rollback !== undefined && !challenger) levels.push(["critical", t.rollback, "rollback"]);
        for (const [severity, threshold, action] of levels) {
            rules.push({
                alert: `${ALERT_NAMES[signal]}${severity === "critical" ? "Rollback" : ""}`,
                expr: `(${signalQuery(signal, v, settings.window)}) ${op} ${threshold} and ${enough}`,
                for: settings.checkInterval,
                labels: { ...labels, severity, signal, action },
                annotations: {
                    summary: `${v.model} ${v.version}: ${signal} {{ printf "%.3f" $value }} is ${WORSE_WHEN[signal]} ${threshold} over ${settings.window} (${environment})`,
                    description: challenger
                        ? `The challenger of ${v.model}'s standing experiment is past the alert threshold: end the experiment (remove models.${v.model}.experiment) if it stays there; it is never rolled back automatically.`
                        : action === "rollback"
                          ? `Past the auto-rollback threshold: npm run monitor rolls ${v.model} back to its previous declaration as a commit.`
                          : `Past the alert threshold; the rollback threshold is ${t.rollback ?? "not set"}.`,
                },
            });
        }
    }
    rules.push({
        alert: "MlopsModelQualityMissing",
        expr: `absent_over_time(mlops_feature_drift_score{${selector(v)}}[${settings.window}])`,
        for: settings.checkInterval,
        labels: { ...labels, severity: "warning", signal: "drift", action: "cannot-judge" },
        annotations: {
            summary: `${v.model} ${v.version}: no model-quality series over ${settings.window} (${environment})`,
            description: "Without data the version is neither judged nor rolled back: check the telemetry sidecar and the scrape.",
        },
    });
    return { groups: [{ name: `mlops-${v.model}${challenger ? "-challenger" : ""}`, interval: settings.checkInterval, rules }] };
}
