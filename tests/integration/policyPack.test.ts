import * as assert from "node:assert/strict";
import type { PolicyDiagnostic, PolicyPackHandle } from "../../offline/analyzer";
import { analyzeResources } from "../../offline/analyzer";
import { loadStack, startPolicyPack } from "../../offline/pipeline";
import { type RecordedResource, runProgram } from "../../offline/runtime";
import { environmentAlias, formatPromotionTag, promotionTagKey, validationTagKey } from "../../policies/registryContract";
import { PROJECT_DIR, runStack } from "../harness";
import { freePort, type MlflowServer, MlflowSeed, startMlflowServer } from "../support/mlflow";
import main = require("../../infra");

/**
 * The policy pack as `pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json`
 * runs it: a real analyzer plugin, driven over gRPC, on the registrations of the real program. Every
 * shipped stack passes; each way of breaking a rule is then refused by a mandatory violation.
 */

const mandatory = (diagnostics: readonly PolicyDiagnostic[]) => diagnostics.filter((d) => d.enforcementLevel === "mandatory");

/** The violation line, without the policy description the SDK puts before it. */
const violation = (d: PolicyDiagnostic) => d.message.slice(d.message.indexOf("\n") + 1);

const show = (diagnostics: readonly PolicyDiagnostic[]) =>
    diagnostics.map((d) => `${d.enforcementLevel} ${d.policyName} ${d.urn?.split("::").pop() ?? ""}: ${violation(d)}`).join("\n");

async function packFor(stack: string, registryUri: string, values?: Record<string, string>): Promise<PolicyPackHandle> {
    const stackValues = values ?? loadStack(PROJECT_DIR, stack).values;
    const { handle } = await startPolicyPack({ projectDir: PROJECT_DIR, stack, registryUri }, stackValues);
    return handle;
}

for (const stack of ["staging", "production"]) {
    describe(`the policy pack over the program's resources: ${stack}`, () => {
        let pack: PolicyPackHandle;
        let resources: readonly RecordedResource[];
        before(async () => {
            [pack, { resources }] = await Promise.all([packFor(stack, ""), runStack(stack)]);
        });
        after(() => pack?.close());

        it("finds no mandatory violation", async () => {
            const { diagnostics } = await analyzeResources(pack, resources);
            assert.equal(show(mandatory(diagnostics)), "");
        });

        it("has every policy configured from the environment's file, none unknown", () => {
            const names = pack.info().policies.map((p) => p.name);
            assert.ok(names.length >= 20, names.join(", "));
            assert.ok(names.includes("gpu-budget") && names.includes("model-promotion-evidence") && names.includes("s3-bucket-tls-only"));
        });
    });
}

// ---- one mutation per rule ------------------------------------------------------------------------------

type Mutation = (resources: RecordedResource[]) => void;

/** The recorded resource of this type whose logical name or metadata.name is `name`; it is edited in place. */
function target(resources: RecordedResource[], type: string, name: string): Record<string, any> {
    const found = resources.find((r) => r.type === type && (r.name === name || (r.wireInputs["metadata"] as { name?: string } | undefined)?.name === name));
    if (found === undefined) throw new Error(`mutation target ${type} ${name} not found`);
    return found.wireInputs as Record<string, any>;
}

function remove(resources: RecordedResource[], type: string, name: string): void {
    const index = resources.findIndex((r) => r.type === type && (r.wireInputs["metadata"] as { name?: string } | undefined)?.name === name);
    if (index < 0) throw new Error(`mutation target ${type} ${name} not found`);
    resources.splice(index, 1);
}

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const container = (resources: RecordedResource[], name: string) => target(resources, DEPLOYMENT, name)["spec"].template.spec.containers[0];
const promotion = (resources: RecordedResource[], name: string) => {
    const metadata = target(resources, DEPLOYMENT, name)["metadata"];
    return {
        read: () => JSON.parse(metadata.annotations["mlops.dev/promotion"]) as Record<string, any>,
        write: (record: unknown) => {
            metadata.annotations["mlops.dev/promotion"] = JSON.stringify(record);
        },
    };
};

