import type { ModelVersion, Run } from "../../policies/mlflowRestClient";
import {
    environmentAlias,
    formatRollbackTag,
    formatValidationTag,
    parseValidationTag,
    rollbackTagKey,
    validationTagKey,
} from "../../policies/registryContract";
import { platformConfigProblems } from "../../infra/validation";
import { formatProblem, parseStackFile } from "../../stacks";
import { type EnvironmentCriteria, judge, judgedMetrics } from "./criteria";
import { type RegistryAction, promotionActions, rollbackActions } from "./registryActions";
import { Refusal, type RefusalReason } from "./refusal";
import { type RolledBackVersion, rolledBackTrailer, TRAILERS } from "./rollbacks";
import { type ModelDeclaration, StackFileProblem, type StackText } from "./stackText";
import type { YamlValue } from "./yamlEdit";

/**
 * The pure half of promote and rollback: from the stack files' texts, the registry's answers and the
 * environment's criteria to the new text of one stack file, its commit message and the registry
 * actions to take after the commit — or a `Refusal` that says why not. No I/O happens here, so every
 * rule is tested without git or MLflow; `cli/promote.ts` and `cli/rollback.ts` gather the inputs and
 * carry the plan out.
 */

const PINNED_VERSION = /^[1-9][0-9]*$/;

export interface PromotionRequest {
    readonly model: string;
    readonly version: string;
    /** The target stack. */
    readonly stack: string;
    readonly approvedBy: readonly string[];
    /** Why a version that was rolled back may be promoted again (`--allow-rolled-back`); it goes into the commit. */
    readonly allowRolledBack?: string | undefined;
}

/** What the registry said about the requested version; `undefined` where it answered "does not exist". */
export interface RegistryAnswers {
    readonly url: string;
    readonly modelVersion: ModelVersion | undefined;
    /** The run the version was registered from; `undefined` when it has none or the run does not exist. */
    readonly run: Run | undefined;
    /**
     * The champion: the version the target environment's alias points at (what it serves) and that
     * version's run, asked only where the criteria compare against it (`maxRegression`); `undefined`
     * when the alias is not set.
     */
    readonly champion?: { readonly modelVersion: ModelVersion; readonly run: Run | undefined } | undefined;
}

export interface PromotionInputs {
    readonly request: PromotionRequest;
    /** Every stack file of the project; the target and the previous environment's among them. */
    readonly stacks: readonly StackText[];
    readonly criteria: EnvironmentCriteria;
    readonly registry: RegistryAnswers;
    /** ISO-8601, recorded as `promotedAt`. */
    readonly promotedAt: string;
    /** What git and the registry say of rollbacks away from the requested version (none when it never was). */
    readonly rolledBack?: readonly RolledBackVersion[];
}

/** A change to one stack file, ready to be written, committed and recorded in the registry. */
export interface StackChangePlan {
    /** What was asked, for messages: `promote fraud-detector version 8 to production`. */
    readonly subject: string;
    readonly stack: string;
    /** The stack file, relative to the project directory. */
    readonly file: string;
    readonly model: string;
    readonly registeredModel: string;
    readonly environment: string;
    readonly fromVersion: string | undefined;
    readonly toVersion: string;
    readonly before: string;
    readonly after: string;
    readonly commitMessage: string;
    /** Criteria an advisory policy reports but does not enforce. */
    readonly warnings: readonly string[];
    /** Registry writes once the commit exists. */
    registryActions(commit: string): RegistryAction[];
    /**
     * Set where the change goes through a pull request (production): its title and body (the evidence
     * table). The commit then goes on a branch of its own, and the registry learns of it only after
     * the merge, the deployment and the rollout (sync-registry).
     */
    readonly pullRequest?: { readonly title: string; readonly body: string };
    /** The approvers the change names (a pull request asks them for their reviews). */
    readonly approvers?: readonly string[];
}

export interface PromotionEvidence {
    readonly runId: string;
    readonly metrics: Readonly<Record<string, number>>;
    readonly validatedIn?: string;
    readonly validatedAt?: string;
    readonly promotedAt: string;
    readonly champion?: { readonly version: string; readonly metrics: Readonly<Record<string, number>> };
}

