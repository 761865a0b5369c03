import { execFile } from "node:child_process";

/**
 * Reads objects from the cluster with `kubectl get … -o json`, the one client every operator already
 * has configured (kubeconfig, `aws eks update-kubeconfig`, exec credential plugins), so this tool
 * needs no Kubernetes client library of its own.
 */

export type KubectlProblem = "missing" | "config" | "unreachable" | "unauthenticated" | "forbidden" | "no-crd" | "other";

/** kubectl could not answer; the message is one line a person can act on. */
export class KubectlError extends Error {
    constructor(
        message: string,
        readonly problem: KubectlProblem,
    ) {
        super(message);
        this.name = "KubectlError";
    }
}

export interface KubectlOptions {
    /** @default "kubectl" (from PATH) */
    readonly executable?: string;
    /** Kubeconfig context. @default - the current context */
    readonly context?: string;
    /** Per-request timeout, passed as `--request-timeout`. @default 20000 */
    readonly requestTimeoutMs?: number;
}

export interface ObjectReader {
    /** The object as JSON, or undefined when it does not exist. Throws `KubectlError`. */
    get(resource: string, name: string, namespace: string): Promise<unknown>;
}

export function kubectlReader(options: KubectlOptions = {}): ObjectReader {
    const executable = options.executable ?? "kubectl";
    const timeoutMs = options.requestTimeoutMs ?? 20_000;
    const where = options.context !== undefined ? `context "${options.context}"` : "the current kubeconfig context";
    return {
        get: (resource, name, namespace) =>
            new Promise((resolve, reject) => {
                const args = ["get", resource, name, "--namespace", namespace, "--output", "json", "--request-timeout", `${Math.ceil(timeoutMs / 1000)}s`];
                if (options.context !== undefined) args.push("--context", options.context);
                execFile(executable, args, { timeout: timeoutMs + 10_000, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
                    if (error === null) {
                        try {
                            resolve(JSON.parse(stdout) as unknown);
                        } catch {
                            reject(new KubectlError(`kubectl get ${resource} ${name} -n ${namespace} printed something that is not JSON`, "other"));
                        }
                        return;
                    }
                    const code = (error as NodeJS.ErrnoException).code;
                    if (code === "ENOENT") {
                        reject(new KubectlError(`kubectl not found (looked for "${executable}" on PATH): install kubectl or put it on PATH`, "missing"));
                        return;
                    }
                    const failure = classifyKubectlFailure(error.killed ? `killed after ${timeoutMs + 10_000} ms` : stderr, where);
                    if (failure === "not-found") resolve(undefined);
                    else reject(failure);
                });
            }),
    };
}

/**
 * What a failed `kubectl get` means, from its stderr: the object is absent (`"not-found"`), or an error
 * saying in one line what is wrong and what to do. `where` names the kubeconfig context in messages.
 */
export function classifyKubectlFailure(stderr: string, where = "the current kubeconfig context"): KubectlError | "not-found" {
    const line = summaryLine(stderr);
    if (/doesn't have a resource type|no matches for kind|the server could not find the requested resource/i.test(stderr)) {
        return new KubectlError(`the cluster (${where}) has no such resource type; are Flagger's CRDs installed? (${line})`, "no-crd");
    }
    if (/\(NotFound\)|\bnot found\b/i.test(stderr) && !/context .* not found|cluster .* not found/i.test(stderr)) return "not-found";
    if (/(context|cluster) .*(does not exist|not found)|no configuration has been provided|current-context is not set|invalid configuration/i.test(stderr)) {
        return new KubectlError(`no usable kubeconfig for ${where}: ${line} (for EKS: aws eks update-kubeconfig --name <cluster> --region <region>)`, "config");
    }
    // Before "unreachable": a failing credential plugin is reported as "Unable to connect to the server: getting credentials: …".
    if (/Unauthorized|must be logged in|provide credentials|getting credentials|ExpiredToken|exec plugin/i.test(stderr)) {
        return new KubectlError(`not authenticated to the cluster (${where}): ${line}`, "unauthenticated");
    }
    if (
        /Unable to connect to the server|The connection to the server|connection refused|no such host|i\/o timeout|dial tcp|TLS handshake timeout|context deadline exceeded|killed after/i.test(
            stderr,
        )
    ) {
        return new KubectlError(`cannot reach the cluster (${where}): ${line}`, "unreachable");
    }
    if (/\(Forbidden\)|forbidden/i.test(stderr)) {
        return new KubectlError(
            `not allowed to read from the cluster (${where}): ${line} (the identity needs get on canaries.flagger.app and deployments.apps)`,
            "forbidden",
        );
    }
    return new KubectlError(`kubectl failed (${where}): ${line}`, "other");
}

/**
 * The line of kubectl's stderr that says what went wrong: its own last message (e.g. "The connection to
 * the server … was refused") rather than the client-go log lines (`E1123 14:27:35.463974 11235 memcache.go:265] …`)
 * printed before it; failing those, the first log line without its header.
 */
function summaryLine(text: string): string {
    const lines = text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
    const klogHeader = /^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+\S+:\d+\]\s*/;
    const own = lines.filter((l) => !klogHeader.test(l));
    return own.at(-1) ?? lines[0]?.replace(klogHeader, "") ?? "no output";
}
