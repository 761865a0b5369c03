import * as assert from "node:assert/strict";
import * as path from "node:path";
import { buildReport } from "../../cli/preview/report";
import { renderMarkdown } from "../../cli/preview/markdown";
import { renderText } from "../../cli/preview/text";
import type { PolicyDiagnostic, PolicyPackHandle } from "../../offline/analyzer";
import { analyzeResources } from "../../offline/analyzer";
import { validateManifest } from "../../offline/manifests";
import { runPipeline, type PipelineResult, startPolicyPack } from "../../offline/pipeline";
import type { RecordedResource } from "../../offline/runtime";
import { readStackFile, stackFilePath } from "../../stacks";
import { PROJECT_DIR } from "../harness";

/**
 * A standing experiment on a stack with two clusters behind a Gateway API Gateway
 * (tests/fixtures/experiments/Pulumi.experiments.yaml): the offline preview renders it once per
 * cluster, every object valid against its schema, the real policy pack passes it and still catches a
 * challenger that breaks a rule, and the report shows the split and the challenger.
 */

const FIXTURE_DIR = path.join(PROJECT_DIR, "tests", "fixtures", "experiments");
const STAGING_POLICY_CONFIG = path.join(PROJECT_DIR, "policies", "config", "staging.json");
const CLUSTERS = ["eu-cloud", "onprem-paris"];

const mandatory = (diagnostics: readonly PolicyDiagnostic[]) => diagnostics.filter((d) => d.enforcementLevel === "mandatory");
const violation = (d: PolicyDiagnostic) => `${d.policyName}: ${d.message.slice(d.message.indexOf("\n") + 1)}`;

