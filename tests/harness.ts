import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type ProgramRun, type RecordedResource, runProgram } from "../offline/runtime";
import type { ModelServingFlagger } from "../components/modelServing";
import { parsePlatformConfig, type PlatformConfig, readStackFile, stackFilePath } from "../stacks";
import main = require("../infra");

/**
 * The one mocks harness of the test suite. Programs run under `offline/` (the SDK's mocks with
 * realistic cloud answers, the same runtime the offline preview uses); these helpers add what
 * tests need to look at the result.
 */

export const PROJECT_DIR = path.resolve(__dirname, "..");
export type { RecordedResource } from "../offline/runtime";

/** Config values every test stack needs before it says anything of its own. */
export const BASE_CONFIG: Readonly<Record<string, string>> = {
    "aws:region": "eu-west-1",
    "mlops-platform:environment": "staging",
    "mlops-platform:cluster": JSON.stringify({
        oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/TEST",
        domain: "ml.test.example.com",
    }),
    "mlops-platform:certManager": JSON.stringify({ acmeEmail: "platform@test.example.com" }),
};

/** Runs the whole program (`infra/index.ts`) on a shipped stack file. */
export function runStack(stack: string): Promise<ProgramRun<Awaited<ReturnType<typeof main>>>> {
    const { values, secretKeys } = readStackFile(stackFilePath(PROJECT_DIR, stack));
    return runProgram({ stack, config: values, secretKeys }, main);
}

/** Runs the whole program on config values given in the form `PULUMI_CONFIG` carries them. */
export function runConfig(config: Readonly<Record<string, string>>, stack = "test"): ReturnType<typeof runStack> {
    return runProgram({ stack, config }, main);
}

/** Runs a piece of a program, such as one component, under the mocks. */
export function runComponent<T extends Record<string, unknown> | void>(
    build: () => T | Promise<T>,
    config: Readonly<Record<string, string>> = BASE_CONFIG,
    stack = "test",
): Promise<ProgramRun<T>> {
    return runProgram({ stack, config }, build);
}

/** The value of an Output, for assertions. */
export function promiseOf<T>(output: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(output).apply((value) => resolve(value as T)));
}

export function ofType(resources: readonly RecordedResource[], type: string): RecordedResource[] {
    return resources.filter((r) => r.type === type);
}

/** The one resource of a type and logical name; fails loudly if it is missing or ambiguous. */
export function findResource(resources: readonly RecordedResource[], type: string, name: string): RecordedResource {
    const found = resources.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) {
        const names = ofType(resources, type).map((r) => r.name);
        throw new Error(`expected one ${type} named "${name}", found ${found.length} (names of that type: ${names.join(", ") || "none"})`);
    }
    return found[0] as RecordedResource;
}

/** A Kubernetes object's inputs by kind and metadata.name (with the `kubernetes:<group>/<version>:<Kind>` type). */
export function findObject(resources: readonly RecordedResource[], type: string, metadataName: string): Record<string, any> {
    const found = ofType(resources, type).filter((r) => (r.inputs["metadata"] as { name?: string } | undefined)?.name === metadataName);
    if (found.length !== 1) {
        const names = ofType(resources, type).map((r) => (r.inputs["metadata"] as { name?: string } | undefined)?.name);
        throw new Error(`expected one ${type} with metadata.name "${metadataName}", found ${found.length} (names: ${names.join(", ") || "none"})`);
    }
    return (found[0] as RecordedResource).inputs;
}

/** Resources whose parent chain reaches the resource with this URN. */
export function descendantsOf(resources: readonly RecordedResource[], urn: string): RecordedResource[] {
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    return resources.filter((r) => {
        for (let parent = r.parent; parent !== undefined; parent = byUrn.get(parent)?.parent) {
            if (parent === urn) return true;
        }
        return false;
    });
}

/**
 * Runs `construct` (typically `new SomeComponent(...)`) under the mocks and reports the message it
 * threw ("" when it did not) and what had been registered by then: a component must refuse bad
 * arguments before it creates any child.
 */
export async function constructionFailure(construct: () => void): Promise<{ message: string; resources: readonly RecordedResource[] }> {
    const run = await runComponent(() => {
        try {
            construct();
            return { message: "" };
        } catch (err) {
            return { message: (err as Error).message };
        }
    });
    return { message: run.outputs.message, resources: run.resources };
}

/**
 * The container security context of the Kubernetes "restricted" Pod Security Standard, written out
 * here rather than taken from components/security.ts, so that a test compares against the standard.
 */
export const RESTRICTED_CONTAINER_CONTEXT = {
    allowPrivilegeEscalation: false,
    privileged: false,
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
} as const;

/** A shipped stack's configuration, validated, as the program reads it. */
export function shippedConfig(stack: string): PlatformConfig {
    return parsePlatformConfig(readStackFile(stackFilePath(PROJECT_DIR, stack)).values, stack);
}

/** Flagger as a ModelServing test gives it: the platform's MetricTemplates, the load tester, the provider under test. */
export function testFlagger(meshProvider = "nginx", alertProvider: ModelServingFlagger["alertProvider"] = undefined): ModelServingFlagger {
    return {
        meshProvider,
        loadTesterUrl: "http://flagger-loadtester.flagger/",
        metricTemplates: {
            accuracy: { name: "model-accuracy", namespace: "flagger" },
            driftScore: { name: "feature-drift-score", namespace: "flagger" },
            confidence: { name: "prediction-confidence", namespace: "flagger" },
        },
        alertProvider,
    };
}
