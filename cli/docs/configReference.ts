import { z } from "zod";
import { ARGO_CD_IMAGES } from "../../components/argoCd";
import { ARTIFACT_STORE_DEFAULTS } from "../../components/artifactStore";
import { certManagerImages } from "../../components/certManager";
import { FLAGGER_DEFAULTS, FLAGGER_IMAGES } from "../../components/flagger";
import { DEFAULT_INGRESS_CLASS, DEFAULT_INGRESS_CONTROLLER_NAMESPACE } from "../../components/ingress";
import { MLFLOW_SERVER_DEFAULTS } from "../../components/mlflowServer";
import { OBJECT_STORE_DEFAULTS, VERSITYGW_IMAGE } from "../../components/objectStore";
import { POSTGRES_IMAGE } from "../../components/postgres";
import { CANARY_DEFAULTS, DELIVERY_DEFAULTS, GPU_PLACEMENT_DEFAULTS } from "../../components/modelServing";
import { MLFLOW_IMAGE } from "../../components/versions";
import { ENVIRONMENT_DEFAULTS, type EnvironmentDefaults, PROJECT, stackSchema } from "../../stacks";

/**
 * The stack configuration reference, generated from the schema users are validated against
 * (`stacks/schema.ts`) and the default values the code applies, so that the README cannot drift
 * from what `pulumi up` accepts. `npm run docs` writes it; a test keeps it current.
 */

type JsonSchema = {
    type?: string;
    description?: string;
    enum?: readonly unknown[];
    pattern?: string;
    minimum?: number;
    maximum?: number;
    minItems?: number;
    format?: string;
    properties?: Record<string, JsonSchema>;
    required?: readonly string[];
    items?: JsonSchema;
    additionalProperties?: JsonSchema | boolean;
    propertyNames?: JsonSchema;
};

/** What a key is when a stack file does not set it: the same everywhere, or per environment. */
type Default = string | ((d: EnvironmentDefaults) => unknown);

