/**
 * A unified line diff, for `--dry-run` to show what a commit would change. Stack files are a few
 * hundred lines, so the plain longest-common-subsequence table is fast enough and exact.
 */
export function unifiedDiff(file: string, before: string, after: string, context = 2): string {
    const a = before.split("\n");
    const b = after.split("\n");
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) {
        for (let j = b.length - 1; j >= 0; j--) {
            lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
        }
    }
    type Line = { readonly mark: " " | "-" | "+"; readonly text: string; readonly oldLine: number; readonly newLine: number };
    const lines: Line[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
        if (i < a.length && j < b.length && a[i] === b[j]) lines.push({ mark: " ", text: a[i++]!, oldLine: i, newLine: ++j });
        else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) lines.push({ mark: "-", text: a[i++]!, oldLine: i, newLine: j });
        else lines.push({ mark: "+", text: b[j++]!, oldLine: i, newLine: j });
    }
    const changed = lines.map((line, index) => (line.mark === " " ? -1 : index)).filter((index) => index >= 0);
    if (changed.length === 0) return "";
    const hunks: Array<[number, number]> = [];
    for (const index of changed) {
        const start = Math.max(0, index - context);
        const end = Math.min(lines.length - 1, index + context);
        const last = hunks[hunks.length - 1];
        if (last !== undefined && start <= last[1] + 1) last[1] = end;
        else hunks.push([start, end]);
    }
    const out = [`--- a/${file}`, `+++ b/${file}`];
    for (const [start, end] of hunks) {
        const slice = lines.slice(start, end + 1);
        const oldCount = slice.filter((l) => l.mark !== "+").length;
        const newCount = slice.filter((l) => l.mark !== "-").length;
        const first = slice[0]!;
        const oldStart = first.mark === "+" ? first.oldLine + 1 : first.oldLine;
        const newStart = first.mark === "-" ? first.newLine + 1 : first.newLine;
        out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`, ...slice.map((l) => `${l.mark}${l.text}`));
    }
    return out.join("\n");
}
