/** The IngressClass every Ingress of the platform uses unless told otherwise: ingress-nginx's. */
export const DEFAULT_INGRESS_CLASS = "nginx";

/** The annotation through which cert-manager's ingress-shim issues an Ingress's certificate. */
export const CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer";

/**
 * Where the ingress controller's pods run (ingress-nginx's own install puts them in `ingress-nginx`):
 * NetworkPolicies admit traffic to the platform's web servers from this namespace only.
 */
export const DEFAULT_INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx";
