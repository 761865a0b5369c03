import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { LABELS, platformLabels } from "../labels";
import { applicationSpec, DELIVERY_DEFAULTS } from "../modelServing/delivery";
import { K8S_NAME } from "../names";
import { type ArgProblem, assertValidArgs, show } from "../validation";
import type { ClusterDestination } from "./clusters";

/**
 * One model fanned out to several clusters: an Argo CD ApplicationSet whose list generator has one
 * element per cluster, each generating the Application that syncs `<path>/<stack>/<cluster>/<model>`
 * (what ModelServing renders with `delivery.fanOutCluster`) to that cluster. Removing a cluster from
 * the list deletes its Application, whose finalizer prunes the cluster's workloads.
 */

export interface ModelApplicationSetArgs {
    /** The model's name (`models.<name>`). */
    readonly model: string;
    /** The `mlops.dev/environment` label value. */
    readonly environment: string;
    /** The stack name: part of the path and of every generated Application's name. */
    readonly stack: string;
    /** Namespace Argo CD watches for ApplicationSets. @default "argocd" */
    readonly argoNamespace?: pulumi.Input<string>;
    /** The platform's AppProject for model workloads. */
    readonly project: pulumi.Input<string>;
    readonly repoUrl: pulumi.Input<string>;
    /** @default "HEAD" */
    readonly targetRevision?: pulumi.Input<string>;
    /** The rendered workloads' root in the repository. @default "deploy" */
    readonly path?: string;
    /** The models namespace, on every cluster. */
    readonly namespace: pulumi.Input<string>;
    /** The clusters, in order; at least two (one cluster keeps ModelServing's own Application). */
    readonly clusters: ReadonlyArray<{ readonly name: string; readonly destination: ClusterDestination; readonly region?: string }>;
}

/** The Application the ApplicationSet generates for a model on a cluster. */
export function fanOutApplicationName(stack: string, model: string, cluster: string): string {
    return `${stack}-${model}-${cluster}`;
}

export function validateModelApplicationSetArgs(name: string, args: ModelApplicationSetArgs): ArgProblem[] {
    const problems: ArgProblem[] = [];
    if (!K8S_NAME.test(name)) problems.push({ arg: "", message: `must be a Kubernetes name, got ${show(name)}` });
    if (args.clusters.length < 2) problems.push({ arg: "clusters", message: `must list at least two clusters to fan out to, got ${args.clusters.length}` });
    args.clusters.forEach((cluster, i) => {
        const app = fanOutApplicationName(args.stack, args.model, cluster.name);
        if (!K8S_NAME.test(app))
            problems.push({
                arg: `clusters[${i}].name`,
                message: `${show(cluster.name)} makes the Application name "${app}", which is not a DNS label of at most 63 characters`,
            });
    });
    return problems;
}

// Go templates: an element gives either a server URL or a registered name, and an Argo CD
// destination takes exactly one of them, so the destination is patched in per element.
const DESTINATION_PATCH = [
    "spec:",
    "  destination:",
    "    {{- if .server }}",
    "    server: {{ .server | quote }}",
    "    {{- else }}",
    "    name: {{ .destinationName | quote }}",
    "    {{- end }}",
    "",
].join("\n");

export function applicationSetSpec(args: ModelApplicationSetArgs): Record<string, unknown> {
    const deliveryPath = args.path ?? DELIVERY_DEFAULTS.path;
    const application = applicationSpec({
        project: args.project,
        repoUrl: args.repoUrl,
        targetRevision: args.targetRevision ?? DELIVERY_DEFAULTS.targetRevision,
        path: `${deliveryPath}/${args.stack}/{{ .cluster }}/${args.model}`,
        namespace: args.namespace,
    });
    return {
        goTemplate: true,
        // A misspelt key fails the generation instead of rendering an empty string.
        goTemplateOptions: ["missingkey=error"],
        generators: [
            {
                list: {
                    elements: args.clusters.map((c) => ({
                        cluster: c.name,
                        server: "server" in c.destination ? c.destination.server : "",
                        destinationName: "name" in c.destination ? c.destination.name : "",
                        region: c.region ?? "",
                    })),
                },
            },
        ],
        template: {
            metadata: {
                name: fanOutApplicationName(args.stack, args.model, "{{ .cluster }}"),
                labels: {
                    ...platformLabels(args.model, "model-delivery"),
                    [LABELS.model]: args.model,
                    [LABELS.environment]: args.environment,
                    [LABELS.cluster]: "{{ .cluster }}",
                },
                // Deleting an Application (a cluster or the model removed) deletes its workloads.
                finalizers: ["resources-finalizer.argocd.argoproj.io"],
            },
            spec: { ...application, destination: { namespace: args.namespace } },
        },
        templatePatch: DESTINATION_PATCH,
    };
}

export class ModelApplicationSet extends pulumi.ComponentResource {
    public readonly applicationSetName: pulumi.Output<string>;
    /** The Applications it generates, by cluster. */
    public readonly applicationNames: Readonly<Record<string, string>>;

    constructor(name: string, args: ModelApplicationSetArgs, opts?: pulumi.ComponentResourceOptions) {
        assertValidArgs("ModelApplicationSet", name, validateModelApplicationSetArgs(name, args));
        super("mlops:delivery:ModelApplicationSet", name, {}, opts);
        const set = new k8s.apiextensions.CustomResource(
            `${name}-applicationset`,
            {
                apiVersion: "argoproj.io/v1alpha1",
                kind: "ApplicationSet",
                metadata: {
                    name: `${args.stack}-${args.model}`,
                    namespace: args.argoNamespace ?? DELIVERY_DEFAULTS.argoNamespace,
                    labels: { ...platformLabels(args.model, "model-delivery"), [LABELS.model]: args.model, [LABELS.environment]: args.environment },
                },
                spec: applicationSetSpec(args),
            },
            { parent: this },
        );
        this.applicationSetName = set.metadata.name;
        this.applicationNames = Object.fromEntries(args.clusters.map((c) => [c.name, fanOutApplicationName(args.stack, args.model, c.name)]));
        this.registerOutputs({ applicationSetName: this.applicationSetName, applicationNames: this.applicationNames });
    }
}