/** The environment whose promotions go through a pull request, approved by reviews (not by a flag). */
export const REVIEWED_ENVIRONMENT = "production";

/** The branch a reviewed promotion is committed on. */
export function promotionBranch(request: Pick<PromotionRequest, "model" | "version" | "stack">): string {
    return `promote/${request.stack}/${request.model}-${request.version}`;
}

export function promotionSubject(request: PromotionRequest): string {
    return `promote ${request.model} version ${request.version} to ${request.stack}`;
}

/** The stack and model a promotion targets; refuses an unknown stack, model or malformed version before anything is asked of the registry. */
export function promotionTarget(
    request: PromotionRequest,
    stacks: readonly StackText[],
): { target: StackText; declared: ModelDeclaration; registeredModel: string; environment: string } {
    const refuse = (message: string) => Refusal.of(promotionSubject(request), "input", message);
    const target = stacks.find((s) => s.source.stack === request.stack);
    if (target === undefined) throw refuse(`there is no stack "${request.stack}" (stacks: ${stacks.map((s) => s.source.stack).join(", ") || "none"})`);
    const file = target.source.file;
    const environment = target.environment;
    if (environment === undefined) throw refuse(`${file} sets no mlops-platform:environment`);
    const declared = target.model(request.model);
    if (declared === undefined) throw refuse(`${file} declares no model "${request.model}" (declared: ${target.modelNames.join(", ") || "none"})`);
    const registeredModel = declared.registeredModel;
    if (registeredModel === undefined) throw refuse(`${file}: model "${request.model}" names no registeredModel`);
    if (!PINNED_VERSION.test(request.version))
        throw refuse(`"${request.version}" is not a registry version number (a pinned positive integer, never an alias or "latest")`);
    if (declared.version === request.version) throw refuse(`${file} already declares version ${request.version}; nothing to promote`);
    return { target, declared, registeredModel, environment };
}

