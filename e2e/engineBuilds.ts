// Build recipes for e2e/engine.ts. Each one writes a scratch Go module under the cache, resolves
// versions only through the Go module proxy, and returns what it built; timing and caching are
// engine.ts's business.
import * as fs from "node:fs";
import * as path from "node:path";
import { CommandError, compareVersions, downloadModule, goEnv, isStable, listModule, moduleReplaces, readGoMod, run, writeScratchModule } from "./goModules";

export const PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3";
export const PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3";
const PULUMI_VERSION_VAR = `${PULUMI_SDK}/go/common/version.Version`;
export const K8S_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4";
const K8S_PROVIDER_VERSION_VAR = `${K8S_PROVIDER}/pkg/version.Version`;
export const RANDOM_PROVIDER = "github.com/pulumi/pulumi-random/provider/v4";
const KUBERNETES = "k8s.io/kubernetes";

export interface BuildContext {
    srcDir: string;
    logFile: string;
    /** Called around each timed phase, so engine.ts can report download versus compile time. */
    phase<T>(name: string, fn: () => T): T;
}

function go(args: string[], ctx: BuildContext, cwd: string, extraEnv: NodeJS.ProcessEnv = {}): string {
    return run("go", args, { cwd, env: { ...goEnv(), ...extraEnv }, logFile: ctx.logFile });
}

/** Newest stable version >= floor that `go get` plus `go mod tidy` accept, newest first. */
export function resolvePulumiVersion(floor: string, ctx: BuildContext): { version: string; rejected: string[] } {
    const listed = listModule(PULUMI_PKG, ctx.logFile, true).Versions ?? [];
    const candidates = listed.filter((v) => isStable(v) && compareVersions(v, floor) >= 0).sort((a, b) => compareVersions(b, a));
    const rejected: string[] = [];
    for (const v of candidates) {
        try {
            preparePulumiModule(v, ctx);
            return { version: v, rejected };
        } catch (e) {
            rejected.push(`${v}: ${e instanceof Error ? e.message.split("\n").slice(0, 3).join(" ") : String(e)}`);
        }
    }
    throw new Error(`no ${PULUMI_PKG} version >= ${floor} could be resolved:\n${rejected.join("\n")}`);
}

function pulumiModuleDir(ctx: BuildContext): string {
    return path.join(ctx.srcDir, "pulumi-cli");
}

/** pkg/v3 replaces sdk/v3 with its sibling folder; requiring sdk/v3 at the same tag is the same code. */
function preparePulumiModule(version: string, ctx: BuildContext): void {
    const dir = pulumiModuleDir(ctx);
    const pkg = downloadModule(PULUMI_PKG, version, ctx.logFile);
    writeScratchModule({
        dir,
        module: "mlops-e2e/pulumi-cli",
        go: readGoMod(pkg.GoMod).Go ?? "1.26",
        require: [
            [PULUMI_PKG, version],
            [PULUMI_SDK, version],
        ],
        replace: moduleReplaces(pkg.GoMod).copied,
    });
    go(["get", "-tool", `${PULUMI_PKG}/cmd/pulumi`], ctx, dir);
    go(["mod", "tidy"], ctx, dir);
}

export function buildPulumiCli(version: string, binDir: string, ctx: BuildContext): string {
    const dir = pulumiModuleDir(ctx);
    if (!fs.existsSync(path.join(dir, "go.sum"))) {
        ctx.phase("download", () => preparePulumiModule(version, ctx));
    }
    const out = path.join(binDir, "pulumi");
    ctx.phase("compile", () => go(["build", "-trimpath", "-ldflags", `-X ${PULUMI_VERSION_VAR}=${version}`, "-o", out, `${PULUMI_PKG}/cmd/pulumi`], ctx, dir));
    return out;
}

