import type { ModelVersion, RegisteredModel } from "../../policies/mlflowRestClient";
import {
    environmentAlias,
    formatPromotionTag,
    formatRollbackTag,
    type PromotionTag,
    promotionTagKey,
    rollbackTagKey,
    type RollbackTag,
    validationTagKey,
} from "../../policies/registryContract";
import type { RegistryAction } from "./registryActions";
import type { StackText } from "./stackText";
import type { YamlValue } from "./yamlEdit";

/**
 * Git against the registry, purely: `status` compares what each stack declares with where the
 * environment's alias points, and `sync-registry` plans the registry writes that make the alias, the
 * promotion tag and the rollback tags of the contract say what git records — and, after a rollout the
 * cluster confirms, the validation tag. The commands gather the answers.
 */

/** What the registry said about one name: the thing, "does not exist", or no usable answer. */
export type Answer<T> = { readonly kind: "found"; readonly value: T } | { readonly kind: "missing" } | { readonly kind: "error"; readonly message: string };

export type DriftState = "in-sync" | "drift" | "alias-missing" | "model-missing" | "unreachable";

export interface StatusRow {
    readonly stack: string;
    readonly environment: string | null;
    readonly model: string;
    readonly registeredModel: string | null;
    readonly declaredVersion: string | null;
    /** The version a standing experiment serves beside the declared one (`experiment.challenger.version`); absent without one. */
    readonly challenger?: string;
    /** The environment's alias in the registry (`environmentAlias`). */
    readonly alias: string | null;
    /** Where the alias points; `null` when it does not exist or the registry gave no answer. */
    readonly aliasVersion: string | null;
    readonly state: DriftState;
    /** One line for a person. */
    readonly detail: string;
    /** With `--cluster`: the version the `<model>-primary` Deployment serves (`null`: none, or unlabelled, or the cluster gave no answer). */
    readonly servedVersion?: string | null;
    /** Per declared cluster (`mlops-platform:clusters`), the version git has it serve; absent for a stack that declares none. */
    readonly clusters?: ReadonlyArray<{ readonly name: string; readonly version: string | null }>;
}

/** What the cluster serves for a model: the primary's version label and the Canary's phase. */
export interface Served {
    readonly version: string | null;
    readonly canaryPhase: string | null;
}

/**
 * The rows with the cluster's side added (`served` keyed by model, one stack's cluster): a primary
 * serving another version than git declares is drift, whatever the registry says — after a failed
 * canary that git has not followed, this is how it shows.
 */
export function withServed(rows: readonly StatusRow[], served: ReadonlyMap<string, Answer<Served>>): StatusRow[] {
    return rows.map((row) => {
        const answer = served.get(row.model) ?? { kind: "error", message: "not asked" };
        const add = (state: DriftState, detail: string, servedVersion: string | null): StatusRow => ({
            ...row,
            servedVersion,
            state: row.state === "in-sync" ? state : row.state,
            detail: row.state === "in-sync" ? detail : `${row.detail}; ${detail}`,
        });
        if (answer.kind === "error") return add("unreachable", `the cluster cannot be read: ${answer.message}`, null);
        if (answer.kind === "missing") return add("drift", `the cluster has no ${row.model}-primary Deployment`, null);
        const { version, canaryPhase } = answer.value;
        const phase = canaryPhase === null ? "" : ` (Canary ${canaryPhase})`;
        if (version !== row.declaredVersion) {
            return add(
                "drift",
                `the cluster's primary serves ${version ?? "an unlabelled version"}${phase}, but git declares ${row.declaredVersion ?? "(none)"}`,
                version,
            );
        }
        return row.state === "in-sync" ? { ...row, servedVersion: version } : add("in-sync", `the cluster's primary serves it${phase}`, version);
    });
}

