// Go-side helpers for e2e/engine.ts: every binary is built from modules that the Go module proxy
// serves, inside a scratch module under the cache, so nothing fetched ever lands in the repository.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface RunOptions {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    /** Appended to, so one component's log holds all of its commands. */
    logFile?: string;
}

export class CommandError extends Error {
    constructor(
        readonly command: string,
        readonly output: string,
        readonly status: number | null,
    ) {
        super(`${command} failed (exit ${status ?? "signal"}):\n${tail(output, 40)}`);
        this.name = "CommandError";
    }
}

export function tail(text: string, lines: number): string {
    return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): string {
    const shown = [cmd, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
    const res = spawnSync(cmd, args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
    });
    const output = `${res.stdout ?? ""}${res.stderr ?? ""}`;
    if (opts.logFile) {
        fs.appendFileSync(opts.logFile, `$ ${shown}\n${output}\n`);
    }
    if (res.error) {
        throw new CommandError(shown, String(res.error), null);
    }
    if (res.status !== 0) {
        throw new CommandError(shown, output, res.status);
    }
    return res.stdout;
}

/**
 * The environment for every go command. GOTOOLCHAIN=local because a module that silently pulled a
 * newer toolchain would make the build depend on more than the proxy's modules; the shared
 * GOCACHE/GOMODCACHE stay whatever `go env` says, so other Go work on the machine reuses them.
 */
export function goEnv(): NodeJS.ProcessEnv {
    return { ...process.env, GOTOOLCHAIN: "local", CGO_ENABLED: "0" };
}

interface ModuleJSON {
    Path: string;
    Version: string;
    Versions?: string[];
    GoMod?: string;
    Dir?: string;
    Error?: string;
}

/** Runs `go list -m -json` outside any module, so only the proxy's answer counts. */
export function listModule(query: string, logFile?: string, versions = false): ModuleJSON {
    const args = ["list", "-m", "-json", ...(versions ? ["-versions"] : []), query];
    const out = run("go", args, { cwd: neutralDir(), env: goEnv(), logFile });
    return JSON.parse(out) as ModuleJSON;
}

export function downloadModule(mod: string, version: string, logFile?: string): Required<Pick<ModuleJSON, "Dir" | "GoMod">> {
    const out = run("go", ["mod", "download", "-json", `${mod}@${version}`], { cwd: neutralDir(), env: goEnv(), logFile });
    const info = JSON.parse(out) as ModuleJSON;
    if (!info.Dir || !info.GoMod) {
        throw new Error(`go mod download ${mod}@${version} returned no directory: ${info.Error ?? out}`);
    }
    return { Dir: info.Dir, GoMod: info.GoMod };
}

interface GoModJSON {
    Go?: string;
    Require?: { Path: string; Version: string }[];
    Replace?: { Old: { Path: string; Version?: string }; New: { Path: string; Version?: string } }[];
}

export function readGoMod(file: string): GoModJSON {
    return JSON.parse(run("go", ["mod", "edit", "-json", file], { cwd: neutralDir(), env: goEnv() })) as GoModJSON;
}

/**
 * A dependency's replace directives are ignored when it is not the main module, so a scratch
 * module must repeat the ones that point at other modules. Local-path replaces (a sibling folder
 * of the upstream repository) cannot be repeated; the caller substitutes a published version.
 */
export function moduleReplaces(goModFile: string): { copied: string[]; local: string[] } {
    const copied: string[] = [];
    const local: string[] = [];
    for (const r of readGoMod(goModFile).Replace ?? []) {
        const old = r.Old.Version ? `${r.Old.Path} ${r.Old.Version}` : r.Old.Path;
        if (r.New.Version) {
            copied.push(`${old} => ${r.New.Path} ${r.New.Version}`);
        } else {
            local.push(old);
        }
    }
    return { copied, local };
}

export interface ScratchModule {
    dir: string;
    module: string;
    go: string;
    require: [string, string][];
    replace: string[];
}

export function writeScratchModule(m: ScratchModule): void {
    fs.mkdirSync(m.dir, { recursive: true });
    const lines = [`module ${m.module}`, "", `go ${m.go}`, ""];
    for (const [mod, version] of m.require) lines.push(`require ${mod} ${version}`);
    lines.push("");
    for (const r of m.replace) lines.push(`replace ${r}`);
    fs.writeFileSync(path.join(m.dir, "go.mod"), lines.join("\n") + "\n");
    fs.rmSync(path.join(m.dir, "go.sum"), { force: true });
}

/** Semver comparison for the plain vMAJOR.MINOR.PATCH[-pre] tags the proxy lists. */
export function compareVersions(a: string, b: string): number {
    const parse = (v: string) => {
        const [core = "", pre] = v.replace(/^v/, "").split("-", 2);
        return { nums: core.split(".").map((n) => Number(n)), pre };
    };
    const x = parse(a);
    const y = parse(b);
    for (let i = 0; i < 3; i++) {
        const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
        if (d !== 0) return d;
    }
    if (x.pre === y.pre) return 0;
    if (x.pre === undefined) return 1;
    if (y.pre === undefined) return -1;
    return x.pre < y.pre ? -1 : 1;
}

export function isStable(v: string): boolean {
    return /^v\d+\.\d+\.\d+$/.test(v);
}

let neutral: string | undefined;
/** An empty directory, so go commands that must not see a go.mod (the repository has none, but
 *  a caller's cwd might) run in a known place. */
function neutralDir(): string {
    if (neutral === undefined) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-e2e-go-"));
        process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
        neutral = dir;
    }
    return neutral;
}
