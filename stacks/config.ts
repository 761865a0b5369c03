import type { z } from "zod";
import { ENVIRONMENT_DEFAULTS, type GpuPlacement, PLATFORM_DEFAULTS } from "./defaults";
import { ConfigError, type ConfigProblem, joinPath, showValue } from "./errors";
import { parseQuantity } from "./quantity";
import { type Environment, type MeshProvider, type RawModelConfig, type RawStackConfig, stackSchema } from "./schema";

/** The Pulumi project name, and so the namespace of every key a user sets for this program. */
export const PROJECT = "mlops-platform";

/** Where the program's nodes, network and ingress come from: an existing cluster. */
export interface ClusterConfig {
    readonly oidcProviderArn: string;
    readonly domain: string;
    readonly ingressClass: string;
    readonly kubeContext?: string;
}

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
    | { readonly mode: "direct" }
    | { readonly mode: "gitops"; readonly repoUrl: string; readonly targetRevision?: string; readonly path?: string };

export interface ModelConfig extends Omit<RawModelConfig, "replicas"> {
    /** The model's key under `mlops-platform:models`; names every object of its serving stack. */
    readonly name: string;
    readonly replicas: { readonly min: number; readonly max: number };
}

/** A stack's configuration, validated, with the environment's defaults filled in. */
export interface PlatformConfig {
    readonly stack: string;
    readonly environment: Environment;
    readonly awsRegion: string;
    readonly cluster: ClusterConfig;
    readonly artifacts: {
        readonly retainOnDelete: boolean;
        readonly noncurrentVersionExpirationDays: number;
        readonly abortIncompleteUploadDays?: number;
    };
    readonly postgres: PostgresConfig;
    readonly mlflow: {
        readonly host: string;
        readonly replicas: number;
        readonly workers?: number;
        readonly resources: { readonly cpu: string; readonly memory: string };
        readonly basicAuth: boolean;
    };
    readonly certManager: {
        readonly issuer: "letsencrypt" | "letsencrypt-staging" | "self-signed";
        readonly acmeEmail?: string;
    };
    readonly argocd: {
        readonly host: string;
        readonly ha: boolean;
        readonly sso?: NonNullable<NonNullable<RawStackConfig["argocd"]>["sso"]>;
    };
    readonly flagger: {
        readonly meshProvider: MeshProvider;
        readonly metricsServer?: string;
        readonly alerts?: NonNullable<NonNullable<RawStackConfig["flagger"]>["alerts"]>;
    };
    readonly gpu: GpuPlacement;
    readonly delivery: DeliveryConfig;
    /** Declared models, sorted by name so that every rendering of the stack is in the same order. */
    readonly models: readonly ModelConfig[];
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

export function validatePlatformConfig(
    values: Readonly<Record<string, string>>,
    stack: string,
): { config?: PlatformConfig; problems: ConfigProblem[] } {
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
    if (awsRegion === undefined || !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(awsRegion)) {
        problems.push({ path: "aws:region", message: `expected an AWS region such as "eu-west-1", got ${showValue(awsRegion)}` });
    }

    // Each section, and each model, is parsed on its own, so that a mistake in one does not hide
    // the mistakes of another.
    const parsed: Partial<RawStackConfig> = {};
    const invalid = new Set<Section>();
    for (const section of SECTIONS) {
        const value = raw[section];
        if (value === undefined && !REQUIRED_SECTIONS.includes(section)) continue;
        const sectionProblems: ConfigProblem[] = [];
        const data = section === "models" ? parseModels(value, sectionProblems) : parseWith(stackSchema.shape[section], value, `${PROJECT}:${section}`, sectionProblems);
        if (sectionProblems.length > 0) {
            invalid.add(section);
            problems.push(...sectionProblems);
        }
        if (data !== undefined) (parsed as Record<string, unknown>)[section] = data;
    }

    problems.push(...crossSectionProblems(parsed, invalid));
    if (problems.length > 0) return { problems };
    return { config: resolve(parsed as RawStackConfig, awsRegion as string, stack), problems };
}

function parseWith(schema: z.ZodType, value: unknown, path: string, problems: ConfigProblem[]): unknown {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    problems.push(...issuesToProblems(path, result.error.issues));
    return undefined;
}

/** The valid models, keyed by name; each invalid one adds its problems and is left out. */
function parseModels(value: unknown, problems: ConfigProblem[]): Record<string, RawModelConfig> | undefined {
    const path = `${PROJECT}:models`;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        parseWith(stackSchema.shape.models, value, path, problems);
        return undefined;
    }
    const models: Record<string, RawModelConfig> = {};
    for (const [name, model] of Object.entries(value)) {
        const one = parseWith(stackSchema.shape.models, { [name]: model }, path, problems) as Record<string, RawModelConfig> | undefined;
        const parsedModel = one?.[name];
        if (parsedModel !== undefined) models[name] = parsedModel;
    }
    return models;
}

