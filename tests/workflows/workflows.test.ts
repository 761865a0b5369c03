import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { resolveOptions } from "../../cli/preview/options";
import { DELIVERY_DEFAULTS } from "../../components/modelServing/delivery";
import { listStacks, parsePlatformConfig, readStackFile, stackFilePath } from "../../stacks";
import { usesAws } from "../../infra/platform";
import { PROJECT_DIR } from "../harness";
import { TEST_POSTGRES } from "../support/mlflow";

/**
 * The workflows users run (.github/workflows) are checked like code: the jobs the design asks for exist
 * with the right triggers, dependencies, environments and least-privilege permissions; every script and
 * repository path they name exists; every action is pinned to a commit; no long-lived cloud keys.
 */

interface Step {
    readonly name?: string;
    readonly id?: string;
    readonly if?: string;
    readonly uses?: string;
    readonly run?: string;
    readonly with?: Readonly<Record<string, unknown>>;
    readonly env?: Readonly<Record<string, unknown>>;
}

interface Job {
    readonly name?: string;
    readonly if?: string;
    readonly needs?: string | readonly string[];
    readonly environment?: string | { readonly name: string };
    readonly permissions?: Readonly<Record<string, string>> | string;
    readonly concurrency?: { readonly group: string; readonly "cancel-in-progress"?: boolean };
    readonly strategy?: { readonly matrix?: Readonly<Record<string, unknown>> };
    readonly services?: Readonly<Record<string, { image: string; env?: Record<string, string>; ports?: string[] }>>;
    readonly env?: Readonly<Record<string, string>>;
    readonly steps: readonly Step[];
}

interface Workflow {
    readonly on: Readonly<Record<string, unknown>>;
    readonly permissions?: unknown;
    readonly jobs: Readonly<Record<string, Job>>;
}

const WORKFLOWS_DIR = path.join(PROJECT_DIR, ".github", "workflows");
const configOf = (stack: string) => parsePlatformConfig(readStackFile(stackFilePath(PROJECT_DIR, stack)).values, stack);
const ALL_STACKS = listStacks(PROJECT_DIR);
/** The stacks GitHub deploys: those on AWS. The local stack (no cloud account) is previewed on every pull request, never deployed from here. */
const STACKS = ALL_STACKS.filter((stack) => usesAws(configOf(stack)));
const PACKAGE = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
    engines: { node: string };
};

/**
 * Actions that may be used without a commit SHA, with the reason. Empty: every action used was pinned to a
 * SHA confirmed in at least two independent public workflows.
 */
const UNPINNED_ALLOWLIST: ReadonlyMap<string, string> = new Map();

