import * as path from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { loadPlatformConfig } from "../infra/validation";
import { ConfigError, readStackFile, StackFileError, stackFilePath } from "../stacks";
import { checkStackName } from "./preview/options";
import { KubectlError, kubectlReader, type ObjectReader } from "./rollout/kubectl";
import { type DeclaredModel, describe, parseDuration, waitForRollouts } from "./rollout/waiter";

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
}

export function waitRolloutCommand(): Command {
    const asArgument =
        <T>(parse: (value: string) => T) =>
        (value: string): T => {
            try {
                return parse(value);
            } catch (err) {
                throw new InvalidArgumentError((err as Error).message);
            }
        };
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
        .addHelpText(
            "after",
            [
                "",
                "Exit codes:",
                "  0  every declared model serves its declared version",
                "  1  a rollout failed (Flagger rolled it back), or the timeout passed first",
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
        const config = loadPlatformConfig(readStackFile(stackFilePath(REPOSITORY_ROOT, flags.stack)).values, flags.stack);
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

function parseInstant(text: string): Date {
    const time = Date.parse(text);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(time))
        throw new Error(`expected an ISO-8601 time such as 2026-11-20T10:00:00Z, got ${JSON.stringify(text)}`);
    return new Date(time);
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
