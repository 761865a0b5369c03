import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildReport } from "../../cli/preview/report";
import { renderText } from "../../cli/preview/text";
import type { PolicyDiagnostic, PolicyPackHandle } from "../../offline/analyzer";
import { analyzeResources } from "../../offline/analyzer";
import { toManifests, validateManifest, writeManifests } from "../../offline/manifests";
import { runPipeline, type PipelineResult, startPolicyPack } from "../../offline/pipeline";
import { readStackFile, stackFilePath } from "../../stacks";
import { PROJECT_DIR, runConfig } from "../harness";

/**
 * A stack that serves its models on two clusters (tests/fixtures/clusters/Pulumi.clusters.yaml):
 * its offline preview, the real policy pack over it with budgets exceeded per cluster and in total,
 * and the proof that one declared cluster changes nothing a stack renders.
 */

const FIXTURE_DIR = path.join(PROJECT_DIR, "tests", "fixtures", "clusters");
const STAGING_POLICY_CONFIG = path.join(PROJECT_DIR, "policies", "config", "staging.json");

const mandatory = (diagnostics: readonly PolicyDiagnostic[]) => diagnostics.filter((d) => d.enforcementLevel === "mandatory");
const violation = (d: PolicyDiagnostic) => `${d.policyName}: ${d.message.slice(d.message.indexOf("\n") + 1)}`;

/** The staging policy config with some policies' settings replaced, in a file of its own. */
function policyConfig(changes: Record<string, Record<string, unknown>>): string {
    const config = JSON.parse(fs.readFileSync(STAGING_POLICY_CONFIG, "utf8")) as Record<string, Record<string, unknown>>;
    for (const [policy, change] of Object.entries(changes)) config[policy] = { ...config[policy], ...change };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "clusters-policy-")), "config.json");
    fs.writeFileSync(file, JSON.stringify(config));
    return file;
}

