import * as assert from "node:assert/strict";
import { bucketInitCommand, OBJECT_STORE_DEFAULTS, ObjectStore, type ObjectStoreArgs, objectStoreCommand, VERSITYGW_IMAGE } from "../../components/objectStore";
import { RESTRICTED_NAMESPACE_LABELS } from "../../components/security";
import { constructionFailure, findObject, ofType, promiseOf, RESTRICTED_CONTAINER_CONTEXT, runComponent } from "../harness";

const base: ObjectStoreArgs = { clientNamespace: "mlflow" };

async function render(args: Partial<ObjectStoreArgs> = {}) {
    return runComponent(() => {
        const store = new ObjectStore("object-store", { ...base, ...args });
        return {
            endpointUrl: store.endpointUrl,
            artifactsDestination: store.artifactsDestination,
            accessKeyId: store.accessKeyId,
            secretAccessKey: store.secretAccessKey,
        };
    });
}

describe("ObjectStore (Versity S3 Gateway in the cluster)", () => {
    it("runs the pinned gateway as a restricted StatefulSet on a volume, its bucket made first", async () => {
        const { resources } = await render();
        const sts = findObject(resources, "kubernetes:apps/v1:StatefulSet", "object-store");
        const pod = sts["spec"].template.spec;
        assert.equal(pod.containers[0].image, VERSITYGW_IMAGE);
        assert.equal(VERSITYGW_IMAGE, "ghcr.io/versity/versitygw:v1.8.0");
        assert.deepEqual(pod.containers[0].command, objectStoreCommand());
        assert.deepEqual(objectStoreCommand(), [
            "/usr/local/bin/versitygw",
            "--port",
            ":7070",
            "--health",
            "/health",
            "posix",
            "--sidecar",
            "/data/metadata",
            "/data/buckets",
        ]);
        assert.deepEqual(pod.initContainers[0].command, bucketInitCommand("mlflow"));
        for (const container of [...pod.initContainers, ...pod.containers]) assert.deepEqual(container.securityContext, RESTRICTED_CONTAINER_CONTEXT);
        assert.equal(pod.securityContext.runAsUser, 1000);
        assert.equal(sts["spec"].volumeClaimTemplates[0].spec.resources.requests.storage, `${OBJECT_STORE_DEFAULTS.storageGb}Gi`);
        assert.deepEqual(
            findObject(resources, "kubernetes:core/v1:Namespace", "object-store")["metadata"].labels["pod-security.kubernetes.io/enforce"],
            "restricted",
        );
        assert.ok(RESTRICTED_NAMESPACE_LABELS["pod-security.kubernetes.io/enforce"] === "restricted");
    });

    it("gives the gateway its root credentials from a Secret, never as plain env values", async () => {
        const { resources } = await render();
        const env = findObject(resources, "kubernetes:apps/v1:StatefulSet", "object-store")["spec"].template.spec.containers[0].env;
        assert.deepEqual(
            env.map((e: any) => [e.name, e.value, e.valueFrom?.secretKeyRef]),
            [
                ["ROOT_ACCESS_KEY_ID", undefined, { name: "object-store-credentials", key: "accessKeyId" }],
                ["ROOT_SECRET_ACCESS_KEY", undefined, { name: "object-store-credentials", key: "secretAccessKey" }],
            ],
        );
    });

    it("generates the credentials unless given, and then uses exactly those", async () => {
        const generated = await render();
        assert.equal(ofType(generated.resources, "random:index/randomPassword:RandomPassword").length, 2);
        const given = await render({ credentials: { accessKeyId: "AKLOCAL0123456789", secretAccessKey: "s3cr3tS3cr3tS3cr3t00" } });
        assert.equal(ofType(given.resources, "random:index/randomPassword:RandomPassword").length, 0);
        assert.deepEqual(findObject(given.resources, "kubernetes:core/v1:Secret", "object-store-credentials")["stringData"], {
            accessKeyId: "AKLOCAL0123456789",
            secretAccessKey: "s3cr3tS3cr3tS3cr3t00",
        });
        assert.equal(await promiseOf(given.outputs.accessKeyId), "AKLOCAL0123456789");
    });

    it("admits the client namespace on the S3 port only", async () => {
        const { resources } = await render({ clientNamespace: "tracking" });
        const spec = findObject(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "object-store")["spec"];
        assert.deepEqual(spec.ingress, [
            { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "tracking" } } }], ports: [{ protocol: "TCP", port: 7070 }] },
        ]);
        assert.deepEqual(spec.policyTypes, ["Ingress"]);
    });

    it("outputs the in-cluster endpoint and MLflow's artifacts destination", async () => {
        const { outputs } = await render({ bucket: "models", artifactPrefix: "mlflow" });
        assert.equal(outputs.endpointUrl, "http://object-store.object-store.svc.cluster.local:7070");
        assert.equal(outputs.artifactsDestination, "s3://models/mlflow");
    });

    const cases: Array<[string, Partial<ObjectStoreArgs>, string]> = [
        [
            "bucket",
            { bucket: "My_Bucket" },
            'ObjectStore "object-store": bucket must be an S3 bucket name (3-63 lower-case letters, digits and "-"), got "My_Bucket"',
        ],
        ["storageGb", { storageGb: 0 }, 'ObjectStore "object-store": storageGb must be a whole number from 1 to 65536, got 0'],
        [
            "image",
            { image: "ghcr.io/versity/versitygw:latest" },
            'ObjectStore "object-store": image must be pinned to a tag other than "latest" or to a digest, got "ghcr.io/versity/versitygw:latest"',
        ],
        ["clientNamespace", { clientNamespace: "ML" }, 'ObjectStore "object-store": clientNamespace must be a namespace name, got "ML"'],
    ];
    for (const [arg, args, message] of cases) {
        it(`refuses a bad ${arg} before creating anything`, async () => {
            const failure = await constructionFailure(() => new ObjectStore("object-store", { ...base, ...args }));
            assert.equal(failure.message, message);
            assert.equal(failure.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").length, 0);
        });
    }
});