const code = (value: unknown) => `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;

/**
 * The default of every optional key, in words or as the constant the code uses. Keys are paths below
 * `mlops-platform:`, with `<name>` for a model's key.
 */
export const DOCUMENTED_DEFAULTS: Readonly<Record<string, Default>> = {
    "cluster.ingressClass": code(DEFAULT_INGRESS_CLASS),
    "cluster.ingressControllerNamespace": code(DEFAULT_INGRESS_CONTROLLER_NAMESPACE),
    "cluster.gateway": "— (required when flagger.meshProvider is `istio` or `gatewayapi:*`)",
    "cluster.kubeContext": "the kubeconfig's current context",
    "cluster.oidcProviderArn": "— (required when artifacts.mode is `s3`)",
    "cluster.awaitReadiness": code(true),
    "cluster.vpcId": "— (required when postgres.mode is `rds`)",
    "cluster.privateSubnetIds": "— (required when postgres.mode is `rds`)",
    "cluster.nodeSecurityGroupId": "— (required when postgres.mode is `rds`)",
    artifacts: "every key's default",
    "artifacts.mode": (d) => d.artifacts.mode,
    "artifacts.storageGb": code(OBJECT_STORE_DEFAULTS.storageGb),
    "artifacts.storageClass": "the cluster's default StorageClass",
    "artifacts.noncurrentVersionExpirationDays": (d) => d.artifacts.noncurrentVersionExpirationDays,
    "artifacts.abortIncompleteUploadDays": code(ARTIFACT_STORE_DEFAULTS.abortIncompleteUploadDays),
    "artifacts.retainOnDelete": (d) => d.artifacts.retainOnDelete,
    postgres: "every key's default",
    "postgres.mode": (d) => d.postgres.mode,
    "postgres.instanceClass": (d) => d.postgres.instanceClass,
    "postgres.allocatedStorageGb": (d) => d.postgres.allocatedStorageGb,
    "postgres.multiAz": (d) => d.postgres.multiAz,
    "postgres.deletionProtection": (d) => d.postgres.deletionProtection,
    "postgres.backupRetentionDays": (d) => d.postgres.backupRetentionDays,
    "postgres.storageClass": "the cluster's default StorageClass",
    mlflow: "every key's default",
    "mlflow.host": "`mlflow.<cluster.domain>`",
    "mlflow.replicas": (d) => d.mlflow.replicas,
    "mlflow.workers": code(MLFLOW_SERVER_DEFAULTS.workers),
    "mlflow.resources": (d) => d.mlflow.resources,
    "mlflow.basicAuth": (d) => d.mlflow.basicAuth,
    certManager: "every key's default",
    "certManager.enabled": code(true),
    "certManager.issuer": (d) => d.certManager.issuer,
    "certManager.acmeEmail": "— (required by the `letsencrypt` issuers)",
    argocd: "every key's default",
    "argocd.enabled": code(true),
    "argocd.host": "`argocd.<cluster.domain>`",
    "argocd.ha": (d) => d.argocd.ha,
    "argocd.sso": "none: Argo CD's local admin login",
    flagger: "every key's default",
    "flagger.install": code(FLAGGER_DEFAULTS.install),
    "flagger.meshProvider": code(FLAGGER_DEFAULTS.meshProvider),
    "flagger.metricsServer": "Flagger's bundled Prometheus",
    "flagger.alerts": "none",
    "flagger.alerts.channel": "the webhook's own channel",
    gpu: "every key's default",
    "gpu.resourceName": code(GPU_PLACEMENT_DEFAULTS.resourceName),
    "gpu.nodeSelector": code(GPU_PLACEMENT_DEFAULTS.nodeSelector),
    "gpu.tolerations": code(GPU_PLACEMENT_DEFAULTS.tolerations),
    "gpu.tolerations[].value": "none",
    "gpu.tolerations[].effect": "every effect",
    prometheus: "every key's default",
    "prometheus.operator": code(false),
    "prometheus.resourceLabels": "none",
    "prometheus.namespace": "the namespace of an in-cluster `flagger.metricsServer`, else Flagger's (its bundled Prometheus)",
    delivery: "every key's default",
    "delivery.mode": code("direct"),
    "delivery.repoUrl": "— (required when delivery.mode is `gitops`)",
    "delivery.targetRevision": code(DELIVERY_DEFAULTS.targetRevision),
    "delivery.path": code(DELIVERY_DEFAULTS.path),
    models: "no models",
    clusters: "the one cluster Pulumi deploys to",
    "clusters[].destination.server": "— (exactly one of server or name)",
    "clusters[].destination.name": "— (exactly one of server or name)",
    "clusters[].region": "none",
    "clusters[].labels": code({}),
    "clusters[].gpu": "the stack's gpu keys",
    "clusters[].gpu.resourceName": "the stack's gpu.resourceName",
    "clusters[].gpu.nodeSelector": "the stack's gpu.nodeSelector",
    "clusters[].gpu.tolerations": "the stack's gpu.tolerations",
    "clusters[].gpu.tolerations[].value": "none",
    "clusters[].gpu.tolerations[].effect": "every effect",
    "clusters[].replicas": "each model's own",
    "clusters[].replicas.min": "no lower bound",
    "clusters[].replicas.max": "no upper bound",
    clusterCredentials: "none: clusters are the one Argo CD runs in, or registered otherwise",
    "clusterCredentials.<name>.bearerToken": "— (exactly one of bearerToken or awsAuth)",
    "clusterCredentials.<name>.caData": "the system's CA bundle",
    "clusterCredentials.<name>.awsAuth": "— (exactly one of bearerToken or awsAuth)",
    credentials: "every credential generated (random provider)",
    "credentials.postgresPassword": "generated",
    "credentials.mlflowAdminPassword": "generated",
    "credentials.mlflowFlaskSecretKey": "generated",
    "credentials.registryReaderPassword": "generated",
    "credentials.objectStoreAccessKeyId": "generated",
    "credentials.objectStoreSecretAccessKey": "generated",
    "models.<name>.image": "`images.mlflow`, else " + code(MLFLOW_IMAGE),
    "models.<name>.outputs": code("probabilities"),
    images: "every image the component's own (tags, no digests)",
    "images.mlflow": code(MLFLOW_IMAGE),
    "images.postgres": code(POSTGRES_IMAGE),
    "images.objectStore": code(VERSITYGW_IMAGE),
    "images.argocd": "the chart's",
    "images.argocd.argocd": code(ARGO_CD_IMAGES.argocd),
    "images.argocd.redis": code(ARGO_CD_IMAGES.redis),
    "images.argocd.haproxy": code(ARGO_CD_IMAGES.haproxy),
    "images.flagger": "the charts'",
    "images.flagger.flagger": code(FLAGGER_IMAGES.flagger),
    "images.flagger.prometheus": code(FLAGGER_IMAGES.prometheus),
    "images.flagger.loadTester": code(FLAGGER_IMAGES.loadTester),
    "images.certManager": "the chart's",
    "images.certManager.controller": code(certManagerImages().controller),
    "images.certManager.webhook": code(certManagerImages().webhook),
    "images.certManager.cainjector": code(certManagerImages().cainjector),
    "images.certManager.acmesolver": code(certManagerImages().acmesolver),
    "images.certManager.startupapicheck": code(certManagerImages().startupapicheck),
    "models.<name>.replicas": (d) => d.modelReplicas,
    "models.<name>.resources.gpu": code(0),
    "models.<name>.resources.cpuLimit": "no CPU limit",
    "models.<name>.canary": "every key's default",
    "models.<name>.canary.stepWeights": code(CANARY_DEFAULTS.stepWeights),
    "models.<name>.canary.interval": code(CANARY_DEFAULTS.interval),
    "models.<name>.canary.threshold": code(CANARY_DEFAULTS.threshold),
    "models.<name>.canary.maxLatencyMs": code(CANARY_DEFAULTS.maxLatencyMs),
    "models.<name>.canary.minSuccessRate": code(CANARY_DEFAULTS.minSuccessRate),
    "models.<name>.canary.quality": "no model-quality checks",
    "models.<name>.canary.quality.minAccuracy": "not checked",
    "models.<name>.canary.quality.maxDriftScore": "not checked",
    "models.<name>.canary.quality.minConfidence": "not checked",
    "models.<name>.canary.acceptanceRequest": "the acceptance test checks `/ping` only",
    "models.<name>.canary.loadTest": "every key's default",
    "models.<name>.canary.loadTest.rps": code(CANARY_DEFAULTS.loadTestRps),
    "models.<name>.canary.loadTest.enabled": code(true),
    "models.<name>.canary.abTesting": "none: progressive traffic shifting",
    "models.<name>.canary.abTesting.header": code(CANARY_DEFAULTS.abTestingHeader),
    "models.<name>.canary.abTesting.value": code(CANARY_DEFAULTS.abTestingValue),
    "models.<name>.canary.abTesting.iterations": code(CANARY_DEFAULTS.abTestingIterations),
    "models.<name>.canary.mirror": code(false),
    "models.<name>.canary.mirrorWeight": code(CANARY_DEFAULTS.mirrorWeight),
    "models.<name>.monitoring": "every key's default",
    "models.<name>.monitoring.checkInterval": (d) => d.monitoring.checkInterval,
    "models.<name>.monitoring.window": (d) => d.monitoring.window,
    "models.<name>.monitoring.minSamples": (d) => d.monitoring.minSamples,
    "models.<name>.monitoring.drift": (d) => d.monitoring.drift,
    "models.<name>.monitoring.drift.rollback": "no rollback, alerts only",
    "models.<name>.monitoring.accuracy": (d) => d.monitoring.accuracy ?? "not watched",
    "models.<name>.monitoring.accuracy.rollback": "no rollback, alerts only",
    "models.<name>.monitoring.confidence": (d) => d.monitoring.confidence ?? "not watched",
    "models.<name>.monitoring.confidence.rollback": "no rollback, alerts only",
    "models.<name>.monitoring.errorRate": (d) => d.monitoring.errorRate ?? "not watched",
    "models.<name>.monitoring.errorRate.rollback": "no rollback, alerts only",
    "models.<name>.promotion": "none (the production policy config requires it)",
    "models.<name>.promotion.evidence.validatedIn": "none: a first environment",
    "models.<name>.promotion.evidence.validatedAt": "none (the production policy config requires it)",
    "models.<name>.promotion.evidence.promotedAt": "none",
    "models.<name>.promotion.evidence.champion": "none (the production policy config requires it)",
    "models.<name>.promotion.evidence.champion.version": "none: the environment served no version of the model",
    "models.<name>.promotion.evidence.champion.metrics": "none",
};

export interface ReferenceRow {
    /** Path below `mlops-platform:`, e.g. `models.<name>.canary.stepWeights`. */
    readonly key: string;
    readonly type: string;
    readonly staging: string;
    readonly production: string;
    readonly description: string;
}

export function stackJsonSchema(): JsonSchema {
    return z.toJSONSchema(stackSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
}

/** Every key a stack file may hold under `mlops-platform:`, in schema order, with its type and defaults. */
export function referenceRows(): ReferenceRow[] {
    const rows: ReferenceRow[] = [];
    const walk = (schema: JsonSchema, prefix: string, required: boolean) => {
        if (prefix !== "") rows.push(row(prefix, schema, required));
        if (schema.properties !== undefined) {
            for (const [key, child] of Object.entries(schema.properties)) {
                walk(child, prefix === "" ? key : `${prefix}.${key}`, (schema.required ?? []).includes(key));
            }
        } else if (typeof schema.additionalProperties === "object" && schema.additionalProperties.properties !== undefined) {
            // A mapping keyed by the user's names (models): its entries are documented once, as <name>.
            walk({ ...schema.additionalProperties, description: undefined } as JsonSchema, `${prefix}.<name>`, true);
            rows.splice(
                rows.findIndex((r) => r.key === `${prefix}.<name>`),
                1,
            );
        } else if (schema.type === "array" && schema.items?.properties !== undefined) {
            for (const [key, child] of Object.entries(schema.items.properties)) {
                walk(child, `${prefix}[].${key}`, (schema.items.required ?? []).includes(key));
            }
        }
    };
    walk(stackJsonSchema(), "", true);
    return rows;
}

function row(key: string, schema: JsonSchema, required: boolean): ReferenceRow {
    const documented = DOCUMENTED_DEFAULTS[key];
    if (!required && documented === undefined) {
        throw new Error(`configuration reference: ${PROJECT}:${key} is optional but has no documented default; add it to DOCUMENTED_DEFAULTS`);
    }
    if (required && documented !== undefined) {
        throw new Error(`configuration reference: ${PROJECT}:${key} is required, yet DOCUMENTED_DEFAULTS gives it a default`);
    }
    const perEnvironment = (environment: "staging" | "production") => {
        if (required) return "required";
        if (typeof documented === "function") return code(documented(ENVIRONMENT_DEFAULTS[environment]));
        return documented as string;
    };
    return {
        key,
        type: typeOf(schema),
        staging: perEnvironment("staging"),
        production: perEnvironment("production"),
        description: schema.description ?? "",
    };
}

function typeOf(schema: JsonSchema): string {
    if (schema.enum !== undefined) return schema.enum.map((v) => code(v)).join(" | ");
    if (schema.type === "integer" || schema.type === "number") {
        const word = schema.type === "integer" ? "integer" : "number";
        const lo = schema.minimum !== undefined && Math.abs(schema.minimum) < Number.MAX_SAFE_INTEGER ? schema.minimum : undefined;
        const hi = schema.maximum !== undefined && Math.abs(schema.maximum) < Number.MAX_SAFE_INTEGER ? schema.maximum : undefined;
        return lo !== undefined && hi !== undefined ? `${word} ${lo}–${hi}` : lo !== undefined ? `${word} ≥ ${lo}` : word;
    }
    if (schema.type === "array") return `list of ${schema.items ? typeOf(schema.items) : "values"}${schema.minItems ? ` (≥ ${schema.minItems})` : ""}`;
    if (schema.type === "object")
        return schema.properties !== undefined
            ? "mapping"
            : `mapping of ${schema.additionalProperties && typeof schema.additionalProperties === "object" ? typeOf(schema.additionalProperties) : "values"}`;
    if (schema.format === "date-time") return "ISO-8601 date-time";
    return schema.type ?? "value";
}

/** The README section: one table per top-level key. */
export function configReferenceMarkdown(): string {
    const rows = referenceRows();
    const sections = rows.filter((r) => !r.key.includes("."));
    const escape = (text: string) => text.replace(/\|/g, "\\|");
    const lines: string[] = [];
    for (const section of sections) {
        // A top-level list (clusters) documents its items' keys as `<key>[].<item key>`.
        const children = rows.filter((r) => r.key.startsWith(`${section.key}.`) || r.key.startsWith(`${section.key}[].`));
        const presence = section.staging === "required" ? "required" : "optional";
        lines.push(`#### \`${PROJECT}:${section.key}\` (${children.length === 0 ? `${section.type}, ` : ""}${presence})`, "", section.description, "");
        if (children.length === 0) continue;
        lines.push("| key | type | staging default | production default | description |", "|---|---|---|---|---|");
        for (const r of children) {
            lines.push(`| \`${r.key}\` | ${escape(r.type)} | ${escape(r.staging)} | ${escape(r.production)} | ${escape(r.description)} |`);
        }
        lines.push("");
    }
    return lines.join("\n").trimEnd() + "\n";
}

/**
 * A JSON Schema of a whole `Pulumi.<stack>.yaml`, for editors (`# yaml-language-server: $schema=…`) and
 * CI linters: the project's keys as the program validates them; other namespaces are the providers'.
 */
export function stackFileJsonSchema(): Record<string, unknown> {
    const program = stackJsonSchema();
    const properties: Record<string, unknown> = {
        "aws:region": { type: "string", description: "AWS region of every AWS resource (needed by artifacts.mode s3 and postgres.mode rds)." },
    };
    for (const [key, schema] of Object.entries(program.properties ?? {})) properties[`${PROJECT}:${key}`] = schema;
    return {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        title: `Pulumi.<stack>.yaml of ${PROJECT}`,
        description: "Generated from stacks/schema.ts by `npm run docs`; do not edit by hand.",
        type: "object",
        properties: {
            config: {
                type: "object",
                properties,
                required: (program.required ?? []).map((k) => `${PROJECT}:${k}`),
                // Other namespaces (aws:, kubernetes:) belong to their providers; an unknown key of ours is an error.
                patternProperties: { "^(?!mlops-platform:)[^:]+:": {} },
                additionalProperties: false,
            },
        },
    };
}
