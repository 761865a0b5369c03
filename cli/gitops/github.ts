import type { Octokit } from "@octokit/rest" with { "resolution-mode": "import" };
import { Refusal } from "./refusal";

/**
 * GitHub's REST API, through Octokit (`@octokit/rest`): opening a promotion's pull request and
 * reading a merged one's reviews. Configured as GitHub Actions configures a job: `GITHUB_TOKEN`,
 * `GITHUB_REPOSITORY` (`owner/name`) and `GITHUB_API_URL` (https://api.github.com unless set; a
 * GitHub Enterprise server's, or a local server in the tests). Octokit is an ES module: it is
 * loaded with `import()`, which a CommonJS file may do.
 */

export interface GitHubRepository {
    readonly owner: string;
    readonly repo: string;
    readonly apiUrl: string;
    readonly token: string;
}

const DEFAULT_API_URL = "https://api.github.com";
const REPOSITORY = /^([A-Za-z0-9-]{1,39})\/([A-Za-z0-9._-]{1,100})$/;
/** GitHub's current REST API version (the X-GitHub-Api-Version header). */
export const GITHUB_API_VERSION = "2022-11-28";
/** Upper bound of each API call. */
const TIMEOUT_MS = 30_000;

/** The repository the environment names; `undefined` when no token is set. Throws a refusal for a malformed one. */
export function githubFromEnv(subject: string, env: NodeJS.ProcessEnv): GitHubRepository | undefined {
    const token = env["GITHUB_TOKEN"];
    if (token === undefined || token === "") return undefined;
    const repository = env["GITHUB_REPOSITORY"] ?? "";
    const match = REPOSITORY.exec(repository);
    if (match === null) {
        throw Refusal.of(subject, "input", `GITHUB_REPOSITORY must name the repository as owner/name (GITHUB_TOKEN is set), got ${JSON.stringify(repository)}`);
    }
    const apiUrl = (env["GITHUB_API_URL"] || DEFAULT_API_URL).replace(/\/+$/, "");
    if (!/^https?:\/\/[^\s/]+/.test(apiUrl)) throw Refusal.of(subject, "input", `GITHUB_API_URL must be an http(s) URL, got ${JSON.stringify(apiUrl)}`);
    return { owner: match[1] as string, repo: match[2] as string, apiUrl, token };
}

export async function octokitFor(github: GitHubRepository): Promise<Octokit> {
    const { Octokit: Client } = await import("@octokit/rest");
    return new Client({
        auth: github.token,
        baseUrl: github.apiUrl,
        userAgent: "mlops-platform",
        request: { timeout: TIMEOUT_MS },
        // Octokit logs failed requests to the console; a failure here is reported once, in one line.
        log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
}

/** Headers GitHub asks every REST call to send. */
export const GITHUB_HEADERS = { accept: "application/vnd.github+json", "x-github-api-version": GITHUB_API_VERSION } as const;

/** One line for an API failure: the status and GitHub's message. */
export function describeGitHubError(err: unknown): string {
    if (typeof err === "object" && err !== null && "status" in err) {
        const status = (err as { status: unknown }).status;
        const message = err instanceof Error ? err.message.split("\n")[0] : "";
        return `GitHub answered ${String(status)}${message ? `: ${message}` : ""}`;
    }
    return err instanceof Error ? err.message : String(err);
}
