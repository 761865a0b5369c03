import type { z } from "zod";
import type { MonitoringSettings } from "../components/modelServing/monitoring";
import { clusterProblems, resolveClusters, type TargetClusterConfig } from "./clusters";
import { ENVIRONMENT_DEFAULTS } from "./defaults";
import { ConfigError, type ConfigProblem, joinPath, showValue } from "./errors";
import { type Environment, type MeshProvider, type RawModelConfig, type RawStackConfig, stackSchema } from "./schema";

/** The Pulumi project name, and so the namespace of every key a user sets for this program. */
export const PROJECT = "mlops-platform";

/** Where the program's nodes, network and ingress come from: an existing cluster. */
export interface ClusterConfig {
    /** The IAM OIDC provider of IRSA; present whenever artifacts.mode is s3. */
    readonly oidcProviderArn?: string;
    readonly domain: string;
    /** @default - each component's own (DEFAULT_INGRESS_CLASS) */
    readonly ingressClass?: string;
    /** @default - each component's own (DEFAULT_INGRESS_CONTROLLER_NAMESPACE) */
    readonly ingressControllerNamespace?: string;
    /** The Gateway of model hosts (istio, gatewayapi). */
    readonly gateway?: { readonly name: string; readonly namespace: string };
    readonly kubeContext?: string;
    /** false: Pulumi does not wait for workloads to become ready (`pulumi.com/skipAwait`). */
    readonly awaitReadiness: boolean;
}

export type ArtifactsConfig =
    | {
          readonly mode: "s3";
          readonly retainOnDelete: boolean;
          readonly noncurrentVersionExpirationDays: number;
          readonly abortIncompleteUploadDays?: number;
      }
    | { readonly mode: "in-cluster"; readonly storageGb?: number; readonly storageClass?: string };

export interface RdsNetwork {
    readonly vpcId: string;
    readonly privateSubnetIds: readonly string[];
    readonly nodeSecurityGroupId: string;
}

export type PostgresConfig =
    | {
          readonly mode: "rds";
          readonly instanceClass: string;
          readonly allocatedStorageGb: number;
          readonly multiAz: boolean;
          readonly deletionProtection: boolean;
          readonly backupRetentionDays: number;
          readonly network: RdsNetwork;
      }
    | {
          readonly mode: "in-cluster";
          readonly allocatedStorageGb: number;
          readonly storageClass?: string;
      };

export type DeliveryConfig =
    { readonly mode: "direct" } | { readonly mode: "gitops"; readonly repoUrl: string; readonly targetRevision?: string; readonly path?: string };

export interface ModelConfig extends Omit<RawModelConfig, "replicas" | "monitoring"> {
    /** The model's key under `mlops-platform:models`; names every object of its serving stack. */
    readonly name: string;
    readonly replicas: { readonly min: number; readonly max: number };
    /** The environment's monitoring defaults with the model's keys over them. */
    readonly monitoring: MonitoringSettings;
}

/** A stack's configuration, validated, with the environment's defaults filled in. */
export interface PlatformConfig {
    readonly stack: string;
    readonly environment: Environment;
    /** Present whenever an AWS component is used (artifacts.mode s3, postgres.mode rds). */
    readonly awsRegion?: string;
    readonly cluster: ClusterConfig;
    readonly artifacts: ArtifactsConfig;
    readonly postgres: PostgresConfig;
    readonly mlflow: {
        readonly host: string;
        readonly replicas: number;
        readonly workers?: number;
        readonly resources: { readonly cpu: string; readonly memory: string };
        readonly basicAuth: boolean;
    };
    readonly certManager: {
        readonly enabled: boolean;
        readonly issuer: "letsencrypt" | "letsencrypt-staging" | "self-signed";
        readonly acmeEmail?: string;
    };
    readonly argocd: {
        readonly enabled: boolean;
        readonly host: string;
        readonly ha: boolean;
        readonly sso?: NonNullable<NonNullable<RawStackConfig["argocd"]>["sso"]>;
    };
    readonly flagger: {
        /** Install Flagger's charts (false: CRDs and MetricTemplates only). */
        readonly install: boolean;
        /** @default - the Flagger component's (FLAGGER_DEFAULTS.meshProvider) */
        readonly meshProvider?: MeshProvider;
        readonly metricsServer?: string;
        readonly alerts?: NonNullable<NonNullable<RawStackConfig["flagger"]>["alerts"]>;
    };
    /**
     * How the cluster's Prometheus finds model pods and rules, and where its pods run (`namespace`:
     * given, or read from an in-cluster `flagger.metricsServer`; undefined with Flagger's bundled one).
     */
    readonly prometheus: { readonly operator: boolean; readonly resourceLabels: Readonly<Record<string, string>>; readonly namespace?: string };
    /** Only the keys the stack sets; the rest are ModelServing's GPU_PLACEMENT_DEFAULTS. */
    readonly gpu: NonNullable<RawStackConfig["gpu"]>;
    readonly delivery: DeliveryConfig;
    /** Declared models, sorted by name so that every rendering of the stack is in the same order. */
    readonly models: readonly ModelConfig[];
    /** Images the stack sets; the rest are each component's pinned defaults. */
    readonly images: NonNullable<RawStackConfig["images"]>;
    /** Credentials the stack provides (config secrets); those absent are generated. */
    readonly credentials: NonNullable<RawStackConfig["credentials"]>;
    /** The declared target clusters, in the stack file's order; empty: the one cluster Pulumi deploys to. */
    readonly clusters: readonly TargetClusterConfig[];
}