/** Our own language host (e2e/langhost), compiled against the same sdk/v3 as the CLI. */
export function buildLanguageHost(sdkVersion: string, sourceDir: string, binDir: string, ctx: BuildContext): string {
    const dir = path.join(ctx.srcDir, "language-host");
    fs.rmSync(dir, { recursive: true, force: true });
    const sdk = ctx.phase("download", () => downloadModule(PULUMI_SDK, sdkVersion, ctx.logFile));
    writeScratchModule({
        dir,
        module: "mlops-e2e/pulumi-language-nodejs",
        go: readGoMod(sdk.GoMod).Go ?? "1.26",
        require: [[PULUMI_SDK, sdkVersion]],
        replace: [],
    });
    for (const f of fs.readdirSync(sourceDir).filter((n) => n.endsWith(".go"))) {
        fs.copyFileSync(path.join(sourceDir, f), path.join(dir, f));
    }
    ctx.phase("download", () => go(["mod", "tidy"], ctx, dir));
    const out = path.join(binDir, "pulumi-language-nodejs");
    ctx.phase("compile", () => go(["build", "-trimpath", "-ldflags", `-X main.version=${sdkVersion.replace(/^v/, "")}`, "-o", out, "."], ctx, dir));
    return out;
}

export interface ProviderBuild {
    binary: string;
    /** The module version the proxy served, which may differ from the one the npm SDK asks for. */
    moduleVersion: string;
    notes: string[];
}

/**
 * The provider embeds its schema from schema-embed.json, which upstream's `go generate` writes
 * from schema.json with the version stamped in; the module zip ships only schema.json, so we copy
 * the command's package into the scratch module and run the same generator there.
 */
export function buildKubernetesProvider(wanted: string, outDir: string, ctx: BuildContext): ProviderBuild {
    const notes: string[] = [];
    const resolved = ctx.phase("download", () => {
        try {
            return listModule(`${K8S_PROVIDER}@v${wanted}`, ctx.logFile);
        } catch (e) {
            const reason = e instanceof CommandError ? e.output.trim().split("\n")[0] : String(e);
            notes.push(`go list -m ${K8S_PROVIDER}@v${wanted} refused: ${reason}`);
            const latest = listModule(`${K8S_PROVIDER}@latest`, ctx.logFile);
            notes.push(`built ${K8S_PROVIDER}@${latest.Version} instead, the only version the proxy serves`);
            return latest;
        }
    });
    const mod = ctx.phase("download", () => downloadModule(K8S_PROVIDER, resolved.Version, ctx.logFile));
    const gomod = readGoMod(mod.GoMod);
    const { copied, local } = moduleReplaces(mod.GoMod);
    // A local replace points at the provider repository's own sdk folder; the version its go.mod
    // requires is the closest published stand-in.
    const replace = [...copied];
    for (const p of local) {
        const req = gomod.Require?.find((r) => r.Path === p);
        if (!req) throw new Error(`${K8S_PROVIDER} replaces ${p} locally and does not require it`);
        replace.push(`${p} => ${p} ${req.Version}`);
        notes.push(`local replace ${p} => ../sdk substituted with ${p}@${req.Version}`);
    }
    notes.push(`copied replace lines: ${copied.length ? copied.join("; ") : "(none)"}`);
    const dir = path.join(ctx.srcDir, "kubernetes-provider");
    fs.rmSync(dir, { recursive: true, force: true });
    writeScratchModule({
        dir,
        module: "mlops-e2e/pulumi-resource-kubernetes",
        go: gomod.Go ?? "1.24",
        require: [[K8S_PROVIDER, resolved.Version]],
        replace,
    });
    const cmdDir = path.join(dir, "cmd", "pulumi-resource-kubernetes");
    fs.mkdirSync(cmdDir, { recursive: true });
    for (const f of ["main.go", "generate.go", "schema.json", "terraform-mapping.json"]) {
        fs.copyFileSync(path.join(mod.Dir, "cmd", "pulumi-resource-kubernetes", f), path.join(cmdDir, f));
        fs.chmodSync(path.join(cmdDir, f), 0o644);
    }
    ctx.phase("download", () => go(["mod", "tidy"], ctx, dir));
    const version = resolved.Version.replace(/^v/, "");
    ctx.phase("generate", () => go(["run", "generate.go"], ctx, cmdDir, { VERSION: version }));
    const binary = path.join(outDir, "pulumi-resource-kubernetes");
    ctx.phase("compile", () =>
        go(["build", "-trimpath", "-ldflags", `-X ${K8S_PROVIDER_VERSION_VAR}=${version}`, "-o", binary, "./cmd/pulumi-resource-kubernetes"], ctx, dir),
    );
    return { binary, moduleVersion: resolved.Version, notes };
}

