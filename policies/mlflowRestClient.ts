/**
 * A typed client for the MLflow 3.x model registry REST API (`/api/2.0/mlflow/...`).
 *
 * The policy pack uses it to cross-check declared promotion evidence and the promote/rollback/status CLI to
 * move aliases, so it depends on Node built-ins only (global `fetch`, `AbortSignal.timeout`): the policy pack
 * is published as its own package. Every failure is one of the `Registry*Error` classes below, with a
 * one-line message naming the registry and the operation; every call is bounded by `timeoutMs`, including a
 * server that accepts the connection and never answers or stalls in the middle of the body.
 *
 * Paths, payloads and response shapes were checked against a real MLflow 3.17.2 server
 * (tests/policies/mlflowRestClient.test.ts runs them against one).
 */

/** How a model version's registration ended (MLflow's `ModelVersionStatus`). */
export type ModelVersionStatus = "PENDING_REGISTRATION" | "FAILED_REGISTRATION" | "READY";
const MODEL_VERSION_STATUSES: readonly string[] = ["PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"];

/** A run's lifecycle state (MLflow's `RunStatus`). */
export type RunStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";
const RUN_STATUSES: readonly string[] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

export interface ModelVersion {
    readonly name: string;
    readonly version: string;
    readonly status: ModelVersionStatus;
    /** The run the version was registered from; `undefined` when it was registered from a plain URI. */
    readonly runId: string | undefined;
    readonly source: string;
    readonly aliases: readonly string[];
    readonly tags: Readonly<Record<string, string>>;
    /** Milliseconds since the epoch. */
    readonly creationTimestamp: number;
}

export interface Run {
    readonly runId: string;
    readonly status: RunStatus;
    /** The latest value of each metric (the server reports the value at the highest step, then timestamp). */
    readonly metrics: Readonly<Record<string, number>>;
    readonly params: Readonly<Record<string, string>>;
    readonly tags: Readonly<Record<string, string>>;
}

export interface RegisteredModel {
    readonly name: string;
    readonly description: string;
    /** Alias → version. */
    readonly aliases: Readonly<Record<string, string>>;
    readonly tags: Readonly<Record<string, string>>;
    readonly creationTimestamp: number;
    readonly lastUpdatedTimestamp: number;
}

/** Credentials sent as the `Authorization` header, as MLflow's own clients send them. */
export type RegistryAuth =
    { readonly kind: "bearer"; readonly token: string } | { readonly kind: "basic"; readonly username: string; readonly password: string };

export interface MlflowRestClientOptions {
    /** Base URL of the tracking server, e.g. `https://mlflow.ml.example.com` (a path prefix is kept). */
    readonly trackingUri: string;
    /**
     * Upper bound for one call, from sending the request to the last byte of the answer.
     * @default 5000
     */
    readonly timeoutMs?: number;
    /**
     * Credentials for a server behind authentication.
     * @default - none (`MlflowRestClient.fromEnv()` reads them from the MLflow environment variables)
     */
    readonly auth?: RegistryAuth;
}

/** The base of every registry failure: `registryUrl` (without credentials) and `operation` are in the message. */
export abstract class RegistryError extends Error {
    constructor(
        readonly registryUrl: string,
        readonly operation: string,
        detail: string,
        options?: ErrorOptions,
    ) {
        super(`MLflow registry ${registryUrl}: ${operation}: ${oneLine(detail)}`, options);
        this.name = new.target.name;
    }
}

/** Connection refused, DNS failure, connection reset: no HTTP answer at all. */
export class RegistryUnreachableError extends RegistryError {}

/** No complete answer within `timeoutMs`. */
export class RegistryTimeoutError extends RegistryError {
    constructor(
        registryUrl: string,
        operation: string,
        readonly timeoutMs: number,
    ) {
        super(registryUrl, operation, `no complete answer within ${timeoutMs} ms`);
    }
}

