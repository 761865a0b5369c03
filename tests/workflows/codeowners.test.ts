import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_DIR } from "../harness";

/**
 * .github/CODEOWNERS: production's stack file, the policy pack and the delivery machinery need the platform
 * owners. Paths are resolved the way GitHub does: gitignore-style patterns, the last matching line wins.
 */

const PLATFORM_OWNERS = "@example-org/ml-platform-owners";

interface OwnerRule {
    readonly pattern: string;
    readonly owners: readonly string[];
    readonly line: number;
}

function parseCodeowners(text: string): OwnerRule[] {
    return text.split("\n").flatMap((raw, index) => {
        const line = raw.replace(/(^|\s)#.*$/, "").trim();
        if (line === "") return [];
        const [pattern, ...owners] = line.split(/\s+/) as [string, ...string[]];
        return [{ pattern, owners, line: index + 1 }];
    });
}

/**
 * A CODEOWNERS pattern as a regular expression over repository-relative paths: `/` at the start anchors at
 * the root (so does a `/` inside), `*` stays within a path segment, `**` crosses segments, a trailing `/`
 * means a directory, and a pattern that names a directory covers everything below it.
 */
function patternToRegExp(pattern: string): RegExp {
    const anchored = pattern.startsWith("/") || pattern.replace(/\/$/, "").includes("/");
    const body = pattern.replace(/^\//, "");
    const directoryOnly = body.endsWith("/");
    let source = "";
    const trimmed = body.replace(/\/$/, "");
    for (let i = 0; i < trimmed.length; i++) {
        const c = trimmed[i] as string;
        if (c === "*" && trimmed[i + 1] === "*") {
            source += ".*";
            i++;
        } else if (c === "*") source += "[^/]*";
        else if (c === "?") source += "[^/]";
        else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
    return new RegExp(`^${anchored ? "" : "(?:.*/)?"}${source}${directoryOnly ? "/.*" : "(?:/.*)?"}$`);
}

/** The owners of a path: those of the last rule that matches it. */
function ownersOf(rules: readonly OwnerRule[], file: string): readonly string[] {
    let owners: readonly string[] = [];
    for (const rule of rules) if (patternToRegExp(rule.pattern).test(file)) owners = rule.owners;
    return owners;
}

describe("CODEOWNERS", () => {
    const rules = parseCodeowners(fs.readFileSync(path.join(PROJECT_DIR, ".github", "CODEOWNERS"), "utf8"));

    it("resolves paths like GitHub: anchoring, directories, wildcards, and the last match wins", () => {
        const sample = parseCodeowners(["*  @a", "/docs/  @b  # the docs team", "*.md @c", "/docs/internal/ @d", "build/ @e"].join("\n"));
        assert.deepEqual(ownersOf(sample, "src/index.ts"), ["@a"]);
        assert.deepEqual(ownersOf(sample, "docs/guide.txt"), ["@b"]);
        assert.deepEqual(ownersOf(sample, "docs/guide.md"), ["@c"]);
        assert.deepEqual(ownersOf(sample, "docs/internal/guide.md"), ["@d"]);
        assert.deepEqual(ownersOf(sample, "src/docs/guide.txt"), ["@a"], "/docs/ is anchored at the root");
        assert.deepEqual(ownersOf(sample, "tools/build/out.txt"), ["@e"], "build/ matches at any depth");
        assert.deepEqual(ownersOf(sample, "build.txt"), ["@a"], "build/ is a directory");
    });

    it("every rule names owners, and every anchored path exists", () => {
        for (const rule of rules) {
            assert.ok(rule.owners.length > 0, `line ${rule.line}: ${rule.pattern} has owners`);
            for (const owner of rule.owners) assert.match(owner, /^@[\w-]+\/[\w-]+$/, `line ${rule.line}: ${owner} is a team`);
            if (rule.pattern.startsWith("/")) assert.ok(fs.existsSync(path.join(PROJECT_DIR, rule.pattern)), `line ${rule.line}: ${rule.pattern} exists`);
        }
    });

    it("production's stack file, the policy pack and .github (workflows and this file) need the platform owners", () => {
        for (const file of [
            "Pulumi.production.yaml",
            "policies/index.ts",
            "policies/config/production.json",
            "policies/config/staging.json",
            ".github/CODEOWNERS",
            ".github/workflows/deploy.yml",
            ".github/workflows/pull-request.yml",
            ".ci/run",
        ]) {
            assert.ok(ownersOf(rules, file).includes(PLATFORM_OWNERS), `${file} is owned by ${PLATFORM_OWNERS}`);
        }
    });

    it("everything else has a default owner", () => {
        for (const file of ["Pulumi.staging.yaml", "components/modelServing.ts", "README.md", "infra/platform.ts"]) {
            const owners = ownersOf(rules, file);
            assert.ok(owners.length > 0, `${file} has an owner`);
            assert.ok(!owners.includes(PLATFORM_OWNERS), `${file} does not need the platform owners`);
        }
    });
});
