import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { PlatformMocks } from "../../offline/mocks";
import { REDACTED } from "../../offline/manifests";
import { REPORT_FORMAT, type PreviewReport } from "../../cli/preview/report";

/**
 * The offline preview as a user runs it: `cli/preview.ts` in a child process of its own, on stack
 * files written into temporary project directories (the program is always this repository's).
 */

const REPOSITORY_ROOT = path.resolve(__dirname, "..", "..");
const CLI = path.join(REPOSITORY_ROOT, "cli", "preview.ts");
const STAGING_FILE = path.join(REPOSITORY_ROOT, "Pulumi.staging.yaml");

interface CliRun {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** `npm run preview -- <args>`, not on a terminal, as in CI; no registry unless the test gives one. */
function preview(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
    return new Promise((resolve, reject) => {
        const childEnv: NodeJS.ProcessEnv = { ...process.env, CI: "true", ...env };
        if (env["MLFLOW_TRACKING_URI"] === undefined) delete childEnv["MLFLOW_TRACKING_URI"];
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", CLI, ...args], { cwd: REPOSITORY_ROOT, env: childEnv });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
}

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `preview-${prefix}-`));
    tempDirs.push(dir);
    return dir;
}

/** A project dir holding only `Pulumi.<stack>.yaml`, made of staging's file with `edit` applied. */
function project(stack: string, edit: (text: string) => string = (text) => text): string {
    const dir = tempDir(stack);
    const text = fs.readFileSync(STAGING_FILE, "utf8");
    const edited = edit(text);
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), edited);
    return dir;
}

/** Replaces exactly one occurrence, so that a changed fixture cannot silently edit nothing. */
function replaceOnce(text: string, from: string, to: string): string {
    assert.equal(text.split(from).length, 2, `expected exactly one ${JSON.stringify(from)} in the staging stack file`);
    return text.replace(from, to);
}

