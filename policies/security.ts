import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { configOf, type TypedConfigSchema } from "./policyConfig";
import { asList, asString, field, isRecord, isUnknown, plain, showValue, stringEntries, type Value } from "./values";
import { containersOf, K8S, type StackResource, validatePodTemplates } from "./workloads";

/**
 * Security policies: the artifact bucket and the database are encrypted and private, every
 * Ingress serves TLS, every pod meets the "restricted" Pod Security Standard, no secret sits in
 * plain env or args, and every image is pinned.
 */

// ---------------------------------------------------------------------------------------------
// S3: each bucket is configured by separate v7 resources that name it in their `bucket` input

export const S3 = {
    buckets: ["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"],
    encryption: [
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    ],
    versioning: ["aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"],
    publicAccessBlock: ["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"],
    policy: ["aws:s3/bucketPolicy:BucketPolicy"],
} as const;

/** A stack resource with the dependencies the engine recorded for each input (a `PolicyResource` is one). */
export interface LinkedResource extends StackResource {
    readonly propertyDependencies?: Readonly<Record<string, readonly { readonly urn: string }[]>>;
}

/**
 * The configuration resources of a bucket. In a real preview the bucket's name is unknown, so the
 * link is the engine's record that the resource's `bucket` input came from the bucket; a known,
 * equal name (an imported or explicitly named bucket) links as well.
 */
export function bucketConfigurations<R extends LinkedResource>(bucket: R, resources: readonly R[], types: readonly string[]): R[] {
    const bucketProps = plain(bucket.props);
    const names = [field(bucketProps, "bucket"), field(bucketProps, "id")].filter((n): n is string => typeof n === "string" && n !== "");
    return resources.filter((r) => {
        if (!types.includes(r.type)) return false;
        if ((r.propertyDependencies?.["bucket"] ?? []).some((d) => d.urn === bucket.urn)) return true;
        const name = field(plain(r.props), "bucket");
        return typeof name === "string" && names.includes(name);
    });
}

type BucketCheck = (configuration: Value, report: (problem: string) => void) => void;

function bucketPolicy(name: string, description: string, types: readonly string[], what: string, check: BucketCheck): StackValidationPolicy {
    return {
        name,
        description,
        validateStack: (args, report) => {
            for (const bucket of args.resources.filter((r) => (S3.buckets as readonly string[]).includes(r.type))) {
                const display = `S3 bucket "${bucket.name}"`;
                const configurations = bucketConfigurations(bucket, args.resources, types);
                if (configurations.length === 0) report(`${display} has no ${what}`, bucket.urn);
                for (const configuration of configurations) check(plain(configuration.props), (problem) => report(`${display}: ${problem}`, configuration.urn));
            }
        },
    };
}

const KMS_ALGORITHMS = ["aws:kms", "aws:kms:dsse"];

export const s3BucketKmsEncryption = bucketPolicy(
    "s3-bucket-kms-encryption",
    "Every S3 bucket encrypts objects with SSE-KMS and an S3 Bucket Key.",
    S3.encryption,
    "BucketServerSideEncryptionConfiguration (SSE-KMS)",
    (configuration, report) => {
        const rules = field(configuration, "rules");
        if (isUnknown(rules)) return report("the encryption rules are unknown during preview, so they cannot be verified");
        const list = asList(rules) ?? [];
        if (list.length === 0) return report("the encryption configuration has no rules");
        list.forEach((rule, i) => {
            // The algorithm is always written literally; an unknown one is not known to be KMS.
            const algorithm = field(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm");
            if (isUnknown(algorithm)) report(`rules[${i}].applyServerSideEncryptionByDefault.sseAlgorithm is unknown during preview, so it cannot be verified`);
            else if (typeof algorithm !== "string" || !KMS_ALGORITHMS.includes(algorithm)) {
                report(`rules[${i}].applyServerSideEncryptionByDefault.sseAlgorithm must be "aws:kms" (or "aws:kms:dsse"), got ${showValue(algorithm)}`);
            }
            const bucketKey = field(rule, "bucketKeyEnabled");
            if (bucketKey !== true)
                report(`rules[${i}].bucketKeyEnabled must be true (an S3 Bucket Key spares a KMS call per object), got ${showValue(bucketKey)}`);
        });
    },
);

export const s3BucketVersioning = bucketPolicy(
    "s3-bucket-versioning",
    "Every S3 bucket keeps object versions.",
    S3.versioning,
    "BucketVersioning",
    (configuration, report) => {
        // Written literally by the artifact store: an unknown status is reported.
        const status = field(configuration, "versioningConfiguration", "status");
        if (isUnknown(status)) report("versioningConfiguration.status is unknown during preview, so it cannot be verified");
        else if (status !== "Enabled") report(`versioningConfiguration.status must be "Enabled", got ${showValue(status)}`);
    },
);

const PUBLIC_ACCESS_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];

