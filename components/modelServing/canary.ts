import { type ArgProblem, show } from "../validation";
import { MIRRORING_PROVIDERS, quotedList, type ServingProvider } from "./routing";
import { replayCommand, SYNTHETIC_TRAFFIC_HEADER } from "./telemetry";

/**
 * The Flagger analysis of a model's rollout, as pure functions of the model's canary config: what
 * `resolveCanary()` fills in, and the `spec.analysis` that `canaryAnalysis()` builds from it.
 */

/** How Flagger rolls a model's new version out; every key is optional (see `CANARY_DEFAULTS`). */
export interface CanarySettings {
    /** Traffic the canary gets at each step, ascending, in percent. */
    readonly stepWeights?: readonly number[];
    /** Time between analysis runs: `<n>s`, `<n>m` or `<n>h`. */
    readonly interval?: string;
    /** Failed checks before Flagger rolls back. */
    readonly threshold?: number;
    /** Highest acceptable p99 request duration, in milliseconds. */
    readonly maxLatencyMs?: number;
    /** Lowest acceptable non-5xx request rate, in percent. */
    readonly minSuccessRate?: number;
    /** Model-quality checks; each threshold given becomes one metric check. @default - none */
    readonly quality?: { readonly minAccuracy?: number; readonly maxDriftScore?: number; readonly minConfidence?: number };
    /** JSON body the acceptance test posts to `/invocations`. @default - the acceptance test checks `/health` */
    readonly acceptanceRequest?: string;
    readonly loadTest?: { readonly rps?: number; readonly enabled?: boolean };
    /** Route requests carrying a header to the canary instead of shifting weights. @default - progressive traffic shifting */
    readonly abTesting?: { readonly header?: string; readonly value?: string; readonly iterations?: number };
    /** Mirror the primary's traffic to the canary before shifting weights (shadow testing). @default false */
    readonly mirror?: boolean;
    /** Percent of the primary's traffic mirrored. @default 100 */
    readonly mirrorWeight?: number;
}

/** What a model's canary config becomes when a key is left out. */
export const CANARY_DEFAULTS = {
    /** @default [1, 5, 25, 50] — Flagger promotes once the canary has held the last weight. */
    stepWeights: [1, 5, 25, 50] as readonly number[],
    /** @default "1m" */
    interval: "1m",
    /** @default 5 */
    threshold: 5,
    /** @default 500 (p99, milliseconds) */
    maxLatencyMs: 500,
    /** @default 99 (percent of non-5xx responses) */
    minSuccessRate: 99,
    /** @default 10 requests per second, on while the analysis runs */
    loadTestRps: 10,
    /** @default "X-Deployment-Context" */
    abTestingHeader: "X-Deployment-Context",
    /** @default "canary" */
    abTestingValue: "canary",
    /** @default 10 analysis runs */
    abTestingIterations: 10,
    /** @default 100 (percent of the primary's traffic) */
    mirrorWeight: 100,
} as const;

export type RolloutStrategy =
    | { readonly kind: "progressive"; readonly stepWeights: readonly number[] }
    | { readonly kind: "abTesting"; readonly header: string; readonly value: string; readonly iterations: number };

export interface ResolvedCanary {
    /** The analysis interval as Flagger's CRD accepts it (`^[0-9]+(m|s)`): hours are written as minutes. */
    readonly interval: string;
    readonly threshold: number;
    readonly maxLatencyMs: number;
    readonly minSuccessRate: number;
    readonly strategy: RolloutStrategy;
    /** Set only when traffic is mirrored to the canary. */
    readonly mirror: { readonly weight: number } | undefined;
    /** Only the thresholds the user configured: each becomes one metric check. */
    readonly quality: { readonly minAccuracy?: number; readonly maxDriftScore?: number; readonly minConfidence?: number };
    /** JSON body for `/invocations`; the acceptance test checks `/health` when absent. */
    readonly acceptanceRequest: string | undefined;
    /** Set only when the load tester sends traffic during the analysis. */
    readonly loadTest: { readonly rps: number } | undefined;
}

