import * as assert from "node:assert/strict";
import { kubernetesInventory, validateManifests } from "../../offline/manifests";
import { listStacks } from "../../stacks";
import { findObject, ofType, PROJECT_DIR, promiseOf, type RecordedResource, runStack, shippedConfig } from "../harness";
import { gpuPlacement } from "../../infra/componentArgs";
import { runProgram } from "../../offline/runtime";
import main = require("../../infra");

/**
 * The whole program (`infra/index.ts`), run under the mocks on every shipped stack file: what a
 * `pulumi up -s <stack>` would create, checked for the properties users and the policy pack rely on.
 */

type Run = Awaited<ReturnType<typeof runStack>>;

/** The platform components a stack's configuration asks for. */
function componentTypes(config: ReturnType<typeof shippedConfig>): string[] {
    return [
        config.artifacts.mode === "s3" ? "mlops:storage:ArtifactStore" : "mlops:storage:ObjectStore",
        "mlops:database:Postgres",
        "mlops:tracking:MlflowServer",
        ...(config.certManager.enabled ? ["mlops:tls:CertManager"] : []),
        ...(config.argocd.enabled ? ["mlops:gitops:ArgoCd"] : []),
        "mlops:delivery:Flagger",
    ];
}
const ALL_COMPONENT_TYPES = ["mlops:storage:ArtifactStore", "mlops:storage:ObjectStore", "mlops:tls:CertManager", "mlops:gitops:ArgoCd"];

function metadataName(r: RecordedResource): string | undefined {
    return (r.inputs["metadata"] as { name?: string } | undefined)?.name;
}

