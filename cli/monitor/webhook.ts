/**
 * The monitor's notifications: one POST per decision to an incoming webhook, in the shape Slack's
 * incoming webhooks take (`text`, the fallback every client shows, and `blocks`); Mattermost, Teams'
 * Slack-compatible endpoints and most chat bridges read the same `text`. A failed POST is reported,
 * never retried into a second message, and never undoes what was decided.
 */

export interface Notification {
    /** One line: what happened to which model, in which environment. */
    readonly headline: string;
    /** The reason, the measured values and thresholds, the commit: one line each. */
    readonly details: readonly string[];
}

export interface SlackMessage {
    readonly text: string;
    readonly blocks: ReadonlyArray<Record<string, unknown>>;
}

export function slackMessage(notification: Notification): SlackMessage {
    return {
        text: [notification.headline, ...notification.details].join("\n"),
        blocks: [
            { type: "section", text: { type: "mrkdwn", text: `*${escapeMrkdwn(notification.headline)}*` } },
            ...(notification.details.length === 0
                ? []
                : [{ type: "section", text: { type: "mrkdwn", text: notification.details.map((line) => `• ${escapeMrkdwn(line)}`).join("\n") } }]),
        ],
    };
}

/** Slack's three control characters in mrkdwn. */
function escapeMrkdwn(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export const WEBHOOK_TIMEOUT_MS = 10_000;

/** Posts the message; resolves to `undefined` when the receiver took it (2xx), else to why not, in one line. */
export async function postNotification(url: string, notification: Notification, timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<string | undefined> {
    // The URL is a credential (Slack's carry their token in the path): messages name only its host.
    let where: string;
    try {
        where = new URL(url).host;
    } catch {
        return "the webhook URL is not a URL";
    }
    try {
        const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(slackMessage(notification)),
            signal: AbortSignal.timeout(timeoutMs),
        });
        const body = (await response.text()).replace(/\s+/g, " ").trim().slice(0, 120);
        return response.ok ? undefined : `the webhook at ${where} answered HTTP ${response.status}${body === "" ? "" : `: ${body}`}`;
    } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
        const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
        return timedOut ? `the webhook at ${where} did not answer within ${timeoutMs} ms` : `the webhook at ${where} is unreachable: ${cause}`;
    }
}
