import { MlflowRestClient } from "../../policies/mlflowRestClient";
import { environmentAlias, formatPromotionTag, type PromotionTag, promotionTagKey } from "../../policies/registryContract";
import { Refusal } from "./refusal";

/**
 * What the GitOps commands write into the MLflow registry, as data first (so a plan and a dry run
 * can show it), then performed in order. The names come from `policies/registryContract.ts`, the
 * contract the policy pack reads back.
 */

export type RegistryAction =
    | {
          readonly kind: "set-alias";
          readonly registeredModel: string;
          readonly alias: string;
          readonly version: string;
          /** Where the alias pointed before, when known; `null` when it did not exist. */
          readonly previous?: string | null;
      }
    | {
          readonly kind: "set-tag";
          readonly registeredModel: string;
          readonly version: string;
          readonly key: string;
          readonly value: string;
      };

/** The registry side of a promotion into `environment` (contract steps 1 and 2). */
export function promotionActions(registeredModel: string, environment: string, version: string, tag: PromotionTag): RegistryAction[] {
    return [
        { kind: "set-alias", registeredModel, alias: environmentAlias(environment), version },
        { kind: "set-tag", registeredModel, version, key: promotionTagKey(environment), value: formatPromotionTag(tag) },
    ];
}

/** The registry side of a rollback: the alias moves back; tags stay (they record history), and the plan adds the rollback's own. */
export function rollbackActions(registeredModel: string, environment: string, version: string): RegistryAction[] {
    return [{ kind: "set-alias", registeredModel, alias: environmentAlias(environment), version }];
}

export function describeAction(action: RegistryAction): string {
    if (action.kind === "set-alias") {
        const from = action.previous === undefined ? "" : action.previous === null ? " (was not set)" : ` (was ${action.previous})`;
        return `alias ${action.registeredModel}@${action.alias} → version ${action.version}${from}`;
    }
    return `tag ${action.key} on ${action.registeredModel} version ${action.version}`;
}

export async function performActions(registry: MlflowRestClient, actions: readonly RegistryAction[]): Promise<void> {
    for (const action of actions) {
        if (action.kind === "set-alias") await registry.setAlias(action.registeredModel, action.alias, action.version);
        else await registry.setModelVersionTag(action.registeredModel, action.version, action.key, action.value);
    }
}

/** The registry the commands talk to: `MLFLOW_TRACKING_URI` and MLflow's credential variables. */
export function registryFromEnv(subject: string, env: NodeJS.ProcessEnv): MlflowRestClient {
    if (!env["MLFLOW_TRACKING_URI"]) {
        throw Refusal.of(subject, "input", "MLFLOW_TRACKING_URI is not set: point it at the MLflow tracking server whose registry holds the model");
    }
    try {
        return MlflowRestClient.fromEnv({}, env);
    } catch (err) {
        throw Refusal.of(subject, "input", (err as Error).message);
    }
}
