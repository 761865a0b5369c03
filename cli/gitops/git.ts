import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * The few git operations the GitOps commands need, through the `git` executable (so hooks, config
 * and signing work as the user set them up). History is only ever added to: one commit of one file,
 * on the current branch or on a new branch pushed for review.
 */

export class GitError extends Error {
    constructor(
        message: string,
        /** git's exit code, when it ran. */
        readonly exitCode?: number,
        /** The `index.lock` another git process holds, when that is why git refused. */
        readonly lockFile?: string,
    ) {
        super(message);
    }
}

export interface GitCommit {
    readonly sha: string;
    /** The first line of the message. */
    readonly subject: string;
}

export interface GitOptions {
    /** Told once when a command waits for another git process's `index.lock`. */
    readonly onLockWait?: (message: string) => void;
}

/**
 * How long a command waits for another git process's `index.lock` before giving up: git holds it
 * for the moment a commit or a status refresh takes, so a few seconds is plenty, and a lock still
 * there after them is most likely left by a git that crashed.
 */
export const INDEX_LOCK_RETRY_MS: readonly number[] = [100, 200, 400, 800, 1500, 2000];

export class GitRepository {
    private waitReported = false;

    private constructor(
        readonly root: string,
        private readonly options: GitOptions,
    ) {}

    /** The repository `dir` is in; throws `GitError` when it is in none. */
    static async open(dir: string, options: GitOptions = {}): Promise<GitRepository> {
        const root = (await runGit(dir, ["rev-parse", "--show-toplevel"])).trim();
        return new GitRepository(fs.realpathSync(root), options);
    }