/** A row per model of every stack; `answers` is keyed by registered model. */
export function statusRows(stacks: readonly StackText[], answers: ReadonlyMap<string, Answer<RegisteredModel>>): StatusRow[] {
    // Grouped by model, in the order of the stacks given (stable sort).
    return stacks
        .flatMap((stack) =>
            stack.modelNames.map((name): StatusRow => {
                const declared = stack.model(name);
                const environment = stack.environment ?? null;
                const alias = environment === null ? null : safeAlias(environment);
                const base = {
                    stack: stack.source.stack,
                    environment,
                    model: name,
                    registeredModel: declared?.registeredModel ?? null,
                    declaredVersion: declared?.version ?? null,
                    ...(declared?.challenger !== undefined && { challenger: declared.challenger }),
                    alias,
                };
                // Every cluster of an environment serves the version its stack declares: the ApplicationSet renders it once per cluster.
                const clusters = stack.clusterNames.map((cluster) => ({ name: cluster, version: base.declaredVersion }));
                const row = (state: DriftState, aliasVersion: string | null, detail: string): StatusRow => ({
                    ...base,
                    aliasVersion,
                    state,
                    detail,
                    ...(clusters.length > 0 && { clusters }),
                });
                if (base.registeredModel === null || alias === null)
                    return row("drift", null, `${stack.source.file} names no registered model or environment for it`);
                const answer = answers.get(base.registeredModel) ?? { kind: "error", message: "not asked" };
                if (answer.kind === "error") return row("unreachable", null, `registry cannot be asked: ${answer.message}`);
                if (answer.kind === "missing") return row("model-missing", null, `registered model "${base.registeredModel}" does not exist in the registry`);
                const pointsTo = answer.value.aliases[alias];
                if (pointsTo === undefined)
                    return row("alias-missing", null, `alias ${base.registeredModel}@${alias} is not set; declared ${base.declaredVersion ?? "(none)"}`);
                if (pointsTo !== base.declaredVersion)
                    return row(
                        "drift",
                        pointsTo,
                        `alias ${base.registeredModel}@${alias} → ${pointsTo}, but ${stack.source.file} declares ${base.declaredVersion ?? "(none)"}`,
                    );
                return row("in-sync", pointsTo, "in sync");
            }),
        )
        .sort((a, b) => a.model.localeCompare(b.model));
}

export function formatStatusTable(rows: readonly StatusRow[], registryUrl: string | undefined): string {
    const cluster = rows.some((r) => r.servedVersion !== undefined);
    const header = ["MODEL", "STACK", "DECLARED", "ALIAS", "REGISTRY", ...(cluster ? ["SERVED"] : []), "STATE"];
    const cells = rows.map((r) => [
        r.model,
        r.stack,
        `${r.declaredVersion ?? "-"}${r.challenger !== undefined ? ` (challenger ${r.challenger})` : ""}`,
        r.alias === null ? "-" : `@${r.alias}`,
        r.aliasVersion ?? "-",
        ...(cluster ? [r.servedVersion ?? "-"] : []),
        r.state === "in-sync" ? "in sync" : `${r.state}: ${r.detail}`,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
    const line = (values: readonly string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] as number))).join("  ");
    return [`registry: ${registryUrl ?? "(MLFLOW_TRACKING_URI is not set)"}`, line(header), ...cells.map(line), ...clusterLines(rows)].join("\n");
}

/** Per stack and declared cluster, which version of each model it serves; nothing when no stack declares clusters. */
function clusterLines(rows: readonly StatusRow[]): string[] {
    const served = new Map<string, string[]>();
    for (const row of rows) {
        for (const cluster of row.clusters ?? []) {
            const key = `${row.stack}/${cluster.name}`;
            const challenger = row.challenger !== undefined ? ` (challenger ${row.challenger})` : "";
            served.set(key, [...(served.get(key) ?? []), `${row.model} ${cluster.version ?? "-"}${challenger}`]);
        }
    }
    if (served.size === 0) return [];
    const header = "CLUSTER";
    const width = Math.max(header.length, ...[...served.keys()].map((k) => k.length));
    const sorted = [...served].sort(([a], [b]) => a.localeCompare(b));
    return ["", `${header.padEnd(width)}  SERVES`, ...sorted.map(([key, models]) => `${key.padEnd(width)}  ${models.join(", ")}`)];
}

export interface SyncItem {
    readonly model: string;
    readonly registeredModel: string | undefined;
    readonly declaredVersion: string | undefined;
    readonly actions: readonly RegistryAction[];
    /** Why this model cannot be synced; `undefined` when it can. */
    readonly problem: string | undefined;
    /** Why the rollout is not recorded as validated although the version serves (no canary analysis ran). */
    readonly note?: string;
}

export interface SyncAnswers {
    readonly model: Answer<RegisteredModel>;
    readonly version: Answer<ModelVersion>;
}

export interface SyncContext {
    /** ISO-8601: the time recorded where a declaration names none, and the time a rollout is recorded as validated. */
    readonly now: string;
    readonly commit: string | undefined;
    /**
     * With `--rolled-out`: per model, what the cluster says of the declared version's rollout. Only a
     * version the cluster serves after a canary analysis that succeeded (Canary Succeeded, the primary
     * running it) is recorded as validated in the environment; a first deploy (Canary Initialized)
     * serves without any analysis, so its alias moves but nothing is recorded as validated. Without
     * `rollouts`, nothing is recorded as validated.
     */
    readonly rollouts?: ReadonlyMap<string, { readonly serving: boolean; readonly analysed: boolean; readonly detail: string }>;
    /** Rollbacks the stack file's history records whose registry tag is missing (rollback's registry step failed). */
    readonly missingRollbackTags?: ReadonlyArray<{ readonly model: string; readonly version: string; readonly tag: RollbackTag }>;
}