export function planPromotion(inputs: PromotionInputs): StackChangePlan {
    const { request, criteria, registry } = inputs;
    const subject = promotionSubject(request);
    const refuse = (kind: RefusalReason["kind"], message: string) => Refusal.of(subject, kind, message);
    const { target, declared, registeredModel, environment } = promotionTarget(request, inputs.stacks);
    const file = target.source.file;

    const modelVersion = registry.modelVersion;
    if (modelVersion === undefined)
        throw refuse("input", `version ${request.version} of registered model "${registeredModel}" does not exist in the registry at ${registry.url}`);
    const blocking: string[] = [];
    if (modelVersion.status !== "READY")
        blocking.push(`version ${request.version} of "${registeredModel}" is ${modelVersion.status} in the registry, not READY`);
    if (modelVersion.runId === undefined)
        blocking.push(`version ${request.version} of "${registeredModel}" was registered from no run, so there are no metrics to judge it by`);
    else if (registry.run === undefined)
        blocking.push(`run ${modelVersion.runId} of version ${request.version} of "${registeredModel}" does not exist in the registry`);
    if (blocking.length > 0 || modelVersion.runId === undefined || registry.run === undefined) throw reasons(subject, blocking);
    const run = registry.run;

    const { validatedIn, validatedAt, stageProblems } = previousStage(inputs, target, registeredModel, modelVersion);
    const metrics = evidenceMetrics(declared, run, criteria);
    const { champion, championProblems } = championOf(inputs, registeredModel, environment, metrics.names);
    const evidence: PromotionEvidence = {
        runId: run.runId,
        metrics: metrics.values,
        ...(validatedIn !== undefined && { validatedIn }),
        ...(validatedAt !== undefined && { validatedAt }),
        promotedAt: inputs.promotedAt,
        ...(champion !== undefined && { champion }),
    };
    // A skipped stage or a missing record is reported above in the registry's terms; the policy's own wording would repeat it.
    const verdict = judge(
        criteria,
        {
            metrics: run.metrics,
            ...(validatedIn !== undefined && { validatedIn }),
            ...(validatedAt !== undefined && { validatedAt }),
            promotedAt: inputs.promotedAt,
            ...(champion !== undefined && { champion }),
            approvedBy: request.approvedBy,
        },
        { validation: stageProblems.length > 0, champion: championProblems.length > 0 },
    );
    const advisory = criteria.enforcementLevel === "advisory";
    const unwritable = metrics.names
        .filter((name) => !Number.isFinite(run.metrics[name]))
        .map((name) => `run ${run.runId} recorded ${name} = ${run.metrics[name]}, which cannot be declared as evidence`);
    const rolledBack = inputs.rolledBack ?? [];
    const rollbackProblems =
        rolledBack.length === 0 || request.allowRolledBack !== undefined
            ? []
            : [
                  `version ${request.version} was ${rolledBack.map((r) => r.said).join("; ")}; ` +
                      'promote it again only with --allow-rolled-back "<why it is safe now>"',
              ];
    const recordProblems = [...stageProblems, ...championProblems];
    const blockingProblems = [...rollbackProblems, ...(advisory ? [] : recordProblems), ...verdict.blocking, ...unwritable];
    if (blockingProblems.length > 0) throw reasons(subject, blockingProblems);
    const warnings = [...(advisory ? recordProblems : []), ...verdict.warnings];
    const reviewed = environment === REVIEWED_ENVIRONMENT;

    const promotion: YamlValue = { evidence: { ...evidence, metrics: { ...evidence.metrics } }, approvedBy: [...request.approvedBy] };
    const after = edited(subject, () => target.withDeclaration(request.model, { version: request.version, promotion }));
    checkStackConfig(subject, target, after);

    const criteriaLine = `${criteria.file} (${criteria.enforcementLevel}): ${criteria.enforcementLevel === "disabled" ? "not checked" : warnings.length === 0 ? "met" : `not met: ${warnings.join("; ")}`}`;
    const title = `promote ${request.model} ${declared.version ?? "(none)"} → ${request.version} in ${request.stack}`;
    const commitMessage = [
        title,
        "",
        `Model:       ${request.model} (registered model ${registeredModel})`,
        `Version:     ${declared.version ?? "(none)"} → ${request.version}`,
        `Environment: ${environment} (${file})${validatedIn !== undefined ? `, validated in ${validatedIn}` : ""}`,
        `Run:         ${run.runId}`,
        `Metrics:     ${formatMetrics(evidence.metrics)}`,
        ...(validatedAt !== undefined
            ? [`Validated:   ${describeSoak(validatedIn ?? "", validatedAt, inputs.promotedAt, criteria.config.minValidationSoakHours)}`]
            : []),
        ...(champion !== undefined ? [`Champion:    ${describeChampion(champion, evidence.metrics, criteria.config.maxRegression, environment)}`] : []),
        reviewed
            ? `Approvers:   ${request.approvedBy.join(", ") || "nobody"} (approval: their approving reviews of the pull request; --approved-by only asks for them)`
            : `Approved by: ${request.approvedBy.join(", ") || "nobody"}`,
        `Criteria:    ${criteriaLine}`,
        ...(declared.challenger === request.version
            ? [`Experiment:  ended: challenger ${request.version} becomes the champion (models.${request.model}.experiment removed)`]
            : []),
        ...(rolledBack.length > 0 && request.allowRolledBack !== undefined
            ? [
                  `Rolled back: version ${request.version} was ${rolledBack.map((r) => r.said).join("; ")}; promoted again because: ${request.allowRolledBack}`,
                  "",
                  `${TRAILERS.allowRolledBack}: ${request.allowRolledBack}`,
              ]
            : []),
    ].join("\n");

    return {
        subject,
        stack: request.stack,
        file,
        model: request.model,
        registeredModel,
        environment,
        fromVersion: declared.version,
        toVersion: request.version,
        before: target.text,
        after,
        commitMessage,
        warnings,
        // A reviewed promotion reaches the registry through sync-registry, after merge, deployment and rollout.
        registryActions: (commit) =>
            reviewed
                ? []
                : promotionActions(registeredModel, environment, request.version, { promotedAt: inputs.promotedAt, commit, approvedBy: request.approvedBy }),
        approvers: [...request.approvedBy],
        ...(reviewed && {
            pullRequest: {
                title,
                body: evidenceTable({ request, registeredModel, environment, file, fromVersion: declared.version, evidence, criteria, criteriaLine }),
            },
        }),
    };
}

