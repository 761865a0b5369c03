import { LABELS } from "../../components/labels";

/**
 * Whether a model is actually serving its declared version, decided from two objects the cluster
 * holds: the model's Flagger Canary and the `<model>-primary` Deployment Flagger creates from it.
 *
 * Facts this relies on (fluxcd/flagger):
 * - `status.phase` is one of "", Initializing, Initialized, Waiting, Progressing, WaitingPromotion,
 *   Promoting, Finalising, Succeeded, Failed, Terminating, Terminated (pkg/apis/flagger/v1beta1/status.go,
 *   and the CRD's enum in artifacts/flagger/crd.yaml). Initialized is where a first deploy ends (no
 *   analysis: the primary is created from the target), Succeeded where a promotion ends, Failed where
 *   an analysis ends in a rollback ("Canary analysis failed, Deployment scaled to zero").
 * - The one condition, type `Promoted`, mirrors the phase: status True for Initialized/Succeeded, False
 *   for Failed, Unknown otherwise; reason = the phase; its lastUpdateTime is when it was set
 *   (pkg/canary/status.go, MakeStatusConditions). `status.lastTransitionTime` moves on every status write.
 * - On promotion Flagger copies the target's pod template to the primary, labels included, only the
 *   selector label being rewritten to `<name>-primary` (pkg/canary/deployment_controller.go Promote,
 *   util.go makePrimaryLabels). So the primary's pod template carries `mlops.dev/model-version` of the
 *   version it serves, and after a rollback it still carries the previous one.
 */

export type RolloutDecision =
    | { readonly state: "waiting"; readonly reason: string }
    | { readonly state: "serving"; readonly detail: string }
    | {
          readonly state: "failed";
          readonly reason: string;
          /** Set when Flagger failed the declared version's analysis: its last condition message (the verdict git must follow). */
          readonly canaryFailed?: string;
      };

export interface DecisionOptions {
    /**
     * When this rollout began (e.g. just before `pulumi up`). A Failed phase recorded before it belongs to
     * an earlier rollout (say, the version a rollback now replaces) that Flagger has not yet moved on from.
     * @default - every Failed phase counts as this rollout's
     */
    readonly since?: Date;
}

/** Phases after which the primary serves what the target declared (first deploy, or a promotion). */
const SETTLED_PHASES: ReadonlySet<string> = new Set(["Succeeded", "Initialized"]);

/** Decides from the Canary and the primary Deployment as `kubectl get -o json` returns them (undefined: not found). */
export function decideRollout(declaredVersion: string, canary: unknown, primary: unknown, options: DecisionOptions = {}): RolloutDecision {
    if (!isRecord(canary)) return waiting("no Canary yet (the manifests have not reached the cluster)");

    // Pulumi (or Argo CD) applies the Canary together with its target Deployment: a Canary that still
    // declares another version means the new manifests have not been applied yet.
    const canaryVersion = stringAt(canary, ["metadata", "labels", LABELS.modelVersion]);
    if (canaryVersion !== undefined && canaryVersion !== declaredVersion) {
        return waiting(`the Canary still declares version ${canaryVersion} (the new manifests have not been applied or synced yet)`);
    }

    const phase = canaryPhase(canary) ?? "";
    const promoted = promotedCondition(canary);
    const primaryVersion = servedVersion(primary);

    if (phase === "Failed") {
        const failedAt = promoted?.lastUpdateTime ?? promoted?.lastTransitionTime ?? stringAt(canary, ["status", "lastTransitionTime"]);
        const failedTime = failedAt === undefined ? NaN : Date.parse(failedAt);
        if (options.since !== undefined && !Number.isNaN(failedTime) && failedTime < options.since.getTime()) {
            return waiting(`the last analysis failed at ${failedAt}, before this rollout began; Flagger has not started on the new revision yet`);
        }
        // No failed-check count: on rollback Flagger writes the Failed phase with failedChecks and
        // iterations reset to 0 (fluxcd/flagger v1.44.0 pkg/controller/scheduler.go rollback → SyncStatus,
        // pkg/canary/status.go syncCanaryStatus), so a count read here would always say 0.
        const facts = failedAt !== undefined ? [`at ${failedAt}`] : [];
        const serves = primaryVersion !== undefined ? `; the primary still serves version ${primaryVersion}` : "";
        // Flagger leaves the message empty on some paths; its phase still says the analysis failed.
        const message = promoted?.message !== undefined && promoted.message.trim() !== "" ? promoted.message.trim() : "Canary analysis failed";
        return {
            state: "failed",
            reason: `Flagger rolled back version ${declaredVersion}: ${message}${facts.length > 0 ? ` (${facts.join(", ")})` : ""}${serves}`,
            canaryFailed: message,
        };
    }
    if (phase === "Terminating" || phase === "Terminated") {
        return failed(`the Canary is being deleted (phase ${phase}); nothing will promote version ${declaredVersion}`);
    }
    if (!SETTLED_PHASES.has(phase)) return waiting(describePhase(phase, canary));

    if (!isRecord(primary)) return waiting(`Canary ${phase}, but the primary Deployment does not exist yet`);
    if (primaryVersion !== declaredVersion) {
        return waiting(
            `Canary ${phase} for an earlier revision: the primary serves version ${primaryVersion ?? "(unlabelled)"}; Flagger has not detected version ${declaredVersion} yet`,
        );
    }
    const rollout = primaryRolloutStatus(primary);
    if (rollout.state !== "serving") return rollout;
    return { state: "serving", detail: `version ${declaredVersion} is serving (Canary ${phase}; ${rollout.detail})` };
}

