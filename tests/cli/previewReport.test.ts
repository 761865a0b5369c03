import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RecordedResource } from "../../offline/runtime";
import { componentGroups, componentTree, foldGroups } from "../../cli/preview/components";
import { MERMAID_SIBLING_LIMIT, mermaidFlowchart } from "../../cli/preview/markdown";
import { checkStackName, policyConfigFor, REPOSITORY_ROOT, resolveOptions, resolveRegistry, UsageError } from "../../cli/preview/options";
import { Progress, progressWanted } from "../../cli/preview/progress";
import { violationText } from "../../cli/preview/report";
import { describeFailure, exitCodeOf } from "../../cli/preview/run";
import { qualityText } from "../../cli/preview/text";
import { qualitySignals } from "../../components/modelServing/telemetry";

/** The preview's pure parts: option defaults, grouping, rendering helpers, the progress line. */

const STACK_URN = "urn:pulumi:staging::mlops-platform::pulumi:pulumi:Stack::mlops-platform-staging";

function resource(type: string, name: string, parent: string | undefined, custom = true): RecordedResource {
    const parentType = parent === undefined ? "" : `${parent.split("::")[2]}$`;
    return {
        urn: type === "pulumi:pulumi:Stack" ? STACK_URN : `urn:pulumi:staging::mlops-platform::${parentType}${type}::${name}`,
        type,
        name,
        custom,
        ...(parent !== undefined && { parent }),
        dependencies: [],
        propertyDependencies: {},
        inputs: {},
        wireInputs: {},
        options: { protect: false, retainOnDelete: false, ignoreChanges: [], deleteBeforeReplace: false, additionalSecretOutputs: [] },
    };
}

/** A stack with a provider, a component with a nested component, and `models` serving components. */
function stackOf(models: number): RecordedResource[] {
    const stack = resource("pulumi:pulumi:Stack", "mlops-platform-staging", undefined, false);
    const provider = resource("pulumi:providers:kubernetes", "cluster", stack.urn);
    const certManager = resource("mlops:tls:CertManager", "cert-manager", stack.urn, false);
    const release = resource("kubernetes-cert-manager:index:CertManager", "cert-manager-release", certManager.urn, false);
    const issuer = resource("kubernetes:cert-manager.io/v1:ClusterIssuer", "cert-manager-cluster-issuer", certManager.urn);
    const serving = Array.from({ length: models }, (_, i) => {
        const component = resource("mlops:serving:ModelServing", `model-${i + 1}`, stack.urn, false);
        return [
            component,
            resource("kubernetes:apps/v1:Deployment", `model-${i + 1}-deployment`, component.urn),
            resource("kubernetes:core/v1:ServiceAccount", `model-${i + 1}-sa`, component.urn),
        ];
    });
    return [stack, provider, certManager, release, issuer, ...serving.flat()];
}

