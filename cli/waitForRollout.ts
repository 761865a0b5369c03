import * as path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { loadPlatformConfig } from "../infra/validation";
import { ConfigError, readStackFile, StackFileError, stackFilePath } from "../stacks";
import { checkStackName } from "./preview/options";
import { KubectlError, kubectlReader, type ObjectReader } from "./rollout/kubectl";
import { type DeclaredModel, describe, type ModelOutcome, parseDuration, parseInstant, waitForRollouts } from "./rollout/waiter";
import { asArgument, type CommandIo } from "./gitops/command";
import { Refusal } from "./gitops/refusal";
import { performRollback } from "./rollback";

/**
 * `npm run wait-rollout -- --stack <stack>`: after `pulumi up`, waits until every model the stack
 * declares is actually serving its declared version — its Flagger Canary has Succeeded (Initialized
 * for a first deploy) and the `<model>-primary` Deployment runs the declared version — so that what
 * comes next (the registry alias update) records what is served, not what was merely applied.
 */

const REPOSITORY_ROOT = path.resolve(__dirname, "..");

export const EXIT = { serving: 0, failed: 1, badInput: 2 } as const;

/** Where `infra/platform.ts` puts model workloads (`MODELS_NAMESPACE`; a test keeps the two equal). */
export const WAIT_DEFAULTS = { timeout: "30m", interval: "15s", namespace: "models" } as const;

interface Flags {
    readonly stack: string;
    readonly timeout: number;
    readonly interval: number;
    readonly namespace: string;
    readonly since?: Date;
    readonly context?: string;
    readonly projectDir: string;
    readonly rollbackFailed: boolean;
}

export function waitRolloutCommand(): Command {
    return new Command("wait-rollout")
        .description(
            "Wait until every model declared in Pulumi.<stack>.yaml serves its declared version: its Flagger Canary reached Succeeded " +
                "(Initialized on a first deploy) and its <model>-primary Deployment runs the declared mlops.dev/model-version. " +
                "Reads the cluster with kubectl.",
        )
        .addOption(
            new Option("-s, --stack <name>", "the stack whose declared models are waited for").makeOptionMandatory().argParser(asArgument(checkStackName)),
        )
        .addOption(
            new Option("--timeout <duration>", "give up after this long (e.g. 30m, 1h)")
                .default(parseDuration(WAIT_DEFAULTS.timeout), WAIT_DEFAULTS.timeout)
                .argParser(asArgument(parseDuration)),
        )
        .addOption(
            new Option("--interval <duration>", "time between polls")
                .default(parseDuration(WAIT_DEFAULTS.interval), WAIT_DEFAULTS.interval)
                .argParser(asArgument(parseDuration)),
        )
        .addOption(new Option("--namespace <namespace>", "the namespace of the model workloads").default(WAIT_DEFAULTS.namespace))
        .addOption(
            new Option(
                "--since <time>",
                "when this rollout began (ISO-8601); a Failed phase recorded earlier belongs to an earlier rollout (default: when the wait starts)",
            ).argParser(asArgument(parseInstant)),
        )
        .addOption(new Option("--context <name>", "kubeconfig context (default: the stack's cluster.kubeContext, else the current context)"))
        .addOption(new Option("--project-dir <dir>", "directory of the Pulumi.<stack>.yaml files").default(REPOSITORY_ROOT, "this checkout"))
        .addOption(
            new Option(
                "--rollback-failed",
                "when Flagger failed a model's canary, roll its declaration back in git as `npm run rollback` does (one commit; MLFLOW_TRACKING_URI for the alias), " +
                    'reason "canary failed: <Flagger\'s message>"; the exit code stays 1',
            ).default(false),
        )
        .addHelpText(
            "after",
            [
                "",
                "Exit codes:",
                "  0  every declared model serves its declared version",
                "  1  a rollout failed (Flagger rolled it back; with --rollback-failed git now declares the previous version), or the timeout passed first",
                "  2  bad input: usage, a missing or invalid stack file, kubectl missing, the cluster unreachable or refusing",
                "",
                "Example (after pulumi up, before the registry alias update):",
                '  npm run wait-rollout -- --stack production --timeout 45m --since "$ROLLOUT_STARTED_AT"',
            ].join("\n"),
        );
}

export interface WaitIo {
    readonly stdout: { write(text: string): unknown };
    readonly stderr: { write(text: string): unknown };
    /** @default process.env */
    readonly env?: NodeJS.ProcessEnv;
}