describe("a stack with two clusters (tests/fixtures/clusters)", function () {
    this.timeout(240_000);
    let result: PipelineResult;
    before(async () => {
        result = await runPipeline({
            projectDir: FIXTURE_DIR,
            stack: "clusters",
            policyPackDir: path.join(PROJECT_DIR, "policies"),
            policyConfigFile: STAGING_POLICY_CONFIG,
            registryUri: "",
        });
    });
    const objects = (kind: string) => result.inventory.manifests.filter((m) => m.object.kind === kind).map((m) => m.object as Record<string, any>);

    it("previews clean: every manifest valid against its schema, no mandatory policy violation", () => {
        assert.deepEqual(
            result.manifestProblems.map((p) => p.line),
            [],
        );
        assert.deepEqual(mandatory(result.policy.diagnostics).map(violation), []);
        assert.ok(result.policy.info.policies.some((p) => p.name === "gpu-budget-per-cluster"));
    });

    it("renders each model once per cluster, labelled with it, into <path>/<stack>/<cluster>/<model>", () => {
        const deployments = objects("Deployment").filter((d) => d.metadata.labels["mlops.dev/model"] !== undefined);
        assert.deepEqual(deployments.map((d) => `${d.metadata.labels["mlops.dev/cluster"]}/${d.metadata.name}`).sort(), [
            "eu-cloud/fraud-detector",
            "eu-cloud/product-image-tagger",
            "onprem-paris/fraud-detector",
            "onprem-paris/product-image-tagger",
        ]);
        const directories = new Set(
            result.inventory.manifests.flatMap((m) => (m.delivery.mode === "gitops" ? [path.relative(PROJECT_DIR, m.delivery.directory)] : [])),
        );
        assert.deepEqual([...directories].sort(), [
            "deploy/clusters/eu-cloud/fraud-detector",
            "deploy/clusters/eu-cloud/product-image-tagger",
            "deploy/clusters/onprem-paris/fraud-detector",
            "deploy/clusters/onprem-paris/product-image-tagger",
        ]);
        // No per-model Application: each model's ApplicationSet generates one per cluster.
        assert.deepEqual(objects("Application"), []);
    });

    it("applies a cluster's replica bounds and GPU placement to its rendering only", () => {
        const hpa = (cluster: string) =>
            objects("HorizontalPodAutoscaler").find((h) => h.metadata.name === "fraud-detector" && h.metadata.labels["mlops.dev/cluster"] === cluster);
        assert.equal(hpa("eu-cloud")?.spec.maxReplicas, 3);
        assert.equal(hpa("onprem-paris")?.spec.maxReplicas, 1);
        const tagger = (cluster: string) =>
            objects("Deployment").find((d) => d.metadata.name === "product-image-tagger" && d.metadata.labels["mlops.dev/cluster"] === cluster);
        assert.deepEqual(tagger("eu-cloud")?.spec.template.spec.nodeSelector, { "nvidia.com/gpu.present": "true" });
        assert.deepEqual(tagger("onprem-paris")?.spec.template.spec.nodeSelector, { "nvidia.com/gpu.present": "true", "topology.example.com/rack": "gpu-a" });
    });

    it("a remote cluster's model servers reach MLflow by its public URL, the home cluster's by the in-cluster Service", () => {
        const trackingUri = (cluster: string) => {
            const deployment = objects("Deployment").find((d) => d.metadata.name === "fraud-detector" && d.metadata.labels["mlops.dev/cluster"] === cluster);
            const env = (deployment?.spec.template.spec.containers as Array<{ env?: Array<{ name: string; value?: string }> }>).flatMap((c) => c.env ?? []);
            return env.find((e) => e.name === "MLFLOW_TRACKING_URI")?.value;
        };
        assert.equal(trackingUri("onprem-paris"), "https://mlflow.staging.ml.example.com");
        assert.match(trackingUri("eu-cloud") ?? "", /^http:\/\/mlflow\.mlflow\.svc/);
    });

    it("fans each model out with a schema-valid ApplicationSet over the declared clusters", async () => {
        const sets = objects("ApplicationSet");
        assert.deepEqual(sets.map((s) => s.metadata.name).sort(), ["clusters-fraud-detector", "clusters-product-image-tagger"]);
        const set = sets.find((s) => s.metadata.name === "clusters-fraud-detector");
        assert.deepEqual(await validateManifest(set as never), []);
        assert.deepEqual(set?.spec.generators[0].list.elements, [
            { cluster: "eu-cloud", server: "https://kubernetes.default.svc", destinationName: "", region: "eu-west-1" },
            { cluster: "onprem-paris", server: "https://k8s.paris.example.com:6443", destinationName: "", region: "on-prem-paris" },
        ]);
        assert.equal(set?.spec.template.metadata.name, "clusters-fraud-detector-{{ .cluster }}");
        assert.equal(set?.spec.template.spec.source.path, "deploy/clusters/{{ .cluster }}/fraud-detector");
        assert.deepEqual(set?.spec.template.spec.ignoreDifferences, [{ group: "apps", kind: "Deployment", jsonPointers: ["/spec/replicas"] }]);
        assert.match(set?.spec.templatePatch, /server: \{\{ \.server \| quote \}\}/);
    });

    it("registers the remote cluster with Argo CD as a cluster Secret, and admits both clusters in the AppProject", () => {
        const secret = objects("Secret").find((s) => s.metadata.name === "cluster-onprem-paris");
        assert.equal(secret?.metadata.namespace, "argocd");
        assert.equal(secret?.metadata.labels["argocd.argoproj.io/secret-type"], "cluster");
        assert.equal(secret?.metadata.labels["mlops.dev/region"], "on-prem-paris");
        const manifest = result.inventory.manifests.find((m) => m.object.metadata.name === "cluster-onprem-paris");
        // Credentials are Pulumi secrets: never written out in clear.
        assert.ok(manifest?.secretPaths.some((p) => p.join(".").startsWith("stringData")));
        const config = JSON.parse(secret?.stringData.config) as Record<string, any>;
        assert.deepEqual(Object.keys(config), ["bearerToken", "tlsClientConfig"]);
        assert.equal(config["tlsClientConfig"].insecure, false);
        assert.equal(objects("Secret").filter((s) => s.metadata.labels?.["argocd.argoproj.io/secret-type"] === "cluster").length, 1);
        const project = objects("AppProject")[0];
        assert.deepEqual(project?.spec.destinations, [
            { server: "https://kubernetes.default.svc", namespace: "models" },
            { server: "https://k8s.paris.example.com:6443", namespace: "models" },
        ]);
    });

    it("the preview report shows, per cluster, where it is, which version of each model it serves and its GPUs against its budget", () => {
        const report = buildReport(result, { stack: "clusters", stackFile: "", policyConfigFile: "", outDir: "", files: [], registry: undefined });
        assert.deepEqual(report.clusters, [
            {
                name: "eu-cloud",
                destination: "server https://kubernetes.default.svc",
                region: "eu-west-1",
                registered: false,
                models: [
                    { name: "fraud-detector", version: "8", replicas: { min: 1, max: 3 } },
                    { name: "product-image-tagger", version: "4", replicas: { min: 1, max: 1 } },
                ],
                gpusAtMaxScale: 2,
                gpuBudget: 4,
            },
            {
                name: "onprem-paris",
                destination: "server https://k8s.paris.example.com:6443",
                region: "on-prem-paris",
                registered: true,
                models: [
                    { name: "fraud-detector", version: "8", replicas: { min: 1, max: 1 } },
                    { name: "product-image-tagger", version: "4", replicas: { min: 1, max: 1 } },
                ],
                gpusAtMaxScale: 2,
                gpuBudget: 4,
            },
        ]);
        const text = renderText(report);
        assert.ok(text.includes("Clusters: 2\n  eu-cloud: server https://kubernetes.default.svc, region eu-west-1; GPUs at maximum scale 2 of 4\n"), text);
        assert.ok(text.includes("\n      fraud-detector: version 8, replicas 1–1\n"), text);
    });

    describe("the policy pack over it, with budgets changed", () => {
        const packs: PolicyPackHandle[] = [];
        after(() => Promise.all(packs.map((p) => p.close())));
        async function violations(changes: Record<string, Record<string, unknown>>): Promise<string[]> {
            const values = readStackFile(stackFilePath(FIXTURE_DIR, "clusters"));
            const { handle } = await startPolicyPack(
                { projectDir: PROJECT_DIR, stack: "clusters", policyConfigFile: policyConfig(changes), registryUri: "" },
                values.values,
                values.secretKeys,
            );
            packs.push(handle);
            const { diagnostics } = await analyzeResources(handle, result.run.resources);
            return mandatory(diagnostics).map((d) => violation(d).split("\n")[0] ?? "");
        }

        it("refuses a GPU budget exceeded in one cluster only (the total fits)", async () => {
            assert.deepEqual(await violations({ "gpu-budget-per-cluster": { clusterGpuBudgets: { "onprem-paris": 1 } } }), [
                'gpu-budget-per-cluster: GPUs at maximum scale on cluster "onprem-paris": 2, over its budget of 1:',
            ]);
        });

        it("refuses a GPU budget exceeded only in total (each cluster fits)", async () => {
            assert.deepEqual(await violations({ "gpu-budget": { gpuBudget: 3 } }), ["gpu-budget: GPUs at maximum scale: 4, over the budget of 3:"]);
        });
    });
});