    /** The branch HEAD is on, or `undefined` when HEAD is detached. */
    async currentBranch(): Promise<string | undefined> {
        try {
            return (await this.git(["symbolic-ref", "--quiet", "--short", "HEAD"])).trim();
        } catch (err) {
            if (err instanceof GitError && err.exitCode === 1) return undefined;
            throw err;
        }
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

    /** The directory git keeps its own files in (shared by every worktree), for locks of our own beside git's. */
    async commonDir(): Promise<string> {
        return path.resolve(this.root, (await this.git(["rev-parse", "--git-common-dir"])).trim());
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

    /** The URL of a remote; throws `GitError` when there is no such remote. */
    async remoteUrl(remote: string): Promise<string> {
        return (await this.git(["remote", "get-url", remote])).trim();
    }

    /** Whether the branch exists here. */
    async hasBranch(branch: string): Promise<boolean> {
        try {
            await this.git(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`]);
            return true;
        } catch (err) {
            if (err instanceof GitError && err.exitCode === 1) return false;
            throw err;
        }
    }

    /** Whether the remote has the branch (asks the remote). */
    async remoteHasBranch(remote: string, branch: string): Promise<boolean> {
        return (await this.git(["ls-remote", "--heads", remote, `refs/heads/${branch}`])).trim() !== "";
    }

    /**
     * Commits `text` as the file on a new branch made from HEAD, in a temporary worktree: the user's
     * checkout (HEAD, index, working tree) is never touched, while hooks and signing run as for any
     * commit. Returns the commit; on failure the branch is deleted again.
     */
    async commitOnNewBranch(branch: string, file: string, text: string, message: string): Promise<string> {
        const relative = this.relative(file);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-promote-"));
        let created = false;
        try {
            await this.git(["worktree", "add", "--quiet", "-b", branch, dir, "HEAD"]);
            created = true;
            const worktree = new GitRepository(fs.realpathSync(dir), this.options);
            fs.writeFileSync(path.join(dir, relative), text);
            await worktree.git(["commit", "--only", "--quiet", "--file=-", "--", relative], message);
            const commit = (await worktree.git(["rev-parse", "HEAD"])).trim();
            created = false;
            return commit;
        } finally {
            await this.git(["worktree", "remove", "--force", dir]).catch(() => fs.rmSync(dir, { recursive: true, force: true }));
            await this.git(["worktree", "prune"]).catch(() => undefined);
            if (created) await this.git(["branch", "-D", branch]).catch(() => undefined);
        }
    }

    /** Pushes a branch to a remote, as a new branch there. */
    async pushBranch(remote: string, branch: string): Promise<void> {
        await this.git(["push", "--quiet", remote, `refs/heads/${branch}:refs/heads/${branch}`]);
    }

    async deleteBranch(branch: string): Promise<void> {
        await this.git(["branch", "-D", "--quiet", branch]);
    }

    /** Whether the repository has the commit (a shallow or different clone may not). */
    async hasCommit(commit: string): Promise<boolean> {
        try {
            await this.git(["cat-file", "-e", `${commit}^{commit}`]);
            return true;
        } catch (err) {
            if (err instanceof GitError && err.exitCode !== undefined) return false;
            throw err;
        }
    }

    /** The commit's parents. */
    async parents(commit: string): Promise<string[]> {
        return (await this.git(["rev-list", "--parents", "-n", "1", commit])).trim().split(/\s+/).slice(1);
    }

    /** The paths a single-parent commit changed, as git names them. */
    async changedFiles(commit: string): Promise<string[]> {
        const output = await this.git(["diff-tree", "--no-commit-id", "--name-only", "-r", commit]);
        return output.split("\n").filter((line) => line !== "");
    }

    /** The trailers of one commit's message, in order. */
    async commitTrailers(commit: string): Promise<Array<readonly [string, string]>> {
        return parseTrailers(await this.git(["log", "-1", "--format=%(trailers:only,unfold)", commit]));
    }

    /** Commits that changed the file, newest first (only those reachable from `from`, HEAD by default). */
    async history(file: string, from = "HEAD"): Promise<GitCommit[]> {
        const output = await this.git(["log", "--format=%H%x09%s", from, "--", this.relative(file)]);
        return output
            .split("\n")
            .filter((line) => line !== "")
            .map((line) => {
                const tab = line.indexOf("\t");
                return { sha: line.slice(0, tab), subject: line.slice(tab + 1) };
            });
    }

    /** The trailers (`Key: value` lines ending the message) of the commits that changed the file, newest first. */
    async trailers(
        file: string,
    ): Promise<Array<{ readonly sha: string; readonly committedAt: string; readonly trailers: ReadonlyArray<readonly [string, string]> }>> {
        const output = await this.git(["log", "--format=%H%x1f%cI%x1f%(trailers:only,unfold)%x1e", "--", this.relative(file)]);
        return output
            .split("\x1e")
            .map((record) => record.replace(/^\n/, ""))
            .filter((record) => record.trim() !== "")
            .map((record) => {
                const [sha = "", committedAt = "", lines = ""] = record.split("\x1f");
                return { sha, committedAt, trailers: parseTrailers(lines) };
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

    /** Runs git; a command refused because another git process holds `index.lock` is retried (INDEX_LOCK_RETRY_MS), then refused in one line. */
    private async git(args: readonly string[], input?: string): Promise<string> {
        for (let attempt = 0; ; attempt++) {
            try {
                return await runGit(this.root, args, input);
            } catch (err) {
                const lock = err instanceof GitError ? err.lockFile : undefined;
                if (lock === undefined) throw err;
                const delay = INDEX_LOCK_RETRY_MS[attempt];
                if (delay === undefined) {
                    const waited = INDEX_LOCK_RETRY_MS.reduce((sum, ms) => sum + ms, 0) / 1000;
                    throw new GitError(
                        `git ${args[0] ?? ""} failed: another git process holds ${lock} (still there after ${waited} s); ` +
                            "let it finish, or remove the file if no git process is running",
                    );
                }
                if (!this.waitReported) this.options.onLockWait?.(`waiting: another git process holds ${lock}`);
                this.waitReported = true;
                await new Promise((resolve) => setTimeout(resolve, delay));
            }
        }
    }
}

/** `Key: value` lines, as `%(trailers:only,unfold)` prints them. */
function parseTrailers(lines: string): Array<readonly [string, string]> {
    return lines
        .split("\n")
        .map((line) => /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match): readonly [string, string] => [match[1] as string, (match[2] as string).trim()]);
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
                    const lock = /Unable to create '([^']*index\.lock)': File exists/.exec(stderr)?.[1];
                    reject(new GitError(`git ${args[0] ?? ""} failed: ${detail}`, typeof error.code === "number" ? error.code : undefined, lock));
                } else resolve(stdout);
            },
        );
        // git may exit before reading its input (a held index.lock): the exit code says why, not EPIPE.
        child.stdin?.on("error", () => undefined);
        if (input !== undefined) child.stdin?.end(input);
        else child.stdin?.end();
    });
}
