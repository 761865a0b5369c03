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
    const config = loadPlatformConfig(pulumi.runtime.allConfig(), pulumi.getStack());
    return createPlatform(config);
}

export = main;
