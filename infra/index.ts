import * as pulumi from "@pulumi/pulumi";
import { parsePlatformConfig } from "../stacks";
import { createPlatform, type PlatformOutputs } from "./platform";

/**
 * The program `pulumi up -s <stack>` runs. It is exported as a function, which Pulumi calls and whose
 * result becomes the stack outputs, so that tests and the offline preview can run it once per stack
 * in one process.
 */
async function main(): Promise<PlatformOutputs> {
    // Every configuration problem is reported before a single resource is registered.
    const config = parsePlatformConfig(pulumi.runtime.allConfig(), pulumi.getStack());
    return createPlatform(config);
}

export = main;
