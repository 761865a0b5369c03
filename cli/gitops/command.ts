import * as fs from "node:fs";
import * as path from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { MlflowRestClient, type ModelVersion, RegistryError, RegistryNotFoundError, type Run } from "../../policies/mlflowRestClient";
import { listStacks, STACK_FILE_LIMITS, stackFileTooLarge } from "../../stacks/stackFile";
import { RegistryNotUpdated } from "./apply";
import { CriteriaProblem } from "./criteria";
import { GitError } from "./git";
import { messageOf, Refusal } from "./refusal";
import { StackFileProblem, stackFileName, StackText } from "./stackText";

/**
 * What the four GitOps commands share: their I/O (so tests can run them in-process as well as as
 * child processes), the translation of every known failure into one line and an exit code, and the
 * reading of the project's stack files and of the registry.
 */

export interface CommandIo {
    out(text: string): void;
    err(text: string): void;
    readonly env: NodeJS.ProcessEnv;
    readonly cwd: string;
    now(): Date;
}

export const processIo: CommandIo = {
    out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
};

/** The options every command takes. */
export function withProjectDir(command: Command): Command {
    return command.option("--project-dir <dir>", "directory of Pulumi.yaml and the Pulumi.<stack>.yaml files", ".");
}

/**
 * Parses `argv` (the arguments after the script) and runs the command's action; `exitCode` is read
 * after the action. Usage errors exit 2, refusals with their own code, anything unexpected 1.
 */
export async function runCommand(command: Command, argv: readonly string[], io: CommandIo, exitCode: () => number): Promise<number> {
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    try {
        await command.parseAsync([...argv], { from: "user" });
        return exitCode();
    } catch (err) {
        if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
        if (err instanceof Refusal || err instanceof RegistryNotUpdated) {
            io.err(err.message);
            return err.exitCode;
        }
        io.err(`${command.name()} failed: ${messageOf(err)}`);
        return 1;
    }
}

/** Runs a command module's `main` when the file is executed, setting the process' exit code. */
export function runAsScript(module: NodeJS.Module, main: (argv: readonly string[], io: CommandIo) => Promise<number>): void {
    if (require.main !== module) return;
    main(process.argv.slice(2), processIo).then(
        (code) => (process.exitCode = code),
        (err: unknown) => {
            process.stderr.write(`${messageOf(err)}\n`);
            process.exitCode = 1;
        },
    );
}

export function resolveProjectDir(io: CommandIo, option: string | undefined): string {
    return path.resolve(io.cwd, option ?? ".");
}

/** A stack file that could not be read, and why (one line, naming the file). */
export interface UnreadableStack {
    readonly stack: string;
    readonly file: string;
    readonly problem: string;
}

export interface ProjectStacks {
    readonly stacks: StackText[];
    readonly unreadable: UnreadableStack[];
}

/**
 * Every `Pulumi.<stack>.yaml` of the project, parsed. A file that cannot be read is set aside with
 * its problem rather than refusing the command: a broken stack file blocks only what needs it.
 */
export function readStacks(projectDir: string, subject: string): ProjectStacks {
    let names: string[];
    try {
        names = listStacks(projectDir);
    } catch (err) {
        throw Refusal.of(subject, "input", `cannot list the stack files of ${projectDir} (${messageOf(err)})`);
    }
    const stacks: StackText[] = [];
    const unreadable: UnreadableStack[] = [];
    for (const stack of names) {
        const read = stackOrProblem(projectDir, stack);
        if (read instanceof StackText) stacks.push(read);
        else unreadable.push({ stack, file: stackFileName(stack), problem: read.problem });
    }
    return { stacks, unreadable };
}

export function readStack(projectDir: string, stack: string, subject: string): StackText {
    const read = stackOrProblem(projectDir, stack);
    if (read instanceof StackText) return read;
    throw Refusal.of(subject, "input", read.problem);
}

function stackOrProblem(projectDir: string, stack: string): StackText | { readonly problem: string } {
    const file = stackFileName(stack);
    let text: string;
    try {
        // A stack file is a few kilobytes: anything far larger is refused unread (STACK_FILE_LIMITS).
        const size = fs.statSync(path.join(projectDir, file)).size;
        if (size > STACK_FILE_LIMITS.maxBytes) return { problem: stackFileTooLarge(file, size) };
        text = fs.readFileSync(path.join(projectDir, file), "utf8");
    } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
            const known = fs.existsSync(projectDir) ? listStacks(projectDir) : [];
            return { problem: `there is no stack "${stack}" (no ${file} in ${projectDir}; stacks: ${known.join(", ") || "none"})` };
        }
        return { problem: `${file} cannot be read (${code ?? messageOf(err)})` };
    }
    try {
        return StackText.parse({ stack, file, text });
    } catch (err) {
        if (err instanceof StackFileProblem) return { problem: err.message };
        throw err;
    }
}

/** Turns the known failures of the helpers into a refusal of `subject`. */
export function asRefusal<T>(subject: string, work: () => T): T {
    try {
        return work();
    } catch (err) {
        if (err instanceof StackFileProblem || err instanceof CriteriaProblem || err instanceof GitError) throw Refusal.of(subject, "input", err.message);
        throw err;
    }
}

export async function asRefusalAsync<T>(subject: string, work: () => Promise<T>): Promise<T> {
    try {
        return await work();
    } catch (err) {
        if (err instanceof GitError) throw Refusal.of(subject, "input", err.message);
        throw err;
    }
}

/**
 * A registry answer, or `undefined` for MLflow's "does not exist". Any other failure — unreachable,
 * timing out, an error status — refuses: nothing may change on an answer the registry did not give.
 */
export async function askRegistry<T>(subject: string, question: () => Promise<T>): Promise<T | undefined> {
    try {
        return await question();
    } catch (err) {
        if (err instanceof RegistryNotFoundError) return undefined;
        if (err instanceof RegistryError) throw Refusal.of(subject, "failure", `the registry cannot be asked, so nothing was changed: ${err.message}`);
        throw err;
    }
}

/** The version and, when it has one, its run. */
export async function versionAndRun(
    registry: MlflowRestClient,
    subject: string,
    registeredModel: string,
    version: string,
): Promise<{ modelVersion: ModelVersion | undefined; run: Run | undefined }> {
    const modelVersion = await askRegistry(subject, () => registry.getModelVersion(registeredModel, version));
    const runId = modelVersion?.runId;
    const run = runId === undefined ? undefined : await askRegistry(subject, () => registry.getRun(runId));
    return { modelVersion, run };
}

/** `a,b, c` → `["a", "b", "c"]`, without empties and repeats. */
export function parseList(value: string, previous: readonly string[] = []): string[] {
    return [
        ...new Set([
            ...previous,
            ...value
                .split(",")
                .map((item) => item.trim())
                .filter((item) => item !== ""),
        ]),
    ];
}

/** A parser that throws a plain Error (with the value in its message), as commander's argument parser: a usage error, exit 2. */
export function asArgument<T>(parse: (value: string) => T): (value: string) => T {
    return (value) => {
        try {
            return parse(value);
        } catch (err) {
            throw new InvalidArgumentError((err as Error).message);
        }
    };
}
