import * as path from "node:path";
import { Command } from "commander";
import { applyChange, describePlan, requireBranch, requireCleanStackFile } from "./gitops/apply";
import {
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
import { planPromotion, type PromotionRequest, promotionSubject, promotionTarget } from "./gitops/plan";
import { registryFromEnv } from "./gitops/registryActions";
import { Refusal } from "./gitops/refusal";
import { oneLine, rollbacksInHistory, rollbacksInRegistry } from "./gitops/rollbacks";

/**
 * `npm run promote -- <model> <version> --to <stack> --approved-by a,b [--dry-run]`
 *
 * Reads the version and its run from the MLflow registry, judges it by the target environment's
 * criteria (policies/config), requires it to be what the previous environment declares, then makes
 * one commit of `Pulumi.<stack>.yaml` with the version and its evidence, and records the promotion in
 * the registry. Refusals exit 2 (bad input) or 1 (criteria not met, registry unreachable).
 */

export interface PromoteOptions {
    readonly projectDir: string;
    readonly dryRun: boolean;
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
    await asRefusalAsync(subject, () => requireBranch(repo, subject));
    await requireCleanStackFile(repo, subject, path.join(projectDir, target.source.file), target.source.file);
    const criteria = asRefusal(subject, () => loadCriteria(projectDir, request.stack, environment));
    // What the previous environment declares is read from its file: it must be what git holds too.
    for (const source of stacks.filter((s) => s !== target && s.environment === criteria.config.requiredValidationEnvironment)) {
        await requireCleanStackFile(repo, subject, path.join(projectDir, source.source.file), source.source.file);
    }

    const registry = registryFromEnv(subject, io.env);
    const answers = await versionAndRun(registry, subject, registeredModel, request.version);
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
    const plan = planPromotion({ request, stacks, criteria, registry: { url: registry.registryUrl, ...answers }, promotedAt, rolledBack });
    for (const warning of plan.warnings) io.err(`warning: ${warning} (advisory in ${criteria.file})`);

    if (options.dryRun) {
        io.out(`dry run: would ${subject}\n${describePlan(plan)}`);
        return 0;
    }
    const applied = await applyChange(plan, { projectDir, repo, registry });
    io.out(
        `promoted ${plan.model} ${plan.fromVersion ?? "(none)"} → ${plan.toVersion} in ${plan.stack}: commit ${applied.commit.slice(0, 12)}; ` +
            `registry: ${applied.registryActions.join("; ")}`,
    );
    return 0;
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode = 0;
    const command = withProjectDir(new Command("promote"))
        .description(
            "Promote a registry version of a model into a stack: one git commit of Pulumi.<stack>.yaml with the version and its evidence, " +
                "then the environment's alias and promotion tag in the MLflow registry (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN).",
        )
        .argument("<model>", "the model, as named under mlops-platform:models")
        .argument("<version>", "the registry version to promote")
        .requiredOption("--to <stack>", "the stack to promote into (Pulumi.<stack>.yaml)")
        .option(
            "--approved-by <names>",
            "who approved the promotion, comma-separated",
            (value: string, previous: string[]) => parseList(value, previous),
            [] as string[],
        )
        .option("--allow-rolled-back <reason>", "promote a version that was rolled back before (refused without this); the reason goes into the commit")
        .option("--dry-run", "show the diff, commit message and registry writes; change nothing", false)
        .action(
            async (
                model: string,
                version: string,
                opts: { to: string; approvedBy: string[]; dryRun: boolean; projectDir: string; allowRolledBack?: string },
            ) => {
                const allowRolledBack = opts.allowRolledBack === undefined ? undefined : oneLine(opts.allowRolledBack);
                if (allowRolledBack === "")
                    throw Refusal.of(
                        promotionSubject({ model, version, stack: opts.to, approvedBy: [] }),
                        "input",
                        "--allow-rolled-back is empty; say why the version is safe now",
                    );
                exitCode = await promote(
                    { model, version, stack: opts.to, approvedBy: opts.approvedBy, ...(allowRolledBack !== undefined && { allowRolledBack }) },
                    { projectDir: resolveProjectDir(io, opts.projectDir), dryRun: opts.dryRun },
                    io,
                );
            },
        );
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