/** Applies the component defaults (`CANARY_DEFAULTS`) to a model's canary config. */
export function resolveCanary(canary: CanarySettings | undefined): ResolvedCanary {
    const c = canary ?? {};
    const strategy: RolloutStrategy =
        c.abTesting !== undefined
            ? {
                  kind: "abTesting",
                  header: c.abTesting.header ?? CANARY_DEFAULTS.abTestingHeader,
                  value: c.abTesting.value ?? CANARY_DEFAULTS.abTestingValue,
                  iterations: c.abTesting.iterations ?? CANARY_DEFAULTS.abTestingIterations,
              }
            : { kind: "progressive", stepWeights: [...(c.stepWeights ?? CANARY_DEFAULTS.stepWeights)] };
    const quality = {
        ...(c.quality?.minAccuracy !== undefined && { minAccuracy: c.quality.minAccuracy }),
        ...(c.quality?.maxDriftScore !== undefined && { maxDriftScore: c.quality.maxDriftScore }),
        ...(c.quality?.minConfidence !== undefined && { minConfidence: c.quality.minConfidence }),
    };
    return {
        interval: flaggerDuration(c.interval ?? CANARY_DEFAULTS.interval),
        threshold: c.threshold ?? CANARY_DEFAULTS.threshold,
        maxLatencyMs: c.maxLatencyMs ?? CANARY_DEFAULTS.maxLatencyMs,
        minSuccessRate: c.minSuccessRate ?? CANARY_DEFAULTS.minSuccessRate,
        strategy,
        mirror: c.mirror === true ? { weight: c.mirrorWeight ?? CANARY_DEFAULTS.mirrorWeight } : undefined,
        quality,
        acceptanceRequest: c.acceptanceRequest,
        loadTest: c.loadTest?.enabled === false ? undefined : { rps: c.loadTest?.rps ?? CANARY_DEFAULTS.loadTestRps },
    };
}

const DURATION = /^[1-9][0-9]*(s|m|h)$/;

/**
 * Every problem of a model's canary settings for the given provider, with arg paths below
 * `canary`. What a provider's router can do (mirroring) is checked here, where the Canary is built.
 */
export function canaryProblems(canary: CanarySettings | undefined, provider: ServingProvider): ArgProblem[] {
    if (canary === undefined) return [];
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg: `canary.${arg}`, message });
    const weights = canary.stepWeights ?? [];
    for (const [i, weight] of weights.entries()) {
        if (!Number.isInteger(weight) || weight < 1 || weight > 100) {
            problem(`stepWeights[${i}]`, `must be a whole percentage from 1 to 100, got ${show(weight)}`);
            break;
        }
        const before = weights[i - 1];
        if (before !== undefined && weight <= before) {
            problem(`stepWeights[${i}]`, `must be more than the step before (${before}): weights ascend, got ${show(weights)}`);
            break;
        }
    }
    if (canary.interval !== undefined && !DURATION.test(canary.interval))
        problem("interval", `must be a duration such as "30s", "1m" or "2h", got ${show(canary.interval)}`);
    if (canary.abTesting !== undefined && canary.stepWeights !== undefined) {
        problem(
            "stepWeights",
            `cannot be combined with abTesting, which routes by header instead of shifting weights: remove one, got ${show(canary.stepWeights)}`,
        );
    }
    if (canary.mirror === true && canary.abTesting !== undefined) problem("mirror", "cannot be combined with abTesting, got true");
    if (canary.mirror === true && !MIRRORING_PROVIDERS.includes(provider)) {
        problem("mirror", `needs a provider that mirrors traffic (${quotedList(MIRRORING_PROVIDERS)}), and this one is "${provider}", got true`);
    }
    if (canary.mirrorWeight !== undefined && canary.mirror !== true)
        problem("mirrorWeight", `applies only when mirror is true, got ${show(canary.mirrorWeight)}`);
    return problems;
}

