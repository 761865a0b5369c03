import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { configReferenceMarkdown, stackFileJsonSchema } from "./docs/configReference";
import { policyCatalogueMarkdown } from "./docs/policyCatalogue";

/**
 * `npm run docs`: regenerates what the README and editors read from the code — the stack configuration
 * reference, the policy catalogue and `stacks/stack-file.schema.json`. `--check` only reports whether
 * they are current (a test runs the same check).
 */

export const REPOSITORY_ROOT = path.resolve(__dirname, "..");
export const README = path.join(REPOSITORY_ROOT, "README.md");
export const STACK_FILE_SCHEMA = path.join(REPOSITORY_ROOT, "stacks", "stack-file.schema.json");
const ENVIRONMENTS = ["staging", "production"] as const;

/** The generated README sections, each between `<!-- generated:<name> -->` and `<!-- /generated:<name> -->`. */
export function generatedSections(): Record<string, string> {
    return {
        "config-reference": configReferenceMarkdown(),
        "policy-catalogue": policyCatalogueMarkdown(path.join(REPOSITORY_ROOT, "policies", "config"), ENVIRONMENTS),
    };
}

export function withSections(readme: string, sections: Readonly<Record<string, string>>): string {
    let out = readme;
    for (const [name, content] of Object.entries(sections)) {
        const pattern = new RegExp(`(<!-- generated:${name} -->\\n)[\\s\\S]*?(<!-- /generated:${name} -->)`);
        if (!pattern.test(out)) throw new Error(`README.md has no <!-- generated:${name} --> … <!-- /generated:${name} --> section`);
        out = out.replace(pattern, (_match, open: string, close: string) => `${open}${content}${close}`);
    }
    return out;
}

export function stackFileSchemaText(): string {
    return `${JSON.stringify(stackFileJsonSchema(), null, 2)}\n`;
}

function main(argv: readonly string[]): number {
    const options = new Command("docs")
        .description("Regenerate the README's configuration reference and policy catalogue, and stacks/stack-file.schema.json.")
        .option("--check", "only check that they are current; exit 1 when not")
        .parse(argv, { from: "user" })
        .opts<{ check?: boolean }>();
    const readme = fs.readFileSync(README, "utf8");
    const wanted = { [README]: withSections(readme, generatedSections()), [STACK_FILE_SCHEMA]: stackFileSchemaText() };
    const stale = Object.entries(wanted).filter(([file, text]) => !fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text);
    if (options.check === true) {
        for (const [file] of stale) console.error(`${path.relative(REPOSITORY_ROOT, file)} is out of date: run npm run docs`);
        return stale.length === 0 ? 0 : 1;
    }
    for (const [file, text] of stale) {
        fs.writeFileSync(file, text);
        console.log(`wrote ${path.relative(REPOSITORY_ROOT, file)}`);
    }
    if (stale.length === 0) console.log("docs are current");
    return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