/** `in staging, rollout succeeded <t>: 52.3 hours before this promotion (at least 24 required)`. */
function describeSoak(environment: string, validatedAt: string, promotedAt: string, minHours: number): string {
    const hours = Math.round(((Date.parse(promotedAt) - Date.parse(validatedAt)) / 3_600_000) * 10) / 10;
    return `in ${environment}, rollout succeeded ${validatedAt}: ${hours} hours before this promotion (at least ${minHours} required)`;
}

/** `version 7 (production's alias): accuracy 0.95 → 0.97 (+0.02), f1 …; regression tolerated: accuracy 0.01, f1 0.01`. */
function describeChampion(
    champion: NonNullable<PromotionEvidence["champion"]>,
    ours: Readonly<Record<string, number>>,
    tolerance: Readonly<Record<string, number>>,
    environment: string,
): string {
    const compared = Object.keys(champion.metrics)
        .filter((name) => ours[name] !== undefined)
        .map((name) => {
            const delta = (ours[name] as number) - (champion.metrics[name] as number);
            return `${name} ${champion.metrics[name]} → ${ours[name]} (${delta >= 0 ? "+" : ""}${Number(delta.toPrecision(6))})`;
        });
    const tolerated = Object.entries(tolerance).map(([name, value]) => `${name} ${value}`);
    return `version ${champion.version} (${environment}'s alias): ${compared.join(", ") || "no metric in common"}; regression tolerated: ${tolerated.join(", ") || "none"}`;
}

/** The pull request's body: what a reviewer approves, as one table. */
function evidenceTable(facts: {
    readonly request: PromotionRequest;
    readonly registeredModel: string;
    readonly environment: string;
    readonly file: string;
    readonly fromVersion: string | undefined;
    readonly evidence: PromotionEvidence;
    readonly criteria: EnvironmentCriteria;
    readonly criteriaLine: string;
}): string {
    const { request, evidence, criteria } = facts;
    const config = criteria.config;
    const champion = evidence.champion;
    const names = [...new Set([...Object.keys(evidence.metrics), ...Object.keys(champion?.metrics ?? {})])];
    const bound = (name: string) =>
        [
            config.minMetrics[name] !== undefined ? `≥ ${config.minMetrics[name]}` : undefined,
            config.maxMetrics[name] !== undefined ? `≤ ${config.maxMetrics[name]}` : undefined,
            config.maxRegression[name] !== undefined ? `regression ≤ ${config.maxRegression[name]}` : undefined,
        ]
            .filter((part) => part !== undefined)
            .join(", ") || "—";
    const cell = (value: number | undefined) => (value === undefined ? "—" : String(value));
    return [
        `Promotes **${request.model}** (registered model \`${facts.registeredModel}\`) from version ${facts.fromVersion ?? "(none)"} to **version ${request.version}** in \`${facts.environment}\` (\`${facts.file}\`).`,
        "",
        `| metric | version ${request.version} | champion${champion !== undefined ? ` (version ${champion.version})` : ""} | required |`,
        "|---|---|---|---|",
        ...names.map((name) => `| ${name} | ${cell(evidence.metrics[name])} | ${cell(champion?.metrics[name])} | ${bound(name)} |`),
        "",
        "| evidence | |",
        "|---|---|",
        `| run | \`${evidence.runId}\` |`,
        `| validated in | ${evidence.validatedIn ?? "—"}${evidence.validatedAt !== undefined ? `, rollout succeeded ${evidence.validatedAt}` : ""} |`,
        `| soak required | ${config.minValidationSoakHours} hours |`,
        `| promoted at | ${evidence.promotedAt} |`,
        `| criteria | ${facts.criteriaLine.replace(/\|/g, "\\|")} |`,
        `| approvers asked | ${request.approvedBy.join(", ") || "nobody"} |`,
        "",
        `Approval is given by reviewing this pull request: the deploy workflow runs production's \`pulumi up\` only for a merge approved on its last commit by ${config.minApprovals} of ${config.allowedApprovers.join(", ") || "nobody"} (\`npm run check-approvals\`).`,
    ].join("\n");
}

