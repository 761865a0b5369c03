import * as fs from "node:fs";
import { KubectlError, kubectlReader, type ObjectReader } from "../rollout/kubectl";
import { CANARY_RESOURCE, DEPLOYMENT_RESOURCE, decide } from "../rollout/waiter";

/**
 * Flagger's verdict, as the monitor reads it: the same Canary and primary Deployment wait-rollout
 * reads, decided by the same function, from the cluster (`kubectl`) or from a file holding what
 * `kubectl get canaries.flagger.app,deployments.apps -n models -o json` printed (a scheduled job
 * that may not reach the cluster can be handed it).
 */

const KINDS: Readonly<Record<string, string>> = { [CANARY_RESOURCE]: "Canary", [DEPLOYMENT_RESOURCE]: "Deployment" };

/** Objects from a file: a kubectl `List` (its `items`) or one object. Throws `KubectlError` for an unreadable file. */
export function fileReader(file: string): ObjectReader {
    let items: unknown[];
    try {
        const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as { items?: unknown };
        items = Array.isArray(parsed.items) ? parsed.items : [parsed];
    } catch (err) {
        throw new KubectlError(`--canary-status ${file} cannot be read as kubectl's JSON output (${(err as Error).message})`, "other");
    }
    return {
        get: async (resource, name, namespace) =>
            items.find((item) => {
                const object = item as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
                return object.kind === KINDS[resource] && object.metadata?.name === name && (object.metadata.namespace ?? namespace) === namespace;
            }),
    };
}

export function canaryStatusReader(source: string, context: string | undefined): ObjectReader {
    return source === "kubectl" ? kubectlReader(context !== undefined ? { context } : {}) : fileReader(source);
}

/** Flagger's last condition message when it failed the declared version's analysis; `undefined` otherwise. */
export async function failedCanary(reader: ObjectReader, model: string, version: string, namespace: string): Promise<string | undefined> {
    const { decision } = await decide({ name: model, version }, reader, { namespace });
    return decision.state === "failed" ? decision.canaryFailed : undefined;
}
