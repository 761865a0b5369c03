import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { type CliFlags, resolveOptions, stackNameProblem, UsageError } from "./preview/options";
import { Progress, progressWanted } from "./preview/progress";
import { REPORT_FORMAT } from "./preview/report";
import { describeFailure, EXIT, exitCodeOf, runPreview } from "./preview/run";

/**
 * `npm run preview -- --stack <name>`: what `pulumi preview --policy-pack policies` would show for
 * a stack, on a machine with no cloud account and no Pulumi CLI.
 */

export function previewCommand(): Command {
    return (
        new Command("preview")
            .description(
                "Preview a stack offline: run the program under Pulumi's mocks, check every resource with the policy pack (a real analyzer plugin over gRPC), " +
                    "write every Kubernetes object as YAML and validate it against its schema, and summarise the result.",
            )
            .addOption(
                new Option("-s, --stack <name>", "the stack to preview (its Pulumi.<name>.yaml is read)").makeOptionMandatory().argParser((value: string) => {
                    const problem = stackNameProblem(value);
                    if (problem !== undefined) throw new InvalidArgumentError(`${problem[0]?.toUpperCase()}${problem.slice(1)}.`);
                    return value;
                }),
            )
            .addOption(new Option("--json", `print the report as JSON (format "${REPORT_FORMAT}", see cli/preview/report.ts)`).conflicts("markdown"))
            .addOption(new Option("--markdown", "print the report as Markdown for a pull-request comment (with a Mermaid diagram of the components)"))
            // Defaults that depend on the stack are resolved later (resolveOptions), so they are described here.
            .addOption(new Option("--out <dir>", "where the manifests are written, one YAML file per object (default: out/<stack> in the repository)"))
            .addOption(new Option("--project-dir <dir>", "the directory holding the Pulumi.<stack>.yaml files (default: the repository root)"))
            .addOption(
                new Option(
                    "--policy-config <file>",
                    "the policy pack's config, as --policy-pack-config (default: policies/config/<stack>.json, else policies/config/<environment>.json)",
                ),
            )
            .addOption(
                new Option(
                    "--registry <url>",
                    "the MLflow tracking server to cross-check the declared promotion evidence against (default: none, the evidence is checked on its own)",
                ).env("MLFLOW_TRACKING_URI"),
            )
            .addHelpText(
                "after",
                [
                    "",
                    "Exit codes:",
                    "  0  clean: no mandatory policy violation, every manifest valid",
                    "  1  a mandatory policy violation or an invalid manifest",
                    "  2  bad input: usage, a missing or malformed stack file, a configuration error, a bad policy config",
                    "  3  the preview could not run (the policy pack did not start, or a bug)",
                    "",
                    "A progress line is written to stderr when stdout is a terminal and CI is not set.",
                    "",
                    "Example:",
                    "  npm run preview -- --stack staging",
                ].join("\n"),
            )
    );
}

/** Runs the CLI; resolves to the exit code. Output goes to the given streams. */
export async function main(argv: readonly string[], io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream; env: NodeJS.ProcessEnv }): Promise<number> {
    const command = previewCommand()
        .exitOverride()
        .configureOutput({
            writeOut: (text) => io.stdout.write(text),
            writeErr: (text) => io.stderr.write(text),
            // One line: commander's message and where to look.
            outputError: (text, write) => write(`${text.trimEnd()} (see --help)\n`),
        });
    let flags: CliFlags;
    try {
        command.parse([...argv], { from: "user" });
        const parsed = command.opts<CliFlags>();
        // The environment's MLFLOW_TRACKING_URI is resolved (and named in the report) by resolveOptions.
        flags = command.getOptionValueSource("registry") === "cli" ? parsed : { ...parsed, registry: undefined };
    } catch (err) {
        if (err instanceof CommanderError) return err.code === "commander.helpDisplayed" || err.code === "commander.version" ? EXIT.clean : EXIT.badInput;
        throw err;
    }

    let options;
    try {
        options = resolveOptions(flags, io.env);
    } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        for (const line of describeFailure(err, flags.stack, "config")) io.stderr.write(`${line}\n`);
        return exitCodeOf(err, "config");
    }

    const progress = new Progress(io.stderr, progressWanted(io.stdout, io.env));
    const outcome = await runPreview(options, progress);
    for (const line of outcome.errors) io.stderr.write(`${line}\n`);
    io.stdout.write(outcome.output);
    return outcome.exitCode;
}

if (require.main === module) {
    main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
        (code) => {
            process.exitCode = code;
            // Everything is closed by now and Node exits on its own; should a handle have leaked
            // (e.g. a server left open by a failed start), the answer is given anyway.
            setTimeout(() => process.exit(code), 2000).unref();
        },
        (err: unknown) => {
            process.stderr.write(`error: the preview failed (a bug; please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
            process.exitCode = EXIT.internal;
            setTimeout(() => process.exit(EXIT.internal), 2000).unref();
        },
    );
}