/**
 * The stage before the target: the environment its criteria require validation in. The version must
 * be what that environment's stack file declares, and the registry must record its successful
 * rollout there (`mlops.validated.<environment>`, written by the deploy workflow), whose time the
 * evidence then declares and the soak is measured from.
 */
function previousStage(
    inputs: PromotionInputs,
    target: StackText,
    registeredModel: string,
    modelVersion: ModelVersion,
): { validatedIn: string | undefined; validatedAt: string | undefined; stageProblems: string[] } {
    const { request, criteria } = inputs;
    const required = criteria.config.requiredValidationEnvironment;
    if (required === "" || criteria.enforcementLevel === "disabled") return { validatedIn: undefined, validatedAt: undefined, stageProblems: [] };
    const sources = inputs.stacks.filter((s) => s !== target && s.environment === required);
    if (sources.length === 0) {
        throw Refusal.of(
            promotionSubject(request),
            "input",
            `${criteria.file} requires validation in "${required}", but no stack file declares mlops-platform:environment ${required}`,
        );
    }
    const source = sources.find((s) => s.model(request.model)?.version === request.version && s.model(request.model)?.registeredModel === registeredModel);
    if (source === undefined) {
        const there = sources.map((s) => `${s.source.file} declares ${describeVersion(s.model(request.model), registeredModel)}`).join(", ");
        return {
            validatedIn: undefined,
            validatedAt: undefined,
            stageProblems: [`version ${request.version} skips ${required}: ${there}; promote it to ${required} first`],
        };
    }
    const tag = validationTagKey(required);
    const recorded = modelVersion.tags[tag];
    if (recorded === undefined) {
        return {
            validatedIn: required,
            validatedAt: undefined,
            stageProblems: [
                `the registry records no successful rollout of version ${request.version} in ${required} (no "${tag}" tag): ` +
                    `the deploy workflow writes it (npm run sync-registry -- --stack ${source.source.stack} --rolled-out) once ${required} serves the version`,
            ],
        };
    }
    const at = parseValidationTag(recorded);
    if (at === undefined) {
        return {
            validatedIn: required,
            validatedAt: undefined,
            stageProblems: [`the registry's "${tag}" tag of version ${request.version} is ${JSON.stringify(recorded)}, not an ISO-8601 time`],
        };
    }
    return { validatedIn: required, validatedAt: formatValidationTag(at), stageProblems: [] };
}

/**
 * The champion the criteria compare against (`maxRegression`): the version the target environment's
 * alias points at, with its run's values of the metrics this promotion declares and compares.
 */
function championOf(
    inputs: PromotionInputs,
    registeredModel: string,
    environment: string,
    declaredMetrics: readonly string[],
): { champion: PromotionEvidence["champion"]; championProblems: string[] } {
    const { criteria, registry } = inputs;
    const compared = Object.keys(criteria.config.maxRegression);
    if (compared.length === 0 || criteria.enforcementLevel === "disabled") return { champion: undefined, championProblems: [] };
    const alias = environmentAlias(environment);
    if (registry.champion === undefined) {
        return {
            champion: undefined,
            championProblems: [
                `the registry has no "${alias}" alias for "${registeredModel}", so there is no champion to compare version ${inputs.request.version} with; ` +
                    `run npm run sync-registry -- --stack ${inputs.request.stack} once ${environment} serves its declared version`,
            ],
        };
    }
    const { modelVersion, run } = registry.champion;
    if (run === undefined) {
        return {
            champion: undefined,
            championProblems: [
                `the champion, version ${modelVersion.version} (alias "${alias}"), has no run in the registry to compare version ${inputs.request.version} with`,
            ],
        };
    }
    const names = [...new Set([...declaredMetrics, ...compared])].filter((name) => Number.isFinite(run.metrics[name]));
    return {
        champion: { version: modelVersion.version, metrics: Object.fromEntries(names.map((name) => [name, run.metrics[name] as number])) },
        championProblems: [],
    };
}