type Section = keyof RawStackConfig;
const SECTIONS = Object.keys(stackSchema.shape) as Section[];
const REQUIRED_SECTIONS: readonly Section[] = ["environment", "cluster"];

/**
 * Reads the program's configuration from the values Pulumi hands a program (`PULUMI_CONFIG`: every
 * key namespaced, structured values as JSON text). Throws one `ConfigError` listing every problem.
 */
export function parsePlatformConfig(values: Readonly<Record<string, string>>, stack: string): PlatformConfig {
    const result = validatePlatformConfig(values, stack);
    if (result.problems.length > 0 || result.config === undefined) {
        throw new ConfigError(result.problems, `stack "${stack}" configuration`);
    }
    return result.config;
}

/** What `validatePlatformConfig` finds. */
export interface PlatformConfigValidation {
    /**
     * The configuration with the environment's defaults, resolved from the valid sections (an invalid
     * optional section is left out, an invalid model is left out); undefined when a required one is
     * invalid. Complete only when `problems` is empty.
     */
    readonly config?: PlatformConfig;
    readonly problems: ConfigProblem[];
    /** Sections (`flagger`) and models (`models.fraud-detector`) with problems: what `config` leaves out. */
    readonly invalid: ReadonlySet<string>;
}

/**
 * @param secretKeys the config keys Pulumi holds as secrets (`PULUMI_CONFIG_SECRET_KEYS`, or the stack
 * file's `secure:` values); when given, credentials written in plain text are refused.
 */
export function validatePlatformConfig(values: Readonly<Record<string, string>>, stack: string, secretKeys?: readonly string[]): PlatformConfigValidation {
    const problems: ConfigProblem[] = [];
    const raw: Partial<Record<Section, unknown>> = {};
    for (const [key, value] of Object.entries(values)) {
        if (!key.startsWith(`${PROJECT}:`)) continue;
        const section = key.slice(PROJECT.length + 1);
        if (!(SECTIONS as string[]).includes(section)) {
            problems.push({ path: key, message: `unknown key; expected one of: ${SECTIONS.join(", ")}` });
            continue;
        }
        raw[section as Section] = decodeValue(value);
    }

    const awsRegion = values["aws:region"];
    if (awsRegion !== undefined && !AWS_REGION.test(awsRegion)) {
        problems.push({ path: "aws:region", message: `expected an AWS region such as "eu-west-1", got ${showValue(awsRegion)}` });
    }

    // Each section, and each model, is parsed on its own, so that a mistake in one does not hide
    // the mistakes of another.
    const parsed: Partial<RawStackConfig> = {};
    const invalid = new Set<string>();
    for (const section of SECTIONS) {
        const value = raw[section];
        if (value === undefined && !REQUIRED_SECTIONS.includes(section)) continue;
        const sectionProblems: ConfigProblem[] = [];
        const data =
            section === "models"
                ? parseModels(value, sectionProblems, invalid)
                : parseWith(stackSchema.shape[section], value, `${PROJECT}:${section}`, sectionProblems);
        if (sectionProblems.length > 0) {
            if (section !== "models") invalid.add(section);
            problems.push(...sectionProblems);
        }
        if (data !== undefined) (parsed as Record<string, unknown>)[section] = data;
    }

    const crossProblems = crossSectionProblems(parsed, invalid, awsRegion, raw.cluster);
    const clusterCredentialsKey = `${PROJECT}:clusterCredentials`;
    if (parsed.clusterCredentials !== undefined && secretKeys !== undefined && !secretKeys.includes(clusterCredentialsKey)) {
        for (const name of Object.keys(parsed.clusterCredentials)) {
            crossProblems.push({
                section: "clusterCredentials",
                problem: {
                    path: `${clusterCredentialsKey}.${name}`,
                    message: `expected a secret, set with \`pulumi config set --secret --path '${clusterCredentialsKey}.${name}.bearerToken' <token>\`, got a plain value (not shown)`,
                },
            });
        }
    }
    const credentialsKey = `${PROJECT}:credentials`;
    if (parsed.credentials !== undefined && secretKeys !== undefined && !secretKeys.includes(credentialsKey)) {
        for (const name of Object.keys(parsed.credentials)) {
            crossProblems.push({
                section: "credentials",
                problem: {
                    path: `${credentialsKey}.${name}`,
                    message: `expected a secret, set with \`pulumi config set --secret --path '${credentialsKey}.${name}' <value>\`, got a plain value (not shown)`,
                },
            });
        }
    }
    problems.push(...crossProblems.map((c) => c.problem));
    for (const c of crossProblems) invalid.add(c.section);
    if (invalid.has("environment") || invalid.has("cluster") || parsed.environment === undefined || parsed.cluster === undefined) {
        return { problems, invalid };
    }
    const valid = Object.fromEntries(Object.entries(parsed).filter(([section]) => !invalid.has(section)));
    return { config: resolve(valid as RawStackConfig, awsRegion, stack), problems, invalid };
}