const MUTATIONS: Array<[string, string, Mutation]> = [
    [
        "a GPU container above the cap",
        "gpu-limit-per-container",
        (rs) => {
            const { resources } = container(rs, "product-image-tagger");
            resources.limits["nvidia.com/gpu"] = "4";
            resources.requests["nvidia.com/gpu"] = "4";
        },
    ],
    [
        "GPU requests below limits",
        "gpu-requests-equal-limits",
        (rs) => {
            container(rs, "product-image-tagger").resources.requests["nvidia.com/gpu"] = "0";
        },
    ],
    [
        "a GPU pod without the GPU toleration",
        "gpu-node-placement",
        (rs) => {
            delete target(rs, DEPLOYMENT, "product-image-tagger")["spec"].template.spec.tolerations;
        },
    ],
    [
        "GPUs at maximum scale over the budget",
        "gpu-budget",
        (rs) => {
            target(rs, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "product-image-tagger")["spec"].maxReplicas = 20;
        },
    ],
    [
        "an unpinned model version",
        "model-version-pinned",
        (rs) => {
            const c = container(rs, "fraud-detector");
            c.args = c.args.map((a: string) => (a.startsWith("models:/") ? "models:/fraud_detector/latest" : a));
        },
    ],
    [
        "an alias instead of a version",
        "model-version-pinned",
        (rs) => {
            const c = container(rs, "fraud-detector");
            c.args = c.args.map((a: string) => (a.startsWith("models:/") ? "models:/fraud_detector@champion" : a));
        },
    ],
    [
        "evidence below the metric thresholds",
        "model-promotion-evidence",
        (rs) => {
            const p = promotion(rs, "fraud-detector");
            p.write({ ...p.read(), metrics: { accuracy: 0.71, f1: 0.62 } });
        },
    ],
    [
        "evidence not validated in staging",
        "model-promotion-evidence",
        (rs) => {
            const p = promotion(rs, "fraud-detector");
            const { validatedIn: _dropped, ...rest } = p.read();
            p.write(rest);
        },
    ],
    [
        "too few approvals",
        "model-promotion-evidence",
        (rs) => {
            const p = promotion(rs, "fraud-detector");
            p.write({ ...p.read(), approvedBy: ["ml-lead"] });
        },
    ],
    [
        "an approver who may not approve",
        "model-promotion-evidence",
        (rs) => {
            const p = promotion(rs, "fraud-detector");
            p.write({ ...p.read(), approvedBy: ["ml-lead", "intern"] });
        },
    ],
    ["a production model without its canary", "model-canary-analysis", (rs) => remove(rs, "kubernetes:flagger.app/v1beta1:Canary", "fraud-detector")],
    [
        "a canary step above the bound",
        "model-canary-analysis",
        (rs) => {
            target(rs, "kubernetes:flagger.app/v1beta1:Canary", "fraud-detector")["spec"].analysis.stepWeights = [10, 80];
        },
    ],
    [
        "a canary without its latency check",
        "model-canary-analysis",
        (rs) => {
            const analysis = target(rs, "kubernetes:flagger.app/v1beta1:Canary", "fraud-detector")["spec"].analysis;
            analysis.metrics = analysis.metrics.filter((m: { name: string }) => m.name !== "request-duration");
        },
    ],
    ["a model without its autoscaler", "model-autoscaler", (rs) => remove(rs, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "fraud-detector")],
    ["a model without its disruption budget", "model-disruption-budget", (rs) => remove(rs, "kubernetes:policy/v1:PodDisruptionBudget", "fraud-detector")],
    [
        "a public bucket",
        "s3-bucket-public-access-block",
        (rs) => {
            (rs.find((r) => r.type === "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")?.wireInputs as Record<string, any>)["blockPublicPolicy"] =
                false;
        },
    ],
    [
        "a bucket without its KMS encryption",
        "s3-bucket-kms-encryption",
        (rs) => {
            const i = rs.findIndex((r) => r.type === "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration");
            rs.splice(i, 1);
        },
    ],
    [
        "a bucket with versioning suspended",
        "s3-bucket-versioning",
        (rs) => {
            const versioning = rs.find((r) => r.type === "aws:s3/bucketVersioning:BucketVersioning")?.wireInputs as Record<string, any>;
            versioning["versioningConfiguration"].status = "Suspended";
        },
    ],
    [
        "a bucket policy that allows plain HTTP",
        "s3-bucket-tls-only",
        (rs) => {
            const i = rs.findIndex((r) => r.type === "aws:s3/bucketPolicy:BucketPolicy");
            rs.splice(i, 1);
        },
    ],
    [
        "a publicly accessible database",
        "rds-encrypted-private",
        (rs) => {
            (rs.find((r) => r.type === "aws:rds/instance:Instance")?.wireInputs as Record<string, any>)["publiclyAccessible"] = true;
        },
    ],
    [
        "a production database without deletion protection",
        "rds-resilience",
        (rs) => {
            (rs.find((r) => r.type === "aws:rds/instance:Instance")?.wireInputs as Record<string, any>)["deletionProtection"] = false;
        },
    ],
    [
        "an Ingress without TLS",
        "ingress-tls",
        (rs) => {
            delete target(rs, "kubernetes:networking.k8s.io/v1:Ingress", "mlflow")["spec"].tls;
        },
    ],
    [
        "a container that may escalate privileges",
        "pod-security-restricted",
        (rs) => {
            container(rs, "fraud-detector").securityContext.allowPrivilegeEscalation = true;
        },
    ],
    [
        "a password in a plain env value",
        "no-plaintext-secrets",
        (rs) => {
            container(rs, "fraud-detector").env.push({ name: "DB_PASSWORD", value: "hunter2hunter2" });
        },
    ],
    [
        "a tracking server without authentication behind its Ingress",
        "mlflow-authentication",
        (rs) => {
            const server = container(rs, "mlflow");
            server.command = (server.command as string[]).filter((word) => word !== "--app-name" && word !== "basic-auth");
        },
    ],
    [
        "the models namespace without its default deny",
        "network-isolation",
        (rs) => {
            const index = rs.findIndex(
                (r) =>
                    r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" &&
                    (r.wireInputs["metadata"] as any)?.namespace === "models" &&
                    (r.wireInputs["metadata"] as any)?.name === "default-deny-ingress",
            );
            rs.splice(index, 1);
        },
    ],
    [
        "an image on latest",
        "images-pinned",
        (rs) => {
            container(rs, "fraud-detector").image = "ghcr.io/mlflow/mlflow:latest";
        },
    ],
];