/**
 * The metrics a promotion declares, with the run's values: those the stack already declares for the
 * model (in its order, so the diff stays small), then those the criteria judge.
 */
function evidenceMetrics(declared: ModelDeclaration, run: Run, criteria: EnvironmentCriteria): { names: string[]; values: Record<string, number> } {
    const current = metricsOf(declared.promotion);
    const names = [...new Set([...current, ...judgedMetrics(criteria.config)])].filter((name) => run.metrics[name] !== undefined);
    return { names, values: Object.fromEntries(names.map((name) => [name, run.metrics[name] as number])) };
}

export interface RollbackInputs {
    readonly model: string;
    readonly current: StackText;
    /** The most recent earlier revision of the file that declares another version of the model. */
    readonly previous: { readonly commit: string; readonly subject: string; readonly stack: StackText };
    readonly registry: { readonly url: string; readonly modelVersion: ModelVersion | undefined };
    /** Why, as given with `--reason`. */
    readonly reason?: string | undefined;
    /** The incident record, as lines of the commit message: what was measured against which thresholds (the monitor's). */
    readonly incident?: readonly string[];
    /** ISO-8601, recorded in the registry's rollback tag. */
    readonly rolledBackAt: string;
}

export function rollbackSubject(model: string, stack: string): string {
    return `roll back ${model} in ${stack}`;
}

export function planRollback(inputs: RollbackInputs): StackChangePlan {
    const { model, current, previous } = inputs;
    const stack = current.source.stack;
    const file = current.source.file;
    const subject = rollbackSubject(model, stack);
    const refuse = (kind: RefusalReason["kind"], message: string) => Refusal.of(subject, kind, message);

    const environment = current.environment;
    if (environment === undefined) throw refuse("input", `${file} sets no mlops-platform:environment`);
    const declared = current.model(model);
    if (declared === undefined) throw refuse("input", `${file} declares no model "${model}" (declared: ${current.modelNames.join(", ") || "none"})`);
    const restored = previous.stack.model(model);
    if (restored?.version === undefined || restored.registeredModel === undefined) {
        throw refuse("input", `${file} at ${short(previous.commit)} declares no version of "${model}" to restore`);
    }
    if (restored.registeredModel !== declared.registeredModel) {
        throw refuse(
            "input",
            `${file} at ${short(previous.commit)} serves "${model}" from registered model "${restored.registeredModel}", not "${declared.registeredModel ?? "(none)"}"; roll back by hand`,
        );
    }
    const registeredModel = restored.registeredModel;
    const toVersion = restored.version;
    if (inputs.registry.modelVersion === undefined) {
        throw refuse("criteria", `version ${toVersion} of registered model "${registeredModel}" no longer exists in the registry at ${inputs.registry.url}`);
    }
    if (inputs.registry.modelVersion.status !== "READY") {
        throw refuse("criteria", `version ${toVersion} of "${registeredModel}" is ${inputs.registry.modelVersion.status} in the registry, not READY`);
    }
    const after = edited(subject, () => current.withDeclarationOf(model, previous.stack));
    checkStackConfig(subject, current, after);

    const evidence = evidenceOf(restored.promotion);
    const commitMessage = [
        `rollback ${model} ${declared.version ?? "(none)"} → ${toVersion} in ${stack}`,
        "",
        `Restores the declaration of ${model} in ${file} as of ${short(previous.commit)} (${previous.subject}):`,
        `version ${toVersion} and its evidence, exactly as they were.`,
        "",
        `Model:       ${model} (registered model ${registeredModel})`,
        `Version:     ${declared.version ?? "(none)"} → ${toVersion}`,
        `Environment: ${environment} (${file})`,
        `Run:         ${evidence.runId ?? "(none declared)"}`,
        `Metrics:     ${formatMetrics(evidence.metrics)}`,
        `Approved by: ${evidence.approvedBy.join(", ") || "nobody"} (of the restored promotion)`,
        ...(inputs.reason !== undefined ? [`Reason:      ${inputs.reason}`] : []),
        ...(inputs.incident !== undefined && inputs.incident.length > 0 ? ["", ...inputs.incident] : []),
        // Trailers: git itself then knows which version was rolled back (see rollbacks.ts).
        "",
        ...(declared.version !== undefined ? [rolledBackTrailer(model, declared.version)] : []),
        ...(inputs.reason !== undefined ? [`${TRAILERS.reason}: ${inputs.reason}`] : []),
    ].join("\n");
    const fromVersion = declared.version;

    return {
        subject,
        stack,
        file,
        model,
        registeredModel,
        environment,
        fromVersion: declared.version,
        toVersion,
        before: current.text,
        after,
        commitMessage,
        warnings: [],
        registryActions: (commit) => [
            ...rollbackActions(registeredModel, environment, toVersion),
            ...(fromVersion === undefined
                ? []
                : [
                      {
                          kind: "set-tag" as const,
                          registeredModel,
                          version: fromVersion,
                          key: rollbackTagKey(environment),
                          value: formatRollbackTag({
                              rolledBackAt: inputs.rolledBackAt,
                              ...(inputs.reason !== undefined && { reason: inputs.reason }),
                              commit,
                              restoredVersion: toVersion,
                          }),
                      },
                  ]),
        ],
    };
}

