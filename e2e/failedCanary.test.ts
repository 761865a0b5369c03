// Flagger's verdict comes back to git, against a real kube-apiserver: the pinned Flagger CRD applied with
// the real kubectl, each model's Canary and `<model>-primary` Deployment, and the Canary's status written
// through the status subresource the way Flagger writes it (fluxcd/flagger pkg/canary/status.go). Then the
// real CLI as child processes, with that kubectl first on PATH: `wait-rollout --rollback-failed` and
// `monitor --canary-status kubectl` each make the one rollback commit; a Canary that Succeeded makes none.
//   npm run e2e
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import { FLAGGER_CRD } from "../components/flagger";
import { LABELS, modelLabels, selectorLabels } from "../components/labels";
import { resolveCanary } from "../components/modelServing";
import { loadPlatformConfig } from "../infra/validation";
import { type ModelConfig, readStackFile, stackFilePath } from "../stacks";
import { type CliResult, runCli, type SeededModel, useRegistryWorkbench } from "../tests/support/gitRepo";
import { type RunningPrometheus, startPrometheus } from "../tests/support/prometheus";
import { type ControlPlane, kubectlEnv, startControlPlane } from "./controlPlane";
import { type Engine, ensureEngine } from "./engine";

const STACK = "staging";
const STAGING = "Pulumi.staging.yaml";
const NAMESPACE = "models";
const MODEL = "fraud-detector";
const REGISTERED = "fraud_detector";
/** What Flagger's MakeStatusConditions writes for a failed analysis of a Deployment target. */
const FLAGGER_FAILED = "Canary analysis failed, Deployment scaled to zero.";
/** Where the Deployment controller's pods are bound: there is no kubelet, so the test writes what one would. */
const NODE = "e2e-kubelet-stand-in";

type Phase = "Succeeded" | "Failed";

/** Seconds, as Kubernetes writes `metav1.Time`. */
const kubeTime = (at: Date) => at.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * What Flagger leaves in `status` once an analysis ends (pkg/canary/status.go). A failed one ends in
 * scheduler.go's rollback: `SyncStatus(canary, {Phase: Failed, CanaryWeight: 0})`, which also resets
 * failedChecks and iterations and records the target's hash as applied; the promoted hash stays the
 * primary's. A promotion ends in `SetStatusPhase(Succeeded)`, which promotes the applied hash.
 */
function flaggerStatus(phase: Phase, at: Date, appliedSpec: string, promotedSpec: string): Record<string, unknown> {
    const time = kubeTime(at);
    return {
        phase,
        canaryWeight: 0,
        failedChecks: 0,
        iterations: 0,
        lastAppliedSpec: appliedSpec,
        lastPromotedSpec: promotedSpec,
        lastTransitionTime: time,
        conditions: [
            {
                type: "Promoted",
                status: phase === "Succeeded" ? "True" : "False",
                reason: phase,
                message: phase === "Succeeded" ? "Canary analysis completed successfully, promotion finished." : FLAGGER_FAILED,
                lastUpdateTime: time,
                lastTransitionTime: time,
            },
        ],
    };
}

/** Flagger keeps a hash of the target's pod template per status (`lastAppliedSpec`, `lastPromotedSpec`). */
const specHash = (model: string, version: string) => crypto.createHash("sha256").update(`${model}@${version}`).digest("hex").slice(0, 10);