function parseWith(schema: z.ZodType, value: unknown, path: string, problems: ConfigProblem[]): unknown {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    problems.push(...issuesToProblems(path, result.error.issues));
    return undefined;
}

/** The valid models, keyed by name; each invalid one adds its problems, is marked invalid and is left out. */
function parseModels(value: unknown, problems: ConfigProblem[], invalid: Set<string>): Record<string, RawModelConfig> | undefined {
    const path = `${PROJECT}:models`;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        parseWith(stackSchema.shape.models, value, path, problems);
        invalid.add("models");
        return undefined;
    }
    const models: Record<string, RawModelConfig> = {};
    for (const [name, model] of Object.entries(value)) {
        const one = parseWith(stackSchema.shape.models, { [name]: model }, path, problems) as Record<string, RawModelConfig> | undefined;
        const parsedModel = one?.[name];
        if (parsedModel !== undefined) models[name] = parsedModel;
        else invalid.add(`models.${name}`);
    }
    return models;
}

/** Pulumi passes structured values as JSON text and scalars as plain text. */
function decodeValue(value: string): unknown {
    const trimmed = value.trimStart();
    // A key written with no value (`mlops-platform:postgres:`) reaches a program as "null": reported
    // as null, never as the string "null" nobody wrote.
    if (trimmed === "null") return null;
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
        try {
            return JSON.parse(value);
        } catch {
            return value;
        }
    }
    return value;
}

function issuesToProblems(root: string, issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    for (const issue of issues) {
        if (issue.code === "unrecognized_keys") {
            for (const key of issue.keys) problems.push({ path: joinPath(root, [...issue.path, key]), message: issue.message });
        } else if (issue.code === "invalid_key") {
            // A record key that does not fit: the key's own issue says what a key must look like.
            const inner = issue.issues[0];
            problems.push({ path: joinPath(root, issue.path), message: inner?.message ?? issue.message });
        } else {
            problems.push({ path: joinPath(root, issue.path), message: issue.message });
        }
    }
    return problems;
}

const AWS_REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

const key = (...segments: PropertyKey[]) => joinPath(PROJECT, segments).replace(`${PROJECT}.`, `${PROJECT}:`);

/**
 * Rules that relate the stack file's own keys to each other (which keys apply to which mode); each
 * runs only when every section it reads is valid. What a component can serve is the component's to
 * say: `infra/validation.ts` asks each one.
 */