export const s3BucketPublicAccessBlock = bucketPolicy(
    "s3-bucket-public-access-block",
    "Every S3 bucket blocks public access with all four settings.",
    S3.publicAccessBlock,
    "BucketPublicAccessBlock",
    (configuration, report) => {
        // Written literally by the artifact store: an unknown flag is reported.
        for (const flag of PUBLIC_ACCESS_FLAGS) {
            const value = field(configuration, flag);
            if (isUnknown(value)) report(`${flag} is unknown during preview, so it cannot be verified`);
            else if (value !== true) report(`${flag} must be true, got ${showValue(value)}`);
        }
    },
);

/** Whether an IAM policy document denies every S3 action to everyone over plain HTTP. */
export function deniesInsecureTransport(document: Value): boolean {
    const statements = field(document, "Statement");
    const list: readonly Value[] = Array.isArray(statements) ? (statements as readonly Value[]) : statements === undefined ? [] : [statements];
    const includes = (value: Value | undefined, wanted: readonly string[]) =>
        (Array.isArray(value) ? (value as readonly Value[]) : [value]).some((v) => typeof v === "string" && wanted.includes(v));
    return list.some((statement) => {
        const principal = field(statement, "Principal");
        const everyone = principal === "*" || includes(field(principal, "AWS"), ["*"]);
        const secureTransport = field(statement, "Condition", "Bool", "aws:SecureTransport");
        const overHttp = includes(secureTransport, ["false"]) || secureTransport === false;
        return field(statement, "Effect") === "Deny" && everyone && includes(field(statement, "Action"), ["s3:*", "*"]) && overHttp;
    });
}

export const s3BucketTlsOnly = bucketPolicy(
    "s3-bucket-tls-only",
    "Every S3 bucket's policy denies requests that do not use TLS.",
    S3.policy,
    "BucketPolicy (a TLS-only bucket policy denies aws:SecureTransport false)",
    (configuration, report) => {
        const policy = field(configuration, "policy");
        // The document names the bucket's ARN, which a preview cannot know for a new bucket: it is
        // checked whenever it is known (every `pulumi up`, every preview of an existing bucket).
        if (isUnknown(policy)) return;
        let document: Value | undefined = policy;
        if (typeof policy === "string") {
            try {
                document = plain(JSON.parse(policy));
            } catch {
                return report(`the bucket policy is not valid JSON, got ${showValue(policy)}`);
            }
        }
        if (!deniesInsecureTransport(document ?? null)) {
            report('the bucket policy does not deny requests without TLS (expected a Deny of "s3:*" to principal "*" when "aws:SecureTransport" is "false")');
        }
    },
);

// ---------------------------------------------------------------------------------------------
// RDS

const RDS_INSTANCE = "aws:rds/instance:Instance";

/** Reports a field that must hold `wanted`; an unknown value is reported too: these are always written literally. */
function expectValue(
    report: (message: string) => void,
    path: string,
    value: Value | undefined,
    ok: (v: Value | undefined) => boolean,
    requirement: string,
): void {
    if (isUnknown(value)) report(`${path} is unknown during preview, so it cannot be verified`);
    else if (!ok(value)) report(`${path} ${requirement}, got ${showValue(value)}`);
}

export const rdsEncryptedPrivate: ResourceValidationPolicy = {
    name: "rds-encrypted-private",
    description: "Every RDS instance encrypts its storage and is not publicly accessible.",
    validateResource: (args, report) => {
        if (args.type !== RDS_INSTANCE) return;
        const props = plain(args.props);
        expectValue(report, "storageEncrypted", field(props, "storageEncrypted"), (v) => v === true, "must be true");
        expectValue(report, "publiclyAccessible", field(props, "publiclyAccessible"), (v) => v === undefined || v === false, "must be false");
    },
};

export interface RdsResilienceConfig {
    /** Fewest days of automated backups. @default 7 */
    readonly minBackupRetentionDays: number;
    /** Whether a standby in another availability zone is required. @default true */
    readonly requireMultiAz: boolean;
    /** Whether deletion protection is required. @default true */
    readonly requireDeletionProtection: boolean;
}

