import type { PipelineStage } from "../../offline/pipeline";

/**
 * The progress line: which stage runs and how far it is, on stderr so that stdout (the report,
 * `--json`) stays clean. Shown only to a person at a terminal: when stdout is a TTY and `CI` is
 * not set. On a terminal stderr the line is rewritten in place; otherwise each stage gets a line.
 */

export interface ProgressStream {
    readonly isTTY?: boolean;
    write(text: string): unknown;
}

const STAGE_LABELS: Readonly<Record<PipelineStage | "write" | "report", string>> = {
    config: "reading the stack configuration",
    "policy-pack": "starting the policy pack",
    program: "running the program under mocks",
    manifests: "validating Kubernetes manifests",
    policies: "analyzing resources with the policy pack",
    write: "writing manifests",
    report: "rendering the report",
};

export type ProgressStage = keyof typeof STAGE_LABELS;

/** Whether a person is watching: stdout is a terminal and this is not CI. */
export function progressWanted(stdout: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
    return stdout.isTTY === true && (env["CI"] === undefined || env["CI"] === "" || env["CI"] === "false");
}

export class Progress {
    private current = "";
    private lastCount = 0;

    constructor(
        private readonly stream: ProgressStream,
        readonly enabled: boolean,
        /** Least milliseconds between two count updates, so a fast loop does not flood the terminal. */
        private readonly minIntervalMs = 80,
        private readonly now: () => number = Date.now,
    ) {}

    stage(stage: ProgressStage, detail?: string): void {
        this.show(`${STAGE_LABELS[stage]}${detail === undefined ? "" : ` (${detail})`}`);
    }

    count(stage: ProgressStage, done: number, total: number): void {
        if (!this.enabled || this.stream.isTTY !== true) return;
        const at = this.now();
        if (done !== total && done !== 0 && at - this.lastCount < this.minIntervalMs) return;
        this.lastCount = at;
        this.show(`${STAGE_LABELS[stage]}: ${done}/${total}`);
    }

    /** Clears the line (on a terminal) before the report is printed. */
    done(): void {
        if (!this.enabled || this.current === "") return;
        if (this.stream.isTTY === true) this.stream.write("\r\x1b[2K");
        this.current = "";
    }

    private show(text: string): void {
        if (!this.enabled || text === this.current) return;
        const line = `preview: ${text}`;
        // On a terminal the line is replaced in place (\r, then erase the rest of the old line).
        this.stream.write(this.stream.isTTY === true ? `\r${line}\x1b[K` : `${line}\n`);
        this.current = text;
    }
}
