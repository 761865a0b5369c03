import * as fs from "node:fs";
import * as path from "node:path";
import type { PromotionEvidenceConfig } from "../../policies/promotion";
import type { CommandIo } from "./command";
import type { GitRepository } from "./git";
import { describeGitHubError, GITHUB_HEADERS, type GitHubRepository, octokitFor } from "./github";
import type { StackChangePlan } from "./plan";
import { messageOf, Refusal } from "./refusal";

/**
 * A reviewed promotion's effects: the commit on a new branch (made in a temporary worktree, so the
 * user's checkout stays as it was), the branch pushed, and the pull request opened through GitHub's
 * REST API — or, without a token, the command that opens it. Nothing reaches the registry: that
 * happens after the merge, the deployment and the rollout (sync-registry).
 */

export interface PullRequestTarget {
    readonly remote: string;
    /** The new branch. */
    readonly branch: string;
    /** The branch the pull request goes into: the one the promotion was made from. */
    readonly base: string;
}

export async function openPromotionPullRequest(
    plan: StackChangePlan,
    pullRequest: NonNullable<StackChangePlan["pullRequest"]>,
    options: {
        readonly projectDir: string;
        readonly repo: GitRepository;
        readonly target: PullRequestTarget;
        readonly github: GitHubRepository | undefined;
        readonly criteria: PromotionEvidenceConfig;
    },
    io: CommandIo,
): Promise<number> {
    const { repo, target, github } = options;
    const file = path.join(options.projectDir, plan.file);
    if (fs.readFileSync(file, "utf8") !== plan.before) throw Refusal.of(plan.subject, "input", `${plan.file} changed while the command ran; run it again`);
    let commit: string;
    try {
        commit = await repo.commitOnNewBranch(target.branch, file, plan.after, plan.commitMessage);
    } catch (err) {
        throw Refusal.of(plan.subject, "failure", `${messageOf(err)}; nothing changed`);
    }
    try {
        await repo.pushBranch(target.remote, target.branch);
    } catch (err) {
        await repo.deleteBranch(target.branch).catch(() => undefined);
        throw Refusal.of(plan.subject, "failure", `${messageOf(err)}; the branch ${target.branch} is deleted again and nothing changed`);
    }
    const pushed = `pushed branch ${target.branch} (commit ${commit.slice(0, 12)}) to ${target.remote}`;
    const openIt = `gh pr create --base ${target.base} --head ${target.branch} --fill`;
    const approval = `it deploys once approved on its last commit by ${options.criteria.minApprovals} of ${options.criteria.allowedApprovers.join(", ") || "nobody"} and merged`;
    if (github === undefined) {
        io.out(`${plan.subject}: ${pushed}; open its pull request into ${target.base} (GITHUB_TOKEN is not set): ${openIt}; ${approval}`);
        return 0;
    }
    const octokit = await octokitFor(github);
    let number: number;
    let url: string;
    try {
        const { data } = await octokit.rest.pulls.create({
            owner: github.owner,
            repo: github.repo,
            title: pullRequest.title,
            head: target.branch,
            base: target.base,
            body: pullRequest.body,
            maintainer_can_modify: false,
            headers: GITHUB_HEADERS,
        });
        number = data.number;
        url = data.html_url;
    } catch (err) {
        io.err(`${plan.subject}: ${pushed}, but the pull request could not be opened (${describeGitHubError(err)}); open it: ${openIt}`);
        return 1;
    }
    const reviewers = [...(plan.approvers ?? [])];
    if (reviewers.length > 0) {
        try {
            await octokit.rest.pulls.requestReviewers({ owner: github.owner, repo: github.repo, pull_number: number, reviewers, headers: GITHUB_HEADERS });
        } catch (err) {
            io.err(
                `warning: pull request #${number} is open, but its reviews could not be requested from ${reviewers.join(", ")} (${describeGitHubError(err)})`,
            );
        }
    }
    io.out(`${plan.subject}: ${pushed} and opened pull request #${number} (${url}) into ${target.base}; ${approval}`);
    return 0;
}