const rdsResilienceSchema: TypedConfigSchema<RdsResilienceConfig> = {
    properties: {
        minBackupRetentionDays: { type: "integer", minimum: 0, maximum: 35, default: 7, description: "Fewest days of automated backups." },
        requireMultiAz: { type: "boolean", default: true, description: "Whether a standby in another availability zone is required." },
        requireDeletionProtection: { type: "boolean", default: true, description: "Whether deletion protection is required." },
    },
};

export const rdsResilience: ResourceValidationPolicy = {
    name: "rds-resilience",
    description: "RDS instances survive mistakes and outages: deletion protection, enough automated backups, Multi-AZ.",
    configSchema: rdsResilienceSchema,
    validateResource: (args, report) => {
        if (args.type !== RDS_INSTANCE) return;
        const config = configOf(args, rdsResilienceSchema);
        const props = plain(args.props);
        if (config.requireDeletionProtection) expectValue(report, "deletionProtection", field(props, "deletionProtection"), (v) => v === true, "must be true");
        const min = config.minBackupRetentionDays;
        expectValue(
            report,
            "backupRetentionPeriod",
            field(props, "backupRetentionPeriod"),
            (v) => typeof v === "number" && v >= min,
            `must be at least ${min} days`,
        );
        if (config.requireMultiAz) expectValue(report, "multiAz", field(props, "multiAz"), (v) => v === true, "must be true");
    },
};

// ---------------------------------------------------------------------------------------------
// Ingress TLS

/** Whether a TLS host (possibly `*.example.com`) covers a rule's host. */
export function tlsHostCovers(tlsHost: string, host: string): boolean {
    if (tlsHost === host) return true;
    if (!tlsHost.startsWith("*.")) return false;
    const dot = host.indexOf(".");
    return dot > 0 && host.slice(dot + 1) === tlsHost.slice(2);
}

const SSL_REDIRECT = "nginx.ingress.kubernetes.io/ssl-redirect";

export const ingressTls: ResourceValidationPolicy = {
    name: "ingress-tls",
    description: "Every Ingress serves every host of every rule over TLS.",
    validateResource: (args, report) => {
        if (args.type !== K8S.ingress) return;
        const props = plain(args.props);
        const tls = field(props, "spec", "tls");
        const rules = field(props, "spec", "rules");
        if (isUnknown(tls) || isUnknown(rules)) return report("spec.tls or spec.rules is unknown during preview, so TLS coverage cannot be verified");
        const entries = asList(tls) ?? [];
        const hostsOf = (rule: Value) => field(rule, "host");
        const ruleList = asList(rules) ?? [];
        if (entries.length === 0) {
            const hosts = ruleList.map(hostsOf).filter((h): h is string => typeof h === "string");
            return report(`has no spec.tls: every host must be served over TLS${hosts.length > 0 ? ` (${hosts.join(", ")})` : ""}`);
        }
        const tlsHosts = entries.map((entry) => field(entry, "hosts"));
        // A TLS entry whose hosts a preview cannot know may cover any host: only known gaps are reported.
        const anyUnknown = tlsHosts.some((hosts) => isUnknown(hosts) || (asList(hosts) ?? []).some(isUnknown));
        const known = tlsHosts.flatMap((hosts) => (asList(hosts) ?? []).filter((h): h is string => typeof h === "string"));
        const defaultCertificate = tlsHosts.some((hosts) => hosts === undefined || (asList(hosts) ?? []).length === 0);
        ruleList.forEach((rule, i) => {
            const host = hostsOf(rule);
            if (isUnknown(host) || anyUnknown) return;
            if (typeof host !== "string" || host === "") {
                if (!defaultCertificate) report(`spec.rules[${i}] has no host, and no spec.tls entry without hosts (the default certificate) covers it`);
            } else if (!known.some((tlsHost) => tlsHostCovers(tlsHost, host))) {
                report(`host "${host}" (spec.rules[${i}]) is not covered by any spec.tls entry (TLS hosts: ${known.join(", ") || "none"})`);
            }
        });
        if (stringEntries(field(props, "metadata", "annotations"))[SSL_REDIRECT] === "false") {
            report(`annotation "${SSL_REDIRECT}" is "false", which keeps plain HTTP open`);
        }
    },
};

// ---------------------------------------------------------------------------------------------
// Pods: the "restricted" Pod Security Standard

