import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { countApprovals, type Review } from "../../cli/checkApprovals";
import { type GitHubStub, startGitHubStub } from "../support/githubStub";
import { createStackRepo, type StackRepo } from "../support/gitRepo";
import { REPO_ROOT } from "../support/mlflow";

/**
 * `npm run check-approvals`, the deploy workflow's gate before production's `pulumi up`, as a child
 * process against a local server answering with GitHub's responses as recorded in
 * tests/fixtures/github (shaped as GitHub's REST reference documents them): an approved pull request,
 * an unapproved one, one that does not touch Pulumi.production.yaml, and a commit no pull request merged.
 */

const FIXTURES = path.join(REPO_ROOT, "tests", "fixtures", "github");
const fixture = (name: string): unknown => JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8"));
const MERGES: Readonly<Record<string, number>> = {
    "6dcb09b5b57875f334f61aebed695e2e4193db5e": 42,
    a0f4c3b2e1d09f8e7d6c5b4a39281706f5e4d3c2: 43,
    b1c2d3e4f5a60718293a4b5c6d7e8f9011223344: 44,
};
const TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

interface Run {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

function checkApprovals(args: readonly string[], env: NodeJS.ProcessEnv, projectDir = REPO_ROOT): Promise<Run> {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const name of ["GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"]) if (env[name] === undefined) delete childEnv[name];
    return new Promise((resolve) => {
        execFile(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", "cli/checkApprovals.ts", "--project-dir", projectDir, ...args],
            { cwd: REPO_ROOT, env: childEnv, encoding: "utf8", timeout: 60_000 },
            (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr }),
        );
    });
}

