import { type ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { VERSITYGW_VERSION } from "../../components/objectStore";
import { PROJECT_DIR } from "../harness";

/**
 * The Versity S3 Gateway the local stack deploys, as a local process: built from the Go module proxy
 * by `.ci/versitygw.sh` (at the component's VERSITYGW_VERSION) into a cache outside the repository,
 * on first use — so a test never skips for it.
 */

export const TOOLS_DIR = process.env["MLOPS_TOOLS_DIR"] ?? path.join(os.homedir(), ".cache", "mlops-platform", "tools");

export function versitygwBinary(): string {
    return path.join(TOOLS_DIR, `versitygw-${VERSITYGW_VERSION}`);
}

/** Builds the binary if it is missing (minutes the first time, nothing after). */
export function ensureVersitygw(): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            "bash",
            [path.join(PROJECT_DIR, ".ci", "versitygw.sh"), VERSITYGW_VERSION],
            { env: { ...process.env, MLOPS_TOOLS_DIR: TOOLS_DIR }, timeout: 900_000 },
            (error, _stdout, stderr) =>
                error === null ? resolve(versitygwBinary()) : reject(new Error(`.ci/versitygw.sh ${VERSITYGW_VERSION} failed: ${stderr}`)),
        );
    });
}

export interface RunningGateway {
    readonly url: string;
    readonly dataDir: string;
    stop(): Promise<void>;
}

/** Starts the gateway with the given command line (the component's, with local paths) and waits for its health path. */
export async function startVersitygw(command: readonly string[], env: Readonly<Record<string, string>>, url: string, dataDir: string): Promise<RunningGateway> {
    const [, ...args] = command;
    const child: ChildProcess = spawn(versitygwBinary(), args, { env: { PATH: process.env["PATH"] ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    child.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`versitygw exited with ${child.exitCode}: ${log}`);
        try {
            if ((await fetch(`${url}/health`)).ok) break;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`versitygw did not answer ${url}/health within 30 s: ${log}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    return {
        url,
        dataDir,
        stop: () =>
            new Promise((resolve) => {
                if (child.exitCode !== null) return resolve();
                child.once("exit", () => resolve());
                child.kill("SIGTERM");
            }),
    };
}

export function removeDir(dir: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
}