/**
 * kubectl's own notion of a finished Deployment rollout (`kubectl rollout status`, DeploymentStatusViewer):
 * the controller has observed the latest generation, every replica is updated, no old replica is left,
 * and every updated replica is available; a Progressing condition with reason ProgressDeadlineExceeded
 * is a failure.
 */
/** The version a `<model>-primary` Deployment serves: its pod template's version label (`undefined`: no object, or unlabelled). */
export function servedVersion(primary: unknown): string | undefined {
    return stringAt(primary, ["spec", "template", "metadata", "labels", LABELS.modelVersion]);
}

/** A Canary's phase as Flagger writes it (`undefined`: no object, or no status yet). */
export function canaryPhase(canary: unknown): string | undefined {
    return stringAt(canary, ["status", "phase"]);
}

export function primaryRolloutStatus(deployment: Readonly<Record<string, unknown>>): RolloutDecision {
    const generation = numberAt(deployment, ["metadata", "generation"]) ?? 0;
    const observed = numberAt(deployment, ["status", "observedGeneration"]) ?? 0;
    if (observed < generation) return waiting(`the primary Deployment's controller has not observed generation ${generation} yet`);

    const progressing = conditionsOf(deployment).find((c) => c.type === "Progressing");
    if (progressing?.reason === "ProgressDeadlineExceeded") {
        return failed(`the primary Deployment exceeded its progress deadline${progressing.message !== undefined ? `: ${progressing.message}` : ""}`);
    }
    // Kubernetes omits zero counts from status, and a Deployment without spec.replicas has one.
    const wanted = numberAt(deployment, ["spec", "replicas"]) ?? 1;
    const replicas = numberAt(deployment, ["status", "replicas"]) ?? 0;
    const updated = numberAt(deployment, ["status", "updatedReplicas"]) ?? 0;
    const available = numberAt(deployment, ["status", "availableReplicas"]) ?? 0;
    if (updated < wanted) return waiting(`primary rollout: ${updated} of ${wanted} new replicas updated`);
    if (replicas > updated) return waiting(`primary rollout: ${replicas - updated} old replica${replicas - updated === 1 ? "" : "s"} pending termination`);
    if (available < updated) return waiting(`primary rollout: ${available} of ${updated} updated replicas available`);
    return { state: "serving", detail: `${available} primary replica${available === 1 ? "" : "s"} available` };
}

function describePhase(phase: string, canary: Readonly<Record<string, unknown>>): string {
    switch (phase) {
        case "":
        case "Initializing":
            return "Flagger is initializing the Canary (creating the primary)";
        case "Progressing": {
            const weight = numberAt(canary, ["status", "canaryWeight"]) ?? 0;
            const iterations = numberAt(canary, ["status", "iterations"]);
            const checks = numberAt(canary, ["status", "failedChecks"]) ?? 0;
            return `canary analysis in progress: ${weight}% of traffic on the canary${iterations ? `, iteration ${iterations}` : ""}, ${checks} failed check${checks === 1 ? "" : "s"}`;
        }
        case "Waiting":
            return "the rollout waits for approval to start (confirm-rollout webhook)";
        case "WaitingPromotion":
            return "the analysis passed; the promotion waits for approval (confirm-promotion webhook)";
        case "Promoting":
            return "the analysis passed; Flagger is updating the primary";
        case "Finalising":
            return "the primary is updated; Flagger is routing all traffic back to it";
        default:
            return `Canary phase ${phase}`;
    }
}

interface Condition {
    readonly type?: string;
    readonly status?: string;
    readonly reason?: string;
    readonly message?: string;
    readonly lastUpdateTime?: string;
    readonly lastTransitionTime?: string;
}

function promotedCondition(canary: Readonly<Record<string, unknown>>): Condition | undefined {
    return conditionsOf(canary).find((c) => c.type === "Promoted");
}

function conditionsOf(object: Readonly<Record<string, unknown>>): Condition[] {
    const status = object["status"];
    const conditions = isRecord(status) ? status["conditions"] : undefined;
    if (!Array.isArray(conditions)) return [];
    return conditions.filter(isRecord).map((c) => {
        const text = (key: string) => (typeof c[key] === "string" ? (c[key] as string) : undefined);
        return {
            type: text("type"),
            status: text("status"),
            reason: text("reason"),
            message: text("message"),
            lastUpdateTime: text("lastUpdateTime"),
            lastTransitionTime: text("lastTransitionTime"),
        } satisfies Record<keyof Condition, string | undefined>;
    });
}

function waiting(reason: string): RolloutDecision {
    return { state: "waiting", reason };
}

function failed(reason: string): RolloutDecision {
    return { state: "failed", reason };
}

function valueAt(object: unknown, keys: readonly string[]): unknown {
    let current = object;
    for (const key of keys) {
        if (!isRecord(current)) return undefined;
        current = current[key];
    }
    return current;
}

function stringAt(object: unknown, keys: readonly string[]): string | undefined {
    const value = valueAt(object, keys);
    return typeof value === "string" ? value : undefined;
}

function numberAt(object: unknown, keys: readonly string[]): number | undefined {
    const value = valueAt(object, keys);
    return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
