import assert from "node:assert/strict";
import { chmodSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { unusedUrl } from "../support/faultyServers";
import { type CliResult, registrySnapshot, runCli, runCliUntil, type SeededModel, useRegistryWorkbench } from "../support/gitRepo";

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

describe("npm run promote (child process, real MLflow registry, temporary git repository)", () => {
    const bench = useRegistryWorkbench();
    let fraud: SeededModel;
    let staged: string;
    let declaredInProduction: string;

    const promote = (args: readonly string[], trackingUri = bench.server.url) => runCli("promote", args, { projectDir: bench.repo.dir, trackingUri });
    const snapshot = () => registrySnapshot(bench.server.url, bench.seeded);

    /** Runs `work` and asserts that the stack files, HEAD, the working tree and the registry are exactly as before. */
    async function assertNothingChanged(work: () => Promise<void>): Promise<void> {
        const before = {
            production: bench.repo.read(PRODUCTION),
            staging: bench.repo.read(STAGING),
            head: bench.repo.head(),
            status: bench.repo.git("status", "--porcelain"),
            registry: await snapshot(),
        };
        await work();
        const after = {
            production: bench.repo.read(PRODUCTION),
            staging: bench.repo.read(STAGING),
            head: bench.repo.head(),
            status: bench.repo.git("status", "--porcelain"),
            registry: await snapshot(),
        };
        assert.deepEqual(after, before);
    }

    before(() => {
        fraud = bench.seeded["fraud_detector"] as SeededModel;
    });

    beforeEach(async () => {
        staged = (await bench.registry.getVersionByAlias("fraud_detector", "staging"))?.version as string;
        declaredInProduction = (await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version as string;
    });

    it("promotes staging → production: one commit of only the version and evidence lines, then the alias and the tag", async () => {
        const original = bench.repo.read(PRODUCTION);
        const head = bench.repo.head();
        const startedAt = Date.now() - 1000;
        const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,product-owner"]);
        assertExit(result, 0);
        const commit = bench.repo.head();
        assert.equal(
            result.stdout,
            `promoted fraud-detector ${declaredInProduction} → ${staged} in production: commit ${commit.slice(0, 12)}; ` +
                `registry: alias fraud_detector@production → version ${staged}; tag mlops.promoted.production on fraud_detector version ${staged}\n`,
        );
        assert.equal(result.stderr, "");

        // The file: exactly the version and evidence nodes changed; the registry's run and metrics; now as promotedAt.
        const edited = bench.repo.read(PRODUCTION);
        const promotedAt = /promotedAt: "([^"]+)"/.exec(edited.slice(edited.indexOf(`runId: ${fraud.runs[staged]}`)))?.[1] as string;
        assert.match(promotedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.ok(Date.parse(promotedAt) >= startedAt && Date.parse(promotedAt) <= Date.now(), promotedAt);
        const metrics = fraud.metrics[staged] as Record<string, number>;
        const old = (
            parseYaml(original) as {
                config: Record<string, Record<string, { promotion: { evidence: { runId: string; metrics: Record<string, number>; promotedAt: string } } }>>;
            }
        ).config["mlops-platform:models"]?.["fraud-detector"]?.promotion.evidence;
        assert.ok(old !== undefined);
        assert.deepEqual(changedLines(original, edited), [
            [`      version: "${declaredInProduction}"`, `      version: "${staged}"`],
            [`          runId: ${old.runId}`, `          runId: ${fraud.runs[staged]}`],
            [`            accuracy: ${old.metrics["accuracy"]}`, `            accuracy: ${metrics["accuracy"]}`],
            [`            f1: ${old.metrics["f1"]}`, `            f1: ${metrics["f1"]}`],
            [`          promotedAt: "${old.promotedAt}"`, `          promotedAt: "${promotedAt}"`],
        ]);

        // Git: one new commit, on top of the old HEAD, holding only the stack file, with the promotion in its message.
        assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head);
        assert.equal(bench.repo.git("show", "--name-only", "--format=", "HEAD").trim(), PRODUCTION);
        assert.equal(bench.repo.git("status", "--porcelain"), "");
        assert.equal(
            bench.repo.git("log", "-1", "--format=%B").trimEnd(),
            [
                `promote fraud-detector ${declaredInProduction} → ${staged} in production`,
                "",
                "Model:       fraud-detector (registered model fraud_detector)",
                `Version:     ${declaredInProduction} → ${staged}`,
                "Environment: production (Pulumi.production.yaml), validated in staging",
                `Run:         ${fraud.runs[staged]}`,
                `Metrics:     accuracy=${metrics["accuracy"]}, f1=${metrics["f1"]}`,
                "Approved by: ml-lead, product-owner",
                "Criteria:    policies/config/production.json (mandatory): met",
            ].join("\n"),
        );

        // The registry: the environment's alias and the contract's tag, naming the commit.
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, staged);
        const tags = (await bench.registry.getModelVersion("fraud_detector", staged)).tags;
        assert.deepEqual(JSON.parse(tags["mlops.promoted.production"] as string), { promotedAt, commit, approvedBy: ["ml-lead", "product-owner"] });
    });

    it("refuses a weak version (metrics below the production thresholds) and changes nothing", async () => {
        // Staging's criteria are advisory: the weak version goes there with warnings.
        const toStaging = await promote(["fraud-detector", fraud.weakVersion, "--to", "staging"]);
        assertExit(toStaging, 0);
        assert.equal(
            toStaging.stderr,
            'warning: metric "accuracy" is 0.85, below the required 0.9 (advisory in policies/config/staging.json)\n' +
                'warning: metric "f1" is 0.8, below the required 0.85 (advisory in policies/config/staging.json)\n',
        );
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", fraud.weakVersion, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${fraud.weakVersion} to production: ` +
                    'metric "accuracy" is 0.85, below the required 0.9; metric "f1" is 0.8, below the required 0.85\n',
            );
            assert.equal(result.stdout, "");
        });
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

    it("refuses when the registry is down: the stack file's bytes, HEAD and the registry stay as they were", async () => {
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

    it("keeps the commit when the registry fails after it, says what to rerun, and sync-registry finishes the job idempotently", async () => {
        const proxy = await startReadOnlyProxy(bench.server.url);
        const head = bench.repo.head();
        let result: CliResult;
        try {
            result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"], proxy.url);
        } finally {
            await proxy.close();
        }
        assertExit(result, 1);
        const commit = bench.repo.head();
        assert.notEqual(commit, head);
        assert.equal(
            result.stderr,
            `promote fraud-detector version ${staged} to production: committed ${commit.slice(0, 12)}, but the registry was not updated ` +
                `(MLflow registry ${proxy.url}: setAlias(fraud_detector, production, ${staged}): HTTP 503 (TEMPORARILY_UNAVAILABLE: the registry is read-only during maintenance)); ` +
                "rerun: npm run sync-registry -- --stack production\n",
        );
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, declaredInProduction);

        const synced = await runCli("sync-registry", ["--stack", "production"], { projectDir: bench.repo.dir, trackingUri: bench.server.url });
        assertExit(synced, 0);
        const tagger = bench.seeded["product_image_tagger"] as SeededModel;
        const taggerVersion = (await bench.registry.getVersionByAlias("product_image_tagger", "production"))?.version as string;
        assert.equal(
            synced.stdout,
            `fraud-detector (fraud_detector version ${staged}): set alias fraud_detector@production → version ${staged} (was ${declaredInProduction}); ` +
                `tag mlops.promoted.production on fraud_detector version ${staged}\n` +
                `product-image-tagger (product_image_tagger version ${taggerVersion}): set tag mlops.promoted.production on ${tagger.registeredModel} version ${taggerVersion}\n`,
        );
        assert.equal((await bench.registry.getVersionByAlias("fraud_detector", "production"))?.version, staged);
        const tag = JSON.parse((await bench.registry.getModelVersion("fraud_detector", staged)).tags["mlops.promoted.production"] as string) as Record<
            string,
            unknown
        >;
        assert.equal(tag["commit"], commit);
        assert.deepEqual(tag["approvedBy"], ["ml-lead", "head-of-ml"]);

        const again = await runCli("sync-registry", ["--stack", "production"], { projectDir: bench.repo.dir, trackingUri: bench.server.url });
        assertExit(again, 0);
        assert.equal(
            again.stdout,
            `fraud-detector (fraud_detector version ${staged}): already in sync\nproduct-image-tagger (product_image_tagger version ${taggerVersion}): already in sync\n`,
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

    it("refuses too few approvals (exit 1), changing nothing", async () => {
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${staged} to production: the promotion needs 2 approvals from allowed approvers, got 1 (ml-lead)\n`,
            );
        });
    });

    it("restores the stack file and leaves the registry alone when the commit fails (a pre-commit hook refuses)", async () => {
        const hook = path.join(bench.repo.dir, ".git", "hooks", "pre-commit");
        writeFileSync(hook, "#!/bin/sh\necho 'pre-commit: stack changes need a ticket' >&2\nexit 1\n");
        chmodSync(hook, 0o755);
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml"]);
            assertExit(result, 1);
            assert.equal(
                result.stderr,
                `refused to promote fraud-detector version ${staged} to production: git commit failed: pre-commit: stack changes need a ticket; Pulumi.production.yaml is restored and nothing changed\n`,
            );
        });
    });

    it("--dry-run shows the diff, the commit message and the registry writes, and changes nothing", async () => {
        await assertNothingChanged(async () => {
            const result = await promote(["fraud-detector", staged, "--to", "production", "--approved-by", "ml-lead,head-of-ml", "--dry-run"]);
            assertExit(result, 0);
            const lines = result.stdout.split("\n");
            assert.equal(lines[0], `dry run: would promote fraud-detector version ${staged} to production`);
            assert.deepEqual(lines.slice(1, 3), [`--- a/${PRODUCTION}`, `+++ b/${PRODUCTION}`]);
            assert.ok(lines.includes(`-      version: "${declaredInProduction}"`) && lines.includes(`+      version: "${staged}"`), result.stdout);
            assert.ok(lines.includes(`  promote fraud-detector ${declaredInProduction} → ${staged} in production`), result.stdout);
            assert.deepEqual(lines.slice(-4), [
                "then in the registry:",
                `  alias fraud_detector@production → version ${staged}`,
                `  tag mlops.promoted.production on fraud_detector version ${staged}`,
                "",
            ]);
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
