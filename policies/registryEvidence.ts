import type { ResourceValidationPolicy } from "@pulumi/policy";
import { MlflowRestClient, type ModelVersion, RegistryNotFoundError, type Run } from "./mlflowRestClient";
import { MODEL_LABELS, modelOf, modelUrisOf, PINNED_VERSION, promotionOf } from "./models";
import { configOf, type TypedConfigSchema } from "./policyConfig";
import { environmentAlias, parseValidationTag, validationTagKey } from "./registryContract";
import { field } from "./values";
import { K8S, kubeObject } from "./workloads";

/**
 * The declared promotion, checked against the MLflow model registry itself (the one registry every
 * environment reads): the version exists and is READY, its run is the declared one and holds the
 * declared metrics, the registry records the successful rollout the declaration claims and at the
 * time it declares (`mlops.validated.<environment>` of `registryContract.ts`), and the champion it
 * was compared with holds the declared metrics. Every failure to get an answer is a violation at the
 * policy's enforcement level: production fails closed.
 */

export interface RegistryEvidenceConfig {
    /** MLflow tracking server to check against; none when empty, and the evidence is then checked on its own (model-promotion-evidence). @default "" */
    readonly trackingUri: string;
    /** Upper bound, in milliseconds, of each registry call. @default 5000 */
    readonly timeoutMs: number;
    /** Largest difference tolerated between a declared metric and the run's value. @default 0.000001 */
    readonly metricTolerance: number;
}

const registryEvidenceSchema: TypedConfigSchema<RegistryEvidenceConfig> = {
    properties: {
        trackingUri: { type: "string", pattern: "^(https?://.+)?$", default: "", description: "MLflow tracking server to check against; none when empty." },
        timeoutMs: { type: "integer", minimum: 1, maximum: 120000, default: 5000, description: "Upper bound, in milliseconds, of each registry call." },
        metricTolerance: {
            type: "number",
            minimum: 0,
            default: 0.000001,
            description: "Largest difference tolerated between a declared metric and the run's value.",
        },
    },
};

/** The client bounds each call; this bounds it once more, so a client bug cannot hang a preview. */
async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
        timer.unref();
    });
    try {
        return await Promise.race([work, deadline]);
    } finally {
        clearTimeout(timer);
    }
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

