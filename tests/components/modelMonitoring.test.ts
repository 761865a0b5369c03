import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stringify } from "yaml";
import {
    alertingRules,
    MONITORING_DEFAULTS,
    type MonitoredVersion,
    monitoringProblems,
    type MonitoringSettings,
} from "../../components/modelServing/monitoring";
import { describeArgProblem } from "../../components/validation";

/**
 * The alerting rules a model's monitoring renders, checked and unit-tested by the real promtool
 * (Debian's prometheus package): with synthetic series, each rule fires exactly at its threshold,
 * only once the window holds enough samples, and never on missing data but the "missing" alert.
 */

const VERSION: MonitoredVersion = { namespace: "models", model: "fraud-detector", version: "7" };
const SETTINGS: MonitoringSettings = {
    checkInterval: "1m",
    window: "10m",
    minSamples: 5,
    drift: { alert: 0.1, rollback: 0.18 },
    accuracy: { alert: 0.9, rollback: 0.8 },
    errorRate: { alert: 0.01, rollback: 0.05 },
};

function promtool(args: readonly string[], cwd: string): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
        execFile("promtool", [...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) =>
            resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, out: `${stdout}${stderr}` }),
        );
    });
}

const series = (metric: string, values: string, pod = "fraud-detector-primary-5d9c7b-x2k4q") => ({
    series: `${metric}{namespace="models",model="fraud-detector",model_version="7",pod="${pod}"}`,
    values,
});

