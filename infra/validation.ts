import * as pulumi from "@pulumi/pulumi";
import { validateArgoCdArgs } from "../components/argoCd";
import { validateModelApplicationSetArgs } from "../components/argoCd/applicationSet";
import { validateArtifactStoreArgs } from "../components/artifactStore";
import { validateCertManagerArgs } from "../components/certManager";
import { meshProviderOf, validateFlaggerArgs } from "../components/flagger";
import { validateMlflowServerArgs } from "../components/mlflowServer";
import { validateModelServingArgs } from "../components/modelServing";
import { modelNameCollisions } from "../components/modelServing/objectNames";
import { validateObjectStoreArgs } from "../components/objectStore";
import { validatePostgresArgs } from "../components/postgres";
import { type ArgProblem, describeArgProblem } from "../components/validation";
import { ConfigError, type ConfigProblem, formatProblem, type PlatformConfig, validatePlatformConfig } from "../stacks";
import {
    argoCdArgs,
    artifactStoreArgs,
    certManagerArgs,
    COMPONENT_NAMES,
    flaggerArgs,
    type Mapped,
    mlflowServerArgs,
    objectStoreArgs,
    postgresArgs,
    stackKey,
} from "./componentArgs";
import { modelApplicationSetArgs, modelRenderings } from "./clusters";

/**
 * The program's whole validation of a stack, run before a single resource is registered: the stack
 * schema (`stacks/`), then every component's own rules (`validate…Args`) on the args the stack maps
 * to (`componentArgs.ts`), each problem reported under the stack key it came from.
 */

/** A component's problems as stack problems: under the key the arg came from, or the component's own name. */
function asStackProblems(component: string, name: string, mapped: Mapped<unknown>, problems: readonly ArgProblem[]): ConfigProblem[] {
    return problems.map((problem) => {
        const key = Object.keys(mapped.keys)
            .filter((arg) => problem.arg === arg || problem.arg.startsWith(`${arg}.`) || problem.arg.startsWith(`${arg}[`))
            .sort((a, b) => b.length - a.length)[0];
        if (key === undefined) return { path: `${component} "${name}"`, message: describeArgProblem(problem) };
        return { path: `${mapped.keys[key]}${problem.arg.slice(key.length)}`, message: problem.message };
    });
}

