import * as path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { WORSE_WHEN } from "../components/modelServing/monitoring";
import { loadPlatformConfig } from "../infra/validation";
import { ConfigError, readStackFile, StackFileError, stackFilePath } from "../stacks";
import { asArgument, type CommandIo, processIo, resolveProjectDir, runAsScript, runCommand, withProjectDir } from "./gitops/command";
import { short } from "./gitops/plan";
import { Refusal } from "./gitops/refusal";
import { canaryStatusReader, failedCanary } from "./monitor/canaryStatus";
import { judgeModel, type ModelJudgement, type SignalReading } from "./monitor/judge";
import { PrometheusClient, PrometheusError } from "./monitor/prometheus";
import { type Notification, postNotification } from "./monitor/webhook";
import { performRollback } from "./rollback";
import { KubectlError, type ObjectReader } from "./rollout/kubectl";
import { parseInstant } from "./rollout/waiter";
import { WAIT_DEFAULTS } from "./waitForRollout";

/**
 * `npm run monitor -- --stack <stack>`: judges every declared model's serving version from
 * Prometheus with the alerting rules' own PromQL (and, with `--canary-status`, Flagger's verdict),
 * and per model says ok, alert, or rolls the declaration back through `rollback`'s one path: a
 * commit carrying the measured values, the registry alias moved back, one webhook message per
 * decision. Missing data is never a reason to roll back: it is "cannot judge", an alert.
 */

export const MONITOR_EXIT = {
    ok: 0,
    /** An alert, a model that cannot be judged, or a rollback that was refused (nothing changed for it). */
    alert: 1,
    badInput: 2,
    /** At least one rollback commit was made: push it (outranks 1). */
    rolledBack: 3,
    /** As 3, but a notification or the registry update after the commit failed: push it, then look. */
    rolledBackIncomplete: 4,
} as const;

export type Decision = "ok" | "alert" | "rollback";

export interface ModelReport {
    readonly model: string;
    readonly version: string;
    readonly decision: Decision;
    /** One line: what was measured (or why nothing could be), and what was done. */
    readonly summary: string;
    readonly readings: readonly SignalReading[];
    /** Flagger's message when it failed the declared version's canary. */
    readonly canaryFailed?: string;
    /** Set on a rollback: where to, the commit, and the registry writes. */
    readonly rollback?: { readonly toVersion: string; readonly commit?: string; readonly registry: readonly string[]; readonly problem?: string };
    /** Whether the webhook took this decision's message (absent when none was sent). */
    readonly notified?: { readonly ok: boolean; readonly problem?: string };
}

export interface MonitorReport {
    readonly stack: string;
    readonly environment: string;
    readonly at: string;
    readonly prometheus: string;
    readonly dryRun: boolean;
    readonly models: readonly ModelReport[];
    readonly exitCode: number;
}

export interface MonitorOptions {
    readonly projectDir: string;
    readonly stack: string;
    readonly prometheus: string | undefined;
    readonly webhook: string | undefined;
    readonly dryRun: boolean;
    readonly at: Date | undefined;
    readonly canaryStatus: string | undefined;
    readonly namespace: string;
}

/** Why a rollback: the readings past their rollback thresholds, with their values. */
function crossed(readings: readonly SignalReading[]): string {
    return readings
        .filter((r) => r.state === "rollback" && r.value !== undefined)
        .map(
            (r) =>
                `${r.signal} ${(r.value as number).toFixed(3)} ${WORSE_WHEN[r.signal]} the rollback threshold ${r.rollback} (alert ${r.alert}; ${r.samples} samples)`,
        )
        .join("; ");
}

