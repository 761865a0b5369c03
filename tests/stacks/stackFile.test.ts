import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listStacks, parseStackFile, readStackFile, STACK_FILE_LIMITS, StackFileError } from "../../stacks";
import { PROJECT_DIR } from "../harness";

describe("stack files", () => {
    it("the project ships exactly the local, staging and production stacks", () => {
        assert.deepEqual(listStacks(PROJECT_DIR), ["local", "production", "staging"]);
    });

    it("reads values the way the Pulumi CLI hands them to a program", () => {
        const { values, secretKeys } = parseStackFile(
            [
                "config:",
                "  aws:region: eu-west-1",
                "  environment: staging",
                "  mlops-platform:mlflow:",
                "    replicas: 2",
                "    basicAuth: true",
                "  mlops-platform:count: 3",
                "  mlops-platform:flag: false",
                "  mlops-platform:token:",
                "    secure: AAABAJ4x",
            ].join("\n"),
            "Pulumi.x.yaml",
        );
        assert.deepEqual(values, {
            "aws:region": "eu-west-1",
            // A key without a namespace belongs to the project, as with `pulumi config set`.
            "mlops-platform:environment": "staging",
            "mlops-platform:mlflow": '{"replicas":2,"basicAuth":true}',
            "mlops-platform:count": "3",
            "mlops-platform:flag": "false",
            "mlops-platform:token": "[secret]",
        });
        assert.deepEqual(secretKeys, ["mlops-platform:token"]);
    });

    it("an empty file or one without config has no values", () => {
        assert.deepEqual(parseStackFile("", "Pulumi.x.yaml").values, {});
        assert.deepEqual(parseStackFile("encryptionsalt: v1:abc\n", "Pulumi.x.yaml").values, {});
    });

    it("malformed YAML is one line naming the file, the line and the reason", () => {
        assert.throws(
            () => parseStackFile("config:\n  a: [1, 2\n  b: 3\n", "Pulumi.bad.yaml"),
            (err: unknown) => {
                assert.ok(err instanceof StackFileError);
                assert.match(err.message, /^Pulumi\.bad\.yaml: malformed YAML at line \d+, column \d+: .+$/);
                assert.equal(err.message.includes("\n"), false);
                return true;
            },
        );
    });

    it("a config that is not a mapping is refused, saying what it is", () => {
        assert.throws(() => parseStackFile("config: [a, b]\n", "Pulumi.x.yaml"), {
            message: 'Pulumi.x.yaml: expected "config" to be a mapping of keys to values, got a list',
        });
        assert.throws(() => parseStackFile("- a\n- b\n", "Pulumi.x.yaml"), { message: "Pulumi.x.yaml: expected a mapping at the top level, got a list" });
        assert.throws(() => parseStackFile("just text\n", "Pulumi.x.yaml"), { message: "Pulumi.x.yaml: expected a mapping at the top level, got a string" });
    });

    it("names .nan and .inf as YAML spells them, with their key paths, instead of the null JSON would make of them", () => {
        assert.throws(
            () =>
                parseStackFile(
                    "config:\n  mlops-platform:cluster:\n    domain: .nan\n  mlops-platform:models:\n    m:\n      replicas: {min: .inf, max: -.inf}\n",
                    "Pulumi.x.yaml",
                ),
            {
                message:
                    "Pulumi.x.yaml: mlops-platform:cluster.domain: got .nan, a number a stack value cannot hold; write a finite number; " +
                    "mlops-platform:models.m.replicas.min: got .inf, a number a stack value cannot hold; write a finite number; " +
                    "mlops-platform:models.m.replicas.max: got -.inf, a number a stack value cannot hold; write a finite number",
            },
        );
    });

    it("refuses a YAML alias bomb (446 bytes that would expand to gigabytes) in one line, before expanding it", () => {
        const levels = "abcdefghi".split("");
        const bomb = [
            `a: &a [${Array(9).fill('"lol"').join(",")}]`,
            ...levels.slice(1).map((name, i) => `${name}: &${name} [${Array(9).fill(`*${levels[i]}`).join(",")}]`),
            "config: {mlops-platform:models: *i}",
            "",
        ].join("\n");
        assert.ok(bomb.length < 500, `${bomb.length} bytes`);
        const started = Date.now();
        assert.throws(() => parseStackFile(bomb, "Pulumi.bomb.yaml"), {
            message: "Pulumi.bomb.yaml: refused: its aliases expand past the 100 alias references a stack file may use (a YAML alias bomb?)",
        });
        assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    });

    it("reads anchors, aliases and merge keys a real stack file uses, as Pulumi does", () => {
        const { values } = parseStackFile(
            "shared: &tolerations [{key: nvidia.com/gpu, operator: Exists}]\nbase: &base {cpu: '1'}\nconfig:\n  mlops-platform:gpu:\n    tolerations: *tolerations\n  mlops-platform:r:\n    <<: *base\n    memory: 2Gi\n",
            "Pulumi.x.yaml",
        );
        assert.deepEqual(values, {
            "mlops-platform:gpu": '{"tolerations":[{"key":"nvidia.com/gpu","operator":"Exists"}]}',
            "mlops-platform:r": '{"cpu":"1","memory":"2Gi"}',
        });
    });

    it("refuses a stack file larger than a stack file ever is, without reading it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stackfile-"));
        const file = path.join(dir, "Pulumi.big.yaml");
        fs.writeFileSync(file, `config:\n  mlops-platform:note: "${"x".repeat(STACK_FILE_LIMITS.maxBytes)}"\n`);
        const size = fs.statSync(file).size;
        try {
            assert.throws(() => readStackFile(file), { message: `${file}: refused: ${size} bytes, more than the 1048576 bytes a stack file may have` });
            assert.throws(() => parseStackFile(fs.readFileSync(file, "utf8"), "Pulumi.big.yaml"), {
                message: `Pulumi.big.yaml: refused: ${size} bytes, more than the 1048576 bytes a stack file may have`,
            });
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });

    it("a missing stack file says so", () => {
        const missing = path.join(os.tmpdir(), "no-such-dir-mlops", "Pulumi.nope.yaml");
        assert.throws(() => readStackFile(missing), { message: `${missing}: no such stack file` });
    });

    it("reads a real file from disk", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stackfile-"));
        const file = path.join(dir, "Pulumi.dev.yaml");
        fs.writeFileSync(file, "config:\n  mlops-platform:environment: staging\n");
        assert.deepEqual(readStackFile(file).values, { "mlops-platform:environment": "staging" });
        fs.rmSync(dir, { recursive: true });
    });
});