/** Every component rule the stack breaks; components that read an invalid section are not judged. */
export function componentProblems(config: PlatformConfig, invalid: ReadonlySet<string> = new Set()): ConfigProblem[] {
    // What other components produce at deployment: validators judge only what is known now.
    const later = pulumi.output("<known at deployment>");
    const problems: ConfigProblem[] = [];
    const judge = <Args>(component: string, name: string, mapped: Mapped<Args> | undefined, validate: (name: string, args: Args) => ArgProblem[]) => {
        if (mapped === undefined || mapped.reads.some((section) => invalid.has(section))) return;
        problems.push(...asStackProblems(component, name, mapped, validate(name, mapped.args)));
    };
    const names = COMPONENT_NAMES;
    const clusterIssuer = config.certManager.enabled ? later : undefined;
    judge("ArtifactStore", names.artifacts, artifactStoreArgs(config, { modelsNamespace: later }), validateArtifactStoreArgs);
    judge("ObjectStore", names.objectStore, objectStoreArgs(config, { clientNamespace: later }), validateObjectStoreArgs);
    judge("Postgres", names.database, postgresArgs(config, { mlflowNamespace: later }), validatePostgresArgs);
    if (config.certManager.enabled) judge("CertManager", names.certManager, certManagerArgs(config), validateCertManagerArgs);
    const artifactAccess = config.artifacts.mode === "s3" ? { roleArn: later } : { s3Endpoint: { url: later, accessKeyId: later, secretAccessKey: later } };
    const mlflowRefs = { backendStoreUri: later, artifactsDestination: later, artifactAccess, clusterIssuer, modelsNamespace: later };
    judge("MlflowServer", names.mlflow, mlflowServerArgs(config, mlflowRefs), validateMlflowServerArgs);
    if (config.argocd.enabled) judge("ArgoCd", names.argocd, argoCdArgs(config, { clusterIssuer, modelsNamespace: later }), validateArgoCdArgs);
    const flagger = flaggerArgs(config, { workloadNamespace: later });
    judge("Flagger", names.flagger, flagger, validateFlaggerArgs);
    for (const model of config.models) {
        const refs = {
            namespace: later,
            trackingUri: later,
            artifactReaderRoleArn: config.artifacts.mode === "s3" ? later : undefined,
            clusterIssuer,
            flagger: {
                meshProvider: meshProviderOf(flagger.args),
                loadTesterUrl: later,
                metricTemplates: {
                    accuracy: { name: "", namespace: later },
                    driftScore: { name: "", namespace: later },
                    confidence: { name: "", namespace: later },
                },
                alertProvider: undefined,
            },
            argo: { namespace: later, project: later },
            trackingCredentialsSecret: undefined,
        };
        for (const rendering of modelRenderings(config, model, refs, { publicTrackingUri: later })) {
            judge("ModelServing", rendering.name, rendering.mapped, validateModelServingArgs);
        }
        const fanOut = modelApplicationSetArgs(config, model, { namespace: later, argo: refs.argo });
        if (fanOut !== undefined) {
            judge(
                "ModelApplicationSet",
                model.name,
                { args: fanOut, keys: { clusters: stackKey("clusters") }, reads: ["clusters", "delivery", `models.${model.name}`] },
                validateModelApplicationSetArgs,
            );
        }
    }
    return problems;
}

/**
 * Names a model cannot take: the platform's objects in the models namespace, and the hosts beside
 * `<model>.<domain>`.
 */
export function reservedModelNames(): Record<string, string> {
    return {
        [COMPONENT_NAMES.mlflow]: "tracking server (host mlflow.<domain>)",
        [COMPONENT_NAMES.argocd]: "Argo CD (host argocd.<domain>)",
        [`${COMPONENT_NAMES.flagger}-loadtester`]: "Flagger load tester (Deployment and Service in the models namespace)",
    };
}

/** Models whose names collide with the platform's objects or with another model's. */
export function modelNameProblems(config: PlatformConfig): ConfigProblem[] {
    return modelNameCollisions(
        config.models.map((m) => m.name),
        reservedModelNames(),
    ).map(({ model, message }) => ({ path: stackKey("models", model), message }));
}

/** Every problem of a stack's configuration values: the schema's and the components'. */
export function platformConfigProblems(
    values: Readonly<Record<string, string>>,
    stack: string,
    secretKeys?: readonly string[],
): { config?: PlatformConfig; problems: ConfigProblem[] } {
    const { config, problems, invalid } = validatePlatformConfig(values, stack, secretKeys);
    if (config === undefined) return { problems };
    // A stack-wide key (cluster.gateway, cluster.ingressClass) reaches every model's ModelServing, which
    // would each report the same problem with it: each line is said once.
    const seen = new Set<string>();
    const all = [...problems, ...modelNameProblems(config), ...componentProblems(config, invalid)].filter((problem) => {
        const line = formatProblem(problem);
        return !seen.has(line) && seen.add(line) !== undefined;
    });
    return all.length === 0 ? { config, problems: all } : { problems: all };
}

/**
 * The validated configuration of a stack, or one `ConfigError` naming every problem by its stack
 * key: what `pulumi up` and the offline preview run first.
 */
export function loadPlatformConfig(values: Readonly<Record<string, string>>, stack: string, secretKeys?: readonly string[]): PlatformConfig {
    const { config, problems } = platformConfigProblems(values, stack, secretKeys);
    if (config === undefined) throw new ConfigError(problems, `stack "${stack}" configuration`);
    return config;
}
