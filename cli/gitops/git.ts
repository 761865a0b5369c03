import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The few git operations the GitOps commands need, through the `git` executable (so hooks, config
 * and signing work as the user set them up). History is only ever added to: one commit of one file.
 */

export class GitError extends Error {}

export interface GitCommit {
    readonly sha: string;
    /** The first line of the message. */
    readonly subject: string;
}

export class GitRepository {
    private constructor(readonly root: string) {}

    /** The repository `dir` is in; throws `GitError` when it is in none. */
    static async open(dir: string): Promise<GitRepository> {
        const root = (await runGit(dir, ["rev-parse", "--show-toplevel"])).trim();
        return new GitRepository(fs.realpathSync(root));
    }

    /** A path relative to the repository root, as git names it. */
    relative(file: string): string {
        const absolute = path.resolve(file);
        const real = path.join(fs.realpathSync(path.dirname(absolute)), path.basename(absolute));
        return path.relative(this.root, real).split(path.sep).join("/");
    }

    async isTracked(file: string): Promise<boolean> {
        return (await this.git(["ls-files", "--", this.relative(file)])).trim() !== "";
    }

    /** `git status --porcelain` lines for the file: staged or unstaged changes (empty when clean). */
    async changes(file: string): Promise<string[]> {
        const output = await this.git(["status", "--porcelain=v1", "--untracked-files=all", "--", this.relative(file)]);
        return output.split("\n").filter((line) => line !== "");
    }

    async head(): Promise<string> {
        return (await this.git(["rev-parse", "HEAD"])).trim();
    }

    /**
     * Commits this one file as it is in the working tree, whatever else is staged (`git commit --only`),
     * and returns the new commit.
     */
    async commitFile(file: string, message: string): Promise<string> {
        await this.git(["commit", "--only", "--quiet", "--file=-", "--", this.relative(file)], message);
        return this.head();
    }

    /** Commits that changed the file, newest first (only those reachable from HEAD). */
    async history(file: string): Promise<GitCommit[]> {
        const output = await this.git(["log", "--format=%H%x09%s", "--", this.relative(file)]);
        return output
            .split("\n")
            .filter((line) => line !== "")
            .map((line) => {
                const tab = line.indexOf("\t");
                return { sha: line.slice(0, tab), subject: line.slice(tab + 1) };
            });
    }

    /** The file's text at a commit, or `undefined` when the commit has no such file. */
    async show(commit: string, file: string): Promise<string | undefined> {
        try {
            return await this.git(["show", `${commit}:${this.relative(file)}`]);
        } catch (err) {
            if (err instanceof GitError && /does not exist|exists on disk, but not in/.test(err.message)) return undefined;
            throw err;
        }
    }

    private git(args: readonly string[], input?: string): Promise<string> {
        return runGit(this.root, args, input);
    }
}

function runGit(cwd: string, args: readonly string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            "git",
            ["-C", cwd, ...args],
            // Messages are parsed only for "does not exist"; the C locale keeps them in English.
            { env: { ...process.env, LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" }, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
            (error, stdout, stderr) => {
                if (error) {
                    const detail = (stderr.trim() || stdout.trim() || error.message)
                        .split("\n")
                        .filter((line) => line.trim() !== "")
                        .join(" / ");
                    reject(new GitError(`git ${args[0] ?? ""} failed: ${detail}`));
                } else resolve(stdout);
            },
        );
        if (input !== undefined) child.stdin?.end(input);
        else child.stdin?.end();
    });
}
