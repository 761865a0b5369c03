/**
 * A local stand-in for GitHub's REST API (api.github.com cannot be reached from tests): it answers the
 * few endpoints the GitOps tools call, and refuses a request the way GitHub documents it would when its
 * shape is wrong — 401 without a token, 415 without a JSON media type, 422 for a body that lacks a
 * required field or has the wrong type — so a client that sends the wrong request fails here too.
 * Every request is recorded (method, path, query, headers, JSON body) for the tests to assert on.
 */
import http from "node:http";

export interface RecordedRequest {
    readonly method: string;
    readonly path: string;
    readonly query: Readonly<Record<string, string>>;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: unknown;
}

export interface StubRoute {
    readonly method: "GET" | "POST";
    /** The path, with `:name` for a segment that varies. */
    readonly path: string;
    /** For POST: the body's required fields and their JSON types; `string[]` for an array of strings. */
    readonly required?: Readonly<Record<string, "string" | "number" | "boolean" | "string[]">>;
    /** Optional fields that, when present, must have this type. */
    readonly optional?: Readonly<Record<string, "string" | "number" | "boolean" | "string[]">>;
    readonly status: number;
    /** The response body (JSON), from the request and the path's `:name` segments. */
    readonly respond: (request: RecordedRequest, params: Readonly<Record<string, string>>) => unknown;
}

export interface GitHubStub {
    readonly url: string;
    readonly requests: RecordedRequest[];
    close(): Promise<void>;
}

export async function startGitHubStub(routes: readonly StubRoute[]): Promise<GitHubStub> {
    const requests: RecordedRequest[] = [];
    const server = http.createServer((request, response) => {
        let text = "";
        request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
        request.on("end", () => {
            const url = new URL(request.url ?? "/", "http://stub");
            let body: unknown;
            try {
                body = text === "" ? undefined : (JSON.parse(text) as unknown);
            } catch {
                body = text;
            }
            const recorded: RecordedRequest = {
                method: request.method ?? "",
                path: url.pathname,
                query: Object.fromEntries(url.searchParams),
                headers: request.headers,
                body,
            };
            requests.push(recorded);
            const answer = (status: number, json: unknown) => {
                response.writeHead(status, { "content-type": "application/json; charset=utf-8", "x-github-media-type": "github.v3; format=json" });
                response.end(JSON.stringify(json));
            };
            const documentation = { documentation_url: "https://docs.github.com/rest", status: "" };
            if (!/^(token|Bearer) \S+$/.test(String(request.headers["authorization"] ?? ""))) {
                return answer(401, { ...documentation, message: "Requires authentication", status: "401" });
            }
            if (!String(request.headers["accept"] ?? "").includes("application/vnd.github")) {
                return answer(415, { ...documentation, message: "Unsupported 'Accept' header", status: "415" });
            }
            for (const route of routes) {
                const params = match(route.path, url.pathname);
                if (route.method !== request.method || params === undefined) continue;
                if (route.method === "POST") {
                    if (!String(request.headers["content-type"] ?? "").startsWith("application/json") || typeof body !== "object" || body === null) {
                        return answer(400, { ...documentation, message: "Problems parsing JSON", status: "400" });
                    }
                    const problems = fieldProblems(body as Record<string, unknown>, route.required ?? {}, true).concat(
                        fieldProblems(body as Record<string, unknown>, route.optional ?? {}, false),
                    );
                    if (problems.length > 0) return answer(422, { ...documentation, message: "Validation Failed", errors: problems, status: "422" });
                }
                const json = route.respond(recorded, params);
                return answer(route.status, json);
            }
            return answer(404, { ...documentation, message: "Not Found", status: "404" });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address() as { port: number };
    return {
        url: `http://127.0.0.1:${address.port}`,
        requests,
        close: () => new Promise((resolve) => server.close(() => resolve())),
    };
}

function match(pattern: string, path: string): Record<string, string> | undefined {
    const want = pattern.split("/");
    const got = path.split("/");
    if (want.length !== got.length) return undefined;
    const params: Record<string, string> = {};
    for (const [i, segment] of want.entries()) {
        const actual = decodeURIComponent(got[i] as string);
        if (segment.startsWith(":")) params[segment.slice(1)] = actual;
        else if (segment !== actual) return undefined;
    }
    return params;
}

function fieldProblems(
    body: Record<string, unknown>,
    fields: Readonly<Record<string, string>>,
    required: boolean,
): Array<{ resource: string; field: string; code: string }> {
    return Object.entries(fields).flatMap(([field, type]) => {
        const value = body[field];
        if (value === undefined) return required ? [{ resource: "PullRequest", field, code: "missing_field" }] : [];
        const ok = type === "string[]" ? Array.isArray(value) && value.every((v) => typeof v === "string") : typeof value === type;
        return ok ? [] : [{ resource: "PullRequest", field, code: "invalid" }];
    });
}
