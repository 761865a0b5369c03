import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { schemasDir } from "../../offline/manifests";
import { crdValidators } from "../../offline/manifests/crdSchemas";
import { decideRollout, primaryRolloutStatus, type RolloutDecision } from "../../cli/rollout/decision";
import { classifyKubectlFailure, KubectlError, kubectlReader, type ObjectReader } from "../../cli/rollout/kubectl";
import { parseDuration, waitForRollouts, type WaitDependencies } from "../../cli/rollout/waiter";
import { main, WAIT_DEFAULTS } from "../../cli/waitForRollout";
import { LABELS } from "../../components/labels";
import { MODELS_NAMESPACE } from "../../infra/platform";
import { parsePlatformConfig, readStackFile, stackFilePath } from "../../stacks";
import { findObject, PROJECT_DIR, type RecordedResource, runStack } from "../harness";

// ---- realistic cluster objects -----------------------------------------------------------------------------
// Shaped as `kubectl get canary fraud-detector -n models -o json` and `kubectl get deployment
// fraud-detector-primary -n models -o json` return them for a model this platform serves; the fixtures are
// validated below against Flagger's CRD schema and Kubernetes' Deployment schema so they stay honest.

const MODEL = "fraud-detector";

function canary(labelledVersion: string, status?: Record<string, unknown>): Record<string, unknown> {
    return {
        apiVersion: "flagger.app/v1beta1",
        kind: "Canary",
        metadata: {
            name: MODEL,
            namespace: "models",
            uid: "6f0c2a7e-3d1b-4b8e-9f5a-2c7d9e1b4a60",
            resourceVersion: "48213377",
            generation: 4,
            creationTimestamp: "2026-11-02T09:20:11Z",
            labels: {
                [LABELS.name]: MODEL,
                [LABELS.component]: "model-server",
                [LABELS.partOf]: "mlops-platform",
                [LABELS.managedBy]: "pulumi",
                [LABELS.model]: MODEL,
                [LABELS.modelVersion]: labelledVersion,
                [LABELS.environment]: "production",
            },
        },
        spec: {
            provider: "nginx",
            targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: MODEL },
            autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: MODEL },
            ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: MODEL },
            progressDeadlineSeconds: 960,
            service: { name: MODEL, port: 80, targetPort: 8080 },
            analysis: {
                interval: "1m",
                threshold: 5,
                stepWeights: [1, 5, 25, 50],
                metrics: [
                    { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } },
                    { name: "request-duration", interval: "1m", thresholdRange: { max: 500 } },
                ],
                webhooks: [{ name: "acceptance-test", type: "pre-rollout", url: "http://flagger-loadtester.flagger/", timeout: "60s" }],
            },
        },
        ...(status !== undefined && { status }),
    };
}

const CONDITION_MESSAGES: Readonly<Record<string, [status: string, message: string]>> = {
    Initializing: ["Unknown", "New Deployment detected, starting initialization."],
    Initialized: ["True", "Deployment initialization completed."],
    Progressing: ["Unknown", "New revision detected, progressing canary analysis."],
    Promoting: ["Unknown", "Canary analysis completed, starting primary rolling update."],
    Finalising: ["Unknown", "Canary analysis completed, routing all traffic to primary."],
    Succeeded: ["True", "Canary analysis completed successfully, promotion finished."],
    Failed: ["False", "Canary analysis failed, Deployment scaled to zero."],
    WaitingPromotion: ["Unknown", "Waiting for approval."],
};

/** A Canary status as Flagger writes it (pkg/canary/status.go): the phase and its one `Promoted` condition. */
function status(phase: string, at: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const [conditionStatus, message] = CONDITION_MESSAGES[phase] ?? ["Unknown", ""];
    return {
        phase,
        canaryWeight: 0,
        failedChecks: 0,
        iterations: 0,
        lastAppliedSpec: "5f8c7b6d9",
        lastPromotedSpec: "5f8c7b6d9",
        lastTransitionTime: at,
        trackedConfigs: {},
        conditions: [{ type: "Promoted", status: conditionStatus, reason: phase, message, lastUpdateTime: at, lastTransitionTime: at }],
        ...extra,
    };
}

