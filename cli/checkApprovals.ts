import * as path from "node:path";
import { Command } from "commander";
import { asRefusal, type CommandIo, processIo, readStack, resolveProjectDir, runAsScript, runCommand, withProjectDir } from "./gitops/command";
import { loadCriteria } from "./gitops/criteria";
import { describeGitHubError, GITHUB_HEADERS, githubFromEnv, octokitFor } from "./gitops/github";
import { GitError, GitRepository } from "./gitops/git";
import { Refusal } from "./gitops/refusal";
import { type RollbackCommitVerdict, verifyRollbackCommit } from "./gitops/rollbackCommit";

/**
 * `npm run check-approvals -- --stack production --commit <sha>`: the deploy workflow's gate before
 * production's `pulumi up`. Approval of a promotion is the pull request's approving reviews — not a
 * name typed into `--approved-by` — so this reads, from GitHub's REST API, the pull request the
 * commit merged, and refuses (exit 1) when it changes `Pulumi.<stack>.yaml` without approving
 * reviews on its last commit from at least `minApprovals` of the `allowedApprovers` of the stack's
 * policy config (GitHub logins). A commit that no merged pull request produced is refused too.
 * A rollback commit needs no pull request: git proves it restores a declaration the file held before
 * (cli/gitops/rollbackCommit.ts), and one that only claims to be a rollback is refused.
 * Exit 0: approved, a rollback, or the file unchanged; 1: not approved, or GitHub gave no answer; 2: bad input.
 */

/** A review as GitHub's REST API lists it (GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews). */
export interface Review {
    readonly user: { readonly login: string } | null;
    readonly state: string;
    readonly commit_id: string | null;
}

export interface ApprovalVerdict {
    /** Allowed approvers whose standing review approves the last commit. */
    readonly approvedBy: readonly string[];
    /** Why other reviews do not count, one phrase each. */
    readonly notCounted: readonly string[];
}

/**
 * Each reviewer's standing review — the latest that approves, requests changes or was dismissed
 * (comments leave it standing), as GitHub's own review summary counts — and which of them count: an
 * approval of the pull request's last commit by an allowed approver (logins compare case-insensitively).
 */
export function countApprovals(reviews: readonly Review[], headSha: string, allowedApprovers: readonly string[]): ApprovalVerdict {
    const standing = new Map<string, Review>();
    for (const review of reviews) {
        const login = review.user?.login;
        if (login === undefined || !["APPROVED", "CHANGES_REQUESTED", "DISMISSED"].includes(review.state)) continue;
        standing.set(login.toLowerCase(), review);
    }
    const allowed = new Map(allowedApprovers.map((name) => [name.toLowerCase(), name]));
    const approvedBy: string[] = [];
    const notCounted: string[] = [];
    for (const [key, review] of standing) {
        const login = review.user?.login ?? key;
        if (review.state === "CHANGES_REQUESTED") notCounted.push(`${login} requested changes`);
        else if (review.state === "DISMISSED") notCounted.push(`${login}'s review was dismissed`);
        else if (review.commit_id !== headSha) notCounted.push(`${login} approved an earlier commit (${(review.commit_id ?? "unknown").slice(0, 12)})`);
        else if (!allowed.has(key)) notCounted.push(`${login} is not an allowed approver`);
        else approvedBy.push(allowed.get(key) as string);
    }
    return { approvedBy, notCounted };
}

