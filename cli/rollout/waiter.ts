import { decideRollout, type RolloutDecision } from "./decision";
import { KubectlError, type ObjectReader } from "./kubectl";

/**
 * Polls the cluster until every declared model serves its declared version, one fails, or time runs
 * out. The cluster is reached only through the injected reader, the clock only through `now`/`sleep`,
 * so the loop is tested with scripted answers.
 */

export interface DeclaredModel {
    readonly name: string;
    readonly version: string;
}

export interface WaitOptions {
    readonly namespace: string;
    readonly timeoutMs: number;
    readonly intervalMs: number;
    /** Failures Flagger recorded before this belong to earlier rollouts (see `DecisionOptions.since`). */
    readonly since?: Date;
    /**
     * How many polls in a row may find the cluster unreachable before giving up. The first poll gets no
     * such grace: a wrong kubeconfig should fail at once, a blip in a 30-minute wait should not.
     * @default 3
     */
    readonly unreachableRetries?: number;
}

export interface WaitDependencies {
    readonly reader: ObjectReader;
    readonly now: () => number;
    readonly sleep: (ms: number) => Promise<void>;
    /** One line of progress, written when a model's state or reason changes. */
    readonly report: (line: string) => void;
}

export interface ModelOutcome {
    readonly model: string;
    readonly version: string;
    readonly decision: RolloutDecision;
}

export type WaitOutcome =
    | { readonly result: "serving"; readonly models: readonly ModelOutcome[] }
    | { readonly result: "failed"; readonly failed: readonly ModelOutcome[] }
    | { readonly result: "timeout"; readonly pending: readonly ModelOutcome[] };

/** The Canary of a model is named after it, and its primary Deployment is `<name>-primary` (Flagger's naming). */
export const CANARY_RESOURCE = "canaries.flagger.app";
export const DEPLOYMENT_RESOURCE = "deployments.apps";
export const primaryDeploymentName = (model: string): string => `${model}-primary`;

export async function waitForRollouts(models: readonly DeclaredModel[], deps: WaitDependencies, options: WaitOptions): Promise<WaitOutcome> {
    const deadline = deps.now() + options.timeoutMs;
    const retries = options.unreachableRetries ?? 3;
    const lastLine = new Map<string, string>();
    const served: ModelOutcome[] = [];
    let pending = [...models];
    let firstPoll = true;
    let unreachableStreak = 0;

    for (;;) {
        let outcomes: ModelOutcome[] | undefined;
        try {
            outcomes = await Promise.all(pending.map((model) => decide(model, deps.reader, options)));
            unreachableStreak = 0;
        } catch (err) {
            const transient = err instanceof KubectlError && err.problem === "unreachable" && !firstPoll;
            if (!transient || ++unreachableStreak > retries) throw err;
            deps.report(`cluster unreachable (${unreachableStreak}/${retries}), retrying: ${(err as Error).message}`);
        }
        firstPoll = false;

        if (outcomes !== undefined) {
            for (const outcome of outcomes) {
                const line = `${outcome.model} (version ${outcome.version}): ${describe(outcome.decision)}`;
                if (lastLine.get(outcome.model) !== line) deps.report(line);
                lastLine.set(outcome.model, line);
            }
            const failed = outcomes.filter((o) => o.decision.state === "failed");
            if (failed.length > 0) return { result: "failed", failed };
            served.push(...outcomes.filter((o) => o.decision.state === "serving"));
            pending = pending.filter((model) => !served.some((s) => s.model === model.name));
            if (pending.length === 0) return { result: "serving", models: served };
            if (deps.now() >= deadline) {
                return { result: "timeout", pending: outcomes.filter((o) => o.decision.state === "waiting") };
            }
        } else if (deps.now() >= deadline) {
            return {
                result: "timeout",
                pending: pending.map((m) => ({ model: m.name, version: m.version, decision: { state: "waiting", reason: "the cluster was unreachable" } })),
            };
        }
        await deps.sleep(Math.max(0, Math.min(options.intervalMs, deadline - deps.now())));
    }
}

/** One look at a model's rollout: its Canary and primary Deployment, decided (throws `KubectlError`). */
export async function decide(model: DeclaredModel, reader: ObjectReader, options: Pick<WaitOptions, "namespace" | "since">): Promise<ModelOutcome> {
    const [canary, primary] = await Promise.all([
        reader.get(CANARY_RESOURCE, model.name, options.namespace),
        reader.get(DEPLOYMENT_RESOURCE, primaryDeploymentName(model.name), options.namespace),
    ]);
    const decision = decideRollout(model.version, canary, primary, options.since !== undefined ? { since: options.since } : {});
    return { model: model.name, version: model.version, decision };
}

export function describe(decision: RolloutDecision): string {
    switch (decision.state) {
        case "serving":
            return `serving: ${decision.detail}`;
        case "waiting":
            return `waiting: ${decision.reason}`;
        case "failed":
            return `FAILED: ${decision.reason}`;
    }
}

/** An ISO-8601 time (`2026-11-20T10:00:00Z`); throws with the value when it is not one. */
export function parseInstant(text: string): Date {
    const time = Date.parse(text);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(time))
        throw new Error(`expected an ISO-8601 time such as 2026-11-20T10:00:00Z, got ${JSON.stringify(text)}`);
    return new Date(time);
}

/** `30m`, `90s`, `1h30m`, `500ms` → milliseconds; throws with the value when it is not a duration. */
export function parseDuration(text: string): number {
    const match = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text.trim());
    if (text.trim() === "" || match === null) {
        throw new Error(`expected a duration such as 30m, 90s or 1h30m, got ${JSON.stringify(text)}`);
    }
    const [, h, m, s, ms] = match;
    const total = Number(h ?? 0) * 3_600_000 + Number(m ?? 0) * 60_000 + Number(s ?? 0) * 1000 + Number(ms ?? 0);
    if (total <= 0) throw new Error(`expected a duration greater than zero, got ${JSON.stringify(text)}`);
    return total;
}
