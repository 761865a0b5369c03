import * as path from "node:path";
import { Command } from "commander";
import { environmentAlias } from "../policies/registryContract";
import { applyChange, describePlan, requireBranch, requireCleanStackFile } from "./gitops/apply";
import {
    askRegistry,
    asRefusal,
    asRefusalAsync,
    type CommandIo,
    parseList,
    processIo,
    readStacks,
    resolveProjectDir,
    runAsScript,
    runCommand,
    versionAndRun,
    withProjectDir,
} from "./gitops/command";
import { loadCriteria } from "./gitops/criteria";
import { GitRepository } from "./gitops/git";
import { githubFromEnv } from "./gitops/github";
import {
    planPromotion,
    promotionBranch,
    type PromotionRequest,
    promotionSubject,
    promotionTarget,
    REVIEWED_ENVIRONMENT,
    type StackChangePlan,
} from "./gitops/plan";
import { openPromotionPullRequest, type PullRequestTarget } from "./gitops/pullRequest";
import { registryFromEnv } from "./gitops/registryActions";
import { Refusal } from "./gitops/refusal";
import { oneLine, rollbacksInHistory, rollbacksInRegistry } from "./gitops/rollbacks";

/**
 * `npm run promote -- <model> <version> --to <stack> [--approved-by a,b] [--allow-rolled-back <reason>] [--dry-run]`
 *
 * Reads the version and its run from the MLflow registry and judges it by the target environment's
 * criteria (policies/config/<env>.json, the pack's own): metric thresholds; for production also that
 * staging declares it and the registry records its successful staging rollout long enough ago (soak),
 * and no regression against the version production serves (the champion). Then:
 * - into staging: one commit of `Pulumi.staging.yaml` on the current branch, then the registry's
 *   alias and promotion tag;
 * - into production: the commit goes on a new branch, pushed to the remote, and a pull request whose
 *   body is the evidence table is opened (GITHUB_TOKEN + GITHUB_REPOSITORY) or its command printed.
 *   Approval is the pull request's approving reviews; the deploy workflow checks them
 *   (`npm run check-approvals`). The registry learns of it after the merge and the rollout.
 * Refusals exit 2 (bad input) or 1 (criteria not met, registry unreachable) and change nothing.
 */

export interface PromoteOptions {
    readonly projectDir: string;
    readonly dryRun: boolean;
    /** The remote a reviewed promotion's branch is pushed to. */
    readonly remote: string;
}

export async function promote(request: PromotionRequest, options: PromoteOptions, io: CommandIo): Promise<number> {
    const subject = promotionSubject(request);
    const { projectDir } = options;
    const { stacks, unreadable } = readStacks(projectDir, subject);
    // The target's own problem refuses; another broken stack file only stays out of the promotion.
    const broken = unreadable.find((u) => u.stack === request.stack);
    if (broken !== undefined) throw Refusal.of(subject, "input", broken.problem);
    for (const other of unreadable) io.err(`warning: not read, so it plays no part in this promotion: ${other.problem}`);
    const { target, registeredModel, environment } = promotionTarget(request, stacks);
    const repo = await asRefusalAsync(subject, () => GitRepository.open(projectDir, { onLockWait: io.err }));
    const branch = await asRefusalAsync(subject, () => requireBranch(repo, subject));
    await requireCleanStackFile(repo, subject, path.join(projectDir, target.source.file), target.source.file);
    const criteria = asRefusal(subject, () => loadCriteria(projectDir, request.stack, environment));
    // What the previous environment declares is read from its file: it must be what git holds too.
    for (const source of stacks.filter((s) => s !== target && s.environment === criteria.config.requiredValidationEnvironment)) {
        await requireCleanStackFile(repo, subject, path.join(projectDir, source.source.file), source.source.file);
    }
    const reviewed = environment === REVIEWED_ENVIRONMENT;
    const github = reviewed ? githubFromEnv(subject, io.env) : undefined;
    const pullRequestTarget: PullRequestTarget | undefined = reviewed
        ? await asRefusalAsync(subject, () => pullRequestTargetOf(repo, subject, options.remote, branch, request, options.dryRun))
        : undefined;

    const registry = registryFromEnv(subject, io.env);
    const answers = await versionAndRun(registry, subject, registeredModel, request.version);
    // The champion: what the target environment serves now, by its alias in the one registry.
    const compares = Object.keys(criteria.config.maxRegression).length > 0 && criteria.enforcementLevel !== "disabled";
    const championVersion = compares ? await askRegistry(subject, () => registry.getVersionByAlias(registeredModel, environmentAlias(environment))) : undefined;
    const championRunId = championVersion?.runId;
    const championRun = championRunId === undefined ? undefined : await askRegistry(subject, () => registry.getRun(championRunId));
    const promotedAt = io
        .now()
        .toISOString()
        .replace(/\.\d{3}Z$/, "Z");
    // Rolled back before? git's rollback commits of this stack file, and the registry's tags of every environment.
    const inGit = (await asRefusalAsync(subject, () => rollbacksInHistory(repo, path.join(projectDir, target.source.file), request.model))).filter(
        (r) => r.version === request.version,
    );
    // Both usually say the same rollback: the registry's words (every environment) win, git's stand in when it has none.
    const inRegistry = answers.modelVersion === undefined ? [] : rollbacksInRegistry(answers.modelVersion);
    const rolledBack = inRegistry.length > 0 ? inRegistry : inGit;
    if (request.allowRolledBack !== undefined && rolledBack.length === 0)
        io.err(`warning: --allow-rolled-back is not needed: version ${request.version} was never rolled back`);
    const plan = planPromotion({
        request,
        stacks,
        criteria,
        registry: {
            url: registry.registryUrl,
            ...answers,
            ...(championVersion !== undefined && { champion: { modelVersion: championVersion, run: championRun } }),
        },
        promotedAt,
        rolledBack,
    });
    for (const warning of plan.warnings) io.err(`warning: ${warning} (advisory in ${criteria.file})`);

    if (options.dryRun) {
        io.out(`dry run: would ${subject}\n${describePlan(plan)}${pullRequestTarget === undefined ? "" : describePullRequest(plan, pullRequestTarget)}`);
        return 0;
    }
    if (plan.pullRequest !== undefined && pullRequestTarget !== undefined) {
        return openPromotionPullRequest(plan, plan.pullRequest, { projectDir, repo, target: pullRequestTarget, github, criteria: criteria.config }, io);
    }
    const applied = await applyChange(plan, { projectDir, repo, registry });
    io.out(
        `promoted ${plan.model} ${plan.fromVersion ?? "(none)"} → ${plan.toVersion} in ${plan.stack}: commit ${applied.commit.slice(0, 12)}; ` +
            `registry: ${applied.registryActions.join("; ")}`,
    );
    return 0;
}

