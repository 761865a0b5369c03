/**
 * The little of Prometheus's HTTP API the monitor reads: one instant query
 * (`GET /api/v1/query?query=…&time=…`), every failure one line that says which it was, every call
 * bounded in time. A garbage answer is an error, never an empty result: the monitor must not
 * mistake a broken Prometheus for a healthy model, nor for missing data it could wait out.
 */

export class PrometheusError extends Error {
    constructor(
        message: string,
        readonly kind: "unreachable" | "timeout" | "http" | "malformed" | "query",
    ) {
        super(message);
        this.name = "PrometheusError";
    }
}

/** One series of an instant vector: its labels and its value. */
export interface Sample {
    readonly labels: Readonly<Record<string, string>>;
    readonly value: number;
}

export interface PrometheusOptions {
    readonly url: string;
    /** @default 10000 */
    readonly timeoutMs?: number;
}

export class PrometheusClient {
    readonly url: string;
    private readonly timeoutMs: number;

    constructor(options: PrometheusOptions) {
        this.url = options.url.replace(/\/+$/, "");
        this.timeoutMs = options.timeoutMs ?? 10_000;
    }

    /** The instant vector of `expr` at `at` (Prometheus's own now when absent). */
    async query(expr: string, at?: Date): Promise<Sample[]> {
        const params = new URLSearchParams({ query: expr, ...(at !== undefined && { time: (at.getTime() / 1000).toFixed(3) }) });
        const where = `${this.url}/api/v1/query`;
        let response: Response;
        try {
            response = await fetch(`${where}?${params}`, { signal: AbortSignal.timeout(this.timeoutMs) });
        } catch (err) {
            const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
            throw new PrometheusError(
                timedOut ? `Prometheus at ${this.url} did not answer within ${this.timeoutMs} ms` : `Prometheus at ${this.url} is unreachable: ${causeOf(err)}`,
                timedOut ? "timeout" : "unreachable",
            );
        }
        let text: string;
        try {
            text = await response.text();
        } catch (err) {
            throw new PrometheusError(`Prometheus at ${this.url} broke off its answer: ${causeOf(err)}`, "unreachable");
        }
        let body: unknown;
        try {
            body = JSON.parse(text);
        } catch {
            throw new PrometheusError(
                `Prometheus at ${this.url} answered HTTP ${response.status} with something that is not JSON: ${excerpt(text)}`,
                response.ok ? "malformed" : "http",
            );
        }
        const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
        if (!response.ok || record["status"] !== "success") {
            const error = typeof record["error"] === "string" ? record["error"] : excerpt(text);
            throw new PrometheusError(
                `Prometheus at ${this.url} refused the query (HTTP ${response.status}): ${error}`,
                response.status === 400 || response.status === 422 ? "query" : "http",
            );
        }
        const data = record["data"] as { resultType?: unknown; result?: unknown } | undefined;
        if (data?.resultType !== "vector" || !Array.isArray(data.result)) {
            throw new PrometheusError(`Prometheus at ${this.url} answered a query without an instant vector: ${excerpt(text)}`, "malformed");
        }
        return data.result.map((item: unknown) => {
            const entry = item as { metric?: unknown; value?: unknown };
            const value = Array.isArray(entry.value) ? Number(entry.value[1]) : Number.NaN;
            if (typeof entry.metric !== "object" || entry.metric === null || Number.isNaN(value)) {
                throw new PrometheusError(
                    `Prometheus at ${this.url} answered a sample without labels or a number: ${excerpt(JSON.stringify(item))}`,
                    "malformed",
                );
            }
            return { labels: entry.metric as Record<string, string>, value };
        });
    }
}

function causeOf(err: unknown): string {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    return cause instanceof Error ? cause.message : String(cause);
}

function excerpt(text: string): string {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat || "(empty)";
}