function primary(servedVersion: string, rollout: Record<string, unknown> = {}, generation = 7): Record<string, unknown> {
    const labels = {
        [LABELS.name]: `${MODEL}-primary`,
        [LABELS.component]: "model-server",
        [LABELS.partOf]: "mlops-platform",
        [LABELS.managedBy]: "pulumi",
        [LABELS.model]: MODEL,
        [LABELS.modelVersion]: servedVersion,
        [LABELS.environment]: "production",
    };
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: {
            name: `${MODEL}-primary`,
            namespace: "models",
            generation,
            labels: { [LABELS.name]: `${MODEL}-primary` },
            ownerReferences: [
                {
                    apiVersion: "flagger.app/v1beta1",
                    kind: "Canary",
                    name: MODEL,
                    uid: "6f0c2a7e-3d1b-4b8e-9f5a-2c7d9e1b4a60",
                    controller: true,
                    blockOwnerDeletion: true,
                },
            ],
        },
        spec: {
            replicas: 3,
            selector: { matchLabels: { [LABELS.name]: `${MODEL}-primary` } },
            template: {
                metadata: { labels, annotations: { "flagger-id": "2b0e6f3c-8a41-4c52-9d7e-1f3a5b7c9d11" } },
                spec: {
                    containers: [
                        {
                            name: "model-server",
                            image: "ghcr.io/mlflow/mlflow:v3.17.2-full",
                            args: [
                                "models",
                                "serve",
                                "--model-uri",
                                `models:/fraud_detector/${servedVersion}`,
                                "--env-manager",
                                "local",
                                "--host",
                                "0.0.0.0",
                                "--port",
                                "8080",
                            ],
                            ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
                        },
                    ],
                },
            },
        },
        status: {
            observedGeneration: generation,
            replicas: 3,
            updatedReplicas: 3,
            readyReplicas: 3,
            availableReplicas: 3,
            conditions: [
                { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." },
                {
                    type: "Progressing",
                    status: "True",
                    reason: "NewReplicaSetAvailable",
                    message: `ReplicaSet "${MODEL}-primary-6c9d7b8f5d" has successfully progressed.`,
                },
            ],
            ...rollout,
        },
    };
}

const T0 = "2026-11-20T10:00:00Z";
const BEFORE = "2026-11-20T09:41:17Z";
const AFTER = "2026-11-20T10:07:45Z";

function expectState(decision: RolloutDecision, state: RolloutDecision["state"], pattern?: RegExp): void {
    assert.equal(decision.state, state, JSON.stringify(decision));
    if (pattern !== undefined) assert.match(decision.state === "serving" ? decision.detail : decision.reason, pattern);
}

