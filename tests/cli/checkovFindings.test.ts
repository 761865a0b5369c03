import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { acceptedList, findingsOf, judge, main } from "../../cli/checkov/findings";

/** The judging of checkov's findings (.ci/checkov.sh runs checkov itself, in CI): new ones fail, accepted ones pass. */

const ROOT = path.resolve(__dirname, "..", "..");

/** A report shaped as checkov 3.3.30 writes it (`--output json`, one framework), trimmed to what is read. */
const report = (...failed: [string, string, string][]) => ({
    check_type: "kubernetes",
    results: {
        passed_checks: [],
        failed_checks: failed.map(([check_id, resource, file]) => ({ check_id, check_name: `name of ${check_id}`, resource, file_path: `/${file}` })),
    },
    summary: { passed: 0, failed: failed.length, checkov_version: "3.3.30" },
});

const ACCEPTED = [
    { check: "CKV_K8S_43", resource: "*", reason: "tags are kept until digests are filled in (README)" },
    { check: "CKV_K8S_35", resource: "Deployment.models.*", reason: "MLflow reads its credentials from env vars only" },
    { check: "CKV_K8S_40", resource: "StatefulSet.mlflow-db.mlflow-db", stacks: ["staging"], reason: "the official postgres image runs as uid 999" },
];

describe("checkov findings against the accepted list", () => {
    it("reads the failed checks of a report, with checkov's resource id and the manifest's file name", () => {
        assert.deepEqual(findingsOf(report(["CKV_K8S_43", "Deployment.models.fraud-detector", "21-deployment-models-fraud-detector.yaml"])), [
            { check: "CKV_K8S_43", name: "name of CKV_K8S_43", resource: "Deployment.models.fraud-detector", file: "21-deployment-models-fraud-detector.yaml" },
        ]);
        assert.throws(() => findingsOf({ nothing: true }), /not a checkov JSON report/);
    });

    it("accepts what the list names (wildcards, stacks), and fails a finding nobody reviewed", () => {
        const findings = findingsOf(
            report(
                ["CKV_K8S_43", "Deployment.mlflow.mlflow", "a.yaml"],
                ["CKV_K8S_35", "Deployment.models.fraud-detector", "b.yaml"],
                ["CKV_K8S_35", "Deployment.mlflow.mlflow", "c.yaml"],
                ["CKV_K8S_40", "StatefulSet.mlflow-db.mlflow-db", "d.yaml"],
            ),
        );
        const { unaccepted, unused } = judge(
            [
                { stack: "staging", findings },
                { stack: "production", findings: findings.filter((f) => f.check === "CKV_K8S_40") },
            ],
            acceptedList({ accepted: ACCEPTED }),
        );
        assert.deepEqual(
            unaccepted.map((f) => `${f.stack} ${f.check} ${f.resource}`),
            ["staging CKV_K8S_35 Deployment.mlflow.mlflow", "production CKV_K8S_40 StatefulSet.mlflow-db.mlflow-db"],
        );
        assert.deepEqual(unused, []);
    });

    it("reports an accepted entry that no finding needs any more", () => {
        const { unaccepted, unused } = judge([{ stack: "staging", findings: [] }], acceptedList({ accepted: ACCEPTED }));
        assert.deepEqual(unaccepted, []);
        assert.deepEqual(
            unused.map((a) => a.check),
            ["CKV_K8S_43", "CKV_K8S_35", "CKV_K8S_40"],
        );
    });

    it("refuses an accepted entry without its reason, or with a check id that is not one", () => {
        assert.throws(() => acceptedList({ accepted: [{ check: "CKV_K8S_43", resource: "*", reason: "" }] }), {
            message: 'accepted[0].reason: expected the reason it is accepted (a sentence), got ""',
        });
        assert.throws(() => acceptedList({ accepted: [{ check: "K8S_43", resource: "*", reason: "a reason long enough to read" }] }), /accepted\[0\]\.check/);
    });

    it("keeps the repository's list readable: every entry a check id, a pattern and a reason", () => {
        const list = acceptedList(JSON.parse(readFileSync(path.join(ROOT, ".ci", "checkov-accepted.json"), "utf8")));
        assert.ok(list.length > 0);
        assert.ok(list.every((a) => a.reason.length >= 20));
    });

    it("exits 1 with one line per new finding, 0 when all are accepted, 2 on bad input", () => {
        const dir = mkdtempSync(path.join(os.tmpdir(), "checkov-"));
        const accepted = path.join(dir, "accepted.json");
        const reportFile = path.join(dir, "staging.json");
        writeFileSync(accepted, JSON.stringify({ accepted: ACCEPTED }));
        writeFileSync(reportFile, JSON.stringify(report(["CKV_K8S_8", "Deployment.models.fraud-detector", "21-deployment-models-fraud-detector.yaml"])));
        const lines: string[] = [];
        assert.equal(
            main([accepted, `staging=${reportFile}`], (l) => lines.push(l)),
            1,
        );
        assert.ok(
            lines.includes(
                `checkov: new finding in staging: CKV_K8S_8 name of CKV_K8S_8 — Deployment.models.fraud-detector (21-deployment-models-fraud-detector.yaml); fix it, or accept it in ${accepted} with its reason`,
            ),
            lines.join("\n"),
        );
        writeFileSync(reportFile, JSON.stringify(report(["CKV_K8S_43", "Deployment.models.fraud-detector", "x.yaml"])));
        assert.equal(
            main([accepted, `staging=${reportFile}`], () => undefined),
            0,
        );
        assert.equal(
            main([accepted, "staging"], () => undefined),
            2,
        );
    });
});
