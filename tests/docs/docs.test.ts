import * as assert from "node:assert/strict";
import { z } from "zod";
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import * as yaml from "js-yaml";
import { generatedSections, README, STACK_FILE_SCHEMA, stackFileSchemaText, withSections } from "../../cli/docs";
import { DOCUMENTED_DEFAULTS } from "../../cli/docs/configReference";
import { ALL_POLICIES } from "../../policies/catalog";
import { listStacks, stackSchema } from "../../stacks";
import { PROJECT_DIR } from "../harness";

/** Every key path the schema accepts below `mlops-platform:`, walked from zod's own JSON Schema export. */
function schemaKeys(): Set<string> {
    const keys = new Set<string>();
    const walk = (node: Record<string, any>, prefix: string) => {
        if (node["properties"]) {
            for (const [key, child] of Object.entries<Record<string, any>>(node["properties"])) {
                const p = prefix ? `${prefix}.${key}` : key;
                keys.add(p);
                walk(child, p);
            }
        } else if (node["additionalProperties"]?.properties) {
            walk(node["additionalProperties"], `${prefix}.<name>`);
        } else if (node["items"]?.properties) {
            walk(node["items"], `${prefix}[]`);
        }
    };
    walk(JSON.parse(JSON.stringify(z.toJSONSchema(stackSchema, { io: "input", unrepresentable: "any" }))), "");
    return keys;
}

/** The key paths the README's configuration reference documents: section headings and table rows. */
function readmeKeys(readme: string): Set<string> {
    const section = /<!-- generated:config-reference -->([\s\S]*?)<!-- \/generated:config-reference -->/.exec(readme)?.[1] ?? "";
    const headings = [...section.matchAll(/^#### `mlops-platform:([^`]+)`/gm)].map((m) => m[1] as string);
    const rows = [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);
    return new Set([...headings, ...rows]);
}

describe("README and generated docs", () => {
    const readme = fs.readFileSync(README, "utf8");

    it("starts with the two commands: set up + preview a stack, and the tests", () => {
        const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
        const commands = firstBlock
            .split("\n")
            .filter((l) => l.trim() !== "")
            .map((l) => l.replace(/\s+#.*$/, ""));
        assert.deepEqual(commands, ["npm ci && npm run preview -- --stack staging", "npm test"]);
        assert.ok(readme.indexOf(firstBlock) < 1000, "the commands come first");
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, ".ci", "run"), "utf8"), /^npm test$/m, ".ci/run runs the README's test command");
    });

    it("documents every configuration key the schema accepts, and no other", () => {
        const documented = readmeKeys(readme);
        const accepted = schemaKeys();
        assert.deepEqual(
            [...accepted].filter((k) => !documented.has(k)),
            [],
            "accepted but undocumented",
        );
        assert.deepEqual(
            [...documented].filter((k) => !accepted.has(k)),
            [],
            "documented but not accepted",
        );
    });

    it("names no default for a key the schema does not have", () => {
        const accepted = schemaKeys();
        assert.deepEqual(
            Object.keys(DOCUMENTED_DEFAULTS).filter((k) => !accepted.has(k)),
            [],
        );
    });

    it("lists every policy of the pack in the catalogue", () => {
        const section = /<!-- generated:policy-catalogue -->([\s\S]*?)<!-- \/generated:policy-catalogue -->/.exec(readme)?.[1] ?? "";
        const listed = [...section.matchAll(/^\| \w+ \| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]);
        assert.deepEqual(listed.sort(), ALL_POLICIES.map((p) => p.name).sort());
    });

    it("holds the generated sections and stack-file schema as `npm run docs` writes them", () => {
        assert.equal(readme, withSections(readme, generatedSections()), "README.md is out of date: run npm run docs");
        assert.equal(fs.readFileSync(STACK_FILE_SCHEMA, "utf8"), stackFileSchemaText(), "stacks/stack-file.schema.json is out of date: run npm run docs");
    });

    describe("stacks/stack-file.schema.json, the editor's view of a stack file", () => {
        const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
        const validate = ajv.compile(JSON.parse(fs.readFileSync(STACK_FILE_SCHEMA, "utf8")) as object);
        const load = (stack: string) =>
            yaml.load(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };

        for (const stack of listStacks(PROJECT_DIR)) {
            it(`accepts the shipped Pulumi.${stack}.yaml`, () => {
                assert.ok(validate(load(stack)), JSON.stringify(validate.errors));
            });
        }

        it("refuses a misspelt key of ours and a wrong type, and leaves other namespaces to their providers", () => {
            const document = load("staging");
            assert.equal(validate({ config: { ...document.config, "mlops-platform:postgress": {} } }), false);
            assert.equal(validate({ config: { ...document.config, "mlops-platform:mlflow": { replicas: "two" } } }), false);
            assert.equal(validate({ config: { ...document.config, "kubernetes:context": "eks-staging" } }), true);
        });
    });
});