/** Only asks the proxy: there is no recipe to follow until it serves the module at all. */
export function probeRandomProvider(wanted: string, ctx: BuildContext): { command: string; error: string } {
    const command = `go list -m -json ${RANDOM_PROVIDER}@v${wanted}`;
    try {
        const found = listModule(`${RANDOM_PROVIDER}@v${wanted}`, ctx.logFile);
        return { command, error: `served as ${found.Version}, but e2e/engineBuilds.ts has no build recipe for it yet` };
    } catch (e) {
        return { command, error: e instanceof CommandError ? e.output.trim() : String(e) };
    }
}

export function resolveKubernetesVersion(ctx: BuildContext): string {
    const listed = (listModule(KUBERNETES, ctx.logFile, true).Versions ?? []).filter(isStable);
    const newest = listed.sort((a, b) => compareVersions(b, a))[0];
    if (!newest) throw new Error(`the Go proxy lists no stable ${KUBERNETES} version`);
    return newest;
}

export const KUBE_BINARIES = ["kube-apiserver", "kube-controller-manager", "kubectl"] as const;
export type KubeBinary = (typeof KUBE_BINARIES)[number];

/**
 * k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them with folders of its
 * own repository, so the scratch module pins each to the matching published v0.<minor>.<patch>.
 * The sample-* staging modules are examples that no binary imports and the proxy does not serve.
 */
export function prepareKubeModule(version: string, ctx: BuildContext): string {
    const dir = path.join(ctx.srcDir, "kubernetes");
    const kube = downloadModule(KUBERNETES, version, ctx.logFile);
    const staging = (readGoMod(kube.GoMod).Replace ?? [])
        .filter((r) => r.New.Path.startsWith("./staging/") && !r.Old.Path.startsWith("k8s.io/sample-"))
        .map((r) => r.Old.Path);
    const stagingVersion = version.replace(/^v1\./, "v0.");
    writeScratchModule({
        dir,
        module: "mlops-e2e/kubernetes",
        go: readGoMod(kube.GoMod).Go ?? "1.26",
        require: [[KUBERNETES, version], ...staging.map((m): [string, string] => [m, stagingVersion])],
        replace: staging.map((m) => `${m} => ${m} ${stagingVersion}`),
    });
    go(["get", "-tool", ...KUBE_BINARIES.map((b) => `${KUBERNETES}/cmd/${b}`)], ctx, dir);
    go(["mod", "tidy"], ctx, dir);
    return dir;
}

/** The same variables upstream's hack/lib/version.sh sets, so `kubectl version` reports the release. */
export function buildKubeBinary(name: KubeBinary, version: string, dir: string, binDir: string, ctx: BuildContext): string {
    const [, major = "", minor = ""] = /^v(\d+)\.(\d+)/.exec(version) ?? [];
    const buildDate = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const vars = { gitVersion: version, gitMajor: major, gitMinor: minor, gitTreeState: "clean", buildDate };
    const ldflags = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]
        .flatMap((pkg) => Object.entries(vars).map(([k, v]) => `-X ${pkg}.${k}=${v}`))
        .join(" ");
    const out = path.join(binDir, name);
    ctx.phase("compile", () => go(["build", "-trimpath", "-ldflags", ldflags, "-o", out, `${KUBERNETES}/cmd/${name}`], ctx, dir));
    return out;
}