/** Pulumi passes structured values as JSON text and scalars as plain text. */
function decodeValue(value: string): unknown {
    const trimmed = value.trimStart();
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

const key = (...segments: PropertyKey[]) => joinPath(PROJECT, segments).replace(`${PROJECT}.`, `${PROJECT}:`);

/** Rules that relate keys to each other; each runs only when every section it reads is valid. */
function crossSectionProblems(config: Partial<RawStackConfig>, invalid: ReadonlySet<Section>): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const valid = (...sections: Section[]) => sections.every((s) => !invalid.has(s));

    if (valid("flagger")) {
        const meshProvider = config.flagger?.meshProvider ?? PLATFORM_DEFAULTS.meshProvider;
        for (const [name, model] of Object.entries(config.models ?? {})) {
            problems.push(...modelProblems(name, model, meshProvider));
        }
    }

    // The remaining rules depend on the environment's defaults.
    if (!valid("environment") || config.environment === undefined) return problems;
    const defaults = ENVIRONMENT_DEFAULTS[config.environment];

    if (valid("postgres", "cluster")) {
        const postgres = config.postgres ?? {};
        const mode = postgres.mode ?? defaults.postgres.mode;
        if (mode === "in-cluster") {
            for (const rdsOnly of ["instanceClass", "multiAz", "deletionProtection", "backupRetentionDays"] as const) {
                if (postgres[rdsOnly] !== undefined) {
                    problems.push({ path: key("postgres", rdsOnly), message: `applies only when postgres.mode is "rds", got ${showValue(postgres[rdsOnly])}` });
                }
            }
        }
        if (mode === "rds" && postgres.storageClass !== undefined) {
            problems.push({ path: key("postgres", "storageClass"), message: `applies only when postgres.mode is "in-cluster", got ${showValue(postgres.storageClass)}` });
        }
        if (mode === "rds" && config.cluster !== undefined) {
            const needs = [
                ["vpcId", 'a VPC id such as "vpc-0a1b2c3d"'],
                ["privateSubnetIds", "a list of at least two private subnet ids"],
                ["nodeSecurityGroupId", 'a security group id such as "sg-0a1b2c3d"'],
            ] as const;
            for (const [name, what] of needs) {
                if (config.cluster[name] === undefined) {
                    problems.push({ path: key("cluster", name), message: `expected ${what} (required when postgres.mode is "rds"), got nothing` });
                }
            }
        }
    }

    if (valid("certManager")) {
        const issuer = config.certManager?.issuer ?? defaults.certManager.issuer;
        if (issuer.startsWith("letsencrypt") && config.certManager?.acmeEmail === undefined) {
            problems.push({ path: key("certManager", "acmeEmail"), message: `expected an e-mail address (required by the "${issuer}" issuer), got nothing` });
        }
    }

    if (valid("delivery") && config.delivery?.mode === "gitops" && config.delivery.repoUrl === undefined) {
        problems.push({ path: key("delivery", "repoUrl"), message: 'expected a git URL (required when delivery.mode is "gitops"), got nothing' });
    }

    return problems;
}

/**
 * The mesh providers through which Flagger mirrors traffic during a weighted canary release. Only
 * Istio's router mirrors whatever the strategy (and honours mirrorWeight); Flagger's Gateway API v1
 * router adds its RequestMirror filter only to a Blue/Green analysis (`iterations`, which a model's
 * canary config never produces without A/B testing), and the v1beta1 router never mirrors
 * (fluxcd/flagger pkg/router/istio.go, gateway_api.go, gateway_api_v1beta1.go: SetRoutes).
 */
export const MIRRORING_PROVIDERS: readonly MeshProvider[] = ["istio"];

/**
 * The providers whose Flagger router routes by request header (A/B testing): Flagger's
 * "Deployment Strategies" page (A/B Testing: Istio, App Mesh, NGINX, Contour, Gloo Edge, Gateway API).
 */
export const HEADER_ROUTING_PROVIDERS: readonly MeshProvider[] = ["istio", "appmesh", "nginx", "contour", "gloo", "gatewayapi:v1", "gatewayapi:v1beta1"];

