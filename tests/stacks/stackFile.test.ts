import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listStacks, parseStackFile, readStackFile, StackFileError } from "../../stacks";
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

    it("a config that is not a mapping is refused", () => {
        assert.throws(() => parseStackFile("config: [a, b]\n", "Pulumi.x.yaml"), {
            message: 'Pulumi.x.yaml: expected "config" to be a mapping of keys to values',
        });
        assert.throws(() => parseStackFile("- a\n- b\n", "Pulumi.x.yaml"), { message: "Pulumi.x.yaml: expected a mapping at the top level, got object" });
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