describe("one declared cluster changes nothing a stack renders", function () {
    this.timeout(120_000);

    it("one remote cluster keeps the single Application, pointed at that cluster, and its model servers use MLflow's public URL", async () => {
        const { values } = readStackFile(stackFilePath(PROJECT_DIR, "staging"));
        const remote = { ...values, "mlops-platform:clusters": JSON.stringify([{ name: "onprem-paris", destination: { name: "paris" } }]) };
        const { resources } = await runConfig(remote, "staging");
        const objects = toManifests(resources).map((m) => m.object as Record<string, any>);
        const applications = objects.filter((o) => o.kind === "Application");
        assert.deepEqual(
            applications.map((a) => [a.metadata.name, a.spec.destination, a.spec.source.path]),
            [
                ["staging-fraud-detector", { name: "paris", namespace: "models" }, "deploy/staging/fraud-detector"],
                ["staging-product-image-tagger", { name: "paris", namespace: "models" }, "deploy/staging/product-image-tagger"],
            ],
        );
        assert.deepEqual(
            objects.filter((o) => o.kind === "ApplicationSet"),
            [],
        );
        const deployment = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "fraud-detector");
        const env = (deployment?.spec.template.spec.containers as Array<{ env?: Array<{ name: string; value?: string }> }>).flatMap((c) => c.env ?? []);
        assert.equal(env.find((e) => e.name === "MLFLOW_TRACKING_URI")?.value, "https://mlflow.staging.ml.example.com");
        assert.equal(deployment?.metadata.labels["mlops.dev/cluster"], undefined);
    });

    it("the staging stack with `clusters: [the cluster Argo CD runs in]` writes the same manifest files, byte for byte", async () => {
        const { values } = readStackFile(stackFilePath(PROJECT_DIR, "staging"));
        const declared = {
            ...values,
            "mlops-platform:clusters": JSON.stringify([{ name: "eu-cloud", destination: { server: "https://kubernetes.default.svc" } }]),
        };
        const [before, after] = await Promise.all([runConfig(values, "staging"), runConfig(declared, "staging")]);
        const written = (resources: typeof before.resources) => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clusters-render-"));
            return new Map(writeManifests(dir, toManifests(resources)).map((file) => [path.basename(file), fs.readFileSync(file, "utf8")]));
        };
        const [a, b] = [written(before.resources), written(after.resources)];
        assert.ok(a.size > 30, `${a.size} files`);
        assert.deepEqual([...b.keys()], [...a.keys()]);
        for (const [name, text] of a) assert.equal(b.get(name), text, name);
    });
});