describe("preview options", () => {
    it("takes Pulumi's stack names and refuses paths", () => {
        assert.equal(checkStackName("production-eu_2.a"), "production-eu_2.a");
        assert.throws(() => checkStackName("../x"), {
            message: 'invalid stack name "../x": stack names may only contain letters, digits, hyphens, underscores and periods (at most 100 characters)',
        });
        assert.throws(() => checkStackName(".."), { message: 'invalid stack name "..": a stack name must not consist of periods only' });
        assert.throws(() => checkStackName("x".repeat(101)), UsageError);
    });

    it("defaults to the repository root, out/<stack> in the repository, text, no policy config named and no registry", () => {
        assert.deepEqual(resolveOptions({ stack: "staging" }, {}, "/somewhere"), {
            stack: "staging",
            format: "text",
            projectDir: REPOSITORY_ROOT,
            outDir: path.join(REPOSITORY_ROOT, "out", "staging"),
            policyConfigFile: undefined,
            registry: undefined,
        });
    });

    it("resolves relative paths against the working directory", () => {
        const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "preview-options-"));
        try {
            fs.mkdirSync(path.join(cwd, "project"));
            fs.writeFileSync(path.join(cwd, "policy.json"), "{}");
            const options = resolveOptions({ stack: "s", projectDir: "project", out: "rendered", policyConfig: "policy.json", json: true }, {}, cwd);
            assert.deepEqual(
                [options.projectDir, options.outDir, options.policyConfigFile, options.format],
                [path.join(cwd, "project"), path.join(cwd, "rendered"), path.join(cwd, "policy.json"), "json"],
            );
            assert.throws(() => resolveOptions({ stack: "s", projectDir: "missing" }, {}, cwd), { message: '--project-dir "missing": no such directory' });
            assert.throws(() => resolveOptions({ stack: "s", policyConfig: "missing.json" }, {}, cwd), {
                message: '--policy-config "missing.json": no such file',
            });
        } finally {
            fs.rmSync(cwd, { recursive: true, force: true });
        }
    });

    it("takes the registry from --registry, else from MLFLOW_TRACKING_URI, and none when empty", () => {
        const env = { MLFLOW_TRACKING_URI: "https://mlflow.example.com" };
        assert.deepEqual(resolveRegistry("http://127.0.0.1:5000", env), { uri: "http://127.0.0.1:5000", source: "--registry" });
        assert.deepEqual(resolveRegistry(undefined, env), { uri: "https://mlflow.example.com", source: "MLFLOW_TRACKING_URI" });
        assert.equal(resolveRegistry(undefined, {}), undefined);
        assert.equal(resolveRegistry("", env), undefined);
        assert.throws(() => resolveRegistry("mlflow:5000", {}), {
            message: '--registry "mlflow:5000": expected an http(s) URL of the MLflow tracking server, such as "https://mlflow.example.com"',
        });
    });

    it("uses the stack's policy config, else its environment's, else says what is missing", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "preview-policy-config-"));
        try {
            const dir = path.join(root, "policies", "config");
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "production.json"), "{}");
            assert.equal(policyConfigFor({ stack: "production-eu", policyConfigFile: undefined }, "production", root), path.join(dir, "production.json"));
            fs.writeFileSync(path.join(dir, "production-eu.json"), "{}");
            assert.equal(policyConfigFor({ stack: "production-eu", policyConfigFile: undefined }, "production", root), path.join(dir, "production-eu.json"));
            assert.equal(policyConfigFor({ stack: "production-eu", policyConfigFile: "/given.json" }, "production", root), "/given.json");
            assert.throws(() => policyConfigFor({ stack: "qa", policyConfigFile: undefined }, "staging", root), {
                message:
                    'no policy config for stack "qa": neither policies/config/qa.json nor policies/config/staging.json exists; pass --policy-config <file>',
            });
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("preview failures", () => {
    it("treats a component refusing its arguments during the program as bad input, and JavaScript's own errors as bugs", () => {
        const refused = new Error('ModelServing "x": model.replicas.max must be at least model.replicas.min (3), got 1');
        assert.equal(exitCodeOf(refused, "program"), 2);
        assert.deepEqual(describeFailure(refused, "qa", "program"), [
            'error: stack "qa": the program refused its configuration: ModelServing "x": model.replicas.max must be at least model.replicas.min (3), got 1',
        ]);
        assert.equal(exitCodeOf(new TypeError("x is undefined"), "program"), 3);
        assert.equal(exitCodeOf(new Error("boom"), "policies"), 3);
        assert.match(
            describeFailure(new TypeError("x is undefined"), "qa", "policies")[0] ?? "",
            /^error: the preview failed while in stage "policies" \(a bug; please report it\):$/,
        );
    });
});

describe("resources by component", () => {
    it("puts every registration in the group of its top-level component, the stack's own first", () => {
        const groups = componentGroups(stackOf(2));
        assert.deepEqual(
            groups.map((g) => [g.component.name, g.resources, g.byType.map((t) => `${t.type}×${t.count}`)]),
            [
                ["mlops-platform-staging", 2, ["pulumi:providers:kubernetes×1", "pulumi:pulumi:Stack×1"]],
                [
                    "cert-manager",
                    3,
                    ["kubernetes-cert-manager:index:CertManager×1", "kubernetes:cert-manager.io/v1:ClusterIssuer×1", "mlops:tls:CertManager×1"],
                ],
                ["model-1", 3, ["kubernetes:apps/v1:Deployment×1", "kubernetes:core/v1:ServiceAccount×1", "mlops:serving:ModelServing×1"]],
                ["model-2", 3, ["kubernetes:apps/v1:Deployment×1", "kubernetes:core/v1:ServiceAccount×1", "mlops:serving:ModelServing×1"]],
            ],
        );
    });

    it("folds a component type with more groups than the limit into one row with summed counts", () => {
        const folded = foldGroups(componentGroups(stackOf(10)), 8);
        assert.deepEqual(
            folded.map((g) => [g.component.type, g.folded, g.resources, g.range]),
            [
                ["pulumi:pulumi:Stack", 1, 2, undefined],
                ["mlops:tls:CertManager", 1, 3, undefined],
                ["mlops:serving:ModelServing", 10, 30, ["model-1", "model-10"]],
            ],
        );
    });

    it("builds the component tree with subtree sizes that add up to the stack's", () => {
        const tree = componentTree(stackOf(1));
        assert.equal(tree.resources, 8);
        assert.deepEqual(
            tree.children.map((c) => [c.name, c.resources, c.children.map((g) => g.name)]),
            [
                ["cert-manager", 3, ["cert-manager-release"]],
                ["model-1", 3, []],
            ],
        );
    });
});