for (const stack of listStacks(PROJECT_DIR)) {
    describe(`the program on Pulumi.${stack}.yaml`, () => {
        const config = shippedConfig(stack);
        let run: Run;
        before(async () => {
            run = await runStack(stack);
        });

        it("creates each platform component once, directly under the stack, and one ModelServing per declared model", () => {
            const stackUrn = ofType(run.resources, "pulumi:pulumi:Stack")[0]?.urn;
            const expected = componentTypes(config);
            for (const type of expected) {
                const found = ofType(run.resources, type);
                assert.equal(found.length, 1, type);
                assert.equal(found[0]?.parent, stackUrn, `${type} is a child of the stack`);
            }
            for (const type of ALL_COMPONENT_TYPES.filter((t) => !expected.includes(t))) assert.deepEqual(ofType(run.resources, type), [], `no ${type}`);
            assert.deepEqual(
                ofType(run.resources, "mlops:serving:ModelServing").map((r) => r.name),
                config.models.map((m) => m.name),
            );
        });

        it("gives every AWS and Kubernetes resource an explicit provider of this stack", () => {
            const providers = new Set(run.resources.filter((r) => r.type.startsWith("pulumi:providers:")).map((r) => r.urn));
            const cloudResources = run.resources.filter((r) => r.custom && /^(aws|kubernetes):/.test(r.type));
            assert.ok(cloudResources.length > 30);
            for (const r of cloudResources) {
                const providerUrn = r.provider?.split("::").slice(0, -1).join("::");
                assert.ok(providerUrn !== undefined && providers.has(providerUrn), `${r.urn} uses provider ${r.provider}`);
            }
        });

        it("exports where things are and the roles workloads assume", async () => {
            const outputs = run.outputs;
            assert.equal(outputs.environment, config.environment);
            assert.equal(await promiseOf(outputs.mlflowUrl), `https://${config.mlflow.host}`);
            assert.equal(
                outputs.argocdUrl === undefined ? undefined : await promiseOf(outputs.argocdUrl),
                config.argocd.enabled ? `https://${config.argocd.host}` : undefined,
            );
            assert.equal(await promiseOf(outputs.mlflowInternalUrl), "http://mlflow.mlflow.svc.cluster.local:5000");
            if (config.artifacts.mode === "s3") {
                assert.match(await promiseOf(outputs.artifactBucketArn ?? ""), /^arn:aws:s3:::artifacts-bucket-/);
                const account = /iam::(\d{12}):/.exec(config.cluster.oidcProviderArn ?? "")?.[1];
                assert.match(await promiseOf(outputs.mlflowRoleArn ?? ""), new RegExp(`^arn:aws:iam::${account}:role/`));
                assert.match(await promiseOf(outputs.modelReaderRoleArn ?? ""), new RegExp(`^arn:aws:iam::${account}:role/`));
            } else {
                assert.equal(outputs.artifactStoreEndpoint, "http://object-store.object-store.svc.cluster.local:7070");
                assert.equal(await promiseOf(outputs.artifactBucketName), "mlflow");
                assert.equal(outputs.mlflowRoleArn, undefined);
                assert.equal(run.resources.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws").length, 0, "nothing of AWS");
            }
            assert.deepEqual(
                Object.keys(outputs.models),
                config.models.map((m) => m.name),
            );
            for (const model of config.models) {
                assert.equal(outputs.models[model.name]?.version, model.version);
                assert.equal(outputs.models[model.name]?.url, `https://${model.name}.${config.cluster.domain}`);
            }
        });

        it("serves exactly the declared registry version of each model, labelled with it", () => {
            for (const model of config.models) {
                const deployment = findObject(run.resources, "kubernetes:apps/v1:Deployment", model.name);
                const container = deployment["spec"].template.spec.containers[0];
                assert.ok(container.args.includes(`models:/${model.registeredModel}/${model.version}`), JSON.stringify(container.args));
                assert.equal(deployment["metadata"].labels["mlops.dev/model-version"], model.version);
                assert.equal(deployment["metadata"].labels["mlops.dev/environment"], config.environment);
                const canary = findObject(run.resources, "kubernetes:flagger.app/v1beta1:Canary", model.name);
                assert.deepEqual(canary["spec"].targetRef, { apiVersion: "apps/v1", kind: "Deployment", name: model.name });
            }
        });

        it("places GPU models on GPU nodes with requests equal to limits, and CPU models anywhere", () => {
            for (const model of config.models) {
                const pod = findObject(run.resources, "kubernetes:apps/v1:Deployment", model.name)["spec"].template.spec;
                const { requests, limits } = pod.containers[0].resources;
                const gpus = model.resources.gpu ?? 0;
                if (gpus > 0) {
                    assert.equal(requests["nvidia.com/gpu"], String(gpus));
                    assert.equal(limits["nvidia.com/gpu"], String(gpus));
                    assert.deepEqual(pod.nodeSelector, gpuPlacement(config.gpu).nodeSelector);
                    assert.deepEqual(pod.tolerations, gpuPlacement(config.gpu).tolerations);
                } else {
                    assert.equal(requests["nvidia.com/gpu"], undefined);
                    assert.equal(pod.nodeSelector, undefined);
                    assert.equal(pod.tolerations, undefined);
                }
            }
        });

        it("leaves the Services of model workloads to Flagger", () => {
            const serviceNames = ofType(run.resources, "kubernetes:core/v1:Service").map(metadataName);
            for (const model of config.models) {
                for (const flaggers of [model.name, `${model.name}-primary`, `${model.name}-canary`]) {
                    assert.ok(!serviceNames.includes(flaggers), `${flaggers} is Flagger's to create`);
                }
            }
        });

        it("puts TLS on every Ingress, for every host it routes", () => {
            const ingresses = ofType(run.resources, "kubernetes:networking.k8s.io/v1:Ingress");
            assert.ok(ingresses.length >= 1 + config.models.length);
            for (const ingress of ingresses) {
                const spec = ingress.inputs["spec"] as { rules: { host: string }[]; tls?: { hosts: string[] }[] };
                const covered = new Set((spec.tls ?? []).flatMap((t) => t.hosts));
                for (const rule of spec.rules) assert.ok(covered.has(rule.host), `${ingress.name}: ${rule.host} has no TLS`);
            }
        });

        it("runs no container as root, with privilege escalation, capabilities or an unpinned image", () => {
            const workloads = run.resources.filter((r) =>
                ["kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job"].includes(r.type),
            );
            assert.ok(workloads.length > config.models.length);
            for (const workload of workloads) {
                const pod = (workload.inputs["spec"] as { template: { spec: Record<string, any> } }).template.spec;
                for (const container of [...(pod["initContainers"] ?? []), ...pod["containers"]]) {
                    const where = `${workload.type} ${metadataName(workload)} ${container.name}`;
                    const security = { ...pod["securityContext"], ...container.securityContext };
                    assert.equal(security.runAsNonRoot, true, where);
                    assert.equal(container.securityContext?.allowPrivilegeEscalation, false, where);
                    assert.deepEqual(container.securityContext?.capabilities?.drop, ["ALL"], where);
                    assert.match(container.image, /:(?!latest$)[\w.-]+$|@sha256:[0-9a-f]{64}$/, where);
                }
            }
        });

        it("keeps every secret value out of plain env values and args", () => {
            const text = JSON.stringify(
                run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Secret").map((r) => r.inputs),
            );
            assert.doesNotMatch(text, /postgresql(\+psycopg2)?:\/\/[^"$]*:[^"$@]+@/, "a database URI with a password");
            assert.doesNotMatch(text, /AKIA[0-9A-Z]{16}/, "a static AWS access key");
        });

        it("renders Kubernetes objects that validate against the real schemas", async () => {
            const { manifests } = kubernetesInventory(run.resources);
            assert.ok(manifests.length > 20, `${manifests.length} manifests`);
            const problems = await validateManifests(manifests);
            assert.deepEqual(
                problems.map((p) => p.line),
                [],
            );
        });

        if (config.environment === "production") {
            it("protects production's data: Multi-AZ RDS with deletion protection and backups, and a retained bucket", () => {
                const [db] = ofType(run.resources, "aws:rds/instance:Instance");
                assert.ok(db);
                assert.equal(db.inputs["multiAz"], true);
                assert.equal(db.inputs["deletionProtection"], true);
                assert.equal(db.inputs["storageEncrypted"], true);
                assert.equal(db.inputs["publiclyAccessible"], false);
                assert.equal(db.inputs["backupRetentionPeriod"], 14);
                assert.equal(db.inputs["skipFinalSnapshot"], false);
                for (const type of ["aws:s3/bucket:Bucket", "aws:kms/key:Key"]) {
                    assert.equal(ofType(run.resources, type)[0]?.options.retainOnDelete, true, type);
                }
            });
        } else {
            it("keeps staging lean: Postgres in the cluster, no RDS, artifacts deleted with the stack", () => {
                assert.equal(ofType(run.resources, "aws:rds/instance:Instance").length, 0);
                const statefulSets = ofType(run.resources, "kubernetes:apps/v1:StatefulSet").map(metadataName);
                assert.ok(statefulSets.includes("mlflow-db"), String(statefulSets));
                if (config.artifacts.mode === "s3") assert.equal(ofType(run.resources, "aws:s3/bucket:Bucket")[0]?.options.retainOnDelete, false);
                else assert.deepEqual(statefulSets.sort(), ["mlflow-db", "object-store"]);
            });
        }

        if (config.delivery.mode === "gitops") {
            it("hands model workloads to Argo CD: one Application per model, rendered under <path>/<stack>/<model>", () => {
                const applications = ofType(run.resources, "kubernetes:argoproj.io/v1alpha1:Application");
                assert.equal(applications.length, config.models.length);
                const paths = applications.map((a) => (a.inputs["spec"] as { source: { path: string } }).source.path).sort();
                assert.deepEqual(
                    paths,
                    config.models.map((m) => `${config.delivery.mode === "gitops" ? (config.delivery.path ?? "deploy") : ""}/${stack}/${m.name}`).sort(),
                );
            });
        }
    });
}

describe("the program on invalid configuration", () => {
    it("registers nothing but the stack and reports every problem in one error", async () => {
        const config = { "aws:region": "eu-west-1", "mlops-platform:environment": "prod", "mlops-platform:cluster": "{}" };
        // The program's error is caught inside the run, so that what it registered before failing can be seen.
        const run = await runProgram({ stack: "test", config }, async () => {
            try {
                await main();
                return { error: undefined };
            } catch (error) {
                return { error: error as Error };
            }
        });
        assert.equal(
            run.outputs.error?.message,
            'stack "test" configuration has 3 problems:\n' +
                '  - mlops-platform:environment: expected one of "staging", "production", got "prod"\n' +
                '  - mlops-platform:cluster.domain: expected a DNS name such as "ml.example.com", got nothing\n' +
                '  - mlops-platform:cluster.oidcProviderArn: expected the ARN of the cluster\'s IAM OIDC provider (required when artifacts.mode is "s3"), got nothing',
        );
        assert.deepEqual(
            run.resources.map((r) => r.type),
            ["pulumi:pulumi:Stack"],
        );
    });
});