/** An HTTP error status other than MLflow's RESOURCE_DOES_NOT_EXIST. */
export class RegistryHttpError extends RegistryError {
    constructor(
        registryUrl: string,
        operation: string,
        readonly status: number,
        /** MLflow's `error_code` when the body was an MLflow error JSON. */
        readonly errorCode: string | undefined,
        readonly bodyExcerpt: string,
    ) {
        super(registryUrl, operation, `HTTP ${status} (${bodyExcerpt})`);
    }
}

/** MLflow answered RESOURCE_DOES_NOT_EXIST: the model, version or run is not in the registry. */
export class RegistryNotFoundError extends RegistryError {
    constructor(
        registryUrl: string,
        operation: string,
        readonly serverMessage: string,
    ) {
        super(registryUrl, operation, `not found (RESOURCE_DOES_NOT_EXIST: ${serverMessage})`);
    }
}

/** A success status whose body is not JSON, or JSON without the fields this client needs. */
export class RegistryMalformedResponseError extends RegistryError {}

const EXCERPT_LENGTH = 200;
const DEFAULT_TIMEOUT_MS = 5000;

/** The MLflow REST client: registry reads (versions, runs, aliases, tags) and the writes promote and rollback make. */
export class MlflowRestClient {
    /** The tracking URI as it appears in error messages, without a trailing slash. */
    readonly registryUrl: string;
    readonly timeoutMs: number;
    private readonly apiBase: string;
    private readonly authorization: string | undefined;

    /**
     * A client configured the way MLflow's own clients are: `MLFLOW_TRACKING_URI` (unless `trackingUri` is
     * given), and `MLFLOW_TRACKING_USERNAME` + `MLFLOW_TRACKING_PASSWORD` (Basic) or else
     * `MLFLOW_TRACKING_TOKEN` (Bearer) — the same precedence as `mlflow.utils.rest_utils`.
     */
    static fromEnv(options: { readonly trackingUri?: string; readonly timeoutMs?: number } = {}, env: NodeJS.ProcessEnv = process.env): MlflowRestClient {
        const trackingUri = options.trackingUri ?? env["MLFLOW_TRACKING_URI"];
        if (trackingUri === undefined || trackingUri === "") {
            throw new Error("MlflowRestClient.fromEnv: no trackingUri given and MLFLOW_TRACKING_URI is not set");
        }
        const auth = authFromEnv(env);
        return new MlflowRestClient({
            trackingUri,
            ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
            ...(auth === undefined ? {} : { auth }),
        });
    }