export async function checkApprovals(
    options: { readonly projectDir: string; readonly stack: string; readonly commit: string },
    io: CommandIo,
): Promise<number> {
    const subject = `deploy ${options.stack} from commit ${options.commit.slice(0, 12)}`;
    if (!/^[0-9a-f]{40}$/.test(options.commit))
        throw Refusal.of(subject, "input", `--commit must be a full commit SHA (40 hexadecimal digits), got ${JSON.stringify(options.commit)}`);
    const stack = readStack(options.projectDir, options.stack, subject);
    const criteria = asRefusal(subject, () => loadCriteria(options.projectDir, options.stack, stack.environment));
    const { minApprovals, allowedApprovers } = criteria.config;
    if (criteria.enforcementLevel === "disabled" || minApprovals === 0) {
        io.out(`${criteria.file} asks no approvals for ${options.stack}: nothing to check`);
        return 0;
    }
    // A rollback (the monitor's, wait-rollout's or a person's) returns to a declaration that went
    // through these gates before: git proves it, and no review may stand between production and it.
    const rollback = await rollbackCommitOf(options.projectDir, options.commit, path.join(options.projectDir, stack.source.file), options.stack);
    if (rollback?.kind === "forged")
        throw Refusal.of(subject, "criteria", `${rollback.problem}; ${options.stack} is deployed only from an approved merge or a true rollback`);
    if (rollback?.kind === "rollback") {
        io.out(
            `commit ${options.commit.slice(0, 12)} rolls ${rollback.model} back from version ${rollback.fromVersion} to ${rollback.toVersion}, ` +
                `restoring exactly the declaration of commit ${rollback.restoredFrom.slice(0, 12)} (which went through these gates): no new approval needed`,
        );
        return 0;
    }
    const github = githubFromEnv(subject, io.env);
    if (github === undefined) throw Refusal.of(subject, "input", "GITHUB_TOKEN is not set, so the pull request's reviews cannot be read");
    const octokit = await octokitFor(github);
    const repository = { owner: github.owner, repo: github.repo, headers: GITHUB_HEADERS };
    const unanswered = (what: string, err: unknown) =>
        Refusal.of(subject, "failure", `GitHub could not tell ${what} (${describeGitHubError(err)}), so nothing may be deployed`);

    let pulls: Awaited<ReturnType<typeof octokit.rest.repos.listPullRequestsAssociatedWithCommit>>["data"];
    try {
        pulls = (await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ ...repository, commit_sha: options.commit })).data;
    } catch (err) {
        throw unanswered(`which pull request merged commit ${options.commit.slice(0, 12)}`, err);
    }
    const merged = pulls.find((pull) => pull.merged_at !== null && pull.merge_commit_sha === options.commit);
    if (merged === undefined) {
        throw Refusal.of(
            subject,
            "criteria",
            `no merged pull request produced commit ${options.commit.slice(0, 12)} (GitHub lists ${pulls.length === 0 ? "none" : pulls.map((p) => `#${p.number}`).join(", ")}); ` +
                `${options.stack} is deployed only from the merge of an approved pull request`,
        );
    }
    const pull = `pull request #${merged.number}`;
    const file = stack.source.file;
    let files: Array<{ filename: string; previous_filename?: string }>;
    try {
        files = await octokit.paginate(octokit.rest.pulls.listFiles, { ...repository, pull_number: merged.number, per_page: 100 });
    } catch (err) {
        throw unanswered(`what ${pull} changes`, err);
    }
    if (!files.some((changed) => changed.filename === file || changed.previous_filename === file)) {
        io.out(`${pull} does not change ${file}: no promotion to approve`);
        return 0;
    }
    let reviews: Review[];
    try {
        reviews = await octokit.paginate(octokit.rest.pulls.listReviews, { ...repository, pull_number: merged.number, per_page: 100 });
    } catch (err) {
        throw unanswered(`the reviews of ${pull}`, err);
    }
    const verdict = countApprovals(reviews, merged.head.sha, allowedApprovers);
    const needed = `${minApprovals} of ${allowedApprovers.join(", ") || "nobody"} (${criteria.file})`;
    const notCounted = verdict.notCounted.length > 0 ? `; not counted: ${verdict.notCounted.join("; ")}` : "";
    if (verdict.approvedBy.length < minApprovals) {
        throw Refusal.of(
            subject,
            "criteria",
            `${pull} changes ${file} but is approved on its last commit (${merged.head.sha.slice(0, 12)}) by ${verdict.approvedBy.join(", ") || "nobody"}; ` +
                `it needs ${needed}${notCounted}`,
        );
    }
    io.out(
        `${pull} changes ${file} and is approved on its last commit (${merged.head.sha.slice(0, 12)}) by ${verdict.approvedBy.join(", ")}: ${needed} needed${notCounted}`,
    );
    return 0;
}

/** What git says of the commit as a rollback; `undefined` when this checkout does not have it (then GitHub decides). */
async function rollbackCommitOf(projectDir: string, commit: string, stackFile: string, stack: string): Promise<RollbackCommitVerdict | undefined> {
    let repo: GitRepository;
    try {
        repo = await GitRepository.open(projectDir);
        if (!(await repo.hasCommit(commit))) return undefined;
    } catch (err) {
        if (err instanceof GitError) return undefined;
        throw err;
    }
    return verifyRollbackCommit(repo, commit, stackFile, stack);
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode = 0;
    const command = withProjectDir(new Command("check-approvals"))
        .description(
            "Refuse a deployment whose merged pull request changes Pulumi.<stack>.yaml without approving reviews on its last commit from enough of the " +
                "policy config's allowedApprovers (GitHub's REST API: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL).",
        )
        .requiredOption("--stack <stack>", "the stack about to be deployed (its policy config names the approvers)")
        .requiredOption("--commit <sha>", "the commit being deployed: the merge of the pull request (GITHUB_SHA in a workflow)")
        .action(async (opts: { stack: string; commit: string; projectDir: string }) => {
            exitCode = await checkApprovals({ projectDir: resolveProjectDir(io, opts.projectDir), stack: opts.stack, commit: opts.commit }, io);
        });
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