/** Runs the CLI; resolves to the exit code. `reader` replaces kubectl (tests). */
export async function main(argv: readonly string[], io: WaitIo, reader?: ObjectReader): Promise<number> {
    const command = waitRolloutCommand()
        .exitOverride()
        .configureOutput({
            writeOut: (text) => io.stdout.write(text),
            writeErr: (text) => io.stderr.write(text),
            outputError: (text, write) => write(`${text.trimEnd()} (see --help)\n`),
        });
    let flags: Flags;
    try {
        command.parse([...argv], { from: "user" });
        flags = command.opts<Flags>();
    } catch (err) {
        if (err instanceof CommanderError) return err.code === "commander.helpDisplayed" ? EXIT.serving : EXIT.badInput;
        throw err;
    }

    let models: DeclaredModel[];
    let context = flags.context;
    try {
        const config = loadPlatformConfig(readStackFile(stackFilePath(path.resolve(flags.projectDir), flags.stack)).values, flags.stack);
        models = config.models.map((m) => ({ name: m.name, version: m.version }));
        context ??= config.cluster.kubeContext;
    } catch (err) {
        if (!(err instanceof StackFileError) && !(err instanceof ConfigError)) throw err;
        io.stderr.write(`error: ${err.message}\n`);
        return EXIT.badInput;
    }
    if (models.length === 0) {
        io.stdout.write(`stack "${flags.stack}" declares no models: nothing to wait for\n`);
        return EXIT.serving;
    }

    const startedAt = new Date();
    io.stdout.write(
        `waiting up to ${formatMs(flags.timeout)} for ${models.map((m) => `${m.name}@${m.version}`).join(", ")} in namespace ${flags.namespace}` +
            `${context !== undefined ? ` (context ${context})` : ""}\n`,
    );
    try {
        const outcome = await waitForRollouts(
            models,
            {
                reader: reader ?? kubectlReader(context !== undefined ? { context } : {}),
                now: () => Date.now(),
                sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
                report: (line) => io.stdout.write(`[${new Date().toISOString()}] ${line}\n`),
            },
            { namespace: flags.namespace, timeoutMs: flags.timeout, intervalMs: flags.interval, since: flags.since ?? startedAt },
        );
        switch (outcome.result) {
            case "serving":
                io.stdout.write(`every declared model of stack "${flags.stack}" is serving its declared version\n`);
                return EXIT.serving;
            case "failed":
                for (const f of outcome.failed) io.stderr.write(`error: rollout of ${f.model} version ${f.version} failed: ${describe(f.decision)}\n`);
                if (flags.rollbackFailed) await rollBackFailedCanaries(outcome.failed, flags, io);
                return EXIT.failed;
            case "timeout":
                for (const p of outcome.pending) {
                    io.stderr.write(`error: ${p.model} version ${p.version} is not serving after ${formatMs(flags.timeout)}: ${describe(p.decision)}\n`);
                }
                return EXIT.failed;
        }
    } catch (err) {
        if (!(err instanceof KubectlError)) throw err;
        io.stderr.write(`error: ${err.message}\n`);
        return EXIT.badInput;
    }
}

/**
 * Flagger's verdict back to git: each model whose canary Flagger failed is rolled back through the
 * one rollback path (lock, compare-and-swap on the failed version, one commit, then the alias), so
 * that git, the registry and the primary agree again. A refused rollback is reported; the wait's
 * exit code stays "failed" either way.
 */
async function rollBackFailedCanaries(failed: readonly ModelOutcome[], flags: Flags, io: WaitIo): Promise<void> {
    const commandIo: CommandIo = {
        out: (text) => io.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
        err: (text) => io.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
        env: io.env ?? process.env,
        cwd: process.cwd(),
        now: () => new Date(),
    };
    for (const f of failed) {
        if (f.decision.state !== "failed" || f.decision.canaryFailed === undefined) continue;
        const reason = `canary failed: ${f.decision.canaryFailed}`;
        try {
            const outcome = await performRollback(
                f.model,
                flags.stack,
                {
                    projectDir: path.resolve(flags.projectDir),
                    dryRun: false,
                    reason,
                    incident: [`Flagger:     Canary ${f.model} Failed: ${f.decision.reason}`],
                    expectedVersion: f.version,
                },
                commandIo,
            );
            const applied = outcome.applied;
            if (applied === undefined) continue;
            io.stdout.write(
                `rolled back ${f.model} ${f.version} → ${outcome.plan.toVersion} in ${flags.stack} (${reason}): commit ${applied.commit.slice(0, 12)}` +
                    `${outcome.registryNotUpdated === undefined ? `; registry: ${applied.registryActions.join("; ")}` : `; ${outcome.registryNotUpdated.message}`}\n`,
            );
        } catch (err) {
            if (!(err instanceof Refusal)) throw err;
            io.stderr.write(`error: ${err.message}\n`);
        }
    }
}

function formatMs(ms: number): string {
    if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
    if (ms % 60_000 === 0) return `${ms / 60_000}m`;
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

if (require.main === module) {
    main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
        (code) => {
            process.exitCode = code;
        },
        (err: unknown) => {
            process.stderr.write(`error: wait-rollout failed (a bug; please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
            process.exitCode = 3;
        },
    );
}
