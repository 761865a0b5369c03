import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { DNS_NAME } from "../names";
import { show, type ArgProblem } from "../validation";
import { quotedList, SERVING_PROVIDERS, type ServingProvider } from "./routing";
import { PROXY_PORT } from "./telemetry";
import { SERVICE_PORT } from "./workload";

/**
 * A standing experiment: a challenger version served beside the declared (champion) version, a
 * fixed share of the public host's requests sent to it, and a header that forces either side. Pure
 * functions: what is allowed, and the route objects of each provider.
 *
 * Flagger owns the champion's rollout and writes its routing itself, so the experiment never edits
 * nor shares an object Flagger writes:
 * - the experiment's route takes the public host `<model>.<domain>` and splits it between the apex
 *   Service `<model>` and the challenger's Service `<model>-challenger`. Flagger creates the apex
 *   Service and points its selector at the primary pods, `<label>: <name>-primary`
 *   (fluxcd/flagger v1.44.0 pkg/router/kubernetes_default.go, Reconcile → reconcileService), so the
 *   champion's share reaches whatever version Flagger has promoted;
 * - the Canary's own route moves to the champion host `<model>-champion.<domain>`. Flagger writes its
 *   VirtualService (Istio) or HTTPRoute (Gateway API) for `service.hosts` on `service.gateways` /
 *   `service.gatewayRefs` (pkg/router/istio.go reconcileVirtualService, gateway_api.go Reconcile), and
 *   rewrites the whole spec on every reconcile: two routes for the same host would fight. Gateway API
 *   settles two routes with the same host and match by the oldest one (HTTPRouteRule, "matching
 *   precedence", gateway-api v1 spec), Istio merges the routes of two VirtualServices bound to one
 *   Gateway in no guaranteed order (istio.io "Split large virtual services and destination rules"):
 *   one host, one route object.
 * While a new champion version rolls out, the Gateway sends the champion's share of the public host
 * to the apex Service, that is to the primary pods: a Gateway proxy applies only the routes bound to
 * it, never the mesh's (Istio VirtualService `gateways`; Gateway API backendRefs name Services), so
 * Flagger's weights apply to the champion host, the mesh and the load tester's traffic (which the
 * analysis measures, components/modelServing/canary.ts loadTestCommand), not to the public host.
 *
 * NGINX cannot: ingress-nginx admits one canary Ingress per host and path ("Canary" annotations,
 * kubernetes.github.io/ingress-nginx: "currently a maximum of one canary ingress can be applied per
 * Ingress rule"), and Flagger's clone `<model>-canary` is it (pkg/router/ingress.go Reconcile and
 * SetRoutes write `canary`, `canary-weight` and `canary-by-header` on the clone). An experiment with
 * "nginx" is refused.
 */

export interface ExperimentSettings {
    /** The version served beside the declared one: a pinned registry version other than it. */
    readonly challenger: { readonly version: string };
    /** Percent of the public host's requests the challenger serves (1–99); the champion serves the rest. */
    readonly weight: number;
    /** The header that forces a side, whatever the weights. @default EXPERIMENT_DEFAULTS.header */
    readonly header?: {
        /** @default "X-Deployment-Context" */
        readonly name?: string;
        /** Value that routes to the challenger. @default "challenger" */
        readonly challenger?: string;
        /** Value that routes to the champion. @default - none: only the challenger can be forced */
        readonly champion?: string;
    };
}

export const EXPERIMENT_DEFAULTS = { headerName: "X-Deployment-Context", challengerValue: "challenger" } as const;

/** The providers whose routing can hold an experiment beside Flagger's canary (see above). */
export const EXPERIMENT_PROVIDERS: readonly ServingProvider[] = SERVING_PROVIDERS.filter((p) => p !== "nginx");

export interface ResolvedExperiment {
    readonly challengerVersion: string;
    readonly weight: number;
    readonly header: { readonly name: string; readonly challenger: string; readonly champion?: string };
}

export function resolveExperiment(e: ExperimentSettings): ResolvedExperiment {
    return {
        challengerVersion: e.challenger.version,
        weight: e.weight,
        header: {
            name: e.header?.name ?? EXPERIMENT_DEFAULTS.headerName,
            challenger: e.header?.challenger ?? EXPERIMENT_DEFAULTS.challengerValue,
            ...(e.header?.champion !== undefined && { champion: e.header.champion }),
        },
    };
}

/** The challenger's Deployment, Service, HPA and PDB. */
export function challengerName(model: string): string {
    return `${model}-challenger`;
}

/** The experiment's route: the public host's VirtualService or HTTPRoute. */
export function experimentRouteName(model: string): string {
    return `${model}-experiment`;
}

/** The host Flagger routes (the champion alone, with its canary) while an experiment holds the public host. */
export function championHost(model: string, domain: string): string {
    return `${model}-champion.${domain}`;
}

const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const HEADER_VALUE = /^[A-Za-z0-9._~-]{1,64}$/;