function modelProblems(name: string, model: RawModelConfig, meshProvider: MeshProvider): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const at = (...segments: PropertyKey[]) => key("models", name, ...segments);

    if (model.replicas !== undefined && model.replicas.max < model.replicas.min) {
        problems.push({ path: at("replicas", "max"), message: `expected at least replicas.min (${model.replicas.min}), got ${model.replicas.max}` });
    }
    const { cpu, cpuLimit } = model.resources;
    if (cpuLimit !== undefined && (parseQuantity(cpuLimit) ?? 0) < (parseQuantity(cpu) ?? 0)) {
        problems.push({ path: at("resources", "cpuLimit"), message: `expected at least resources.cpu (${cpu}), got ${showValue(cpuLimit)}` });
    }

    const canary = model.canary;
    if (canary === undefined) return problems;
    const weights = canary.stepWeights ?? [];
    for (let i = 1; i < weights.length; i++) {
        if ((weights[i] ?? 0) <= (weights[i - 1] ?? 0)) {
            problems.push({
                path: at("canary", "stepWeights", i),
                message: `expected step weights in ascending order (more than ${weights[i - 1]}), got ${showValue(weights)}`,
            });
            break;
        }
    }
    if (canary.abTesting !== undefined && canary.stepWeights !== undefined) {
        problems.push({
            path: at("canary", "stepWeights"),
            message: `A/B testing routes by header instead of shifting weights: remove stepWeights or abTesting, got ${showValue(canary.stepWeights)}`,
        });
    }
    if (canary.mirror === true && canary.abTesting !== undefined) {
        problems.push({ path: at("canary", "mirror"), message: "traffic mirroring cannot be combined with A/B testing, got true" });
    }
    if (canary.mirror === true && !MIRRORING_PROVIDERS.includes(meshProvider)) {
        problems.push({
            path: at("canary", "mirror"),
            message: `traffic mirroring needs flagger.meshProvider ${MIRRORING_PROVIDERS.map((p) => `"${p}"`).join(" or ")} (this stack uses "${meshProvider}"), got true`,
        });
    }
    if (canary.mirrorWeight !== undefined && canary.mirror !== true) {
        problems.push({ path: at("canary", "mirrorWeight"), message: `applies only when canary.mirror is true, got ${showValue(canary.mirrorWeight)}` });
    }
    if (canary.abTesting !== undefined && !HEADER_ROUTING_PROVIDERS.includes(meshProvider)) {
        problems.push({
            path: at("canary", "abTesting"),
            message: `A/B testing routes by header, which flagger.meshProvider "${meshProvider}" cannot do (use one of ${HEADER_ROUTING_PROVIDERS.map((p) => `"${p}"`).join(", ")}), got ${showValue(canary.abTesting)}`,
        });
    }
    return problems;
}

function resolve(raw: RawStackConfig, awsRegion: string, stack: string): PlatformConfig {
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
        .map(([name, model]) => ({ ...model, name, replicas: model.replicas ?? defaults.modelReplicas }));

    return {
        stack,
        environment: env,
        awsRegion,
        cluster: {
            oidcProviderArn: cluster.oidcProviderArn,
            domain: cluster.domain,
            ingressClass: cluster.ingressClass ?? PLATFORM_DEFAULTS.ingressClass,
            ...(cluster.kubeContext !== undefined && { kubeContext: cluster.kubeContext }),
        },
        artifacts: {
            retainOnDelete: raw.artifacts?.retainOnDelete ?? defaults.artifacts.retainOnDelete,
            noncurrentVersionExpirationDays: raw.artifacts?.noncurrentVersionExpirationDays ?? defaults.artifacts.noncurrentVersionExpirationDays,
            ...(raw.artifacts?.abortIncompleteUploadDays !== undefined && { abortIncompleteUploadDays: raw.artifacts.abortIncompleteUploadDays }),
        },
        postgres,
        mlflow: {
            host: raw.mlflow?.host ?? `mlflow.${cluster.domain}`,
            replicas: raw.mlflow?.replicas ?? defaults.mlflow.replicas,
            ...(raw.mlflow?.workers !== undefined && { workers: raw.mlflow.workers }),
            resources: raw.mlflow?.resources ?? defaults.mlflow.resources,
            basicAuth: raw.mlflow?.basicAuth ?? false,
        },
        certManager: {
            issuer: raw.certManager?.issuer ?? defaults.certManager.issuer,
            ...(raw.certManager?.acmeEmail !== undefined && { acmeEmail: raw.certManager.acmeEmail }),
        },
        argocd: {
            host: raw.argocd?.host ?? `argocd.${cluster.domain}`,
            ha: raw.argocd?.ha ?? defaults.argocd.ha,
            ...(raw.argocd?.sso !== undefined && { sso: raw.argocd.sso }),
        },
        flagger: {
            meshProvider: raw.flagger?.meshProvider ?? PLATFORM_DEFAULTS.meshProvider,
            ...(raw.flagger?.metricsServer !== undefined && { metricsServer: raw.flagger.metricsServer }),
            ...(raw.flagger?.alerts !== undefined && { alerts: raw.flagger.alerts }),
        },
        gpu: {
            resourceName: raw.gpu?.resourceName ?? PLATFORM_DEFAULTS.gpu.resourceName,
            nodeSelector: raw.gpu?.nodeSelector ?? PLATFORM_DEFAULTS.gpu.nodeSelector,
            tolerations: raw.gpu?.tolerations ?? PLATFORM_DEFAULTS.gpu.tolerations,
        },
        delivery,
        models,
    };
}
