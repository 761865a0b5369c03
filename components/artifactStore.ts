import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type IrsaSubject, irsaSubjectProblem, irsaTrustPolicy, namespaceNameProblem, oidcProviderArnProblem } from "./irsa";
import { COMPONENT_NAME } from "./names";
import { type ArgProblem, assertValidArgs, show } from "./validation";

export interface ArtifactStoreArgs {
    /** The cluster's IAM OIDC provider (`PlatformConfig.cluster.oidcProviderArn`): the identity behind both roles. */
    readonly oidcProviderArn: pulumi.Input<string>;
    /** The tracking server's service account: the only one that may write artifacts. */
    readonly mlflowServiceAccount: IrsaSubject;
    /** Namespace of the model servers: each of its service accounts may read artifacts. */
    readonly modelsNamespace: pulumi.Input<string>;
    /**
     * Days an overwritten or deleted artifact version is kept before S3 expires it.
     * @default 30
     */
    readonly noncurrentVersionExpirationDays?: number;
    /**
     * Days after which S3 aborts an unfinished multipart upload (and stops billing its parts).
     * @default 7
     */
    readonly abortIncompleteUploadDays?: number;
    /**
     * Keep the bucket, its configuration and its KMS key when the stack is destroyed (production).
     * @default false
     */
    readonly retainOnDelete?: boolean;
    /**
     * Key prefix under which MLflow stores artifacts; the roles are scoped to it.
     * @default "mlflow"
     */
    readonly artifactPrefix?: string;
}

export const ARTIFACT_STORE_DEFAULTS = {
    noncurrentVersionExpirationDays: 30,
    abortIncompleteUploadDays: 7,
    retainOnDelete: false,
    artifactPrefix: "mlflow",
} as const;

const PREFIX = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/**
 * MLflow's S3 artifact store: a versioned, SSE-KMS-encrypted, private, TLS-only bucket, and two
 * IRSA roles scoped to its artifact prefix — read-write for the tracking server, read-only for model
 * servers. No static keys exist anywhere.
 */
export class ArtifactStore extends pulumi.ComponentResource {
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    public readonly kmsKeyArn: pulumi.Output<string>;
    /** `s3://<bucket>/<prefix>`: MLflow's `--artifacts-destination`. */
    public readonly artifactsDestination: pulumi.Output<string>;
    public readonly artifactPrefix: string;
    public readonly mlflowRoleArn: pulumi.Output<string>;
    public readonly modelReaderRoleArn: pulumi.Output<string>;

