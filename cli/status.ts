import { Command } from "commander";
import { MlflowRestClient, type RegisteredModel, RegistryError, RegistryNotFoundError } from "../policies/mlflowRestClient";
import { ENVIRONMENTS } from "../stacks/schema";
import {
    type CommandIo,
    processIo,
    readStack,
    readStacks,
    resolveProjectDir,
    runAsScript,
    runCommand,
    type UnreadableStack,
    withProjectDir,
} from "./gitops/command";
import { messageOf, Refusal } from "./gitops/refusal";
import { type Answer, formatStatusTable, type Served, type StatusRow, statusRows, withServed } from "./gitops/registryState";
import type { StackText } from "./gitops/stackText";
import { canaryStatusReader } from "./monitor/canaryStatus";
import { canaryPhase, servedVersion } from "./rollout/decision";
import { KubectlError, type ObjectReader } from "./rollout/kubectl";
import { CANARY_RESOURCE, DEPLOYMENT_RESOURCE, primaryDeploymentName } from "./rollout/waiter";
import { WAIT_DEFAULTS } from "./waitForRollout";
import { loadPlatformConfig } from "../infra/validation";
import { ConfigError, parseStackFile } from "../stacks";

/**
 * `npm run status [-- --json] [--stack <stack>]`
 *
 * Per model and stack: the version git declares, where the environment's registry alias points, and
 * any drift between the two; with `--cluster` (one stack), also the version the cluster's primary
 * serves, and any disagreement with git. A registry that cannot be asked is reported per model; the command
 * itself still answers (exit 0) with what git says.
 */

export interface StatusReport {
    readonly registry: string | null;
    readonly models: readonly StatusRow[];
    /** Stack files that could not be read: reported, and the other stacks' status still given. */
    readonly unreadable: readonly UnreadableStack[];
}

export interface StatusOptions {
    readonly projectDir: string;
    readonly stack: string | undefined;
    /** `kubectl` or a file of kubectl's JSON output: also read what the stack's cluster serves (one stack only). */
    readonly cluster?: string | undefined;
    readonly context?: string | undefined;
    readonly namespace?: string;
}

export async function status(options: StatusOptions, io: CommandIo): Promise<StatusReport> {
    const subject = "report status";
    const { stacks: read, unreadable } =
        options.stack === undefined
            ? readStacks(options.projectDir, subject)
            : { stacks: [readStack(options.projectDir, options.stack, subject)], unreadable: [] };
    const stacks = read.sort(
        // In the order a version travels: staging, then production; unknown environments last.
        (a, b) => pipelineOrder(a.environment) - pipelineOrder(b.environment),
    );
    const names = [
        ...new Set(stacks.flatMap((stack) => stack.modelNames.map((model) => stack.model(model)?.registeredModel)).filter((n): n is string => n !== undefined)),
    ];
    const answers = new Map<string, Answer<RegisteredModel>>();
    let registry: MlflowRestClient | undefined;
    let unavailable: string | undefined;
    if (!io.env["MLFLOW_TRACKING_URI"]) unavailable = "MLFLOW_TRACKING_URI is not set";
    else {
        try {
            registry = MlflowRestClient.fromEnv({}, io.env);
        } catch (err) {
            unavailable = messageOf(err);
        }
    }
    await Promise.all(
        names.map(async (name) => {
            if (registry === undefined) return answers.set(name, { kind: "error", message: unavailable ?? "no registry" });
            try {
                answers.set(name, { kind: "found", value: await registry.getRegisteredModel(name) });
            } catch (err) {
                if (err instanceof RegistryNotFoundError) answers.set(name, { kind: "missing" });
                else if (err instanceof RegistryError) answers.set(name, { kind: "error", message: err.message });
                else throw err;
            }
            return answers;
        }),
    );
    const rows = statusRows(stacks, answers);
    const [only] = stacks;
    if (options.cluster === undefined || only === undefined) return { registry: registry?.registryUrl ?? null, models: rows, unreadable };
    const served = await servedBy(only, options, subject);
    return { registry: registry?.registryUrl ?? null, models: withServed(rows, served), unreadable };
}

/** Per model of the stack, what its primary serves; a cluster that cannot be read is reported per model, as the registry is. */
async function servedBy(stack: StackText, options: StatusOptions, subject: string): Promise<Map<string, Answer<Served>>> {
    let context = options.context;
    if (context === undefined && options.cluster === "kubectl") {
        try {
            context = loadPlatformConfig(parseStackFile(stack.text, stack.source.file).values, stack.source.stack).cluster.kubeContext;
        } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
        }
    }
    let reader: ObjectReader;
    try {
        reader = canaryStatusReader(options.cluster as string, context);
    } catch (err) {
        if (err instanceof KubectlError) throw Refusal.of(subject, "input", err.message);
        throw err;
    }
    const namespace = options.namespace ?? WAIT_DEFAULTS.namespace;
    const served = new Map<string, Answer<Served>>();
    for (const model of stack.modelNames) {
        try {
            const [primary, canary] = await Promise.all([
                reader.get(DEPLOYMENT_RESOURCE, primaryDeploymentName(model), namespace),
                reader.get(CANARY_RESOURCE, model, namespace),
            ]);
            if (primary === undefined) {
                served.set(model, { kind: "missing" });
                continue;
            }
            served.set(model, { kind: "found", value: { version: servedVersion(primary) ?? null, canaryPhase: canaryPhase(canary) ?? null } });
        } catch (err) {
            if (!(err instanceof KubectlError)) throw err;
            served.set(model, { kind: "error", message: err.message });
        }
    }
    return served;
}

function pipelineOrder(environment: string | undefined): number {
    const index = (ENVIRONMENTS as readonly string[]).indexOf(environment ?? "");
    return index < 0 ? ENVIRONMENTS.length : index;
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    const command = withProjectDir(new Command("status"))
        .description(
            "Per model and stack: the declared version, the registry alias' version (MLFLOW_TRACKING_URI), with --cluster the version the cluster serves, " +
                "and any disagreement between git, the registry and the cluster.",
        )
        .option("--stack <stack>", "only this stack")
        .option("--json", "print the report as JSON", false)
        .option(
            "--cluster <source>",
            "also show what the cluster serves (the <model>-primary Deployment's version) and any disagreement with git: 'kubectl', or a file of kubectl get … -o json output; needs --stack",
        )
        .option("--context <name>", "kubeconfig context for --cluster kubectl (default: the stack's cluster.kubeContext, else the current context)")
        .option("--namespace <namespace>", "the namespace of the model workloads, for --cluster", WAIT_DEFAULTS.namespace)
        .action(async (opts: { stack?: string; json: boolean; projectDir: string; cluster?: string; context?: string; namespace: string }) => {
            if (opts.cluster !== undefined && opts.stack === undefined)
                throw Refusal.of("report status", "input", "--cluster needs --stack: each stack runs on its own cluster");
            const report = await status(
                {
                    projectDir: resolveProjectDir(io, opts.projectDir),
                    stack: opts.stack,
                    cluster: opts.cluster,
                    context: opts.context,
                    namespace: opts.namespace,
                },
                io,
            );
            if (!opts.json) for (const stack of report.unreadable) io.err(`warning: not read: ${stack.problem}`);
            io.out(opts.json ? JSON.stringify(report, null, 2) : formatStatusTable(report.models, report.registry ?? undefined));
        });
    return runCommand(command, argv, io, () => 0);
}

runAsScript(module, main);