export const registryEvidenceMatches: ResourceValidationPolicy = {
    name: "registry-evidence-matches",
    description:
        "When a registry is configured, each model Deployment's version exists and is READY in MLflow, and its declared evidence (run, metrics, validated rollout and its time, champion) matches what the registry holds.",
    configSchema: registryEvidenceSchema,
    validateResource: async (args, report) => {
        if (args.type !== K8S.deployment) return;
        const config = configOf(args, registryEvidenceSchema);
        if (config.trackingUri === "") return;
        const object = kubeObject(args);
        if (modelOf(object) === undefined) return;
        // What the Deployment serves; an unpinned or missing URI is model-version-pinned's to report.
        const served = modelUrisOf(object)
            .containers.flatMap((c) => c.uris)
            .find((uri) => uri.version !== undefined && PINNED_VERSION.test(uri.version));
        if (served === undefined || served.version === undefined) return;
        const name = served.registeredModel;
        const version = served.version;
        const subject = `version ${version} of registered model "${name}"`;

        let registry: MlflowRestClient;
        try {
            registry = MlflowRestClient.fromEnv({ trackingUri: config.trackingUri, timeoutMs: config.timeoutMs });
        } catch (err) {
            return report(`${subject} cannot be checked: ${messageOf(err)}`);
        }
        const unconfirmed = (err: unknown) => report(`${subject} could not be confirmed by the registry, so its promotion is not proven: ${messageOf(err)}`);
        const deadline = config.timeoutMs + 1000;

        let modelVersion: ModelVersion;
        try {
            modelVersion = await withDeadline(
                registry.getModelVersion(name, version),
                deadline,
                `MLflow registry ${registry.registryUrl}: getModelVersion(${name}, ${version})`,
            );
        } catch (err) {
            if (err instanceof RegistryNotFoundError) return report(`${subject} does not exist in the registry at ${registry.registryUrl}`);
            return unconfirmed(err);
        }
        if (modelVersion.status !== "READY") report(`${subject} is ${modelVersion.status} in the registry at ${registry.registryUrl}, not READY`);

        const promotion = promotionOf(object);
        // Without declared evidence there is nothing more to match (model-promotion-evidence asks for it).
        if (promotion.state !== "declared") return;
        const record = promotion.record;

        if (record.runId !== undefined && record.runId !== modelVersion.runId) {
            report(
                `the evidence names run ${record.runId}, but ${subject} was registered from ${modelVersion.runId === undefined ? "no run" : `run ${modelVersion.runId}`}`,
            );
        }
        const declaredMetrics = Object.entries(record.metrics);
        if (modelVersion.runId !== undefined && declaredMetrics.length > 0) {
            let run: Run | undefined;
            try {
                run = await withDeadline(
                    registry.getRun(modelVersion.runId),
                    deadline,
                    `MLflow registry ${registry.registryUrl}: getRun(${modelVersion.runId})`,
                );
            } catch (err) {
                if (err instanceof RegistryNotFoundError)
                    report(`run ${modelVersion.runId} of ${subject} does not exist in the registry at ${registry.registryUrl}`);
                else unconfirmed(err);
            }
            for (const [metric, declared] of run === undefined ? [] : declaredMetrics) {
                const recorded = run?.metrics[metric];
                if (recorded === undefined)
                    report(`the evidence declares ${metric} = ${declared}, but run ${modelVersion.runId} recorded no "${metric}" metric`);
                else if (!(Math.abs(recorded - declared) <= config.metricTolerance)) {
                    report(`the evidence declares ${metric} = ${declared}, but run ${modelVersion.runId} recorded ${metric} = ${recorded}`);
                }
            }
        }
        if (record.validatedIn !== undefined) {
            let tag: string;
            try {
                tag = validationTagKey(record.validatedIn);
            } catch (err) {
                return report(`the evidence's validatedIn cannot be looked up: ${messageOf(err)}`);
            }
            const recorded = modelVersion.tags[tag];
            const at = recorded === undefined ? undefined : parseValidationTag(recorded);
            if (recorded === undefined) {
                report(
                    `the evidence says ${subject} was validated in "${record.validatedIn}", but the registry records no successful rollout there (no "${tag}" tag on the version)`,
                );
            } else if (at === undefined) {
                report(`the registry's "${tag}" tag of ${subject} is ${JSON.stringify(recorded)}, not an ISO-8601 time`);
            } else if (record.validatedAt !== undefined && Date.parse(record.validatedAt) !== at.getTime()) {
                // The soak (model-promotion-evidence) is measured from the declared time: it must be the registry's.
                report(
                    `the evidence says the rollout of ${subject} in "${record.validatedIn}" succeeded at ${record.validatedAt}, but the registry records ${recorded}`,
                );
            }
        }

        const champion = record.champion;
        if (champion?.version !== undefined) {
            const championSubject = `the champion, version ${champion.version} of "${name}"`;
            try {
                const championVersion = await withDeadline(
                    registry.getModelVersion(name, champion.version),
                    deadline,
                    `MLflow registry ${registry.registryUrl}: getModelVersion(${name}, ${champion.version})`,
                );
                const championRunId = championVersion.runId;
                const championRun =
                    championRunId === undefined || Object.keys(champion.metrics).length === 0
                        ? undefined
                        : await withDeadline(registry.getRun(championRunId), deadline, `MLflow registry ${registry.registryUrl}: getRun(${championRunId})`);
                for (const [metric, declared] of Object.entries(championRun === undefined ? {} : champion.metrics)) {
                    const recordedValue = championRun?.metrics[metric];
                    if (recordedValue === undefined || !(Math.abs(recordedValue - declared) <= config.metricTolerance)) {
                        report(
                            `the evidence says ${championSubject}, recorded ${metric} = ${declared}, but its run ${championRunId ?? ""} recorded ${recordedValue === undefined ? `no "${metric}" metric` : `${metric} = ${recordedValue}`}`,
                        );
                    }
                }
            } catch (err) {
                if (err instanceof RegistryNotFoundError)
                    report(`the evidence compares ${subject} with ${championSubject}, which does not exist in the registry`);
                else unconfirmed(err);
            }
        } else if (champion !== undefined) {
            // "No champion" is true only while the environment's alias points at no other version.
            const environment = field(object.meta.labels, MODEL_LABELS.environment);
            if (typeof environment === "string") {
                try {
                    const served = await withDeadline(
                        registry.getVersionByAlias(name, environmentAlias(environment)),
                        deadline * 2,
                        `MLflow registry ${registry.registryUrl}: getVersionByAlias(${name}, ${environment})`,
                    );
                    if (served !== undefined && served.version !== version) {
                        report(
                            `the evidence says "${environment}" served no version of "${name}" before ${version}, but the registry's "${environment}" alias points at version ${served.version}`,
                        );
                    }
                } catch (err) {
                    unconfirmed(err);
                }
            }
        }
    },
};
