// Builds (once) and locates the real Pulumi engine and a real Kubernetes control plane for the
// end-to-end tests, all cached outside the repository:
//   node -r ts-node/register/transpile-only e2e/engine.ts build
// Cache root: $MLOPS_E2E_CACHE or ~/.cache/mlops-platform-e2e. MLOPS_E2E_REFRESH=1 asks the Go
// proxy again for the newest versions instead of reusing the cached answers.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    BuildContext,
    KUBE_BINARIES,
    KubeBinary,
    buildKubeBinary,
    buildKubernetesProvider,
    buildLanguageHost,
    buildPulumiCli,
    prepareKubeModule,
    probeRandomProvider,
    resolveKubernetesVersion,
    resolvePulumiVersion,
} from "./engineBuilds";
import { run, tail } from "./goModules";

const REPO = path.resolve(__dirname, "..");
const PULUMI_FLOOR = "v3.270.0";

export interface Stamp {
    key: string;
    version: string;
    files: string[];
    coldSeconds: number;
    phases: Record<string, number>;
    builtAt: string;
    notes: string[];
}

export interface Row {
    component: string;
    version: string;
    status: "built" | "found" | "unavailable";
    coldSeconds?: number;
    phases?: Record<string, number>;
    seconds: number;
}

export interface ProviderPlugin {
    name: string;
    /** What the npm SDK asks for, and the version the plugin is installed under. */
    version: string;
    /** The Go module version the binary was built from. */
    builtFrom: string;
    binary: string;
    notes: string[];
}

export interface Engine {
    cacheDir: string;
    binDir: string;
    pulumiHome: string;
    stateDir: string;
    pulumi: string;
    languageHost: string;
    kubeApiserver: string;
    kubeControllerManager: string;
    kubectl: string;
    etcd: string;
    versions: { pulumi: string; kubernetes: string; etcd: string };
    providers: ProviderPlugin[];
    unavailable: { component: string; command: string; error: string }[];
    rows: Row[];
}

export function cacheRoot(): string {
    return path.resolve(process.env.MLOPS_E2E_CACHE ?? path.join(os.homedir(), ".cache", "mlops-platform-e2e"));
}

function layout(root = cacheRoot()) {
    const dirs = {
        cacheDir: root,
        binDir: path.join(root, "bin"),
        providersDir: path.join(root, "providers"),
        pulumiHome: path.join(root, "pulumi-home"),
        stateDir: path.join(root, "state"),
        stampsDir: path.join(root, "stamps"),
        logsDir: path.join(root, "logs"),
        srcDir: path.join(root, "src"),
    };
    for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
    return dirs;
}

/** The environment every pulumi command of the tests runs with: nothing is fetched, nothing
 *  touches ~/.pulumi, and the state lives in a file backend inside the cache. */
export function engineEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const l = layout();
    return {
        ...base,
        PATH: `${l.binDir}${path.delimiter}${base.PATH ?? ""}`,
        PULUMI_HOME: l.pulumiHome,
        PULUMI_BACKEND_URL: `file://${l.stateDir}`,
        PULUMI_CONFIG_PASSPHRASE: base.PULUMI_CONFIG_PASSPHRASE ?? "mlops-e2e-local-only",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_SKIP_CONFIRMATIONS: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    };
}

type Phased = (ctx: BuildContext) => { version: string; files: string[]; notes?: string[] };

class Builder {
    readonly rows: Row[] = [];
    readonly refresh = process.env.MLOPS_E2E_REFRESH === "1";

    constructor(
        readonly l: ReturnType<typeof layout>,
        readonly progress: (line: string) => void,
    ) {}

    private stampFile(name: string): string {
        return path.join(this.l.stampsDir, `${name}.json`);
    }

    read(name: string): Stamp | undefined {
        try {
            return JSON.parse(fs.readFileSync(this.stampFile(name), "utf8")) as Stamp;
        } catch {
            return undefined;
        }
    }

    /** Reuses a stamp whose key matches and whose files still exist; builds and times otherwise. */
    step(name: string, key: string, build: Phased, opts: { row?: boolean; resolve?: boolean } = {}): Stamp {
        const started = Date.now();
        const old = this.read(name);
        const fresh = old && old.key === key && old.files.every((f) => fs.existsSync(f)) && !(opts.resolve && this.refresh);
        if (old && fresh) {
            if (opts.row !== false)
                this.rows.push({
                    component: name,
                    version: old.version,
                    status: "found",
                    coldSeconds: old.coldSeconds,
                    phases: old.phases,
                    seconds: (Date.now() - started) / 1000,
                });
            return old;
        }
        this.progress(`building ${name} ...`);
        const logFile = path.join(this.l.logsDir, `${name}.log`);
        fs.writeFileSync(logFile, "");
        const phases: Record<string, number> = {};
        const ctx: BuildContext = {
            srcDir: this.l.srcDir,
            logFile,
            phase: (phase, fn) => {
                const t = Date.now();
                try {
                    return fn();
                } finally {
                    phases[phase] = (phases[phase] ?? 0) + (Date.now() - t) / 1000;
                }
            },
        };
        let result;
        try {
            result = build(ctx);
        } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            throw new Error(`building ${name} failed (full log: ${logFile}):\n${msg}`, { cause: e });
        }
        const seconds = (Date.now() - started) / 1000;
        const stamp: Stamp = {
            key,
            version: result.version,
            files: result.files,
            coldSeconds: seconds,
            phases,
            builtAt: new Date().toISOString(),
            notes: result.notes ?? [],
        };
        fs.writeFileSync(this.stampFile(name), JSON.stringify(stamp, null, 2));
        if (opts.row !== false) this.rows.push({ component: name, version: stamp.version, status: "built", coldSeconds: seconds, phases, seconds });
        this.progress(`built ${name} ${stamp.version} in ${seconds.toFixed(1)}s`);
        return stamp;
    }
}

