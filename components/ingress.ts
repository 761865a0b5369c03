/** The IngressClass every Ingress of the platform uses unless told otherwise: ingress-nginx's. */
export const DEFAULT_INGRESS_CLASS = "nginx";

/** The annotation through which cert-manager's ingress-shim issues an Ingress's certificate. */
export const CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer";
