import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { PROJECT } from "../stacks";

/**
 * Synthetic stacks for the benchmark: a shipped stack file with its models replaced by `count`
 * copies of one shipped CPU model, each under a unique name, so that cost can be measured against
 * the number of models alone.
 */

/** The shipped stack and model the copies are made of: staging's CPU model (no GPU budget to exhaust). */
export const BASE_STACK = "staging";
export const BASE_MODEL = "fraud-detector";

/** `bench-100`: a valid Pulumi stack name that also makes DNS-label Argo CD Application names. */
export function syntheticStackName(count: number): string {
    return `bench-${count}`;
}

/** `fraud-detector-007`: unique, sorted like the numbers, a DNS label. */
export function syntheticModelName(index: number, count: number): string {
    return `${BASE_MODEL}-${String(index).padStart(String(count).length, "0")}`;
}

/**
 * Writes `Pulumi.bench-<count>.yaml` into `projectDir` (created when missing) and returns the
 * stack's name. The policy pack's config falls back to the environment's (staging).
 */
export function writeSyntheticStack(projectDir: string, count: number, repoRoot: string): string {
    if (!Number.isInteger(count) || count < 1) throw new Error(`model count must be an integer ≥ 1, got ${count}`);
    const baseFile = path.join(repoRoot, `Pulumi.${BASE_STACK}.yaml`);
    const document = yaml.load(fs.readFileSync(baseFile, "utf8")) as { config: Record<string, unknown> };
    const modelsKey = `${PROJECT}:models`;
    const models = document.config[modelsKey] as Record<string, unknown> | undefined;
    const model = models?.[BASE_MODEL];
    if (model === undefined) throw new Error(`${baseFile}: no model "${BASE_MODEL}" under ${modelsKey}`);
    const copies: Record<string, unknown> = {};
    for (let i = 1; i <= count; i++) copies[syntheticModelName(i, count)] = structuredClone(model);
    const stack = syntheticStackName(count);
    fs.mkdirSync(projectDir, { recursive: true });
    const header = `# Synthetic benchmark stack: ${count} copies of ${BASE_STACK}'s "${BASE_MODEL}".\n`;
    const config = { ...document.config, [modelsKey]: copies };
    fs.writeFileSync(path.join(projectDir, `Pulumi.${stack}.yaml`), header + yaml.dump({ config }, { lineWidth: -1, noRefs: true }));
    return stack;
}