describe("npm run check-approvals (child process, recorded GitHub API responses)", () => {
    let github: GitHubStub;
    const repoPath = "/repos/example-org/mlops-platform";
    const env = () => ({ GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: "example-org/mlops-platform", GITHUB_API_URL: github.url });

    before(async () => {
        github = await startGitHubStub([
            {
                method: "GET",
                path: `${repoPath}/commits/:sha/pulls`,
                status: 200,
                respond: (_request, params) => {
                    const number = MERGES[params["sha"] as string];
                    return number === undefined ? [] : fixture(`commit-pulls-${number}.json`);
                },
            },
            { method: "GET", path: `${repoPath}/pulls/:number/files`, status: 200, respond: (_r, params) => fixture(`pull-${params["number"]}-files.json`) },
            {
                method: "GET",
                path: `${repoPath}/pulls/:number/reviews`,
                status: 200,
                respond: (_r, params) => fixture(`pull-${params["number"]}-reviews.json`),
            },
        ]);
    });
    after(() => github.close());
    beforeEach(() => github.requests.splice(0));

    it("passes a merge whose pull request is approved on its last commit by two allowed approvers, naming them and what did not count", async () => {
        const run = await checkApprovals(["--stack", "production", "--commit", "6dcb09b5b57875f334f61aebed695e2e4193db5e"], env());
        assert.equal(run.code, 0, run.stderr);
        assert.equal(
            run.stdout,
            "pull request #42 changes Pulumi.production.yaml and is approved on its last commit (e5bd3914e2e5) by ml-lead, head-of-ml: " +
                "2 of ml-lead, product-owner, head-of-ml (policies/config/production.json) needed; not counted: intern is not an allowed approver\n",
        );
        assert.equal(run.stderr, "");
        // The requests, as GitHub documents them: the commit's pull requests, then the merged one's files and reviews.
        assert.deepEqual(
            github.requests.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)}`),
            [
                `GET ${repoPath}/commits/6dcb09b5b57875f334f61aebed695e2e4193db5e/pulls {}`,
                `GET ${repoPath}/pulls/42/files {"per_page":"100"}`,
                `GET ${repoPath}/pulls/42/reviews {"per_page":"100"}`,
            ],
        );
        for (const request of github.requests) {
            assert.equal(request.headers["authorization"], `token ${TOKEN}`);
            assert.equal(request.headers["accept"], "application/vnd.github+json");
            assert.equal(request.headers["x-github-api-version"], "2022-11-28");
            assert.match(String(request.headers["user-agent"]), /^mlops-platform /);
        }
    });

    it("refuses (exit 1) a merge whose pull request has one approval on its last commit: a stale approval and a change request do not count", async () => {
        const run = await checkApprovals(["--stack", "production", "--commit", "a0f4c3b2e1d09f8e7d6c5b4a39281706f5e4d3c2"], env());
        assert.equal(run.code, 1);
        assert.equal(run.stdout, "");
        assert.equal(
            run.stderr,
            "refused to deploy production from commit a0f4c3b2e1d0: pull request #43 changes Pulumi.production.yaml but is approved on its last commit (3f1e2d4c5b6a) " +
                "by ml-lead; it needs 2 of ml-lead, product-owner, head-of-ml (policies/config/production.json); " +
                "not counted: product-owner approved an earlier commit (0d1e2f3a4b5c); head-of-ml requested changes\n",
        );
    });

    it("passes a merge whose pull request leaves Pulumi.production.yaml alone", async () => {
        const run = await checkApprovals(["--stack", "production", "--commit", "b1c2d3e4f5a60718293a4b5c6d7e8f9011223344"], env());
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, "pull request #44 does not change Pulumi.production.yaml: no promotion to approve\n");
        assert.equal(github.requests.length, 2, "the reviews are not asked for");
    });

    it("refuses a commit no merged pull request produced (a push straight to main)", async () => {
        const run = await checkApprovals(["--stack", "production", "--commit", "0123456789abcdef0123456789abcdef01234567"], env());
        assert.equal(run.code, 1);
        assert.equal(
            run.stderr,
            "refused to deploy production from commit 0123456789ab: no merged pull request produced commit 0123456789ab (GitHub lists none); " +
                "production is deployed only from the merge of an approved pull request\n",
        );
    });

    it("refuses when GitHub does not answer as asked (a bad token), and without a token or a full SHA (exit 2)", async () => {
        const refused = await checkApprovals(["--stack", "production", "--commit", "6dcb09b5b57875f334f61aebed695e2e4193db5e"], {
            ...env(),
            GITHUB_API_URL: `${github.url}/nowhere`,
        });
        assert.equal(refused.code, 1);
        assert.match(
            refused.stderr,
            /^refused to deploy production from commit 6dcb09b5b578: GitHub could not tell which pull request merged commit 6dcb09b5b578 \(GitHub answered 404: Not Found.*\), so nothing may be deployed\n$/,
        );
        const noToken = await checkApprovals(["--stack", "production", "--commit", "6dcb09b5b57875f334f61aebed695e2e4193db5e"], {});
        assert.equal(noToken.code, 2);
        assert.equal(
            noToken.stderr,
            "refused to deploy production from commit 6dcb09b5b578: GITHUB_TOKEN is not set, so the pull request's reviews cannot be read\n",
        );
        const short = await checkApprovals(["--stack", "production", "--commit", "6dcb09b"], env());
        assert.equal(short.code, 2);
        assert.equal(
            short.stderr,
            'refused to deploy production from commit 6dcb09b: --commit must be a full commit SHA (40 hexadecimal digits), got "6dcb09b"\n',
        );
    });
});

describe("check-approvals: which reviews count", () => {
    const head = "e5bd3914e2e596debea16f433f57875b5b90bcd6";
    const review = (login: string, state: string, commit = head): Review => ({ user: { login }, state, commit_id: commit });

    it("counts each reviewer's standing review: a comment after an approval leaves it, a dismissal or a change request after it undoes it", () => {
        assert.deepEqual(
            countApprovals(
                [
                    review("ml-lead", "APPROVED"),
                    review("ml-lead", "COMMENTED"),
                    review("product-owner", "APPROVED"),
                    review("product-owner", "DISMISSED"),
                    review("head-of-ml", "APPROVED"),
                    review("head-of-ml", "CHANGES_REQUESTED"),
                ],
                head,
                ["ml-lead", "product-owner", "head-of-ml"],
            ),
            { approvedBy: ["ml-lead"], notCounted: ["product-owner's review was dismissed", "head-of-ml requested changes"] },
        );
    });

    it("compares logins case-insensitively, as GitHub does, and ignores a deleted user's review", () => {
        assert.deepEqual(countApprovals([review("ML-Lead", "APPROVED"), { user: null, state: "APPROVED", commit_id: head }], head, ["ml-lead"]), {
            approvedBy: ["ml-lead"],
            notCounted: [],
        });
    });
});

describe("npm run check-approvals on a rollback commit (child process, temporary git repository, no GitHub)", () => {
    const PRODUCTION = "Pulumi.production.yaml";
    let repo: StackRepo;
    let original: string;
    let promoted: string;

    beforeEach(() => {
        repo = createStackRepo();
        original = repo.read(PRODUCTION);
        assert.equal(original.split('      version: "7"\n').length, 2, "fraud-detector declares version 7, once");
        promoted = original.replace('      version: "7"\n', '      version: "9"\n');
        repo.commit(PRODUCTION, promoted, "promote fraud-detector 7 → 9 in production");
    });
    afterEach(() => repo.remove());

    const rollbackMessage = (from: string) =>
        `rollback fraud-detector ${from} → 7 in production\n\nRolled-Back: fraud-detector version ${from}\nRollback-Reason: monitor: drift 0.250`;
    const check = (commit: string) => checkApprovals(["--stack", "production", "--commit", commit], {}, repo.dir);

    it("passes, without asking GitHub, a commit that restores exactly a declaration the file held before", async () => {
        const commit = repo.commit(PRODUCTION, original, rollbackMessage("9"));
        const run = await check(commit);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(
            run.stdout,
            `commit ${commit.slice(0, 12)} rolls fraud-detector back from version 9 to 7, restoring exactly the declaration of commit ` +
                `${repo.git("rev-parse", "HEAD~2").trim().slice(0, 12)} (which went through these gates): no new approval needed\n`,
        );
    });

    it("refuses a commit that only claims to be a rollback: a version never declared, another key changed, another file changed", async () => {
        const never = repo.commit(PRODUCTION, promoted.replace('      version: "9"\n', '      version: "5"\n'), rollbackMessage("9"));
        const neverRun = await check(never);
        assert.equal(neverRun.code, 1);
        assert.equal(
            neverRun.stderr,
            `refused to deploy production from commit ${never.slice(0, 12)}: commit ${never.slice(0, 12)} says it is a rollback, but no earlier revision of ` +
                `${PRODUCTION} declares version 5 of "fraud-detector" with the evidence it restores; production is deployed only from an approved merge or a true rollback\n`,
        );
        repo.git("reset", "--quiet", "--hard", "HEAD~1");

        const more = repo.commit(PRODUCTION, original.replace("        max: 10\n", "        max: 20\n"), rollbackMessage("9"));
        const moreRun = await check(more);
        assert.equal(moreRun.code, 1);
        assert.match(
            moreRun.stderr,
            /says it is a rollback, but it changes more of Pulumi\.production\.yaml than the version and evidence of "fraud-detector"/,
        );
        repo.git("reset", "--quiet", "--hard", "HEAD~1");

        repo.write(PRODUCTION, original);
        repo.write("README.md", "sneaked in\n");
        repo.git("add", "--all");
        repo.git("commit", "--quiet", "-m", rollbackMessage("9"));
        const otherRun = await check(repo.head());
        assert.equal(otherRun.code, 1);
        assert.match(otherRun.stderr, /says it is a rollback, but it changes Pulumi\.production\.yaml, README\.md, not Pulumi\.production\.yaml alone/);
    });

    it("leaves any other commit to GitHub's reviews", async () => {
        const commit = repo.commit(PRODUCTION, original, "put 7 back by hand");
        const run = await check(commit);
        assert.equal(run.code, 2);
        assert.match(run.stderr, /GITHUB_TOKEN is not set, so the pull request's reviews cannot be read/);
    });
});