function goVersion(): string {
    return run("go", ["env", "GOVERSION"]).trim();
}

function sdkPluginVersion(pkg: string): string {
    const file = path.join(REPO, "node_modules", "@pulumi", pkg, "package.json");
    const json = JSON.parse(fs.readFileSync(file, "utf8")) as { version: string; pulumi?: { version?: string } };
    return (json.pulumi?.version ?? json.version).replace(/^v/, "");
}

function sourceHash(dir: string): string {
    const hash = crypto.createHash("sha256");
    for (const f of fs.readdirSync(dir).sort()) hash.update(f).update(fs.readFileSync(path.join(dir, f)));
    return hash.digest("hex").slice(0, 16);
}

/** Debian's etcd-server; a temporary policy-rc.d keeps its packaged service from starting. */
function ensureEtcd(b: Builder): Stamp {
    const etcd = "/usr/bin/etcd";
    return b.step("etcd", "debian:etcd-server", (ctx) => {
        if (!fs.existsSync(etcd)) {
            const policy = "/usr/sbin/policy-rc.d";
            const ours = !fs.existsSync(policy);
            if (ours) fs.writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
            try {
                const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
                const install = () => run("apt-get", ["install", "-y", "--no-install-recommends", "etcd-server"], { env, logFile: ctx.logFile });
                ctx.phase("apt", () => {
                    try {
                        install();
                    } catch {
                        run("apt-get", ["update"], { env, logFile: ctx.logFile });
                        install();
                    }
                });
            } finally {
                if (ours) fs.rmSync(policy, { force: true });
            }
        }
        const version = /etcd Version:\s*(\S+)/.exec(run(etcd, ["--version"]))?.[1] ?? "unknown";
        return { version, files: [etcd] };
    });
}

export interface EnsureOptions {
    progress?: (line: string) => void;
}

