/**
 * Small local servers that misbehave the way a registry (or what stands in front of it) can: nothing
 * listening, a server that accepts and never answers, one that stalls in the middle of a body, and canned
 * answers (an MLflow error JSON, an HTML page, JSON of the wrong shape). All listen on 127.0.0.1 only, and
 * `close()` destroys every open connection so a test never waits on a hung socket.
 */
import http from "node:http";
import net from "node:net";
import { freePort } from "./mlflow";

export interface RecordedRequest {
    readonly method: string;
    /** Path and query string. */
    readonly url: string;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: string;
}

export interface FaultyServer {
    /** `http://127.0.0.1:<port>` */
    readonly url: string;
    /** Requests received so far (not recorded by servers that never read them). */
    readonly requests: readonly RecordedRequest[];
    close(): Promise<void>;
}

/** A URL with nothing listening: connecting is refused. */
export async function unusedUrl(): Promise<string> {
    return `http://127.0.0.1:${await freePort()}`;
}

/** Accepts TCP connections and never sends a byte. */
export async function startSilentServer(): Promise<FaultyServer> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => sockets.delete(socket));
    });
    const port = await listen(server);
    return {
        url: `http://127.0.0.1:${port}`,
        requests: [],
        close: async () => {
            for (const socket of sockets) socket.destroy();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}

/** Sends a 200 status, headers and the first bytes of a JSON body, then stalls forever. */
export async function startStallingBodyServer(): Promise<FaultyServer> {
    return startHttpServer((_request, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.write('{"model_version": {"name": "fraud_detector", ');
    });
}

export interface CannedAnswer {
    readonly status: number;
    /** @default "application/json" */
    readonly contentType?: string;
    readonly body: string;
    /** @default {} */
    readonly headers?: Readonly<Record<string, string>>;
}

/** Answers every request with the same response, and records each request. */
export async function startCannedServer(answer: CannedAnswer): Promise<FaultyServer> {
    return startHttpServer((_request, response) => {
        response.writeHead(answer.status, { "content-type": answer.contentType ?? "application/json", ...answer.headers });
        response.end(answer.body);
    });
}

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

async function startHttpServer(handle: Handler): Promise<FaultyServer> {
    const requests: RecordedRequest[] = [];
    const server = http.createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on("data", (chunk: Buffer) => chunks.push(chunk));
        request.on("end", () => {
            requests.push({
                method: request.method ?? "",
                url: request.url ?? "",
                headers: request.headers,
                body: Buffer.concat(chunks).toString("utf8"),
            });
            handle(request, response);
        });
    });
    const port = await listen(server);
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        close: async () => {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
        },
    };
}

async function listen(server: net.Server): Promise<number> {
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("faulty server: no TCP address");
    return address.port;
}