export interface PodSecurityConfig {
    /** Containers (by name) whose image must write to its root filesystem. @default [] */
    readonly writableRootFilesystemContainers: readonly string[];
}

const podSecuritySchema: TypedConfigSchema<PodSecurityConfig> = {
    properties: {
        writableRootFilesystemContainers: {
            type: "array",
            items: { type: "string", minLength: 1 },
            uniqueItems: true,
            default: [],
            description: "Containers (by name) whose image must write to its root filesystem.",
        },
    },
};

const SECCOMP_TYPES = ["RuntimeDefault", "Localhost"];

export const podSecurityRestricted: ResourceValidationPolicy = {
    name: "pod-security-restricted",
    description:
        'Every pod meets the "restricted" Pod Security Standard: non-root, no privilege escalation, all capabilities dropped, seccomp, read-only root filesystem.',
    configSchema: podSecuritySchema,
    validateResource: validatePodTemplates((template, _object, args, report) => {
        const config = configOf(args, podSecuritySchema);
        const pod = template.spec;
        // Security settings are always written literally: an unknown one is reported, never assumed safe.
        if (isUnknown(pod)) return report("the pod spec is unknown during preview, so its security settings cannot be verified");
        for (const hostNamespace of ["hostNetwork", "hostPID", "hostIPC"]) {
            expectValue(report, `pod: spec.${hostNamespace}`, field(pod, hostNamespace), (v) => v !== true, "must not be true");
        }
        for (const volume of asList(field(pod, "volumes")) ?? []) {
            if (field(volume, "hostPath") !== undefined) report(`pod: volume ${showValue(field(volume, "name"))} mounts a hostPath`);
        }
        const containers = containersOf(pod);
        if (isUnknown(containers)) return report("the pod's containers are unknown during preview, so their security settings cannot be verified");
        const podContext = field(pod, "securityContext");
        for (const container of containers) {
            const context = field(container.spec, "securityContext");
            const at = (path: string) => `${container.label}: securityContext.${path}`;
            const either = (...path: string[]) => {
                const own = field(context, ...path);
                return own === undefined ? field(podContext, ...path) : own;
            };
            expectValue(report, `${at("runAsNonRoot")} (container or pod)`, either("runAsNonRoot"), (v) => v === true, "must be true");
            expectValue(report, `${at("runAsUser")} (container or pod)`, either("runAsUser"), (v) => v !== 0, "must not be 0 (root)");
            expectValue(
                report,
                `${at("seccompProfile.type")} (container or pod)`,
                either("seccompProfile", "type"),
                (v) => typeof v === "string" && SECCOMP_TYPES.includes(v),
                'must be "RuntimeDefault" or "Localhost"',
            );
            expectValue(report, at("allowPrivilegeEscalation"), field(context, "allowPrivilegeEscalation"), (v) => v === false, "must be false");
            expectValue(report, at("privileged"), field(context, "privileged"), (v) => v !== true, "must not be true");
            const drop = field(context, "capabilities", "drop");
            expectValue(report, at("capabilities.drop"), drop, (v) => (asList(v) ?? []).includes("ALL"), 'must include "ALL"');
            const add = field(context, "capabilities", "add");
            expectValue(
                report,
                at("capabilities.add"),
                add,
                (v) => (asList(v) ?? []).every((c) => c === "NET_BIND_SERVICE"),
                'may only hold "NET_BIND_SERVICE"',
            );
            if (container.name === undefined || !config.writableRootFilesystemContainers.includes(container.name)) {
                const requirement = `must be true${container.name === undefined ? "" : ` (or list "${container.name}" in writableRootFilesystemContainers)`}`;
                expectValue(report, at("readOnlyRootFilesystem"), field(context, "readOnlyRootFilesystem"), (v) => v === true, requirement);
            }
        }
    }),
};

// ---------------------------------------------------------------------------------------------
// Secrets in plain env and args

export interface PlaintextSecretsConfig {
    /** Parts of env var names (case-insensitive) that mark a secret, which must come from a Secret, never a literal value. @default ["PASSWORD", "SECRET", "TOKEN", "API_KEY"] */
    readonly secretEnvNamePatterns: readonly string[];
}

const plaintextSecretsSchema: TypedConfigSchema<PlaintextSecretsConfig> = {
    properties: {
        secretEnvNamePatterns: {
            type: "array",
            items: { type: "string", minLength: 1 },
            default: ["PASSWORD", "SECRET", "TOKEN", "API_KEY"],
            description: "Parts of env var names (case-insensitive) that mark a secret.",
        },
    },
};