// ---- helpers --------------------------------------------------------------------------------------------

function reasons(subject: string, messages: readonly string[]): Refusal {
    return new Refusal(
        subject,
        messages.map((message) => ({ kind: "criteria" as const, message })),
    );
}

function edited(subject: string, edit: () => string): string {
    try {
        return edit();
    } catch (err) {
        if (err instanceof StackFileProblem) throw Refusal.of(subject, "input", err.message);
        throw err;
    }
}

/** The edit must not make the stack invalid; problems the file had before are not this command's to report. */
function checkStackConfig(subject: string, stack: StackText, after: string): void {
    const problemsOf = (text: string) => platformConfigProblems(parseStackFile(text, stack.source.file).values, stack.source.stack).problems.map(formatProblem);
    const before = new Set(problemsOf(stack.text));
    const introduced = problemsOf(after).filter((problem) => !before.has(problem));
    if (introduced.length > 0) throw Refusal.of(subject, "input", `the edited ${stack.source.file} would be invalid: ${introduced.join("; ")}`);
}

function describeVersion(declaration: ModelDeclaration | undefined, registeredModel: string): string {
    if (declaration === undefined) return "no such model";
    const of = declaration.registeredModel === registeredModel ? "" : ` of registered model "${declaration.registeredModel ?? "(none)"}"`;
    return declaration.version === undefined ? `no version${of}` : `version ${declaration.version}${of}`;
}

function metricsOf(promotion: YamlValue | undefined): string[] {
    const metrics = record(record(promotion)?.["evidence"])?.["metrics"];
    return Object.keys(record(metrics) ?? {});
}

function evidenceOf(promotion: YamlValue | undefined): { runId: string | undefined; metrics: Record<string, number>; approvedBy: string[] } {
    const evidence = record(record(promotion)?.["evidence"]);
    const metrics = Object.entries(record(evidence?.["metrics"]) ?? {}).filter((entry): entry is [string, number] => typeof entry[1] === "number");
    const approvers = record(promotion)?.["approvedBy"];
    return {
        runId: typeof evidence?.["runId"] === "string" ? evidence["runId"] : undefined,
        metrics: Object.fromEntries(metrics),
        approvedBy: Array.isArray(approvers) ? approvers.filter((a): a is string => typeof a === "string") : [],
    };
}

function record(value: YamlValue | undefined): Readonly<Record<string, YamlValue>> | undefined {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Readonly<Record<string, YamlValue>>) : undefined;
}

export function formatMetrics(metrics: Readonly<Record<string, number>>): string {
    const entries = Object.entries(metrics);
    return entries.length === 0 ? "(none)" : entries.map(([name, value]) => `${name}=${value}`).join(", ");
}

export function short(sha: string): string {
    return sha.slice(0, 12);
}
