/**
 * From the model pods to Flagger's verdict, with real parts: telemetry sidecars in front of the real scoring
 * server, a real Prometheus scraping them through the relabelling of Flagger's bundled Prometheus, and the
 * PromQL of the platform's MetricTemplates (`modelQualityQuery()`), rendered as Flagger renders it and
 * evaluated through Prometheus's HTTP API, checked against the production stack's thresholds.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { CANARY_POD_SELECTOR, MODEL_QUALITY_METRICS, modelQualityQuery, type ModelQualityMetric } from "../../components/flagger";
import { modelLabels } from "../../components/labels";
import { resolveCanary } from "../../components/modelServing/canary";
import { parsePlatformConfig, readStackFile, stackFilePath } from "../../stacks";
import { REPO_ROOT, startMlflowServer, type MlflowServer } from "../support/mlflow";
import {
    ambiguousRows,
    drawRows,
    sendTraffic,
    serveModel,
    startPrometheus,
    startTelemetry,
    trainAndRegister,
    waitForReference,
    type FileSdGroup,
    type Prometheus,
    type PromSample,
    type ScoringServer,
    type Telemetry,
    type TrainedModel,
} from "./support";

/**
 * The `kubernetes-pods` job of Flagger's bundled Prometheus, transcribed from the flagger chart 1.44.0
 * (charts/flagger/templates/prometheus.yaml of fluxcd/flagger at tag v1.44.0): its relabel rules unchanged;
 * only the service discovery differs (file_sd_configs, whose targets carry the `__meta_kubernetes_*`
 * labels that Kubernetes pod discovery would give them).
 */
export const FLAGGER_KUBERNETES_PODS_RELABEL = [
    { action: "keep", regex: "true", source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] },
    { source_labels: ["__address__"], regex: ".*9901.*", action: "drop" },
    { action: "replace", regex: "(.+)", source_labels: ["__meta_kubernetes_pod_annotation_prometheus_io_path"], target_label: "__metrics_path__" },
    {
        action: "replace",
        regex: "([^:]+)(?::\\d+)?;(\\d+)",
        replacement: "$1:$2",
        source_labels: ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
        target_label: "__address__",
    },
    { action: "labelmap", regex: "__meta_kubernetes_pod_label_(.+)" },
    { action: "replace", source_labels: ["__meta_kubernetes_namespace"], target_label: "kubernetes_namespace" },
    { action: "replace", source_labels: ["__meta_kubernetes_pod_name"], target_label: "kubernetes_pod_name" },
] as const;

/**
 * Flagger's rendering of a MetricTemplate query (pkg/metrics/observers/render.go and
 * MetricTemplateModel.TemplateFunctions at v1.44.0): Go text/template with one function per model field
 * and missingkey=error; then the Prometheus provider collapses whitespace (trimQuery). Only the `{{ fn }}`
 * form is rendered here; anything else is an error, as an unknown function is for Flagger.
 */
export function renderFlaggerQuery(template: string, model: { namespace: string; target: string; interval: string; name?: string; service?: string }): string {
    const functions: Record<string, string | undefined> = {
        name: model.name ?? model.target,
        namespace: model.namespace,
        target: model.target,
        service: model.service ?? model.target,
        ingress: model.target,
        route: model.target,
        interval: model.interval,
    };
    const rendered = template.replace(/\{\{-?\s*([^}]*?)\s*-?\}\}/g, (_, action: string) => {
        const value = functions[action];
        if (value === undefined) throw new Error(`template: function "${action}" not defined`);
        return value;
    });
    return rendered.replace(/\s+/g, " ");
}

/** What Kubernetes pod discovery calls a pod label: invalid characters become `_` (SanitizeLabelName). */
const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_");

const NAMESPACE = "models-test";
const ENVIRONMENT = "production";

interface Pod {
    readonly target: string;
    readonly pod: string;
    readonly telemetry: Telemetry;
    readonly primary: boolean;
}