after(() => {
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe("npm run preview", () => {
    describe("the clean staging stack", () => {
        let projectDir: string;
        let outDir: string;
        let text: CliRun;

        before(async () => {
            projectDir = project("staging");
            outDir = path.join(tempDir("out"), "staging");
            text = await preview(["--stack", "staging", "--project-dir", projectDir, "--out", outDir]);
        });

        it("exits 0 and says so, with nothing on stderr when not on a terminal", () => {
            assert.equal(text.stderr, "");
            assert.equal(text.code, 0);
            assert.match(text.stdout, /^Offline preview of stack "staging" \(environment staging\): no cloud, no Pulumi CLI$/m);
            assert.match(text.stdout, /^Policy results: 0 mandatory, 0 advisory$/m);
            assert.match(text.stdout, /^Result: clean \(exit 0\)$/m);
        });

        it("summarises the models with their declared versions and resolved canary steps, and the GPU budget", () => {
            assert.match(text.stdout, /^ {2}fraud-detector: fraud_detector version 8, replicas 1–3, cpu 500m, memory 1Gi, gpu 0$/m);
            assert.match(
                text.stdout,
                /^ {6}canary: steps 10% → 50%, every 30s, success ≥ 99%, p99 ≤ 500 ms, rollback after 3 failed checks, load test 10 rps$/m,
            );
            assert.match(text.stdout, /^GPUs at maximum scale: 4 of 4 nvidia\.com\/gpu \(gpu-budget, mandatory\)$/m);
            assert.match(text.stdout, /^ {2}ModelServing fraud-detector +11$/m);
        });

        it("says per model which quality checks are live and where their data comes from", () => {
            // Staging's shipped models check no quality in rollouts; drift is watched after it (the environment's defaults).
            assert.match(text.stdout, /^ {6}quality \(probabilities, scraped by prometheus\.io annotations\):$/m);
            assert.match(text.stdout, /^ {8}accuracy: not checked in rollouts; not watched after rollout; from labels fed back to \/mlops\/feedback$/m);
            assert.match(
                text.stdout,
                /^ {8}drift: not checked in rollouts; after rollout alert > 0\.1, rollback > 0\.18; from live inputs against the training run's reference statistics/m,
            );
            assert.match(
                text.stdout,
                /^ {8}confidence: not checked in rollouts; not watched after rollout; from the mean top-class probability of live answers$/m,
            );
        });

        it("says that the registry cross-check did not run, and how to run it", () => {
            assert.match(
                text.stdout,
                /^ {2}registry +not cross-checked \(no registry given, so the declared evidence was checked on its own\); to cross-check, pass --registry <url> or set MLFLOW_TRACKING_URI$/m,
            );
        });

        it("writes one YAML file per Kubernetes object, named for reading order", () => {
            const files = fs.readdirSync(outDir).sort();
            for (const expected of [
                "00-namespace-models.yaml",
                "11-secret-mlflow-db-mlflow-db-credentials.yaml",
                "21-deployment-models-fraud-detector.yaml",
                "40-horizontalpodautoscaler-models-product-image-tagger.yaml",
                "61-application-argocd-staging-fraud-detector.yaml",
                "72-canary-models-fraud-detector.yaml",
            ]) {
                assert.ok(files.includes(expected), `${expected} not among ${files.join(", ")}`);
            }
            assert.match(text.stdout, new RegExp(`^Manifests: ${files.length} files in .*, all valid against their schemas$`, "m"));
        });

        it("writes files that all parse as YAML objects, with no Secret value in clear", () => {
            const password = new PlatformMocks({ accountId: "123456789012", region: "eu-west-1" }).newResource({
                type: "random:index/randomPassword:RandomPassword",
                name: "mlflow-db-password",
                inputs: { length: 32, special: false },
                custom: true,
            }).state["result"] as string;
            let secrets = 0;
            for (const file of fs.readdirSync(outDir)) {
                const content = fs.readFileSync(path.join(outDir, file), "utf8");
                assert.ok(!content.includes(password), `${file} holds the database password in clear`);
                const object = yaml.load(content) as { apiVersion: string; kind: string; data?: Record<string, string>; stringData?: Record<string, string> };
                assert.equal(typeof object.apiVersion, "string", file);
                assert.equal(typeof object.kind, "string", file);
                if (object.kind !== "Secret") continue;
                secrets++;
                const values = [...Object.values(object.data ?? {}), ...Object.values(object.stringData ?? {})];
                assert.ok(values.length > 0, `${file} has no data`);
                assert.deepEqual(
                    values,
                    values.map(() => REDACTED),
                    file,
                );
            }
            assert.ok(secrets >= 2, `expected the backend-store and database Secrets, found ${secrets}`);
        });
    });

    describe("--json", () => {
        let run: CliRun;
        let report: PreviewReport;
        let outDir: string;

        before(async () => {
            outDir = path.join(tempDir("json"), "out");
            run = await preview(["--stack", "staging", "--project-dir", project("staging"), "--out", outDir, "--json"]);
            report = JSON.parse(run.stdout) as PreviewReport;
        });

        it("prints only the report, in the documented shape", () => {
            assert.equal(run.code, 0);
            assert.equal(run.stderr, "");
            assert.deepEqual(Object.keys(report), [
                "format",
                "stack",
                "environment",
                "outcome",
                "exitCode",
                "inputs",
                "resources",
                "models",
                "gpu",
                "policies",
                "manifests",
                "warnings",
                "timingsMs",
            ]);
            assert.deepEqual(report.warnings, []);
            assert.equal(report.format, REPORT_FORMAT);
            assert.equal(report.stack, "staging");
            assert.equal(report.environment, "staging");
            assert.equal(report.outcome, "clean");
            assert.equal(report.exitCode, 0);
            assert.equal(report.inputs.policyConfigFile, path.join(REPOSITORY_ROOT, "policies", "config", "staging.json"));
            assert.deepEqual(report.inputs.registry, {
                checked: false,
                reason: "no registry given, so the declared evidence was checked on its own",
                howToRun: "pass --registry <url> or set MLFLOW_TRACKING_URI",
            });
        });

        it("counts every registration once, by component", () => {
            const grouped = report.resources.byComponent.reduce((sum, group) => sum + group.resources, 0);
            assert.equal(grouped, report.resources.total);
            assert.equal(report.resources.tree.resources, report.resources.total);
            assert.deepEqual(
                report.resources.tree.children.map((c) => `${c.type} ${c.name}`),
                [
                    "mlops:storage:ArtifactStore artifacts",
                    "mlops:database:Postgres mlflow-db",
                    "mlops:tls:CertManager cert-manager",
                    "mlops:tracking:MlflowServer mlflow",
                    "mlops:gitops:ArgoCd argocd",
                    "mlops:delivery:Flagger flagger",
                    "mlops:serving:ModelServing fraud-detector",
                    "mlops:serving:ModelServing product-image-tagger",
                    "mlops:network:NetworkIsolation network",
                ],
            );
        });

        it("lists the models with their pinned versions, resolved canaries and GPUs at maximum scale", () => {
            assert.deepEqual(
                report.models.map((m) => [m.name, m.registeredModel, m.version, m.canary.stepWeights, m.canary.interval, m.gpusAtMaxScale]),
                [
                    ["fraud-detector", "fraud_detector", "8", [10, 50], "30s", 0],
                    ["product-image-tagger", "product_image_tagger", "4", [10, 50], "1m", 4],
                ],
            );
            assert.deepEqual(
                { budget: report.gpu.budget, total: report.gpu.totalAtMaxScale, within: report.gpu.withinBudget, level: report.gpu.enforcementLevel },
                { budget: 4, total: 4, within: true, level: "mandatory" },
            );
        });

        it("names every written file", () => {
            assert.deepEqual(report.manifests.files, fs.readdirSync(outDir).sort());
            assert.deepEqual(report.manifests.invalid, []);
            assert.deepEqual(report.policies.counts, { mandatory: 0, advisory: 0 });
        });
    });

    it("--markdown prints a pull-request comment with a Mermaid flowchart and the policy results", async () => {
        const run = await preview(["--stack", "staging", "--project-dir", project("staging"), "--out", path.join(tempDir("md"), "out"), "--markdown"]);
        assert.equal(run.code, 0);
        assert.match(run.stdout, /^## ✅ Offline preview of `staging`$/m);
        assert.match(run.stdout, /^### Policy results: 0 mandatory, 0 advisory\n\nNo policy violations\.$/m);
        assert.match(run.stdout, /^```mermaid\nflowchart LR\n {4}n0\["Stack<br\/>mlops-platform-staging<br\/>\d+ resources"\]$/m);
        assert.match(run.stdout, /^ {4}n0 --> n\d+$/m);
        assert.match(run.stdout, /\["ModelServing<br\/>fraud-detector<br\/>11 resources"\]/);
        assert.match(run.stdout, /^\| `fraud-detector` \| `fraud_detector` \| 8 \| 1–3 \| 500m CPU, 1Gi \| 0 \| steps 10% → 50%, every 30s/m);
        assert.match(run.stdout, /^> \*\*Registry cross-check did not run:\*\*/m);
    });

    it("exits 1 naming gpu-limit-per-container for a GPU model over the per-container cap (policy config of the stack's environment)", async () => {
        // Staging allows 1 GPU per container; the config schema allows up to 16, so only the pack can refuse it.
        const dir = project("gpu-heavy", (text) => replaceOnce(text, "        gpu: 1\n", "        gpu: 2\n"));
        const run = await preview(["--stack", "gpu-heavy", "--project-dir", dir, "--out", path.join(dir, "out"), "--json"]);
        assert.equal(run.code, 1);
        const report = JSON.parse(run.stdout) as PreviewReport;
        assert.equal(report.outcome, "failed");
        assert.equal(report.inputs.policyConfigFile, path.join(REPOSITORY_ROOT, "policies", "config", "staging.json"));
        const violation = report.policies.mandatory.find((v) => v.policy === "gpu-limit-per-container");
        assert.deepEqual(violation && { resource: violation.resource.name, type: violation.resource.type, message: violation.message }, {
            resource: "product-image-tagger-deployment",
            type: "kubernetes:apps/v1:Deployment",
            message: 'container "model-server" asks for 2 GPUs (nvidia.com/gpu), over the limit of 1 per container',
        });
        assert.deepEqual(report.gpu.totalAtMaxScale, 8);
    });

    it("reports the violation in the text summary with the resource and the line, then exits 1", async () => {
        const dir = project("gpu-heavy", (text) => replaceOnce(text, "        gpu: 1\n", "        gpu: 2\n"));
        const run = await preview(["--stack", "gpu-heavy", "--project-dir", dir, "--out", path.join(dir, "out")]);
        assert.equal(run.code, 1);
        assert.match(
            run.stdout,
            /^ {4}gpu-limit-per-container: product-image-tagger-deployment \(kubernetes:apps\/v1:Deployment\)\n {8}container "model-server" asks for 2 GPUs \(nvidia\.com\/gpu\), over the limit of 1 per container$/m,
        );
        assert.match(run.stdout, /^Result: FAILED: 2 mandatory policy violations \(exit 1\)$/m);
    });

    it("exits 2 naming the config key of an unpinned version", async () => {
        const dir = project("unpinned", (text) => replaceOnce(text, 'version: "4"', "version: latest"));
        const run = await preview(["--stack", "unpinned", "--project-dir", dir, "--out", path.join(dir, "out")]);
        assert.equal(run.code, 2);
        assert.equal(run.stdout, "");
        assert.equal(
            run.stderr,
            'error: stack "unpinned" configuration has 1 problem:\n' +
                '  - mlops-platform:models.product-image-tagger.version: expected a pinned registry version such as "7" (never "latest" or an alias), got "latest"\n',
        );
    });

    it("exits 2 with one line for an invalid --stack", async () => {
        const run = await preview(["--stack", "../x"]);
        assert.equal(run.code, 2);
        assert.equal(
            run.stderr,
            "error: option '-s, --stack <name>' argument '../x' is invalid. Stack names may only contain letters, digits, hyphens, underscores and periods (at most 100 characters). (see --help)\n",
        );
    });

    it("exits 2 with one line for a missing stack file", async () => {
        const dir = tempDir("empty");
        const run = await preview(["--stack", "nope", "--project-dir", dir]);
        assert.equal(run.code, 2);
        assert.equal(run.stderr, `error: ${path.join(dir, "Pulumi.nope.yaml")}: no such stack file (${dir} has no Pulumi.<stack>.yaml files)\n`);
    });

    it("exits 2 with one line for malformed YAML", async () => {
        const dir = tempDir("broken");
        const file = path.join(dir, "Pulumi.broken.yaml");
        fs.writeFileSync(file, "config:\n  aws:region: eu-west-1\n   mlops-platform:environment: staging\n");
        const run = await preview(["--stack", "broken", "--project-dir", dir]);
        assert.equal(run.code, 2);
        assert.equal(run.stderr, `error: ${file}: malformed YAML at line 2, column 15: Nested mappings are not allowed in compact mappings\n`);
    });

    it("exits 2 with one line, and at once, for a YAML alias bomb (446 bytes that expand to gigabytes)", async () => {
        const dir = tempDir("bomb");
        const file = path.join(dir, "Pulumi.bomb.yaml");
        const levels = "abcdefghi".split("");
        const bomb = [
            `a: &a [${Array(9).fill('"lol"').join(",")}]`,
            ...levels.slice(1).map((name, i) => `${name}: &${name} [${Array(9).fill(`*${levels[i]}`).join(",")}]`),
            "config: {mlops-platform:models: *i}",
            "",
        ].join("\n");
        fs.writeFileSync(file, bomb);
        const started = Date.now();
        const run = await preview(["--stack", "bomb", "--project-dir", dir, "--out", path.join(dir, "out")]);
        assert.equal(run.code, 2);
        assert.equal(run.stderr, `error: ${file}: refused: its aliases expand past the 100 alias references a stack file may use (a YAML alias bomb?)\n`);
        assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
        assert.equal(fs.existsSync(path.join(dir, "out")), false);
    });

    it("exits 2 with one line, before any work, when --out names an existing file", async () => {
        const dir = project("staging");
        const file = path.join(dir, "manifests.yaml");
        fs.writeFileSync(file, "kept: as it was\n");
        const started = Date.now();
        const run = await preview(["--stack", "staging", "--project-dir", dir, "--out", file]);
        assert.equal(run.code, 2);
        assert.equal(
            run.stderr,
            `error: --out ${JSON.stringify(file)}: is a file, not a directory; name a directory for the manifests (it is created when missing)\n`,
        );
        assert.equal(run.stdout, "");
        assert.equal(fs.readFileSync(file, "utf8"), "kept: as it was\n");
        // Refused before the program ran: a full preview takes many seconds on this machine.
        assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    });

    it("exits 2 with one line, before any work, when MLOPS_SCHEMAS_DIR names a missing folder", async () => {
        const missing = path.join(os.tmpdir(), "no-such-schemas-folder");
        const run = await preview(["--stack", "staging"], { MLOPS_SCHEMAS_DIR: missing });
        assert.equal(run.code, 2);
        assert.equal(
            run.stderr,
            `error: schemas folder not found: ${missing} (from MLOPS_SCHEMAS_DIR=${missing}); it holds the CRDs that custom resources are validated against. ` +
                "Unset MLOPS_SCHEMAS_DIR to use the pinned copies in components/flagger.\n",
        );
    });

    it("exits 2 with one line when --stack is missing", async () => {
        const run = await preview([]);
        assert.equal(run.code, 2);
        assert.equal(run.stderr, "error: required option '-s, --stack <name>' not specified (see --help)\n");
    });

    it("cross-checks against MLFLOW_TRACKING_URI when it is set, says where from, and fails closed in staging too", async () => {
        // Nothing listens on the discard port: the registry cannot confirm anything. Both environments
        // read the one registry, and staging's promotion gate binds, so staging fails closed as production does.
        const dir = project("staging");
        const run = await preview(["--stack", "staging", "--project-dir", dir, "--out", path.join(dir, "out"), "--json"], {
            MLFLOW_TRACKING_URI: "http://127.0.0.1:9",
        });
        assert.equal(run.code, 1);
        const report = JSON.parse(run.stdout) as PreviewReport;
        assert.deepEqual(report.inputs.registry, { checked: true, uri: "http://127.0.0.1:9", source: "MLFLOW_TRACKING_URI", enforcementLevel: "mandatory" });
        assert.deepEqual(
            report.policies.mandatory.filter((v) => v.policy === "registry-evidence-matches").map((v) => v.resource.name),
            ["fraud-detector-deployment", "product-image-tagger-deployment"],
        );
    });
});
