import assert from "node:assert/strict";
import { ARGO_CD_IMAGES, validateArgoCdArgs } from "../../components/argoCd";
import { certManagerImages } from "../../components/certManager";
import { FLAGGER_IMAGES } from "../../components/flagger";
import { chartImage, hasDigest, imageProblems } from "../../components/images";
import { imagesPinned } from "../../policies/security";
import { PROJECT_DIR, runConfig, runStack } from "../harness";
import { readStackFile, stackFilePath } from "../../stacks";
import type { RecordedResource } from "../../offline/runtime";
import { violationsOf } from "../policies/analyzerArgs";

/**
 * Images by digest: every image the program runs or sets in chart values comes from the stack's
 * `images` (or a model's own), and `images-pinned` with requireDigest finds any that is not pinned
 * by digest. The digests here are test data; the shipped stacks keep tags (no digest is invented).
 */

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const pinned = (image: string, c: string) => `${image}@${digest(c)}`;

const ALL_PINNED = {
    mlflow: pinned("ghcr.io/mlflow/mlflow:v3.17.2-full", "1"),
    postgres: pinned("postgres:17.11-trixie", "2"),
    objectStore: pinned("ghcr.io/versity/versitygw:v1.8.0", "3"),
    argocd: { argocd: pinned(ARGO_CD_IMAGES.argocd, "4"), redis: pinned(ARGO_CD_IMAGES.redis, "5"), haproxy: pinned(ARGO_CD_IMAGES.haproxy, "6") },
    flagger: {
        flagger: pinned(FLAGGER_IMAGES.flagger, "7"),
        prometheus: pinned(FLAGGER_IMAGES.prometheus, "8"),
        loadTester: pinned(FLAGGER_IMAGES.loadTester, "9"),
    },
    certManager: Object.fromEntries(Object.entries(certManagerImages()).map(([k, v]) => [k, pinned(v, "a")])),
};

async function digestViolations(resources: readonly RecordedResource[]): Promise<string[]> {
    const found: string[] = [];
    for (const r of resources) {
        for (const v of await violationsOf(imagesPinned, { type: r.type, name: r.name, props: r.inputs }, { requireDigest: true }))
            found.push(`${r.name}: ${v}`);
    }
    return found;
}

function stackValues(stack: string, images?: object): Record<string, string> {
    const { values } = readStackFile(stackFilePath(PROJECT_DIR, stack));
    return images === undefined ? { ...values } : { ...values, "mlops-platform:images": JSON.stringify(images) };
}

describe("images by digest", () => {
    it("splits an image into a chart's repository and tag, the digest travelling in the tag", () => {
        assert.deepEqual(chartImage("quay.io/argoproj/argocd:v3.4.4"), { repository: "quay.io/argoproj/argocd", tag: "v3.4.4" });
        assert.deepEqual(chartImage(`registry:5000/a/b:1.0@${digest("c")}`), { repository: "registry:5000/a/b", tag: `1.0@${digest("c")}` });
        assert.ok(hasDigest(`a:1@${digest("d")}`) && !hasDigest("a:1"));
    });

    it("refuses an image without a tag, or with latest, naming the arg", () => {
        assert.deepEqual(imageProblems("images", { redis: `redis@${digest("e")}`, argocd: "quay.io/argoproj/argocd:latest", haproxy: undefined }), [
            {
                arg: "images.redis",
                message: `must be an image with a version tag, optionally pinned by digest ("repository:v1.2.3" or "repository:v1.2.3@sha256:<64 hex>"), got "redis@${digest("e")}"`,
            },
            {
                arg: "images.argocd",
                message:
                    'must be an image with a version tag, optionally pinned by digest ("repository:v1.2.3" or "repository:v1.2.3@sha256:<64 hex>"), got "quay.io/argoproj/argocd:latest"',
            },
        ]);
        assert.equal(validateArgoCdArgs("argocd", { host: "argocd.example.com", modelsNamespace: "models", images: { argocd: "argocd" } }).length, 1);
    });

    for (const stack of ["staging", "production", "local"]) {
        it(`${stack}: with every image given by digest, requireDigest finds nothing in pods or chart values`, async () => {
            const { resources } = await runConfig(stackValues(stack, ALL_PINNED), stack);
            assert.deepEqual(await digestViolations(resources), []);
        });
    }

    it("staging as shipped (tags, no digests) fails requireDigest on each image it runs or sets, and passes without it", async () => {
        const { resources } = await runStack("staging");
        const found = await digestViolations(resources);
        for (const expected of [
            'mlflow-server: container "mlflow": image "ghcr.io/mlflow/mlflow:v3.17.2-full" is not pinned by digest',
            'mlflow-db-statefulset: container "postgres": image "postgres:17.11-trixie" is not pinned by digest',
            'argocd: chart value global.image: image "quay.io/argoproj/argocd:v3.4.4" is not pinned by digest',
            'argocd: chart value redis.image: image "ecr-public.aws.com/docker/library/redis:8.2.3-alpine" is not pinned by digest',
            'flagger: chart value image: image "ghcr.io/fluxcd/flagger:1.44.0" is not pinned by digest',
            'flagger: chart value prometheus.image: image "docker.io/prom/prometheus:v2.41.0" is not pinned by digest',
            'flagger-loadtester: chart value image: image "ghcr.io/fluxcd/flagger-loadtester:0.38.0" is not pinned by digest',
            'cert-manager-release: chart value image: image "quay.io/jetstack/cert-manager-controller:v1.19.6" is not pinned by digest',
            'cert-manager-release: chart value helmOptions.values.acmesolver.image: image "quay.io/jetstack/cert-manager-acmesolver:v1.19.6" is not pinned by digest',
            'fraud-detector-deployment: container "model-server": image "ghcr.io/mlflow/mlflow:v3.17.2-full" is not pinned by digest',
        ]) {
            assert.ok(
                found.some((line) => line.startsWith(expected)),
                `missing: ${expected}\nfound:\n${found.join("\n")}`,
            );
        }
        for (const r of resources) assert.deepEqual(await violationsOf(imagesPinned, { type: r.type, name: r.name, props: r.inputs }), [], r.name);
    });

    it("keeps tags in the shipped stacks and the switch off in every shipped policy config (no digest is invented)", () => {
        for (const stack of ["staging", "production", "local"]) assert.equal(stackValues(stack)["mlops-platform:images"], undefined, stack);
    });

    it("serves a model that names no image with images.mlflow, and one that does with its own", async () => {
        const values = stackValues("staging", { mlflow: ALL_PINNED.mlflow });
        const models = JSON.parse(values["mlops-platform:models"] as string);
        models["product-image-tagger"].image = "registry.example.com/ml/tagger:2.1.0";
        const { resources } = await runConfig({ ...values, "mlops-platform:models": JSON.stringify(models) }, "staging");
        const image = (name: string) => (resources.find((r) => r.name === `${name}-deployment`)?.inputs as any).spec.template.spec.containers[0].image;
        assert.equal(image("fraud-detector"), ALL_PINNED.mlflow);
        assert.equal(image("product-image-tagger"), "registry.example.com/ml/tagger:2.1.0");
    });
});