/**
 * Where a reviewed promotion goes: a new branch from the current one, pushed to `remote`. Checked
 * before the registry is asked: the remote must exist and the branch must be new, here and there.
 */
async function pullRequestTargetOf(
    repo: GitRepository,
    subject: string,
    remote: string,
    base: string,
    request: PromotionRequest,
    dryRun: boolean,
): Promise<PullRequestTarget> {
    const branch = promotionBranch(request);
    try {
        await repo.remoteUrl(remote);
    } catch {
        throw Refusal.of(subject, "input", `there is no git remote "${remote}" to push the promotion's branch to; add it, or name another with --remote`);
    }
    if (await repo.hasBranch(branch)) {
        throw Refusal.of(subject, "input", `branch ${branch} already exists here: a promotion of this version is under way (delete the branch to start over)`);
    }
    if (!dryRun && (await repo.remoteHasBranch(remote, branch))) {
        throw Refusal.of(
            subject,
            "input",
            `branch ${branch} already exists on ${remote}: a promotion of this version is under way (delete it there to start over)`,
        );
    }
    return { remote, branch, base };
}

function describePullRequest(plan: StackChangePlan, target: PullRequestTarget): string {
    const pullRequest = plan.pullRequest;
    if (pullRequest === undefined) return "";
    return [
        "",
        `then: the commit goes on a new branch ${target.branch} from ${target.base}, pushed to ${target.remote}, and a pull request into ${target.base}:`,
        `  title: ${pullRequest.title}`,
        ...pullRequest.body.split("\n").map((line) => `  ${line}`.trimEnd()),
        "",
    ].join("\n");
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode = 0;
    const command = withProjectDir(new Command("promote"))
        .description(
            "Promote a registry version of a model into a stack, judged by the environment's criteria (policies/config) against the MLflow registry " +
                "(MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN): into staging one commit of Pulumi.<stack>.yaml, then the registry's " +
                "alias and promotion tag; into production a branch, pushed, and a pull request with the evidence (GITHUB_TOKEN, GITHUB_REPOSITORY, " +
                "GITHUB_API_URL), approved by its reviews.",
        )
        .argument("<model>", "the model, as named under mlops-platform:models")
        .argument("<version>", "the registry version to promote")
        .requiredOption("--to <stack>", "the stack to promote into (Pulumi.<stack>.yaml)")
        .option(
            "--approved-by <names>",
            "who must approve, comma-separated (GitHub logins among the policy config's allowedApprovers); in production this only asks them: " +
                "approval is their approving review of the pull request",
            (value: string, previous: string[]) => parseList(value, previous),
            [] as string[],
        )
        .option("--allow-rolled-back <reason>", "promote a version that was rolled back before (refused without this); the reason goes into the commit")
        .option("--remote <name>", "the git remote a production promotion's branch is pushed to", "origin")
        .option("--dry-run", "show the diff, commit message and what would follow (registry writes, or the pull request); change nothing", false)
        .action(
            async (
                model: string,
                version: string,
                opts: { to: string; approvedBy: string[]; dryRun: boolean; projectDir: string; allowRolledBack?: string; remote: string },
            ) => {
                const allowRolledBack = opts.allowRolledBack === undefined ? undefined : oneLine(opts.allowRolledBack);
                if (allowRolledBack === "") {
                    throw Refusal.of(
                        promotionSubject({ model, version, stack: opts.to, approvedBy: [] }),
                        "input",
                        "--allow-rolled-back is empty; say why the version is safe now",
                    );
                }
                exitCode = await promote(
                    { model, version, stack: opts.to, approvedBy: opts.approvedBy, ...(allowRolledBack !== undefined && { allowRolledBack }) },
                    { projectDir: resolveProjectDir(io, opts.projectDir), dryRun: opts.dryRun, remote: opts.remote },
                    io,
                );
            },
        );
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