export function ensureEngine(opts: EnsureOptions = {}): Engine {
    const l = layout();
    const b = new Builder(l, opts.progress ?? (() => undefined));
    const gov = goVersion();
    const etcd = ensureEtcd(b);

    const kubeVersion = b.step("resolve-kubernetes", "newest-stable", (ctx) => ({ version: resolveKubernetesVersion(ctx), files: [] }), {
        row: false,
        resolve: true,
    }).version;
    const kube = {} as Record<KubeBinary, string>;
    let kubeDir: string | undefined;
    for (const name of KUBE_BINARIES) {
        const out = path.join(l.binDir, name);
        b.step(name, `${kubeVersion}:${gov}`, (ctx) => {
            kubeDir ??= ctx.phase("download", () => prepareKubeModule(kubeVersion, ctx));
            buildKubeBinary(name, kubeVersion, kubeDir, l.binDir, ctx);
            return { version: kubeVersion, files: [out] };
        });
        kube[name] = out;
    }

    const pulumiVersion = b.step(
        "resolve-pulumi",
        `>=${PULUMI_FLOOR}`,
        (ctx) => {
            const r = resolvePulumiVersion(PULUMI_FLOOR, ctx);
            return { version: r.version, files: [], notes: r.rejected };
        },
        { row: false, resolve: true },
    ).version;
    const pulumi = path.join(l.binDir, "pulumi");
    b.step("pulumi", `${pulumiVersion}:${gov}`, (ctx) => ({ version: pulumiVersion, files: [buildPulumiCli(pulumiVersion, l.binDir, ctx)] }));

    const hostSrc = path.join(__dirname, "langhost");
    const languageHost = path.join(l.binDir, "pulumi-language-nodejs");
    b.step("pulumi-language-nodejs", `${pulumiVersion}:${gov}:${sourceHash(hostSrc)}`, (ctx) => ({
        version: `${pulumiVersion} (e2e/langhost)`,
        files: [buildLanguageHost(pulumiVersion, hostSrc, l.binDir, ctx)],
    }));

    const providers: ProviderPlugin[] = [];
    const k8sWanted = sdkPluginVersion("kubernetes");
    const k8s = b.step("pulumi-resource-kubernetes", `${k8sWanted}:${gov}`, (ctx) => {
        const built = buildKubernetesProvider(k8sWanted, l.providersDir, ctx);
        return { version: built.moduleVersion, files: [built.binary], notes: built.notes };
    });
    const k8sBinary = k8s.files[0] ?? "";
    providers.push({ name: "kubernetes", version: k8sWanted, builtFrom: k8s.version, binary: k8sBinary, notes: k8s.notes });

    const unavailable: Engine["unavailable"] = [];
    const randomWanted = sdkPluginVersion("random");
    const random = b.step(
        "pulumi-resource-random",
        `probe:${randomWanted}`,
        (ctx) => {
            const probe = probeRandomProvider(randomWanted, ctx);
            return { version: "unavailable", files: [], notes: [probe.command, probe.error] };
        },
        { row: false, resolve: true },
    );
    unavailable.push({ component: "pulumi-resource-random", command: random.notes[0] ?? "", error: random.notes[1] ?? "" });
    b.rows.push({ component: "pulumi-resource-random", version: `${randomWanted} wanted`, status: "unavailable", seconds: 0 });

    const env = engineEnv();
    for (const p of providers) {
        const dest = path.join(l.pulumiHome, "plugins", `resource-${p.name}-v${p.version}`, `pulumi-resource-${p.name}`);
        const stamp = b.read(`pulumi-resource-${p.name}`);
        b.step(
            `plugin-install-${p.name}`,
            `${p.version}:${stamp?.builtAt}:${pulumiVersion}`,
            (ctx) => {
                run(pulumi, ["plugin", "install", "resource", p.name, p.version, "--file", p.binary, "--reinstall"], { env, logFile: ctx.logFile });
                return { version: p.version, files: [dest] };
            },
            { row: false },
        );
    }
    b.step(
        "login",
        `${env.PULUMI_BACKEND_URL}:${pulumiVersion}`,
        (ctx) => {
            run(pulumi, ["login", env.PULUMI_BACKEND_URL ?? ""], { env, logFile: ctx.logFile });
            return { version: pulumiVersion, files: [path.join(l.pulumiHome, "credentials.json")] };
        },
        { row: false },
    );

    return {
        cacheDir: l.cacheDir,
        binDir: l.binDir,
        pulumiHome: l.pulumiHome,
        stateDir: l.stateDir,
        pulumi,
        languageHost,
        etcd: etcd.files[0] ?? "/usr/bin/etcd",
        kubeApiserver: kube["kube-apiserver"],
        kubeControllerManager: kube["kube-controller-manager"],
        kubectl: kube.kubectl,
        versions: { pulumi: pulumiVersion, kubernetes: kubeVersion, etcd: etcd.version },
        providers,
        unavailable,
        rows: b.rows,
    };
}

function formatTable(rows: Row[]): string {
    const fmt = (n?: number) => (n === undefined ? "-" : `${n.toFixed(1)}s`);
    const lines = rows.map((r) => [
        r.component,
        r.version,
        r.status,
        fmt(r.coldSeconds),
        r.phases
            ? Object.entries(r.phases)
                  .map(([k, v]) => `${k} ${v.toFixed(0)}s`)
                  .join(", ")
            : "-",
        fmt(r.seconds),
    ]);
    const header = ["component", "version", "status", "cold build", "cold phases", "this run"];
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
    return [header, ...lines]
        .map((l) =>
            l
                .map((c, i) => c.padEnd(widths[i] ?? 0))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}

export function main(argv: string[]): number {
    if (argv[0] !== "build") {
        console.error("usage: node -r ts-node/register/transpile-only e2e/engine.ts build");
        return 2;
    }
    const started = Date.now();
    const engine = ensureEngine({ progress: (line) => console.error(line) });
    const seconds = (Date.now() - started) / 1000;
    console.log(formatTable(engine.rows));
    for (const p of engine.providers) {
        console.log(`plugin ${p.name} ${p.version}: built from ${p.builtFrom}`);
        for (const n of p.notes) console.log(`  note: ${n}`);
    }
    for (const u of engine.unavailable) console.log(`UNAVAILABLE ${u.component}: ${u.command}\n  ${tail(u.error, 3)}`);
    const warm = engine.rows.every((r) => r.status !== "built");
    console.log(`ensureEngine() took ${seconds.toFixed(2)}s (${warm ? "warm: everything found" : "cold: something was built"})`);
    const file = path.join(engine.cacheDir, "timings.json");
    let previous: { warmStartSeconds?: number } = {};
    try {
        previous = JSON.parse(fs.readFileSync(file, "utf8")) as typeof previous;
    } catch {
        // first run
    }
    const pulumiVersionOut = execFileSync(engine.pulumi, ["version"], { env: engineEnv(), encoding: "utf8" }).trim();
    fs.writeFileSync(
        file,
        JSON.stringify(
            {
                updatedAt: new Date().toISOString(),
                lastRunSeconds: seconds,
                warmStartSeconds: warm ? seconds : previous.warmStartSeconds,
                pulumiVersion: pulumiVersionOut,
                components: engine.rows,
                providers: engine.providers,
                unavailable: engine.unavailable,
            },
            null,
            2,
        ),
    );
    console.log(`timings: ${file}`);
    return 0;
}

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