const AWS_KEY_ENV = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];
/** `POSTGRES_PASSWORD_FILE` and the like hold where a mounted Secret is, not the secret (the images' `_FILE` convention). */
const LOCATION_SUFFIXES = ["_FILE", "_PATH", "_DIR"];
const AWS_ACCESS_KEY_ID = /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/;
const URI_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:([^\s/@]+)@/gi;
/** `$(VAR)` (Kubernetes), `${VAR}` and `$VAR` (a shell) expand a Secret-backed env var at run time. */
const ONLY_REFERENCES = /^(?:\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*)+$/;

/** The secret a literal string gives away, described for a message, if any. */
export function secretInText(text: string): string | undefined {
    const key = AWS_ACCESS_KEY_ID.exec(text);
    if (key !== null) return `a static AWS access key id ("${key[0].slice(0, 4)}…"); use IRSA (a service account role) instead`;
    for (const match of text.matchAll(URI_PASSWORD)) {
        const password = match[1] ?? "";
        if (!ONLY_REFERENCES.test(password)) {
            return `a password in a URI ("${match[0].slice(0, match[0].length - password.length - 1)}****@…"); pass it in a Secret-backed env var and refer to it as $(VAR)`;
        }
    }
    return undefined;
}

export const noPlaintextSecrets: ResourceValidationPolicy = {
    name: "no-plaintext-secrets",
    description:
        "No secret value sits in a container's plain env values, command or args: no static AWS keys, no passwords in URIs, no literal values for secret-named env vars.",
    configSchema: plaintextSecretsSchema,
    validateResource: validatePodTemplates((template, _object, args, report) => {
        const patterns = configOf(args, plaintextSecretsSchema).secretEnvNamePatterns.map((p) => p.toUpperCase());
        const containers = containersOf(template.spec);
        // Lists a preview cannot know cannot be scanned; a known secret-named variable with a value
        // computed from another resource is still a literal value, and is reported.
        if (isUnknown(containers)) return;
        for (const container of containers) {
            for (const variable of asList(field(container.spec, "env")) ?? []) {
                const name = asString(field(variable, "name")) ?? "";
                const value = field(variable, "value");
                if (value === undefined || value === null || value === "") continue;
                const where = `${container.label}: env "${name}"`;
                if (AWS_KEY_ENV.includes(name)) {
                    report(`${where} holds a static AWS credential; use IRSA (a service account role) instead`);
                } else if (
                    patterns.some((p) => name.toUpperCase().includes(p)) &&
                    !LOCATION_SUFFIXES.some((suffix) => name.toUpperCase().endsWith(suffix)) &&
                    !(typeof value === "string" && ONLY_REFERENCES.test(value))
                ) {
                    report(`${where} has a literal value; take it from a Secret (valueFrom.secretKeyRef)`);
                } else if (typeof value === "string") {
                    const secret = secretInText(value);
                    if (secret !== undefined) report(`${where} holds ${secret}`);
                }
            }
            for (const key of ["command", "args"]) {
                (asList(field(container.spec, key)) ?? []).forEach((item, i) => {
                    const secret = typeof item === "string" ? secretInText(item) : undefined;
                    if (secret !== undefined) report(`${container.label}: ${key}[${i}] holds ${secret}`);
                });
            }
        }
    }),
};

// ---------------------------------------------------------------------------------------------
// Pinned images

/** Why an image reference is not pinned, or `undefined` when it is (a digest, or a tag other than latest). */
export function unpinnedImage(image: string): string | undefined {
    if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    const colon = lastSegment.indexOf(":");
    if (colon < 0) return "has no tag, which means latest";
    const tag = lastSegment.slice(colon + 1);
    if (tag === "" || tag === "latest") return `is tagged "${tag}"`;
    return undefined;
}

export interface ImagesPinnedConfig {
    /**
     * Require every image to name its content (`@sha256:…`), in pod templates and in the image values
     * the program sets on charts. On for production once the stack's `images` carry digests.
     * @default false
     */
    readonly requireDigest: boolean;
}

const imagesPinnedSchema: TypedConfigSchema<ImagesPinnedConfig> = {
    properties: {
        requireDigest: {
            type: "boolean",
            default: false,
            description: "Require every image to be pinned by digest (@sha256:…), in pod templates and in chart image values.",
        },
    },
};

