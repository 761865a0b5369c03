import assert from "node:assert/strict";
import { chmodSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { unusedUrl } from "../support/faultyServers";
import { canaryObject, fakeCluster, primaryObject } from "../support/fakeCluster";
import { type CliResult, registrySnapshot, runCli, runCliUntil, type SeededModel, useRegistryWorkbench } from "../support/gitRepo";
import { type GitHubStub, startGitHubStub } from "../support/githubStub";

/**
 * `npm run promote` as a child process, on a temporary git repository holding copies of the shipped
 * stack files and policy configs, against a real MLflow server on a fresh PostgreSQL database.
 */

const PRODUCTION = "Pulumi.production.yaml";
const STAGING = "Pulumi.staging.yaml";

/** 446 bytes of YAML whose aliases expand to about 1.9 GiB. */
const ALIAS_BOMB = [
    `a: &a [${Array(9).fill('"lol"').join(",")}]`,
    ..."bcdefghi".split("").map((name, i) => `${name}: &${name} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(",")}]`),
    "config: {mlops-platform:models: *i}",
    "",
].join("\n");

/** The lines that differ between two texts of the same length, as [before, after] pairs. */
function changedLines(before: string, after: string): Array<[string, string]> {
    const a = before.split("\n");
    const b = after.split("\n");
    assert.equal(b.length, a.length, "the edit added or removed lines");
    return a.flatMap((line, i): Array<[string, string]> => (line === b[i] ? [] : [[line, b[i] as string]]));
}

function assertExit(result: CliResult, code: number): void {
    assert.equal(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/** Answers GETs from the real registry and refuses every write, like a registry that fails mid-promotion. */
async function startReadOnlyProxy(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer((request, response) => {
        if (request.method !== "GET") {
            response.writeHead(503, { "content-type": "application/json" });
            response.end(JSON.stringify({ error_code: "TEMPORARILY_UNAVAILABLE", message: "the registry is read-only during maintenance" }));
            return;
        }
        fetch(`${upstream}${request.url ?? "/"}`).then(
            async (answer) => {
                response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
                response.end(await answer.text());
            },
            () => {
                response.writeHead(502);
                response.end();
            },
        );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address() as { port: number };
    return { url: `http://127.0.0.1:${address.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A pull request as GitHub's REST API answers its creation (201), for the request's title, head, base and body. */
function createdPullRequest(number: number, request: { title: string; head: string; base: string; body: string }): Record<string, unknown> {
    const api = "https://api.github.com/repos/example-org/mlops-platform";
    const repository = { id: 1296269, name: "mlops-platform", full_name: "example-org/mlops-platform", private: true, default_branch: "main" };
    return {
        url: `${api}/pulls/${number}`,
        id: 1934567042,
        node_id: "PR_kwDOABCD42",
        html_url: `https://github.com/example-org/mlops-platform/pull/${number}`,
        number,
        state: "open",
        locked: false,
        title: request.title,
        user: { login: "data-scientist", id: 583231, type: "User" },
        body: request.body,
        created_at: "2026-12-05T09:12:44Z",
        updated_at: "2026-12-05T09:12:44Z",
        closed_at: null,
        merged_at: null,
        merge_commit_sha: null,
        requested_reviewers: [],
        head: { label: `example-org:${request.head}`, ref: request.head, sha: "e5bd3914e2e596debea16f433f57875b5b90bcd6", repo: repository },
        base: { label: `example-org:${request.base}`, ref: request.base, sha: "6dcb09b5b57875f334f61aebed695e2e4193db5e", repo: repository },
        author_association: "MEMBER",
        draft: false,
        merged: false,
        mergeable: null,
        comments: 0,
        commits: 1,
        additions: 9,
        deletions: 9,
        changed_files: 1,
    };
}

describe("npm run promote (child process, real MLflow registry, temporary git repository)", () => {
    const bench = useRegistryWorkbench();
    let fraud: SeededModel;
    let staged: string;
    let declaredInProduction: string;

    const promote = (args: readonly string[], trackingUri = bench.server.url, env?: NodeJS.ProcessEnv) =>
        runCli("promote", args, { projectDir: bench.repo.dir, trackingUri, ...(env !== undefined && { env }) });
    const snapshot = () => registrySnapshot(bench.server.url, bench.seeded);
    /** The branches of the working repository and of its remote. */
    const branches = () => ({
        local: bench.repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads/").trim().split("\n"),
        remote: bench.repo.remoteGit("for-each-ref", "--format=%(refname:short)", "refs/heads/").trim().split("\n"),
    });

    /** Runs `work` and asserts that the stack files, HEAD, the working tree, the branches (here and on the remote) and the registry are exactly as before. */
    async function assertNothingChanged(work: () => Promise<void>): Promise<void> {
        const state = async () => ({
            production: bench.repo.read(PRODUCTION),
            staging: bench.repo.read(STAGING),
            head: bench.repo.head(),
            status: bench.repo.git("status", "--porcelain"),
            branches: branches(),
            registry: await snapshot(),
        });
        const before = await state();
        await work();
        assert.deepEqual(await state(), before);
    }

    /** Rewrites when the registry says a version's staging rollout succeeded: the passage of time, for the soak. */
    const rolledOutInStaging = (version: string, hoursAgo: number) =>
        bench.registry.setModelVersionTag(
            "fraud_detector",
            version,
            "mlops.validated.staging",
            new Date(Date.now() - hoursAgo * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
        );

    before(() => {
        fraud = bench.seeded["fraud_detector"] as SeededModel;
    });

    beforeEach(async () => {
        staged = (await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version as string;
        declaredInProduction = (await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version as string;
    });

    describe("into production: a branch on the remote and a pull request through GitHub's REST API", () => {
        const TOKEN = "ghp_promoteTestToken0123456789abcdefABCD";
        let github: GitHubStub;
        const repoPath = "/repos/example-org/mlops-platform";
        const githubEnv = () => ({ GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: "example-org/mlops-platform", GITHUB_API_URL: github.url });

        before(async () => {
            github = await startGitHubStub([
                {
                    method: "POST",
                    path: `${repoPath}/pulls`,
                    required: { title: "string", head: "string", base: "string" },
                    optional: { body: "string", maintainer_can_modify: "boolean", draft: "boolean" },
                    status: 201,
                    respond: (request) => createdPullRequest(42, request.body as { title: string; head: string; base: string; body: string }),
                },
                {
                    method: "POST",
                    path: `${repoPath}/pulls/:number/requested_reviewers`,
                    required: { reviewers: "string[]" },
                    status: 201,
                    respond: (request) => ({
                        ...createdPullRequest(42, { title: "", head: "", base: "main", body: "" }),
                        requested_reviewers: (request.body as { reviewers: string[] }).reviewers.map((login) => ({ login, type: "User" })),
                    }),
                },
            ]);
        });
        after(() => github.close());
        beforeEach(() => github.requests.splice(0));

        it("pushes a branch with one commit of only the version and evidence lines, opens the pull request with the evidence table, and changes nothing else", async () => {
            const original = bench.repo.read(PRODUCTION);
            const head = bench.repo.head();
            const registry = await snapshot();
            const startedAt = Date.now() - 1000;
            const result = await promote(
                ["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,product-owner"],
                bench.server.url,
                githubEnv(),
            );
            assertExit(result, 0);
            const branch = `promote/production/fraud-detector-${staged}`;
            const commit = bench.repo.git("rev-parse", branch).trim();
            assert.equal(
                result.stdout,
                `promote fraud-detector version ${staged} to production: pushed branch ${branch} (commit ${commit.slice(0, 12)}) to origin ` +
                    "and opened pull request #42 (https://github.com/example-org/mlops-platform/pull/42) into main; " +
                    "it deploys once approved on its last commit by 2 of ml-lead, product-owner, head-of-ml and merged\n",
            );
            assert.equal(result.stderr, "");

            // The user's checkout, and the registry, are as they were: the change waits for review on its branch.
            assert.equal(bench.repo.head(), head);
            assert.equal(bench.repo.read(PRODUCTION), original);
            assert.equal(bench.repo.git("status", "--porcelain"), "");
            assert.equal(bench.repo.git("rev-parse", "--abbrev-ref", "HEAD").trim(), "main");
            assert.deepEqual(await snapshot(), registry);

            // The branch, here and on the remote: one commit on top of main, holding only the stack file.
            assert.equal(bench.repo.remoteGit("rev-parse", `refs/heads/${branch}`).trim(), commit);
            assert.equal(bench.repo.git("rev-parse", `${commit}~1`).trim(), head);
            assert.equal(bench.repo.git("show", "--name-only", "--format=", commit).trim(), PRODUCTION);
            const edited = bench.repo.git("show", `${commit}:${PRODUCTION}`);
            const promotedAt = /promotedAt: "([^"]+)"/.exec(edited.slice(edited.indexOf(`runId: ${fraud.runs[staged]}`)))?.[1] as string;
            assert.ok(Date.parse(promotedAt) >= startedAt && Date.parse(promotedAt) <= Date.now(), promotedAt);
            const metrics = fraud.metrics[staged] as Record<string, number>;
            const champion = fraud.metrics[declaredInProduction] as Record<string, number>;
            const validatedAt = fraud.tags[staged]?.["mlops.validated.staging"] as string;
            type Evidence = {
                runId: string;
                metrics: Record<string, number>;
                validatedAt: string;
                promotedAt: string;
                champion: { version: string; metrics: Record<string, number> };
            };
            const old = (parseYaml(original) as { config: Record<string, Record<string, { promotion: { evidence: Evidence } }>> }).config[
                "mlops-platform:models"
            ]?.["fraud-detector"]?.promotion.evidence as Evidence;
            assert.deepEqual(changedLines(original, edited), [
                [`      version: "${declaredInProduction}"`, `      version: "${staged}"`],
                [`          runId: ${old.runId}`, `          runId: ${fraud.runs[staged]}`],
                [`            accuracy: ${old.metrics["accuracy"]}`, `            accuracy: ${metrics["accuracy"]}`],
                [`            f1: ${old.metrics["f1"]}`, `            f1: ${metrics["f1"]}`],
                [`          validatedAt: "${old.validatedAt}"`, `          validatedAt: "${validatedAt}"`],
                [`          promotedAt: "${old.promotedAt}"`, `          promotedAt: "${promotedAt}"`],
                [`            version: "${old.champion.version}"`, `            version: "${declaredInProduction}"`],
                [`              accuracy: ${old.champion.metrics["accuracy"]}`, `              accuracy: ${champion["accuracy"]}`],
                [`              f1: ${old.champion.metrics["f1"]}`, `              f1: ${champion["f1"]}`],
            ]);
            const message = bench.repo.git("log", "-1", "--format=%B", commit).trimEnd().split("\n");
            assert.deepEqual(message.slice(0, 8), [
                `promote fraud-detector ${declaredInProduction} → ${staged} in production`,
                "",
                "Model:       fraud-detector (registered model fraud_detector)",
                `Version:     ${declaredInProduction} → ${staged}`,
                "Environment: production (Pulumi.production.yaml), validated in staging",
                `Run:         ${fraud.runs[staged]}`,
                `Metrics:     accuracy=${metrics["accuracy"]}, f1=${metrics["f1"]}`,
                message[7] as string,
            ]);
            assert.match(
                message[7] as string,
                new RegExp(`^Validated:   in staging, rollout succeeded ${validatedAt}: \\d+(\\.\\d)? hours before this promotion \\(at least 24 required\\)$`),
            );
            assert.match(
                message[8] as string,
                new RegExp(
                    `^Champion:    version ${declaredInProduction} \\(production's alias\\): accuracy ${champion["accuracy"]} → ${metrics["accuracy"]} `,
                ),
            );
            assert.deepEqual(message.slice(9), [
                "Approvers:   ml-lead, product-owner (approval: their approving reviews of the pull request; --approved-by only asks for them)",
                "Criteria:    policies/config/production.json (mandatory): met",
            ]);

            // The pull request, as GitHub's REST API documents its creation, then the reviews asked of the approvers named.
            assert.deepEqual(
                github.requests.map((r) => `${r.method} ${r.path}`),
                [`POST ${repoPath}/pulls`, `POST ${repoPath}/pulls/42/requested_reviewers`],
            );
            for (const request of github.requests) {
                assert.equal(request.headers["authorization"], `token ${TOKEN}`);
                assert.equal(request.headers["accept"], "application/vnd.github+json");
                assert.equal(request.headers["x-github-api-version"], "2022-11-28");
                assert.match(String(request.headers["content-type"]), /^application\/json/);
            }
            const created = github.requests[0]?.body as Record<string, unknown>;
            assert.deepEqual(Object.keys(created).sort(), ["base", "body", "head", "maintainer_can_modify", "title"]);
            assert.deepEqual(
                { title: created["title"], head: created["head"], base: created["base"], maintainer_can_modify: created["maintainer_can_modify"] },
                { title: `promote fraud-detector ${declaredInProduction} → ${staged} in production`, head: branch, base: "main", maintainer_can_modify: false },
            );
            const body = String(created["body"]).split("\n");
            assert.deepEqual(body.slice(2, 6), [
                `| metric | version ${staged} | champion (version ${declaredInProduction}) | required |`,
                "|---|---|---|---|",
                `| accuracy | ${metrics["accuracy"]} | ${champion["accuracy"]} | ≥ 0.9, regression ≤ 0.01 |`,
                `| f1 | ${metrics["f1"]} | ${champion["f1"]} | ≥ 0.85, regression ≤ 0.01 |`,
            ]);
            assert.ok(body.includes(`| run | \`${fraud.runs[staged]}\` |`), String(created["body"]));
            assert.ok(body.includes("| approvers asked | ml-lead, product-owner |"), String(created["body"]));
            assert.deepEqual(github.requests[1]?.body, { reviewers: ["ml-lead", "product-owner"] });
        });

        it("without a GitHub token, pushes the branch and prints the command that opens the pull request", async () => {
            const head = bench.repo.head();
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 0);
            const branch = `promote/production/fraud-detector-${staged}`;
            const commit = bench.repo.remoteGit("rev-parse", `refs/heads/${branch}`).trim();
            assert.equal(
                result.stdout,
                `promote fraud-detector version ${staged} to production: pushed branch ${branch} (commit ${commit.slice(0, 12)}) to origin; ` +
                    `open its pull request into main (GITHUB_TOKEN is not set): gh pr create --base main --head ${branch} --fill; ` +
                    "it deploys once approved on its last commit by 2 of ml-lead, product-owner, head-of-ml and merged\n",
            );
            assert.equal(bench.repo.head(), head);
            assert.equal(github.requests.length, 0);
        });

        it("refuses a second promotion of a version whose branch already exists, changing nothing", async () => {
            assertExit(await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]), 0);
            await assertNothingChanged(async () => {
                const again = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
                assertExit(again, 2);
                assert.equal(
                    again.stderr,
                    `refused to promote fraud-detector version ${staged} to production: branch promote/production/fraud-detector-${staged} already exists here: ` +
                        "a promotion of this version is under way (delete the branch to start over)\n",
                );
            });
        });
    });

    it("refuses a version below staging's thresholds (accuracy 0.41, f1 0.30) and changes nothing: file bytes, HEAD, aliases, tags", async () => {
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.poorVersion, "--to", "staging"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${fraud.poorVersion} to staging: metric "accuracy" is 0.41, below the required 0.85; metric "f1" is 0.3, below the required 0.8\n`,
            );
            assert.equal(result.stdout, "");
        });
    });

    it("refuses into production a version that meets staging's thresholds but not production's, nor the champion's, and changes nothing", async () => {
        // Staging's criteria are met exactly (0.85, 0.80): the weak version goes there.
        const toStaging = await promote(["fraud-detector", fraud.weakVersion, "--to", "staging"]);
        assertExit(toStaging, 0);
        assert.equal(toStaging.stderr, "");
        assert.deepEqual(fraud.metrics[declaredInProduction], { accuracy: 0.95, f1: 0.92 });
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.weakVersion, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${fraud.weakVersion} to production: ` +
                    'metric "accuracy" is 0.85, below the required 0.9; metric "f1" is 0.8, below the required 0.85; ' +
                    `metric "accuracy" is 0.85, 0.1 below the champion's 0.95 (version ${declaredInProduction}); at most 0.01 is tolerated; ` +
                    `metric "f1" is 0.8, 0.12 below the champion's 0.92 (version ${declaredInProduction}); at most 0.01 is tolerated\n`,
            );
        });
    });

    it("refuses a regression against the champion production serves, beyond the tolerance of each metric, and changes nothing", async () => {
        assertExit(await promote(["fraud-detector", fraud.regressingVersion, "--to", "staging"]), 0);
        const champion = fraud.metrics[declaredInProduction] as Record<string, number>;
        assert.deepEqual(champion, { accuracy: 0.95, f1: 0.92 });
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.regressingVersion, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${fraud.regressingVersion} to production: ` +
                    `metric "accuracy" is 0.92, 0.03 below the champion's 0.95 (version ${declaredInProduction}); at most 0.01 is tolerated; ` +
                    `metric "f1" is 0.9, 0.02 below the champion's 0.92 (version ${declaredInProduction}); at most 0.01 is tolerated\n`,
            );
        });
    });

    it("refuses staging → production until the staging rollout is recorded (by sync-registry --rolled-out, not by promote) and has soaked a day", async () => {
        const candidate = fraud.candidateVersion;
        assertExit(await promote(["fraud-detector", candidate, "--to", "staging"]), 0);
        // Promoted into staging seconds ago, never deployed: promote itself wrote no validation.
        assert.equal((await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.validated.staging"], undefined);
        const toProduction = () => promote(["fraud-detector", candidate, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
        await assertNothingChanged(async () => {
            const result = await toProduction();
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${candidate} to production: the registry records no successful rollout of version ${candidate} in staging ` +
                    '(no "mlops.validated.staging" tag): the deploy workflow writes it (npm run sync-registry -- --stack staging --rolled-out) once staging serves the version\n',
            );
        });

        // The deploy workflow's step after wait-rollout: the cluster serves the candidate in staging.
        const cluster = fakeCluster();
        try {
            cluster.put("canaries.flagger.app", "models", "fraud-detector", canaryObject("fraud-detector", candidate, "Succeeded"));
            cluster.put("deployments.apps", "models", "fraud-detector-primary", primaryObject("fraud-detector", candidate));
            const tagger = bench.repo.read(STAGING).match(/product-image-tagger:[\s\S]*?version: "(\d+)"/)?.[1] as string;
            cluster.put("canaries.flagger.app", "models", "product-image-tagger", canaryObject("product-image-tagger", tagger, "Succeeded"));
            cluster.put("deployments.apps", "models", "product-image-tagger-primary", primaryObject("product-image-tagger", tagger));
            assertExit(
                await runCli("sync-registry", ["--stack", "staging", "--rolled-out"], {
                    projectDir: bench.repo.dir,
                    trackingUri: bench.server.url,
                    env: cluster.env,
                }),
                0,
            );
        } finally {
            cluster.remove();
        }
        const validatedAt = (await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.validated.staging"] as string;
        await assertNothingChanged(async () => {
            const result = await toProduction();
            assertExit(result, 1);
            assert.match(
                result.stderr,
                new RegExp(
                    `^refused to promote fraud-detector version ${candidate} to production: the version ran 0 hours in "staging" before its promotion ` +
                        `\\(rollout succeeded ${validatedAt}, promoted [0-9TZ:-]+\\); at least 24 hours are required\n$`,
                ),
            );
        });

        // A day and an hour later.
        await rolledOutInStaging(candidate, 25);
        const result = await toProduction();
        assertExit(result, 0);
        assert.match(
            result.stdout,
            new RegExp(`^promote fraud-detector version ${candidate} to production: pushed branch promote/production/fraud-detector-${candidate} `),
        );
    });

    it("refuses a version that skips staging (not what staging declares) and changes nothing", async () => {
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.candidateVersion, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${fraud.candidateVersion} to production: version ${fraud.candidateVersion} skips staging: ` +
                    `Pulumi.staging.yaml declares version ${staged}; promote it to staging first\n`,
            );
        });
    });

    it("refuses when the registry is down: the stack file's bytes, HEAD, the branches and the registry stay as they were", async () => {
        const down = await unusedUrl();
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"], down);
            assertExit(result, 1);
            const port = new URL(down).port;
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${staged} to production: the registry cannot be asked, so nothing was changed: ` +
                    `MLflow registry ${down}: getModelVersion(fraud_detector, ${staged}): unreachable (connect ECONNREFUSED 127.0.0.1:${port})\n`,
            );
        });
    });

    it("into staging: keeps the commit when the registry fails after it, says what to rerun, and sync-registry finishes the job idempotently", async () => {
        const proxy = await startReadOnlyProxy(bench.server.url);
        const head = bench.repo.head();
        const candidate = fraud.candidateVersion;
        let result: CliResult;
        try {
            result = await promote(["fraud-detector", candidate, "--to", "staging"], proxy.url);
        } finally {
            await proxy.close();
        }
        assertExit(result, 1);
        const commit = bench.repo.head();
        assert.notEqual(commit, head);
        assert.equal(
            result.stderr,
            `promote fraud-detector version ${candidate} to staging: committed ${commit.slice(0, 12)}, but the registry was not updated ` +
                `(MLflow registry ${proxy.url}: setAlias(fraud_detector, staging, ${candidate}): HTTP 503 (TEMPORARILY_UNAVAILABLE: the registry is read-only during maintenance)); ` +
                "rerun: npm run sync-registry -- --stack staging\n",
        );
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version, staged);

        const synced = await runCli("sync-registry", ["--stack", "staging"], { projectDir: bench.repo.dir, trackingUri: bench.server.url });
        assertExit(synced, 0);
        const taggerVersion = (await bench.registry.getVersionByAlias("product_image_tagger", "staging"))?.version as string;
        assert.equal(
            synced.stdout,
            `fraud-detector (fraud_detector version ${candidate}): set alias fraud_detector@staging → version ${candidate} (was ${staged}); ` +
                `tag mlops.promoted.staging on fraud_detector version ${candidate}\n` +
                `product-image-tagger (product_image_tagger version ${taggerVersion}): already in sync\n`,
        );
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version, candidate);
        const tag = JSON.parse((await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.promoted.staging"] as string) as Record<
            string,
            unknown
        >;
        assert.equal(tag["commit"], commit);
        // Synced, not rolled out: no validation is recorded.
        assert.equal((await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.validated.staging"], undefined);

        const again = await runCli("sync-registry", ["--stack", "staging"], { projectDir: bench.repo.dir, trackingUri: bench.server.url });
        assertExit(again, 0);
        assert.equal(
            again.stdout,
            `fraud-detector (fraud_detector version ${candidate}): already in sync\nproduct-image-tagger (product_image_tagger version ${taggerVersion}): already in sync\n`,
        );
    });

    it("refuses a stack file with uncommitted changes and leaves them as they are", async () => {
        bench.repo.write(PRODUCTION, `${bench.repo.read(PRODUCTION)}# a local edit\n`);
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 2);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${staged} to production: Pulumi.production.yaml has uncommitted changes (M Pulumi.production.yaml); commit or discard them first\n`,
            );
        });
    });

    it("refuses an unknown model, an unknown version and an unknown stack (exit 2), changing nothing", async () => {
        await assertNothingChanged(async () => {
            const model = await promote(["spam-filter", "3", "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(model, 2);
            assert.equal(
                model.stderr,
                'refused to promote spam-filter version 3 to production: Pulumi.production.yaml declares no model "spam-filter" (declared: fraud-detector, product-image-tagger)\n',
            );

            const version = await promote(["fraud-detector", "42", "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(version, 2);
            assert.equal(
                version.stderr,
                `refused to promote fraud-detector version 42 to production: version 42 of registered model "fraud_detector" does not exist in the registry at ${bench.server.url}\n`,
            );

            const stack = await promote(["fraud-detector", staged, "--to", "qa"]);
            assertExit(stack, 2);
            assert.equal(stack.stderr, `refused to promote fraud-detector version ${staged} to qa: there is no stack "qa" (stacks: production, staging)\n`);
        });
    });

    it("refuses a production promotion that names too few approvers to ask (exit 1), changing nothing", async () => {
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${staged} to production: the promotion needs 2 approvals from allowed approvers, got 1 (ml-lead)\n`,
            );
        });
    });

    it("deletes the branch again and changes nothing when the commit fails (a pre-commit hook refuses)", async () => {
        const hook = path.join(bench.repo.dir, ".git", "hooks", "pre-commit");
        writeFileSync(hook, "#!/bin/sh\necho 'pre-commit: stack changes need a ticket' >&2\nexit 1\n");
        chmodSync(hook, 0o755);
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${staged} to production: git commit failed: pre-commit: stack changes need a ticket; nothing changed\n`,
            );
        });
        assert.equal(bench.repo.git("worktree", "list", "--porcelain").match(/^worktree /gm)?.length, 1, "the temporary worktree is gone");
    });

    it("refuses a production promotion without a remote to push its branch to (exit 2), before asking the registry", async () => {
        bench.repo.git("remote", "remove", "origin");
        const head = bench.repo.head();
        const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"], await unusedUrl());
        assertExit(result, 2);
        assert.equal(
            result.stderr,
            `refused to promote fraud-detector version ${staged} to production: there is no git remote "origin" to push the promotion's branch to; add it, or name another with --remote\n`,
        );
        assert.equal(bench.repo.head(), head);
    });

    it("--dry-run shows the diff, the commit message and the pull request it would open, and changes nothing", async () => {
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml", "--dry-run"]);
            assertExit(result, 0);
            const lines = result.stdout.split("\n");
            assert.equal(lines[0], `dry run: would promote fraud-detector version ${staged} to production`);
            assert.deepEqual(lines.slice(1, 3), [`--- a/${PRODUCTION}`, `+++ b/${PRODUCTION}`]);
            assert.ok(lines.includes(`-      version: "${declaredInProduction}"`) && lines.includes(`+      version: "${staged}"`), result.stdout);
            assert.ok(lines.includes(`  promote fraud-detector ${declaredInProduction} → ${staged} in production`), result.stdout);
            assert.ok(lines.includes("then in the registry:"), result.stdout);
            assert.ok(
                lines.includes(
                    `then: the commit goes on a new branch promote/production/fraud-detector-${staged} from main, pushed to origin, and a pull request into main:`,
                ),
                result.stdout,
            );
            assert.ok(lines.includes(`  title: promote fraud-detector ${declaredInProduction} → ${staged} in production`), result.stdout);
        });
    });

    it("promotes into staging while an unrelated stack file is an alias bomb, warning once; refuses that stack itself in one line", async () => {
        bench.repo.commit("Pulumi.qa.yaml", ALIAS_BOMB, "qa: a stack file nobody should have committed");
        const head = bench.repo.head();
        const result = await promote(["fraud-detector", fraud.candidateVersion, "--to", "staging"]);
        assertExit(result, 0);
        assert.equal(
            result.stderr,
            "warning: not read, so it plays no part in this promotion: Pulumi.qa.yaml: refused: its aliases expand past the 100 alias references a stack file may use (a YAML alias bomb?)\n",
        );
        assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head);
        assert.equal(bench.repo.git("show", "--name-only", "--format=", "HEAD").trim(), STAGING);

        await assertNothingChanged(async () => {
            const bomb = await promote(["fraud-detector", fraud.candidateVersion, "--to", "qa"]);
            assertExit(bomb, 2);
            assert.equal(
                bomb.stderr,
                `refused to promote fraud-detector version ${fraud.candidateVersion} to qa: Pulumi.qa.yaml: refused: its aliases expand past the 100 alias references a stack file may use (a YAML alias bomb?)\n`,
            );
        });
    });

    it("refuses a version that was rolled back unless --allow-rolled-back gives a reason, which lands in the commit", async () => {
        assertExit(await promote(["fraud-detector", fraud.candidateVersion, "--to", "staging"]), 0);
        assertExit(
            await runCli("rollback", ["fraud-detector", "--stack", "staging", "--reason", "drift on merchant_risk"], {
                projectDir: bench.repo.dir,
                trackingUri: bench.server.url,
            }),
            0,
        );
        const rolledBackAt = (
            JSON.parse((await bench.registry.getModelVersion("fraud_detector", fraud.candidateVersion)).tags["mlops.rolled_back.staging"] as string) as {
                rolledBackAt: string;
            }
        ).rolledBackAt;
        const said = `version ${fraud.candidateVersion} was rolled back in staging at ${rolledBackAt} ("drift on merchant_risk")`;

        await assertNothingChanged(async () => {
            const refused = await promote(["fraud-detector", fraud.candidateVersion, "--to", "staging"]);
            assertExit(refused, 1);
            assert.equal(
                refused.stderr,
                `refused to promote fraud-detector version ${fraud.candidateVersion} to staging: ${said}; promote it again only with --allow-rolled-back "<why it is safe now>"\n`,
            );
        });

        const again = await promote([
            "fraud-detector",
            fraud.candidateVersion,
            "--to",
            "staging",
            "--allow-rolled-back",
            "the feature pipeline is fixed (INC-77)",
        ]);
        assertExit(again, 0);
        const message = bench.repo.git("log", "-1", "--format=%B").trimEnd().split("\n");
        assert.deepEqual(message.slice(-3), [
            `Rolled back: ${said}; promoted again because: the feature pipeline is fixed (INC-77)`,
            "",
            "Allow-Rolled-Back: the feature pipeline is fixed (INC-77)",
        ]);
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version, fraud.candidateVersion);
    });

    it("refuses on a detached HEAD (a commit there would be on no branch), changing nothing", async () => {
        bench.repo.git("checkout", "--quiet", "--detach");
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.candidateVersion, "--to", "staging"]);
            assertExit(result, 2);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${fraud.candidateVersion} to staging: HEAD is detached at ${bench.repo.head().slice(0, 12)}, ` +
                    "so a commit would be on no branch; check out the branch the stack files live on (git switch main) first\n",
            );
        });
    });

    it("waits for another git process's index.lock a bounded time, then refuses in one line, changing nothing", async () => {
        const lock = path.join(bench.repo.dir, ".git", "index.lock");
        writeFileSync(lock, "");
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.candidateVersion, "--to", "staging"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `waiting: another git process holds ${realpathSync(lock)}\n` +
                    `refused to promote fraud-detector version ${fraud.candidateVersion} to staging: git commit failed: another git process holds ${realpathSync(lock)} ` +
                    "(still there after 5 s); let it finish, or remove the file if no git process is running; Pulumi.staging.yaml is restored and nothing changed\n",
            );
        });
        rmSync(lock);
    });

    it("commits once the other git process lets go of index.lock", async () => {
        const lock = path.join(bench.repo.dir, ".git", "index.lock");
        writeFileSync(lock, "");
        const head = bench.repo.head();
        // Released when the command says it waits, as a concurrent git would finish its commit.
        const result = await runCliUntil("promote", ["fraud-detector", fraud.candidateVersion, "--to", "staging"], {
            projectDir: bench.repo.dir,
            trackingUri: bench.server.url,
            onStderr: (text) => {
                if (text.includes("waiting: another git process holds")) rmSync(lock, { force: true });
            },
        });
        assertExit(result, 0);
        assert.equal(result.stderr, `waiting: another git process holds ${path.join(realpathSync(path.join(bench.repo.dir, ".git")), "index.lock")}\n`);
        assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head);
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version, fraud.candidateVersion);
    });

    it("answers --help (exit 0) and a missing --to (exit 2) as a command line tool does", async () => {
        const help = await promote(["--help"]);
        assertExit(help, 0);
        assert.match(help.stdout, /^Usage: promote \[options\] <model> <version>\n/);
        assert.match(help.stdout, /--approved-by <names>/);
        const missing = await promote(["fraud-detector", staged]);
        assertExit(missing, 2);
        assert.equal(missing.stderr, "error: required option '--to <stack>' not specified\n");
    });
});