describe("model monitoring: alerting rules, checked and tested by the real promtool", () => {
    let dir: string;
    const rules = alertingRules(VERSION, "production", SETTINGS);
    const rule = (name: string) => {
        const found = rules.groups[0]?.rules.find((r) => r.alert === name);
        assert.ok(found, name);
        return found;
    };
    /** What promtool expects of a firing alert: the rule's labels, and its annotations rendered with this value. */
    const firing = (name: string, value: string) => {
        const r = rule(name);
        return { exp_labels: r.labels, exp_annotations: { ...r.annotations, summary: r.annotations["summary"]?.replace('{{ printf "%.3f" $value }}', value) } };
    };

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "alert-rules-"));
        fs.writeFileSync(path.join(dir, "rules.yaml"), stringify(rules));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("labels every rule with model, version and environment, at warning and critical levels", () => {
        const names = rules.groups[0]?.rules.map((r) => `${r.alert} ${r.labels["severity"]}`);
        assert.deepEqual(names, [
            "MlopsModelDrift warning",
            "MlopsModelDriftRollback critical",
            "MlopsModelAccuracyLow warning",
            "MlopsModelAccuracyLowRollback critical",
            "MlopsModelErrorRateHigh warning",
            "MlopsModelErrorRateHighRollback critical",
            "MlopsModelQualityMissing warning",
        ]);
        for (const r of rules.groups[0]?.rules ?? []) {
            assert.equal(r.labels["model"], "fraud-detector");
            assert.equal(r.labels["model_version"], "7");
            assert.equal(r.labels["environment"], "production");
        }
        assert.equal(rules.groups[0]?.interval, "1m");
    });

    it("promtool check rules accepts the file", async () => {
        const { code, out } = await promtool(["check", "rules", "rules.yaml"], dir);
        assert.equal(code, 0, out);
        assert.match(out, /SUCCESS: 7 rules found/);
    });

    it("promtool test rules: drift fires at the alert and the rollback thresholds, not below, and not before enough samples", async () => {
        const tests = {
            rule_files: ["rules.yaml"],
            evaluation_interval: "1m",
            tests: [
                {
                    name: "below the alert threshold: nothing",
                    interval: "1m",
                    input_series: [series("mlops_feature_drift_score", "0.05x30")],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelDrift", exp_alerts: [] },
                        { eval_time: "20m", alertname: "MlopsModelDriftRollback", exp_alerts: [] },
                        { eval_time: "20m", alertname: "MlopsModelQualityMissing", exp_alerts: [] },
                    ],
                },
                {
                    name: "between alert and rollback: the warning only",
                    interval: "1m",
                    input_series: [series("mlops_feature_drift_score", "0.15x30")],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelDrift", exp_alerts: [firing("MlopsModelDrift", "0.150")] },
                        { eval_time: "20m", alertname: "MlopsModelDriftRollback", exp_alerts: [] },
                    ],
                },
                {
                    name: "past the rollback threshold: both; the worst pod counts",
                    interval: "1m",
                    input_series: [
                        series("mlops_feature_drift_score", "0.25x30"),
                        series("mlops_feature_drift_score", "0.02x30", "fraud-detector-primary-5d9c7b-y7z8q"),
                    ],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelDrift", exp_alerts: [firing("MlopsModelDrift", "0.250")] },
                        { eval_time: "20m", alertname: "MlopsModelDriftRollback", exp_alerts: [firing("MlopsModelDriftRollback", "0.250")] },
                    ],
                },
                {
                    name: "too few samples in the window: no verdict yet",
                    interval: "1m",
                    input_series: [series("mlops_feature_drift_score", "_x10 0.25x2")],
                    alert_rule_test: [
                        { eval_time: "12m", alertname: "MlopsModelDriftRollback", exp_alerts: [] },
                        { eval_time: "12m", alertname: "MlopsModelDrift", exp_alerts: [] },
                    ],
                },
                {
                    name: "no series at all: the missing-data warning, never a rollback",
                    interval: "1m",
                    input_series: [],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelQualityMissing", exp_alerts: [firing("MlopsModelQualityMissing", "")] },
                        { eval_time: "20m", alertname: "MlopsModelDriftRollback", exp_alerts: [] },
                    ],
                },
            ],
        };
        fs.writeFileSync(path.join(dir, "drift.test.yaml"), stringify(tests));
        const { code, out } = await promtool(["test", "rules", "drift.test.yaml"], dir);
        assert.equal(code, 0, out);
    });

    it("promtool test rules: accuracy below its floors, and the 5xx share of /invocations above its ceilings", async () => {
        const requests = (code: string, perMinute: number) => ({
            series: `mlops_requests_total{namespace="models",model="fraud-detector",model_version="7",pod="fraud-detector-primary-5d9c7b-x2k4q",path="/invocations",code="${code}"}`,
            values: `0+${perMinute}x30`,
        });
        const tests = {
            rule_files: ["rules.yaml"],
            evaluation_interval: "1m",
            tests: [
                {
                    name: "accuracy 0.85: warning; 0.7: rollback",
                    interval: "1m",
                    input_series: [series("mlops_model_accuracy", "0.85x30"), series("mlops_model_accuracy", "0.7x30", "fraud-detector-5d9c7b-c4n4r")],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelAccuracyLow", exp_alerts: [firing("MlopsModelAccuracyLow", "0.775")] },
                        { eval_time: "20m", alertname: "MlopsModelAccuracyLowRollback", exp_alerts: [firing("MlopsModelAccuracyLowRollback", "0.775")] },
                    ],
                },
                {
                    name: "2% of answers are 5xx: warning only; 10%: rollback",
                    interval: "1m",
                    input_series: [requests("200", 98), requests("500", 2)],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelErrorRateHigh", exp_alerts: [firing("MlopsModelErrorRateHigh", "0.020")] },
                        { eval_time: "20m", alertname: "MlopsModelErrorRateHighRollback", exp_alerts: [] },
                    ],
                },
                {
                    name: "10% of answers are 5xx: rollback",
                    interval: "1m",
                    input_series: [requests("200", 90), requests("503", 10)],
                    alert_rule_test: [
                        { eval_time: "20m", alertname: "MlopsModelErrorRateHighRollback", exp_alerts: [firing("MlopsModelErrorRateHighRollback", "0.100")] },
                    ],
                },
            ],
        };
        fs.writeFileSync(path.join(dir, "quality.test.yaml"), stringify(tests));
        const { code, out } = await promtool(["test", "rules", "quality.test.yaml"], dir);
        assert.equal(code, 0, out);
    });

    describe("a standing experiment's challenger", () => {
        const CHALLENGER: MonitoredVersion = { ...VERSION, version: "9" };
        const both = { groups: [...rules.groups, ...alertingRules(CHALLENGER, "production", SETTINGS, "challenger").groups] };
        const challengerRules = both.groups[1]?.rules ?? [];
        const challengerSeries = (metric: string, values: string) => ({
            series: `${metric}{namespace="models",model="fraud-detector",model_version="9",pod="fraud-detector-challenger-6f8d9c-a1b2c"}`,
            values,
        });

        it("has its own group, at warning level only, labelled as the challenger", () => {
            assert.deepEqual(
                both.groups.map((g) => g.name),
                ["mlops-fraud-detector", "mlops-fraud-detector-challenger"],
            );
            assert.deepEqual(
                challengerRules.map((r) => `${r.alert} ${r.labels["severity"]}`),
                ["MlopsModelDrift warning", "MlopsModelAccuracyLow warning", "MlopsModelErrorRateHigh warning", "MlopsModelQualityMissing warning"],
            );
            for (const r of challengerRules) assert.deepEqual([r.labels["model_version"], r.labels["experiment_role"]], ["9", "challenger"]);
            assert.equal(
                rules.groups[0]?.rules.some((r) => "experiment_role" in r.labels),
                false,
            );
        });

        it("promtool: the file with both groups checks, and a drifting challenger warns without touching the champion's alerts", async () => {
            fs.writeFileSync(path.join(dir, "both.yaml"), stringify(both));
            const check = await promtool(["check", "rules", "both.yaml"], dir);
            assert.equal(check.code, 0, check.out);
            assert.match(check.out, /SUCCESS: 11 rules found/);
            const warning = challengerRules.find((r) => r.alert === "MlopsModelDrift");
            assert.ok(warning);
            const tests = {
                rule_files: ["both.yaml"],
                evaluation_interval: "1m",
                tests: [
                    {
                        name: "challenger drift 0.25, champion 0.02: the challenger's warning only",
                        interval: "1m",
                        input_series: [challengerSeries("mlops_feature_drift_score", "0.25x30"), series("mlops_feature_drift_score", "0.02x30")],
                        alert_rule_test: [
                            {
                                eval_time: "20m",
                                alertname: "MlopsModelDrift",
                                exp_alerts: [
                                    {
                                        exp_labels: warning.labels,
                                        exp_annotations: {
                                            ...warning.annotations,
                                            summary: warning.annotations["summary"]?.replace('{{ printf "%.3f" $value }}', "0.250"),
                                        },
                                    },
                                ],
                            },
                            { eval_time: "20m", alertname: "MlopsModelDriftRollback", exp_alerts: [] },
                        ],
                    },
                ],
            };
            fs.writeFileSync(path.join(dir, "challenger.test.yaml"), stringify(tests));
            const run = await promtool(["test", "rules", "challenger.test.yaml"], dir);
            assert.equal(run.code, 0, run.out);
        });
    });

    it("refuses a rollback threshold that is not worse than the alert threshold", () => {
        assert.deepEqual(
            monitoringProblems({ ...MONITORING_DEFAULTS, drift: { alert: 0.2, rollback: 0.1 }, accuracy: { alert: 0.8, rollback: 0.9 } }).map(
                describeArgProblem,
            ),
            [
                "monitoring.drift.rollback must be above the alert threshold (0.2): a rollback is worse than an alert, got 0.1",
                "monitoring.accuracy.rollback must be below the alert threshold (0.8): a rollback is worse than an alert, got 0.9",
            ],
        );
        assert.deepEqual(monitoringProblems({ ...MONITORING_DEFAULTS, window: "90s" }).map(describeArgProblem), [
            'monitoring.window must be a duration in minutes or hours such as "5m" or "1h", got "90s"',
        ]);
        assert.deepEqual(monitoringProblems(MONITORING_DEFAULTS), []);
    });
});
