import * as pulumi from "@pulumi/pulumi";
import { createPlatform, type PlatformOutputs } from "./platform";
import { loadPlatformConfig } from "./validation";

/**
 * The program `pulumi up -s <stack>` runs. It is exported as a function, which Pulumi calls and whose
 * result becomes the stack outputs, so that tests and the offline preview can run it once per stack
 * in one process.
 */
async function main(): Promise<PlatformOutputs> {
    // Every problem — the stack schema's and every component's — is reported, by its stack key,
    // before a single resource is registered.
    const values = pulumi.runtime.allConfig();
    const config = loadPlatformConfig(values, pulumi.getStack(), configSecretKeys(Object.keys(values)));
    return createPlatform(config);
}

/**
 * The config keys Pulumi holds as secrets. The SDK knows them (`PULUMI_CONFIG_SECRET_KEYS`) but
 * exports the check only internally, as it does `waitForRPCs`, which the offline runtime uses too.
 */
function configSecretKeys(keys: readonly string[]): string[] {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };
    return keys.filter((key) => isConfigSecret(key));
}

export = main;