export async function monitor(options: MonitorOptions, io: CommandIo): Promise<MonitorReport> {
    const subject = `monitor ${options.stack}`;
    let config: ReturnType<typeof loadPlatformConfig>;
    try {
        config = loadPlatformConfig(readStackFile(stackFilePath(options.projectDir, options.stack)).values, options.stack);
    } catch (err) {
        if (err instanceof StackFileError || err instanceof ConfigError) throw Refusal.of(subject, "input", err.message);
        throw err;
    }
    const prometheusUrl = options.prometheus ?? io.env["PROMETHEUS_URL"] ?? config.flagger.metricsServer;
    if (prometheusUrl === undefined || prometheusUrl === "") {
        throw Refusal.of(
            subject,
            "input",
            `no Prometheus to read: give --prometheus <url>, set PROMETHEUS_URL, or set mlops-platform:flagger.metricsServer in ${path.basename(stackFilePath(options.projectDir, options.stack))}`,
        );
    }
    let reader: ObjectReader | undefined;
    try {
        reader = options.canaryStatus === undefined ? undefined : canaryStatusReader(options.canaryStatus, config.cluster.kubeContext);
    } catch (err) {
        if (err instanceof KubectlError) throw Refusal.of(subject, "input", err.message);
        throw err;
    }
    const prometheus = new PrometheusClient({ url: prometheusUrl });
    const at = options.at ?? io.now();
    const webhook = options.webhook ?? (io.env["MONITOR_WEBHOOK_URL"] || undefined);
    const models: ModelReport[] = [];

    for (const model of config.models) {
        const version = model.version;
        const settings = model.monitoring;
        let judgement: ModelJudgement | undefined;
        let unjudged: string | undefined;
        try {
            judgement = await judgeModel(prometheus, { namespace: options.namespace, model: model.name, version }, settings, at);
        } catch (err) {
            if (!(err instanceof PrometheusError)) throw err;
            unjudged = err.message;
        }
        let canaryFailed: string | undefined;
        let canaryUnread: string | undefined;
        if (reader !== undefined) {
            try {
                canaryFailed = await failedCanary(reader, model.name, version, options.namespace);
            } catch (err) {
                if (!(err instanceof KubectlError)) throw err;
                canaryUnread = `Canary status unread: ${err.message}`;
            }
        }
        const measured = judgement?.summary ?? `cannot judge: ${unjudged ?? "no reading"}`;
        const readings = judgement?.readings ?? [];
        const base = { model: model.name, version, readings, ...(canaryFailed !== undefined && { canaryFailed }) };

        const reason =
            canaryFailed !== undefined ? `canary failed: ${canaryFailed}` : judgement?.verdict === "rollback" ? `monitor: ${crossed(readings)}` : undefined;
        if (reason === undefined) {
            const problems = [judgement?.verdict === "cannot-judge" || unjudged !== undefined ? "cannot judge" : undefined, canaryUnread].filter(
                (p): p is string => p !== undefined,
            );
            const decision: Decision = judgement?.verdict === "ok" && canaryUnread === undefined ? "ok" : "alert";
            const summary = [measured, canaryUnread].filter((p) => p !== undefined).join("; ");
            const report: ModelReport = { ...base, decision, summary };
            models.push(
                decision === "ok"
                    ? report
                    : await notify(report, webhook, options.dryRun, {
                          headline: `${options.stack}: ${model.name} version ${version} — ${problems.length > 0 ? `${problems.join(", ")}, ` : ""}alert (nothing changed)`,
                          details: [measured, ...(canaryUnread !== undefined ? [canaryUnread] : [])],
                      }),
            );
            continue;
        }

        const incident = [
            `Monitor:     npm run monitor at ${at.toISOString()} (Prometheus ${prometheusUrl})`,
            ...(canaryFailed !== undefined ? [`Flagger:     Canary ${model.name} Failed: ${canaryFailed}`] : []),
            `Measured:    ${measured}`,
            `Watched:     over ${settings.window}, at least ${settings.minSamples} samples, checked every ${settings.checkInterval}`,
        ];
        const outcome = await rollBack(model.name, version, reason, incident, options, io);
        const summary = `${measured}; ${outcome.line}`;
        const report: ModelReport = { ...base, decision: outcome.rollback?.commit !== undefined ? "rollback" : "alert", summary, ...outcome };
        const details = [
            `Reason: ${reason}`,
            `Measured: ${measured}`,
            outcome.rollback?.commit !== undefined
                ? `Commit: ${outcome.rollback.commit} (${options.stack} now declares version ${outcome.rollback.toVersion})`
                : `Not rolled back: ${outcome.line}`,
            ...(outcome.rollback?.registry.length ? [`Registry: ${outcome.rollback.registry.join("; ")}`] : []),
            ...(outcome.rollback?.problem !== undefined ? [`Problem: ${outcome.rollback.problem}`] : []),
        ];
        const headline =
            outcome.rollback?.commit !== undefined
                ? `${options.stack}: ${model.name} rolled back ${version} → ${outcome.rollback.toVersion}`
                : options.dryRun
                  ? `${options.stack}: ${model.name} version ${version} — would be rolled back (dry run)`
                  : `${options.stack}: ${model.name} version ${version} — past its rollback threshold, but NOT rolled back`;
        models.push(await notify(report, webhook, options.dryRun, { headline, details }));
    }

    return {
        stack: options.stack,
        environment: config.environment,
        at: at.toISOString(),
        prometheus: prometheusUrl,
        dryRun: options.dryRun,
        models,
        exitCode: exitCodeOf(models),
    };
}

async function rollBack(
    model: string,
    version: string,
    reason: string,
    incident: readonly string[],
    options: MonitorOptions,
    io: CommandIo,
): Promise<{ line: string; rollback?: ModelReport["rollback"] }> {
    try {
        const outcome = await performRollback(
            model,
            options.stack,
            { projectDir: options.projectDir, dryRun: options.dryRun, reason, incident, expectedVersion: version },
            io,
        );
        const { plan, applied } = outcome;
        if (applied === undefined) return { line: `dry run: would roll back ${version} → ${plan.toVersion} (as of ${short(outcome.restoredFrom)})` };
        const problem = outcome.registryNotUpdated?.message;
        return {
            line: `rolled back ${version} → ${plan.toVersion}: commit ${short(applied.commit)}${problem === undefined ? "" : `, but ${problem}`}`,
            rollback: { toVersion: plan.toVersion, commit: applied.commit, registry: applied.registryActions, ...(problem !== undefined && { problem }) },
        };
    } catch (err) {
        if (err instanceof Refusal) return { line: `not rolled back: ${err.message}` };
        throw err;
    }
}

