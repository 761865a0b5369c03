// The program's local stack (Pulumi.local.yaml) through the real engine and a real API server:
// preview with the policy pack, up, no-changes preview, a promotion commit and its up, a rollback and
// its up, destroy. Every pulumi command is the real CLI; every object is checked with kubectl.
//   npm run e2e
import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type MlflowServer, startMlflowServer } from "../tests/support/mlflow";
import { type ControlPlane, startControlPlane } from "./controlPlane";
import { type Engine, engineEnv, ensureEngine } from "./engine";

const REPO = path.resolve(__dirname, "..");
const STACK = "local";
const PART_OF = "app.kubernetes.io/part-of=mlops-platform";
const CREDENTIALS = [
    "postgresPassword",
    "mlflowAdminPassword",
    "mlflowFlaskSecretKey",
    "registryReaderPassword",
    "objectStoreAccessKeyId",
    "objectStoreSecretAccessKey",
];

interface Result {
    readonly status: number | null;
    readonly out: string;
}

interface KubeObject {
    readonly kind: string;
    readonly metadata: {
        readonly name: string;
        readonly namespace?: string;
        readonly labels?: Record<string, string>;
        readonly ownerReferences?: { kind: string }[];
    };
    readonly spec?: Record<string, any>;
    readonly status?: Record<string, any>;
}

/** The project as a user's checkout of this working tree: tracked and new files, its own git history. */
function copyProject(into: string): void {
    const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: REPO, encoding: "utf8" })
        .split("\0")
        .filter(Boolean);
    for (const file of files) {
        const from = path.join(REPO, file);
        if (!fs.existsSync(from) || fs.lstatSync(from).isSymbolicLink()) continue;
        fs.mkdirSync(path.dirname(path.join(into, file)), { recursive: true });
        fs.copyFileSync(from, path.join(into, file));
    }
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(into, "node_modules"), "dir");
    const git = (...args: string[]) => execFileSync("git", args, { cwd: into, encoding: "utf8" });
    git("init", "--quiet", "--initial-branch", "main");
    git("config", "user.email", "e2e@mlops-platform.invalid");
    git("config", "user.name", "e2e");
    git("add", "-A");
    git("commit", "--quiet", "-m", "the project, as checked out");
}