describe("wait-rollout: the rollout decision", () => {
    it("fixtures are valid objects: the Canaries against Flagger's CRD schema, the primary against Kubernetes' Deployment schema", async () => {
        const validator = crdValidators(schemasDir()).get("flagger.app/v1beta1 Canary");
        assert.ok(validator, "flagger.app/v1beta1 Canary is in the schemas folder");
        for (const phase of [...Object.keys(CONDITION_MESSAGES), "Terminating"]) {
            assert.deepEqual(validator.validate(canary("8", status(phase, T0))), [], `Canary in phase ${phase}`);
        }
        const { Deployment } = await import("kubernetes-models/apps/v1/Deployment");
        assert.doesNotThrow(() => new Deployment(primary("8") as never).validate());
    });

    it("a first deploy is serving once the Canary is Initialized and the primary runs the declared version", () => {
        expectState(
            decideRollout("8", canary("8", status("Initialized", AFTER)), primary("8"), { since: new Date(T0) }),
            "serving",
            /version 8 is serving \(Canary Initialized; 3 primary replicas available\)/,
        );
    });

    it("a promotion is serving once the Canary Succeeded and the primary runs the declared version", () => {
        expectState(decideRollout("8", canary("8", status("Succeeded", AFTER)), primary("8")), "serving", /Canary Succeeded/);
    });

    it("waits while there is no Canary yet", () => {
        expectState(decideRollout("8", undefined, undefined), "waiting", /no Canary yet/);
    });

    it("waits while the Canary still declares the previous version, even if its last analysis failed", () => {
        expectState(decideRollout("8", canary("7", status("Failed", AFTER)), primary("7")), "waiting", /still declares version 7/);
        expectState(decideRollout("8", canary("7", status("Succeeded", BEFORE)), primary("7")), "waiting", /still declares version 7/);
    });

    it("waits while a Succeeded phase belongs to an earlier revision (the primary serves the previous version)", () => {
        expectState(
            decideRollout("8", canary("8", status("Succeeded", BEFORE)), primary("7")),
            "waiting",
            /primary serves version 7; Flagger has not detected version 8 yet/,
        );
    });

    it("waits during the analysis, saying how far it got", () => {
        const progressing = status("Progressing", AFTER, { canaryWeight: 25, failedChecks: 1, lastAppliedSpec: "7d9e1f2a3" });
        expectState(
            decideRollout("8", canary("8", progressing), primary("7")),
            "waiting",
            /canary analysis in progress: 25% of traffic on the canary, 1 failed check$/,
        );
    });

    it("waits while Flagger initializes, awaits approval, promotes and finalises", () => {
        expectState(decideRollout("8", canary("8"), undefined), "waiting", /initializing/);
        expectState(decideRollout("8", canary("8", status("Initializing", AFTER)), undefined), "waiting", /initializing/);
        expectState(decideRollout("8", canary("8", status("WaitingPromotion", AFTER)), primary("7")), "waiting", /waits for approval/);
        // Promoting: the primary already has the new template, but its pods are still rolling.
        expectState(decideRollout("8", canary("8", status("Promoting", AFTER)), primary("8")), "waiting", /updating the primary/);
        expectState(decideRollout("8", canary("8", status("Finalising", AFTER)), primary("8")), "waiting", /routing all traffic back/);
    });

    it("fails when Flagger rolled the version back, naming the reason and what still serves", () => {
        const rolledBack = status("Failed", AFTER, { failedChecks: 5, lastAppliedSpec: "7d9e1f2a3" });
        const decision = decideRollout("8", canary("8", rolledBack), primary("7"), { since: new Date(T0) });
        assert.deepEqual(decision, {
            state: "failed",
            reason: `Flagger rolled back version 8: Canary analysis failed, Deployment scaled to zero. (at ${AFTER}); the primary still serves version 7`,
            canaryFailed: "Canary analysis failed, Deployment scaled to zero.",
        });
    });

    it("without a start time every Failed phase counts", () => {
        expectState(decideRollout("8", canary("8", status("Failed", BEFORE, { failedChecks: 5 })), primary("7")), "failed", /rolled back version 8/);
    });

    it("a failure recorded before this rollout began is an earlier rollout's: waits for Flagger to start on the new revision", () => {
        // A rollback: 8 failed earlier, the commit now declares 8 again after fixing the model; Flagger has not moved yet.
        expectState(
            decideRollout("8", canary("8", status("Failed", BEFORE, { failedChecks: 5 })), primary("8"), { since: new Date(T0) }),
            "waiting",
            new RegExp(`the last analysis failed at ${BEFORE}, before this rollout began`),
        );
    });

    it("fails when the Canary is being deleted", () => {
        expectState(decideRollout("8", canary("8", { phase: "Terminating" }), primary("8")), "failed", /being deleted \(phase Terminating\)/);
    });

    it("waits while the primary Deployment is missing or still rolling, and fails on its progress deadline", () => {
        expectState(decideRollout("8", canary("8", status("Succeeded", AFTER)), undefined), "waiting", /primary Deployment does not exist yet/);
        expectState(
            decideRollout("8", canary("8", status("Succeeded", AFTER)), primary("8", { observedGeneration: 6 })),
            "waiting",
            /has not observed generation 7/,
        );
        expectState(
            decideRollout("8", canary("8", status("Succeeded", AFTER)), primary("8", { replicas: 4, updatedReplicas: 3 })),
            "waiting",
            /1 old replica pending termination/,
        );
        expectState(
            decideRollout("8", canary("8", status("Succeeded", AFTER)), primary("8", { updatedReplicas: 2, replicas: 2 })),
            "waiting",
            /2 of 3 new replicas updated/,
        );
        expectState(
            decideRollout("8", canary("8", status("Succeeded", AFTER)), primary("8", { availableReplicas: 1 })),
            "waiting",
            /1 of 3 updated replicas available/,
        );
        const stuck = primary("8", {
            availableReplicas: 1,
            conditions: [
                {
                    type: "Progressing",
                    status: "False",
                    reason: "ProgressDeadlineExceeded",
                    message: `ReplicaSet "${MODEL}-primary-7f8e9d6c5b" has timed out progressing.`,
                },
            ],
        });
        expectState(
            decideRollout("8", canary("8", status("Succeeded", AFTER)), stuck),
            "failed",
            /exceeded its progress deadline: ReplicaSet .* has timed out progressing\./,
        );
    });

    it("reads counts Kubernetes leaves out when they are zero as zero", () => {
        const fresh = { metadata: { generation: 1 }, spec: { replicas: 2 }, status: { observedGeneration: 1 } };
        assert.deepEqual(primaryRolloutStatus(fresh), { state: "waiting", reason: "primary rollout: 0 of 2 new replicas updated" });
    });
});

