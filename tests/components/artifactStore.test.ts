import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { ARTIFACT_STORE_DEFAULTS, ArtifactStore, type ArtifactStoreArgs, artifactAccessPolicy, bucketPolicy } from "../../components/artifactStore";
import { constructionFailure, descendantsOf, findResource, ofType, promiseOf, type RecordedResource, runComponent } from "../harness";

const OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/TEST";
const ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/TEST";
const ARGS: ArtifactStoreArgs = {
    oidcProviderArn: OIDC,
    mlflowServiceAccount: { namespace: "mlflow", name: "mlflow-server" },
    modelsNamespace: "models",
};

const T = {
    bucket: "aws:s3/bucket:Bucket",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    policy: "aws:s3/bucketPolicy:BucketPolicy",
    lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    key: "aws:kms/key:Key",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
} as const;

interface Statement {
    Sid?: string;
    Effect: string;
    Principal?: unknown;
    Action: string | string[];
    Resource: string | string[];
    Condition?: Record<string, Record<string, unknown>>;
}
const statements = (text: unknown): Statement[] => (JSON.parse(String(text)) as { Statement: Statement[] }).Statement;

function run(args: Partial<ArtifactStoreArgs> = {}, name = "artifacts") {
    return runComponent(() => {
        const store = new ArtifactStore(name, { ...ARGS, ...args });
        return {
            bucketName: store.bucketName,
            bucketArn: store.bucketArn,
            kmsKeyArn: store.kmsKeyArn,
            artifactsDestination: store.artifactsDestination,
            mlflowRoleArn: store.mlflowRoleArn,
            modelReaderRoleArn: store.modelReaderRoleArn,
        };
    });
}

/** Constructs the component and reports the error it throws ("" when none). */
async function attempt(name: string, args: ArtifactStoreArgs) {
    const { message, resources } = await constructionFailure(() => new ArtifactStore(name, args));
    return { outputs: { error: message }, resources };
}

function only(resources: readonly RecordedResource[], type: string): RecordedResource {
    const found = ofType(resources, type);
    assert.equal(found.length, 1, `expected one ${type}, found ${found.length}`);
    return found[0] as RecordedResource;
}

