import * as yaml from "js-yaml";

/**
 * Parses YAML the way Kubernetes tooling does. Upstream CRDs (Flagger's among them) continue
 * multi-line quoted scalars at the indentation of their key, which YAML 1.2 rejects ("deficient
 * indentation") and Go's yaml package, hence kubectl, accepts. Only when strict parsing fails are
 * such continuation lines indented by the one space YAML 1.2 asks for: folding drops leading
 * spaces of continuation lines, so the values are unchanged.
 */
export function loadKubernetesYaml(text: string, file: string): unknown[] {
    try {
        return yaml.loadAll(text);
    } catch (strictError) {
        try {
            return yaml.loadAll(indentQuotedContinuations(text));
        } catch {
            throw new Error(`${file}: not valid YAML: ${(strictError as Error).message}`);
        }
    }
}

// `key: 'text…` or `- key: "text…` whose quote does not close on the line.
const OPENS_QUOTED_VALUE = /^(\s*)((?:- )*)[^\s#'"][^#'"]*?:\s+(['"])(.*)$/;
// `key: |` / `key: >-`: a block scalar, whose lines are content and left alone.
const OPENS_BLOCK_SCALAR = /:\s+[|>][-+0-9]*\s*(#.*)?$/;

export function indentQuotedContinuations(text: string): string {
    const lines = text.split("\n");
    const indentOf = (line: string): number => line.length - line.trimStart().length;
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i] ?? "";
        if (OPENS_BLOCK_SCALAR.test(line)) {
            const blockIndent = indentOf(line);
            while (i + 1 < lines.length && ((lines[i + 1] ?? "").trim() === "" || indentOf(lines[i + 1] ?? "") > blockIndent)) i++;
            continue;
        }
        const open = OPENS_QUOTED_VALUE.exec(line);
        if (open === null) continue;
        const [, indent = "", dashes = "", quote = "'", rest = ""] = open;
        if (closesQuote(quote, rest)) continue;
        const keyIndent = indent.length + dashes.length;
        for (let j = i + 1; j < lines.length; j++) {
            const next = lines[j] ?? "";
            if (next.trim() !== "" && indentOf(next) <= keyIndent) lines[j] = " ".repeat(keyIndent + 1 - indentOf(next)) + next;
            i = j;
            if (closesQuote(quote, next)) break;
        }
    }
    return lines.join("\n");
}

function closesQuote(quote: string, text: string): boolean {
    return quote === "'" ? text.replace(/''/g, "").includes("'") : text.replace(/\\./g, "").includes('"');
}
