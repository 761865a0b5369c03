import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "../harness";

/**
 * A newcomer's first command, on a clone with nothing beside it: `git clone` of the repository into
 * an empty temporary folder, `npm ci`, then the README's preview. Nothing may come from outside
 * the checkout (no sibling folder of schemas, no MLOPS_SCHEMAS_DIR).
 */

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? -1, output }));
    });
}

describe("a fresh clone with nothing beside it", function () {
    this.timeout(300_000);
    let root: string;
    let clone: string;
    const env: NodeJS.ProcessEnv = { ...process.env, CI: "true" };
    delete env["MLOPS_SCHEMAS_DIR"];

    before(async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-fresh-"));
        clone = path.join(root, "mlops-platform");
        const cloned = await run("git", ["clone", "--quiet", PROJECT_DIR, clone], root, env);
        assert.equal(cloned.code, 0, cloned.output);
        assert.deepEqual(fs.readdirSync(root), ["mlops-platform"], "nothing beside the checkout");
        // npm's cache makes this quick on a machine that already ran `npm ci`; it still installs for real.
        const installed = await run("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], clone, env);
        assert.equal(installed.code, 0, installed.output);
    });

    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("runs the README's preview of the staging stack: exit 0, every manifest schema-valid", async () => {
        const readme = fs.readFileSync(path.join(clone, "README.md"), "utf8");
        assert.match(readme, /```bash\nnpm ci && npm run preview -- --stack staging/);
        const preview = await run("npm", ["run", "--silent", "preview", "--", "--stack", "staging", "--json"], clone, env);
        assert.equal(preview.code, 0, preview.output.slice(-2000));
        const report = JSON.parse(preview.output.slice(preview.output.indexOf("{"))) as { outcome: string; manifests: { invalid: unknown[]; outDir: string } };
        assert.equal(report.outcome, "clean");
        assert.deepEqual(report.manifests.invalid, []);
        assert.ok(report.manifests.outDir.startsWith(clone), report.manifests.outDir);
        assert.ok(fs.readdirSync(path.join(clone, "out", "staging")).some((f) => f.includes("canary")));
    });
});