    constructor(name: string, args: ArtifactStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("ArtifactStore", name, validateArtifactStoreArgs(name, args));
        super("mlops:storage:ArtifactStore", name, {}, opts);

        const noncurrentDays = args.noncurrentVersionExpirationDays ?? ARTIFACT_STORE_DEFAULTS.noncurrentVersionExpirationDays;
        const abortDays = args.abortIncompleteUploadDays ?? ARTIFACT_STORE_DEFAULTS.abortIncompleteUploadDays;
        const retainOnDelete = args.retainOnDelete ?? ARTIFACT_STORE_DEFAULTS.retainOnDelete;
        const prefix = args.artifactPrefix ?? ARTIFACT_STORE_DEFAULTS.artifactPrefix;
        // The bucket's configuration is kept with the bucket: deleting it would leave the kept bucket
        // unversioned, public-blockable, re-encrypted with SSE-S3 and reachable over plain HTTP.
        const kept: pulumi.CustomResourceOptions = { parent: this, retainOnDelete };

        const key = new aws.kms.Key(
            `${name}-key`,
            {
                description: `Encrypts the MLflow artifacts of ${name}`,
                enableKeyRotation: true,
                deletionWindowInDays: 30,
            },
            kept,
        );
        const bucket = new aws.s3.Bucket(`${name}-bucket`, { forceDestroy: false }, kept);

        const versioning = new aws.s3.BucketVersioning(
            `${name}-versioning`,
            {
                bucket: bucket.id,
                versioningConfiguration: { status: "Enabled" },
            },
            kept,
        );
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket: bucket.id,
                rules: [
                    {
                        applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn },
                        // One data key per bucket instead of one KMS call per object: cheaper and faster uploads.
                        bucketKeyEnabled: true,
                        blockedEncryptionTypes: ["SSE-C"],
                    },
                ],
            },
            kept,
        );
        const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access-block`,
            {
                bucket: bucket.id,
                blockPublicAcls: true,
                blockPublicPolicy: true,
                ignorePublicAcls: true,
                restrictPublicBuckets: true,
            },
            kept,
        );
        const ownership = new aws.s3.BucketOwnershipControls(
            `${name}-ownership`,
            {
                bucket: bucket.id,
                rule: { objectOwnership: "BucketOwnerEnforced" },
            },
            kept,
        );
        // S3 rejects concurrent configuration changes of one bucket ("conflicting conditional
        // operation"), so the policy waits for the public access block and ownership controls.
        new aws.s3.BucketPolicy(
            `${name}-policy`,
            {
                bucket: bucket.id,
                policy: pulumi.all([bucket.arn, key.arn]).apply(([bucketArn, keyArn]) => bucketPolicy(bucketArn, keyArn)),
            },
            { ...kept, dependsOn: [publicAccessBlock, ownership] },
        );
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            {
                bucket: bucket.id,
                rules: [
                    {
                        id: "expire-noncurrent-versions",
                        status: "Enabled",
                        filter: {},
                        noncurrentVersionExpiration: { noncurrentDays },
                        // Once its noncurrent versions are gone, a delete marker alone only costs listings.
                        expiration: { expiredObjectDeleteMarker: true },
                    },
                    {
                        id: "abort-incomplete-multipart-uploads",
                        status: "Enabled",
                        filter: {},
                        abortIncompleteMultipartUpload: { daysAfterInitiation: abortDays },
                    },
                ],
            },
            { ...kept, dependsOn: [versioning] },
        );

        const mlflowRole = new aws.iam.Role(
            `${name}-mlflow-role`,
            {
                description: `MLflow tracking server ${args.mlflowServiceAccount.namespace}/${args.mlflowServiceAccount.name}: read-write on its artifacts`,
                assumeRolePolicy: trustPolicy(this, name, args.oidcProviderArn, [args.mlflowServiceAccount]),
            },
            { parent: this },
        );
        new aws.iam.RolePolicy(
            `${name}-mlflow-policy`,
            {
                role: mlflowRole.id,
                policy: pulumi.all([bucket.arn, key.arn]).apply(([bucketArn, keyArn]) => artifactAccessPolicy("read-write", bucketArn, keyArn, prefix)),
            },
            { parent: this },
        );

        const readerRole = new aws.iam.Role(
            `${name}-model-reader-role`,
            {
                description: pulumi.interpolate`Model servers of namespace ${args.modelsNamespace}: read-only on the MLflow artifacts`,
                assumeRolePolicy: pulumi
                    .output(args.modelsNamespace)
                    .apply((modelsNamespace) => trustPolicy(this, name, args.oidcProviderArn, [{ namespace: modelsNamespace, name: "*" }])),
            },
            { parent: this },
        );
        new aws.iam.RolePolicy(
            `${name}-model-reader-policy`,
            {
                role: readerRole.id,
                policy: pulumi.all([bucket.arn, key.arn]).apply(([bucketArn, keyArn]) => artifactAccessPolicy("read-only", bucketArn, keyArn, prefix)),
            },
            { parent: this },
        );

        this.bucketName = bucket.bucket;
        this.bucketArn = bucket.arn;
        this.kmsKeyArn = key.arn;
        this.artifactPrefix = prefix;
        this.artifactsDestination = pulumi.interpolate`s3://${bucket.bucket}/${prefix}`;
        this.mlflowRoleArn = mlflowRole.arn;
        this.modelReaderRoleArn = readerRole.arn;
        this.registerOutputs({
            bucketName: this.bucketName,
            bucketArn: this.bucketArn,
            kmsKeyArn: this.kmsKeyArn,
            artifactsDestination: this.artifactsDestination,
            mlflowRoleArn: this.mlflowRoleArn,
            modelReaderRoleArn: this.modelReaderRoleArn,
        });
    }
}

