import {
    type MonitoredVersion,
    type MonitoringSettings,
    sampleQuery,
    type Signal,
    SIGNALS,
    signalQuery,
    thresholdsOf,
    WORSE_WHEN,
} from "../../components/modelServing/monitoring";
import { PrometheusError, type PrometheusClient } from "./prometheus";

/**
 * The monitor's verdict on one serving version, from the same PromQL its alerting rules evaluate:
 * roll back when a judged signal is past its rollback threshold; alert when one is past its alert
 * threshold; "cannot judge" when a watched signal has no series or fewer samples than the window
 * needs — and never roll back on what was not measured.
 */

export type Verdict = "ok" | "alert" | "rollback" | "cannot-judge";

export interface SignalReading {
    readonly signal: Signal;
    /** The window's value, when measured. */
    readonly value: number | undefined;
    readonly samples: number;
    readonly alert: number;
    readonly rollback: number | undefined;
    readonly state: "ok" | "alert" | "rollback" | "cannot-judge";
    readonly note: string;
}

export interface ModelJudgement {
    readonly model: string;
    readonly version: string;
    readonly verdict: Verdict;
    readonly readings: readonly SignalReading[];
    /** One line: what was measured against what. */
    readonly summary: string;
}

const RANK: Readonly<Record<Verdict, number>> = { ok: 0, "cannot-judge": 1, alert: 2, rollback: 3 };

export function readingState(signal: Signal, value: number, alert: number, rollback: number | undefined): SignalReading["state"] {
    const past = (threshold: number) => (WORSE_WHEN[signal] === "above" ? value > threshold : value < threshold);
    if (rollback !== undefined && past(rollback)) return "rollback";
    return past(alert) ? "alert" : "ok";
}

export function verdictOf(readings: readonly SignalReading[]): Verdict {
    const worst = readings.reduce<Verdict>((acc, r) => (RANK[r.state] > RANK[acc] ? r.state : acc), "ok");
    return worst;
}

function describe(r: SignalReading): string {
    if (r.value === undefined || r.state === "cannot-judge") return `${r.signal}: cannot judge (${r.note})`;
    const limit = r.state === "rollback" ? `rollback ${WORSE_WHEN[r.signal]} ${r.rollback}` : `alert ${WORSE_WHEN[r.signal]} ${r.alert}`;
    return `${r.signal} ${r.value.toFixed(3)} (${r.state === "ok" ? `ok; ${limit}` : limit}, ${r.samples} samples)`;
}

/** Reads every watched signal of one version and judges it; a Prometheus failure is thrown, never judged. */
export async function judgeModel(prometheus: PrometheusClient, version: MonitoredVersion, settings: MonitoringSettings, at?: Date): Promise<ModelJudgement> {
    const readings: SignalReading[] = [];
    for (const signal of SIGNALS) {
        const thresholds = thresholdsOf(settings, signal);
        if (thresholds === undefined) continue;
        const [values, samples] = await Promise.all([
            prometheus.query(signalQuery(signal, version, settings.window), at),
            prometheus.query(sampleQuery(signal, version, settings.window), at),
        ]);
        if (values.length > 1 || samples.length > 1) {
            throw new PrometheusError(`Prometheus answered ${values.length} values for one version's ${signal}: the label contract is broken`, "malformed");
        }
        const value = values[0]?.value;
        const count = samples[0]?.value ?? 0;
        const base = { signal, value, samples: count, alert: thresholds.alert, rollback: thresholds.rollback };
        if (value === undefined || !Number.isFinite(value)) {
            readings.push({ ...base, value: undefined, state: "cannot-judge", note: `no ${signal} series over ${settings.window}` });
        } else if (count < settings.minSamples) {
            readings.push({ ...base, state: "cannot-judge", note: `${count} samples over ${settings.window}, fewer than ${settings.minSamples}` });
        } else {
            readings.push({ ...base, state: readingState(signal, value, thresholds.alert, thresholds.rollback), note: "" });
        }
    }
    const verdict = verdictOf(readings);
    return { model: version.model, version: version.version, verdict, readings, summary: readings.map(describe).join("; ") };
}
