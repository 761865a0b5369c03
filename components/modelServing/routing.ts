import type { MeshProvider } from "../flagger";

/**
 * How a model's host reaches the Services Flagger creates, per provider: what ModelServing can
 * route, and what each provider's Flagger router can do besides weights. Pure constants, so that
 * the stack schema can offer exactly these.
 */

/**
 * The providers whose routing ModelServing sets up end to end: NGINX through an Ingress that
 * Flagger clones; Istio (VirtualService) and Gateway API (HTTPRoute) through routes Flagger writes
 * for a given Gateway. Flagger's built-in request metrics exist for each (fluxcd/flagger
 * pkg/metrics/observers/factory.go at v1.44.0: nginx → NginxObserver, istio → IstioObserver,
 * gatewayapi:* → HttpObserver over the pods' own `http_request_duration_seconds`). Each one's router
 * also routes by request header, so A/B testing works with all of them (Flagger's "Deployment
 * Strategies" page: A/B Testing with Istio, NGINX, Gateway API, and others).
 */
export const SERVING_PROVIDERS = ["nginx", "istio", "gatewayapi:v1", "gatewayapi:v1beta1"] as const satisfies readonly MeshProvider[];
export type ServingProvider = (typeof SERVING_PROVIDERS)[number];

/** Providers whose host is served through a Gateway that ModelServing must be given. */
export const GATEWAY_PROVIDERS: readonly ServingProvider[] = ["istio", "gatewayapi:v1", "gatewayapi:v1beta1"];

/**
 * The providers through which Flagger mirrors traffic during a weighted canary release. Only
 * Istio's router mirrors whatever the strategy (and honours mirrorWeight); Flagger's Gateway API v1
 * router adds its RequestMirror filter only to a Blue/Green analysis (`iterations`, which a model's
 * canary config never produces without A/B testing), and the v1beta1 router never mirrors
 * (fluxcd/flagger pkg/router/istio.go, gateway_api.go, gateway_api_v1beta1.go: SetRoutes).
 */
export const MIRRORING_PROVIDERS: readonly ServingProvider[] = ["istio"];

export function isServingProvider(provider: string): provider is ServingProvider {
    return (SERVING_PROVIDERS as readonly string[]).includes(provider);
}

/** `"a", "b" or "c"`, for messages. */
export function quotedList(values: readonly string[], last = "or"): string {
    const quoted = values.map((v) => `"${v}"`);
    return quoted.length <= 1 ? (quoted[0] ?? "") : `${quoted.slice(0, -1).join(", ")} ${last} ${quoted[quoted.length - 1]}`;
}