describe("ArtifactStore", () => {
    describe("the bucket", () => {
        it("is an aws.s3.Bucket (v7 name) under the component, never force-destroyed", async () => {
            const { resources } = await run();
            const component = findResource(resources, "mlops:storage:ArtifactStore", "artifacts");
            const bucket = findResource(resources, T.bucket, "artifacts-bucket");
            assert.equal(bucket.parent, component.urn);
            assert.equal(bucket.inputs["forceDestroy"], false);
            assert.equal(ofType(resources, "aws:s3/bucketV2:BucketV2").length, 0);
            // Every child hangs under the component.
            assert.equal(descendantsOf(resources, component.urn).length, resources.length - 2);
        });

        it("has versioning enabled", async () => {
            const { resources } = await run();
            assert.deepEqual(only(resources, T.versioning).inputs["versioningConfiguration"], { status: "Enabled" });
        });

        it("encrypts with SSE-KMS under its own customer-managed key, bucket key on, SSE-C blocked", async () => {
            const { resources, outputs } = await run();
            const keyArn = await promiseOf(outputs.kmsKeyArn);
            assert.match(keyArn, /^arn:aws:kms:eu-west-1:123456789012:key\/[0-9a-f-]{36}$/);
            const rules = only(resources, T.encryption).inputs["rules"] as Record<string, any>[];
            assert.deepEqual(rules, [
                {
                    applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArn },
                    bucketKeyEnabled: true,
                    blockedEncryptionTypes: ["SSE-C"],
                },
            ]);
        });

        it("uses a KMS key with rotation on and the longest deletion window", async () => {
            const { resources } = await run();
            const key = findResource(resources, T.key, "artifacts-key");
            assert.equal(key.inputs["enableKeyRotation"], true);
            assert.equal(key.inputs["deletionWindowInDays"], 30);
        });

        it("blocks public access with all four settings", async () => {
            const { resources } = await run();
            const block = only(resources, T.publicAccessBlock).inputs;
            for (const setting of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) {
                assert.equal(block[setting], true, setting);
            }
        });

        it("enforces bucket-owner ownership (ACLs disabled)", async () => {
            const { resources } = await run();
            assert.deepEqual(only(resources, T.ownership).inputs["rule"], { objectOwnership: "BucketOwnerEnforced" });
        });

        it("has a policy that denies every request without TLS, on the bucket and its objects", async () => {
            const { resources, outputs } = await run();
            const bucketArn = await promiseOf(outputs.bucketArn);
            const policy = only(resources, T.policy);
            const tls = statements(policy.inputs["policy"]).find((s) => s.Sid === "DenyInsecureTransport");
            assert.deepEqual(tls, {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            });
            // Applied after the public access block and ownership controls (S3 rejects concurrent changes).
            const dependsOn = new Set(policy.dependencies);
            assert.ok(dependsOn.has(only(resources, T.publicAccessBlock).urn));
            assert.ok(dependsOn.has(only(resources, T.ownership).urn));
        });

        it("denies uploads that ask for another encryption or key, but not uploads that ask for none", async () => {
            const { resources, outputs } = await run();
            const [bucketArn, keyArn] = await Promise.all([promiseOf(outputs.bucketArn), promiseOf(outputs.kmsKeyArn)]);
            const deny = statements(only(resources, T.policy).inputs["policy"]).find((s) => s.Sid === "DenyUploadsWithAnotherEncryption");
            assert.deepEqual(deny, {
                Sid: "DenyUploadsWithAnotherEncryption",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${bucketArn}/*`,
                Condition: {
                    Null: { "s3:x-amz-server-side-encryption": "false" },
                    StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn },
                },
            });
            assert.equal(statements(bucketPolicy("arn:aws:s3:::b", "k")).length, 2);
        });

        it("expires noncurrent versions and aborts incomplete uploads, after versioning exists", async () => {
            const { resources } = await run({ noncurrentVersionExpirationDays: 90, abortIncompleteUploadDays: 3 });
            const lifecycle = only(resources, T.lifecycle);
            assert.deepEqual(lifecycle.inputs["rules"], [
                {
                    id: "expire-noncurrent-versions",
                    status: "Enabled",
                    filter: {},
                    noncurrentVersionExpiration: { noncurrentDays: 90 },
                    expiration: { expiredObjectDeleteMarker: true },
                },
                { id: "abort-incomplete-multipart-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 3 } },
            ]);
            assert.ok(lifecycle.dependencies.includes(only(resources, T.versioning).urn));
        });
    });

    describe("the IRSA roles", () => {
        it("lets only the MLflow server's service account assume the read-write role", async () => {
            const { resources, outputs } = await run();
            const role = findResource(resources, T.role, "artifacts-mlflow-role");
            const [trust] = statements(role.inputs["assumeRolePolicy"]);
            assert.equal(trust?.Action, "sts:AssumeRoleWithWebIdentity");
            assert.deepEqual(trust?.Principal, { Federated: OIDC });
            assert.deepEqual(trust?.Condition, {
                StringEquals: { [`${ISSUER}:aud`]: "sts.amazonaws.com", [`${ISSUER}:sub`]: "system:serviceaccount:mlflow:mlflow-server" },
            });
            // Its permissions are attached to this role, not the reader's.
            const roleName = (await promiseOf(outputs.mlflowRoleArn)).split("/").pop();
            assert.equal(findResource(resources, T.rolePolicy, "artifacts-mlflow-policy").inputs["role"], roleName);
        });

        it("lets every service account of the models namespace assume the read-only role", async () => {
            const { resources } = await run({ modelsNamespace: "serving" });
            const [trust] = statements(findResource(resources, T.role, "artifacts-model-reader-role").inputs["assumeRolePolicy"]);
            assert.deepEqual(trust?.Condition, {
                StringEquals: { [`${ISSUER}:aud`]: "sts.amazonaws.com" },
                StringLike: { [`${ISSUER}:sub`]: "system:serviceaccount:serving:*" },
            });
        });

        it("gives MLflow read-write on the artifact prefix and the key through S3 only", async () => {
            const { resources, outputs } = await run();
            const [bucketArn, keyArn] = await Promise.all([promiseOf(outputs.bucketArn), promiseOf(outputs.kmsKeyArn)]);
            const policy = findResource(resources, T.rolePolicy, "artifacts-mlflow-policy");
            assert.deepEqual(statements(policy.inputs["policy"]), [
                {
                    Sid: "ListArtifacts",
                    Effect: "Allow",
                    Action: "s3:ListBucket",
                    Resource: bucketArn,
                    Condition: { StringLike: { "s3:prefix": ["mlflow", "mlflow/*"] } },
                },
                {
                    Sid: "ReadWriteArtifacts",
                    Effect: "Allow",
                    Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                    Resource: `${bucketArn}/mlflow/*`,
                },
                {
                    Sid: "UseArtifactKeyThroughS3",
                    Effect: "Allow",
                    Action: ["kms:Decrypt", "kms:GenerateDataKey"],
                    Resource: keyArn,
                    Condition: { StringEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" } },
                },
            ]);
        });

        it("gives model servers only list, get and decrypt", async () => {
            const { resources } = await run({ artifactPrefix: "team/mlflow" });
            const policy = statements(findResource(resources, T.rolePolicy, "artifacts-model-reader-policy").inputs["policy"]);
            const actions = policy.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
            assert.deepEqual(actions, ["s3:ListBucket", "s3:GetObject", "kms:Decrypt"]);
            assert.match(String(policy[1]?.Resource), /\/team\/mlflow\/\*$/);
            assert.deepEqual(policy[0]?.Condition, { StringLike: { "s3:prefix": ["team/mlflow", "team/mlflow/*"] } });
        });

        it("no static keys: no IAM users or access keys anywhere", async () => {
            const { resources } = await run();
            assert.deepEqual(
                resources.filter((r) => r.type.startsWith("aws:iam/user") || r.type === "aws:iam/accessKey:AccessKey"),
                [],
            );
        });

        it("names the S3 endpoint of the key's partition in kms:ViaService", () => {
            const china = statements(artifactAccessPolicy("read-only", "arn:aws-cn:s3:::b", "arn:aws-cn:kms:cn-north-1:123456789012:key/k", "p"));
            assert.deepEqual(china[2]?.Condition, { StringEquals: { "kms:ViaService": "s3.cn-north-1.amazonaws.com.cn" } });
        });

        it("checks an oidcProviderArn known only later when it resolves", async () => {
            await assert.rejects(run({ oidcProviderArn: pulumi.output("arn:aws:iam::123456789012:role/not-a-provider") }), (err: Error) =>
                err.message.includes('ArtifactStore "artifacts": oidcProviderArn must be an IAM OIDC provider ARN'),
            );
        });
    });

    describe("outputs", () => {
        it("exposes the bucket, key, destination and role ARNs", async () => {
            const { outputs } = await run();
            const bucketName = await promiseOf(outputs.bucketName);
            assert.match(bucketName, /^artifacts-bucket-[0-9a-f]{7}$/);
            assert.equal(await promiseOf(outputs.bucketArn), `arn:aws:s3:::${bucketName}`);
            assert.equal(await promiseOf(outputs.artifactsDestination), `s3://${bucketName}/mlflow`);
            assert.match(await promiseOf(outputs.mlflowRoleArn), /^arn:aws:iam::123456789012:role\/artifacts-mlflow-role-[0-9a-f]{7}$/);
            assert.match(await promiseOf(outputs.modelReaderRoleArn), /^arn:aws:iam::123456789012:role\/artifacts-model-reader-role-[0-9a-f]{7}$/);
        });
    });

    describe("defaults", () => {
        it("keeps noncurrent versions 30 days", async () => {
            const { resources } = await run();
            assert.equal(ARTIFACT_STORE_DEFAULTS.noncurrentVersionExpirationDays, 30);
            const rules = only(resources, T.lifecycle).inputs["rules"] as Record<string, any>[];
            assert.deepEqual(rules[0]?.["noncurrentVersionExpiration"], { noncurrentDays: 30 });
        });

        it("aborts incomplete multipart uploads after 7 days", async () => {
            const { resources } = await run();
            const rules = only(resources, T.lifecycle).inputs["rules"] as Record<string, any>[];
            assert.deepEqual(rules[1]?.["abortIncompleteMultipartUpload"], { daysAfterInitiation: 7 });
        });

        it("stores artifacts under the mlflow prefix", async () => {
            const { outputs } = await run();
            assert.match(await promiseOf(outputs.artifactsDestination), /^s3:\/\/[^/]+\/mlflow$/);
        });

        it("does not retain anything on delete", async () => {
            const { resources } = await run();
            assert.deepEqual(
                resources.filter((r) => r.options.retainOnDelete).map((r) => r.name),
                [],
            );
        });
    });

    describe("retainOnDelete", () => {
        it("keeps the bucket, its configuration and its key — and only those — when asked", async () => {
            const { resources } = await run({ retainOnDelete: true });
            const retained = resources
                .filter((r) => r.options.retainOnDelete)
                .map((r) => r.type)
                .sort();
            assert.deepEqual(retained, [T.key, T.bucket, T.lifecycle, T.ownership, T.policy, T.publicAccessBlock, T.encryption, T.versioning].sort());
            for (const role of ofType(resources, T.role)) assert.equal(role.options.retainOnDelete, false);
        });
    });

    describe("validation", () => {
        const cases: [Partial<ArtifactStoreArgs>, string][] = [
            [{ abortIncompleteUploadDays: 0 }, 'ArtifactStore "artifacts": abortIncompleteUploadDays must be ≥ 1, got 0'],
            [{ noncurrentVersionExpirationDays: -5 }, 'ArtifactStore "artifacts": noncurrentVersionExpirationDays must be ≥ 1, got -5'],
            [{ noncurrentVersionExpirationDays: 1.5 }, 'ArtifactStore "artifacts": noncurrentVersionExpirationDays must be a whole number of days, got 1.5'],
            [
                { artifactPrefix: "/mlflow" },
                'ArtifactStore "artifacts": artifactPrefix must be "/"-separated segments of letters, digits, ".", "_" and "-", without a leading or trailing "/", got "/mlflow"',
            ],
            [
                { artifactPrefix: "" },
                'ArtifactStore "artifacts": artifactPrefix must be "/"-separated segments of letters, digits, ".", "_" and "-", without a leading or trailing "/", got ""',
            ],
            [
                { mlflowServiceAccount: { namespace: "mlflow", name: "*" } },
                'ArtifactStore "artifacts": mlflowServiceAccount.name must name one service account, got "*"',
            ],
            [
                { mlflowServiceAccount: { namespace: "MLflow", name: "server" } },
                'ArtifactStore "artifacts": mlflowServiceAccount.namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "MLflow"',
            ],
            [
                { mlflowServiceAccount: { namespace: "mlflow", name: "Server" } },
                'ArtifactStore "artifacts": mlflowServiceAccount.name must be a service account name or "*" (every service account of the namespace), got "Server"',
            ],
            [
                { modelsNamespace: "models_ns" },
                'ArtifactStore "artifacts": modelsNamespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63 characters), got "models_ns"',
            ],
            [
                { oidcProviderArn: "oidc.eks.eu-west-1.amazonaws.com/id/TEST" },
                'ArtifactStore "artifacts": oidcProviderArn must be an IAM OIDC provider ARN such as "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", got "oidc.eks.eu-west-1.amazonaws.com/id/TEST"',
            ],
        ];
        for (const [args, message] of cases) {
            it(`throws before any child exists: ${message}`, async () => {
                const { outputs, resources } = await attempt("artifacts", { ...ARGS, ...args });
                assert.equal(outputs.error, message);
                assert.deepEqual(
                    resources.filter((r) => r.type !== "pulumi:pulumi:Stack"),
                    [],
                );
            });
        }

        it("refuses a name that cannot prefix a bucket name", async () => {
            const { outputs, resources } = await attempt("Artifacts_Store", ARGS);
            assert.equal(
                outputs.error,
                'ArtifactStore "Artifacts_Store": the name must be lower-case letters, digits and single "-", starting with a letter, at most 32 characters (it prefixes the bucket and role names), got "Artifacts_Store"',
            );
            assert.deepEqual(
                resources.filter((r) => r.type !== "pulumi:pulumi:Stack"),
                [],
            );
            assert.equal((await attempt("a".repeat(33), ARGS)).outputs.error.includes("at most 32 characters"), true);
            assert.equal((await attempt("a".repeat(32), ARGS)).outputs.error, "");
        });
    });

    describe("two instances", () => {
        it("never collide in logical names, bucket names or role names", async () => {
            const { resources, outputs } = await runComponent(() => {
                const a = new ArtifactStore("team-a", ARGS);
                const b = new ArtifactStore("team-b", ARGS);
                return { a: a.bucketName, b: b.bucketName };
            });
            const children = resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
            assert.equal(children.length, 2 * 12);
            assert.equal(new Set(children.map((r) => `${r.type}::${r.name}`)).size, children.length);
            for (const team of ["team-a", "team-b"]) {
                const component = findResource(resources, "mlops:storage:ArtifactStore", team);
                const own = descendantsOf(resources, component.urn);
                assert.equal(own.length, 12);
                assert.ok(
                    own.every((r) => r.name.startsWith(`${team}-`)),
                    team,
                );
            }
            assert.notEqual(await promiseOf(outputs.a), await promiseOf(outputs.b));
        });
    });
});
