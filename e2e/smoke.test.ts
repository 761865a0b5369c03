// Proves the real engine against a real control plane: what ensureEngine() built answers with the
// versions it claims, the API server enforces Pod Security, the controller manager reconciles, and
// `pulumi up/preview/destroy` plus a CrossGuard policy pack work end to end.
//   npx mocha --timeout 600000 e2e/smoke.test.ts
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ControlPlane, startControlPlane } from "./controlPlane";
import { Engine, engineEnv, ensureEngine } from "./engine";

const REPO = path.resolve(__dirname, "..");

interface Result {
    status: number | null;
    out: string;
}

describe("e2e smoke: the real Pulumi engine against a local kube-apiserver", function () {
    let engine: Engine;
    let cp: ControlPlane;
    let env: NodeJS.ProcessEnv;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-e2e-smoke-"));
    const suffix = crypto.randomBytes(3).toString("hex");
    const stacks: { dir: string; name: string }[] = [];

    const sh = (cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Result => {
        const res = spawnSync(cmd, args, { cwd: opts.cwd ?? tmp, env, input: opts.input, encoding: "utf8", timeout: 600_000 });
        return { status: res.status, out: `${res.stdout ?? ""}${res.stderr ?? ""}` };
    };
    const ok = (cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): string => {
        const r = sh(cmd, args, opts);
        assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status}:\n${r.out}`);
        return r.out;
    };
    const kubectl = (...args: string[]) => sh(engine.kubectl, args);
    const pulumi = (dir: string, ...args: string[]) => sh(engine.pulumi, [...args, "--non-interactive", "--color=never"], { cwd: dir });
    const until = async (what: string, ms: number, check: () => boolean): Promise<void> => {
        const deadline = Date.now() + ms;
        while (!check()) {
            if (Date.now() > deadline) assert.fail(`timed out after ${ms / 1000}s waiting for ${what}`);
            await new Promise((r) => setTimeout(r, 500));
        }
    };

    before(async function () {
        this.timeout(4 * 3600_000);
        const t = Date.now();
        engine = ensureEngine({ progress: (l) => console.log(`    ${l}`) });
        console.log(`    ensureEngine(): ${((Date.now() - t) / 1000).toFixed(2)}s`);
        cp = await startControlPlane({ engine });
        console.log(`    control plane ready in ${cp.startSeconds.toFixed(2)}s at ${cp.server}`);
        env = { ...engineEnv(), KUBECONFIG: cp.kubeconfig };
    });

    after(async function () {
        this.timeout(300_000);
        for (const s of stacks) pulumi(s.dir, "stack", "rm", s.name, "--yes", "--force");
        await cp?.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    describe("what was built", function () {
        it("pulumi version prints the version ensureEngine built", function () {
            assert.equal(ok(engine.pulumi, ["version"]).trim(), engine.versions.pulumi);
        });

        it("pulumi plugin ls lists the kubernetes provider at the version @pulumi/kubernetes asks for", function () {
            const plugins = JSON.parse(ok(engine.pulumi, ["plugin", "ls", "--json"])) as { name: string; kind: string; version: string }[];
            const wanted = JSON.parse(fs.readFileSync(path.join(REPO, "node_modules/@pulumi/kubernetes/package.json"), "utf8")) as { version: string };
            assert.ok(
                plugins.some((p) => p.kind === "resource" && p.name === "kubernetes" && p.version === wanted.version),
                `kubernetes ${wanted.version} missing from ${JSON.stringify(plugins)}`,
            );
        });

        it("kubectl version reports the built release for client and server", function () {
            const v = JSON.parse(ok(engine.kubectl, ["version", "-o", "json"])) as Record<string, { gitVersion: string }>;
            assert.equal(v.clientVersion?.gitVersion, engine.versions.kubernetes);
            assert.equal(v.serverVersion?.gitVersion, engine.versions.kubernetes);
        });

        it("the API server serves autoscaling/v2 and policy/v1", function () {
            const versions = ok(engine.kubectl, ["api-versions"]).split("\n");
            assert.ok(versions.includes("autoscaling/v2"), versions.join(" "));
            assert.ok(versions.includes("policy/v1"), versions.join(" "));
        });
    });

    describe("the control plane", function () {
        const ns = `psa-${suffix}`;
        const pod = (name: string, securityContext: object, podSecurity: object) =>
            JSON.stringify({
                apiVersion: "v1",
                kind: "Pod",
                metadata: { name, namespace: ns },
                spec: { securityContext: podSecurity, containers: [{ name: "c", image: "registry.invalid/never-pulled:1", securityContext }] },
            });

        it("Pod Security admission rejects a privileged Pod in a restricted namespace and accepts a restricted one", async function () {
            ok(engine.kubectl, ["create", "namespace", ns]);
            ok(engine.kubectl, ["label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted"]);
            // The ServiceAccount admission plugin needs the controller manager to have made "default" first.
            await until("the default ServiceAccount", 60_000, () => kubectl("get", "serviceaccount", "default", "-n", ns).status === 0);

            const bad = sh(engine.kubectl, ["apply", "-f", "-"], { input: pod("privileged", { privileged: true }, {}) });
            assert.notEqual(bad.status, 0, bad.out);
            assert.match(bad.out, /violates PodSecurity "restricted:latest"/);
            assert.match(bad.out, /privileged/);

            ok(engine.kubectl, ["apply", "-f", "-"], {
                input: pod(
                    "restricted",
                    { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                    { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
                ),
            });
            assert.equal(ok(engine.kubectl, ["get", "pod", "restricted", "-n", ns, "-o", "jsonpath={.status.phase}"]), "Pending");
        });

        it("the controller manager creates the Pods of a Deployment, which stay Pending without a scheduler", async function () {
            const deployment = {
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: "web", namespace: ns },
                spec: {
                    replicas: 2,
                    selector: { matchLabels: { app: "web" } },
                    template: {
                        metadata: { labels: { app: "web" } },
                        spec: {
                            securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
                            containers: [
                                {
                                    name: "web",
                                    image: "registry.invalid/never-pulled:1",
                                    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                                },
                            ],
                        },
                    },
                },
            };
            ok(engine.kubectl, ["apply", "-f", "-"], { input: JSON.stringify(deployment) });
            const pods = () =>
                JSON.parse(ok(engine.kubectl, ["get", "pods", "-n", ns, "-l", "app=web", "-o", "json"])) as {
                    items: { metadata: { ownerReferences?: { kind: string }[] }; spec: { nodeName?: string }; status: { phase: string } }[];
                };
            await until("2 Pods of the Deployment", 60_000, () => pods().items.length === 2);
            for (const p of pods().items) {
                assert.equal(p.status.phase, "Pending");
                assert.equal(p.spec.nodeName, undefined);
                assert.equal(p.metadata.ownerReferences?.[0]?.kind, "ReplicaSet");
            }
        });
    });

    describe("pulumi against the cluster", function () {
        const programDir = path.join(tmp, "program");
        const policyDir = path.join(tmp, "policy");
        const nsName = `pulumi-smoke-${suffix}`;

        before(function () {
            writeProgram(programDir, nsName);
            writePolicyPack(policyDir);
        });

        it("pulumi up creates a Namespace and a ConfigMap, preview sees no changes, destroy removes them", function () {
            this.timeout(900_000);
            const stack = `smoke-${suffix}`;
            stacks.push({ dir: programDir, name: stack });
            assert.equal(pulumi(programDir, "stack", "init", stack).status, 0);
            const up = pulumi(programDir, "up", "--yes", "--skip-preview");
            assert.equal(up.status, 0, up.out);
            assert.equal(ok(engine.kubectl, ["get", "namespace", nsName, "-o", "jsonpath={.status.phase}"]), "Active");
            assert.equal(ok(engine.kubectl, ["get", "configmap", "smoke", "-n", nsName, "-o", "jsonpath={.data.hello}"]), "world");

            const preview = pulumi(programDir, "preview", "--expect-no-changes");
            assert.equal(preview.status, 0, preview.out);

            const destroy = pulumi(programDir, "destroy", "--yes", "--skip-preview");
            assert.equal(destroy.status, 0, destroy.out);
            const gone = kubectl("get", "namespace", nsName);
            assert.notEqual(gone.status, 0, gone.out);
            assert.match(gone.out, /NotFound/);
        });

        it("pulumi preview --policy-pack fails naming a violated mandatory policy, and passes when it holds", function () {
            this.timeout(900_000);
            const stack = `policy-${suffix}`;
            stacks.push({ dir: programDir, name: stack });
            assert.equal(pulumi(programDir, "stack", "init", stack).status, 0);
            ok(engine.pulumi, ["config", "set", "ownerLabel", "false", "--stack", stack], { cwd: programDir });
            const violated = pulumi(programDir, "preview", "--policy-pack", policyDir);
            assert.notEqual(violated.status, 0, violated.out);
            assert.match(violated.out, /\[mandatory\]\s+configmap-needs-owner\s+\(kubernetes:core\/v1:ConfigMap: smoke\)/);

            ok(engine.pulumi, ["config", "set", "ownerLabel", "true", "--stack", stack], { cwd: programDir });
            const held = pulumi(programDir, "preview", "--policy-pack", policyDir);
            assert.equal(held.status, 0, held.out);
            assert.match(held.out, /e2e-smoke-policy/);
        });
    });
});

function linkNodeModules(dir: string): void {
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "dir");
}

function writeProgram(dir: string, nsName: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: e2e-smoke\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: index.ts\n");
    fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify(
            {
                name: "e2e-smoke",
                version: "0.0.0",
                private: true,
                dependencies: { "@pulumi/pulumi": "3.270.0", "@pulumi/kubernetes": "4.34.2" },
            },
            null,
            2,
        ),
    );
    fs.writeFileSync(
        path.join(dir, "index.ts"),
        `
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

const config = new pulumi.Config();
const provider = new k8s.Provider("local", { kubeconfig: process.env.KUBECONFIG });
const ns = new k8s.core.v1.Namespace("smoke", { metadata: { name: ${JSON.stringify(nsName)} } }, { provider });
const labels: Record<string, string> = config.getBoolean("ownerLabel") === false ? {} : { owner: "mlops" };
const cm = new k8s.core.v1.ConfigMap("smoke", {
    metadata: { name: "smoke", namespace: ns.metadata.name, labels },
    data: { hello: "world" },
}, { provider });
export const namespace = ns.metadata.name;
export const configMap = cm.metadata.name;
`,
    );
    linkNodeModules(dir);
}

function writePolicyPack(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "PulumiPolicy.yaml"), "runtime: nodejs\ndescription: e2e smoke policy pack\n");
    fs.writeFileSync(
        path.join(dir, "package.json"),
        JSON.stringify(
            {
                name: "e2e-smoke-policy",
                version: "0.0.1",
                private: true,
                dependencies: { "@pulumi/policy": "1.21.0", "@pulumi/pulumi": "3.270.0" },
            },
            null,
            2,
        ),
    );
    fs.writeFileSync(
        path.join(dir, "index.ts"),
        `
import { PolicyPack } from "@pulumi/policy";

new PolicyPack("e2e-smoke-policy", {
    policies: [{
        name: "configmap-needs-owner",
        description: "Every ConfigMap carries an owner label.",
        enforcementLevel: "mandatory",
        validateResource: (args, reportViolation) => {
            if (args.type === "kubernetes:core/v1:ConfigMap" && !args.props.metadata?.labels?.owner) {
                reportViolation("ConfigMap has no owner label");
            }
        },
    }],
});
`,
    );
    linkNodeModules(dir);
}