describe("the policy pack refuses each broken rule with a mandatory violation (production)", () => {
    let pack: PolicyPackHandle;
    let resources: readonly RecordedResource[];
    before(async () => {
        [pack, { resources }] = await Promise.all([packFor("production", ""), runStack("production")]);
    });
    after(() => pack?.close());

    for (const [what, policy, mutate] of MUTATIONS) {
        it(`${what} → ${policy}`, async () => {
            const mutated = structuredClone(resources) as RecordedResource[];
            mutate(mutated);
            const found = mandatory((await analyzeResources(pack, mutated)).diagnostics);
            assert.ok(
                found.some((d) => d.policyName === policy),
                `expected a mandatory ${policy} violation, got:\n${show(found) || "(none)"}`,
            );
        });
    }
});

// ---- the registry cross-check through the real pack, against a real MLflow ---------------------------------

describe("registry-evidence-matches through the real pack, against a real MLflow (production)", () => {
    let mlflow: MlflowServer;
    let values: Record<string, string>;
    let resources: readonly RecordedResource[];

    /**
     * Registers each production model's declared version in the registry, from a run whose metrics are the
     * declared evidence, the versions before it from a run with the declared champion's metrics, and the
     * version's staging promotion and successful staging rollout recorded — what `npm run promote` and the
     * deploy workflow leave behind — and points the stack's evidence at those runs (run ids are MLflow's).
     */
    before(async () => {
        mlflow = await startMlflowServer();
        const seed = new MlflowSeed(mlflow.url);
        const stack = loadStack(PROJECT_DIR, "production");
        const models = JSON.parse(stack.values["mlops-platform:models"] as string) as Record<string, any>;
        for (const model of Object.values(models)) {
            const { evidence } = model.promotion;
            const { runId } = await seed.createRun({ experimentName: model.registeredModel, metrics: evidence.metrics });
            // The versions before it (the champion among them) come from a run with the champion's metrics.
            const { runId: championRun } = await seed.createRun({ experimentName: model.registeredModel, metrics: evidence.champion.metrics });
            await seed.createRegisteredModel(model.registeredModel);
            for (let v = 1; v <= Number(model.version); v++)
                await seed.createModelVersion({ model: model.registeredModel, runId: v === Number(model.version) ? runId : championRun });
            await seed.setModelVersionTag(
                model.registeredModel,
                model.version,
                promotionTagKey("staging"),
                formatPromotionTag({ promotedAt: "2026-10-20T00:00:00Z" }),
            );
            // What the deploy workflow wrote when the version's staging rollout succeeded.
            await seed.setModelVersionTag(model.registeredModel, model.version, validationTagKey("staging"), evidence.validatedAt);
            await seed.setAlias(model.registeredModel, environmentAlias("staging"), model.version);
            evidence.runId = runId;
        }
        values = { ...stack.values, "mlops-platform:models": JSON.stringify(models) };
        ({ resources } = await runProgram({ stack: "production", config: values }, main));
    });
    after(() => mlflow?.stop());

    async function registryViolations(registryUri: string, resourcesToCheck = resources): Promise<PolicyDiagnostic[]> {
        const pack = await packFor("production", registryUri, values);
        try {
            return (await analyzeResources(pack, resourcesToCheck)).diagnostics.filter((d) => d.policyName === "registry-evidence-matches");
        } finally {
            await pack.close();
        }
    }

    it("passes when every declared version exists, is READY, matches its run's metrics, rolled out in staging when declared, and its champion matches", async () => {
        assert.equal(show(await registryViolations(mlflow.url)), "");
    });

    it("refuses evidence whose metrics differ from the run's", async () => {
        const mutated = structuredClone(resources) as RecordedResource[];
        const p = promotion(mutated, "fraud-detector");
        p.write({ ...p.read(), metrics: { ...p.read().metrics, accuracy: 0.99 } });
        const found = await registryViolations(mlflow.url, mutated);
        assert.equal(found.length, 1, show(found));
        assert.equal(found[0]?.enforcementLevel, "mandatory");
        assert.match(violation(found[0] as PolicyDiagnostic), /accuracy/);
    });

    it("fails closed, mandatory and with a clear message, when the registry cannot be reached", async () => {
        const dead = `http://127.0.0.1:${await freePort()}`;
        const found = await registryViolations(dead);
        assert.ok(found.length >= 1);
        for (const d of found) {
            assert.equal(d.enforcementLevel, "mandatory");
            assert.match(violation(d), new RegExp(`${dead.replace(/[.:/]/g, "\\$&")}.*(unreachable|refused)`, "i"));
        }
    });
});
