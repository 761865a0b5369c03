import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { GitRepository } from "./git";
import { Refusal } from "./refusal";

/**
 * One change of a declared version at a time per repository: a lock file in git's own directory,
 * created exclusively (`O_EXCL`), held from the moment a command reads the stack file until its
 * commit and registry writes are done. Together with the re-read of the declared version under the
 * lock (the caller's compare-and-swap), two monitors — or a monitor and a person running `rollback`
 * — that decided on the same version cannot both commit: the second finds the version gone.
 */

export const DECLARATION_LOCK = "mlops-declaration.lock";

/** How long a command waits for another one's lock: a rollback takes seconds (git, then the registry). */
export const DECLARATION_LOCK_WAIT_MS = 60_000;
const POLL_MS = 100;

interface Holder {
    readonly pid: number;
    readonly host: string;
    readonly since: string;
}

export async function withDeclarationLock<T>(
    repo: GitRepository,
    subject: string,
    work: () => Promise<T>,
    options: { readonly waitMs?: number; readonly onWait?: (message: string) => void } = {},
): Promise<T> {
    const file = path.join(await repo.commonDir(), DECLARATION_LOCK);
    const deadline = Date.now() + (options.waitMs ?? DECLARATION_LOCK_WAIT_MS);
    let told = false;
    for (;;) {
        if (tryCreate(file)) break;
        const holder = readHolder(file);
        // A holder on this machine that no longer runs left its lock behind when it crashed.
        if (holder !== undefined && holder.host === os.hostname() && !isRunning(holder.pid)) {
            fs.rmSync(file, { force: true });
            continue;
        }
        if (Date.now() > deadline) {
            throw Refusal.of(
                subject,
                "failure",
                `another command holds ${file}${holder === undefined ? "" : ` (pid ${holder.pid} on ${holder.host} since ${holder.since})`}; ` +
                    "nothing was changed: run again once it is done, or remove the file if no such process runs",
            );
        }
        if (!told) options.onWait?.(`waiting: another command holds ${file}`);
        told = true;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    try {
        return await work();
    } finally {
        fs.rmSync(file, { force: true });
    }
}

function tryCreate(file: string): boolean {
    const holder: Holder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
    try {
        fs.writeFileSync(file, `${JSON.stringify(holder)}\n`, { flag: "wx" });
        return true;
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw err;
    }
}

function readHolder(file: string): Holder | undefined {
    try {
        const holder = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Holder>;
        return typeof holder.pid === "number" && typeof holder.host === "string" && typeof holder.since === "string" ? (holder as Holder) : undefined;
    } catch {
        // Gone, or being written this very moment: the next attempt tells.
        return undefined;
    }
}

function isRunning(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
    }
}