    constructor(options: MlflowRestClientOptions) {
        let parsed: URL;
        try {
            parsed = new URL(options.trackingUri);
        } catch {
            throw new Error(`MlflowRestClient: trackingUri must be an http(s) URL, got "${options.trackingUri}"`);
        }
        if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
            throw new Error(`MlflowRestClient: trackingUri must be an http(s) URL, got "${options.trackingUri}"`);
        }
        if (parsed.username !== "" || parsed.password !== "") {
            // fetch refuses such URLs, and the credentials would end up in every error message.
            throw new Error(
                "MlflowRestClient: trackingUri must not carry credentials; " + "use MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN",
            );
        }
        const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
            throw new Error(`MlflowRestClient: timeoutMs must be a positive integer, got ${timeoutMs}`);
        }
        this.registryUrl = `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
        this.apiBase = `${this.registryUrl}/api/2.0/mlflow`;
        this.timeoutMs = timeoutMs;
        if (options.auth?.kind === "bearer" && !/^[\x21-\x7e]+$/.test(options.auth.token)) {
            // fetch would reject the header on every call, and that failure would look like an unreachable registry.
            throw new Error("MlflowRestClient: the auth token must be non-empty printable ASCII without spaces");
        }
        this.authorization = authorizationHeader(options.auth);
    }

    async getModelVersion(name: string, version: string): Promise<ModelVersion> {
        return this.call(`getModelVersion(${name}, ${version})`, "GET", "model-versions/get", { name, version }, (body) =>
            parseModelVersion(field(body, "model_version", "response")),
        );
    }

    async getRun(runId: string): Promise<Run> {
        return this.call(`getRun(${runId})`, "GET", "runs/get", { run_id: runId }, parseRun);
    }

    /**
     * The version an alias points to, or `undefined` when the model has no such alias. A missing alias costs a
     * second request (see below), so this call may take up to twice `timeoutMs`.
     */
    async getVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
        const operation = `getVersionByAlias(${name}, ${alias})`;
        try {
            return await this.call(operation, "GET", "registered-models/alias", { name, alias }, (body) =>
                parseModelVersion(field(body, "model_version", "response")),
            );
        } catch (error) {
            // MLflow 3.17 answers a missing alias with 400 INVALID_PARAMETER_VALUE, the same code as a malformed
            // alias name; the model's alias list tells the two apart without matching on message text.
            if (!(error instanceof RegistryHttpError && error.errorCode === "INVALID_PARAMETER_VALUE")) throw error;
            const model = await this.getRegisteredModel(name);
            if (model.aliases[alias] === undefined) return undefined;
            throw error;
        }
    }

    async getRegisteredModel(name: string): Promise<RegisteredModel> {
        return this.call(`getRegisteredModel(${name})`, "GET", "registered-models/get", { name }, parseRegisteredModel);
    }

    /** Points `alias` at `version`, moving it if it pointed elsewhere. */
    async setAlias(name: string, alias: string, version: string): Promise<void> {
        const parameters = { name, alias, version };
        await this.call(`setAlias(${name}, ${alias}, ${version})`, "POST", "registered-models/alias", parameters, ignoreBody);
    }

    /** Removes `alias`; MLflow treats removing an alias that does not exist as success. */
    async deleteAlias(name: string, alias: string): Promise<void> {
        // The server reads DELETE parameters from a JSON body, not from the query string.
        await this.call(`deleteAlias(${name}, ${alias})`, "DELETE", "registered-models/alias", { name, alias }, ignoreBody);
    }

    async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
        await this.call(`setModelVersionTag(${name}, ${version}, ${key})`, "POST", "model-versions/set-tag", { name, version, key, value }, ignoreBody);
    }

    private async call<T>(
        operation: string,
        method: "GET" | "POST" | "DELETE",
        endpoint: string,
        parameters: Readonly<Record<string, string>>,
        parse: (body: Record<string, unknown>) => T,
    ): Promise<T> {
        const url = new URL(`${this.apiBase}/${endpoint}`);
        const headers: Record<string, string> = { accept: "application/json" };
        let body: string | undefined;
        if (method === "GET") {
            for (const [key, value] of Object.entries(parameters)) url.searchParams.set(key, value);
        } else {
            body = JSON.stringify(parameters);
            headers["content-type"] = "application/json";
        }
        if (this.authorization !== undefined) headers["authorization"] = this.authorization;

        // One signal for the whole exchange: it also aborts a body that stalls after the headers.
        const signal = AbortSignal.timeout(this.timeoutMs);
        let status: number;
        let location: string | null;
        let text: string;
        try {
            // A redirect is reported, not followed: it usually means a login page or a wrong scheme.
            const response = await fetch(url, { method, headers, body, signal, redirect: "manual" });
            status = response.status;
            location = response.headers.get("location");
            text = await response.text();
        } catch (error) {
            if (signal.aborted) throw new RegistryTimeoutError(this.registryUrl, operation, this.timeoutMs);
            const detail = `unreachable (${networkCause(error)})`;
            throw new RegistryUnreachableError(this.registryUrl, operation, detail, { cause: error });
        }

        const json = parseJson(text);
        if (status < 200 || status > 299) {
            const mlflowError = json.ok && isObject(json.value) ? json.value : {};
            const errorCode = typeof mlflowError["error_code"] === "string" ? mlflowError["error_code"] : undefined;
            const message = typeof mlflowError["message"] === "string" ? mlflowError["message"] : "";
            if (errorCode === "RESOURCE_DOES_NOT_EXIST") {
                throw new RegistryNotFoundError(this.registryUrl, operation, excerpt(message));
            }
            const detail =
                errorCode !== undefined ? `${errorCode}: ${message}` : status >= 300 && status <= 399 && location !== null ? `redirect to ${location}` : text;
            throw new RegistryHttpError(this.registryUrl, operation, status, errorCode, excerpt(detail));
        }
        const malformed = (detail: string) => new RegistryMalformedResponseError(this.registryUrl, operation, `malformed response (${detail})`);
        if (!json.ok) throw malformed(`not JSON: ${excerpt(text)}`);
        if (!isObject(json.value)) throw malformed(`expected a JSON object, got ${describe(json.value)}`);
        try {
            return parse(json.value);
        } catch (error) {
            if (error instanceof ShapeError) throw malformed(error.message);
            throw error;
        }
    }
}

/** Reads MLflow's client environment variables; Basic wins over Bearer, as in MLflow's REST client. */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryAuth | undefined {
    const username = env["MLFLOW_TRACKING_USERNAME"];
    const password = env["MLFLOW_TRACKING_PASSWORD"];
    if (username && password) return { kind: "basic", username, password };
    const token = env["MLFLOW_TRACKING_TOKEN"];
    if (token) return { kind: "bearer", token };
    return undefined;
}

function authorizationHeader(auth: RegistryAuth | undefined): string | undefined {
    if (auth === undefined) return undefined;
    if (auth.kind === "bearer") return `Bearer ${auth.token}`;
    return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64")}`;
}