/**
 * The writes that make a stack's registry state match its declarations: the environment's alias at
 * the declared version, and the version tagged as promoted there when it is not yet (that tag is how
 * the next environment's promotion knows it ran here). Nothing when both already hold: idempotent.
 */
export function planSync(stack: StackText, answers: ReadonlyMap<string, SyncAnswers>, context: SyncContext): SyncItem[] {
    const environment = stack.environment;
    return stack.modelNames.map((name): SyncItem => {
        const declared = stack.model(name);
        const registeredModel = declared?.registeredModel;
        const version = declared?.version;
        const item = (problem: string | undefined, actions: RegistryAction[] = []): SyncItem => ({
            model: name,
            registeredModel,
            declaredVersion: version,
            actions,
            problem,
        });
        if (environment === undefined) return item(`${stack.source.file} sets no mlops-platform:environment`);
        if (registeredModel === undefined || version === undefined) return item(`${stack.source.file} declares no registeredModel and version for it`);
        const answer = answers.get(`${registeredModel}/${version}`);
        if (answer === undefined) return item("not asked");
        if (answer.model.kind === "error") return item(`registry cannot be asked: ${answer.model.message}`);
        if (answer.version.kind === "error") return item(`registry cannot be asked: ${answer.version.message}`);
        if (answer.model.kind === "missing") return item(`registered model "${registeredModel}" does not exist in the registry`);
        if (answer.version.kind === "missing") return item(`version ${version} of "${registeredModel}" does not exist in the registry`);
        const rollout = context.rollouts?.get(name);
        if (context.rollouts !== undefined && rollout === undefined) return item("the cluster was not asked about its rollout");
        if (rollout !== undefined && !rollout.serving)
            return item(`version ${version} is not serving in ${environment}, so its rollout is not recorded: ${rollout.detail}`);
        const alias = environmentAlias(environment);
        const actions: RegistryAction[] = [];
        const current = answer.model.value.aliases[alias];
        if (current !== version) actions.push({ kind: "set-alias", registeredModel, alias, version, previous: current ?? null });
        const tagKey = promotionTagKey(environment);
        if (answer.version.value.tags[tagKey] === undefined) {
            const { promotedAt, approvedBy } = declaredPromotion(declared?.promotion);
            const tag: PromotionTag = {
                promotedAt: promotedAt ?? context.now,
                ...(context.commit !== undefined && { commit: context.commit }),
                ...(approvedBy !== undefined && { approvedBy }),
            };
            actions.push({ kind: "set-tag", registeredModel, version, key: tagKey, value: formatPromotionTag(tag) });
        }
        const validationKey = validationTagKey(environment);
        if (rollout?.serving === true && rollout.analysed && answer.version.value.tags[validationKey] === undefined) {
            actions.push({ kind: "set-tag", registeredModel, version, key: validationKey, value: context.now });
        }
        for (const missing of (context.missingRollbackTags ?? []).filter((m) => m.model === name)) {
            actions.push({
                kind: "set-tag",
                registeredModel,
                version: missing.version,
                key: rollbackTagKey(environment),
                value: formatRollbackTag(missing.tag),
            });
        }
        if (rollout?.serving === true && !rollout.analysed && answer.version.value.tags[validationKey] === undefined) {
            return { ...item(undefined, actions), note: `not recorded as validated in ${environment}: ${rollout.detail}, without a canary analysis` };
        }
        return item(undefined, actions);
    });
}

function declaredPromotion(promotion: YamlValue | undefined): { promotedAt?: string; approvedBy?: string[] } {
    const record = (value: YamlValue | undefined) =>
        typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, YamlValue>) : undefined;
    const evidence = record(record(promotion)?.["evidence"]);
    const approvers = record(promotion)?.["approvedBy"];
    return {
        ...(typeof evidence?.["promotedAt"] === "string" && { promotedAt: evidence["promotedAt"] }),
        ...(Array.isArray(approvers) && { approvedBy: approvers.filter((a): a is string => typeof a === "string") }),
    };
}

function safeAlias(environment: string): string | null {
    try {
        return environmentAlias(environment);
    } catch {
        return null;
    }
}