/** Flagger's CRD takes intervals as `<n>s` or `<n>m` only; the stack config also allows hours. */
export function flaggerDuration(duration: string): string {
    const hours = /^([0-9]+)h$/.exec(duration);
    return hours === null ? duration : `${Number(hours[1]) * 60}m`;
}

function seconds(duration: string): number {
    const match = /^([0-9]+)(s|m)$/.exec(duration);
    if (match === null) throw new Error(`not a Flagger duration: ${duration}`);
    return Number(match[1]) * (match[2] === "m" ? 60 : 1);
}

/**
 * Quotes a string for a POSIX shell (the load tester runs `cmd` tasks with `sh -c` and `bash` tasks
 * with `bash -c`): inside single quotes nothing is special but the single quote itself.
 */
export function shellQuote(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A Flagger object by name, once its namespace is known. */
export interface ObjectRef {
    readonly name: string;
    readonly namespace: string;
}

/** Where the analysis's traffic goes, worked out by the component from its args. */
export interface AnalysisTargets {
    readonly provider: ServingProvider;
    readonly loadTesterUrl: string;
    /** `http://<svc>-canary.<namespace>:<port>`: the canary pods only, whatever the weights. */
    readonly canaryServiceUrl: string;
    /** `http://<svc>-canary.<namespace>:<telemetry port>`: the canary pods' telemetry (evaluation replay). */
    readonly canaryTelemetryUrl: string;
    /** `https://<host>`: through the ingress or gateway, where the provider's request metrics are taken. */
    readonly publicUrl: string;
    readonly metricTemplates: { readonly accuracy: ObjectRef; readonly driftScore: ObjectRef; readonly confidence: ObjectRef };
    readonly alertProvider: ObjectRef | undefined;
}

/** Seconds the acceptance test may take; the webhook's own timeout leaves curl room to report. */
export const ACCEPTANCE_TIMEOUT_SECONDS = 50;

/** The platform's own test traffic says so, and stays out of the model's quality windows (drift, confidence). */
const SYNTHETIC = shellQuote(`${SYNTHETIC_TRAFFIC_HEADER.name}: ${SYNTHETIC_TRAFFIC_HEADER.value}`);

/** Seconds the evaluation replay may take (at most MLOPS_REPLAY_MAX_ROWS rows, in batches, through the scoring server). */
export const REPLAY_TIMEOUT_SECONDS = 110;

/** The `pre-rollout` check: the canary answers the configured request, or its health endpoint. */
export function acceptanceCommand(canary: ResolvedCanary, canaryServiceUrl: string): string {
    const curl = `curl -sSf --max-time ${ACCEPTANCE_TIMEOUT_SECONDS} -H ${SYNTHETIC}`;
    return canary.acceptanceRequest === undefined
        ? `${curl} ${canaryServiceUrl}/health`
        : `${curl} -X POST -H 'Content-Type: application/json' -d ${shellQuote(canary.acceptanceRequest)} ${canaryServiceUrl}/invocations`;
}

/**
 * The `rollout` load test: `hey` for one interval at the configured rate. NGINX and Gateway API
 * measure requests at the edge, so the load goes through the public host (with the A/B header, so
 * that it reaches the canary); Istio measures at the canary's own sidecars.
 */
export function loadTestCommand(canary: ResolvedCanary, targets: Pick<AnalysisTargets, "provider" | "canaryServiceUrl" | "publicUrl">): string | undefined {
    if (canary.loadTest === undefined) return undefined;
    const { rps } = canary.loadTest;
    const workers = rps >= 2 ? 2 : 1;
    // hey's -q is a float rate per worker, so the total is exactly the configured rps.
    const perWorker = Number((rps / workers).toFixed(3));
    const base = targets.provider === "istio" ? targets.canaryServiceUrl : targets.publicUrl;
    const parts = [`hey -z ${canary.interval} -q ${perWorker} -c ${workers} -H ${SYNTHETIC}`];
    if (canary.strategy.kind === "abTesting") parts.push(`-H ${shellQuote(`${canary.strategy.header}: ${canary.strategy.value}`)}`);
    parts.push(
        canary.acceptanceRequest === undefined
            ? `${base}/health`
            : `-m POST -T application/json -d ${shellQuote(canary.acceptanceRequest)} ${base}/invocations`,
    );
    return parts.join(" ");
}

/** Prometheus needs a window of a few scrapes; Flagger's own examples use one minute. */
export function metricInterval(interval: string): string {
    return seconds(interval) < 60 ? "1m" : interval;
}

/** `spec.analysis` of the model's Canary. */
export function canaryAnalysis(canary: ResolvedCanary, targets: AnalysisTargets): Record<string, unknown> {
    const window = metricInterval(canary.interval);
    const metrics: Record<string, unknown>[] = [
        { name: "request-success-rate", interval: window, thresholdRange: { min: canary.minSuccessRate } },
        { name: "request-duration", interval: window, thresholdRange: { max: canary.maxLatencyMs } },
    ];
    const { quality } = canary;
    const templated = (name: string, ref: ObjectRef, range: { min?: number; max?: number }) =>
        metrics.push({ name, templateRef: { name: ref.name, namespace: ref.namespace }, interval: window, thresholdRange: range });
    if (quality.minAccuracy !== undefined) templated("model-accuracy", targets.metricTemplates.accuracy, { min: quality.minAccuracy });
    if (quality.maxDriftScore !== undefined) templated("feature-drift-score", targets.metricTemplates.driftScore, { max: quality.maxDriftScore });
    if (quality.minConfidence !== undefined) templated("prediction-confidence", targets.metricTemplates.confidence, { min: quality.minConfidence });

    const webhooks: Record<string, unknown>[] = [
        {
            name: "acceptance-test",
            type: "pre-rollout",
            url: targets.loadTesterUrl,
            timeout: `${ACCEPTANCE_TIMEOUT_SECONDS + 10}s`,
            // `bash` tasks block until the command ends and fail the hook on a non-zero exit.
            metadata: { type: "bash", cmd: acceptanceCommand(canary, targets.canaryServiceUrl) },
        },
    ];
    if (quality.minAccuracy !== undefined) {
        // Before each run of the metric checks (Flagger calls `rollout` webhooks first, in order):
        // the canary's accuracy is measured on the version's own labelled evaluation sample, not on
        // whatever labels live traffic has had time to earn. `bash` blocks until the replay ends.
        webhooks.push({
            name: "evaluation-replay",
            type: "rollout",
            url: targets.loadTesterUrl,
            timeout: `${REPLAY_TIMEOUT_SECONDS + 10}s`,
            metadata: { type: "bash", cmd: replayCommand(targets.canaryTelemetryUrl, REPLAY_TIMEOUT_SECONDS) },
        });
    }
    const load = loadTestCommand(canary, targets);
    if (load !== undefined) {
        // `cmd` tasks run in the background; the tester skips a command that is still running.
        webhooks.push({ name: "load-test", type: "rollout", url: targets.loadTesterUrl, timeout: "15s", metadata: { type: "cmd", cmd: load } });
    }

    const strategy =
        canary.strategy.kind === "abTesting"
            ? {
                  iterations: canary.strategy.iterations,
                  // Istio and Gateway API match lower-case header names; NGINX ignores case.
                  match: [{ headers: { [canary.strategy.header.toLowerCase()]: { exact: canary.strategy.value } } }],
              }
            : { stepWeights: [...canary.strategy.stepWeights] };

    return {
        interval: canary.interval,
        threshold: canary.threshold,
        ...strategy,
        ...(canary.mirror !== undefined && { mirror: true, mirrorWeight: canary.mirror.weight }),
        metrics,
        webhooks,
        ...(targets.alertProvider !== undefined && {
            alerts: [
                { name: "model-rollout", severity: "info", providerRef: { name: targets.alertProvider.name, namespace: targets.alertProvider.namespace } },
            ],
        }),
    };
}