// ---- response shape validation ----------------------------------------------------------------------------

/** A response without a field this client needs; `call()` turns it into a RegistryMalformedResponseError. */
class ShapeError extends Error {
    constructor(path: string, expected: string, got: unknown) {
        super(`${path}: expected ${expected}, got ${describe(got)}`);
    }
}

function ignoreBody(): void {}

function parseModelVersion(version: JsonObject): ModelVersion {
    const { at } = version;
    const runId = optionalStr(version, "run_id");
    return {
        name: str(version, "name"),
        version: str(version, "version"),
        status: oneOf(version, "status", MODEL_VERSION_STATUSES) as ModelVersionStatus,
        runId: runId === "" ? undefined : runId,
        source: str(version, "source"),
        aliases: list(version, "aliases").map((alias, i) => {
            if (typeof alias !== "string") throw new ShapeError(`${at}.aliases[${i}]`, "a string", alias);
            return alias;
        }),
        tags: keyValues(version, "tags"),
        creationTimestamp: timestamp(version, "creation_timestamp"),
    };
}

function parseRun(body: Record<string, unknown>): Run {
    const run = field(body, "run", "response");
    const info = field(run.value, "info", run.at);
    const data = field(run.value, "data", run.at);
    return {
        runId: str(info, "run_id"),
        status: oneOf(info, "status", RUN_STATUSES) as RunStatus,
        metrics: Object.fromEntries(
            list(data, "metrics").map((item, i) => {
                const metric = field(item, undefined, `${data.at}.metrics[${i}]`);
                return [str(metric, "key"), metricValue(metric)];
            }),
        ),
        params: keyValues(data, "params"),
        tags: keyValues(data, "tags"),
    };
}

function parseRegisteredModel(body: Record<string, unknown>): RegisteredModel {
    const model = field(body, "registered_model", "response");
    return {
        name: str(model, "name"),
        description: optionalStr(model, "description") ?? "",
        aliases: Object.fromEntries(
            list(model, "aliases").map((item, i) => {
                const alias = field(item, undefined, `${model.at}.aliases[${i}]`);
                return [str(alias, "alias"), str(alias, "version")];
            }),
        ),
        tags: keyValues(model, "tags"),
        creationTimestamp: timestamp(model, "creation_timestamp"),
        lastUpdatedTimestamp: timestamp(model, "last_updated_timestamp"),
    };
}