describe("e2e: a Failed Canary on a real kube-apiserver, read with the real kubectl, rolls git back", function () {
    this.timeout(900_000);
    const bench = useRegistryWorkbench();
    let engine: Engine;
    let cp: ControlPlane;
    let env: NodeJS.ProcessEnv;
    let prometheus: RunningPrometheus;
    let candidate: string;
    let previous: string;
    let original: string;
    let models: ModelConfig[];
    let environment: string;

    const kubectl = (args: readonly string[], input?: string): string => {
        const res = spawnSync(engine.kubectl, args, { env: { ...process.env, ...env }, input, encoding: "utf8", timeout: 120_000 });
        assert.equal(res.status, 0, `kubectl ${args.join(" ")} exited ${res.status}:\n${res.stdout}${res.stderr}`);
        return res.stdout;
    };
    const apply = (object: unknown) => kubectl(["apply", "-f", "-"], JSON.stringify(object));
    const patchStatus = (resource: string, name: string, status: unknown) =>
        kubectl(["patch", resource, name, "-n", NAMESPACE, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })]);

    before(async function () {
        engine = ensureEngine({ progress: (line) => console.log(`    ${line}`) });
        cp = await startControlPlane({ engine });
        env = kubectlEnv(engine, cp);
        // The machine may have a kubectl of its own: the commands must find the one built with the API server.
        const found = spawnSync("sh", ["-c", "command -v kubectl"], { env: { ...process.env, ...env }, encoding: "utf8" });
        assert.equal(found.stdout.trim(), engine.kubectl);
        prometheus = await startPrometheus([]);
        kubectl(["apply", "-f", FLAGGER_CRD.file]);
        kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/canaries.flagger.app"]);
        kubectl(["create", "namespace", NAMESPACE]);
    });

    after(async function () {
        await prometheus?.stop();
        await cp?.stop();
    });

    beforeEach(async function () {
        candidate = (bench.seeded[REGISTERED] as SeededModel).candidateVersion;
        previous = (await bench.registry.getVersionByAlias(REGISTERED, STACK))?.version as string;
        original = bench.repo.read(STAGING);
        // The candidate is promoted into staging: one commit, the staging alias moved to it.
        assertExit(await runCli("promote", [MODEL, candidate, "--to", STACK], { projectDir: bench.repo.dir, trackingUri: bench.server.url }), 0);
        const config = loadPlatformConfig(readStackFile(stackFilePath(bench.repo.dir, STACK)).values, STACK);
        models = [...config.models];
        environment = config.environment;
    });

    afterEach(function () {
        if (cp === undefined) return;
        kubectl(["delete", "canaries.flagger.app,deployments.apps", "--all", "-n", NAMESPACE, "--wait"]);
        // Pods bound to the stand-in node would wait for a kubelet to confirm their end.
        kubectl(["delete", "pods", "--all", "-n", NAMESPACE, "--force", "--grace-period=0"]);
    });

    /** The model's Canary as the platform declares it (labels, target, analysis), and the primary Flagger made, serving `serves`. */
    function deploy(model: ModelConfig, serves: string): void {
        const canary = resolveCanary(model.canary);
        const labels = modelLabels(model, environment);
        apply({
            apiVersion: "flagger.app/v1beta1",
            kind: "Canary",
            metadata: { name: model.name, namespace: NAMESPACE, labels },
            spec: {
                provider: "nginx",
                targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: model.name },
                service: { name: model.name, port: 80, targetPort: 8080 },
                analysis: {
                    interval: canary.interval,
                    threshold: canary.threshold,
                    ...(canary.strategy.kind === "progressive" && { stepWeights: canary.strategy.stepWeights }),
                },
            },
        });
        // Flagger copies the target's pod template to the primary, rewriting only the selector label.
        const primary = `${model.name}-primary`;
        apply({
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: {
                name: primary,
                namespace: NAMESPACE,
                labels: { ...modelLabels({ name: model.name, version: serves }, environment), ...selectorLabels(primary) },
            },
            spec: {
                replicas: 1,
                selector: { matchLabels: selectorLabels(primary) },
                template: {
                    metadata: { labels: { ...modelLabels({ name: model.name, version: serves }, environment), ...selectorLabels(primary) } },
                    spec: { containers: [{ name: "model", image: `registry.invalid/${model.name}:${serves}`, ports: [{ containerPort: 8080 }] }] },
                },
            },
        });
    }

    /** Flagger's end of an analysis of the declared version, written through the status subresource. */
    function finish(model: ModelConfig, phase: Phase, at: Date, serves: string): void {
        patchStatus("canaries.flagger.app", model.name, flaggerStatus(phase, at, specHash(model.name, model.version), specHash(model.name, serves)));
    }

    const other = () => models.filter((m) => m.name !== MODEL);
    const declared = (name: string) => models.find((m) => m.name === name) as ModelConfig;

    /** fraud-detector's candidate failed its analysis (the primary still serves the previous version); every other model Succeeded. */
    function failCandidate(at: Date): void {
        deploy(declared(MODEL), previous);
        for (const m of other()) deploy(m, m.version);
        const shown = JSON.parse(kubectl(["get", "canaries.flagger.app", MODEL, "-n", NAMESPACE, "-o", "json"])) as {
            metadata: { labels: Record<string, string> };
        };
        assert.equal(shown.metadata.labels[LABELS.modelVersion], candidate, "the Canary declares the candidate");
        finish(declared(MODEL), "Failed", at, previous);
        for (const m of other()) finish(m, "Succeeded", at, m.version);
        const phases = kubectl([
            "get",
            "canaries.flagger.app",
            "-n",
            NAMESPACE,
            "-o",
            'jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}',
        ]);
        assert.equal(phases.trim().split("\n").sort().join(","), [`${MODEL}=Failed`, ...other().map((m) => `${m.name}=Succeeded`)].sort().join(","));
    }

    const aliasVersion = async () => (await bench.registry.getVersionByAlias(REGISTERED, STACK))?.version;

    const assertRolledBack = async (head: string) => {
        assert.equal(bench.repo.git("rev-parse", "HEAD~1").trim(), head, "exactly one commit");
        assert.equal(bench.repo.read(STAGING), original, "the stack file is the previous declaration, byte for byte");
        assert.equal(bench.repo.git("status", "--porcelain"), "");
        assert.equal(
            bench.repo.git("log", "-1", "--format=%(trailers:only,unfold)").trim(),
            `Rolled-Back: ${MODEL} version ${candidate}\nRollback-Reason: canary failed: ${FLAGGER_FAILED}`,
        );
        assert.match(
            bench.repo.git("log", "-1", "--format=%B"),
            new RegExp(`^Flagger: +Canary ${MODEL} Failed: `, "m"),
            "the incident record names Flagger's verdict",
        );
        assert.equal(await aliasVersion(), previous, "the staging alias is back on the previous version");
        const tag = JSON.parse((await bench.registry.getModelVersion(REGISTERED, candidate)).tags["mlops.rolled_back.staging"] as string) as Record<
            string,
            string
        >;
        assert.equal(tag["commit"], bench.repo.head());
        assert.equal(tag["restoredVersion"], previous);
        assert.equal(tag["reason"], `canary failed: ${FLAGGER_FAILED}`);
    };

    /** The deploy workflow's wait step, against the control plane: `wait-rollout --rollback-failed` for a rollout begun at `since`. */
    const waitRollout = (since: Date) =>
        runCli(
            "wait-rollout",
            ["--stack", STACK, "--rollback-failed", "--context", "mlops-e2e", "--since", kubeTime(since), "--timeout", "30s", "--interval", "1s"],
            { projectDir: bench.repo.dir, trackingUri: bench.server.url, env },
        );

    it("wait-rollout --rollback-failed: exit 1, one commit restoring the previous declaration, Flagger's message in its trailers, the alias moved back", async function () {
        const rolloutStarted = new Date(Math.floor(Date.now() / 1000) * 1000);
        failCandidate(new Date());
        const head = bench.repo.head();
        const result = await waitRollout(rolloutStarted);
        assertExit(result, 1);
        await assertRolledBack(head);
        assert.match(
            result.stderr,
            new RegExp(
                `^error: rollout of ${MODEL} version ${candidate} failed: FAILED: Flagger rolled back version ${candidate}: ${escape(FLAGGER_FAILED)} \\(at [^)]+\\); the primary still serves version ${previous}$`,
                "m",
            ),
        );
        assert.match(
            result.stdout,
            new RegExp(
                `^rolled back ${MODEL} ${candidate} → ${previous} in staging \\(canary failed: ${escape(FLAGGER_FAILED)}\\): commit ${bench.repo.head().slice(0, 12)}; registry: `,
                "m",
            ),
        );
    });

    it("monitor --canary-status kubectl, with no quality series: exit 3 and the same rollback commit", async function () {
        failCandidate(new Date());
        const head = bench.repo.head();
        const result = await runCli("monitor", ["--stack", STACK, "--prometheus", prometheus.url, "--canary-status", "kubectl"], {
            projectDir: bench.repo.dir,
            trackingUri: bench.server.url,
            env: { ...env, MONITOR_WEBHOOK_URL: "" },
        });
        assertExit(result, 3);
        await assertRolledBack(head);
        assert.match(
            result.stdout,
            new RegExp(`^${MODEL} ${candidate}: rollback — .*; rolled back ${candidate} → ${previous}: commit ${bench.repo.head().slice(0, 12)}$`, "m"),
        );
    });

    it("a Canary that Succeeded, the primary serving the candidate: wait-rollout exits 0 and commits nothing", async function () {
        const rolloutStarted = new Date(Math.floor(Date.now() / 1000) * 1000);
        for (const m of models) deploy(m, m.version);
        for (const m of models) finish(m, "Succeeded", new Date(), m.version);
        await serveAsKubelet(models.map((m) => `${m.name}-primary`));
        const head = bench.repo.head();
        const commits = bench.repo.commitCount();
        const result = await waitRollout(rolloutStarted);
        assertExit(result, 0);
        assert.match(
            result.stdout,
            new RegExp(`${MODEL} \\(version ${candidate}\\): serving: version ${candidate} is serving \\(Canary Succeeded; 1 primary replica available\\)`),
        );
        assert.match(result.stdout, /^every declared model of stack "staging" is serving its declared version$/m);
        assert.equal(bench.repo.head(), head);
        assert.equal(bench.repo.commitCount(), commits);
        assert.notEqual(bench.repo.read(STAGING), original, "git still declares the candidate");
        assert.equal(await aliasVersion(), candidate);
    });

    /**
     * What a scheduler and a kubelet would do for the Deployments' pods, through the same API they use:
     * bind each pod to a Node, then report it Running and Ready in its status. The ReplicaSet and
     * Deployment controllers (the real kube-controller-manager) count it available from there. Nothing
     * renews the Node's lease, so the node lifecycle controller marks it unreachable after its grace
     * period (40–50 s); the wait that follows takes a few seconds.
     */
    async function serveAsKubelet(deployments: readonly string[]): Promise<void> {
        const now = kubeTime(new Date());
        const nodes = kubectl(["get", "nodes", "-o", "name"]);
        if (!nodes.includes(`node/${NODE}`)) kubectl(["create", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: NODE } }));
        kubectl([
            "patch",
            "node",
            NODE,
            "--subresource=status",
            "--type=merge",
            "-p",
            JSON.stringify({
                status: {
                    conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "e2e", lastHeartbeatTime: now, lastTransitionTime: now }],
                },
            }),
        ]);
        for (const deployment of deployments) {
            const pod = await eventually(`a pod of ${deployment}`, () => {
                const names = kubectl(["get", "pods", "-n", NAMESPACE, "-l", `${LABELS.name}=${deployment}`, "-o", "name"]).trim();
                return names === "" ? undefined : (names.split("\n")[0] as string).replace(/^pod\//, "");
            });
            kubectl(
                ["create", "--raw", `/api/v1/namespaces/${NAMESPACE}/pods/${pod}/binding`, "-f", "-"],
                JSON.stringify({
                    apiVersion: "v1",
                    kind: "Binding",
                    metadata: { name: pod, namespace: NAMESPACE },
                    target: { apiVersion: "v1", kind: "Node", name: NODE },
                }),
            );
            const ready = (type: string) => ({ type, status: "True", lastTransitionTime: now });
            patchStatus("pods", pod, {
                phase: "Running",
                hostIP: "127.0.0.1",
                startTime: now,
                conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map(ready),
                containerStatuses: [
                    {
                        name: "model",
                        ready: true,
                        started: true,
                        restartCount: 0,
                        image: "registry.invalid/model",
                        imageID: "",
                        state: { running: { startedAt: now } },
                    },
                ],
            });
        }
    }
});

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) assert.fail(`${what}: not there after ${timeoutMs / 1000}s`);
        await new Promise((r) => setTimeout(r, 500));
    }
}

function assertExit(result: CliResult, code: number): void {
    assert.equal(result.code, code, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
