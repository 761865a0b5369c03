import assert from "node:assert/strict";
import { unusedUrl } from "../support/faultyServers";
import { type CliResult, registrySnapshot, runCli, type SeededModel, useRegistryWorkbench } from "../support/gitRepo";

/**
 * `npm run rollback` (and the promote before it) as child processes, on a temporary git repository
 * holding copies of the shipped stack files, against a real MLflow server on a fresh database.
 */

const PRODUCTION = "Pulumi.production.yaml";
const STAGING = "Pulumi.staging.yaml";

function assertExit(result: CliResult, code: number): void {
    assert.equal(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

/** The text of one model's block in a stack file (from its key to the next model's key or the end). */
function modelBlock(text: string, model: string): { start: number; end: number; text: string } {
    const start = text.indexOf(`\n    ${model}:\n`);
    assert.ok(start >= 0, `no model ${model}`);
    const next = text.slice(start + 1).search(/\n {4}[a-z][a-z0-9-]*:\n/);
    const end = next < 0 ? text.length : start + 1 + next;
    return { start, end, text: text.slice(start, end) };
}

function replaceInBlock(text: string, model: string, from: string, to: string): string {
    const block = modelBlock(text, model);
    assert.ok(block.text.includes(from), `${model} has no ${JSON.stringify(from)}`);
    return text.slice(0, block.start) + block.text.replace(from, to) + text.slice(block.end);
}

describe("npm run rollback (child process, real MLflow registry, temporary git repository)", () => {
    const bench = useRegistryWorkbench();
    let staged: string;
    let declaredInProduction: string;

    const cli = (command: "promote" | "rollback", args: readonly string[], trackingUri = bench.server.url) =>
        runCli(command, args, { projectDir: bench.repo.dir, trackingUri });
    /**
     * Production's version changes as it does for real: promote pushes a branch for review, the pull
     * request is merged (here: a fast-forward of main), and the deploy's registry step points the alias at it.
     */
    const promoteStaged = async () => {
        assertExit(await cli("promote", ["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]), 0);
        bench.repo.git("merge", "--quiet", "--ff-only", `promote/production/fraud-detector-${staged}`);
        assertExit(await runCli("sync-registry", ["--stack", "production"], { projectDir: bench.repo.dir, trackingUri: bench.server.url }), 0);
    };

    beforeEach(async () => {
        staged = (await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version as string;
        declaredInProduction = (await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version as string;
    });

    it("promote → rollback leaves the stack file byte-identical to before, as two new commits, and the alias where it was", async () => {
        const original = bench.repo.read(PRODUCTION);
        const head = bench.repo.head();
        await promoteStaged();
        assert.notEqual(bench.repo.read(PRODUCTION), original);
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, staged);

        const promotedHead = bench.repo.head();
        const dryRun = await cli("rollback", ["fraud-detector", "--stack", "production", "--dry-run"]);
        assertExit(dryRun, 0);
        assert.equal(dryRun.stdout.split("\n")[0], "dry run: would roll back fraud-detector in production");
        assert.ok(dryRun.stdout.includes(`\n-      version: "${staged}"\n+      version: "${declaredInProduction}"\n`), dryRun.stdout);
        assert.ok(
            dryRun.stdout.endsWith(
                `then in the registry:\n  alias fraud_detector@production → version ${declaredInProduction}\n  tag mlops.rolled_back.production on fraud_detector version ${staged}\n`,
            ),
            dryRun.stdout,
        );
        assert.equal(bench.repo.head(), promotedHead);
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, staged);

        const result = await cli("rollback", ["fraud-detector", "--stack", "production"]);
        assertExit(result, 0);
        assert.equal(
            result.stdout,
            `rolled back fraud-detector ${staged} → ${declaredInProduction} in production (as of ${head.slice(0, 12)}): commit ${bench.repo.head().slice(0, 12)}; ` +
                `registry: alias fraud_detector@production → version ${declaredInProduction}; tag mlops.rolled_back.production on fraud_detector version ${staged}\n`,
        );
        assert.equal(bench.repo.read(PRODUCTION), original);
        // History is added to, never rewritten: the old HEAD is two commits back.
        assert.equal(bench.repo.git("rev-parse", "HEAD~2").trim(), head);
        assert.equal(bench.repo.git("diff", head, "HEAD").trim(), "");
        assert.equal(bench.repo.git("log", "-1", "--format=%s").trim(), `rollback fraud-detector ${staged} → ${declaredInProduction} in production`);
        assert.equal(bench.repo.git("status", "--porcelain"), "");
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, declaredInProduction);
        // Tags record history: the production tag of the rolled-back version stays.
        assert.ok((await bench.registry.getModelVersion("fraud_detector", staged)).tags["mlops.promoted.production"] !== undefined);
    });

    it("restores the previous version and its evidence exactly as written, and touches no other model or key changed since", async () => {
        // A hand-written declaration: a comment in the evidence, approvers as a block list with a comment.
        let handWritten = replaceInBlock(
            bench.repo.read(PRODUCTION),
            "fraud-detector",
            "        evidence:\n",
            "        evidence:\n          # holdout evaluation, 2026-10\n",
        );
        handWritten = replaceInBlock(
            handWritten,
            "fraud-detector",
            "approvedBy: [ml-lead, product-owner]",
            "approvedBy:   # CAB-1234\n          - ml-lead\n          - product-owner",
        );
        const handWrittenCommit = bench.repo.commit(PRODUCTION, handWritten, "fraud-detector: note the evaluation and the change ticket");

        await promoteStaged();
        // Meanwhile, unrelated changes to another model and to a platform setting.
        let later = replaceInBlock(bench.repo.read(PRODUCTION), "product-image-tagger", "        max: 3\n", "        max: 4\n");
        later = later.replace("    replicas: 2\n    basicAuth: true\n", "    replicas: 3\n    basicAuth: true\n");
        assert.notEqual(later, bench.repo.read(PRODUCTION));
        bench.repo.commit(PRODUCTION, later, "product-image-tagger: scale to 4; mlflow: 3 replicas");

        const result = await cli("rollback", ["fraud-detector", "--stack", "production"]);
        assertExit(result, 0);
        assert.match(
            result.stdout,
            new RegExp(`^rolled back fraud-detector ${staged} → ${declaredInProduction} in production \\(as of ${handWrittenCommit.slice(0, 12)}\\)`),
        );

        const restored = bench.repo.read(PRODUCTION);
        assert.equal(modelBlock(restored, "fraud-detector").text, modelBlock(handWritten, "fraud-detector").text);
        assert.equal(
            restored,
            replaceInBlock(handWritten, "product-image-tagger", "        max: 3\n", "        max: 4\n").replace(
                "    replicas: 2\n    basicAuth: true\n",
                "    replicas: 3\n    basicAuth: true\n",
            ),
        );
        assert.equal(bench.repo.git("show", "--name-only", "--format=", "HEAD").trim(), PRODUCTION);
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, declaredInProduction);
    });

    it("refuses when no earlier revision declares another version (exit 2), changing nothing", async () => {
        const head = bench.repo.head();
        const result = await cli("rollback", ["fraud-detector", "--stack", "production"]);
        assertExit(result, 2);
        assert.equal(
            result.stderr,
            `refused to roll back fraud-detector in production: no earlier revision of ${PRODUCTION} declares another version of "fraud-detector" than ${declaredInProduction}\n`,
        );
        assert.equal(bench.repo.head(), head);
    });

    it("refuses a dirty stack file (exit 2) and an unreachable registry (exit 1), changing nothing", async () => {
        await promoteStaged();
        const promoted = bench.repo.read(PRODUCTION);
        const head = bench.repo.head();
        const before = await registrySnapshot(bench.server.url, bench.seeded);

        bench.repo.write(PRODUCTION, promoted.replace("# Production:", "# Production (edited):"));
        const dirty = await cli("rollback", ["fraud-detector", "--stack", "production"]);
        assertExit(dirty, 2);
        assert.equal(
            dirty.stderr,
            `refused to roll back fraud-detector in production: ${PRODUCTION} has uncommitted changes (M ${PRODUCTION}); commit or discard them first\n`,
        );
        bench.repo.write(PRODUCTION, promoted);

        const down = await unusedUrl();
        const unreachable = await cli("rollback", ["fraud-detector", "--stack", "production"], down);
        assertExit(unreachable, 1);
        assert.equal(
            unreachable.stderr,
            "refused to roll back fraud-detector in production: the registry cannot be asked, so nothing was changed: " +
                `MLflow registry ${down}: getModelVersion(fraud_detector, ${declaredInProduction}): unreachable (connect ECONNREFUSED 127.0.0.1:${new URL(down).port})\n`,
        );
        assert.equal(bench.repo.read(PRODUCTION), promoted);
        assert.equal(bench.repo.head(), head);
        assert.deepEqual(await registrySnapshot(bench.server.url, bench.seeded), before);
    });

    it("never returns to a version that was itself rolled back: staging 8 → 10 → 8, and a second rollback is refused, changing nothing", async () => {
        const candidate = (bench.seeded["fraud_detector"] as SeededModel).candidateVersion;
        const stagedBefore = staged;
        assertExit(await cli("promote", ["fraud-detector", candidate, "--to", "staging"]), 0);
        const first = await cli("rollback", ["fraud-detector", "--stack", "staging", "--reason", "accuracy on live traffic fell"]);
        assertExit(first, 0);
        const rollbackCommit = bench.repo.head();
        assert.match(
            first.stdout,
            new RegExp(
                `registry: alias fraud_detector@staging → version ${stagedBefore}; tag mlops\\.rolled_back\\.staging on fraud_detector version ${candidate}\n$`,
            ),
        );
        // git knows: the commit's trailers; the registry knows: the tag on the version rolled back.
        assert.equal(
            bench.repo.git("log", "-1", "--format=%(trailers:only,unfold)").trim(),
            `Rolled-Back: fraud-detector version ${candidate}\nRollback-Reason: accuracy on live traffic fell`,
        );
        const tag = JSON.parse((await bench.registry.getModelVersion("fraud_detector", candidate)).tags["mlops.rolled_back.staging"] as string) as Record<
            string,
            string
        >;
        assert.deepEqual(tag, {
            rolledBackAt: tag["rolledBackAt"],
            reason: "accuracy on live traffic fell",
            commit: rollbackCommit,
            restoredVersion: stagedBefore,
        });
        assert.match(tag["rolledBackAt"] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

        const text = bench.repo.read(STAGING);
        const before = await registrySnapshot(bench.server.url, bench.seeded);
        const second = await cli("rollback", ["fraud-detector", "--stack", "staging"]);
        assertExit(second, 2);
        const committedAt = bench.repo.git("log", "-1", "--format=%cI").trim();
        assert.equal(
            second.stderr,
            `refused to roll back fraud-detector in staging: no earlier revision of ${STAGING} declares another version of "fraud-detector" than ${stagedBefore} ` +
                `that was not itself rolled back (version ${candidate} was rolled back by commit ${rollbackCommit.slice(0, 12)} at ${committedAt} ("accuracy on live traffic fell"))\n`,
        );
        assert.equal(bench.repo.head(), rollbackCommit);
        assert.equal(bench.repo.read(STAGING), text);
        assert.deepEqual(await registrySnapshot(bench.server.url, bench.seeded), before);
    });

    it("refuses on a detached HEAD (a commit there would be on no branch), changing nothing", async () => {
        await promoteStaged();
        bench.repo.git("checkout", "--quiet", "--detach");
        const head = bench.repo.head();
        const text = bench.repo.read(PRODUCTION);
        const before = await registrySnapshot(bench.server.url, bench.seeded);
        const result = await cli("rollback", ["fraud-detector", "--stack", "production"]);
        assertExit(result, 2);
        assert.equal(
            result.stderr,
            `refused to roll back fraud-detector in production: HEAD is detached at ${head.slice(0, 12)}, ` +
                "so a commit would be on no branch; check out the branch the stack files live on (git switch main) first\n",
        );
        assert.equal(bench.repo.head(), head);
        assert.equal(bench.repo.read(PRODUCTION), text);
        assert.deepEqual(await registrySnapshot(bench.server.url, bench.seeded), before);
    });

    it("refuses an unknown model (exit 2)", async () => {
        const result = await cli("rollback", ["spam-filter", "--stack", "production"]);
        assertExit(result, 2);
        assert.equal(
            result.stderr,
            `refused to roll back spam-filter in production: ${PRODUCTION} declares no model "spam-filter" (declared: fraud-detector, product-image-tagger)\n`,
        );
    });
});
