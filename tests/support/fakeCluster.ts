/**
 * A cluster for the commands that read one with kubectl (`sync-registry --rolled-out`): a `kubectl`
 * executable first on PATH that answers `kubectl get <resource> <name> --namespace <ns> -o json` from
 * JSON files, and `Error from server (NotFound)` with exit code 1 for anything else, as kubectl does.
 * The real kubectl client code of cli/rollout/kubectl.ts runs against it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LABELS } from "../../components/labels";

export interface FakeCluster {
    /** Environment for the command: PATH with the fake kubectl first. */
    readonly env: NodeJS.ProcessEnv;
    /** Puts an object where `kubectl get <resource> <name> -n <namespace>` finds it. */
    put(resource: string, namespace: string, name: string, object: unknown): void;
    remove(): void;
}

export function fakeCluster(): FakeCluster {
    const dir = mkdtempSync(path.join(os.tmpdir(), "fake-cluster-"));
    const kubectl = path.join(dir, "bin", "kubectl");
    mkdirSync(path.dirname(kubectl));
    writeFileSync(
        kubectl,
        [
            "#!/usr/bin/env bash",
            // get <resource> <name> --namespace <ns> ...
            `file="${dir}/objects/$2/$5/$3.json"`,
            'if [ "$1" = "get" ] && [ -f "$file" ]; then cat "$file"; exit 0; fi',
            'echo "Error from server (NotFound): $2 \\"$3\\" not found" >&2; exit 1',
            "",
        ].join("\n"),
        { mode: 0o755 },
    );
    return {
        env: { PATH: `${path.dirname(kubectl)}:${process.env["PATH"] ?? ""}` },
        put: (resource, namespace, name, object) => {
            mkdirSync(path.join(dir, "objects", resource, namespace), { recursive: true });
            writeFileSync(path.join(dir, "objects", resource, namespace, `${name}.json`), JSON.stringify(object));
        },
        remove: () => rmSync(dir, { recursive: true, force: true }),
    };
}

/** A model's Flagger Canary as `kubectl get canary <model> -o json` shows it, in `phase` for `version`. */
export function canaryObject(model: string, version: string, phase: string, at = "2026-12-01T10:00:00Z"): Record<string, unknown> {
    const promoted = phase === "Succeeded" || phase === "Initialized" ? "True" : phase === "Failed" ? "False" : "Unknown";
    return {
        apiVersion: "flagger.app/v1beta1",
        kind: "Canary",
        metadata: { name: model, namespace: "models", labels: { [LABELS.model]: model, [LABELS.modelVersion]: version } },
        spec: { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: model } },
        status: {
            phase,
            canaryWeight: phase === "Progressing" ? 10 : 0,
            failedChecks: 0,
            iterations: 0,
            lastTransitionTime: at,
            conditions: [{ type: "Promoted", status: promoted, reason: phase, message: "", lastUpdateTime: at, lastTransitionTime: at }],
        },
    };
}

/** The `<model>-primary` Deployment Flagger runs, serving `version` on all its replicas. */
export function primaryObject(model: string, version: string): Record<string, unknown> {
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: `${model}-primary`, namespace: "models", generation: 3 },
        spec: { replicas: 2, template: { metadata: { labels: { [LABELS.model]: model, [LABELS.modelVersion]: version } } } },
        status: { observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 },
    };
}
