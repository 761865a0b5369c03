// A real, local Kubernetes control plane for the end-to-end tests: etcd, kube-apiserver and
// kube-controller-manager, all on 127.0.0.1 and free ports, in a temporary directory. There is no
// scheduler and no kubelet, so Pods the controllers create stay Pending; nothing pretends otherwise.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Engine, ensureEngine } from "./engine";
import { tail } from "./goModules";

export interface ControlPlane {
    kubeconfig: string;
    server: string;
    /** The admin user's bearer token (system:masters). */
    token: string;
    dir: string;
    startSeconds: number;
    logs: Record<string, string>;
    stop(): Promise<void>;
}

interface Component {
    name: string;
    proc: ChildProcess;
    log: string;
}

async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const addr = srv.address();
            srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
        });
    });
}

function openssl(dir: string, args: string[]): void {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A throwaway CA, a serving certificate for 127.0.0.1 signed by it, and a service-account key. */
function makePki(dir: string): void {
    const days = "2";
    openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", days, "-subj", "/CN=mlops-e2e-ca"]);
    fs.writeFileSync(
        path.join(dir, "server.ext"),
        [
            "basicConstraints=CA:FALSE",
            "keyUsage=digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,IP:10.0.0.1",
        ].join("\n") + "\n",
    );
    openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"]);
    openssl(dir, [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        days,
        "-extfile",
        "server.ext",
    ]);
    openssl(dir, ["genrsa", "-out", "sa.key", "2048"]);
    openssl(dir, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

function writeKubeconfig(file: string, server: string, caFile: string, token: string): void {
    const ca = fs.readFileSync(caFile).toString("base64");
    fs.writeFileSync(
        file,
        [
            "apiVersion: v1",
            "kind: Config",
            "current-context: mlops-e2e",
            "clusters:",
            "- name: mlops-e2e",
            "  cluster:",
            `    server: ${server}`,
            `    certificate-authority-data: ${ca}`,
            "users:",
            "- name: admin",
            "  user:",
            `    token: ${token}`,
            "contexts:",
            "- name: mlops-e2e",
            "  context:",
            "    cluster: mlops-e2e",
            "    user: admin",
            "",
        ].join("\n"),
        { mode: 0o600 },
    );
}

function launch(dir: string, name: string, bin: string, args: string[]): Component {
    const log = path.join(dir, `${name}.log`);
    const fd = fs.openSync(log, "a");
    const proc = spawn(bin, args, { cwd: dir, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    return { name, proc, log };
}

function logTail(c: Component, lines = 30): string {
    try {
        return tail(fs.readFileSync(c.log, "utf8"), lines);
    } catch {
        return "(no log)";
    }
}

function get(url: string, opts: https.RequestOptions): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const lib = url.startsWith("https:") ? https : http;
        const req = lib.get(url, { ...opts, timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

/** Polls until `ready` answers true; fails early, with the log's tail, if the process dies. */
async function waitFor(c: Component, what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
            throw new Error(`${c.name} exited (${c.proc.exitCode ?? c.proc.signalCode}) before ${what}:\n${logTail(c)}`);
        }
        try {
            if (await ready()) return;
        } catch (e) {
            last = e instanceof Error ? e.message : String(e);
        }
        if (Date.now() > deadline) {
            throw new Error(`${c.name}: ${what} not reached in ${timeoutMs / 1000}s (${last}):\n${logTail(c)}`);
        }
        await new Promise((r) => setTimeout(r, 250));
    }
}

async function stopAll(components: Component[]): Promise<void> {
    for (const c of [...components].reverse()) {
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
        const exited = new Promise<void>((r) => c.proc.once("exit", () => r()));
        c.proc.kill("SIGTERM");
        const timer = setTimeout(() => c.proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
    }
}

/**
 * The environment in which a command's plain `kubectl` is the e2e-built one and reaches this control
 * plane: what a deploy job has once its kubeconfig is set up, for CLIs that shell out to kubectl.
 */
export function kubectlEnv(engine: Engine, cp: ControlPlane, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { PATH: `${path.dirname(engine.kubectl)}${path.delimiter}${base.PATH ?? ""}`, KUBECONFIG: cp.kubeconfig };
}

export async function startControlPlane(opts: { engine?: Engine; keepDir?: boolean } = {}): Promise<ControlPlane> {
    const started = Date.now();
    const engine = opts.engine ?? ensureEngine();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-e2e-cp-"));
    const components: Component[] = [];
    // A crashed test run must not leave daemons behind.
    const onExit = () => components.forEach((c) => c.proc.exitCode === null && c.proc.kill("SIGKILL"));
    process.once("exit", onExit);
    const stop = async () => {
        process.removeListener("exit", onExit);
        await stopAll(components);
        if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
        makePki(dir);
        const token = crypto.randomBytes(24).toString("hex");
        fs.writeFileSync(path.join(dir, "tokens.csv"), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
        const [etcdPort, peerPort, apiPort, kcmPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
        const etcdUrl = `http://127.0.0.1:${etcdPort}`;
        const peerUrl = `http://127.0.0.1:${peerPort}`;

        const etcd = launch(dir, "etcd", engine.etcd, [
            "--name=e2e",
            `--data-dir=${path.join(dir, "etcd-data")}`,
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=${peerUrl}`,
            `--initial-advertise-peer-urls=${peerUrl}`,
            `--initial-cluster=e2e=${peerUrl}`,
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-outputs=stderr",
        ]);
        components.push(etcd);
        await waitFor(etcd, "/health", 30_000, async () => (await get(`${etcdUrl}/health`, {})).body.includes("true"));

        const server = `https://127.0.0.1:${apiPort}`;
        const ca = fs.readFileSync(path.join(dir, "ca.crt"));
        const apiserver = launch(dir, "kube-apiserver", engine.kubeApiserver, [
            `--etcd-servers=${etcdUrl}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--cert-dir=${path.join(dir, "apiserver-certs")}`,
            `--tls-cert-file=${path.join(dir, "server.crt")}`,
            `--tls-private-key-file=${path.join(dir, "server.key")}`,
            `--client-ca-file=${path.join(dir, "ca.crt")}`,
            `--token-auth-file=${path.join(dir, "tokens.csv")}`,
            "--authorization-mode=RBAC",
            "--enable-admission-plugins=PodSecurity",
            // Privileged Pods pass the API server's own validation, so a rejection can only come from PodSecurity.
            "--allow-privileged=true",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${path.join(dir, "sa.pub")}`,
            `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
            "--service-cluster-ip-range=10.0.0.0/24",
            "--profiling=false",
            "--v=1",
            // The reconciler refuses to publish a loopback address as the "kubernetes" Service's
            // endpoint; nothing in this cluster could route to it anyway.
            "--endpoint-reconciler-type=none",
        ]);
        components.push(apiserver);
        await waitFor(
            apiserver,
            "/readyz",
            120_000,
            async () => (await get(`${server}/readyz`, { ca, headers: { Authorization: `Bearer ${token}` } })).status === 200,
        );

        const kubeconfig = path.join(dir, "kubeconfig");
        writeKubeconfig(kubeconfig, server, path.join(dir, "ca.crt"), token);
        const kcm = launch(dir, "kube-controller-manager", engine.kubeControllerManager, [
            `--kubeconfig=${kubeconfig}`,
            `--authentication-kubeconfig=${kubeconfig}`,
            `--authorization-kubeconfig=${kubeconfig}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${kcmPort}`,
            `--cert-dir=${path.join(dir, "kcm-certs")}`,
            "--leader-elect=false",
            `--service-account-private-key-file=${path.join(dir, "sa.key")}`,
            `--root-ca-file=${path.join(dir, "ca.crt")}`,
            "--profiling=false",
            "--v=1",
        ]);
        components.push(kcm);
        // Its own serving certificate is self-signed and only probed here, on loopback.
        await waitFor(kcm, "/healthz", 60_000, async () => (await get(`https://127.0.0.1:${kcmPort}/healthz`, { rejectUnauthorized: false })).status === 200);

        return {
            kubeconfig,
            server,
            token,
            dir,
            stop,
            startSeconds: (Date.now() - started) / 1000,
            logs: Object.fromEntries(components.map((c) => [c.name, c.log])),
        };
    } catch (e) {
        await stop().catch(() => undefined);
        throw e;
    }
}