describe("e2e: Pulumi.local.yaml through the real Pulumi engine and a real kube-apiserver", function () {
    this.timeout(3600_000);
    let engine: Engine;
    let cp: ControlPlane;
    let env: NodeJS.ProcessEnv;
    let mlflow: MlflowServer;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-e2e-local-"));
    const project = path.join(tmp, "mlops-platform");

    const sh = (cmd: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Result => {
        const started = Date.now();
        const res = spawnSync(cmd, args, { cwd: project, env: { ...env, ...extraEnv }, encoding: "utf8", timeout: 1800_000, maxBuffer: 64 * 1024 * 1024 });
        const shown = args[1] === "set" && args.includes("--secret") ? [...args.slice(0, -1), "<secret>"] : args;
        console.log(`      $ ${path.basename(cmd)} ${shown.join(" ")}  (${((Date.now() - started) / 1000).toFixed(1)}s, exit ${res.status})`);
        return { status: res.status, out: `${res.stdout ?? ""}${res.stderr ?? ""}` };
    };
    const ok = (cmd: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): string => {
        const r = sh(cmd, args, extraEnv);
        assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status}:\n${r.out.slice(-6000)}`);
        return r.out;
    };
    const pulumi = (...args: string[]) => sh(engine.pulumi, [...args, "--stack", STACK, "--non-interactive", "--color=never"]);
    const policyArgs = (config = "policies/config/local.json") => ["--policy-pack", "policies", "--policy-pack-config", config];
    const kubectlJson = (...args: string[]): { items: KubeObject[] } => JSON.parse(ok(engine.kubectl, [...args, "-o", "json"])) as { items: KubeObject[] };
    const modelLabels = (kind: string, name: string) =>
        kubectlJson("get", kind, "-n", "models", "--field-selector", `metadata.name=${name}`).items[0]?.metadata.labels ?? {};

    before(async function () {
        engine = ensureEngine({ progress: (line) => console.log(`    ${line}`) });
        console.log(`    pulumi ${engine.versions.pulumi}, kubernetes ${engine.versions.kubernetes}`);
        cp = await startControlPlane({ engine });
        env = { ...engineEnv(), KUBECONFIG: cp.kubeconfig };
        mlflow = await startMlflowServer();
        copyProject(project);

        // The registry the promotion reads: fraud_detector 1 (what the stack declares) and 2 (the candidate).
        await mlflow.seed.createRegisteredModel("fraud_detector");
        for (const metrics of [
            { accuracy: 0.95, f1: 0.92 },
            { accuracy: 0.96, f1: 0.93 },
        ]) {
            const run = await mlflow.seed.createRun({ experimentName: "fraud-detector", metrics });
            await mlflow.seed.createModelVersion({ model: "fraud_detector", runId: run.runId });
        }

        ok(engine.pulumi, ["stack", "init", STACK, "--non-interactive"]);
        // Every credential is a config secret, so the stack needs no random provider (which the Go proxy refuses).
        for (const key of CREDENTIALS)
            ok(engine.pulumi, [
                "config",
                "set",
                "--stack",
                STACK,
                "--secret",
                "--path",
                `mlops-platform:credentials.${key}`,
                crypto.randomBytes(24).toString("hex"),
            ]);
        execFileSync("git", ["commit", "--quiet", "-am", "local stack: credentials as config secrets"], { cwd: project });
    });

    after(async function () {
        this.timeout(600_000);
        if (engine !== undefined && fs.existsSync(project)) pulumi("stack", "rm", "--yes", "--force");
        await mlflow?.stop();
        await cp?.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("names the engine it runs: CLI, plugins and API server versions", function () {
        const plugins = JSON.parse(ok(engine.pulumi, ["plugin", "ls", "--json"])) as { name: string; kind: string; version: string }[];
        console.log(`      pulumi ${ok(engine.pulumi, ["version"]).trim()}; plugins: ${plugins.map((p) => `${p.kind} ${p.name} ${p.version}`).join(", ")}`);
        const versions = JSON.parse(ok(engine.kubectl, ["version", "-o", "json"])) as { serverVersion: { gitVersion: string } };
        console.log(`      kube-apiserver ${versions.serverVersion.gitVersion}`);
        assert.ok(plugins.some((p) => p.name === "kubernetes"));
        assert.equal(versions.serverVersion.gitVersion, engine.versions.kubernetes);
    });

    it("pulumi preview --policy-pack: exit 0 and no mandatory violation", function () {
        const preview = pulumi("preview", ...policyArgs());
        assert.equal(preview.status, 0, preview.out.slice(-6000));
        assert.doesNotMatch(preview.out, /\[mandatory\]/);
        assert.match(preview.out, /mlops-platform-policies/);
    });

    it("a variant that breaks a mandatory policy exits non-zero, naming it", function () {
        const strict = path.join(tmp, "strict.json");
        const config = JSON.parse(fs.readFileSync(path.join(project, "policies/config/local.json"), "utf8")) as Record<string, any>;
        config["model-promotion-evidence"] = { ...config["model-promotion-evidence"], enforcementLevel: "mandatory", minMetrics: { accuracy: 0.99 } };
        fs.writeFileSync(strict, JSON.stringify(config));
        const preview = pulumi("preview", ...policyArgs(strict));
        assert.notEqual(preview.status, 0, preview.out.slice(-4000));
        assert.match(preview.out, /\[mandatory\]\s+model-promotion-evidence/);
    });

    it("pulumi up: every object exists with the label contract and the declared version; Pod Security admitted every pod", async function () {
        const up = pulumi("up", "--yes", "--skip-preview", ...policyArgs());
        assert.equal(up.status, 0, up.out.slice(-8000));
        const listed = ok(engine.kubectl, [
            "get",
            "namespaces,deployments,statefulsets,jobs,services,ingresses,canaries,metrictemplates,hpa,pdb,networkpolicies",
            "-A",
            "-l",
            PART_OF,
        ]);
        console.log(
            listed
                .split("\n")
                .map((l) => `      ${l}`)
                .join("\n"),
        );

        const namespaces = kubectlJson("get", "namespaces", "-l", PART_OF).items;
        assert.deepEqual(namespaces.map((n) => n.metadata.name).sort(), ["mlflow", "mlflow-db", "models", "object-store"]);
        for (const ns of namespaces) assert.equal(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted", ns.metadata.name);
        for (const kind of ["deployment", "canary", "hpa", "pdb"]) {
            const labels = modelLabels(kind, "fraud-detector");
            assert.equal(labels["mlops.dev/model"], "fraud-detector", kind);
            assert.equal(labels["mlops.dev/model-version"], "1", kind);
            assert.equal(labels["mlops.dev/environment"], "staging", kind);
            assert.equal(labels["app.kubernetes.io/managed-by"], "pulumi", kind);
        }
        assert.deepEqual(
            kubectlJson("get", "crd", "-l", PART_OF)
                .items.map((c) => c.metadata.name)
                .sort(),
            ["alertproviders.flagger.app", "canaries.flagger.app", "metrictemplates.flagger.app"],
        );

        // The controller manager creates each workload's pods through the API server, whose Pod Security
        // admission enforces "restricted" there: a refused pod would never exist, and leave a FailedCreate event.
        const owners = [
            ...kubectlJson("get", "replicasets", "-A", "-l", PART_OF).items,
            ...kubectlJson("get", "statefulsets", "-A", "-l", PART_OF).items,
            ...kubectlJson("get", "jobs", "-A", "-l", PART_OF).items,
        ];
        assert.ok(owners.length >= 5, owners.map((o) => `${o.kind} ${o.metadata.name}`).join(", "));
        const deadline = Date.now() + 120_000;
        for (;;) {
            const pods = kubectlJson("get", "pods", "-A").items;
            const missing = owners.filter(
                (o) => !pods.some((p) => p.metadata.namespace === o.metadata.namespace && p.metadata.name.startsWith(o.metadata.name)),
            );
            if (missing.length === 0) {
                for (const pod of pods.filter((p) => ["mlflow", "mlflow-db", "models", "object-store"].includes(p.metadata.namespace ?? ""))) {
                    assert.equal(pod.status?.["phase"], "Pending", `${pod.metadata.namespace}/${pod.metadata.name}: nothing runs without a kubelet`);
                }
                break;
            }
            if (Date.now() > deadline) assert.fail(`no pods for ${missing.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).join(", ")}`);
            await new Promise((r) => setTimeout(r, 1000));
        }
        const refused = ok(engine.kubectl, [
            "get",
            "events",
            "-A",
            "--field-selector",
            "reason=FailedCreate",
            "-o",
            'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
        ]);
        assert.doesNotMatch(refused, /PodSecurity/, refused);
    });

    it("pulumi preview --expect-no-changes after it", function () {
        const preview = pulumi("preview", "--expect-no-changes");
        assert.equal(preview.status, 0, preview.out.slice(-6000));
    });

    it("a promotion commit, then pulumi up, changes exactly the model's objects", function () {
        ok("npm", ["run", "--silent", "promote", "--", "fraud-detector", "2", "--to", STACK, "--approved-by", "ml-lead"], { MLFLOW_TRACKING_URI: mlflow.url });
        assert.match(execFileSync("git", ["log", "-1", "--format=%s"], { cwd: project, encoding: "utf8" }), /fraud-detector/);
        const changed = changedResources();
        assert.ok(changed.length > 0, "the promotion changes something");
        // Children of the model's ModelServing component: their type chain starts with it, their names with the model's.
        for (const urn of changed)
            assert.match(urn, /::mlops:serving:ModelServing\$[^$]*::fraud-detector-[a-z-]+$/, `${urn} is not one of the model's objects`);
        const up = pulumi("up", "--yes", "--skip-preview", ...policyArgs());
        assert.equal(up.status, 0, up.out.slice(-6000));
        for (const kind of ["deployment", "canary", "hpa", "pdb"]) assert.equal(modelLabels(kind, "fraud-detector")["mlops.dev/model-version"], "2", kind);
    });

    it("npm run rollback, then pulumi up, restores them", function () {
        ok("npm", ["run", "--silent", "rollback", "--", "fraud-detector", "--stack", STACK], { MLFLOW_TRACKING_URI: mlflow.url });
        const up = pulumi("up", "--yes", "--skip-preview", ...policyArgs());
        assert.equal(up.status, 0, up.out.slice(-6000));
        for (const kind of ["deployment", "canary", "hpa", "pdb"]) assert.equal(modelLabels(kind, "fraud-detector")["mlops.dev/model-version"], "1", kind);
        assert.equal(pulumi("preview", "--expect-no-changes").status, 0);
    });

    it("pulumi destroy leaves nothing of the platform behind", async function () {
        const destroy = pulumi("destroy", "--yes", "--skip-preview");
        assert.equal(destroy.status, 0, destroy.out.slice(-6000));
        // The namespace controller empties and removes the namespaces Pulumi deleted.
        const deadline = Date.now() + 300_000;
        while (kubectlJson("get", "namespaces", "-l", PART_OF).items.length > 0) {
            if (Date.now() > deadline) assert.fail(ok(engine.kubectl, ["get", "namespaces", "-l", PART_OF]));
            await new Promise((r) => setTimeout(r, 2000));
        }
        assert.deepEqual(kubectlJson("get", "crd", "-l", PART_OF).items, []);
        // Named kinds: `get all` would also ask for the Flagger kinds whose CRDs were just removed.
        const kinds =
            "deployments,statefulsets,replicasets,jobs,pods,services,ingresses,secrets,configmaps,serviceaccounts,networkpolicies,hpa,pdb,persistentvolumeclaims";
        assert.equal(ok(engine.kubectl, ["get", kinds, "-A", "-l", PART_OF, "-o", "name"]).trim(), "");
    });

    /** The URNs `pulumi preview` would update, replace, create or delete. */
    function changedResources(): string[] {
        const preview = pulumi("preview", "--json");
        assert.equal(preview.status, 0, preview.out.slice(-6000));
        const report = JSON.parse(preview.out.slice(preview.out.indexOf("{"))) as { steps?: { op: string; urn: string }[] };
        return (report.steps ?? []).filter((s) => s.op !== "same" && s.op !== "read").map((s) => s.urn);
    }
});