function crossSectionProblems(
    config: Partial<RawStackConfig>,
    invalid: ReadonlySet<string>,
    awsRegion: string | undefined,
    rawCluster: unknown,
): Array<{ section: Section; problem: ConfigProblem }> {
    const problems: Array<{ section: Section; problem: ConfigProblem }> = [];
    const valid = (...sections: Section[]) => sections.every((s) => !invalid.has(s));
    // What does not depend on the environment's defaults: artifacts are on S3 unless the stack says
    // otherwise, whatever the environment.
    const artifactsS3 = (config.artifacts?.mode ?? "s3") === "s3";
    // Read from the section as written, so that a mistake elsewhere in `cluster` does not hide this one.
    const clusterWritten =
        typeof rawCluster === "object" && rawCluster !== null && !Array.isArray(rawCluster) ? (rawCluster as Record<string, unknown>) : undefined;
    if (valid("artifacts") && artifactsS3 && clusterWritten !== undefined && clusterWritten["oidcProviderArn"] === undefined) {
        problems.push({
            section: "cluster",
            problem: {
                path: key("cluster", "oidcProviderArn"),
                message: 'expected the ARN of the cluster\'s IAM OIDC provider (required when artifacts.mode is "s3"), got nothing',
            },
        });
    }
    const environmentKnown = valid("environment") && config.environment !== undefined;
    const postgresRds =
        (config.postgres?.mode ??
            (environmentKnown && config.environment !== undefined ? ENVIRONMENT_DEFAULTS[config.environment].postgres.mode : undefined)) === "rds";
    if (valid("artifacts", "postgres") && (artifactsS3 || postgresRds) && awsRegion === undefined) {
        const user = artifactsS3 ? 'artifacts.mode is "s3"' : 'postgres.mode is "rds"';
        problems.push({
            section: "environment",
            problem: { path: "aws:region", message: `expected an AWS region such as "eu-west-1" (required when ${user}), got nothing` },
        });
    }
    if (!environmentKnown || config.environment === undefined) return problems;
    const defaults = ENVIRONMENT_DEFAULTS[config.environment];
    const only = (section: Section, key: string, value: unknown, when: string) =>
        problems.push({ section, problem: { path: `${PROJECT}:${section}.${key}`, message: `applies only when ${when}, got ${showValue(value)}` } });

    const artifactsMode = config.artifacts?.mode ?? defaults.artifacts.mode;
    const postgresMode = config.postgres?.mode ?? defaults.postgres.mode;
    if (valid("artifacts")) {
        const artifacts = config.artifacts ?? {};
        if (artifactsMode === "in-cluster") {
            for (const s3Only of ["noncurrentVersionExpirationDays", "abortIncompleteUploadDays", "retainOnDelete"] as const) {
                if (artifacts[s3Only] !== undefined) only("artifacts", s3Only, artifacts[s3Only], 'artifacts.mode is "s3"');
            }
        } else {
            for (const inClusterOnly of ["storageGb", "storageClass"] as const) {
                if (artifacts[inClusterOnly] !== undefined) only("artifacts", inClusterOnly, artifacts[inClusterOnly], 'artifacts.mode is "in-cluster"');
            }
        }
    }
    if (valid("certManager") && config.certManager?.enabled === false) {
        for (const issuerKey of ["issuer", "acmeEmail"] as const) {
            const value = config.certManager[issuerKey];
            if (value !== undefined) only("certManager", issuerKey, value, "certManager.enabled is true");
        }
    }
    if (valid("credentials", "artifacts", "postgres") && config.credentials !== undefined) {
        const given = config.credentials;
        const unused = (name: keyof typeof given, when: string) => {
            // Never the value: these are secrets.
            if (given[name] !== undefined)
                problems.push({
                    section: "credentials",
                    problem: { path: key("credentials", name), message: `applies only when ${when}, got a value (not shown)` },
                });
        };
        if (artifactsMode !== "in-cluster") {
            unused("objectStoreAccessKeyId", 'artifacts.mode is "in-cluster"');
            unused("objectStoreSecretAccessKey", 'artifacts.mode is "in-cluster"');
        } else if ((given.objectStoreAccessKeyId === undefined) !== (given.objectStoreSecretAccessKey === undefined)) {
            const missing = given.objectStoreAccessKeyId === undefined ? "objectStoreAccessKeyId" : "objectStoreSecretAccessKey";
            problems.push({
                section: "credentials",
                problem: { path: key("credentials", missing), message: "expected it together with the other object store credential, got nothing" },
            });
        }
        if (postgresMode !== "in-cluster") unused("postgresPassword", 'postgres.mode is "in-cluster"');
    }
    if (valid("delivery", "argocd") && config.delivery?.mode === "gitops" && config.argocd?.enabled === false) {
        problems.push({
            section: "delivery",
            problem: {
                path: key("delivery", "mode"),
                message: 'expected "direct" while argocd.enabled is false (gitops delivery needs Argo CD), got "gitops"',
            },
        });
    }

    if (valid("postgres", "cluster")) {
        const postgres = config.postgres ?? {};
        const mode = postgres.mode ?? defaults.postgres.mode;
        if (mode === "in-cluster") {
            for (const rdsOnly of ["instanceClass", "multiAz", "deletionProtection", "backupRetentionDays"] as const) {
                if (postgres[rdsOnly] !== undefined) {
                    problems.push({
                        section: "postgres",
                        problem: { path: key("postgres", rdsOnly), message: `applies only when postgres.mode is "rds", got ${showValue(postgres[rdsOnly])}` },
                    });
                }
            }
        }
        if (mode === "rds" && postgres.storageClass !== undefined) {
            problems.push({
                section: "postgres",
                problem: {
                    path: key("postgres", "storageClass"),
                    message: `applies only when postgres.mode is "in-cluster", got ${showValue(postgres.storageClass)}`,
                },
            });
        }
        if (mode === "rds" && config.cluster !== undefined) {
            const needs = [
                ["vpcId", 'a VPC id such as "vpc-0a1b2c3d"'],
                ["privateSubnetIds", "a list of at least two private subnet ids"],
                ["nodeSecurityGroupId", 'a security group id such as "sg-0a1b2c3d"'],
            ] as const;
            for (const [name, what] of needs) {
                if (config.cluster[name] === undefined) {
                    problems.push({
                        section: "cluster",
                        problem: { path: key("cluster", name), message: `expected ${what} (required when postgres.mode is "rds"), got nothing` },
                    });
                }
            }
        }
    }

    problems.push(...clusterProblems(config, valid, key));
    const metricsServer = config.flagger?.metricsServer;
    if (
        valid("flagger", "prometheus") &&
        metricsServer !== undefined &&
        config.prometheus?.namespace === undefined &&
        inClusterNamespace(metricsServer) === undefined
    ) {
        problems.push({
            section: "prometheus",
            problem: {
                path: key("prometheus", "namespace"),
                message: `expected the namespace of the Prometheus pods (required when flagger.metricsServer ${showValue(metricsServer)} is not an in-cluster address http://<service>.<namespace>.svc…: NetworkPolicies admit scrapes from that namespace only), got nothing`,
            },
        });
    }

    if (valid("delivery") && config.delivery?.mode === "gitops" && config.delivery.repoUrl === undefined) {
        problems.push({
            section: "delivery",
            problem: { path: key("delivery", "repoUrl"), message: 'expected a git URL (required when delivery.mode is "gitops"), got nothing' },
        });
    }

    return problems;
}

