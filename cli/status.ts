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
import { messageOf } from "./gitops/refusal";
import { type Answer, formatStatusTable, type StatusRow, statusRows } from "./gitops/registryState";

/**
 * `npm run status [-- --json] [--stack <stack>]`
 *
 * Per model and stack: the version git declares, where the environment's registry alias points, and
 * any drift between the two. A registry that cannot be asked is reported per model; the command
 * itself still answers (exit 0) with what git says.
 */

export interface StatusReport {
    readonly registry: string | null;
    readonly models: readonly StatusRow[];
    /** Stack files that could not be read: reported, and the other stacks' status still given. */
    readonly unreadable: readonly UnreadableStack[];
}

export async function status(options: { readonly projectDir: string; readonly stack: string | undefined }, io: CommandIo): Promise<StatusReport> {
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
    return { registry: registry?.registryUrl ?? null, models: statusRows(stacks, answers), unreadable };
}

function pipelineOrder(environment: string | undefined): number {
    const index = (ENVIRONMENTS as readonly string[]).indexOf(environment ?? "");
    return index < 0 ? ENVIRONMENTS.length : index;
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    const command = withProjectDir(new Command("status"))
        .description(
            "Per model and stack: the declared version, the registry alias' version (MLFLOW_TRACKING_URI), and any drift between git and the registry.",
        )
        .option("--stack <stack>", "only this stack")
        .option("--json", "print the report as JSON", false)
        .action(async (opts: { stack?: string; json: boolean; projectDir: string }) => {
            const report = await status({ projectDir: resolveProjectDir(io, opts.projectDir), stack: opts.stack }, io);
            if (!opts.json) for (const stack of report.unreadable) io.err(`warning: not read: ${stack.problem}`);
            io.out(opts.json ? JSON.stringify(report, null, 2) : formatStatusTable(report.models, report.registry ?? undefined));
        });
    return runCommand(command, argv, io, () => 0);
}

runAsScript(module, main);