async function notify(report: ModelReport, webhook: string | undefined, dryRun: boolean, notification: Notification): Promise<ModelReport> {
    if (webhook === undefined || dryRun) return report;
    const problem = await postNotification(webhook, notification);
    return { ...report, notified: problem === undefined ? { ok: true } : { ok: false, problem } };
}

export function exitCodeOf(models: readonly ModelReport[]): number {
    const committed = models.some((m) => m.rollback?.commit !== undefined);
    const incomplete = models.some((m) => m.rollback?.problem !== undefined || m.notified?.ok === false);
    if (committed) return incomplete ? MONITOR_EXIT.rolledBackIncomplete : MONITOR_EXIT.rolledBack;
    return models.every((m) => m.decision === "ok") ? MONITOR_EXIT.ok : MONITOR_EXIT.alert;
}

export function formatReport(report: MonitorReport): string[] {
    return report.models.map((m) => {
        const notified = m.notified === undefined ? "" : m.notified.ok ? "; notified" : `; NOT notified: ${m.notified.problem ?? ""}`;
        return `${m.model} ${m.version}: ${m.decision} — ${m.summary}${notified}`;
    });
}

function parseHttpUrl(text: string): string {
    if (!/^https?:\/\/[^\s/]+/.test(text)) throw new InvalidArgumentError(`expected an http(s) URL, got ${JSON.stringify(text)}`);
    return text;
}

export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
    let exitCode: number = MONITOR_EXIT.ok;
    const command = withProjectDir(new Command("monitor"))
        .description(
            "Judge each declared model's serving version from Prometheus (the alerting rules' PromQL over its monitoring window) and say ok, alert, " +
                "or roll its declaration back as a commit (then the registry alias, MLFLOW_TRACKING_URI). Never rolls back on missing data.",
        )
        .requiredOption("--stack <stack>", "the stack whose declared models are judged (Pulumi.<stack>.yaml)")
        .addOption(
            new Option("--prometheus <url>", "Prometheus's URL (default: PROMETHEUS_URL, else the stack's flagger.metricsServer)").argParser(parseHttpUrl),
        )
        .addOption(
            new Option("--webhook <url>", "Slack-compatible incoming webhook, one message per decision (default: MONITOR_WEBHOOK_URL)").argParser(parseHttpUrl),
        )
        .addOption(new Option("--at <time>", "judge the window ending at this ISO-8601 time (default: now)").argParser(asArgument(parseInstant)))
        .option("--canary-status <source>", "also read Flagger's verdict: 'kubectl' (the stack's kubeContext) or a file of kubectl get … -o json output")
        .option("--namespace <namespace>", "the namespace of the model workloads", WAIT_DEFAULTS.namespace)
        .option("--json", "print the report as JSON", false)
        .option("--dry-run", "decide and show what a rollback would do; change nothing, notify nobody", false)
        .addHelpText(
            "after",
            [
                "",
                "Exit codes:",
                "  0  every model is ok",
                "  1  an alert: a signal past its alert threshold, a model that cannot be judged (no series, too few samples,",
                "     Prometheus down or answering garbage), or a rollback that was refused (nothing changed); also any --dry-run rollback",
                "  2  bad input (usage, stack file, no Prometheus URL)",
                "  3  rolled back: a rollback commit was made (push it); outranks 1",
                "  4  rolled back, but a notification or the registry update after the commit failed (push it, then look)",
            ].join("\n"),
        )
        .action(
            async (opts: {
                stack: string;
                projectDir: string;
                prometheus?: string;
                webhook?: string;
                at?: Date;
                canaryStatus?: string;
                namespace: string;
                json: boolean;
                dryRun: boolean;
            }) => {
                const report = await monitor(
                    {
                        projectDir: resolveProjectDir(io, opts.projectDir),
                        stack: opts.stack,
                        prometheus: opts.prometheus,
                        webhook: opts.webhook,
                        dryRun: opts.dryRun,
                        at: opts.at,
                        canaryStatus: opts.canaryStatus,
                        namespace: opts.namespace,
                    },
                    io,
                );
                if (opts.json) io.out(JSON.stringify(report, null, 2));
                else if (report.models.length === 0) io.out(`stack "${report.stack}" declares no models: nothing to judge`);
                else for (const line of formatReport(report)) io.out(line);
                exitCode = report.exitCode;
            },
        );
    return runCommand(command, argv, io, () => exitCode);
}

runAsScript(module, main);
