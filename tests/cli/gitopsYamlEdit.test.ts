import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { unifiedDiff } from "../../cli/gitops/diff";
import { StackFileProblem, StackText } from "../../cli/gitops/stackText";
import { applyEdits, renderScalar } from "../../cli/gitops/yamlEdit";

const ROOT = path.resolve(__dirname, "..", "..");
const FILE = "Pulumi.production.yaml";
const stackText = (text: string, stack = "production") => StackText.parse({ stack, file: `Pulumi.${stack}.yaml`, text });

/** A hand-written stack with comments, mixed quoting and a block list, as people write them. */
const HAND_WRITTEN = `# Production models.
config:
  mlops-platform:environment: production
  mlops-platform:models:
    fraud-detector:   # the card-fraud model
      registeredModel: fraud_detector
      version: '7'
      promotion:
        evidence:
          # from the nightly evaluation
          runId: 3f2a9c4e8b7d41f09a6c5e2d1b0f8a73
          metrics:
            accuracy: 0.95   # holdout set
            f1: 0.92
          validatedIn: staging
          promotedAt: "2026-11-02T09:14:00Z"
        approvedBy:
          - ml-lead
          - product-owner
    churn:
      registeredModel: churn
      version: "3"
`;

const NEW_RUN = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";

describe("gitops: editing a stack file in place", () => {
    it("changes only the bytes of the version and evidence nodes, each in the style it was written in", () => {
        const edited = stackText(HAND_WRITTEN).withDeclaration("fraud-detector", {
            version: "8",
            promotion: {
                evidence: { runId: NEW_RUN, metrics: { accuracy: 0.96, f1: 0.92 }, validatedIn: "staging", promotedAt: "2026-11-20T08:00:00Z" },
                approvedBy: ["ml-lead", "head-of-ml"],
            },
        });
        assert.equal(
            edited,
            HAND_WRITTEN.replace("version: '7'", "version: '8'")
                .replace("runId: 3f2a9c4e8b7d41f09a6c5e2d1b0f8a73", `runId: ${NEW_RUN}`)
                .replace("accuracy: 0.95   # holdout set", "accuracy: 0.96   # holdout set")
                .replace('promotedAt: "2026-11-02T09:14:00Z"', 'promotedAt: "2026-11-20T08:00:00Z"')
                .replace("- product-owner", "- head-of-ml"),
        );
    });

    it("adds the keys a promotion has and the file lacks, at the file's indentation, and removes the ones it no longer has", () => {
        const edited = stackText(HAND_WRITTEN).withDeclaration("fraud-detector", {
            version: "8",
            promotion: {
                evidence: { runId: NEW_RUN, metrics: { accuracy: 0.95, f1: 0.92, auc: 0.99 }, promotedAt: "2026-11-20T08:00:00Z" },
                approvedBy: ["ml-lead", "product-owner"],
            },
        });
        assert.equal(
            edited,
            HAND_WRITTEN.replace("version: '7'", "version: '8'")
                .replace("runId: 3f2a9c4e8b7d41f09a6c5e2d1b0f8a73", `runId: ${NEW_RUN}`)
                .replace("f1: 0.92\n          validatedIn: staging\n", "f1: 0.92\n            auc: 0.99\n")
                .replace('promotedAt: "2026-11-02T09:14:00Z"', 'promotedAt: "2026-11-20T08:00:00Z"'),
        );
    });

    it("writes a whole promotion block after a model's last key, indented the way the file indents", () => {
        const fourSpaces =
            'config:\n    mlops-platform:environment: staging\n    mlops-platform:models:\n        churn:\n            registeredModel: churn\n            version: "3"\n# end\n';
        const edited = stackText(fourSpaces, "staging").withDeclaration("churn", {
            version: "4",
            promotion: { evidence: { runId: NEW_RUN, metrics: { accuracy: 0.9 }, promotedAt: "2026-11-20T08:00:00Z" }, approvedBy: [] },
        });
        assert.equal(
            edited,
            'config:\n    mlops-platform:environment: staging\n    mlops-platform:models:\n        churn:\n            registeredModel: churn\n            version: "4"\n' +
                `            promotion:\n                evidence:\n                    runId: ${NEW_RUN}\n                    metrics:\n                        accuracy: 0.9\n` +
                '                    promotedAt: "2026-11-20T08:00:00Z"\n                approvedBy: []\n# end\n',
        );
    });

    it("quotes a value only when a plain scalar would read back as something else", () => {
        assert.equal(renderScalar("ml-lead"), "ml-lead");
        assert.equal(renderScalar("3f2a9c4e8b7d41f09a6c5e2d1b0f8a73"), "3f2a9c4e8b7d41f09a6c5e2d1b0f8a73");
        assert.equal(renderScalar("12345678901234567890123456789012"), '"12345678901234567890123456789012"');
        assert.equal(renderScalar("1e5"), '"1e5"');
        assert.equal(renderScalar("yes"), '"yes"');
        assert.equal(renderScalar("null"), '"null"');
        assert.equal(renderScalar("2026-11-20"), '"2026-11-20"');
        assert.equal(renderScalar("a: b"), '"a: b"');
        assert.equal(renderScalar("it's", "QUOTE_SINGLE"), "'it''s'");
        assert.equal(renderScalar("8", "QUOTE_DOUBLE"), '"8"');
        assert.equal(renderScalar("8", "PLAIN"), '"8"');
        assert.equal(renderScalar(0.1), "0.1");
        assert.throws(() => renderScalar(Number.NaN), { message: "cannot write the non-finite number NaN" });
    });

    it("puts an older declaration back byte for byte, comments and formatting included, and touches nothing else", () => {
        const older = stackText(HAND_WRITTEN);
        const newer = older.withDeclaration("fraud-detector", {
            version: "8",
            promotion: {
                evidence: { runId: NEW_RUN, metrics: { accuracy: 0.97, f1: 0.95 }, promotedAt: "2026-11-20T08:00:00Z" },
                approvedBy: ["head-of-ml", "ml-lead"],
            },
        });
        // Meanwhile someone changed another model.
        const changedElsewhere = newer.replace('version: "3"', 'version: "4"');
        const restored = stackText(changedElsewhere).withDeclarationOf("fraud-detector", older);
        assert.equal(restored, HAND_WRITTEN.replace('version: "3"', 'version: "4"'));
    });

    it("gives back the original bytes after a promotion and a restore, for every model of the shipped stack files", () => {
        for (const stack of ["staging", "production"]) {
            const original = readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8");
            const before = stackText(original, stack);
            for (const model of before.modelNames) {
                const promoted = before.withDeclaration(model, {
                    version: "99",
                    promotion: {
                        evidence: {
                            runId: NEW_RUN,
                            metrics: { accuracy: 0.99, f1: 0.98, auc: 0.97 },
                            validatedIn: "staging",
                            promotedAt: "2026-12-01T00:00:00Z",
                        },
                        approvedBy: ["head-of-ml"],
                    },
                });
                assert.notEqual(promoted, original);
                assert.equal(stackText(promoted, stack).withDeclarationOf(model, before), original, `${stack}/${model}`);
            }
        }
    });

    it("gives back the original bytes after adding a promotion to a model that had none and restoring", () => {
        const original =
            'config:\n  mlops-platform:environment: staging\n  mlops-platform:models:\n    churn:\n      registeredModel: churn\n      version: "3"  # first\n    other:\n      registeredModel: other\n      version: "1"\n';
        const before = stackText(original, "staging");
        const promoted = before.withDeclaration("churn", {
            version: "4",
            promotion: { evidence: { runId: NEW_RUN, metrics: {}, promotedAt: "2026-12-01T00:00:00Z" }, approvedBy: [] },
        });
        assert.equal(stackText(promoted, "staging").withDeclarationOf("churn", before), original);
    });

    it("refuses an edit whose result would not read back as intended, instead of writing it", () => {
        const fourSpaces =
            'config:\n    mlops-platform:environment: production\n    mlops-platform:models:\n        churn:\n            registeredModel: churn\n            version: "4"\n            promotion:\n                approvedBy: [a]\n';
        const olderTwoSpaces =
            'config:\n  mlops-platform:environment: production\n  mlops-platform:models:\n    churn:\n      registeredModel: churn\n      version: "3"\n      promotion:\n        approvedBy: [a]\n        evidence: {runId: x}\n';
        // The older block, pasted at its own (shallower) indentation, would leave "promotion" empty and add a model "approvedBy".
        assert.throws(() => stackText(fourSpaces).withDeclarationOf("churn", stackText(olderTwoSpaces)), {
            message: 'Pulumi.production.yaml: editing model "churn" in place would not declare the intended version and evidence; edit the file by hand',
        });
        // Deeper indentation is still the same YAML: restored as written.
        assert.equal(
            stackText(olderTwoSpaces).withDeclarationOf("churn", stackText(fourSpaces)),
            olderTwoSpaces
                .replace('version: "3"', 'version: "4"')
                .replace("\n        approvedBy: [a]\n        evidence: {runId: x}\n", "\n                approvedBy: [a]\n"),
        );
    });

    it("refuses a model written as a flow mapping, a missing model and a malformed file, naming the file", () => {
        const flow = 'config:\n  mlops-platform:models:\n    churn: {registeredModel: churn, version: "3"}\n';
        const promotion = { evidence: { runId: NEW_RUN, metrics: {} }, approvedBy: [] };
        assert.throws(() => stackText(flow).withDeclaration("churn", { version: "4", promotion }), {
            message: `${FILE}: model "churn" is written as a flow mapping; write it as a block mapping to promote it`,
        });
        assert.throws(() => stackText(HAND_WRITTEN).withDeclaration("nope", { version: "4", promotion }), { message: `${FILE} declares no model "nope"` });
        assert.throws(
            () => stackText("config:\n  a: [1, 2\n"),
            (err: unknown) => err instanceof StackFileProblem && err.message.startsWith(`${FILE}: malformed YAML at line 3, column 1: `),
        );
    });

    it("reads what a stack declares", () => {
        const stack = stackText(HAND_WRITTEN);
        assert.equal(stack.environment, "production");
        assert.deepEqual(stack.modelNames, ["fraud-detector", "churn"]);
        assert.deepEqual(stack.model("churn"), { model: "churn", registeredModel: "churn", version: "3", promotion: undefined, challenger: undefined });
        assert.equal(stack.model("fraud-detector")?.version, "7");
        assert.equal(stack.model("nope"), undefined);
    });
});