const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** Resources whose inputs carry chart values with image references: a Helm release, cert-manager's component. */
export const CHART_RESOURCE_TYPES: Readonly<Record<string, readonly string[]>> = {
    "kubernetes:helm.sh/v3:Release": ["values"],
    "kubernetes-cert-manager:index:CertManager": [],
};

/**
 * The image references a chart's values set, with where: `image: "<ref>"`, or an `image` object of
 * `repository` (after `registry`), `tag` and `digest`. An object without tag and digest leaves the
 * tag to the chart (its appVersion): `undefined` as the reference.
 */
export function chartImageValues(values: Value | undefined, path = ""): { readonly path: string; readonly image: string | undefined }[] {
    if (isUnknown(values) || values === undefined || values === null || typeof values !== "object") return [];
    if (Array.isArray(values)) return (values as readonly Value[]).flatMap((v, i) => chartImageValues(v, `${path}[${i}]`));
    const found: { path: string; image: string | undefined }[] = [];
    for (const [key, value] of Object.entries(values as Record<string, Value>)) {
        const at = path === "" ? key : `${path}.${key}`;
        if (key === "image" && typeof value === "string") found.push({ path: at, image: value });
        else if (key === "image" && isRecord(value) && typeof field(value, "repository") === "string") {
            const registry = asString(field(value, "registry"));
            const repository = `${registry === undefined || registry === "" ? "" : `${registry}/`}${asString(field(value, "repository"))}`;
            const tag = asString(field(value, "tag"));
            const digest = asString(field(value, "digest"));
            found.push({
                path: at,
                image: digest !== undefined && digest !== "" ? `${repository}${tag ? `:${tag}` : ""}@${digest}` : tag ? `${repository}:${tag}` : undefined,
            });
        } else found.push(...chartImageValues(value, at));
    }
    return found;
}

function imageProblem(image: string, requireDigest: boolean): string | undefined {
    const unpinned = unpinnedImage(image);
    if (unpinned !== undefined) return `${unpinned}; pin a version tag or a digest`;
    if (requireDigest && !DIGEST.test(image)) return "is not pinned by digest (requireDigest): name it as <repository>:<tag>@sha256:<digest>";
    return undefined;
}

const podImagesPinned = validatePodTemplates((template, _object, args, report) => {
    const { requireDigest } = configOf(args, imagesPinnedSchema);
    const containers = containersOf(template.spec);
    if (isUnknown(containers)) return report("the pod's containers are unknown during preview, so their images cannot be verified");
    for (const container of containers) {
        const image = field(container.spec, "image");
        // An image computed from another resource (a registry URL) is not known to be pinned.
        if (isUnknown(image)) report(`${container.label}: image is unknown during preview, so its tag cannot be verified`);
        else if (typeof image !== "string" || image === "") report(`${container.label} has no image`);
        else {
            const problem = imageProblem(image, requireDigest);
            if (problem !== undefined) report(`${container.label}: image "${image}" ${problem}`);
        }
    }
});

export const imagesPinned: ResourceValidationPolicy = {
    name: "images-pinned",
    description:
        "Every container image, and every image the program sets in chart values, is pinned to a version tag (not latest) or a digest; with requireDigest, to a digest.",
    configSchema: imagesPinnedSchema,
    validateResource: (args, report) => {
        const valuesPath = CHART_RESOURCE_TYPES[args.type];
        if (valuesPath === undefined) return podImagesPinned(args, report);
        const { requireDigest } = configOf(args, imagesPinnedSchema);
        const values = valuesPath.length === 0 ? plain(args.props) : field(plain(args.props), ...valuesPath);
        for (const { path, image } of chartImageValues(values)) {
            if (image === undefined) {
                if (requireDigest)
                    report(`chart value ${path}: no tag or digest, so the chart's own tag is used; requireDigest wants <repository>:<tag>@sha256:<digest>`);
                continue;
            }
            const problem = imageProblem(image, requireDigest);
            if (problem !== undefined) report(`chart value ${path}: image "${image}" ${problem}`);
        }
    },
};

export const securityPolicies = [
    s3BucketKmsEncryption,
    s3BucketVersioning,
    s3BucketPublicAccessBlock,
    s3BucketTlsOnly,
    rdsEncryptedPrivate,
    rdsResilience,
    ingressTls,
    podSecurityRestricted,
    noPlaintextSecrets,
    imagesPinned,
];
