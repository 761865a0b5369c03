import assert from "node:assert/strict";
import {
    type ImagesPinnedConfig,
    imagesPinned,
    ingressTls,
    noPlaintextSecrets,
    type PlaintextSecretsConfig,
    type PodSecurityConfig,
    podSecurityRestricted,
    rdsEncryptedPrivate,
    rdsResilience,
    type RdsResilienceConfig,
    s3BucketKmsEncryption,
    s3BucketPublicAccessBlock,
    s3BucketTlsOnly,
    s3BucketVersioning,
} from "../../policies/security";
import { changed, type StackInput, stackViolationsOf, UNKNOWN, violationsOf } from "./analyzerArgs";
import { modelDeployment, T } from "./fixtures";

// ---------------------------------------------------------------------------------------------
// S3: the artifact store's bucket and its v7 configuration resources, as a preview sees them (the
// bucket's name and ARN are not known yet; the engine records that each `bucket` input came from it).

const tlsOnlyPolicy = (arn: string) =>
    JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: { AWS: "*" },
                Action: "s3:*",
                Resource: [arn, `${arn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    });

interface BucketStack {
    bucket: object;
    sse: object | undefined;
    versioning: object | undefined;
    publicAccessBlock: object | undefined;
    policy: object | undefined;
}

const compliantBucket = (): BucketStack => ({
    bucket: { bucket: UNKNOWN, arn: UNKNOWN, forceDestroy: false },
    sse: { bucket: UNKNOWN, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: UNKNOWN }, bucketKeyEnabled: true }] },
    versioning: { bucket: UNKNOWN, versioningConfiguration: { status: "Enabled" } },
    publicAccessBlock: { bucket: UNKNOWN, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    policy: { bucket: UNKNOWN, policy: tlsOnlyPolicy("arn:aws:s3:::mlops-artifacts") },
});

function bucketStack(b: BucketStack, name = "artifacts"): StackInput[] {
    const linked = (type: string, suffix: string, props: object | undefined): StackInput[] =>
        props === undefined ? [] : [{ type, name: `${name}-${suffix}`, props, parent: name, propertyDependencies: { bucket: [name] } }];
    return [
        { type: T.bucket, name, props: b.bucket },
        ...linked(T.sse, "encryption", b.sse),
        ...linked(T.versioning, "versioning", b.versioning),
        ...linked(T.publicAccessBlock, "public-access-block", b.publicAccessBlock),
        ...linked(T.bucketPolicy, "tls-only", b.policy),
    ];
}

const s3Policies = [s3BucketKmsEncryption, s3BucketVersioning, s3BucketPublicAccessBlock, s3BucketTlsOnly];

describe("S3 bucket policies", () => {
    it("pass a bucket with SSE-KMS, versioning, all four public access blocks and a TLS-only policy", async () => {
        for (const policy of s3Policies) assert.deepEqual(await stackViolationsOf(policy, bucketStack(compliantBucket())), [], policy.name);
    });

    it("link configuration by a known bucket name when the engine recorded no dependency (an explicitly named bucket)", async () => {
        const named = compliantBucket();
        named.bucket = { bucket: "mlops-artifacts" };
        const stack = bucketStack(named).map(({ propertyDependencies: _deps, ...r }) =>
            r.type === T.bucket ? r : { ...r, props: { ...r.props, bucket: "mlops-artifacts" } },
        );
        for (const policy of s3Policies) assert.deepEqual(await stackViolationsOf(policy, stack), [], policy.name);
    });

    it("do not let one bucket's configuration count for another", async () => {
        const stack = [...bucketStack(compliantBucket()), { type: T.bucket, name: "scratch", props: { bucket: UNKNOWN } }];
        assert.deepEqual(await stackViolationsOf(s3BucketVersioning, stack), [{ message: 'S3 bucket "scratch" has no BucketVersioning', resource: "scratch" }]);
    });

    describe("s3-bucket-kms-encryption", () => {
        it("reports a bucket without an encryption configuration", async () => {
            assert.deepEqual(await stackViolationsOf(s3BucketKmsEncryption, bucketStack({ ...compliantBucket(), sse: undefined })), [
                { message: 'S3 bucket "artifacts" has no BucketServerSideEncryptionConfiguration (SSE-KMS)', resource: "artifacts" },
            ]);
        });

        it("reports SSE-S3 (AES256) instead of KMS", async () => {
            const sse = changed(compliantBucket().sse, (s: any) => (s.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }));
            assert.deepEqual(await stackViolationsOf(s3BucketKmsEncryption, bucketStack({ ...compliantBucket(), sse })), [
                {
                    message:
                        'S3 bucket "artifacts": rules[0].applyServerSideEncryptionByDefault.sseAlgorithm must be "aws:kms" (or "aws:kms:dsse"), got "AES256"',
                    resource: "artifacts-encryption",
                },
            ]);
        });

        it("reports KMS without an S3 Bucket Key", async () => {
            const sse = changed(compliantBucket().sse, (s: any) => delete s.rules[0].bucketKeyEnabled);
            assert.deepEqual(await stackViolationsOf(s3BucketKmsEncryption, bucketStack({ ...compliantBucket(), sse })), [
                {
                    message: 'S3 bucket "artifacts": rules[0].bucketKeyEnabled must be true (an S3 Bucket Key spares a KMS call per object), got nothing',
                    resource: "artifacts-encryption",
                },
            ]);
        });

        it("reports an algorithm that is unknown during preview", async () => {
            const sse = changed(compliantBucket().sse, (s: any) => (s.rules[0].applyServerSideEncryptionByDefault.sseAlgorithm = UNKNOWN));
            assert.deepEqual(await stackViolationsOf(s3BucketKmsEncryption, bucketStack({ ...compliantBucket(), sse })), [
                {
                    message:
                        'S3 bucket "artifacts": rules[0].applyServerSideEncryptionByDefault.sseAlgorithm is unknown during preview, so it cannot be verified',
                    resource: "artifacts-encryption",
                },
            ]);
        });
    });

    describe("s3-bucket-versioning", () => {
        it("reports suspended versioning", async () => {
            const versioning = { bucket: UNKNOWN, versioningConfiguration: { status: "Suspended" } };
            assert.deepEqual(await stackViolationsOf(s3BucketVersioning, bucketStack({ ...compliantBucket(), versioning })), [
                { message: 'S3 bucket "artifacts": versioningConfiguration.status must be "Enabled", got "Suspended"', resource: "artifacts-versioning" },
            ]);
        });

        it("reports a bucket without versioning", async () => {
            assert.deepEqual(await stackViolationsOf(s3BucketVersioning, bucketStack({ ...compliantBucket(), versioning: undefined })), [
                { message: 'S3 bucket "artifacts" has no BucketVersioning', resource: "artifacts" },
            ]);
        });
    });

    describe("s3-bucket-public-access-block", () => {
        it("reports each of the four settings that is not true", async () => {
            const publicAccessBlock = { bucket: UNKNOWN, blockPublicAcls: true, blockPublicPolicy: false, ignorePublicAcls: true };
            assert.deepEqual(await stackViolationsOf(s3BucketPublicAccessBlock, bucketStack({ ...compliantBucket(), publicAccessBlock })), [
                { message: 'S3 bucket "artifacts": blockPublicPolicy must be true, got false', resource: "artifacts-public-access-block" },
                { message: 'S3 bucket "artifacts": restrictPublicBuckets must be true, got nothing', resource: "artifacts-public-access-block" },
            ]);
        });

        it("reports a bucket without a public access block", async () => {
            assert.deepEqual(await stackViolationsOf(s3BucketPublicAccessBlock, bucketStack({ ...compliantBucket(), publicAccessBlock: undefined })), [
                { message: 'S3 bucket "artifacts" has no BucketPublicAccessBlock', resource: "artifacts" },
            ]);
        });
    });

    describe("s3-bucket-tls-only", () => {
        it("reports a bucket policy that does not deny plain HTTP", async () => {
            const policy = {
                bucket: UNKNOWN,
                policy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:role/mlflow" }, Action: "s3:GetObject", Resource: "*" }],
                }),
            };
            assert.deepEqual(await stackViolationsOf(s3BucketTlsOnly, bucketStack({ ...compliantBucket(), policy })), [
                {
                    message:
                        'S3 bucket "artifacts": the bucket policy does not deny requests without TLS (expected a Deny of "s3:*" to principal "*" when "aws:SecureTransport" is "false")',
                    resource: "artifacts-tls-only",
                },
            ]);
        });

        it('reads a policy given as a document object, with a bare "*" principal and a list of actions', async () => {
            const document = {
                Version: "2012-10-17",
                Statement: { Effect: "Deny", Principal: "*", Action: ["s3:*"], Resource: "*", Condition: { Bool: { "aws:SecureTransport": false } } },
            };
            assert.deepEqual(
                await stackViolationsOf(s3BucketTlsOnly, bucketStack({ ...compliantBucket(), policy: { bucket: UNKNOWN, policy: document } })),
                [],
            );
        });

        it("passes a policy document that is unknown during preview (it names the new bucket's ARN); it is checked once known", async () => {
            assert.deepEqual(await stackViolationsOf(s3BucketTlsOnly, bucketStack({ ...compliantBucket(), policy: { bucket: UNKNOWN, policy: UNKNOWN } })), []);
        });

        it("reports a bucket without a bucket policy", async () => {
            assert.deepEqual(await stackViolationsOf(s3BucketTlsOnly, bucketStack({ ...compliantBucket(), policy: undefined })), [
                { message: 'S3 bucket "artifacts" has no BucketPolicy (a TLS-only bucket policy denies aws:SecureTransport false)', resource: "artifacts" },
            ]);
        });
    });
});

// ---------------------------------------------------------------------------------------------
// RDS

const rdsInstance = () => ({
    engine: "postgres",
    instanceClass: "db.r6g.large",
    storageEncrypted: true,
    publiclyAccessible: false,
    deletionProtection: true,
    backupRetentionPeriod: 14,
    multiAz: true,
    manageMasterUserPassword: true,
    dbSubnetGroupName: UNKNOWN,
});
const rds = (props: object = rdsInstance()) => ({ type: T.rds, name: "mlflow-db", props });

describe("rds-encrypted-private", () => {
    it("passes an encrypted private instance", async () => {
        assert.deepEqual(await violationsOf(rdsEncryptedPrivate, rds()), []);
    });

    it("reports unencrypted storage, also when left out", async () => {
        assert.deepEqual(await violationsOf(rdsEncryptedPrivate, rds(changed(rdsInstance(), (i) => (i.storageEncrypted = false)))), [
            "storageEncrypted must be true, got false",
        ]);
        assert.deepEqual(await violationsOf(rdsEncryptedPrivate, rds(changed(rdsInstance(), (i) => delete i.storageEncrypted))), [
            "storageEncrypted must be true, got nothing",
        ]);
    });

    it("reports a publicly accessible instance", async () => {
        assert.deepEqual(await violationsOf(rdsEncryptedPrivate, rds(changed(rdsInstance(), (i) => (i.publiclyAccessible = true)))), [
            "publiclyAccessible must be false, got true",
        ]);
    });

    it("reports encryption that is unknown during preview", async () => {
        assert.deepEqual(await violationsOf(rdsEncryptedPrivate, rds(changed(rdsInstance(), (i) => (i.storageEncrypted = UNKNOWN)))), [
            "storageEncrypted is unknown during preview, so it cannot be verified",
        ]);
    });
});

describe("rds-resilience", () => {
    const config: RdsResilienceConfig = { minBackupRetentionDays: 7, requireMultiAz: true, requireDeletionProtection: true };

    it("passes a deletion-protected Multi-AZ instance with two weeks of backups", async () => {
        assert.deepEqual(await violationsOf(rdsResilience, rds(), config), []);
    });

    it("reports a missing deletion protection", async () => {
        assert.deepEqual(await violationsOf(rdsResilience, rds(changed(rdsInstance(), (i) => (i.deletionProtection = false))), config), [
            "deletionProtection must be true, got false",
        ]);
    });

    it("reports too few days of backups, and none set", async () => {
        assert.deepEqual(await violationsOf(rdsResilience, rds(changed(rdsInstance(), (i) => (i.backupRetentionPeriod = 3))), config), [
            "backupRetentionPeriod must be at least 7 days, got 3",
        ]);
        assert.deepEqual(await violationsOf(rdsResilience, rds(changed(rdsInstance(), (i) => delete i.backupRetentionPeriod)), config), [
            "backupRetentionPeriod must be at least 7 days, got nothing",
        ]);
    });

    it("reports a single-AZ instance", async () => {
        assert.deepEqual(await violationsOf(rdsResilience, rds(changed(rdsInstance(), (i) => (i.multiAz = false))), config), [
            "multiAz must be true, got false",
        ]);
    });

    it("switches each rule by config, not by code", async () => {
        const lean = changed(rdsInstance(), (i) => {
            i.multiAz = false;
            i.deletionProtection = false;
            i.backupRetentionPeriod = 1;
        });
        assert.deepEqual(
            await violationsOf(rdsResilience, rds(lean), { minBackupRetentionDays: 1, requireMultiAz: false, requireDeletionProtection: false }),
            [],
        );
    });
});

// ---------------------------------------------------------------------------------------------
// Ingress

const mlflowIngress = () => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: "mlflow", namespace: "mlflow", annotations: { "cert-manager.io/cluster-issuer": "letsencrypt" } },
    spec: {
        ingressClassName: "nginx",
        tls: [{ hosts: ["mlflow.ml.example.com"], secretName: "mlflow-tls" }],
        rules: [
            {
                host: "mlflow.ml.example.com",
                http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "mlflow", port: { number: 80 } } } }] },
            },
        ],
    },
});
const ingress = (props: object = mlflowIngress()) => ({ type: T.ingress, name: "mlflow-ingress", props });

describe("ingress-tls", () => {
    it("passes an Ingress whose every host has a TLS entry", async () => {
        assert.deepEqual(await violationsOf(ingressTls, ingress()), []);
    });

    it("reports an Ingress without TLS", async () => {
        assert.deepEqual(await violationsOf(ingressTls, ingress(changed(mlflowIngress(), (i) => delete i.spec.tls))), [
            "has no spec.tls: every host must be served over TLS (mlflow.ml.example.com)",
        ]);
    });

    it("reports a host that no TLS entry covers", async () => {
        const props = changed(mlflowIngress(), (i) => i.spec.rules.push({ host: "mlflow-api.ml.example.com", http: i.spec.rules[0].http }));
        assert.deepEqual(await violationsOf(ingressTls, ingress(props)), [
            'host "mlflow-api.ml.example.com" (spec.rules[1]) is not covered by any spec.tls entry (TLS hosts: mlflow.ml.example.com)',
        ]);
    });

    it("accepts a wildcard TLS host for a host one level below it, and only that", async () => {
        const wildcard = (host: string) =>
            changed(mlflowIngress(), (i) => {
                i.spec.tls[0].hosts = ["*.ml.example.com"];
                i.spec.rules[0].host = host;
            });
        assert.deepEqual(await violationsOf(ingressTls, ingress(wildcard("mlflow.ml.example.com"))), []);
        assert.deepEqual(await violationsOf(ingressTls, ingress(wildcard("a.mlflow.ml.example.com"))), [
            'host "a.mlflow.ml.example.com" (spec.rules[0]) is not covered by any spec.tls entry (TLS hosts: *.ml.example.com)',
        ]);
    });

    it("reports a rule without a host unless a TLS entry without hosts (the default certificate) covers it", async () => {
        const hostless = changed(mlflowIngress(), (i) => delete i.spec.rules[0].host);
        assert.deepEqual(await violationsOf(ingressTls, ingress(hostless)), [
            "spec.rules[0] has no host, and no spec.tls entry without hosts (the default certificate) covers it",
        ]);
        assert.deepEqual(await violationsOf(ingressTls, ingress(changed(hostless, (i) => i.spec.tls.push({ secretName: "default-tls" })))), []);
    });

    it("reports an Ingress that keeps plain HTTP open", async () => {
        const props = changed(mlflowIngress(), (i) => (i.metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "false"));
        assert.deepEqual(await violationsOf(ingressTls, ingress(props)), [
            'annotation "nginx.ingress.kubernetes.io/ssl-redirect" is "false", which keeps plain HTTP open',
        ]);
    });

    it("passes TLS hosts that are unknown during preview (they may cover any host), but reports an unknown tls list", async () => {
        assert.deepEqual(await violationsOf(ingressTls, ingress(changed(mlflowIngress(), (i) => (i.spec.tls[0].hosts = UNKNOWN)))), []);
        assert.deepEqual(await violationsOf(ingressTls, ingress(changed(mlflowIngress(), (i) => (i.spec.tls = UNKNOWN)))), [
            "spec.tls or spec.rules is unknown during preview, so TLS coverage cannot be verified",
        ]);
    });
});

// ---------------------------------------------------------------------------------------------
// Pods

const server = (d: any) => d.spec.template.spec.containers[0];
const model = (props: object = modelDeployment()) => ({ type: T.deployment, name: "fraud-detector-deployment", props });

describe("pod-security-restricted", () => {
    const config: PodSecurityConfig = { writableRootFilesystemContainers: [] };
    const check = (props: object, c: PodSecurityConfig = config) => violationsOf(podSecurityRestricted, model(props), c);

    it("passes the model server's restricted pod", async () => {
        assert.deepEqual(await check(modelDeployment()), []);
    });

    it("accepts runAsNonRoot and seccomp set on the pod only", async () => {
        const props = changed(modelDeployment(), (d) => {
            delete server(d).securityContext.runAsNonRoot;
            delete server(d).securityContext.seccompProfile;
        });
        assert.deepEqual(await check(props), []);
    });

    it("reports a container that may run as root", async () => {
        const props = changed(modelDeployment(), (d) => {
            delete server(d).securityContext.runAsNonRoot;
            delete d.spec.template.spec.securityContext.runAsNonRoot;
        });
        assert.deepEqual(await check(props), ['container "model-server": securityContext.runAsNonRoot (container or pod) must be true, got nothing']);
    });

    it("reports a container that runs as uid 0", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => (server(d).securityContext.runAsUser = 0))), [
            'container "model-server": securityContext.runAsUser (container or pod) must not be 0 (root), got 0',
        ]);
    });

    it("reports privilege escalation", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => delete server(d).securityContext.allowPrivilegeEscalation)), [
            'container "model-server": securityContext.allowPrivilegeEscalation must be false, got nothing',
        ]);
    });

    it("reports a privileged container", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => (server(d).securityContext.privileged = true))), [
            'container "model-server": securityContext.privileged must not be true, got true',
        ]);
    });

    it("reports capabilities not all dropped, and added ones", async () => {
        const props = changed(modelDeployment(), (d) => (server(d).securityContext.capabilities = { drop: ["NET_RAW"], add: ["SYS_ADMIN"] }));
        assert.deepEqual(await check(props), [
            'container "model-server": securityContext.capabilities.drop must include "ALL", got ["NET_RAW"]',
            'container "model-server": securityContext.capabilities.add may only hold "NET_BIND_SERVICE", got ["SYS_ADMIN"]',
        ]);
    });

    it("reports a missing seccomp profile, and an Unconfined one", async () => {
        const missing = changed(modelDeployment(), (d) => {
            delete server(d).securityContext.seccompProfile;
            delete d.spec.template.spec.securityContext.seccompProfile;
        });
        assert.deepEqual(await check(missing), [
            'container "model-server": securityContext.seccompProfile.type (container or pod) must be "RuntimeDefault" or "Localhost", got nothing',
        ]);
        const unconfined = changed(modelDeployment(), (d) => (server(d).securityContext.seccompProfile = { type: "Unconfined" }));
        assert.deepEqual(await check(unconfined), [
            'container "model-server": securityContext.seccompProfile.type (container or pod) must be "RuntimeDefault" or "Localhost", got "Unconfined"',
        ]);
    });

    it("reports a writable root filesystem unless the container is in the config's allowlist", async () => {
        const props = changed(modelDeployment(), (d) => (server(d).securityContext.readOnlyRootFilesystem = false));
        assert.deepEqual(await check(props), [
            'container "model-server": securityContext.readOnlyRootFilesystem must be true (or list "model-server" in writableRootFilesystemContainers), got false',
        ]);
        assert.deepEqual(await check(props, { writableRootFilesystemContainers: ["model-server"] }), []);
    });

    it("checks init containers and the pod's host namespaces and volumes", async () => {
        const props = changed(modelDeployment(), (d) => {
            const pod = d.spec.template.spec;
            pod.hostNetwork = true;
            pod.volumes.push({ name: "docker", hostPath: { path: "/var/run/docker.sock" } });
            pod.initContainers = [{ name: "fetch", image: "busybox:1.36", securityContext: { ...server(d).securityContext, allowPrivilegeEscalation: true } }];
        });
        assert.deepEqual(await check(props), [
            "pod: spec.hostNetwork must not be true, got true",
            'pod: volume "docker" mounts a hostPath',
            'init container "fetch": securityContext.allowPrivilegeEscalation must be false, got true',
        ]);
    });

    it("reports security settings that are unknown during preview (they are always written literally)", async () => {
        assert.deepEqual(await check(changed(modelDeployment(), (d) => (server(d).securityContext = UNKNOWN))), [
            'container "model-server": securityContext.runAsNonRoot (container or pod) is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.runAsUser (container or pod) is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.seccompProfile.type (container or pod) is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.allowPrivilegeEscalation is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.privileged is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.capabilities.drop is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.capabilities.add is unknown during preview, so it cannot be verified',
            'container "model-server": securityContext.readOnlyRootFilesystem is unknown during preview, so it cannot be verified',
        ]);
    });
});

describe("no-plaintext-secrets", () => {
    const config: PlaintextSecretsConfig = { secretEnvNamePatterns: ["PASSWORD", "SECRET", "TOKEN", "API_KEY"] };
    const check = (props: object, c: PlaintextSecretsConfig = config) => violationsOf(noPlaintextSecrets, model(props), c);
    const withEnv = (...env: object[]) => changed(modelDeployment(), (d) => server(d).env.push(...env));

    it("passes secrets taken from Secrets and plain settings", async () => {
        assert.deepEqual(await check(modelDeployment()), []);
    });

    it("reports a literal value for an env var named like a secret", async () => {
        assert.deepEqual(await check(withEnv({ name: "DB_PASSWORD", value: "hunter2" })), [
            'container "model-server": env "DB_PASSWORD" has a literal value; take it from a Secret (valueFrom.secretKeyRef)',
        ]);
    });

    it("reports such a value even when it is unknown during preview: it is a literal all the same", async () => {
        assert.deepEqual(await check(withEnv({ name: "MLFLOW_TRACKING_TOKEN", value: UNKNOWN })), [
            'container "model-server": env "MLFLOW_TRACKING_TOKEN" has a literal value; take it from a Secret (valueFrom.secretKeyRef)',
        ]);
    });

    it("accepts the location of a mounted Secret (the _FILE convention of the official images)", async () => {
        assert.deepEqual(await check(withEnv({ name: "POSTGRES_PASSWORD_FILE", value: "/run/secrets/postgres/password" })), []);
    });

    it("accepts a $(VAR) reference to a Secret-backed variable", async () => {
        assert.deepEqual(await check(withEnv({ name: "PGPASSWORD", value: "$(MLFLOW_TRACKING_PASSWORD)" })), []);
    });

    it("takes the secret name patterns from the config", async () => {
        assert.deepEqual(await check(withEnv({ name: "HF_CREDENTIALS", value: "abc" }), { secretEnvNamePatterns: ["credential"] }), [
            'container "model-server": env "HF_CREDENTIALS" has a literal value; take it from a Secret (valueFrom.secretKeyRef)',
        ]);
    });

    it("reports static AWS credentials by name and by the shape of an access key id", async () => {
        assert.deepEqual(await check(withEnv({ name: "AWS_ACCESS_KEY_ID", value: "AKIAIOSFODNN7EXAMPLE" })), [
            'container "model-server": env "AWS_ACCESS_KEY_ID" holds a static AWS credential; use IRSA (a service account role) instead',
        ]);
        const inArgs = changed(modelDeployment(), (d) => server(d).args.push("--s3-key=AKIAIOSFODNN7EXAMPLE"));
        assert.deepEqual(await check(inArgs), [
            'container "model-server": args[10] holds a static AWS access key id ("AKIA…"); use IRSA (a service account role) instead',
        ]);
    });

    it("reports a password embedded in a URI, in env values and in args", async () => {
        assert.deepEqual(await check(withEnv({ name: "BACKEND_STORE_URI", value: "postgresql://mlflow:s3cr3t@db.example.com:5432/mlflow" })), [
            'container "model-server": env "BACKEND_STORE_URI" holds a password in a URI ("postgresql://mlflow:****@…"); pass it in a Secret-backed env var and refer to it as $(VAR)',
        ]);
        const inArgs = changed(modelDeployment(), (d) => server(d).args.push("--backend-store-uri", "postgresql://mlflow:s3cr3t@db:5432/mlflow"));
        assert.deepEqual(await check(inArgs), [
            'container "model-server": args[11] holds a password in a URI ("postgresql://mlflow:****@…"); pass it in a Secret-backed env var and refer to it as $(VAR)',
        ]);
    });

    it("accepts a URI whose password is a $(VAR) expansion", async () => {
        const props = changed(modelDeployment(), (d) => server(d).args.push("--backend-store-uri", "postgresql://mlflow:$(DB_PASSWORD)@db:5432/mlflow"));
        assert.deepEqual(await check(props), []);
    });
});

describe("images-pinned", () => {
    const check = (image: unknown) => violationsOf(imagesPinned, model(changed(modelDeployment(), (d) => (server(d).image = image))));

    it("passes a version tag and a digest", async () => {
        assert.deepEqual(await check("ghcr.io/mlflow/mlflow:v3.17.2-full"), []);
        assert.deepEqual(await check(`ghcr.io/mlflow/mlflow@sha256:${"a".repeat(64)}`), []);
    });

    it("reports latest", async () => {
        assert.deepEqual(await check("ghcr.io/mlflow/mlflow:latest"), [
            'container "model-server": image "ghcr.io/mlflow/mlflow:latest" is tagged "latest"; pin a version tag or a digest',
        ]);
    });

    it("reports an image without a tag, a registry port not being a tag", async () => {
        assert.deepEqual(await check("registry.internal:5000/models/fraud"), [
            'container "model-server": image "registry.internal:5000/models/fraud" has no tag, which means latest; pin a version tag or a digest',
        ]);
    });

    const DIGEST = `sha256:${"b".repeat(64)}`;
    const withDigest = (image: unknown) =>
        violationsOf(imagesPinned, model(changed(modelDeployment(), (d) => (server(d).image = image))), { requireDigest: true } satisfies ImagesPinnedConfig);

    it("with requireDigest, passes a digest and reports a tag alone", async () => {
        assert.deepEqual(await withDigest(`ghcr.io/mlflow/mlflow:v3.17.2-full@${DIGEST}`), []);
        assert.deepEqual(await withDigest("ghcr.io/mlflow/mlflow:v3.17.2-full"), [
            'container "model-server": image "ghcr.io/mlflow/mlflow:v3.17.2-full" is not pinned by digest (requireDigest): name it as <repository>:<tag>@sha256:<digest>',
        ]);
    });

    const release = (values: object) => ({ type: "kubernetes:helm.sh/v3:Release", name: "argocd", props: { chart: "argo-cd", values } });

    it("checks the image values the program sets on a chart: latest always, a tag alone with requireDigest", async () => {
        const values = {
            global: { image: { repository: "quay.io/argoproj/argocd", tag: "v3.4.4" } },
            prometheus: { image: "docker.io/prom/prometheus:latest" },
        };
        assert.deepEqual(await violationsOf(imagesPinned, release(values)), [
            'chart value prometheus.image: image "docker.io/prom/prometheus:latest" is tagged "latest"; pin a version tag or a digest',
        ]);
        assert.deepEqual(await violationsOf(imagesPinned, release(values), { requireDigest: true }), [
            'chart value global.image: image "quay.io/argoproj/argocd:v3.4.4" is not pinned by digest (requireDigest): name it as <repository>:<tag>@sha256:<digest>',
            'chart value prometheus.image: image "docker.io/prom/prometheus:latest" is tagged "latest"; pin a version tag or a digest',
        ]);
        const pinned = {
            global: { image: { repository: "quay.io/argoproj/argocd", tag: `v3.4.4@${DIGEST}` } },
            webhook: { image: { repository: "quay.io/jetstack/cert-manager-webhook", tag: "v1.19.6", digest: DIGEST } },
        };
        assert.deepEqual(await violationsOf(imagesPinned, release(pinned), { requireDigest: true }), []);
    });

    it("with requireDigest, reports a chart image left to the chart's own tag", async () => {
        assert.deepEqual(await violationsOf(imagesPinned, release({ redis: { image: { repository: "redis" } } }), { requireDigest: true }), [
            "chart value redis.image: no tag or digest, so the chart's own tag is used; requireDigest wants <repository>:<tag>@sha256:<digest>",
        ]);
    });

    it("reports an image that is unknown during preview", async () => {
        assert.deepEqual(await check(UNKNOWN), ['container "model-server": image is unknown during preview, so its tag cannot be verified']);
    });
});