/** Every problem of the plain args, each naming the arg and its value. */
export function validateArtifactStoreArgs(name: string, args: ArtifactStoreArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!COMPONENT_NAME.test(name)) {
        problem(
            "",
            `must be lower-case letters, digits and single "-", starting with a letter, at most 32 characters (it prefixes the bucket and role names), got ${show(name)}`,
        );
    }
    for (const [arg, days] of [
        ["noncurrentVersionExpirationDays", args.noncurrentVersionExpirationDays],
        ["abortIncompleteUploadDays", args.abortIncompleteUploadDays],
    ] as const) {
        if (days === undefined) continue;
        if (!Number.isInteger(days)) problem(arg, `must be a whole number of days, got ${days}`);
        else if (days < 1) problem(arg, `must be ≥ 1, got ${days}`);
    }
    if (args.artifactPrefix !== undefined && !PREFIX.test(args.artifactPrefix)) {
        problem(
            "artifactPrefix",
            `must be "/"-separated segments of letters, digits, ".", "_" and "-", without a leading or trailing "/", got ${show(args.artifactPrefix)}`,
        );
    }
    const accountProblem = irsaSubjectProblem(args.mlflowServiceAccount, "mlflowServiceAccount");
    if (accountProblem !== undefined) problems.push(accountProblem);
    else if (args.mlflowServiceAccount.name === "*") problem("mlflowServiceAccount.name", 'must name one service account, got "*"');
    if (typeof args.modelsNamespace === "string") {
        const namespaceProblem = namespaceNameProblem(args.modelsNamespace, "modelsNamespace");
        if (namespaceProblem !== undefined) problems.push(namespaceProblem);
    }
    if (typeof args.oidcProviderArn === "string") {
        const arnProblem = oidcProviderArnProblem(args.oidcProviderArn);
        if (arnProblem !== undefined) problems.push(arnProblem);
    }
    return problems;
}

/** The trust policy; an ARN known only later (an Output) is checked when it resolves. */
function trustPolicy(parent: pulumi.Resource, name: string, oidcProviderArn: pulumi.Input<string>, subjects: IrsaSubject[]): pulumi.Output<string> {
    return pulumi.output(oidcProviderArn).apply((arn) => {
        try {
            return irsaTrustPolicy(arn, subjects);
        } catch (err) {
            throw new pulumi.ResourceError(`ArtifactStore "${name}": ${(err as Error).message}`, parent);
        }
    });
}

/**
 * The bucket policy: nothing over plain HTTP, and no upload that asks for another encryption than
 * the bucket's own key. Uploads that ask for nothing — MLflow's boto3 uploads, unless
 * `MLFLOW_S3_UPLOAD_EXTRA_ARGS` is set — get the bucket default (this key) and are allowed; an
 * upload naming `aws:kms` without a key id would get the AWS-managed `aws/s3` key, so it is denied
 * too. A client that names the key must name it by ARN.
 */
export function bucketPolicy(bucketArn: string, keyArn: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
            {
                Sid: "DenyUploadsWithAnotherEncryption",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: `${bucketArn}/*`,
                Condition: {
                    // Only requests that carry an encryption header; a missing key id does not equal the ARN.
                    Null: { "s3:x-amz-server-side-encryption": "false" },
                    StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn },
                },
            },
        ],
    });
}

/** The region and DNS suffix of S3 in the key's partition, for `kms:ViaService`. */
function s3ServiceOf(keyArn: string): string {
    const [, partition, , region] = keyArn.split(":");
    return `s3.${region}.${partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"}`;
}

/**
 * Least privilege on the artifact prefix: the tracking server lists, reads, writes, deletes and
 * aborts multipart uploads; model servers list and read. The key is usable only through S3.
 */
export function artifactAccessPolicy(access: "read-write" | "read-only", bucketArn: string, keyArn: string, prefix: string): string {
    const objectActions =
        access === "read-write"
            ? ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
            : ["s3:GetObject"];
    // SSE-KMS uploads need a data key; every read (and multipart completion) decrypts one.
    const keyActions = access === "read-write" ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"];
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ListArtifacts",
                Effect: "Allow",
                Action: "s3:ListBucket",
                Resource: bucketArn,
                Condition: { StringLike: { "s3:prefix": [prefix, `${prefix}/*`] } },
            },
            {
                Sid: access === "read-write" ? "ReadWriteArtifacts" : "ReadArtifacts",
                Effect: "Allow",
                Action: objectActions,
                Resource: `${bucketArn}/${prefix}/*`,
            },
            {
                Sid: "UseArtifactKeyThroughS3",
                Effect: "Allow",
                Action: keyActions,
                Resource: keyArn,
                Condition: { StringEquals: { "kms:ViaService": s3ServiceOf(keyArn) } },
            },
        ],
    });
}