describe("wait-rollout: kubectl", () => {
    it("tells a missing object from errors, in one line that says what to do", () => {
        assert.equal(classifyKubectlFailure(`Error from server (NotFound): canaries.flagger.app "${MODEL}" not found\n`), "not-found");
        assert.equal(classifyKubectlFailure('Error from server (NotFound): namespaces "models" not found\n'), "not-found");

        // What kubectl 1.32 prints with no reachable API server.
        const unreachable = classifyKubectlFailure(
            [
                'E1123 14:27:35.463974   11235 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"http://localhost:8080/api?timeout=20s\\": dial tcp 127.0.0.1:8080: connect: connection refused"',
                'E1123 14:27:35.465247   11235 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"http://localhost:8080/api?timeout=20s\\": dial tcp 127.0.0.1:8080: connect: connection refused"',
                "The connection to the server localhost:8080 was refused - did you specify the right host or port?",
            ].join("\n"),
        );
        assert.ok(unreachable instanceof KubectlError);
        assert.equal(unreachable.problem, "unreachable");
        assert.equal(
            unreachable.message,
            "cannot reach the cluster (the current kubeconfig context): The connection to the server localhost:8080 was refused - did you specify the right host or port?",
        );

        const cases: [string, string, RegExp][] = [
            ['error: the server doesn\'t have a resource type "canaries"', "no-crd", /are Flagger's CRDs installed\?/],
            [
                'error: context "prod" does not exist',
                "config",
                /^no usable kubeconfig for the current kubeconfig context: error: context "prod" does not exist \(for EKS: aws eks update-kubeconfig/,
            ],
            [
                'Error from server (Forbidden): canaries.flagger.app "fraud-detector" is forbidden: User "arn:aws:sts::123456789012:assumed-role/deploy/gh" cannot get resource "canaries" in API group "flagger.app" in the namespace "models"',
                "forbidden",
                /needs get on canaries\.flagger\.app and deployments\.apps/,
            ],
            [
                "Unable to connect to the server: getting credentials: exec: executable aws failed with exit code 255",
                "unauthenticated",
                /^not authenticated to the cluster/,
            ],
            ["error: You must be logged in to the server (Unauthorized)", "unauthenticated", /^not authenticated to the cluster/],
            ["Unable to connect to the server: dial tcp: lookup ABC.gr7.eu-west-1.eks.amazonaws.com: no such host", "unreachable", /^cannot reach the cluster/],
        ];
        for (const [stderr, problem, message] of cases) {
            const error = classifyKubectlFailure(stderr);
            assert.ok(error instanceof KubectlError, stderr);
            assert.equal(error.problem, problem, stderr);
            assert.match(error.message, message);
            assert.doesNotMatch(error.message, /\n/);
        }
    });

    it("runs kubectl get … -o json with the context, and reads absent objects as undefined", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-kubectl-"));
        try {
            const fake = path.join(dir, "kubectl");
            // Answers like kubectl: the object as JSON, or NotFound on stderr with exit code 1.
            fs.writeFileSync(
                fake,
                [
                    "#!/usr/bin/env bash",
                    `echo "$*" >> "${dir}/calls"`,
                    'if [ "$3" = "present" ]; then echo \'{"kind":"Canary","metadata":{"name":"present"}}\'; exit 0; fi',
                    'echo "Error from server (NotFound): $2 \\"$3\\" not found" >&2; exit 1',
                ].join("\n"),
                { mode: 0o755 },
            );
            const reader = kubectlReader({ executable: fake, context: "eks-prod", requestTimeoutMs: 5000 });
            assert.deepEqual(await reader.get("canaries.flagger.app", "present", "models"), { kind: "Canary", metadata: { name: "present" } });
            assert.equal(await reader.get("deployments.apps", "absent-primary", "models"), undefined);
            assert.deepEqual(fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n"), [
                "get canaries.flagger.app present --namespace models --output json --request-timeout 5s --context eks-prod",
                "get deployments.apps absent-primary --namespace models --output json --request-timeout 5s --context eks-prod",
            ]);
            await assert.rejects(
                kubectlReader({ executable: path.join(dir, "no-such-kubectl") }).get("canaries.flagger.app", MODEL, "models"),
                (err: unknown) => {
                    assert.ok(err instanceof KubectlError);
                    assert.equal(err.problem, "missing");
                    assert.match(err.message, /^kubectl not found \(looked for ".*no-such-kubectl" on PATH\): install kubectl or put it on PATH$/);
                    return true;
                },
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

/**
 * A reader for one model that answers from a script of cluster states, one per poll (each poll reads the
 * Canary and the primary); the last state repeats.
 */
function scriptedCluster(states: readonly ({ canary?: unknown; primary?: unknown } | Error)[]): ObjectReader {
    let reads = 0;
    return {
        async get(resource) {
            const state = states[Math.min(Math.floor(reads / 2), states.length - 1)];
            reads++;
            if (state instanceof Error) throw state;
            return resource === "canaries.flagger.app" ? state?.canary : state?.primary;
        },
    };
}

function fakeClock(): Pick<WaitDependencies, "now" | "sleep"> & { slept: number[] } {
    let now = Date.parse(T0);
    const slept: number[] = [];
    return {
        slept,
        now: () => now,
        sleep: async (ms) => {
            slept.push(ms);
            now += ms;
        },
    };
}

describe("wait-rollout: the polling loop", () => {
    const declared = [{ name: MODEL, version: "8" }];
    const options = { namespace: "models", timeoutMs: 60_000, intervalMs: 15_000, since: new Date(T0) };

    it("polls until the model serves, reporting each change once", async () => {
        const clock = fakeClock();
        const lines: string[] = [];
        const progressing = { canary: canary("8", status("Progressing", AFTER, { canaryWeight: 5 })), primary: primary("7") };
        const cluster = scriptedCluster([
            { canary: canary("7", status("Succeeded", BEFORE)), primary: primary("7") },
            progressing,
            progressing,
            { canary: canary("8", status("Succeeded", AFTER)), primary: primary("8") },
        ]);
        const outcome = await waitForRollouts(declared, { reader: cluster, ...clock, report: (line) => lines.push(line) }, options);
        assert.equal(outcome.result, "serving");
        assert.deepEqual(clock.slept, [15_000, 15_000, 15_000]);
        assert.deepEqual(lines, [
            `${MODEL} (version 8): waiting: the Canary still declares version 7 (the new manifests have not been applied or synced yet)`,
            `${MODEL} (version 8): waiting: canary analysis in progress: 5% of traffic on the canary, 0 failed checks`,
            `${MODEL} (version 8): serving: version 8 is serving (Canary Succeeded; 3 primary replicas available)`,
        ]);
    });

    it("stops at the first failure", async () => {
        const cluster = scriptedCluster([
            { canary: canary("8", status("Progressing", AFTER, { canaryWeight: 25, failedChecks: 4 })), primary: primary("7") },
            { canary: canary("8", status("Failed", AFTER, { failedChecks: 5 })), primary: primary("7") },
        ]);
        const outcome = await waitForRollouts(declared, { reader: cluster, ...fakeClock(), report: () => {} }, options);
        assert.equal(outcome.result, "failed");
        assert.equal(outcome.result === "failed" && outcome.failed[0]?.model, MODEL);
    });

    it("gives up at the timeout with what each model still waits for", async () => {
        const clock = fakeClock();
        const cluster = scriptedCluster([{ canary: canary("8", status("WaitingPromotion", AFTER)), primary: primary("7") }]);
        const outcome = await waitForRollouts(declared, { reader: cluster, ...clock, report: () => {} }, { ...options, timeoutMs: 40_000 });
        assert.deepEqual(outcome, {
            result: "timeout",
            pending: [
                {
                    model: MODEL,
                    version: "8",
                    decision: { state: "waiting", reason: "the analysis passed; the promotion waits for approval (confirm-promotion webhook)" },
                },
            ],
        });
        assert.deepEqual(clock.slept, [15_000, 15_000, 10_000]);
    });

    it("fails at once when the first poll cannot reach the cluster, but rides out a later blip", async () => {
        const unreachable = new KubectlError("cannot reach the cluster (the current kubeconfig context): i/o timeout", "unreachable");
        await assert.rejects(waitForRollouts(declared, { reader: scriptedCluster([unreachable]), ...fakeClock(), report: () => {} }, options), unreachable);

        const lines: string[] = [];
        const waitingState = { canary: canary("8", status("Progressing", AFTER)), primary: primary("7") };
        const cluster = scriptedCluster([waitingState, unreachable, unreachable, { canary: canary("8", status("Succeeded", AFTER)), primary: primary("8") }]);
        const outcome = await waitForRollouts(declared, { reader: cluster, ...fakeClock(), report: (line) => lines.push(line) }, options);
        assert.equal(outcome.result, "serving");
        assert.equal(lines.filter((l) => l.startsWith("cluster unreachable")).length, 2);

        const down = scriptedCluster([waitingState, unreachable]);
        await assert.rejects(waitForRollouts(declared, { reader: down, ...fakeClock(), report: () => {} }, { ...options, timeoutMs: 3_600_000 }), unreachable);
    });

    it("parses durations", () => {
        assert.equal(parseDuration("30m"), 1_800_000);
        assert.equal(parseDuration("90s"), 90_000);
        assert.equal(parseDuration("1h30m"), 5_400_000);
        assert.equal(parseDuration("250ms"), 250);
        for (const bad of ["", "30", "m", "-5m", "0s", "1.5h"]) assert.throws(() => parseDuration(bad), /expected a duration/, bad);
    });
});

describe("wait-rollout: the command", () => {
    const stack = "staging";
    const declared = parsePlatformConfig(readStackFile(stackFilePath(PROJECT_DIR, stack)).values, stack).models;

    function io(): { stdout: string[]; stderr: string[]; streams: Parameters<typeof main>[1] } {
        const stdout: string[] = [];
        const stderr: string[] = [];
        return { stdout, stderr, streams: { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: (t: string) => stderr.push(t) } } };
    }

    /** Every declared model in the same state, with the declared version (or `version(model)`) in place. */
    function clusterWith(make: (version: string) => { canary: unknown; primary: unknown }): ObjectReader {
        return {
            async get(resource, name, namespace) {
                assert.equal(namespace, MODELS_NAMESPACE);
                const model = declared.find((m) => m.name === name || `${m.name}-primary` === name);
                assert.ok(model, `asked for ${resource} ${name}`);
                const objects = make(model.version);
                return resource === "canaries.flagger.app" ? objects.canary : objects.primary;
            },
        };
    }

    it("waits in the namespace the platform puts model workloads in", () => {
        assert.equal(WAIT_DEFAULTS.namespace, MODELS_NAMESPACE);
    });

    it("exits 0 once every declared model serves its declared version", async () => {
        const out = io();
        const code = await main(
            ["--stack", stack],
            out.streams,
            clusterWith((v) => ({ canary: canary(v, status("Succeeded", AFTER)), primary: primary(v) })),
        );
        assert.equal(code, 0, out.stderr.join(""));
        assert.match(out.stdout.join(""), new RegExp(`every declared model of stack "${stack}" is serving its declared version`));
        for (const model of declared) assert.match(out.stdout.join(""), new RegExp(`${model.name}@${model.version}`));
    });

    it("exits 1 naming the model Flagger rolled back", async () => {
        const out = io();
        const failedAnalysis = (v: string) => ({ canary: canary(v, status("Failed", "2999-01-01T00:00:00Z", { failedChecks: 3 })), primary: primary("1") });
        const code = await main(["--stack", stack], out.streams, clusterWith(failedAnalysis));
        assert.equal(code, 1);
        for (const model of declared) {
            assert.match(out.stderr.join(""), new RegExp(`^error: rollout of ${model.name} version ${model.version} failed: FAILED: Flagger rolled back`, "m"));
        }
    });

    it("exits 1 at the timeout, saying what each model waits for", async () => {
        const out = io();
        const code = await main(
            ["--stack", stack, "--timeout", "60ms", "--interval", "20ms"],
            out.streams,
            clusterWith(() => ({ canary: undefined, primary: undefined })),
        );
        assert.equal(code, 1);
        for (const model of declared)
            assert.match(out.stderr.join(""), new RegExp(`error: ${model.name} version ${model.version} is not serving after 60ms: waiting: no Canary yet`));
    });

    it("exits 2 with one line for bad input and for an unreachable cluster", async () => {
        const bad: [string[], RegExp][] = [
            [["--stack", "no-such-stack"], /^error: .*Pulumi\.no-such-stack\.yaml: no such stack file\n$/],
            [["--stack", "../etc"], /invalid stack name/],
            [
                ["--stack", stack, "--timeout", "soon"],
                /option '--timeout <duration>' argument 'soon' is invalid\. expected a duration such as 30m, 90s or 1h30m, got "soon" \(see --help\)/,
            ],
            [["--stack", stack, "--since", "yesterday"], /expected an ISO-8601 time/],
            [[], /required option '-s, --stack <name>' not specified/],
        ];
        for (const [argv, message] of bad) {
            const out = io();
            assert.equal(
                await main(
                    argv,
                    out.streams,
                    clusterWith(() => ({ canary: undefined, primary: undefined })),
                ),
                2,
                argv.join(" "),
            );
            assert.match(out.stderr.join(""), message);
        }
        const out = io();
        const unreachable: ObjectReader = {
            get: () => Promise.reject(new KubectlError("cannot reach the cluster (context eks-staging): dial tcp 10.0.0.1:443: i/o timeout", "unreachable")),
        };
        assert.equal(await main(["--stack", stack], out.streams, unreachable), 2);
        assert.equal(out.stderr.join(""), "error: cannot reach the cluster (context eks-staging): dial tcp 10.0.0.1:443: i/o timeout\n");
    });

    it("--help exits 0 and documents the exit codes", async () => {
        const out = io();
        assert.equal(await main(["--help"], out.streams), 0);
        assert.match(out.stdout.join(""), /Exit codes:\n {2}0 {2}every declared model serves its declared version/);
    });
});

describe("wait-rollout: reads the objects the program creates", () => {
    let resources: readonly RecordedResource[];
    before(async function () {
        this.timeout(300_000);
        resources = (await runStack("staging")).resources;
    });

    it("each declared model has a Canary named after it, targeting a Deployment of that name, both labelled with the declared version", () => {
        const declared = parsePlatformConfig(readStackFile(stackFilePath(PROJECT_DIR, "staging")).values, "staging").models;
        assert.ok(declared.length > 0);
        for (const model of declared) {
            const canaryObject = findObject(resources, "kubernetes:flagger.app/v1beta1:Canary", model.name);
            assert.equal(canaryObject["metadata"].namespace, WAIT_DEFAULTS.namespace);
            assert.equal(canaryObject["metadata"].labels[LABELS.modelVersion], model.version);
            // Flagger names the primary `<targetRef.name>-primary` and copies the target's pod template labels to it.
            assert.deepEqual(canaryObject["spec"].targetRef, { apiVersion: "apps/v1", kind: "Deployment", name: model.name });
            const deployment = findObject(resources, "kubernetes:apps/v1:Deployment", model.name);
            assert.equal(deployment["spec"].template.metadata.labels[LABELS.modelVersion], model.version);
        }
    });
});