function resolve(raw: RawStackConfig, awsRegion: string | undefined, stack: string): PlatformConfig {
    const env = raw.environment;
    const defaults = ENVIRONMENT_DEFAULTS[env];
    const { cluster } = raw;
    const postgresMode = raw.postgres?.mode ?? defaults.postgres.mode;
    const postgres: PostgresConfig =
        postgresMode === "rds"
            ? {
                  mode: "rds",
                  instanceClass: raw.postgres?.instanceClass ?? defaults.postgres.instanceClass,
                  allocatedStorageGb: raw.postgres?.allocatedStorageGb ?? defaults.postgres.allocatedStorageGb,
                  multiAz: raw.postgres?.multiAz ?? defaults.postgres.multiAz,
                  deletionProtection: raw.postgres?.deletionProtection ?? defaults.postgres.deletionProtection,
                  backupRetentionDays: raw.postgres?.backupRetentionDays ?? defaults.postgres.backupRetentionDays,
                  // crossSectionProblems guarantees the network when the mode is rds.
                  network: {
                      vpcId: cluster.vpcId as string,
                      privateSubnetIds: cluster.privateSubnetIds as string[],
                      nodeSecurityGroupId: cluster.nodeSecurityGroupId as string,
                  },
              }
            : {
                  mode: "in-cluster",
                  allocatedStorageGb: raw.postgres?.allocatedStorageGb ?? defaults.postgres.allocatedStorageGb,
                  ...(raw.postgres?.storageClass !== undefined && { storageClass: raw.postgres.storageClass }),
              };

    const delivery: DeliveryConfig =
        raw.delivery?.mode === "gitops"
            ? {
                  mode: "gitops",
                  repoUrl: raw.delivery.repoUrl as string,
                  ...(raw.delivery.targetRevision !== undefined && { targetRevision: raw.delivery.targetRevision }),
                  ...(raw.delivery.path !== undefined && { path: raw.delivery.path }),
              }
            : { mode: "direct" };

    const models: ModelConfig[] = Object.entries(raw.models ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, model]) => ({
            ...model,
            name,
            replicas: model.replicas ?? defaults.modelReplicas,
            monitoring: { ...defaults.monitoring, ...model.monitoring },
        }));

    const artifacts: ArtifactsConfig =
        (raw.artifacts?.mode ?? defaults.artifacts.mode) === "in-cluster"
            ? {
                  mode: "in-cluster",
                  ...(raw.artifacts?.storageGb !== undefined && { storageGb: raw.artifacts.storageGb }),
                  ...(raw.artifacts?.storageClass !== undefined && { storageClass: raw.artifacts.storageClass }),
              }
            : {
                  mode: "s3",
                  retainOnDelete: raw.artifacts?.retainOnDelete ?? defaults.artifacts.retainOnDelete,
                  noncurrentVersionExpirationDays: raw.artifacts?.noncurrentVersionExpirationDays ?? defaults.artifacts.noncurrentVersionExpirationDays,
                  ...(raw.artifacts?.abortIncompleteUploadDays !== undefined && { abortIncompleteUploadDays: raw.artifacts.abortIncompleteUploadDays }),
              };

    const prometheusNamespace = raw.prometheus?.namespace ?? inClusterNamespace(raw.flagger?.metricsServer);

    return {
        stack,
        environment: env,
        ...(awsRegion !== undefined && { awsRegion }),
        cluster: {
            ...(cluster.oidcProviderArn !== undefined && { oidcProviderArn: cluster.oidcProviderArn }),
            domain: cluster.domain,
            ...(cluster.ingressClass !== undefined && { ingressClass: cluster.ingressClass }),
            ...(cluster.ingressControllerNamespace !== undefined && { ingressControllerNamespace: cluster.ingressControllerNamespace }),
            ...(cluster.gateway !== undefined && { gateway: cluster.gateway }),
            ...(cluster.kubeContext !== undefined && { kubeContext: cluster.kubeContext }),
            awaitReadiness: cluster.awaitReadiness ?? true,
        },
        artifacts,
        postgres,
        mlflow: {
            host: raw.mlflow?.host ?? `mlflow.${cluster.domain}`,
            replicas: raw.mlflow?.replicas ?? defaults.mlflow.replicas,
            ...(raw.mlflow?.workers !== undefined && { workers: raw.mlflow.workers }),
            resources: raw.mlflow?.resources ?? defaults.mlflow.resources,
            basicAuth: raw.mlflow?.basicAuth ?? defaults.mlflow.basicAuth,
        },
        certManager: {
            enabled: raw.certManager?.enabled ?? true,
            issuer: raw.certManager?.issuer ?? defaults.certManager.issuer,
            ...(raw.certManager?.acmeEmail !== undefined && { acmeEmail: raw.certManager.acmeEmail }),
        },
        argocd: {
            enabled: raw.argocd?.enabled ?? true,
            host: raw.argocd?.host ?? `argocd.${cluster.domain}`,
            ha: raw.argocd?.ha ?? defaults.argocd.ha,
            ...(raw.argocd?.sso !== undefined && { sso: raw.argocd.sso }),
        },
        flagger: {
            install: raw.flagger?.install ?? true,
            ...(raw.flagger?.meshProvider !== undefined && { meshProvider: raw.flagger.meshProvider }),
            ...(raw.flagger?.metricsServer !== undefined && { metricsServer: raw.flagger.metricsServer }),
            ...(raw.flagger?.alerts !== undefined && { alerts: raw.flagger.alerts }),
        },
        gpu: raw.gpu ?? {},
        prometheus: {
            operator: raw.prometheus?.operator ?? false,
            resourceLabels: raw.prometheus?.resourceLabels ?? {},
            ...(prometheusNamespace !== undefined && { namespace: prometheusNamespace }),
        },
        delivery,
        models,
        images: raw.images ?? {},
        credentials: raw.credentials ?? {},
        clusters: resolveClusters(raw),
    };
}

/** The namespace of an in-cluster service address (`http://<service>.<namespace>.svc[.<domain>][:port]`), if it is one. */
export function inClusterNamespace(url: string | undefined): string | undefined {
    if (url === undefined) return undefined;
    return /^https?:\/\/[a-z0-9]([-a-z0-9]*[a-z0-9])?\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.[^/:]*)?(:\d+)?(\/.*)?$/.exec(url)?.[2];
}