/** A JSON object and where it sits in the response, for error messages. */
interface JsonObject {
    readonly value: Record<string, unknown>;
    readonly at: string;
}

/** `parent[key]` as an object, or `parent` itself when `key` is undefined. */
function field(parent: unknown, key: string | undefined, parentAt: string): JsonObject {
    const at = key === undefined ? parentAt : parentAt === "response" ? key : `${parentAt}.${key}`;
    const value = key === undefined ? parent : isObject(parent) ? parent[key] : undefined;
    if (!isObject(value)) throw new ShapeError(at, "an object", value);
    return { value, at };
}

function str(object: JsonObject, key: string): string {
    const value = object.value[key];
    if (typeof value !== "string") throw new ShapeError(`${object.at}.${key}`, "a string", value);
    return value;
}

function optionalStr(object: JsonObject, key: string): string | undefined {
    return object.value[key] === undefined ? undefined : str(object, key);
}

function oneOf(object: JsonObject, key: string, allowed: readonly string[]): string {
    const value = str(object, key);
    if (!allowed.includes(value)) throw new ShapeError(`${object.at}.${key}`, `one of ${allowed.join(", ")}`, value);
    return value;
}

/** Proto3 JSON leaves out empty repeated fields: absent means empty. */
function list(object: JsonObject, key: string): unknown[] {
    const value = object.value[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw new ShapeError(`${object.at}.${key}`, "an array", value);
    return value;
}

function keyValues(object: JsonObject, key: string): Record<string, string> {
    return Object.fromEntries(
        list(object, key).map((item, i) => {
            const entry = field(item, undefined, `${object.at}.${key}[${i}]`);
            return [str(entry, "key"), str(entry, "value")];
        }),
    );
}

function timestamp(object: JsonObject, key: string): number {
    const value = object.value[key];
    // Proto3 JSON may write int64 as a decimal string.
    const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== "number" || !Number.isSafeInteger(number)) {
        throw new ShapeError(`${object.at}.${key}`, "an integer timestamp", value);
    }
    return number;
}

/** Proto3 JSON writes non-finite doubles as the strings "NaN", "Infinity" and "-Infinity". */
function metricValue(metric: JsonObject): number {
    const value = metric.value["value"];
    if (typeof value === "number") return value;
    if (value === "NaN") return Number.NaN;
    if (value === "Infinity") return Number.POSITIVE_INFINITY;
    if (value === "-Infinity") return Number.NEGATIVE_INFINITY;
    throw new ShapeError(`${metric.at}.value`, "a number", value);
}

// ---- small helpers ---------------------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
    if (value === undefined) return "nothing";
    if (value === null) return "null";
    if (Array.isArray(value)) return "an array";
    if (typeof value === "string") return JSON.stringify(excerpt(value, 40));
    if (typeof value === "object") return "an object";
    return `${typeof value} ${String(value)}`;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
    try {
        return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
        return { ok: false };
    }
}

function oneLine(text: string): string {
    return text.replace(/\s+/g, " ").trim();
}

function excerpt(text: string, length = EXCERPT_LENGTH): string {
    const line = oneLine(text);
    if (line === "") return "empty body";
    return line.length > length ? `${line.slice(0, length)}…` : line;
}

/** fetch reports every transport failure as `TypeError: fetch failed`; the cause says what happened. */
function networkCause(error: unknown): string {
    const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
    if (cause instanceof Error) {
        const code = (cause as NodeJS.ErrnoException).code;
        if (cause.message !== "") return cause.message;
        if (code !== undefined) return code;
        return cause.name;
    }
    return String(cause);
}