describe("a standing experiment on two clusters (tests/fixtures/experiments)", function () {
    this.timeout(240_000);
    let result: PipelineResult;
    before(async () => {
        result = await runPipeline({
            projectDir: FIXTURE_DIR,
            stack: "experiments",
            policyPackDir: path.join(PROJECT_DIR, "policies"),
            policyConfigFile: STAGING_POLICY_CONFIG,
            registryUri: "",
        });
    });
    const objects = (kind: string, name: string) =>
        result.inventory.manifests.filter((m) => m.object.kind === kind && m.object.metadata.name === name).map((m) => m.object as Record<string, any>);
    const onEachCluster = (kind: string, name: string) => {
        const found = objects(kind, name);
        assert.deepEqual(found.map((o) => o.metadata.labels["mlops.dev/cluster"]).sort(), CLUSTERS, `${kind} ${name} once per cluster`);
        return found;
    };

    it("previews clean: every manifest valid against its schema (the HTTPRoute against Gateway API's), no mandatory policy violation", () => {
        assert.deepEqual(
            result.manifestProblems.map((p) => p.line),
            [],
        );
        assert.deepEqual(mandatory(result.policy.diagnostics).map(violation), []);
    });

    it("renders, per cluster, the challenger's Deployment, Service, HPA, PDB and telemetry beside the champion", () => {
        for (const d of onEachCluster("Deployment", "fraud-detector-challenger")) {
            assert.equal(d.metadata.labels["mlops.dev/model"], "fraud-detector");
            assert.equal(d.metadata.labels["mlops.dev/model-version"], "9");
            assert.equal(d.metadata.labels["mlops.dev/experiment-role"], "challenger");
            assert.ok(d.spec.template.spec.containers[0].args.includes("models:/fraud_detector/9"));
        }
        for (const d of onEachCluster("Deployment", "fraud-detector")) assert.equal(d.metadata.labels["mlops.dev/model-version"], "8");
        for (const kind of ["Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]) onEachCluster(kind, "fraud-detector-challenger");
        onEachCluster("ConfigMap", "fraud-detector-challenger-telemetry");
        // A cluster's replica bounds apply to the challenger as to the champion.
        const hpaMax = Object.fromEntries(
            objects("HorizontalPodAutoscaler", "fraud-detector-challenger").map((h) => [h.metadata.labels["mlops.dev/cluster"], h.spec.maxReplicas]),
        );
        assert.deepEqual(hpaMax, { "eu-cloud": 3, "onprem-paris": 1 });
    });

    it("routes the public host 80/20 with the header override, and moves Flagger's route to the champion host", () => {
        for (const route of onEachCluster("HTTPRoute", "fraud-detector-experiment")) {
            assert.equal(route.apiVersion, "gateway.networking.k8s.io/v1");
            assert.deepEqual(route.spec.hostnames, ["fraud-detector.staging.ml.example.com"]);
            assert.deepEqual(route.spec.parentRefs, [{ name: "public", namespace: "gateways" }]);
            assert.deepEqual(route.spec.rules, [
                {
                    matches: [{ headers: [{ type: "Exact", name: "X-Deployment-Context", value: "challenger" }] }],
                    backendRefs: [{ name: "fraud-detector-challenger", port: 80 }],
                },
                {
                    backendRefs: [
                        { name: "fraud-detector", port: 80, weight: 80 },
                        { name: "fraud-detector-challenger", port: 80, weight: 20 },
                    ],
                },
            ]);
        }
        for (const canary of onEachCluster("Canary", "fraud-detector"))
            assert.deepEqual(canary.spec.service.hosts, ["fraud-detector-champion.staging.ml.example.com"]);
        // A model without an experiment keeps the public host for Flagger.
        for (const canary of objects("Canary", "product-image-tagger"))
            assert.deepEqual(canary.spec.service.hosts, ["product-image-tagger.staging.ml.example.com"]);
        assert.deepEqual(objects("HTTPRoute", "product-image-tagger-experiment"), []);
    });

    it("the schema check of the HTTPRoute can fail", async () => {
        const route = structuredClone(objects("HTTPRoute", "fraud-detector-experiment")[0]) as Record<string, any>;
        route.spec.rules[1].backendRefs[0].weight = -1;
        route.spec.rules[0].match = route.spec.rules[0].matches;
        const problems = (await validateManifest(route as never)).map((p) => `${p.path}: ${p.message}`);
        assert.ok(
            problems.some((p) => p.startsWith("spec.rules[1].backendRefs[0].weight")),
            problems.join("\n"),
        );
        assert.ok(problems.includes("spec.rules[0].match: unknown field (not in the schema)"), problems.join("\n"));
    });

    it("the preview shows the split and the challenger, per model and per cluster", () => {
        const report = buildReport(result, { stack: "experiments", stackFile: "", policyConfigFile: "", outDir: "", files: [], registry: undefined });
        const fraud = report.models.find((m) => m.name === "fraud-detector");
        assert.deepEqual(fraud?.experiment, { champion: "8", challenger: "9", weight: 20, header: { name: "X-Deployment-Context", challenger: "challenger" } });
        assert.equal(report.models.find((m) => m.name === "product-image-tagger")?.experiment, undefined);
        assert.deepEqual(
            report.clusters?.map((c) => c.models.map((m) => `${c.name} ${m.name} ${m.version}${m.challenger !== undefined ? ` / ${m.challenger}` : ""}`)),
            [
                ["eu-cloud fraud-detector 8 / 9", "eu-cloud product-image-tagger 4"],
                ["onprem-paris fraud-detector 8 / 9", "onprem-paris product-image-tagger 4"],
            ],
        );
        const text = renderText(report);
        assert.ok(text.includes("\n      experiment: champion 8 80% / challenger 9 20%, header X-Deployment-Context: challenger\n"), text);
        assert.ok(text.includes("\n      fraud-detector: version 8, replicas 1–3; challenger version 9\n"), text);
        const markdown = renderMarkdown(report, PROJECT_DIR);
        assert.ok(markdown.includes("- `fraud-detector`: champion 8 80% / challenger 9 20%, header X-Deployment-Context: challenger"), markdown);
        assert.ok(markdown.includes("| `fraud-detector` | 8 (challenger 9) | 1–3 |"), markdown);
    });

    describe("the policy pack over a challenger that breaks a rule", () => {
        let pack: PolicyPackHandle | undefined;
        after(() => pack?.close());
        async function violations(change: (resource: RecordedResource) => RecordedResource): Promise<string[]> {
            const values = readStackFile(stackFilePath(FIXTURE_DIR, "experiments"));
            if (pack === undefined) {
                pack = (
                    await startPolicyPack(
                        { projectDir: PROJECT_DIR, stack: "experiments", policyConfigFile: STAGING_POLICY_CONFIG, registryUri: "" },
                        values.values,
                        values.secretKeys,
                    )
                ).handle;
            }
            const { diagnostics } = await analyzeResources(pack, result.run.resources.map(change));
            return mandatory(diagnostics).map((d) => violation(d).split("\n")[0] ?? "");
        }
        /** The resource with its spec changed, as the analyzer receives it (wireInputs) and as it renders (inputs). */
        const changed = (r: RecordedResource, change: (spec: any) => void): RecordedResource => {
            const inputs = structuredClone(r.inputs) as Record<string, any>;
            const wireInputs = structuredClone(r.wireInputs) as Record<string, any>;
            change(inputs["spec"]);
            change(wireInputs["spec"]);
            return { ...r, inputs, wireInputs };
        };
        const challengerOf = (cluster: string) => (r: RecordedResource) =>
            r.type === "kubernetes:apps/v1:Deployment" &&
            (r.inputs["metadata"] as any)?.name === "fraud-detector-challenger" &&
            (r.inputs["metadata"] as any)?.labels?.["mlops.dev/cluster"] === cluster;

        it("catches an unpinned challenger image and a challenger that may escalate privileges", async () => {
            const found = await violations((r) => {
                if (!challengerOf("onprem-paris")(r)) return r;
                return changed(r, (spec) => {
                    spec.template.spec.containers[0].image = "ghcr.io/mlflow/mlflow:latest";
                    spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
                });
            });
            assert.deepEqual(found.map((v) => v.split(":")[0]).sort(), ["images-pinned", "pod-security-restricted"], found.join("\n"));
            assert.ok(
                found.every((v) => v.includes("onprem-paris") || !v.includes("eu-cloud")),
                found.join("\n"),
            );
        });

        it("counts a GPU challenger's pods in its cluster's GPU budget", async () => {
            const found = await violations((r) => {
                if (!challengerOf("eu-cloud")(r)) return r;
                return changed(r, (spec) => {
                    const pod = spec.template.spec;
                    pod.containers[0].resources.requests["nvidia.com/gpu"] = "1";
                    pod.containers[0].resources.limits["nvidia.com/gpu"] = "1";
                    pod.nodeSelector = { "nvidia.com/gpu.present": "true" };
                    pod.tolerations = [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }];
                });
            });
            // eu-cloud: the tagger's 2 (primary and canary) and the challenger's 3 (HPA max 3, no Canary) = 5 of 4; 7 of 4 in total.
            assert.deepEqual(found.sort(), [
                'gpu-budget-per-cluster: GPUs at maximum scale on cluster "eu-cloud": 5, over its budget of 4:',
                "gpu-budget: GPUs at maximum scale: 7, over the budget of 4:",
            ]);
        });
    });
});
