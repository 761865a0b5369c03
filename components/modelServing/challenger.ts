import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { LABELS, modelLabels, selectorLabels } from "../labels";
import { challengerName, challengerServicePorts, type ResolvedExperiment } from "./experiment";
import { scrapeAnnotations, telemetryConfigMapName, telemetryPackageFiles } from "./telemetry";
import { podSpec, type PodSpecInputs, rollingUpdate, type ServedModel } from "./workload";

/**
 * The challenger of a standing experiment: its own Deployment of the challenger version, Service,
 * HPA, PDB and telemetry code, beside the champion that Flagger manages. Flagger knows nothing of
 * it: no Canary targets it, so a change of challenger rolls as a plain rolling update (it serves
 * the experiment's share only).
 *
 * Its pods carry the model's labels with the challenger's `mlops.dev/model-version`, so the
 * telemetry (which takes its `model`/`model_version` labels from the pod, modelServing/telemetry.ts)
 * publishes the same series as the champion's, told apart by version; the model's PodMonitor
 * (`mlops.dev/model`) and NetworkPolicies (MODEL_POD_LABELS) select them as they select the champion's.
 * Their pod names, `<model>-challenger-<hash>-<id>`, fall outside the canary templates' pod selector
 * (`<model>-<hash>-<id>`, CANARY_POD_SELECTOR in components/flagger.ts), as the primary's do.
 */

export interface ChallengerInputs {
    readonly name: string;
    readonly model: ServedModel;
    readonly experiment: ResolvedExperiment;
    readonly environment: string;
    readonly namespace: pulumi.Input<string>;
    /** `mlops.dev/cluster`, for an object rendered once per cluster. */
    readonly clusterLabel: Readonly<Record<string, string>>;
    /** Labels of the supporting objects (Service, ConfigMap): no version. */
    readonly supportLabels: Readonly<Record<string, string>>;
    /** The champion's pod inputs; the challenger's differ in name, version and telemetry ConfigMap only. */
    readonly pod: Omit<PodSpecInputs, "model" | "telemetry"> & { readonly telemetryImage: string };
    readonly progressDeadlineSeconds: number;
    readonly cpuTarget: number;
}

/** The challenger's workload labels: the model's, its own name and version, and its role. */
export function challengerLabels(model: ServedModel, version: string, environment: string): Record<string, string> {
    return { ...modelLabels({ name: model.name, version }, environment), [LABELS.name]: challengerName(model.name), [LABELS.experimentRole]: "challenger" };
}

export function createChallenger(i: ChallengerInputs, opts: pulumi.CustomResourceOptions): void {
    const { name, model, namespace } = i;
    const objectName = challengerName(model.name);
    const labels = { ...challengerLabels(model, i.experiment.challengerVersion, i.environment), ...i.clusterLabel };

    const telemetryCode = new k8s.core.v1.ConfigMap(
        `${name}-challenger-telemetry`,
        { metadata: { name: telemetryConfigMapName(objectName), namespace, labels: { ...i.supportLabels } }, data: telemetryPackageFiles() },
        opts,
    );

    const deployment = new k8s.apps.v1.Deployment(
        `${name}-challenger-deployment`,
        {
            metadata: { name: objectName, namespace, labels },
            spec: {
                // No `replicas`: its HPA sizes it.
                selector: { matchLabels: selectorLabels(objectName) },
                progressDeadlineSeconds: i.progressDeadlineSeconds,
                // No Flagger in front of it: a GPU challenger replaces pods in place rather than surge past the budget.
                strategy: rollingUpdate(model.resources.gpu ?? 0),
                template: {
                    metadata: { labels, annotations: scrapeAnnotations() },
                    spec: podSpec({
                        ...i.pod,
                        model: { ...model, name: objectName, version: i.experiment.challengerVersion },
                        telemetry: { image: i.pod.telemetryImage, configMapName: telemetryCode.metadata.name },
                    }),
                },
            },
        },
        opts,
    );

    new k8s.core.v1.Service(
        `${name}-challenger-service`,
        {
            metadata: { name: objectName, namespace, labels: { ...i.supportLabels } },
            spec: { selector: selectorLabels(objectName), ports: challengerServicePorts() },
        },
        opts,
    );

    new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        `${name}-challenger-hpa`,
        {
            metadata: { name: objectName, namespace, labels },
            spec: {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
                // The champion's bounds: the header can send it any share, and the GPU budget counts them.
                minReplicas: model.replicas.min,
                maxReplicas: model.replicas.max,
                metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: i.cpuTarget } } }],
            },
        },
        opts,
    );

    new k8s.policy.v1.PodDisruptionBudget(
        `${name}-challenger-pdb`,
        {
            metadata: { name: objectName, namespace, labels },
            spec: { selector: { matchLabels: selectorLabels(objectName) }, maxUnavailable: 1, unhealthyPodEvictionPolicy: "AlwaysAllow" },
        },
        opts,
    );
}