/** Problems of a model's experiment, under `experiment.*`; `version` is the champion's. */
export function experimentProblems(e: ExperimentSettings, version: string, provider: ServingProvider, domain: string, model: string): ArgProblem[] {
    const problems: ArgProblem[] = [];
    const problem = (arg: string, message: string) => problems.push({ arg, message });
    if (!EXPERIMENT_PROVIDERS.includes(provider)) {
        problem(
            "",
            `cannot run with the provider "${provider}": ingress-nginx admits one canary Ingress per host and Flagger's "${model}-canary" is it; ` +
                `use ${quotedList(EXPERIMENT_PROVIDERS)}, got ${show(e)}`,
        );
    }
    if (e.challenger.version === version)
        problem(
            "challenger.version",
            `must differ from the declared (champion) version "${version}": both would serve the same model, got ${show(e.challenger.version)}`,
        );
    if (!Number.isInteger(e.weight) || e.weight < 1 || e.weight > 99)
        problem("weight", `must be an integer from 1 to 99 (percent of requests to the challenger), got ${show(e.weight)}`);
    const header = e.header;
    if (header?.name !== undefined && !HEADER_NAME.test(header.name)) problem("header.name", `must be an HTTP header name, got ${show(header.name)}`);
    for (const side of ["challenger", "champion"] as const) {
        const value = header?.[side];
        if (value !== undefined && !HEADER_VALUE.test(value)) problem(`header.${side}`, `must be 1–64 letters, digits or . _ ~ -, got ${show(value)}`);
    }
    if (header?.champion !== undefined && header.champion === (header.challenger ?? EXPERIMENT_DEFAULTS.challengerValue))
        problem("header.champion", `must differ from the challenger's value, got ${show(header.champion)}`);
    const host = championHost(model, domain);
    if (!DNS_NAME.test(host)) problem("", `needs the champion host "${host}", which is not a DNS name`);
    return problems;
}

interface RouteInputs {
    readonly model: string;
    readonly namespace: pulumi.Input<string>;
    readonly host: string;
    readonly gateway: { readonly name: string; readonly namespace: string };
    readonly experiment: ResolvedExperiment;
    readonly labels: Record<string, string>;
}

/**
 * The Istio VirtualService of the public host, bound to the Gateway only: the header routes first,
 * then the weighted split. Istio matches header names in lower case (VirtualService
 * HTTPMatchRequest.headers: "The header keys must be lowercase").
 */
export interface RouteObject {
    readonly apiVersion: string;
    readonly kind: string;
    readonly metadata: { readonly name: string; readonly namespace: pulumi.Input<string>; readonly labels: Record<string, string> };
    readonly spec: Record<string, unknown>;
}

export function istioExperimentRoute(i: RouteInputs): RouteObject {
    const destination = (service: string) => ({ host: service, port: { number: SERVICE_PORT } });
    const byHeader = (value: string, service: string) => ({
        name: `${service === i.model ? "champion" : "challenger"}-by-header`,
        match: [{ headers: { [i.experiment.header.name.toLowerCase()]: { exact: value } } }],
        route: [{ destination: destination(service) }],
    });
    const challenger = challengerName(i.model);
    return {
        apiVersion: "networking.istio.io/v1beta1",
        kind: "VirtualService",
        metadata: { name: experimentRouteName(i.model), namespace: i.namespace, labels: i.labels },
        spec: {
            hosts: [i.host],
            gateways: [`${i.gateway.namespace}/${i.gateway.name}`],
            http: [
                byHeader(i.experiment.header.challenger, challenger),
                ...(i.experiment.header.champion !== undefined ? [byHeader(i.experiment.header.champion, i.model)] : []),
                {
                    name: "split",
                    route: [
                        { destination: destination(i.model), weight: 100 - i.experiment.weight },
                        { destination: destination(challenger), weight: i.experiment.weight },
                    ],
                },
            ],
        },
    };
}

/**
 * The Gateway API HTTPRoute of the public host. A rule with a header match is more specific than
 * the split (HTTPRouteRule matching precedence: more header matches win), whatever their order.
 */
export function gatewayExperimentRoute(i: RouteInputs & { readonly apiVersion: string }): RouteObject {
    const backend = (service: string, weight?: number) => ({ name: service, port: SERVICE_PORT, ...(weight !== undefined && { weight }) });
    const byHeader = (value: string, service: string) => ({
        matches: [{ headers: [{ type: "Exact", name: i.experiment.header.name, value }] }],
        backendRefs: [backend(service)],
    });
    const challenger = challengerName(i.model);
    return {
        apiVersion: i.apiVersion,
        kind: "HTTPRoute",
        metadata: { name: experimentRouteName(i.model), namespace: i.namespace, labels: i.labels },
        spec: {
            parentRefs: [{ name: i.gateway.name, namespace: i.gateway.namespace }],
            hostnames: [i.host],
            rules: [
                byHeader(i.experiment.header.challenger, challenger),
                ...(i.experiment.header.champion !== undefined ? [byHeader(i.experiment.header.champion, i.model)] : []),
                { backendRefs: [backend(i.model, 100 - i.experiment.weight), backend(challenger, i.experiment.weight)] },
            ],
        },
    };
}

/** The challenger's Service: its pods' proxy port, as Flagger's Services expose the champion's. */
export function challengerServicePorts(): k8s.types.input.core.v1.ServicePort[] {
    return [{ name: "http", port: SERVICE_PORT, targetPort: PROXY_PORT, protocol: "TCP" }];
}