describe("gitops: text edits and diffs", () => {
    it("applies edits in offset order, keeps insertions at one offset in the order given, and refuses overlaps", () => {
        assert.equal(
            applyEdits("abcdef", [
                { start: 4, end: 6, text: "XY" },
                { start: 1, end: 1, text: "1" },
                { start: 1, end: 1, text: "2" },
                { start: 1, end: 3, text: "" },
            ]),
            "a12dXY",
        );
        assert.throws(
            () =>
                applyEdits("abcdef", [
                    { start: 1, end: 4, text: "" },
                    { start: 2, end: 5, text: "" },
                ]),
            { message: "overlapping edits at offset 2" },
        );
    });

    it("shows a unified diff of the changed lines with two lines of context", () => {
        const before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        const after = "a\nb\nC\nd\ne\nf\ng\nh\ni\nJ\nk\n";
        assert.equal(
            unifiedDiff("f.yaml", before, after),
            ["--- a/f.yaml", "+++ b/f.yaml", "@@ -1,5 +1,5 @@", " a", " b", "-c", "+C", " d", " e", "@@ -8,4 +8,5 @@", " h", " i", "-j", "+J", "+k", " "].join(
                "\n",
            ),
        );
        assert.equal(unifiedDiff("f.yaml", before, before), "");
    });
});