describe("telemetry → Prometheus (Flagger's kubernetes-pods relabelling) → the MetricTemplates' PromQL", function () {
    this.timeout(900_000);
    const production = parsePlatformConfig(readStackFile(stackFilePath(REPO_ROOT, "production")).values, "production");
    const fraud = production.models.find((m) => m.name === "fraud-detector");
    assert.ok(fraud !== undefined, "the production stack declares fraud-detector");
    const canary = resolveCanary(fraud.canary);
    const thresholds = canary.quality;

    let mlflow: MlflowServer;
    let model: TrainedModel;
    let scoring: ScoringServer;
    let prometheus: Prometheus;
    const pods: Pod[] = [];

    const sidecar = async (target: string, pod: string, primary = false): Promise<Pod> => {
        const telemetry = await startTelemetry({
            pod,
            namespace: NAMESPACE,
            model: target,
            version: model.version,
            registeredModel: model.name,
            upstreamPort: scoring.port,
            mlflowUrl: mlflow.url,
        });
        const entry = { target, pod, telemetry, primary };
        pods.push(entry);
        await waitForReference(telemetry);
        return entry;
    };

    /** The file_sd group Kubernetes pod discovery would produce for the pod's first container port. */
    const discovered = (p: Pod): FileSdGroup => {
        const labels: Record<string, string> = {
            ...modelLabels({ name: p.target, version: model.version }, ENVIRONMENT),
            "pod-template-hash": p.pod.split("-").at(-2) ?? "",
        };
        // Flagger's primary carries `<name>-primary` as its selector label.
        if (p.primary) labels["app.kubernetes.io/name"] = `${p.target}-primary`;
        return {
            targets: [`127.0.0.1:${p.telemetry.proxyPort}`],
            labels: {
                __meta_kubernetes_namespace: NAMESPACE,
                __meta_kubernetes_pod_name: p.pod,
                __meta_kubernetes_pod_container_name: "telemetry",
                __meta_kubernetes_pod_annotation_prometheus_io_scrape: "true",
                __meta_kubernetes_pod_annotation_prometheus_io_port: String(p.telemetry.adminPort),
                __meta_kubernetes_pod_annotation_prometheus_io_path: "/metrics",
                ...Object.fromEntries(
                    Object.entries(labels).flatMap(([k, v]) => [
                        [`__meta_kubernetes_pod_label_${sanitize(k)}`, v],
                        [`__meta_kubernetes_pod_labelpresent_${sanitize(k)}`, "true"],
                    ]),
                ),
            },
        };
    };

    const query = (which: ModelQualityMetric, target: string) =>
        renderFlaggerQuery(modelQualityQuery(which), { namespace: NAMESPACE, target, interval: canary.interval });

    /** Flagger's RunQuery: the first sample's value; no sample (or NaN) is "no values found". */
    async function flaggerValue(promql: string, timeoutMs = 30_000): Promise<number> {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
            const result: PromSample[] = await prometheus.query(promql);
            const value = result[0] !== undefined ? Number(result[0].value[1]) : NaN;
            if (!Number.isNaN(value)) return value;
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
        throw new Error(`no values found for ${promql} within ${timeoutMs} ms`);
    }

    /** Flagger's check of a MetricTemplate's value against the Canary's thresholdRange. */
    const passes = (which: ModelQualityMetric, value: number): boolean => {
        if (which === "accuracy") return !(value < (thresholds.minAccuracy ?? -Infinity));
        if (which === "driftScore") return !(value > (thresholds.maxDriftScore ?? Infinity));
        return !(value < (thresholds.minConfidence ?? -Infinity));
    };

    before(async () => {
        assert.deepEqual(thresholds, { minAccuracy: 0.9, maxDriftScore: 0.2, minConfidence: 0.7 });
        mlflow = await startMlflowServer();
        model = await trainAndRegister(mlflow, "telemetry_canary_clf");
        scoring = await serveModel(mlflow, model);

        // Target "clf": a canary pod with in-distribution traffic, correct labels and the evaluation replay,
        // and a primary pod with shifted traffic and wrong labels (which the canary selector must not see).
        const good = await sidecar("clf", "clf-7d9f8b6c5d-x2k4p");
        const primary = await sidecar("clf", "clf-primary-5c6d7e8f9a-q8w2z", true);
        const shifted = await sidecar("clf-shifted", "clf-shifted-6b7c8d9e0f-a1b2c");
        const mislabelled = await sidecar("clf-mislabelled", "clf-mislabelled-8d9e0f1a2b-c3d4e");
        const unsure = await sidecar("clf-unsure", "clf-unsure-9e0f1a2b3c-d4e5f");

        const inDistribution = drawRows(11, 600);
        await sendTraffic(
            good.telemetry,
            inDistribution.map((r) => r.features),
            (i) => inDistribution[i]?.label ?? -1,
        );
        // The load tester's webhook command, as the Canary would carry it (here against the pod's admin port).
        const cmd = `curl -fsS -X POST http://127.0.0.1:${good.telemetry.adminPort}/mlops/replay`;
        const replayed = await new Promise<string>((resolve, reject) =>
            execFile("bash", ["-c", cmd], { timeout: 120_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${cmd}: ${stderr}`)) : resolve(stdout))),
        );
        assert.equal((JSON.parse(replayed) as { rows: number }).rows, model.evaluationRows);

        const away = drawRows(12, 600, [1.5, 0, 0, 0]);
        await sendTraffic(
            primary.telemetry,
            away.map((r) => r.features),
            (i) => ((away[i]?.label ?? 0) + 1) % 3,
        );
        const drifted = drawRows(13, 600, [1, 0, 0, 0]);
        await sendTraffic(
            shifted.telemetry,
            drifted.map((r) => r.features),
            (i) => drifted[i]?.label ?? -1,
        );
        const rows = drawRows(14, 600);
        await sendTraffic(
            mislabelled.telemetry,
            rows.map((r) => r.features),
            (i) => ((rows[i]?.label ?? 0) + 1) % 3,
        );
        await sendTraffic(unsure.telemetry, ambiguousRows(15, 600));

        // Prometheus starts once the traffic is done, so every scrape sees the final windows.
        prometheus = await startPrometheus(
            (file) => ({
                global: { scrape_interval: "1s", evaluation_interval: "1s" },
                scrape_configs: [{ job_name: "kubernetes-pods", file_sd_configs: [{ files: [file] }], relabel_configs: FLAGGER_KUBERNETES_PODS_RELABEL }],
            }),
            pods.map(discovered),
        );
        // Every target up and scraped at least twice (the over_time functions need samples in the interval).
        const deadline = Date.now() + 60_000;
        while (
            (await prometheus.query(`count(count_over_time(mlops_reference_loaded{namespace="${NAMESPACE}"}[1m]) >= 2)`))[0]?.value[1] !== String(pods.length)
        ) {
            if (Date.now() > deadline) throw new Error(`Prometheus did not scrape all ${pods.length} pods:\n${prometheus.logs()}`);
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
    });

    after(async () => {
        await prometheus?.stop();
        await Promise.all(pods.map((p) => p.telemetry.stop()));
        await scoring?.stop();
        await mlflow?.stop();
    });

    it("stores each gauge with the contract's labels exactly (no exported_ renames) beside the relabelled target labels", async () => {
        for (const { metric } of Object.values(MODEL_QUALITY_METRICS)) {
            assert.ok((await flaggerValue(`count(${metric})`)) >= pods.length - 1, metric);
        }
        const series = await prometheus.query(`mlops_model_accuracy{namespace="${NAMESPACE}"}`);
        const byPod = new Map(series.map((s) => [s.metric.pod, s.metric]));
        for (const p of pods.filter((p) => p.target !== "clf-unsure")) {
            const labels = byPod.get(p.pod);
            assert.ok(labels !== undefined, `a series for ${p.pod}`);
            assert.deepEqual(
                { namespace: labels.namespace, pod: labels.pod, model: labels.model, model_version: labels.model_version },
                { namespace: NAMESPACE, pod: p.pod, model: p.target, model_version: model.version },
            );
            assert.deepEqual(
                Object.keys(labels).filter((k) => k.startsWith("exported_")),
                [],
            );
            // What the relabelling added: the job's own pod labels, next to (not instead of) the exporter's.
            assert.equal(labels.kubernetes_namespace, NAMESPACE);
            assert.equal(labels.kubernetes_pod_name, p.pod);
            assert.equal(labels.mlops_dev_model, p.target);
            assert.equal(labels.mlops_dev_model_version, model.version);
            assert.equal(labels.instance, `127.0.0.1:${p.telemetry.adminPort}`, "scraped on the prometheus.io/port annotation's port");
            assert.equal(labels.job, "kubernetes-pods");
        }
    });

    it("the canary selector picks the canary pod only, never the primary", async () => {
        const selector = renderFlaggerQuery(CANARY_POD_SELECTOR, { namespace: NAMESPACE, target: "clf", interval: canary.interval });
        const selected = await prometheus.query(`mlops_feature_drift_score{${selector}}`);
        assert.deepEqual(
            selected.map((s) => s.metric.pod),
            ["clf-7d9f8b6c5d-x2k4p"],
        );
        const all = await prometheus.query(`mlops_feature_drift_score{namespace="${NAMESPACE}", kubernetes_pod_name=~"clf-.*"}`);
        assert.equal(all.length, pods.length, "every pod is scraped; only the selector leaves the others out");
    });

    it("in-distribution traffic with correct labels and the evaluation replay passes every check", async () => {
        const values = {
            accuracy: await flaggerValue(query("accuracy", "clf")),
            driftScore: await flaggerValue(query("driftScore", "clf")),
            confidence: await flaggerValue(query("confidence", "clf")),
        };
        assert.ok(values.accuracy >= 0.9 && values.driftScore < 0.1 && values.confidence >= 0.7, JSON.stringify(values));
        for (const which of ["accuracy", "driftScore", "confidence"] as const) assert.ok(passes(which, values[which]), `${which} ${values[which]}`);
    });

    it("shifted features fail the drift check (and pass the others)", async () => {
        const drift = await flaggerValue(query("driftScore", "clf-shifted"));
        assert.ok(!passes("driftScore", drift), `drift ${drift} must exceed ${thresholds.maxDriftScore}`);
        assert.ok(drift > 0.18, "past the auto-rollback threshold too");
        assert.ok(passes("accuracy", await flaggerValue(query("accuracy", "clf-shifted"))));
    });

    it("mislabelled feedback fails the accuracy check", async () => {
        const accuracy = await flaggerValue(query("accuracy", "clf-mislabelled"));
        assert.ok(!passes("accuracy", accuracy), `accuracy ${accuracy} must be under ${thresholds.minAccuracy}`);
        assert.ok(passes("driftScore", await flaggerValue(query("driftScore", "clf-mislabelled"))));
    });

    it("inputs the model cannot separate fail the confidence check; with no labels the accuracy has no values, as Flagger would halt", async () => {
        const confidence = await flaggerValue(query("confidence", "clf-unsure"));
        assert.ok(!passes("confidence", confidence), `confidence ${confidence} must be under ${thresholds.minConfidence}`);
        assert.deepEqual(await prometheus.query(query("accuracy", "clf-unsure")), []);
    });

    it("renders exactly the query the MetricTemplate holds", () => {
        assert.equal(
            query("driftScore", "clf"),
            `max(max_over_time(mlops_feature_drift_score{namespace="${NAMESPACE}", pod=~"clf-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[1m]))`,
        );
        assert.throws(() => renderFlaggerQuery("{{ variables.x }}", { namespace: "n", target: "t", interval: "1m" }), /not defined/);
        assert.equal(path.basename(__filename), "canary.test.ts");
    });
});