describe("Markdown", () => {
    it("draws the component tree as a Mermaid flowchart", () => {
        assert.deepEqual(mermaidFlowchart(componentTree(stackOf(1))), [
            "flowchart LR",
            '    n0["Stack<br/>mlops-platform-staging<br/>8 resources"]',
            '    n1["CertManager<br/>cert-manager<br/>3 resources"]',
            "    n0 --> n1",
            '    n2["CertManager<br/>cert-manager-release<br/>1 resource"]',
            "    n1 --> n2",
            '    n3["ModelServing<br/>model-1<br/>3 resources"]',
            "    n0 --> n3",
        ]);
    });

    it(`folds more than ${MERMAID_SIBLING_LIMIT} sibling components of one type into one node`, () => {
        const lines = mermaidFlowchart(componentTree(stackOf(MERMAID_SIBLING_LIMIT + 1)));
        assert.deepEqual(lines.slice(-2), [
            `    n3["ModelServing × ${MERMAID_SIBLING_LIMIT + 1}<br/>model-1 … model-${MERMAID_SIBLING_LIMIT + 1}<br/>${3 * (MERMAID_SIBLING_LIMIT + 1)} resources"]`,
            "    n0 --> n3",
        ]);
    });
});

describe("policy messages", () => {
    it("keeps the violation without the policy's description", () => {
        assert.equal(
            violationText({
                description: "No container asks for too many GPUs.",
                message: 'No container asks for too many GPUs.\ncontainer "m" asks for 2 GPUs',
            }),
            'container "m" asks for 2 GPUs',
        );
        assert.equal(violationText({ description: "d", message: "something else" }), "something else");
        assert.equal(violationText({ description: "d", message: "d" }), "");
    });
});

describe("progress line", () => {
    const stream = (isTTY: boolean) => {
        const written: string[] = [];
        return { isTTY, written, write: (text: string) => written.push(text) };
    };

    it("is wanted when stdout is a terminal and CI is not set", () => {
        assert.equal(progressWanted({ isTTY: true }, {}), true);
        assert.equal(progressWanted({ isTTY: true }, { CI: "true" }), false);
        assert.equal(progressWanted({ isTTY: false }, {}), false);
        assert.equal(progressWanted({}, {}), false);
    });

    it("is rewritten in place on a terminal, with counts, and cleared at the end", () => {
        const tty = stream(true);
        let now = 0;
        const progress = new Progress(tty, true, 80, () => now);
        progress.stage("program", "2 models");
        progress.count("policies", 0, 66);
        now = 10;
        progress.count("policies", 5, 66); // too soon after the last: skipped
        now = 100;
        progress.count("policies", 40, 66);
        progress.count("policies", 66, 66);
        progress.done();
        assert.deepEqual(tty.written, [
            "\rpreview: running the program under mocks (2 models)\x1b[K",
            "\rpreview: analyzing resources with the policy pack: 0/66\x1b[K",
            "\rpreview: analyzing resources with the policy pack: 40/66\x1b[K",
            "\rpreview: analyzing resources with the policy pack: 66/66\x1b[K",
            "\r\x1b[2K",
        ]);
    });

    it("writes one line per stage and no counts when stderr is not a terminal", () => {
        const pipe = stream(false);
        const progress = new Progress(pipe, true);
        progress.stage("config");
        progress.count("policies", 1, 2);
        progress.done();
        assert.deepEqual(pipe.written, ["preview: reading the stack configuration\n"]);
    });

    it("writes nothing when disabled", () => {
        const tty = stream(true);
        const progress = new Progress(tty, false);
        progress.stage("config");
        progress.count("policies", 1, 2);
        progress.done();
        assert.deepEqual(tty.written, []);
    });
});

describe("live quality per model", () => {
    it("names the rollout check and the alerting thresholds of each signal, and where its values come from", () => {
        const signals = qualitySignals("probabilities", { minAccuracy: 0.9, maxDriftScore: 0.2 }, { drift: { alert: 0.1, rollback: 0.18 } });
        assert.deepEqual(signals.map(qualityText), [
            "accuracy: rollout ≥ 0.9; not watched after rollout; from labels fed back to /mlops/feedback; during a rollout, the version's evaluation sample replayed against the canary",
            "drift: rollout ≤ 0.2; after rollout alert > 0.1, rollback > 0.18; from live inputs against the training run's reference statistics (mlops/reference.json)",
            "confidence: not checked in rollouts; not watched after rollout; from the mean top-class probability of live answers",
        ]);
    });

    it("says that a model answering labels publishes no confidence, whatever the thresholds", () => {
        const confidence = qualitySignals("labels", { minConfidence: 0.7 }, { confidence: { alert: 0.6 } }).find((s) => s.signal === "confidence");
        assert.ok(confidence !== undefined);
        assert.equal(confidence.published, false);
        assert.equal(qualityText(confidence), 'confidence: not published: the model answers labels (outputs "labels")');
    });
});
