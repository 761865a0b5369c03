import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";

/**
 * The cloud this program talks to, played offline: what AWS, Kubernetes and Helm would answer when
 * a resource is created, with realistic computed outputs (ARNs, endpoints, generated names).
 *
 * A resource type or function call without a model here is an error, not a silent echo: an answer
 * invented by accident would let a test pass that the real provider would fail.
 */
export interface MockCloud {
    readonly accountId: string;
    readonly region: string;
}

type State = Record<string, unknown>;
type ResourceModel = (name: string, inputs: State, cloud: MockCloud) => { id: string; state: State };

/** A short stable suffix, like the random suffix of a Pulumi auto-name, but the same on every run. */
function suffix(name: string, length = 7): string {
    return createHash("sha256").update(name).digest("hex").slice(0, length);
}

function autoName(name: string, inputs: State, key = "name"): string {
    const given = inputs[key];
    return typeof given === "string" && given.length > 0 ? given : `${name}-${suffix(name)}`;
}

/** Resources that only configure another one: AWS answers with an id and the inputs back. */
const echo: ResourceModel = (name, inputs) => ({ id: `${name}-${suffix(name)}`, state: { ...inputs } });

const AWS: Record<string, ResourceModel> = {
    "aws:s3/bucket:Bucket": (name, inputs, cloud) => {
        const bucket = autoName(name, inputs, "bucket");
        return {
            id: bucket,
            state: {
                ...inputs,
                bucket,
                arn: `arn:aws:s3:::${bucket}`,
                region: cloud.region,
                bucketDomainName: `${bucket}.s3.amazonaws.com`,
                bucketRegionalDomainName: `${bucket}.s3.${cloud.region}.amazonaws.com`,
            },
        };
    },
    "aws:s3/bucketVersioning:BucketVersioning": echo,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": echo,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": echo,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": echo,
    "aws:s3/bucketPolicy:BucketPolicy": echo,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": echo,
    "aws:kms/key:Key": (name, inputs, cloud) => {
        const keyId = uuidFrom(name);
        return { id: keyId, state: { ...inputs, keyId, arn: `arn:aws:kms:${cloud.region}:${cloud.accountId}:key/${keyId}` } };
    },
    "aws:kms/alias:Alias": (name, inputs, cloud) => {
        const alias = autoName(name, inputs);
        return { id: alias, state: { ...inputs, name: alias, arn: `arn:aws:kms:${cloud.region}:${cloud.accountId}:${alias}` } };
    },
    "aws:iam/role:Role": (name, inputs, cloud) => {
        const roleName = autoName(name, inputs);
        return {
            id: roleName,
            state: { ...inputs, name: roleName, arn: `arn:aws:iam::${cloud.accountId}:role/${roleName}`, uniqueId: `AROA${suffix(name, 17).toUpperCase()}` },
        };
    },
    "aws:iam/rolePolicy:RolePolicy": echo,
    "aws:iam/policy:Policy": (name, inputs, cloud) => {
        const policyName = autoName(name, inputs);
        return {
            id: `arn:aws:iam::${cloud.accountId}:policy/${policyName}`,
            state: { ...inputs, name: policyName, arn: `arn:aws:iam::${cloud.accountId}:policy/${policyName}` },
        };
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": echo,
    "aws:ec2/securityGroup:SecurityGroup": (name, inputs, cloud) => {
        const id = `sg-${suffix(name, 17)}`;
        return { id, state: { ...inputs, name: autoName(name, inputs), arn: `arn:aws:ec2:${cloud.region}:${cloud.accountId}:security-group/${id}` } };
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": echo,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": echo,
    "aws:rds/subnetGroup:SubnetGroup": (name, inputs, cloud) => {
        const groupName = autoName(name, inputs);
        return { id: groupName, state: { ...inputs, name: groupName, arn: `arn:aws:rds:${cloud.region}:${cloud.accountId}:subgrp:${groupName}` } };
    },
    "aws:rds/parameterGroup:ParameterGroup": (name, inputs, cloud) => {
        const groupName = autoName(name, inputs);
        return { id: groupName, state: { ...inputs, name: groupName, arn: `arn:aws:rds:${cloud.region}:${cloud.accountId}:pg:${groupName}` } };
    },
    "aws:rds/instance:Instance": (name, inputs, cloud) => {
        const identifier = autoName(name, inputs, "identifier");
        const address = `${identifier}.c9akciq32xyz.${cloud.region}.rds.amazonaws.com`;
        const port = typeof inputs["port"] === "number" ? inputs["port"] : 5432;
        const secretArn = `arn:aws:secretsmanager:${cloud.region}:${cloud.accountId}:secret:rds!db-${uuidFrom(identifier)}-${suffix(identifier, 6)}`;
        // An AWS-managed key (`aws/rds`, `aws/secretsmanager`): one per account and region.
        const awsManagedKeyArn = (alias: string) =>
            `arn:aws:kms:${cloud.region}:${cloud.accountId}:key/${uuidFrom(`${cloud.accountId}/${cloud.region}/${alias}`)}`;
        return {
            id: identifier,
            state: {
                ...inputs,
                identifier,
                address,
                port,
                endpoint: `${address}:${port}`,
                arn: `arn:aws:rds:${cloud.region}:${cloud.accountId}:db:${identifier}`,
                resourceId: `db-${suffix(identifier, 26).toUpperCase()}`,
                // RDS picks the default minor of a major-only version, and AWS-managed keys when none is named.
                engineVersionActual:
                    typeof inputs["engineVersion"] === "string" && /^\d+$/.test(inputs["engineVersion"])
                        ? `${inputs["engineVersion"]}.6`
                        : inputs["engineVersion"],
                ...(inputs["storageEncrypted"] === true && { kmsKeyId: inputs["kmsKeyId"] ?? awsManagedKeyArn("aws/rds") }),
                masterUserSecrets:
                    inputs["manageMasterUserPassword"] === true
                        ? [{ secretArn, kmsKeyId: inputs["masterUserSecretKmsKeyId"] ?? awsManagedKeyArn("aws/secretsmanager"), secretStatus: "active" }]
                        : [],
            },
        };
    },
    // Taking over the schedule of a secret that RDS manages: no Lambda, RDS rotates it.
    "aws:secretsmanager/secretRotation:SecretRotation": (name, inputs) => ({
        id: String(inputs["secretId"] ?? `${name}-${suffix(name)}`),
        state: { ...inputs, rotationEnabled: inputs["rotationEnabled"] ?? true },
    }),
};

/** Kubernetes, Helm and cert-manager objects: the API server stores what it is sent. */
function kubernetesModel(type: string): ResourceModel | undefined {
    if (type === "kubernetes:helm.sh/v3:Release") {
        return (name, inputs) => {
            const releaseName = autoName(name, inputs);
            return {
                id: `${String(inputs["namespace"] ?? "default")}/${releaseName}`,
                state: {
                    ...inputs,
                    name: releaseName,
                    status: {
                        name: releaseName,
                        namespace: inputs["namespace"] ?? "default",
                        chart: inputs["chart"],
                        version: inputs["version"],
                        status: "deployed",
                        revision: 1,
                    },
                },
            };
        };
    }
    if (type === "kubernetes-cert-manager:index:CertManager") {
        return (name, inputs) => ({ id: "", state: { ...inputs, status: { name, namespace: inputs["helmOptions"], status: "deployed" } } });
    }
    if (type.startsWith("kubernetes:")) {
        return (name, inputs) => {
            const metadata = (inputs["metadata"] ?? {}) as State;
            const namespace = metadata["namespace"];
            const objectName = String(metadata["name"] ?? name);
            return { id: typeof namespace === "string" ? `${namespace}/${objectName}` : objectName, state: { ...inputs } };
        };
    }
    return undefined;
}

const RANDOM: Record<string, ResourceModel> = {
    "random:index/randomPassword:RandomPassword": (name, inputs) => {
        const length = typeof inputs["length"] === "number" ? inputs["length"] : 16;
        const result = createHash("sha256").update(`password:${name}`).digest("base64url").replace(/[-_]/g, "x").slice(0, length);
        return { id: "none", state: { ...inputs, result, bcryptHash: `$2a$10$${suffix(name, 53)}` } };
    },
};

const CALLS: Record<string, (inputs: State, cloud: MockCloud) => State> = {
    "aws:secretsmanager/getSecretVersion:getSecretVersion": (inputs) => ({
        arn: inputs["secretId"],
        id: `${String(inputs["secretId"])}|AWSCURRENT`,
        secretId: inputs["secretId"],
        versionId: uuidFrom(String(inputs["secretId"])),
        versionStages: ["AWSCURRENT"],
        // The shape RDS writes for a managed master password.
        secretString: JSON.stringify({ username: "mlflow", password: createHash("sha256").update(String(inputs["secretId"])).digest("hex").slice(0, 32) }),
    }),
    "aws:index/getCallerIdentity:getCallerIdentity": (_inputs, cloud) => ({
        accountId: cloud.accountId,
        arn: `arn:aws:sts::${cloud.accountId}:assumed-role/ci/offline-preview`,
        userId: "AROAOFFLINEPREVIEW:offline-preview",
        id: cloud.accountId,
    }),
    "aws:index/getPartition:getPartition": () => ({ partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws", id: "aws" }),
    "aws:index/getRegion:getRegion": (_inputs, cloud) => ({
        name: cloud.region,
        region: cloud.region,
        id: cloud.region,
        endpoint: `ec2.${cloud.region}.amazonaws.com`,
    }),
};

export class UnmodelledError extends Error {}

export class PlatformMocks implements pulumi.runtime.Mocks {
    constructor(readonly cloud: MockCloud) {}

    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        if (args.type.startsWith("pulumi:providers:")) {
            return { id: `${args.name}-provider`, state: { ...args.inputs } };
        }
        const model = AWS[args.type] ?? RANDOM[args.type] ?? kubernetesModel(args.type);
        if (model === undefined && args.custom === false) {
            // A component (the stack itself, or one of ours): it has no cloud counterpart.
            return { id: undefined, state: {} };
        }
        if (model === undefined) {
            throw new UnmodelledError(
                `offline mocks: no model of what the cloud answers for a ${args.type} (resource "${args.name}"); add one to offline/mocks.ts`,
            );
        }
        return model(args.name, args.inputs as State, this.cloud);
    }

    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        const answer = CALLS[args.token];
        if (answer === undefined) {
            throw new UnmodelledError(`offline mocks: no model of the function ${args.token}; add one to offline/mocks.ts`);
        }
        return answer(args.inputs as State, this.cloud);
    }
}

function uuidFrom(seed: string): string {
    const h = createHash("sha256").update(seed).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