const files = fs
    .readdirSync(WORKFLOWS_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
const texts = new Map(files.map((f) => [f, fs.readFileSync(path.join(WORKFLOWS_DIR, f), "utf8")]));
const workflows = new Map(files.map((f) => [f, yaml.load(texts.get(f) as string) as Workflow]));

function workflow(file: string): Workflow {
    const found = workflows.get(file);
    assert.ok(found, `.github/workflows/${file} exists`);
    return found;
}

function job(file: string, id: string): Job {
    const found = workflow(file).jobs[id];
    assert.ok(found, `${file} has a job "${id}"`);
    return found;
}

function allJobs(): [file: string, id: string, job: Job][] {
    return [...workflows].flatMap(([file, w]) => Object.entries(w.jobs).map(([id, j]): [string, string, Job] => [file, id, j]));
}

function stepUsing(j: Job, action: string): Step[] {
    return j.steps.filter((s) => s.uses?.split("@")[0] === action);
}

function indexOfStep(j: Job, predicate: (s: Step) => boolean, what: string): number {
    const index = j.steps.findIndex(predicate);
    assert.ok(index >= 0, `a step that ${what}`);
    return index;
}

/** The stacks a job runs for: its matrix, or the one its STACK variable names. */
function stacksOf(j: Job): string[] {
    const matrix = j.strategy?.matrix?.["stack"];
    if (Array.isArray(matrix)) return matrix.map(String);
    const stack = j.env?.["STACK"];
    return stack !== undefined && !stack.includes("${{") ? [stack] : [];
}

/** A string of a job with its stack put in for `${{ matrix.stack }}`, `${STACK}` and `$STACK`. */
function expand(text: string, stack: string): string {
    return text.replace(/\$\{\{\s*(matrix\.stack|env\.STACK)\s*\}\}/g, stack).replace(/\$\{STACK\}|\$STACK\b/g, stack);
}

/** Where `pulumi up` renders a gitops stack's model workloads: `<delivery.path>` (then `/<stack>/<model>`). */
function renderRoot(stack: string): string {
    const delivery = configOf(stack).delivery;
    assert.equal(delivery.mode, "gitops", `${stack} delivers through git`);
    return delivery.mode === "gitops" ? (delivery.path ?? DELIVERY_DEFAULTS.path) : "";
}

describe("GitHub workflows", () => {
    it("are the three workflows users run, each parsing to jobs with steps", () => {
        assert.deepEqual(files, ["deploy.yml", "monitor.yml", "pull-request.yml"]);
        for (const [file, id, j] of allJobs()) assert.ok(Array.isArray(j.steps) && j.steps.length > 0, `${file} ${id} has steps`);
    });

    it("pull requests run the tests, the offline preview and pulumi preview", () => {
        const pr = workflow("pull-request.yml");
        assert.deepEqual(Object.keys(pr.on), ["pull_request"]);
        assert.deepEqual(Object.keys(pr.jobs).sort(), ["offline-preview", "pulumi-preview", "test"]);
    });

    it("merges to main (and a manual run) deploy staging, then production behind its environment", () => {
        const deploy = workflow("deploy.yml");
        assert.deepEqual(Object.keys(deploy.on).sort(), ["push", "workflow_dispatch"]);
        const push = deploy.on["push"] as { branches: string[]; "paths-ignore"?: string[] };
        assert.deepEqual(push.branches, ["main"]);
        // Only the rendered manifests this workflow commits back are ignored.
        assert.deepEqual(push["paths-ignore"], [...new Set(STACKS.map((s) => `${renderRoot(s)}/**`))]);

        const staging = job("deploy.yml", "staging");
        const production = job("deploy.yml", "production");
        assert.equal(staging.environment, "staging");
        assert.equal(staging.needs, undefined);
        assert.equal(production.environment, "production");
        assert.equal(production.needs, "staging");
        // One deploy of an environment at a time, and never one cancelled half-way.
        assert.deepEqual(staging.concurrency, { group: "deploy-staging", "cancel-in-progress": false });
        assert.deepEqual(production.concurrency, { group: "deploy-production", "cancel-in-progress": false });
    });

    it("deploy jobs: up with the policy pack, commit the rendered manifests, wait for the rollout, then update the registry alias", () => {
        for (const stack of ["staging", "production"]) {
            const j = job("deploy.yml", stack);
            assert.equal(j.env?.["STACK"], stack);
            const credentials = indexOfStep(j, (s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@") === true, "assumes the deploy role");
            const kubeconfig = indexOfStep(j, (s) => /aws eks update-kubeconfig/.test(s.run ?? ""), "writes the EKS kubeconfig");
            const startedAt = indexOfStep(j, (s) => /ROLLOUT_STARTED_AT=/.test(s.run ?? ""), "notes when the rollout begins");
            const up = indexOfStep(j, (s) => s.uses?.startsWith("pulumi/actions@") === true && s.with?.["command"] === "up", "runs pulumi up");
            const commit = indexOfStep(j, (s) => /git push origin HEAD:main/.test(s.run ?? ""), "pushes the rendered manifests");
            const wait = indexOfStep(j, (s) => /npm run wait-rollout -- /.test(s.run ?? ""), "waits for the rollout");
            const sync = indexOfStep(j, (s) => /npm run sync-registry -- /.test(s.run ?? ""), "updates the registry alias");
            assert.ok(
                credentials < kubeconfig && kubeconfig < startedAt && startedAt < up && up < commit && commit < wait && wait < sync,
                `${stack}: steps in order`,
            );

            const upStep = j.steps[up] as Step;
            assert.deepEqual(
                { stack: upStep.with?.["stack-name"], packs: upStep.with?.["policyPacks"], config: upStep.with?.["policyPackConfigs"] },
                { stack, packs: "policies", config: `policies/config/${stack}.json` },
            );
            assert.equal(upStep.env?.["PULUMI_ACCESS_TOKEN"], "${{ secrets.PULUMI_ACCESS_TOKEN }}");

            assert.equal(
                (j.steps[commit] as Step).env?.["RENDERED"],
                `${renderRoot(stack)}/${stack}`,
                `${stack}: commits what pulumi up renders (<delivery.path>/<stack>)`,
            );
            assert.match((j.steps[commit] as Step).run ?? "", /\[skip ci\]/);

            const waitStep = j.steps[wait] as Step;
            assert.match(
                waitStep.run ?? "",
                new RegExp(`^npm run wait-rollout -- --stack ${stack} --timeout \\d+m --since "\\$ROLLOUT_STARTED_AT" --rollback-failed$`),
            );
            // A failed canary's rollback moves the alias back and is an attributable commit.
            assert.equal(waitStep.env?.["MLFLOW_TRACKING_URI"], "${{ vars.MLFLOW_TRACKING_URI }}");
            assert.equal(waitStep.env?.["GIT_AUTHOR_NAME"], "github-actions[bot]");
            // Then it is pushed and deployed, and the job still fails.
            const pushRollback = j.steps[wait + 1] as Step;
            assert.equal(pushRollback.if, `failure() && steps.${waitStep.id}.outcome == 'failure'`);
            assert.match(pushRollback.run ?? "", /--grep='\^Rolled-Back: '/);
            assert.match(pushRollback.run ?? "", /git push origin HEAD:main; then\n\s*gh workflow run deploy\.yml --ref main\n[^]*?exit 1\n/);
            assert.equal(pushRollback.env?.["GH_TOKEN"], "${{ github.token }}");
            const syncStep = j.steps[sync] as Step;
            // --rolled-out: the step records the rollout as validated (mlops.validated.<env>), after wait-rollout only.
            assert.equal(syncStep.run, `npm run sync-registry -- --stack ${stack} --rolled-out`);
            // Only after a successful rollout: no `if: always()` or the like.
            assert.equal(syncStep.if, undefined);
            assert.equal(syncStep.env?.["MLFLOW_TRACKING_URI"], "${{ vars.MLFLOW_TRACKING_URI }}");
        }
    });

    it("production's up runs only after check-approvals passed for the merged commit, before any credential is assumed", () => {
        const j = job("deploy.yml", "production");
        const check = indexOfStep(j, (s) => /npm run check-approvals -- /.test(s.run ?? ""), "checks the merged pull request's approvals");
        const credentials = indexOfStep(j, (s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@") === true, "assumes the deploy role");
        const up = indexOfStep(j, (s) => s.uses?.startsWith("pulumi/actions@") === true && s.with?.["command"] === "up", "runs pulumi up");
        assert.ok(check < credentials && credentials < up, "check-approvals, then credentials, then up");
        const step = j.steps[check] as Step;
        assert.equal(step.run, 'npm run check-approvals -- --stack production --commit "$GITHUB_SHA"');
        assert.equal(step.if, undefined, "never skipped");
        assert.equal(step.env?.["GITHUB_TOKEN"], "${{ github.token }}");
        // Staging needs no approvals (its policy config asks none) and runs no such step.
        assert.equal(
            job("deploy.yml", "staging").steps.some((s) => /check-approvals/.test(s.run ?? "")),
            false,
        );
    });

    it("the monitor runs for production at its models' check interval, pushes only a rollback commit, and deploys from it", () => {
        const monitor = workflow("monitor.yml");
        assert.deepEqual(Object.keys(monitor.on).sort(), ["schedule", "workflow_dispatch"]);
        const [schedule, ...more] = monitor.on["schedule"] as Array<{ cron: string }>;
        assert.equal(more.length, 0);
        const minutes = Math.min(
            ...configOf("production").models.map((m) => {
                const [, amount, unit] = /^(\d+)(m|h)$/.exec(m.monitoring?.checkInterval ?? "") ?? [];
                assert.ok(amount !== undefined, `production's ${m.name} has a check interval`);
                return Number(amount) * (unit === "h" ? 60 : 1);
            }),
        );
        assert.equal(schedule?.cron, `*/${minutes} * * * *`, "every check interval (the shortest of production's models)");

        const j = job("monitor.yml", "production");
        assert.equal(j.env?.["STACK"], "production");
        // Not the production environment: its required reviewers would hold every scheduled run.
        assert.equal(j.environment, "production-monitor");
        assert.deepEqual(j.concurrency, { group: "monitor-production", "cancel-in-progress": false });
        assert.equal(stepUsing(j, "actions/checkout")[0]?.with?.["fetch-depth"], 0, "the rollback restores an earlier revision");
        const forward = indexOfStep(j, (s) => /kubectl port-forward/.test(s.run ?? ""), "reaches the cluster's Prometheus");
        const run = indexOfStep(j, (s) => /npm run --silent monitor -- /.test(s.run ?? ""), "runs the monitor");
        const push = indexOfStep(j, (s) => /git push origin HEAD:main/.test(s.run ?? ""), "pushes the rollback commit");
        assert.ok(forward < run && run < push);
        const monitorStep = j.steps[run] as Step;
        assert.match(monitorStep.run ?? "", /npm run --silent monitor -- --stack production --prometheus http:\/\/127\.0\.0\.1:9090 --canary-status kubectl\n/);
        assert.equal(monitorStep.env?.["MONITOR_WEBHOOK_URL"], "${{ secrets.MONITOR_WEBHOOK_URL }}");
        assert.equal(monitorStep.env?.["MLFLOW_TRACKING_URI"], "${{ vars.MLFLOW_TRACKING_URI }}");
        // Exit 1 (an alert, or cannot judge) changes nothing and is a warning; 2 fails; 3 and 4 committed a rollback.
        assert.match(monitorStep.run ?? "", /0 \| 3 \| 4\) exit 0 ;;/);
        assert.match(monitorStep.run ?? "", /\*\) exit "\$code" ;;/);
        const pushStep = j.steps[push] as Step;
        assert.equal(pushStep.if, `steps.${monitorStep.id}.outputs.exit-code == '3' || steps.${monitorStep.id}.outputs.exit-code == '4'`);
        assert.match(pushStep.run ?? "", /git push origin HEAD:main; then\n\s*gh workflow run deploy\.yml --ref main\n/);
        // The deploy it dispatches is one users already run: deploy.yml takes workflow_dispatch.
        assert.ok("workflow_dispatch" in workflow("deploy.yml").on);
        const fail = j.steps[push + 1] as Step;
        assert.equal(fail.if, `steps.${monitorStep.id}.outputs.exit-code == '4'`);
        assert.match(fail.run ?? "", /\nexit 1\n$/);
    });

    it("the test job runs ./.ci/run, which starts its own PostgreSQL (trust auth on 5432), with Python 3.11 and Node 20", () => {
        const j = job("pull-request.yml", "test");
        // A service container would hold the port .ci/run's own PostgreSQL listens on.
        assert.equal(j.services, undefined);
        const ciScript = fs.readFileSync(path.join(PROJECT_DIR, ".ci", "run"), "utf8");
        assert.match(ciScript, /\.ci\/postgres\.sh/);
        const pgScript = fs.readFileSync(path.join(PROJECT_DIR, ".ci", "postgres.sh"), "utf8");
        assert.match(pgScript, new RegExp(`host all ${TEST_POSTGRES.user} ${TEST_POSTGRES.host}/32 trust`));
        assert.match(pgScript, new RegExp(`port = ${TEST_POSTGRES.port}`));

        assert.equal(stepUsing(j, "actions/setup-go")[0]?.with?.["go-version"], "1.26", "npm run e2e builds with Go");
        // checkov (issue 11) scans the preview's manifests between the tests and the end-to-end run.
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, ".ci", "run"), "utf8"), /^npm test\n(#.*\n)?bash \.ci\/checkov\.sh\nnpm run e2e$/m);
        const python = stepUsing(j, "actions/setup-python");
        assert.equal(python.length, 1);
        assert.equal(python[0]?.with?.["python-version"], "3.11");
        const ciRun = j.steps.find((s) => s.run === "./.ci/run");
        assert.ok(ciRun, "the tests run exactly as CI runs them");
        // tests/mlflow/setup-venv.sh builds the venv from $PYTHON.
        assert.equal(ciRun.env?.["PYTHON"], `\${{ steps.${python[0]?.id}.outputs.python-path }}`);
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, "tests", "mlflow", "setup-venv.sh"), "utf8"), /python="\$\{PYTHON:-python3\}"/);
    });

    it("every job sets up Node 20 (the engines range of package.json)", () => {
        const engineMajor = /(\d+)/.exec(PACKAGE.engines.node)?.[1];
        for (const [file, id, j] of allJobs()) {
            const node = stepUsing(j, "actions/setup-node");
            assert.equal(node.length, 1, `${file} ${id}`);
            assert.equal(node[0]?.with?.["node-version"], engineMajor, `${file} ${id}`);
        }
    });

    it("no job downloads schemas or names a folder beside the checkout: the project carries its own", () => {
        for (const [file, id, j] of allJobs()) {
            const text = JSON.stringify(j);
            assert.doesNotMatch(text, /MLOPS_SCHEMAS_DIR|shared\/schemas|artifacts\/flagger\/crd\.yaml/, `${file} ${id}`);
        }
    });

    it("the offline preview runs per stack, comments once per stack, uploads out/<stack> and fails after commenting", () => {
        const j = job("pull-request.yml", "offline-preview");
        assert.equal(j.env?.["STACK"], "${{ matrix.stack }}");
        const preview = indexOfStep(j, (s) => /npm run --silent preview -- --stack "\$STACK" --markdown/.test(s.run ?? ""), "runs the offline preview");
        const comment = indexOfStep(j, (s) => s.uses?.startsWith("actions/github-script@") === true, "upserts the comment");
        const upload = indexOfStep(j, (s) => s.uses?.startsWith("actions/upload-artifact@") === true, "uploads the manifests");
        const fail = indexOfStep(j, (s) => /exit 1/.test(s.run ?? "") && /exit-code != '0'/.test(s.if ?? ""), "fails on a non-zero exit");
        assert.ok(preview < comment && comment < fail && upload < fail);
        // Find-and-update by a hidden marker per stack, not a new comment per push.
        const script = String((j.steps[comment] as Step).with?.["script"]);
        assert.match(script, /<!-- mlops-offline-preview:\$\{stack\} -->/);
        assert.match(script, /updateComment/);
        assert.match(script, /createComment/);
        for (const stack of STACKS) {
            const artifactPath = expand(String((j.steps[upload] as Step).with?.["path"]), stack);
            assert.equal(artifactPath, path.relative(PROJECT_DIR, resolveOptions({ stack }, {}).outDir), "the preview's own output folder");
        }
        assert.match((j.steps[comment] as Step).if ?? "", /always\(\)/);
        assert.match((j.steps[upload] as Step).if ?? "", /always\(\)/);
    });

    it("pulumi preview runs per stack with the policy pack and its config, commenting on the pull request", () => {
        const j = job("pull-request.yml", "pulumi-preview");
        const [pulumi] = stepUsing(j, "pulumi/actions");
        assert.ok(pulumi);
        assert.deepEqual(pulumi.with, {
            command: "preview",
            "stack-name": "${{ matrix.stack }}",
            "work-dir": ".",
            "pulumi-version": PACKAGE.dependencies["@pulumi/pulumi"],
            policyPacks: "policies",
            policyPackConfigs: "policies/config/${{ matrix.stack }}.json",
            "comment-on-pr": true,
            "edit-pr-comment": true,
            diff: true,
        });
        assert.equal(pulumi.env?.["PULUMI_ACCESS_TOKEN"], "${{ secrets.PULUMI_ACCESS_TOKEN }}");
        const kubeconfig = indexOfStep(j, (s) => /aws eks update-kubeconfig/.test(s.run ?? ""), "writes the EKS kubeconfig");
        assert.ok(indexOfStep(j, (s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@") === true, "assumes a role") < kubeconfig);
        assert.ok(kubeconfig < j.steps.indexOf(pulumi));
        // Cloud credentials only for this repository's branches.
        assert.equal(j.if, "github.event.pull_request.head.repo.full_name == github.repository");
    });

    it("every pulumi/actions step uses the CLI release of the SDK in package.json", () => {
        const steps = allJobs().flatMap(([, , j]) => stepUsing(j, "pulumi/actions"));
        assert.equal(steps.length, 3);
        for (const step of steps) assert.equal(step.with?.["pulumi-version"], PACKAGE.dependencies["@pulumi/pulumi"]);
    });

    it("the offline preview covers every stack file; pulumi preview and deploy every AWS stack", () => {
        assert.deepEqual(ALL_STACKS, ["local", "production", "staging"]);
        assert.deepEqual(STACKS, ["production", "staging"]);
        const matrixJobs = allJobs().filter(([, , j]) => j.strategy?.matrix !== undefined);
        assert.deepEqual(matrixJobs.map(([f, id]) => `${f} ${id}`).sort(), ["pull-request.yml offline-preview", "pull-request.yml pulumi-preview"]);
        for (const [file, id, j] of matrixJobs) {
            assert.deepEqual(Object.keys(j.strategy?.matrix ?? {}), ["stack"], `${file} ${id}`);
            assert.deepEqual([...stacksOf(j)].sort(), id === "offline-preview" ? ALL_STACKS : STACKS, `${file} ${id}`);
        }
        const deployed = Object.values(workflow("deploy.yml").jobs).flatMap(stacksOf).sort();
        assert.deepEqual(deployed, STACKS);
    });

    it("permissions: nothing at the top, and per job only what it needs", () => {
        for (const file of files) assert.deepEqual(workflow(file).permissions, {}, `${file}: top-level permissions`);
        const expected: Record<string, Record<string, Record<string, string>>> = {
            "pull-request.yml": {
                test: { contents: "read" },
                "offline-preview": { contents: "read", "pull-requests": "write" },
                "pulumi-preview": { contents: "read", "id-token": "write", "pull-requests": "write" },
            },
            "deploy.yml": {
                staging: { contents: "write", actions: "write", "id-token": "write" },
                production: { contents: "write", actions: "write", "id-token": "write", "pull-requests": "read" },
            },
            "monitor.yml": {
                production: { contents: "write", actions: "write", "id-token": "write" },
            },
        };
        for (const [file, id, j] of allJobs()) {
            assert.deepEqual(j.permissions, expected[file]?.[id], `${file} ${id}`);
            // And each grant is used: an OIDC token where a role is assumed, PR write where a comment is
            // posted, contents write where a commit is pushed.
            const permissions = j.permissions as Record<string, string>;
            const assumes = stepUsing(j, "aws-actions/configure-aws-credentials").length > 0;
            const comments = stepUsing(j, "actions/github-script").length > 0 || stepUsing(j, "pulumi/actions").some((s) => s.with?.["comment-on-pr"] === true);
            const pushes = j.steps.some((s) => /git push/.test(s.run ?? ""));
            const readsReviews = j.steps.some((s) => /npm run check-approvals/.test(s.run ?? ""));
            const dispatches = j.steps.some((s) => /gh workflow run/.test(s.run ?? ""));
            assert.equal(permissions["actions"] === "write", dispatches, `${file} ${id}: actions`);
            assert.equal(permissions["id-token"] === "write", assumes, `${file} ${id}: id-token`);
            assert.equal(permissions["pull-requests"] === "write", comments, `${file} ${id}: pull-requests`);
            assert.equal(permissions["pull-requests"] === "read", readsReviews, `${file} ${id}: pull-requests read`);
            assert.equal(permissions["contents"] === "write", pushes, `${file} ${id}: contents`);
        }
    });

    it("credentials come from OIDC role assumption, never from long-lived AWS keys", () => {
        const githubDir = path.join(PROJECT_DIR, ".github");
        const everyFile = (dir: string): string[] =>
            fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? everyFile(path.join(dir, e.name)) : [path.join(dir, e.name)]));
        const stackFiles = STACKS.map((stack) => stackFilePath(PROJECT_DIR, stack));
        for (const file of [...everyFile(githubDir), ...stackFiles, path.join(PROJECT_DIR, ".ci", "run")]) {
            const text = fs.readFileSync(file, "utf8");
            assert.doesNotMatch(
                text,
                /AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|aws-access-key-id|aws-secret-access-key|aws-session-token|AKIA[0-9A-Z]{16}/,
                file,
            );
        }
        const assumed = allJobs().flatMap(([file, id, j]) => stepUsing(j, "aws-actions/configure-aws-credentials").map((s) => [`${file} ${id}`, s] as const));
        assert.equal(assumed.length, 4);
        for (const [where, step] of assumed) {
            assert.match(String(step.with?.["role-to-assume"]), /^\$\{\{ vars\.AWS_(PREVIEW|DEPLOY|MONITOR)_ROLE_ARN \}\}$/, where);
            assert.deepEqual(
                Object.keys(step.with ?? {}).filter((k) => !["role-to-assume", "role-session-name", "role-duration-seconds", "aws-region"].includes(k)),
                [],
                where,
            );
        }
    });

    it("every npm run <script> a workflow uses exists in package.json, and the workflows use the platform's commands", () => {
        const used = new Set<string>();
        for (const [file, id, j] of allJobs()) {
            for (const step of j.steps) {
                for (const match of (step.run ?? "").matchAll(/\bnpm run(?:\s+(?:--silent|-s))?\s+([\w:-]+)/g)) {
                    const script = match[1] as string;
                    assert.ok(PACKAGE.scripts[script] !== undefined, `${file} ${id}: npm run ${script} is not a script of package.json`);
                    used.add(script);
                }
                assert.doesNotMatch(step.run ?? "", /\bnpm install\b/, `${file} ${id}: npm ci, never npm install`);
            }
        }
        assert.deepEqual([...used].sort(), ["check-approvals", "monitor", "preview", "sync-registry", "wait-rollout"]);
        // The scripts' entry points exist too.
        for (const script of used) {
            const entry = /\s(cli\/[\w/.-]+\.ts)$/.exec(PACKAGE.scripts[script] ?? "")?.[1];
            assert.ok(entry !== undefined && fs.existsSync(path.join(PROJECT_DIR, entry)), `npm run ${script} runs ${entry}`);
        }
    });

    it("every repository path a workflow names exists", () => {
        const named = new Set<string>();
        for (const [file, id, j] of allJobs()) {
            const stacks = stacksOf(j);
            assert.ok(stacks.length > 0 || id === "test", `${file} ${id} runs for a stack`);
            for (const stack of stacks.length > 0 ? stacks : [""]) {
                for (const step of j.steps) {
                    for (const key of ["policyPacks", "policyPackConfigs", "work-dir"]) {
                        const value = step.with?.[key];
                        if (typeof value === "string") named.add(expand(value, stack));
                    }
                    const run = expand(step.run ?? "", stack);
                    for (const match of run.matchAll(
                        /(?<![\w/.-])(?:\.\/)?((?:\.ci|policies|tests|cli|infra|stacks|components)\/[\w./-]*[\w]|Pulumi\.[\w-]+\.yaml)/g,
                    )) {
                        named.add(match[1] as string);
                    }
                }
            }
        }
        for (const expected of [
            ".ci/run",
            "policies",
            "policies/config/staging.json",
            "policies/config/production.json",
            "Pulumi.staging.yaml",
            "Pulumi.production.yaml",
        ]) {
            assert.ok(named.has(expected), `the workflows name ${expected}`);
        }
        for (const name of named) assert.ok(fs.existsSync(path.join(PROJECT_DIR, name)), `${name} exists in the repository`);
        assert.ok((fs.statSync(path.join(PROJECT_DIR, ".ci", "run")).mode & 0o111) !== 0, ".ci/run is executable");
        assert.ok(fs.existsSync(path.join(PROJECT_DIR, "policies", "PulumiPolicy.yaml")), "policies is a policy pack");
    });

    it("every action is pinned to a full commit SHA with its version in a comment, the same SHA everywhere", () => {
        const pins = new Map<string, string>();
        let count = 0;
        for (const [file, text] of texts) {
            for (const [index, line] of text.split("\n").entries()) {
                const match = /^\s*(?:-\s+)?uses:\s*([^\s#]+)\s*(?:#\s*(.*))?$/.exec(line);
                if (match === null) continue;
                count++;
                const [, reference, comment] = match as unknown as [string, string, string | undefined];
                const where = `${file}:${index + 1}`;
                assert.ok(!reference.startsWith("docker://") || /@sha256:[0-9a-f]{64}$/.test(reference), `${where}: docker actions by digest`);
                if (reference.startsWith("./")) continue;
                const [action, ref] = reference.split("@") as [string, string | undefined];
                if (UNPINNED_ALLOWLIST.has(action)) continue;
                assert.match(ref ?? "", /^[0-9a-f]{40}$/, `${where}: ${action} pinned to a commit SHA`);
                assert.match(comment ?? "", /^v\d+\.\d+\.\d+$/, `${where}: ${action}'s version in a comment`);
                const pin = `${ref} # ${comment}`;
                assert.equal(pins.get(action) ?? pin, pin, `${where}: ${action} pinned like its other uses`);
                pins.set(action, pin);
            }
        }
        assert.ok(count > 0);
        const parsedUses = allJobs().flatMap(([, , j]) => j.steps.filter((s) => s.uses !== undefined));
        assert.equal(parsedUses.length, count, "every uses: line was checked");
        for (const [action, reason] of UNPINNED_ALLOWLIST) assert.ok(reason.length > 20, `${action}: a reason`);
    });
});
